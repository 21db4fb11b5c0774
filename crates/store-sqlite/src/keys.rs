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
