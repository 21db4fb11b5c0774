//! Session quality, from the person's side: rating a document (1–5, useful or not, a
//! comment) and answering the end-of-session survey (CSAT, and how many hours the plan would
//! have taken without Plansmith). Admins read the sums (`crate::analytics::quality`).

use crate::auth::AuthUser;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use plansmith_domain::DocumentId;
use plansmith_store::quality::{DocumentRating, SessionSurvey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_COMMENT_CHARS: usize = 2000;
const MAX_HOURS: f64 = 10_000.0;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RatingRequest {
    /// 1 (poor) to 5 (excellent).
    pub rating: i64,
    /// Was the document useful?
    pub useful: bool,
    /// Up to 2,000 characters; stored encrypted.
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RatingView {
    pub document_id: Uuid,
    pub rating: i64,
    pub useful: bool,
    /// The comment as written; none without one.
    pub comment: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SurveyRequest {
    /// How satisfied are you with the plan? 1 (very unsatisfied) to 5 (very satisfied).
    pub csat: i64,
    /// How many hours would this plan have taken you without Plansmith? 0–10,000.
    pub hours_without: f64,
    /// Up to 2,000 characters; stored encrypted.
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyView {
    pub session_id: Uuid,
    pub csat: i64,
    pub hours_without: f64,
    /// The comment as written; none without one.
    pub comment: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug)]
pub enum QualityError {
    Score(&'static str, i64),
    Hours(f64),
    Comment,
    /// Nothing given yet: what is missing and how to give it.
    NotYet(&'static str, &'static str),
    Common(CommonError),
}

error_family!(QualityError, common);

impl ErrorFamily for QualityError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::NotFound,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        let field = ErrorCode::InvalidField;
        match self {
            Self::Score(name, value) => ApiError::invalid(
                field,
                name,
                format_args!("{value} is not 1 to 5"),
                "Give a whole number from 1 (poor) to 5 (excellent).",
            ),
            Self::Hours(hours) => ApiError::invalid(
                field,
                "hours_without",
                format_args!("{hours} is not 0 to 10,000 hours"),
                "Estimate the hours the plan would have taken you without Plansmith (0 to 10,000).",
            ),
            Self::Comment => ApiError::invalid(
                field,
                "comment",
                format_args!("is longer than {MAX_COMMENT_CHARS} characters"),
                "Shorten the comment to 2,000 characters.",
            ),
            Self::NotYet(what, how) => ApiError::new(ErrorCode::NotFound, *what, *how),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

fn comment(text: Option<String>) -> Result<Option<String>, QualityError> {
    let text = text.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    if text.as_ref().is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return Err(QualityError::Comment);
    }
    Ok(text)
}

fn score(name: &'static str, value: i64) -> Result<i64, QualityError> {
    if (1..=5).contains(&value) {
        Ok(value)
    } else {
        Err(QualityError::Score(name, value))
    }
}

/// The caller's session `id`, when `doc_id` is one of its documents; not found otherwise.
async fn session_with_document(
    state: &AppState,
    auth: &AuthUser,
    id: Uuid,
    doc_id: Uuid,
) -> Result<plansmith_store::PlanningSession, QualityError> {
    let session = crate::sessions::owned(state, auth, id).await?;
    let documents = state.store.list_documents(session.id).await?;
    if !documents.iter().any(|d| d.id.0 == doc_id) {
        return Err(CommonError::not_found("The document").into());
    }
    Ok(session)
}

/// Rate a document of your session: 1–5, useful or not, and a comment. Rating again replaces
/// your earlier rating.
#[utoipa::path(put, path = "/api/v1/sessions/{id}/documents/{doc_id}/rating", tag = "documents",
    operation_id = "rate_document", params(("id" = Uuid, Path), ("doc_id" = Uuid, Path)),
    request_body = RatingRequest, responses((status = 200, body = RatingView), WithJsonBody<QualityError>))]
pub async fn rate(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, doc_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<RatingRequest>,
) -> Result<Json<RatingView>, QualityError> {
    let rating = score("rating", body.rating)?;
    let comment = comment(body.comment)?;
    let session = session_with_document(&state, &auth, id, doc_id).await?;
    let at = Utc::now();
    state
        .store
        .rate_document(DocumentRating {
            document: DocumentId(doc_id),
            session: session.id,
            user: auth.id(),
            rating,
            useful: body.useful,
            comment: comment.clone(),
            at,
        })
        .await?;
    Ok(Json(RatingView {
        document_id: doc_id,
        rating,
        useful: body.useful,
        comment,
        updated_at: at,
    }))
}

/// Answer the end-of-session survey: satisfaction, and how long the plan would have taken
/// without Plansmith. Answering again replaces the earlier answer.
#[utoipa::path(put, path = "/api/v1/sessions/{id}/survey", tag = "sessions", operation_id = "answer_survey",
    params(("id" = Uuid, Path)), request_body = SurveyRequest,
    responses((status = 200, body = SurveyView), WithJsonBody<QualityError>))]
pub async fn survey(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SurveyRequest>,
) -> Result<Json<SurveyView>, QualityError> {
    let csat = score("csat", body.csat)?;
    if !(body.hours_without.is_finite() && (0.0..=MAX_HOURS).contains(&body.hours_without)) {
        return Err(QualityError::Hours(body.hours_without));
    }
    let comment = comment(body.comment)?;
    let session = crate::sessions::owned(&state, &auth, id).await?;
    let at = Utc::now();
    state
        .store
        .save_survey(SessionSurvey {
            session: session.id,
            user: auth.id(),
            csat,
            hours_without: body.hours_without,
            comment: comment.clone(),
            at,
        })
        .await?;
    Ok(Json(SurveyView {
        session_id: id,
        csat,
        hours_without: body.hours_without,
        comment,
        updated_at: at,
    }))
}

/// Your rating of a document of your session, with your comment; `404` until you rate it.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/documents/{doc_id}/rating", tag = "documents",
    operation_id = "get_document_rating", params(("id" = Uuid, Path), ("doc_id" = Uuid, Path)),
    responses((status = 200, body = RatingView), QualityError))]
pub async fn rating(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, doc_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<RatingView>, QualityError> {
    let session = session_with_document(&state, &auth, id, doc_id).await?;
    let feedback = state.store.session_feedback(session.id, auth.id()).await?;
    let rating = feedback
        .ratings
        .into_iter()
        .find(|r| r.document.0 == doc_id)
        .ok_or(QualityError::NotYet(
            "You have not rated this document yet.",
            "Rate it with PUT on this address: a rating from 1 to 5 and whether it was useful.",
        ))?;
    Ok(Json(RatingView {
        document_id: doc_id,
        rating: rating.rating,
        useful: rating.useful,
        comment: rating.comment,
        updated_at: rating.at,
    }))
}

/// Your answer to the end-of-session survey, with your comment; `404` until you answer it.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/survey", tag = "sessions", operation_id = "get_survey",
    params(("id" = Uuid, Path)), responses((status = 200, body = SurveyView), QualityError))]
pub async fn survey_answer(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SurveyView>, QualityError> {
    let session = crate::sessions::owned(&state, &auth, id).await?;
    let survey = state
        .store
        .session_feedback(session.id, auth.id())
        .await?
        .survey
        .ok_or(QualityError::NotYet(
            "You have not answered the survey of this session yet.",
            "Answer it with PUT on this address: your satisfaction from 1 to 5 and the hours the plan would have taken you.",
        ))?;
    Ok(Json(SurveyView {
        session_id: id,
        csat: survey.csat,
        hours_without: survey.hours_without,
        comment: survey.comment,
        updated_at: survey.at,
    }))
}
