//! The audit trail: who read or changed whose data, when, from which network.
//!
//! Requests record themselves (see [`Audited`], used by the request middleware): every
//! successful request on a session's data, on an account's own data (`/api/v1/me…`) and on the
//! admin API becomes an entry whose action is named after its route, e.g.
//! `GET /api/v1/sessions/{id}/documents/{document_id}` → `sessions.documents.read`
//! (`read`, `create` for POST, `update` for PUT/PATCH, `delete`). The platform records its own
//! changes (replies written, retention, key rotation) as the `system`.
//!
//! Entries are appended in batches by one task per instance ([`AuditTrail`]): a request only
//! hands its entry over a channel, and the task gathers what comes within `LINGER` into one
//! append. The store chains and checkpoints them
//! (`plansmith_store::audit`).

use crate::auth::AuthUser;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, error_family};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use plansmith_domain::{SessionId, UserId};
use plansmith_store::Store;
use plansmith_store::audit::{
    AuditActor, AuditEntry, AuditQuery, AuditSigner, ChainBreak, ChainCheck, ChainReport, NewAuditEntry,
};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most entries one append takes.
const MAX_BATCH: usize = 500;
/// How long a flush waits for the database at most.
const FLUSH_WAIT: Duration = Duration::from_secs(5);
/// A checkpoint at least this often while entries come.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);
/// How long the writer gathers entries after the first of a batch before appending them (not
/// when someone waits for a flush). Every append is one transaction that takes the chain's
/// lock, which the instances take in turn: under load, entries a few milliseconds apart made
/// a third of all commits (docs/performance.md).
const LINGER: Duration = Duration::from_millis(50);

enum Command {
    Record(NewAuditEntry),
    /// Answered once everything recorded before it is stored.
    Flush(oneshot::Sender<()>),
}

/// Hands entries to the instance's audit writer. Cheap to clone.
#[derive(Clone)]
pub struct AuditTrail {
    tx: mpsc::UnboundedSender<Command>,
}

impl AuditTrail {
    /// Starts the writer task; it ends once every handle is dropped and the last entries are
    /// stored.
    pub fn start(store: Arc<dyn Store>, signer: Arc<dyn AuditSigner>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(store, signer, rx));
        Self { tx }
    }

    /// Records an entry (stored with the next batch).
    pub fn record(&self, entry: NewAuditEntry) {
        metrics::gauge!("plansmith_audit_pending").increment(1.0);
        if self.tx.send(Command::Record(entry)).is_err() {
            metrics::gauge!("plansmith_audit_pending").decrement(1.0);
            tracing::error!("the audit writer has stopped; an audit entry was not recorded");
        }
    }

    /// Waits until everything recorded so far is stored (before listing, and at shutdown), or
    /// for `FLUSH_WAIT` while the database does not take them.
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).is_ok() && tokio::time::timeout(FLUSH_WAIT, stored).await.is_err() {
            tracing::warn!("audit entries are still waiting for the database");
        }
    }
}

async fn write_batches(store: Arc<dyn Store>, signer: Arc<dyn AuditSigner>, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut last_checkpoint = Instant::now();
    let mut pending: Vec<NewAuditEntry> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut failures = 0u32;
    loop {
        if pending.is_empty() && waiting.is_empty() {
            match rx.recv().await {
                Some(command) => take(command, &mut pending, &mut waiting),
                None => return,
            }
        }
        let until = tokio::time::Instant::now() + LINGER;
        while pending.len() < MAX_BATCH && waiting.is_empty() {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(command)) => take(command, &mut pending, &mut waiting),
                // Closed: what is pending is stored below, then the loop ends.
                Ok(None) | Err(_) => break,
            }
        }
        while pending.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(command) => take(command, &mut pending, &mut waiting),
                Err(_) => break,
            }
        }
        if pending.is_empty() {
            waiting.drain(..).for_each(|w| {
                let _ = w.send(());
            });
            continue;
        }
        let checkpoint = last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL;
        let batch = pending.clone();
        let started = Instant::now();
        match store.append_audit(batch, Arc::clone(&signer), checkpoint).await {
            Ok(_) => {
                metrics::histogram!("plansmith_audit_append_seconds").record(started.elapsed().as_secs_f64());
                metrics::counter!("plansmith_audit_entries_total").increment(pending.len() as u64);
                metrics::gauge!("plansmith_audit_pending").decrement(pending.len() as f64);
                pending.clear();
                failures = 0;
                if checkpoint {
                    last_checkpoint = Instant::now();
                }
                // A flush taken was sent after every entry of the batch just stored.
                waiting.drain(..).for_each(|w| {
                    let _ = w.send(());
                });
            }
            Err(e) => {
                // Kept in memory and tried again: an entry is never dropped for an outage.
                failures += 1;
                tracing::error!(error = %e, entries = pending.len(), "could not store audit entries; retrying");
                tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(failures.min(6)))).await;
            }
        }
    }
}

fn take(command: Command, pending: &mut Vec<NewAuditEntry>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match command {
        Command::Record(entry) => pending.push(entry),
        Command::Flush(done) => waiting.push(done),
    }
}

/// The network of an address: its /24 (IPv4) or /48 (IPv6), which says where a request came
/// from without naming the person's address.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => ipnet::Ipv4Net::new(v4, 24).map(|n| n.trunc().to_string()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, 24).map(|n| n.trunc().to_string()),
            None => ipnet::Ipv6Net::new(v6, 48).map(|n| n.trunc().to_string()),
        },
    }
    .unwrap_or_default()
}

/// Set on the response of a request that created a session, so its entry names it.
#[derive(Debug, Clone, Copy)]
pub struct CreatedSession(pub SessionId);

/// What a request on an audited route records, worked out from its route before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited {
    action: String,
    admin_route: bool,
    session: Option<SessionId>,
    /// The account an admin route is about (`/admin/users/{id}`).
    subject: Option<UserId>,
    object: Option<String>,
}

impl Audited {
    /// `route` is the matched pattern (`/api/v1/sessions/{id}`), `path` the request's path.
    pub fn of(method: &axum::http::Method, route: &str, path: &str) -> Option<Self> {
        let rest = route.strip_prefix("/api/v1/")?;
        let admin_route = rest.starts_with("admin/");
        if !(admin_route || rest.starts_with("sessions") || rest == "me" || rest.starts_with("me/")) {
            return None;
        }
        // A person reading their own notices and access log (the web app polls them) is not
        // access to anyone's data.
        if *method == axum::http::Method::GET && matches!(rest, "me/incidents" | "me/access-log" | "me/billing") {
            return None;
        }
        let verb = match *method {
            axum::http::Method::GET | axum::http::Method::HEAD => "read",
            axum::http::Method::POST => "create",
            axum::http::Method::PUT | axum::http::Method::PATCH => "update",
            axum::http::Method::DELETE => "delete",
            _ => return None,
        };
        let pattern: Vec<&str> = rest.split('/').collect();
        let values: Vec<&str> = path.strip_prefix("/api/v1/")?.split('/').collect();
        let mut names = Vec::new();
        let mut params = Vec::new();
        for (i, segment) in pattern.iter().enumerate() {
            if segment.starts_with('{') {
                params.push((i, *values.get(i)?));
            } else {
                names.push(*segment);
            }
        }
        let param_at = |i: usize| params.iter().find(|(at, _)| *at == i).map(|(_, v)| *v);
        let session = (pattern.first() == Some(&"sessions"))
            .then(|| param_at(1))
            .flatten()
            .and_then(|v| Uuid::parse_str(v).ok())
            .map(SessionId);
        let subject = (admin_route && pattern.get(1) == Some(&"users"))
            .then(|| param_at(2))
            .flatten()
            .and_then(|v| Uuid::parse_str(v).ok())
            .map(UserId);
        let object = params
            .iter()
            .rev()
            .find(|(i, _)| !(pattern.first() == Some(&"sessions") && *i == 1))
            .map(|(_, v)| (*v).chars().take(128).collect());
        Some(Self {
            action: format!("{}.{verb}", names.join(".")),
            admin_route,
            session,
            subject,
            object,
        })
    }

    /// The session a request created, which its path could not name.
    pub fn created(mut self, session: Option<&CreatedSession>) -> Self {
        if let Some(created) = session {
            self.session.get_or_insert(created.0);
        }
        self
    }

    /// The entry of a request that succeeded.
    pub fn entry(self, actor: Option<UserId>, network: Option<String>, request_id: String) -> NewAuditEntry {
        let mut entry = NewAuditEntry::new(
            if self.admin_route {
                AuditActor::Admin
            } else {
                AuditActor::User
            },
            self.action,
        );
        entry.actor_id = actor;
        // On their own sessions and account the actor is whose data it is.
        entry.user_id = if self.admin_route { self.subject } else { actor };
        entry.session_id = self.session;
        entry.object = self.object;
        entry.network = network;
        entry.request_id = (!request_id.is_empty()).then_some(request_id);
        entry
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditListQuery {
    /// Only entries about this account's data (user id).
    pub user: Option<Uuid>,
    /// Only entries about this session.
    pub session: Option<Uuid>,
    /// Only this action, e.g. `sessions.read`, `me.delete`, `keys.rotate`.
    pub action: Option<String>,
    /// From this time (RFC 3339, inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until this time (RFC 3339, exclusive).
    pub to: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    /// The entry's position in the chain.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// `user` (on their own data), `admin` or `system`.
    pub actor: String,
    /// The acting account (absent for the system; left out of a person's access log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    pub action: String,
    /// Whose data it is.
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    /// Another object's id (a document, a reply, a flag).
    pub object: Option<String>,
    /// The network the request came from (`203.0.113.0/24`).
    pub network: Option<String>,
    pub request_id: Option<String>,
    /// This entry's hash in the chain (SHA-256, hex).
    pub hash: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditEntryView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn view(e: AuditEntry, with_actor: bool) -> AuditEntryView {
    let n = e.entry;
    // A person's access log says an admin acted, not from where or in which request.
    let admin_hidden = !with_actor && n.actor == AuditActor::Admin;
    AuditEntryView {
        seq: e.seq,
        at: n.at,
        actor: n.actor.as_str().to_owned(),
        actor_id: n.actor_id.map(|u| u.0).filter(|_| with_actor),
        action: n.action,
        user_id: n.user_id.map(|u| u.0),
        session_id: n.session_id.map(|s| s.0),
        object: n.object,
        network: n.network.filter(|_| !admin_hidden),
        request_id: n.request_id.filter(|_| !admin_hidden),
        hash: e.hash,
    }
}

pub enum AuditListError {
    InvalidLimit,
    InvalidCursor,
    EmptyRange,
    Common(CommonError),
}

error_family!(AuditListError, common);

impl ErrorFamily for AuditListError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidQuery,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::Forbidden,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        let query = ErrorCode::InvalidQuery;
        match self {
            Self::InvalidLimit => ApiError::invalid(
                query,
                "limit",
                "must be between 1 and 200",
                "Use a limit from 1 to 200.",
            ),
            Self::InvalidCursor => ApiError::invalid(
                query,
                "cursor",
                "is not a cursor this API returned",
                "Use next_cursor from the previous page, or leave it out.",
            ),
            Self::EmptyRange => ApiError::invalid(query, "from", "must be before to", "Give a range with from < to."),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

fn page(limit: Option<u32>, cursor: Option<&str>) -> Result<(u32, Option<i64>), AuditListError> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AuditListError::InvalidLimit);
    }
    let before = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(AuditListError::InvalidCursor)?,
        ),
        None => None,
    };
    Ok((limit, before))
}

async fn list_page(state: &AppState, mut query: AuditQuery, with_actor: bool) -> Result<AuditList, AuditListError> {
    // What this instance recorded up to now is listed too.
    state.audit.flush().await;
    let limit = query.limit;
    query.limit = limit + 1;
    let mut entries = state.store.audit_entries(&query).await.map_err(CommonError::from)?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let next_cursor = more.then(|| entries.last().map(|e| e.seq.to_string())).flatten();
    Ok(AuditList {
        items: entries.into_iter().map(|e| view(e, with_actor)).collect(),
        next_cursor,
    })
}

/// The audit trail, newest first: every read and change of a session's data, every admin
/// action, export, erasure and key rotation. Filters combine.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", operation_id = "list_audit_entries",
    params(AuditListQuery), responses((status = 200, body = AuditList), AuditListError))]
pub async fn list(
    State(state): State<AppState>,
    _admin: crate::admin::AdminUser,
    ApiQuery(q): ApiQuery<AuditListQuery>,
) -> Result<Json<AuditList>, AuditListError> {
    let (limit, before) = page(q.limit, q.cursor.as_deref())?;
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from >= to
    {
        return Err(AuditListError::EmptyRange);
    }
    let query = AuditQuery {
        user_id: q.user.map(UserId),
        session_id: q.session.map(SessionId),
        action: q.action.filter(|a| !a.is_empty()),
        from: q.from,
        to: q.to,
        before,
        limit,
    };
    Ok(Json(list_page(&state, query, true).await?))
}

/// Who accessed your data: every read and change of your sessions and account, by you, an
/// admin or the platform, newest first.
#[utoipa::path(get, path = "/api/v1/me/access-log", tag = "account", operation_id = "my_access_log",
    params(AccessLogQuery), responses((status = 200, body = AuditList), AuditListError))]
pub async fn access_log(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<AccessLogQuery>,
) -> Result<Json<AuditList>, AuditListError> {
    let (limit, before) = page(q.limit, q.cursor.as_deref())?;
    let query = AuditQuery {
        user_id: Some(user.id()),
        before,
        limit,
        ..AuditQuery::default()
    };
    Ok(Json(list_page(&state, query, false).await?))
}

/// Walks the whole chain, page by page, and checks every entry and checkpoint: the report of
/// an intact chain, or where it first breaks.
pub async fn verify_chain(
    store: &dyn Store,
    signer: &dyn AuditSigner,
) -> Result<Result<ChainReport, ChainBreak>, plansmith_store::StoreError> {
    // A prune between reading the checkpoints and the first page looks like a chain without
    // its anchor: read again once before saying so.
    match walk_chain(store, signer).await? {
        Err(ChainBreak::Unanchored { .. }) => walk_chain(store, signer).await,
        other => Ok(other),
    }
}

async fn walk_chain(
    store: &dyn Store,
    signer: &dyn AuditSigner,
) -> Result<Result<ChainReport, ChainBreak>, plansmith_store::StoreError> {
    const PAGE: u32 = 1000;
    let mut check = match ChainCheck::new(signer, store.audit_checkpoints().await?) {
        Ok(check) => check,
        Err(broken) => return Ok(Err(broken)),
    };
    let mut after = 0;
    loop {
        let page = store.audit_chain(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            if let Err(broken) = check.feed(entry) {
                return Ok(Err(broken));
            }
        }
    }
    Ok(check.finish())
}

/// Records an action of the platform itself (a command, a job) and stores it at once.
pub async fn record_system(
    store: &dyn Store,
    signer: Arc<dyn AuditSigner>,
    action: &str,
    object: Option<String>,
) -> Result<i64, plansmith_store::StoreError> {
    let mut entry = NewAuditEntry::new(AuditActor::System, action);
    entry.object = object;
    store.append_audit(vec![entry], signer, true).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn actions_are_named_after_their_routes() {
        let session = Uuid::now_v7();
        let doc = Uuid::now_v7();
        let a = Audited::of(
            &Method::PUT,
            "/api/v1/sessions/{id}/documents/{document_id}/sections/{section_id}",
            &format!("/api/v1/sessions/{session}/documents/{doc}/sections/goals"),
        )
        .unwrap();
        assert_eq!(a.action, "sessions.documents.sections.update");
        assert_eq!(a.session, Some(SessionId(session)));
        assert_eq!(a.object.as_deref(), Some("goals"));
        assert!(!a.admin_route);

        let user = Uuid::now_v7();
        let a = Audited::of(
            &Method::PATCH,
            "/api/v1/admin/users/{id}",
            &format!("/api/v1/admin/users/{user}"),
        )
        .unwrap();
        assert_eq!(
            (a.action.as_str(), a.subject),
            ("admin.users.update", Some(UserId(user)))
        );
        let entry = a.entry(Some(UserId(session)), None, String::new());
        assert_eq!(
            (entry.actor, entry.user_id, entry.actor_id),
            (AuditActor::Admin, Some(UserId(user)), Some(UserId(session)))
        );

        assert_eq!(
            Audited::of(&Method::DELETE, "/api/v1/me", "/api/v1/me").unwrap().action,
            "me.delete"
        );
        assert_eq!(
            Audited::of(&Method::GET, "/api/v1/sessions", "/api/v1/sessions")
                .unwrap()
                .action,
            "sessions.read"
        );
        assert!(Audited::of(&Method::POST, "/api/v1/auth/login", "/api/v1/auth/login").is_none());
        assert!(Audited::of(&Method::GET, "/api/v1/me/incidents", "/api/v1/me/incidents").is_none());
        assert!(Audited::of(&Method::GET, "/api/v1/workflows", "/api/v1/workflows").is_none());
    }

    #[test]
    fn networks_hide_the_address() {
        assert_eq!(network_of("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(network_of("2001:db8:1:2::5".parse().unwrap()), "2001:db8:1::/48");
        assert_eq!(network_of("::ffff:198.51.100.9".parse().unwrap()), "198.51.100.0/24");
    }
}
