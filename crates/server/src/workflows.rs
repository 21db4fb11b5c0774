//! The built-in workflows (the `workflows/` folder, embedded at build time) and their listing.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use plansmith_domain::{WorkflowError, Workflows};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../workflows/"]
struct WorkflowFiles;

/// Parses the embedded workflow files.
pub fn builtin() -> Result<Workflows, WorkflowError> {
    let files: Vec<(String, String)> = WorkflowFiles::iter()
        .filter(|name| name.ends_with(".toml"))
        .filter_map(|name| {
            let file = WorkflowFiles::get(&name)?;
            Some((name.to_string(), String::from_utf8_lossy(&file.data).into_owned()))
        })
        .collect();
    Workflows::from_sources(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
}

#[derive(Serialize, ToSchema)]
pub struct WorkflowList {
    pub items: Vec<WorkflowView>,
}

#[derive(Serialize, ToSchema)]
pub struct WorkflowView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub steps: Vec<StepView>,
}

#[derive(Serialize, ToSchema)]
pub struct StepView {
    pub id: String,
    pub title: String,
    pub role: String,
    pub document_title: String,
    pub sections: Vec<SectionView>,
}

#[derive(Serialize, ToSchema)]
pub struct SectionView {
    pub id: String,
    pub title: String,
    pub purpose: String,
}

/// The workflows a planning session can follow: those a `workflow:<id>` feature flag keeps
/// back from the caller (signed in or not) are left out.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows", operation_id = "list_workflows", responses((status = 200, body = WorkflowList)))]
pub async fn list(State(state): State<AppState>, request: axum::extract::Request) -> Json<WorkflowList> {
    use axum::extract::FromRequestParts;
    let (mut parts, _) = request.into_parts();
    // Signed in or not: a visitor sees the workflows open to everyone.
    let user = crate::auth::AuthUser::from_request_parts(&mut parts, &state).await.ok();
    let mut open = Vec::new();
    for w in state.workflows.iter() {
        match crate::flags::workflow_open(&state, user.as_ref(), &w.id).await {
            Ok(false) => {}
            Ok(true) => open.push(w),
            Err(e) => {
                tracing::warn!(workflow = %w.id, error = ?e, "flags unreadable; the workflow is listed");
                open.push(w);
            }
        }
    }
    let items = open
        .into_iter()
        .map(|w| WorkflowView {
            id: w.id.clone(),
            name: w.name.clone(),
            description: w.description.clone(),
            steps: w
                .steps
                .iter()
                .map(|s| StepView {
                    id: s.id.clone(),
                    title: s.title.clone(),
                    role: s.role.clone(),
                    document_title: s.document_title.clone(),
                    sections: s
                        .sections
                        .iter()
                        .map(|c| SectionView {
                            id: c.id.clone(),
                            title: c.title.clone(),
                            purpose: c.purpose.clone(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Json(WorkflowList { items })
}
