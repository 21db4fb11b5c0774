//! The audit trail on PostgreSQL: an append takes a transaction-scoped advisory lock, so the
//! appends of every instance are serialised and each sees the chain's true head.

use crate::{PgStore, db_err};
use chrono::{DateTime, Utc};
use plansmith_domain::{SessionId, UserId};
use plansmith_store::audit::{
    AuditActor, AuditCheckpoint, AuditEntry, AuditQuery, AuditSigner, GENESIS, NewAuditEntry, chain_entry,
    checkpoint_message, crosses_checkpoint,
};
use plansmith_store::{Result, StoreError};
use uuid::Uuid;

/// The advisory lock key of the audit chain ("audit" in ASCII).
const CHAIN_LOCK: i64 = 0x61_7564_6974;

pub(crate) async fn append(
    store: &PgStore,
    entries: Vec<NewAuditEntry>,
    signer: &dyn AuditSigner,
    checkpoint: bool,
) -> Result<i64> {
    let mut tx = store.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    // The last entry, or the checkpoint the chain was pruned up to.
    let head = sqlx::query!(
        r#"SELECT seq AS "seq!", hash AS "hash!" FROM (
             (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1)
             UNION ALL (SELECT seq, hash FROM audit_checkpoints ORDER BY seq DESC LIMIT 1)
           ) AS heads ORDER BY seq DESC LIMIT 1"#
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    let (first_prev, mut prev_hash) = head.map_or((0, GENESIS.to_owned()), |h| (h.seq, h.hash));
    let mut seq = first_prev;
    let mut rows = Columns::default();
    for entry in entries {
        let e = chain_entry(seq, &prev_hash, entry);
        seq = e.seq;
        prev_hash = e.hash.clone();
        rows.push(e);
    }
    sqlx::query!(
        "INSERT INTO audit_log (seq, at, actor, actor_id, action, user_id, session_id, object, network, request_id,
                                prev_hash, hash)
         SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::uuid[], $5::text[], $6::uuid[],
                              $7::uuid[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])",
        &rows.seq,
        &rows.at,
        &rows.actor,
        &rows.actor_id as &[Option<Uuid>],
        &rows.action,
        &rows.user_id as &[Option<Uuid>],
        &rows.session_id as &[Option<Uuid>],
        &rows.object as &[Option<String>],
        &rows.network as &[Option<String>],
        &rows.request_id as &[Option<String>],
        &rows.prev_hash,
        &rows.hash,
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    if seq > 0 && (checkpoint || crosses_checkpoint(first_prev, seq)) {
        let (key_id, mac) = signer.sign(&checkpoint_message(seq, &prev_hash));
        sqlx::query!(
            "INSERT INTO audit_checkpoints (seq, hash, key_id, mac, at) VALUES ($1, $2, $3, $4, now())
             ON CONFLICT (seq) DO NOTHING",
            seq,
            prev_hash,
            key_id,
            mac
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(seq)
}

#[derive(Default)]
struct Columns {
    seq: Vec<i64>,
    at: Vec<DateTime<Utc>>,
    actor: Vec<String>,
    actor_id: Vec<Option<Uuid>>,
    action: Vec<String>,
    user_id: Vec<Option<Uuid>>,
    session_id: Vec<Option<Uuid>>,
    object: Vec<Option<String>>,
    network: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
    prev_hash: Vec<String>,
    hash: Vec<String>,
}

impl Columns {
    fn push(&mut self, e: AuditEntry) {
        let n = e.entry;
        self.seq.push(e.seq);
        self.at.push(n.at);
        self.actor.push(n.actor.as_str().to_owned());
        self.actor_id.push(n.actor_id.map(|u| u.0));
        self.action.push(n.action);
        self.user_id.push(n.user_id.map(|u| u.0));
        self.session_id.push(n.session_id.map(|s| s.0));
        self.object.push(n.object);
        self.network.push(n.network);
        self.request_id.push(n.request_id);
        self.prev_hash.push(e.prev_hash);
        self.hash.push(e.hash);
    }
}

pub(crate) async fn prune(store: &PgStore, before: DateTime<Utc>) -> Result<u64> {
    let mut tx = store.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    let point = sqlx::query_scalar!("SELECT MAX(seq) FROM audit_checkpoints WHERE at < $1", before)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    let Some(point) = point else { return Ok(0) };
    let deleted = sqlx::query!("DELETE FROM audit_log WHERE seq <= $1", point)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    sqlx::query!("DELETE FROM audit_checkpoints WHERE seq < $1", point)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(deleted)
}

pub(crate) async fn resign(store: &PgStore, signer: &dyn AuditSigner) -> Result<u64> {
    let mut tx = store.begin().await?;
    let checkpoints = sqlx::query!("SELECT seq, hash FROM audit_checkpoints ORDER BY seq FOR UPDATE")
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
    for c in &checkpoints {
        let (key_id, mac) = signer.sign(&checkpoint_message(c.seq, &c.hash));
        sqlx::query!(
            "UPDATE audit_checkpoints SET key_id = $2, mac = $3 WHERE seq = $1",
            c.seq,
            key_id,
            mac
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
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
            StoreError::Integrity(format!("audit entry {}: unknown actor {:?}", self.seq, self.actor))
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

pub(crate) async fn entries(store: &PgStore, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
    sqlx::query_as!(
        Row,
        "SELECT seq, at, actor, actor_id, action, user_id, session_id, object, network, request_id, prev_hash, hash
         FROM audit_log
         WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::uuid IS NULL OR session_id = $2)
           AND ($3::text IS NULL OR action = $3) AND ($4::timestamptz IS NULL OR at >= $4)
           AND ($5::timestamptz IS NULL OR at < $5) AND ($6::bigint IS NULL OR seq < $6)
         ORDER BY seq DESC LIMIT $7",
        q.user_id.map(|u| u.0),
        q.session_id.map(|s| s.0),
        q.action,
        q.from,
        q.to,
        q.before,
        i64::from(q.limit)
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(Row::entry)
    .collect()
}

pub(crate) async fn chain(store: &PgStore, after: i64, limit: u32) -> Result<Vec<AuditEntry>> {
    sqlx::query_as!(
        Row,
        "SELECT seq, at, actor, actor_id, action, user_id, session_id, object, network, request_id, prev_hash, hash
         FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        after,
        i64::from(limit)
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(Row::entry)
    .collect()
}

pub(crate) async fn checkpoints(store: &PgStore) -> Result<Vec<AuditCheckpoint>> {
    sqlx::query_as!(
        AuditCheckpoint,
        "SELECT seq, hash, key_id, mac, at FROM audit_checkpoints ORDER BY seq"
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)
}
