//! The admin API (role `admin`, checked on every request): LLM providers with their breaker
//! state and limits, and usage (calls, tokens, cost, errors, latency) grouped by provider,
//! model, user or day.

use crate::auth::AuthUser;
use crate::client::Client;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, error_family};
use crate::extract::ApiQuery;
use crate::security_events::{self, SecurityEvent, SecurityEventKind};
use crate::state::AppState;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use plansmith_domain::Role;
use plansmith_store::LlmCall;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// What the admin routes can answer besides success.
#[derive(Debug)]
pub enum AdminError {
    /// Signed in, but not an admin.
    Forbidden,
    /// An admin without two-factor sign-in while `auth.require_mfa_for_admins` is on.
    MfaEnrolmentRequired,
    UnknownGrouping(String),
    /// A page size out of range.
    InvalidLimit(u32),
    EmptyRange,
    Common(CommonError),
}

error_family!(AdminError, common);

impl ErrorFamily for AdminError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidQuery,
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
            Self::Forbidden => ApiError::new(
                ErrorCode::Forbidden,
                "This part of the API is for administrators.",
                "Ask an administrator to grant you the admin role (plansmith users set-role EMAIL admin).",
            ),
            Self::MfaEnrolmentRequired => ApiError::new(
                ErrorCode::MfaEnrolmentRequired,
                "Administrators must use two-factor sign-in here.",
                "Turn it on first: POST /api/v1/me/mfa/totp, then confirm with a code at POST /api/v1/me/mfa/totp/confirm.",
            ),
            Self::InvalidLimit(limit) => ApiError::invalid(
                ErrorCode::InvalidQuery,
                "limit",
                format_args!("{limit} is not between 1 and 100"),
                "Ask for 1 to 100 items per page.",
            ),
            Self::UnknownGrouping(group_by) => ApiError::invalid(
                ErrorCode::InvalidQuery,
                "group_by",
                format_args!("'{group_by}' is not one of provider, model, user, day"),
                "Use group_by=provider, model, user or day.",
            ),
            Self::EmptyRange => ApiError::invalid(
                ErrorCode::InvalidQuery,
                "from",
                "must be before to",
                "Give a range with from < to.",
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

/// A signed-in admin; anyone else gets 403 (401 when not signed in), and so does an admin
/// without two-factor sign-in while `auth.require_mfa_for_admins` is on. Every admin route takes
/// it, so it records each refusal as an `admin_denied` security event.
pub struct AdminUser(pub AuthUser);

impl AdminUser {
    pub fn id(&self) -> plansmith_domain::UserId {
        self.0.id()
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (user, code, error) = match AuthUser::from_request_parts(parts, state).await {
            Ok(user) if user.user.role == Role::Admin => {
                if crate::mfa::admin_may_proceed(state, &user.user).await? {
                    return Ok(Self(user));
                }
                let id = Some(user.id());
                (id, ErrorCode::MfaEnrolmentRequired, AdminError::MfaEnrolmentRequired)
            }
            Ok(user) => (Some(user.id()), ErrorCode::Forbidden, AdminError::Forbidden),
            Err(e @ CommonError::Unauthorized) => (None, ErrorCode::Unauthorized, e.into()),
            Err(e @ CommonError::CrossSiteRequest) => (None, ErrorCode::CrossSiteRequest, e.into()),
            // Not a refusal: the store or the limiter failed; answered (and logged) as such.
            Err(e) => return Err(e.into()),
        };
        let client = Client::of(parts, state);
        let what = format!("{} {}: {}", parts.method, parts.uri.path(), code.as_str());
        let mut event = SecurityEvent::failure(SecurityEventKind::AdminDenied, &client).detail(what);
        if let Some(user) = user {
            event = event.user(user);
        }
        security_events::record(state, event).await;
        Err(error)
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProviderList {
    pub items: Vec<ProviderView>,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderView {
    /// The configured `name`.
    pub name: String,
    pub model: String,
    /// `closed`, `open` or `half_open`.
    pub breaker: String,
    pub in_flight: u64,
    /// Replies waiting for this provider.
    pub queue_depth: usize,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u64>,
    pub max_concurrency: Option<u32>,
}

/// The route's targets in order, with breaker state, limits and calls in flight.
#[utoipa::path(get, path = "/api/v1/admin/llm/providers", tag = "admin", operation_id = "list_providers",
    responses((status = 200, body = ProviderList), AdminError))]
pub async fn providers(State(state): State<AppState>, _admin: AdminUser) -> Json<ProviderList> {
    let items = state
        .generator
        .gateway()
        .snapshot()
        .into_iter()
        .map(|t| ProviderView {
            breaker: t.breaker.as_str().into(),
            in_flight: t.in_flight,
            queue_depth: t.queue_depth,
            requests_per_minute: t.limits.requests_per_minute,
            tokens_per_minute: t.limits.tokens_per_minute,
            max_concurrency: t.limits.max_concurrency,
            name: t.name,
            model: t.model,
        })
        .collect();
    Json(ProviderList { items })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `provider` (default), `model`, `user` or `day`.
    #[param(pattern = "^(provider|model|user|day)$")]
    pub group_by: Option<String>,
    /// Start (RFC 3339, inclusive); default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive); default now.
    pub to: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageReport {
    pub group_by: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub items: Vec<UsageRow>,
}

#[derive(Serialize, ToSchema, PartialEq, Debug)]
pub struct UsageRow {
    /// Provider name, model, user id or day (YYYY-MM-DD, UTC).
    pub key: String,
    pub calls: u64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Integer micro-dollars.
    pub cost_micros: i64,
    /// Share of calls that did not complete, 0.0–1.0.
    pub error_rate: f64,
    pub latency_ms_p50: i64,
    pub latency_ms_p95: i64,
    /// Over calls that produced a first token.
    pub ttft_ms_p50: Option<i64>,
    pub ttft_ms_p95: Option<i64>,
}

/// Model calls, tokens, cost, error rate and latency percentiles, grouped.
#[utoipa::path(get, path = "/api/v1/admin/llm/usage", tag = "admin", operation_id = "get_usage", params(UsageQuery),
    responses((status = 200, body = UsageReport), AdminError))]
pub async fn usage(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Json<UsageReport>, AdminError> {
    let group_by = q.group_by.unwrap_or_else(|| "provider".into());
    if !matches!(group_by.as_str(), "provider" | "model" | "user" | "day") {
        return Err(AdminError::UnknownGrouping(group_by));
    }
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - ChronoDuration::days(30));
    if from >= to {
        return Err(AdminError::EmptyRange);
    }
    let calls = state.store.llm_calls_between(from, to).await?;
    Ok(Json(UsageReport {
        items: aggregate(&calls, &group_by),
        group_by,
        from,
        to,
    }))
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// Groups calls by the key and computes totals and nearest-rank percentiles.
pub fn aggregate(calls: &[LlmCall], group_by: &str) -> Vec<UsageRow> {
    let mut groups: BTreeMap<String, Vec<&LlmCall>> = BTreeMap::new();
    for call in calls {
        let key = match group_by {
            "model" => call.model.clone(),
            "user" => call.user_id.to_string(),
            "day" => call.created_at.format("%Y-%m-%d").to_string(),
            _ => call.provider.clone(),
        };
        groups.entry(key).or_default().push(call);
    }
    groups
        .into_iter()
        .map(|(key, calls)| {
            let mut latency: Vec<i64> = calls.iter().map(|c| c.latency_ms).collect();
            let mut ttft: Vec<i64> = calls.iter().filter_map(|c| c.ttft_ms).collect();
            latency.sort_unstable();
            ttft.sort_unstable();
            let failed = calls.iter().filter(|c| c.outcome != "complete").count();
            UsageRow {
                key,
                calls: calls.len() as u64,
                input_tokens: calls.iter().map(|c| c.input_tokens).sum(),
                output_tokens: calls.iter().map(|c| c.output_tokens).sum(),
                cost_micros: calls.iter().map(|c| c.cost_micros).sum(),
                error_rate: failed as f64 / calls.len() as f64,
                latency_ms_p50: percentile(&latency, 0.5).unwrap_or(0),
                latency_ms_p95: percentile(&latency, 0.95).unwrap_or(0),
                ttft_ms_p50: percentile(&ttft, 0.5),
                ttft_ms_p95: percentile(&ttft, 0.95),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            AdminError::Forbidden,
            AdminError::UnknownGrouping("week".into()),
            AdminError::EmptyRange,
            AdminError::MfaEnrolmentRequired,
            AdminError::InvalidLimit(0),
            CommonError::Unauthorized.into(),
        ]);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), Some(50));
        assert_eq!(percentile(&values, 0.95), Some(95));
        assert_eq!(percentile(&[7], 0.95), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
