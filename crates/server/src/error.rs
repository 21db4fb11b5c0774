//! The one error shape of the API, `{"error": {"code", "message", "hint", "request_id"}}`,
//! and the mapping of every lower-layer error onto it. Internal details are logged once with
//! the request id and never shown to users.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plansmith_store::{ReplyRefusal, ReplyTransition, SessionRefusal, StoreError};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

tokio::task_local! {
    /// The id of the request being handled, for error bodies and logs.
    pub static REQUEST_ID: String;
    /// Support contact for the hints of server errors.
    pub static SUPPORT_CONTACT: String;
}

pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

fn support_contact() -> String {
    SUPPORT_CONTACT
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "support".into())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// What to do next.
    pub hint: String,
    /// Quote this when contacting support.
    pub request_id: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub hint: String,
    pub retry_after: Option<Duration>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            hint: hint.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message, hint)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} was not found."),
            "Check the id in the address; it may have been deleted or belong to another account.",
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message, hint)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "You are not signed in, or your session has expired.",
            "Sign in again and retry.",
        )
    }

    pub fn too_many(message: impl Into<String>, retry_after: Duration) -> Self {
        let secs = retry_after.as_secs().max(1);
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            message,
            format!("Wait {secs} seconds and try again."),
        );
        e.retry_after = Some(Duration::from_secs(secs));
        e
    }

    /// A server-side failure: logged with its cause, shown to the user without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(request_id = %current_request_id(), error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. Your work so far is saved.",
            "",
        )
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(request_id = %current_request_id(), error = %cause, "service unavailable");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is temporarily unavailable.",
            "",
        );
        e.retry_after = Some(Duration::from_secs(5));
        e
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("The record"),
            StoreError::EmailTaken => ApiError::conflict(
                "email_taken",
                "An account with this email already exists.",
                "Sign in instead, or register with another email.",
            ),
            StoreError::Duplicate => ApiError::conflict(
                "already_exists",
                "The record already exists.",
                "Reload to see the current state.",
            ),
            StoreError::RevisionConflict { current } => ApiError::conflict(
                "revision_conflict",
                format!("The document changed since you loaded it; it is now at revision {current}."),
                "Reload the document, reapply your change and send it with the current revision as base_revision.",
            ),
            StoreError::RevisionNotFound(revision) => {
                ApiError::not_found(&format!("Revision {revision} of the document"))
            }
            StoreError::Session(refusal) => refusal.into(),
            StoreError::Reply(refusal) => refusal.into(),
            StoreError::Unavailable(cause) => ApiError::unavailable(cause),
            StoreError::Integrity(cause) | StoreError::Database(cause) => ApiError::internal(cause),
        }
    }
}

impl From<SessionRefusal> for ApiError {
    fn from(refusal: SessionRefusal) -> Self {
        match refusal {
            SessionRefusal::Closed(status) => ApiError::conflict(
                "session_closed",
                format!("The session is {}; it takes no more changes.", status.as_str()),
                "Start a new session to keep planning.",
            ),
            SessionRefusal::StepNotCurrent { step, current } => ApiError::conflict(
                "step_not_current",
                match current {
                    Some(current) => format!("Step '{step}' is not the current step; the session is on '{current}'."),
                    None => format!("Step '{step}' is not the current step; every step is complete."),
                },
                "Complete the current step first.",
            ),
            SessionRefusal::StepsRemain { current } => ApiError::conflict(
                "steps_incomplete",
                format!("Not every step is complete yet; the session is on '{current}'."),
                "Complete each step (POST .../steps/{step_id}/complete), or abandon the session.",
            ),
        }
    }
}

impl From<ReplyRefusal> for ApiError {
    fn from(ReplyRefusal(transition): ReplyRefusal) -> Self {
        match transition {
            ReplyTransition::Retry => ApiError::conflict(
                "not_retryable",
                "Only failed or interrupted replies can be retried.",
                "Wait for the reply to finish, or send a new message.",
            ),
            ReplyTransition::Start | ReplyTransition::Finish | ReplyTransition::End => ApiError::conflict(
                "reply_changed",
                "The reply changed meanwhile.",
                "Reload the conversation to see its current state.",
            ),
        }
    }
}

impl From<plansmith_cache::CacheError> for ApiError {
    fn from(e: plansmith_cache::CacheError) -> Self {
        ApiError::unavailable(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let hint = if self.status.is_server_error() {
            let contact = support_contact();
            let lead = if self.hint.is_empty() {
                "Please try again in a moment."
            } else {
                &self.hint
            };
            format!("{lead} If it keeps happening, contact {contact} and quote the request id.")
        } else {
            self.hint
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                hint,
                request_id: current_request_id(),
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
