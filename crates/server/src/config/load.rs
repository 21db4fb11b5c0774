//! Reading the settings: defaults, then the TOML file, then `PLANSMITH_*` variables, with the
//! environment's short names and errors that name the key.

use super::{ConfigError, Settings};
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use std::path::{Path, PathBuf};

impl Settings {
    /// Loads defaults, then the TOML file, then `PLANSMITH_*` variables from `env`.
    ///
    /// `explicit` is the `--config` path; without it `PLANSMITH_CONFIG`, then `plansmith.toml`
    /// when that file exists.
    pub fn load(explicit: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("PLANSMITH_")).collect();
        let from_env = env
            .iter()
            .find(|(k, _)| k == "PLANSMITH_CONFIG")
            .map(|(_, v)| PathBuf::from(v));
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match explicit.map(Path::to_path_buf).or(from_env) {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path)),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("plansmith.toml").exists() => figment = figment.merge(Toml::file_exact("plansmith.toml")),
            None => {}
        }
        for (key, value) in &env {
            let Some(name) = env_key(key) else { continue };
            figment = figment.merge(Serialized::default(&name, parse_env_value(value)));
        }
        extract(figment)
    }
}

/// The settings a figment holds, validated; errors name the key.
pub(super) fn extract(figment: Figment) -> Result<Settings, ConfigError> {
    let settings: Settings = figment.extract().map_err(|e| {
        let messages: Vec<String> = e.into_iter().map(describe_figment_error).collect();
        ConfigError::Invalid(messages.join("; "))
    })?;
    settings.validate()?;
    Ok(settings)
}

/// `PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND` → `llm.offline.tokens_per_second`.
pub(super) fn env_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix("PLANSMITH_")?;
    match rest {
        // Not settings: the config path, the log filter, and variables of the project's tools
        // (`SKIP_WEB_BUILD` is read by the build).
        "CONFIG" | "LOG" | "BIN" | "SKIP_WEB_BUILD" | "" => None,
        _ if rest.starts_with("TEST_") => None,
        // Inputs of `plansmith compliance evidence`, not settings.
        _ if rest.starts_with("EVIDENCE_") => None,
        "DATABASE_URL" => Some("database.url".into()),
        "REDIS_URL" => Some("cache.redis_url".into()),
        "REDIS_CLUSTER_NODES" => Some("cache.redis_cluster_nodes".into()),
        _ => Some(rest.to_lowercase().replace("__", ".")),
    }
}

/// Environment values are parsed the way figment parses them: numbers, booleans, else strings.
pub(super) fn parse_env_value(raw: &str) -> figment::value::Value {
    match raw.parse::<figment::value::Value>() {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

fn describe_figment_error(e: figment::Error) -> String {
    let key = key_of(&e.path);
    let source = e.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
    let mut text = if key.is_empty() {
        e.kind.to_string()
    } else {
        format!("{key}: {}", e.kind)
    };
    if source.contains("TOML") {
        text.push_str(&format!(" (from {source})"));
    }
    text
}

/// A key as it is written in the file: `llm.providers[0].kind`, `llm.prices."gpt-4.1"`.
fn key_of(path: &[String]) -> String {
    let mut key = String::new();
    for part in path {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            key.push_str(&format!("[{part}]"));
            continue;
        }
        if !key.is_empty() {
            key.push('.');
        }
        if part.contains('.') {
            key.push_str(&format!("\"{part}\""));
        } else {
            key.push_str(part);
        }
    }
    key
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(in crate::config) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Loads `toml` as the configuration file (each call its own file: tests run in parallel).
    pub(in crate::config) fn load_toml(toml: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        static FILES: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("plansmith-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{}.toml", FILES.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&file, toml).unwrap();
        Settings::load(Some(&file), env(vars))
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::load(None, env(&[])).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert!(s.database.url.starts_with("sqlite://data/"));
        assert_eq!(s.llm.offline.tokens_per_second, 200.0);
    }

    #[test]
    fn env_overrides_short_and_nested_names() {
        let s = Settings::load(
            None,
            env(&[
                ("PLANSMITH_LISTEN", "127.0.0.1:9999"),
                ("PLANSMITH_DATABASE_URL", "sqlite://x.db"),
                ("PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND", "1000"),
                ("PLANSMITH_SUPPORT__CONTACT", "help@example.com"),
                ("OTHER", "ignored"),
                ("PLANSMITH_LOG", "debug"),
                ("PLANSMITH_BIN", "/usr/local/bin/plansmith"),
                ("PLANSMITH_TEST_BACKEND", "postgres"),
                ("PLANSMITH_SKIP_WEB_BUILD", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen, "127.0.0.1:9999");
        assert_eq!(s.database.url, "sqlite://x.db");
        assert_eq!(s.llm.offline.tokens_per_second, 1000.0);
        assert_eq!(s.support.contact, "help@example.com");
    }

    #[test]
    fn file_then_env() {
        let toml = "listen = \"127.0.0.1:7000\"\n[llm.offline]\ntokens_per_second = 50\n";
        let s = load_toml(toml, &[("PLANSMITH_LISTEN", "127.0.0.1:7001")]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:7001");
        assert_eq!(s.llm.offline.tokens_per_second, 50.0);
        let missing = std::env::temp_dir().join("plansmith-config-missing.toml");
        let err = Settings::load(Some(&missing), env(&[])).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn keys_are_named_as_written() {
        let path = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            key_of(&path(&["llm", "providers", "0", "kind"])),
            "llm.providers[0].kind"
        );
        assert_eq!(key_of(&path(&["llm", "route", "1"])), "llm.route[1]");
        assert_eq!(
            key_of(&path(&["llm", "prices", "gpt-4.1", "input_per_million_usd"])),
            "llm.prices.\"gpt-4.1\".input_per_million_usd"
        );
        assert_eq!(key_of(&[]), "");
    }
}
