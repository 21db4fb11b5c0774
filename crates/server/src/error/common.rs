//! The cases every handler family shares, worded here once: reading the request, sign-in,
//! records that do not exist, the store's answers (its refusals included) and failures on
//! our side. The family enums hold a `CommonError` and delegate to it.

use super::{ApiError, ErrorCode, ErrorFamily, current_request_id};
use plansmith_cache::CacheError;
use plansmith_store::{ReplyRefusal, ReplyTransition, SessionRefusal, StoreError};
use std::time::Duration;

#[derive(Debug)]
pub enum CommonError {
    /// The body is not JSON; the parser's complaint.
    MalformedJson(String),
    UnsupportedContentType,
    /// The body is JSON of the wrong shape; the deserializer's complaint.
    InvalidBody(String),
    /// The body could not be read at all.
    UnreadableBody(String),
    PayloadTooLarge,
    /// The query string does not fit the parameters; the deserializer's complaint.
    InvalidQuery(String),
    Unauthorized,
    /// A write signed in by the cookie that came from another site (see `auth`).
    CrossSiteRequest,
    /// What was not found, e.g. "The planning session".
    NotFound(String),
    /// The signed-in user made `limits.requests_per_user_per_minute` requests this minute.
    RequestRate {
        limit: u32,
        retry_after: Duration,
    },
    Store(StoreError),
    /// A dependency is down or the server is draining; the cause is logged, not shown.
    Unavailable(String),
    /// A failure on our side; the cause is logged, not shown.
    Internal(String),
}

impl CommonError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self::Unavailable(cause.to_string())
    }
}

impl From<StoreError> for CommonError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<SessionRefusal> for CommonError {
    fn from(refusal: SessionRefusal) -> Self {
        Self::Store(refusal.into())
    }
}

impl From<ReplyRefusal> for CommonError {
    fn from(refusal: ReplyRefusal) -> Self {
        Self::Store(refusal.into())
    }
}

impl From<CacheError> for CommonError {
    fn from(e: CacheError) -> Self {
        Self::unavailable(e)
    }
}

impl ErrorFamily for CommonError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::MalformedJson,
        ErrorCode::UnsupportedContentType,
        ErrorCode::InvalidBody,
        ErrorCode::PayloadTooLarge,
        ErrorCode::InvalidQuery,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::NotFound,
        ErrorCode::EmailTaken,
        ErrorCode::AlreadyExists,
        ErrorCode::RevisionConflict,
        ErrorCode::SessionClosed,
        ErrorCode::StepNotCurrent,
        ErrorCode::StepsIncomplete,
        ErrorCode::NotRetryable,
        ErrorCode::ReplyChanged,
        ErrorCode::RateLimited,
        ErrorCode::LimitReached,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::MalformedJson(detail) => ApiError::new(
                ErrorCode::MalformedJson,
                format!("The request body is not valid JSON: {detail}"),
                "Check the JSON syntax (quotes, commas, brackets) and send it again.",
            ),
            Self::UnsupportedContentType => ApiError::new(
                ErrorCode::UnsupportedContentType,
                "The request body must be JSON.",
                "Send the header Content-Type: application/json with a JSON body.",
            ),
            Self::InvalidBody(detail) => ApiError::new(
                ErrorCode::InvalidBody,
                format!("The request body has the wrong shape: {detail}"),
                "See /api/openapi.json for the fields this endpoint expects.",
            ),
            Self::UnreadableBody(detail) => ApiError::new(
                ErrorCode::InvalidBody,
                format!("The request body could not be read: {detail}"),
                "Send the body again.",
            ),
            Self::PayloadTooLarge => ApiError::new(
                ErrorCode::PayloadTooLarge,
                "The request body is larger than the server accepts.",
                "Send a smaller body, e.g. split a long text into several messages or sections.",
            ),
            Self::InvalidQuery(detail) => ApiError::new(
                ErrorCode::InvalidQuery,
                format!("The query string is invalid: {detail}"),
                "Fix the query parameter and try again.",
            ),
            Self::Unauthorized => ApiError::new(
                ErrorCode::Unauthorized,
                "You are not signed in, or your session has expired.",
                "Sign in again and retry.",
            ),
            Self::CrossSiteRequest => ApiError::new(
                ErrorCode::CrossSiteRequest,
                "This change was refused because the request came from another site, not from Plansmith's own pages.",
                "Make the change in the Plansmith app itself. Other clients authenticate with Authorization: Bearer <token> instead of the cookie.",
            ),
            Self::NotFound(what) => ApiError::new(
                ErrorCode::NotFound,
                format!("{what} was not found."),
                "Check the id in the address; it may have been deleted or belong to another account.",
            ),
            Self::RequestRate { limit, retry_after } => ApiError::wait_and_retry(
                ErrorCode::RateLimited,
                format!("You made more than {limit} requests in a minute."),
                *retry_after,
            ),
            Self::Store(e) => store_error(e),
            Self::Unavailable(cause) => {
                tracing::warn!(request_id = %current_request_id(), error = %cause, "service unavailable");
                ApiError::retry_later(
                    ErrorCode::Unavailable,
                    "The service is temporarily unavailable.",
                    "",
                    Duration::from_secs(5),
                )
                .with_cause(cause.as_str())
            }
            Self::Internal(cause) => {
                tracing::error!(request_id = %current_request_id(), error = %cause, "internal error");
                ApiError::new(
                    ErrorCode::InternalError,
                    "Something went wrong on our side. Your work so far is saved.",
                    "",
                )
                .with_cause(cause.as_str())
            }
        }
    }
}

/// The store's answers, worded for users.
fn store_error(e: &StoreError) -> ApiError {
    match e {
        StoreError::NotFound => CommonError::not_found("The record").to_api_error(),
        StoreError::RevisionNotFound(revision) => {
            CommonError::not_found(format!("Revision {revision} of the document")).to_api_error()
        }
        StoreError::EmailTaken => ApiError::new(
            ErrorCode::EmailTaken,
            "An account with this email already exists.",
            "Sign in instead, or register with another email.",
        ),
        StoreError::Duplicate => ApiError::new(
            ErrorCode::AlreadyExists,
            "The record already exists.",
            "Reload to see the current state.",
        ),
        StoreError::RevisionConflict { current } => ApiError::new(
            ErrorCode::RevisionConflict,
            format!("The document changed since you loaded it; it is now at revision {current}."),
            "Reload the document, reapply your change and send it with the current revision as base_revision.",
        ),
        StoreError::TooManyActiveSessions { max } => ApiError::new(
            ErrorCode::LimitReached,
            format!("You have {max} active planning sessions, the most an account can have at once."),
            "Complete or abandon a session you no longer work on, then start the new one.",
        ),
        StoreError::Session(refusal) => session_refusal(refusal),
        StoreError::Reply(ReplyRefusal(transition)) => reply_refusal(*transition),
        StoreError::Unavailable(cause) => CommonError::unavailable(cause).to_api_error(),
        StoreError::Integrity(cause) | StoreError::Database(cause) => CommonError::internal(cause).to_api_error(),
    }
}

fn session_refusal(refusal: &SessionRefusal) -> ApiError {
    match refusal {
        SessionRefusal::Closed(status) => ApiError::new(
            ErrorCode::SessionClosed,
            format!("The session is {}; it takes no more changes.", status.as_str()),
            "Start a new session to keep planning.",
        ),
        SessionRefusal::StepNotCurrent { step, current } => ApiError::new(
            ErrorCode::StepNotCurrent,
            match current {
                Some(current) => format!("Step '{step}' is not the current step; the session is on '{current}'."),
                None => format!("Step '{step}' is not the current step; every step is complete."),
            },
            "Complete the current step first.",
        ),
        SessionRefusal::StepsRemain { current } => ApiError::new(
            ErrorCode::StepsIncomplete,
            format!("Not every step is complete yet; the session is on '{current}'."),
            "Complete each step (POST .../steps/{step_id}/complete), or abandon the session.",
        ),
    }
}

fn reply_refusal(transition: ReplyTransition) -> ApiError {
    match transition {
        ReplyTransition::Retry => ApiError::new(
            ErrorCode::NotRetryable,
            "Only failed or interrupted replies can be retried.",
            "Wait for the reply to finish, or send a new message.",
        ),
        ReplyTransition::Start | ReplyTransition::Finish | ReplyTransition::End | ReplyTransition::TakeOver => {
            ApiError::new(
                ErrorCode::ReplyChanged,
                "The reply changed meanwhile.",
                "Reload the conversation to see its current state.",
            )
        }
    }
}
