//! Accounts: registration, sign-in with brute-force limits, sign-out, and the `AuthUser`
//! extractor (Bearer token or HttpOnly cookie; tokens are random and stored hashed).

use crate::client::{Client, ClientAddr};
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::ApiJson;
use crate::security_events::{self, SecurityEvent, SecurityEventKind as Kind};
use crate::state::AppState;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{FromRequestParts, State};
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
    /// Too many accounts created from the client's address (or by everyone, `everyone`).
    SignUpPaused {
        retry_after: Duration,
        everyone: bool,
    },
    /// Every password-hashing slot is taken; the client should come back shortly.
    HashingBusy,
    /// The password was right, but the account has two-factor sign-in on and no code came.
    MfaRequired,
    /// The password was right, the two-factor code not (or it was used already).
    MfaInvalid,
    Common(CommonError),
}

error_family!(AuthError, common);

impl ErrorFamily for AuthError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidCredentials,
        ErrorCode::MfaRequired,
        ErrorCode::MfaInvalid,
        ErrorCode::AccountDisabled,
        ErrorCode::CrossSiteRequest,
        ErrorCode::EmailTaken,
        ErrorCode::RateLimited,
        ErrorCode::LimitReached,
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
            Self::SignUpPaused {
                retry_after,
                everyone: false,
            } => ApiError::wait_and_retry(
                ErrorCode::RateLimited,
                "Too many accounts were created from your network recently.",
                *retry_after,
            ),
            Self::SignUpPaused {
                retry_after,
                everyone: true,
            } => ApiError::wait_and_retry(
                ErrorCode::RateLimited,
                "Plansmith is taking more sign-ups than it can right now.",
                *retry_after,
            ),
            Self::HashingBusy => ApiError::retry_later(
                ErrorCode::Unavailable,
                "The server is busy checking other passwords.",
                "Try again in a few seconds.",
                HASHING_RETRY_AFTER,
            ),
            Self::MfaRequired => ApiError::new(
                ErrorCode::MfaRequired,
                "This account signs in with a second factor.",
                "Send the sign-in again with `totp`: the 6-digit code of your authenticator app.",
            ),
            Self::MfaInvalid => ApiError::new(
                ErrorCode::MfaInvalid,
                "The two-factor code is not correct, or was used already.",
                "Type the code your authenticator app shows now (each code works once); if it keeps failing, check the device's clock.",
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
    /// Where the person came from (`utm_source` of the page they arrived on): their sign-up
    /// channel in the analytics; `direct` when absent.
    #[serde(default)]
    pub utm_source: Option<String>,
}

/// The sign-up channel: `utm_source` lower-cased, letters, digits, `-`, `_` and `.` only, at
/// most 40 characters; `direct` when none is left.
pub fn signup_channel(utm_source: Option<&str>) -> String {
    let channel: String = utm_source
        .unwrap_or("")
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    if channel.is_empty() { "direct".into() } else { channel }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The current code of the authenticator app, for accounts with two-factor sign-in on.
    #[serde(default)]
    pub totp: Option<String>,
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

pub(crate) fn hash_token(token: &str) -> Vec<u8> {
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
        // Per user and per minute, on every instance (one counter in Redis when shared).
        let limit = state.settings.limits.requests_per_user_per_minute;
        let key = format!("requests:user:{}", owner.user.id);
        match state.limiter.take(&key, limit, Duration::from_secs(60)).await {
            Ok(Some(retry_after)) => return Err(CommonError::RequestRate { limit, retry_after }),
            Ok(None) => {}
            Err(e) => crate::holds::unchecked("limits.requests_per_user_per_minute", &e),
        }
        if let Some(slot) = parts.extensions.get::<crate::monitoring::RequestUser>() {
            slot.set(owner.user.id);
        }
        Ok(Self {
            user: owner.user,
            sign_in: owner.sign_in,
            token_hash,
        })
    }
}

/// Password hashing is slow and takes 19 MiB per hash on purpose. It runs on a few threads of
/// its own, one per core: more at once would only queue CPU work while each held its 19 MiB
/// (with a blocking thread per request, a burst of sign-ups took memory per request). The
/// queue in front of them is bounded (`auth.max_queued_password_hashes`): a flood of sign-ins
/// is refused at once instead of making every later one wait behind it.
struct Hashers {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    /// Jobs sent and not yet finished.
    queued: std::sync::atomic::AtomicUsize,
}

/// How long a client refused for a full hashing queue is asked to wait.
const HASHING_RETRY_AFTER: Duration = Duration::from_secs(2);

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
        queued: std::sync::atomic::AtomicUsize::new(0),
    }
});

/// A place in the hashing queue, given up when its job finishes or is dropped unrun.
struct QueuePlace;

impl QueuePlace {
    fn take(max: usize) -> Option<Self> {
        use std::sync::atomic::Ordering;
        HASHERS
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Self)
    }
}

impl Drop for QueuePlace {
    fn drop(&mut self) {
        HASHERS.queued.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Runs `work` on a hashing thread, or refuses when `max` jobs are already queued.
async fn on_hasher<T: Send + 'static>(max: usize, work: impl FnOnce() -> T + Send + 'static) -> Result<T, AuthError> {
    let place = QueuePlace::take(max).ok_or(AuthError::HashingBusy)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _place = place;
        let _ = tx.send(work());
    });
    HASHERS
        .jobs
        .lock()
        .map_err(|_| CommonError::internal("hashing queue poisoned"))?
        .send(job)
        .map_err(CommonError::internal)?;
    Ok(rx.await.map_err(CommonError::internal)?)
}

pub(crate) async fn hash_password(max: usize, password: String) -> Result<String, AuthError> {
    let hashed = on_hasher(max, move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await?;
    Ok(hashed.map_err(CommonError::internal)?)
}

pub(crate) async fn verify_password(max: usize, password: String, hash: String) -> Result<bool, AuthError> {
    let verified = on_hasher(max, move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| e.to_string())?;
        Ok::<bool, String>(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await?;
    Ok(verified.map_err(CommonError::internal)?)
}

/// Whether `password` is the account's.
pub(crate) async fn verify_account_password(
    state: &AppState,
    user: &User,
    password: String,
) -> Result<bool, AuthError> {
    let max = state.settings.auth.max_queued_password_hashes;
    verify_password(max, password, user.password_hash.clone()).await
}

/// The length rules of a new password.
pub(crate) fn check_new_password(min: usize, password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < min {
        return Err(AuthError::PasswordTooShort { min });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AuthError::PasswordTooLong {
            max: MAX_PASSWORD_CHARS,
        });
    }
    if crate::common_passwords::is_common(password) {
        return Err(AuthError::CommonPassword);
    }
    Ok(())
}

/// A hash verified against when the account does not exist, so that sign-in takes as long for
/// unknown emails as for wrong passwords. Made once, on a hashing thread.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn dummy_hash(max: usize) -> Result<String, AuthError> {
    DUMMY_HASH
        .get_or_try_init(|| hash_password(max, "plansmith-timing-equaliser".into()))
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
///
/// Accounts created are limited per client address per hour (`auth.signups_per_address_per_hour`)
/// and for everyone per minute (`auth.signups_per_minute`), counted before the password is hashed.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", operation_id = "register", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse), WithJsonBody<AuthError>))]
pub async fn register(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Response, AuthError> {
    let auth = &state.settings.auth;
    let email = Email::parse(&body.email).map_err(|e| AuthError::InvalidEmail(e.to_string()))?;
    check_new_password(auth.min_password_chars, &body.password)?;
    let name = body.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME_CHARS) {
        return Err(AuthError::NameTooLong { max: MAX_NAME_CHARS });
    }
    check_signup_limits(&state, client.addr).await?;
    let password_hash = hash_password(auth.max_queued_password_hashes, body.password).await?;
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
    let channel = signup_channel(body.utm_source.as_deref());
    state.events.record(
        user.id,
        plansmith_store::events::EventKind::SignedUp,
        Some(&channel),
        None,
    );
    *response.status_mut() = StatusCode::CREATED;
    crate::recovery::send_verification(&state, &user).await;
    Ok(response)
}

/// For other handlers: a full hashing queue is "unavailable, try again shortly".
pub(crate) fn hashing_unavailable(error: AuthError) -> CommonError {
    match error {
        AuthError::Common(e) => e,
        other => CommonError::unavailable(format_args!("{other:?}")),
    }
}

/// Counts a sign-up from `client` against its address's hourly limit and everyone's limit per
/// minute. The sign-up goes on unchecked while the shared limiter is unreachable (logged): an
/// outage of Redis does not stop people from joining, and the hashing queue still bounds the
/// work.
async fn check_signup_limits(state: &AppState, client: ClientAddr) -> Result<(), AuthError> {
    let (auth, limiter) = (&state.settings.auth, &state.limiter);
    let address_key = format!("signup:address:{}", client.limit_key());
    let checked = async {
        if let Some(retry_after) = limiter
            .take(&address_key, auth.signups_per_address_per_hour, HOUR)
            .await?
        {
            return Ok(Err(AuthError::SignUpPaused {
                retry_after,
                everyone: false,
            }));
        }
        if let Some(retry_after) = limiter.take("signup:everyone", auth.signups_per_minute, MINUTE).await? {
            // Refused for everyone's sake: this address's attempt did not happen.
            limiter.give_back(&address_key).await?;
            return Ok(Err(AuthError::SignUpPaused {
                retry_after,
                everyone: true,
            }));
        }
        Ok::<_, plansmith_cache::CacheError>(Ok(()))
    };
    match checked.await {
        Ok(answer) => answer,
        Err(e) => {
            crate::holds::unchecked("auth.signups_per_*", &e);
            Ok(())
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// How long an address a user signed in from stays known (exempt from the account's pauses).
const KNOWN_ADDRESS_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Sign in.
///
/// Every attempt is counted before the password is checked, in one step with the check of
/// the limit, so parallel guesses cannot pass together:
/// - per client address: `auth.max_failed_logins_per_ip` per window (a success is given back);
/// - per account and address: `auth.max_failed_logins_per_account` per window, then refused
///   until the window ends — a guesser locks out only themselves;
/// - per account from addresses it was never signed in from: after the same number, a pause
///   between attempts that doubles up to `auth.max_login_pause_seconds`. Guessing across many
///   addresses slows to a crawl, while the owner, signing in from an address they used before,
///   is not held up by someone else's guesses.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", operation_id = "login", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), WithJsonBody<AuthError>))]
pub async fn login(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, AuthError> {
    let auth = &state.settings.auth;
    let limiter = &state.limiter;
    let window = Duration::from_secs(auth.failed_login_window_seconds);
    let account = body.email.trim().to_lowercase();
    let address = client.addr.limit_key();
    let address_key = format!("login:address:{address}");
    let pair_key = format!("login:account-address:{account}:{address}");
    let account_key = format!("login:account:{account}");
    let known_key = format!("login:known:{account}:{address}");
    // A pause is recorded once per counter and window, not for every refused attempt: a flood
    // of guesses must not become a flood of writes.
    let paused = async |retry_after, counter: &str, key: &str| {
        let first = limiter.take(&format!("lockout-recorded:{key}"), 1, window).await;
        if matches!(first, Ok(None)) {
            let event = SecurityEvent::failure(Kind::Lockout, &client).detail(format!("sign-in paused: {counter}"));
            security_events::record(&state, event).await;
        }
        Err(AuthError::SignInPaused { retry_after })
    };
    if let Some(retry_after) = limiter
        .take(&address_key, auth.max_failed_logins_per_ip, window)
        .await?
    {
        return paused(retry_after, "client address", &address_key).await;
    }
    if let Some(retry_after) = limiter
        .take(&pair_key, auth.max_failed_logins_per_account, window)
        .await?
    {
        return paused(retry_after, "account from this address", &pair_key).await;
    }
    let new_address = limiter.blocked_for(&known_key, 1).await?.is_none();
    if new_address {
        let max_pause = Duration::from_secs(auth.max_login_pause_seconds);
        if let Some(retry_after) = limiter
            .take_paced(&account_key, auth.max_failed_logins_per_account, window, max_pause)
            .await?
        {
            return paused(retry_after, "account from new addresses", &account_key).await;
        }
    }
    let user = match Email::parse(&body.email) {
        Ok(email) => state.store.user_by_email(&email).await?,
        Err(_) => None,
    };
    let max_queued = auth.max_queued_password_hashes;
    let hash = match &user {
        Some(u) => u.password_hash.clone(),
        None => dummy_hash(max_queued).await?,
    };
    let valid = verify_password(max_queued, body.password, hash).await? && user.is_some();
    let known = user.as_ref().map(|u| u.id);
    let Some(user) = user.filter(|_| valid) else {
        security_events::record(&state, sign_in_failed(&client, known, "wrong email or password")).await;
        return Err(AuthError::InvalidCredentials);
    };
    // A missing or wrong second factor counts as a failed attempt (nothing is given back).
    if let Err(e) = crate::mfa::check_sign_in(&state, &user, body.totp.as_deref()).await {
        let why = match e {
            AuthError::MfaRequired => "two-factor code missing",
            AuthError::MfaInvalid => "two-factor code wrong or used",
            _ => return Err(e),
        };
        security_events::record(&state, sign_in_failed(&client, Some(user.id), why)).await;
        return Err(e);
    }
    // The owner's own attempts do not count against them.
    limiter.give_back(&address_key).await?;
    limiter.reset(&pair_key).await?;
    if new_address {
        limiter.give_back(&account_key).await?;
        limiter.hit(&known_key, KNOWN_ADDRESS_FOR).await?;
    }
    if user.disabled {
        security_events::record(&state, sign_in_failed(&client, Some(user.id), "account disabled")).await;
        return Err(AuthError::AccountDisabled);
    }
    crate::mail::after_sign_in(&state, &user, &account, client.addr, new_address).await;
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
            AuthError::SignUpPaused {
                retry_after: Duration::from_secs(60),
                everyone: false,
            },
            AuthError::SignUpPaused {
                retry_after: Duration::from_secs(1),
                everyone: true,
            },
            AuthError::HashingBusy,
            AuthError::MfaRequired,
            AuthError::MfaInvalid,
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
