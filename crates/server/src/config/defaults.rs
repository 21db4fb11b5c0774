//! The defaults of every key: a server that starts with no file and no environment, on SQLite
//! and the offline planner. The README's table of keys repeats the common ones.

use super::*;
use plansmith_domain::Money;

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database: DatabaseSettings::default(),
            cache: CacheSettings::default(),
            http: HttpSettings::default(),
            auth: AuthSettings::default(),
            llm: LlmSettings::default(),
            generation: GenerationSettings::default(),
            limits: LimitSettings::default(),
            shutdown: ShutdownSettings::default(),
            support: SupportSettings::default(),
            log: LogSettings::default(),
            email: EmailSettings::default(),
            metrics: MetricsSettings::default(),
            telemetry: TelemetrySettings::default(),
            alerts: AlertSettings::default(),
            backup: BackupSettings::default(),
            crypto: CryptoSettings::default(),
            retention: RetentionSettings::default(),
            billing: BillingSettings::default(),
        }
    }
}

impl Default for CryptoSettings {
    fn default() -> Self {
        Self {
            keys: std::collections::BTreeMap::new(),
            current_key: None,
            key_file: None,
            seal_writes: true,
        }
    }
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            webhook_secret: None,
            secret_key: None,
            api_base: "https://api.stripe.com".into(),
            plans: std::collections::BTreeMap::new(),
            grace_days: 7,
            return_url: None,
        }
    }
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            llm_call_days: 400,
            security_event_days: 400,
            audit_days: 2555,
            abandoned_session_days: 90,
            delete_abandoned_after_days: 0,
            interval_hours: 24,
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
            secure_cookies: None,
            hsts: None,
            web_dir: None,
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
            header_read_timeout_seconds: 10,
            request_timeout_seconds: 30,
            keep_alive_idle_seconds: 60,
            max_connections: 10_000,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_ttl_hours: 24 * 30,
            idle_timeout_minutes: 24.0 * 60.0,
            min_password_chars: 8,
            max_failed_logins_per_account: 5,
            max_failed_logins_per_ip: 20,
            failed_login_window_seconds: 15 * 60,
            max_login_pause_seconds: 60,
            signups_per_address_per_hour: 20,
            signups_per_minute: 60,
            max_queued_password_hashes: 64,
            require_mfa_for_admins: false,
            password_reset_ttl_seconds: 30 * 60,
            email_verification_ttl_hours: 48,
            password_resets_per_address_per_hour: 20,
            password_resets_per_account_per_hour: 5,
        }
    }
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Plansmith <no-reply@plansmith.dev>".into(),
            link_base: None,
            max_attempts: 8,
            smtp_timeout_seconds: 30,
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
            lease_seconds: 10,
            resume_orphans: true,
            instance_id: None,
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
            streams_per_user: 20,
            active_sessions_per_user: 50,
            queued_replies_per_user: 10,
            requests_per_user_per_minute: 600,
        }
    }
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self {
            grace_seconds: 10.0,
            readiness_delay_seconds: 0.0,
        }
    }
}

impl Default for SupportSettings {
    fn default() -> Self {
        Self {
            contact: "support@plansmith.dev".into(),
        }
    }
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            key: None,
            schedule: None,
            dir: "data/backups".into(),
            keep: 7,
            erasure_log: "data/erasures.log".into(),
        }
    }
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            listen: None,
            token: None,
            refresh_seconds: 60,
        }
    }
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sentry_dsn: None,
            environment: "production".into(),
            trace_sample_ratio: 1.0,
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

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_length: 1000,
            max_wait_seconds: 30,
            per_user_concurrency: 2,
        }
    }
}

impl Default for BudgetsSettings {
    fn default() -> Self {
        Self {
            free: BudgetSettings {
                monthly_tokens: 2_000_000,
                monthly_cost_usd: Money::from_dollars(5),
            },
            pro: BudgetSettings {
                monthly_tokens: 20_000_000,
                monthly_cost_usd: Money::from_dollars(50),
            },
            team: BudgetSettings {
                monthly_tokens: 100_000_000,
                monthly_cost_usd: Money::from_dollars(250),
            },
            unverified: BudgetSettings {
                monthly_tokens: 20_000,
                monthly_cost_usd: Money::from_cents(10),
            },
        }
    }
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

// Per provider; serde's `default = "…"` needs functions.
pub(super) fn default_connect_timeout_ms() -> u64 {
    5_000
}
pub(super) fn default_first_token_timeout_ms() -> u64 {
    30_000
}
pub(super) fn default_stall_timeout_ms() -> u64 {
    20_000
}
pub(super) fn default_total_timeout_ms() -> u64 {
    300_000
}
