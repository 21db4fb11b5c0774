//! The reads of accounts: users as admins see them, the owner of a token, a user's sign-ins
//! and the security event log. (Their writes are in `write.rs`, run by the writer.)

use crate::db_err;
use chrono::{DateTime, Utc};
use plansmith_domain::UserId;
use plansmith_store::rows::{SecurityEventRow, SignInRow, TokenOwnerRow, UserRow};
use plansmith_store::{Result, SecurityEvent, SecurityEventQuery, SignIn, TokenLife, User};
use sqlx::SqlitePool;
use uuid::Uuid;

pub(crate) async fn user_by_id(pool: &SqlitePool, id: UserId) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as!(
        UserRow,
        r#"SELECT id AS "id: Uuid", email, name, password_hash, role, plan, plan_override,
                  disabled AS "disabled: bool", created_at AS "created_at: DateTime<Utc>"
           FROM users
           WHERE id = ?"#,
        id.0
    )
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(TryInto::try_into).transpose()
}

pub(crate) async fn list_users(pool: &SqlitePool, before: Option<UserId>, limit: u32) -> Result<Vec<User>> {
    let before = before.map(|b| b.0);
    let rows: Vec<UserRow> = sqlx::query_as!(
        UserRow,
        r#"SELECT id AS "id: Uuid", email, name, password_hash, role, plan, plan_override,
                  disabled AS "disabled: bool", created_at AS "created_at: DateTime<Utc>"
           FROM users
           WHERE (? IS NULL OR id < ?)
           ORDER BY id DESC
           LIMIT ?"#,
        before,
        before,
        i64::from(limit)
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// The owner of a working token, its sign-in and when it was last used.
pub(crate) async fn token_owner(
    pool: &SqlitePool,
    token_hash: &[u8],
    life: TokenLife,
) -> Result<Option<TokenOwnerRow>> {
    let idle_cutoff = life.idle_cutoff();
    sqlx::query_as!(
        TokenOwnerRow,
        r#"SELECT u.id AS "id: Uuid", u.email, u.name, u.password_hash, u.role, u.plan, u.plan_override,
                  u.disabled AS "disabled: bool", u.created_at AS "created_at: DateTime<Utc>",
                  t.id AS "sign_in: Uuid", t.last_used_at AS "last_used_at: DateTime<Utc>"
           FROM auth_tokens t
           JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = ? AND t.expires_at > ? AND t.last_used_at > ? AND NOT u.disabled"#,
        token_hash,
        life.now,
        idle_cutoff
    )
    .fetch_optional(pool)
    .await
    .map_err(db_err)
}

pub(crate) async fn list_sign_ins(pool: &SqlitePool, user: UserId, life: TokenLife) -> Result<Vec<SignIn>> {
    let idle_cutoff = life.idle_cutoff();
    let rows: Vec<SignInRow> = sqlx::query_as!(
        SignInRow,
        r#"SELECT id AS "id: Uuid", user_id AS "user_id: Uuid", created_at AS "created_at: DateTime<Utc>",
                  last_used_at AS "last_used_at: DateTime<Utc>", expires_at AS "expires_at: DateTime<Utc>",
                  address, user_agent
           FROM auth_tokens
           WHERE user_id = ? AND expires_at > ? AND last_used_at > ?
           ORDER BY created_at DESC, id DESC"#,
        user.0,
        life.now,
        idle_cutoff
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn security_events(pool: &SqlitePool, query: &SecurityEventQuery) -> Result<Vec<SecurityEvent>> {
    let user = query.user_id.map(|u| u.0);
    let rows: Vec<SecurityEventRow> = sqlx::query_as!(
        SecurityEventRow,
        r#"SELECT id AS "id: Uuid", at AS "at: DateTime<Utc>", kind, user_id AS "user_id: Uuid", address,
                  request_id, outcome, detail
           FROM security_events
           WHERE (?1 IS NULL OR user_id = ?1)
             AND (?2 IS NULL OR kind = ?2)
             AND (?3 IS NULL OR at >= ?3)
             AND (?4 IS NULL OR at < ?4)
             AND (?5 IS NULL OR id < ?5)
           ORDER BY id DESC
           LIMIT ?6"#,
        user,
        query.kind,
        query.from,
        query.to,
        query.before,
        i64::from(query.limit)
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    Ok(rows.into_iter().map(Into::into).collect())
}
