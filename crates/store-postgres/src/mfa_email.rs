//! Two-factor sign-in (TOTP), email verification, single-use tokens and the email outbox.

use crate::{PgStore, db_err};
use chrono::{DateTime, Utc};
use plansmith_domain::UserId;
use plansmith_store::rows::{AccountSecurityRow, OutboxEmailRow};
use plansmith_store::{AccountSecurity, EmailClaim, NewEmail, NewOneTimeToken, OutboxEmail, Result, TokenPurpose};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

pub(crate) async fn account_security(store: &PgStore, user: UserId) -> Result<Option<AccountSecurity>> {
    let row = sqlx::query_as!(
        AccountSecurityRow,
        "SELECT email_verified_at, totp_secret, totp_enabled_at, totp_last_step FROM users WHERE id = $1",
        user.0
    )
    .fetch_optional(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(row.map(Into::into))
}

pub(crate) async fn start_totp(store: &PgStore, user: UserId, secret: &str) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE users SET totp_secret = $2, totp_last_step = NULL WHERE id = $1 AND totp_enabled_at IS NULL",
        user.0,
        secret
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn enable_totp(store: &PgStore, user: UserId, step: i64, at: DateTime<Utc>) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE users SET totp_enabled_at = $3, totp_last_step = $2
         WHERE id = $1 AND totp_secret IS NOT NULL AND totp_enabled_at IS NULL",
        user.0,
        step,
        at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn use_totp_step(store: &PgStore, user: UserId, step: i64) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE users SET totp_last_step = $2
         WHERE id = $1 AND totp_enabled_at IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $2)",
        user.0,
        step
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn disable_totp(store: &PgStore, user: UserId) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL
         WHERE id = $1 AND totp_secret IS NOT NULL",
        user.0
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn create_one_time_token(store: &PgStore, new: NewOneTimeToken) -> Result<()> {
    sqlx::query!(
        "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        new.token_hash,
        new.user_id.0,
        new.purpose.as_str(),
        Utc::now(),
        new.expires_at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Marks the token used when it works; its user.
async fn use_token(
    tx: &mut Transaction<'static, Postgres>,
    token_hash: &[u8],
    purpose: TokenPurpose,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "UPDATE one_time_tokens SET used_at = $3
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING user_id",
        token_hash,
        purpose.as_str(),
        now
    )
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)
}

pub(crate) async fn confirm_email(store: &PgStore, token_hash: &[u8], now: DateTime<Utc>) -> Result<Option<UserId>> {
    let mut tx = store.begin().await?;
    let Some(user) = use_token(&mut tx, token_hash, TokenPurpose::EmailVerification, now).await? else {
        return Ok(None);
    };
    sqlx::query!(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $1",
        user,
        now
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some(user.into()))
}

pub(crate) async fn reset_password(
    store: &PgStore,
    token_hash: &[u8],
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<UserId>> {
    let mut tx = store.begin().await?;
    let Some(user) = use_token(&mut tx, token_hash, TokenPurpose::PasswordReset, now).await? else {
        return Ok(None);
    };
    sqlx::query!("UPDATE users SET password_hash = $2 WHERE id = $1", user, password_hash)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    sqlx::query!("DELETE FROM auth_tokens WHERE user_id = $1", user)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    // The other reset links of the account stop working too.
    sqlx::query!(
        "UPDATE one_time_tokens SET used_at = $2 WHERE user_id = $1 AND purpose = 'password_reset' AND used_at IS NULL",
        user,
        now
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some(user.into()))
}

pub(crate) async fn queue_email(store: &PgStore, new: NewEmail) -> Result<OutboxEmail> {
    let now = Utc::now();
    let row = sqlx::query_as!(
        OutboxEmailRow,
        r#"INSERT INTO email_outbox (id, "to", subject, body, kind, created_at, next_attempt_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6)
           RETURNING id, "to", subject, body, kind, created_at, sent_at, attempts::BIGINT AS "attempts!",
                     last_error, next_attempt_at"#,
        Uuid::now_v7(),
        new.to,
        new.subject,
        new.body,
        new.kind,
        now
    )
    .fetch_one(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(row.into())
}

pub(crate) async fn claim_emails(store: &PgStore, claim: EmailClaim) -> Result<Vec<OutboxEmail>> {
    let rows = sqlx::query_as!(
        OutboxEmailRow,
        r#"UPDATE email_outbox SET attempts = attempts + 1, next_attempt_at = $2
           WHERE id IN (
               SELECT id FROM email_outbox
               WHERE sent_at IS NULL AND next_attempt_at <= $1 AND attempts < $3
               ORDER BY next_attempt_at, id
               LIMIT $4
               FOR UPDATE SKIP LOCKED)
           RETURNING id, "to", subject, body, kind, created_at, sent_at, attempts::BIGINT AS "attempts!",
                     last_error, next_attempt_at"#,
        claim.now,
        claim.hold_until,
        claim.max_attempts as i32,
        i64::from(claim.limit)
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    let mut emails: Vec<OutboxEmail> = rows.into_iter().map(Into::into).collect();
    emails.sort_by_key(|e| e.id);
    Ok(emails)
}

pub(crate) async fn email_sent(store: &PgStore, id: Uuid, at: DateTime<Utc>) -> Result<()> {
    sqlx::query!(
        "UPDATE email_outbox SET sent_at = $2, last_error = NULL WHERE id = $1",
        id,
        at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn email_failed(store: &PgStore, id: Uuid, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()> {
    sqlx::query!(
        "UPDATE email_outbox SET last_error = $2, next_attempt_at = $3 WHERE id = $1",
        id,
        error,
        next_attempt_at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn list_emails(store: &PgStore, before: Option<Uuid>, limit: u32) -> Result<Vec<OutboxEmail>> {
    let rows = sqlx::query_as!(
        OutboxEmailRow,
        r#"SELECT id, "to", subject, body, kind, created_at, sent_at, attempts::BIGINT AS "attempts!",
                  last_error, next_attempt_at
           FROM email_outbox
           WHERE ($1::uuid IS NULL OR id < $1)
           ORDER BY id DESC
           LIMIT $2"#,
        before,
        i64::from(limit)
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(rows.into_iter().map(Into::into).collect())
}
