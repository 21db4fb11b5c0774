//! Accounts beyond signing in: a user's password change and sign-ins (listed, revoked one by
//! one or all at once), and the admin's view and changes of accounts (role, plan override,
//! disabled, revoked sign-ins). Every change is a security event.

use crate::admin::AdminUser;
use crate::auth::{
    AuthUser, MAX_PASSWORD_CHARS, common_password, hash_password, hashing_unavailable, session_cookie, verify_password,
};
use crate::client::Client;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::security_events::{self, SecurityEvent, SecurityEventKind as Kind};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use plansmith_domain::{Plan, Role, SignInId, UserId};
use plansmith_store::{SignIn, User, UserUpdate};
use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What a user's own account routes can answer besides success.
#[derive(Debug)]
pub enum AccountError {
    PasswordTooShort {
        min: usize,
    },
    PasswordTooLong {
        max: usize,
    },
    CommonPassword,
    /// The current password given with a change is not the account's.
    WrongPassword,
    /// Too many wrong current passwords in a while.
    TooManyAttempts {
        retry_after: Duration,
    },
    /// The password given to erase the account is not the account's.
    ErasurePassword,
    /// Too many wrong passwords given to erase the account in a while.
    ErasurePaused {
        retry_after: Duration,
    },
    Common(CommonError),
}

error_family!(AccountError, common);

impl ErrorFamily for AccountError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidCredentials,
        ErrorCode::CrossSiteRequest,
        ErrorCode::NotFound,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        let field = ErrorCode::InvalidField;
        match self {
            Self::PasswordTooShort { min } => ApiError::invalid(
                field,
                "new_password",
                format_args!("must be at least {min} characters"),
                "Choose a longer password.",
            ),
            Self::PasswordTooLong { max } => ApiError::invalid(
                field,
                "new_password",
                format_args!("must be at most {max} characters"),
                "Choose a shorter password.",
            ),
            Self::CommonPassword => common_password(),
            Self::WrongPassword => ApiError::new(
                ErrorCode::InvalidCredentials,
                "The current password is not correct.",
                "Type your current password again; the password was not changed.",
            ),
            Self::TooManyAttempts { retry_after } => ApiError::wait_and_retry(
                ErrorCode::RateLimited,
                "Too many wrong current passwords. Password changes are paused for a while to protect the account.",
                *retry_after,
            ),
            Self::ErasurePassword => ApiError::invalid(
                ErrorCode::InvalidCredentials,
                "password",
                "is not the account's password",
                "Type your password again; nothing was erased.",
            ),
            Self::ErasurePaused { retry_after } => ApiError::wait_and_retry(
                ErrorCode::RateLimited,
                "Too many wrong passwords. Erasing the account is paused for a while to protect it.",
                *retry_after,
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AccountErasure {
    /// The account's password, asked again before erasing it.
    pub password: String,
}

/// Erase the signed-in account and everything in it (GDPR Art. 17): sessions, messages,
/// documents with every revision, sign-ins and emails. What stays names nobody: model usage as
/// monthly totals per provider and model, and security events with only the opaque user id.
/// The password is asked again. Every sign-in of the account ends.
#[utoipa::path(delete, path = "/api/v1/me", tag = "auth", operation_id = "erase_account",
    request_body = AccountErasure, responses((status = 204), WithJsonBody<AccountError>))]
pub async fn erase_account(
    State(state): State<AppState>,
    auth: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<AccountErasure>,
) -> Result<StatusCode, AccountError> {
    reauthenticate(&state, &auth, &client, Reauth::Erasure, body.password).await?;
    if !state.store.erase_user(auth.id(), &auth.user.email).await? {
        return Err(CommonError::not_found("The account").into());
    }
    let log = std::path::PathBuf::from(&state.settings.backup.erasure_log);
    let user = auth.id();
    let recorded = {
        let log = log.clone();
        tokio::task::spawn_blocking(move || crate::erasures::record(&log, user, Utc::now()))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    };
    if let Err(e) = recorded {
        // The account is gone; without its line a restore of an older backup would bring it
        // back until it is erased again by hand.
        metrics::counter!("plansmith_erasure_log_failures_total").increment(1);
        tracing::error!(error = %e, user = %auth.id(), path = %log.display(), "could not record the erasure in the erasure log");
    }
    // Recorded after the erasure: it keeps only the opaque id.
    let mut event = SecurityEvent::success(Kind::AccountErased, &client).user(auth.id());
    event.address = None;
    security_events::record(&state, event).await;
    tracing::info!(user = %auth.id(), "account erased");
    Ok(StatusCode::NO_CONTENT)
}

/// The length rule and the list of common passwords, for a new password.
fn check_new_password(state: &AppState, password: &str) -> Result<(), AccountError> {
    let min = state.settings.auth.min_password_chars;
    let chars = password.chars().count();
    if chars < min {
        return Err(AccountError::PasswordTooShort { min });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AccountError::PasswordTooLong {
            max: MAX_PASSWORD_CHARS,
        });
    }
    if crate::common_passwords::is_common(password) {
        return Err(AccountError::CommonPassword);
    }
    Ok(())
}

/// Why the password is asked again, for the words of its refusals and events.
#[derive(Clone, Copy)]
enum Reauth {
    PasswordChange,
    Erasure,
}

/// Asks for the account's password again before a change that needs it. A stolen sign-in must
/// not become a way to guess the password: attempts are counted before the check, in one step
/// with the limit (parallel guesses cannot pass), a right password gives its attempt back, and
/// every refusal is a security event.
async fn reauthenticate(
    state: &AppState,
    auth: &AuthUser,
    client: &Client,
    purpose: Reauth,
    password: String,
) -> Result<(), AccountError> {
    let (key, paused, kind, wrong) = match purpose {
        Reauth::PasswordChange => (
            format!("password-change:user:{}", auth.id()),
            "password change paused",
            Kind::PasswordChanged,
            "wrong current password",
        ),
        Reauth::Erasure => (
            format!("erasure:user:{}", auth.id()),
            "account erasure paused",
            Kind::AccountErased,
            "wrong password",
        ),
    };
    let settings = &state.settings.auth;
    let window = Duration::from_secs(settings.failed_login_window_seconds);
    if let Some(retry_after) = state
        .limiter
        .take(&key, settings.max_failed_logins_per_account, window)
        .await?
    {
        let event = SecurityEvent::failure(Kind::Lockout, client).user(auth.id());
        security_events::record(state, event.detail(paused)).await;
        return Err(match purpose {
            Reauth::PasswordChange => AccountError::TooManyAttempts { retry_after },
            Reauth::Erasure => AccountError::ErasurePaused { retry_after },
        });
    }
    let hash = auth.user.password_hash.clone();
    if !verify_password(settings.max_queued_password_hashes, password, hash)
        .await
        .map_err(hashing_unavailable)?
    {
        let event = SecurityEvent::failure(kind, client).user(auth.id());
        security_events::record(state, event.detail(wrong)).await;
        return Err(match purpose {
            Reauth::PasswordChange => AccountError::WrongPassword,
            Reauth::Erasure => AccountError::ErasurePassword,
        });
    }
    state.limiter.give_back(&key).await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Change the password. Every other sign-in of the account is revoked; this one stays.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", operation_id = "change_password",
    request_body = PasswordChange, responses((status = 204), WithJsonBody<AccountError>))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    client: Client,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode, AccountError> {
    check_new_password(&state, &body.new_password)?;
    reauthenticate(&state, &auth, &client, Reauth::PasswordChange, body.current_password).await?;
    let max_queued = state.settings.auth.max_queued_password_hashes;
    let hash = hash_password(max_queued, body.new_password)
        .await
        .map_err(hashing_unavailable)?;
    let revoked = state.store.set_password(auth.id(), &hash, Some(auth.sign_in)).await?;
    let event = SecurityEvent::success(Kind::PasswordChanged, &client).user(auth.id());
    security_events::record(&state, event.detail(format!("{revoked} other sign-ins revoked"))).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignInView {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Recorded at most once a minute.
    pub last_used_at: DateTime<Utc>,
    /// When it stops working at the latest (it stops earlier when unused for
    /// `auth.idle_timeout_minutes`).
    pub expires_at: DateTime<Utc>,
    /// The client address it signed in from.
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// The sign-in of this request.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignInList {
    /// Newest first.
    pub items: Vec<SignInView>,
}

fn sign_in_view(sign_in: SignIn, current: SignInId) -> SignInView {
    SignInView {
        id: sign_in.id.0,
        current: sign_in.id == current,
        created_at: sign_in.created_at,
        last_used_at: sign_in.last_used_at,
        expires_at: sign_in.expires_at,
        address: sign_in.address,
        user_agent: sign_in.user_agent,
    }
}

/// The signed-in user's sign-ins that still work.
#[utoipa::path(get, path = "/api/v1/me/sign-ins", tag = "auth", operation_id = "list_sign_ins",
    responses((status = 200, body = SignInList), AccountError))]
pub async fn list_sign_ins(State(state): State<AppState>, auth: AuthUser) -> Result<Json<SignInList>, AccountError> {
    let life = state.settings.token_life(Utc::now());
    let sign_ins = state.store.list_sign_ins(auth.id(), life).await?;
    let items = sign_ins.into_iter().map(|s| sign_in_view(s, auth.sign_in)).collect();
    Ok(Json(SignInList { items }))
}

/// A response that also clears the sign-in cookie (the request's own sign-in ended).
fn signed_out(state: &AppState) -> Response {
    let cookie = session_cookie(state, "", 0);
    ([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response()
}

/// Revoke one of the signed-in user's sign-ins (revoking this request's own signs it out).
#[utoipa::path(delete, path = "/api/v1/me/sign-ins/{id}", tag = "auth", operation_id = "revoke_sign_in",
    params(("id" = Uuid, Path, description = "The sign-in's id")), responses((status = 204), AccountError))]
pub async fn revoke_sign_in(
    State(state): State<AppState>,
    auth: AuthUser,
    client: Client,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, AccountError> {
    let id = SignInId(id);
    if !state.store.revoke_sign_in(auth.id(), id).await? {
        return Err(CommonError::not_found("The sign-in").into());
    }
    let event = SecurityEvent::success(Kind::TokenRevoked, &client).user(auth.id());
    security_events::record(&state, event.detail(format!("sign-in {id} revoked by its user"))).await;
    if id == auth.sign_in {
        return Ok(signed_out(&state));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sign out everywhere: every sign-in of the user is revoked, this one included.
#[utoipa::path(post, path = "/api/v1/me/sign-ins/revoke-all", tag = "auth", operation_id = "revoke_all_sign_ins",
    responses((status = 204), AccountError))]
pub async fn revoke_all_sign_ins(
    State(state): State<AppState>,
    auth: AuthUser,
    client: Client,
) -> Result<Response, AccountError> {
    let revoked = state.store.revoke_sign_ins(auth.id(), None).await?;
    let event = SecurityEvent::success(Kind::TokenRevoked, &client).user(auth.id());
    security_events::record(
        &state,
        event.detail(format!("signed out everywhere ({revoked} sign-ins)")),
    )
    .await;
    Ok(signed_out(&state))
}

/// What the admin's account routes can answer besides success.
#[derive(Debug)]
pub enum AdminUsersError {
    InvalidLimit,
    InvalidCursor,
    UnknownRole(String),
    UnknownPlan(String),
    /// An admin removing their own admin role or disabling their own account.
    SelfLockout,
    Common(CommonError),
}

error_family!(AdminUsersError, common);

impl ErrorFamily for AdminUsersError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::InvalidQuery,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::SelfLockout,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        let field = ErrorCode::InvalidField;
        match self {
            Self::InvalidLimit => ApiError::invalid(
                ErrorCode::InvalidQuery,
                "limit",
                "must be between 1 and 200",
                "Use a limit from 1 to 200.",
            ),
            Self::InvalidCursor => ApiError::invalid(
                ErrorCode::InvalidQuery,
                "cursor",
                "is not a cursor this API returned",
                "Use next_cursor from the previous page, or leave it out.",
            ),
            Self::UnknownRole(role) => ApiError::invalid(
                field,
                "role",
                format_args!("'{role}' is not a role"),
                "Use member or admin.",
            ),
            Self::UnknownPlan(plan) => ApiError::invalid(
                field,
                "plan",
                format_args!("'{plan}' is not a plan"),
                "Use free, pro or team, or null to remove the override.",
            ),
            Self::SelfLockout => ApiError::new(
                ErrorCode::SelfLockout,
                "You cannot remove your own admin role or disable your own account.",
                "Ask another administrator to do it, so that there is always an administrator.",
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    #[schema(value_type = String, example = "member")]
    pub role: Role,
    /// The plan in force: the override when set, else the billed plan.
    #[schema(value_type = String, example = "free")]
    pub plan: Plan,
    /// Set by an admin (e.g. a complimentary account); wins over billing.
    #[schema(value_type = Option<String>, example = "pro")]
    pub plan_override: Option<Plan>,
    /// `active` or `disabled`.
    pub status: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for AccountView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.0,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role,
            plan: u.plan,
            plan_override: u.plan_override,
            status: if u.disabled { "disabled" } else { "active" }.into(),
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    /// Newest first.
    pub items: Vec<AccountView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountsQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
}

/// Every account with its role, plan and status, newest first.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", operation_id = "list_users",
    params(AccountsQuery), responses((status = 200, body = AccountList), AdminUsersError))]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<AccountsQuery>,
) -> Result<Json<AccountList>, AdminUsersError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AdminUsersError::InvalidLimit);
    }
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(cursor) => Some(UserId(
            Uuid::parse_str(cursor).map_err(|_| AdminUsersError::InvalidCursor)?,
        )),
        None => None,
    };
    let users = state.store.list_users(before, limit + 1).await?;
    let more = users.len() > limit as usize;
    let items: Vec<AccountView> = users.iter().take(limit as usize).map(AccountView::from).collect();
    let next_cursor = more.then(|| items.last().map(|u| u.id.to_string())).flatten();
    Ok(Json(AccountList { items, next_cursor }))
}

/// Reads a field that may be absent (`None`), null (`Some(None)`) or a value.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AccountChange {
    /// `member` or `admin`.
    #[serde(default)]
    pub role: Option<String>,
    /// The plan override: `free`, `pro` or `team`; null removes it; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub plan: Option<Option<String>>,
    /// `true` disables the account and revokes its sign-ins; `false` enables it again.
    #[serde(default)]
    pub disabled: Option<bool>,
}

impl AccountChange {
    fn parse(&self) -> Result<UserUpdate, AdminUsersError> {
        let role = match self.role.as_deref() {
            Some(role) => Some(Role::parse(role).ok_or_else(|| AdminUsersError::UnknownRole(role.into()))?),
            None => None,
        };
        let plan_override = match &self.plan {
            Some(Some(plan)) => Some(Some(
                Plan::parse(plan).ok_or_else(|| AdminUsersError::UnknownPlan(plan.clone()))?,
            )),
            Some(None) => Some(None),
            None => None,
        };
        Ok(UserUpdate {
            role,
            plan_override,
            disabled: self.disabled,
        })
    }
}

/// What changed, for the security log: `role member -> admin, disabled false -> true`.
fn changes(before: &User, after: &User) -> String {
    let plan = |p: Option<Plan>| p.map_or("none", Plan::as_str);
    let mut changed = Vec::new();
    if before.role != after.role {
        changed.push(format!("role {} -> {}", before.role.as_str(), after.role.as_str()));
    }
    if before.plan_override != after.plan_override {
        changed.push(format!(
            "plan override {} -> {}",
            plan(before.plan_override),
            plan(after.plan_override)
        ));
    }
    if before.disabled != after.disabled {
        changed.push(format!("disabled {} -> {}", before.disabled, after.disabled));
    }
    if changed.is_empty() {
        "no change".into()
    } else {
        changed.join(", ")
    }
}

/// Change an account's role, plan override or disabled state. Disabling revokes its sign-ins
/// at once. An admin cannot remove their own admin role or disable their own account.
#[utoipa::path(put, path = "/api/v1/admin/users/{id}", tag = "admin", operation_id = "update_user",
    params(("id" = Uuid, Path, description = "The account's id")), request_body = AccountChange,
    responses((status = 200, body = AccountView), WithJsonBody<AdminUsersError>))]
pub async fn update_user(
    State(state): State<AppState>,
    admin: AdminUser,
    client: Client,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AccountChange>,
) -> Result<Json<AccountView>, AdminUsersError> {
    let id = UserId(id);
    let update = body.parse()?;
    if id == admin.id() && (update.role == Some(Role::Member) || update.disabled == Some(true)) {
        return Err(AdminUsersError::SelfLockout);
    }
    let account = || CommonError::not_found("The account");
    let before = state.store.user_by_id(id).await?.ok_or_else(account)?;
    let after = state.store.update_user(id, update).await?.ok_or_else(account)?;
    let what = changes(&before, &after);
    let event = SecurityEvent::success(Kind::AdminAction, &client).user(admin.id());
    security_events::record(&state, event.detail(format!("account {id} ({}): {what}", after.email))).await;
    if before.role != after.role {
        let event = SecurityEvent::success(Kind::RoleChanged, &client).user(id);
        let detail = format!(
            "{} -> {} by admin {}",
            before.role.as_str(),
            after.role.as_str(),
            admin.id()
        );
        security_events::record(&state, event.detail(detail)).await;
    }
    if after.disabled && !before.disabled {
        let event = SecurityEvent::success(Kind::TokenRevoked, &client).user(id);
        security_events::record(
            &state,
            event.detail(format!("account disabled by admin {}", admin.id())),
        )
        .await;
    }
    Ok(Json(AccountView::from(&after)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedSignIns {
    pub revoked: u64,
}

/// Revoke every sign-in of an account (it must sign in again).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/revoke-sign-ins", tag = "admin",
    operation_id = "revoke_user_sign_ins", params(("id" = Uuid, Path, description = "The account's id")),
    responses((status = 200, body = RevokedSignIns), AdminUsersError))]
pub async fn revoke_user_sign_ins(
    State(state): State<AppState>,
    admin: AdminUser,
    client: Client,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RevokedSignIns>, AdminUsersError> {
    let id = UserId(id);
    let user = state
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| CommonError::not_found("The account"))?;
    let revoked = state.store.revoke_sign_ins(id, None).await?;
    let event = SecurityEvent::success(Kind::AdminAction, &client).user(admin.id());
    let detail = format!("account {id} ({}): {revoked} sign-ins revoked", user.email);
    security_events::record(&state, event.detail(detail)).await;
    let event = SecurityEvent::success(Kind::TokenRevoked, &client).user(id);
    security_events::record(
        &state,
        event.detail(format!("{revoked} sign-ins revoked by admin {}", admin.id())),
    )
    .await;
    Ok(Json(RevokedSignIns { revoked }))
}

/// How often expired and idle sign-ins are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Deletes the sign-ins that no longer work (expired, or idle too long) at start and every
/// ten minutes, until `stop` turns true (or its sender is gone). Every instance runs it; the
/// deletes are idempotent.
pub async fn purge_tokens(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let life = state.settings.token_life(Utc::now());
        match state.store.purge_auth_tokens(life).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired sign-ins deleted"),
            Err(e) => tracing::warn!(error = %e, "expired sign-ins could not be deleted; trying again later"),
        }
        tokio::select! {
            () = tokio::time::sleep(PURGE_EVERY) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            AccountError::PasswordTooShort { min: 8 },
            AccountError::PasswordTooLong { max: 256 },
            AccountError::CommonPassword,
            AccountError::WrongPassword,
            AccountError::TooManyAttempts {
                retry_after: Duration::from_secs(60),
            },
            CommonError::not_found("The sign-in").into(),
            CommonError::CrossSiteRequest.into(),
        ]);
        assert_listed(&[
            AdminUsersError::InvalidLimit,
            AdminUsersError::InvalidCursor,
            AdminUsersError::UnknownRole("owner".into()),
            AdminUsersError::UnknownPlan("gold".into()),
            AdminUsersError::SelfLockout,
            CommonError::not_found("The account").into(),
        ]);
    }

    #[test]
    fn a_change_reads_absent_null_and_values_apart() {
        let parse = |json: &str| serde_json::from_str::<AccountChange>(json).unwrap().parse();
        assert_eq!(parse("{}").unwrap(), UserUpdate::default());
        let update = parse(r#"{"plan": null, "role": "admin", "disabled": true}"#).unwrap();
        assert_eq!(
            update,
            UserUpdate {
                role: Some(Role::Admin),
                plan_override: Some(None),
                disabled: Some(true),
            }
        );
        assert_eq!(
            parse(r#"{"plan": "pro"}"#).unwrap().plan_override,
            Some(Some(Plan::Pro))
        );
        assert!(matches!(
            parse(r#"{"plan": "gold"}"#),
            Err(AdminUsersError::UnknownPlan(_))
        ));
        assert!(matches!(
            parse(r#"{"role": "owner"}"#),
            Err(AdminUsersError::UnknownRole(_))
        ));
    }
}
