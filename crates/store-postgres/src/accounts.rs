//! Accounts: users as admins see and change them, sign-ins (tokens) with their last use, and
//! the security event log.

use crate::{PgStore, db_err};
use chrono::{SubsecRound, Utc};
use plansmith_domain::{SignInId, UserId};
use plansmith_store::rows::{SecurityEventRow, SignInRow, TokenOwnerRow, UserRow};
use plansmith_store::{
    NewSecurityEvent, NewSignIn, Result, SecurityEvent, SecurityEventQuery, SignIn, StoreError, TokenLife, TokenOwner,
    User, UserUpdate,
};
use uuid::Uuid;

pub(crate) async fn user_by_id(store: &PgStore, id: UserId) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as!(
        UserRow,
        "SELECT id, email, name, password_hash, role, plan, plan_override, disabled, created_at
         FROM users WHERE id = $1",
        id.0
    )
    .fetch_optional(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    row.map(TryInto::try_into).transpose()
}

pub(crate) async fn list_users(store: &PgStore, before: Option<UserId>, limit: u32) -> Result<Vec<User>> {
    let rows: Vec<UserRow> = sqlx::query_as!(
        UserRow,
        "SELECT id, email, name, password_hash, role, plan, plan_override, disabled, created_at
         FROM users
         WHERE ($1::uuid IS NULL OR id < $1)
         ORDER BY id DESC
         LIMIT $2",
        before.map(|b| b.0),
        i64::from(limit)
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    rows.into_iter().map(TryInto::try_into).collect()
}

pub(crate) async fn update_user(store: &PgStore, id: UserId, update: UserUpdate) -> Result<Option<User>> {
    let mut tx = store.begin().await?;
    let row: Option<UserRow> = sqlx::query_as!(
        UserRow,
        "UPDATE users
         SET role = COALESCE($2, role),
             plan_override = CASE WHEN $3 THEN $4 ELSE plan_override END,
             disabled = COALESCE($5, disabled)
         WHERE id = $1
         RETURNING id, email, name, password_hash, role, plan, plan_override, disabled, created_at",
        id.0,
        update.role.map(|r| r.as_str()),
        update.plan_override.is_some(),
        update.plan_override.flatten().map(|p| p.as_str()),
        update.disabled
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_err)?;
    if row.is_some() && update.disabled == Some(true) {
        sqlx::query!("DELETE FROM auth_tokens WHERE user_id = $1", id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    row.map(TryInto::try_into).transpose()
}

pub(crate) async fn set_password(
    store: &PgStore,
    user: UserId,
    password_hash: &str,
    keep: Option<SignInId>,
) -> Result<u64> {
    let mut tx = store.begin().await?;
    let changed = sqlx::query!(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        user.0,
        password_hash
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    if changed.rows_affected() != 1 {
        return Err(StoreError::NotFound);
    }
    let revoked = sqlx::query!(
        "DELETE FROM auth_tokens WHERE user_id = $1 AND ($2::uuid IS NULL OR id <> $2)",
        user.0,
        keep.map(|k| k.0)
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(revoked.rows_affected())
}

pub(crate) async fn create_auth_token(store: &PgStore, new: NewSignIn) -> Result<SignInId> {
    let id = SignInId::new();
    sqlx::query!(
        "INSERT INTO auth_tokens (token_hash, id, user_id, created_at, expires_at, last_used_at, address, user_agent)
         VALUES ($1, $2, $3, $4, $5, $4, $6, $7)",
        &new.token_hash,
        id.0,
        new.user_id.0,
        Utc::now(),
        new.expires_at,
        new.address.as_deref(),
        new.user_agent.as_deref()
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(id)
}

pub(crate) async fn user_by_token(store: &PgStore, token_hash: &[u8], life: TokenLife) -> Result<Option<TokenOwner>> {
    let mut conn = store.conn().await?;
    let row: Option<TokenOwnerRow> = sqlx::query_as!(
        TokenOwnerRow,
        r#"SELECT u.id, u.email, u.name, u.password_hash, u.role, u.plan, u.plan_override, u.disabled,
                  u.created_at, t.id AS "sign_in!", t.last_used_at AS "last_used_at!"
           FROM auth_tokens t
           JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = $1 AND t.expires_at > $2 AND t.last_used_at > $3 AND NOT u.disabled"#,
        token_hash,
        life.now,
        life.idle_cutoff()
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    let Some(row) = row else { return Ok(None) };
    let (user, sign_in, last_used_at) = row.split()?;
    let stale = life.now - life.touch_every();
    if last_used_at < stale {
        // Guarded by the same condition, so concurrent requests of one token write once.
        sqlx::query!(
            "UPDATE auth_tokens SET last_used_at = $2 WHERE token_hash = $1 AND last_used_at < $3",
            token_hash,
            life.now,
            stale
        )
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(Some(TokenOwner { user, sign_in }))
}

pub(crate) async fn list_sign_ins(store: &PgStore, user: UserId, life: TokenLife) -> Result<Vec<SignIn>> {
    let rows: Vec<SignInRow> = sqlx::query_as!(
        SignInRow,
        "SELECT id, user_id, created_at, last_used_at, expires_at, address, user_agent
         FROM auth_tokens
         WHERE user_id = $1 AND expires_at > $2 AND last_used_at > $3
         ORDER BY created_at DESC, id DESC",
        user.0,
        life.now,
        life.idle_cutoff()
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn revoke_sign_in(store: &PgStore, user: UserId, id: SignInId) -> Result<bool> {
    let done = sqlx::query!("DELETE FROM auth_tokens WHERE user_id = $1 AND id = $2", user.0, id.0)
        .execute(&mut *store.conn().await?)
        .await
        .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn revoke_sign_ins(store: &PgStore, user: UserId, keep: Option<SignInId>) -> Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM auth_tokens WHERE user_id = $1 AND ($2::uuid IS NULL OR id <> $2)",
        user.0,
        keep.map(|k| k.0)
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected())
}

pub(crate) async fn purge_auth_tokens(store: &PgStore, life: TokenLife) -> Result<u64> {
    let done = sqlx::query!(
        "DELETE FROM auth_tokens WHERE expires_at <= $1 OR last_used_at <= $2",
        life.now,
        life.idle_cutoff()
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected())
}

pub(crate) async fn record_security_event(store: &PgStore, event: NewSecurityEvent) -> Result<SecurityEvent> {
    // Microseconds: what the column keeps, so the event returned is the event stored.
    let (id, at) = (Uuid::now_v7(), Utc::now().trunc_subsecs(6));
    sqlx::query!(
        "INSERT INTO security_events (id, at, kind, user_id, address, request_id, outcome, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        at,
        &event.kind,
        event.user_id.map(|u| u.0),
        event.address.as_deref(),
        event.request_id.as_deref(),
        &event.outcome,
        event.detail.as_deref()
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(SecurityEvent {
        id,
        at,
        kind: event.kind,
        user_id: event.user_id,
        address: event.address,
        request_id: event.request_id,
        outcome: event.outcome,
        detail: event.detail,
    })
}

pub(crate) async fn security_events(store: &PgStore, query: &SecurityEventQuery) -> Result<Vec<SecurityEvent>> {
    let rows: Vec<SecurityEventRow> = sqlx::query_as!(
        SecurityEventRow,
        "SELECT id, at, kind, user_id, address, request_id, outcome, detail
         FROM security_events
         WHERE ($1::uuid IS NULL OR user_id = $1)
           AND ($2::text IS NULL OR kind = $2)
           AND ($3::timestamptz IS NULL OR at >= $3)
           AND ($4::timestamptz IS NULL OR at < $4)
           AND ($5::uuid IS NULL OR id < $5)
         ORDER BY id DESC
         LIMIT $6",
        query.user_id.map(|u| u.0),
        query.kind.as_deref(),
        query.from,
        query.to,
        query.before,
        i64::from(query.limit)
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(rows.into_iter().map(Into::into).collect())
}
