//! Incident notices on SQLite: published and marked through the writer, read through the pool.

use crate::db_err;
use crate::sql;
use crate::write::{change, stamp};
use crate::writer::sql_err;
use chrono::{DateTime, Utc};
use plansmith_domain::UserId;
use plansmith_store::Result;
use plansmith_store::incidents::{Incident, IncidentRecipient, NewIncident, UserIncident};
use rusqlite::{Connection, params};
use sqlx::SqlitePool;
use uuid::Uuid;

pub(crate) fn create(conn: &Connection, new: &NewIncident) -> Result<Vec<(UserId, String)>> {
    let audience = if new.user_ids.is_some() { "users" } else { "all" };
    change(
        conn,
        sql::INCIDENT_CREATE,
        params![
            new.id,
            new.severity,
            new.title,
            new.body,
            audience,
            new.created_by.map(|u| u.0),
            stamp(new.at)
        ],
    )?;
    match &new.user_ids {
        None => {
            change(conn, sql::INCIDENT_TO_EVERYONE, params![new.id])?;
        }
        Some(users) => {
            for user in users {
                change(conn, sql::INCIDENT_TO_USER, params![new.id, user.0])?;
            }
        }
    }
    conn.prepare_cached(sql::INCIDENT_RECIPIENTS)
        .and_then(|mut s| {
            s.query_map(params![new.id], |r| Ok((UserId(r.get(0)?), r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_err)
}

pub(crate) fn notified(conn: &Connection, id: Uuid, users: &[UserId], at: DateTime<Utc>) -> Result<()> {
    for user in users {
        change(conn, sql::INCIDENT_NOTIFIED, params![id, user.0, stamp(at)])?;
    }
    Ok(())
}

pub(crate) fn read(conn: &Connection, id: Uuid, user: UserId, at: DateTime<Utc>) -> Result<bool> {
    Ok(change(conn, sql::INCIDENT_READ, params![id, user.0, stamp(at)])? > 0)
}

struct Row {
    id: Uuid,
    severity: String,
    title: String,
    body: String,
    audience: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    recipient_count: i64,
    notified_count: i64,
    read_count: i64,
}

impl From<Row> for Incident {
    fn from(r: Row) -> Self {
        Incident {
            id: r.id,
            severity: r.severity,
            title: r.title,
            body: r.body,
            audience: r.audience,
            created_by: r.created_by.map(UserId),
            created_at: r.created_at,
            recipient_count: r.recipient_count,
            notified_count: r.notified_count,
            read_count: r.read_count,
        }
    }
}

pub(crate) async fn list(pool: &SqlitePool, id: Option<Uuid>, limit: u32) -> Result<Vec<Incident>> {
    let limit = i64::from(limit);
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT i.id AS "id!: Uuid", i.severity, i.title, i.body, i.audience, i.created_by AS "created_by: Uuid",
               i.created_at AS "created_at: DateTime<Utc>",
               (SELECT COUNT(*) FROM incident_recipients r WHERE r.incident_id = i.id) AS "recipient_count!: i64",
               (SELECT COUNT(notified_at) FROM incident_recipients r WHERE r.incident_id = i.id) AS "notified_count!: i64",
               (SELECT COUNT(read_at) FROM incident_recipients r WHERE r.incident_id = i.id) AS "read_count!: i64"
           FROM incidents i WHERE ?1 IS NULL OR i.id = ?1
           ORDER BY i.created_at DESC, i.id DESC LIMIT ?2"#,
        id,
        limit
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(Incident::from)
    .collect())
}

pub(crate) async fn recipients(pool: &SqlitePool, id: Uuid) -> Result<Vec<IncidentRecipient>> {
    Ok(sqlx::query!(
        r#"SELECT r.user_id AS "user_id!: Uuid", u.email, r.notified_at AS "notified_at: DateTime<Utc>",
               r.read_at AS "read_at: DateTime<Utc>"
           FROM incident_recipients r JOIN users u ON u.id = r.user_id
           WHERE r.incident_id = ?1 ORDER BY u.email"#,
        id
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| IncidentRecipient {
        user_id: UserId(r.user_id),
        email: r.email,
        notified_at: r.notified_at,
        read_at: r.read_at,
    })
    .collect())
}

pub(crate) async fn for_user(pool: &SqlitePool, user: UserId, since: DateTime<Utc>) -> Result<Vec<UserIncident>> {
    let since = stamp(since);
    Ok(sqlx::query!(
        r#"SELECT i.id AS "id!: Uuid", i.severity, i.title, i.body, i.created_at AS "created_at: DateTime<Utc>",
               r.read_at AS "read_at: DateTime<Utc>"
           FROM incident_recipients r JOIN incidents i ON i.id = r.incident_id
           WHERE r.user_id = ?1 AND i.created_at >= ?2
           ORDER BY i.created_at DESC, i.id DESC"#,
        user.0,
        since
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| UserIncident {
        id: r.id,
        severity: r.severity,
        title: r.title,
        body: r.body,
        created_at: r.created_at,
        read_at: r.read_at,
    })
    .collect())
}
