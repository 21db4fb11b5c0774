//! What the server's metrics and error tracking read and write: activity counts for the
//! business gauges (through the reader pool), and error groups (written by the writer).

use crate::db_err;
use crate::write::stamp;
use crate::writer::sql_err;
use chrono::{DateTime, Duration, Utc};
use plansmith_domain::UserId;
use plansmith_store::{ActivityCounts, ErrorGroup, NewErrorEvent, Result, StoredClientKey};
use rusqlite::{Connection, params};
use sqlx::SqlitePool;
use uuid::Uuid;

pub(crate) async fn activity_counts(pool: &SqlitePool, now: DateTime<Utc>) -> Result<ActivityCounts> {
    let (day, week, month) = (
        now - Duration::days(1),
        now - Duration::days(7),
        now - Duration::days(30),
    );
    let row = sqlx::query!(
        r#"SELECT (SELECT COUNT(*) FROM users) AS "users!: i64",
               (SELECT COUNT(*) FROM users WHERE plan IN ('pro', 'team')) AS "paying!: i64",
               COUNT(DISTINCT CASE WHEN updated_at >= ?1 THEN user_id END) AS "active_1d!: i64",
               COUNT(DISTINCT CASE WHEN updated_at >= ?2 THEN user_id END) AS "active_7d!: i64",
               COUNT(DISTINCT CASE WHEN updated_at >= ?3 THEN user_id END) AS "active_30d!: i64",
               COALESCE(SUM(status = 'active'), 0) AS "in_progress!: i64"
           FROM planning_sessions"#,
        day,
        week,
        month,
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    Ok(ActivityCounts {
        users: row.users,
        paying_users: row.paying,
        active_1d: row.active_1d,
        active_7d: row.active_7d,
        active_30d: row.active_30d,
        sessions_in_progress: row.in_progress,
    })
}

pub(crate) fn record_error(conn: &Connection, e: &NewErrorEvent) -> Result<i64> {
    conn.prepare_cached(crate::sql::RECORD_ERROR)
        .and_then(|mut s| {
            s.query_row(
                params![
                    e.fingerprint,
                    e.kind,
                    e.title,
                    e.detail,
                    stamp(e.at),
                    e.request_id,
                    e.user_id.map(|u| u.0),
                    e.release
                ],
                |row| row.get(0),
            )
        })
        .map_err(sql_err)
}

pub(crate) async fn list_error_groups(pool: &SqlitePool, limit: u32) -> Result<Vec<ErrorGroup>> {
    let rows = sqlx::query!(
        r#"SELECT fingerprint AS "fingerprint!", kind, title, detail, count,
               first_seen AS "first_seen: DateTime<Utc>", last_seen AS "last_seen: DateTime<Utc>",
               sample_request_id, sample_user_id AS "sample_user_id: Uuid", release
           FROM error_groups ORDER BY last_seen DESC, fingerprint LIMIT ?"#,
        limit
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|r| ErrorGroup {
            fingerprint: r.fingerprint,
            kind: r.kind,
            title: r.title,
            detail: r.detail,
            count: r.count,
            first_seen: r.first_seen,
            last_seen: r.last_seen,
            sample_request_id: r.sample_request_id,
            sample_user_id: r.sample_user_id.map(UserId),
            release: r.release,
        })
        .collect())
}

pub(crate) async fn list_flags(pool: &SqlitePool) -> Result<Vec<plansmith_store::StoredFlag>> {
    let rows = sqlx::query!(
        r#"SELECT key AS "key!", definition, updated_at AS "updated_at: DateTime<Utc>",
               updated_by AS "updated_by: Uuid"
           FROM feature_flags ORDER BY key"#
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|r| plansmith_store::StoredFlag {
            key: r.key,
            definition: r.definition,
            updated_at: r.updated_at,
            updated_by: r.updated_by.map(UserId),
        })
        .collect())
}

pub(crate) fn put_flag(conn: &Connection, flag: &plansmith_store::StoredFlag) -> Result<()> {
    conn.prepare_cached(crate::sql::PUT_FLAG)
        .and_then(|mut s| {
            s.execute(params![
                flag.key,
                flag.definition,
                stamp(flag.updated_at),
                flag.updated_by.map(|u| u.0)
            ])
        })
        .map_err(sql_err)?;
    Ok(())
}

pub(crate) fn delete_flag(conn: &Connection, key: &str) -> Result<bool> {
    conn.prepare_cached(crate::sql::DELETE_FLAG)
        .and_then(|mut s| s.execute(params![key]))
        .map(|n| n > 0)
        .map_err(sql_err)
}

pub(crate) fn create_client_key(conn: &Connection, key: &StoredClientKey) -> Result<()> {
    conn.prepare_cached(crate::sql::CREATE_CLIENT_KEY)
        .and_then(|mut s| {
            s.execute(params![
                key.id,
                key.name,
                key.key_hash,
                stamp(key.created_at),
                key.created_by.map(|u| u.0),
                key.revoked_at.map(stamp)
            ])
        })
        .map_err(sql_err)?;
    Ok(())
}

/// Every key, newest first; with `key_hash`, only the unrevoked key with that hash.
pub(crate) async fn list_client_keys(pool: &SqlitePool, key_hash: Option<&str>) -> Result<Vec<StoredClientKey>> {
    let rows = sqlx::query!(
        r#"SELECT id AS "id!: Uuid", name, key_hash, created_at AS "created_at: DateTime<Utc>",
               created_by AS "created_by: Uuid", revoked_at AS "revoked_at: DateTime<Utc>"
           FROM flag_client_keys
           WHERE ?1 IS NULL OR (key_hash = ?1 AND revoked_at IS NULL)
           ORDER BY created_at DESC, id"#,
        key_hash
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|r| StoredClientKey {
            id: r.id,
            name: r.name,
            key_hash: r.key_hash,
            created_at: r.created_at,
            created_by: r.created_by.map(UserId),
            revoked_at: r.revoked_at,
        })
        .collect())
}

pub(crate) fn revoke_client_key(conn: &Connection, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
    conn.prepare_cached(crate::sql::REVOKE_CLIENT_KEY)
        .and_then(|mut s| s.execute(params![id, stamp(at)]))
        .map(|n| n > 0)
        .map_err(sql_err)
}

pub(crate) async fn list_consents(pool: &SqlitePool, user: UserId) -> Result<Vec<plansmith_store::Consent>> {
    let rows = sqlx::query!(
        r#"SELECT id AS "id!: Uuid", user_id AS "user_id!: Uuid", kind, version,
               given_at AS "given_at: DateTime<Utc>", withdrawn_at AS "withdrawn_at: DateTime<Utc>"
           FROM consents WHERE user_id = ?1 ORDER BY given_at, id"#,
        user.0
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|r| plansmith_store::Consent {
            id: r.id,
            user_id: UserId(r.user_id),
            kind: r.kind,
            version: r.version,
            given_at: r.given_at,
            withdrawn_at: r.withdrawn_at,
        })
        .collect())
}
