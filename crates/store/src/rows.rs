//! Row types as the SQL backends return them, and their conversion into Store records.

use crate::{DocumentSummary, Message, PlanningSession, RevisionInfo, SecurityEvent, SignIn, StoreError, User};
use chrono::{DateTime, Utc};
use plansmith_domain::{
    Author, DocumentContent, DocumentId, MessageRole, MessageStatus, Plan, Revision, Role, SessionStatus, content_hash,
};
use uuid::Uuid;

/// Every up migration of `migrator` with whether it is applied, from the versions the
/// `_sqlx_migrations` query answered; `Err` of that query because the table does not exist
/// yet (a new database) means none applied, any other error is the caller's.
pub fn migration_infos(
    migrator: &sqlx::migrate::Migrator,
    applied: Result<Vec<i64>, sqlx::Error>,
) -> Result<Vec<crate::MigrationInfo>, sqlx::Error> {
    let applied = match applied {
        Ok(applied) => applied,
        Err(sqlx::Error::Database(e))
            if e.code().as_deref() == Some("42P01") || e.message().contains("no such table") =>
        {
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    Ok(migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| crate::MigrationInfo {
            version: m.version,
            description: m.description.to_string(),
            applied: applied.contains(&m.version),
        })
        .collect())
}

fn bad(column: &str, value: &str) -> StoreError {
    StoreError::Integrity(format!("unexpected value {value:?} in column {column}"))
}

#[derive(sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub role: String,
    pub plan: String,
    pub plan_override: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let plan_override = r
            .plan_override
            .map(|p| Plan::parse(&p).ok_or_else(|| bad("users.plan_override", &p)))
            .transpose()?;
        let billed = Plan::parse(&r.plan).ok_or_else(|| bad("users.plan", &r.plan))?;
        Ok(User {
            id: r.id.into(),
            role: Role::parse(&r.role).ok_or_else(|| bad("users.role", &r.role))?,
            plan: plan_override.unwrap_or(billed),
            plan_override,
            disabled: r.disabled,
            email: r.email,
            name: r.name,
            password_hash: r.password_hash,
            created_at: r.created_at,
        })
    }
}

/// A user joined to one of their tokens: the sign-in id and when it was last used.
#[derive(sqlx::FromRow)]
pub struct TokenOwnerRow {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub role: String,
    pub plan: String,
    pub plan_override: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub sign_in: Uuid,
    pub last_used_at: DateTime<Utc>,
}

impl TokenOwnerRow {
    /// The user, the sign-in and when it was last used.
    pub fn split(self) -> Result<(User, plansmith_domain::SignInId, DateTime<Utc>), StoreError> {
        let (sign_in, last_used_at) = (self.sign_in.into(), self.last_used_at);
        let user = UserRow {
            id: self.id,
            email: self.email,
            name: self.name,
            password_hash: self.password_hash,
            role: self.role,
            plan: self.plan,
            plan_override: self.plan_override,
            disabled: self.disabled,
            created_at: self.created_at,
        };
        Ok((user.try_into()?, sign_in, last_used_at))
    }
}

#[derive(sqlx::FromRow)]
pub struct SignInRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

impl From<SignInRow> for SignIn {
    fn from(r: SignInRow) -> Self {
        SignIn {
            id: r.id.into(),
            user_id: r.user_id.into(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            address: r.address,
            user_agent: r.user_agent,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct SecurityEventRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub address: Option<String>,
    pub request_id: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

impl From<SecurityEventRow> for SecurityEvent {
    fn from(r: SecurityEventRow) -> Self {
        SecurityEvent {
            id: r.id,
            at: r.at,
            kind: r.kind,
            user_id: r.user_id.map(Into::into),
            address: r.address,
            request_id: r.request_id,
            outcome: r.outcome,
            detail: r.detail,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub workflow_id: String,
    pub title: String,
    pub idea: String,
    pub status: String,
    pub current_step: Option<String>,
    pub completed_steps: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub first_message_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub sections_filled: i64,
}

impl TryFrom<SessionRow> for PlanningSession {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(PlanningSession {
            id: r.id.into(),
            user_id: r.user_id.into(),
            status: SessionStatus::parse(&r.status).ok_or_else(|| bad("planning_sessions.status", &r.status))?,
            workflow_id: r.workflow_id,
            title: r.title,
            idea: r.idea,
            current_step: r.current_step,
            completed_steps: r.completed_steps,
            sections_filled: r.sections_filled,
            created_at: r.created_at,
            updated_at: r.updated_at,
            first_message_at: r.first_message_at,
            completed_at: r.completed_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub session_id: Uuid,
    pub seq: i64,
    pub role: String,
    pub step_id: String,
    pub content: String,
    pub status: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> Result<Self, StoreError> {
        Ok(Message {
            id: r.id.into(),
            session_id: r.session_id.into(),
            seq: r.seq,
            role: MessageRole::parse(&r.role).ok_or_else(|| bad("messages.role", &r.role))?,
            status: MessageStatus::parse(&r.status).ok_or_else(|| bad("messages.status", &r.status))?,
            step_id: r.step_id,
            content: r.content,
            error_code: r.error_code,
            error_message: r.error_message,
            provider: r.provider,
            model: r.model,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct DocumentRow {
    pub id: Uuid,
    pub step_id: String,
    pub title: String,
    pub revision: i64,
    pub updated_at: DateTime<Utc>,
}

impl From<DocumentRow> for DocumentSummary {
    fn from(r: DocumentRow) -> Self {
        DocumentSummary {
            id: r.id.into(),
            step_id: r.step_id,
            title: r.title,
            revision: Revision(r.revision),
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct RevisionRow {
    pub revision: i64,
    pub author: String,
    pub content: String,
    pub content_hash: String,
    pub message_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl RevisionRow {
    /// The revision's content, after checking it against its stored hash.
    pub fn verified_content(self, doc: DocumentId) -> Result<DocumentContent, StoreError> {
        if content_hash(&self.content) != self.content_hash {
            return Err(StoreError::Integrity(format!(
                "revision {} of document {doc} does not match its content hash",
                self.revision
            )));
        }
        DocumentContent::from_json(&self.content).map_err(|e| {
            StoreError::Integrity(format!(
                "revision {} of document {doc} is not valid: {e}",
                self.revision
            ))
        })
    }
}

impl TryFrom<RevisionRow> for RevisionInfo {
    type Error = StoreError;
    fn try_from(r: RevisionRow) -> Result<Self, StoreError> {
        Ok(RevisionInfo {
            revision: Revision(r.revision),
            author: Author::parse(&r.author).ok_or_else(|| bad("document_revisions.author", &r.author))?,
            content_hash: r.content_hash,
            message_id: r.message_id.map(Into::into),
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct LlmCallRow {
    pub user_id: Uuid,
    pub session_id: Option<Uuid>,
    pub reply_id: Option<Uuid>,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub attempts: i64,
    pub outcome: String,
    pub created_at: DateTime<Utc>,
}

impl From<LlmCallRow> for crate::LlmCall {
    fn from(r: LlmCallRow) -> Self {
        crate::LlmCall {
            user_id: r.user_id.into(),
            // A deleted session or reply leaves the call (for cost history) without them.
            session_id: r
                .session_id
                .map(Into::into)
                .unwrap_or(plansmith_domain::SessionId(Uuid::nil())),
            reply_id: r
                .reply_id
                .map(Into::into)
                .unwrap_or(plansmith_domain::MessageId(Uuid::nil())),
            provider: r.provider,
            model: r.model,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost_micros: r.cost_micros,
            latency_ms: r.latency_ms,
            ttft_ms: r.ttft_ms,
            attempts: r.attempts,
            outcome: r.outcome,
            created_at: r.created_at,
        }
    }
}

/// A document joined to one of its revisions (none for revision 0, or when it is missing):
/// a snapshot in one statement.
#[derive(sqlx::FromRow)]
pub struct DocumentRevisionRow {
    pub id: Uuid,
    pub step_id: String,
    pub title: String,
    pub revision: i64,
    pub updated_at: DateTime<Utc>,
    pub rev_revision: Option<i64>,
    pub rev_author: Option<String>,
    pub rev_content: Option<String>,
    pub rev_content_hash: Option<String>,
    pub rev_message_id: Option<Uuid>,
    pub rev_created_at: Option<DateTime<Utc>>,
}

impl DocumentRevisionRow {
    /// The snapshot at `requested` (the current revision when `None`), hash verified; the
    /// row must have been joined to that revision.
    pub fn snapshot(self, requested: Option<Revision>) -> Result<crate::DocumentSnapshot, StoreError> {
        let id = plansmith_domain::DocumentId(self.id);
        let current = Revision(self.revision);
        let revision = requested.unwrap_or(current);
        crate::check_revision(current, revision)?;
        let (content, created_at) = if revision == Revision::EMPTY {
            (DocumentContent::default(), self.updated_at)
        } else {
            let (Some(rev), Some(author), Some(content), Some(content_hash), Some(created_at)) = (
                self.rev_revision,
                self.rev_author,
                self.rev_content,
                self.rev_content_hash,
                self.rev_created_at,
            ) else {
                return Err(StoreError::Integrity(format!(
                    "revision {revision} of document {id} is missing"
                )));
            };
            let row = RevisionRow {
                revision: rev,
                author,
                content,
                content_hash,
                message_id: self.rev_message_id,
                created_at,
            };
            (row.verified_content(id)?, created_at)
        };
        Ok(crate::DocumentSnapshot {
            id,
            step_id: self.step_id,
            title: self.title,
            revision,
            content_hash: content.hash(),
            content,
            created_at,
        })
    }
}

/// A user's second factor and email verification.
#[derive(sqlx::FromRow)]
pub struct AccountSecurityRow {
    pub email_verified_at: Option<DateTime<Utc>>,
    pub totp_secret: Option<String>,
    pub totp_enabled_at: Option<DateTime<Utc>>,
    pub totp_last_step: Option<i64>,
}

impl From<AccountSecurityRow> for crate::AccountSecurity {
    fn from(r: AccountSecurityRow) -> Self {
        Self {
            email_verified_at: r.email_verified_at,
            totp_secret: r.totp_secret,
            totp_enabled_at: r.totp_enabled_at,
            totp_last_step: r.totp_last_step,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct OutboxEmailRow {
    pub id: Uuid,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
}

impl From<OutboxEmailRow> for crate::OutboxEmail {
    fn from(r: OutboxEmailRow) -> Self {
        Self {
            id: r.id,
            to: r.to,
            subject: r.subject,
            body: r.body,
            kind: r.kind,
            created_at: r.created_at,
            sent_at: r.sent_at,
            attempts: r.attempts,
            last_error: r.last_error,
            next_attempt_at: r.next_attempt_at,
        }
    }
}
