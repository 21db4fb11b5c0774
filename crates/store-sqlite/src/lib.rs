//! The SQLite backend of the Store API, the embedded default. Writes go to one thread that
//! owns the write connection (SQLite allows one writer) and runs each operation whole, committing
//! the operations that queued meanwhile together (`writer.rs`); reads go through a pool of WAL
//! readers. Owns its schema in `migrations/`. Knows no HTTP.

mod accounts;
mod audit;
mod billing;
mod events;
mod incidents;
mod keys;
mod mfa_email;
mod monitoring;
mod quality;
mod sql;
mod write;
mod writer;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentId, Email, MessageId, Revision, Role, SessionId, SignInId, UserId};
use plansmith_store::rows::{
    DocumentRevisionRow, DocumentRow, LlmCallRow, MessageRow, RevisionRow, SessionRow, UserRow,
};
use plansmith_store::{AccountSecurity, EmailClaim, NewEmail, NewOneTimeToken, OutboxEmail};
use plansmith_store::{
    AppliedRevision, Checkpoint, DocumentSnapshot, DocumentSummary, EndedReply, FinishedReply, Lease, LlmCall, Message,
    NewSecurityEvent, NewSession, NewSignIn, NewUser, Orphan, OrphanClaim, PlanningSession, PoolStats, PostedMessage,
    Result, RevisionInfo, SecurityEvent, SecurityEventQuery, SessionClose, SignIn, StepAdvance, Store, StoreError,
    TokenLife, TokenOwner, UsageTotals, User, UserUpdate,
};
use rusqlite::OpenFlags;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;
use writer::Writer;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connection settings for the SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub max_readers: u32,
    /// Longest a caller waits for a reader, or a write for its turn, before the store
    /// answers `Unavailable` (a retryable 503 for the API).
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
    writer: Writer,
    reader: SqlitePool,
    /// One connection for schema migrations (they run through sqlx's migrator).
    schema: SqlitePool,
}

fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate,
        _ => StoreError::Database(e.to_string()),
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database file at `url` (`sqlite://path`).
    pub async fn connect(url: &str, options: &SqliteOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid SQLite URL '{url}': {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout);
        let path = connect.get_filename().to_owned();
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Unavailable(format!("cannot create the folder {}: {e}", parent.display())))?;
        }
        // Creates the file and switches it to WAL before the other connections open.
        let schema = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(db_err)?;
        // Connections are in-process files: a test query before each use would only add a
        // round trip to the connection's thread for every operation.
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_readers.max(1))
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.read_only(true))
            .await
            .map_err(db_err)?;
        let writer = Writer::start(open_writer(&path, options.busy_timeout)?, options.acquire_timeout)
            .map_err(|e| StoreError::Unavailable(format!("cannot start the database writer: {e}")))?;
        Ok(Self { writer, reader, schema })
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
        self.schema.close().await;
    }
}

fn open_writer(path: &Path, busy_timeout: Duration) -> Result<rusqlite::Connection> {
    let open = || -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(busy_timeout)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    };
    open().map_err(|e| StoreError::Unavailable(format!("cannot open {} for writing: {e}", path.display())))
}

#[async_trait]
impl Store for SqliteStore {
    fn pool_stats(&self) -> PoolStats {
        let writes = self.writer.queued();
        PoolStats {
            size: self.reader.size() + 1,
            idle: self.reader.num_idle() as u32 + u32::from(writes == 0),
            // Writes beyond the one running wait their turn.
            waiting: writes.saturating_sub(1),
            max_size: self.reader.options().get_max_connections() + 1,
            write_queue: Some(writes),
            ..PoolStats::default()
        }
    }

    async fn migrate_down(&self, version: i64) -> Result<usize> {
        let before: i64 = applied_migrations(&self.schema).await;
        MIGRATOR
            .undo(&self.schema, version)
            .await
            .map_err(|e| StoreError::Database(format!("migration down failed: {e}")))?;
        let after: i64 = applied_migrations(&self.schema).await;
        Ok((before - after).max(0) as usize)
    }

    async fn migrations(&self) -> Result<Vec<plansmith_store::MigrationInfo>> {
        let applied = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.schema)
            .await;
        plansmith_store::rows::migration_infos(&MIGRATOR, applied).map_err(db_err)
    }

    async fn migrate(&self) -> Result<usize> {
        let before: i64 = applied_migrations(&self.schema).await;
        MIGRATOR
            .run(&self.schema)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        let after: i64 = applied_migrations(&self.schema).await;
        Ok((after - before).max(0) as usize)
    }

    async fn create_user(&self, new: NewUser) -> Result<User> {
        let user = User {
            id: UserId::new(),
            email: new.email.as_str().to_owned(),
            name: new.name,
            password_hash: new.password_hash,
            role: Role::Member,
            plan: plansmith_domain::Plan::Free,
            plan_override: None,
            disabled: false,
            created_at: Utc::now(),
        };
        self.writer
            .run(move |conn| write::create_user(conn, &user).map(|()| user))
            .await
    }

    async fn set_user_role(&self, email: &Email, role: Role) -> Result<bool> {
        let email = email.as_str().to_owned();
        self.writer
            .run(move |conn| write::set_user_role(conn, &email, role.as_str()))
            .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        accounts::user_by_id(&self.reader, id).await
    }

    async fn list_users(&self, before: Option<UserId>, limit: u32) -> Result<Vec<User>> {
        accounts::list_users(&self.reader, before, limit).await
    }

    async fn update_user(&self, id: UserId, update: UserUpdate) -> Result<Option<User>> {
        self.writer.run(move |conn| write::update_user(conn, id, &update)).await
    }

    async fn set_password(&self, user: UserId, password_hash: &str, keep: Option<SignInId>) -> Result<u64> {
        let password_hash = password_hash.to_owned();
        self.writer
            .run(move |conn| write::set_password(conn, user, &password_hash, keep))
            .await
    }

    async fn create_auth_token(&self, new: NewSignIn) -> Result<SignInId> {
        let id = SignInId::new();
        self.writer
            .run(move |conn| write::create_auth_token(conn, id, &new).map(|()| id))
            .await
    }

    async fn user_by_token(&self, token_hash: &[u8], life: TokenLife) -> Result<Option<TokenOwner>> {
        let Some(row) = accounts::token_owner(&self.reader, token_hash, life).await? else {
            return Ok(None);
        };
        let (user, sign_in, last_used_at) = row.split()?;
        let stale = life.now - life.touch_every();
        if last_used_at < stale {
            let token_hash = token_hash.to_vec();
            self.writer
                .run(move |conn| write::touch_auth_token(conn, &token_hash, life.now, stale))
                .await?;
        }
        Ok(Some(TokenOwner { user, sign_in }))
    }

    async fn list_sign_ins(&self, user: UserId, life: TokenLife) -> Result<Vec<SignIn>> {
        accounts::list_sign_ins(&self.reader, user, life).await
    }

    async fn revoke_sign_in(&self, user: UserId, id: SignInId) -> Result<bool> {
        self.writer.run(move |conn| write::revoke_sign_in(conn, user, id)).await
    }

    async fn revoke_sign_ins(&self, user: UserId, keep: Option<SignInId>) -> Result<u64> {
        self.writer
            .run(move |conn| write::revoke_sign_ins(conn, user, keep))
            .await
    }

    async fn purge_auth_tokens(&self, life: TokenLife) -> Result<u64> {
        self.writer.run(move |conn| write::purge_auth_tokens(conn, life)).await
    }

    async fn record_security_event(&self, event: NewSecurityEvent) -> Result<SecurityEvent> {
        let event = SecurityEvent {
            id: Uuid::now_v7(),
            // As PostgreSQL keeps it: the same events read back on every backend.
            at: chrono::SubsecRound::trunc_subsecs(Utc::now(), 6),
            kind: event.kind,
            user_id: event.user_id,
            address: event.address,
            request_id: event.request_id,
            outcome: event.outcome,
            detail: event.detail,
        };
        self.writer
            .run(move |conn| write::record_security_event(conn, &event).map(|()| event))
            .await
    }

    async fn security_events(&self, query: &SecurityEventQuery) -> Result<Vec<SecurityEvent>> {
        accounts::security_events(&self.reader, query).await
    }

    async fn delete_auth_token(&self, token_hash: &[u8]) -> Result<()> {
        let token_hash = token_hash.to_vec();
        self.writer
            .run(move |conn| write::delete_auth_token(conn, &token_hash))
            .await
    }

    async fn create_session(&self, new: NewSession) -> Result<PlanningSession> {
        self.writer.run(move |conn| write::create_session(conn, &new)).await
    }

    async fn complete_step(&self, id: SessionId, step_id: &str, advance: StepAdvance) -> Result<PlanningSession> {
        let step_id = step_id.to_owned();
        self.writer
            .run(move |conn| write::complete_step(conn, id, &step_id, &advance))
            .await
    }

    async fn close_session(&self, id: SessionId, close: SessionClose) -> Result<PlanningSession> {
        self.writer.run(move |conn| write::close_session(conn, id, close)).await
    }

    async fn rename_session(&self, user: UserId, id: SessionId, title: &str) -> Result<Option<PlanningSession>> {
        let title = title.to_owned();
        let renamed = self
            .writer
            .run(move |conn| {
                write::change(
                    conn,
                    sql::RENAME_SESSION,
                    rusqlite::params![title, write::stamp(Utc::now()), id.0, user.0],
                )
            })
            .await?;
        if renamed != 1 {
            return Ok(None);
        }
        self.get_session(user, id).await
    }

    async fn erase_user(&self, user: UserId, email: &str) -> Result<bool> {
        let email = email.to_owned();
        self.writer.run(move |conn| write::erase_user(conn, user, &email)).await
    }

    async fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool> {
        let deleted = self
            .writer
            .run(move |conn| write::change(conn, sql::DELETE_SESSION, rusqlite::params![id.0, user.0]))
            .await?;
        Ok(deleted == 1)
    }

    async fn post_message(
        &self,
        session: SessionId,
        content: &str,
        client_key: Option<&str>,
        lease: &Lease,
    ) -> Result<PostedMessage> {
        let (content, client_key, lease) = (content.to_owned(), client_key.map(str::to_owned), lease.clone());
        self.writer
            .run(move |conn| write::post_message(conn, session, &content, client_key.as_deref(), &lease))
            .await
    }

    async fn start_reply(&self, reply: MessageId, owner: &str, provider: &str, model: &str) -> Result<()> {
        let (owner, provider, model) = (owner.to_owned(), provider.to_owned(), model.to_owned());
        self.writer
            .run(move |conn| write::start_reply(conn, reply, &owner, &provider, &model))
            .await
    }

    async fn checkpoint_replies(&self, owner: &str, checkpoints: &[Checkpoint]) -> Result<()> {
        if checkpoints.is_empty() {
            return Ok(());
        }
        let (owner, checkpoints) = (owner.to_owned(), checkpoints.to_vec());
        self.writer
            .run(move |conn| write::checkpoint_replies(conn, &owner, &checkpoints))
            .await
    }

    async fn finish_reply(&self, finished: FinishedReply) -> Result<Vec<AppliedRevision>> {
        self.writer.run(move |conn| write::finish_reply(conn, &finished)).await
    }

    async fn end_reply(&self, ended: EndedReply) -> Result<bool> {
        self.writer.run(move |conn| write::end_reply(conn, &ended)).await
    }

    async fn save_reply_events(&self, reply: MessageId, events: &str) -> Result<()> {
        let events = events.to_owned();
        self.writer
            .run(move |conn| write::save_reply_events(conn, reply, &events))
            .await
    }

    async fn reset_reply(&self, reply: MessageId, lease: &Lease) -> Result<Message> {
        let lease = lease.clone();
        self.writer
            .run(move |conn| write::reset_reply(conn, reply, &lease))
            .await
    }

    async fn renew_leases(&self, lease: &Lease) -> Result<Vec<MessageId>> {
        let lease = lease.clone();
        self.writer.run(move |conn| write::renew_leases(conn, &lease)).await
    }

    async fn release_leases(&self, owner: &str, replies: &[MessageId]) -> Result<u64> {
        let (owner, replies) = (owner.to_owned(), replies.to_vec());
        self.writer
            .run(move |conn| write::release_leases(conn, &owner, &replies))
            .await
    }

    async fn claim_orphans(&self, claim: &OrphanClaim) -> Result<Vec<Orphan>> {
        // Nearly every sweep finds nothing: a reader answers that, and the single writer (which
        // every post and commit waits for) is only asked to claim when there is something to.
        let orphans: i64 = sqlx::query_scalar!(
            r#"SELECT COUNT(*) AS "orphans!: i64"
               FROM messages m
               LEFT JOIN reply_leases l ON l.message_id = m.id
               WHERE m.status IN ('queued', 'streaming')
                 AND (l.until_ms IS NULL OR l.until_ms < CAST(unixepoch('subsec') * 1000 AS INTEGER)
                      OR (?1 AND l.owner = ?2))"#,
            claim.own_previous,
            claim.lease.owner
        )
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)?;
        if orphans == 0 {
            return Ok(Vec::new());
        }
        let claim = claim.clone();
        self.writer.run(move |conn| write::claim_orphans(conn, &claim)).await
    }

    async fn edit_section(
        &self,
        id: DocumentId,
        section_id: &str,
        content: &str,
        base_revision: Revision,
    ) -> Result<Revision> {
        let (section_id, content) = (section_id.to_owned(), content.to_owned());
        self.writer
            .run(move |conn| write::edit_section(conn, id, &section_id, &content, base_revision))
            .await
    }

    async fn restore_revision(&self, id: DocumentId, revision: Revision) -> Result<Revision> {
        self.writer
            .run(move |conn| write::restore_revision(conn, id, revision))
            .await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(db_err)?;
        Ok(())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as!(
            UserRow,
            "SELECT id AS \"id: Uuid\", email, name, password_hash, role, plan, plan_override,
                     disabled AS \"disabled: bool\", created_at AS \"created_at: DateTime<Utc>\"
                 FROM users
                 WHERE email = ?",
            email.as_str()
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn list_sessions(&self, user: UserId, before: Option<SessionId>, limit: u32) -> Result<Vec<PlanningSession>> {
        let before = before.map(|b| b.0);
        let rows: Vec<SessionRow> = sqlx::query_as!(
            SessionRow,
            "SELECT s.id AS \"id: Uuid\", s.user_id AS \"user_id: Uuid\", s.workflow_id, s.title, s.idea,
                 s.status, s.current_step, s.completed_steps, s.created_at AS \"created_at: DateTime<Utc>\",
                 s.updated_at AS \"updated_at: DateTime<Utc>\",
                 s.first_message_at AS \"first_message_at: DateTime<Utc>\",
                 s.completed_at AS \"completed_at: DateTime<Utc>\",
                 (SELECT COALESCE(SUM(d.filled), 0) FROM documents d WHERE d.session_id = s.id)
                      AS \"sections_filled!: i64\"
             FROM planning_sessions s
             WHERE s.user_id = ? AND (? IS NULL OR s.id < ?)
             ORDER BY s.id DESC
             LIMIT ?",
            user.0,
            before,
            before,
            i64::from(limit)
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn get_session(&self, user: UserId, id: SessionId) -> Result<Option<PlanningSession>> {
        let row: Option<SessionRow> = sqlx::query_as!(
            SessionRow,
            "SELECT s.id AS \"id: Uuid\", s.user_id AS \"user_id: Uuid\", s.workflow_id, s.title, s.idea,
                 s.status, s.current_step, s.completed_steps, s.created_at AS \"created_at: DateTime<Utc>\",
                 s.updated_at AS \"updated_at: DateTime<Utc>\",
                 s.first_message_at AS \"first_message_at: DateTime<Utc>\",
                 s.completed_at AS \"completed_at: DateTime<Utc>\",
                 (SELECT COALESCE(SUM(d.filled), 0) FROM documents d WHERE d.session_id = s.id)
                      AS \"sections_filled!: i64\"
             FROM planning_sessions s
             WHERE s.id = ? AND s.user_id = ?",
            id.0,
            user.0
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.map(TryInto::try_into).transpose()
    }

    async fn list_messages(&self, session: SessionId) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as!(
            MessageRow,
            "SELECT id AS \"id: Uuid\", session_id AS \"session_id: Uuid\", seq, role, step_id, content,
                 status, error_code, error_message, provider, model,
                 created_at AS \"created_at: DateTime<Utc>\", updated_at AS \"updated_at: DateTime<Utc>\"
             FROM messages
             WHERE session_id = ?
             ORDER BY seq",
            session.0
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn get_message(&self, session: SessionId, id: MessageId) -> Result<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as!(
            MessageRow,
            "SELECT id AS \"id: Uuid\", session_id AS \"session_id: Uuid\", seq, role, step_id, content,
                 status, error_code, error_message, provider, model,
                 created_at AS \"created_at: DateTime<Utc>\", updated_at AS \"updated_at: DateTime<Utc>\"
             FROM messages
             WHERE id = ? AND session_id = ?",
            id.0,
            session.0
        )
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

    async fn usage_since(&self, user: UserId, since: DateTime<Utc>) -> Result<UsageTotals> {
        let row = sqlx::query!(
            "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) AS \"tokens!: i64\",
                 COALESCE(SUM(cost_micros), 0) AS \"cost!: i64\"
             FROM llm_calls
             WHERE user_id = ? AND created_at >= ?",
            user.0,
            since
        )
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(UsageTotals {
            tokens: row.tokens,
            cost_micros: row.cost,
        })
    }

    async fn llm_calls_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<LlmCall>> {
        let rows = sqlx::query_as!(
            LlmCallRow,
            "SELECT user_id AS \"user_id: Uuid\", session_id AS \"session_id: Uuid\",
                 reply_id AS \"reply_id: Uuid\", provider, model, input_tokens, output_tokens, cost_micros,
                 latency_ms, ttft_ms, attempts, outcome, created_at AS \"created_at: DateTime<Utc>\"
             FROM llm_calls
             WHERE created_at >= ? AND created_at < ?
             ORDER BY created_at",
            from,
            to
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn list_documents(&self, session: SessionId) -> Result<Vec<DocumentSummary>> {
        let rows: Vec<DocumentRow> = sqlx::query_as!(
            DocumentRow,
            "SELECT d.id AS \"id: Uuid\", d.step_id, d.title, d.revision,
                 d.updated_at AS \"updated_at: DateTime<Utc>\"
             FROM documents d
             WHERE d.session_id = ?
             ORDER BY d.position",
            session.0
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn get_document(
        &self,
        session: SessionId,
        id: DocumentId,
        revision: Option<Revision>,
    ) -> Result<Option<DocumentSnapshot>> {
        // One statement (a consistent snapshot): the document joined to the wanted revision.
        let row = sqlx::query_as!(
            DocumentRevisionRow,
            "SELECT d.id AS \"id!: Uuid\", d.step_id, d.title, d.revision,
                 d.updated_at AS \"updated_at!: DateTime<Utc>\", r.revision AS \"rev_revision?\",
                 r.author AS \"rev_author?\", r.content AS \"rev_content?\",
                 r.content_hash AS \"rev_content_hash?\", r.message_id AS \"rev_message_id?: Uuid\",
                 r.created_at AS \"rev_created_at?: DateTime<Utc>\"
             FROM documents d
             LEFT JOIN document_revisions r ON r.document_id = d.id AND r.revision = COALESCE(?, d.revision)
             WHERE d.id = ? AND d.session_id = ?",
            revision.map(Revision::get),
            id.0,
            session.0
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.map(|row| row.snapshot(revision)).transpose()
    }

    async fn current_documents(&self, session: SessionId) -> Result<Vec<DocumentSnapshot>> {
        let rows = sqlx::query_as!(
            DocumentRevisionRow,
            "SELECT d.id AS \"id!: Uuid\", d.step_id, d.title, d.revision,
                 d.updated_at AS \"updated_at!: DateTime<Utc>\", r.revision AS \"rev_revision?\",
                 r.author AS \"rev_author?\", r.content AS \"rev_content?\",
                 r.content_hash AS \"rev_content_hash?\", r.message_id AS \"rev_message_id?: Uuid\",
                 r.created_at AS \"rev_created_at?: DateTime<Utc>\"
             FROM documents d
             LEFT JOIN document_revisions r ON r.document_id = d.id AND r.revision = d.revision
             WHERE d.session_id = ?
             ORDER BY d.position",
            session.0
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(|row| row.snapshot(None)).collect()
    }

    async fn list_revisions(&self, id: DocumentId) -> Result<Vec<RevisionInfo>> {
        let rows: Vec<RevisionRow> = sqlx::query_as!(
            RevisionRow,
            "SELECT revision, author, '' AS \"content!: String\", content_hash,
                 message_id AS \"message_id: Uuid\", created_at AS \"created_at: DateTime<Utc>\"
             FROM document_revisions
             WHERE document_id = ?
             ORDER BY revision DESC",
            id.0
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn account_security(&self, user: UserId) -> Result<Option<AccountSecurity>> {
        mfa_email::account_security(&self.reader, user).await
    }

    async fn start_totp(&self, user: UserId, secret: &str) -> Result<bool> {
        let secret = secret.to_owned();
        self.writer
            .run(move |conn| mfa_email::start_totp(conn, user, &secret))
            .await
    }

    async fn enable_totp(&self, user: UserId, step: i64, at: DateTime<Utc>) -> Result<bool> {
        self.writer
            .run(move |conn| mfa_email::enable_totp(conn, user, step, at))
            .await
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        self.writer
            .run(move |conn| mfa_email::use_totp_step(conn, user, step))
            .await
    }

    async fn disable_totp(&self, user: UserId) -> Result<bool> {
        self.writer.run(move |conn| mfa_email::disable_totp(conn, user)).await
    }

    async fn create_one_time_token(&self, new: NewOneTimeToken) -> Result<()> {
        self.writer
            .run(move |conn| mfa_email::create_one_time_token(conn, &new))
            .await
    }

    async fn confirm_email(&self, token_hash: &[u8], now: DateTime<Utc>) -> Result<Option<UserId>> {
        let token_hash = token_hash.to_vec();
        self.writer
            .run(move |conn| mfa_email::confirm_email(conn, &token_hash, now))
            .await
    }

    async fn reset_password(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>> {
        let (token_hash, password_hash) = (token_hash.to_vec(), password_hash.to_owned());
        self.writer
            .run(move |conn| mfa_email::reset_password(conn, &token_hash, &password_hash, now))
            .await
    }

    async fn queue_email(&self, new: NewEmail) -> Result<OutboxEmail> {
        let now = Utc::now();
        let email = OutboxEmail {
            id: Uuid::now_v7(),
            to: new.to,
            subject: new.subject,
            body: new.body,
            kind: new.kind,
            created_at: now,
            sent_at: None,
            attempts: 0,
            last_error: None,
            next_attempt_at: now,
        };
        self.writer
            .run(move |conn| mfa_email::queue_email(conn, &email).map(|()| email))
            .await
    }

    async fn claim_emails(&self, claim: EmailClaim) -> Result<Vec<OutboxEmail>> {
        self.writer.run(move |conn| mfa_email::claim_emails(conn, claim)).await
    }

    async fn email_sent(&self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        self.writer.run(move |conn| mfa_email::email_sent(conn, id, at)).await
    }

    async fn email_failed(&self, id: Uuid, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()> {
        let error = error.to_owned();
        self.writer
            .run(move |conn| mfa_email::email_failed(conn, id, &error, next_attempt_at))
            .await
    }

    async fn list_emails(&self, before: Option<Uuid>, limit: u32) -> Result<Vec<OutboxEmail>> {
        mfa_email::list_emails(&self.reader, before, limit).await
    }

    async fn activity_counts(&self, now: DateTime<Utc>) -> Result<plansmith_store::ActivityCounts> {
        monitoring::activity_counts(&self.reader, now).await
    }

    async fn record_error(&self, event: plansmith_store::NewErrorEvent) -> Result<i64> {
        self.writer
            .run(move |conn| monitoring::record_error(conn, &event))
            .await
    }

    async fn list_error_groups(&self, limit: u32) -> Result<Vec<plansmith_store::ErrorGroup>> {
        monitoring::list_error_groups(&self.reader, limit).await
    }

    async fn list_flags(&self) -> Result<Vec<plansmith_store::StoredFlag>> {
        monitoring::list_flags(&self.reader).await
    }

    async fn put_flag(&self, flag: plansmith_store::StoredFlag) -> Result<()> {
        self.writer.run(move |conn| monitoring::put_flag(conn, &flag)).await
    }

    async fn delete_flag(&self, key: &str) -> Result<bool> {
        let key = key.to_owned();
        self.writer.run(move |conn| monitoring::delete_flag(conn, &key)).await
    }

    async fn list_consents(&self, user: UserId) -> Result<Vec<plansmith_store::Consent>> {
        monitoring::list_consents(&self.reader, user).await
    }

    async fn give_consent(&self, consent: plansmith_store::Consent) -> Result<()> {
        self.writer
            .run(move |conn| {
                write::change(
                    conn,
                    sql::GIVE_CONSENT,
                    rusqlite::params![
                        consent.id,
                        consent.user_id.0,
                        consent.kind,
                        consent.version,
                        write::stamp(consent.given_at),
                        consent.withdrawn_at.map(write::stamp)
                    ],
                )
                .map(drop)
            })
            .await
    }

    async fn withdraw_consent(&self, user: UserId, kind: &str, at: DateTime<Utc>) -> Result<u64> {
        let kind = kind.to_owned();
        let withdrawn = self
            .writer
            .run(move |conn| {
                write::change(
                    conn,
                    sql::WITHDRAW_CONSENT,
                    rusqlite::params![user.0, kind, write::stamp(at)],
                )
            })
            .await?;
        Ok(withdrawn as u64)
    }

    async fn create_client_key(&self, key: plansmith_store::StoredClientKey) -> Result<()> {
        self.writer
            .run(move |conn| monitoring::create_client_key(conn, &key))
            .await
    }

    async fn list_client_keys(&self) -> Result<Vec<plansmith_store::StoredClientKey>> {
        monitoring::list_client_keys(&self.reader, None).await
    }

    async fn find_client_key(&self, key_hash: &str) -> Result<Option<plansmith_store::StoredClientKey>> {
        Ok(monitoring::list_client_keys(&self.reader, Some(key_hash)).await?.pop())
    }

    async fn revoke_client_key(&self, id: uuid::Uuid, at: DateTime<Utc>) -> Result<bool> {
        self.writer
            .run(move |conn| monitoring::revoke_client_key(conn, id, at))
            .await
    }

    async fn append_audit(
        &self,
        entries: Vec<plansmith_store::audit::NewAuditEntry>,
        signer: std::sync::Arc<dyn plansmith_store::audit::AuditSigner>,
        checkpoint: bool,
    ) -> Result<i64> {
        self.writer
            .run(move |conn| audit::append(conn, entries, signer.as_ref(), checkpoint))
            .await
    }

    async fn audit_entries(
        &self,
        query: &plansmith_store::audit::AuditQuery,
    ) -> Result<Vec<plansmith_store::audit::AuditEntry>> {
        audit::entries(&self.reader, query).await
    }

    async fn audit_chain(&self, after: i64, limit: u32) -> Result<Vec<plansmith_store::audit::AuditEntry>> {
        audit::chain(&self.reader, after, limit).await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<plansmith_store::audit::AuditCheckpoint>> {
        audit::checkpoints(&self.reader).await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        self.writer.run(move |conn| audit::prune(conn, before)).await
    }

    async fn resign_audit_checkpoints(
        &self,
        signer: std::sync::Arc<dyn plansmith_store::audit::AuditSigner>,
    ) -> Result<u64> {
        self.writer.run(move |conn| audit::resign(conn, signer.as_ref())).await
    }

    async fn create_incident(&self, new: plansmith_store::incidents::NewIncident) -> Result<Vec<(UserId, String)>> {
        self.writer.run(move |conn| incidents::create(conn, &new)).await
    }

    async fn incident_notified(&self, id: Uuid, users: &[UserId], at: DateTime<Utc>) -> Result<()> {
        let users = users.to_vec();
        self.writer
            .run(move |conn| incidents::notified(conn, id, &users, at))
            .await
    }

    async fn list_incidents(&self, limit: u32) -> Result<Vec<plansmith_store::incidents::Incident>> {
        incidents::list(&self.reader, None, limit).await
    }

    async fn incident(
        &self,
        id: Uuid,
    ) -> Result<
        Option<(
            plansmith_store::incidents::Incident,
            Vec<plansmith_store::incidents::IncidentRecipient>,
        )>,
    > {
        let Some(incident) = incidents::list(&self.reader, Some(id), 1).await?.pop() else {
            return Ok(None);
        };
        Ok(Some((incident, incidents::recipients(&self.reader, id).await?)))
    }

    async fn user_incidents(
        &self,
        user: UserId,
        since: DateTime<Utc>,
    ) -> Result<Vec<plansmith_store::incidents::UserIncident>> {
        incidents::for_user(&self.reader, user, since).await
    }

    async fn apply_retention(&self, r: &plansmith_store::Retention) -> Result<plansmith_store::RetentionReport> {
        let r = *r;
        self.writer
            .run(move |conn| {
                let mut report = plansmith_store::RetentionReport::default();
                let run = |sql: &str, before: chrono::DateTime<Utc>| {
                    write::change(conn, sql, rusqlite::params![write::stamp(before)]).map(|n| n as u64)
                };
                if let Some(before) = r.llm_calls_before {
                    run(sql::RETAIN_FOLD_CALLS, before)?;
                    report.llm_calls = run(sql::RETAIN_CALLS, before)?;
                }
                if let Some(before) = r.security_events_before {
                    report.security_events = run(sql::RETAIN_SECURITY_EVENTS, before)?;
                }
                if let Some(before) = r.abandon_idle_before {
                    let now = write::stamp(Utc::now());
                    report.sessions_abandoned =
                        write::change(conn, sql::RETAIN_ABANDON, rusqlite::params![write::stamp(before), now])? as u64;
                }
                if let Some(before) = r.delete_abandoned_before {
                    report.sessions_deleted = run(sql::RETAIN_DELETE_ABANDONED, before)?;
                }
                Ok(report)
            })
            .await
    }

    async fn data_key_of(&self, user: UserId) -> Result<Option<plansmith_store::keys::StoredDataKey>> {
        keys::of_user(&self.reader, user).await
    }

    async fn data_key(&self, id: &str) -> Result<Option<plansmith_store::keys::StoredDataKey>> {
        keys::by_id(&self.reader, id).await
    }

    async fn create_data_key(
        &self,
        key: plansmith_store::keys::StoredDataKey,
    ) -> Result<plansmith_store::keys::StoredDataKey> {
        let user = key.user_id;
        self.writer.run(move |conn| keys::create(conn, &key)).await?;
        keys::of_user(&self.reader, user).await?.ok_or(StoreError::NotFound)
    }

    async fn data_keys_to_rewrap(
        &self,
        current_kek: &str,
        limit: u32,
    ) -> Result<Vec<plansmith_store::keys::StoredDataKey>> {
        keys::to_rewrap(&self.reader, current_kek, limit).await
    }

    async fn rewrap_data_key(&self, id: &str, from_kek: &str, to_kek: &str, wrapped: &str) -> Result<bool> {
        let (id, from, to, wrapped) = (
            id.to_owned(),
            from_kek.to_owned(),
            to_kek.to_owned(),
            wrapped.to_owned(),
        );
        self.writer
            .run(move |conn| keys::rewrap(conn, &id, &from, &to, &wrapped))
            .await
    }

    async fn data_key_samples(&self) -> Result<Vec<plansmith_store::keys::StoredDataKey>> {
        keys::samples(&self.reader).await
    }

    async fn unsealed_values(
        &self,
        column: plansmith_store::keys::SealedColumn,
        after: (Uuid, i64),
        limit: u32,
    ) -> Result<Vec<plansmith_store::keys::ColumnValue>> {
        keys::unsealed(&self.reader, column, after, limit).await
    }

    async fn replace_value(
        &self,
        column: plansmith_store::keys::SealedColumn,
        key: (Uuid, i64),
        old: &str,
        new: &str,
    ) -> Result<bool> {
        let (old, new) = (old.to_owned(), new.to_owned());
        self.writer
            .run(move |conn| keys::replace(conn, column, key, &old, &new))
            .await
    }

    async fn owner_of(&self, object: plansmith_store::keys::Owned) -> Result<Option<UserId>> {
        keys::owner_of(&self.reader, object).await
    }

    async fn read_incident(&self, id: Uuid, user: UserId, at: DateTime<Utc>) -> Result<bool> {
        self.writer.run(move |conn| incidents::read(conn, id, user, at)).await
    }

    async fn apply_billing_event(
        &self,
        event: plansmith_store::billing::BillingEvent,
    ) -> Result<plansmith_store::billing::BillingOutcome> {
        self.writer.run(move |conn| billing::apply(conn, &event)).await
    }

    async fn billing_account(&self, user: UserId) -> Result<Option<plansmith_store::billing::BillingAccount>> {
        billing::account(&self.reader, user).await
    }

    async fn lapse_past_due(&self, cutoff: DateTime<Utc>) -> Result<Vec<UserId>> {
        self.writer.run(move |conn| billing::lapse(conn, cutoff)).await
    }

    async fn mrr_sums(&self, from: &str, to: &str) -> Result<plansmith_store::billing::MrrSums> {
        billing::sums(&self.reader, from, to).await
    }

    async fn record_product_events(&self, events: Vec<plansmith_store::events::ProductEvent>) -> Result<()> {
        self.writer.run(move |conn| events::record(conn, &events)).await
    }

    async fn funnel_sums(
        &self,
        filter: &plansmith_store::events::AnalyticsFilter,
    ) -> Result<plansmith_store::events::FunnelSums> {
        events::funnel(&self.reader, filter).await
    }

    async fn retention_sums(
        &self,
        filter: &plansmith_store::events::AnalyticsFilter,
    ) -> Result<plansmith_store::events::RetentionSums> {
        events::retention(&self.reader, filter).await
    }

    async fn usage_sums(
        &self,
        filter: &plansmith_store::events::AnalyticsFilter,
    ) -> Result<plansmith_store::events::UsageSums> {
        events::usage(&self.reader, filter).await
    }

    async fn segment_sums(
        &self,
        filter: &plansmith_store::events::AnalyticsFilter,
    ) -> Result<Vec<plansmith_store::events::SegmentSums>> {
        events::segments(&self.reader, filter).await
    }

    async fn feedback_texts(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<plansmith_store::quality::FeedbackText>> {
        quality::texts(&self.reader, since, limit).await
    }

    async fn backdate_user(&self, user: UserId, created_at: DateTime<Utc>) -> Result<()> {
        self.writer
            .run(move |conn| {
                write::change(
                    conn,
                    "UPDATE users SET created_at = ?2 WHERE id = ?1",
                    rusqlite::params![user.0, write::stamp(created_at)],
                )
                .map(|_| ())
            })
            .await
    }

    async fn rate_document(&self, rating: plansmith_store::quality::DocumentRating) -> Result<()> {
        self.writer.run(move |conn| quality::rate(conn, &rating)).await
    }

    async fn save_survey(&self, survey: plansmith_store::quality::SessionSurvey) -> Result<()> {
        self.writer.run(move |conn| quality::survey(conn, &survey)).await
    }

    async fn quality_sums(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<plansmith_store::quality::QualitySums> {
        quality::sums(&self.reader, from, to).await
    }

    async fn session_feedback(
        &self,
        session: SessionId,
        user: UserId,
    ) -> Result<plansmith_store::quality::SessionFeedback> {
        quality::feedback(&self.reader, session, user).await
    }

    async fn import_sessions(&self, sessions: Vec<plansmith_store::history::PastSession>) -> Result<()> {
        self.writer.run(move |conn| quality::import(conn, &sessions)).await
    }
}

/// Every statement the writer connection runs (name, SQL): with the query macros' offline data
/// they are all the SQL this build sends, which the N-1 compatibility test records per release.
pub fn writer_statements() -> &'static [(&'static str, &'static str)] {
    sql::ALL
}

async fn applied_migrations(pool: &SqlitePool) -> i64 {
    // The table does not exist before the first migration; that counts as none applied.
    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}
