//! Liveness and readiness.

use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, error_family};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

/// Why the instance cannot serve.
#[derive(Debug)]
pub enum HealthError {
    /// Draining, or the database does not answer; the cause is logged.
    NotReady(String),
}

error_family!(HealthError);

impl ErrorFamily for HealthError {
    const CODES: &'static [ErrorCode] = &[ErrorCode::Unavailable];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::NotReady(cause) => CommonError::unavailable(cause).to_api_error(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// Each dependency of a ready instance: `up` or `down` (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Checks>,
}

#[derive(Serialize, ToSchema)]
pub struct Checks {
    /// `up` (a ready instance always has its database).
    pub database: String,
    /// `up` or `down`; absent when state is kept in the process. A Redis outage keeps the
    /// instance ready: reads and finished streams still work, and a blip must not take every
    /// instance out of the load balancer at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        checks: None,
    })
}

/// The instance can serve: the database answers and it is not shutting down. The body reports
/// each dependency; Redis being down does not make the instance unready.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "readyz",
    responses((status = 200, body = Health), HealthError))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, HealthError> {
    if state.is_draining() {
        return Err(HealthError::NotReady("draining".into()));
    }
    state
        .store
        .ping()
        .await
        .map_err(|e| HealthError::NotReady(e.to_string()))?;
    let redis = match &state.redis {
        None => None,
        Some(conn) => Some(match conn.ping().await {
            Ok(()) => "up",
            Err(e) => {
                tracing::warn!(error = %e, "Redis is down; serving what does not need it");
                "down"
            }
        }),
    };
    Ok(Json(Health {
        status: "ready".into(),
        checks: Some(Checks {
            database: "up".into(),
            redis: redis.map(Into::into),
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[HealthError::NotReady("draining".into())]);
    }
}

/// What the web app shows about this installation.
#[derive(Debug, Serialize, ToSchema)]
pub struct About {
    /// The server's version.
    pub version: String,
    /// Where people get help (`support.contact`).
    pub support_contact: String,
    /// True when replies come from the built-in offline planner first (no model provider is
    /// first in `llm.route`): the app says so and how to connect one.
    pub offline_planner: bool,
    /// The longest texts the server takes, in characters (`limits.*`), for the app's counters.
    pub limits: TextLimits,
}

/// The longest texts the server takes, in characters.
#[derive(Debug, Serialize, ToSchema)]
pub struct TextLimits {
    pub title_chars: usize,
    pub idea_chars: usize,
    pub message_chars: usize,
    pub section_chars: usize,
}

/// The installation as the web app presents it: version, support contact, whether the
/// offline planner answers, the text limits. Public.
#[utoipa::path(get, path = "/api/v1/about", tag = "health", operation_id = "about", responses((status = 200, body = About)))]
pub async fn about(State(state): State<AppState>) -> Json<About> {
    Json(About {
        version: env!("CARGO_PKG_VERSION").into(),
        support_contact: state.settings.support.contact.clone(),
        offline_planner: state.settings.llm.route.first().is_none_or(|p| p == "offline"),
        limits: TextLimits {
            title_chars: state.settings.limits.max_title_chars,
            idea_chars: state.settings.limits.max_idea_chars,
            message_chars: state.settings.limits.max_message_chars,
            section_chars: state.settings.limits.max_section_chars,
        },
    })
}
