//! Data keys and owners on SQLite.

use crate::db_err;
use crate::write::{change, stamp};
use chrono::{DateTime, Utc};
use plansmith_domain::UserId;
use plansmith_store::Result;
use plansmith_store::keys::{Owned, StoredDataKey};
use rusqlite::{Connection, params};
use sqlx::SqlitePool;
use uuid::Uuid;

struct Row {
    id: String,
    user_id: Uuid,
    kek_id: String,
    wrapped: String,
    created_at: DateTime<Utc>,
}

impl From<Row> for StoredDataKey {
    fn from(r: Row) -> Self {
        StoredDataKey {
            id: r.id,
            user_id: UserId(r.user_id),
            kek_id: r.kek_id,
            wrapped: r.wrapped,
            created_at: r.created_at,
        }
    }
}

pub(crate) fn create(conn: &Connection, key: &StoredDataKey) -> Result<()> {
    change(
        conn,
        crate::sql::DATA_KEY_CREATE,
        params![key.id, key.user_id.0, key.kek_id, key.wrapped, stamp(key.created_at)],
    )
    .map(drop)
}

pub(crate) fn rewrap(conn: &Connection, id: &str, from: &str, to: &str, wrapped: &str) -> Result<bool> {
    Ok(change(conn, crate::sql::DATA_KEY_REWRAP, params![id, from, to, wrapped])? > 0)
}

pub(crate) async fn of_user(pool: &SqlitePool, user: UserId) -> Result<Option<StoredDataKey>> {
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT id AS "id!", user_id AS "user_id!: Uuid", kek_id, wrapped, created_at AS "created_at: DateTime<Utc>"
           FROM data_keys WHERE user_id = ?1"#,
        user.0
    )
    .fetch_optional(pool)
    .await
    .map_err(db_err)?
    .map(Into::into))
}

pub(crate) async fn by_id(pool: &SqlitePool, id: &str) -> Result<Option<StoredDataKey>> {
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT id AS "id!", user_id AS "user_id!: Uuid", kek_id, wrapped, created_at AS "created_at: DateTime<Utc>"
           FROM data_keys WHERE id = ?1"#,
        id
    )
    .fetch_optional(pool)
    .await
    .map_err(db_err)?
    .map(Into::into))
}

pub(crate) async fn to_rewrap(pool: &SqlitePool, current: &str, limit: u32) -> Result<Vec<StoredDataKey>> {
    let limit = i64::from(limit);
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT id AS "id!", user_id AS "user_id!: Uuid", kek_id, wrapped, created_at AS "created_at: DateTime<Utc>"
           FROM data_keys WHERE kek_id <> ?1 ORDER BY id LIMIT ?2"#,
        current,
        limit
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(Into::into)
    .collect())
}

pub(crate) async fn samples(pool: &SqlitePool) -> Result<Vec<StoredDataKey>> {
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT id AS "id!", user_id AS "user_id!: Uuid", kek_id, wrapped, created_at AS "created_at: DateTime<Utc>"
           FROM data_keys WHERE id IN (SELECT MIN(id) FROM data_keys GROUP BY kek_id) ORDER BY kek_id"#
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(Into::into)
    .collect())
}

pub(crate) async fn owner_of(pool: &SqlitePool, object: Owned) -> Result<Option<UserId>> {
    let owner = match object {
        Owned::Session(id) => {
            sqlx::query_scalar!(
                r#"SELECT user_id AS "user_id!: Uuid" FROM planning_sessions WHERE id = ?1"#,
                id.0
            )
            .fetch_optional(pool)
            .await
        }
        Owned::Message(id) => {
            sqlx::query_scalar!(
                r#"SELECT s.user_id AS "user_id!: Uuid" FROM messages m
                   JOIN planning_sessions s ON s.id = m.session_id WHERE m.id = ?1"#,
                id.0
            )
            .fetch_optional(pool)
            .await
        }
        Owned::Document(id) => {
            sqlx::query_scalar!(
                r#"SELECT s.user_id AS "user_id!: Uuid" FROM documents d
                   JOIN planning_sessions s ON s.id = d.session_id WHERE d.id = ?1"#,
                id.0
            )
            .fetch_optional(pool)
            .await
        }
    };
    Ok(owner.map_err(db_err)?.map(UserId))
}

/// The backfill's batches: values of `column` not sealed yet, after the cursor.
pub(crate) async fn unsealed(
    pool: &SqlitePool,
    column: plansmith_store::keys::SealedColumn,
    (after, after_revision): (Uuid, i64),
    limit: u32,
) -> Result<Vec<plansmith_store::keys::ColumnValue>> {
    use plansmith_store::keys::SealedColumn::*;
    let sql = match column {
        SessionTitle => {
            "SELECT id, 0, user_id, title FROM planning_sessions
             WHERE (id > ?1 OR (id = ?1 AND 0 > ?2)) AND substr(title, 1, 5) <> 'pse1.' AND title <> ''
             ORDER BY id LIMIT ?3"
        }
        SessionIdea => {
            "SELECT id, 0, user_id, idea FROM planning_sessions
             WHERE (id > ?1 OR (id = ?1 AND 0 > ?2)) AND substr(idea, 1, 5) <> 'pse1.' AND idea <> ''
             ORDER BY id LIMIT ?3"
        }
        MessageContent => {
            "SELECT m.id, 0, s.user_id, m.content FROM messages m JOIN planning_sessions s ON s.id = m.session_id
             WHERE (m.id > ?1 OR (m.id = ?1 AND 0 > ?2)) AND substr(m.content, 1, 5) <> 'pse1.' AND m.content <> ''
             ORDER BY m.id LIMIT ?3"
        }
        MessageEvents => {
            "SELECT m.id, 0, s.user_id, m.events FROM messages m JOIN planning_sessions s ON s.id = m.session_id
             WHERE (m.id > ?1 OR (m.id = ?1 AND 0 > ?2)) AND m.events IS NOT NULL
               AND substr(m.events, 1, 5) <> 'pse1.' AND m.events <> ''
             ORDER BY m.id LIMIT ?3"
        }
        RevisionContent => {
            "SELECT r.document_id, r.revision, s.user_id, r.content FROM document_revisions r
             JOIN documents d ON d.id = r.document_id JOIN planning_sessions s ON s.id = d.session_id
             WHERE (r.document_id > ?1 OR (r.document_id = ?1 AND r.revision > ?2))
             ORDER BY r.document_id, r.revision LIMIT ?3"
        }
    };
    let rows: Vec<(Uuid, i64, Uuid, String)> = sqlx::query_as(sql)
        .bind(after)
        .bind(after_revision)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|(key, revision, owner, value)| plansmith_store::keys::ColumnValue {
            key,
            revision,
            owner: UserId(owner),
            value,
        })
        .collect())
}

pub(crate) fn replace(
    conn: &Connection,
    column: plansmith_store::keys::SealedColumn,
    (key, revision): (Uuid, i64),
    old: &str,
    new: &str,
) -> Result<bool> {
    use plansmith_store::keys::SealedColumn::*;
    let sql = match column {
        SessionTitle => crate::sql::BACKFILL_SESSION_TITLE,
        SessionIdea => crate::sql::BACKFILL_SESSION_IDEA,
        MessageContent => crate::sql::BACKFILL_MESSAGE_CONTENT,
        MessageEvents => crate::sql::BACKFILL_MESSAGE_EVENTS,
        RevisionContent => {
            let hash = plansmith_domain::content_hash(new);
            return Ok(change(
                conn,
                crate::sql::BACKFILL_REVISION,
                params![key, revision, old, new, hash],
            )? > 0);
        }
    };
    Ok(change(conn, sql, params![key, old, new])? > 0)
}
