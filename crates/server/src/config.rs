//! Typed settings: defaults that work, a TOML file, and `PLANSMITH_*` environment overrides
//! (`PLANSMITH_SECTION__KEY` for nested keys; `PLANSMITH_LISTEN` and `PLANSMITH_DATABASE_URL`
//! as short names). Validated before anything starts.

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: String,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub llm: LlmSettings,
    pub generation: GenerationSettings,
    pub limits: LimitSettings,
    pub shutdown: ShutdownSettings,
    pub support: SupportSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (created when missing) or `postgres://user@host:5432/db`.
    pub url: String,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
    /// SQLite: reader connections (writes go through one connection).
    pub max_readers: u32,
    /// PostgreSQL: pool size bounds.
    pub max_connections: u32,
    pub min_connections: u32,
    /// How long a request waits for a free connection before it gets a 503.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL: longest a single statement may run.
    pub statement_timeout_ms: u64,
    /// PostgreSQL: idle connections above `min_connections` close after this long.
    pub idle_timeout_seconds: u64,
    /// PostgreSQL: connections are replaced after this long.
    pub max_lifetime_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Serve the web app from this folder instead of the files built into the binary.
    pub web_dir: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    pub token_ttl_hours: u32,
    pub min_password_chars: usize,
    /// Failed sign-ins allowed per account in one window.
    pub max_failed_logins_per_account: u32,
    /// Failed sign-ins allowed per client address in one window.
    pub max_failed_logins_per_ip: u32,
    pub failed_login_window_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    /// Upper bound of tokens one reply may use.
    pub max_tokens: u32,
    /// After a reply's first token, its text is read from the provider and streamed on at most
    /// once per this many milliseconds (0: every token on its own). Fewer, larger pieces cost
    /// far less per token at thousands of replies; 100 ms still reads as continuous typing.
    pub stream_batch_ms: u64,
    pub offline: OfflineSettings,
    /// Provider names in the order a reply tries them; `offline` is always available.
    pub route: Vec<String>,
    pub providers: Vec<ProviderSettings>,
    pub retry: RetrySettings,
    pub breaker: BreakerConfig,
    /// Prices by model (overriding or adding to the built-in table), USD per million tokens.
    pub prices: std::collections::BTreeMap<String, PriceSettings>,
    /// Monthly budgets per plan.
    pub budgets: BudgetsSettings,
    /// The admission queue in front of each provider.
    pub queue: QueueConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Waiting replies per provider; beyond it new messages get 429 at once.
    pub max_length: usize,
    /// Longest a reply waits for a provider before it fails as busy.
    pub max_wait_seconds: u64,
    /// Replies one user may have running on one provider at once.
    pub per_user_concurrency: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_length: 1000,
            max_wait_seconds: 30,
            per_user_concurrency: 2,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceSettings {
    pub input_per_million_usd: f64,
    pub output_per_million_usd: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetsSettings {
    pub free: BudgetSettings,
    pub pro: BudgetSettings,
    pub team: BudgetSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetSettings {
    /// Input + output tokens per calendar month (UTC).
    pub monthly_tokens: u64,
    pub monthly_cost_usd: f64,
}

impl Default for BudgetsSettings {
    fn default() -> Self {
        Self {
            free: BudgetSettings {
                monthly_tokens: 2_000_000,
                monthly_cost_usd: 5.0,
            },
            pro: BudgetSettings {
                monthly_tokens: 20_000_000,
                monthly_cost_usd: 50.0,
            },
            team: BudgetSettings {
                monthly_tokens: 100_000_000,
                monthly_cost_usd: 250.0,
            },
        }
    }
}

impl BudgetsSettings {
    pub fn for_plan(&self, plan: plansmith_domain::Plan) -> &BudgetSettings {
        match plan {
            plansmith_domain::Plan::Free => &self.free,
            plansmith_domain::Plan::Pro => &self.pro,
            plansmith_domain::Plan::Team => &self.team,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Unique; used in `llm.route`.
    pub name: String,
    /// `openai`, `anthropic` or `offline`.
    pub kind: String,
    /// Default: the vendor's public API.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key (none for local servers).
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_first_token_timeout_ms")]
    pub first_token_timeout_ms: u64,
    #[serde(default = "default_stall_timeout_ms")]
    pub stall_timeout_ms: u64,
    #[serde(default = "default_total_timeout_ms")]
    pub total_timeout_ms: u64,
}

fn default_connect_timeout_ms() -> u64 {
    5_000
}
fn default_first_token_timeout_ms() -> u64 {
    30_000
}
fn default_stall_timeout_ms() -> u64 {
    20_000
}
fn default_total_timeout_ms() -> u64 {
    300_000
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts per provider before the route moves on.
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// All attempts of one reply together.
    pub deadline_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay_ms: 250,
            max_delay_ms: 8_000,
            deadline_ms: 300_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    pub consecutive_failures: u32,
    pub error_ratio: f64,
    pub min_calls: u32,
    pub window_seconds: u64,
    pub open_seconds: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_ratio: 0.5,
            min_calls: 10,
            window_seconds: 60,
            open_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OfflineSettings {
    pub tokens_per_second: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationSettings {
    /// How often a streaming reply's partial text is saved (so a crash keeps it).
    pub checkpoint_interval_ms: u64,
    /// How long a finished reply's stream log stays in memory for fast replay.
    pub stream_retention_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    pub max_message_chars: usize,
    pub max_section_chars: usize,
    pub max_title_chars: usize,
    pub max_idea_chars: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownSettings {
    /// Time in-flight replies get to finish after SIGTERM.
    pub grace_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SupportSettings {
    /// Shown in the hint of every server error.
    pub contact: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `json` or `pretty`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `plansmith=debug,info`.
    pub level: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database: DatabaseSettings::default(),
            http: HttpSettings::default(),
            auth: AuthSettings::default(),
            llm: LlmSettings::default(),
            generation: GenerationSettings::default(),
            limits: LimitSettings::default(),
            shutdown: ShutdownSettings::default(),
            support: SupportSettings::default(),
            log: LogSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/plansmith.db".into(),
            migrate_on_start: true,
            max_readers: 8,
            max_connections: 16,
            min_connections: 2,
            acquire_timeout_ms: 5_000,
            statement_timeout_ms: 10_000,
            idle_timeout_seconds: 300,
            max_lifetime_seconds: 1800,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            secure_cookies: false,
            web_dir: None,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_ttl_hours: 24 * 30,
            min_password_chars: 8,
            max_failed_logins_per_account: 5,
            max_failed_logins_per_ip: 20,
            failed_login_window_seconds: 15 * 60,
        }
    }
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            max_tokens: 4096,
            stream_batch_ms: 100,
            offline: OfflineSettings::default(),
            route: vec!["offline".into()],
            providers: Vec::new(),
            retry: RetrySettings::default(),
            breaker: BreakerConfig::default(),
            prices: Default::default(),
            budgets: BudgetsSettings::default(),
            queue: QueueConfig::default(),
        }
    }
}

impl Default for OfflineSettings {
    fn default() -> Self {
        Self {
            tokens_per_second: 200.0,
        }
    }
}

impl Default for GenerationSettings {
    fn default() -> Self {
        Self {
            checkpoint_interval_ms: 1000,
            stream_retention_seconds: 600,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_message_chars: 20_000,
            max_section_chars: 50_000,
            max_title_chars: 200,
            max_idea_chars: 10_000,
        }
    }
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self { grace_seconds: 10.0 }
    }
}

impl Default for SupportSettings {
    fn default() -> Self {
        Self {
            contact: "support@plansmith.dev".into(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "json".into(),
            level: "info".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist (set by --config or PLANSMITH_CONFIG)")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

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
        let settings: Settings = figment.extract().map_err(|e| {
            let messages: Vec<String> = e.into_iter().map(describe_figment_error).collect();
            ConfigError::Invalid(messages.join("; "))
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks value ranges and formats, naming each wrong key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "listen: '{}' is not an address like 127.0.0.1:8080",
                self.listen
            ));
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            problems.push(format!(
                "database.url: '{}' is not supported; use sqlite://path/to/file.db or postgres://user@host:5432/db",
                redact_url(url)
            ));
        }
        if self.database.max_readers == 0 {
            problems.push("database.max_readers: must be at least 1".into());
        }
        if self.database.max_connections == 0 || self.database.min_connections > self.database.max_connections {
            problems.push("database.max_connections: must be at least 1 and at least database.min_connections".into());
        }
        if self.database.acquire_timeout_ms == 0 || self.database.statement_timeout_ms == 0 {
            problems.push("database.acquire_timeout_ms / statement_timeout_ms: must be at least 1".into());
        }
        if self.http.body_limit_bytes < 1024 {
            problems.push("http.body_limit_bytes: must be at least 1024".into());
        }
        if self.auth.token_ttl_hours == 0 {
            problems.push("auth.token_ttl_hours: must be at least 1".into());
        }
        if self.auth.max_failed_logins_per_account == 0 || self.auth.max_failed_logins_per_ip == 0 {
            problems.push("auth.max_failed_logins_per_*: must be at least 1".into());
        }
        let rate = self.llm.offline.tokens_per_second;
        if !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0) {
            problems.push(format!(
                "llm.offline.tokens_per_second: {rate} must be between 0 and 1000000"
            ));
        }
        if self.llm.stream_batch_ms > 1000 {
            problems.push("llm.stream_batch_ms: must be at most 1000 (a second between pieces of a reply)".into());
        }
        if self.llm.max_tokens == 0 {
            problems.push("llm.max_tokens: must be at least 1".into());
        }
        problems.extend(self.llm_problems());
        let grace = self.shutdown.grace_seconds;
        if !(grace.is_finite() && (0.0..=3600.0).contains(&grace)) {
            problems.push(format!("shutdown.grace_seconds: {grace} must be between 0 and 3600"));
        }
        if self.limits.max_message_chars == 0 || self.limits.max_section_chars == 0 {
            problems.push("limits: every limit must be at least 1".into());
        }
        if !matches!(self.log.format.as_str(), "json" | "pretty") {
            problems.push(format!("log.format: '{}' must be json or pretty", self.log.format));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems.join("; ")))
        }
    }

    fn llm_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let llm = &self.llm;
        let mut names = std::collections::HashSet::new();
        for (i, p) in llm.providers.iter().enumerate() {
            let key = format!("llm.providers[{i}]");
            if p.name.is_empty() || !names.insert(p.name.as_str()) {
                problems.push(format!("{key}.name: '{}' must be non-empty and unique", p.name));
            }
            match p.kind.as_str() {
                "openai" | "anthropic" => {
                    if p.model.as_deref().is_none_or(str::is_empty) {
                        problems.push(format!("{key}.model: required for kind '{}'", p.kind));
                    }
                }
                "offline" => {}
                other => problems.push(format!("{key}.kind: '{other}' must be openai, anthropic or offline")),
            }
            if let Some(url) = &p.base_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                problems.push(format!("{key}.base_url: '{url}' must start with http:// or https://"));
            }
            if p.first_token_timeout_ms == 0
                || p.stall_timeout_ms == 0
                || p.total_timeout_ms == 0
                || p.connect_timeout_ms == 0
            {
                problems.push(format!("{key}: timeouts must be at least 1 ms"));
            }
        }
        if llm.route.is_empty() {
            problems.push("llm.route: needs at least one provider name (e.g. [\"offline\"])".into());
        }
        for name in &llm.route {
            if name != "offline" && !names.contains(name.as_str()) {
                problems.push(format!("llm.route: '{name}' is not the name of any [[llm.providers]]"));
            }
        }
        if llm.queue.max_wait_seconds == 0 || llm.queue.per_user_concurrency == 0 {
            problems.push("llm.queue: max_wait_seconds and per_user_concurrency must be at least 1".into());
        }
        if llm.retry.max_attempts == 0 || llm.retry.deadline_ms == 0 {
            problems.push("llm.retry: max_attempts and deadline_ms must be at least 1".into());
        }
        for (model, price) in &llm.prices {
            let valid = |v: f64| v.is_finite() && (0.0..=10_000.0).contains(&v);
            if !valid(price.input_per_million_usd) || !valid(price.output_per_million_usd) {
                problems.push(format!(
                    "llm.prices.{model}: prices must be between 0 and 10000 USD per million tokens"
                ));
            }
        }
        for (plan, budget) in [
            ("free", &llm.budgets.free),
            ("pro", &llm.budgets.pro),
            ("team", &llm.budgets.team),
        ] {
            if !(budget.monthly_cost_usd.is_finite() && budget.monthly_cost_usd >= 0.0) {
                problems.push(format!("llm.budgets.{plan}.monthly_cost_usd: must be 0 or more"));
            }
        }
        if !(0.0..=1.0).contains(&llm.breaker.error_ratio) || llm.breaker.consecutive_failures == 0 {
            problems.push("llm.breaker: error_ratio must be within 0–1 and consecutive_failures at least 1".into());
        }
        problems
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().expect("validated in Settings::validate")
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs_f64(self.shutdown.grace_seconds)
    }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND` → `llm.offline.tokens_per_second`.
fn env_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix("PLANSMITH_")?;
    match rest {
        // Not settings: the config path, the log filter, and variables of the project's tools.
        "CONFIG" | "LOG" | "BIN" | "" => None,
        _ if rest.starts_with("TEST_") => None,
        "DATABASE_URL" => Some("database.url".into()),
        _ => Some(rest.to_lowercase().replace("__", ".")),
    }
}

/// Environment values are parsed the way figment parses them: numbers, booleans, else strings.
fn parse_env_value(raw: &str) -> figment::value::Value {
    match raw.parse::<figment::value::Value>() {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

fn describe_figment_error(e: figment::Error) -> String {
    let key = e.path.join(".");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
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
            ]),
        )
        .unwrap();
        assert_eq!(s.listen, "127.0.0.1:9999");
        assert_eq!(s.database.url, "sqlite://x.db");
        assert_eq!(s.llm.offline.tokens_per_second, 1000.0);
        assert_eq!(s.support.contact, "help@example.com");
    }

    #[test]
    fn providers_and_route_are_checked() {
        let dir = std::env::temp_dir().join(format!("plansmith-llm-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("llm.toml");
        let good = "[[llm.providers]]\nname = \"primary\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9001/v1\"\n\
                    api_key_env = \"OPENAI_API_KEY\"\nmodel = \"gpt-4o-mini\"\nrequests_per_minute = 600\n\
                    tokens_per_minute = 200000\nmax_concurrency = 64\n\n[llm]\nroute = [\"primary\", \"offline\"]\n";
        std::fs::write(&file, good).unwrap();
        let s = Settings::load(Some(&file), env(&[])).unwrap();
        assert_eq!(s.llm.route, ["primary", "offline"]);
        assert_eq!(s.llm.providers[0].model.as_deref(), Some("gpt-4o-mini"));
        std::fs::write(
            &file,
            good.replace("route = [\"primary\", \"offline\"]", "route = [\"nobody\"]"),
        )
        .unwrap();
        let err = Settings::load(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(err.contains("llm.route") && err.contains("nobody"), "{err}");
        std::fs::write(&file, good.replace("kind = \"openai\"", "kind = \"cohere\"")).unwrap();
        let err = Settings::load(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(err.contains("llm.providers[0].kind"), "{err}");
    }

    #[test]
    fn passwords_never_show_in_messages() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/p"),
            "postgres://app:***@db:5432/p"
        );
        assert_eq!(redact_url("postgres://app@db/p"), "postgres://app@db/p");
        let err = Settings::load(None, env(&[("PLANSMITH_DATABASE_URL", "mysql://u:s3cret@h/d")])).unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[test]
    fn file_then_env() {
        let dir = std::env::temp_dir().join(format!("plansmith-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:7000\"\n[llm.offline]\ntokens_per_second = 50\n",
        )
        .unwrap();
        let s = Settings::load(Some(&file), env(&[("PLANSMITH_LISTEN", "127.0.0.1:7001")])).unwrap();
        assert_eq!(s.listen, "127.0.0.1:7001");
        assert_eq!(s.llm.offline.tokens_per_second, 50.0);
        let err = Settings::load(Some(&dir.join("missing.toml")), env(&[])).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cases = [
            ("PLANSMITH_LISTEN", "not-an-address", "listen"),
            (
                "PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND",
                "fast",
                "llm.offline.tokens_per_second",
            ),
            (
                "PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND",
                "-3",
                "llm.offline.tokens_per_second",
            ),
            ("PLANSMITH_DATABASE_URL", "mysql://x", "database.url"),
            ("PLANSMITH_DATABASE__MAX_CONNECTIONS", "0", "database.max_connections"),
            ("PLANSMITH_LLM__STREAM_BATCH_MS", "5000", "llm.stream_batch_ms"),
            ("PLANSMITH_NOPE", "1", "nope"),
        ];
        for (key, value, named) in cases {
            let err = Settings::load(None, env(&[(key, value)])).unwrap_err().to_string();
            assert!(err.contains(named), "{key}={value}: {err}");
        }
    }
}
