//! A [`Store`] that records a tracing span per operation (`store.<operation>`), for
//! OpenTelemetry traces. Wraps another store; used only when traces are exported, so the
//! embedded default pays nothing for it.

use super::*;
use std::sync::Arc;
use tracing::Instrument;

pub struct TracedStore {
    inner: Arc<dyn Store>,
}

impl TracedStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }
}

fn span(operation: &'static str) -> tracing::Span {
    tracing::info_span!("store", otel.name = %format_args!("store.{operation}"), db.operation.name = operation)
}

#[async_trait]
impl Store for TracedStore {
    fn pool_stats(&self) -> PoolStats {
        self.inner.pool_stats()
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().instrument(span("ping")).await
    }

    async fn list_flags(&self) -> Result<Vec<StoredFlag>> {
        self.inner.list_flags().instrument(span("list_flags")).await
    }

    async fn put_flag(&self, flag: StoredFlag) -> Result<()> {
        self.inner.put_flag(flag).instrument(span("put_flag")).await
    }

    async fn delete_flag(&self, key: &str) -> Result<bool> {
        self.inner.delete_flag(key).instrument(span("delete_flag")).await
    }

    async fn list_consents(&self, user: UserId) -> Result<Vec<Consent>> {
        self.inner.list_consents(user).instrument(span("list_consents")).await
    }

    async fn give_consent(&self, consent: Consent) -> Result<()> {
        self.inner.give_consent(consent).instrument(span("give_consent")).await
    }

    async fn withdraw_consent(&self, user: UserId, kind: &str, at: DateTime<Utc>) -> Result<u64> {
        self.inner
            .withdraw_consent(user, kind, at)
            .instrument(span("withdraw_consent"))
            .await
    }

    async fn create_client_key(&self, key: StoredClientKey) -> Result<()> {
        self.inner
            .create_client_key(key)
            .instrument(span("create_client_key"))
            .await
    }

    async fn append_audit(
        &self,
        entries: Vec<audit::NewAuditEntry>,
        signer: Arc<dyn audit::AuditSigner>,
        checkpoint: bool,
    ) -> Result<i64> {
        self.inner
            .append_audit(entries, signer, checkpoint)
            .instrument(span("append_audit"))
            .await
    }

    async fn audit_entries(&self, query: &audit::AuditQuery) -> Result<Vec<audit::AuditEntry>> {
        self.inner.audit_entries(query).instrument(span("audit_entries")).await
    }

    async fn audit_chain(&self, after: i64, limit: u32) -> Result<Vec<audit::AuditEntry>> {
        self.inner
            .audit_chain(after, limit)
            .instrument(span("audit_chain"))
            .await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<audit::AuditCheckpoint>> {
        self.inner
            .audit_checkpoints()
            .instrument(span("audit_checkpoints"))
            .await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        self.inner.prune_audit(before).instrument(span("prune_audit")).await
    }

    async fn resign_audit_checkpoints(&self, signer: Arc<dyn audit::AuditSigner>) -> Result<u64> {
        self.inner
            .resign_audit_checkpoints(signer)
            .instrument(span("resign_audit_checkpoints"))
            .await
    }

    async fn create_incident(&self, new: incidents::NewIncident) -> Result<Vec<(UserId, String)>> {
        self.inner
            .create_incident(new)
            .instrument(span("create_incident"))
            .await
    }

    async fn incident_notified(&self, id: uuid::Uuid, users: &[UserId], at: DateTime<Utc>) -> Result<()> {
        self.inner
            .incident_notified(id, users, at)
            .instrument(span("incident_notified"))
            .await
    }

    async fn list_incidents(&self, limit: u32) -> Result<Vec<incidents::Incident>> {
        self.inner
            .list_incidents(limit)
            .instrument(span("list_incidents"))
            .await
    }

    async fn incident(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<(incidents::Incident, Vec<incidents::IncidentRecipient>)>> {
        self.inner.incident(id).instrument(span("incident")).await
    }

    async fn user_incidents(&self, user: UserId, since: DateTime<Utc>) -> Result<Vec<incidents::UserIncident>> {
        self.inner
            .user_incidents(user, since)
            .instrument(span("user_incidents"))
            .await
    }

    async fn read_incident(&self, id: uuid::Uuid, user: UserId, at: DateTime<Utc>) -> Result<bool> {
        self.inner
            .read_incident(id, user, at)
            .instrument(span("read_incident"))
            .await
    }

    async fn apply_billing_event(&self, event: billing::BillingEvent) -> Result<billing::BillingOutcome> {
        self.inner
            .apply_billing_event(event)
            .instrument(span("apply_billing_event"))
            .await
    }

    async fn billing_account(&self, user: UserId) -> Result<Option<billing::BillingAccount>> {
        self.inner
            .billing_account(user)
            .instrument(span("billing_account"))
            .await
    }

    async fn lapse_past_due(&self, cutoff: DateTime<Utc>) -> Result<Vec<UserId>> {
        self.inner
            .lapse_past_due(cutoff)
            .instrument(span("lapse_past_due"))
            .await
    }

    async fn mrr_sums(&self, from: &str, to: &str) -> Result<billing::MrrSums> {
        self.inner.mrr_sums(from, to).instrument(span("mrr_sums")).await
    }

    async fn record_product_events(&self, events: Vec<events::ProductEvent>) -> Result<()> {
        self.inner
            .record_product_events(events)
            .instrument(span("record_product_events"))
            .await
    }

    async fn funnel_sums(&self, filter: &events::AnalyticsFilter) -> Result<events::FunnelSums> {
        self.inner.funnel_sums(filter).instrument(span("funnel_sums")).await
    }

    async fn retention_sums(&self, filter: &events::AnalyticsFilter) -> Result<events::RetentionSums> {
        self.inner
            .retention_sums(filter)
            .instrument(span("retention_sums"))
            .await
    }

    async fn usage_sums(&self, filter: &events::AnalyticsFilter) -> Result<events::UsageSums> {
        self.inner.usage_sums(filter).instrument(span("usage_sums")).await
    }

    async fn segment_sums(&self, filter: &events::AnalyticsFilter) -> Result<Vec<events::SegmentSums>> {
        self.inner.segment_sums(filter).instrument(span("segment_sums")).await
    }

    async fn feedback_texts(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<quality::FeedbackText>> {
        self.inner
            .feedback_texts(since, limit)
            .instrument(span("feedback_texts"))
            .await
    }

    async fn backdate_user(&self, user: UserId, created_at: DateTime<Utc>) -> Result<()> {
        self.inner
            .backdate_user(user, created_at)
            .instrument(span("backdate_user"))
            .await
    }

    async fn rate_document(&self, rating: quality::DocumentRating) -> Result<()> {
        self.inner.rate_document(rating).instrument(span("rate_document")).await
    }

    async fn save_survey(&self, survey: quality::SessionSurvey) -> Result<()> {
        self.inner.save_survey(survey).instrument(span("save_survey")).await
    }

    async fn quality_sums(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<quality::QualitySums> {
        self.inner.quality_sums(from, to).instrument(span("quality_sums")).await
    }

    async fn session_feedback(&self, session: SessionId, user: UserId) -> Result<quality::SessionFeedback> {
        self.inner
            .session_feedback(session, user)
            .instrument(span("session_feedback"))
            .await
    }

    async fn import_sessions(&self, sessions: Vec<crate::history::PastSession>) -> Result<()> {
        self.inner
            .import_sessions(sessions)
            .instrument(span("import_sessions"))
            .await
    }

    async fn apply_retention(&self, retention: &Retention) -> Result<RetentionReport> {
        self.inner
            .apply_retention(retention)
            .instrument(span("apply_retention"))
            .await
    }

    async fn data_key_of(&self, user: UserId) -> Result<Option<keys::StoredDataKey>> {
        self.inner.data_key_of(user).instrument(span("data_key_of")).await
    }

    async fn data_key(&self, id: &str) -> Result<Option<keys::StoredDataKey>> {
        self.inner.data_key(id).instrument(span("data_key")).await
    }

    async fn create_data_key(&self, key: keys::StoredDataKey) -> Result<keys::StoredDataKey> {
        self.inner
            .create_data_key(key)
            .instrument(span("create_data_key"))
            .await
    }

    async fn data_keys_to_rewrap(&self, current_kek: &str, limit: u32) -> Result<Vec<keys::StoredDataKey>> {
        self.inner
            .data_keys_to_rewrap(current_kek, limit)
            .instrument(span("data_keys_to_rewrap"))
            .await
    }

    async fn rewrap_data_key(&self, id: &str, from_kek: &str, to_kek: &str, wrapped: &str) -> Result<bool> {
        self.inner
            .rewrap_data_key(id, from_kek, to_kek, wrapped)
            .instrument(span("rewrap_data_key"))
            .await
    }

    async fn data_key_samples(&self) -> Result<Vec<keys::StoredDataKey>> {
        self.inner.data_key_samples().instrument(span("data_key_samples")).await
    }

    async fn unsealed_values(
        &self,
        column: keys::SealedColumn,
        after: (uuid::Uuid, i64),
        limit: u32,
    ) -> Result<Vec<keys::ColumnValue>> {
        self.inner
            .unsealed_values(column, after, limit)
            .instrument(span("unsealed_values"))
            .await
    }

    async fn replace_value(
        &self,
        column: keys::SealedColumn,
        key: (uuid::Uuid, i64),
        old: &str,
        new: &str,
    ) -> Result<bool> {
        self.inner
            .replace_value(column, key, old, new)
            .instrument(span("replace_value"))
            .await
    }

    async fn owner_of(&self, object: keys::Owned) -> Result<Option<UserId>> {
        self.inner.owner_of(object).instrument(span("owner_of")).await
    }

    async fn list_client_keys(&self) -> Result<Vec<StoredClientKey>> {
        self.inner.list_client_keys().instrument(span("list_client_keys")).await
    }

    async fn find_client_key(&self, key_hash: &str) -> Result<Option<StoredClientKey>> {
        self.inner
            .find_client_key(key_hash)
            .instrument(span("find_client_key"))
            .await
    }

    async fn revoke_client_key(&self, id: uuid::Uuid, at: DateTime<Utc>) -> Result<bool> {
        self.inner
            .revoke_client_key(id, at)
            .instrument(span("revoke_client_key"))
            .await
    }

    async fn migrate_down(&self, version: i64) -> Result<usize> {
        self.inner.migrate_down(version).instrument(span("migrate_down")).await
    }

    async fn migrations(&self) -> Result<Vec<MigrationInfo>> {
        self.inner.migrations().instrument(span("migrations")).await
    }

    async fn migrate(&self) -> Result<usize> {
        self.inner.migrate().instrument(span("migrate")).await
    }

    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.inner.create_user(new).instrument(span("create_user")).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>> {
        self.inner.user_by_email(email).instrument(span("user_by_email")).await
    }

    async fn set_user_role(&self, email: &Email, role: Role) -> Result<bool> {
        self.inner
            .set_user_role(email, role)
            .instrument(span("set_user_role"))
            .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        self.inner.user_by_id(id).instrument(span("user_by_id")).await
    }

    async fn list_users(&self, before: Option<UserId>, limit: u32) -> Result<Vec<User>> {
        self.inner
            .list_users(before, limit)
            .instrument(span("list_users"))
            .await
    }

    async fn update_user(&self, id: UserId, update: UserUpdate) -> Result<Option<User>> {
        self.inner.update_user(id, update).instrument(span("update_user")).await
    }

    async fn set_password(&self, user: UserId, password_hash: &str, keep: Option<SignInId>) -> Result<u64> {
        self.inner
            .set_password(user, password_hash, keep)
            .instrument(span("set_password"))
            .await
    }

    async fn create_auth_token(&self, new: NewSignIn) -> Result<SignInId> {
        self.inner
            .create_auth_token(new)
            .instrument(span("create_auth_token"))
            .await
    }

    async fn user_by_token(&self, token_hash: &[u8], life: TokenLife) -> Result<Option<TokenOwner>> {
        self.inner
            .user_by_token(token_hash, life)
            .instrument(span("user_by_token"))
            .await
    }

    async fn delete_auth_token(&self, token_hash: &[u8]) -> Result<()> {
        self.inner
            .delete_auth_token(token_hash)
            .instrument(span("delete_auth_token"))
            .await
    }

    async fn list_sign_ins(&self, user: UserId, life: TokenLife) -> Result<Vec<SignIn>> {
        self.inner
            .list_sign_ins(user, life)
            .instrument(span("list_sign_ins"))
            .await
    }

    async fn revoke_sign_in(&self, user: UserId, id: SignInId) -> Result<bool> {
        self.inner
            .revoke_sign_in(user, id)
            .instrument(span("revoke_sign_in"))
            .await
    }

    async fn revoke_sign_ins(&self, user: UserId, keep: Option<SignInId>) -> Result<u64> {
        self.inner
            .revoke_sign_ins(user, keep)
            .instrument(span("revoke_sign_ins"))
            .await
    }

    async fn purge_auth_tokens(&self, life: TokenLife) -> Result<u64> {
        self.inner
            .purge_auth_tokens(life)
            .instrument(span("purge_auth_tokens"))
            .await
    }

    async fn record_security_event(&self, event: NewSecurityEvent) -> Result<SecurityEvent> {
        self.inner
            .record_security_event(event)
            .instrument(span("record_security_event"))
            .await
    }

    async fn security_events(&self, query: &SecurityEventQuery) -> Result<Vec<SecurityEvent>> {
        self.inner
            .security_events(query)
            .instrument(span("security_events"))
            .await
    }

    async fn create_session(&self, new: NewSession) -> Result<PlanningSession> {
        self.inner.create_session(new).instrument(span("create_session")).await
    }

    async fn list_sessions(&self, user: UserId, before: Option<SessionId>, limit: u32) -> Result<Vec<PlanningSession>> {
        self.inner
            .list_sessions(user, before, limit)
            .instrument(span("list_sessions"))
            .await
    }

    async fn get_session(&self, user: UserId, id: SessionId) -> Result<Option<PlanningSession>> {
        self.inner.get_session(user, id).instrument(span("get_session")).await
    }

    async fn complete_step(&self, id: SessionId, step_id: &str, advance: StepAdvance) -> Result<PlanningSession> {
        self.inner
            .complete_step(id, step_id, advance)
            .instrument(span("complete_step"))
            .await
    }

    async fn rename_session(&self, user: UserId, id: SessionId, title: &str) -> Result<Option<PlanningSession>> {
        self.inner
            .rename_session(user, id, title)
            .instrument(span("rename_session"))
            .await
    }

    async fn erase_user(&self, user: UserId, email: &str) -> Result<bool> {
        self.inner.erase_user(user, email).instrument(span("erase_user")).await
    }

    async fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool> {
        self.inner
            .delete_session(user, id)
            .instrument(span("delete_session"))
            .await
    }

    async fn close_session(&self, id: SessionId, close: SessionClose) -> Result<PlanningSession> {
        self.inner
            .close_session(id, close)
            .instrument(span("close_session"))
            .await
    }

    async fn post_message(
        &self,
        session: SessionId,
        content: &str,
        client_key: Option<&str>,
        lease: &Lease,
    ) -> Result<PostedMessage> {
        self.inner
            .post_message(session, content, client_key, lease)
            .instrument(span("post_message"))
            .await
    }

    async fn list_messages(&self, session: SessionId) -> Result<Vec<Message>> {
        self.inner
            .list_messages(session)
            .instrument(span("list_messages"))
            .await
    }

    async fn get_message(&self, session: SessionId, id: MessageId) -> Result<Option<Message>> {
        self.inner
            .get_message(session, id)
            .instrument(span("get_message"))
            .await
    }

    async fn reply_events(&self, reply: MessageId) -> Result<Option<String>> {
        self.inner.reply_events(reply).instrument(span("reply_events")).await
    }

    async fn start_reply(&self, reply: MessageId, owner: &str, provider: &str, model: &str) -> Result<()> {
        self.inner
            .start_reply(reply, owner, provider, model)
            .instrument(span("start_reply"))
            .await
    }

    async fn checkpoint_replies(&self, owner: &str, checkpoints: &[Checkpoint]) -> Result<()> {
        self.inner
            .checkpoint_replies(owner, checkpoints)
            .instrument(span("checkpoint_replies"))
            .await
    }

    async fn finish_reply(&self, finished: FinishedReply) -> Result<Vec<AppliedRevision>> {
        self.inner.finish_reply(finished).instrument(span("finish_reply")).await
    }

    async fn end_reply(&self, ended: EndedReply) -> Result<bool> {
        self.inner.end_reply(ended).instrument(span("end_reply")).await
    }

    async fn save_reply_events(&self, reply: MessageId, events: &str) -> Result<()> {
        self.inner
            .save_reply_events(reply, events)
            .instrument(span("save_reply_events"))
            .await
    }

    async fn reset_reply(&self, reply: MessageId, lease: &Lease) -> Result<Message> {
        self.inner
            .reset_reply(reply, lease)
            .instrument(span("reset_reply"))
            .await
    }

    async fn usage_since(&self, user: UserId, since: DateTime<Utc>) -> Result<UsageTotals> {
        self.inner
            .usage_since(user, since)
            .instrument(span("usage_since"))
            .await
    }

    async fn llm_calls_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<LlmCall>> {
        self.inner
            .llm_calls_between(from, to)
            .instrument(span("llm_calls_between"))
            .await
    }

    async fn renew_leases(&self, lease: &Lease) -> Result<Vec<MessageId>> {
        self.inner.renew_leases(lease).instrument(span("renew_leases")).await
    }

    async fn release_leases(&self, owner: &str, replies: &[MessageId]) -> Result<u64> {
        self.inner
            .release_leases(owner, replies)
            .instrument(span("release_leases"))
            .await
    }

    async fn claim_orphans(&self, claim: &OrphanClaim) -> Result<Vec<Orphan>> {
        self.inner.claim_orphans(claim).instrument(span("claim_orphans")).await
    }

    async fn list_documents(&self, session: SessionId) -> Result<Vec<DocumentSummary>> {
        self.inner
            .list_documents(session)
            .instrument(span("list_documents"))
            .await
    }

    async fn get_document(
        &self,
        session: SessionId,
        id: DocumentId,
        revision: Option<Revision>,
    ) -> Result<Option<DocumentSnapshot>> {
        self.inner
            .get_document(session, id, revision)
            .instrument(span("get_document"))
            .await
    }

    async fn current_documents(&self, session: SessionId) -> Result<Vec<DocumentSnapshot>> {
        self.inner
            .current_documents(session)
            .instrument(span("current_documents"))
            .await
    }

    async fn edit_section(
        &self,
        id: DocumentId,
        section_id: &str,
        content: &str,
        base_revision: Revision,
    ) -> Result<Revision> {
        self.inner
            .edit_section(id, section_id, content, base_revision)
            .instrument(span("edit_section"))
            .await
    }

    async fn list_revisions(&self, id: DocumentId) -> Result<Vec<RevisionInfo>> {
        self.inner.list_revisions(id).instrument(span("list_revisions")).await
    }

    async fn restore_revision(&self, id: DocumentId, revision: Revision) -> Result<Revision> {
        self.inner
            .restore_revision(id, revision)
            .instrument(span("restore_revision"))
            .await
    }

    async fn account_security(&self, user: UserId) -> Result<Option<AccountSecurity>> {
        self.inner
            .account_security(user)
            .instrument(span("account_security"))
            .await
    }

    async fn start_totp(&self, user: UserId, secret: &str) -> Result<bool> {
        self.inner.start_totp(user, secret).instrument(span("start_totp")).await
    }

    async fn enable_totp(&self, user: UserId, step: i64, at: DateTime<Utc>) -> Result<bool> {
        self.inner
            .enable_totp(user, step, at)
            .instrument(span("enable_totp"))
            .await
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        self.inner
            .use_totp_step(user, step)
            .instrument(span("use_totp_step"))
            .await
    }

    async fn disable_totp(&self, user: UserId) -> Result<bool> {
        self.inner.disable_totp(user).instrument(span("disable_totp")).await
    }

    async fn create_one_time_token(&self, new: NewOneTimeToken) -> Result<()> {
        self.inner
            .create_one_time_token(new)
            .instrument(span("create_one_time_token"))
            .await
    }

    async fn confirm_email(&self, token_hash: &[u8], now: DateTime<Utc>) -> Result<Option<UserId>> {
        self.inner
            .confirm_email(token_hash, now)
            .instrument(span("confirm_email"))
            .await
    }

    async fn reset_password(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>> {
        self.inner
            .reset_password(token_hash, password_hash, now)
            .instrument(span("reset_password"))
            .await
    }

    async fn queue_email(&self, new: NewEmail) -> Result<OutboxEmail> {
        self.inner.queue_email(new).instrument(span("queue_email")).await
    }

    async fn claim_emails(&self, claim: EmailClaim) -> Result<Vec<OutboxEmail>> {
        self.inner.claim_emails(claim).instrument(span("claim_emails")).await
    }

    async fn email_sent(&self, id: uuid::Uuid, at: DateTime<Utc>) -> Result<()> {
        self.inner.email_sent(id, at).instrument(span("email_sent")).await
    }

    async fn email_failed(&self, id: uuid::Uuid, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()> {
        self.inner
            .email_failed(id, error, next_attempt_at)
            .instrument(span("email_failed"))
            .await
    }

    async fn list_emails(&self, before: Option<uuid::Uuid>, limit: u32) -> Result<Vec<OutboxEmail>> {
        self.inner
            .list_emails(before, limit)
            .instrument(span("list_emails"))
            .await
    }

    async fn activity_counts(&self, now: DateTime<Utc>) -> Result<ActivityCounts> {
        self.inner
            .activity_counts(now)
            .instrument(span("activity_counts"))
            .await
    }

    async fn record_error(&self, event: NewErrorEvent) -> Result<i64> {
        self.inner.record_error(event).instrument(span("record_error")).await
    }

    async fn list_error_groups(&self, limit: u32) -> Result<Vec<ErrorGroup>> {
        self.inner
            .list_error_groups(limit)
            .instrument(span("list_error_groups"))
            .await
    }
}
