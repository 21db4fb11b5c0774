//! Planning sessions: create, list, read, complete steps, complete or abandon.

use crate::auth::AuthUser;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use plansmith_domain::planner::{PlanningContext, Turn, step_intro, step_intro_in};
use plansmith_domain::{DocumentId, MessageRole, MessageStatus, SessionId, SessionStatus, Workflow};
use plansmith_store::{NewDocument, NewSession, PlanningSession, SessionClose, StepAdvance};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What the session routes can answer besides success.
#[derive(Debug)]
pub enum SessionError {
    UnknownWorkflow {
        given: String,
        known: Vec<String>,
    },
    EmptyText {
        field: &'static str,
    },
    TextTooLong {
        field: &'static str,
        max: usize,
    },
    InvalidLimit,
    InvalidCursor,
    /// A reply of the session is still being written.
    ReplyInProgress,
    /// The step's document still has empty sections (their titles).
    StepIncomplete {
        document: String,
        empty_sections: Vec<String>,
    },
    Common(CommonError),
}

error_family!(SessionError, common);

impl ErrorFamily for SessionError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::InvalidQuery,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::NotFound,
        ErrorCode::SessionClosed,
        ErrorCode::StepNotCurrent,
        ErrorCode::StepsIncomplete,
        ErrorCode::StepIncomplete,
        ErrorCode::ReplyInProgress,
        ErrorCode::RateLimited,
        ErrorCode::LimitReached,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::UnknownWorkflow { given, known } => ApiError::invalid(
                ErrorCode::InvalidField,
                "workflow_id",
                format_args!("there is no workflow '{given}'"),
                format!("Use one of: {}.", known.join(", ")),
            ),
            Self::ReplyInProgress => ApiError::new(
                ErrorCode::ReplyInProgress,
                "The planning agent is still writing a reply in this session.",
                "Wait until the reply is finished (a few seconds), then delete the session.",
            ),
            Self::EmptyText { field } => ApiError::invalid(
                ErrorCode::InvalidField,
                field,
                "must not be empty",
                format!("Give the session a {field}."),
            ),
            Self::TextTooLong { field, max } => ApiError::invalid(
                ErrorCode::InvalidField,
                field,
                format_args!("is longer than {max} characters"),
                format!("Shorten the {field}."),
            ),
            Self::InvalidLimit => ApiError::invalid(
                ErrorCode::InvalidQuery,
                "limit",
                "must be between 1 and 100",
                "Use a limit from 1 to 100.",
            ),
            Self::InvalidCursor => ApiError::invalid(
                ErrorCode::InvalidQuery,
                "cursor",
                "is not a cursor this API returned",
                "Use next_cursor from the previous page, or leave it out.",
            ),
            Self::StepIncomplete {
                document,
                empty_sections,
            } => ApiError::new(
                ErrorCode::StepIncomplete,
                format!(
                    "The {document} still has empty sections: {}.",
                    empty_sections.join(", ")
                ),
                "Answer the agent's questions, say \"draft the rest\", or write the sections yourself, then complete the step.",
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateSession {
    /// `product-plan` or `quick-brief` (see `GET /api/v1/workflows`).
    pub workflow_id: String,
    pub title: String,
    /// The project idea in the user's words.
    pub idea: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub workflow_id: String,
    pub title: String,
    pub idea: String,
    /// `active`, `completed` or `abandoned`.
    pub status: String,
    /// The step being worked on; null once every step is complete.
    pub current_step: Option<String>,
    /// Sections with content / all sections of the workflow, 0.0 to 1.0.
    pub progress: f64,
    pub sections_filled: i64,
    pub sections_total: i64,
    pub steps: Vec<StepProgress>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepProgress {
    pub id: String,
    pub title: String,
    /// `completed`, `current` or `pending`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

pub fn view(state: &AppState, s: &PlanningSession) -> SessionView {
    let workflow = state.workflows.get(&s.workflow_id);
    let total = workflow.map_or(0, |w| w.total_sections()) as i64;
    let steps = workflow
        .map(|w| {
            w.steps
                .iter()
                .enumerate()
                .map(|(i, step)| StepProgress {
                    id: step.id.clone(),
                    title: step.title.clone(),
                    status: if (i as i64) < s.completed_steps {
                        "completed"
                    } else if s.current_step.as_deref() == Some(step.id.as_str()) {
                        "current"
                    } else {
                        "pending"
                    }
                    .into(),
                })
                .collect()
        })
        .unwrap_or_default();
    SessionView {
        id: s.id.0,
        workflow_id: s.workflow_id.clone(),
        title: s.title.clone(),
        idea: s.idea.clone(),
        status: s.status.as_str().into(),
        current_step: s.current_step.clone(),
        progress: if total == 0 {
            0.0
        } else {
            s.sections_filled as f64 / total as f64
        },
        sections_filled: s.sections_filled,
        sections_total: total,
        steps,
        created_at: s.created_at,
        updated_at: s.updated_at,
        completed_at: s.completed_at,
    }
}

/// The caller's session, or 404 — also when it belongs to someone else.
pub async fn owned(state: &AppState, auth: &AuthUser, id: Uuid) -> Result<PlanningSession, CommonError> {
    state
        .store
        .get_session(auth.id(), SessionId(id))
        .await?
        .ok_or_else(|| CommonError::not_found("The planning session"))
}

pub fn workflow_of(state: &AppState, session: &PlanningSession) -> Result<Arc<Workflow>, CommonError> {
    state.workflows.get(&session.workflow_id).cloned().ok_or_else(|| {
        CommonError::internal(format!(
            "session {} uses unknown workflow {}",
            session.id, session.workflow_id
        ))
    })
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<String, SessionError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(SessionError::EmptyText { field });
    }
    if value.chars().count() > max {
        return Err(SessionError::TextTooLong { field, max });
    }
    Ok(value.to_owned())
}

/// Start a planning session; the agent opens the first step.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", operation_id = "create_session", request_body = CreateSession,
    responses((status = 201, body = SessionView), WithJsonBody<SessionError>))]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<CreateSession>,
) -> Result<
    (
        StatusCode,
        axum::Extension<crate::audit::CreatedSession>,
        Json<SessionView>,
    ),
    SessionError,
> {
    let unknown = || SessionError::UnknownWorkflow {
        given: body.workflow_id.clone(),
        known: state.workflows.ids().iter().map(ToString::to_string).collect(),
    };
    let workflow = state.workflows.get(&body.workflow_id).cloned().ok_or_else(unknown)?;
    // A workflow a feature flag keeps back from this user does not exist for them.
    if !crate::flags::workflow_open(&state, Some(&auth), &workflow.id).await? {
        return Err(unknown());
    }
    let limits = &state.settings.limits;
    let title = check_text("title", &body.title, limits.max_title_chars)?;
    let idea = check_text("idea", &body.idea, limits.max_idea_chars)?;
    let first = &workflow.steps[0];
    let new = NewSession {
        id: SessionId::new(),
        user_id: auth.id(),
        workflow_id: workflow.id.clone(),
        intro: step_intro(&workflow, first, &title, &idea),
        title,
        idea,
        first_step: first.id.clone(),
        documents: workflow
            .steps
            .iter()
            .map(|s| NewDocument {
                id: DocumentId::new(),
                step_id: s.id.clone(),
                title: s.document_title.clone(),
            })
            .collect(),
        max_active: limits.active_sessions_per_user,
    };
    let session = state.store.create_session(new).await?;
    crate::monitoring::session_started(&session.workflow_id);
    let workflow = Some(session.workflow_id.as_str());
    state.events.record(
        auth.id(),
        plansmith_store::events::EventKind::SessionStarted,
        workflow,
        workflow,
    );
    Ok((
        StatusCode::CREATED,
        axum::Extension(crate::audit::CreatedSession(session.id)),
        Json(view(&state, &session)),
    ))
}

/// The caller's sessions, newest first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", operation_id = "list_sessions", params(ListQuery),
    responses((status = 200, body = SessionList), SessionError))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<SessionList>, SessionError> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(SessionError::InvalidLimit);
    }
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(SessionId(Uuid::parse_str(c).map_err(|_| SessionError::InvalidCursor)?)),
    };
    let sessions = state.store.list_sessions(auth.id(), before, limit + 1).await?;
    let more = sessions.len() > limit as usize;
    let items: Vec<SessionView> = sessions.iter().take(limit as usize).map(|s| view(&state, s)).collect();
    let next_cursor = more.then(|| items.last().map(|s| s.id.to_string())).flatten();
    Ok(Json(SessionList { items, next_cursor }))
}

/// One session with its current step and progress.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", operation_id = "get_session", params(("id" = Uuid, Path)),
    responses((status = 200, body = SessionView), SessionError))]
pub async fn get(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SessionView>, SessionError> {
    let session = owned(&state, &auth, id).await?;
    Ok(Json(view(&state, &session)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RenameSession {
    /// The new title (1 to `limits.max_title_chars` characters; spaces around it are dropped).
    pub title: String,
}

/// Rename a session.
#[utoipa::path(patch, path = "/api/v1/sessions/{id}", tag = "sessions", operation_id = "rename_session",
    params(("id" = Uuid, Path)), request_body = RenameSession,
    responses((status = 200, body = SessionView), WithJsonBody<SessionError>))]
pub async fn rename(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RenameSession>,
) -> Result<Json<SessionView>, SessionError> {
    let title = check_text("title", &body.title, state.settings.limits.max_title_chars)?;
    let session = owned(&state, &auth, id).await?;
    let renamed = state
        .store
        .rename_session(auth.id(), session.id, &title)
        .await?
        .ok_or_else(|| CommonError::not_found("The session"))?;
    Ok(Json(view(&state, &renamed)))
}

/// Delete a session for good: its messages, documents and revisions go with it. Refused
/// (409 `reply_in_progress`) while the agent is writing a reply in it.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions", operation_id = "delete_session",
    params(("id" = Uuid, Path)), responses((status = 204), SessionError))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, SessionError> {
    let session = owned(&state, &auth, id).await?;
    let writing = state
        .store
        .list_messages(session.id)
        .await?
        .iter()
        .any(|m| matches!(m.status, MessageStatus::Queued | MessageStatus::Streaming));
    if writing {
        return Err(SessionError::ReplyInProgress);
    }
    if !state.store.delete_session(auth.id(), session.id).await? {
        return Err(CommonError::not_found("The session").into());
    }
    // Every instance forgets the owner at once (the shared cache when configured).
    if let Err(e) = state.cache.invalidate(&format!("session-owner:{id}")).await {
        tracing::warn!(session = %session.id, error = %e, "the deleted session's owner stays cached until it expires");
    }
    tracing::info!(session = %session.id, user = %auth.id(), "session deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Complete the current step once every section of its document has content.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/steps/{step_id}/complete", tag = "sessions",
    operation_id = "complete_step", params(("id" = Uuid, Path), ("step_id" = String, Path)),
    responses((status = 200, body = SessionView), SessionError))]
pub async fn complete_step(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, step_id)): ApiPath<(Uuid, String)>,
) -> Result<Json<SessionView>, SessionError> {
    let session = owned(&state, &auth, id).await?;
    let workflow = workflow_of(&state, &session)?;
    let index = workflow
        .step_index(&step_id)
        .ok_or_else(|| CommonError::not_found(format!("Step '{step_id}'")))?;
    let step = &workflow.steps[index];
    // Checked here too (the store decides again when it writes): the document check below is
    // only worth doing for the current step.
    session.state().check_step_completion(&step.id)?;
    let documents = state.store.list_documents(session.id).await?;
    let doc = documents
        .iter()
        .find(|d| d.step_id == step.id)
        .ok_or_else(|| CommonError::internal("step without document"))?;
    let snapshot = state
        .store
        .get_document(session.id, doc.id, None)
        .await?
        .ok_or_else(|| CommonError::internal("document vanished"))?;
    let empty_sections: Vec<String> = step
        .sections
        .iter()
        .filter(|s| snapshot.content.section(&s.id).trim().is_empty())
        .map(|s| s.title.clone())
        .collect();
    if !empty_sections.is_empty() {
        return Err(SessionError::StepIncomplete {
            document: step.document_title.clone(),
            empty_sections,
        });
    }
    let messages = state.store.list_messages(session.id).await?;
    let advance = match workflow.steps.get(index + 1) {
        Some(next) => {
            // The next role opens without asking what the conversation already answered.
            let context = PlanningContext {
                title: session.title.clone(),
                idea: session.idea.clone(),
                workflow: workflow.clone(),
                step_id: next.id.clone(),
                documents: state
                    .store
                    .current_documents(session.id)
                    .await?
                    .into_iter()
                    .map(|doc| (doc.step_id, doc.content))
                    .collect(),
                history: messages
                    .iter()
                    .filter(|m| m.status == MessageStatus::Complete || m.role == MessageRole::User)
                    .map(|m| Turn {
                        role: m.role,
                        step_id: m.step_id.clone(),
                        content: m.content.clone(),
                    })
                    .collect(),
            };
            StepAdvance::Next {
                step_id: next.id.clone(),
                intro: step_intro_in(&context, next),
            }
        }
        None => StepAdvance::Finish,
    };
    let before = session.status;
    let session = state.store.complete_step(session.id, &step.id, advance).await?;
    // The step began when its introduction was posted (the first, when the session started).
    let began = messages
        .iter()
        .find(|m| m.step_id == step.id)
        .map(|m| m.created_at)
        .unwrap_or(session.created_at);
    crate::monitoring::step_completed(&session.workflow_id, &step.id, Utc::now() - began);
    state.events.record(
        auth.id(),
        plansmith_store::events::EventKind::StepCompleted,
        Some(&step.id),
        Some(&session.workflow_id),
    );
    count_closing(&state, &session, before);
    Ok(Json(view(&state, &session)))
}

/// Finish the session. Every step must be complete; completing an already completed session
/// changes nothing.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/complete", tag = "sessions", operation_id = "complete_session",
    params(("id" = Uuid, Path)), responses((status = 200, body = SessionView), SessionError))]
pub async fn complete(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SessionView>, SessionError> {
    let session = owned(&state, &auth, id).await?;
    let before = session.status;
    let session = state.store.close_session(session.id, SessionClose::Complete).await?;
    count_closing(&state, &session, before);
    Ok(Json(view(&state, &session)))
}

/// Abandon the session; its documents stay readable.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/abandon", tag = "sessions", operation_id = "abandon_session",
    params(("id" = Uuid, Path)), responses((status = 200, body = SessionView), SessionError))]
pub async fn abandon(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SessionView>, SessionError> {
    let session = owned(&state, &auth, id).await?;
    let before = session.status;
    let session = state.store.close_session(session.id, SessionClose::Abandon).await?;
    count_closing(&state, &session, before);
    Ok(Json(view(&state, &session)))
}

/// Counts a session that was active and is now completed or abandoned (once: closing a closed
/// session again changes nothing).
fn count_closing(state: &AppState, session: &PlanningSession, before: SessionStatus) {
    if before != SessionStatus::Active {
        return;
    }
    let workflow = Some(session.workflow_id.as_str());
    match session.status {
        SessionStatus::Completed => {
            crate::monitoring::session_completed(
                &session.workflow_id,
                session.completed_at.unwrap_or_else(Utc::now) - session.created_at,
            );
            state.events.record(
                session.user_id,
                plansmith_store::events::EventKind::SessionCompleted,
                workflow,
                workflow,
            );
        }
        SessionStatus::Abandoned => {
            crate::monitoring::session_abandoned(&session.workflow_id);
            state.events.record(
                session.user_id,
                plansmith_store::events::EventKind::SessionAbandoned,
                workflow,
                workflow,
            );
        }
        SessionStatus::Active => {}
    }
}

/// Checks that the session exists and belongs to the caller, through the session cache
/// (ownership never changes, so it is safe to cache).
pub async fn check_owner(state: &AppState, auth: &AuthUser, id: Uuid) -> Result<SessionId, CommonError> {
    let key = format!("session-owner:{id}");
    // The cache only saves a read: when it is down (a Redis outage) the database answers.
    match state.cache.get(&key).await {
        Ok(Some(owner)) if owner == auth.id().to_string() => return Ok(SessionId(id)),
        Ok(Some(_)) => return Err(CommonError::not_found("The planning session")),
        Ok(None) => {}
        Err(e) => tracing::debug!(error = %e, "session cache unavailable; reading the owner from the database"),
    }
    let session = owned(state, auth, id).await?;
    if let Err(e) = state.cache.put(&key, session.user_id.to_string()).await {
        tracing::debug!(error = %e, "session cache unavailable; the owner is not cached");
    }
    Ok(session.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;
    use plansmith_store::SessionRefusal;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            SessionError::UnknownWorkflow {
                given: "x".into(),
                known: vec!["product-plan".into()],
            },
            SessionError::EmptyText { field: "title" },
            SessionError::TextTooLong { field: "idea", max: 10 },
            SessionError::InvalidLimit,
            SessionError::InvalidCursor,
            SessionError::StepIncomplete {
                document: "PRD".into(),
                empty_sections: vec!["Goals".into()],
            },
            SessionRefusal::StepsRemain { current: "prd".into() }.into(),
            SessionRefusal::StepNotCurrent {
                step: "prd".into(),
                current: None,
            }
            .into(),
        ]);
    }

    #[test]
    fn an_incomplete_step_names_its_empty_sections() {
        let error = SessionError::StepIncomplete {
            document: "Product brief".into(),
            empty_sections: vec!["Goals".into(), "Risks".into()],
        }
        .to_api_error();
        assert_eq!(error.code(), ErrorCode::StepIncomplete);
        assert_eq!(error.status(), StatusCode::CONFLICT);
        assert_eq!(
            error.message(),
            "The Product brief still has empty sections: Goals, Risks."
        );
    }
}
