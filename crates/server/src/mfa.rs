//! Two-factor sign-in with TOTP (RFC 6238: 6 digits, 30-second steps, HMAC-SHA-1, as
//! authenticator apps expect): enrolment, confirmation, turning it off, the check at sign-in,
//! and the rule that admins must use it (`auth.require_mfa_for_admins`).
//!
//! A code is accepted within one step of the server's clock either way, and once: the step of
//! each accepted code is stored and codes of that step or an earlier one are refused after.

use crate::auth::{AuthError, AuthUser, verify_account_password};
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use plansmith_domain::Role;
use plansmith_store::{AccountSecurity, User};
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Secret, Totp};
use utoipa::ToSchema;

/// The issuer shown in authenticator apps.
const ISSUER: &str = "Plansmith";
/// 160 bits, the size RFC 4226 recommends for HMAC-SHA-1.
const SECRET_BYTES: usize = 20;

/// What the TOTP routes can answer besides success.
#[derive(Debug)]
pub enum MfaError {
    AlreadyEnabled,
    NotEnrolling,
    /// The code is not the current one (or was used already).
    WrongCode,
    /// Turning it off with a wrong password.
    WrongPassword,
    Common(CommonError),
}

error_family!(MfaError, common);

impl ErrorFamily for MfaError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidCredentials,
        ErrorCode::CrossSiteRequest,
        ErrorCode::MfaAlreadyEnabled,
        ErrorCode::MfaNotEnrolling,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::AlreadyEnabled => ApiError::new(
                ErrorCode::MfaAlreadyEnabled,
                "Two-factor sign-in is already on for this account.",
                "To move it to another device, turn it off (DELETE /api/v1/me/mfa/totp) and enrol again.",
            ),
            Self::NotEnrolling => ApiError::new(
                ErrorCode::MfaNotEnrolling,
                "There is no two-factor enrolment to confirm.",
                "Start one with POST /api/v1/me/mfa/totp, add the secret to your authenticator app, then confirm with its code.",
            ),
            Self::WrongCode => ApiError::invalid(
                ErrorCode::InvalidField,
                "code",
                "is not the current code of your authenticator app (or was used already)",
                "Type the 6-digit code your app shows now; if it keeps failing, check the device's clock.",
            ),
            Self::WrongPassword => ApiError::new(
                ErrorCode::InvalidCredentials,
                "The password is not correct.",
                "Type your password again; two-factor sign-in is still on.",
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

impl From<AuthError> for MfaError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Common(e) => Self::Common(e),
            other => Self::Common(CommonError::internal(format_args!("password check: {other:?}"))),
        }
    }
}

/// The TOTP of a secret, labelled with the account's email.
fn totp(secret: Vec<u8>, account: &str) -> Result<Totp, CommonError> {
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| CommonError::internal(format_args!("TOTP: {e}")))
}

fn stored_totp(secret: &str, account: &str) -> Result<Totp, CommonError> {
    let secret = Secret::try_from_base32(secret)
        .map_err(|e| CommonError::internal(format_args!("stored TOTP secret: {e:?}")))?
        .as_ref()
        .to_vec();
    totp(secret, account)
}

/// The step of `code` when it is valid now (within one step either way).
fn matching_step(totp: &Totp, code: &str) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let now = u64::try_from(Utc::now().timestamp()).ok()?;
    totp.check(&code, now).and_then(|step| i64::try_from(step).ok())
}

/// The second factor of a sign-in whose password was right: none needed when TOTP is off;
/// otherwise a valid code used for the first time.
pub async fn check_sign_in(state: &AppState, user: &User, code: Option<&str>) -> Result<(), AuthError> {
    let security = state.store.account_security(user.id).await?.unwrap_or_default();
    let Some(secret) = security.totp_secret.as_deref().filter(|_| security.totp_enabled()) else {
        return Ok(());
    };
    let code = code
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or(AuthError::MfaRequired)?;
    let step = matching_step(&stored_totp(secret, &user.email)?, code).ok_or(AuthError::MfaInvalid)?;
    if !state.store.use_totp_step(user.id, step).await? {
        return Err(AuthError::MfaInvalid);
    }
    Ok(())
}

/// Whether `user` may use the admin routes as far as two-factor sign-in goes.
pub async fn admin_may_proceed(state: &AppState, user: &User) -> Result<bool, CommonError> {
    if user.role != Role::Admin || !state.settings.auth.require_mfa_for_admins {
        return Ok(true);
    }
    let security: AccountSecurity = state.store.account_security(user.id).await?.unwrap_or_default();
    Ok(security.totp_enabled())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatus {
    /// Two-factor sign-in is on.
    pub totp_enabled: bool,
    /// An enrolment was started and not confirmed yet.
    pub totp_pending: bool,
    pub email_verified: bool,
}

/// The account's two-factor sign-in and email verification.
#[utoipa::path(get, path = "/api/v1/me/mfa", tag = "auth", operation_id = "get_mfa",
    responses((status = 200, body = MfaStatus), MfaError))]
pub async fn status(State(state): State<AppState>, auth: AuthUser) -> Result<Json<MfaStatus>, MfaError> {
    let security = state.store.account_security(auth.id()).await?.unwrap_or_default();
    Ok(Json(MfaStatus {
        totp_enabled: security.totp_enabled(),
        totp_pending: security.totp_secret.is_some() && !security.totp_enabled(),
        email_verified: security.email_verified(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The shared secret, base32 (for typing into an app). Shown only now.
    pub secret: String,
    /// `otpauth://totp/Plansmith:<email>?secret=…&issuer=Plansmith` (for a QR code).
    pub otpauth_uri: String,
}

/// Start two-factor enrolment: a new secret for an authenticator app.
///
/// The secret stays pending (sign-in does not ask for a code) until it is confirmed with a
/// code; starting again replaces a pending secret. The secret is never shown again after
/// this answer.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "auth", operation_id = "start_totp",
    responses((status = 200, body = TotpEnrolment), MfaError))]
pub async fn start(State(state): State<AppState>, auth: AuthUser) -> Result<Json<TotpEnrolment>, MfaError> {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    let totp = totp(bytes.to_vec(), &auth.user.email)?;
    let secret = totp.secret().to_base32();
    let otpauth_uri = totp
        .to_url()
        .map_err(|e| CommonError::internal(format_args!("otpauth URI: {e}")))?;
    if !state.store.start_totp(auth.id(), &secret).await? {
        return Err(MfaError::AlreadyEnabled);
    }
    Ok(Json(TotpEnrolment { secret, otpauth_uri }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TotpCode {
    /// The 6-digit code the authenticator app shows.
    pub code: String,
}

/// Confirm enrolment with a code from the app: two-factor sign-in is on from now.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "auth", operation_id = "confirm_totp",
    request_body = TotpCode, responses((status = 204), WithJsonBody<MfaError>))]
pub async fn confirm(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<TotpCode>,
) -> Result<StatusCode, MfaError> {
    let security = state.store.account_security(auth.id()).await?.unwrap_or_default();
    if security.totp_enabled() {
        return Err(MfaError::AlreadyEnabled);
    }
    let secret = security.totp_secret.ok_or(MfaError::NotEnrolling)?;
    let step = matching_step(&stored_totp(&secret, &auth.user.email)?, &body.code).ok_or(MfaError::WrongCode)?;
    if !state.store.enable_totp(auth.id(), step, Utc::now()).await? {
        return Err(MfaError::NotEnrolling);
    }
    tracing::info!(user = %auth.id(), "two-factor sign-in turned on");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct DisableTotp {
    pub password: String,
    /// A current code of the authenticator app.
    pub code: String,
}

impl std::fmt::Debug for DisableTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisableTotp").finish_non_exhaustive()
    }
}

/// Turn two-factor sign-in off (or drop a pending enrolment), with the password and a
/// current code.
#[utoipa::path(delete, path = "/api/v1/me/mfa/totp", tag = "auth", operation_id = "disable_totp",
    request_body = DisableTotp, responses((status = 204), WithJsonBody<MfaError>))]
pub async fn disable(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<DisableTotp>,
) -> Result<StatusCode, MfaError> {
    if !verify_account_password(&state, &auth.user, body.password).await? {
        return Err(MfaError::WrongPassword);
    }
    let security = state.store.account_security(auth.id()).await?.unwrap_or_default();
    let secret = security.totp_secret.ok_or(MfaError::NotEnrolling)?;
    if security.totp_enabled_at.is_some() {
        let step = matching_step(&stored_totp(&secret, &auth.user.email)?, &body.code).ok_or(MfaError::WrongCode)?;
        if !state.store.use_totp_step(auth.id(), step).await? {
            return Err(MfaError::WrongCode);
        }
    }
    state.store.disable_totp(auth.id()).await?;
    tracing::info!(user = %auth.id(), "two-factor sign-in turned off");
    Ok(StatusCode::NO_CONTENT)
}
