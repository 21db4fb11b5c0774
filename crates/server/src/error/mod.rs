//! The one error shape of the API, `{"error": {"code", "message", "hint", "request_id"}}`.
//!
//! Each handler family returns its own error enum (`AuthError`, `SessionError`, ...): its
//! variants carry what happened, and its `ErrorFamily::to_api_error` words each one once as
//! an [`ApiError`] (code, message, hint). The cases every family shares — reading the
//! request, sign-in, the store's answers, failures on our side — are a [`CommonError`]
//! worded in one place. A family's `CODES` document its routes' error responses in the
//! OpenAPI document. Internal details are logged once with the request id and never shown
//! to users.

mod code;
mod common;
mod docs;

pub use code::ErrorCode;
pub use common::CommonError;
#[cfg(debug_assertions)]
pub use docs::check_documented;
pub use docs::{DocumentedErrors, ERROR_CODES_EXTENSION, error_responses};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
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
    pub code: ErrorCode,
    /// What went wrong, for a person.
    pub message: String,
    /// What to do next.
    pub hint: String,
    /// Quote this when contacting support.
    pub request_id: String,
    /// The input the error is about (a body field, query parameter or header), when it is
    /// about one: clients show the message next to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error response: a code with its words, made once by an error enum's `to_api_error`
/// and not changed afterwards. The status comes from the code.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    hint: String,
    retry_after: Option<Duration>,
    field: Option<String>,
    /// What really happened, for error tracking only (never in the body).
    cause: Option<String>,
}

/// The cause of a server error, left on its response for error tracking (the access log and
/// the error groups read it; the client never sees it).
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: hint.into(),
            retry_after: None,
            field: None,
            cause: None,
        }
    }

    /// Records what really happened, for error tracking.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// A problem with one named input (a body field, query parameter or header):
    /// `"{name}: {problem}"`.
    pub fn invalid(code: ErrorCode, name: &str, problem: impl std::fmt::Display, hint: impl Into<String>) -> Self {
        Self {
            field: Some(name.to_owned()),
            ..Self::new(code, format!("{name}: {problem}"), hint)
        }
    }

    /// An error that tells the client when to try again (`Retry-After`, whole seconds, at
    /// least one).
    pub fn retry_later(code: ErrorCode, message: impl Into<String>, hint: impl Into<String>, after: Duration) -> Self {
        Self {
            retry_after: Some(Duration::from_secs(whole_seconds(after))),
            ..Self::new(code, message, hint)
        }
    }

    /// A refusal for now, with the wait in its hint as well as in `Retry-After`.
    pub fn wait_and_retry(code: ErrorCode, message: impl Into<String>, after: Duration) -> Self {
        let hint = format!("Wait {} and try again.", human_wait(after));
        Self::retry_later(code, message, hint, after)
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> &str {
        &self.hint
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// A wait in the words a person uses: "30 seconds", "about 15 minutes", "about 2 hours".
pub fn human_wait(after: Duration) -> String {
    let seconds = whole_seconds(after);
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match seconds {
        0..=59 => plural(seconds, "second"),
        60..=3599 => format!("about {}", plural(seconds.div_ceil(60), "minute")),
        _ => format!("about {}", plural(seconds.div_ceil(3600), "hour")),
    }
}

fn whole_seconds(after: Duration) -> u64 {
    after.as_secs().max(1)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let hint = if status.is_server_error() {
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
                code: self.code,
                message: self.message,
                hint,
                request_id: current_request_id(),
                field: self.field,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&after.as_secs().to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        // For middleware (the debug check of documented codes, error tracking).
        response.extensions_mut().insert(self.code);
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(ErrorCause(cause));
        }
        response
    }
}

/// The error enum of one handler family.
pub trait ErrorFamily {
    /// Every code the family's errors can answer, the shared ones included (sign-in, not
    /// found, failures on our side). The routes' error responses in the OpenAPI document are
    /// made from this list (with [`JSON_BODY_CODES`] where a route reads JSON).
    const CODES: &'static [ErrorCode];

    /// The words of this error: the one place each variant is mapped to its code, message
    /// and hint.
    fn to_api_error(&self) -> ApiError;
}

/// The codes of reading a JSON body ([`crate::extract::ApiJson`]), answered before the
/// handler runs; documented on the routes that read one (see [`WithJsonBody`]).
pub const JSON_BODY_CODES: &[ErrorCode] = &[
    ErrorCode::MalformedJson,
    ErrorCode::UnsupportedContentType,
    ErrorCode::InvalidBody,
    ErrorCode::PayloadTooLarge,
];

/// The documented errors of a route that reads a JSON body: its family's codes and
/// [`JSON_BODY_CODES`], e.g. `responses((status = 201, body = X), WithJsonBody<SessionError>)`.
pub struct WithJsonBody<F>(std::marker::PhantomData<F>);

impl<F: ErrorFamily> utoipa::IntoResponses for WithJsonBody<F> {
    fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::response::Response>> {
        let codes: Vec<ErrorCode> = F::CODES.iter().chain(JSON_BODY_CODES).copied().collect();
        error_responses(&codes)
    }
}

/// The response of a family's error.
pub fn family_response<F: ErrorFamily>(error: &F) -> Response {
    let api = error.to_api_error();
    debug_assert!(
        F::CODES.contains(&api.code()),
        "{} answered `{}`, which its CODES do not list",
        std::any::type_name::<F>(),
        api.code().as_str()
    );
    api.into_response()
}

/// `IntoResponse` and `utoipa::IntoResponses` for an error family; with `common`, also the
/// conversions from the shared errors into its `Common(CommonError)` variant.
macro_rules! error_family {
    ($family:ty) => {
        impl ::axum::response::IntoResponse for $family {
            fn into_response(self) -> ::axum::response::Response {
                $crate::error::family_response(&self)
            }
        }

        impl ::utoipa::IntoResponses for $family {
            fn responses()
            -> ::std::collections::BTreeMap<String, ::utoipa::openapi::RefOr<::utoipa::openapi::response::Response>>
            {
                $crate::error::error_responses(<$family as $crate::error::ErrorFamily>::CODES)
            }
        }
    };
    ($family:ty, common) => {
        $crate::error::error_family!($family);

        impl From<$crate::error::CommonError> for $family {
            fn from(e: $crate::error::CommonError) -> Self {
                Self::Common(e)
            }
        }

        impl From<::plansmith_store::StoreError> for $family {
            fn from(e: ::plansmith_store::StoreError) -> Self {
                Self::Common(e.into())
            }
        }

        impl From<::plansmith_store::SessionRefusal> for $family {
            fn from(e: ::plansmith_store::SessionRefusal) -> Self {
                Self::Common(e.into())
            }
        }

        impl From<::plansmith_cache::CacheError> for $family {
            fn from(e: ::plansmith_cache::CacheError) -> Self {
                Self::Common(e.into())
            }
        }
    };
}
pub(crate) use error_family;

error_family!(CommonError);

/// Test support: checks a family's examples (one per variant) against its `CODES`, and reads
/// a response back.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Every example answers a code its family lists.
    pub fn assert_listed<F: ErrorFamily + std::fmt::Debug>(examples: &[F]) {
        for example in examples {
            let code = example.to_api_error().code();
            assert!(F::CODES.contains(&code), "{example:?} answers `{}`", code.as_str());
        }
    }

    /// Status, `Retry-After` and the `error` object of a response.
    pub async fn read(response: Response) -> (StatusCode, Option<String>, serde_json::Value) {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (status, retry_after, json["error"].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::testing::read;
    use super::*;
    use plansmith_domain::SessionStatus;
    use plansmith_store::{SessionRefusal, StoreError};

    #[test]
    fn waits_read_as_people_say_them() {
        let wait = |s: u64| human_wait(Duration::from_secs(s));
        assert_eq!(wait(0), "1 second");
        assert_eq!(wait(30), "30 seconds");
        assert_eq!(wait(60), "about 1 minute");
        assert_eq!(wait(895), "about 15 minutes");
        assert_eq!(wait(3600), "about 1 hour");
        assert_eq!(wait(7201), "about 3 hours");
    }

    #[tokio::test]
    async fn an_error_about_an_input_names_it() {
        let response = ApiError::invalid(
            ErrorCode::InvalidField,
            "title",
            "must not be empty",
            "Give it a title.",
        )
        .into_response();
        let (_, _, error) = read(response).await;
        assert_eq!(error["field"], "title");
        let response = ApiError::new(ErrorCode::NotFound, "Gone.", "Look elsewhere.").into_response();
        let (_, _, error) = read(response).await;
        assert!(error.get("field").is_none());
    }

    #[tokio::test]
    async fn the_store_refusals_are_worded_by_the_common_mapping() {
        let closed = CommonError::from(SessionRefusal::Closed(SessionStatus::Abandoned));
        let (status, retry_after, error) = read(closed.into_response()).await;
        assert_eq!((status, retry_after), (StatusCode::CONFLICT, None));
        assert_eq!(error["code"], "session_closed");
        assert_eq!(error["message"], "The session is abandoned; it takes no more changes.");
    }

    #[tokio::test]
    async fn unavailable_tells_when_to_retry_and_internal_errors_hide_their_cause() {
        let down = CommonError::from(StoreError::Unavailable("pool timed out".into()));
        let (status, retry_after, error) = read(down.into_response()).await;
        assert_eq!(
            (status, retry_after.as_deref()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("5"))
        );
        assert_eq!(error["code"], "unavailable");
        assert!(!error.to_string().contains("pool timed out"));

        let broken = CommonError::from(StoreError::Database("syntax error at or near".into()));
        let (status, _, error) = read(broken.into_response()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error["code"], "internal_error");
        assert!(!error.to_string().contains("syntax"));
        assert!(error["hint"].as_str().unwrap().contains("quote the request id"));
    }

    #[test]
    fn a_wait_is_whole_seconds_and_at_least_one() {
        let error = ApiError::wait_and_retry(ErrorCode::RateLimited, "Slow down.", Duration::from_millis(200));
        assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(error.hint(), "Wait 1 second and try again.");
        let error = ApiError::wait_and_retry(ErrorCode::Busy, "Busy.", Duration::from_millis(30_900));
        assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn common_errors_answer_only_listed_codes() {
        testing::assert_listed(&[
            CommonError::MalformedJson("EOF".into()),
            CommonError::UnsupportedContentType,
            CommonError::InvalidBody("missing field".into()),
            CommonError::UnreadableBody("reset".into()),
            CommonError::PayloadTooLarge,
            CommonError::InvalidQuery("limit".into()),
            CommonError::Unauthorized,
            CommonError::CrossSiteRequest,
            CommonError::not_found("The thing"),
            CommonError::Store(StoreError::EmailTaken),
            CommonError::Store(StoreError::Duplicate),
            CommonError::Store(StoreError::NotFound),
            CommonError::unavailable("down"),
            CommonError::internal("bug"),
        ]);
    }
}
