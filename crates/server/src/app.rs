//! Building and running the application: store, workflows, generator, router and middleware.

use crate::config::{ConfigError, ProviderKind, Settings, redact_url};
use crate::error::{ApiError, CommonError, ErrorCode, REQUEST_ID, SUPPORT_CONTACT, current_request_id};
use crate::generation::Generator;
use crate::state::AppState;
use crate::transport::{self, TlsCerts, TlsError};
use crate::{
    accounts, admin, auth, documents, health, mail, messages, mfa, recovery, security_events, sessions, telemetry, web,
    workflows,
};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use plansmith_cache::{
    InProcessRateLimiter, InProcessSessionCache, InProcessStreamLog, RateLimiter, RedisAdmission, RedisConn,
    RedisRateLimiter, RedisSessionCache, RedisStreamLog, SessionCache, StreamLog,
};
use plansmith_llm::{
    Admission, AnthropicProvider, BreakerSettings, Gateway, Limits, OfflineProvider, OpenAiProvider, Price, PriceTable,
    Provider, QueueSettings, RetryPolicy, Target, Timeouts,
};
use plansmith_store::{Store, StoreError};
use plansmith_store_postgres::{PgOptions, PgStore};
use plansmith_store_sqlite::{SqliteOptions, SqliteStore};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Plansmith API", description = "Plan software projects with an AI planning agent."),
    tags(
        (name = "auth", description = "Accounts and sign-in"),
        (name = "workflows", description = "Planning workflows"),
        (name = "sessions", description = "Planning sessions"),
        (name = "messages", description = "Conversation and streamed replies"),
        (name = "documents", description = "Versioned planning documents"),
        (name = "health", description = "Liveness and readiness"),
        (name = "admin", description = "Operations: providers, usage, accounts, security events, errors and feature flags (admin role)"),
        (name = "billing", description = "Plans and payments through Stripe: the webhook, Checkout and the customer portal"),
        (name = "flags", description = "Feature flags for the signed-in user (OpenFeature Remote Evaluation Protocol)"),
    ),
    // Referenced by the error responses each family documents (`error::error_responses`).
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("workflows: {0}")]
    Workflow(#[from] plansmith_domain::WorkflowError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cache: {0}")]
    Cache(#[from] plansmith_cache::CacheError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Keys(#[from] crate::crypto::KeyError),
}

/// What several instances share: in the process, or on Redis when it is configured.
struct SharedState {
    stream_log: Arc<dyn StreamLog>,
    cache: Arc<dyn SessionCache>,
    limiter: Arc<dyn RateLimiter>,
    redis: Option<RedisConn>,
}

impl SharedState {
    /// Connects lazily: a Redis that is down at start is waited for, not a start failure.
    fn open(settings: &Settings, keys: &Arc<crate::crypto::Keyring>) -> Result<Self, StartError> {
        const OWNER_TTL: Duration = Duration::from_secs(600);
        Ok(match settings.redis_target() {
            None => Self {
                stream_log: Arc::new(InProcessStreamLog::new()),
                cache: Arc::new(InProcessSessionCache::new(100_000, OWNER_TTL)),
                limiter: Arc::new(InProcessRateLimiter::new()),
                redis: None,
            },
            Some(target) => {
                let conn = RedisConn::open(&target)?;
                Self {
                    stream_log: Arc::new(RedisStreamLog::sealed(
                        conn.clone(),
                        Arc::new(crate::crypto::StreamSeal::new(
                            Arc::clone(keys),
                            settings.crypto.seal_writes,
                        )),
                    )),
                    cache: Arc::new(RedisSessionCache::new(conn.clone(), OWNER_TTL)),
                    limiter: Arc::new(RedisRateLimiter::new(conn.clone())),
                    redis: Some(conn),
                }
            }
        })
    }
}

/// Replacements for parts of the application, for tests and embedding.
#[derive(Default)]
pub struct Overrides {
    /// Use this provider instead of the configured one.
    pub provider: Option<Arc<dyn Provider>>,
    /// Extra routes, served behind the same middleware.
    pub routes: Option<Router<AppState>>,
}

/// Opens the configured database — SQLite or PostgreSQL, by the URL's scheme — and applies
/// pending migrations when `migrate` is set.
pub async fn open_store(settings: &Settings, migrate: bool) -> Result<Arc<dyn Store>, StoreError> {
    let db = &settings.database;
    let store: Arc<dyn Store> = if db.url.starts_with("postgres") {
        let options = PgOptions {
            max_connections: db.max_connections,
            min_connections: db.min_connections,
            acquire_timeout: Duration::from_millis(db.acquire_timeout_ms),
            statement_timeout: Duration::from_millis(db.statement_timeout_ms),
            idle_timeout: Duration::from_secs(db.idle_timeout_seconds),
            max_lifetime: Duration::from_secs(db.max_lifetime_seconds),
        };
        Arc::new(PgStore::connect(&db.url, &options).await?)
    } else {
        let options = SqliteOptions {
            max_readers: db.max_readers,
            acquire_timeout: Duration::from_millis(db.acquire_timeout_ms),
            ..SqliteOptions::default()
        };
        Arc::new(SqliteStore::connect(&db.url, &options).await?)
    };
    if migrate {
        let applied = store.migrate().await?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
    }
    Ok(store)
}

/// What `config check` finds beyond the settings' own checks: provider keys named by
/// `api_key_env` but not set, and (with `connect`) a database or Redis that does not answer.
/// Every problem, not just the first.
pub async fn check_dependencies(settings: &Settings, connect: bool) -> Vec<String> {
    let mut problems = Vec::new();
    for provider in settings
        .llm
        .providers
        .iter()
        .filter(|p| settings.llm.route.contains(&p.name))
    {
        if let Err(e) = provider.api_key() {
            problems.push(e.to_string());
        }
    }
    if !connect {
        return problems;
    }
    match open_store(settings, false).await {
        Ok(store) => {
            if let Err(e) = store.ping().await {
                problems.push(format!(
                    "database.url: {} does not answer: {e}",
                    redact_url(&settings.database.url)
                ));
            }
        }
        Err(e) => problems.push(format!(
            "database.url: cannot open {}: {e}",
            redact_url(&settings.database.url)
        )),
    }
    if let Some(target) = settings.redis_target() {
        match RedisConn::open(&target) {
            Ok(conn) => match tokio::time::timeout(Duration::from_secs(5), conn.ping()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => problems.push(format!("{}: Redis does not answer: {e}", settings.cache_mode())),
                Err(_) => problems.push(format!("{}: Redis did not answer within 5 s", settings.cache_mode())),
            },
            Err(e) => problems.push(format!("{}: {e}", settings.cache_mode())),
        }
    }
    problems
}

/// The LLM gateway over the configured route (or over the one provider given in tests). With
/// Redis, every instance admits calls to a target (by its name) within the same limits.
fn build_gateway(
    settings: &Settings,
    only: Option<Arc<dyn Provider>>,
    redis: Option<&RedisConn>,
) -> Result<Gateway, StartError> {
    let llm = &settings.llm;
    let batch = Duration::from_millis(llm.stream_batch_ms);
    let retry = RetryPolicy {
        max_attempts: llm.retry.max_attempts,
        base_delay: Duration::from_millis(llm.retry.base_delay_ms),
        max_delay: Duration::from_millis(llm.retry.max_delay_ms),
        deadline: Duration::from_millis(llm.retry.deadline_ms),
    };
    let breaker = BreakerSettings {
        consecutive_failures: llm.breaker.consecutive_failures,
        error_ratio: llm.breaker.error_ratio,
        min_calls: llm.breaker.min_calls,
        window: Duration::from_secs(llm.breaker.window_seconds),
        open_for: Duration::from_secs(llm.breaker.open_seconds),
    };
    let prices = PriceTable::new(llm.prices.iter().map(|(model, p)| {
        (
            model.clone(),
            Price::new(p.input_per_million_usd, p.output_per_million_usd),
        )
    }));
    let queue = QueueSettings {
        max_length: llm.queue.max_length,
        max_wait: Duration::from_secs(llm.queue.max_wait_seconds),
        per_user_concurrency: llm.queue.per_user_concurrency,
    };
    let admission = |name: &str, limits: Limits| match redis {
        None => Admission::new(limits, queue),
        Some(conn) => Admission::with_backend(limits, queue, Arc::new(RedisAdmission::new(conn.clone(), name))),
    };
    if let Some(provider) = only {
        let admission = admission(provider.name(), Limits::default());
        let target = Target::new(provider, Timeouts::default(), admission);
        return Ok(Gateway::new(vec![target], retry, breaker, prices).with_batching(batch));
    }
    let mut targets = Vec::new();
    for name in &llm.route {
        let config = llm.providers.iter().find(|p| &p.name == name);
        let Some(config) = config else {
            // `offline` needs no declaration; any other name must be declared (validated).
            if name != "offline" {
                return Err(ConfigError::Invalid(format!(
                    "llm.route: '{name}' is not the name of any [[llm.providers]]"
                ))
                .into());
            }
            let provider = Arc::new(OfflineProvider::new(llm.offline.tokens_per_second));
            targets.push(Target::new(
                provider,
                Timeouts::default(),
                admission(name, Limits::default()),
            ));
            continue;
        };
        let key = config.api_key()?;
        let connect = Duration::from_millis(config.connect_timeout_ms);
        let model = config.model.clone().unwrap_or_default();
        let invalid = |e: plansmith_llm::LlmError| ConfigError::Invalid(format!("llm.providers '{name}': {e}"));
        let provider: Arc<dyn Provider> = match config.kind {
            ProviderKind::OpenAi => {
                let url = config.base_url.as_deref().unwrap_or("https://api.openai.com/v1");
                Arc::new(OpenAiProvider::new(name, url, &model, key, connect).map_err(invalid)?)
            }
            ProviderKind::Anthropic => {
                let url = config.base_url.as_deref().unwrap_or("https://api.anthropic.com/v1");
                Arc::new(AnthropicProvider::new(name, url, &model, key, connect).map_err(invalid)?)
            }
            ProviderKind::Offline => Arc::new(OfflineProvider::new(llm.offline.tokens_per_second)),
        };
        let timeouts = Timeouts {
            first_token: Duration::from_millis(config.first_token_timeout_ms),
            stall: Duration::from_millis(config.stall_timeout_ms),
            total: Duration::from_millis(config.total_timeout_ms),
        };
        let limits = Limits {
            requests_per_minute: config.requests_per_minute,
            tokens_per_minute: config.tokens_per_minute,
            max_concurrency: config.max_concurrency,
        };
        targets.push(Target::new(provider, timeouts, admission(name, limits)));
    }
    Ok(Gateway::new(targets, retry, breaker, prices).with_batching(batch))
}

/// This instance's default name on its reply leases: the host name and the listening port,
/// stable across restarts and unique among instances that are running at the same time.
fn default_instance_id(local: SocketAddr) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "plansmith".into());
    format!("{host}:{}", local.port())
}

pub struct Application {
    listener: TcpListener,
    /// `metrics.listen`, when set: `/metrics` alone.
    metrics_listener: Option<TcpListener>,
    router: Router,
    state: AppState,
    tls: Option<Arc<TlsCerts>>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        Self::build_with(settings, Overrides::default()).await
    }

    pub async fn build_with(settings: Settings, overrides: Overrides) -> Result<Self, StartError> {
        settings.validate()?;
        // Before the database: a wrong certificate path should not wait for migrations.
        let tls = match settings.tls_files() {
            Some((cert, key)) => Some(Arc::new(TlsCerts::load(cert, key)?)),
            None => None,
        };
        let keys = Arc::new(crate::crypto::Keyring::load(&settings)?);
        keys.log_source();
        let settings = Arc::new(settings);
        let store = open_store(&settings, settings.database.migrate_on_start).await?;
        // Every key-encryption key the data keys are wrapped with must be configured and open
        // them: a missing or wrong key stops the start, naming it.
        for sample in store.data_key_samples().await? {
            keys.unwrap_data_key(&sample)?;
        }
        // People's content is sealed before the database sees it.
        let store: Arc<dyn Store> = Arc::new(crate::sealed::SealedStore::new(
            store,
            Arc::clone(&keys),
            settings.crypto.seal_writes,
        ));
        // A span per store operation, when spans are exported.
        let store: Arc<dyn Store> = if crate::traces::exporting() {
            Arc::new(plansmith_store::traced::TracedStore::new(store))
        } else {
            store
        };
        crate::monitoring::install();
        let workflows = Arc::new(workflows::builtin()?);
        let shared = SharedState::open(&settings, &keys)?;
        tracing::info!(cache = %settings.cache_mode(), "shared state");
        let stream_log = shared.stream_log;
        let gateway = Arc::new(build_gateway(&settings, overrides.provider, shared.redis.as_ref())?);
        let metrics_listener = match crate::config::given(&settings.metrics.listen) {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| StartError::Bind {
                addr: addr.to_owned(),
                source,
            })?),
            None => None,
        };
        let addr = settings.listen.clone();
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| StartError::Bind {
            addr: settings.listen.clone(),
            source,
        })?;
        let instance = settings
            .generation
            .instance_id
            .clone()
            .unwrap_or_else(|| default_instance_id(local));
        tracing::info!(instance = %instance, "reply leases are held as this instance");
        let audit = crate::audit::AuditTrail::start(Arc::clone(&store), keys.clone());
        let generator = Arc::new(Generator::new(
            (Arc::clone(&store), audit.clone()),
            stream_log.clone(),
            gateway,
            Arc::clone(&workflows),
            Arc::clone(&settings),
            instance,
            shared.redis.is_some(),
        ));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mailer = Arc::new(crate::mail::Mailer::new(&settings, &format!("{scheme}://{local}"))?);
        // Replies a previous run of this instance (or a dead instance) left are taken over
        // before serving, so their followers find their streams open.
        generator.start().await?;
        let errors = crate::errors::ErrorTracker::start(Arc::clone(&store), &settings);
        crate::errors::install_panic_hook(&errors);
        let events_store = Arc::clone(&store);
        let state = AppState {
            settings: Arc::clone(&settings),
            store,
            workflows,
            stream_log,
            cache: shared.cache,
            holds: crate::holds::Holds::start(Arc::clone(&shared.limiter)),
            limiter: shared.limiter,
            // Checked with the rest of the settings before anything started.
            proxies: Arc::new(
                crate::client::TrustedProxies::parse(&settings.http.trusted_proxies)
                    .map_err(|e| ConfigError::Invalid(format!("http.trusted_proxies: {e}")))?,
            ),
            redis: shared.redis,
            generator,
            mailer,
            draining: Arc::new(AtomicBool::new(false)),
            stopping: Arc::new(AtomicBool::new(false)),
            errors,
            probes: Arc::default(),
            keys,
            audit,
            events: crate::events::ProductEvents::start(Arc::clone(&events_store)),
        };
        let router = router(state.clone(), overrides.routes);
        Ok(Self {
            listener,
            metrics_listener,
            router,
            state,
            tls,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Where `/metrics` is served on its own (`metrics.listen`), if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// `https://` or `http://` and the address listened on.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr())
    }

    /// The listener's certificate, when it serves TLS: `reload` it on SIGHUP.
    pub fn tls(&self) -> Option<Arc<TlsCerts>> {
        self.tls.clone()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets replies finish within the
    /// grace period, interrupts the rest (saving their partial text) and returns.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Self {
            listener,
            metrics_listener,
            router,
            state,
            tls,
        } = self;
        let grace = state.settings.shutdown_grace();
        let (stopped_tx, stopped_rx) = tokio::sync::watch::channel(false);
        let draining = Arc::clone(&state.draining);
        let stopping = Arc::clone(&state.stopping);
        let readiness_delay = Duration::from_secs_f64(state.settings.shutdown.readiness_delay_seconds);
        let signal = async move {
            shutdown.await;
            // Not ready first: load balancers stop sending while requests are still served.
            draining.store(true, Ordering::SeqCst);
            if !readiness_delay.is_zero() {
                tracing::info!(
                    seconds = readiness_delay.as_secs_f64(),
                    "shutting down: not ready; still serving while load balancers stop sending"
                );
                tokio::time::sleep(readiness_delay).await;
            }
            tracing::info!("shutting down: no new connections; letting replies finish");
            stopping.store(true, Ordering::SeqCst);
            stopped_tx.send_replace(true);
        };
        let limits = transport::Limits::from_settings(&state.settings.http);
        let serve = transport::serve(listener, router, limits, tls, signal);
        let sender = tokio::spawn(Arc::clone(&state.mailer).run(Arc::clone(&state.store)));
        tokio::spawn(accounts::purge_tokens(state.clone(), stopped_rx.clone()));
        crate::monitoring::spawn_collectors(state.clone(), stopped_rx.clone());
        crate::backups::spawn_scheduled(state.clone(), stopped_rx.clone());
        crate::retention::spawn(state.clone(), stopped_rx.clone());
        crate::billing::spawn_lapse(state.clone(), stopped_rx.clone());
        if let Some(metrics_listener) = metrics_listener {
            let app = crate::monitoring::listener_router(state.clone());
            let mut stop = stopped_rx.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(metrics_listener, app).with_graceful_shutdown(stopped).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let generator = Arc::clone(&state.generator);
        let mut drain_rx = stopped_rx.clone();
        let drain = async move {
            if drain_rx.wait_for(|s| *s).await.is_ok() {
                generator.shutdown(grace).await;
            }
        };
        let mut cap_rx = stopped_rx;
        let hard_stop = async move {
            if cap_rx.wait_for(|s| *s).await.is_ok() {
                tokio::time::sleep(grace + Duration::from_secs(5)).await;
                tracing::warn!("connections still open after the grace period; closing them");
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            ((), ()) = async { tokio::join!(serve, drain) } => {}
            () = hard_stop => {}
        }
        state.generator.shutdown(Duration::ZERO).await;
        state.audit.flush().await;
        // An email being sent now stays claimed for a while, then goes out again.
        sender.abort();
        Ok(())
    }
}

/// The API's routes with their OpenAPI descriptions.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me, accounts::erase_account))
        .routes(routes!(recovery::verify_email))
        .routes(routes!(recovery::request_reset))
        .routes(routes!(recovery::confirm_reset))
        .routes(routes!(mfa::status))
        .routes(routes!(mfa::start, mfa::disable))
        .routes(routes!(mfa::confirm))
        .routes(routes!(accounts::change_password))
        .routes(routes!(accounts::list_sign_ins))
        .routes(routes!(accounts::revoke_sign_in))
        .routes(routes!(accounts::revoke_all_sign_ins))
        .routes(routes!(workflows::list))
        .routes(routes!(sessions::create, sessions::list))
        .routes(routes!(sessions::get, sessions::rename, sessions::delete))
        .routes(routes!(sessions::complete_step))
        .routes(routes!(sessions::complete))
        .routes(routes!(sessions::abandon))
        .routes(routes!(messages::post, messages::list))
        .routes(routes!(messages::stream))
        .routes(routes!(messages::retry))
        .routes(routes!(documents::list))
        .routes(routes!(documents::get))
        .routes(routes!(documents::edit_section))
        .routes(routes!(documents::revisions))
        .routes(routes!(documents::restore))
        .routes(routes!(documents::export))
        .routes(routes!(documents::export_plan_markdown))
        .routes(routes!(documents::export_plan_docx))
        .routes(routes!(documents::at))
        .routes(routes!(health::healthz))
        .routes(routes!(health::about))
        .routes(routes!(crate::data_export::export))
        .routes(routes!(crate::consents::list, crate::consents::change))
        .routes(routes!(crate::audit::access_log))
        .routes(routes!(crate::audit::list))
        .routes(routes!(crate::incidents::publish, crate::incidents::list))
        .routes(routes!(crate::incidents::get))
        .routes(routes!(crate::incidents::mine))
        .routes(routes!(crate::incidents::read))
        .routes(routes!(crate::billing::webhook))
        .routes(routes!(crate::billing::checkout))
        .routes(routes!(crate::billing::portal))
        .routes(routes!(crate::billing::mine))
        .routes(routes!(crate::analytics::mrr))
        .routes(routes!(crate::analytics::forecast))
        .routes(routes!(crate::analytics::funnel))
        .routes(routes!(crate::analytics::retention))
        .routes(routes!(crate::analytics::quality))
        .routes(routes!(crate::analytics::usage))
        .routes(routes!(crate::analytics::segments))
        .routes(routes!(crate::analytics::themes))
        .routes(routes!(crate::quality::rate, crate::quality::rating))
        .routes(routes!(crate::quality::survey, crate::quality::survey_answer))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(admin::providers))
        .routes(routes!(admin::usage))
        .routes(routes!(mail::list))
        .routes(routes!(accounts::list_users))
        .routes(routes!(accounts::update_user))
        .routes(routes!(accounts::revoke_user_sign_ins))
        .routes(routes!(security_events::list))
        .routes(routes!(crate::monitoring::render))
        .routes(routes!(telemetry::rum))
        .routes(routes!(crate::errors::client_error))
        .routes(routes!(crate::errors::list))
        .routes(routes!(crate::flags::list))
        .routes(routes!(crate::flags::get, crate::flags::put, crate::flags::delete))
        .routes(routes!(crate::flags::list_client_keys, crate::flags::create_client_key))
        .routes(routes!(crate::flags::revoke_client_key))
        .routes(routes!(crate::flags::evaluate))
        .routes(routes!(crate::flags::evaluate_all))
}

/// The OpenAPI document of the API, as served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

fn router(state: AppState, extra: Option<Router<AppState>>) -> Router {
    let (api, openapi) = api_routes().split_for_parts();
    #[cfg(debug_assertions)]
    let api = api.layer(axum::middleware::from_fn_with_state(
        Arc::new(crate::error::DocumentedErrors::from_openapi(&openapi)),
        crate::error::check_documented,
    ));
    let openapi = Arc::new(openapi);
    let mut api = api.layer(axum::Extension(openapi));
    if let Some(extra) = extra {
        api = api.merge(extra);
    }
    // Answers of the API are per user and per moment: never stored by a browser or a proxy.
    // (The fallback sets it on the API's 404s; web files keep their own caching.)
    let api = api.layer(SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ));
    let hsts = state
        .settings
        .hsts()
        .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    let request_timeout = Duration::from_secs(state.settings.http.request_timeout_seconds);
    api.fallback(web::serve)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.settings.http.body_limit_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(request_timeout, request_deadline))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::monitoring::track,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), request_context))
        .layer(TraceLayer::new_for_http())
        // On every response: API, web pages, assets, errors and panics alike.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            move |_: &Response| hsts.clone(),
        ))
        .with_state(state)
}

/// What pages of this origin may load and do: scripts and everything else only from the app's
/// own files (no inline or injected script, no `eval`), no plugins, no `<base>`, and no other
/// site may frame them. Styles may be inline (style attributes); images may be `data:` URLs
/// (the app's icon).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
    worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health", operation_id = "openapi_json", responses((status = 200, body = Object)))]
async fn openapi_json(axum::Extension(doc): axum::Extension<Arc<utoipa::openapi::OpenApi>>) -> Response {
    axum::Json(doc.as_ref().clone()).into_response()
}

static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Gives every request an id (kept from `x-request-id` when sane), makes it and the support
/// contact available to error responses, and echoes it in the response.
async fn request_context(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let contact = state.settings.support.contact.clone();
    let mut response = REQUEST_ID
        .scope(id.clone(), SUPPORT_CONTACT.scope(contact, next.run(request)))
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER.clone(), value);
    }
    response
}

/// Bounds the time to the start of an answer (`http.request_timeout_seconds`): an ordinary
/// answer whole, a stream only until its head, since its events then flow for as long as the
/// reply lasts. Inside `request_context`, so the error carries the request id.
async fn request_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    // Cheap clones (shared bytes), for the log line of a timeout.
    let (method, uri) = (request.method().clone(), request.uri().clone());
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(request_id = %current_request_id(), %method, path = uri.path(), limit_seconds = limit.as_secs(), "request timed out");
            ApiError::retry_later(
                ErrorCode::Unavailable,
                format!(
                    "The server did not finish this request within {} seconds.",
                    limit.as_secs()
                ),
                "Try again in a moment.",
                Duration::from_secs(5),
            )
            .into_response()
        }
    }
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    let mut response = CommonError::internal(format_args!("handler panicked: {detail}")).into_response();
    let location = crate::errors::take_panic_location().unwrap_or_else(|| "unknown".into());
    response.extensions_mut().insert(crate::monitoring::Panicked(location));
    response
}

async fn method_not_allowed(request: Request) -> web::RoutingError {
    web::RoutingError::method_not_allowed(&request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ERROR_CODES_EXTENSION, ErrorCode, ErrorFamily};
    use std::collections::BTreeSet;

    fn document() -> serde_json::Value {
        serde_json::to_value(openapi()).expect("the document serializes")
    }

    fn operations(doc: &serde_json::Value) -> impl Iterator<Item = (&String, &String, &serde_json::Value)> {
        doc["paths"].as_object().into_iter().flatten().flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .map(move |(method, operation)| (path, method, operation))
        })
    }

    #[test]
    fn every_error_code_is_documented_on_a_route_or_answered_by_routing() {
        let doc = document();
        let documented: BTreeSet<&str> = operations(&doc)
            .flat_map(|(_, _, op)| op["responses"].as_object().into_iter().flatten())
            .filter_map(|(_, response)| response[ERROR_CODES_EXTENSION].as_array())
            .flatten()
            .filter_map(|code| code.as_str())
            .collect();
        let routing = crate::web::RoutingError::CODES;
        for code in ErrorCode::ALL {
            assert!(
                documented.contains(code.as_str()) != routing.contains(code),
                "`{}` must be documented on a route, or be a routing code (no route to document it on), not both or neither",
                code.as_str()
            );
        }
        let schema = &doc["components"]["schemas"]["ErrorCode"]["enum"];
        let listed: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            schema,
            &serde_json::json!(listed),
            "the ErrorCode schema lists every code"
        );
    }

    #[test]
    fn routes_that_read_a_json_body_document_its_codes_and_no_others_do() {
        let doc = document();
        for (path, method, operation) in operations(&doc) {
            let documents_body_codes = operation["responses"]["400"][ERROR_CODES_EXTENSION]
                .as_array()
                .is_some_and(|codes| codes.iter().any(|c| c == "malformed_json"));
            // The RUM and client error routes read raw bytes (any content type, for
            // sendBeacon, and a body limit of their own), Stripe's webhook reads the raw bytes
            // it verifies the signature of, and OFREP answers bad bodies in its own shape: none
            // of them reads `ApiJson`.
            let raw = [
                "/api/v1/rum",
                "/api/v1/client-errors",
                "/api/v1/billing/webhook",
                "/ofrep/v1/evaluate/flags",
                "/ofrep/v1/evaluate/flags/{key}",
            ];
            let reads_json = operation.get("requestBody").is_some() && !raw.contains(&path.as_str());
            assert_eq!(documents_body_codes, reads_json, "{method} {path}");
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut seen = BTreeSet::new();
        for (path, method, operation) in operations(&doc) {
            let id = operation["operationId"].as_str().expect("every operation has an id");
            assert!(seen.insert(id), "{method} {path}: operation id `{id}` is used twice");
        }
    }

    #[test]
    fn query_parameters_are_declared_in_the_query() {
        let doc = document();
        for (path, method, operation) in operations(&doc) {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default();
                if parameter["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: `{name}` is declared as a path parameter but is not in the path"
                    );
                }
            }
        }
    }
}
