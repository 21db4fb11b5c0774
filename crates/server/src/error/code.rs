//! Every code the API can answer with, each with its one HTTP status. Clients (the web app,
//! tests) match on these strings, so a code once published never changes its spelling.

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// One table: variant, its wire spelling, its status. The enum, `ALL`, `as_str` and `status`
/// are generated from it. (serde and utoipa spell the variants by `rename_all`: utoipa does
/// not read a `rename` given through a macro; a test checks the spellings agree.)
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal => $status:ident,)+) => {
        /// Stable machine-readable code of an error response, e.g. `not_found`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order of the table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as it appears in response bodies.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                }
            }

            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)+
                }
            }
        }
    };
}

error_codes! {
    /// A field of the request body breaks a rule (the message names it).
    InvalidField = "invalid_field" => BAD_REQUEST,
    /// A query parameter is malformed or out of range.
    InvalidQuery = "invalid_query" => BAD_REQUEST,
    /// A request header is malformed.
    InvalidHeader = "invalid_header" => BAD_REQUEST,
    /// The body is JSON of the wrong shape, or otherwise unusable.
    InvalidBody = "invalid_body" => BAD_REQUEST,
    /// The body is not JSON.
    MalformedJson = "malformed_json" => BAD_REQUEST,
    /// The body is not declared as JSON.
    UnsupportedContentType = "unsupported_content_type" => BAD_REQUEST,
    /// No valid session token.
    Unauthorized = "unauthorized" => UNAUTHORIZED,
    /// Sign-in with a wrong email or password.
    InvalidCredentials = "invalid_credentials" => UNAUTHORIZED,
    /// Sign-in with the right password to an account with two-factor sign-in on, without a
    /// `totp` code.
    MfaRequired = "mfa_required" => UNAUTHORIZED,
    /// Sign-in with a wrong (or already used) two-factor code.
    MfaInvalid = "mfa_invalid" => UNAUTHORIZED,
    /// An admin who must use two-factor sign-in (`auth.require_mfa_for_admins`) has not
    /// turned it on yet.
    MfaEnrolmentRequired = "mfa_enrolment_required" => FORBIDDEN,
    /// A password-reset or email-verification token that is unknown, used or expired.
    InvalidToken = "invalid_token" => BAD_REQUEST,
    /// Sign-in with the right password to an account an administrator disabled.
    AccountDisabled = "account_disabled" => UNAUTHORIZED,
    /// A change signed in by the cookie that did not come from the app's own origin (CSRF).
    CrossSiteRequest = "cross_site_request" => FORBIDDEN,
    /// Signed in, but without the role this needs.
    Forbidden = "forbidden" => FORBIDDEN,
    /// The record does not exist or belongs to someone else.
    NotFound = "not_found" => NOT_FOUND,
    /// No route has this path.
    RouteNotFound = "route_not_found" => NOT_FOUND,
    /// The binary was built without the web app.
    WebAppNotBuilt = "web_app_not_built" => NOT_FOUND,
    /// The route exists, but not with this method.
    MethodNotAllowed = "method_not_allowed" => METHOD_NOT_ALLOWED,
    EmailTaken = "email_taken" => CONFLICT,
    AlreadyExists = "already_exists" => CONFLICT,
    /// Two-factor sign-in is already on (turn it off first to enrol again).
    MfaAlreadyEnabled = "mfa_already_enabled" => CONFLICT,
    /// Confirming two-factor sign-in that was not started (or is already on).
    MfaNotEnrolling = "mfa_not_enrolling" => CONFLICT,
    /// The document moved on since the base revision.
    RevisionConflict = "revision_conflict" => CONFLICT,
    /// The session is completed or abandoned.
    SessionClosed = "session_closed" => CONFLICT,
    StepNotCurrent = "step_not_current" => CONFLICT,
    /// Completing a session whose steps are not all complete.
    StepsIncomplete = "steps_incomplete" => CONFLICT,
    /// Completing a step whose document still has empty sections.
    StepIncomplete = "step_incomplete" => CONFLICT,
    NotRetryable = "not_retryable" => CONFLICT,
    /// An administrator removing their own admin role or disabling their own account.
    SelfLockout = "self_lockout" => CONFLICT,
    /// The reply changed while the request was handled.
    ReplyChanged = "reply_changed" => CONFLICT,
    /// Deleting a session while the agent is still writing a reply in it.
    ReplyInProgress = "reply_in_progress" => CONFLICT,
    PayloadTooLarge = "payload_too_large" => PAYLOAD_TOO_LARGE,
    /// Too many attempts; see `Retry-After`.
    RateLimited = "rate_limited" => TOO_MANY_REQUESTS,
    /// The planning agent's queue is full; see `Retry-After`.
    Busy = "busy" => TOO_MANY_REQUESTS,
    /// A per-user cap is reached (active sessions, open reply streams, replies waiting for
    /// the agent, requests per minute); the message names it.
    LimitReached = "limit_reached" => TOO_MANY_REQUESTS,
    /// The plan's monthly budget is used up; `Retry-After` points at its reset.
    OverBudget = "over_budget" => TOO_MANY_REQUESTS,
    InternalError = "internal_error" => INTERNAL_SERVER_ERROR,
    /// A dependency is down or the server is shutting down; see `Retry-After`.
    Unavailable = "unavailable" => SERVICE_UNAVAILABLE,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_table_spelling() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn codes_are_unique_and_errors() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert!(code.status().as_u16() >= 400, "{code:?}");
        }
    }
}
