//! Prometheus metrics: what is counted where it happens (HTTP requests, model calls, replies,
//! sessions, Redis commands), what is read when Prometheus scrapes (queues, pools, breakers,
//! the process), and what background collectors refresh (business gauges from the database,
//! round trips to each dependency). Also the access log: one line per request.
//!
//! `/metrics` is not public: it is served on `metrics.listen` (a listener of its own), or on
//! the main listener to `Authorization: Bearer <metrics.token>`; with neither, the main
//! listener answers 404 there.

use crate::error::{ApiError, ErrorCause, ErrorCode, ErrorFamily, current_request_id, error_family};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use plansmith_domain::UserId;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tracing::Instrument;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Buckets per histogram, each fitting its figure: HTTP answers in milliseconds to seconds,
/// first tokens around a second, our own added latency in milliseconds, sessions in hours to
/// days, Redis and dependency round trips in fractions of a millisecond.
const HTTP_SECONDS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const FIRST_TOKEN_SECONDS: &[f64] = &[0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0];
const OVERHEAD_SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const REPLY_SECONDS: &[f64] = &[1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0];
const SESSION_SECONDS: &[f64] = &[
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, 259200.0, 604800.0, 2592000.0,
];
const ROUND_TRIP_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const VITALS_MS: &[f64] = &[
    50.0, 100.0, 200.0, 500.0, 800.0, 1000.0, 1800.0, 2500.0, 3000.0, 4000.0, 6000.0, 10000.0,
];

/// Installs the process-wide recorder once; later calls (more apps in one process) share it.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets: [(&str, &[f64]); 11] = [
                ("plansmith_http_request_duration_seconds", HTTP_SECONDS),
                ("plansmith_llm_time_to_first_token_seconds", FIRST_TOKEN_SECONDS),
                ("plansmith_reply_first_token_seconds", FIRST_TOKEN_SECONDS),
                ("plansmith_reply_first_token_overhead_seconds", OVERHEAD_SECONDS),
                ("plansmith_reply_duration_seconds", REPLY_SECONDS),
                ("plansmith_session_completion_seconds", SESSION_SECONDS),
                ("plansmith_step_completion_seconds", SESSION_SECONDS),
                ("plansmith_redis_command_duration_seconds", ROUND_TRIP_SECONDS),
                ("plansmith_dependency_latency_seconds", ROUND_TRIP_SECONDS),
                ("plansmith_web_vitals", VITALS_MS),
                ("plansmith_auth_password_hash_seconds", HTTP_SECONDS),
            ];
            let mut builder =
                PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), HTTP_SECONDS);
            for (name, bounds) in buckets {
                builder = builder.and_then(|b| b.set_buckets_for_metric(Matcher::Full(name.into()), bounds));
            }
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    // Present from the start (at 0), not only once the first stream opens.
                    metrics::gauge!("plansmith_active_streams").increment(0.0);
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Why `/metrics` on the main listener refused.
#[derive(Debug)]
pub enum MetricsError {
    /// Not served here: `metrics.listen` is set, or no `metrics.token`.
    NotHere,
    /// Wrong or missing bearer token.
    Unauthorized,
}

error_family!(MetricsError);

impl ErrorFamily for MetricsError {
    const CODES: &'static [ErrorCode] = &[ErrorCode::NotFound, ErrorCode::Unauthorized];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::NotHere => ApiError::new(
                ErrorCode::NotFound,
                "Metrics are not served on this listener.",
                "Scrape the address in metrics.listen, or set metrics.token and send it as a bearer token.",
            ),
            Self::Unauthorized => ApiError::new(
                ErrorCode::Unauthorized,
                "The metrics token is missing or wrong.",
                "Send Authorization: Bearer <metrics.token>.",
            ),
        }
    }
}

/// Prometheus text exposition of every metric, to `Authorization: Bearer <metrics.token>`
/// when `metrics.token` is set and `metrics.listen` is not; 404 otherwise (then scrape the
/// `metrics.listen` address).
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "metrics",
    responses((status = 200, content_type = "text/plain", body = String), MetricsError))]
pub async fn render(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, MetricsError> {
    let metrics = &state.settings.metrics;
    let token = match (crate::config::given(&metrics.listen), &metrics.token) {
        (None, Some(token)) => token,
        _ => return Err(MetricsError::NotHere),
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Digests are compared, so the time taken says nothing about the token.
    if Sha256::digest(given.as_bytes()) != Sha256::digest(token.trim().as_bytes()) {
        return Err(MetricsError::Unauthorized);
    }
    Ok(exposition(&state))
}

/// The router of the `metrics.listen` listener: `/metrics` and nothing else.
pub fn listener_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(state): State<AppState>| async move { exposition(&state) }),
        )
        .with_state(state)
}

fn exposition(state: &AppState) -> Response {
    let counters = scrape_figures(state);
    let mut body = install().map(PrometheusHandle::render).unwrap_or_default();
    for (name, help, value) in counters {
        let _ = write!(body, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Figures read at scrape time. Gauges go through the recorder; counters kept elsewhere as
/// fractions (CPU seconds, pool wait) are returned, to be written into the exposition
/// directly as counters (the recorder's counters are whole numbers).
fn scrape_figures(state: &AppState) -> Vec<(&'static str, &'static str, f64)> {
    metrics::gauge!("plansmith_active_replies").set(state.generator.in_flight() as f64);
    for target in state.generator.gateway().snapshot() {
        let provider = target.name;
        let open = !matches!(target.breaker, plansmith_llm::BreakerState::Closed);
        metrics::gauge!("plansmith_llm_breaker_open", "provider" => provider.clone()).set(f64::from(u8::from(open)));
        metrics::gauge!("plansmith_llm_queue_depth", "provider" => provider.clone()).set(target.queue_depth as f64);
        metrics::gauge!("plansmith_llm_queue_capacity", "provider" => provider.clone())
            .set(target.queue_capacity as f64);
        metrics::gauge!("plansmith_llm_in_flight", "provider" => provider).set(target.in_flight as f64);
    }
    let pool = state.store.pool_stats();
    metrics::gauge!("plansmith_db_pool_connections", "state" => "in_use")
        .set(f64::from(pool.size.saturating_sub(pool.idle)));
    metrics::gauge!("plansmith_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("plansmith_db_pool_max_connections").set(f64::from(pool.max_size));
    metrics::gauge!("plansmith_db_pool_waiting").set(pool.waiting as f64);
    metrics::counter!("plansmith_db_pool_acquisitions_total").absolute(pool.acquisitions);
    if let Some(queued) = pool.write_queue {
        metrics::gauge!("plansmith_sqlite_writer_queue_depth").set(queued as f64);
    }
    let ready = !state.is_draining() && state.probes.database_up.load(Ordering::Relaxed);
    metrics::gauge!("plansmith_ready").set(f64::from(u8::from(ready)));
    metrics::gauge!("plansmith_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    if let Some(limit) = state.settings.alerts.daily_spend_usd {
        metrics::gauge!("plansmith_daily_spend_threshold_microdollars").set(limit.micros() as f64);
    }
    if let Some((free, size)) = sqlite_volume(&state.settings.database.url) {
        metrics::gauge!("plansmith_storage_volume_free_bytes").set(free);
        metrics::gauge!("plansmith_storage_volume_size_bytes").set(size);
    }
    let process = process_figures();
    if let Some(rss) = process.resident_bytes {
        metrics::gauge!("process_resident_memory_bytes").set(rss);
    }
    if let Some(fds) = process.open_fds {
        metrics::gauge!("process_open_fds").set(fds);
    }
    if let Some(start) = process.start_time_seconds {
        metrics::gauge!("process_start_time_seconds").set(start);
    }
    let mut counters = vec![(
        "plansmith_db_pool_acquire_wait_seconds_total",
        "Time spent waiting for a database connection.",
        pool.acquire_micros_total as f64 / 1e6,
    )];
    if let Some(cpu) = process.cpu_seconds {
        counters.push((
            "process_cpu_seconds_total",
            "User and system CPU time spent in seconds.",
            cpu,
        ));
    }
    counters
}

/// Free and total bytes of the filesystem holding the SQLite file (embedded mode only).
fn sqlite_volume(url: &str) -> Option<(f64, f64)> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    let file = std::path::Path::new(path);
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let c_path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a NUL-terminated path and a buffer of the right type, filled on success.
    let done = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if done != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the buffer.
    let stats = unsafe { stats.assume_init() };
    let block = stats.f_frsize as f64;
    Some((stats.f_bavail as f64 * block, stats.f_blocks as f64 * block))
}

#[derive(Debug, Default, PartialEq)]
struct ProcessFigures {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<f64>,
    open_fds: Option<f64>,
    start_time_seconds: Option<f64>,
}

/// CPU time, resident memory, open files and start time of this process (Linux `/proc`), in
/// the clock ticks and page size the system reports.
fn process_figures() -> ProcessFigures {
    // SAFETY: sysconf only reads configuration values.
    let (ticks, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let mut figures = parse_stat(&stat, ticks as f64, page as f64, boot);
    figures.open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64);
    figures
}

fn parse_stat(stat: &str, ticks_per_second: f64, page_bytes: f64, boot_time: Option<f64>) -> ProcessFigures {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return ProcessFigures::default();
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 0, utime 11, stime 12, starttime 19 (clock ticks),
    // rss 21 (pages); see proc(5).
    let number = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    let valid = ticks_per_second > 0.0 && page_bytes > 0.0;
    ProcessFigures {
        cpu_seconds: valid
            .then(|| Some((number(11)? + number(12)?) / ticks_per_second))
            .flatten(),
        resident_bytes: valid.then(|| number(21).map(|pages| pages * page_bytes)).flatten(),
        open_fds: None,
        start_time_seconds: valid
            .then(|| Some(boot_time? + number(19)? / ticks_per_second))
            .flatten(),
    }
}

/// Whom a request was for, filled in by the sign-in extractor, for the access log and errors.
#[derive(Clone, Default)]
pub struct RequestUser(Arc<OnceLock<UserId>>);

impl RequestUser {
    pub fn set(&self, user: UserId) {
        let _ = self.0.set(user);
    }

    pub fn get(&self) -> Option<UserId> {
        self.0.get().copied()
    }
}

/// Marks the response of a handler that panicked, with where it panicked.
#[derive(Debug, Clone)]
pub struct Panicked(pub String);

/// Counts every request and its latency by route pattern and status, writes the access log
/// line and hands server errors to error tracking.
pub async fn track(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| {
            if request.uri().path().starts_with("/api/") {
                "unmatched".into()
            } else {
                "web".into()
            }
        });
    let method = request.method().as_str().to_owned();
    let audited = crate::audit::Audited::of(request.method(), &route, request.uri().path()).map(|audited| {
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let network = peer.map(|peer| crate::audit::network_of(state.proxies.client_of(peer, request.headers())));
        (audited, network)
    });
    let user = RequestUser::default();
    request.extensions_mut().insert(user.clone());
    let request_id = current_request_id();
    let span = crate::traces::request_span(&method, &route, request.headers(), &request_id);
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    let user_id = user.get();
    span.record("http.response.status_code", status.as_u16());
    if let Some(user) = user_id {
        span.record("user_id", tracing::field::display(user));
    }
    metrics::counter!("plansmith_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.as_str().to_owned())
        .increment(1);
    metrics::histogram!("plansmith_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(elapsed.as_secs_f64());
    tracing::info!(
        target: "plansmith::access",
        method = %method,
        route = %route,
        status = status.as_u16(),
        duration_ms = (elapsed.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        request_id = %request_id,
        user_id = user_id.map(|u| u.to_string()).unwrap_or_default(),
        "request"
    );
    if let Some((audited, network)) = audited
        && status.is_success()
    {
        let audited = audited.created(response.extensions().get::<crate::audit::CreatedSession>());
        state.audit.record(audited.entry(user_id, network, request_id.clone()));
    }
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        let panicked = response.extensions().get::<Panicked>().map(|p| p.0.clone());
        let code = response.extensions().get::<ErrorCode>().map_or("", |c| c.as_str());
        let cause = response.extensions().get::<ErrorCause>().map(|c| c.0.clone());
        state.errors.server_error(crate::errors::ServerError {
            method,
            route,
            status: status.as_u16(),
            code: code.to_owned(),
            cause,
            panicked,
            request_id,
            user_id,
        });
    }
    response
}

/// What the collectors last saw, for the scrape-time figures.
#[derive(Debug)]
pub struct Probes {
    /// The database answered the last round trip.
    pub database_up: AtomicBool,
}

impl Default for Probes {
    fn default() -> Self {
        Self {
            database_up: AtomicBool::new(true),
        }
    }
}

/// Starts the collectors: business gauges from the database every `metrics.refresh_seconds`
/// (default 60), and round trips to the database, Redis and each model provider every 15 s
/// (`plansmith_dependency_latency_seconds{dependency}`). They stop when `stop` turns true.
pub fn spawn_collectors(state: AppState, stop: tokio::sync::watch::Receiver<bool>) {
    let refresh = Duration::from_secs(state.settings.metrics.refresh_seconds.max(1));
    let until_stopped = |task: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>| {
        let mut stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = task => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    };
    until_stopped(Box::pin(refresh_business_every(state.clone(), refresh)));
    until_stopped(Box::pin(probe_dependencies_every(
        state,
        Duration::from_secs(15).min(refresh),
    )));
}

/// The subscription gauges are refreshed at most this often (they read the whole MRR history).
const BILLING_REFRESH: Duration = Duration::from_secs(60);

async fn refresh_business_every(state: AppState, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut billing_at: Option<Instant> = None;
    loop {
        tick.tick().await;
        refresh_business(&state).await;
        if billing_at.is_none_or(|at| at.elapsed() >= BILLING_REFRESH) {
            billing_at = Some(Instant::now());
            refresh_billing(&state).await;
        }
    }
}

/// The dashboard's headline subscription figures as gauges, per currency: MRR, ARR and paying
/// customers now (`plansmith_store::billing`'s definitions).
async fn refresh_billing(state: &AppState) {
    let month = plansmith_store::billing::month_of(chrono::Utc::now());
    match state.store.mrr_sums(&month, &month).await {
        Ok(sums) => {
            let mut now: std::collections::BTreeMap<String, (i64, i64)> = std::collections::BTreeMap::new();
            for total in sums.before {
                let entry = now.entry(total.currency).or_default();
                entry.0 += total.mrr_cents;
                entry.1 += total.customers;
            }
            for movement in sums.movements {
                let entry = now.entry(movement.currency).or_default();
                entry.0 += movement.cents;
                entry.1 += movement.kind.customers() * movement.count;
            }
            for (currency, (mrr, customers)) in now {
                metrics::gauge!("plansmith_mrr_cents", "currency" => currency.clone()).set(mrr as f64);
                metrics::gauge!("plansmith_arr_cents", "currency" => currency.clone()).set((mrr * 12) as f64);
                metrics::gauge!("plansmith_paying_customers", "currency" => currency).set(customers as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "subscription gauges not refreshed"),
    }
}

async fn probe_dependencies_every(state: AppState, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    loop {
        tick.tick().await;
        probe_dependencies(&state, &client).await;
    }
}

async fn refresh_business(state: &AppState) {
    match state.store.activity_counts(chrono::Utc::now()).await {
        Ok(c) => {
            metrics::gauge!("plansmith_users").set(c.users as f64);
            metrics::gauge!("plansmith_paying_users").set(c.paying_users as f64);
            metrics::gauge!("plansmith_sessions_in_progress").set(c.sessions_in_progress as f64);
            for (window, value) in [("1d", c.active_1d), ("7d", c.active_7d), ("30d", c.active_30d)] {
                metrics::gauge!("plansmith_active_users", "window" => window).set(value as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "business gauges not refreshed"),
    }
}

async fn probe_dependencies(state: &AppState, client: &reqwest::Client) {
    let timed = |dependency: String, started: Instant, ok: bool| {
        if ok {
            metrics::histogram!("plansmith_dependency_latency_seconds", "dependency" => dependency)
                .record(started.elapsed().as_secs_f64());
        } else {
            metrics::counter!("plansmith_dependency_errors_total", "dependency" => dependency).increment(1);
        }
    };
    let started = Instant::now();
    let up = state.store.ping().await.is_ok();
    state.probes.database_up.store(up, Ordering::Relaxed);
    timed("database".into(), started, up);
    if let Some(redis) = &state.redis {
        let started = Instant::now();
        let up = redis.ping().await.is_ok();
        timed("redis".into(), started, up);
    }
    for provider in &state.settings.llm.providers {
        let Some(url) = provider_url(provider) else { continue };
        let started = Instant::now();
        // Any answer is a round trip; only no answer at all is a failure.
        let reached = client.head(url).send().await.is_ok();
        timed(format!("llm:{}", provider.name), started, reached);
    }
}

/// The address a provider is reached at (none for the built-in planner).
fn provider_url(provider: &crate::config::ProviderSettings) -> Option<&str> {
    use crate::config::ProviderKind;
    match provider.kind {
        ProviderKind::Offline => None,
        ProviderKind::OpenAi => Some(provider.base_url.as_deref().unwrap_or("https://api.openai.com/v1")),
        ProviderKind::Anthropic => Some(provider.base_url.as_deref().unwrap_or("https://api.anthropic.com/v1")),
    }
}

/// An SSE client connected to a reply stream, counted in `plansmith_active_streams` while it
/// lives.
pub struct ConnectedStream(());

impl ConnectedStream {
    pub fn connect() -> Self {
        metrics::gauge!("plansmith_active_streams").increment(1.0);
        Self(())
    }
}

impl Drop for ConnectedStream {
    fn drop(&mut self) {
        metrics::gauge!("plansmith_active_streams").decrement(1.0);
    }
}

/// Session counters, by workflow.
pub fn session_started(workflow: &str) {
    metrics::counter!("plansmith_sessions_started_total", "workflow" => workflow.to_owned()).increment(1);
}

/// A session became complete `lasted` after it started.
pub fn session_completed(workflow: &str, lasted: chrono::TimeDelta) {
    metrics::counter!("plansmith_sessions_completed_total", "workflow" => workflow.to_owned()).increment(1);
    metrics::histogram!("plansmith_session_completion_seconds", "workflow" => workflow.to_owned())
        .record(seconds(lasted));
}

pub fn session_abandoned(workflow: &str) {
    metrics::counter!("plansmith_sessions_abandoned_total", "workflow" => workflow.to_owned()).increment(1);
}

/// A step was completed `lasted` after it started.
pub fn step_completed(workflow: &str, step: &str, lasted: chrono::TimeDelta) {
    metrics::histogram!("plansmith_step_completion_seconds", "workflow" => workflow.to_owned(), "step" => step.to_owned())
        .record(seconds(lasted));
}

fn seconds(delta: chrono::TimeDelta) -> f64 {
    delta.num_milliseconds().max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[MetricsError::NotHere, MetricsError::Unauthorized]);
    }

    #[test]
    fn process_figures_use_the_systems_tick_rate_and_page_size() {
        // pid (comm with ) and spaces) state ... utime=250 stime=50 ... starttime=1000 ... rss=3
        let mut fields = vec!["0"; 30];
        fields[0] = "S";
        fields[11] = "250";
        fields[12] = "50";
        fields[19] = "1000";
        fields[21] = "3";
        let stat = format!("42 (odd) name) {}", fields.join(" "));
        let figures = parse_stat(&stat, 100.0, 16384.0, Some(1_700_000_000.0));
        assert_eq!(figures.cpu_seconds, Some(3.0));
        assert_eq!(figures.resident_bytes, Some(3.0 * 16384.0));
        assert_eq!(figures.start_time_seconds, Some(1_700_000_010.0));
        let other_rate = parse_stat(&stat, 1000.0, 4096.0, None);
        assert_eq!(other_rate.cpu_seconds, Some(0.3));
        assert_eq!(other_rate.resident_bytes, Some(3.0 * 4096.0));
        assert_eq!(other_rate.start_time_seconds, None);
        assert_eq!(parse_stat("garbage", 100.0, 4096.0, None), ProcessFigures::default());
    }

    #[test]
    fn the_sqlite_volume_is_found_from_the_database_url() {
        let dir = tempfile_dir();
        let url = format!("sqlite://{}/plansmith.db?mode=rwc", dir.display());
        let (free, size) = sqlite_volume(&url).expect("a real folder has a volume");
        assert!(size > 0.0 && free <= size, "{free} of {size}");
        assert_eq!(sqlite_volume("postgres://db/plansmith"), None);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        std::env::temp_dir()
    }
}
