//! Accounts: registration, sign-in with brute-force limits, sign-out, and the `AuthUser`
//! extractor (Bearer token or HttpOnly cookie; tokens are random and stored hashed).

use crate::client::Client;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::ApiJson;
use crate::security_events::{self, SecurityEvent, SecurityEventKind as Kind};
use crate::state::AppState;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use plansmith_domain::{Email, Plan, Role, SignInId, UserId};
use plansmith_store::{NewSignIn, NewUser, User};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;
use utoipa::ToSchema;

/// The sign-in cookie's name over plain HTTP, and when it is `Secure`: the `__Host-` prefix
/// makes browsers refuse it unless it is `Secure`, has `Path=/` and no `Domain`, so another
/// host (a sibling subdomain, or plain HTTP) cannot set or shadow it.
pub const COOKIE_NAME: &str = "plansmith_session";
pub const SECURE_COOKIE_NAME: &str = "__Host-plansmith_session";

/// The name the sign-in cookie is set and read under.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE_NAME } else { COOKIE_NAME }
}
const TOKEN_PREFIX: &str = "ps_";

/// What registration, sign-in and sign-out can answer besides success.
#[derive(Debug)]
pub enum AuthError {
    /// The email is not an address; the parser's reason.
    InvalidEmail(String),
    PasswordTooShort {
        min: usize,
    },
    PasswordTooLong {
        max: usize,
    },
    /// The password is on the list of the most common passwords.
    CommonPassword,
    NameTooLong {
        max: usize,
    },
    InvalidCredentials,
    /// The right password, but an administrator disabled the account.
    AccountDisabled,
    /// Too many failed sign-ins for the account or from the address.
    SignInPaused {
        retry_after: Duration,
    },
    Common(CommonError),
}

error_family!(AuthError, common);

impl ErrorFamily for AuthError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidCredentials,
        ErrorCode::AccountDisabled,
        ErrorCode::CrossSiteRequest,
        ErrorCode::EmailTaken,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        let field = ErrorCode::InvalidField;
        match self {
            Self::InvalidEmail(reason) => {
                ApiError::invalid(field, "email", reason, "Use an address like ada@example.com.")
            }
            Self::PasswordTooShort { min } => ApiError::invalid(
                field,
                "password",
                format_args!("must be at least {min} characters"),
                "Choose a longer password.",
            ),
            Self::PasswordTooLong { max } => ApiError::invalid(
                field,
                "password",
                format_args!("must be at most {max} characters"),
                "Choose a shorter password.",
            ),
            Self::CommonPassword => common_password(),
            Self::NameTooLong { max } => ApiError::invalid(
                field,
                "name",
                format_args!("must be at most {max} characters"),
                "Use a shorter name.",
            ),
            Self::InvalidCredentials => ApiError::new(
                ErrorCode::InvalidCredentials,
                "The email or password is not correct.",
                "Check both and try again, or register if you have no account yet.",
            ),
            Self::AccountDisabled => ApiError::new(
                ErrorCode::AccountDisabled,
                "This account has been disabled by an administrator.",
                "Contact support if you think this is a mistake.",
            ),
            Self::SignInPaused { retry_after } => ApiError::wait_and_retry(
                ErrorCode::RateLimited,
                "Too many failed sign-in attempts. Sign-in is paused for a while to protect the account.",
                *retry_after,
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

/// The refusal of a password on the list of common ones (registration, password changes).
pub(crate) fn common_password() -> ApiError {
    ApiError::invalid(
        ErrorCode::InvalidField,
        "password",
        "is one of the most common passwords",
        "Choose a password that is not on lists of common passwords, e.g. a few unrelated words.",
    )
}

pub(crate) const MAX_PASSWORD_CHARS: usize = 256;
const MAX_NAME_CHARS: usize = 100;

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
    /// Which of the user's sign-ins the request came with.
    pub sign_in: SignInId,
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

/// How a request presents its token.
#[derive(Debug, PartialEq, Eq)]
enum Credential {
    Bearer(String),
    /// The sign-in cookie, which browsers attach by themselves: writes need a same-origin check.
    Cookie(String),
}

fn bearer_or_cookie(headers: &HeaderMap, cookie_name: &str) -> Option<Credential> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| Credential::Bearer(token.trim().to_owned()));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie_name)
        .map(|(_, value)| Credential::Cookie(value.to_owned()))
}

/// Cross-site request forgery: a write (POST, PUT, PATCH, DELETE) signed in by the cookie must
/// come from the app's own origin. It is when the browser says so (`Sec-Fetch-Site:
/// same-origin`, or `none` for what the user did directly), or when `Origin` names the host
/// the request was sent to (its `Host`; `X-Forwarded-*` are not trusted). A request with
/// neither header is let through: browsers send at least one of them on every cross-site
/// POST, so such a request comes from a client that is not a browser (curl, a script), which a
/// forged request cannot be. Reads are not checked; they change nothing.
fn same_origin_write(parts: &Parts) -> bool {
    if !matches!(
        parts.method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return true;
    }
    let header = |name: &str| parts.headers.get(name).map(|v| v.to_str().unwrap_or_default().trim());
    let fetch_site = header("sec-fetch-site");
    if fetch_site.is_some_and(|site| site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none")) {
        return true;
    }
    let host = header(header::HOST.as_str()).or_else(|| parts.uri.authority().map(|a| a.as_str()));
    match header(header::ORIGIN.as_str()) {
        Some(origin) => host.is_some_and(|host| origin_is_host(origin, host)),
        None => fetch_site.is_none(),
    }
}

/// Whether an `Origin` (`scheme://host[:port]`) names this host and port (`Host`, whose port
/// when absent is the default of the origin's scheme).
fn origin_is_host(origin: &str, host: &str) -> bool {
    let Ok(origin) = origin.parse::<Uri>() else {
        return false;
    };
    let (Some(scheme), Some(origin), Ok(host)) = (origin.scheme_str(), origin.authority(), host.parse::<Authority>())
    else {
        return false;
    };
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    origin.host().eq_ignore_ascii_case(host.host())
        && origin.port_u16().unwrap_or(default_port) == host.port_u16().unwrap_or(default_port)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = CommonError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let cookie_name = cookie_name(state.settings.secure_cookies());
        let token = match bearer_or_cookie(&parts.headers, cookie_name).ok_or(CommonError::Unauthorized)? {
            Credential::Bearer(token) => token,
            Credential::Cookie(_) if !same_origin_write(parts) => return Err(CommonError::CrossSiteRequest),
            Credential::Cookie(token) => token,
        };
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
            return Err(CommonError::Unauthorized);
        }
        let token_hash = hash_token(&token);
        let owner = state
            .store
            .user_by_token(&token_hash, state.settings.token_life(Utc::now()))
            .await?
            .ok_or(CommonError::Unauthorized)?;
        Ok(Self {
            user: owner.user,
            sign_in: owner.sign_in,
            token_hash,
        })
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
async fn on_hasher<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, CommonError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = tx.send(work());
    });
    HASHERS
        .jobs
        .lock()
        .map_err(|_| CommonError::internal("hashing queue poisoned"))?
        .send(job)
        .map_err(CommonError::internal)?;
    rx.await.map_err(CommonError::internal)
}

pub(crate) async fn hash_password(password: String) -> Result<String, CommonError> {
    on_hasher(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await?
    .map_err(CommonError::internal)
}

pub(crate) async fn verify_password(password: String, hash: String) -> Result<bool, CommonError> {
    on_hasher(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| e.to_string())?;
        Ok::<bool, String>(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await?
    .map_err(CommonError::internal)
}

/// A hash verified against when the account does not exist, so that sign-in takes as long for
/// unknown emails as for wrong passwords. Made once, on a hashing thread.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn dummy_hash() -> Result<String, CommonError> {
    DUMMY_HASH
        .get_or_try_init(|| hash_password("plansmith-timing-equaliser".into()))
        .await
        .cloned()
}

/// The `Set-Cookie` value of the sign-in cookie (`Max-Age=0` clears it).
pub(crate) fn session_cookie(state: &AppState, token: &str, max_age: i64) -> String {
    let secure = state.settings.secure_cookies();
    let (name, attribute) = (cookie_name(secure), if secure { "; Secure" } else { "" });
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{attribute}")
}

async fn issue_token(state: &AppState, user: &User, client: &Client) -> Result<Response, CommonError> {
    let bytes: [u8; 32] = rand::random();
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let ttl = chrono::Duration::hours(i64::from(state.settings.auth.token_ttl_hours));
    let sign_in = NewSignIn {
        token_hash: hash_token(&token),
        user_id: user.id,
        expires_at: Utc::now() + ttl,
        address: client.address_text(),
        user_agent: client.user_agent.clone(),
    };
    state.store.create_auth_token(sign_in).await?;
    let cookie = session_cookie(state, &token, ttl.num_seconds());
    let body = AuthResponse {
        user: user.into(),
        token,
    };
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(CommonError::internal)?,
    );
    Ok(response)
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", operation_id = "register", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse), WithJsonBody<AuthError>))]
pub async fn register(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Response, AuthError> {
    let email = Email::parse(&body.email).map_err(|e| AuthError::InvalidEmail(e.to_string()))?;
    let min = state.settings.auth.min_password_chars;
    let chars = body.password.chars().count();
    if chars < min {
        return Err(AuthError::PasswordTooShort { min });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AuthError::PasswordTooLong {
            max: MAX_PASSWORD_CHARS,
        });
    }
    if crate::common_passwords::is_common(&body.password) {
        return Err(AuthError::CommonPassword);
    }
    let name = body.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME_CHARS) {
        return Err(AuthError::NameTooLong { max: MAX_NAME_CHARS });
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
    let mut response = issue_token(&state, &user, &client).await?;
    security_events::record(&state, SecurityEvent::success(Kind::SignUp, &client).user(user.id)).await;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// Sign in. Repeated failures for one account or from one address are refused for a while.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", operation_id = "login", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), WithJsonBody<AuthError>))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    client: Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, AuthError> {
    let auth = &state.settings.auth;
    let window = Duration::from_secs(auth.failed_login_window_seconds);
    let account_key = format!("login-fail:account:{}", body.email.trim().to_lowercase());
    let ip_key = format!("login-fail:ip:{}", peer.ip());
    for (key, limit) in [
        (&account_key, auth.max_failed_logins_per_account),
        (&ip_key, auth.max_failed_logins_per_ip),
    ] {
        if let Some(retry_after) = state.limiter.blocked_for(key, limit).await? {
            security_events::record(
                &state,
                SecurityEvent::failure(Kind::Lockout, &client).detail(key.as_str()),
            )
            .await;
            return Err(AuthError::SignInPaused { retry_after });
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
    let known = user.as_ref().map(|u| u.id);
    let Some(user) = user.filter(|_| valid) else {
        security_events::record(&state, sign_in_failed(&client, known, "wrong email or password")).await;
        state.limiter.hit(&account_key, window).await?;
        state.limiter.hit(&ip_key, window).await?;
        return Err(AuthError::InvalidCredentials);
    };
    if user.disabled {
        security_events::record(&state, sign_in_failed(&client, Some(user.id), "account disabled")).await;
        return Err(AuthError::AccountDisabled);
    }
    let response = issue_token(&state, &user, &client).await?;
    security_events::record(&state, SecurityEvent::success(Kind::SignIn, &client).user(user.id)).await;
    Ok(response)
}

/// A failed sign-in, of the account when it exists.
fn sign_in_failed(client: &Client, user: Option<UserId>, why: &str) -> SecurityEvent {
    let event = SecurityEvent::failure(Kind::SignInFailed, client).detail(why);
    match user {
        Some(user) => event.user(user),
        None => event,
    }
}

/// Sign out: the token stops working and the cookie is cleared.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", operation_id = "logout",
    responses((status = 204), AuthError))]
pub async fn logout(State(state): State<AppState>, auth: AuthUser, client: Client) -> Result<Response, AuthError> {
    state.store.delete_auth_token(&auth.token_hash).await?;
    let event = SecurityEvent::success(Kind::TokenRevoked, &client).user(auth.id());
    security_events::record(&state, event.detail(format!("signed out (sign-in {})", auth.sign_in))).await;
    let cookie = session_cookie(&state, "", 0);
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", operation_id = "get_me",
    responses((status = 200, body = UserView), AuthError))]
pub async fn me(auth: AuthUser) -> axum::Json<UserView> {
    axum::Json((&auth.user).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::{assert_listed, read};
    use plansmith_store::StoreError;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            AuthError::InvalidEmail("no @".into()),
            AuthError::PasswordTooShort { min: 8 },
            AuthError::PasswordTooLong { max: 256 },
            AuthError::CommonPassword,
            AuthError::NameTooLong { max: 100 },
            AuthError::InvalidCredentials,
            AuthError::AccountDisabled,
            AuthError::SignInPaused {
                retry_after: Duration::from_secs(60),
            },
            StoreError::EmailTaken.into(),
            CommonError::Unauthorized.into(),
            CommonError::CrossSiteRequest.into(),
        ]);
    }

    fn write(headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::post("/api/v1/sessions");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn cookie_writes_must_come_from_the_same_origin() {
        let host = ("host", "plans.example:8443");
        for allowed in [
            vec![host, ("sec-fetch-site", "same-origin")],
            vec![host, ("sec-fetch-site", "none")],
            vec![host, ("origin", "https://plans.example:8443")],
            vec![("host", "plans.example"), ("origin", "https://PLANS.example")],
            vec![("host", "plans.example:443"), ("origin", "https://plans.example")],
            vec![host],
        ] {
            assert!(same_origin_write(&write(&allowed)), "{allowed:?}");
        }
        for refused in [
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![host, ("origin", "https://evil.example")],
            vec![host, ("origin", "https://plans.example")],
            vec![host, ("origin", "https://plans.example:8443.evil.example")],
            vec![host, ("origin", "null")],
            vec![("origin", "https://plans.example:8443")],
            vec![
                host,
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ],
        ] {
            assert!(!same_origin_write(&write(&refused)), "{refused:?}");
        }
        let mut read = write(&[host, ("origin", "https://evil.example")]);
        read.method = Method::GET;
        assert!(same_origin_write(&read));
    }

    #[test]
    fn the_cookie_is_read_under_the_name_it_is_set_with() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; __Host-plansmith_session=ps_x"),
        );
        assert_eq!(
            bearer_or_cookie(&headers, cookie_name(true)),
            Some(Credential::Cookie("ps_x".into()))
        );
        assert_eq!(bearer_or_cookie(&headers, cookie_name(false)), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer ps_y"));
        assert_eq!(
            bearer_or_cookie(&headers, cookie_name(true)),
            Some(Credential::Bearer("ps_y".into()))
        );
    }

    #[tokio::test]
    async fn paused_sign_in_is_rate_limited_with_retry_after() {
        let paused = AuthError::SignInPaused {
            retry_after: Duration::from_millis(59_400),
        };
        let (status, retry_after, error) = read(paused.into_response()).await;
        assert_eq!(
            (status, retry_after.as_deref()),
            (StatusCode::TOO_MANY_REQUESTS, Some("59"))
        );
        assert_eq!(error["code"], "rate_limited");
    }
}
