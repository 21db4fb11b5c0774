//! The PostgreSQL backend of the Store API, for the scaled-out mode: a pooled set of
//! connections shared by every request, row locks where concurrent writers meet (a session's
//! message sequence, a document's revision), and its own schema in `migrations/`. Reads are in
//! `read.rs`, writes in `write.rs`; what a write does is decided by the store's rules. Knows no
//! HTTP.

mod accounts;
mod audit;
mod billing;
mod events;
mod incidents;
mod keys;
mod mfa_email;
mod monitoring;
mod quality;
mod read;
mod write;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentId, Email, MessageId, Revision, Role, SessionId, SignInId, UserId};
use plansmith_store::{AccountSecurity, EmailClaim, NewEmail, NewOneTimeToken, OutboxEmail};
use plansmith_store::{
    AppliedRevision, Checkpoint, DocumentSnapshot, DocumentSummary, EndedReply, FinishedReply, Lease, LlmCall, Message,
    NewSecurityEvent, NewSession, NewSignIn, NewUser, Orphan, OrphanClaim, PlanningSession, PoolStats, PostedMessage,
    Result, RevisionInfo, SecurityEvent, SecurityEventQuery, SessionClose, SignIn, StepAdvance, Store, StoreError,
    TokenLife, TokenOwner, UsageTotals, User, UserUpdate,
};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(e.to_string())
        }
        // A connection closed while sqlx asks for TLS (`sslmode=prefer`, the default, and
        // stricter modes) reads as a zero byte, which sqlx reports as a protocol error.
        sqlx::Error::Protocol(message) if message.starts_with("unexpected response from SSLRequest") => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate,
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

    pub(crate) async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        self.timed(self.pool.acquire()).await
    }

    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        self.timed(self.pool.begin()).await
    }
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
            max_size: self.pool.options().get_max_connections(),
            write_queue: None,
        }
    }
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }
    async fn migrate_down(&self, version: i64) -> Result<usize> {
        let before: i64 = applied_migrations(&self.pool).await;
        MIGRATOR
            .undo(&self.pool, version)
            .await
            .map_err(|e| StoreError::Database(format!("migration down failed: {e}")))?;
        let after: i64 = applied_migrations(&self.pool).await;
        Ok((before - after).max(0) as usize)
    }

    async fn migrations(&self) -> Result<Vec<plansmith_store::MigrationInfo>> {
        let applied = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await;
        plansmith_store::rows::migration_infos(&MIGRATOR, applied).map_err(db_err)
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
        write::create_user(self, new).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>> {
        read::user_by_email(self, email).await
    }

    async fn set_user_role(&self, email: &Email, role: Role) -> Result<bool> {
        write::set_user_role(self, email, role).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        accounts::user_by_id(self, id).await
    }

    async fn list_users(&self, before: Option<UserId>, limit: u32) -> Result<Vec<User>> {
        accounts::list_users(self, before, limit).await
    }

    async fn update_user(&self, id: UserId, update: UserUpdate) -> Result<Option<User>> {
        accounts::update_user(self, id, update).await
    }

    async fn set_password(&self, user: UserId, password_hash: &str, keep: Option<SignInId>) -> Result<u64> {
        accounts::set_password(self, user, password_hash, keep).await
    }

    async fn create_auth_token(&self, new: NewSignIn) -> Result<SignInId> {
        accounts::create_auth_token(self, new).await
    }

    async fn user_by_token(&self, token_hash: &[u8], life: TokenLife) -> Result<Option<TokenOwner>> {
        accounts::user_by_token(self, token_hash, life).await
    }

    async fn delete_auth_token(&self, token_hash: &[u8]) -> Result<()> {
        write::delete_auth_token(self, token_hash).await
    }

    async fn list_sign_ins(&self, user: UserId, life: TokenLife) -> Result<Vec<SignIn>> {
        accounts::list_sign_ins(self, user, life).await
    }

    async fn revoke_sign_in(&self, user: UserId, id: SignInId) -> Result<bool> {
        accounts::revoke_sign_in(self, user, id).await
    }

    async fn revoke_sign_ins(&self, user: UserId, keep: Option<SignInId>) -> Result<u64> {
        accounts::revoke_sign_ins(self, user, keep).await
    }

    async fn purge_auth_tokens(&self, life: TokenLife) -> Result<u64> {
        accounts::purge_auth_tokens(self, life).await
    }

    async fn record_security_event(&self, event: NewSecurityEvent) -> Result<SecurityEvent> {
        accounts::record_security_event(self, event).await
    }

    async fn security_events(&self, query: &SecurityEventQuery) -> Result<Vec<SecurityEvent>> {
        accounts::security_events(self, query).await
    }

    async fn create_session(&self, new: NewSession) -> Result<PlanningSession> {
        write::create_session(self, new).await
    }

    async fn list_sessions(&self, user: UserId, before: Option<SessionId>, limit: u32) -> Result<Vec<PlanningSession>> {
        read::list_sessions(self, user, before, limit).await
    }

    async fn get_session(&self, user: UserId, id: SessionId) -> Result<Option<PlanningSession>> {
        read::get_session(self, user, id).await
    }

    async fn complete_step(&self, id: SessionId, step_id: &str, advance: StepAdvance) -> Result<PlanningSession> {
        write::complete_step(self, id, step_id, advance).await
    }

    async fn close_session(&self, id: SessionId, close: SessionClose) -> Result<PlanningSession> {
        write::close_session(self, id, close).await
    }

    async fn rename_session(&self, user: UserId, id: SessionId, title: &str) -> Result<Option<PlanningSession>> {
        if !write::rename_session(self, user, id, title).await? {
            return Ok(None);
        }
        read::get_session(self, user, id).await
    }

    async fn erase_user(&self, user: UserId, email: &str) -> Result<bool> {
        write::erase_user(self, user, email).await
    }

    async fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool> {
        write::delete_session(self, user, id).await
    }

    async fn post_message(
        &self,
        session: SessionId,
        content: &str,
        client_key: Option<&str>,
        lease: &Lease,
    ) -> Result<PostedMessage> {
        write::post_message(self, session, content, client_key, lease).await
    }

    async fn list_messages(&self, session: SessionId) -> Result<Vec<Message>> {
        read::list_messages(self, session).await
    }

    async fn get_message(&self, session: SessionId, id: MessageId) -> Result<Option<Message>> {
        read::get_message(self, session, id).await
    }

    async fn reply_events(&self, reply: MessageId) -> Result<Option<String>> {
        read::reply_events(self, reply).await
    }

    async fn start_reply(&self, reply: MessageId, owner: &str, provider: &str, model: &str) -> Result<()> {
        write::start_reply(self, reply, owner, provider, model).await
    }

    async fn checkpoint_replies(&self, owner: &str, checkpoints: &[Checkpoint]) -> Result<()> {
        if checkpoints.is_empty() {
            return Ok(());
        }
        write::checkpoint_replies(self, owner, checkpoints).await
    }

    async fn finish_reply(&self, finished: FinishedReply) -> Result<Vec<AppliedRevision>> {
        write::finish_reply(self, finished).await
    }

    async fn end_reply(&self, ended: EndedReply) -> Result<bool> {
        write::end_reply(self, ended).await
    }

    async fn save_reply_events(&self, reply: MessageId, events: &str) -> Result<()> {
        write::save_reply_events(self, reply, events).await
    }

    async fn reset_reply(&self, reply: MessageId, lease: &Lease) -> Result<Message> {
        write::reset_reply(self, reply, lease).await
    }

    async fn usage_since(&self, user: UserId, since: DateTime<Utc>) -> Result<UsageTotals> {
        read::usage_since(self, user, since).await
    }

    async fn llm_calls_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<LlmCall>> {
        read::llm_calls_between(self, from, to).await
    }

    async fn renew_leases(&self, lease: &Lease) -> Result<Vec<MessageId>> {
        write::renew_leases(self, lease).await
    }

    async fn release_leases(&self, owner: &str, replies: &[MessageId]) -> Result<u64> {
        if replies.is_empty() {
            return Ok(0);
        }
        write::release_leases(self, owner, replies).await
    }

    async fn claim_orphans(&self, claim: &OrphanClaim) -> Result<Vec<Orphan>> {
        write::claim_orphans(self, claim).await
    }

    async fn list_documents(&self, session: SessionId) -> Result<Vec<DocumentSummary>> {
        read::list_documents(self, session).await
    }

    async fn get_document(
        &self,
        session: SessionId,
        id: DocumentId,
        revision: Option<Revision>,
    ) -> Result<Option<DocumentSnapshot>> {
        read::get_document(self, session, id, revision).await
    }

    async fn current_documents(&self, session: SessionId) -> Result<Vec<DocumentSnapshot>> {
        read::current_documents(self, session).await
    }

    async fn edit_section(
        &self,
        id: DocumentId,
        section_id: &str,
        content: &str,
        base_revision: Revision,
    ) -> Result<Revision> {
        write::edit_section(self, id, section_id, content, base_revision).await
    }

    async fn list_revisions(&self, id: DocumentId) -> Result<Vec<RevisionInfo>> {
        read::list_revisions(self, id).await
    }

    async fn restore_revision(&self, id: DocumentId, revision: Revision) -> Result<Revision> {
        write::restore_revision(self, id, revision).await
    }

    async fn account_security(&self, user: UserId) -> Result<Option<AccountSecurity>> {
        mfa_email::account_security(self, user).await
    }

    async fn start_totp(&self, user: UserId, secret: &str) -> Result<bool> {
        mfa_email::start_totp(self, user, secret).await
    }

    async fn enable_totp(&self, user: UserId, step: i64, at: DateTime<Utc>) -> Result<bool> {
        mfa_email::enable_totp(self, user, step, at).await
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        mfa_email::use_totp_step(self, user, step).await
    }

    async fn disable_totp(&self, user: UserId) -> Result<bool> {
        mfa_email::disable_totp(self, user).await
    }

    async fn create_one_time_token(&self, new: NewOneTimeToken) -> Result<()> {
        mfa_email::create_one_time_token(self, new).await
    }

    async fn confirm_email(&self, token_hash: &[u8], now: DateTime<Utc>) -> Result<Option<UserId>> {
        mfa_email::confirm_email(self, token_hash, now).await
    }

    async fn reset_password(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>> {
        mfa_email::reset_password(self, token_hash, password_hash, now).await
    }

    async fn queue_email(&self, new: NewEmail) -> Result<OutboxEmail> {
        mfa_email::queue_email(self, new).await
    }

    async fn claim_emails(&self, claim: EmailClaim) -> Result<Vec<OutboxEmail>> {
        mfa_email::claim_emails(self, claim).await
    }

    async fn email_sent(&self, id: uuid::Uuid, at: DateTime<Utc>) -> Result<()> {
        mfa_email::email_sent(self, id, at).await
    }

    async fn email_failed(&self, id: uuid::Uuid, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()> {
        mfa_email::email_failed(self, id, error, next_attempt_at).await
    }

    async fn list_emails(&self, before: Option<uuid::Uuid>, limit: u32) -> Result<Vec<OutboxEmail>> {
        mfa_email::list_emails(self, before, limit).await
    }

    async fn activity_counts(&self, now: DateTime<Utc>) -> Result<plansmith_store::ActivityCounts> {
        monitoring::activity_counts(self, now).await
    }

    async fn record_error(&self, event: plansmith_store::NewErrorEvent) -> Result<i64> {
        monitoring::record_error(self, event).await
    }

    async fn list_error_groups(&self, limit: u32) -> Result<Vec<plansmith_store::ErrorGroup>> {
        monitoring::list_error_groups(self, limit).await
    }

    async fn list_flags(&self) -> Result<Vec<plansmith_store::StoredFlag>> {
        monitoring::list_flags(self).await
    }

    async fn put_flag(&self, flag: plansmith_store::StoredFlag) -> Result<()> {
        monitoring::put_flag(self, flag).await
    }

    async fn delete_flag(&self, key: &str) -> Result<bool> {
        monitoring::delete_flag(self, key).await
    }

    async fn list_consents(&self, user: UserId) -> Result<Vec<plansmith_store::Consent>> {
        monitoring::list_consents(self, user).await
    }

    async fn give_consent(&self, consent: plansmith_store::Consent) -> Result<()> {
        monitoring::give_consent(self, consent).await
    }

    async fn withdraw_consent(&self, user: UserId, kind: &str, at: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        monitoring::withdraw_consent(self, user, kind, at).await
    }

    async fn create_client_key(&self, key: plansmith_store::StoredClientKey) -> Result<()> {
        monitoring::create_client_key(self, key).await
    }

    async fn list_client_keys(&self) -> Result<Vec<plansmith_store::StoredClientKey>> {
        monitoring::list_client_keys(self, None).await
    }

    async fn find_client_key(&self, key_hash: &str) -> Result<Option<plansmith_store::StoredClientKey>> {
        Ok(monitoring::list_client_keys(self, Some(key_hash)).await?.pop())
    }

    async fn revoke_client_key(&self, id: uuid::Uuid, at: chrono::DateTime<chrono::Utc>) -> Result<bool> {
        monitoring::revoke_client_key(self, id, at).await
    }

    async fn append_audit(
        &self,
        entries: Vec<plansmith_store::audit::NewAuditEntry>,
        signer: Arc<dyn plansmith_store::audit::AuditSigner>,
        checkpoint: bool,
    ) -> Result<i64> {
        audit::append(self, entries, signer.as_ref(), checkpoint).await
    }

    async fn audit_entries(
        &self,
        query: &plansmith_store::audit::AuditQuery,
    ) -> Result<Vec<plansmith_store::audit::AuditEntry>> {
        audit::entries(self, query).await
    }

    async fn audit_chain(&self, after: i64, limit: u32) -> Result<Vec<plansmith_store::audit::AuditEntry>> {
        audit::chain(self, after, limit).await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<plansmith_store::audit::AuditCheckpoint>> {
        audit::checkpoints(self).await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        audit::prune(self, before).await
    }

    async fn resign_audit_checkpoints(&self, signer: Arc<dyn plansmith_store::audit::AuditSigner>) -> Result<u64> {
        audit::resign(self, signer.as_ref()).await
    }

    async fn create_incident(&self, new: plansmith_store::incidents::NewIncident) -> Result<Vec<(UserId, String)>> {
        incidents::create(self, new).await
    }

    async fn incident_notified(&self, id: uuid::Uuid, users: &[UserId], at: DateTime<Utc>) -> Result<()> {
        incidents::notified(self, id, users, at).await
    }

    async fn list_incidents(&self, limit: u32) -> Result<Vec<plansmith_store::incidents::Incident>> {
        incidents::list(self, None, limit).await
    }

    async fn incident(
        &self,
        id: uuid::Uuid,
    ) -> Result<
        Option<(
            plansmith_store::incidents::Incident,
            Vec<plansmith_store::incidents::IncidentRecipient>,
        )>,
    > {
        let Some(incident) = incidents::list(self, Some(id), 1).await?.pop() else {
            return Ok(None);
        };
        Ok(Some((incident, incidents::recipients(self, id).await?)))
    }

    async fn user_incidents(
        &self,
        user: UserId,
        since: DateTime<Utc>,
    ) -> Result<Vec<plansmith_store::incidents::UserIncident>> {
        incidents::for_user(self, user, since).await
    }

    async fn apply_retention(&self, r: &plansmith_store::Retention) -> Result<plansmith_store::RetentionReport> {
        monitoring::apply_retention(self, r).await
    }

    async fn data_key_of(&self, user: UserId) -> Result<Option<plansmith_store::keys::StoredDataKey>> {
        keys::of_user(self, user).await
    }

    async fn data_key(&self, id: &str) -> Result<Option<plansmith_store::keys::StoredDataKey>> {
        keys::by_id(self, id).await
    }

    async fn create_data_key(
        &self,
        key: plansmith_store::keys::StoredDataKey,
    ) -> Result<plansmith_store::keys::StoredDataKey> {
        keys::create(self, key).await
    }

    async fn data_keys_to_rewrap(
        &self,
        current_kek: &str,
        limit: u32,
    ) -> Result<Vec<plansmith_store::keys::StoredDataKey>> {
        keys::to_rewrap(self, current_kek, limit).await
    }

    async fn rewrap_data_key(&self, id: &str, from_kek: &str, to_kek: &str, wrapped: &str) -> Result<bool> {
        keys::rewrap(self, id, from_kek, to_kek, wrapped).await
    }

    async fn data_key_samples(&self) -> Result<Vec<plansmith_store::keys::StoredDataKey>> {
        keys::samples(self).await
    }

    async fn unsealed_values(
        &self,
        column: plansmith_store::keys::SealedColumn,
        after: (uuid::Uuid, i64),
        limit: u32,
    ) -> Result<Vec<plansmith_store::keys::ColumnValue>> {
        keys::unsealed(self, column, after, limit).await
    }

    async fn replace_value(
        &self,
        column: plansmith_store::keys::SealedColumn,
        key: (uuid::Uuid, i64),
        old: &str,
        new: &str,
    ) -> Result<bool> {
        keys::replace(self, column, key, old, new).await
    }

    async fn owner_of(&self, object: plansmith_store::keys::Owned) -> Result<Option<UserId>> {
        keys::owner_of(self, object).await
    }

    async fn read_incident(&self, id: uuid::Uuid, user: UserId, at: DateTime<Utc>) -> Result<bool> {
        incidents::read(self, id, user, at).await
    }

    async fn apply_billing_event(
        &self,
        event: plansmith_store::billing::BillingEvent,
    ) -> Result<plansmith_store::billing::BillingOutcome> {
        billing::apply(self, &event).await
    }

    async fn billing_account(&self, user: UserId) -> Result<Option<plansmith_store::billing::BillingAccount>> {
        billing::account(self, user).await
    }

    async fn lapse_past_due(&self, cutoff: DateTime<Utc>) -> Result<Vec<UserId>> {
        billing::lapse(self, cutoff).await
    }

    async fn mrr_sums(&self, from: &str, to: &str) -> Result<plansmith_store::billing::MrrSums> {
        billing::sums(self, from, to).await
    }

    async fn record_product_events(&self, events: Vec<plansmith_store::events::ProductEvent>) -> Result<()> {
        events::record(self, &events).await
    }

    async fn funnel_sums(
        &self,
        filter: &plansmith_store::events::AnalyticsFilter,
    ) -> Result<plansmith_store::events::FunnelSums> {
        events::funnel(self, filter).await
    }

    async fn retention_sums(
        &self,
        filter: &plansmith_store::events::AnalyticsFilter,
    ) -> Result<plansmith_store::events::RetentionSums> {
        events::retention(self, filter).await
    }

    async fn usage_sums(
        &self,
        filter: &plansmith_store::events::AnalyticsFilter,
    ) -> Result<plansmith_store::events::UsageSums> {
        events::usage(self, filter).await
    }

    async fn segment_sums(
        &self,
        filter: &plansmith_store::events::AnalyticsFilter,
    ) -> Result<Vec<plansmith_store::events::SegmentSums>> {
        events::segments(self, filter).await
    }

    async fn feedback_texts(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<plansmith_store::quality::FeedbackText>> {
        quality::texts(self, since, limit).await
    }

    async fn backdate_user(&self, user: UserId, created_at: DateTime<Utc>) -> Result<()> {
        sqlx::query!("UPDATE users SET created_at = $2 WHERE id = $1", user.0, created_at)
            .execute(&mut *self.conn().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn rate_document(&self, rating: plansmith_store::quality::DocumentRating) -> Result<()> {
        quality::rate(self, &rating).await
    }

    async fn save_survey(&self, survey: plansmith_store::quality::SessionSurvey) -> Result<()> {
        quality::survey(self, &survey).await
    }

    async fn quality_sums(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<plansmith_store::quality::QualitySums> {
        quality::sums(self, from, to).await
    }

    async fn session_feedback(
        &self,
        session: SessionId,
        user: UserId,
    ) -> Result<plansmith_store::quality::SessionFeedback> {
        quality::feedback(self, session, user).await
    }

    async fn import_sessions(&self, sessions: Vec<plansmith_store::history::PastSession>) -> Result<()> {
        quality::import(self, &sessions).await
    }
}

async fn applied_migrations(pool: &PgPool) -> i64 {
    // The table does not exist before the first migration; that counts as none applied.
    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_lost_while_asking_for_tls_is_unavailable_not_a_database_error() {
        let lost = sqlx::Error::Protocol("unexpected response from SSLRequest: 0x00".into());
        assert!(matches!(db_err(lost), StoreError::Unavailable(_)));
        let other = sqlx::Error::Protocol("unexpected message".into());
        assert!(matches!(db_err(other), StoreError::Database(_)));
    }
}
