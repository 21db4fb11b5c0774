//! Feature flags: stored in the database, cached in the shared cache (Redis when configured,
//! so a change made on one instance is seen by every instance at once), edited by admins at
//! `/api/v1/admin/flags/{key}` and evaluated for signed-in users through the OpenFeature Remote
//! Evaluation Protocol (`POST /ofrep/v1/evaluate/flags[/{key}]`), by signed-in users or by
//! services holding a client key an admin issued (`/api/v1/admin/flag-client-keys`).
//! Evaluation rules are in `plansmith_domain::flags`.
//!
//! A flag named `workflow:<id>` gates that workflow: it is listed and can be started only by
//! users the flag is on for.

use crate::admin::{AdminError, AdminUser};
use crate::auth::AuthUser;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use plansmith_domain::flags::{self, Evaluation, FlagDefinition, Subject};
use plansmith_store::{StoredClientKey, StoredFlag};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

const CACHE_KEY: &str = "flags:all";

type Flags = BTreeMap<String, FlagDefinition>;

/// Every flag, from the shared cache or (on a miss) the database.
pub async fn all(state: &AppState) -> Result<Arc<Flags>, CommonError> {
    match state.cache.get(CACHE_KEY).await {
        Ok(Some(cached)) => match serde_json::from_str::<Flags>(&cached) {
            Ok(flags) => return Ok(Arc::new(flags)),
            Err(e) => tracing::warn!(error = %e, "cached flags unreadable; reading the database"),
        },
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "the shared cache is unreachable; reading flags from the database"),
    }
    let mut flags = Flags::new();
    for stored in state.store.list_flags().await? {
        match serde_json::from_str(&stored.definition) {
            Ok(definition) => {
                flags.insert(stored.key, definition);
            }
            Err(e) => {
                tracing::error!(flag = %stored.key, error = %e, "a stored flag is unreadable; it is treated as absent")
            }
        }
    }
    if let Ok(json) = serde_json::to_string(&flags)
        && let Err(e) = state.cache.put(CACHE_KEY, json).await
    {
        tracing::warn!(error = %e, "flags not cached");
    }
    Ok(Arc::new(flags))
}

async fn changed(state: &AppState) {
    if let Err(e) = state.cache.invalidate(CACHE_KEY).await {
        tracing::error!(error = %e, "cached flags not invalidated: other instances see the change when the cache expires");
    }
}

fn subject(user: &AuthUser, targeting_key: Option<&str>) -> Subject {
    let user = &user.user;
    Subject {
        targeting_key: targeting_key
            .filter(|k| !k.trim().is_empty())
            .map_or_else(|| user.id.to_string(), str::to_owned),
        user_id: Some(user.id.to_string()),
        plan: Some(user.plan.as_str().to_owned()),
        email: Some(user.email.clone()),
        signed_up_at: Some(user.created_at),
    }
}

/// What every flag client key starts with (a user's token starts with `ps_`).
pub const CLIENT_KEY_PREFIX: &str = "pfk_";

/// Who asks for an evaluation: a signed-in user, or a service presenting an admin-issued
/// client key as `Authorization: Bearer pfk_…` (it names the user in the context).
pub enum FlagCaller {
    User(Box<AuthUser>),
    Client,
}

impl FromRequestParts<AppState> for FlagCaller {
    type Rejection = CommonError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let client_key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|key| key.starts_with(CLIENT_KEY_PREFIX));
        let Some(key) = client_key else {
            return AuthUser::from_request_parts(parts, state)
                .await
                .map(|user| Self::User(Box::new(user)));
        };
        if key.len() > 100 {
            return Err(CommonError::Unauthorized);
        }
        let hash = hex(&crate::auth::hash_token(key));
        state
            .store
            .find_client_key(&hash)
            .await?
            .ok_or(CommonError::Unauthorized)?;
        Ok(Self::Client)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The subject of an evaluation. A user is who they are (the context may only name another
/// targeting key); a client key's caller describes the user in the context: `targetingKey`
/// (required: the user id), and optionally `plan`, `email`, `signedUpAt` (RFC 3339).
fn caller_subject(caller: &FlagCaller, request: &EvaluationRequest) -> Result<Subject, EvaluationFailure> {
    match caller {
        FlagCaller::User(user) => Ok(subject(user, targeting_key(request))),
        FlagCaller::Client => {
            let Some(key) = targeting_key(request).filter(|k| !k.trim().is_empty()) else {
                return Err(EvaluationFailure {
                    key: String::new(),
                    error_code: "TARGETING_KEY_MISSING".into(),
                    error_details: "A client key evaluates for the user named by the context's targetingKey; send {\"context\": {\"targetingKey\": \"<user id>\"}}.".into(),
                });
            };
            let text = |name: &str| request.context.get(name).and_then(|v| v.as_str()).map(str::to_owned);
            let signed_up_at = match text("signedUpAt") {
                None => None,
                Some(raw) => Some(
                    DateTime::parse_from_rfc3339(&raw)
                        .map_err(|e| EvaluationFailure {
                            key: String::new(),
                            error_code: "INVALID_CONTEXT".into(),
                            error_details: format!(
                                "signedUpAt must be an RFC 3339 time such as 2026-01-31T00:00:00Z: {e}"
                            ),
                        })?
                        .with_timezone(&Utc),
                ),
            };
            Ok(Subject {
                targeting_key: key.to_owned(),
                user_id: Some(key.to_owned()),
                plan: text("plan"),
                email: text("email"),
                signed_up_at,
            })
        }
    }
}

/// Whether the workflow is open to this user (or to anyone, with no user): no
/// `workflow:<id>` flag, or one that is on for them.
pub async fn workflow_open(state: &AppState, user: Option<&AuthUser>, workflow: &str) -> Result<bool, CommonError> {
    let flags = all(state).await?;
    let key = format!("workflow:{workflow}");
    let Some(flag) = flags.get(&key) else {
        return Ok(true);
    };
    let who = match user {
        Some(user) => subject(user, None),
        None => Subject {
            targeting_key: String::new(),
            user_id: None,
            plan: None,
            email: None,
            signed_up_at: None,
        },
    };
    Ok(flags::evaluate(&key, flag, &who).on)
}

/// A flag as admins see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagView {
    pub key: String,
    #[schema(value_type = Object)]
    pub definition: FlagDefinition,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<uuid::Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagList {
    pub items: Vec<FlagView>,
}

fn view(stored: StoredFlag) -> Option<FlagView> {
    Some(FlagView {
        definition: serde_json::from_str(&stored.definition).ok()?,
        key: stored.key,
        updated_at: stored.updated_at,
        updated_by: stored.updated_by.map(|u| u.0),
    })
}

/// Every feature flag. Admins only.
#[utoipa::path(get, path = "/api/v1/admin/flags", tag = "admin", operation_id = "list_flags",
    responses((status = 200, body = FlagList), AdminError))]
pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<FlagList>, AdminError> {
    let items = state.store.list_flags().await?.into_iter().filter_map(view).collect();
    Ok(Json(FlagList { items }))
}

/// Why a flag could not be read or changed.
#[derive(Debug)]
pub enum FlagError {
    Invalid(String),
    NotFound(String),
    UnknownClientKey(uuid::Uuid),
    /// A client key's name is empty or longer than 100 characters.
    ClientKeyName,
    Admin(AdminError),
}

impl From<AdminError> for FlagError {
    fn from(e: AdminError) -> Self {
        Self::Admin(e)
    }
}

impl From<CommonError> for FlagError {
    fn from(e: CommonError) -> Self {
        Self::Admin(AdminError::Common(e))
    }
}

impl From<plansmith_store::StoreError> for FlagError {
    fn from(e: plansmith_store::StoreError) -> Self {
        Self::Admin(AdminError::Common(e.into()))
    }
}

error_family!(FlagError);

impl ErrorFamily for FlagError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::InvalidQuery,
        ErrorCode::NotFound,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::Forbidden,
        ErrorCode::MfaEnrolmentRequired,
        ErrorCode::RateLimited,
        ErrorCode::LimitReached,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::Invalid(problem) => ApiError::new(
                ErrorCode::InvalidField,
                problem.clone(),
                "Fix the flag definition and send it again.",
            ),
            Self::NotFound(key) => CommonError::not_found(format!("The flag '{key}'")).to_api_error(),
            Self::UnknownClientKey(id) => CommonError::not_found(format!("The client key {id}")).to_api_error(),
            Self::ClientKeyName => ApiError::invalid(
                ErrorCode::InvalidField,
                "name",
                "must be 1 to 100 characters",
                "Name the key after what will use it, e.g. \"billing service\".",
            ),
            Self::Admin(e) => e.to_api_error(),
        }
    }
}

/// One flag. Admins only.
#[utoipa::path(get, path = "/api/v1/admin/flags/{key}", tag = "admin", operation_id = "get_flag",
    params(("key" = String, Path)), responses((status = 200, body = FlagView), FlagError))]
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<FlagView>, FlagError> {
    state
        .store
        .list_flags()
        .await?
        .into_iter()
        .find(|f| f.key == key)
        .and_then(view)
        .map(Json)
        .ok_or(FlagError::NotFound(key))
}

/// Create or replace a flag: `{enabled, description?, rollout_percent? (0–100, default 100),
/// targeting? {user_ids, plans, email_domains, signed_up_after, signed_up_before}, variants?
/// [{name, weight}]}`. Every instance sees the change at once. Admins only.
#[utoipa::path(put, path = "/api/v1/admin/flags/{key}", tag = "admin", operation_id = "put_flag",
    params(("key" = String, Path)), request_body(content = Object),
    responses((status = 200, body = FlagView), WithJsonBody<FlagError>))]
pub async fn put(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(key): ApiPath<String>,
    ApiJson(definition): ApiJson<FlagDefinition>,
) -> Result<Json<FlagView>, FlagError> {
    flags::validate(&key, &definition).map_err(FlagError::Invalid)?;
    let stored = StoredFlag {
        key: key.clone(),
        definition: serde_json::to_string(&definition).map_err(CommonError::internal)?,
        updated_at: Utc::now(),
        updated_by: Some(admin.id()),
    };
    state.store.put_flag(stored.clone()).await?;
    changed(&state).await;
    tracing::info!(flag = %key, admin = %admin.id(), "flag changed");
    Ok(Json(FlagView {
        key,
        definition,
        updated_at: stored.updated_at,
        updated_by: stored.updated_by.map(|u| u.0),
    }))
}

/// Delete a flag (a `workflow:<id>` flag deleted opens the workflow to everyone). Admins only.
#[utoipa::path(delete, path = "/api/v1/admin/flags/{key}", tag = "admin", operation_id = "delete_flag",
    params(("key" = String, Path)), responses((status = 204), FlagError))]
pub async fn delete(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(key): ApiPath<String>,
) -> Result<StatusCode, FlagError> {
    if !state.store.delete_flag(&key).await? {
        return Err(FlagError::NotFound(key));
    }
    changed(&state).await;
    tracing::info!(flag = %key, admin = %admin.id(), "flag deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A flag client key as admins see it (the key itself is shown once, when issued).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientKeyView {
    pub id: uuid::Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<uuid::Uuid>,
    /// When it was revoked; a revoked key is refused.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<StoredClientKey> for ClientKeyView {
    fn from(k: StoredClientKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            created_at: k.created_at,
            created_by: k.created_by.map(|u| u.0),
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientKeyList {
    pub items: Vec<ClientKeyView>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewClientKey {
    /// What uses the key (1–100 characters), e.g. "billing service".
    pub name: String,
}

/// A newly issued client key: `key` is shown only now; keep it secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedClientKey {
    pub key: String,
    #[serde(flatten)]
    pub info: ClientKeyView,
}

/// Every flag client key, revoked ones too, newest first. Admins only.
#[utoipa::path(get, path = "/api/v1/admin/flag-client-keys", tag = "admin", operation_id = "list_flag_client_keys",
    responses((status = 200, body = ClientKeyList), AdminError))]
pub async fn list_client_keys(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<ClientKeyList>, AdminError> {
    let items = state
        .store
        .list_client_keys()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(ClientKeyList { items }))
}

/// Issue a client key for flag evaluation by a service (OFREP with `Authorization: Bearer
/// pfk_…`). The answer holds the key once; only its hash is stored. Admins only.
#[utoipa::path(post, path = "/api/v1/admin/flag-client-keys", tag = "admin", operation_id = "create_flag_client_key",
    request_body = NewClientKey,
    responses((status = 201, body = IssuedClientKey), WithJsonBody<FlagError>))]
pub async fn create_client_key(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(body): ApiJson<NewClientKey>,
) -> Result<(StatusCode, Json<IssuedClientKey>), FlagError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FlagError::ClientKeyName);
    }
    let bytes: [u8; 32] = rand::random();
    let key = format!("{CLIENT_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let stored = StoredClientKey {
        id: uuid::Uuid::now_v7(),
        name: name.to_owned(),
        key_hash: hex(&crate::auth::hash_token(&key)),
        created_at: Utc::now(),
        created_by: Some(admin.id()),
        revoked_at: None,
    };
    state.store.create_client_key(stored.clone()).await?;
    tracing::info!(client_key = %stored.id, admin = %admin.id(), "flag client key issued");
    Ok((
        StatusCode::CREATED,
        Json(IssuedClientKey {
            key,
            info: stored.into(),
        }),
    ))
}

/// Revoke a flag client key: it is refused from now on, on every instance. Admins only.
#[utoipa::path(delete, path = "/api/v1/admin/flag-client-keys/{id}", tag = "admin", operation_id = "revoke_flag_client_key",
    params(("id" = uuid::Uuid, Path)), responses((status = 204), FlagError))]
pub async fn revoke_client_key(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> Result<StatusCode, FlagError> {
    if !state.store.revoke_client_key(id, Utc::now()).await? {
        return Err(FlagError::UnknownClientKey(id));
    }
    tracing::info!(client_key = %id, admin = %admin.id(), "flag client key revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// What an OFREP request can fail with besides OFREP's own answers: sign-in and our side.
#[derive(Debug)]
pub enum OfrepError {
    Common(CommonError),
}

error_family!(OfrepError, common);

impl ErrorFamily for OfrepError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::Common(e) => e.to_api_error(),
        }
    }
}

/// OFREP's evaluation request: `{"context": {"targetingKey": …, …}}` (other context fields are
/// accepted and ignored: the server knows the user's plan, email and sign-up date).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct EvaluationRequest {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// One flag's value (OFREP).
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationSuccess {
    pub key: String,
    /// `true`/`false`, or the variant's name for a flag with variants.
    #[schema(schema_with = flag_value)]
    pub value: serde_json::Value,
    /// `DISABLED`, `TARGETING_MATCH`, `SPLIT` or `DEFAULT`.
    pub reason: String,
    pub variant: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// A flag's value in the OpenAPI document: a boolean, or a variant's name.
fn flag_value() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(ObjectBuilder::new().schema_type(Type::String))
        .into()
}

/// OFREP's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationFailure {
    pub key: String,
    /// `FLAG_NOT_FOUND`, `INVALID_CONTEXT`, `TARGETING_KEY_MISSING` or `PARSE_ERROR`.
    #[serde(rename = "errorCode")]
    pub error_code: String,
    #[serde(rename = "errorDetails")]
    pub error_details: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkEvaluation {
    pub flags: Vec<EvaluationSuccess>,
}

fn success(key: &str, flag: &FlagDefinition, e: Evaluation) -> EvaluationSuccess {
    let value = if flag.variants.is_empty() {
        serde_json::Value::Bool(e.on)
    } else {
        serde_json::Value::String(e.variant.clone())
    };
    let reason = serde_json::to_value(e.reason)
        .ok()
        .and_then(|r| r.as_str().map(str::to_owned))
        .unwrap_or_default();
    EvaluationSuccess {
        key: key.to_owned(),
        value,
        reason,
        variant: e.variant,
        metadata: serde_json::Map::new(),
    }
}

fn parse_request(key: &str, body: &Bytes) -> Result<EvaluationRequest, EvaluationFailure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(EvaluationRequest::default());
    }
    serde_json::from_slice(body).map_err(|e| EvaluationFailure {
        key: key.to_owned(),
        error_code: "INVALID_CONTEXT".into(),
        error_details: format!("the body must be {{\"context\": {{…}}}}: {e}"),
    })
}

fn targeting_key(request: &EvaluationRequest) -> Option<&str> {
    request.context.get("targetingKey").and_then(|v| v.as_str())
}

/// Evaluate one flag (OpenFeature Remote Evaluation Protocol) for the signed-in user, or, with
/// an admin-issued client key (`Authorization: Bearer pfk_…`), for the user the context
/// describes (`targetingKey` required; `plan`, `email`, `signedUpAt` optional). The bucket comes
/// from the context's `targetingKey` (default: the user's id).
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags/{key}", tag = "flags", operation_id = "ofrep_evaluate_flag",
    params(("key" = String, Path)), request_body = EvaluationRequest,
    responses((status = 200, body = EvaluationSuccess), (status = 400, body = EvaluationFailure),
        (status = 404, body = EvaluationFailure), OfrepError))]
pub async fn evaluate(
    State(state): State<AppState>,
    caller: FlagCaller,
    ApiPath(key): ApiPath<String>,
    body: Bytes,
) -> Result<Response, OfrepError> {
    let who = match parse_request(&key, &body).and_then(|request| caller_subject(&caller, &request)) {
        Ok(who) => who,
        Err(failure) => {
            let failure = EvaluationFailure {
                key: key.clone(),
                ..failure
            };
            return Ok((StatusCode::BAD_REQUEST, Json(failure)).into_response());
        }
    };
    let flags = all(&state).await?;
    let Some(flag) = flags.get(&key) else {
        let failure = EvaluationFailure {
            key: key.clone(),
            error_code: "FLAG_NOT_FOUND".into(),
            error_details: format!("There is no flag '{key}'."),
        };
        return Ok((StatusCode::NOT_FOUND, Json(failure)).into_response());
    };
    let evaluation = flags::evaluate(&key, flag, &who);
    Ok(Json(success(&key, flag, evaluation)).into_response())
}

/// Evaluate every flag for the signed-in user or a client key's user (OFREP bulk evaluation). Answers with an `ETag`;
/// `If-None-Match` with it gets `304` while nothing changed for this user.
#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags", tag = "flags", operation_id = "ofrep_evaluate_flags",
    request_body = EvaluationRequest,
    responses((status = 200, body = BulkEvaluation), (status = 304), (status = 400, body = EvaluationFailure), OfrepError))]
pub async fn evaluate_all(
    State(state): State<AppState>,
    caller: FlagCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OfrepError> {
    let who = match parse_request("", &body).and_then(|request| caller_subject(&caller, &request)) {
        Ok(who) => who,
        Err(failure) => return Ok((StatusCode::BAD_REQUEST, Json(failure)).into_response()),
    };
    let flags = all(&state).await?;
    let evaluated: Vec<EvaluationSuccess> = flags
        .iter()
        .map(|(key, flag)| success(key, flag, flags::evaluate(key, flag, &who)))
        .collect();
    let digest = Sha256::digest(serde_json::to_vec(&evaluated).unwrap_or_default());
    let etag = format!(
        "\"{}\"",
        digest[..16].iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok(([(header::ETAG, etag)], Json(BulkEvaluation { flags: evaluated })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            FlagError::Invalid("key: bad".into()),
            FlagError::NotFound("x".into()),
            FlagError::UnknownClientKey(uuid::Uuid::nil()),
            FlagError::ClientKeyName,
        ]);
        assert_listed(&[OfrepError::Common(CommonError::Unauthorized)]);
    }
}
