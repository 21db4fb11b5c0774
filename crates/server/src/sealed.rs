//! Content encrypted at rest: a [`Store`] that seals what people write — session titles and
//! ideas, messages, saved reply events, and every section of every document revision — before
//! the database sees it, and opens it on the way out. Each account's content is sealed with its
//! own data key (AES-256-GCM), which is stored only wrapped by the current key-encryption key
//! (`crypto.keys`, see [`crate::crypto`]); deleting the account deletes the data key.
//!
//! A sealed value reads `pse1.<data key id>.<base64url of nonce and ciphertext>`, with the data
//! key id as associated data. Values without the prefix are plaintext from before encryption
//! (read as they are until `plansmith keys backfill` seals them). Empty text stays empty, so
//! "which sections are filled" means the same sealed or not. Document hashes are of the stored
//! (sealed) content, verified on every read as before.

use crate::crypto::Keyring;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentId, Email, MessageId, Revision, Role, SessionId, SignInId, UserId};
use plansmith_store::keys::{self, Owned, StoredDataKey};
use plansmith_store::*;
use std::sync::Arc;
use std::time::Duration;

/// What a sealed value starts with.
pub const SEALED_PREFIX: &str = "pse1.";
/// Data keys and owners kept in memory per instance (an entry is a few hundred bytes).
const CACHED: u64 = 100_000;

/// One account's data key, ready to seal and open.
pub struct DataKey {
    id: String,
    /// Whose it is: a value opens only for its owner's objects.
    user: UserId,
    cipher: Aes256Gcm,
}

impl DataKey {
    pub fn new(id: String, user: UserId, key: &[u8; 32]) -> Self {
        Self {
            id,
            user,
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// `text` sealed (empty text stays empty).
    pub fn seal(&self, text: &str) -> String {
        if text.is_empty() {
            return String::new();
        }
        let nonce: [u8; 12] = rand::random();
        let payload = Payload {
            msg: text.as_bytes(),
            aad: self.id.as_bytes(),
        };
        // AES-GCM encryption fails only for messages beyond 64 GiB.
        let sealed = self.cipher.encrypt(&Nonce::from(nonce), payload).unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}.{}", self.id, URL_SAFE_NO_PAD.encode(bytes))
    }

    fn open(&self, body: &str) -> Result<String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| StoreError::Integrity(format!("a sealed value is not base64: {e}")))?;
        if bytes.len() < 12 + 16 {
            return Err(StoreError::Integrity("a sealed value is too short".into()));
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| StoreError::Integrity("a sealed value is too short".into()))?;
        let payload = Payload {
            msg: sealed,
            aad: self.id.as_bytes(),
        };
        let plain = self.cipher.decrypt(&Nonce::from(nonce), payload).map_err(|_| {
            StoreError::Integrity(format!(
                "a value sealed with data key {} does not open (altered?)",
                self.id
            ))
        })?;
        String::from_utf8(plain).map_err(|_| StoreError::Integrity("a sealed value is not UTF-8".into()))
    }
}

/// The key a write seals with: none while writes are not sealed yet (`crypto.seal_writes =
/// false`, during a rolling upgrade from a release that cannot open sealed values).
pub struct WriteKey(Option<Arc<DataKey>>);

impl WriteKey {
    pub fn seal(&self, text: &str) -> String {
        match &self.0 {
            Some(key) => key.seal(text),
            None => text.to_owned(),
        }
    }
}

/// Finds, creates and caches data keys, and seals and opens values with them.
pub struct Sealer {
    /// Whether writes are sealed (reads always open sealed values).
    writes: bool,
    keys: Arc<Keyring>,
    store: Arc<dyn Store>,
    by_user: moka::sync::Cache<UserId, Arc<DataKey>>,
    by_id: moka::sync::Cache<String, Arc<DataKey>>,
    owners: moka::sync::Cache<Owned, UserId>,
}

impl Sealer {
    pub fn new(store: Arc<dyn Store>, keys: Arc<Keyring>, writes: bool) -> Self {
        Self {
            writes,
            keys,
            store,
            by_user: cache(),
            by_id: cache(),
            owners: cache(),
        }
    }

    fn unwrap(&self, stored: &StoredDataKey) -> Result<Arc<DataKey>> {
        let key = self
            .keys
            .unwrap_data_key(stored)
            .map_err(|e| StoreError::Integrity(e.to_string()))?;
        let key = Arc::new(DataKey::new(stored.id.clone(), stored.user_id, &key));
        self.by_id.insert(stored.id.clone(), Arc::clone(&key));
        self.by_user.insert(stored.user_id, Arc::clone(&key));
        Ok(key)
    }

    /// The user's data key, made on first use.
    pub async fn key_for(&self, user: UserId) -> Result<Arc<DataKey>> {
        if let Some(key) = self.by_user.get(&user) {
            return Ok(key);
        }
        if let Some(stored) = self.store.data_key_of(user).await? {
            return self.unwrap(&stored);
        }
        let fresh = self.keys.new_data_key(user);
        // Another instance may have been first: its key is the one that counts.
        let stored = self.store.create_data_key(fresh).await?;
        self.unwrap(&stored)
    }

    /// The owner of a session, message or document.
    pub async fn owner(&self, object: Owned) -> Result<UserId> {
        if let Some(user) = self.owners.get(&object) {
            return Ok(user);
        }
        let user = self.store.owner_of(object).await?.ok_or(StoreError::NotFound)?;
        self.owners.insert(object, user);
        Ok(user)
    }

    pub async fn owner_key(&self, object: Owned) -> Result<(UserId, Arc<DataKey>)> {
        let user = self.owner(object).await?;
        Ok((user, self.key_for(user).await?))
    }

    pub async fn key_of(&self, object: Owned) -> Result<Arc<DataKey>> {
        Ok(self.owner_key(object).await?.1)
    }

    /// The key a write by or for `user` seals with.
    pub async fn write_key_for(&self, user: UserId) -> Result<WriteKey> {
        Ok(WriteKey(match self.writes {
            true => Some(self.key_for(user).await?),
            false => None,
        }))
    }

    /// The key a write to `object` seals with.
    pub async fn write_key_of(&self, object: Owned) -> Result<WriteKey> {
        Ok(WriteKey(match self.writes {
            true => Some(self.key_of(object).await?),
            false => None,
        }))
    }

    /// Remembers an owner learnt on the way (a reply posted or claimed).
    pub fn remember(&self, object: Owned, user: UserId) {
        self.owners.insert(object, user);
    }

    /// Drops an erased account's key from memory.
    pub fn forget(&self, user: UserId) {
        if let Some(key) = self.by_user.remove(&user) {
            self.by_id.invalidate(&key.id);
        }
    }

    /// The plaintext of a stored value of `owner`'s (a value without the prefix is plaintext
    /// already). A value sealed with another account's key does not open: copying someone's
    /// sealed words into one's own session gives nothing.
    pub async fn open(&self, owner: UserId, stored: &str) -> Result<String> {
        let Some(rest) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest
            .split_once('.')
            .ok_or_else(|| StoreError::Integrity("a sealed value names no data key".into()))?;
        let key = match self.by_id.get(id) {
            Some(key) => key,
            None => {
                let stored = self.store.data_key(id).await?.ok_or_else(|| {
                    StoreError::Integrity(format!(
                        "data key {id} is gone (its account was erased): the value cannot be opened"
                    ))
                })?;
                self.unwrap(&stored)?
            }
        };
        if key.user != owner {
            return Err(StoreError::Integrity(format!(
                "a value sealed with data key {id} is stored where another account's data belongs"
            )));
        }
        key.open(body)
    }

    pub async fn open_session(&self, mut s: PlanningSession) -> Result<PlanningSession> {
        s.title = self.open(s.user_id, &s.title).await?;
        s.idea = self.open(s.user_id, &s.idea).await?;
        self.remember(Owned::Session(s.id), s.user_id);
        Ok(s)
    }

    pub async fn open_message(&self, mut m: Message) -> Result<Message> {
        if m.content.starts_with(SEALED_PREFIX) {
            let owner = self.owner(Owned::Session(m.session_id)).await?;
            m.content = self.open(owner, &m.content).await?;
        }
        Ok(m)
    }

    pub async fn open_document(&self, owner: UserId, mut d: DocumentSnapshot) -> Result<DocumentSnapshot> {
        for text in d.content.0.values_mut() {
            *text = self.open(owner, text).await?;
        }
        Ok(d)
    }
}

fn cache<K, V>() -> moka::sync::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(CACHED)
        .time_to_idle(Duration::from_secs(600))
        .build()
}

/// `plansmith keys backfill`: seals what was stored before content was sealed, column by column
/// in batches, each value replaced only if unchanged meanwhile (a value written at the same
/// time is left for the next run). Resumable: a run finds only what is still plaintext.
/// `progress` hears each column's running count.
pub async fn backfill(
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    mut progress: impl FnMut(keys::SealedColumn, u64),
) -> Result<u64> {
    const BATCH: u32 = 500;
    let sealer = Sealer::new(Arc::clone(&store), keys, true);
    let mut total = 0;
    for column in keys::SealedColumn::ALL {
        let mut after = (uuid::Uuid::nil(), 0);
        let mut sealed = 0;
        loop {
            let batch = store.unsealed_values(column, after, BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = (last.key, last.revision);
            for value in &batch {
                let key = sealer.key_for(value.owner).await?;
                let new = if column == keys::SealedColumn::RevisionContent {
                    let mut content = plansmith_domain::DocumentContent::from_json(&value.value).map_err(|e| {
                        StoreError::Integrity(format!("revision {} of {}: {e}", value.revision, value.key))
                    })?;
                    let mut changed = false;
                    for text in content.0.values_mut() {
                        if !text.is_empty() && !text.starts_with(SEALED_PREFIX) {
                            *text = key.seal(text);
                            changed = true;
                        }
                    }
                    if !changed {
                        continue;
                    }
                    content.to_canonical_json()
                } else {
                    key.seal(&value.value)
                };
                if store
                    .replace_value(column, (value.key, value.revision), &value.value, &new)
                    .await?
                {
                    sealed += 1;
                }
            }
            progress(column, sealed);
        }
        total += sealed;
    }
    Ok(total)
}

/// The store with content sealed; wraps the database's.
pub struct SealedStore {
    inner: Arc<dyn Store>,
    sealer: Sealer,
}

impl SealedStore {
    /// `seal_writes`: seal what is written (`crypto.seal_writes`); reads open sealed values
    /// either way.
    pub fn new(inner: Arc<dyn Store>, keys: Arc<Keyring>, seal_writes: bool) -> Self {
        Self {
            sealer: Sealer::new(Arc::clone(&inner), keys, seal_writes),
            inner,
        }
    }
}

#[async_trait]
impl Store for SealedStore {
    fn pool_stats(&self) -> PoolStats {
        self.inner.pool_stats()
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn list_flags(&self) -> Result<Vec<StoredFlag>> {
        self.inner.list_flags().await
    }

    async fn put_flag(&self, flag: StoredFlag) -> Result<()> {
        self.inner.put_flag(flag).await
    }

    async fn delete_flag(&self, key: &str) -> Result<bool> {
        self.inner.delete_flag(key).await
    }

    async fn list_consents(&self, user: UserId) -> Result<Vec<Consent>> {
        self.inner.list_consents(user).await
    }

    async fn give_consent(&self, consent: Consent) -> Result<()> {
        self.inner.give_consent(consent).await
    }

    async fn withdraw_consent(&self, user: UserId, kind: &str, at: DateTime<Utc>) -> Result<u64> {
        self.inner.withdraw_consent(user, kind, at).await
    }

    async fn create_client_key(&self, key: StoredClientKey) -> Result<()> {
        self.inner.create_client_key(key).await
    }

    async fn append_audit(
        &self,
        entries: Vec<audit::NewAuditEntry>,
        signer: Arc<dyn audit::AuditSigner>,
        checkpoint: bool,
    ) -> Result<i64> {
        self.inner.append_audit(entries, signer, checkpoint).await
    }

    async fn audit_entries(&self, query: &audit::AuditQuery) -> Result<Vec<audit::AuditEntry>> {
        self.inner.audit_entries(query).await
    }

    async fn audit_chain(&self, after: i64, limit: u32) -> Result<Vec<audit::AuditEntry>> {
        self.inner.audit_chain(after, limit).await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<audit::AuditCheckpoint>> {
        self.inner.audit_checkpoints().await
    }

    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        self.inner.prune_audit(before).await
    }

    async fn resign_audit_checkpoints(&self, signer: Arc<dyn audit::AuditSigner>) -> Result<u64> {
        self.inner.resign_audit_checkpoints(signer).await
    }

    async fn create_incident(&self, new: incidents::NewIncident) -> Result<Vec<(UserId, String)>> {
        self.inner.create_incident(new).await
    }

    async fn incident_notified(&self, id: uuid::Uuid, users: &[UserId], at: DateTime<Utc>) -> Result<()> {
        self.inner.incident_notified(id, users, at).await
    }

    async fn list_incidents(&self, limit: u32) -> Result<Vec<incidents::Incident>> {
        self.inner.list_incidents(limit).await
    }

    async fn incident(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<(incidents::Incident, Vec<incidents::IncidentRecipient>)>> {
        self.inner.incident(id).await
    }

    async fn user_incidents(&self, user: UserId, since: DateTime<Utc>) -> Result<Vec<incidents::UserIncident>> {
        self.inner.user_incidents(user, since).await
    }

    async fn read_incident(&self, id: uuid::Uuid, user: UserId, at: DateTime<Utc>) -> Result<bool> {
        self.inner.read_incident(id, user, at).await
    }

    async fn apply_billing_event(&self, event: billing::BillingEvent) -> Result<billing::BillingOutcome> {
        self.inner.apply_billing_event(event).await
    }

    async fn billing_account(&self, user: UserId) -> Result<Option<billing::BillingAccount>> {
        self.inner.billing_account(user).await
    }

    async fn lapse_past_due(&self, cutoff: DateTime<Utc>) -> Result<Vec<UserId>> {
        self.inner.lapse_past_due(cutoff).await
    }

    async fn mrr_sums(&self, from: &str, to: &str) -> Result<billing::MrrSums> {
        self.inner.mrr_sums(from, to).await
    }

    async fn record_product_events(&self, events: Vec<events::ProductEvent>) -> Result<()> {
        self.inner.record_product_events(events).await
    }

    async fn funnel_sums(&self, filter: &events::AnalyticsFilter) -> Result<events::FunnelSums> {
        self.inner.funnel_sums(filter).await
    }

    async fn retention_sums(&self, filter: &events::AnalyticsFilter) -> Result<events::RetentionSums> {
        self.inner.retention_sums(filter).await
    }

    async fn usage_sums(&self, filter: &events::AnalyticsFilter) -> Result<events::UsageSums> {
        self.inner.usage_sums(filter).await
    }

    async fn segment_sums(&self, filter: &events::AnalyticsFilter) -> Result<Vec<events::SegmentSums>> {
        self.inner.segment_sums(filter).await
    }

    async fn feedback_texts(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<quality::FeedbackText>> {
        let mut texts = self.inner.feedback_texts(since, limit).await?;
        for t in &mut texts {
            t.text = self.sealer.open(t.user, &t.text).await?;
        }
        Ok(texts)
    }

    async fn backdate_user(&self, user: UserId, created_at: DateTime<Utc>) -> Result<()> {
        self.inner.backdate_user(user, created_at).await
    }

    async fn rate_document(&self, mut rating: quality::DocumentRating) -> Result<()> {
        if let Some(comment) = &rating.comment {
            let key = self.sealer.write_key_for(rating.user).await?;
            rating.comment = Some(key.seal(comment));
        }
        self.inner.rate_document(rating).await
    }

    async fn save_survey(&self, mut survey: quality::SessionSurvey) -> Result<()> {
        if let Some(comment) = &survey.comment {
            let key = self.sealer.write_key_for(survey.user).await?;
            survey.comment = Some(key.seal(comment));
        }
        self.inner.save_survey(survey).await
    }

    async fn quality_sums(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<quality::QualitySums> {
        self.inner.quality_sums(from, to).await
    }

    async fn session_feedback(&self, session: SessionId, user: UserId) -> Result<quality::SessionFeedback> {
        let mut feedback = self.inner.session_feedback(session, user).await?;
        for rating in &mut feedback.ratings {
            if let Some(comment) = &mut rating.comment {
                *comment = self.sealer.open(user, comment).await?;
            }
        }
        if let Some(comment) = feedback.survey.as_mut().and_then(|s| s.comment.as_mut()) {
            *comment = self.sealer.open(user, comment).await?;
        }
        Ok(feedback)
    }

    async fn import_sessions(&self, mut sessions: Vec<plansmith_store::history::PastSession>) -> Result<()> {
        for s in &mut sessions {
            let key = self.sealer.write_key_for(s.user).await?;
            s.title = key.seal(&s.title);
            s.idea = key.seal(&s.idea);
            for m in &mut s.messages {
                m.content = key.seal(&m.content);
            }
            for d in &mut s.documents {
                for (_, text) in &mut d.sections {
                    *text = key.seal(text);
                }
            }
            let comments = s.ratings.iter_mut().map(|r| &mut r.comment);
            for comment in comments.chain(s.survey.as_mut().map(|v| &mut v.comment)).flatten() {
                *comment = key.seal(comment);
            }
        }
        self.inner.import_sessions(sessions).await
    }

    async fn apply_retention(&self, retention: &Retention) -> Result<RetentionReport> {
        self.inner.apply_retention(retention).await
    }

    async fn data_key_of(&self, user: UserId) -> Result<Option<keys::StoredDataKey>> {
        self.inner.data_key_of(user).await
    }

    async fn data_key(&self, id: &str) -> Result<Option<keys::StoredDataKey>> {
        self.inner.data_key(id).await
    }

    async fn create_data_key(&self, key: keys::StoredDataKey) -> Result<keys::StoredDataKey> {
        self.inner.create_data_key(key).await
    }

    async fn data_keys_to_rewrap(&self, current_kek: &str, limit: u32) -> Result<Vec<keys::StoredDataKey>> {
        self.inner.data_keys_to_rewrap(current_kek, limit).await
    }

    async fn rewrap_data_key(&self, id: &str, from_kek: &str, to_kek: &str, wrapped: &str) -> Result<bool> {
        self.inner.rewrap_data_key(id, from_kek, to_kek, wrapped).await
    }

    async fn data_key_samples(&self) -> Result<Vec<keys::StoredDataKey>> {
        self.inner.data_key_samples().await
    }

    async fn unsealed_values(
        &self,
        column: keys::SealedColumn,
        after: (uuid::Uuid, i64),
        limit: u32,
    ) -> Result<Vec<keys::ColumnValue>> {
        self.inner.unsealed_values(column, after, limit).await
    }

    async fn replace_value(
        &self,
        column: keys::SealedColumn,
        key: (uuid::Uuid, i64),
        old: &str,
        new: &str,
    ) -> Result<bool> {
        self.inner.replace_value(column, key, old, new).await
    }

    async fn owner_of(&self, object: keys::Owned) -> Result<Option<UserId>> {
        self.inner.owner_of(object).await
    }

    async fn list_client_keys(&self) -> Result<Vec<StoredClientKey>> {
        self.inner.list_client_keys().await
    }

    async fn find_client_key(&self, key_hash: &str) -> Result<Option<StoredClientKey>> {
        self.inner.find_client_key(key_hash).await
    }

    async fn revoke_client_key(&self, id: uuid::Uuid, at: DateTime<Utc>) -> Result<bool> {
        self.inner.revoke_client_key(id, at).await
    }

    async fn migrate_down(&self, version: i64) -> Result<usize> {
        self.inner.migrate_down(version).await
    }

    async fn migrations(&self) -> Result<Vec<MigrationInfo>> {
        self.inner.migrations().await
    }

    async fn migrate(&self) -> Result<usize> {
        self.inner.migrate().await
    }

    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.inner.create_user(new).await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>> {
        self.inner.user_by_email(email).await
    }

    async fn set_user_role(&self, email: &Email, role: Role) -> Result<bool> {
        self.inner.set_user_role(email, role).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        self.inner.user_by_id(id).await
    }

    async fn list_users(&self, before: Option<UserId>, limit: u32) -> Result<Vec<User>> {
        self.inner.list_users(before, limit).await
    }

    async fn update_user(&self, id: UserId, update: UserUpdate) -> Result<Option<User>> {
        self.inner.update_user(id, update).await
    }

    async fn set_password(&self, user: UserId, password_hash: &str, keep: Option<SignInId>) -> Result<u64> {
        self.inner.set_password(user, password_hash, keep).await
    }

    async fn create_auth_token(&self, new: NewSignIn) -> Result<SignInId> {
        self.inner.create_auth_token(new).await
    }

    async fn user_by_token(&self, token_hash: &[u8], life: TokenLife) -> Result<Option<TokenOwner>> {
        self.inner.user_by_token(token_hash, life).await
    }

    async fn delete_auth_token(&self, token_hash: &[u8]) -> Result<()> {
        self.inner.delete_auth_token(token_hash).await
    }

    async fn list_sign_ins(&self, user: UserId, life: TokenLife) -> Result<Vec<SignIn>> {
        self.inner.list_sign_ins(user, life).await
    }

    async fn revoke_sign_in(&self, user: UserId, id: SignInId) -> Result<bool> {
        self.inner.revoke_sign_in(user, id).await
    }

    async fn revoke_sign_ins(&self, user: UserId, keep: Option<SignInId>) -> Result<u64> {
        self.inner.revoke_sign_ins(user, keep).await
    }

    async fn purge_auth_tokens(&self, life: TokenLife) -> Result<u64> {
        self.inner.purge_auth_tokens(life).await
    }

    async fn record_security_event(&self, event: NewSecurityEvent) -> Result<SecurityEvent> {
        self.inner.record_security_event(event).await
    }

    async fn security_events(&self, query: &SecurityEventQuery) -> Result<Vec<SecurityEvent>> {
        self.inner.security_events(query).await
    }

    async fn create_session(&self, mut new: NewSession) -> Result<PlanningSession> {
        let key = self.sealer.write_key_for(new.user_id).await?;
        new.title = key.seal(&new.title);
        new.idea = key.seal(&new.idea);
        new.intro = key.seal(&new.intro);
        let session = self.inner.create_session(new).await?;
        self.sealer.open_session(session).await
    }

    async fn list_sessions(&self, user: UserId, before: Option<SessionId>, limit: u32) -> Result<Vec<PlanningSession>> {
        let sessions = self.inner.list_sessions(user, before, limit).await?;
        let mut open = Vec::with_capacity(sessions.len());
        for s in sessions {
            open.push(self.sealer.open_session(s).await?);
        }
        Ok(open)
    }

    async fn get_session(&self, user: UserId, id: SessionId) -> Result<Option<PlanningSession>> {
        match self.inner.get_session(user, id).await? {
            Some(s) => Ok(Some(self.sealer.open_session(s).await?)),
            None => Ok(None),
        }
    }

    async fn complete_step(&self, id: SessionId, step_id: &str, advance: StepAdvance) -> Result<PlanningSession> {
        let advance = match advance {
            StepAdvance::Next { step_id, intro } => {
                let key = self.sealer.write_key_of(Owned::Session(id)).await?;
                StepAdvance::Next {
                    step_id,
                    intro: key.seal(&intro),
                }
            }
            StepAdvance::Finish => StepAdvance::Finish,
        };
        let session = self.inner.complete_step(id, step_id, advance).await?;
        self.sealer.open_session(session).await
    }

    async fn rename_session(&self, user: UserId, id: SessionId, title: &str) -> Result<Option<PlanningSession>> {
        let title = self.sealer.write_key_for(user).await?.seal(title);
        match self.inner.rename_session(user, id, &title).await? {
            Some(s) => Ok(Some(self.sealer.open_session(s).await?)),
            None => Ok(None),
        }
    }

    async fn erase_user(&self, user: UserId, email: &str) -> Result<bool> {
        let erased = self.inner.erase_user(user, email).await?;
        // Its data key went with the account (crypto-shredding); no copy stays here either.
        self.sealer.forget(user);
        Ok(erased)
    }

    async fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool> {
        self.inner.delete_session(user, id).await
    }

    async fn close_session(&self, id: SessionId, close: SessionClose) -> Result<PlanningSession> {
        let session = self.inner.close_session(id, close).await?;
        self.sealer.open_session(session).await
    }

    async fn post_message(
        &self,
        session: SessionId,
        content: &str,
        client_key: Option<&str>,
        lease: &Lease,
    ) -> Result<PostedMessage> {
        let key = self.sealer.write_key_of(Owned::Session(session)).await?;
        let sealed = key.seal(content);
        let mut posted = self.inner.post_message(session, &sealed, client_key, lease).await?;
        if let Some(owner) = self.sealer.owners.get(&Owned::Session(session)) {
            self.sealer.remember(Owned::Message(posted.reply.id), owner);
        }
        posted.message = self.sealer.open_message(posted.message).await?;
        posted.reply = self.sealer.open_message(posted.reply).await?;
        Ok(posted)
    }

    async fn list_messages(&self, session: SessionId) -> Result<Vec<Message>> {
        let messages = self.inner.list_messages(session).await?;
        let mut open = Vec::with_capacity(messages.len());
        for m in messages {
            open.push(self.sealer.open_message(m).await?);
        }
        Ok(open)
    }

    async fn get_message(&self, session: SessionId, id: MessageId) -> Result<Option<Message>> {
        match self.inner.get_message(session, id).await? {
            Some(m) => Ok(Some(self.sealer.open_message(m).await?)),
            None => Ok(None),
        }
    }

    async fn reply_events(&self, reply: MessageId) -> Result<Option<String>> {
        match self.inner.reply_events(reply).await? {
            Some(events) if events.starts_with(SEALED_PREFIX) => {
                let owner = self.sealer.owner(Owned::Message(reply)).await?;
                Ok(Some(self.sealer.open(owner, &events).await?))
            }
            other => Ok(other),
        }
    }

    async fn start_reply(&self, reply: MessageId, owner: &str, provider: &str, model: &str) -> Result<()> {
        self.inner.start_reply(reply, owner, provider, model).await
    }

    async fn checkpoint_replies(&self, owner: &str, checkpoints: &[Checkpoint]) -> Result<()> {
        let mut sealed = Vec::with_capacity(checkpoints.len());
        for c in checkpoints {
            // One reply whose key cannot be had (its account was erased meanwhile) does not
            // hold back the others' checkpoints; it ends on its own.
            let key = match self.sealer.write_key_of(Owned::Message(c.reply_id)).await {
                Ok(key) => key,
                Err(e) => {
                    tracing::warn!(reply = %c.reply_id, error = %e, "checkpoint skipped: the reply's data key cannot be had");
                    continue;
                }
            };
            sealed.push(Checkpoint {
                content: key.seal(&c.content),
                ..c.clone()
            });
        }
        self.inner.checkpoint_replies(owner, &sealed).await
    }

    async fn finish_reply(&self, mut finished: FinishedReply) -> Result<Vec<AppliedRevision>> {
        let key = self.sealer.write_key_of(Owned::Message(finished.reply_id)).await?;
        finished.content = key.seal(&finished.content);
        finished.events = key.seal(&finished.events);
        for update in &mut finished.updates {
            for (_, text) in &mut update.sections {
                *text = key.seal(text);
            }
        }
        self.inner.finish_reply(finished).await
    }

    async fn end_reply(&self, mut ended: EndedReply) -> Result<bool> {
        let key = self.sealer.write_key_of(Owned::Message(ended.reply_id)).await?;
        ended.content = key.seal(&ended.content);
        ended.events = key.seal(&ended.events);
        self.inner.end_reply(ended).await
    }

    async fn save_reply_events(&self, reply: MessageId, events: &str) -> Result<()> {
        let sealed = self.sealer.write_key_of(Owned::Message(reply)).await?.seal(events);
        self.inner.save_reply_events(reply, &sealed).await
    }

    async fn reset_reply(&self, reply: MessageId, lease: &Lease) -> Result<Message> {
        let message = self.inner.reset_reply(reply, lease).await?;
        self.sealer.open_message(message).await
    }

    async fn usage_since(&self, user: UserId, since: DateTime<Utc>) -> Result<UsageTotals> {
        self.inner.usage_since(user, since).await
    }

    async fn llm_calls_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<LlmCall>> {
        self.inner.llm_calls_between(from, to).await
    }

    async fn renew_leases(&self, lease: &Lease) -> Result<Vec<MessageId>> {
        self.inner.renew_leases(lease).await
    }

    async fn release_leases(&self, owner: &str, replies: &[MessageId]) -> Result<u64> {
        self.inner.release_leases(owner, replies).await
    }

    async fn claim_orphans(&self, claim: &OrphanClaim) -> Result<Vec<Orphan>> {
        let orphans = self.inner.claim_orphans(claim).await?;
        let mut open = Vec::with_capacity(orphans.len());
        for mut o in orphans {
            self.sealer.remember(Owned::Message(o.reply.id), o.user_id);
            o.checkpointed = self.sealer.open(o.user_id, &o.checkpointed).await?;
            o.reply = self.sealer.open_message(o.reply).await?;
            open.push(o);
        }
        Ok(open)
    }

    async fn list_documents(&self, session: SessionId) -> Result<Vec<DocumentSummary>> {
        self.inner.list_documents(session).await
    }

    async fn get_document(
        &self,
        session: SessionId,
        id: DocumentId,
        revision: Option<Revision>,
    ) -> Result<Option<DocumentSnapshot>> {
        match self.inner.get_document(session, id, revision).await? {
            Some(d) => {
                let owner = self.sealer.owner(Owned::Session(session)).await?;
                Ok(Some(self.sealer.open_document(owner, d).await?))
            }
            None => Ok(None),
        }
    }

    async fn current_documents(&self, session: SessionId) -> Result<Vec<DocumentSnapshot>> {
        let documents = self.inner.current_documents(session).await?;
        if documents.is_empty() {
            return Ok(documents);
        }
        let owner = self.sealer.owner(Owned::Session(session)).await?;
        let mut open = Vec::with_capacity(documents.len());
        for d in documents {
            open.push(self.sealer.open_document(owner, d).await?);
        }
        Ok(open)
    }

    async fn edit_section(
        &self,
        id: DocumentId,
        section_id: &str,
        content: &str,
        base_revision: Revision,
    ) -> Result<Revision> {
        let sealed = self.sealer.write_key_of(Owned::Document(id)).await?.seal(content);
        self.inner.edit_section(id, section_id, &sealed, base_revision).await
    }

    async fn list_revisions(&self, id: DocumentId) -> Result<Vec<RevisionInfo>> {
        self.inner.list_revisions(id).await
    }

    async fn restore_revision(&self, id: DocumentId, revision: Revision) -> Result<Revision> {
        self.inner.restore_revision(id, revision).await
    }

    async fn account_security(&self, user: UserId) -> Result<Option<AccountSecurity>> {
        self.inner.account_security(user).await
    }

    async fn start_totp(&self, user: UserId, secret: &str) -> Result<bool> {
        self.inner.start_totp(user, secret).await
    }

    async fn enable_totp(&self, user: UserId, step: i64, at: DateTime<Utc>) -> Result<bool> {
        self.inner.enable_totp(user, step, at).await
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        self.inner.use_totp_step(user, step).await
    }

    async fn disable_totp(&self, user: UserId) -> Result<bool> {
        self.inner.disable_totp(user).await
    }

    async fn create_one_time_token(&self, new: NewOneTimeToken) -> Result<()> {
        self.inner.create_one_time_token(new).await
    }

    async fn confirm_email(&self, token_hash: &[u8], now: DateTime<Utc>) -> Result<Option<UserId>> {
        self.inner.confirm_email(token_hash, now).await
    }

    async fn reset_password(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>> {
        self.inner.reset_password(token_hash, password_hash, now).await
    }

    async fn queue_email(&self, new: NewEmail) -> Result<OutboxEmail> {
        self.inner.queue_email(new).await
    }

    async fn claim_emails(&self, claim: EmailClaim) -> Result<Vec<OutboxEmail>> {
        self.inner.claim_emails(claim).await
    }

    async fn email_sent(&self, id: uuid::Uuid, at: DateTime<Utc>) -> Result<()> {
        self.inner.email_sent(id, at).await
    }

    async fn email_failed(&self, id: uuid::Uuid, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()> {
        self.inner.email_failed(id, error, next_attempt_at).await
    }

    async fn list_emails(&self, before: Option<uuid::Uuid>, limit: u32) -> Result<Vec<OutboxEmail>> {
        self.inner.list_emails(before, limit).await
    }

    async fn activity_counts(&self, now: DateTime<Utc>) -> Result<ActivityCounts> {
        self.inner.activity_counts(now).await
    }

    async fn record_error(&self, event: NewErrorEvent) -> Result<i64> {
        self.inner.record_error(event).await
    }

    async fn list_error_groups(&self, limit: u32) -> Result<Vec<ErrorGroup>> {
        self.inner.list_error_groups(limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_unaltered() {
        let key = DataKey::new("abc123".into(), UserId(uuid::Uuid::nil()), &[7; 32]);
        let sealed = key.seal("Recipe Box for families");
        assert!(sealed.starts_with("pse1.abc123."), "{sealed}");
        assert!(!sealed.contains("Recipe"));
        assert_ne!(key.seal("Recipe Box for families"), sealed, "a fresh nonce each time");
        let body = sealed.strip_prefix("pse1.abc123.").unwrap();
        assert_eq!(key.open(body).unwrap(), "Recipe Box for families");
        assert_eq!(key.seal(""), "", "empty stays empty");

        let other = DataKey::new("abc123".into(), UserId(uuid::Uuid::nil()), &[8; 32]);
        assert!(matches!(other.open(body), Err(StoreError::Integrity(_))));
        let renamed = DataKey::new("zzz999".into(), UserId(uuid::Uuid::nil()), &[7; 32]);
        assert!(renamed.open(body).is_err(), "the key id is bound to the value");
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(
            key.open(&URL_SAFE_NO_PAD.encode(bytes)).is_err(),
            "an altered value does not open"
        );
        assert!(key.open("!!").is_err());
    }
}
