//! The write operations, each one transaction. Writers of one session meet on its row lock
//! (`FOR UPDATE`), writers of one document on the document's; the decisions are the store's
//! rules, the statements are checked against the schema at build time.

use crate::{PgStore, db_err};
use chrono::{DateTime, Utc};
use plansmith_domain::{
    Author, DocumentContent, DocumentId, Email, MessageId, MessageStatus, Plan, Revision, Role, SessionId, UserId,
};
use plansmith_store::rows::{MessageRow, RevisionRow, SessionRow};
use plansmith_store::{
    AppliedRevision, Checkpoint, CloseOutcome, EndedReply, FinishedReply, Lease, LlmCall, Message, NewSession, NewUser,
    Orphan, OrphanClaim, PlanningSession, PostedMessage, ReplyRefusal, ReplyTransition, Result, SessionClose,
    SessionState, StepAdvance, StoreError, User, apply_sections, check_revision, edit_revision, replayed,
};
use sqlx::postgres::PgQueryResult;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

type Tx = Transaction<'static, Postgres>;

async fn session_row(tx: &mut Tx, id: SessionId) -> Result<PlanningSession> {
    let row: SessionRow = sqlx::query_as!(
        SessionRow,
        r#"SELECT s.id, s.user_id, s.workflow_id, s.title, s.idea, s.status, s.current_step,
                  s.completed_steps, s.created_at, s.updated_at, s.first_message_at, s.completed_at,
                  (SELECT COALESCE(SUM(d.filled), 0)::BIGINT FROM documents d WHERE d.session_id = s.id)
                      AS "sections_filled!"
           FROM planning_sessions s
           WHERE s.id = $1"#,
        id.0
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?
    .ok_or(StoreError::NotFound)?;
    row.try_into()
}

/// The state the session rules decide on, with the session's row locked: writers of one
/// session (message sequence numbers, step and status changes) take turns.
async fn lock_session(tx: &mut Tx, id: SessionId) -> Result<SessionState> {
    let row = sqlx::query!(
        "SELECT status, current_step FROM planning_sessions WHERE id = $1 FOR UPDATE",
        id.0
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?
    .ok_or(StoreError::NotFound)?;
    Ok(SessionState {
        status: plansmith_domain::SessionStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Integrity(format!("unexpected session status {:?}", row.status)))?,
        current_step: row.current_step,
    })
}

/// A status change guarded in SQL must change exactly the one row the rule decided on.
fn changed_one(done: PgQueryResult, what: impl FnOnce() -> StoreError) -> Result<()> {
    match done.rows_affected() {
        1 => Ok(()),
        _ => Err(what()),
    }
}

pub(crate) async fn create_user(store: &PgStore, new: NewUser) -> Result<User> {
    let id = UserId::new();
    let now = Utc::now();
    sqlx::query!(
        "INSERT INTO users (id, email, name, password_hash, role, plan, created_at)
         VALUES ($1, $2, $3, $4, 'member', 'free', $5)",
        id.0,
        new.email.as_str(),
        new.name.as_deref(),
        &new.password_hash,
        now
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(|e| db_err(e).duplicate_email())?;
    Ok(User {
        id,
        email: new.email.as_str().to_owned(),
        name: new.name,
        password_hash: new.password_hash,
        role: Role::Member,
        plan: plansmith_domain::Plan::Free,
        plan_override: None,
        disabled: false,
        created_at: now,
    })
}

pub(crate) async fn create_session(store: &PgStore, new: NewSession) -> Result<PlanningSession> {
    let now = Utc::now();
    let mut tx = store.begin().await?;
    // The user's row is locked for the transaction, so that the user's concurrent creations
    // count one after the other. The count is a statement of its own: it then sees what the
    // creation that held the lock before committed.
    sqlx::query!("SELECT id FROM users WHERE id = $1 FOR UPDATE", new.user_id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
    let active = sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "active!" FROM planning_sessions WHERE user_id = $1 AND status = 'active'"#,
        new.user_id.0
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    if active >= i64::from(new.max_active) {
        return Err(StoreError::TooManyActiveSessions { max: new.max_active });
    }
    sqlx::query!(
        "INSERT INTO planning_sessions
             (id, user_id, workflow_id, title, idea, status, current_step, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $7)",
        new.id.0,
        new.user_id.0,
        &new.workflow_id,
        &new.title,
        &new.idea,
        &new.first_step,
        now
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    for (position, doc) in new.documents.iter().enumerate() {
        sqlx::query!(
            "INSERT INTO documents (id, session_id, position, step_id, title, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            doc.id.0,
            new.id.0,
            position as i32,
            &doc.step_id,
            &doc.title,
            now
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    let intro = (MessageStatus::Complete, new.intro.as_str());
    insert_message(&mut tx, new.id, "assistant", &new.first_step, intro, None, now).await?;
    let session = session_row(&mut tx, new.id).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(session)
}

pub(crate) async fn complete_step(
    store: &PgStore,
    id: SessionId,
    step_id: &str,
    advance: StepAdvance,
) -> Result<PlanningSession> {
    let now = Utc::now();
    let mut tx = store.begin().await?;
    lock_session(&mut tx, id).await?.check_step_completion(step_id)?;
    let done = match advance {
        StepAdvance::Next { step_id: next, intro } => {
            let done = sqlx::query!(
                "UPDATE planning_sessions
                 SET current_step = $1, completed_steps = completed_steps + 1, updated_at = $2
                 WHERE id = $3 AND status = 'active' AND current_step = $4",
                &next,
                now,
                id.0,
                step_id
            )
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            let intro = (MessageStatus::Complete, intro.as_str());
            insert_message(&mut tx, id, "assistant", &next, intro, None, now).await?;
            done
        }
        StepAdvance::Finish => sqlx::query!(
            "UPDATE planning_sessions
             SET current_step = NULL, completed_steps = completed_steps + 1, status = 'completed',
                 completed_at = $1, updated_at = $1
             WHERE id = $2 AND status = 'active' AND current_step = $3",
            now,
            id.0,
            step_id
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?,
    };
    changed_one(done, || {
        StoreError::Integrity(format!("session {id} changed while its step was completed"))
    })?;
    let session = session_row(&mut tx, id).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(session)
}

pub(crate) async fn close_session(store: &PgStore, id: SessionId, close: SessionClose) -> Result<PlanningSession> {
    let now = Utc::now();
    let mut tx = store.begin().await?;
    if lock_session(&mut tx, id).await?.close(close)? == CloseOutcome::Close {
        let done = sqlx::query!(
            "UPDATE planning_sessions
             SET status = $1, completed_at = CASE WHEN $1 = 'completed' THEN $2 ELSE completed_at END,
                 updated_at = $2
             WHERE id = $3 AND status = 'active'",
            close.status().as_str(),
            now,
            id.0
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        changed_one(done, || {
            StoreError::Integrity(format!("session {id} changed while it was closed"))
        })?;
    }
    let session = session_row(&mut tx, id).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(session)
}

/// Appends a message at the next position of its session (the caller holds the session's
/// lock) and returns it as stored.
async fn insert_message(
    tx: &mut Tx,
    session: SessionId,
    role: &str,
    step_id: &str,
    (status, content): (MessageStatus, &str),
    client_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Message> {
    let row = sqlx::query_as!(
        MessageRow,
        "INSERT INTO messages
             (id, session_id, seq, role, step_id, content, status, client_key, created_at, updated_at)
         VALUES (
             $1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE session_id = $2),
             $3, $4, $5, $6, $7, $8, $8
         )
         RETURNING id, session_id, seq, role, step_id, content, status, error_code, error_message,
             provider, model, created_at, updated_at",
        MessageId::new().0,
        session.0,
        role,
        step_id,
        content,
        status.as_str(),
        client_key,
        now
    )
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    row.try_into()
}

pub(crate) async fn post_message(
    store: &PgStore,
    session: SessionId,
    content: &str,
    client_key: Option<&str>,
    lease: &Lease,
) -> Result<PostedMessage> {
    let now = Utc::now();
    let mut tx = store.begin().await?;
    let state = lock_session(&mut tx, session).await?;
    if let Some(key) = client_key {
        let found = sqlx::query_as!(
            MessageRow,
            "SELECT id, session_id, seq, role, step_id, content, status, error_code, error_message,
                 provider, model, created_at, updated_at
             FROM messages
             WHERE session_id = $1
               AND seq IN (
                   SELECT seq FROM messages WHERE session_id = $1 AND client_key = $2
                   UNION ALL
                   SELECT seq + 1 FROM messages WHERE session_id = $1 AND client_key = $2
               )
             ORDER BY seq",
            session.0,
            key
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(Message::try_from)
        .collect::<Result<Vec<_>>>()?;
        if let Some(posted) = replayed(found)? {
            tx.commit().await.map_err(db_err)?;
            return Ok(posted);
        }
    }
    let step_id = state.step_for_message()?;
    let done = sqlx::query!(
        "UPDATE planning_sessions
         SET updated_at = $1, first_message_at = COALESCE(first_message_at, $1)
         WHERE id = $2 AND status = 'active'",
        now,
        session.0
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    changed_one(done, || {
        StoreError::Integrity(format!("session {session} closed while a message was posted"))
    })?;
    let user = (MessageStatus::Complete, content);
    let message = insert_message(&mut tx, session, "user", step_id, user, client_key, now).await?;
    let queued = (MessageStatus::Queued, "");
    let reply = insert_message(&mut tx, session, "assistant", step_id, queued, None, now).await?;
    take_lease(&mut tx, reply.id, lease).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(PostedMessage {
        message,
        reply,
        replayed: false,
    })
}

pub(crate) async fn start_reply(
    store: &PgStore,
    reply: MessageId,
    owner: &str,
    provider: &str,
    model: &str,
) -> Result<()> {
    let [from, or_from] = ReplyTransition::Start.guard();
    let done = sqlx::query!(
        "UPDATE messages
         SET status = 'streaming', provider = $1, model = $2, updated_at = $3
         WHERE id = $4 AND status IN ($6, $7)
           AND EXISTS (SELECT 1 FROM reply_leases WHERE message_id = $4 AND owner = $5)",
        provider,
        model,
        Utc::now(),
        reply.0,
        owner,
        from,
        or_from
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    changed_one(done, || ReplyRefusal(ReplyTransition::Start).into())
}

/// Saves the progress of unfinished replies held by `owner`, one statement for the whole
/// batch; event numbers only grow.
pub(crate) async fn checkpoint_replies(store: &PgStore, owner: &str, checkpoints: &[Checkpoint]) -> Result<()> {
    let ids: Vec<Uuid> = checkpoints.iter().map(|c| c.reply_id.0).collect();
    let contents: Vec<String> = checkpoints.iter().map(|c| c.content.clone()).collect();
    let last_ids: Vec<i64> = checkpoints
        .iter()
        .map(|c| i64::try_from(c.last_event_id).unwrap_or(i64::MAX))
        .collect();
    sqlx::query!(
        "UPDATE messages m
         SET content = c.content, last_event_id = GREATEST(m.last_event_id, c.last_event_id),
             updated_at = $4
         FROM UNNEST($1::uuid[], $2::text[], $3::bigint[]) AS c(id, content, last_event_id)
         WHERE m.id = c.id AND m.status IN ('queued', 'streaming')
           AND EXISTS (SELECT 1 FROM reply_leases l WHERE l.message_id = m.id AND l.owner = $5)",
        &ids,
        &contents,
        &last_ids,
        Utc::now(),
        owner
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Records a model call inside the caller's transaction.
async fn insert_call(tx: &mut Tx, call: &LlmCall) -> Result<()> {
    sqlx::query!(
        "INSERT INTO llm_calls
             (id, user_id, session_id, reply_id, provider, model, input_tokens, output_tokens,
              cost_micros, latency_ms, ttft_ms, attempts, outcome, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
        call.created_at
    )
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// A document as a write finds it, its row locked: its current revision and content (hash
/// verified) and the state of its session.
struct CurrentDocument {
    revision: Revision,
    content: DocumentContent,
    session: SessionState,
}

async fn current_document(tx: &mut Tx, doc: DocumentId) -> Result<CurrentDocument> {
    let row = sqlx::query!(
        "SELECT d.revision, s.status, s.current_step
         FROM documents d
         JOIN planning_sessions s ON s.id = d.session_id
         WHERE d.id = $1 FOR UPDATE OF d",
        doc.0
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?
    .ok_or(StoreError::NotFound)?;
    let revision = Revision(row.revision);
    let content = revision_content(tx, doc, revision).await.map_err(|e| match e {
        StoreError::RevisionNotFound(_) => StoreError::Integrity(format!(
            "document {doc} is at revision {revision} but that revision is missing"
        )),
        other => other,
    })?;
    Ok(CurrentDocument {
        revision,
        content,
        session: SessionState {
            status: plansmith_domain::SessionStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Integrity(format!("unexpected session status {:?}", row.status)))?,
            current_step: row.current_step,
        },
    })
}

async fn revision_content(tx: &mut Tx, doc: DocumentId, revision: Revision) -> Result<DocumentContent> {
    if revision == Revision::EMPTY {
        return Ok(DocumentContent::default());
    }
    let row: RevisionRow = sqlx::query_as!(
        RevisionRow,
        "SELECT revision, author, content, content_hash, message_id, created_at
         FROM document_revisions
         WHERE document_id = $1 AND revision = $2",
        doc.0,
        revision.get()
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?
    .ok_or(StoreError::RevisionNotFound(revision))?;
    row.verified_content(doc)
}

/// Appends the next revision of a document and touches its session; the caller holds the
/// document's lock.
async fn write_revision(
    tx: &mut Tx,
    doc: DocumentId,
    expected: Revision,
    content: &DocumentContent,
    author: Author,
    message: Option<MessageId>,
    now: DateTime<Utc>,
) -> Result<Revision> {
    let next = expected.next();
    let json = content.to_canonical_json();
    let session = sqlx::query_scalar!(
        "UPDATE documents
         SET revision = $1, filled = $2, updated_at = $3
         WHERE id = $4 AND revision = $5
         RETURNING session_id",
        next.get(),
        content.filled() as i64,
        now,
        doc.0,
        expected.get()
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    let Some(session) = session else {
        let current = sqlx::query_scalar!("SELECT revision FROM documents WHERE id = $1", doc.0)
            .fetch_one(&mut **tx)
            .await
            .map_err(db_err)?;
        return Err(StoreError::RevisionConflict {
            current: Revision(current),
        });
    };
    sqlx::query!(
        "INSERT INTO document_revisions
             (document_id, revision, author, content, content_hash, message_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        doc.0,
        next.get(),
        author.as_str(),
        &json,
        plansmith_domain::content_hash(&json),
        message.map(|m| m.0),
        now
    )
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    sqlx::query!(
        "UPDATE planning_sessions SET updated_at = $1 WHERE id = $2",
        now,
        session
    )
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(next)
}

pub(crate) async fn finish_reply(store: &PgStore, finished: FinishedReply) -> Result<Vec<AppliedRevision>> {
    let now = Utc::now();
    let mut tx = store.begin().await?;
    let mut applied = Vec::new();
    for update in &finished.updates {
        let doc = update.document_id;
        let CurrentDocument {
            revision, mut content, ..
        } = current_document(&mut tx, doc).await?;
        apply_sections(&mut content, &update.sections);
        let reply = Some(finished.reply_id);
        let revision = write_revision(&mut tx, doc, revision, &content, Author::Ai, reply, now).await?;
        applied.push(AppliedRevision {
            document_id: doc,
            revision,
        });
    }
    let [from, or_from] = ReplyTransition::Finish.guard();
    let done = sqlx::query!(
        "UPDATE messages
         SET status = 'complete', content = $1, events = $2, provider = $3, model = $4,
             error_code = NULL, error_message = NULL, updated_at = $5
         WHERE id = $6 AND status IN ($8, $9)
           AND EXISTS (SELECT 1 FROM reply_leases WHERE message_id = $6 AND owner = $7)",
        &finished.content,
        &finished.events,
        &finished.provider,
        &finished.model,
        now,
        finished.reply_id.0,
        &finished.owner,
        from,
        or_from
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    changed_one(done, || ReplyRefusal(ReplyTransition::Finish).into())?;
    drop_lease(&mut tx, finished.reply_id).await?;
    if let Some(call) = &finished.call {
        insert_call(&mut tx, call).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(applied)
}

pub(crate) async fn end_reply(store: &PgStore, ended: EndedReply) -> Result<bool> {
    let mut tx = store.begin().await?;
    let [from, or_from] = ReplyTransition::End.guard();
    let done = sqlx::query!(
        "UPDATE messages
         SET status = $1, content = $2, events = $3, error_code = $4, error_message = $5, updated_at = $6
         WHERE id = $7 AND status IN ($9, $10)
           AND EXISTS (SELECT 1 FROM reply_leases WHERE message_id = $7 AND owner = $8)",
        ended.status.as_str(),
        &ended.content,
        &ended.events,
        &ended.error_code,
        &ended.error_message,
        Utc::now(),
        ended.reply_id.0,
        &ended.owner,
        from,
        or_from
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let ended_now = done.rows_affected() == 1;
    if ended_now {
        drop_lease(&mut tx, ended.reply_id).await?;
    }
    // The call happened (and cost) either way.
    if let Some(call) = &ended.call {
        insert_call(&mut tx, call).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(ended_now)
}

/// Leases `reply` to `lease.owner` (whoever held it before), by the database's clock.
async fn take_lease(tx: &mut Tx, reply: MessageId, lease: &Lease) -> Result<()> {
    sqlx::query!(
        "INSERT INTO reply_leases (message_id, owner, until_ms)
         VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT + $3)
         ON CONFLICT (message_id) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms",
        reply.0,
        &lease.owner,
        lease.millis()
    )
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// A reply that ended needs no lease.
async fn drop_lease(tx: &mut Tx, reply: MessageId) -> Result<()> {
    sqlx::query!("DELETE FROM reply_leases WHERE message_id = $1", reply.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn reset_reply(store: &PgStore, reply: MessageId, lease: &Lease) -> Result<Message> {
    let [from, or_from] = ReplyTransition::Retry.guard();
    let mut tx = store.begin().await?;
    let row = sqlx::query_as!(
        MessageRow,
        "UPDATE messages
         SET status = 'queued', content = '', events = NULL, error_code = NULL, error_message = NULL,
             updated_at = $1
         WHERE id = $2 AND role = 'assistant' AND status IN ($3, $4)
         RETURNING id, session_id, seq, role, step_id, content, status, error_code, error_message,
             provider, model, created_at, updated_at",
        Utc::now(),
        reply.0,
        from,
        or_from
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?
    .ok_or(ReplyRefusal(ReplyTransition::Retry))?;
    take_lease(&mut tx, reply, lease).await?;
    tx.commit().await.map_err(db_err)?;
    row.try_into()
}

pub(crate) async fn renew_leases(store: &PgStore, lease: &Lease) -> Result<Vec<MessageId>> {
    let ids = sqlx::query_scalar!(
        "UPDATE reply_leases
         SET until_ms = (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT + $1
         WHERE owner = $2
         RETURNING message_id",
        lease.millis(),
        &lease.owner
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(ids.into_iter().map(MessageId).collect())
}

pub(crate) async fn release_leases(store: &PgStore, owner: &str, replies: &[MessageId]) -> Result<u64> {
    let ids: Vec<Uuid> = replies.iter().map(|r| r.0).collect();
    let done = sqlx::query!(
        // Deleted, not expired: no later renewal of `owner` can take it back.
        "DELETE FROM reply_leases WHERE message_id = ANY($1) AND owner = $2",
        &ids,
        owner
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected())
}

/// Claims orphans in one statement: candidates are locked `FOR UPDATE SKIP LOCKED`, so two
/// instances sweeping at once split them and each reply goes to one; the claimed replies are
/// leased to the claimant in the same statement.
pub(crate) async fn claim_orphans(store: &PgStore, claim: &OrphanClaim) -> Result<Vec<Orphan>> {
    let [from, or_from] = ReplyTransition::TakeOver.guard();
    let mut tx = store.begin().await?;
    let claimed = sqlx::query!(
        r#"WITH orphan AS (
               SELECT m.id, l.owner AS previous_owner, m.content
               FROM messages m
               LEFT JOIN reply_leases l ON l.message_id = m.id
               WHERE m.status IN ($1, $2)
                 AND (l.until_ms IS NULL
                      OR l.until_ms < (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
                      OR ($3 AND l.owner = $4))
               ORDER BY m.created_at
               LIMIT $5
               FOR UPDATE OF m SKIP LOCKED
           ),
           claimed AS (
               UPDATE messages m
               SET status = 'queued', content = CASE WHEN $7 THEN '' ELSE m.content END, updated_at = $8
               FROM orphan
               WHERE m.id = orphan.id
               RETURNING m.id, orphan.previous_owner, orphan.content AS checkpointed, m.last_event_id
           ),
           leased AS (
               INSERT INTO reply_leases (message_id, owner, until_ms)
               SELECT id, $4, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT + $6 FROM claimed
               ON CONFLICT (message_id) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
           )
           SELECT id AS "id!", previous_owner AS "previous_owner?", checkpointed AS "checkpointed!",
                  last_event_id AS "last_event_id!"
           FROM claimed"#,
        from,
        or_from,
        claim.own_previous,
        &claim.lease.owner,
        i64::from(claim.limit),
        claim.lease.millis(),
        claim.regenerate,
        Utc::now()
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    let mut orphans = Vec::with_capacity(claimed.len());
    for row in claimed {
        let found = sqlx::query!(
            r#"SELECT m.id, m.session_id, m.seq, m.role, m.step_id, m.content, m.status, m.error_code,
                      m.error_message, m.provider, m.model, m.created_at, m.updated_at,
                      s.user_id, COALESCE(u.plan_override, u.plan) AS "plan!"
               FROM messages m
               JOIN planning_sessions s ON s.id = m.session_id
               JOIN users u ON u.id = s.user_id
               WHERE m.id = $1"#,
            row.id
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let reply = MessageRow {
            id: found.id,
            session_id: found.session_id,
            seq: found.seq,
            role: found.role,
            step_id: found.step_id,
            content: found.content,
            status: found.status,
            error_code: found.error_code,
            error_message: found.error_message,
            provider: found.provider,
            model: found.model,
            created_at: found.created_at,
            updated_at: found.updated_at,
        };
        orphans.push(Orphan {
            reply: reply.try_into()?,
            user_id: UserId(found.user_id),
            plan: Plan::parse(&found.plan)
                .ok_or_else(|| StoreError::Integrity(format!("unexpected plan {:?}", found.plan)))?,
            previous_owner: row.previous_owner,
            last_event_id: u64::try_from(row.last_event_id).unwrap_or(0),
            checkpointed: row.checkpointed,
        });
    }
    tx.commit().await.map_err(db_err)?;
    Ok(orphans)
}

pub(crate) async fn edit_section(
    store: &PgStore,
    id: DocumentId,
    section_id: &str,
    content: &str,
    base_revision: Revision,
) -> Result<Revision> {
    let mut tx = store.begin().await?;
    let mut doc = current_document(&mut tx, id).await?;
    doc.session.check_document_change()?;
    edit_revision(doc.revision, base_revision)?;
    doc.content.set(section_id, content);
    let revision = write_revision(&mut tx, id, doc.revision, &doc.content, Author::User, None, Utc::now()).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(revision)
}

pub(crate) async fn restore_revision(store: &PgStore, id: DocumentId, revision: Revision) -> Result<Revision> {
    let mut tx = store.begin().await?;
    let doc = current_document(&mut tx, id).await?;
    doc.session.check_document_change()?;
    check_revision(doc.revision, revision)?;
    let content = revision_content(&mut tx, id, revision).await?;
    let new = write_revision(&mut tx, id, doc.revision, &content, Author::User, None, Utc::now()).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(new)
}

pub(crate) async fn set_user_role(store: &PgStore, email: &Email, role: Role) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE users SET role = $1 WHERE email = $2",
        role.as_str(),
        email.as_str()
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete_auth_token(store: &PgStore, token_hash: &[u8]) -> Result<()> {
    sqlx::query!("DELETE FROM auth_tokens WHERE token_hash = $1", token_hash)
        .execute(&mut *store.conn().await?)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn save_reply_events(store: &PgStore, reply: MessageId, events: &str) -> Result<()> {
    sqlx::query!("UPDATE messages SET events = $1 WHERE id = $2", events, reply.0)
        .execute(&mut *store.conn().await?)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn rename_session(store: &PgStore, user: UserId, id: SessionId, title: &str) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE planning_sessions SET title = $1, updated_at = $2 WHERE id = $3 AND user_id = $4",
        title,
        Utc::now(),
        id.0,
        user.0
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete_session(store: &PgStore, user: UserId, id: SessionId) -> Result<bool> {
    let done = sqlx::query!(
        "DELETE FROM planning_sessions WHERE id = $1 AND user_id = $2",
        id.0,
        user.0
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn erase_user(store: &PgStore, user: UserId, email: &str) -> Result<bool> {
    let mut tx = store.begin().await?;
    sqlx::query!(
        "INSERT INTO erased_usage (month, provider, model, calls, input_tokens, output_tokens, cost_micros)
         SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), provider, model, COUNT(*),
             SUM(input_tokens)::BIGINT, SUM(output_tokens)::BIGINT, SUM(cost_micros)::BIGINT
         FROM llm_calls WHERE user_id = $1 GROUP BY 1, 2, 3
         ON CONFLICT (month, provider, model) DO UPDATE SET
             calls = erased_usage.calls + EXCLUDED.calls,
             input_tokens = erased_usage.input_tokens + EXCLUDED.input_tokens,
             output_tokens = erased_usage.output_tokens + EXCLUDED.output_tokens,
             cost_micros = erased_usage.cost_micros + EXCLUDED.cost_micros",
        user.0
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    sqlx::query!(
        "UPDATE security_events SET address = NULL, detail = NULL WHERE user_id = $1",
        user.0
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    sqlx::query!("DELETE FROM email_outbox WHERE lower(\"to\") = lower($1)", email)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    sqlx::query!(
        "UPDATE error_groups SET sample_user_id = NULL WHERE sample_user_id = $1",
        user.0
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    sqlx::query!(
        "UPDATE feature_flags SET updated_by = NULL WHERE updated_by = $1",
        user.0
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    sqlx::query!(
        "UPDATE flag_client_keys SET created_by = NULL WHERE created_by = $1",
        user.0
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    // Sessions (with messages, documents, revisions), sign-ins, one-time tokens and model calls
    // go with the account (foreign keys cascade).
    let done = sqlx::query!("DELETE FROM users WHERE id = $1", user.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}
