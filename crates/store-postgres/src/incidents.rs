//! Incident notices on PostgreSQL.

use crate::{PgStore, db_err};
use chrono::{DateTime, Utc};
use plansmith_domain::UserId;
use plansmith_store::Result;
use plansmith_store::incidents::{Incident, IncidentRecipient, NewIncident, UserIncident};
use uuid::Uuid;

pub(crate) async fn create(store: &PgStore, new: NewIncident) -> Result<Vec<(UserId, String)>> {
    let mut tx = store.begin().await?;
    let audience = if new.user_ids.is_some() { "users" } else { "all" };
    sqlx::query!(
        "INSERT INTO incidents (id, severity, title, body, audience, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        new.id,
        new.severity,
        new.title,
        new.body,
        audience,
        new.created_by.map(|u| u.0),
        new.at
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let wanted: Option<Vec<Uuid>> = new.user_ids.map(|ids| ids.into_iter().map(|u| u.0).collect());
    sqlx::query!(
        "INSERT INTO incident_recipients (incident_id, user_id)
         SELECT $1, id FROM users WHERE $2::uuid[] IS NULL OR id = ANY($2)
         ON CONFLICT DO NOTHING",
        new.id,
        wanted.as_deref() as Option<&[Uuid]>
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let recipients = sqlx::query!(
        "SELECT r.user_id, u.email FROM incident_recipients r JOIN users u ON u.id = r.user_id
         WHERE r.incident_id = $1 ORDER BY u.email",
        new.id
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(recipients.into_iter().map(|r| (UserId(r.user_id), r.email)).collect())
}

pub(crate) async fn notified(store: &PgStore, id: Uuid, users: &[UserId], at: DateTime<Utc>) -> Result<()> {
    let users: Vec<Uuid> = users.iter().map(|u| u.0).collect();
    sqlx::query!(
        "UPDATE incident_recipients SET notified_at = $3 WHERE incident_id = $1 AND user_id = ANY($2)",
        id,
        &users,
        at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn read(store: &PgStore, id: Uuid, user: UserId, at: DateTime<Utc>) -> Result<bool> {
    let done = sqlx::query!(
        "UPDATE incident_recipients SET read_at = COALESCE(read_at, $3) WHERE incident_id = $1 AND user_id = $2",
        id,
        user.0,
        at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn list(store: &PgStore, id: Option<Uuid>, limit: u32) -> Result<Vec<Incident>> {
    let rows = sqlx::query!(
        r#"SELECT i.id, i.severity, i.title, i.body, i.audience, i.created_by, i.created_at,
               (SELECT COUNT(*) FROM incident_recipients r WHERE r.incident_id = i.id) AS "recipient_count!",
               (SELECT COUNT(notified_at) FROM incident_recipients r WHERE r.incident_id = i.id) AS "notified_count!",
               (SELECT COUNT(read_at) FROM incident_recipients r WHERE r.incident_id = i.id) AS "read_count!"
           FROM incidents i WHERE $1::uuid IS NULL OR i.id = $1
           ORDER BY i.created_at DESC, i.id DESC LIMIT $2"#,
        id,
        i64::from(limit)
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|r| Incident {
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
        })
        .collect())
}

pub(crate) async fn recipients(store: &PgStore, id: Uuid) -> Result<Vec<IncidentRecipient>> {
    let rows = sqlx::query!(
        "SELECT r.user_id, u.email, r.notified_at, r.read_at
         FROM incident_recipients r JOIN users u ON u.id = r.user_id
         WHERE r.incident_id = $1 ORDER BY u.email",
        id
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|r| IncidentRecipient {
            user_id: UserId(r.user_id),
            email: r.email,
            notified_at: r.notified_at,
            read_at: r.read_at,
        })
        .collect())
}

pub(crate) async fn for_user(store: &PgStore, user: UserId, since: DateTime<Utc>) -> Result<Vec<UserIncident>> {
    let rows = sqlx::query!(
        "SELECT i.id, i.severity, i.title, i.body, i.created_at, r.read_at
         FROM incident_recipients r JOIN incidents i ON i.id = r.incident_id
         WHERE r.user_id = $1 AND i.created_at >= $2
         ORDER BY i.created_at DESC, i.id DESC",
        user.0,
        since
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(rows
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
