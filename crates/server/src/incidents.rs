//! Incident notices (docs/incident-response.md): an admin publishes what happened to the
//! affected people — everyone, or a list of accounts. Each recipient gets an email through the
//! outbox and sees the notice as a banner in the web app until they read it; the admin sees who
//! was notified and who has read it.

use crate::admin::AdminUser;
use crate::auth::AuthUser;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use plansmith_domain::UserId;
use plansmith_store::NewEmail;
use plansmith_store::incidents::{Incident, IncidentRecipient, NewIncident, UserIncident};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

const SEVERITIES: [&str; 4] = ["sev1", "sev2", "sev3", "sev4"];
const MAX_TITLE_CHARS: usize = 200;
const MAX_BODY_CHARS: usize = 5000;
/// Most accounts one notice names; larger groups are told as everyone.
const MAX_USERS: usize = 10_000;
/// How far back a person's notices are shown.
const SHOWN_FOR_DAYS: i64 = 90;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewIncidentRequest {
    /// `sev1` (most severe) … `sev4`.
    pub severity: String,
    /// 1–200 characters.
    pub title: String,
    /// What happened, what it means for the reader and what to do (1–5,000 characters).
    pub body: String,
    /// The affected accounts; leave out to notify everyone.
    pub user_ids: Option<Vec<Uuid>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    pub id: Uuid,
    pub severity: String,
    pub title: String,
    pub body: String,
    /// `all` or `users`.
    pub audience: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub recipient_count: i64,
    /// Recipients whose email was queued.
    pub notified_count: i64,
    /// Recipients who have read it.
    pub read_count: i64,
}

impl From<Incident> for IncidentView {
    fn from(i: Incident) -> Self {
        Self {
            id: i.id,
            severity: i.severity,
            title: i.title,
            body: i.body,
            audience: i.audience,
            created_at: i.created_at,
            created_by: i.created_by.map(|u| u.0),
            recipient_count: i.recipient_count,
            notified_count: i.notified_count,
            read_count: i.read_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientView {
    pub user_id: Uuid,
    pub email: String,
    pub notified_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<IncidentRecipient> for RecipientView {
    fn from(r: IncidentRecipient) -> Self {
        Self {
            user_id: r.user_id.0,
            email: r.email,
            notified_at: r.notified_at,
            read_at: r.read_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: IncidentView,
    /// Every affected account: notified (email queued) and read when.
    pub recipients: Vec<RecipientView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub items: Vec<IncidentView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyIncident {
    pub id: Uuid,
    pub severity: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// When you marked it read; null while it is shown as a banner.
    pub read_at: Option<DateTime<Utc>>,
}

impl From<UserIncident> for MyIncident {
    fn from(i: UserIncident) -> Self {
        Self {
            id: i.id,
            severity: i.severity,
            title: i.title,
            body: i.body,
            created_at: i.created_at,
            read_at: i.read_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyIncidents {
    /// Notices addressed to you in the last 90 days, newest first.
    pub items: Vec<MyIncident>,
}

#[derive(Debug)]
pub enum IncidentError {
    Severity(String),
    Title,
    Body,
    TooManyUsers,
    UnknownUsers(Vec<Uuid>),
    Common(CommonError),
}

error_family!(IncidentError, common);

impl ErrorFamily for IncidentError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::Forbidden,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        let field = ErrorCode::InvalidField;
        match self {
            Self::Severity(s) => ApiError::invalid(
                field,
                "severity",
                format_args!("'{s}' is not a severity"),
                "Use sev1 (most severe), sev2, sev3 or sev4.",
            ),
            Self::Title => ApiError::invalid(
                field,
                "title",
                format_args!("must be 1 to {MAX_TITLE_CHARS} characters"),
                "Give the notice a short title.",
            ),
            Self::Body => ApiError::invalid(
                field,
                "body",
                format_args!("must be 1 to {MAX_BODY_CHARS} characters"),
                "Say what happened, what it means for the reader and what they should do.",
            ),
            Self::TooManyUsers => ApiError::invalid(
                field,
                "user_ids",
                format_args!("names none or more than {MAX_USERS} accounts"),
                "Name 1 to 10,000 accounts, or leave user_ids out to notify everyone.",
            ),
            Self::UnknownUsers(ids) => ApiError::invalid(
                field,
                "user_ids",
                format_args!(
                    "no account has the id {}",
                    ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(", ")
                ),
                "Use the ids of existing accounts (GET /api/v1/admin/users).",
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

/// Errors of the routes that read notices or record a receipt (no request body).
#[derive(Debug)]
pub enum IncidentReadError {
    Common(CommonError),
}

error_family!(IncidentReadError, common);

impl ErrorFamily for IncidentReadError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::NotFound,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::Common(e) => e.to_api_error(),
        }
    }
}

/// Publishes an incident notice to everyone or to the listed accounts: each gets an email
/// (through the outbox) and a banner in the web app until they mark it read.
#[utoipa::path(post, path = "/api/v1/admin/incidents", tag = "admin", operation_id = "publish_incident",
    request_body = NewIncidentRequest, responses((status = 201, body = IncidentView), WithJsonBody<IncidentError>))]
pub async fn publish(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<NewIncidentRequest>,
) -> Result<(StatusCode, Json<IncidentView>), IncidentError> {
    if !SEVERITIES.contains(&body.severity.as_str()) {
        return Err(IncidentError::Severity(body.severity));
    }
    let (title, text) = (body.title.trim(), body.body.trim());
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(IncidentError::Title);
    }
    if text.is_empty() || text.chars().count() > MAX_BODY_CHARS {
        return Err(IncidentError::Body);
    }
    if let Some(ids) = &body.user_ids {
        if ids.is_empty() || ids.len() > MAX_USERS {
            return Err(IncidentError::TooManyUsers);
        }
        let mut unknown = Vec::new();
        for id in ids {
            if state.store.user_by_id(UserId(*id)).await?.is_none() {
                unknown.push(*id);
            }
        }
        if !unknown.is_empty() {
            return Err(IncidentError::UnknownUsers(unknown));
        }
    }
    let id = Uuid::now_v7();
    let recipients = state
        .store
        .create_incident(NewIncident {
            id,
            severity: body.severity.clone(),
            title: title.to_owned(),
            body: text.to_owned(),
            user_ids: body.user_ids.map(|ids| ids.into_iter().map(UserId).collect()),
            created_by: Some(admin.id()),
            at: Utc::now(),
        })
        .await?;
    // The emails are queued by a task of their own, a hundred recipients at a time, each batch
    // marked notified as it goes: a notice to everyone on a large installation is not cut off
    // by the request's deadline. The answer waits a few seconds for it (enough for most
    // audiences); the detail shows the rest as they are notified.
    let mail = {
        let state = state.clone();
        let (subject, text) = (format!("[Plansmith] {title}"), text.to_owned());
        tokio::spawn(async move { notify(&state, id, recipients, &subject, &text).await })
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), mail).await;
    tracing::warn!(incident = %id, severity = %body.severity, "incident notice published");
    let incident = state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| CommonError::not_found("The incident"))?
        .0;
    Ok((StatusCode::CREATED, Json(incident.into())))
}

/// Queues the notice's email to each recipient and marks them notified, in batches.
async fn notify(state: &AppState, id: Uuid, recipients: Vec<(UserId, String)>, subject: &str, text: &str) {
    let link = state.mailer.page("/sessions");
    for batch in recipients.chunks(100) {
        let mut notified = Vec::with_capacity(batch.len());
        for (user, address) in batch {
            let email = NewEmail {
                to: address.clone(),
                subject: subject.to_owned(),
                body: format!("{text}\n\nYou can read this notice in Plansmith too: {link}\n"),
                kind: "incident".into(),
            };
            match state.mailer.queue(state.store.as_ref(), email).await {
                Ok(()) => notified.push(*user),
                // The banner still reaches them; the detail shows them as not notified.
                Err(e) => {
                    tracing::error!(error = %e, incident = %id, user = %user, "could not queue an incident email")
                }
            }
        }
        if let Err(e) = state.store.incident_notified(id, &notified, Utc::now()).await {
            tracing::error!(error = %e, incident = %id, "could not mark incident recipients notified");
        }
    }
}

/// Every incident notice, newest first, with how many were notified and have read it.
#[utoipa::path(get, path = "/api/v1/admin/incidents", tag = "admin", operation_id = "list_incidents",
    responses((status = 200, body = IncidentList), IncidentReadError))]
pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<IncidentList>, IncidentReadError> {
    let items = state.store.list_incidents(200).await?;
    Ok(Json(IncidentList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// One notice and every affected account: when their email was queued, when they read it.
#[utoipa::path(get, path = "/api/v1/admin/incidents/{id}", tag = "admin", operation_id = "get_incident",
    params(("id" = Uuid, Path)), responses((status = 200, body = IncidentDetail), IncidentReadError))]
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<IncidentDetail>, IncidentReadError> {
    let (incident, recipients) = state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| CommonError::not_found("The incident"))?;
    Ok(Json(IncidentDetail {
        incident: incident.into(),
        recipients: recipients.into_iter().map(Into::into).collect(),
    }))
}

/// The incident notices addressed to you in the last 90 days; unread ones are shown as banners.
#[utoipa::path(get, path = "/api/v1/me/incidents", tag = "account", operation_id = "my_incidents",
    responses((status = 200, body = MyIncidents), IncidentReadError))]
pub async fn mine(State(state): State<AppState>, auth: AuthUser) -> Result<Json<MyIncidents>, IncidentReadError> {
    let since = Utc::now() - Duration::days(SHOWN_FOR_DAYS);
    let items = state.store.user_incidents(auth.id(), since).await?;
    Ok(Json(MyIncidents {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Marks a notice read (the read receipt the admin sees); reading it again changes nothing.
#[utoipa::path(post, path = "/api/v1/me/incidents/{id}/read", tag = "account", operation_id = "read_incident",
    params(("id" = Uuid, Path)), responses((status = 204, description = "Marked read"), IncidentReadError))]
pub async fn read(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, IncidentReadError> {
    if !state.store.read_incident(id, auth.id(), Utc::now()).await? {
        return Err(CommonError::not_found("The incident").into());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            IncidentError::Severity("x".into()),
            IncidentError::Title,
            IncidentError::Body,
            IncidentError::TooManyUsers,
            IncidentError::UnknownUsers(vec![Uuid::nil()]),
        ]);
    }
}
