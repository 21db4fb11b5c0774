//! The audit trail on SQLite: appends run on the one writer (so they are serialised by
//! construction), lists and the chain walk read through the reader pool.

use crate::db_err;
use crate::sql;
use crate::write::stamp;
use crate::writer::sql_err;
use chrono::{DateTime, Utc};
use plansmith_domain::{SessionId, UserId};
use plansmith_store::Result;
use plansmith_store::audit::{
    AuditActor, AuditCheckpoint, AuditEntry, AuditQuery, AuditSigner, GENESIS, NewAuditEntry, chain_entry,
    checkpoint_message, crosses_checkpoint,
};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;
use uuid::Uuid;

pub(crate) fn append(
    conn: &Connection,
    entries: Vec<NewAuditEntry>,
    signer: &dyn AuditSigner,
    checkpoint: bool,
) -> Result<i64> {
    let head: Option<(i64, String)> = conn
        .prepare_cached(sql::AUDIT_HEAD)
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(sql_err)?;
    let (first_prev, mut prev_hash) = head.unwrap_or((0, GENESIS.to_owned()));
    let mut seq = first_prev;
    let mut insert = conn.prepare_cached(sql::APPEND_AUDIT).map_err(sql_err)?;
    for entry in entries {
        let e = chain_entry(seq, &prev_hash, entry);
        let n = &e.entry;
        insert
            .execute(params![
                e.seq,
                stamp(n.at),
                n.actor.as_str(),
                n.actor_id.map(|u| u.0),
                n.action,
                n.user_id.map(|u| u.0),
                n.session_id.map(|s| s.0),
                n.object,
                n.network,
                n.request_id,
                e.prev_hash,
                e.hash
            ])
            .map_err(sql_err)?;
        seq = e.seq;
        prev_hash = e.hash;
    }
    if seq > 0 && (checkpoint || crosses_checkpoint(first_prev, seq)) {
        let (key_id, mac) = signer.sign(&checkpoint_message(seq, &prev_hash));
        conn.prepare_cached(sql::AUDIT_CHECKPOINT)
            .and_then(|mut s| s.execute(params![seq, prev_hash, key_id, mac, stamp(Utc::now())]))
            .or_else(|e| match sql_err(e) {
                // Nothing appended since the last checkpoint: it already signs this position.
                plansmith_store::StoreError::Duplicate => Ok(0),
                other => Err(other),
            })?;
    }
    Ok(seq)
}

pub(crate) fn prune(conn: &Connection, before: DateTime<Utc>) -> Result<u64> {
    let point: Option<i64> = conn
        .prepare_cached(sql::AUDIT_PRUNE_POINT)
        .and_then(|mut s| s.query_row(params![stamp(before)], |r| r.get(0)))
        .map_err(sql_err)?;
    let Some(point) = point else { return Ok(0) };
    let deleted = crate::write::change(conn, sql::AUDIT_PRUNE_ENTRIES, params![point])?;
    crate::write::change(conn, sql::AUDIT_PRUNE_CHECKPOINTS, params![point])?;
    Ok(deleted as u64)
}

pub(crate) fn resign(conn: &Connection, signer: &dyn AuditSigner) -> Result<u64> {
    let checkpoints: Vec<(i64, String)> = conn
        .prepare_cached(sql::AUDIT_CHECKPOINT_LIST)
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(sql_err)?;
    for (seq, hash) in &checkpoints {
        let (key_id, mac) = signer.sign(&checkpoint_message(*seq, hash));
        crate::write::change(conn, sql::AUDIT_RESIGN, params![seq, key_id, mac])?;
    }
    Ok(checkpoints.len() as u64)
}

struct Row {
    seq: i64,
    at: DateTime<Utc>,
    actor: String,
    actor_id: Option<Uuid>,
    action: String,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
    object: Option<String>,
    network: Option<String>,
    request_id: Option<String>,
    prev_hash: String,
    hash: String,
}

impl Row {
    fn entry(self) -> Result<AuditEntry> {
        let actor = AuditActor::parse(&self.actor).ok_or_else(|| {
            plansmith_store::StoreError::Integrity(format!("audit entry {}: unknown actor {:?}", self.seq, self.actor))
        })?;
        Ok(AuditEntry {
            seq: self.seq,
            entry: NewAuditEntry {
                at: self.at,
                actor,
                actor_id: self.actor_id.map(UserId),
                action: self.action,
                user_id: self.user_id.map(UserId),
                session_id: self.session_id.map(SessionId),
                object: self.object,
                network: self.network,
                request_id: self.request_id,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

pub(crate) async fn entries(pool: &SqlitePool, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let (user, session) = (q.user_id.map(|u| u.0), q.session_id.map(|s| s.0));
    let (from, to) = (q.from.map(stamp), q.to.map(stamp));
    let limit = i64::from(q.limit);
    sqlx::query_as!(
        Row,
        r#"SELECT seq AS "seq!: i64", at AS "at: DateTime<Utc>", actor, actor_id AS "actor_id: Uuid", action,
               user_id AS "user_id: Uuid", session_id AS "session_id: Uuid", object, network, request_id,
               prev_hash, hash
           FROM audit_log
           WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR session_id = ?2) AND (?3 IS NULL OR action = ?3)
             AND (?4 IS NULL OR at >= ?4) AND (?5 IS NULL OR at < ?5) AND (?6 IS NULL OR seq < ?6)
           ORDER BY seq DESC LIMIT ?7"#,
        user,
        session,
        q.action,
        from,
        to,
        q.before,
        limit
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(Row::entry)
    .collect()
}

pub(crate) async fn chain(pool: &SqlitePool, after: i64, limit: u32) -> Result<Vec<AuditEntry>> {
    let limit = i64::from(limit);
    sqlx::query_as!(
        Row,
        r#"SELECT seq AS "seq!: i64", at AS "at: DateTime<Utc>", actor, actor_id AS "actor_id: Uuid", action,
               user_id AS "user_id: Uuid", session_id AS "session_id: Uuid", object, network, request_id,
               prev_hash, hash
           FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"#,
        after,
        limit
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(Row::entry)
    .collect()
}

pub(crate) async fn checkpoints(pool: &SqlitePool) -> Result<Vec<AuditCheckpoint>> {
    sqlx::query_as!(
        AuditCheckpoint,
        r#"SELECT seq AS "seq!: i64", hash, key_id, mac, at AS "at: DateTime<Utc>"
           FROM audit_checkpoints ORDER BY seq"#
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)
}
