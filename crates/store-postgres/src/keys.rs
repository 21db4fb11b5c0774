//! Data keys and owners on PostgreSQL.

use crate::{PgStore, db_err};
use plansmith_domain::UserId;
use plansmith_store::Result;
use plansmith_store::keys::{Owned, StoredDataKey};

macro_rules! key_rows {
    ($query:expr) => {
        $query.map(|r| StoredDataKey {
            id: r.id,
            user_id: UserId(r.user_id),
            kek_id: r.kek_id,
            wrapped: r.wrapped,
            created_at: r.created_at,
        })
    };
}

pub(crate) async fn of_user(store: &PgStore, user: UserId) -> Result<Option<StoredDataKey>> {
    key_rows!(sqlx::query!(
        "SELECT id, user_id, kek_id, wrapped, created_at FROM data_keys WHERE user_id = $1",
        user.0
    ))
    .fetch_optional(&mut *store.conn().await?)
    .await
    .map_err(db_err)
}

pub(crate) async fn by_id(store: &PgStore, id: &str) -> Result<Option<StoredDataKey>> {
    key_rows!(sqlx::query!(
        "SELECT id, user_id, kek_id, wrapped, created_at FROM data_keys WHERE id = $1",
        id
    ))
    .fetch_optional(&mut *store.conn().await?)
    .await
    .map_err(db_err)
}

pub(crate) async fn create(store: &PgStore, key: StoredDataKey) -> Result<StoredDataKey> {
    sqlx::query!(
        "INSERT INTO data_keys (id, user_id, kek_id, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id) DO NOTHING",
        key.id,
        key.user_id.0,
        key.kek_id,
        key.wrapped,
        key.created_at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    of_user(store, key.user_id)
        .await?
        .ok_or(plansmith_store::StoreError::NotFound)
}

pub(crate) async fn to_rewrap(store: &PgStore, current: &str, limit: u32) -> Result<Vec<StoredDataKey>> {
    key_rows!(sqlx::query!(
        "SELECT id, user_id, kek_id, wrapped, created_at FROM data_keys WHERE kek_id <> $1 ORDER BY id LIMIT $2",
        current,
        i64::from(limit)
    ))
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)
}

pub(crate) async fn rewrap(store: &PgStore, id: &str, from: &str, to: &str, wrapped: &str) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE data_keys SET kek_id = $3, wrapped = $4 WHERE id = $1 AND kek_id = $2",
        id,
        from,
        to,
        wrapped
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn samples(store: &PgStore) -> Result<Vec<StoredDataKey>> {
    key_rows!(sqlx::query!(
        "SELECT DISTINCT ON (kek_id) id, user_id, kek_id, wrapped, created_at FROM data_keys ORDER BY kek_id, id"
    ))
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)
}

pub(crate) async fn owner_of(store: &PgStore, object: Owned) -> Result<Option<UserId>> {
    let mut conn = store.conn().await?;
    let owner = match object {
        Owned::Session(id) => {
            sqlx::query_scalar!("SELECT user_id FROM planning_sessions WHERE id = $1", id.0)
                .fetch_optional(&mut *conn)
                .await
        }
        Owned::Message(id) => {
            sqlx::query_scalar!(
                "SELECT s.user_id FROM messages m JOIN planning_sessions s ON s.id = m.session_id WHERE m.id = $1",
                id.0
            )
            .fetch_optional(&mut *conn)
            .await
        }
        Owned::Document(id) => {
            sqlx::query_scalar!(
                "SELECT s.user_id FROM documents d JOIN planning_sessions s ON s.id = d.session_id WHERE d.id = $1",
                id.0
            )
            .fetch_optional(&mut *conn)
            .await
        }
    };
    Ok(owner.map_err(db_err)?.map(UserId))
}
