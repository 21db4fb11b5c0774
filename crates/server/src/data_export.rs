//! A person's data, all of it, as one JSON document (GDPR Art. 15 access and Art. 20
//! portability): `GET /api/v1/me/export`. Streamed one session at a time, so a large account
//! costs the memory of its largest session, not of the whole account.

use crate::auth::{AuthUser, UserView};
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, error_family};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use plansmith_domain::{SessionId, UserId};
use plansmith_store::{PlanningSession, Store};
use serde_json::{Value, json};
use std::sync::Arc;

/// Sessions read per page while streaming.
const PAGE: u32 = 20;

/// The export's version, for whoever reads it later.
const FORMAT: &str = "plansmith-export-1";

/// What an export can fail with before it starts: sign-in and our side.
#[derive(Debug)]
pub enum ExportError {
    Common(CommonError),
}

error_family!(ExportError, common);

impl ErrorFamily for ExportError {
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

/// One session with everything in it: messages, and every document with every revision.
async fn session_json(store: &dyn Store, session: &PlanningSession) -> Result<Value, CommonError> {
    let messages: Vec<Value> = store
        .list_messages(session.id)
        .await?
        .into_iter()
        .map(|m| {
            json!({
                "id": m.id.0,
                "role": m.role.as_str(),
                "step_id": m.step_id,
                "content": m.content,
                "status": m.status.as_str(),
                "provider": m.provider,
                "model": m.model,
                "created_at": m.created_at,
            })
        })
        .collect();
    let mut documents = Vec::new();
    for doc in store.list_documents(session.id).await? {
        let mut revisions = Vec::new();
        let mut infos = store.list_revisions(doc.id).await?;
        infos.sort_by_key(|r| r.revision);
        for info in infos {
            let content = store
                .get_document(session.id, doc.id, Some(info.revision))
                .await?
                .map(|d| d.content.0)
                .unwrap_or_default();
            revisions.push(json!({
                "revision": info.revision.get(),
                "author": info.author.as_str(),
                "created_at": info.created_at,
                "content_hash": info.content_hash,
                "sections": content,
            }));
        }
        documents.push(json!({
            "id": doc.id.0,
            "step_id": doc.step_id,
            "title": doc.title,
            "current_revision": doc.revision.get(),
            "revisions": revisions,
        }));
    }
    Ok(json!({
        "id": session.id.0,
        "workflow_id": session.workflow_id,
        "title": session.title,
        "idea": session.idea,
        "status": session.status.as_str(),
        "current_step": session.current_step,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "completed_at": session.completed_at,
        "messages": messages,
        "documents": documents,
    }))
}

/// Where the stream is.
enum Part {
    Sessions { before: Option<SessionId>, first: bool },
    Tail,
    Done,
}

struct Exporter {
    store: Arc<dyn Store>,
    user: UserId,
    part: Part,
}

impl Exporter {
    /// The next piece of the document; `None` at its end.
    async fn next(&mut self) -> Option<Result<Bytes, CommonError>> {
        match self.part {
            Part::Done => None,
            Part::Tail => {
                self.part = Part::Done;
                Some(self.tail().await)
            }
            Part::Sessions { before, first } => {
                let page = match self.store.list_sessions(self.user, before, PAGE).await {
                    Ok(page) => page,
                    Err(e) => return Some(Err(e.into())),
                };
                let Some(last) = page.last().map(|s| s.id) else {
                    self.part = Part::Tail;
                    return Some(Ok(Bytes::from_static(b"]")));
                };
                let mut chunk = Vec::new();
                for (i, session) in page.iter().enumerate() {
                    let value = match session_json(self.store.as_ref(), session).await {
                        Ok(value) => value,
                        Err(e) => return Some(Err(e)),
                    };
                    if !(first && i == 0) {
                        chunk.push(b',');
                    }
                    if let Err(e) = serde_json::to_writer(&mut chunk, &value) {
                        return Some(Err(CommonError::internal(e)));
                    }
                }
                self.part = if (page.len() as u32) < PAGE {
                    chunk.push(b']');
                    Part::Tail
                } else {
                    Part::Sessions {
                        before: Some(last),
                        first: false,
                    }
                };
                Some(Ok(Bytes::from(chunk)))
            }
        }
    }

    /// Usage and consents, and the document's end.
    async fn tail(&self) -> Result<Bytes, CommonError> {
        let totals = self.store.usage_since(self.user, DateTime::<Utc>::UNIX_EPOCH).await?;
        let consents: Vec<Value> = self
            .store
            .list_consents(self.user)
            .await?
            .into_iter()
            .map(|c| {
                json!({
                    "kind": c.kind,
                    "version": c.version,
                    "given_at": c.given_at,
                    "withdrawn_at": c.withdrawn_at,
                })
            })
            .collect();
        let tail = json!({
            "llm_usage": {
                "tokens": totals.tokens,
                "cost_usd": totals.cost_micros as f64 / 1_000_000.0,
            },
            "consents": consents,
        });
        // `{"llm_usage":…,"consents":[]}` without its opening brace continues the object.
        let text = tail.to_string();
        Ok(Bytes::from(format!(",{}", &text[1..])))
    }
}

/// Everything Plansmith holds about the signed-in user, as one JSON document: the account, every
/// session with its messages and every revision of every document, model usage and consents.
/// Streamed (`Content-Disposition: attachment`).
#[utoipa::path(get, path = "/api/v1/me/export", tag = "auth", operation_id = "export_my_data",
    responses((status = 200, content_type = "application/json", body = Object), ExportError))]
pub async fn export(State(state): State<AppState>, auth: AuthUser) -> Result<Response, ExportError> {
    state.events.record(
        auth.id(),
        plansmith_store::events::EventKind::FeatureUsed,
        Some("data_export"),
        None,
    );
    let account = serde_json::to_string(&UserView::from(&auth.user)).map_err(CommonError::internal)?;
    let head = format!(
        "{{\"format\":\"{FORMAT}\",\"exported_at\":{},\"account\":{account},\"sessions\":[",
        serde_json::to_string(&Utc::now()).map_err(CommonError::internal)?
    );
    let exporter = Exporter {
        store: Arc::clone(&state.store),
        user: auth.id(),
        part: Part::Sessions {
            before: None,
            first: true,
        },
    };
    let user = auth.id();
    let rest = futures::stream::unfold(exporter, |mut exporter| async move {
        exporter.next().await.map(|piece| (piece, exporter))
    })
    .map(move |piece| {
        piece.map_err(|e| {
            tracing::error!(user = %user, error = ?e, "the data export stopped part way; the client gets a cut document");
            std::io::Error::other("the export could not be completed")
        })
    });
    let body = futures::stream::once(async move { Ok(Bytes::from(head)) }).chain(rest);
    tracing::info!(user = %user, "data export");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"plansmith-export-{}.json\"",
                    Utc::now().format("%Y-%m-%d")
                ),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[ExportError::Common(CommonError::Unauthorized)]);
    }
}
