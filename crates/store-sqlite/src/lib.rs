//! The SQLite backend of the Store API, the embedded default. Writes go through a single
//! connection (SQLite allows one writer; queueing in the pool beats `database is locked`),
//! reads through a pool of WAL readers. Owns its schema in `migrations/`. Knows no HTTP.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use plansmith_domain::{
    Author, DocumentContent, DocumentId, Email, MessageId, MessageStatus, Role, SessionId, SessionStatus, UserId,
    content_hash,
};
use plansmith_store::rows::{DocumentRow, LlmCallRow, MessageRow, RevisionRow, SessionRow, UserRow};
use plansmith_store::{
    AppliedRevision, DocumentSnapshot, DocumentSummary, EndedReply, FinishedReply, LlmCall, Message, NewSession,
    NewUser, PlanningSession, PoolStats, PostedMessage, Result, RevisionInfo, StepAdvance, Store, StoreError,
    UsageTotals, User,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Pool settings for the SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub max_readers: u32,
    pub acquire_timeout: Duration,
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_readers: 8,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate("record"),
        _ => StoreError::Database(e.to_string()),
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `url` (`sqlite://path` or `sqlite::memory:`).
    pub async fn connect(url: &str, options: &SqliteOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid SQLite URL '{url}': {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout);
        if let Some(parent) = Path::new(connect.get_filename()).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unavailable(format!("cannot create the folder {}: {e}", parent.display())))?;
        }
        // Connections are in-process files: a test query before each use would only add a
        // round trip to the connection's thread for every operation.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(db_err)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_readers.max(1))
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.read_only(true))
            .await
            .map_err(db_err)?;
        Ok(Self { writer, reader })
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn session_row(&self, tx: &mut Transaction<'_, Sqlite>, id: SessionId) -> Result<PlanningSession> {
        let row: SessionRow = sqlx::query_as!(SessionRow, "SELECT s.id AS \"id: Uuid\", s.user_id AS \"user_id: Uuid\", s.workflow_id, s.title, s.idea, s.status, s.current_step, s.completed_steps, s.created_at AS \"created_at: DateTime<Utc>\", s.updated_at AS \"updated_at: DateTime<Utc>\", s.first_message_at AS \"first_message_at: DateTime<Utc>\", s.completed_at AS \"completed_at: DateTime<Utc>\", (SELECT COALESCE(SUM(d.filled), 0) FROM documents d WHERE d.session_id = s.id) AS \"sections_filled!: i64\" FROM planning_sessions s WHERE s.id = ?", id.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        row.try_into()
    }
}

/// Current content of a document inside a write transaction, hash verified.
/// One statement: the document's revision joined to that revision's content.
async fn current_content(tx: &mut Transaction<'_, Sqlite>, doc: DocumentId) -> Result<(i64, DocumentContent)> {
    let row = sqlx::query!(
        "SELECT d.revision, r.author AS \"author?\", r.content AS \"content?\", r.content_hash AS \"content_hash?\", \
         r.message_id AS \"message_id?: Uuid\", r.created_at AS \"created_at?: DateTime<Utc>\" \
         FROM documents d LEFT JOIN document_revisions r ON r.document_id = d.id AND r.revision = d.revision \
         WHERE d.id = ?",
        doc.0
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?
    .ok_or(StoreError::NotFound)?;
    if row.revision == 0 {
        return Ok((0, DocumentContent::default()));
    }
    let (Some(author), Some(content), Some(content_hash), Some(created_at)) =
        (row.author, row.content, row.content_hash, row.created_at)
    else {
        return Err(StoreError::Integrity(format!(
            "document {doc} is at revision {} but that revision is missing",
            row.revision
        )));
    };
    let revision = RevisionRow {
        revision: row.revision,
        author,
        content,
        content_hash,
        message_id: row.message_id,
        created_at,
    };
    Ok((row.revision, revision.verified_content(doc)?))
}

async fn revision_content<'e, E>(executor: E, doc: DocumentId, revision: i64) -> Result<DocumentContent>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    if revision == 0 {
        return Ok(DocumentContent::default());
    }
    let row: RevisionRow = sqlx::query_as!(RevisionRow, "SELECT revision, author, content, content_hash, message_id AS \"message_id: Uuid\", created_at AS \"created_at: DateTime<Utc>\" FROM document_revisions WHERE document_id = ? AND revision = ?", doc.0, revision)
    .fetch_optional(executor)
    .await
    .map_err(db_err)?
    .ok_or(StoreError::NotFound)?;
    row.verified_content(doc)
}

/// Appends the next revision of a document; the caller holds the write transaction.
async fn write_revision(
    tx: &mut Transaction<'_, Sqlite>,
    doc: DocumentId,
    expected: i64,
    content: &DocumentContent,
    author: Author,
    message: Option<MessageId>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let next = expected + 1;
    let json = content.to_canonical_json();
    // The session to touch comes back with the update: one round trip fewer for the writer.
    let session = sqlx::query_scalar!(
        "UPDATE documents SET revision = ?, filled = ?, updated_at = ? WHERE id = ? AND revision = ? \
         RETURNING session_id AS \"session_id!: Uuid\"",
        next,
        content.filled() as i64,
        now,
        doc.0,
        expected
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    let Some(session) = session else {
        let current: i64 = sqlx::query_scalar!("SELECT revision FROM documents WHERE id = ?", doc.0)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_err)?;
        return Err(StoreError::RevisionConflict { current });
    };
    sqlx::query!(
        "INSERT INTO document_revisions (document_id, revision, author, content, content_hash, message_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        doc.0,
        next,
        author.as_str(),
        &json,
        content_hash(&json),
        message.map(|m| m.0),
        now
    )
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    touch_session(tx, session, now).await?;
    Ok(next)
}

async fn touch_session(tx: &mut Transaction<'_, Sqlite>, session: Uuid, now: DateTime<Utc>) -> Result<()> {
    sqlx::query!("UPDATE planning_sessions SET updated_at = ? WHERE id = ?", now, session)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Inserts a message at the next position of its session and returns it as stored (one
/// statement: the writer is held for as few round trips as possible).
#[allow(clippy::too_many_arguments)]
async fn insert_message(
    tx: &mut Transaction<'_, Sqlite>,
    session: SessionId,
    role: &str,
    step_id: &str,
    content: &str,
    status: MessageStatus,
    client_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Message> {
    let id = MessageId::new();
    let row: MessageRow = sqlx::query_as!(
        MessageRow,
        "INSERT INTO messages (id, session_id, seq, role, step_id, content, status, client_key, created_at, updated_at) \
         VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE session_id = ?), ?, ?, ?, ?, ?, ?, ?) \
         RETURNING id AS \"id!: Uuid\", session_id AS \"session_id!: Uuid\", seq AS \"seq!: i64\", role AS \"role!\", step_id AS \"step_id!\", content AS \"content!\", status AS \"status!\", error_code, error_message, provider, model, created_at AS \"created_at!: DateTime<Utc>\", updated_at AS \"updated_at!: DateTime<Utc>\"",
        id.0,
        session.0,
        session.0,
        role,
        step_id,
        content,
        status.as_str(),
        client_key,
        now,
        now
    )
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    row.try_into()
}

async fn fetch_message(tx: &mut Transaction<'_, Sqlite>, id: MessageId) -> Result<Message> {
    let row: MessageRow = sqlx::query_as!(MessageRow, "SELECT id AS \"id: Uuid\", session_id AS \"session_id: Uuid\", seq, role, step_id, content, status, error_code, error_message, provider, model, created_at AS \"created_at: DateTime<Utc>\", updated_at AS \"updated_at: DateTime<Utc>\" FROM messages WHERE id = ?", id.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    row.try_into()
}

/// Records a model call inside the caller's transaction.
async fn insert_call(tx: &mut Transaction<'_, Sqlite>, call: &LlmCall) -> Result<()> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO llm_calls (id, user_id, session_id, reply_id, provider, model, input_tokens, output_tokens, cost_micros, latency_ms, ttft_ms, attempts, outcome, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        id,
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
        call.created_at
    )
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.reader.size() + self.writer.size(),
            idle: (self.reader.num_idle() + self.writer.num_idle()) as u32,
            ..PoolStats::default()
        }
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(db_err)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<usize> {
        let before: i64 = applied_migrations(&self.writer).await;
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        let after: i64 = applied_migrations(&self.writer).await;
        Ok((after - before).max(0) as usize)
    }

    async fn create_user(&self, new: NewUser) -> Result<User> {
        let id = UserId::new();
        let now = Utc::now();
        sqlx::query!("INSERT INTO users (id, email, name, password_hash, role, plan, created_at) VALUES (?, ?, ?, ?, 'member', 'free', ?)", id.0, new.email.as_str(), new.name.as_deref(), &new.password_hash, now)
        .execute(&self.writer)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Duplicate(_) => StoreError::Duplicate("an account with this email"),
            other => other,
        })?;
        Ok(User {
            id,
            email: new.email.as_str().to_owned(),
            name: new.name,
            password_hash: new.password_hash,
            role: Role::Member,
            plan: plansmith_domain::Plan::Free,
            created_at: now,
        })
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as!(UserRow, "SELECT id AS \"id: Uuid\", email, name, password_hash, role, plan, created_at AS \"created_at: DateTime<Utc>\" FROM users WHERE email = ?", email.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn set_user_role(&self, email: &Email, role: Role) -> Result<bool> {
        let done = sqlx::query!(
            "UPDATE users SET role = ? WHERE email = ?",
            role.as_str(),
            email.as_str()
        )
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_auth_token(&self, token_hash: &[u8], user: UserId, expires_at: DateTime<Utc>) -> Result<()> {
        sqlx::query!(
            "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            token_hash,
            user.0,
            Utc::now(),
            expires_at
        )
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn user_by_token(&self, token_hash: &[u8], now: DateTime<Utc>) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as!(UserRow, "SELECT u.id AS \"id: Uuid\", u.email, u.name, u.password_hash, u.role, u.plan, u.created_at AS \"created_at: DateTime<Utc>\" FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND t.expires_at > ?", token_hash, now)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn delete_auth_token(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query!("DELETE FROM auth_tokens WHERE token_hash = ?", token_hash)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_session(&self, new: NewSession) -> Result<PlanningSession> {
        let now = Utc::now();
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        sqlx::query!("INSERT INTO planning_sessions (id, user_id, workflow_id, title, idea, status, current_step, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?)", new.id.0, new.user_id.0, &new.workflow_id, &new.title, &new.idea, &new.first_step, now, now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for (position, doc) in new.documents.iter().enumerate() {
            sqlx::query!("INSERT INTO documents (id, session_id, position, step_id, title, updated_at) VALUES (?, ?, ?, ?, ?, ?)", doc.id.0, new.id.0, position as i64, &doc.step_id, &doc.title, now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        insert_message(
            &mut tx,
            new.id,
            "assistant",
            &new.first_step,
            &new.intro,
            MessageStatus::Complete,
            None,
            now,
        )
        .await?;
        let session = self.session_row(&mut tx, new.id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(session)
    }

    async fn list_sessions(&self, user: UserId, before: Option<SessionId>, limit: u32) -> Result<Vec<PlanningSession>> {
        let before = before.map(|b| b.0);
        let rows: Vec<SessionRow> = sqlx::query_as!(SessionRow, "SELECT s.id AS \"id: Uuid\", s.user_id AS \"user_id: Uuid\", s.workflow_id, s.title, s.idea, s.status, s.current_step, s.completed_steps, s.created_at AS \"created_at: DateTime<Utc>\", s.updated_at AS \"updated_at: DateTime<Utc>\", s.first_message_at AS \"first_message_at: DateTime<Utc>\", s.completed_at AS \"completed_at: DateTime<Utc>\", (SELECT COALESCE(SUM(d.filled), 0) FROM documents d WHERE d.session_id = s.id) AS \"sections_filled!: i64\" FROM planning_sessions s WHERE s.user_id = ? AND (? IS NULL OR s.id < ?) ORDER BY s.id DESC LIMIT ?", user.0, before, before, i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn get_session(&self, user: UserId, id: SessionId) -> Result<Option<PlanningSession>> {
        let row: Option<SessionRow> = sqlx::query_as!(SessionRow, "SELECT s.id AS \"id: Uuid\", s.user_id AS \"user_id: Uuid\", s.workflow_id, s.title, s.idea, s.status, s.current_step, s.completed_steps, s.created_at AS \"created_at: DateTime<Utc>\", s.updated_at AS \"updated_at: DateTime<Utc>\", s.first_message_at AS \"first_message_at: DateTime<Utc>\", s.completed_at AS \"completed_at: DateTime<Utc>\", (SELECT COALESCE(SUM(d.filled), 0) FROM documents d WHERE d.session_id = s.id) AS \"sections_filled!: i64\" FROM planning_sessions s WHERE s.id = ? AND s.user_id = ?", id.0, user.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn complete_step(&self, id: SessionId, step_id: &str, advance: StepAdvance) -> Result<PlanningSession> {
        let now = Utc::now();
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let session = self.session_row(&mut tx, id).await?;
        if session.status != SessionStatus::Active {
            return Err(StoreError::InvalidState(format!(
                "the session is {}",
                session.status.as_str()
            )));
        }
        if session.current_step.as_deref() != Some(step_id) {
            return Err(StoreError::InvalidState(format!(
                "step '{step_id}' is not the current step (the session is on '{}')",
                session.current_step.as_deref().unwrap_or("no step")
            )));
        }
        match advance {
            StepAdvance::Next { step_id: next, intro } => {
                sqlx::query!("UPDATE planning_sessions SET current_step = ?, completed_steps = completed_steps + 1, updated_at = ? WHERE id = ?", &next, now, id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                insert_message(
                    &mut tx,
                    id,
                    "assistant",
                    &next,
                    &intro,
                    MessageStatus::Complete,
                    None,
                    now,
                )
                .await?;
            }
            StepAdvance::Finish => {
                sqlx::query!(
                    "UPDATE planning_sessions SET current_step = NULL, completed_steps = completed_steps + 1, \
                     status = 'completed', completed_at = ?, updated_at = ? WHERE id = ?",
                    now,
                    now,
                    id.0
                )
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        let session = self.session_row(&mut tx, id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(session)
    }

    async fn set_session_status(&self, id: SessionId, status: SessionStatus) -> Result<PlanningSession> {
        let now = Utc::now();
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let completed_at = (status == SessionStatus::Completed).then_some(now);
        sqlx::query!("UPDATE planning_sessions SET status = ?, completed_at = COALESCE(?, completed_at), updated_at = ? WHERE id = ?", status.as_str(), completed_at, now, id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let session = self.session_row(&mut tx, id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(session)
    }

    async fn post_message(
        &self,
        session: SessionId,
        step_id: &str,
        content: &str,
        client_key: Option<&str>,
    ) -> Result<PostedMessage> {
        let now = Utc::now();
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        if let Some(key) = client_key {
            let seq = sqlx::query_scalar!(
                "SELECT seq FROM messages WHERE session_id = ? AND client_key = ?",
                session.0,
                key
            )
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if let Some(seq) = seq {
                let ids = sqlx::query_scalar!(
                    "SELECT id AS \"id: Uuid\" FROM messages WHERE session_id = ? AND seq IN (?, ?) ORDER BY seq",
                    session.0,
                    seq,
                    seq + 1
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                let [message, reply] = ids.as_slice() else {
                    return Err(StoreError::Integrity(format!(
                        "message {seq} of session {session} has no reply"
                    )));
                };
                let message = fetch_message(&mut tx, MessageId(*message)).await?;
                let reply = fetch_message(&mut tx, MessageId(*reply)).await?;
                tx.commit().await.map_err(db_err)?;
                return Ok(PostedMessage {
                    message,
                    reply,
                    replayed: true,
                });
            }
        }
        let user_msg = insert_message(
            &mut tx,
            session,
            "user",
            step_id,
            content,
            MessageStatus::Complete,
            client_key,
            now,
        )
        .await?;
        let reply = insert_message(
            &mut tx,
            session,
            "assistant",
            step_id,
            "",
            MessageStatus::Queued,
            None,
            now,
        )
        .await?;
        sqlx::query!("UPDATE planning_sessions SET updated_at = ?, first_message_at = COALESCE(first_message_at, ?) WHERE id = ?", now, now, session.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(PostedMessage {
            message: user_msg,
            reply,
            replayed: false,
        })
    }

    async fn list_messages(&self, session: SessionId) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as!(MessageRow, "SELECT id AS \"id: Uuid\", session_id AS \"session_id: Uuid\", seq, role, step_id, content, status, error_code, error_message, provider, model, created_at AS \"created_at: DateTime<Utc>\", updated_at AS \"updated_at: DateTime<Utc>\" FROM messages WHERE session_id = ? ORDER BY seq", session.0)
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn get_message(&self, session: SessionId, id: MessageId) -> Result<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as!(MessageRow, "SELECT id AS \"id: Uuid\", session_id AS \"session_id: Uuid\", seq, role, step_id, content, status, error_code, error_message, provider, model, created_at AS \"created_at: DateTime<Utc>\", updated_at AS \"updated_at: DateTime<Utc>\" FROM messages WHERE id = ? AND session_id = ?", id.0, session.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn reply_events(&self, reply: MessageId) -> Result<Option<String>> {
        let events: Option<Option<String>> = sqlx::query_scalar!("SELECT events FROM messages WHERE id = ?", reply.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(events.flatten())
    }

    async fn start_reply(&self, reply: MessageId, provider: &str, model: &str) -> Result<()> {
        let done = sqlx::query!("UPDATE messages SET status = 'streaming', provider = ?, model = ?, updated_at = ? WHERE id = ? AND status = 'queued'", provider, model, Utc::now(), reply.0)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::InvalidState("the reply is no longer queued".into()));
        }
        Ok(())
    }

    async fn checkpoint_replies(&self, partial: &[(MessageId, String)]) -> Result<()> {
        if partial.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        // One statement for the whole batch: a statement per reply held the single writer for
        // thousands of round trips each interval.
        let rows: Vec<serde_json::Value> = partial
            .iter()
            .map(|(reply, content)| serde_json::json!({"id": reply.0.simple().to_string(), "content": content}))
            .collect();
        let rows = serde_json::Value::Array(rows).to_string();
        sqlx::query!(
            "UPDATE messages SET content = c.content, updated_at = ? \
             FROM (SELECT unhex(value ->> '$.id') AS id, value ->> '$.content' AS content FROM json_each(?)) AS c \
             WHERE messages.id = c.id AND messages.status = 'streaming'",
            now,
            rows
        )
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn finish_reply(&self, finished: FinishedReply) -> Result<Vec<AppliedRevision>> {
        let now = Utc::now();
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let mut applied = Vec::new();
        for update in &finished.updates {
            let (revision, mut content) = current_content(&mut tx, update.document_id).await?;
            for (section, markdown) in &update.sections {
                content.set(section, markdown);
            }
            let revision = write_revision(
                &mut tx,
                update.document_id,
                revision,
                &content,
                Author::Ai,
                Some(finished.reply_id),
                now,
            )
            .await?;
            applied.push(AppliedRevision {
                document_id: update.document_id,
                revision,
            });
        }
        let done = sqlx::query!("UPDATE messages SET status = 'complete', content = ?, events = ?, provider = ?, model = ?, error_code = NULL, error_message = NULL, updated_at = ? \
             WHERE id = ? AND status = 'streaming'", &finished.content, &finished.events, &finished.provider, &finished.model, now, finished.reply_id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::InvalidState("the reply is no longer streaming".into()));
        }
        if let Some(call) = &finished.call {
            insert_call(&mut tx, call).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(applied)
    }

    async fn end_reply(&self, ended: EndedReply) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        sqlx::query!("UPDATE messages SET status = ?, content = ?, events = ?, error_code = ?, error_message = ?, updated_at = ? \
             WHERE id = ? AND status IN ('queued', 'streaming')", ended.status.as_str(), &ended.content, &ended.events, &ended.error_code, &ended.error_message, Utc::now(), ended.reply_id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(call) = &ended.call {
            insert_call(&mut tx, call).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn save_reply_events(&self, reply: MessageId, events: &str) -> Result<()> {
        sqlx::query!("UPDATE messages SET events = ? WHERE id = ?", events, reply.0)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn reset_reply(&self, reply: MessageId) -> Result<Message> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let done = sqlx::query!("UPDATE messages SET status = 'queued', content = '', events = NULL, error_code = NULL, error_message = NULL, updated_at = ? \
             WHERE id = ? AND role = 'assistant' AND status IN ('failed', 'interrupted')", Utc::now(), reply.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::InvalidState(
                "only a failed or interrupted reply can be retried".into(),
            ));
        }
        let message = fetch_message(&mut tx, reply).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(message)
    }

    async fn usage_since(&self, user: UserId, since: DateTime<Utc>) -> Result<UsageTotals> {
        let row = sqlx::query!("SELECT COALESCE(SUM(input_tokens + output_tokens), 0) AS \"tokens!: i64\", COALESCE(SUM(cost_micros), 0) AS \"cost!: i64\" FROM llm_calls WHERE user_id = ? AND created_at >= ?", user.0, since)
            .fetch_one(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(UsageTotals {
            tokens: row.tokens,
            cost_micros: row.cost,
        })
    }

    async fn llm_calls_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<LlmCall>> {
        let rows = sqlx::query_as!(LlmCallRow, "SELECT user_id AS \"user_id: Uuid\", session_id AS \"session_id: Uuid\", reply_id AS \"reply_id: Uuid\", provider, model, input_tokens, output_tokens, cost_micros, latency_ms, ttft_ms, attempts, outcome, created_at AS \"created_at: DateTime<Utc>\" FROM llm_calls WHERE created_at >= ? AND created_at < ? ORDER BY created_at", from, to)
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn interrupt_unfinished(&self) -> Result<u64> {
        let done = sqlx::query!("UPDATE messages SET status = 'interrupted', error_code = 'interrupted', \
             error_message = 'The server restarted while this reply was being written. Retry it to get a complete answer.', \
             updated_at = ? WHERE status IN ('queued', 'streaming')", Utc::now())
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn list_documents(&self, session: SessionId) -> Result<Vec<DocumentSummary>> {
        let rows: Vec<DocumentRow> = sqlx::query_as!(DocumentRow, "SELECT d.id AS \"id: Uuid\", d.step_id, d.title, d.revision, d.updated_at AS \"updated_at: DateTime<Utc>\" FROM documents d WHERE d.session_id = ? ORDER BY d.position", session.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn get_document(
        &self,
        session: SessionId,
        id: DocumentId,
        revision: Option<i64>,
    ) -> Result<Option<DocumentSnapshot>> {
        let mut conn = self.reader.begin().await.map_err(db_err)?;
        let row: Option<DocumentRow> = sqlx::query_as!(DocumentRow, "SELECT id AS \"id: Uuid\", step_id, title, revision, updated_at AS \"updated_at: DateTime<Utc>\" FROM documents WHERE id = ? AND session_id = ?", id.0, session.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let summary: DocumentSummary = row.into();
        let revision = revision.unwrap_or(summary.revision);
        if revision < 0 || revision > summary.revision {
            return Err(StoreError::NotFound);
        }
        let (content, created_at) = if revision == 0 {
            (DocumentContent::default(), summary.updated_at)
        } else {
            let row: RevisionRow = sqlx::query_as!(RevisionRow, "SELECT revision, author, content, content_hash, message_id AS \"message_id: Uuid\", created_at AS \"created_at: DateTime<Utc>\" FROM document_revisions WHERE document_id = ? AND revision = ?", id.0, revision)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
            let created_at = row.created_at;
            (row.verified_content(id)?, created_at)
        };
        conn.commit().await.map_err(db_err)?;
        Ok(Some(DocumentSnapshot {
            id,
            step_id: summary.step_id,
            title: summary.title,
            revision,
            content_hash: content.hash(),
            content,
            created_at,
        }))
    }

    async fn edit_section(&self, id: DocumentId, section_id: &str, content: &str, base_revision: i64) -> Result<i64> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let (current, mut doc) = current_content(&mut tx, id).await?;
        if current != base_revision {
            return Err(StoreError::RevisionConflict { current });
        }
        doc.set(section_id, content);
        let revision = write_revision(&mut tx, id, current, &doc, Author::User, None, Utc::now()).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(revision)
    }

    async fn list_revisions(&self, id: DocumentId) -> Result<Vec<RevisionInfo>> {
        let rows: Vec<RevisionRow> = sqlx::query_as!(RevisionRow, "SELECT revision, author, '' AS \"content!: String\", content_hash, message_id AS \"message_id: Uuid\", created_at AS \"created_at: DateTime<Utc>\" FROM document_revisions WHERE document_id = ? ORDER BY revision DESC", id.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn restore_revision(&self, id: DocumentId, revision: i64) -> Result<i64> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let (current, _) = current_content(&mut tx, id).await?;
        if revision < 0 || revision > current {
            return Err(StoreError::NotFound);
        }
        let content = revision_content(&mut *tx, id, revision).await?;
        let new = write_revision(&mut tx, id, current, &content, Author::User, None, Utc::now()).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(new)
    }
}

async fn applied_migrations(pool: &SqlitePool) -> i64 {
    // The table does not exist before the first migration; that counts as none applied.
    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}
