//! The write operations, each run whole on the writer thread (see `writer.rs`) inside its
//! transaction. Timestamps are stored as RFC 3339 text and ids as 16-byte blobs, the same
//! encoding the readers decode.

use crate::sql;
use crate::writer::sql_err;
use chrono::{DateTime, SecondsFormat, Utc};
use plansmith_domain::{
    Author, DocumentContent, DocumentId, MessageId, MessageStatus, Revision, SessionId, SessionStatus, SignInId,
    UserId, content_hash,
};
use plansmith_store::rows::{MessageRow, RevisionRow, SessionRow, UserRow};
use plansmith_store::{
    AppliedRevision, Checkpoint, CloseOutcome, EndedReply, FinishedReply, Lease, LlmCall, Message, NewSession,
    NewSignIn, Orphan, OrphanClaim, PlanningSession, PostedMessage, ReplyRefusal, ReplyTransition, Result,
    SecurityEvent, SessionClose, SessionState, StepAdvance, StoreError, TokenLife, User, UserUpdate, apply_sections,
    check_revision, edit_revision, replayed,
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
        .prepare_cached(sql::SESSION)
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

fn session_status(text: &str) -> Result<SessionStatus> {
    SessionStatus::parse(text).ok_or_else(|| StoreError::Integrity(format!("unexpected session status {text:?}")))
}

/// The state the session rules decide on.
fn session_state(conn: &Connection, id: SessionId) -> Result<SessionState> {
    let (status, current_step): (String, Option<String>) = conn
        .prepare_cached(sql::SESSION_STATE)
        .and_then(|mut s| s.query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(sql_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(SessionState {
        status: session_status(&status)?,
        current_step,
    })
}

/// Runs a statement that changes rows; returns how many it changed.
pub(crate) fn change(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(sql_err)
}

/// Runs a reply's status change, guarded by the statuses the transition starts from.
fn change_reply(
    conn: &Connection,
    transition: ReplyTransition,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<()> {
    let [from, or_from] = transition.guard();
    let mut all = params.to_vec();
    all.extend([&from as &dyn rusqlite::ToSql, &or_from]);
    match change(conn, sql, all.as_slice())? {
        1 => Ok(()),
        _ => Err(ReplyRefusal(transition).into()),
    }
}

pub(crate) fn create_user(conn: &Connection, user: &User) -> Result<()> {
    change(
        conn,
        sql::INSERT_USER,
        params![
            user.id.0,
            user.email,
            user.name,
            user.password_hash,
            stamp(user.created_at)
        ],
    )
    .map_err(StoreError::duplicate_email)?;
    Ok(())
}

pub(crate) fn set_user_role(conn: &Connection, email: &str, role: &str) -> Result<bool> {
    Ok(change(conn, sql::SET_USER_ROLE, params![role, email])? == 1)
}

pub(crate) fn create_auth_token(conn: &Connection, id: SignInId, new: &NewSignIn) -> Result<()> {
    change(
        conn,
        sql::INSERT_AUTH_TOKEN,
        params![
            new.token_hash,
            id.0,
            new.user_id.0,
            stamp(Utc::now()),
            stamp(new.expires_at),
            new.address,
            new.user_agent
        ],
    )?;
    Ok(())
}

/// Notes a token's use at `now` unless it was noted since `stale`.
pub(crate) fn touch_auth_token(
    conn: &Connection,
    token_hash: &[u8],
    now: DateTime<Utc>,
    stale: DateTime<Utc>,
) -> Result<()> {
    change(
        conn,
        sql::TOUCH_AUTH_TOKEN,
        params![stamp(now), token_hash, stamp(stale)],
    )?;
    Ok(())
}

pub(crate) fn revoke_sign_in(conn: &Connection, user: UserId, id: SignInId) -> Result<bool> {
    Ok(change(conn, sql::DELETE_SIGN_IN, params![user.0, id.0])? == 1)
}

pub(crate) fn revoke_sign_ins(conn: &Connection, user: UserId, keep: Option<SignInId>) -> Result<u64> {
    Ok(change(conn, sql::DELETE_USER_TOKENS, params![user.0, keep.map(|k| k.0)])? as u64)
}

pub(crate) fn purge_auth_tokens(conn: &Connection, life: TokenLife) -> Result<u64> {
    Ok(change(
        conn,
        sql::PURGE_AUTH_TOKENS,
        params![stamp(life.now), stamp(life.idle_cutoff())],
    )? as u64)
}

pub(crate) fn set_password(
    conn: &Connection,
    user: UserId,
    password_hash: &str,
    keep: Option<SignInId>,
) -> Result<u64> {
    if change(conn, sql::SET_PASSWORD, params![password_hash, user.0])? != 1 {
        return Err(StoreError::NotFound);
    }
    revoke_sign_ins(conn, user, keep)
}

pub(crate) fn update_user(conn: &Connection, id: UserId, update: &UserUpdate) -> Result<Option<User>> {
    let row = conn
        .prepare_cached(sql::UPDATE_USER)
        .and_then(|mut s| {
            s.query_row(
                params![
                    update.role.map(|r| r.as_str()),
                    update.plan_override.is_some(),
                    update.plan_override.flatten().map(|p| p.as_str()),
                    update.disabled,
                    id.0
                ],
                |row| {
                    Ok(UserRow {
                        id: row.get(0)?,
                        email: row.get(1)?,
                        name: row.get(2)?,
                        password_hash: row.get(3)?,
                        role: row.get(4)?,
                        plan: row.get(5)?,
                        plan_override: row.get(6)?,
                        disabled: row.get(7)?,
                        created_at: time(row, 8)?,
                    })
                },
            )
            .optional()
        })
        .map_err(sql_err)?;
    let Some(row) = row else { return Ok(None) };
    if update.disabled == Some(true) {
        revoke_sign_ins(conn, id, None)?;
    }
    row.try_into().map(Some)
}

pub(crate) fn record_security_event(conn: &Connection, event: &SecurityEvent) -> Result<()> {
    change(
        conn,
        sql::INSERT_SECURITY_EVENT,
        params![
            event.id,
            stamp(event.at),
            event.kind,
            event.user_id.map(|u| u.0),
            event.address,
            event.request_id,
            event.outcome,
            event.detail
        ],
    )?;
    Ok(())
}

pub(crate) fn delete_auth_token(conn: &Connection, token_hash: &[u8]) -> Result<()> {
    change(conn, sql::DELETE_AUTH_TOKEN, [token_hash])?;
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
    let row = conn
        .prepare_cached(sql::INSERT_MESSAGE)
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
    let row = conn
        .prepare_cached(sql::MESSAGE)
        .and_then(|mut s| s.query_row([id], message_row))
        .map_err(sql_err)?;
    row.try_into()
}

pub(crate) fn create_session(conn: &Connection, new: &NewSession) -> Result<PlanningSession> {
    // The single writer makes the count and the insert one step.
    let active: i64 = conn
        .prepare_cached(sql::COUNT_ACTIVE_SESSIONS)
        .and_then(|mut s| s.query_row([new.user_id.0], |r| r.get(0)))
        .map_err(sql_err)?;
    if active >= i64::from(new.max_active) {
        return Err(StoreError::TooManyActiveSessions { max: new.max_active });
    }
    let now = stamp(Utc::now());
    change(
        conn,
        sql::INSERT_SESSION,
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
            sql::INSERT_DOCUMENT,
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
    session_state(conn, id)?.check_step_completion(step_id)?;
    let changed = match advance {
        StepAdvance::Next { step_id: next, intro } => {
            let changed = change(conn, sql::ADVANCE_STEP, params![next, now, id.0, step_id])?;
            insert_message(conn, id, "assistant", next, intro, MessageStatus::Complete, None, &now)?;
            changed
        }
        StepAdvance::Finish => change(conn, sql::FINISH_LAST_STEP, params![now, id.0, step_id])?,
    };
    if changed != 1 {
        return Err(StoreError::Integrity(format!(
            "session {id} changed while its step was completed"
        )));
    }
    session_row(conn, id)
}

pub(crate) fn close_session(conn: &Connection, id: SessionId, close: SessionClose) -> Result<PlanningSession> {
    if session_state(conn, id)?.close(close)? == CloseOutcome::Close {
        let status = close.status().as_str();
        if change(conn, sql::CLOSE_SESSION, params![status, stamp(Utc::now()), id.0])? != 1 {
            return Err(StoreError::Integrity(format!(
                "session {id} changed while it was closed"
            )));
        }
    }
    session_row(conn, id)
}

pub(crate) fn post_message(
    conn: &Connection,
    session: SessionId,
    content: &str,
    client_key: Option<&str>,
    lease: &Lease,
) -> Result<PostedMessage> {
    if let Some(key) = client_key {
        let found = conn
            .prepare_cached(sql::REPLAYED_MESSAGES)
            .and_then(|mut s| {
                s.query_map(params![session.0, key], message_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(sql_err)?
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>>>()?;
        if let Some(posted) = replayed(found)? {
            return Ok(posted);
        }
    }
    let state = session_state(conn, session)?;
    let step_id = state.step_for_message()?;
    let now = stamp(Utc::now());
    if change(conn, sql::TOUCH_FOR_MESSAGE, params![now, session.0])? != 1 {
        return Err(StoreError::Integrity(format!(
            "session {session} closed while a message was posted"
        )));
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
    take_lease(conn, reply.id, lease)?;
    Ok(PostedMessage {
        message,
        reply,
        replayed: false,
    })
}

pub(crate) fn start_reply(conn: &Connection, reply: MessageId, owner: &str, provider: &str, model: &str) -> Result<()> {
    change_reply(
        conn,
        ReplyTransition::Start,
        sql::START_REPLY,
        params![provider, model, stamp(Utc::now()), reply.0, owner],
    )
}

/// Saves the progress of unfinished replies, one statement for the whole batch.
pub(crate) fn checkpoint_replies(conn: &Connection, owner: &str, checkpoints: &[Checkpoint]) -> Result<()> {
    let rows: Vec<serde_json::Value> = checkpoints
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.reply_id.0.simple().to_string(),
                "content": c.content,
                "last_event_id": c.last_event_id,
            })
        })
        .collect();
    change(
        conn,
        sql::CHECKPOINT_REPLIES,
        params![stamp(Utc::now()), owner, serde_json::Value::Array(rows).to_string()],
    )?;
    Ok(())
}

fn take_lease(conn: &Connection, reply: MessageId, lease: &Lease) -> Result<()> {
    change(conn, sql::TAKE_LEASE, params![reply.0, lease.owner, lease.millis()])?;
    Ok(())
}

pub(crate) fn renew_leases(conn: &Connection, lease: &Lease) -> Result<Vec<MessageId>> {
    conn.prepare_cached(sql::RENEW_LEASES)
        .and_then(|mut s| {
            s.query_map(params![lease.millis(), lease.owner], |row| {
                row.get::<_, Uuid>(0).map(MessageId)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_err)
}

pub(crate) fn release_leases(conn: &Connection, owner: &str, replies: &[MessageId]) -> Result<u64> {
    let mut released = 0;
    for reply in replies {
        released += change(conn, sql::RELEASE_LEASE, params![reply.0, owner])? as u64;
    }
    Ok(released)
}

pub(crate) fn claim_orphans(conn: &Connection, claim: &OrphanClaim) -> Result<Vec<Orphan>> {
    let found = conn
        .prepare_cached(sql::ORPHANS)
        .and_then(|mut s| {
            s.query_map(params![claim.lease.owner, claim.own_previous, claim.limit], |row| {
                Ok((
                    row.get::<_, Uuid>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Uuid>(4)?,
                    row.get::<_, String>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_err)?;
    let now = stamp(Utc::now());
    let [from, or_from] = ReplyTransition::TakeOver.guard();
    let mut orphans = Vec::with_capacity(found.len());
    for (id, previous_owner, last_event_id, checkpointed, user_id, plan) in found {
        if change(
            conn,
            sql::CLAIM_ORPHAN,
            params![claim.regenerate, now, id, from, or_from],
        )? != 1
        {
            continue;
        }
        take_lease(conn, MessageId(id), &claim.lease)?;
        orphans.push(Orphan {
            reply: fetch_message(conn, id)?,
            user_id: plansmith_domain::UserId(user_id),
            plan: plansmith_domain::Plan::parse(&plan)
                .ok_or_else(|| StoreError::Integrity(format!("unexpected plan {plan:?}")))?,
            previous_owner,
            last_event_id: u64::try_from(last_event_id).unwrap_or(0),
            checkpointed,
        });
    }
    Ok(orphans)
}

fn insert_call(conn: &Connection, call: &LlmCall) -> Result<()> {
    change(
        conn,
        sql::INSERT_LLM_CALL,
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

/// A document as a write finds it: its current revision and content (hash verified) and the
/// state of its session, in one joined statement.
struct CurrentDocument {
    revision: Revision,
    content: DocumentContent,
    session: SessionState,
}

fn current_document(conn: &Connection, doc: DocumentId) -> Result<CurrentDocument> {
    let (current, status, current_step, row) = conn
        .prepare_cached(sql::CURRENT_CONTENT)
        .and_then(|mut s| {
            s.query_row([doc.0], |row| {
                let current: i64 = row.get(0)?;
                let status: String = row.get(1)?;
                let step: Option<String> = row.get(2)?;
                let found = row.get_ref(3)?.data_type() != Type::Null;
                Ok((
                    current,
                    status,
                    step,
                    if found { Some(revision_row(row, 3)?) } else { None },
                ))
            })
            .optional()
        })
        .map_err(sql_err)?
        .ok_or(StoreError::NotFound)?;
    let content = match (current, row) {
        (0, _) => DocumentContent::default(),
        (_, Some(revision)) => revision.verified_content(doc)?,
        (current, None) => {
            return Err(StoreError::Integrity(format!(
                "document {doc} is at revision {current} but that revision is missing"
            )));
        }
    };
    Ok(CurrentDocument {
        revision: Revision(current),
        content,
        session: SessionState {
            status: session_status(&status)?,
            current_step,
        },
    })
}

fn revision_content(conn: &Connection, doc: DocumentId, revision: Revision) -> Result<DocumentContent> {
    if revision == Revision::EMPTY {
        return Ok(DocumentContent::default());
    }
    conn.prepare_cached(sql::REVISION)
        .and_then(|mut s| {
            s.query_row(params![doc.0, revision.get()], |row| revision_row(row, 0))
                .optional()
        })
        .map_err(sql_err)?
        .ok_or(StoreError::RevisionNotFound(revision))?
        .verified_content(doc)
}

/// Appends the next revision of a document and touches its session.
fn write_revision(
    conn: &Connection,
    doc: DocumentId,
    expected: Revision,
    content: &DocumentContent,
    author: Author,
    message: Option<MessageId>,
    now: &str,
) -> Result<Revision> {
    let next = expected.next();
    let json = content.to_canonical_json();
    let session: Option<Uuid> = conn
        .prepare_cached(sql::SET_DOCUMENT_REVISION)
        .and_then(|mut s| {
            s.query_row(
                params![next.get(), content.filled() as i64, now, doc.0, expected.get()],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(sql_err)?;
    let Some(session) = session else {
        let current: i64 = conn
            .prepare_cached(sql::DOCUMENT_REVISION)
            .and_then(|mut s| s.query_row([doc.0], |r| r.get(0)))
            .map_err(sql_err)?;
        return Err(StoreError::RevisionConflict {
            current: Revision(current),
        });
    };
    change(
        conn,
        sql::INSERT_REVISION,
        params![
            doc.0,
            next.get(),
            author.as_str(),
            json,
            content_hash(&json),
            message.map(|m| m.0),
            now
        ],
    )?;
    change(conn, sql::TOUCH_SESSION, params![now, session])?;
    Ok(next)
}

pub(crate) fn finish_reply(conn: &Connection, finished: &FinishedReply) -> Result<Vec<AppliedRevision>> {
    let now = stamp(Utc::now());
    let mut applied = Vec::new();
    for update in &finished.updates {
        let CurrentDocument {
            revision, mut content, ..
        } = current_document(conn, update.document_id)?;
        apply_sections(&mut content, &update.sections);
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
    change_reply(
        conn,
        ReplyTransition::Finish,
        sql::FINISH_REPLY,
        params![
            finished.content,
            finished.events,
            finished.provider,
            finished.model,
            now,
            finished.reply_id.0,
            finished.owner
        ],
    )?;
    change(conn, sql::DROP_LEASE, [finished.reply_id.0])?;
    if let Some(call) = &finished.call {
        insert_call(conn, call)?;
    }
    Ok(applied)
}

pub(crate) fn end_reply(conn: &Connection, ended: &EndedReply) -> Result<bool> {
    let ended_now = match change_reply(
        conn,
        ReplyTransition::End,
        sql::END_REPLY,
        params![
            ended.status.as_str(),
            ended.content,
            ended.events,
            ended.error_code,
            ended.error_message,
            stamp(Utc::now()),
            ended.reply_id.0,
            ended.owner
        ],
    ) {
        Ok(()) => {
            change(conn, sql::DROP_LEASE, [ended.reply_id.0])?;
            true
        }
        Err(StoreError::Reply(_)) => false,
        Err(e) => return Err(e),
    };
    // The call happened (and cost) either way.
    if let Some(call) = &ended.call {
        insert_call(conn, call)?;
    }
    Ok(ended_now)
}

pub(crate) fn save_reply_events(conn: &Connection, reply: MessageId, events: &str) -> Result<()> {
    change(conn, sql::SAVE_REPLY_EVENTS, params![events, reply.0])?;
    Ok(())
}

pub(crate) fn reset_reply(conn: &Connection, reply: MessageId, lease: &Lease) -> Result<Message> {
    change_reply(
        conn,
        ReplyTransition::Retry,
        sql::RESET_REPLY,
        params![stamp(Utc::now()), reply.0],
    )?;
    take_lease(conn, reply, lease)?;
    fetch_message(conn, reply.0)
}

pub(crate) fn edit_section(
    conn: &Connection,
    id: DocumentId,
    section_id: &str,
    content: &str,
    base_revision: Revision,
) -> Result<Revision> {
    let mut doc = current_document(conn, id)?;
    doc.session.check_document_change()?;
    edit_revision(doc.revision, base_revision)?;
    doc.content.set(section_id, content);
    write_revision(
        conn,
        id,
        doc.revision,
        &doc.content,
        Author::User,
        None,
        &stamp(Utc::now()),
    )
}

pub(crate) fn restore_revision(conn: &Connection, id: DocumentId, revision: Revision) -> Result<Revision> {
    let doc = current_document(conn, id)?;
    doc.session.check_document_change()?;
    check_revision(doc.revision, revision)?;
    let content = revision_content(conn, id, revision)?;
    write_revision(conn, id, doc.revision, &content, Author::User, None, &stamp(Utc::now()))
}

/// See `Store::erase_user`; runs inside the writer's transaction, so it is whole or not at all.
pub(crate) fn erase_user(conn: &Connection, user: UserId, email: &str) -> Result<bool> {
    change(conn, sql::ERASE_KEEP_USAGE, params![user.0])?;
    change(conn, sql::ERASE_SECURITY_DETAILS, params![user.0])?;
    change(conn, sql::ERASE_EMAILS, params![email])?;
    change(conn, sql::ERASE_REFERENCES_ERRORS, params![user.0])?;
    change(conn, sql::ERASE_REFERENCES_FLAGS, params![user.0])?;
    change(conn, sql::ERASE_REFERENCES_KEYS, params![user.0])?;
    Ok(change(conn, sql::ERASE_USER, params![user.0])? == 1)
}
