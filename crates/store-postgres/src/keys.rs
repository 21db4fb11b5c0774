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

/// The backfill's batches: values of `column` not sealed yet, after the cursor.
pub(crate) async fn unsealed(
    store: &PgStore,
    column: plansmith_store::keys::SealedColumn,
    (after, after_revision): (uuid::Uuid, i64),
    limit: u32,
) -> Result<Vec<plansmith_store::keys::ColumnValue>> {
    use plansmith_store::keys::SealedColumn::*;
    let sql = match column {
        SessionTitle => {
            "SELECT id, 0::BIGINT, user_id, title FROM planning_sessions
             WHERE (id > $1 OR (id = $1 AND 0 > $2)) AND title NOT LIKE 'pse1.%' AND title <> ''
             ORDER BY id LIMIT $3"
        }
        SessionIdea => {
            "SELECT id, 0::BIGINT, user_id, idea FROM planning_sessions
             WHERE (id > $1 OR (id = $1 AND 0 > $2)) AND idea NOT LIKE 'pse1.%' AND idea <> ''
             ORDER BY id LIMIT $3"
        }
        MessageContent => {
            "SELECT m.id, 0::BIGINT, s.user_id, m.content FROM messages m JOIN planning_sessions s ON s.id = m.session_id
             WHERE (m.id > $1 OR (m.id = $1 AND 0 > $2)) AND m.content NOT LIKE 'pse1.%' AND m.content <> ''
             ORDER BY m.id LIMIT $3"
        }
        MessageEvents => {
            "SELECT m.id, 0::BIGINT, s.user_id, m.events FROM messages m JOIN planning_sessions s ON s.id = m.session_id
             WHERE (m.id > $1 OR (m.id = $1 AND 0 > $2)) AND m.events IS NOT NULL
               AND m.events NOT LIKE 'pse1.%' AND m.events <> ''
             ORDER BY m.id LIMIT $3"
        }
        RevisionContent => {
            "SELECT r.document_id, r.revision::BIGINT, s.user_id, r.content FROM document_revisions r
             JOIN documents d ON d.id = r.document_id JOIN planning_sessions s ON s.id = d.session_id
             WHERE (r.document_id > $1 OR (r.document_id = $1 AND r.revision > $2))
             ORDER BY r.document_id, r.revision LIMIT $3"
        }
    };
    let rows: Vec<(uuid::Uuid, i64, uuid::Uuid, String)> = sqlx::query_as(sql)
        .bind(after)
        .bind(after_revision)
        .bind(i64::from(limit))
        .fetch_all(&mut *store.conn().await?)
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

pub(crate) async fn replace(
    store: &PgStore,
    column: plansmith_store::keys::SealedColumn,
    (key, revision): (uuid::Uuid, i64),
    old: &str,
    new: &str,
) -> Result<bool> {
    use plansmith_store::keys::SealedColumn::*;
    let mut conn = store.conn().await?;
    let done = match column {
        SessionTitle => {
            sqlx::query!(
                "UPDATE planning_sessions SET title = $3 WHERE id = $1 AND title = $2",
                key,
                old,
                new
            )
            .execute(&mut *conn)
            .await
        }
        SessionIdea => {
            sqlx::query!(
                "UPDATE planning_sessions SET idea = $3 WHERE id = $1 AND idea = $2",
                key,
                old,
                new
            )
            .execute(&mut *conn)
            .await
        }
        MessageContent => {
            sqlx::query!(
                "UPDATE messages SET content = $3 WHERE id = $1 AND content = $2",
                key,
                old,
                new
            )
            .execute(&mut *conn)
            .await
        }
        MessageEvents => {
            sqlx::query!(
                "UPDATE messages SET events = $3 WHERE id = $1 AND events = $2",
                key,
                old,
                new
            )
            .execute(&mut *conn)
            .await
        }
        RevisionContent => {
            let hash = plansmith_domain::content_hash(new);
            sqlx::query!(
                "UPDATE document_revisions SET content = $4, content_hash = $5
                 WHERE document_id = $1 AND revision = $2 AND content = $3",
                key,
                revision,
                old,
                new,
                hash
            )
            .execute(&mut *conn)
            .await
        }
    };
    Ok(done.map_err(db_err)?.rows_affected() > 0)
}
