//! What the server's metrics and error tracking read and write: activity counts for the
//! business gauges, and error groups.

use crate::{PgStore, db_err};
use chrono::{DateTime, Duration, Utc};
use plansmith_domain::UserId;
use plansmith_store::{ActivityCounts, ErrorGroup, NewErrorEvent, Result, StoredClientKey};

pub(crate) async fn activity_counts(store: &PgStore, now: DateTime<Utc>) -> Result<ActivityCounts> {
    let row = sqlx::query!(
        "SELECT (SELECT COUNT(*) FROM users) AS \"users!\",
             (SELECT COUNT(*) FROM users WHERE plan IN ('pro', 'team')) AS \"paying!\",
             COUNT(DISTINCT user_id) FILTER (WHERE updated_at >= $1) AS \"active_1d!\",
             COUNT(DISTINCT user_id) FILTER (WHERE updated_at >= $2) AS \"active_7d!\",
             COUNT(DISTINCT user_id) FILTER (WHERE updated_at >= $3) AS \"active_30d!\",
             COUNT(*) FILTER (WHERE status = 'active') AS \"in_progress!\"
         FROM planning_sessions",
        now - Duration::days(1),
        now - Duration::days(7),
        now - Duration::days(30),
    )
    .fetch_one(&mut *store.conn().await?)
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

pub(crate) async fn record_error(store: &PgStore, e: NewErrorEvent) -> Result<i64> {
    let count = sqlx::query_scalar!(
        "INSERT INTO error_groups (fingerprint, kind, title, detail, count, first_seen, last_seen,
             sample_request_id, sample_user_id, release)
         VALUES ($1, $2, $3, $4, 1, $5, $5, $6, $7, $8)
         ON CONFLICT (fingerprint) DO UPDATE SET
             count = error_groups.count + 1,
             detail = EXCLUDED.detail,
             last_seen = GREATEST(error_groups.last_seen, EXCLUDED.last_seen),
             sample_request_id = EXCLUDED.sample_request_id,
             sample_user_id = EXCLUDED.sample_user_id,
             release = EXCLUDED.release
         RETURNING count",
        e.fingerprint,
        e.kind,
        e.title,
        e.detail,
        e.at,
        e.request_id,
        e.user_id.map(|u| u.0),
        e.release,
    )
    .fetch_one(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(count)
}

pub(crate) async fn list_error_groups(store: &PgStore, limit: u32) -> Result<Vec<ErrorGroup>> {
    let rows = sqlx::query!(
        "SELECT fingerprint, kind, title, detail, count, first_seen, last_seen, sample_request_id,
             sample_user_id, release
         FROM error_groups ORDER BY last_seen DESC, fingerprint LIMIT $1",
        i64::from(limit)
    )
    .fetch_all(&mut *store.conn().await?)
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

pub(crate) async fn list_flags(store: &PgStore) -> Result<Vec<plansmith_store::StoredFlag>> {
    let rows = sqlx::query!("SELECT key, definition, updated_at, updated_by FROM feature_flags ORDER BY key")
        .fetch_all(&mut *store.conn().await?)
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

pub(crate) async fn put_flag(store: &PgStore, flag: plansmith_store::StoredFlag) -> Result<()> {
    sqlx::query!(
        "INSERT INTO feature_flags (key, definition, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET definition = EXCLUDED.definition,
             updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by",
        flag.key,
        flag.definition,
        flag.updated_at,
        flag.updated_by.map(|u| u.0)
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn delete_flag(store: &PgStore, key: &str) -> Result<bool> {
    let done = sqlx::query!("DELETE FROM feature_flags WHERE key = $1", key)
        .execute(&mut *store.conn().await?)
        .await
        .map_err(db_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn create_client_key(store: &PgStore, key: StoredClientKey) -> Result<()> {
    sqlx::query!(
        "INSERT INTO flag_client_keys (id, name, key_hash, created_at, created_by, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        key.id,
        key.name,
        key.key_hash,
        key.created_at,
        key.created_by.map(|u| u.0),
        key.revoked_at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Every key, newest first; with `key_hash`, only the unrevoked key with that hash.
pub(crate) async fn list_client_keys(store: &PgStore, key_hash: Option<&str>) -> Result<Vec<StoredClientKey>> {
    let rows = sqlx::query!(
        "SELECT id, name, key_hash, created_at, created_by, revoked_at FROM flag_client_keys
         WHERE $1::TEXT IS NULL OR (key_hash = $1 AND revoked_at IS NULL)
         ORDER BY created_at DESC, id",
        key_hash
    )
    .fetch_all(&mut *store.conn().await?)
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

pub(crate) async fn revoke_client_key(store: &PgStore, id: uuid::Uuid, at: DateTime<Utc>) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE flag_client_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        id,
        at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn list_consents(store: &PgStore, user: UserId) -> Result<Vec<plansmith_store::Consent>> {
    let rows = sqlx::query!(
        "SELECT id, user_id, kind, version, given_at, withdrawn_at FROM consents
         WHERE user_id = $1 ORDER BY given_at, id",
        user.0
    )
    .fetch_all(&mut *store.conn().await?)
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

pub(crate) async fn give_consent(store: &PgStore, c: plansmith_store::Consent) -> Result<()> {
    sqlx::query!(
        "INSERT INTO consents (id, user_id, kind, version, given_at, withdrawn_at) VALUES ($1, $2, $3, $4, $5, $6)",
        c.id,
        c.user_id.0,
        c.kind,
        c.version,
        c.given_at,
        c.withdrawn_at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn withdraw_consent(store: &PgStore, user: UserId, kind: &str, at: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query!(
        "UPDATE consents SET withdrawn_at = $3 WHERE user_id = $1 AND kind = $2 AND withdrawn_at IS NULL",
        user.0,
        kind,
        at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected())
}

pub(crate) async fn apply_retention(
    store: &PgStore,
    r: &plansmith_store::Retention,
) -> Result<plansmith_store::RetentionReport> {
    let mut report = plansmith_store::RetentionReport::default();
    let mut tx = store.begin().await?;
    if let Some(before) = r.llm_calls_before {
        sqlx::query!(
            "INSERT INTO erased_usage (month, provider, model, calls, input_tokens, output_tokens, cost_micros)
             SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), provider, model, COUNT(*),
                 SUM(input_tokens)::BIGINT, SUM(output_tokens)::BIGINT, SUM(cost_micros)::BIGINT
             FROM llm_calls WHERE created_at < $1 GROUP BY 1, 2, 3
             ON CONFLICT (month, provider, model) DO UPDATE SET
                 calls = erased_usage.calls + EXCLUDED.calls,
                 input_tokens = erased_usage.input_tokens + EXCLUDED.input_tokens,
                 output_tokens = erased_usage.output_tokens + EXCLUDED.output_tokens,
                 cost_micros = erased_usage.cost_micros + EXCLUDED.cost_micros",
            before
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        report.llm_calls = sqlx::query!("DELETE FROM llm_calls WHERE created_at < $1", before)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
    }
    if let Some(before) = r.security_events_before {
        report.security_events = sqlx::query!("DELETE FROM security_events WHERE at < $1", before)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
    }
    if let Some(before) = r.abandon_idle_before {
        report.sessions_abandoned = sqlx::query!(
            "UPDATE planning_sessions SET status = 'abandoned', updated_at = now()
             WHERE status = 'active' AND updated_at < $1",
            before
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    }
    if let Some(before) = r.delete_abandoned_before {
        report.sessions_deleted = sqlx::query!(
            "DELETE FROM planning_sessions WHERE status = 'abandoned' AND updated_at < $1",
            before
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    }
    tx.commit().await.map_err(db_err)?;
    Ok(report)
}
