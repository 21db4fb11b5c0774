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
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// The instance can serve: the database answers and it is not shutting down.
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
    Ok(Json(Health { status: "ready".into() }))
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
