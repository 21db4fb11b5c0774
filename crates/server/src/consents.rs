//! Consents (GDPR Art. 7): what a person agreed to, which version of it, when, and when they
//! withdrew it — withdrawing as easy as giving. `GET/POST /api/v1/me/consents`.
//!
//! The one consent the product asks for is `llm_processing`: planning conversations are sent
//! to the configured model providers to write replies. Its notice names those providers (or
//! says that nothing leaves the server when only the offline planner answers); the web app
//! shows it once and records the answer here.

use crate::auth::AuthUser;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use plansmith_store::Consent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The consent to send planning conversations to the model providers.
pub const LLM_PROCESSING: &str = "llm_processing";
/// Its current wording's version: a new wording asks again.
pub const LLM_PROCESSING_VERSION: &str = "2026-12";
/// The consent to be quoted, anonymised, in product research (feedback themes).
pub const PRODUCT_RESEARCH: &str = "product_research";
pub const PRODUCT_RESEARCH_VERSION: &str = "2026-12";
const PRODUCT_RESEARCH_TEXT: &str = "Plansmith's team may quote what you write in document ratings, surveys and session ideas, with names, addresses, links and numbers removed, when studying what to improve. Without this consent your words are only counted, never quoted.";

/// The version of a consent's current wording, for the kinds the product asks for.
fn current_version(kind: &str) -> Option<&'static str> {
    match kind {
        LLM_PROCESSING => Some(LLM_PROCESSING_VERSION),
        PRODUCT_RESEARCH => Some(PRODUCT_RESEARCH_VERSION),
        _ => None,
    }
}

/// A consent as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub id: uuid::Uuid,
    pub kind: String,
    pub version: String,
    pub given_at: DateTime<Utc>,
    /// When it was withdrawn; null while it stands.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl From<Consent> for ConsentView {
    fn from(c: Consent) -> Self {
        Self {
            id: c.id,
            kind: c.kind,
            version: c.version,
            given_at: c.given_at,
            withdrawn_at: c.withdrawn_at,
        }
    }
}

/// Something the product asks consent for, in its current version.
#[derive(Debug, Serialize, ToSchema)]
pub struct Notice {
    pub kind: String,
    pub version: String,
    /// The words shown to the person.
    pub text: String,
    /// Whether the person's consent to this version stands.
    pub given: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Consents {
    /// Every consent given, withdrawn ones too, oldest first.
    pub items: Vec<ConsentView>,
    pub notices: Vec<Notice>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConsentChange {
    /// `llm_processing` or `product_research`.
    pub kind: String,
    /// True gives consent to the current version; false withdraws it.
    pub given: bool,
}

#[derive(Debug)]
pub enum ConsentError {
    UnknownKind(String),
    Common(CommonError),
}

error_family!(ConsentError, common);

impl ErrorFamily for ConsentError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::UnknownKind(kind) => ApiError::invalid(
                ErrorCode::InvalidField,
                "kind",
                format_args!("there is no consent '{kind}'"),
                format!("Use {LLM_PROCESSING} or {PRODUCT_RESEARCH}."),
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

/// The words of the model-provider notice for this installation.
fn llm_processing_text(state: &AppState) -> String {
    let providers: Vec<&str> = state
        .settings
        .llm
        .route
        .iter()
        .map(String::as_str)
        .filter(|name| *name != "offline")
        .collect();
    if providers.is_empty() {
        return "Replies are written by Plansmith's built-in offline planner: what you write stays on this server."
            .into();
    }
    format!(
        "To write replies, Plansmith sends your planning conversation (your idea, messages and documents) to the model providers this installation uses: {}.",
        providers.join(", ")
    )
}

async fn consents_of(state: &AppState, auth: &AuthUser) -> Result<Consents, ConsentError> {
    let items: Vec<ConsentView> = state
        .store
        .list_consents(auth.id())
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let given = |kind: &str, version: &str| {
        items
            .iter()
            .any(|c| c.kind == kind && c.version == version && c.withdrawn_at.is_none())
    };
    let notices = vec![
        Notice {
            kind: LLM_PROCESSING.into(),
            version: LLM_PROCESSING_VERSION.into(),
            text: llm_processing_text(state),
            given: given(LLM_PROCESSING, LLM_PROCESSING_VERSION),
        },
        Notice {
            kind: PRODUCT_RESEARCH.into(),
            version: PRODUCT_RESEARCH_VERSION.into(),
            text: PRODUCT_RESEARCH_TEXT.into(),
            given: given(PRODUCT_RESEARCH, PRODUCT_RESEARCH_VERSION),
        },
    ];
    Ok(Consents { items, notices })
}

/// The signed-in person's consents and what the product asks consent for.
#[utoipa::path(get, path = "/api/v1/me/consents", tag = "auth", operation_id = "list_consents",
    responses((status = 200, body = Consents), ConsentError))]
pub async fn list(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Consents>, ConsentError> {
    Ok(Json(consents_of(&state, &auth).await?))
}

/// Give (`given: true`, to the current version) or withdraw (`given: false`) a consent.
/// Giving a consent that stands, or withdrawing one that does not, changes nothing.
#[utoipa::path(post, path = "/api/v1/me/consents", tag = "auth", operation_id = "change_consent",
    request_body = ConsentChange, responses((status = 200, body = Consents), WithJsonBody<ConsentError>))]
pub async fn change(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<ConsentChange>,
) -> Result<Json<Consents>, ConsentError> {
    let Some(version) = current_version(&body.kind) else {
        return Err(ConsentError::UnknownKind(body.kind));
    };
    let now = Utc::now();
    if body.given {
        let current = consents_of(&state, &auth).await?;
        if !current.notices.iter().any(|n| n.kind == body.kind && n.given) {
            // An older version still standing is replaced by this one.
            state.store.withdraw_consent(auth.id(), &body.kind, now).await?;
            state
                .store
                .give_consent(Consent {
                    id: uuid::Uuid::now_v7(),
                    user_id: auth.id(),
                    kind: body.kind.clone(),
                    version: version.into(),
                    given_at: now,
                    withdrawn_at: None,
                })
                .await?;
        }
    } else {
        state.store.withdraw_consent(auth.id(), &body.kind, now).await?;
    }
    tracing::info!(user = %auth.id(), kind = %body.kind, given = body.given, "consent changed");
    Ok(Json(consents_of(&state, &auth).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[ConsentError::UnknownKind("x".into())]);
    }
}
