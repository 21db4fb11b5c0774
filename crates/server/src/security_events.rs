//! The security event log: sign-ups, sign-ins and their failures, lockouts, password changes,
//! revoked sign-ins, admin actions and role changes, and refused requests to the admin API.
//! Each event is logged (tracing target `security`) and kept in the `security_events` table,
//! which admins query at `GET /api/v1/admin/security-events`. Recording never fails the
//! user's request: an event that cannot be stored is logged as an error, with its content.

use crate::admin::AdminUser;
use crate::client::Client;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, error_family};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use plansmith_domain::UserId;
use plansmith_store::{NewSecurityEvent, SecurityEventQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecurityEventKind {
    /// An account was created.
    SignUp,
    /// A successful sign-in.
    SignIn,
    /// A sign-in with a wrong email or password, or to a disabled account.
    SignInFailed,
    /// A sign-in refused because of too many failures (for the account or the address).
    Lockout,
    /// A password change, or a refused one (wrong current password).
    PasswordChanged,
    /// Sign-ins ended: sign-out, a revoked sign-in, sign-out everywhere, or by an admin.
    TokenRevoked,
    /// A change an admin made to an account (the event's user is the admin).
    AdminAction,
    /// An account's role changed (the event's user is the account).
    RoleChanged,
    /// A request to the admin API refused (401 or 403).
    AdminDenied,
    /// An account erased by its owner (GDPR Art. 17), or a refused attempt (wrong password).
    AccountErased,
}

impl SecurityEventKind {
    pub const ALL: &'static [Self] = &[
        Self::SignUp,
        Self::SignIn,
        Self::SignInFailed,
        Self::Lockout,
        Self::PasswordChanged,
        Self::TokenRevoked,
        Self::AdminAction,
        Self::RoleChanged,
        Self::AdminDenied,
        Self::AccountErased,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "sign_up",
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::Lockout => "lockout",
            Self::PasswordChanged => "password_changed",
            Self::TokenRevoked => "token_revoked",
            Self::AdminAction => "admin_action",
            Self::RoleChanged => "role_changed",
            Self::AdminDenied => "admin_denied",
            Self::AccountErased => "account_erased",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == text)
    }
}

/// Whether what was attempted happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// One event to record; made with [`SecurityEvent::success`] or [`SecurityEvent::failure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub kind: SecurityEventKind,
    pub user_id: Option<UserId>,
    pub address: Option<String>,
    pub request_id: String,
    pub outcome: Outcome,
    pub detail: Option<String>,
}

impl SecurityEvent {
    pub fn success(kind: SecurityEventKind, client: &Client) -> Self {
        Self::new(kind, Outcome::Success, client)
    }

    pub fn failure(kind: SecurityEventKind, client: &Client) -> Self {
        Self::new(kind, Outcome::Failure, client)
    }

    fn new(kind: SecurityEventKind, outcome: Outcome, client: &Client) -> Self {
        Self {
            kind,
            user_id: None,
            address: client.address_text(),
            request_id: client.request_id.clone(),
            outcome,
            detail: None,
        }
    }

    pub fn user(mut self, id: UserId) -> Self {
        self.user_id = Some(id);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Logs the event and stores it. A failure to store it is logged with the event's content
/// (so it is not lost) and does not fail the request that caused it.
pub async fn record(state: &AppState, event: SecurityEvent) {
    let user = event.user_id.map(|u| u.to_string());
    macro_rules! log {
        ($level:ident, $message:literal $(, $key:ident = $value:expr)*) => {
            tracing::$level!(
                target: "security",
                kind = event.kind.as_str(),
                outcome = event.outcome.as_str(),
                user_id = user.as_deref(),
                address = event.address.as_deref(),
                request_id = %event.request_id,
                detail = event.detail.as_deref(),
                $($key = $value,)*
                $message
            )
        };
    }
    match event.outcome {
        Outcome::Success => log!(info, "security event"),
        Outcome::Failure => log!(warn, "security event"),
    }
    let stored = NewSecurityEvent {
        kind: event.kind.as_str().to_owned(),
        user_id: event.user_id,
        address: event.address.clone(),
        request_id: Some(event.request_id.clone()).filter(|id| !id.is_empty()),
        outcome: event.outcome.as_str().to_owned(),
        detail: event.detail.clone(),
    };
    if let Err(e) = state.store.record_security_event(stored).await {
        let error = e.to_string();
        log!(error, "security event not stored", error = error.as_str());
    }
}

/// What the security event query can answer besides success.
#[derive(Debug)]
pub enum SecurityEventsError {
    UnknownKind(String),
    InvalidLimit,
    InvalidCursor,
    EmptyRange,
    Common(CommonError),
}

error_family!(SecurityEventsError, common);

impl ErrorFamily for SecurityEventsError {
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
            Self::UnknownKind(kind) => {
                let known: Vec<&str> = SecurityEventKind::ALL.iter().map(|k| k.as_str()).collect();
                ApiError::invalid(
                    query,
                    "kind",
                    format_args!("'{kind}' is not a kind of security event"),
                    format!("Use one of {}.", known.join(", ")),
                )
            }
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SecurityEventsQuery {
    /// Only events of this user (id).
    pub user: Option<Uuid>,
    /// Only events of this kind (see `SecurityEventKind`).
    pub kind: Option<String>,
    /// From this time (RFC 3339, inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until this time (RFC 3339, exclusive).
    pub to: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEventView {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    #[schema(value_type = SecurityEventKind)]
    pub kind: String,
    pub user_id: Option<Uuid>,
    /// The client's address.
    pub address: Option<String>,
    /// The id of the request that caused it (as in error bodies and logs).
    pub request_id: Option<String>,
    #[schema(value_type = Outcome)]
    pub outcome: String,
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEventList {
    /// Newest first.
    pub items: Vec<SecurityEventView>,
    /// Pass as `cursor` to get the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Security events, newest first, filtered by user, kind and time.
#[utoipa::path(get, path = "/api/v1/admin/security-events", tag = "admin", operation_id = "list_security_events",
    params(SecurityEventsQuery), responses((status = 200, body = SecurityEventList), SecurityEventsError))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<SecurityEventsQuery>,
) -> Result<Json<SecurityEventList>, SecurityEventsError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(SecurityEventsError::InvalidLimit);
    }
    let kind = match q.kind.as_deref().filter(|k| !k.is_empty()) {
        Some(kind) => {
            Some(SecurityEventKind::parse(kind).ok_or_else(|| SecurityEventsError::UnknownKind(kind.into()))?)
        }
        None => None,
    };
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from >= to
    {
        return Err(SecurityEventsError::EmptyRange);
    }
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(cursor) => Some(Uuid::parse_str(cursor).map_err(|_| SecurityEventsError::InvalidCursor)?),
        None => None,
    };
    let query = SecurityEventQuery {
        user_id: q.user.map(UserId),
        kind: kind.map(|k| k.as_str().to_owned()),
        from: q.from,
        to: q.to,
        before,
        limit: limit + 1,
    };
    let mut events = state.store.security_events(&query).await?;
    let more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next_cursor = more.then(|| events.last().map(|e| e.id.to_string())).flatten();
    let items = events
        .into_iter()
        .map(|e| SecurityEventView {
            id: e.id,
            at: e.at,
            kind: e.kind,
            user_id: e.user_id.map(|u| u.0),
            address: e.address,
            request_id: e.request_id,
            outcome: e.outcome,
            detail: e.detail,
        })
        .collect();
    Ok(Json(SecurityEventList { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            SecurityEventsError::UnknownKind("x".into()),
            SecurityEventsError::InvalidLimit,
            SecurityEventsError::InvalidCursor,
            SecurityEventsError::EmptyRange,
            CommonError::Unauthorized.into(),
        ]);
    }

    #[test]
    fn kinds_are_spelled_as_serde_spells_them() {
        for kind in SecurityEventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(SecurityEventKind::parse(kind.as_str()), Some(*kind));
        }
    }
}
