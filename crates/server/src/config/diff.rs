//! `plansmith config diff A B`: the settings two configurations give differently, secrets
//! redacted. Each side is a stack of files over the defaults: TOML files (`*.toml`) and
//! environment files (`PLANSMITH_*=value` lines, as Kubernetes overlays and systemd units hold
//! them), applied in order, so `--base` layers shared by both sides can come first.

use super::load::{env_key, parse_env_value};
use super::{ConfigError, Settings, redact_url};
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One setting the two sides give differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// As written in a TOML file: `database.max_connections`, `llm.providers[0].model`.
    pub key: String,
    /// The value on each side, as TOML-like text; `None` where the side does not have the key
    /// (a list shorter than the other's). Secret values are never given.
    pub left: Option<String>,
    pub right: Option<String>,
    pub secret: bool,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.secret {
            return write!(f, "{}: differs (secret, not shown)", self.key);
        }
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".into());
        write!(f, "{}: {} → {}", self.key, show(&self.left), show(&self.right))
    }
}

impl Settings {
    /// The settings of `files` over the defaults, in order: TOML files by their `.toml`
    /// extension, every other file as `PLANSMITH_*=value` lines (blank lines and `#` comments
    /// skipped; values taken literally, as in the environment). Nothing is read from the
    /// process environment or the working directory.
    pub fn load_files(files: &[&Path]) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        for file in files {
            if !file.exists() {
                return Err(ConfigError::MissingFile(file.to_path_buf()));
            }
            if file.extension().is_some_and(|e| e == "toml") {
                figment = figment.merge(Toml::file_exact(file));
                continue;
            }
            let text = std::fs::read_to_string(file)
                .map_err(|e| ConfigError::Invalid(format!("{}: cannot be read: {e}", file.display())))?;
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((var, value)) = line.split_once('=') else {
                    return Err(ConfigError::Invalid(format!(
                        "{}:{}: expected NAME=value, found '{line}'",
                        file.display(),
                        number + 1
                    )));
                };
                let var = var.trim().trim_start_matches("export ").trim();
                let Some(name) = var.starts_with("PLANSMITH_").then(|| env_key(var)).flatten() else {
                    continue;
                };
                figment = figment.merge(Serialized::default(&name, parse_env_value(value)));
            }
        }
        super::load::extract(figment)
    }
}

/// The settings `left` and `right` give differently, sorted by key.
pub fn diff(left: &Settings, right: &Settings) -> Vec<Difference> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &serde_json::to_value(left).unwrap_or(Value::Null), &mut a);
    flatten("", &serde_json::to_value(right).unwrap_or(Value::Null), &mut b);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|key| a.get(*key) != b.get(*key))
        .map(|key| {
            let secret = is_secret(key);
            let show = |v: Option<&Value>| v.filter(|_| !secret).map(|v| shown(key, v));
            Difference {
                key: key.clone(),
                left: show(a.get(key)),
                right: show(b.get(key)),
                secret,
            }
        })
        .collect()
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let part = if k.contains('.') { format!("\"{k}\"") } else { k.clone() };
                let key = if prefix.is_empty() {
                    part
                } else {
                    format!("{prefix}.{part}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned(), value.clone());
        }
    }
}

/// Settings whose values are secrets: tokens, keys, passwords, webhook secrets, DSNs, and
/// everything under such a name (`crypto.keys.k1`). Names of variables (`api_key_env`), of
/// files (`*_file`, `tls_key`) and of keys (`current_key`) are not.
fn is_secret(key: &str) -> bool {
    key.split('.').any(|segment| {
        let name = segment.split('[').next().unwrap_or(segment);
        if name.ends_with("_env") || name.ends_with("_file") || name == "tls_key" || name == "current_key" {
            return false;
        }
        // A webhook's URL is its credential (Slack, Teams, PagerDuty).
        name == "webhook_url"
            || "token key keys password secret dsn"
                .split(' ')
                .any(|s| name == s || name.ends_with(&format!("_{s}")))
    })
}

/// Every setting as `key = value`, sorted, secrets replaced by `(secret, not shown)` (or
/// `(not set)`) and passwords in URLs redacted: the configuration as evidence.
pub fn redacted(settings: &Settings) -> Vec<String> {
    let mut all = BTreeMap::new();
    flatten("", &serde_json::to_value(settings).unwrap_or(Value::Null), &mut all);
    all.iter()
        .map(|(key, value)| match value {
            Value::Null => format!("{key} = (not set)"),
            _ if is_secret(key) => format!("{key} = (secret, not shown)"),
            _ => format!("{key} = {}", shown(key, value)),
        })
        .collect()
}

fn shown(key: &str, value: &Value) -> String {
    match value {
        Value::String(s) if key.contains("url") || key.contains("nodes") => format!("\"{}\"", redact_url(s)),
        Value::String(s) => format!("\"{s}\""),
        Value::Null => "(not set)".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn layers_apply_in_order_and_only_differences_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let base = write(
            dir.path(),
            "base.env",
            "# shared\nPLANSMITH_DATABASE__MAX_CONNECTIONS=16\nPLANSMITH_LOG__FORMAT=json\n",
        );
        let staging = write(dir.path(), "staging.env", "PLANSMITH_DATABASE__MAX_CONNECTIONS=8\n");
        let production = write(
            dir.path(),
            "production.toml",
            "[database]\nurl = \"postgres://app:hunter2@db:5432/p\"\n[metrics]\ntoken = \"t0ps3cret-token-value\"\n",
        );
        let a = Settings::load_files(&[&base, &staging]).unwrap();
        let b = Settings::load_files(&[&base, &production]).unwrap();
        assert_eq!(a.database.max_connections, 8);
        assert_eq!(b.log.format, a.log.format);
        let lines: Vec<String> = diff(&a, &b).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "database.max_connections: 8 → 16".to_owned(),
                format!(
                    "database.url: \"{}\" → \"postgres://app:***@db:5432/p\"",
                    Settings::default().database.url
                ),
                "metrics.token: differs (secret, not shown)".to_owned(),
            ]
        );
        assert!(!lines.join("\n").contains("hunter2") && !lines.join("\n").contains("t0ps3cret"));
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn lists_are_compared_item_by_item() {
        let dir = tempfile::tempdir().unwrap();
        let one = write(dir.path(), "one.env", "PLANSMITH_LLM__ROUTE=[offline]\n");
        let two = write(dir.path(), "two.env", "PLANSMITH_LLM__ROUTE=[offline, offline]\n");
        let d = diff(
            &Settings::load_files(&[&one]).unwrap(),
            &Settings::load_files(&[&two]).unwrap(),
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].to_string(), "llm.route[1]: (not set) → \"offline\"");
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let bad = write(dir.path(), "bad.env", "PLANSMITH_LOG__FORMAT=json\nnot a setting\n");
        let err = Settings::load_files(&[&bad]).unwrap_err().to_string();
        assert!(err.contains("bad.env:2") && err.contains("NAME=value"), "{err}");
        let missing = dir.path().join("missing.toml");
        assert!(Settings::load_files(&[&missing]).is_err());
        let invalid = write(dir.path(), "invalid.env", "PLANSMITH_DATABASE__MAX_CONNECTIONS=many\n");
        let err = Settings::load_files(&[&invalid]).unwrap_err().to_string();
        assert!(err.contains("database.max_connections"), "{err}");
    }

    #[test]
    fn secrets_are_recognised_by_name() {
        for key in [
            "metrics.token",
            "backup.key",
            "crypto.keys",
            "crypto.keys.k1",
            "alerts.webhook_url",
            "billing.webhook_secret",
            "telemetry.sentry_dsn",
            "email.smtp_password",
        ] {
            assert!(is_secret(key), "{key}");
        }
        for key in [
            "llm.providers[0].api_key_env",
            "http.tls_key",
            "crypto.key_file",
            "crypto.current_key",
            "database.url",
            "log.format",
        ] {
            assert!(!is_secret(key), "{key}");
        }
    }

    #[test]
    fn the_redacted_configuration_shows_no_secret() {
        let mut settings = Settings::default();
        settings.metrics.token = Some("t0ps3cret-token-value".into());
        settings
            .crypto
            .keys
            .insert("k1".into(), "c2VjcmV0LWtleS1tYXRlcmlhbA==".into());
        settings.database.url = "postgres://app:hunter2@db:5432/p".into();
        let lines = redacted(&settings);
        let text = lines.join("\n");
        for secret in ["t0ps3cret", "c2VjcmV0", "hunter2"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            lines.contains(&"crypto.keys.k1 = (secret, not shown)".to_owned()),
            "{text}"
        );
        assert!(
            lines.contains(&"database.url = \"postgres://app:***@db:5432/p\"".to_owned()),
            "{text}"
        );
        assert!(lines.contains(&"listen = \"127.0.0.1:8080\"".to_owned()), "{text}");
    }
}
