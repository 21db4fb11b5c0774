//! The PostgreSQL backend of the Store API, for the scaled-out mode: a pooled set of
//! connections shared by every request, row locks where concurrent writers meet (a session's
//! message sequence, a document's revision), and its own schema in `migrations/`. Knows no HTTP.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use plansmith_domain::{
    Author, DocumentContent, DocumentId, Email, MessageId, MessageStatus, Role, SessionId, SessionStatus, UserId,
    content_hash,
};
use plansmith_store::rows::{
    DocumentRevisionRow, DocumentRow, LlmCallRow, MessageRow, RevisionRow, SessionRow, UserRow,
};
use plansmith_store::{
    AppliedRevision, DocumentSnapshot, DocumentSummary, EndedReply, FinishedReply, LlmCall, Message, NewSession,
    NewUser, PlanningSession, PoolStats, PostedMessage, Result, RevisionInfo, StepAdvance, Store, StoreError,
    UsageTotals, User,
};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Pool settings for the PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 2,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_lifetime: Duration::from_secs(1800),
        }
    }
}

#[derive(Default)]
struct Acquisitions {
    waiting: AtomicU64,
    count: AtomicU64,
    total_micros: AtomicU64,
}

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    acquisitions: Arc<Acquisitions>,
}

fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate("record"),
        // Connection failures (08…), shutdown (57P…), statement timeout (57014), too many
        // connections (53300): the database is there but cannot serve right now.
        sqlx::Error::Database(d)
            if d.code()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c == "53300") =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Database(e.to_string()),
    }
}

impl PgStore {
    /// Connects a pool to `url` (`postgres://user@host:port/db`).
    pub async fn connect(url: &str, options: &PgOptions) -> Result<Self> {
        let timeout_ms = options.statement_timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("plansmith")
            .options([("statement_timeout", timeout_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(options.min_connections.min(options.max_connections))
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(Some(options.idle_timeout))
            .max_lifetime(Some(options.max_lifetime))
            .test_before_acquire(true)
            .connect_with(connect)
            .await
            .map_err(db_err)?;
        Ok(Self {
            pool,
            acquisitions: Arc::default(),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests and tools that need raw access.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn timed<T, F: Future<Output = Result<T, sqlx::Error>>>(&self, acquire: F) -> Result<T> {
        let a = &self.acquisitions;
        a.waiting.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = acquire.await;
        a.waiting.fetch_sub(1, Ordering::Relaxed);
        a.count.fetch_add(1, Ordering::Relaxed);
        a.total_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        result.map_err(db_err)
    }

    async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        self.timed(self.pool.acquire()).await
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        self.timed(self.pool.begin()).await
    }

    async fn session_row(&self, tx: &mut Transaction<'_, Postgres>, id: SessionId) -> Result<PlanningSession> {
        let row: SessionRow = sqlx::query_as!(SessionRow, "SELECT s.id, s.user_id, s.workflow_id, s.title, s.idea, s.status, s.current_step, s.completed_steps, s.created_at, s.updated_at, s.first_message_at, s.completed_at, (SELECT COALESCE(SUM(d.filled), 0)::BIGINT FROM documents d WHERE d.session_id = s.id) AS \"sections_filled!\" FROM planning_sessions s WHERE s.id = $1", id.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
            .ok_or(StoreError::NotFound)?;
        row.try_into()
    }
}

/// Serialises writers of one session (message sequence numbers, step changes).
async fn lock_session(tx: &mut Transaction<'_, Postgres>, id: SessionId) -> Result<()> {
    sqlx::query!("SELECT id FROM planning_sessions WHERE id = $1 FOR UPDATE", id.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(())
}

/// Current content of a document inside a write transaction, hash verified.
async fn current_content(tx: &mut Transaction<'_, Postgres>, doc: DocumentId) -> Result<(i64, DocumentContent)> {
    let revision: i64 = sqlx::query_scalar!("SELECT revision FROM documents WHERE id = $1 FOR UPDATE", doc.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    let content = revision_content(&mut **tx, doc, revision).await?;
    Ok((revision, content))
}

async fn revision_content<'e, E>(executor: E, doc: DocumentId, revision: i64) -> Result<DocumentContent>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    if revision == 0 {
        return Ok(DocumentContent::default());
    }
    let row: RevisionRow = sqlx::query_as!(RevisionRow, "SELECT revision, author, content, content_hash, message_id, created_at FROM document_revisions WHERE document_id = $1 AND revision = $2", doc.0, revision)
        .fetch_optional(executor)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    row.verified_content(doc)
}

/// Appends the next revision of a document; the caller holds the write transaction.
async fn write_revision(
    tx: &mut Transaction<'_, Postgres>,
    doc: DocumentId,
    expected: i64,
    content: &DocumentContent,
    author: Author,
    message: Option<MessageId>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let next = expected + 1;
    let json = content.to_canonical_json();
    let updated = sqlx::query!(
        "UPDATE documents SET revision = $1, filled = $2, updated_at = $3 WHERE id = $4 AND revision = $5",
        next,
        content.filled() as i64,
        now,
        doc.0,
        expected
    )
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    if updated.rows_affected() != 1 {
        let current: i64 = sqlx::query_scalar!("SELECT revision FROM documents WHERE id = $1", doc.0)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_err)?;
        return Err(StoreError::RevisionConflict { current });
    }
    sqlx::query!(
        "INSERT INTO document_revisions (document_id, revision, author, content, content_hash, message_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
    let session: Uuid = sqlx::query_scalar!("SELECT session_id FROM documents WHERE id = $1", doc.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    touch_session(tx, session, now).await?;
    Ok(next)
}

async fn touch_session(tx: &mut Transaction<'_, Postgres>, session: Uuid, now: DateTime<Utc>) -> Result<()> {
    sqlx::query!(
        "UPDATE planning_sessions SET updated_at = $1 WHERE id = $2",
        now,
        session
    )
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_message(
    tx: &mut Transaction<'_, Postgres>,
    session: SessionId,
    role: &str,
    step_id: &str,
    content: &str,
    status: MessageStatus,
    now: DateTime<Utc>,
) -> Result<MessageId> {
    let id = MessageId::new();
    sqlx::query!("INSERT INTO messages (id, session_id, seq, role, step_id, content, status, created_at, updated_at) \
         VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE session_id = $3), $4, $5, $6, $7, $8, $9)", id.0, session.0, session.0, role, step_id, content, status.as_str(), now, now)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(id)
}

async fn fetch_message(tx: &mut Transaction<'_, Postgres>, id: MessageId) -> Result<Message> {
    let row: MessageRow = sqlx::query_as!(MessageRow, "SELECT id, session_id, seq, role, step_id, content, status, error_code, error_message, provider, model, created_at, updated_at FROM messages WHERE id = $1", id.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    row.try_into()
}

/// Records a model call inside the caller's transaction.
async fn insert_call(tx: &mut Transaction<'_, Postgres>, call: &LlmCall) -> Result<()> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO llm_calls (id, user_id, session_id, reply_id, provider, model, input_tokens, output_tokens, cost_micros, latency_ms, ttft_ms, attempts, outcome, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
impl Store for PgStore {
    fn pool_stats(&self) -> PoolStats {
        let a = &self.acquisitions;
        PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            waiting: a.waiting.load(Ordering::Relaxed),
            acquisitions: a.count.load(Ordering::Relaxed),
            acquire_micros_total: a.total_micros.load(Ordering::Relaxed),
        }
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<usize> {
        let before: i64 = applied_migrations(&self.pool).await;
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        let after: i64 = applied_migrations(&self.pool).await;
        Ok((after - before).max(0) as usize)
    }

    async fn create_user(&self, new: NewUser) -> Result<User> {
        let id = UserId::new();
        let now = Utc::now();
        sqlx::query!("INSERT INTO users (id, email, name, password_hash, role, plan, created_at) VALUES ($1, $2, $3, $4, 'member', 'free', $5)", id.0, new.email.as_str(), new.name.as_deref(), &new.password_hash, now)
        .execute(&mut *self.conn().await?)
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
        let row: Option<UserRow> = sqlx::query_as!(
            UserRow,
            "SELECT id, email, name, password_hash, role, plan, created_at FROM users WHERE email = $1",
            email.as_str()
        )
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn set_user_role(&self, email: &Email, role: Role) -> Result<bool> {
        let done = sqlx::query!(
            "UPDATE users SET role = $1 WHERE email = $2",
            role.as_str(),
            email.as_str()
        )
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_auth_token(&self, token_hash: &[u8], user: UserId, expires_at: DateTime<Utc>) -> Result<()> {
        sqlx::query!(
            "INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            token_hash,
            user.0,
            Utc::now(),
            expires_at
        )
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn user_by_token(&self, token_hash: &[u8], now: DateTime<Utc>) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as!(UserRow, "SELECT u.id, u.email, u.name, u.password_hash, u.role, u.plan, u.created_at FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.expires_at > $2", token_hash, now)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn delete_auth_token(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query!("DELETE FROM auth_tokens WHERE token_hash = $1", token_hash)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_session(&self, new: NewSession) -> Result<PlanningSession> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        sqlx::query!("INSERT INTO planning_sessions (id, user_id, workflow_id, title, idea, status, current_step, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8)", new.id.0, new.user_id.0, &new.workflow_id, &new.title, &new.idea, &new.first_step, now, now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for (position, doc) in new.documents.iter().enumerate() {
            sqlx::query!("INSERT INTO documents (id, session_id, position, step_id, title, updated_at) VALUES ($1, $2, $3, $4, $5, $6)", doc.id.0, new.id.0, position as i32, &doc.step_id, &doc.title, now)
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
            now,
        )
        .await?;
        let session = self.session_row(&mut tx, new.id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(session)
    }

    async fn list_sessions(&self, user: UserId, before: Option<SessionId>, limit: u32) -> Result<Vec<PlanningSession>> {
        let before = before.map(|b| b.0);
        let rows: Vec<SessionRow> = sqlx::query_as!(SessionRow, "SELECT s.id, s.user_id, s.workflow_id, s.title, s.idea, s.status, s.current_step, s.completed_steps, s.created_at, s.updated_at, s.first_message_at, s.completed_at, (SELECT COALESCE(SUM(d.filled), 0)::BIGINT FROM documents d WHERE d.session_id = s.id) AS \"sections_filled!\" FROM planning_sessions s WHERE s.user_id = $1 AND ($2::uuid IS NULL OR s.id < $2) ORDER BY s.id DESC LIMIT $3", user.0, before, i64::from(limit))
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn get_session(&self, user: UserId, id: SessionId) -> Result<Option<PlanningSession>> {
        let row: Option<SessionRow> = sqlx::query_as!(SessionRow, "SELECT s.id, s.user_id, s.workflow_id, s.title, s.idea, s.status, s.current_step, s.completed_steps, s.created_at, s.updated_at, s.first_message_at, s.completed_at, (SELECT COALESCE(SUM(d.filled), 0)::BIGINT FROM documents d WHERE d.session_id = s.id) AS \"sections_filled!\" FROM planning_sessions s WHERE s.id = $1 AND s.user_id = $2", id.0, user.0)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn complete_step(&self, id: SessionId, step_id: &str, advance: StepAdvance) -> Result<PlanningSession> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        lock_session(&mut tx, id).await?;
        let session = self.session_row(&mut tx, id).await?;
        session.check_can_complete(step_id)?;
        match advance {
            StepAdvance::Next { step_id: next, intro } => {
                sqlx::query!("UPDATE planning_sessions SET current_step = $1, completed_steps = completed_steps + 1, updated_at = $2 WHERE id = $3", &next, now, id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                insert_message(&mut tx, id, "assistant", &next, &intro, MessageStatus::Complete, now).await?;
            }
            StepAdvance::Finish => {
                sqlx::query!(
                    "UPDATE planning_sessions SET current_step = NULL, completed_steps = completed_steps + 1, \
                     status = 'completed', completed_at = $1, updated_at = $2 WHERE id = $3",
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
        let mut tx = self.begin().await?;
        lock_session(&mut tx, id).await?;
        let completed_at = (status == SessionStatus::Completed).then_some(now);
        sqlx::query!("UPDATE planning_sessions SET status = $1, completed_at = COALESCE($2, completed_at), updated_at = $3 WHERE id = $4", status.as_str(), completed_at, now, id.0)
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
        let mut tx = self.begin().await?;
        lock_session(&mut tx, session).await?;
        if let Some(key) = client_key {
            let seq = sqlx::query_scalar!(
                "SELECT seq FROM messages WHERE session_id = $1 AND client_key = $2",
                session.0,
                key
            )
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if let Some(seq) = seq {
                let ids = sqlx::query_scalar!(
                    "SELECT id FROM messages WHERE session_id = $1 AND seq IN ($2, $3) ORDER BY seq",
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
        let user_msg = insert_message(&mut tx, session, "user", step_id, content, MessageStatus::Complete, now).await?;
        if let Some(key) = client_key {
            sqlx::query!("UPDATE messages SET client_key = $1 WHERE id = $2", key, user_msg.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let reply = insert_message(&mut tx, session, "assistant", step_id, "", MessageStatus::Queued, now).await?;
        sqlx::query!("UPDATE planning_sessions SET updated_at = $1, first_message_at = COALESCE(first_message_at, $2) WHERE id = $3", now, now, session.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let user_msg = fetch_message(&mut tx, user_msg).await?;
        let reply = fetch_message(&mut tx, reply).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(PostedMessage {
            message: user_msg,
            reply,
            replayed: false,
        })
    }

    async fn list_messages(&self, session: SessionId) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as!(MessageRow, "SELECT id, session_id, seq, role, step_id, content, status, error_code, error_message, provider, model, created_at, updated_at FROM messages WHERE session_id = $1 ORDER BY seq", session.0)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn get_message(&self, session: SessionId, id: MessageId) -> Result<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as!(MessageRow, "SELECT id, session_id, seq, role, step_id, content, status, error_code, error_message, provider, model, created_at, updated_at FROM messages WHERE id = $1 AND session_id = $2", id.0, session.0)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn reply_events(&self, reply: MessageId) -> Result<Option<String>> {
        let events: Option<Option<String>> = sqlx::query_scalar!("SELECT events FROM messages WHERE id = $1", reply.0)
            .fetch_optional(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(events.flatten())
    }

    async fn start_reply(&self, reply: MessageId, provider: &str, model: &str) -> Result<()> {
        let done = sqlx::query!("UPDATE messages SET status = 'streaming', provider = $1, model = $2, updated_at = $3 WHERE id = $4 AND status = 'queued'", provider, model, Utc::now(), reply.0)
        .execute(&mut *self.conn().await?)
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
        // One statement for the whole batch instead of a round trip per reply.
        let (ids, contents): (Vec<Uuid>, Vec<String>) = partial.iter().map(|(id, text)| (id.0, text.clone())).unzip();
        sqlx::query!(
            "UPDATE messages m SET content = c.content, updated_at = $3 \
             FROM UNNEST($1::uuid[], $2::text[]) AS c(id, content) \
             WHERE m.id = c.id AND m.status = 'streaming'",
            &ids,
            &contents,
            now
        )
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn finish_reply(&self, finished: FinishedReply) -> Result<Vec<AppliedRevision>> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
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
        let done = sqlx::query!("UPDATE messages SET status = 'complete', content = $1, events = $2, provider = $5, model = $6, error_code = NULL, error_message = NULL, updated_at = $3 \
             WHERE id = $4 AND status = 'streaming'", &finished.content, &finished.events, now, finished.reply_id.0, &finished.provider, &finished.model)
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
        let mut tx = self.begin().await?;
        sqlx::query!("UPDATE messages SET status = $1, content = $2, events = $3, error_code = $4, error_message = $5, updated_at = $6 \
             WHERE id = $7 AND status IN ('queued', 'streaming')", ended.status.as_str(), &ended.content, &ended.events, &ended.error_code, &ended.error_message, Utc::now(), ended.reply_id.0)
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
        sqlx::query!("UPDATE messages SET events = $1 WHERE id = $2", events, reply.0)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn reset_reply(&self, reply: MessageId) -> Result<Message> {
        let mut tx = self.begin().await?;
        let done = sqlx::query!("UPDATE messages SET status = 'queued', content = '', events = NULL, error_code = NULL, error_message = NULL, updated_at = $1 \
             WHERE id = $2 AND role = 'assistant' AND status IN ('failed', 'interrupted')", Utc::now(), reply.0)
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
        let row = sqlx::query!("SELECT COALESCE(SUM(input_tokens + output_tokens), 0)::BIGINT AS \"tokens!\", COALESCE(SUM(cost_micros), 0)::BIGINT AS \"cost!\" FROM llm_calls WHERE user_id = $1 AND created_at >= $2", user.0, since)
            .fetch_one(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(UsageTotals {
            tokens: row.tokens,
            cost_micros: row.cost,
        })
    }

    async fn llm_calls_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<LlmCall>> {
        let rows = sqlx::query_as!(LlmCallRow, "SELECT user_id, session_id, reply_id, provider, model, input_tokens, output_tokens, cost_micros, latency_ms, ttft_ms, attempts, outcome, created_at FROM llm_calls WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at", from, to)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn interrupt_unfinished(&self) -> Result<u64> {
        let done = sqlx::query!("UPDATE messages SET status = 'interrupted', error_code = 'interrupted', \
             error_message = 'The server restarted while this reply was being written. Retry it to get a complete answer.', \
             updated_at = $1 WHERE status IN ('queued', 'streaming')", Utc::now())
        .execute(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn list_documents(&self, session: SessionId) -> Result<Vec<DocumentSummary>> {
        let rows: Vec<DocumentRow> = sqlx::query_as!(DocumentRow, "SELECT d.id, d.step_id, d.title, d.revision, d.updated_at FROM documents d WHERE d.session_id = $1 ORDER BY d.position", session.0)
            .fetch_all(&mut *self.conn().await?)
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
        // One statement (a consistent snapshot): the document joined to the wanted revision.
        let row = sqlx::query_as!(
            DocumentRevisionRow,
            "SELECT d.id, d.step_id, d.title, d.revision, d.updated_at, r.revision AS \"rev_revision?\", \
             r.author AS \"rev_author?\", r.content AS \"rev_content?\", r.content_hash AS \"rev_content_hash?\", \
             r.message_id AS \"rev_message_id?\", r.created_at AS \"rev_created_at?\" \
             FROM documents d LEFT JOIN document_revisions r ON r.document_id = d.id AND r.revision = COALESCE($1, d.revision) \
             WHERE d.id = $2 AND d.session_id = $3",
            revision,
            id.0,
            session.0
        )
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        row.map(|row| row.snapshot(revision)).transpose()
    }

    async fn current_documents(&self, session: SessionId) -> Result<Vec<DocumentSnapshot>> {
        let rows = sqlx::query_as!(
            DocumentRevisionRow,
            "SELECT d.id, d.step_id, d.title, d.revision, d.updated_at, r.revision AS \"rev_revision?\", \
             r.author AS \"rev_author?\", r.content AS \"rev_content?\", r.content_hash AS \"rev_content_hash?\", \
             r.message_id AS \"rev_message_id?\", r.created_at AS \"rev_created_at?\" \
             FROM documents d LEFT JOIN document_revisions r ON r.document_id = d.id AND r.revision = d.revision \
             WHERE d.session_id = $1 ORDER BY d.position",
            session.0
        )
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(|row| row.snapshot(None)).collect()
    }

    async fn edit_section(&self, id: DocumentId, section_id: &str, content: &str, base_revision: i64) -> Result<i64> {
        let mut tx = self.begin().await?;
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
        let rows: Vec<RevisionRow> = sqlx::query_as!(RevisionRow, "SELECT revision, author, '' AS \"content!\", content_hash, message_id, created_at FROM document_revisions WHERE document_id = $1 ORDER BY revision DESC", id.0)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn restore_revision(&self, id: DocumentId, revision: i64) -> Result<i64> {
        let mut tx = self.begin().await?;
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

async fn applied_migrations(pool: &PgPool) -> i64 {
    // The table does not exist before the first migration; that counts as none applied.
    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}
