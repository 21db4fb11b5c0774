//! Typed settings: defaults that work, a TOML file, and `PLANSMITH_*` environment overrides
//! (`PLANSMITH_SECTION__KEY` for nested keys; `PLANSMITH_LISTEN` and `PLANSMITH_DATABASE_URL`
//! as short names). Validated before anything starts.
//!
//! The sections are declared here, the model settings in `llm`; their defaults are in
//! `defaults`, reading the file and the environment in `load`, the checks in `validate`.

mod defaults;
pub mod diff;
mod llm;
mod load;
mod validate;

pub use llm::{
    BreakerConfig, BudgetSettings, BudgetsSettings, LlmSettings, OfflineSettings, PriceSettings, ProviderKind,
    ProviderSettings, QueueConfig, RetrySettings,
};
pub use validate::redact_url;

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: String,
    pub database: DatabaseSettings,
    pub cache: CacheSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub llm: LlmSettings,
    pub generation: GenerationSettings,
    pub limits: LimitSettings,
    pub shutdown: ShutdownSettings,
    pub support: SupportSettings,
    pub log: LogSettings,
    pub email: EmailSettings,
    pub metrics: MetricsSettings,
    pub telemetry: TelemetrySettings,
    pub alerts: AlertSettings,
    pub backup: BackupSettings,
    pub crypto: CryptoSettings,
    pub retention: RetentionSettings,
    pub billing: BillingSettings,
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

/// Shared state of several instances (sign-in limits, the session cache): in the process when
/// neither key is set (the embedded default), else on Redis.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// One Redis node: `redis://host:6379` or `rediss://host:6380` (TLS).
    pub redis_url: Option<String>,
    /// Or the seed nodes of a Redis Cluster, `redis://host:port` each (in the environment one
    /// comma-separated value).
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub redis_cluster_nodes: Vec<String>,
}

/// A setting's text, unless it is missing or blank.
pub fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A TOML list of strings, or one comma-separated string (as environment variables give it).
fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Nodes {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Nodes::deserialize(d)? {
        Nodes::List(nodes) => nodes,
        Nodes::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Mark the sign-in cookie `Secure` (and name it with the `__Host-` prefix). Default: on,
    /// unless the server listens on a loopback address (127.0.0.0/8, ::1), where it is
    /// usually reached over plain HTTP.
    pub secure_cookies: Option<bool>,
    /// Send `Strict-Transport-Security` (one year, subdomains included). Default: on when the
    /// server itself serves TLS (`tls_cert`); behind a TLS proxy, set it once every client
    /// reaches the server over HTTPS.
    pub hsts: Option<bool>,
    /// Serve the web app from this folder instead of the files built into the binary.
    pub web_dir: Option<String>,
    /// Proxies (addresses or CIDRs, e.g. `10.0.0.0/8`) whose `X-Forwarded-For` is believed:
    /// a request from one of them is counted against the client address it forwarded for.
    /// Empty (the default): the client address is the connection's peer.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub trusted_proxies: Vec<String>,
    /// Serve HTTPS: the certificate chain (PEM, the server's certificate first) and its private
    /// key (PEM: PKCS#8, PKCS#1 or SEC1). Both or neither; read again on SIGHUP.
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// A connection must send a request's head (request line and headers) within this long of
    /// opening (or of its first byte after an idle pause); else it is closed. Also bounds the
    /// TLS handshake.
    pub header_read_timeout_seconds: u64,
    /// Longest time to the start of an answer. Streams (a reply's events) are not cut: their
    /// answer starts at once and then lasts as long as the reply.
    pub request_timeout_seconds: u64,
    /// A kept-alive connection with no request in progress is closed after this long.
    pub keep_alive_idle_seconds: u64,
    /// Open connections at most; further ones wait in the listen backlog until one closes.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Absolute lifetime of a sign-in.
    pub token_ttl_hours: u32,
    /// A sign-in unused for this long stops working (sliding: each use renews it). Fractions
    /// of a minute are allowed (tests use a few seconds).
    pub idle_timeout_minutes: f64,
    pub min_password_chars: usize,
    /// Failed sign-ins allowed per account in one window.
    pub max_failed_logins_per_account: u32,
    /// Failed sign-ins allowed per client address in one window.
    pub max_failed_logins_per_ip: u32,
    pub failed_login_window_seconds: u64,
    /// After `max_failed_logins_per_account` failures from addresses the account was never
    /// signed in from, each further attempt waits for a pause (1 s, doubling) up to this.
    pub max_login_pause_seconds: u64,
    /// Accounts created per client address per hour.
    pub signups_per_address_per_hour: u32,
    /// Accounts created per minute by everyone together.
    pub signups_per_minute: u32,
    /// Password checks waiting for a hashing thread; beyond it sign-in and sign-up answer 503.
    pub max_queued_password_hashes: usize,
    /// Admins must turn TOTP on: until they do, the admin routes answer 403
    /// `mfa_enrolment_required` (the rest of the API works as for a member, so they can enrol).
    pub require_mfa_for_admins: bool,
    /// How long a password-reset link works.
    pub password_reset_ttl_seconds: u64,
    /// How long an email-verification link works.
    pub email_verification_ttl_hours: u64,
    /// Password-reset requests per client address per hour, and per account per hour.
    pub password_resets_per_address_per_hour: u32,
    pub password_resets_per_account_per_hour: u32,
}

/// Outgoing email: an outbox in the database, drained by a sender in each instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    /// `smtp://host:25` (no TLS), `smtp://host:587?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host:465`. Unset: emails are not sent but logged, and listed for
    /// admins at `GET /api/v1/admin/emails`.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Plansmith <no-reply@plansmith.dev>`.
    pub from: String,
    /// The start of the links in emails (`https://plans.example.com`). Unset: the address the
    /// server listens on (`http(s)://` and `listen`).
    pub link_base: Option<String>,
    /// Attempts to send an email before it is given up (failures wait 5 s, doubling, up to 15 min).
    pub max_attempts: u32,
    /// Longest one SMTP exchange may take.
    pub smtp_timeout_seconds: u64,
}

impl EmailSettings {
    /// The SMTP URL, unless it is missing or blank.
    pub fn smtp_url(&self) -> Option<&str> {
        given(&self.smtp_url)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GenerationSettings {
    /// How often a streaming reply's partial text is saved (so a crash keeps it).
    pub checkpoint_interval_ms: u64,
    /// How long a finished reply's stream log stays in memory for fast replay.
    pub stream_retention_seconds: u64,
    /// The lease an instance holds on each reply it generates, renewed every third of it;
    /// another instance takes a reply over once its lease has run out.
    pub lease_seconds: u64,
    /// What to do with a reply whose instance went away (or restarted): generate it again from
    /// the start (`true`), or mark it `interrupted` for the user to retry.
    pub resume_orphans: bool,
    /// This instance's name on the replies it leases; stable across restarts, unique among
    /// running instances. Default: host name and listening port.
    pub instance_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    pub max_message_chars: usize,
    pub max_section_chars: usize,
    pub max_title_chars: usize,
    pub max_idea_chars: usize,
    /// Reply streams (server-sent events) one user may have open at once, on all instances.
    pub streams_per_user: u32,
    /// Active (not completed or abandoned) planning sessions per user.
    pub active_sessions_per_user: u32,
    /// Replies of one user waiting for or being generated by the agent at once.
    pub queued_replies_per_user: u32,
    /// Requests one signed-in user may make per minute.
    pub requests_per_user_per_minute: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownSettings {
    /// Time in-flight replies get to finish after SIGTERM.
    pub grace_seconds: f64,
    /// After SIGTERM, `/readyz` answers 503 at once but the server keeps serving for this long
    /// before it stops accepting connections, so load balancers (and Kubernetes endpoints)
    /// stop sending it requests first. 0: stop accepting at once (one instance, no balancer).
    pub readiness_delay_seconds: f64,
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

/// Who may read `/metrics`: a listener of its own (for a Prometheus on the private network), or
/// the main listener with a bearer token. With neither, the main listener answers 404 there.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `/metrics` (and nothing else) on this address, e.g. `127.0.0.1:9464`.
    pub listen: Option<String>,
    /// When `listen` is unset: the main listener serves `/metrics` to `Authorization: Bearer
    /// <token>` (at least 16 characters).
    pub token: Option<String>,
    /// How often the business gauges (users, active users, paying users, sessions in
    /// progress) are read from the database, in seconds.
    pub refresh_seconds: u64,
}

impl std::fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSettings")
            .field("listen", &self.listen)
            .field("refresh_seconds", &self.refresh_seconds)
            // The token is left out: settings are logged.
            .finish_non_exhaustive()
    }
}

/// The keys that protect stored data (`crate::crypto`): key-encryption keys by id, 32 bytes in
/// base64 each. Without keys or a key file, an embedded (SQLite) deployment generates a key
/// file beside its database on first start; PostgreSQL deployments must set the same keys on
/// every instance.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CryptoSettings {
    /// `{ k1 = "BASE64", k2 = "BASE64" }`; in the environment `k1:BASE64,k2:BASE64`.
    #[serde(deserialize_with = "key_map")]
    pub keys: std::collections::BTreeMap<String, String>,
    /// The key id new data is protected with; may be left out when there is one key.
    pub current_key: Option<String>,
    /// A file holding the keys instead (`id:BASE64` per line, and `current=id`).
    pub key_file: Option<String>,
    /// Seal what is written (reads open sealed values either way). `false` only during a
    /// rolling upgrade from a release that cannot open them (docs/migrations.md).
    pub seal_writes: bool,
}

impl std::fmt::Debug for CryptoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoSettings")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("current_key", &self.current_key)
            .field("key_file", &self.key_file)
            .field("seal_writes", &self.seal_writes)
            .finish()
    }
}

/// A TOML table of key id to key, or `id:key,id:key` (as environment variables give it).
fn key_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Keys {
        Map(std::collections::BTreeMap<String, String>),
        Text(String),
    }
    match Keys::deserialize(d)? {
        Keys::Map(map) => Ok(map),
        Keys::Text(text) => crate::crypto::parse_key_list(&text).map_err(serde::de::Error::custom),
    }
}

/// Billing through Stripe (`crate::billing`, docs/analytics.md): the webhook's signing secret,
/// the API key for Checkout and the customer portal, and which prices give which plan.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BillingSettings {
    /// The webhook endpoint's signing secret (`whsec_…`); without it the webhook answers 404.
    pub webhook_secret: Option<String>,
    /// Stripe's secret API key (`sk_…`) for Checkout and the customer portal.
    pub secret_key: Option<String>,
    /// Stripe's API (changed only to test against a server that speaks it).
    pub api_base: String,
    /// Stripe price or product id to plan: `{ price_123 = "pro" }`; in the environment
    /// `price_123:pro,prod_456:team`. A product's `metadata.plansmith_plan` counts too.
    #[serde(deserialize_with = "plan_map")]
    pub plans: std::collections::BTreeMap<String, String>,
    /// Days after a failed payment before the account falls back to free.
    pub grace_days: u32,
    /// Where Checkout and the portal send the person back (default: `email.link_base` + `/plans`).
    pub return_url: Option<String>,
}

impl std::fmt::Debug for BillingSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingSettings")
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "(set)"))
            .field("secret_key", &self.secret_key.as_ref().map(|_| "(set)"))
            .field("api_base", &self.api_base)
            .field("plans", &self.plans)
            .field("grace_days", &self.grace_days)
            .field("return_url", &self.return_url)
            .finish()
    }
}

/// A TOML table of Stripe id to plan, or `id:plan,id:plan` (as environment variables give it).
fn plan_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Plans {
        Map(std::collections::BTreeMap<String, String>),
        Text(String),
    }
    match Plans::deserialize(d)? {
        Plans::Map(map) => Ok(map),
        Plans::Text(text) => {
            let mut plans = std::collections::BTreeMap::new();
            for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let (id, plan) = entry.split_once(':').ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "'{entry}' is not id:plan; write billing.plans as price_123:pro,prod_456:team"
                    ))
                })?;
                plans.insert(id.trim().to_owned(), plan.trim().to_owned());
            }
            Ok(plans)
        }
    }
}

/// How long records are kept; the retention job runs daily inside `serve` (`crate::retention`).
/// Zero keeps them forever.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Model call details (tokens, cost, latency per call); monthly totals are kept.
    pub llm_call_days: u32,
    /// Security events (sign-ins, failures, changes of account).
    pub security_event_days: u32,
    /// Audit entries: pruned only up to a signed checkpoint, so the chain still verifies.
    pub audit_days: u32,
    /// Sessions with no activity for this long are marked abandoned.
    pub abandoned_session_days: u32,
    /// Abandoned sessions are deleted (with their documents) this long after they were
    /// last touched.
    pub delete_abandoned_after_days: u32,
    /// How often the job runs.
    pub interval_hours: u32,
}

/// Backups (`plansmith backup …`, and scheduled ones inside `serve`).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BackupSettings {
    /// 32 bytes in base64 (`openssl rand -base64 32`): backups are encrypted with it
    /// (AES-256-GCM). Keep it apart from the backups.
    pub key: Option<String>,
    /// Take a backup inside `serve` this often: `hourly`, `daily`, or a duration such as `6h`
    /// or `30m`. Unset: no scheduled backups (use a cron job or the Kubernetes CronJob).
    pub schedule: Option<String>,
    /// Where scheduled backups are written (`plansmith-<time>.backup`).
    pub dir: String,
    /// Scheduled backups kept; older ones are deleted.
    pub keep: usize,
    /// The erasure log: every account erasure, one JSON line each, kept outside the database
    /// so that `plansmith backup restore` erases again whoever was erased after the backup.
    /// Put it with the backups (on storage every instance writes to, when there are several).
    pub erasure_log: String,
}

impl std::fmt::Debug for BackupSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupSettings")
            .field("key", &self.key.as_ref().map(|_| "(set)"))
            .field("schedule", &self.schedule)
            .field("dir", &self.dir)
            .field("keep", &self.keep)
            .field("erasure_log", &self.erasure_log)
            .finish()
    }
}

impl BackupSettings {
    /// The schedule's period.
    pub fn period(&self) -> Result<Option<std::time::Duration>, String> {
        let Some(schedule) = given(&self.schedule) else {
            return Ok(None);
        };
        let hours = |h: u64| Ok(Some(std::time::Duration::from_secs(h * 3600)));
        match schedule {
            "hourly" => hours(1),
            "daily" => hours(24),
            other => {
                let (number, unit) = other.split_at(other.len() - 1);
                let n: u64 = number
                    .parse()
                    .map_err(|_| format!("'{other}' is not hourly, daily or a duration like 6h or 30m"))?;
                let seconds = match unit {
                    "h" => n * 3600,
                    "m" => n * 60,
                    _ => return Err(format!("'{other}' is not hourly, daily or a duration like 6h or 30m")),
                };
                if seconds < 60 {
                    return Err("scheduled backups at most once a minute".into());
                }
                Ok(Some(std::time::Duration::from_secs(seconds)))
            }
        }
    }
}

/// Traces and error tracking, both off unless configured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// OTLP over HTTP/protobuf, e.g. `http://collector:4318` (`/v1/traces` is added).
    pub otlp_endpoint: Option<String>,
    /// Sentry (or a Sentry-compatible service such as GlitchTip): panics, 5xx answers and the
    /// web app's errors go there.
    pub sentry_dsn: Option<String>,
    /// `environment` of errors and traces, e.g. `production` or `staging`.
    pub environment: String,
    /// Share of requests traced, 0.0–1.0.
    pub trace_sample_ratio: f64,
}

/// Where alerts raised by the server itself go, and thresholds the alert rules read.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// A new kind of server error (5xx or panic) is posted here as JSON, once per kind.
    pub webhook_url: Option<String>,
    /// Exported as `plansmith_daily_spend_threshold_microdollars`: the `LLMDailySpendExceeded` alert
    /// fires when model calls cost more than this in 24 hours.
    pub daily_spend_usd: Option<plansmith_domain::Money>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist (set by --config or PLANSMITH_CONFIG)")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().expect("validated in Settings::validate")
    }

    /// Whether the sign-in cookie is `Secure`: `http.secure_cookies` when set, else on when
    /// the server serves TLS or does not listen on a loopback address.
    pub fn secure_cookies(&self) -> bool {
        self.http.secure_cookies.unwrap_or_else(|| {
            self.tls_files().is_some()
                || !self
                    .listen
                    .parse::<SocketAddr>()
                    .is_ok_and(|addr| addr.ip().is_loopback())
        })
    }

    /// Whether `Strict-Transport-Security` is sent: `http.hsts` when set, else when the server
    /// serves TLS.
    pub fn hsts(&self) -> bool {
        self.http.hsts.unwrap_or_else(|| self.tls_files().is_some())
    }

    /// The certificate chain and key files when the server serves HTTPS (both set; validated).
    pub fn tls_files(&self) -> Option<(&str, &str)> {
        given(&self.http.tls_cert).zip(given(&self.http.tls_key))
    }

    /// When sign-ins stop working, as of `now`.
    pub fn token_life(&self, now: chrono::DateTime<chrono::Utc>) -> plansmith_store::TokenLife {
        plansmith_store::TokenLife {
            now,
            idle: Duration::from_secs_f64(self.auth.idle_timeout_minutes * 60.0),
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs_f64(self.shutdown.grace_seconds)
    }

    /// Where the shared state lives: `None` in the process (the embedded default).
    pub fn redis_target(&self) -> Option<plansmith_cache::RedisTarget> {
        let url = self.cache.redis_url.as_deref().filter(|u| !u.trim().is_empty());
        match (url, self.cache.redis_cluster_nodes.as_slice()) {
            (Some(url), _) => Some(plansmith_cache::RedisTarget::Node(url.trim().to_owned())),
            (None, []) => None,
            (None, nodes) => Some(plansmith_cache::RedisTarget::Cluster(nodes.to_vec())),
        }
    }

    /// One line on where state is shared, for `config check` and the start-up log.
    pub fn cache_mode(&self) -> String {
        match self.redis_target() {
            None => "in-process (one instance)".into(),
            Some(plansmith_cache::RedisTarget::Node(url)) => format!("Redis at {}", redact_url(&url)),
            Some(plansmith_cache::RedisTarget::Cluster(nodes)) => {
                let nodes: Vec<String> = nodes.iter().map(|n| redact_url(n)).collect();
                format!("Redis Cluster, seeds {}", nodes.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_unless_the_server_listens_on_loopback_or_the_setting_says() {
        let with = |listen: &str, secure: Option<bool>| {
            let mut settings = Settings {
                listen: listen.into(),
                ..Settings::default()
            };
            settings.http.secure_cookies = secure;
            settings.secure_cookies()
        };
        assert!(!with("127.0.0.1:8080", None));
        assert!(!with("127.10.0.3:8080", None));
        assert!(!with("[::1]:8080", None));
        assert!(with("0.0.0.0:8080", None));
        assert!(with("[::]:8080", None));
        assert!(with("10.1.2.3:8080", None));
        assert!(with("127.0.0.1:8080", Some(true)));
        assert!(!with("0.0.0.0:8080", Some(false)));
    }

    #[test]
    fn serving_tls_makes_cookies_secure_and_sends_hsts_unless_the_settings_say() {
        let mut settings = Settings::default();
        assert!(!settings.secure_cookies() && !settings.hsts(), "plain HTTP on loopback");
        settings.http.tls_cert = Some("cert.pem".into());
        settings.http.tls_key = Some("key.pem".into());
        assert!(settings.secure_cookies() && settings.hsts(), "TLS on loopback");
        settings.http.hsts = Some(false);
        settings.http.secure_cookies = Some(false);
        assert!(!settings.secure_cookies() && !settings.hsts());
        let mut proxied = Settings::default();
        proxied.http.hsts = Some(true);
        assert!(proxied.hsts(), "behind a TLS proxy, by the setting");
    }
}
