//! The write operations, each run whole on the writer thread (see `writer.rs`) inside its
//! transaction. Timestamps are stored as RFC 3339 text and ids as 16-byte blobs, the same
//! encoding the readers decode.

use crate::writer::sql_err;
use chrono::{DateTime, SecondsFormat, Utc};
use plansmith_domain::{Author, DocumentContent, DocumentId, MessageId, MessageStatus, SessionId, content_hash};
use plansmith_store::rows::{MessageRow, RevisionRow, SessionRow};
use plansmith_store::{
    AppliedRevision, EndedReply, FinishedReply, LlmCall, Message, NewSession, PlanningSession, PostedMessage, Result,
    StepAdvance, StoreError, User,
};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

/// A timestamp as stored: RFC 3339 with as many fraction digits as it needs.
pub(crate) fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(idx)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

fn time_opt(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get_ref(idx)?.data_type() {
        Type::Null => Ok(None),
        _ => time(row, idx).map(Some),
    }
}

const SESSION: &str = "SELECT s.id, s.user_id, s.workflow_id, s.title, s.idea, s.status, s.current_step, \
     s.completed_steps, s.created_at, s.updated_at, s.first_message_at, s.completed_at, \
     (SELECT COALESCE(SUM(d.filled), 0) FROM documents d WHERE d.session_id = s.id) FROM planning_sessions s WHERE s.id = ?";

const MESSAGE_COLUMNS: &str = "id, session_id, seq, role, step_id, content, status, error_code, error_message, provider, model, created_at, updated_at";

fn message_row(row: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: row.get(0)?,
        session_id: row.get(1)?,
        seq: row.get(2)?,
        role: row.get(3)?,
        step_id: row.get(4)?,
        content: row.get(5)?,
        status: row.get(6)?,
        error_code: row.get(7)?,
        error_message: row.get(8)?,
        provider: row.get(9)?,
        model: row.get(10)?,
        created_at: time(row, 11)?,
        updated_at: time(row, 12)?,
    })
}

fn session_row(conn: &Connection, id: SessionId) -> Result<PlanningSession> {
    let row = conn
        .prepare_cached(SESSION)
        .and_then(|mut s| {
            s.query_row([id.0], |row| {
                Ok(SessionRow {
                    id: row.get(0)?,
                    user_id: row.get(1)?,
                    workflow_id: row.get(2)?,
                    title: row.get(3)?,
                    idea: row.get(4)?,
                    status: row.get(5)?,
                    current_step: row.get(6)?,
                    completed_steps: row.get(7)?,
                    created_at: time(row, 8)?,
                    updated_at: time(row, 9)?,
                    first_message_at: time_opt(row, 10)?,
                    completed_at: time_opt(row, 11)?,
                    sections_filled: row.get(12)?,
                })
            })
            .optional()
        })
        .map_err(sql_err)?
        .ok_or(StoreError::NotFound)?;
    row.try_into()
}

/// Runs a statement that changes rows; returns how many it changed.
fn change(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(sql_err)
}

pub(crate) fn create_user(conn: &Connection, user: &User) -> Result<()> {
    change(
        conn,
        "INSERT INTO users (id, email, name, password_hash, role, plan, created_at) \
         VALUES (?, ?, ?, ?, 'member', 'free', ?)",
        params![
            user.id.0,
            user.email,
            user.name,
            user.password_hash,
            stamp(user.created_at)
        ],
    )
    .map_err(|e| match e {
        StoreError::Duplicate(_) => StoreError::Duplicate("an account with this email"),
        other => other,
    })?;
    Ok(())
}

pub(crate) fn set_user_role(conn: &Connection, email: &str, role: &str) -> Result<bool> {
    Ok(change(conn, "UPDATE users SET role = ? WHERE email = ?", params![role, email])? == 1)
}

pub(crate) fn create_auth_token(
    conn: &Connection,
    token_hash: &[u8],
    user: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    change(
        conn,
        "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        params![token_hash, user, stamp(Utc::now()), stamp(expires_at)],
    )?;
    Ok(())
}

pub(crate) fn delete_auth_token(conn: &Connection, token_hash: &[u8]) -> Result<()> {
    change(conn, "DELETE FROM auth_tokens WHERE token_hash = ?", [token_hash])?;
    Ok(())
}

/// Inserts a message at the next position of its session and returns it as stored.
#[allow(clippy::too_many_arguments)]
fn insert_message(
    conn: &Connection,
    session: SessionId,
    role: &str,
    step_id: &str,
    content: &str,
    status: MessageStatus,
    client_key: Option<&str>,
    now: &str,
) -> Result<Message> {
    let sql = format!(
        "INSERT INTO messages (id, session_id, seq, role, step_id, content, status, client_key, created_at, updated_at) \
         VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE session_id = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?8) \
         RETURNING {MESSAGE_COLUMNS}"
    );
    let row = conn
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row(
                params![
                    MessageId::new().0,
                    session.0,
                    role,
                    step_id,
                    content,
                    status.as_str(),
                    client_key,
                    now
                ],
                message_row,
            )
        })
        .map_err(sql_err)?;
    row.try_into()
}

fn fetch_message(conn: &Connection, id: Uuid) -> Result<Message> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?");
    let row = conn
        .prepare_cached(&sql)
        .and_then(|mut s| s.query_row([id], message_row))
        .map_err(sql_err)?;
    row.try_into()
}

pub(crate) fn create_session(conn: &Connection, new: &NewSession) -> Result<PlanningSession> {
    let now = stamp(Utc::now());
    change(
        conn,
        "INSERT INTO planning_sessions (id, user_id, workflow_id, title, idea, status, current_step, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)",
        params![
            new.id.0,
            new.user_id.0,
            new.workflow_id,
            new.title,
            new.idea,
            new.first_step,
            now,
            now
        ],
    )?;
    for (position, doc) in new.documents.iter().enumerate() {
        change(
            conn,
            "INSERT INTO documents (id, session_id, position, step_id, title, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            params![doc.id.0, new.id.0, position as i64, doc.step_id, doc.title, now],
        )?;
    }
    insert_message(
        conn,
        new.id,
        "assistant",
        &new.first_step,
        &new.intro,
        MessageStatus::Complete,
        None,
        &now,
    )?;
    session_row(conn, new.id)
}

pub(crate) fn complete_step(
    conn: &Connection,
    id: SessionId,
    step_id: &str,
    advance: &StepAdvance,
) -> Result<PlanningSession> {
    let now = stamp(Utc::now());
    let session = session_row(conn, id)?;
    session.check_can_complete(step_id)?;
    match advance {
        StepAdvance::Next { step_id: next, intro } => {
            change(
                conn,
                "UPDATE planning_sessions SET current_step = ?, completed_steps = completed_steps + 1, updated_at = ? \
                 WHERE id = ?",
                params![next, now, id.0],
            )?;
            insert_message(conn, id, "assistant", next, intro, MessageStatus::Complete, None, &now)?;
        }
        StepAdvance::Finish => {
            change(
                conn,
                "UPDATE planning_sessions SET current_step = NULL, completed_steps = completed_steps + 1, \
                 status = 'completed', completed_at = ?1, updated_at = ?1 WHERE id = ?2",
                params![now, id.0],
            )?;
        }
    }
    session_row(conn, id)
}

pub(crate) fn set_session_status(
    conn: &Connection,
    id: SessionId,
    status: plansmith_domain::SessionStatus,
) -> Result<PlanningSession> {
    let now = stamp(Utc::now());
    let completed_at = (status == plansmith_domain::SessionStatus::Completed).then(|| now.clone());
    change(
        conn,
        "UPDATE planning_sessions SET status = ?, completed_at = COALESCE(?, completed_at), updated_at = ? WHERE id = ?",
        params![status.as_str(), completed_at, now, id.0],
    )?;
    session_row(conn, id)
}

pub(crate) fn post_message(
    conn: &Connection,
    session: SessionId,
    step_id: &str,
    content: &str,
    client_key: Option<&str>,
) -> Result<PostedMessage> {
    let now = stamp(Utc::now());
    if let Some(key) = client_key {
        let seq: Option<i64> = conn
            .prepare_cached("SELECT seq FROM messages WHERE session_id = ? AND client_key = ?")
            .and_then(|mut s| s.query_row(params![session.0, key], |r| r.get(0)).optional())
            .map_err(sql_err)?;
        if let Some(seq) = seq {
            let ids: Vec<Uuid> = conn
                .prepare_cached("SELECT id FROM messages WHERE session_id = ? AND seq IN (?, ?) ORDER BY seq")
                .and_then(|mut s| {
                    s.query_map(params![session.0, seq, seq + 1], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(sql_err)?;
            let [message, reply] = ids.as_slice() else {
                return Err(StoreError::Integrity(format!(
                    "message {seq} of session {session} has no reply"
                )));
            };
            return Ok(PostedMessage {
                message: fetch_message(conn, *message)?,
                reply: fetch_message(conn, *reply)?,
                replayed: true,
            });
        }
    }
    let message = insert_message(
        conn,
        session,
        "user",
        step_id,
        content,
        MessageStatus::Complete,
        client_key,
        &now,
    )?;
    let reply = insert_message(
        conn,
        session,
        "assistant",
        step_id,
        "",
        MessageStatus::Queued,
        None,
        &now,
    )?;
    change(
        conn,
        "UPDATE planning_sessions SET updated_at = ?1, first_message_at = COALESCE(first_message_at, ?1) WHERE id = ?2",
        params![now, session.0],
    )?;
    Ok(PostedMessage {
        message,
        reply,
        replayed: false,
    })
}

pub(crate) fn start_reply(conn: &Connection, reply: MessageId, provider: &str, model: &str) -> Result<()> {
    let changed = change(
        conn,
        "UPDATE messages SET status = 'streaming', provider = ?, model = ?, updated_at = ? WHERE id = ? AND status = 'queued'",
        params![provider, model, stamp(Utc::now()), reply.0],
    )?;
    if changed != 1 {
        return Err(StoreError::InvalidState("the reply is no longer queued".into()));
    }
    Ok(())
}

/// Saves the partial text of streaming replies, one statement for the whole batch.
pub(crate) fn checkpoint_replies(conn: &Connection, partial: &[(MessageId, String)]) -> Result<()> {
    let rows: Vec<serde_json::Value> = partial
        .iter()
        .map(|(reply, content)| serde_json::json!({"id": reply.0.simple().to_string(), "content": content}))
        .collect();
    change(
        conn,
        "UPDATE messages SET content = c.content, updated_at = ? \
         FROM (SELECT unhex(value ->> '$.id') AS id, value ->> '$.content' AS content FROM json_each(?)) AS c \
         WHERE messages.id = c.id AND messages.status = 'streaming'",
        params![stamp(Utc::now()), serde_json::Value::Array(rows).to_string()],
    )?;
    Ok(())
}

fn insert_call(conn: &Connection, call: &LlmCall) -> Result<()> {
    change(
        conn,
        "INSERT INTO llm_calls (id, user_id, session_id, reply_id, provider, model, input_tokens, output_tokens, \
         cost_micros, latency_ms, ttft_ms, attempts, outcome, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            Uuid::now_v7(),
            call.user_id.0,
            call.session_id.0,
            call.reply_id.0,
            call.provider,
            call.model,
            call.input_tokens,
            call.output_tokens,
            call.cost_micros,
            call.latency_ms,
            call.ttft_ms,
            call.attempts,
            call.outcome,
            stamp(call.created_at)
        ],
    )?;
    Ok(())
}

fn revision_row(row: &Row<'_>, first: usize) -> rusqlite::Result<RevisionRow> {
    Ok(RevisionRow {
        revision: row.get(first)?,
        author: row.get(first + 1)?,
        content: row.get(first + 2)?,
        content_hash: row.get(first + 3)?,
        message_id: row.get(first + 4)?,
        created_at: time(row, first + 5)?,
    })
}

/// A document's current revision number and content, hash verified (one joined statement).
fn current_content(conn: &Connection, doc: DocumentId) -> Result<(i64, DocumentContent)> {
    let row = conn
        .prepare_cached(
            "SELECT d.revision, r.revision, r.author, r.content, r.content_hash, r.message_id, r.created_at \
             FROM documents d LEFT JOIN document_revisions r ON r.document_id = d.id AND r.revision = d.revision \
             WHERE d.id = ?",
        )
        .and_then(|mut s| {
            s.query_row([doc.0], |row| {
                let current: i64 = row.get(0)?;
                let found = row.get_ref(1)?.data_type() != Type::Null;
                Ok((current, if found { Some(revision_row(row, 1)?) } else { None }))
            })
            .optional()
        })
        .map_err(sql_err)?
        .ok_or(StoreError::NotFound)?;
    match row {
        (0, _) => Ok((0, DocumentContent::default())),
        (current, Some(revision)) => Ok((current, revision.verified_content(doc)?)),
        (current, None) => Err(StoreError::Integrity(format!(
            "document {doc} is at revision {current} but that revision is missing"
        ))),
    }
}

fn revision_content(conn: &Connection, doc: DocumentId, revision: i64) -> Result<DocumentContent> {
    if revision == 0 {
        return Ok(DocumentContent::default());
    }
    conn.prepare_cached(
        "SELECT revision, author, content, content_hash, message_id, created_at FROM document_revisions \
         WHERE document_id = ? AND revision = ?",
    )
    .and_then(|mut s| {
        s.query_row(params![doc.0, revision], |row| revision_row(row, 0))
            .optional()
    })
    .map_err(sql_err)?
    .ok_or(StoreError::NotFound)?
    .verified_content(doc)
}

/// Appends the next revision of a document and touches its session.
fn write_revision(
    conn: &Connection,
    doc: DocumentId,
    expected: i64,
    content: &DocumentContent,
    author: Author,
    message: Option<MessageId>,
    now: &str,
) -> Result<i64> {
    let next = expected + 1;
    let json = content.to_canonical_json();
    let session: Option<Uuid> = conn
        .prepare_cached(
            "UPDATE documents SET revision = ?, filled = ?, updated_at = ? WHERE id = ? AND revision = ? \
             RETURNING session_id",
        )
        .and_then(|mut s| {
            s.query_row(params![next, content.filled() as i64, now, doc.0, expected], |r| {
                r.get(0)
            })
            .optional()
        })
        .map_err(sql_err)?;
    let Some(session) = session else {
        let current: i64 = conn
            .prepare_cached("SELECT revision FROM documents WHERE id = ?")
            .and_then(|mut s| s.query_row([doc.0], |r| r.get(0)))
            .map_err(sql_err)?;
        return Err(StoreError::RevisionConflict { current });
    };
    change(
        conn,
        "INSERT INTO document_revisions (document_id, revision, author, content, content_hash, message_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![
            doc.0,
            next,
            author.as_str(),
            json,
            content_hash(&json),
            message.map(|m| m.0),
            now
        ],
    )?;
    change(
        conn,
        "UPDATE planning_sessions SET updated_at = ? WHERE id = ?",
        params![now, session],
    )?;
    Ok(next)
}

pub(crate) fn finish_reply(conn: &Connection, finished: &FinishedReply) -> Result<Vec<AppliedRevision>> {
    let now = stamp(Utc::now());
    let mut applied = Vec::new();
    for update in &finished.updates {
        let (revision, mut content) = current_content(conn, update.document_id)?;
        for (section, markdown) in &update.sections {
            content.set(section, markdown);
        }
        let revision = write_revision(
            conn,
            update.document_id,
            revision,
            &content,
            Author::Ai,
            Some(finished.reply_id),
            &now,
        )?;
        applied.push(AppliedRevision {
            document_id: update.document_id,
            revision,
        });
    }
    let changed = change(
        conn,
        "UPDATE messages SET status = 'complete', content = ?, events = ?, provider = ?, model = ?, error_code = NULL, \
         error_message = NULL, updated_at = ? WHERE id = ? AND status = 'streaming'",
        params![
            finished.content,
            finished.events,
            finished.provider,
            finished.model,
            now,
            finished.reply_id.0
        ],
    )?;
    if changed != 1 {
        return Err(StoreError::InvalidState("the reply is no longer streaming".into()));
    }
    if let Some(call) = &finished.call {
        insert_call(conn, call)?;
    }
    Ok(applied)
}

pub(crate) fn end_reply(conn: &Connection, ended: &EndedReply) -> Result<()> {
    change(
        conn,
        "UPDATE messages SET status = ?, content = ?, events = ?, error_code = ?, error_message = ?, updated_at = ? \
         WHERE id = ? AND status IN ('queued', 'streaming')",
        params![
            ended.status.as_str(),
            ended.content,
            ended.events,
            ended.error_code,
            ended.error_message,
            stamp(Utc::now()),
            ended.reply_id.0
        ],
    )?;
    if let Some(call) = &ended.call {
        insert_call(conn, call)?;
    }
    Ok(())
}

pub(crate) fn save_reply_events(conn: &Connection, reply: MessageId, events: &str) -> Result<()> {
    change(
        conn,
        "UPDATE messages SET events = ? WHERE id = ?",
        params![events, reply.0],
    )?;
    Ok(())
}

pub(crate) fn reset_reply(conn: &Connection, reply: MessageId) -> Result<Message> {
    let changed = change(
        conn,
        "UPDATE messages SET status = 'queued', content = '', events = NULL, error_code = NULL, error_message = NULL, \
         updated_at = ? WHERE id = ? AND role = 'assistant' AND status IN ('failed', 'interrupted')",
        params![stamp(Utc::now()), reply.0],
    )?;
    if changed != 1 {
        return Err(StoreError::InvalidState(
            "only a failed or interrupted reply can be retried".into(),
        ));
    }
    fetch_message(conn, reply.0)
}

pub(crate) fn interrupt_unfinished(conn: &Connection) -> Result<u64> {
    let changed = change(
        conn,
        "UPDATE messages SET status = 'interrupted', error_code = 'interrupted', \
         error_message = 'The server restarted while this reply was being written. Retry it to get a complete answer.', \
         updated_at = ? WHERE status IN ('queued', 'streaming')",
        [stamp(Utc::now())],
    )?;
    Ok(changed as u64)
}

pub(crate) fn edit_section(
    conn: &Connection,
    id: DocumentId,
    section_id: &str,
    content: &str,
    base_revision: i64,
) -> Result<i64> {
    let (current, mut doc) = current_content(conn, id)?;
    if current != base_revision {
        return Err(StoreError::RevisionConflict { current });
    }
    doc.set(section_id, content);
    write_revision(conn, id, current, &doc, Author::User, None, &stamp(Utc::now()))
}

pub(crate) fn restore_revision(conn: &Connection, id: DocumentId, revision: i64) -> Result<i64> {
    let (current, _) = current_content(conn, id)?;
    if revision < 0 || revision > current {
        return Err(StoreError::NotFound);
    }
    let content = revision_content(conn, id, revision)?;
    write_revision(conn, id, current, &content, Author::User, None, &stamp(Utc::now()))
}
