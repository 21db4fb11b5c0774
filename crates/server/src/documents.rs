//! Documents: read at any revision, edit a section against a base revision, list revisions,
//! restore, export as Markdown.

use crate::auth::AuthUser;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::sessions::{check_owner, owned, workflow_of};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentId, Revision, SessionId, StepDef};
use plansmith_store::DocumentSnapshot;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What the document routes can answer besides success.
#[derive(Debug)]
pub enum DocumentError {
    SectionTooLong { max: usize },
    Common(CommonError),
}

error_family!(DocumentError, common);

impl ErrorFamily for DocumentError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::InvalidQuery,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::RevisionConflict,
        ErrorCode::SessionClosed,
        ErrorCode::RateLimited,
        ErrorCode::LimitReached,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::SectionTooLong { max } => ApiError::invalid(
                ErrorCode::InvalidField,
                "content",
                format_args!("is longer than {max} characters"),
                "Shorten the section.",
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentSummaryView {
    pub id: Uuid,
    pub step_id: String,
    pub title: String,
    pub revision: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentList {
    pub items: Vec<DocumentSummaryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: Uuid,
    pub step_id: String,
    pub title: String,
    pub revision: i64,
    /// SHA-256 (hex) of the revision's canonical content.
    pub content_hash: String,
    pub sections: Vec<SectionContent>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SectionContent {
    pub id: String,
    pub title: String,
    /// Markdown; empty when not written yet.
    pub content: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevisionQuery {
    /// Read this revision instead of the latest.
    pub revision: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// The moment to look at, RFC 3339 (e.g. `2026-12-03T15:00:00Z`).
    pub time: DateTime<Utc>,
}

/// A session's documents as they were at a moment.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionAt {
    pub time: DateTime<Utc>,
    /// Each document at its last revision made at or before `time`; revision 0 (every section
    /// empty) before its first. Empty when the session did not exist yet.
    pub documents: Vec<DocumentView>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EditSection {
    pub content: String,
    /// The document revision the edit is based on; must be the current one.
    pub base_revision: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RestoreRequest {
    pub revision: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionResponse {
    pub revision: i64,
    pub content_hash: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub revision: i64,
    /// `ai` or `user`.
    pub author: String,
    pub content_hash: String,
    /// The reply that made an AI revision.
    pub message_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// The earlier revision this one restored: its content equals that revision's, which is
    /// not the one just before it.
    pub restored_from: Option<i64>,
    /// Ids of the sections this revision changed from the one before (revision 1: the
    /// sections it wrote), in the step's order.
    pub changed_sections: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionList {
    pub items: Vec<RevisionView>,
}

fn document_view(step: &StepDef, doc: &DocumentSnapshot) -> DocumentView {
    DocumentView {
        id: doc.id.0,
        step_id: doc.step_id.clone(),
        title: doc.title.clone(),
        revision: doc.revision.get(),
        content_hash: doc.content_hash.clone(),
        sections: step
            .sections
            .iter()
            .map(|s| SectionContent {
                id: s.id.clone(),
                title: s.title.clone(),
                content: doc.content.section(&s.id).to_owned(),
            })
            .collect(),
        created_at: doc.created_at,
    }
}

async fn load(
    state: &AppState,
    session: SessionId,
    doc: Uuid,
    revision: Option<Revision>,
) -> Result<DocumentSnapshot, CommonError> {
    state
        .store
        .get_document(session, DocumentId(doc), revision)
        .await?
        .ok_or_else(|| CommonError::not_found("The document"))
}

async fn step_of(state: &AppState, auth: &AuthUser, session: Uuid, step_id: &str) -> Result<StepDef, CommonError> {
    let session = owned(state, auth, session).await?;
    let workflow = workflow_of(state, &session)?;
    workflow
        .step(step_id)
        .cloned()
        .ok_or_else(|| CommonError::internal(format_args!("document of unknown step {step_id}")))
}

/// The session's documents, one per workflow step.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/documents", tag = "documents", operation_id = "list_documents", params(("id" = Uuid, Path)),
    responses((status = 200, body = DocumentList), DocumentError))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DocumentList>, DocumentError> {
    let session = check_owner(&state, &auth, id).await?;
    let items = state
        .store
        .list_documents(session)
        .await?
        .into_iter()
        .map(|d| DocumentSummaryView {
            id: d.id.0,
            step_id: d.step_id,
            title: d.title,
            revision: d.revision.get(),
            updated_at: d.updated_at,
        })
        .collect();
    Ok(Json(DocumentList { items }))
}

/// A document at its latest revision or at `?revision=N`.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/documents/{doc_id}", tag = "documents", operation_id = "get_document",
    params(("id" = Uuid, Path), ("doc_id" = Uuid, Path), RevisionQuery),
    responses((status = 200, body = DocumentView), DocumentError))]
pub async fn get(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, doc_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<RevisionQuery>,
) -> Result<Json<DocumentView>, DocumentError> {
    let session = check_owner(&state, &auth, id).await?;
    let doc = load(&state, session, doc_id, q.revision.map(Revision)).await?;
    let step = step_of(&state, &auth, id, &doc.step_id).await?;
    Ok(Json(document_view(&step, &doc)))
}

/// The session's documents as they were at `time`: each at its last revision made at or
/// before then (point-in-time view; restore a revision to bring it back).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/at", tag = "documents", operation_id = "session_at",
    params(("id" = Uuid, Path), AtQuery),
    responses((status = 200, body = SessionAt), DocumentError))]
pub async fn at(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<Json<SessionAt>, DocumentError> {
    let session = owned(&state, &auth, id).await?;
    let workflow = workflow_of(&state, &session)?;
    let mut documents = Vec::new();
    if session.created_at > q.time {
        return Ok(Json(SessionAt {
            time: q.time,
            documents,
        }));
    }
    for summary in state.store.list_documents(session.id).await? {
        let Some(step) = workflow.steps.iter().find(|s| s.id == summary.step_id) else {
            continue;
        };
        let revisions = state.store.list_revisions(summary.id).await?;
        let then = revisions
            .iter()
            .filter(|r| r.created_at <= q.time)
            .max_by_key(|r| r.revision.get());
        documents.push(match then {
            Some(then) => document_view(
                step,
                &load(&state, session.id, summary.id.0, Some(then.revision)).await?,
            ),
            // Made with the session, not written yet: every section empty (revision 0).
            None => DocumentView {
                id: summary.id.0,
                step_id: summary.step_id.clone(),
                title: summary.title.clone(),
                revision: 0,
                content_hash: String::new(),
                sections: step
                    .sections
                    .iter()
                    .map(|s| SectionContent {
                        id: s.id.clone(),
                        title: s.title.clone(),
                        content: String::new(),
                    })
                    .collect(),
                created_at: session.created_at,
            },
        });
    }
    Ok(Json(SessionAt {
        time: q.time,
        documents,
    }))
}

/// Replace one section's Markdown. `base_revision` must be the current revision, otherwise
/// 409 tells the current one.
#[utoipa::path(put, path = "/api/v1/sessions/{id}/documents/{doc_id}/sections/{section_id}", tag = "documents", operation_id = "edit_section",
    params(("id" = Uuid, Path), ("doc_id" = Uuid, Path), ("section_id" = String, Path)), request_body = EditSection,
    responses((status = 200, body = RevisionResponse), WithJsonBody<DocumentError>))]
pub async fn edit_section(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, doc_id, section_id)): ApiPath<(Uuid, Uuid, String)>,
    ApiJson(body): ApiJson<EditSection>,
) -> Result<Json<RevisionResponse>, DocumentError> {
    let session = owned(&state, &auth, id).await?;
    session.state().check_document_change()?;
    let doc = load(&state, session.id, doc_id, None).await?;
    let step = step_of(&state, &auth, id, &doc.step_id).await?;
    if step.section(&section_id).is_none() {
        return Err(CommonError::not_found(format!("Section '{section_id}' of the {}", step.document_title)).into());
    }
    let max = state.settings.limits.max_section_chars;
    if body.content.chars().count() > max {
        return Err(DocumentError::SectionTooLong { max });
    }
    let revision = state
        .store
        .edit_section(
            DocumentId(doc_id),
            &section_id,
            &body.content,
            Revision(body.base_revision),
        )
        .await?;
    state.events.record(
        auth.id(),
        plansmith_store::events::EventKind::FeatureUsed,
        Some("section_edit"),
        Some(&session.workflow_id),
    );
    let doc = load(&state, session.id, doc_id, Some(revision)).await?;
    Ok(Json(RevisionResponse {
        revision: revision.get(),
        content_hash: doc.content_hash,
    }))
}

/// The document's revisions, newest first, each with the sections it changed and, for a
/// restore, the revision it restored.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/documents/{doc_id}/revisions", tag = "documents", operation_id = "list_revisions",
    params(("id" = Uuid, Path), ("doc_id" = Uuid, Path)),
    responses((status = 200, body = RevisionList), DocumentError))]
pub async fn revisions(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, doc_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<RevisionList>, DocumentError> {
    let session = check_owner(&state, &auth, id).await?;
    let current = load(&state, session, doc_id, None).await?;
    let step = step_of(&state, &auth, id, &current.step_id).await?;
    // Oldest first, to compare each with the one before it.
    let mut infos = state.store.list_revisions(DocumentId(doc_id)).await?;
    infos.sort_by_key(|r| r.revision);
    let mut items = Vec::with_capacity(infos.len());
    let mut before = plansmith_domain::DocumentContent::default();
    for (i, info) in infos.iter().enumerate() {
        let content = load(&state, session, doc_id, Some(info.revision)).await?.content;
        let changed_sections = step
            .sections
            .iter()
            .filter(|s| content.section(&s.id).trim() != before.section(&s.id).trim())
            .map(|s| s.id.clone())
            .collect();
        let previous_hash = i.checked_sub(1).map(|p| infos[p].content_hash.as_str());
        let restored_from = (previous_hash != Some(info.content_hash.as_str()))
            .then(|| {
                infos[..i.saturating_sub(1)]
                    .iter()
                    .rev()
                    .find(|earlier| earlier.content_hash == info.content_hash)
                    .map(|earlier| earlier.revision.get())
            })
            .flatten();
        items.push(RevisionView {
            revision: info.revision.get(),
            author: info.author.as_str().into(),
            content_hash: info.content_hash.clone(),
            message_id: info.message_id.map(|m| m.0),
            created_at: info.created_at,
            restored_from,
            changed_sections,
        });
        before = content;
    }
    items.reverse();
    Ok(Json(RevisionList { items }))
}

/// Make a new revision equal to an earlier one.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/documents/{doc_id}/restore", tag = "documents", operation_id = "restore_revision",
    params(("id" = Uuid, Path), ("doc_id" = Uuid, Path)), request_body = RestoreRequest,
    responses((status = 200, body = RevisionResponse), WithJsonBody<DocumentError>))]
pub async fn restore(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, doc_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<RestoreRequest>,
) -> Result<Json<RevisionResponse>, DocumentError> {
    let session = owned(&state, &auth, id).await?;
    session.state().check_document_change()?;
    load(&state, session.id, doc_id, None).await?;
    let revision = state
        .store
        .restore_revision(DocumentId(doc_id), Revision(body.revision))
        .await?;
    state.events.record(
        auth.id(),
        plansmith_store::events::EventKind::FeatureUsed,
        Some("revision_restore"),
        Some(&session.workflow_id),
    );
    let doc = load(&state, session.id, doc_id, Some(revision)).await?;
    Ok(Json(RevisionResponse {
        revision: revision.get(),
        content_hash: doc.content_hash,
    }))
}

/// The document as one Markdown file.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/documents/{doc_id}/export.md", tag = "documents", operation_id = "export_document",
    params(("id" = Uuid, Path), ("doc_id" = Uuid, Path), RevisionQuery),
    responses((status = 200, content_type = "text/markdown", body = String), DocumentError))]
pub async fn export(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, doc_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<RevisionQuery>,
) -> Result<Response, DocumentError> {
    let session = owned(&state, &auth, id).await?;
    let doc = load(&state, session.id, doc_id, q.revision.map(Revision)).await?;
    let step = step_of(&state, &auth, id, &doc.step_id).await?;
    state.events.record(
        auth.id(),
        plansmith_store::events::EventKind::DocumentExported,
        Some("md"),
        Some(&session.workflow_id),
    );
    let mut markdown = format!("# {} — {}\n\n", doc.title, session.title);
    for section in &step.sections {
        let content = doc.content.section(&section.id).trim();
        markdown.push_str(&format!(
            "## {}\n\n{}\n\n",
            section.title,
            if content.is_empty() {
                "_Not written yet._"
            } else {
                content
            }
        ));
    }
    let filename = format!("{}-{}.md", doc.step_id, doc.revision);
    Ok((
        [
            (header::CONTENT_TYPE, "text/markdown; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        markdown,
    )
        .into_response())
}

/// The session's documents in workflow order, each with its step's sections (title, Markdown).
async fn plan_of(
    state: &AppState,
    auth: &AuthUser,
    id: Uuid,
) -> Result<(plansmith_store::PlanningSession, Vec<(StepDef, DocumentSnapshot)>), DocumentError> {
    let session = owned(state, auth, id).await?;
    let workflow = workflow_of(state, &session)?;
    let mut documents = state.store.current_documents(session.id).await?;
    let mut plan = Vec::new();
    for step in &workflow.steps {
        if let Some(i) = documents.iter().position(|d| d.step_id == step.id) {
            plan.push((step.clone(), documents.swap_remove(i)));
        }
    }
    Ok((session, plan))
}

fn attachment(content_type: &str, filename: String, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// A file name from a title: letters, digits and dashes.
fn file_stem(title: &str) -> String {
    let stem: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let stem = stem.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-");
    if stem.is_empty() {
        "plan".into()
    } else {
        stem.chars().take(60).collect()
    }
}

/// The whole plan as one Markdown file: every document of the session in workflow order.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/export.md", tag = "documents", operation_id = "export_plan_markdown",
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/markdown", body = String), DocumentError))]
pub async fn export_plan_markdown(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, DocumentError> {
    let (session, plan) = plan_of(&state, &auth, id).await?;
    state.events.record(
        auth.id(),
        plansmith_store::events::EventKind::DocumentExported,
        Some("md"),
        Some(&session.workflow_id),
    );
    let mut markdown = format!("# {}\n\n> {}\n\n", session.title, session.idea.replace('\n', "\n> "));
    for (step, doc) in &plan {
        markdown.push_str(&format!("## {}\n\n", doc.title));
        for section in &step.sections {
            let content = doc.content.section(&section.id).trim();
            // Section headings one level below the document's; the section's own headings
            // keep their Markdown.
            markdown.push_str(&format!(
                "### {}\n\n{}\n\n",
                section.title,
                if content.is_empty() {
                    "_Not written yet._"
                } else {
                    content
                }
            ));
        }
    }
    Ok(attachment(
        "text/markdown; charset=utf-8",
        format!("{}.md", file_stem(&session.title)),
        markdown,
    ))
}

/// The whole plan as a Word document (`.docx`): every document of the session in workflow
/// order, headings, lists, emphasis and tables kept.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/export.docx", tag = "documents", operation_id = "export_plan_docx",
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document", body = Vec<u8>), DocumentError))]
pub async fn export_plan_docx(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, DocumentError> {
    let (session, plan) = plan_of(&state, &auth, id).await?;
    state.events.record(
        auth.id(),
        plansmith_store::events::EventKind::DocumentExported,
        Some("docx"),
        Some(&session.workflow_id),
    );
    let parts: Vec<crate::docx::Part<'_>> = plan
        .iter()
        .map(|(step, doc)| crate::docx::Part {
            title: &doc.title,
            sections: step
                .sections
                .iter()
                .map(|s| (s.title.as_str(), doc.content.section(&s.id)))
                .collect(),
        })
        .collect();
    let subtitle = format!("Plan made with Plansmith, {}", Utc::now().format("%-d %B %Y"));
    let bytes = crate::docx::plan(&session.title, &subtitle, &parts).map_err(CommonError::internal)?;
    Ok(attachment(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        format!("{}.docx", file_stem(&session.title)),
        bytes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;
    use plansmith_store::StoreError;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            DocumentError::SectionTooLong { max: 10 },
            StoreError::RevisionConflict { current: Revision(3) }.into(),
            StoreError::RevisionNotFound(Revision(9)).into(),
            StoreError::Duplicate.into(),
            plansmith_store::SessionRefusal::Closed(plansmith_domain::SessionStatus::Abandoned).into(),
        ]);
    }
}
