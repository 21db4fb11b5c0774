//! Error tracking: server errors (5xx answers and panics, in handlers or anywhere else) and the
//! web app's errors (`POST /api/v1/client-errors`) are grouped by fingerprint in the database
//! (listed at `GET /api/v1/admin/errors`) and, when `telemetry.sentry_dsn` is set, sent to
//! Sentry with the request id, user id, release and environment. The first occurrence of a new
//! group posts one notification to `alerts.webhook_url`.
//!
//! Reporting never blocks the request: occurrences go through a bounded queue to one worker;
//! when the queue is full they are counted (`plansmith_error_reports_dropped_total`) and
//! dropped.

use crate::admin::{AdminError, AdminUser};
use crate::client::ClientAddr;
use crate::error::{ApiError, ErrorCode, ErrorFamily, current_request_id, error_family};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use plansmith_domain::UserId;
use plansmith_store::{ErrorGroup, NewErrorEvent, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

/// Occurrences waiting for the worker; beyond it they are dropped (and counted).
const QUEUE: usize = 1024;
const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// A server error as the access log saw it.
#[derive(Debug, Clone)]
pub struct ServerError {
    pub method: String,
    pub route: String,
    pub status: u16,
    pub code: String,
    /// What really happened (never shown to the client).
    pub cause: Option<String>,
    /// Where the handler panicked, when it did.
    pub panicked: Option<String>,
    pub request_id: String,
    pub user_id: Option<UserId>,
}

/// Parses a Sentry DSN (`https://PUBLIC_KEY@host/PROJECT_ID`).
pub fn parse_dsn(dsn: &str) -> Option<sentry::types::Dsn> {
    dsn.trim().parse().ok()
}

pub struct ErrorTracker {
    queue: mpsc::Sender<NewErrorEvent>,
}

impl ErrorTracker {
    /// Starts the worker that records occurrences, sends them to Sentry and notifies.
    pub fn start(store: Arc<dyn Store>, settings: &crate::Settings) -> Arc<Self> {
        let (queue, rx) = mpsc::channel(QUEUE);
        let sentry = crate::config::given(&settings.telemetry.sentry_dsn)
            .and_then(parse_dsn)
            .map(|dsn| {
                tracing::info!(host = dsn.host(), "errors are sent to Sentry");
                let mut options = sentry::ClientOptions::default();
                options.dsn = Some(dsn);
                options.release = Some(Cow::Borrowed(RELEASE));
                options.environment = Some(Cow::Owned(settings.telemetry.environment.clone()));
                options.transport = Some(Arc::new(sentry::transports::DefaultTransportFactory));
                Arc::new(sentry::Client::from_config(options))
            });
        let webhook = crate::config::given(&settings.alerts.webhook_url).map(str::to_owned);
        let worker = Worker {
            store,
            sentry,
            webhook,
            environment: settings.telemetry.environment.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        };
        tokio::spawn(worker.run(rx));
        Arc::new(Self { queue })
    }

    /// A 5xx answer or a panic in a handler.
    pub fn server_error(&self, e: ServerError) {
        let kind = if e.panicked.is_some() { "panic" } else { "http_5xx" };
        metrics::counter!("plansmith_server_errors_total", "kind" => kind).increment(1);
        let title = format!("{} {}: {} {}", e.method, e.route, e.status, e.code);
        let detail = match (&e.panicked, &e.cause) {
            (Some(at), Some(cause)) => format!("{cause} ({at})"),
            (Some(at), None) => format!("panicked at {at}"),
            (None, Some(cause)) => cause.clone(),
            (None, None) => title.clone(),
        };
        // The same failure on the same route is one group, whatever the ids in its message;
        // a panic is also told apart by where it happened.
        let fingerprint = fingerprint(&[
            kind,
            &e.method,
            &e.route,
            &e.status.to_string(),
            &e.code,
            e.panicked.as_deref().unwrap_or(""),
        ]);
        self.report(NewErrorEvent {
            fingerprint,
            kind: kind.into(),
            title,
            detail,
            request_id: Some(e.request_id).filter(|r| !r.is_empty()),
            user_id: e.user_id,
            release: RELEASE.into(),
            at: Utc::now(),
        });
    }

    /// A panic outside any request (a background task), seen by the panic hook.
    pub fn background_panic(&self, message: &str, location: &str) {
        metrics::counter!("plansmith_server_errors_total", "kind" => "panic").increment(1);
        self.report(NewErrorEvent {
            fingerprint: fingerprint(&["panic", "background", location]),
            kind: "panic".into(),
            title: format!("panic in a background task at {location}"),
            detail: truncate(message, 2000),
            request_id: None,
            user_id: None,
            release: RELEASE.into(),
            at: Utc::now(),
        });
    }

    fn report(&self, event: NewErrorEvent) {
        if self.queue.try_send(event).is_err() {
            metrics::counter!("plansmith_error_reports_dropped_total").increment(1);
            tracing::warn!("error report dropped: the error tracking queue is full");
        }
    }
}

/// SHA-256 of the parts, hex, shortened: stable for "the same error".
fn fingerprint(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..12].iter().map(|b| format!("{b:02x}")).collect()
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

struct Worker {
    store: Arc<dyn Store>,
    sentry: Option<Arc<sentry::Client>>,
    webhook: Option<String>,
    environment: String,
    http: reqwest::Client,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<NewErrorEvent>) {
        while let Some(event) = rx.recv().await {
            if let Some(client) = &self.sentry {
                client.capture_event(sentry_event(&event), None);
            }
            let count = match self.store.record_error(event.clone()).await {
                Ok(count) => count,
                Err(e) => {
                    tracing::warn!(error = %e, fingerprint = %event.fingerprint, "error group not recorded");
                    continue;
                }
            };
            if count == 1
                && event.kind != "client"
                && let Some(url) = &self.webhook
            {
                tokio::spawn(notify(self.http.clone(), url.clone(), self.notification(&event)));
            }
        }
    }

    fn notification(&self, e: &NewErrorEvent) -> serde_json::Value {
        serde_json::json!({
            "type": "new_error_group",
            "fingerprint": e.fingerprint,
            "kind": e.kind,
            "title": e.title,
            "detail": e.detail,
            "first_seen": e.at,
            "request_id": e.request_id,
            "user_id": e.user_id.map(|u| u.to_string()),
            "release": e.release,
            "environment": self.environment,
        })
    }
}

/// Posts the notification, retrying with backoff (1, 2, 4, 8 s) until a 2xx answer.
async fn notify(http: reqwest::Client, url: String, body: serde_json::Value) {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=5 {
        match http.post(&url).json(&body).send().await {
            Ok(answer) if answer.status().is_success() => return,
            Ok(answer) => tracing::warn!(
                status = answer.status().as_u16(),
                attempt,
                "alert webhook refused the notification"
            ),
            Err(e) => tracing::warn!(error = %e, attempt, "alert webhook unreachable"),
        }
        if attempt < 5 {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    metrics::counter!("plansmith_alert_notifications_failed_total").increment(1);
    tracing::error!(fingerprint = %body["fingerprint"], "new error group not notified: the alert webhook failed 5 times");
}

fn sentry_event(e: &NewErrorEvent) -> sentry::protocol::Event<'static> {
    use sentry::protocol::{Event, Exception, Level, User, Values};
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("kind".to_owned(), e.kind.clone());
    if let Some(request_id) = &e.request_id {
        tags.insert("request_id".to_owned(), request_id.clone());
    }
    Event {
        level: Level::Error,
        message: Some(e.detail.clone()),
        transaction: Some(e.title.clone()),
        fingerprint: Cow::Owned(vec![Cow::Owned(e.fingerprint.clone())]),
        exception: Values::from(vec![Exception {
            ty: e.kind.clone(),
            value: Some(e.title.clone()),
            ..Default::default()
        }]),
        user: e.user_id.map(|id| User {
            id: Some(id.to_string()),
            ..Default::default()
        }),
        tags,
        timestamp: e.at.into(),
        ..Default::default()
    }
}

/// The tracker panics outside requests are reported to (the latest application's).
static PANIC_TRACKER: std::sync::Mutex<std::sync::Weak<ErrorTracker>> = std::sync::Mutex::new(std::sync::Weak::new());

/// Installs a panic hook (once per process, after the existing one) that reports panics
/// outside requests to `tracker`; a handler's panic is reported by the access log with its
/// request (see `monitoring::Panicked`).
pub fn install_panic_hook(tracker: &Arc<ErrorTracker>) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    if let Ok(mut slot) = PANIC_TRACKER.lock() {
        *slot = Arc::downgrade(tracker);
    }
    INSTALLED.call_once(chain_panic_hook);
}

fn chain_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown".into());
        LAST_PANIC.with(|last| *last.borrow_mut() = Some(location.clone()));
        if !current_request_id().is_empty() {
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("panic");
        let tracker = PANIC_TRACKER.lock().ok().and_then(|slot| slot.upgrade());
        if let Some(tracker) = tracker {
            tracker.background_panic(message, &location);
        }
    }));
}

thread_local! {
    /// Where the last panic on this thread happened, for the handler's panic response.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Where the panic being answered happened (taken once).
pub fn take_panic_location() -> Option<String> {
    LAST_PANIC.with(|last| last.borrow_mut().take())
}

/// An error the web app caught (error boundary, `window.onerror`, unhandled rejection).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientErrorReport {
    /// The error's message (at most 2,000 characters are kept).
    pub message: String,
    /// Its stack trace, if any.
    #[serde(default)]
    pub stack: Option<String>,
    /// The page it happened on (its route pattern or path).
    #[serde(default)]
    pub url: Option<String>,
    /// `boundary`, `onerror` or `unhandledrejection`.
    #[serde(default)]
    pub source: Option<String>,
    /// The web app's build.
    #[serde(default)]
    pub release: Option<String>,
}

/// Why a client error report was refused.
#[derive(Debug)]
pub enum ClientErrorRefusal {
    Unreadable(String),
    TooLarge { max: usize },
    EmptyMessage,
    TooMany { retry_after: Duration },
}

error_family!(ClientErrorRefusal);

impl ErrorFamily for ClientErrorRefusal {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidBody,
        ErrorCode::InvalidField,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimited,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::Unreadable(detail) => ApiError::new(
                ErrorCode::InvalidBody,
                format!("The error report is not valid: {detail}"),
                "Send {\"message\", \"stack\"?, \"url\"?, \"source\"?, \"release\"?} as JSON.",
            ),
            Self::TooLarge { max } => ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("An error report may be at most {} KiB.", max / 1024),
                "Shorten the stack trace.",
            ),
            Self::EmptyMessage => ApiError::invalid(
                ErrorCode::InvalidField,
                "message",
                "must not be empty",
                "Send the error's message.",
            ),
            Self::TooMany { retry_after } => ApiError::wait_and_retry(
                ErrorCode::RateLimited,
                format!("At most {CLIENT_ERRORS_PER_MINUTE} error reports a minute are accepted from one address."),
                *retry_after,
            ),
        }
    }
}

const CLIENT_ERRORS_PER_MINUTE: u32 = 60;
const CLIENT_ERROR_MAX_BYTES: usize = 64 * 1024;

/// Report an error the web app caught. Grouped with the same error of other browsers, sent
/// to Sentry when configured, with this request's id and the signed-in user (if any). At most
/// 60 reports a minute per address and 64 KiB each.
#[utoipa::path(post, path = "/api/v1/client-errors", tag = "health", operation_id = "report_client_error",
    request_body = ClientErrorReport, responses((status = 202), ClientErrorRefusal))]
pub async fn client_error(State(state): State<AppState>, request: Request) -> Result<StatusCode, ClientErrorRefusal> {
    let (mut parts, body) = request.into_parts();
    let addr = ClientAddr::of(&parts, &state);
    let key = format!("client-errors:{}", addr.limit_key());
    match state
        .limiter
        .take(&key, CLIENT_ERRORS_PER_MINUTE, Duration::from_secs(60))
        .await
    {
        Ok(Some(retry_after)) => return Err(ClientErrorRefusal::TooMany { retry_after }),
        Ok(None) => {}
        Err(e) => crate::holds::unchecked("client error reports per address", &e),
    }
    let body: Bytes =
        axum::body::to_bytes(body, CLIENT_ERROR_MAX_BYTES)
            .await
            .map_err(|_| ClientErrorRefusal::TooLarge {
                max: CLIENT_ERROR_MAX_BYTES,
            })?;
    let report: ClientErrorReport =
        serde_json::from_slice(&body).map_err(|e| ClientErrorRefusal::Unreadable(e.to_string()))?;
    let message = report.message.trim();
    if message.is_empty() {
        return Err(ClientErrorRefusal::EmptyMessage);
    }
    // Signed in or not: a report is welcome either way.
    let user = crate::auth::AuthUser::from_request_parts(&mut parts, &state)
        .await
        .ok()
        .map(|u| u.id());
    metrics::counter!("plansmith_client_errors_total").increment(1);
    let first_line = message.lines().next().unwrap_or(message);
    // The first frame of the stack tells errors with the same message apart.
    let frame = report
        .stack
        .as_deref()
        .and_then(|s| {
            s.lines()
                .map(str::trim)
                .find(|l| l.starts_with("at ") || l.contains('@'))
        })
        .unwrap_or("");
    let mut detail = truncate(message, 2000);
    if let Some(stack) = &report.stack {
        detail.push_str("\n\n");
        detail.push_str(&truncate(stack, 8000));
    }
    let source = report.source.as_deref().unwrap_or("onerror");
    state.errors.report(NewErrorEvent {
        fingerprint: fingerprint(&["client", first_line, frame]),
        kind: "client".into(),
        title: truncate(&format!("{source}: {first_line}"), 200),
        detail,
        request_id: Some(current_request_id()).filter(|r| !r.is_empty()),
        user_id: user,
        release: report.release.map_or_else(|| RELEASE.into(), |r| truncate(&r, 64)),
        at: Utc::now(),
    });
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ErrorListQuery {
    /// At most this many groups (1–100, default 50).
    pub limit: Option<u32>,
}

/// A group of errors with the same fingerprint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorGroupView {
    pub fingerprint: String,
    /// `http_5xx`, `panic` or `client`.
    pub kind: String,
    pub title: String,
    /// The latest occurrence's message.
    pub detail: String,
    pub count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The latest occurrence's request id: search the access log for it.
    pub sample_request_id: Option<String>,
    pub sample_user_id: Option<uuid::Uuid>,
    pub release: String,
}

impl From<ErrorGroup> for ErrorGroupView {
    fn from(g: ErrorGroup) -> Self {
        Self {
            fingerprint: g.fingerprint,
            kind: g.kind,
            title: g.title,
            detail: g.detail,
            count: g.count,
            first_seen: g.first_seen,
            last_seen: g.last_seen,
            sample_request_id: g.sample_request_id,
            sample_user_id: g.sample_user_id.map(|u| u.0),
            release: g.release,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorGroupList {
    pub items: Vec<ErrorGroupView>,
}

/// Error groups (server errors, panics and the web app's errors), the most recently seen
/// first. Admins only.
#[utoipa::path(get, path = "/api/v1/admin/errors", tag = "admin", operation_id = "list_error_groups",
    params(ErrorListQuery), responses((status = 200, body = ErrorGroupList), AdminError))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<ErrorListQuery>,
) -> Result<Json<ErrorGroupList>, AdminError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(AdminError::InvalidLimit(limit));
    }
    let items = state.store.list_error_groups(limit).await?;
    Ok(Json(ErrorGroupList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            ClientErrorRefusal::Unreadable("EOF".into()),
            ClientErrorRefusal::TooLarge { max: 65536 },
            ClientErrorRefusal::EmptyMessage,
            ClientErrorRefusal::TooMany {
                retry_after: Duration::from_secs(3),
            },
        ]);
    }

    #[test]
    fn fingerprints_are_stable_and_tell_parts_apart() {
        assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
        assert_ne!(fingerprint(&["ab", ""]), fingerprint(&["a", "b"]));
        assert_eq!(fingerprint(&["a"]).len(), 24);
    }

    #[test]
    fn long_text_is_cut_on_a_character() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }

    #[test]
    fn the_sentry_event_carries_the_correlation() {
        let user = UserId(uuid::Uuid::now_v7());
        let event = sentry_event(&NewErrorEvent {
            fingerprint: "abc".into(),
            kind: "http_5xx".into(),
            title: "GET /x: 500 internal_error".into(),
            detail: "database gone".into(),
            request_id: Some("req-1".into()),
            user_id: Some(user),
            release: "1.2.3".into(),
            at: Utc::now(),
        });
        assert_eq!(event.tags.get("request_id").map(String::as_str), Some("req-1"));
        assert_eq!(event.user.and_then(|u| u.id), Some(user.to_string()));
        assert_eq!(event.fingerprint.as_ref(), &[Cow::Borrowed("abc")]);
    }
}
