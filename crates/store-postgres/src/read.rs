//! The read operations: one statement each, on a pooled connection.

use crate::{PgStore, db_err};
use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentId, Email, MessageId, Revision, SessionId, UserId};
use plansmith_store::rows::{
    DocumentRevisionRow, DocumentRow, LlmCallRow, MessageRow, RevisionRow, SessionRow, UserRow,
};
use plansmith_store::{
    DocumentSnapshot, DocumentSummary, LlmCall, Message, PlanningSession, Result, RevisionInfo, UsageTotals, User,
};

pub(crate) async fn user_by_email(store: &PgStore, email: &Email) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as!(
        UserRow,
        "SELECT id, email, name, password_hash, role, plan, plan_override, disabled, created_at
         FROM users WHERE email = $1",
        email.as_str()
    )
    .fetch_optional(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    row.map(TryInto::try_into).transpose()
}

pub(crate) async fn list_sessions(
    store: &PgStore,
    user: UserId,
    before: Option<SessionId>,
    limit: u32,
) -> Result<Vec<PlanningSession>> {
    let before = before.map(|b| b.0);
    let rows: Vec<SessionRow> = sqlx::query_as!(
        SessionRow,
        "SELECT s.id, s.user_id, s.workflow_id, s.title, s.idea, s.status, s.current_step,
             s.completed_steps, s.created_at, s.updated_at, s.first_message_at, s.completed_at,
             (SELECT COALESCE(SUM(d.filled), 0)::BIGINT FROM documents d WHERE d.session_id = s.id)
                  AS \"sections_filled!\"
         FROM planning_sessions s
         WHERE s.user_id = $1 AND ($2::uuid IS NULL OR s.id < $2)
         ORDER BY s.id DESC
         LIMIT $3",
        user.0,
        before,
        i64::from(limit)
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    rows.into_iter().map(TryInto::try_into).collect()
}

pub(crate) async fn get_session(store: &PgStore, user: UserId, id: SessionId) -> Result<Option<PlanningSession>> {
    let row: Option<SessionRow> = sqlx::query_as!(
        SessionRow,
        "SELECT s.id, s.user_id, s.workflow_id, s.title, s.idea, s.status, s.current_step,
             s.completed_steps, s.created_at, s.updated_at, s.first_message_at, s.completed_at,
             (SELECT COALESCE(SUM(d.filled), 0)::BIGINT FROM documents d WHERE d.session_id = s.id)
                  AS \"sections_filled!\"
         FROM planning_sessions s
         WHERE s.id = $1 AND s.user_id = $2",
        id.0,
        user.0
    )
    .fetch_optional(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    row.map(TryInto::try_into).transpose()
}

pub(crate) async fn list_messages(store: &PgStore, session: SessionId) -> Result<Vec<Message>> {
    let rows: Vec<MessageRow> = sqlx::query_as!(
        MessageRow,
        "SELECT id, session_id, seq, role, step_id, content, status, error_code, error_message,
             provider, model, created_at, updated_at
         FROM messages
         WHERE session_id = $1
         ORDER BY seq",
        session.0
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    rows.into_iter().map(TryInto::try_into).collect()
}

pub(crate) async fn get_message(store: &PgStore, session: SessionId, id: MessageId) -> Result<Option<Message>> {
    let row: Option<MessageRow> = sqlx::query_as!(
        MessageRow,
        "SELECT id, session_id, seq, role, step_id, content, status, error_code, error_message,
             provider, model, created_at, updated_at
         FROM messages
         WHERE id = $1 AND session_id = $2",
        id.0,
        session.0
    )
    .fetch_optional(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    row.map(TryInto::try_into).transpose()
}

pub(crate) async fn reply_events(store: &PgStore, reply: MessageId) -> Result<Option<String>> {
    let events: Option<Option<String>> = sqlx::query_scalar!("SELECT events FROM messages WHERE id = $1", reply.0)
        .fetch_optional(&mut *store.conn().await?)
        .await
        .map_err(db_err)?;
    Ok(events.flatten())
}

pub(crate) async fn usage_since(store: &PgStore, user: UserId, since: DateTime<Utc>) -> Result<UsageTotals> {
    let row = sqlx::query!(
        "SELECT COALESCE(SUM(input_tokens + output_tokens), 0)::BIGINT AS \"tokens!\",
             COALESCE(SUM(cost_micros), 0)::BIGINT AS \"cost!\"
         FROM llm_calls
         WHERE user_id = $1 AND created_at >= $2",
        user.0,
        since
    )
    .fetch_one(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(UsageTotals {
        tokens: row.tokens,
        cost_micros: row.cost,
    })
}

pub(crate) async fn llm_calls_between(store: &PgStore, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<LlmCall>> {
    let rows = sqlx::query_as!(
        LlmCallRow,
        "SELECT user_id, session_id, reply_id, provider, model, input_tokens, output_tokens,
             cost_micros, latency_ms, ttft_ms, attempts, outcome, created_at
         FROM llm_calls
         WHERE created_at >= $1 AND created_at < $2
         ORDER BY created_at",
        from,
        to
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn list_documents(store: &PgStore, session: SessionId) -> Result<Vec<DocumentSummary>> {
    let rows: Vec<DocumentRow> = sqlx::query_as!(
        DocumentRow,
        "SELECT d.id, d.step_id, d.title, d.revision, d.updated_at
         FROM documents d
         WHERE d.session_id = $1
         ORDER BY d.position",
        session.0
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn get_document(
    store: &PgStore,
    session: SessionId,
    id: DocumentId,
    revision: Option<Revision>,
) -> Result<Option<DocumentSnapshot>> {
    // One statement (a consistent snapshot): the document joined to the wanted revision.
    let row = sqlx::query_as!(
        DocumentRevisionRow,
        "SELECT d.id, d.step_id, d.title, d.revision, d.updated_at, r.revision AS \"rev_revision?\",
             r.author AS \"rev_author?\", r.content AS \"rev_content?\",
             r.content_hash AS \"rev_content_hash?\", r.message_id AS \"rev_message_id?\",
             r.created_at AS \"rev_created_at?\"
         FROM documents d
         LEFT JOIN document_revisions r ON r.document_id = d.id AND r.revision = COALESCE($1, d.revision)
         WHERE d.id = $2 AND d.session_id = $3",
        revision.map(Revision::get),
        id.0,
        session.0
    )
    .fetch_optional(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    row.map(|row| row.snapshot(revision)).transpose()
}

pub(crate) async fn current_documents(store: &PgStore, session: SessionId) -> Result<Vec<DocumentSnapshot>> {
    let rows = sqlx::query_as!(
        DocumentRevisionRow,
        "SELECT d.id, d.step_id, d.title, d.revision, d.updated_at, r.revision AS \"rev_revision?\",
             r.author AS \"rev_author?\", r.content AS \"rev_content?\",
             r.content_hash AS \"rev_content_hash?\", r.message_id AS \"rev_message_id?\",
             r.created_at AS \"rev_created_at?\"
         FROM documents d
         LEFT JOIN document_revisions r ON r.document_id = d.id AND r.revision = d.revision
         WHERE d.session_id = $1
         ORDER BY d.position",
        session.0
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    rows.into_iter().map(|row| row.snapshot(None)).collect()
}

pub(crate) async fn list_revisions(store: &PgStore, id: DocumentId) -> Result<Vec<RevisionInfo>> {
    let rows: Vec<RevisionRow> = sqlx::query_as!(
        RevisionRow,
        "SELECT revision, author, '' AS \"content!\", content_hash, message_id, created_at
         FROM document_revisions
         WHERE document_id = $1
         ORDER BY revision DESC",
        id.0
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    rows.into_iter().map(TryInto::try_into).collect()
}
