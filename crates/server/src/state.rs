//! Shared state of the HTTP app.

use crate::client::TrustedProxies;
use crate::config::Settings;
use crate::generation::Generator;
use plansmith_cache::{RateLimiter, RedisConn, SessionCache, StreamLog};
use plansmith_domain::Workflows;
use plansmith_store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub workflows: Arc<Workflows>,
    pub stream_log: Arc<dyn StreamLog>,
    pub cache: Arc<dyn SessionCache>,
    pub limiter: Arc<dyn RateLimiter>,
    /// Per-user caps on open streams, replies in progress and budget reservations.
    pub holds: Arc<crate::holds::Holds>,
    /// Whose `X-Forwarded-For` names the client (`http.trusted_proxies`).
    pub proxies: Arc<TrustedProxies>,
    /// The shared Redis, when several instances share state through it (for readiness).
    pub redis: Option<RedisConn>,
    pub generator: Arc<Generator>,
    /// Queues emails; its sender drains the outbox.
    pub mailer: Arc<crate::mail::Mailer>,
    /// Not ready (set at once on shutdown): `/readyz` answers 503.
    pub draining: Arc<AtomicBool>,
    /// Stopping (set after `shutdown.readiness_delay_seconds`): no new replies are started.
    pub stopping: Arc<AtomicBool>,
    /// Server and browser errors: grouped, sent to Sentry, notified.
    pub errors: Arc<crate::errors::ErrorTracker>,
    /// What the metrics collectors last saw of the dependencies.
    pub probes: Arc<crate::monitoring::Probes>,
    /// The data protection keys (`crypto`).
    pub keys: Arc<crate::crypto::Keyring>,
    /// Where requests and the platform record who accessed whose data.
    pub audit: crate::audit::AuditTrail,
    /// What people do in the product, for the analytics (`crate::events`).
    pub events: crate::events::ProductEvents,
}

impl AppState {
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}
