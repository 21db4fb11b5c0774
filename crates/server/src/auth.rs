//! Accounts: registration, sign-in with brute-force limits, sign-out, and the `AuthUser`
//! extractor (Bearer token or HttpOnly cookie; tokens are random and stored hashed).

use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use plansmith_domain::{Email, Plan, Role, UserId};
use plansmith_store::{NewUser, User};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;
use utoipa::ToSchema;

pub const COOKIE_NAME: &str = "plansmith_session";
const TOKEN_PREFIX: &str = "ps_";

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: uuid::Uuid,
    pub email: String,
    pub name: Option<String>,
    #[schema(value_type = String, example = "free")]
    pub plan: Plan,
    #[schema(value_type = String, example = "member")]
    pub role: Role,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.0,
            email: u.email.clone(),
            name: u.name.clone(),
            plan: u.plan,
            role: u.role,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: UserView,
    /// Send as `Authorization: Bearer <token>`; also set as an HttpOnly cookie.
    pub token: String,
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    token_hash: Vec<u8>,
}

impl AuthUser {
    pub fn id(&self) -> UserId {
        self.user.id
    }
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn bearer_or_cookie(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_or_cookie(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
            return Err(ApiError::unauthorized());
        }
        let token_hash = hash_token(&token);
        let user = state
            .store
            .user_by_token(&token_hash, Utc::now())
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Self { user, token_hash })
    }
}

/// Password hashing is slow and takes 19 MiB per hash on purpose. It runs on a few threads of
/// its own, one per core: more at once would only queue CPU work while each held its 19 MiB
/// (with a blocking thread per request, a burst of sign-ups took memory per request).
struct Hashers {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

static HASHERS: std::sync::LazyLock<Hashers> = std::sync::LazyLock::new(|| {
    let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    for n in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
        let rx = std::sync::Arc::clone(&rx);
        let spawned = std::thread::Builder::new()
            .name(format!("password-hash-{n}"))
            .spawn(move || {
                loop {
                    let job = rx.lock().map_err(|_| ()).and_then(|rx| rx.recv().map_err(|_| ()));
                    match job {
                        Ok(job) => job(),
                        Err(()) => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password hashing thread");
        }
    }
    Hashers {
        jobs: std::sync::Mutex::new(tx),
    }
});

/// Runs `work` on a hashing thread.
async fn on_hasher<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = tx.send(work());
    });
    HASHERS
        .jobs
        .lock()
        .map_err(|_| ApiError::internal("hashing queue poisoned"))?
        .send(job)
        .map_err(ApiError::internal)?;
    rx.await.map_err(ApiError::internal)
}

async fn hash_password(password: String) -> ApiResult<String> {
    on_hasher(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await?
    .map_err(ApiError::internal)
}

async fn verify_password(password: String, hash: String) -> ApiResult<bool> {
    on_hasher(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| e.to_string())?;
        Ok::<bool, String>(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await?
    .map_err(ApiError::internal)
}

/// A hash verified against when the account does not exist, so that sign-in takes as long for
/// unknown emails as for wrong passwords. Made once, on a hashing thread.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn dummy_hash() -> ApiResult<String> {
    DUMMY_HASH
        .get_or_try_init(|| hash_password("plansmith-timing-equaliser".into()))
        .await
        .cloned()
}

async fn issue_token(state: &AppState, user: &User) -> ApiResult<Response> {
    let bytes: [u8; 32] = rand::random();
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let ttl = chrono::Duration::hours(i64::from(state.settings.auth.token_ttl_hours));
    state
        .store
        .create_auth_token(&hash_token(&token), user.id, Utc::now() + ttl)
        .await?;
    let secure = if state.settings.http.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        ttl.num_seconds()
    );
    let body = AuthResponse {
        user: user.into(),
        token,
    };
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    Ok(response)
}

fn invalid_field(field: &str, problem: impl Into<String>, hint: &str) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {}", problem.into()), hint)
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn register(State(state): State<AppState>, ApiJson(body): ApiJson<RegisterRequest>) -> ApiResult<Response> {
    let email =
        Email::parse(&body.email).map_err(|e| invalid_field("email", e, "Use an address like ada@example.com."))?;
    let min = state.settings.auth.min_password_chars;
    let chars = body.password.chars().count();
    if chars < min {
        return Err(invalid_field(
            "password",
            format!("must be at least {min} characters"),
            "Choose a longer password.",
        ));
    }
    if chars > 256 {
        return Err(invalid_field(
            "password",
            "must be at most 256 characters",
            "Choose a shorter password.",
        ));
    }
    let name = body.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 100) {
        return Err(invalid_field(
            "name",
            "must be at most 100 characters",
            "Use a shorter name.",
        ));
    }
    let password_hash = hash_password(body.password).await?;
    let user = state
        .store
        .create_user(NewUser {
            email,
            name,
            password_hash,
        })
        .await?;
    let mut response = issue_token(&state, &user).await?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// Sign in. Repeated failures for one account or from one address are refused for a while.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let auth = &state.settings.auth;
    let window = Duration::from_secs(auth.failed_login_window_seconds);
    let account_key = format!("login-fail:account:{}", body.email.trim().to_lowercase());
    let ip_key = format!("login-fail:ip:{}", peer.ip());
    for (key, limit) in [
        (&account_key, auth.max_failed_logins_per_account),
        (&ip_key, auth.max_failed_logins_per_ip),
    ] {
        if let Some(wait) = state.limiter.blocked_for(key, limit).await? {
            return Err(ApiError::too_many(
                "Too many failed sign-in attempts. Sign-in is paused for a while to protect the account.",
                wait,
            ));
        }
    }
    let user = match Email::parse(&body.email) {
        Ok(email) => state.store.user_by_email(&email).await?,
        Err(_) => None,
    };
    let hash = match &user {
        Some(u) => u.password_hash.clone(),
        None => dummy_hash().await?,
    };
    let valid = verify_password(body.password, hash).await? && user.is_some();
    let Some(user) = user.filter(|_| valid) else {
        state.limiter.hit(&account_key, window).await?;
        state.limiter.hit(&ip_key, window).await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "The email or password is not correct.",
            "Check both and try again, or register if you have no account yet.",
        ));
    };
    issue_token(&state, &user).await
}

/// Sign out: the token stops working and the cookie is cleared.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = crate::error::ErrorBody)))]
pub async fn logout(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    state.store.delete_auth_token(&auth.token_hash).await?;
    let cookie = format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = UserView), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(auth: AuthUser) -> axum::Json<UserView> {
    axum::Json((&auth.user).into())
}
