//! The Store API: the records Plansmith keeps and the operations on them, as one trait that
//! each database backend implements (`store-sqlite`, later `store-postgres`). Every operation
//! that must be atomic (a message and its queued reply; a finished reply and its document
//! revisions) is one method, so backends run it in one transaction. Knows no HTTP.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use plansmith_domain::{
    Author, DocumentContent, DocumentId, Email, MessageId, MessageRole, MessageStatus, Plan, Revision, Role, SessionId,
    SessionStatus, SignInId, UserId,
};

pub mod audit;
pub mod billing;
pub mod events;
pub mod history;
pub mod incidents;
pub mod keys;
mod mfa_email;
pub mod quality;
#[cfg(feature = "sql-rows")]
pub mod rows;
mod rules;
pub mod traced;

pub use mfa_email::{AccountSecurity, EmailClaim, NewEmail, NewOneTimeToken, OutboxEmail, TokenPurpose};

pub use rules::{
    CloseOutcome, ReplyRefusal, ReplyTransition, SessionClose, SessionRefusal, SessionState, apply_sections,
    check_revision, edit_revision, orphan_reason, replayed,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What a store operation can answer besides its result. Typed, never worded for users: the
/// server words each case once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// An account with this email exists.
    #[error("the email is taken")]
    EmailTaken,
    /// Another unique key already exists.
    #[error("duplicate key")]
    Duplicate,
    /// Optimistic concurrency: the document moved on since the caller read it.
    #[error("the document is at revision {current}")]
    RevisionConflict { current: Revision },
    /// The document has no such revision.
    #[error("no revision {0}")]
    RevisionNotFound(Revision),
    /// The session's state does not allow the change.
    #[error("session refused the change: {0:?}")]
    Session(SessionRefusal),
    /// The reply's status does not allow the change.
    #[error("reply refused the change: {0:?}")]
    Reply(ReplyRefusal),
    /// Stored data does not match its hash or constraints.
    #[error("data integrity check failed: {0}")]
    Integrity(String),
    /// The user already has `max` active sessions.
    #[error("{max} active sessions already")]
    TooManyActiveSessions { max: u32 },
    /// The database cannot be reached or is overloaded; worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Reads a unique-key clash of a new account as its email being taken.
    pub fn duplicate_email(self) -> Self {
        match self {
            Self::Duplicate => Self::EmailTaken,
            other => other,
        }
    }
}

#[derive(Clone)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub role: Role,
    /// The plan in force: the admin's override when there is one, else the billed plan.
    pub plan: Plan,
    /// Set by an admin (e.g. a complimentary account); wins over the billed plan.
    pub plan_override: Option<Plan>,
    /// A disabled account cannot sign in and its tokens do not work.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// Debug output leaves the password hash out.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("plan", &self.plan)
            .field("plan_override", &self.plan_override)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: Option<String>,
    pub password_hash: String,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A sign-in being made: the token (hashed) and where it was made from.
#[derive(Clone)]
pub struct NewSignIn {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl std::fmt::Debug for NewSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSignIn")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("address", &self.address)
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

/// One of a user's sign-ins (a token that works), as the user sees it: never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub id: SignInId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute ([`TokenLife::touch_every`]).
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// When a token stops working: at its absolute expiry, or after `idle` without use (sliding:
/// each use renews it). The time of use is written at most once per `touch_every`, so a
/// token's requests do not each write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLife {
    pub now: DateTime<Utc>,
    pub idle: std::time::Duration,
}

impl TokenLife {
    /// Longest between two writes of a token's last use: a minute, or less for idle timeouts
    /// under two minutes (a token in use must not expire between two writes).
    pub fn touch_every(&self) -> chrono::Duration {
        let idle = chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX);
        (idle / 2).min(chrono::Duration::minutes(1))
    }

    /// Tokens last used before this have been idle too long.
    pub fn idle_cutoff(&self) -> DateTime<Utc> {
        let idle = chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX);
        self.now.checked_sub_signed(idle).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// The owner of a working token, and which sign-in it is.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub user: User,
    pub sign_in: SignInId,
}

/// An admin's change of an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    pub role: Option<Role>,
    /// `Some(None)` removes the override.
    pub plan_override: Option<Option<Plan>>,
    /// Disabling also revokes every sign-in of the account.
    pub disabled: Option<bool>,
}

/// A security event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSecurityEvent {
    /// `sign_up`, `sign_in`, `sign_in_failed`, ... (the server owns the list).
    pub kind: String,
    pub user_id: Option<UserId>,
    pub address: Option<String>,
    pub request_id: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    pub detail: Option<String>,
}

/// A recorded security event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    /// UUIDv7: the order of the log.
    pub id: uuid::Uuid,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub user_id: Option<UserId>,
    pub address: Option<String>,
    pub request_id: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// Which security events to list: every filter that is set must match; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityEventQuery {
    pub user_id: Option<UserId>,
    pub kind: Option<String>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// The cursor: only events older than this one (the last id of the previous page).
    pub before: Option<uuid::Uuid>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct PlanningSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub workflow_id: String,
    pub title: String,
    pub idea: String,
    pub status: SessionStatus,
    /// Step the session is on; `None` once every step is complete.
    pub current_step: Option<String>,
    /// Number of completed steps (the steps before `current_step`).
    pub completed_steps: i64,
    /// Sections with content, over all documents.
    pub sections_filled: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_message_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl PlanningSession {
    /// What the write rules look at.
    pub fn state(&self) -> SessionState {
        SessionState {
            status: self.status,
            current_step: self.current_step.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewDocument {
    pub id: DocumentId,
    pub step_id: String,
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub workflow_id: String,
    pub title: String,
    pub idea: String,
    pub first_step: String,
    pub documents: Vec<NewDocument>,
    /// The agent's opening message for the first step.
    pub intro: String,
    /// Active sessions the user may have, this one included; beyond it the session is not
    /// created ([`StoreError::TooManyActiveSessions`]).
    pub max_active: u32,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: MessageId,
    pub session_id: SessionId,
    pub seq: i64,
    pub role: MessageRole,
    pub step_id: String,
    pub content: String,
    pub status: MessageStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct DocumentSummary {
    pub id: DocumentId,
    pub step_id: String,
    pub title: String,
    pub revision: Revision,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct DocumentSnapshot {
    pub id: DocumentId,
    pub step_id: String,
    pub title: String,
    pub revision: Revision,
    pub content: DocumentContent,
    pub content_hash: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct RevisionInfo {
    pub revision: Revision,
    pub author: Author,
    pub content_hash: String,
    pub message_id: Option<MessageId>,
    pub created_at: DateTime<Utc>,
}

/// A posted user message and its reply.
#[derive(Debug, Clone)]
pub struct PostedMessage {
    pub message: Message,
    pub reply: Message,
    /// The client sent this message before (same key): nothing new was stored.
    pub replayed: bool,
}

/// Section updates of one document from one reply.
#[derive(Debug, Clone)]
pub struct DocumentUpdate {
    pub document_id: DocumentId,
    pub sections: Vec<(String, String)>,
}

/// One model call of a reply (all its attempts), for cost tracking and provider monitoring.
#[derive(Debug, Clone)]
pub struct LlmCall {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub reply_id: MessageId,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Integer micro-dollars.
    pub cost_micros: i64,
    pub latency_ms: i64,
    /// Time to first token; none when no token came.
    pub ttft_ms: Option<i64>,
    pub attempts: i64,
    /// `complete`, `failed` or `interrupted`.
    pub outcome: String,
    pub created_at: DateTime<Utc>,
}

/// Tokens and cost a user used since some time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub tokens: i64,
    pub cost_micros: i64,
}

/// A feature flag as stored: its definition is JSON (`plansmith_domain::flags::FlagDefinition`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFlag {
    pub key: String,
    pub definition: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

/// A consent a person gave (and perhaps withdrew).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub kind: String,
    pub version: String,
    pub given_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// A client key an admin issued for flag evaluation; only the key's SHA-256 (hex) is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClientKey {
    pub id: uuid::Uuid,
    pub name: String,
    pub key_hash: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who uses the platform, for the business gauges of `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActivityCounts {
    pub users: i64,
    /// Users on a paid plan (pro or team).
    pub paying_users: i64,
    /// Users who worked on a session in the last day, 7 days and 30 days.
    pub active_1d: i64,
    pub active_7d: i64,
    pub active_30d: i64,
    /// Sessions neither completed nor abandoned.
    pub sessions_in_progress: i64,
}

/// One occurrence of a server or browser error, grouped by its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewErrorEvent {
    /// Stable for "the same error": e.g. kind, route, status and code, hashed.
    pub fingerprint: String,
    /// `http_5xx`, `panic` or `client`.
    pub kind: String,
    /// One line naming the error, e.g. `GET /api/v1/sessions/{id}: 500 internal_error`.
    pub title: String,
    /// The latest occurrence's message (never a request body or a token).
    pub detail: String,
    pub request_id: Option<String>,
    pub user_id: Option<UserId>,
    pub release: String,
    pub at: DateTime<Utc>,
}

/// A group of errors with the same fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorGroup {
    pub fingerprint: String,
    pub kind: String,
    pub title: String,
    pub detail: String,
    pub count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The latest occurrence's request id and user, to find its log lines.
    pub sample_request_id: Option<String>,
    pub sample_user_id: Option<UserId>,
    pub release: String,
}

/// A reply that finished successfully, committed with its document changes.
#[derive(Debug, Clone)]
pub struct FinishedReply {
    pub reply_id: MessageId,
    /// The instance committing it: only the lease holder may.
    pub owner: String,
    /// Who produced the reply (the route may have moved on from the first provider).
    pub provider: String,
    pub model: String,
    pub content: String,
    /// The reply's stream events (JSON), kept so a finished stream can be replayed later.
    pub events: String,
    pub updates: Vec<DocumentUpdate>,
    /// The model call, recorded in the same transaction.
    pub call: Option<LlmCall>,
}

/// A reply that ended without success (`failed` or `interrupted`).
#[derive(Debug, Clone)]
pub struct EndedReply {
    pub reply_id: MessageId,
    /// The instance ending it: only the lease holder may.
    pub owner: String,
    pub status: MessageStatus,
    pub content: String,
    pub events: String,
    pub error_code: String,
    pub error_message: String,
    pub call: Option<LlmCall>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRevision {
    pub document_id: DocumentId,
    pub revision: Revision,
}

/// What to do when a step is completed.
#[derive(Debug, Clone)]
pub enum StepAdvance {
    /// Move to the next step and post the agent's introduction of it.
    Next { step_id: String, intro: String },
    /// That was the last step: the session is complete.
    Finish,
}

/// The lease an instance takes on the replies it generates: while it is renewed, no other
/// instance touches them; once it has expired, any instance may claim the reply (see
/// [`Store::claim_orphans`]). Expiry is measured by the database's clock, so instances' clocks
/// need not agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The instance holding it (stable across restarts of the same instance).
    pub owner: String,
    /// How long it lasts from each renewal.
    pub duration: std::time::Duration,
}

impl Lease {
    pub fn millis(&self) -> i64 {
        i64::try_from(self.duration.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A streaming reply's progress, saved every checkpoint interval so a crash keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub reply_id: MessageId,
    /// The reply's text so far.
    pub content: String,
    /// The number of the last event appended to its stream log.
    pub last_event_id: u64,
}

/// A reply claimed from an instance that stopped renewing its lease.
#[derive(Debug, Clone)]
pub struct Orphan {
    /// The reply as claimed: `queued` again, with empty content when it is to be generated again.
    pub reply: Message,
    pub user_id: UserId,
    pub plan: Plan,
    /// The instance that held the lease, if any.
    pub previous_owner: Option<String>,
    /// The last event number checkpointed for it (0 when none was).
    pub last_event_id: u64,
    /// The text checkpointed before the claim.
    pub checkpointed: String,
}

/// How [`Store::claim_orphans`] claims.
#[derive(Debug, Clone)]
pub struct OrphanClaim {
    /// The claiming instance's lease, which the claimed replies get.
    pub lease: Lease,
    /// Also claim replies whose lease names this owner even if it has not expired: set at
    /// start-up, when they can only be a previous run's of the same instance.
    pub own_previous: bool,
    /// Reset the claimed replies to be generated again (`queued`, empty content); otherwise
    /// they keep their text (to be marked interrupted).
    pub regenerate: bool,
    /// At most this many per call.
    pub limit: u32,
}

/// A schema migration: its version (the number `plansmith migrate --list` prints), what it
/// does, and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationInfo {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

/// What the retention job removes: records older than each cut-off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Model calls before this are folded into anonymous monthly totals and deleted.
    pub llm_calls_before: Option<DateTime<Utc>>,
    pub security_events_before: Option<DateTime<Utc>>,
    /// Active sessions untouched since this become abandoned.
    pub abandon_idle_before: Option<DateTime<Utc>>,
    /// Abandoned sessions untouched since this are deleted with their documents.
    pub delete_abandoned_before: Option<DateTime<Utc>>,
}

/// What one retention run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionReport {
    pub llm_calls: u64,
    pub security_events: u64,
    pub sessions_abandoned: u64,
    pub sessions_deleted: u64,
    pub audit_entries: u64,
}

/// Connection pool figures, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// Callers waiting for a connection now.
    pub waiting: u64,
    /// Connections handed out so far, and the total time spent waiting for them.
    pub acquisitions: u64,
    pub acquire_micros_total: u64,
    /// Connections the pool opens at most.
    pub max_size: u32,
    /// SQLite: writes queued for the one writer, the running one included (`None` elsewhere).
    pub write_queue: Option<u64>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn pool_stats(&self) -> PoolStats;
    /// Cheap round trip to the database, for readiness checks.
    async fn ping(&self) -> Result<()>;
    /// Applies pending migrations; returns how many were applied.
    async fn migrate(&self) -> Result<usize>;
    /// Reverts every applied migration above `version` with its down script, newest first;
    /// `version` stays applied (0: back to an empty database). Returns how many were reverted.
    async fn migrate_down(&self, version: i64) -> Result<usize>;
    /// Every migration the binary knows, in order, with whether this database has it applied.
    async fn migrations(&self) -> Result<Vec<MigrationInfo>>;

    async fn create_user(&self, new: NewUser) -> Result<User>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>>;
    /// Returns false when no user has that email.
    async fn set_user_role(&self, email: &Email, role: Role) -> Result<bool>;

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    /// Every account, newest first; `before` is the cursor (the last id of the previous page).
    async fn list_users(&self, before: Option<UserId>, limit: u32) -> Result<Vec<User>>;
    /// An admin's change of an account (disabling it revokes its sign-ins, in the same
    /// transaction); the account as changed, `None` when there is no such account.
    async fn update_user(&self, id: UserId, update: UserUpdate) -> Result<Option<User>>;
    /// Replaces the password hash and revokes every sign-in of the user but `keep`, in one
    /// transaction; returns how many sign-ins were revoked.
    async fn set_password(&self, user: UserId, password_hash: &str, keep: Option<SignInId>) -> Result<u64>;

    async fn create_auth_token(&self, new: NewSignIn) -> Result<SignInId>;
    /// The owner of a token that works under `life` (not expired, not idle too long, its
    /// account not disabled). Notes the use, at most once per [`TokenLife::touch_every`].
    async fn user_by_token(&self, token_hash: &[u8], life: TokenLife) -> Result<Option<TokenOwner>>;
    async fn delete_auth_token(&self, token_hash: &[u8]) -> Result<()>;
    /// The user's sign-ins that still work under `life`, newest first.
    async fn list_sign_ins(&self, user: UserId, life: TokenLife) -> Result<Vec<SignIn>>;
    /// Revokes one sign-in of the user; false when the user has no such sign-in.
    async fn revoke_sign_in(&self, user: UserId, id: SignInId) -> Result<bool>;
    /// Revokes every sign-in of the user but `keep`; returns how many.
    async fn revoke_sign_ins(&self, user: UserId, keep: Option<SignInId>) -> Result<u64>;
    /// Deletes the tokens that no longer work under `life` (expired or idle too long);
    /// returns how many.
    async fn purge_auth_tokens(&self, life: TokenLife) -> Result<u64>;

    async fn record_security_event(&self, event: NewSecurityEvent) -> Result<SecurityEvent>;
    async fn security_events(&self, query: &SecurityEventQuery) -> Result<Vec<SecurityEvent>>;

    async fn create_session(&self, new: NewSession) -> Result<PlanningSession>;
    /// Newest first; `before` is the cursor (the last id of the previous page).
    async fn list_sessions(&self, user: UserId, before: Option<SessionId>, limit: u32) -> Result<Vec<PlanningSession>>;
    async fn get_session(&self, user: UserId, id: SessionId) -> Result<Option<PlanningSession>>;
    /// Completes `step_id` if it is the current step of an active session.
    async fn complete_step(&self, id: SessionId, step_id: &str, advance: StepAdvance) -> Result<PlanningSession>;
    /// Completes or abandons the session (see [`SessionState::close`]); closing it the way it
    /// is already closed returns it unchanged.
    async fn close_session(&self, id: SessionId, close: SessionClose) -> Result<PlanningSession>;
    /// Gives the user's session a new title; `None` when the user has no such session.
    async fn rename_session(&self, user: UserId, id: SessionId, title: &str) -> Result<Option<PlanningSession>>;
    /// Erases an account (GDPR Art. 17) in one transaction: its sessions, messages, documents,
    /// sign-ins, tokens and emails go; its model usage is kept only as anonymous monthly totals
    /// per provider and model; security events keep the opaque user id without address or
    /// detail; other references (error samples, flag and key editors) are cleared. False when
    /// there is no such user.
    async fn erase_user(&self, user: UserId, email: &str) -> Result<bool>;
    /// Deletes the user's session with its messages, documents and revisions (the cost
    /// records stay, without the session); false when the user has no such session.
    async fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool>;

    /// Persists the user message, to the current step of the active session, and a `queued`
    /// assistant reply in one transaction. With a `client_key` seen before in this session,
    /// returns the first message and its reply instead.
    /// The reply is leased to `lease.owner`.
    async fn post_message(
        &self,
        session: SessionId,
        content: &str,
        client_key: Option<&str>,
        lease: &Lease,
    ) -> Result<PostedMessage>;
    async fn list_messages(&self, session: SessionId) -> Result<Vec<Message>>;
    async fn get_message(&self, session: SessionId, id: MessageId) -> Result<Option<Message>>;
    /// The stored stream events of a finished reply, if any.
    async fn reply_events(&self, reply: MessageId) -> Result<Option<String>>;
    /// `queued` → `streaming` by the lease holder `owner`, recording who generates it.
    async fn start_reply(&self, reply: MessageId, owner: &str, provider: &str, model: &str) -> Result<()>;
    /// Saves the progress of streaming replies held by `owner` (one transaction for all).
    async fn checkpoint_replies(&self, owner: &str, checkpoints: &[Checkpoint]) -> Result<()>;
    /// Commits the reply as `complete` together with its document revisions (one per document).
    async fn finish_reply(&self, finished: FinishedReply) -> Result<Vec<AppliedRevision>>;
    /// Ends a reply that is still `queued` or `streaming`; false when it had already ended
    /// (or was reset) by then, and nothing changed.
    async fn end_reply(&self, ended: EndedReply) -> Result<bool>;
    /// Replaces the saved stream events of a reply (its log, once closed).
    async fn save_reply_events(&self, reply: MessageId, events: &str) -> Result<()>;
    /// `failed`/`interrupted` → `queued` with empty content, leased to `lease.owner`;
    /// [`ReplyRefusal`] otherwise.
    async fn reset_reply(&self, reply: MessageId, lease: &Lease) -> Result<Message>;
    /// Tokens and cost of a user's model calls since `since` (for monthly budgets).
    async fn usage_since(&self, user: UserId, since: DateTime<Utc>) -> Result<UsageTotals>;
    /// Every model call in `[from, to)`, oldest first (for usage reports).
    async fn llm_calls_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<LlmCall>>;
    /// Extends the lease of every unfinished reply `lease.owner` holds; returns those replies
    /// (a reply missing from the list is no longer this owner's).
    async fn renew_leases(&self, lease: &Lease) -> Result<Vec<MessageId>>;
    /// Gives up the leases of `replies` held by `owner` (nobody holds them then, so another
    /// instance takes them over at its next sweep, and no renewal of `owner` takes them back);
    /// returns how many were released.
    async fn release_leases(&self, owner: &str, replies: &[MessageId]) -> Result<u64>;
    /// Atomically claims unfinished replies whose lease has expired (or, with `own_previous`,
    /// that a previous run of the same owner held): each goes to exactly one claimant.
    async fn claim_orphans(&self, claim: &OrphanClaim) -> Result<Vec<Orphan>>;

    async fn list_documents(&self, session: SessionId) -> Result<Vec<DocumentSummary>>;
    /// The document at `revision` (latest when `None`); content hashes are verified.
    async fn get_document(
        &self,
        session: SessionId,
        id: DocumentId,
        revision: Option<Revision>,
    ) -> Result<Option<DocumentSnapshot>>;
    /// Every document of a session at its current revision, in workflow order (hashes verified).
    async fn current_documents(&self, session: SessionId) -> Result<Vec<DocumentSnapshot>>;
    /// A user's edit of one section, based on `base_revision` (see [`edit_revision`]); refused
    /// for documents of an abandoned session.
    async fn edit_section(
        &self,
        id: DocumentId,
        section_id: &str,
        content: &str,
        base_revision: Revision,
    ) -> Result<Revision>;
    async fn list_revisions(&self, id: DocumentId) -> Result<Vec<RevisionInfo>>;
    /// Makes a new revision equal to `revision` (see [`check_revision`]); refused for documents
    /// of an abandoned session.
    async fn restore_revision(&self, id: DocumentId, revision: Revision) -> Result<Revision>;

    /// The user's second factor and email verification; `None` when there is no such user.
    async fn account_security(&self, user: UserId) -> Result<Option<AccountSecurity>>;
    /// Stores a pending TOTP secret (replacing a pending one); false when TOTP is already on
    /// (or there is no such user).
    async fn start_totp(&self, user: UserId, secret: &str) -> Result<bool>;
    /// Turns the pending secret on, with `step` as its last used step; false when there is no
    /// pending secret.
    async fn enable_totp(&self, user: UserId, step: i64, at: DateTime<Utc>) -> Result<bool>;
    /// Records `step` as used, atomically: false when a code of this step or a later one was
    /// accepted before (a code works once).
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool>;
    /// Removes the secret (pending or on); false when there was none.
    async fn disable_totp(&self, user: UserId) -> Result<bool>;

    async fn create_one_time_token(&self, new: NewOneTimeToken) -> Result<()>;
    /// Uses an unexpired, unused email-verification token and marks its user verified (one
    /// transaction); the user, or `None` when the token does not work.
    async fn confirm_email(&self, token_hash: &[u8], now: DateTime<Utc>) -> Result<Option<UserId>>;
    /// Uses an unexpired, unused password-reset token, sets the password hash and revokes every
    /// sign-in of the user (one transaction); the user, or `None` when the token does not work.
    async fn reset_password(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>>;

    async fn queue_email(&self, new: NewEmail) -> Result<OutboxEmail>;
    /// Claims due unsent emails (oldest first), counting an attempt on each; each email goes
    /// to one claimant until `hold_until`.
    async fn claim_emails(&self, claim: EmailClaim) -> Result<Vec<OutboxEmail>>;
    async fn email_sent(&self, id: uuid::Uuid, at: DateTime<Utc>) -> Result<()>;
    /// Records a failed attempt and when to try again.
    async fn email_failed(&self, id: uuid::Uuid, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()>;
    /// The outbox, newest first; `before` is the cursor (the last id of the previous page).
    async fn list_emails(&self, before: Option<uuid::Uuid>, limit: u32) -> Result<Vec<OutboxEmail>>;

    /// Users, paying users, active users and sessions in progress as of `now`.
    async fn activity_counts(&self, now: DateTime<Utc>) -> Result<ActivityCounts>;
    /// Adds an occurrence to its group (made on the first one); returns the group's count
    /// after it, so 1 means the group is new. Atomic: of many instances recording the same
    /// new error at once, exactly one sees 1.
    async fn record_error(&self, event: NewErrorEvent) -> Result<i64>;
    /// Error groups, the most recently seen first.
    async fn list_error_groups(&self, limit: u32) -> Result<Vec<ErrorGroup>>;

    /// Every feature flag, by key.
    async fn list_flags(&self) -> Result<Vec<StoredFlag>>;
    /// Creates or replaces a flag.
    async fn put_flag(&self, flag: StoredFlag) -> Result<()>;
    /// Deletes a flag; false when there was none.
    async fn delete_flag(&self, key: &str) -> Result<bool>;
    /// Every consent of the user, given and withdrawn, oldest first.
    async fn list_consents(&self, user: UserId) -> Result<Vec<Consent>>;
    /// Records a consent given.
    async fn give_consent(&self, consent: Consent) -> Result<()>;
    /// Withdraws the user's standing consents of this kind; how many were standing.
    async fn withdraw_consent(&self, user: UserId, kind: &str, at: DateTime<Utc>) -> Result<u64>;
    /// Stores a newly issued flag client key.
    async fn create_client_key(&self, key: StoredClientKey) -> Result<()>;
    /// Every flag client key, revoked ones too, newest first.
    async fn list_client_keys(&self) -> Result<Vec<StoredClientKey>>;
    /// The unrevoked client key with this hash.
    async fn find_client_key(&self, key_hash: &str) -> Result<Option<StoredClientKey>>;
    /// Revokes a client key; false when there is no unrevoked key with this id.
    async fn revoke_client_key(&self, id: uuid::Uuid, at: DateTime<Utc>) -> Result<bool>;

    /// Appends entries to the audit chain in one transaction, serialised with every other
    /// appender (of every instance): each gets the next position and its chained hash. Signs a
    /// checkpoint at the end when the append crossed a multiple of
    /// [`audit::CHECKPOINT_EVERY`] or `checkpoint` is set. Returns the last position.
    async fn append_audit(
        &self,
        entries: Vec<audit::NewAuditEntry>,
        signer: std::sync::Arc<dyn audit::AuditSigner>,
        checkpoint: bool,
    ) -> Result<i64>;
    /// Entries matching the query, newest first.
    async fn audit_entries(&self, query: &audit::AuditQuery) -> Result<Vec<audit::AuditEntry>>;
    /// The chain in order: up to `limit` entries after position `after`.
    async fn audit_chain(&self, after: i64, limit: u32) -> Result<Vec<audit::AuditEntry>>;
    /// Every kept checkpoint, oldest first.
    async fn audit_checkpoints(&self) -> Result<Vec<audit::AuditCheckpoint>>;
    /// Retention: deletes the chain's prefix up to the newest checkpoint taken before
    /// `before` (and the checkpoints older than it, which then anchors the chain). Returns
    /// the entries deleted.
    async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Re-signs every checkpoint with the signer's current key (key rotation); returns how many.
    async fn resign_audit_checkpoints(&self, signer: std::sync::Arc<dyn audit::AuditSigner>) -> Result<u64>;

    /// Publishes a notice to its recipients (every account, or those of `user_ids` that exist)
    /// in one transaction; returns each recipient with their email address, to notify.
    async fn create_incident(&self, new: incidents::NewIncident) -> Result<Vec<(UserId, String)>>;
    /// Marks the notice's email as queued for these recipients.
    async fn incident_notified(&self, id: uuid::Uuid, users: &[UserId], at: DateTime<Utc>) -> Result<()>;
    /// Notices, newest first.
    async fn list_incidents(&self, limit: u32) -> Result<Vec<incidents::Incident>>;
    /// A notice and every recipient.
    async fn incident(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<(incidents::Incident, Vec<incidents::IncidentRecipient>)>>;
    /// The notices addressed to a user since `since`, newest first.
    async fn user_incidents(&self, user: UserId, since: DateTime<Utc>) -> Result<Vec<incidents::UserIncident>>;
    /// The user's data key, if it has one yet.
    async fn data_key_of(&self, user: UserId) -> Result<Option<keys::StoredDataKey>>;
    /// A data key by its id.
    async fn data_key(&self, id: &str) -> Result<Option<keys::StoredDataKey>>;
    /// Stores a new data key for its user, unless the user has one already (another instance
    /// was first): returns the one that counts.
    async fn create_data_key(&self, key: keys::StoredDataKey) -> Result<keys::StoredDataKey>;
    /// Up to `limit` data keys wrapped by another key than `current_kek` (for rotation).
    async fn data_keys_to_rewrap(&self, current_kek: &str, limit: u32) -> Result<Vec<keys::StoredDataKey>>;
    /// Replaces a data key's wrapping, if it is still wrapped by `from_kek`.
    async fn rewrap_data_key(&self, id: &str, from_kek: &str, to_kek: &str, wrapped: &str) -> Result<bool>;
    /// One data key per key-encryption key in use (to check at start that every one is
    /// configured and opens them).
    async fn data_key_samples(&self) -> Result<Vec<keys::StoredDataKey>>;
    /// Values of `column` not sealed yet (non-empty, without the sealed prefix; revisions: every
    /// one), in row order after `after` (id, revision), at most `limit`: the backfill's batches.
    async fn unsealed_values(
        &self,
        column: keys::SealedColumn,
        after: (uuid::Uuid, i64),
        limit: u32,
    ) -> Result<Vec<keys::ColumnValue>>;
    /// Replaces a value if it is still `old` (a revision's hash follows its content); false when
    /// it changed meanwhile.
    async fn replace_value(
        &self,
        column: keys::SealedColumn,
        key: (uuid::Uuid, i64),
        old: &str,
        new: &str,
    ) -> Result<bool>;
    /// Who owns a session, message or document.
    async fn owner_of(&self, object: keys::Owned) -> Result<Option<UserId>>;

    /// Applies the retention periods (each `None` keeps that record for ever) in one
    /// transaction; returns what it removed or changed.
    async fn apply_retention(&self, retention: &Retention) -> Result<RetentionReport>;

    /// Records that the user read the notice (the first time counts); false when it is not
    /// addressed to them.
    async fn read_incident(&self, id: uuid::Uuid, user: UserId, at: DateTime<Utc>) -> Result<bool>;

    /// Applies a billing event in one transaction, once: a replayed event id changes nothing.
    /// Links its customer to an account, stores subscriptions with the movement of the
    /// customer's MRR, payments and overdue marks, and sets the account's billed plan.
    async fn apply_billing_event(&self, event: billing::BillingEvent) -> Result<billing::BillingOutcome>;
    /// The account's billing, if it is a Stripe customer.
    async fn billing_account(&self, user: UserId) -> Result<Option<billing::BillingAccount>>;
    /// Accounts on a paid plan whose payment has been overdue since `cutoff` or before fall back
    /// to free; returns them.
    async fn lapse_past_due(&self, cutoff: DateTime<Utc>) -> Result<Vec<UserId>>;
    /// The sums behind the subscription metrics of the months `from` to `to` (`YYYY-MM`):
    /// totals before `from`, each month's movements, and the movements of the cohorts of
    /// those months.
    async fn mrr_sums(&self, from: &str, to: &str) -> Result<billing::MrrSums>;

    /// Stores product events in one transaction (events of accounts erased meanwhile are left
    /// out).
    async fn record_product_events(&self, events: Vec<events::ProductEvent>) -> Result<()>;
    /// The funnel of the accounts the filter covers.
    async fn funnel_sums(&self, filter: &events::AnalyticsFilter) -> Result<events::FunnelSums>;
    /// Weekly retention of the accounts the filter covers.
    async fn retention_sums(&self, filter: &events::AnalyticsFilter) -> Result<events::RetentionSums>;
    /// Feature usage and daily/monthly active accounts over the events in the filter's range
    /// (the range is of events here, not of sign-ups).
    async fn usage_sums(&self, filter: &events::AnalyticsFilter) -> Result<events::UsageSums>;
    /// The accounts that signed up in the range by plan, channel and first workflow.
    async fn segment_sums(&self, filter: &events::AnalyticsFilter) -> Result<Vec<events::SegmentSums>>;

    /// Rating and survey comments and session ideas written since `since`, newest first, at
    /// most `limit` of each source (sealed as stored).
    async fn feedback_texts(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<quality::FeedbackText>>;
    /// Sets when an account was created (demo data and imports of accounts from elsewhere).
    async fn backdate_user(&self, user: UserId, created_at: DateTime<Utc>) -> Result<()>;
    /// Saves the person's rating of a document (replacing their earlier one).
    async fn rate_document(&self, rating: quality::DocumentRating) -> Result<()>;
    /// Saves the end-of-session survey (replacing an earlier answer).
    async fn save_survey(&self, survey: quality::SessionSurvey) -> Result<()>;
    /// Ratings and surveys given in `[from, to)`, and the time to plan of the sessions
    /// completed then, summed by the database.
    async fn quality_sums(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<quality::QualitySums>;
    /// The person's own ratings of the session's documents and their survey answer (comments
    /// as stored).
    async fn session_feedback(&self, session: SessionId, user: UserId) -> Result<quality::SessionFeedback>;
    /// Writes past sessions as they happened, with their conversations, documents, ratings and
    /// surveys, in one transaction: a session with a [`history::PastSession::problem`] or a
    /// taken id refuses the whole batch ([`StoreError::Integrity`], [`StoreError::Duplicate`]).
    async fn import_sessions(&self, sessions: Vec<history::PastSession>) -> Result<()>;
}
