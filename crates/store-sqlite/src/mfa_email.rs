//! Two-factor sign-in (TOTP), email verification, single-use tokens and the email outbox. The
//! reads go through the reader pool; the writes are run by the writer (`writer.rs`), each
//! whole in its transaction.

use crate::db_err;
use crate::write::stamp;
use crate::writer::sql_err;
use chrono::{DateTime, Utc};
use plansmith_domain::UserId;
use plansmith_store::rows::{AccountSecurityRow, OutboxEmailRow};
use plansmith_store::{AccountSecurity, EmailClaim, NewOneTimeToken, OutboxEmail, Result, TokenPurpose};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use sqlx::SqlitePool;
use uuid::Uuid;

pub(crate) async fn account_security(pool: &SqlitePool, user: UserId) -> Result<Option<AccountSecurity>> {
    let row = sqlx::query_as!(
        AccountSecurityRow,
        r#"SELECT email_verified_at AS "email_verified_at: DateTime<Utc>", totp_secret,
                  totp_enabled_at AS "totp_enabled_at: DateTime<Utc>", totp_last_step
           FROM users WHERE id = ?"#,
        user.0
    )
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    Ok(row.map(Into::into))
}

pub(crate) async fn list_emails(pool: &SqlitePool, before: Option<Uuid>, limit: u32) -> Result<Vec<OutboxEmail>> {
    let rows = sqlx::query_as!(
        OutboxEmailRow,
        r#"SELECT id AS "id: Uuid", "to", subject, body, kind, created_at AS "created_at: DateTime<Utc>",
                  sent_at AS "sent_at: DateTime<Utc>", attempts, last_error,
                  next_attempt_at AS "next_attempt_at: DateTime<Utc>"
           FROM email_outbox
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
    Ok(rows.into_iter().map(Into::into).collect())
}

fn changed(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<bool> {
    let n = conn
        .prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(sql_err)?;
    Ok(n > 0)
}

pub(crate) fn start_totp(conn: &Connection, user: UserId, secret: &str) -> Result<bool> {
    changed(
        conn,
        "UPDATE users SET totp_secret = ?2, totp_last_step = NULL WHERE id = ?1 AND totp_enabled_at IS NULL",
        params![user.0, secret],
    )
}

pub(crate) fn enable_totp(conn: &Connection, user: UserId, step: i64, at: DateTime<Utc>) -> Result<bool> {
    changed(
        conn,
        "UPDATE users SET totp_enabled_at = ?3, totp_last_step = ?2
         WHERE id = ?1 AND totp_secret IS NOT NULL AND totp_enabled_at IS NULL",
        params![user.0, step, stamp(at)],
    )
}

pub(crate) fn use_totp_step(conn: &Connection, user: UserId, step: i64) -> Result<bool> {
    changed(
        conn,
        "UPDATE users SET totp_last_step = ?2
         WHERE id = ?1 AND totp_enabled_at IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < ?2)",
        params![user.0, step],
    )
}

pub(crate) fn disable_totp(conn: &Connection, user: UserId) -> Result<bool> {
    changed(
        conn,
        "UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL
         WHERE id = ?1 AND totp_secret IS NOT NULL",
        params![user.0],
    )
}

pub(crate) fn create_one_time_token(conn: &Connection, new: &NewOneTimeToken) -> Result<()> {
    changed(
        conn,
        "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            new.token_hash,
            new.user_id.0,
            new.purpose.as_str(),
            stamp(Utc::now()),
            stamp(new.expires_at)
        ],
    )?;
    Ok(())
}

/// Marks the token used when it works; its user.
fn use_token(conn: &Connection, token_hash: &[u8], purpose: TokenPurpose, now: DateTime<Utc>) -> Result<Option<Uuid>> {
    conn.prepare_cached(
        "UPDATE one_time_tokens SET used_at = ?3
         WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
         RETURNING user_id",
    )
    .and_then(|mut s| {
        s.query_row(params![token_hash, purpose.as_str(), stamp(now)], |r| r.get(0))
            .optional()
    })
    .map_err(sql_err)
}

pub(crate) fn confirm_email(conn: &Connection, token_hash: &[u8], now: DateTime<Utc>) -> Result<Option<UserId>> {
    let Some(user) = use_token(conn, token_hash, TokenPurpose::EmailVerification, now)? else {
        return Ok(None);
    };
    changed(
        conn,
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?2) WHERE id = ?1",
        params![user, stamp(now)],
    )?;
    Ok(Some(user.into()))
}

pub(crate) fn reset_password(
    conn: &Connection,
    token_hash: &[u8],
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<UserId>> {
    let Some(user) = use_token(conn, token_hash, TokenPurpose::PasswordReset, now)? else {
        return Ok(None);
    };
    changed(
        conn,
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![user, password_hash],
    )?;
    changed(conn, "DELETE FROM auth_tokens WHERE user_id = ?1", params![user])?;
    // The other reset links of the account stop working too.
    changed(
        conn,
        "UPDATE one_time_tokens SET used_at = ?2 WHERE user_id = ?1 AND purpose = 'password_reset' AND used_at IS NULL",
        params![user, stamp(now)],
    )?;
    Ok(Some(user.into()))
}

const EMAIL_COLUMNS: &str =
    r#"id, "to", subject, body, kind, created_at, sent_at, attempts, last_error, next_attempt_at"#;

fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(idx)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

fn email_row(row: &Row<'_>) -> rusqlite::Result<OutboxEmail> {
    let sent_at = match row.get_ref(6)?.data_type() {
        Type::Null => None,
        _ => Some(time(row, 6)?),
    };
    Ok(OutboxEmail {
        id: row.get(0)?,
        to: row.get(1)?,
        subject: row.get(2)?,
        body: row.get(3)?,
        kind: row.get(4)?,
        created_at: time(row, 5)?,
        sent_at,
        attempts: row.get(7)?,
        last_error: row.get(8)?,
        next_attempt_at: time(row, 9)?,
    })
}

pub(crate) fn queue_email(conn: &Connection, email: &OutboxEmail) -> Result<()> {
    changed(
        conn,
        r#"INSERT INTO email_outbox (id, "to", subject, body, kind, created_at, attempts, next_attempt_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)"#,
        params![
            email.id,
            email.to,
            email.subject,
            email.body,
            email.kind,
            stamp(email.created_at),
            stamp(email.next_attempt_at)
        ],
    )?;
    Ok(())
}

pub(crate) fn claim_emails(conn: &Connection, claim: EmailClaim) -> Result<Vec<OutboxEmail>> {
    let sql = format!(
        "UPDATE email_outbox SET attempts = attempts + 1, next_attempt_at = ?2
         WHERE id IN (
             SELECT id FROM email_outbox
             WHERE sent_at IS NULL AND next_attempt_at <= ?1 AND attempts < ?3
             ORDER BY next_attempt_at, id
             LIMIT ?4)
         RETURNING {EMAIL_COLUMNS}"
    );
    let mut emails = conn
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_map(
                params![
                    stamp(claim.now),
                    stamp(claim.hold_until),
                    claim.max_attempts,
                    i64::from(claim.limit)
                ],
                email_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_err)?;
    emails.sort_by_key(|e| e.id);
    Ok(emails)
}

pub(crate) fn email_sent(conn: &Connection, id: Uuid, at: DateTime<Utc>) -> Result<()> {
    changed(
        conn,
        "UPDATE email_outbox SET sent_at = ?2, last_error = NULL WHERE id = ?1",
        params![id, stamp(at)],
    )?;
    Ok(())
}

pub(crate) fn email_failed(conn: &Connection, id: Uuid, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()> {
    changed(
        conn,
        "UPDATE email_outbox SET last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
        params![id, error, stamp(next_attempt_at)],
    )?;
    Ok(())
}
