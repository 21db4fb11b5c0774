//! Email verification and password reset by single-use links. Tokens are random, sent only in
//! the email, and stored as their SHA-256 (like sign-in tokens); each works once, until it
//! expires (`auth.password_reset_ttl_seconds`, `auth.email_verification_ttl_hours`).
//!
//! Asking for a reset always answers 202, whether the account exists or not, and the lookup
//! and the email happen after the answer, so neither the answer nor its timing tells.

use crate::auth::{AuthError, check_new_password, hash_password, hash_token};
use crate::client::ClientAddr;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::ApiJson;
use crate::security_events::{SecurityEvent, SecurityEventKind};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use plansmith_domain::Email;
use plansmith_store::{NewEmail, NewOneTimeToken, TokenPurpose, User};
use serde::Deserialize;
use std::time::Duration;
use utoipa::ToSchema;

const HOUR: Duration = Duration::from_secs(3600);

/// What the verification and reset routes can answer besides success.
#[derive(Debug)]
pub enum RecoveryError {
    /// Unknown, used or expired.
    InvalidToken,
    Auth(AuthError),
    Common(CommonError),
}

error_family!(RecoveryError, common);

impl ErrorFamily for RecoveryError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::InvalidToken,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::InvalidToken => ApiError::new(
                ErrorCode::InvalidToken,
                "This link does not work: it was used already, has expired, or is incomplete.",
                "Ask for a new one (a password reset at POST /api/v1/auth/password-reset).",
            ),
            Self::Auth(e) => e.to_api_error(),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

impl From<AuthError> for RecoveryError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Common(e) => Self::Common(e),
            other => Self::Auth(other),
        }
    }
}

/// A new single-use token and its stored hash.
fn new_token() -> (String, Vec<u8>) {
    let bytes: [u8; 32] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

async fn store_token(
    state: &AppState,
    user: &User,
    purpose: TokenPurpose,
    ttl: Duration,
) -> Result<String, plansmith_store::StoreError> {
    let (token, token_hash) = new_token();
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    state
        .store
        .create_one_time_token(NewOneTimeToken {
            token_hash,
            user_id: user.id,
            purpose,
            expires_at: Utc::now() + ttl,
        })
        .await?;
    Ok(token)
}

/// Queues the verification email of a new account. A failure is logged: the account exists
/// and works (with the unverified budget).
pub async fn send_verification(state: &AppState, user: &User) {
    let hours = state.settings.auth.email_verification_ttl_hours;
    let queued = async {
        let token = store_token(state, user, TokenPurpose::EmailVerification, HOUR * hours as u32).await?;
        let link = state.mailer.link("/verify-email", &token);
        let email = NewEmail {
            to: user.email.clone(),
            subject: "Confirm your email for Plansmith".into(),
            body: format!(
                "Welcome to Plansmith.\n\nConfirm that this address is yours by opening this link \
                 within {hours} hours:\n\n{link}\n\n\
                 Until then your account can use the planning agent a little (a small monthly budget).\n\
                 If you did not create an account, ignore this email.\n"
            ),
            kind: "email_verification".into(),
        };
        state.mailer.queue(state.store.as_ref(), email).await
    };
    if let Err(e) = queued.await {
        tracing::error!(user = %user.id, error = %e, "cannot queue the verification email");
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    /// The token of the link in the verification email.
    pub token: String,
}

/// Confirm the account's email with the token of the verification link.
///
/// Until then the account's model budget is `llm.budgets.unverified`.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", operation_id = "verify_email",
    request_body = VerifyEmailRequest, responses((status = 204), WithJsonBody<RecoveryError>))]
pub async fn verify_email(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VerifyEmailRequest>,
) -> Result<StatusCode, RecoveryError> {
    let hash = hash_token(body.token.trim());
    let user = state
        .store
        .confirm_email(&hash, Utc::now())
        .await?
        .ok_or(RecoveryError::InvalidToken)?;
    tracing::info!(user = %user, "email verified");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    pub email: String,
}

/// Ask for a password-reset link by email.
///
/// Always 202, whether an account has this email or not. The link works once, for
/// `auth.password_reset_ttl_seconds` (30 minutes). Requests are limited per client address
/// (`auth.password_resets_per_address_per_hour`) and per account
/// (`auth.password_resets_per_account_per_hour`); over a limit the answer is still 202 and no
/// email is sent.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", operation_id = "request_password_reset",
    request_body = PasswordResetRequest, responses((status = 202), WithJsonBody<RecoveryError>))]
pub async fn request_reset(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(body): ApiJson<PasswordResetRequest>,
) -> StatusCode {
    // After the answer: the time it takes must not tell whether the account exists.
    tokio::spawn(async move {
        if let Err(e) = send_reset(&state, client, &body.email).await {
            tracing::error!(error = %e, "password reset: cannot send the link");
        }
    });
    StatusCode::ACCEPTED
}

/// Why a reset link could not be sent (only logged: the client was answered already).
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("limiter: {0}")]
    Limiter(#[from] plansmith_cache::CacheError),
    #[error("database: {0}")]
    Store(#[from] plansmith_store::StoreError),
}

async fn send_reset(state: &AppState, client: ClientAddr, email: &str) -> Result<(), SendError> {
    let auth = &state.settings.auth;
    let account = email.trim().to_lowercase();
    let limits = [
        (
            format!("reset:address:{}", client.limit_key()),
            auth.password_resets_per_address_per_hour,
        ),
        (
            format!("reset:account:{account}"),
            auth.password_resets_per_account_per_hour,
        ),
    ];
    for (key, limit) in limits {
        if state.limiter.take(&key, limit, HOUR).await?.is_some() {
            tracing::info!(key = %key, "password reset not sent: over the limit");
            return Ok(());
        }
    }
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    let Some(user) = state.store.user_by_email(&email).await? else {
        return Ok(());
    };
    let ttl = Duration::from_secs(auth.password_reset_ttl_seconds);
    let token = store_token(state, &user, TokenPurpose::PasswordReset, ttl).await?;
    let link = state.mailer.link("/reset-password", &token);
    let minutes = ttl.as_secs().div_ceil(60);
    let email = NewEmail {
        to: user.email.clone(),
        subject: "Reset your Plansmith password".into(),
        body: format!(
            "Someone (hopefully you) asked to reset the password of your Plansmith account.\n\n\
             Choose a new password with this link; it works once, within {minutes} minutes:\n\n{link}\n\n\
             Setting a new password signs out every device.\n\
             If you did not ask, ignore this email: your password stays as it is.\n"
        ),
        kind: "password_reset".into(),
    };
    state.mailer.queue(state.store.as_ref(), email).await?;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordResetConfirm {
    /// The token of the link in the reset email.
    pub token: String,
    pub new_password: String,
}

impl std::fmt::Debug for PasswordResetConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordResetConfirm").finish_non_exhaustive()
    }
}

/// Set a new password with the token of a reset link.
///
/// The token works once; every sign-in of the account ends (sign in again with the new
/// password), and the account's other reset links stop working.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", operation_id = "confirm_password_reset",
    request_body = PasswordResetConfirm, responses((status = 204), WithJsonBody<RecoveryError>))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    client: crate::client::Client,
    ApiJson(body): ApiJson<PasswordResetConfirm>,
) -> Result<StatusCode, RecoveryError> {
    let auth = &state.settings.auth;
    check_new_password(auth.min_password_chars, &body.new_password)?;
    let hash = hash_token(body.token.trim());
    let password_hash = hash_password(auth.max_queued_password_hashes, body.new_password).await?;
    let user = state
        .store
        .reset_password(&hash, &password_hash, Utc::now())
        .await?
        .ok_or(RecoveryError::InvalidToken)?;
    tracing::info!(user = %user, "password reset; every sign-in of the account revoked");
    let event = SecurityEvent::success(SecurityEventKind::PasswordChanged, &client)
        .user(user)
        .detail("reset by an emailed link; every sign-in ended");
    crate::security_events::record(&state, event).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            RecoveryError::InvalidToken,
            RecoveryError::Auth(AuthError::PasswordTooShort { min: 8 }),
            RecoveryError::Auth(AuthError::PasswordTooLong { max: 256 }),
            RecoveryError::Auth(AuthError::HashingBusy),
        ]);
    }
}
