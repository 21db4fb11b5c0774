//! Checks of value ranges and formats that types alone do not make, each naming the wrong key.
//! Every problem is reported, not just the first.

use super::{ConfigError, ProviderKind, Settings, given};
use plansmith_domain::Money;
use std::net::SocketAddr;

/// The most a price may be, per million tokens (the dearest models cost a few hundred).
const MAX_PRICE_PER_MILLION: Money = Money::from_dollars(10_000);

impl Settings {
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
        self.validate_cache(&mut problems);
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
        self.validate_transport(&mut problems);
        self.validate_telemetry(&mut problems);
        if self.auth.token_ttl_hours == 0 {
            problems.push("auth.token_ttl_hours: must be at least 1".into());
        }
        let idle = self.auth.idle_timeout_minutes;
        // At most a year: beyond it, the absolute lifetime ends every sign-in first anyway.
        if !(0.01..=525_600.0).contains(&idle) {
            problems.push(format!(
                "auth.idle_timeout_minutes: {idle} must be between 0.01 and 525600 (a year)"
            ));
        }
        if self.auth.max_failed_logins_per_account == 0 || self.auth.max_failed_logins_per_ip == 0 {
            problems.push("auth.max_failed_logins_per_*: must be at least 1".into());
        }
        if self.auth.signups_per_address_per_hour == 0 || self.auth.signups_per_minute == 0 {
            problems.push("auth.signups_per_*: must be at least 1".into());
        }
        if self.auth.max_queued_password_hashes == 0 || self.auth.max_login_pause_seconds == 0 {
            problems.push("auth.max_queued_password_hashes / max_login_pause_seconds: must be at least 1".into());
        }
        self.validate_email(&mut problems);
        if let Err(e) = crate::client::TrustedProxies::parse(&self.http.trusted_proxies) {
            problems.push(format!("http.trusted_proxies: {e}"));
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
        let delay = self.shutdown.readiness_delay_seconds;
        if !(0.0..=600.0).contains(&delay) {
            problems.push(format!(
                "shutdown.readiness_delay_seconds: {delay} must be between 0 and 600"
            ));
        }
        let grace = self.shutdown.grace_seconds;
        if !(grace.is_finite() && (0.0..=3600.0).contains(&grace)) {
            problems.push(format!("shutdown.grace_seconds: {grace} must be between 0 and 3600"));
        }
        if !(1..=3600).contains(&self.generation.lease_seconds) {
            problems.push("generation.lease_seconds: must be between 1 and 3600".into());
        }
        if let Some(id) = &self.generation.instance_id
            && (id.trim().is_empty() || id.len() > 200)
        {
            problems.push("generation.instance_id: must be 1 to 200 characters when set".into());
        }
        let limits = &self.limits;
        if [
            limits.streams_per_user,
            limits.active_sessions_per_user,
            limits.queued_replies_per_user,
            limits.requests_per_user_per_minute,
        ]
        .contains(&0)
        {
            problems.push("limits.streams_per_user / active_sessions_per_user / queued_replies_per_user / requests_per_user_per_minute: must be at least 1".into());
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
            if p.kind != ProviderKind::Offline && p.model.as_deref().is_none_or(str::is_empty) {
                problems.push(format!("{key}.model: required for kind '{}'", p.kind));
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
            let valid = |v: Money| (Money::ZERO..=MAX_PRICE_PER_MILLION).contains(&v);
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
            if budget.monthly_cost_usd < Money::ZERO {
                problems.push(format!("llm.budgets.{plan}.monthly_cost_usd: must be 0 or more"));
            }
        }
        if !(0.0..=1.0).contains(&llm.breaker.error_ratio) || llm.breaker.consecutive_failures == 0 {
            problems.push("llm.breaker: error_ratio must be within 0–1 and consecutive_failures at least 1".into());
        }
        problems
    }
}

impl Settings {
    /// TLS files come as a pair; the listener's limits are positive and within reason. (The
    /// files themselves are read at start, where a problem names the file.)
    fn validate_transport(&self, problems: &mut Vec<String>) {
        let http = &self.http;
        if super::given(&http.tls_cert).is_some() != super::given(&http.tls_key).is_some() {
            problems.push(
                "http.tls_cert and http.tls_key: set both (the PEM files of the certificate chain and of its private key) or neither (plain HTTP)"
                    .into(),
            );
        }
        for (key, value) in [
            ("http.header_read_timeout_seconds", http.header_read_timeout_seconds),
            ("http.request_timeout_seconds", http.request_timeout_seconds),
            ("http.keep_alive_idle_seconds", http.keep_alive_idle_seconds),
        ] {
            if !(1..=3600).contains(&value) {
                problems.push(format!("{key}: {value} must be between 1 and 3600"));
            }
        }
        if !(1..=1_000_000).contains(&http.max_connections) {
            problems.push(format!(
                "http.max_connections: {} must be between 1 and 1000000",
                http.max_connections
            ));
        }
    }

    /// A Redis address that is set must be usable: one of the two keys, `redis://` or
    /// `rediss://`, parseable. (Unreachable is not malformed: the server waits for Redis.)
    fn validate_cache(&self, problems: &mut Vec<String>) {
        let cache = &self.cache;
        let url = cache.redis_url.as_deref().filter(|u| !u.trim().is_empty());
        if url.is_some() && !cache.redis_cluster_nodes.is_empty() {
            problems.push(
                "cache.redis_url and cache.redis_cluster_nodes: set one of them (one Redis node or the seeds of a Redis Cluster), not both"
                    .into(),
            );
            return;
        }
        let check = |key: &str, address: &str, problems: &mut Vec<String>| {
            let scheme_ok = address.starts_with("redis://") || address.starts_with("rediss://");
            let parsed = plansmith_cache::RedisTarget::Node(address.trim().to_owned()).validate();
            if let (true, Ok(())) = (scheme_ok, &parsed) {
                return;
            }
            let why = parsed
                .err()
                .unwrap_or_else(|| "the scheme is not redis:// or rediss://".into());
            problems.push(format!(
                "{key}: '{}' is not a Redis address ({why}); use redis://host:6379 or rediss://host:6380",
                redact_url(address)
            ));
        };
        if let Some(url) = url {
            check("cache.redis_url", url, problems);
        }
        for node in &cache.redis_cluster_nodes {
            check("cache.redis_cluster_nodes", node, problems);
        }
    }
}

/// A database or Redis URL without its password, for messages.
impl Settings {
    fn validate_email(&self, problems: &mut Vec<String>) {
        let (auth, email) = (&self.auth, &self.email);
        if auth.password_reset_ttl_seconds == 0 || auth.email_verification_ttl_hours == 0 {
            problems.push("auth.password_reset_ttl_seconds / email_verification_ttl_hours: must be at least 1".into());
        }
        if auth.password_resets_per_address_per_hour == 0 || auth.password_resets_per_account_per_hour == 0 {
            problems.push("auth.password_resets_per_*: must be at least 1".into());
        }
        if let Err(e) = email.from.parse::<lettre::message::Mailbox>() {
            problems.push(format!(
                "email.from: '{}' is not an address like 'Plansmith <no-reply@example.com>' ({e})",
                email.from
            ));
        }
        if let Some(url) = email.smtp_url()
            && let Err(e) = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
        {
            problems.push(format!(
                "email.smtp_url: '{}' is not usable ({e}); use smtp://host:25, smtp://host:587?tls=required or smtps://user:pass@host:465",
                redact_url(url)
            ));
        }
        if let Some(base) = super::given(&email.link_base)
            && !(base.starts_with("https://") || base.starts_with("http://"))
        {
            problems.push(format!("email.link_base: '{base}' must start with https:// or http://"));
        }
        if email.max_attempts == 0 || email.smtp_timeout_seconds == 0 {
            problems.push("email.max_attempts / smtp_timeout_seconds: must be at least 1".into());
        }
    }
}

impl Settings {
    fn validate_telemetry(&self, problems: &mut Vec<String>) {
        if let Some(listen) = given(&self.metrics.listen)
            && listen.parse::<SocketAddr>().is_err()
        {
            problems.push(format!(
                "metrics.listen: '{listen}' is not an address like 127.0.0.1:9464"
            ));
        }
        if let Some(token) = &self.metrics.token
            && token.trim().len() < 16
        {
            problems.push("metrics.token: must be at least 16 characters (e.g. openssl rand -hex 24)".into());
        }
        let http_url = |key: &str, value: &Option<String>, problems: &mut Vec<String>| {
            if let Some(url) = given(value)
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                problems.push(format!(
                    "{key}: '{}' must be an http:// or https:// URL",
                    redact_url(url)
                ));
            }
        };
        http_url("telemetry.otlp_endpoint", &self.telemetry.otlp_endpoint, problems);
        http_url("alerts.webhook_url", &self.alerts.webhook_url, problems);
        if let Some(dsn) = given(&self.telemetry.sentry_dsn)
            && crate::errors::parse_dsn(dsn).is_none()
        {
            problems.push(format!(
                "telemetry.sentry_dsn: '{}' is not a DSN like https://PUBLIC_KEY@host/PROJECT_ID",
                redact_url(dsn)
            ));
        }
        if !(0.0..=1.0).contains(&self.telemetry.trace_sample_ratio) {
            problems.push("telemetry.trace_sample_ratio: must be between 0.0 and 1.0".into());
        }
        if let Some(key) = given(&self.backup.key)
            && let Err(e) = plansmith_backup::BackupKey::from_base64(key)
        {
            problems.push(e.to_string());
        }
        match self.backup.period() {
            Err(e) => problems.push(format!("backup.schedule: {e}")),
            Ok(Some(_)) if given(&self.backup.key).is_none() => {
                problems.push("backup.schedule: scheduled backups need backup.key (openssl rand -base64 32)".into())
            }
            Ok(_) => {}
        }
        let days = self.retention.llm_call_days;
        if days > 0 && days < 62 {
            problems.push(format!(
                "retention.llm_call_days: {days} is too short; monthly budgets and usage reports read this and last month's calls (use 0 to keep them, or at least 62)"
            ));
        }
        let r = &self.retention;
        for (key, days) in [
            ("llm_call_days", r.llm_call_days),
            ("security_event_days", r.security_event_days),
            ("audit_days", r.audit_days),
            ("abandoned_session_days", r.abandoned_session_days),
            ("delete_abandoned_after_days", r.delete_abandoned_after_days),
        ] {
            if days > 36_500 {
                problems.push(format!(
                    "retention.{key}: {days} days is more than 100 years; use 0 to keep for ever"
                ));
            }
        }
        if self.retention.interval_hours == 0 {
            problems.push("retention.interval_hours: must be at least 1".into());
        }
        for (id, plan) in &self.billing.plans {
            if !matches!(plan.as_str(), "pro" | "team" | "free") {
                problems.push(format!(
                    "billing.plans: '{id}' maps to '{plan}', which is not a plan; use free, pro or team"
                ));
            }
        }
        if !(self.billing.api_base.starts_with("https://") || self.billing.api_base.starts_with("http://")) {
            problems.push(format!(
                "billing.api_base: '{}' is not an http(s) URL; leave it out to use Stripe's API",
                self.billing.api_base
            ));
        }
        if self.billing.grace_days > 365 {
            problems.push("billing.grace_days: at most 365".into());
        }
        if self.backup.keep == 0 {
            problems.push("backup.keep: must be at least 1".into());
        }
        if self.alerts.daily_spend_usd.is_some_and(|m| m.micros() <= 0) {
            problems.push("alerts.daily_spend_usd: must be above 0".into());
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::super::load::tests::{env, load_toml};
    use super::*;
    use plansmith_cache::RedisTarget;

    #[test]
    fn metrics_telemetry_and_alert_settings_are_checked() {
        let good = load_toml(
            "[metrics]\nlisten = \"127.0.0.1:9464\"\n[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\n\
             sentry_dsn = \"https://key@sentry.example.com/42\"\n[alerts]\nwebhook_url = \"https://hooks.example.com/x\"\n\
             daily_spend_usd = 25.0\n",
            &[("PLANSMITH_METRICS__TOKEN", "0123456789abcdef0123")],
        )
        .unwrap();
        assert_eq!(good.metrics.listen.as_deref(), Some("127.0.0.1:9464"));
        assert_eq!(good.metrics.token.as_deref(), Some("0123456789abcdef0123"));
        assert!(
            !format!("{:?}", good.metrics).contains("0123456789abcdef0123"),
            "the token is not logged"
        );
        assert_eq!(good.alerts.daily_spend_usd, Some(Money::from_dollars(25)));
        let bad = load_toml(
            "[metrics]\nlisten = \"everywhere\"\ntoken = \"short\"\n[telemetry]\notlp_endpoint = \"collector:4318\"\n\
             sentry_dsn = \"not a dsn\"\ntrace_sample_ratio = 2.0\n[alerts]\nwebhook_url = \"ftp://x\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        let err = load_toml(
            "[backup]\nkey = \"c2hvcnQ=\"\nschedule = \"sometimes\"\nkeep = 0\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        for problem in ["backup.key must be 32 bytes", "backup.schedule", "backup.keep"] {
            assert!(err.contains(problem), "{problem} in {err}");
        }
        let err = load_toml("[backup]\nschedule = \"daily\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("need backup.key"), "{err}");
        let daily = load_toml(
            "[backup]\nschedule = \"6h\"\n",
            &[("PLANSMITH_BACKUP__KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")],
        )
        .unwrap();
        assert_eq!(
            daily.backup.period(),
            Ok(Some(std::time::Duration::from_secs(6 * 3600)))
        );
        assert!(!format!("{:?}", daily.backup).contains("MDEy"), "the key is not logged");
        for key in [
            "metrics.listen",
            "metrics.token",
            "telemetry.otlp_endpoint",
            "telemetry.sentry_dsn",
            "telemetry.trace_sample_ratio",
            "alerts.webhook_url",
        ] {
            assert!(bad.contains(key), "{key} in {bad}");
        }
    }

    #[test]
    fn providers_and_route_are_checked() {
        let good = "[[llm.providers]]\nname = \"primary\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9001/v1\"\n\
                    api_key_env = \"OPENAI_API_KEY\"\nmodel = \"gpt-4o-mini\"\nrequests_per_minute = 600\n\
                    tokens_per_minute = 200000\nmax_concurrency = 64\n\n[llm]\nroute = [\"primary\", \"offline\"]\n";
        let s = load_toml(good, &[]).unwrap();
        assert_eq!(s.llm.route, ["primary", "offline"]);
        assert_eq!(s.llm.providers[0].model.as_deref(), Some("gpt-4o-mini"));
        let nobody = good.replace("route = [\"primary\", \"offline\"]", "route = [\"nobody\"]");
        let err = load_toml(&nobody, &[]).unwrap_err().to_string();
        assert!(err.contains("llm.route") && err.contains("nobody"), "{err}");
        let err = load_toml(&good.replace("kind = \"openai\"", "kind = \"cohere\""), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("llm.providers[0].kind"), "{err}");
        let err = load_toml(&good.replace("model = \"gpt-4o-mini\"\n", ""), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("llm.providers[0].model: required for kind 'openai'"),
            "{err}"
        );
    }

    #[test]
    fn shared_state_is_in_process_one_redis_or_a_cluster() {
        let embedded = load_toml("", &[]).unwrap();
        assert_eq!(embedded.redis_target(), None);
        assert_eq!(embedded.cache_mode(), "in-process (one instance)");
        let node = load_toml("", &[("PLANSMITH_REDIS_URL", "redis://:pw@cache:6379/0")]).unwrap();
        assert_eq!(
            node.redis_target(),
            Some(RedisTarget::Node("redis://:pw@cache:6379/0".into()))
        );
        assert!(!node.cache_mode().contains("pw"), "{}", node.cache_mode());
        let seeds = ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"];
        let from_env = load_toml("", &[("PLANSMITH_REDIS_CLUSTER_NODES", &seeds.join(", "))]).unwrap();
        let from_file = load_toml(
            "[cache]\nredis_cluster_nodes = [\"redis://10.0.0.1:7000\", \"redis://10.0.0.2:7000\"]\n",
            &[],
        )
        .unwrap();
        let cluster = Some(RedisTarget::Cluster(seeds.map(String::from).to_vec()));
        assert_eq!(from_env.redis_target(), cluster);
        assert_eq!(from_file.redis_target(), cluster);
        let nested = load_toml("", &[("PLANSMITH_CACHE__REDIS_URL", "rediss://cache:6380")]).unwrap();
        assert_eq!(
            nested.redis_target(),
            Some(RedisTarget::Node("rediss://cache:6380".into()))
        );
        assert_eq!(
            load_toml("", &[("PLANSMITH_REDIS_URL", "")]).unwrap().redis_target(),
            None
        );
    }

    #[test]
    fn malformed_redis_addresses_stop_the_start_naming_the_key() {
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[("PLANSMITH_REDIS_URL", "http://cache:6379")], "cache.redis_url"),
            (&[("PLANSMITH_REDIS_URL", "redis://cache:port")], "cache.redis_url"),
            (
                &[("PLANSMITH_REDIS_CLUSTER_NODES", "redis://a:7000,nonsense")],
                "cache.redis_cluster_nodes",
            ),
            (
                &[
                    ("PLANSMITH_REDIS_URL", "redis://cache:6379"),
                    ("PLANSMITH_REDIS_CLUSTER_NODES", "redis://a:7000"),
                ],
                "not both",
            ),
        ];
        for (vars, expected) in cases {
            let err = load_toml("", vars).unwrap_err().to_string();
            assert!(err.contains(expected), "{vars:?}: {err}");
        }
    }

    #[test]
    fn transport_settings_come_from_the_environment_and_tls_urls_are_accepted() {
        let s = load_toml(
            "",
            &[
                ("PLANSMITH_HTTP__TLS_CERT", "/etc/plansmith/cert.pem"),
                ("PLANSMITH_HTTP__TLS_KEY", "/etc/plansmith/key.pem"),
                ("PLANSMITH_HTTP__HEADER_READ_TIMEOUT_SECONDS", "5"),
                ("PLANSMITH_HTTP__REQUEST_TIMEOUT_SECONDS", "20"),
                ("PLANSMITH_HTTP__KEEP_ALIVE_IDLE_SECONDS", "30"),
                ("PLANSMITH_HTTP__MAX_CONNECTIONS", "500"),
                (
                    "PLANSMITH_DATABASE_URL",
                    "postgres://app@db.internal:5432/plansmith?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem",
                ),
                ("PLANSMITH_REDIS_URL", "rediss://:pw@cache.internal:6380/0"),
            ],
        )
        .unwrap();
        assert_eq!(
            s.tls_files(),
            Some(("/etc/plansmith/cert.pem", "/etc/plansmith/key.pem"))
        );
        let http = &s.http;
        assert_eq!(
            (
                http.header_read_timeout_seconds,
                http.request_timeout_seconds,
                http.keep_alive_idle_seconds,
                http.max_connections
            ),
            (5, 20, 30, 500)
        );
        assert!(s.cache_mode().starts_with("Redis at rediss://"), "{}", s.cache_mode());
        let plain = load_toml("", &[("PLANSMITH_HTTP__TLS_CERT", ""), ("PLANSMITH_HTTP__TLS_KEY", "")]).unwrap();
        assert_eq!(plain.tls_files(), None, "empty values mean plain HTTP");
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
            ("PLANSMITH_GENERATION__LEASE_SECONDS", "0", "generation.lease_seconds"),
            ("PLANSMITH_GENERATION__INSTANCE_ID", " ", "generation.instance_id"),
            ("PLANSMITH_NOPE", "1", "nope"),
            ("PLANSMITH_HTTP__TLS_CERT", "/etc/plansmith/cert.pem", "http.tls_key"),
            ("PLANSMITH_HTTP__TLS_KEY", "/etc/plansmith/key.pem", "http.tls_cert"),
            (
                "PLANSMITH_HTTP__HEADER_READ_TIMEOUT_SECONDS",
                "0",
                "http.header_read_timeout_seconds",
            ),
            (
                "PLANSMITH_HTTP__REQUEST_TIMEOUT_SECONDS",
                "0",
                "http.request_timeout_seconds",
            ),
            (
                "PLANSMITH_HTTP__KEEP_ALIVE_IDLE_SECONDS",
                "86400",
                "http.keep_alive_idle_seconds",
            ),
            ("PLANSMITH_HTTP__MAX_CONNECTIONS", "0", "http.max_connections"),
        ];
        for (key, value, named) in cases {
            let err = Settings::load(None, env(&[(key, value)])).unwrap_err().to_string();
            assert!(err.contains(named), "{key}={value}: {err}");
        }
    }
}
