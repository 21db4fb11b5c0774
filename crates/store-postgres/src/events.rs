//! Product events on PostgreSQL: stored in one statement per batch; funnels (with
//! `percentile_cont` medians) and retention summed by SQL.

use crate::{PgStore, db_err};
use chrono::{DateTime, Utc};
use plansmith_domain::Plan;
use plansmith_store::Result;
use plansmith_store::events::{
    AnalyticsFilter, FunnelSums, ProductEvent, RetentionSums, SEGMENT_DIMENSIONS, SegmentSums, UsageSums,
};
use uuid::Uuid;

pub(crate) async fn record(store: &PgStore, events: &[ProductEvent]) -> Result<()> {
    let users: Vec<Uuid> = events.iter().map(|e| e.user.0).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let names: Vec<Option<String>> = events.iter().map(|e| e.name.clone()).collect();
    let workflows: Vec<Option<String>> = events.iter().map(|e| e.workflow.clone()).collect();
    let ats: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
    sqlx::query!(
        r#"INSERT INTO product_events (user_id, kind, name, workflow, at)
           SELECT e.user_id, e.kind, e.name, e.workflow, e.at
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
               AS e(user_id, kind, name, workflow, at)
           WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = e.user_id)"#,
        &users,
        &kinds as &[&str],
        &names as &[Option<String>],
        &workflows as &[Option<String>],
        &ats
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn funnel(store: &PgStore, f: &AnalyticsFilter) -> Result<FunnelSums> {
    let plan = f.plan.map(Plan::as_str);
    let row = sqlx::query!(
        r#"WITH u AS (
               SELECT u.id, u.created_at FROM users u
               WHERE u.created_at >= $1 AND u.created_at < $2
                 AND ($3::text IS NULL OR COALESCE(u.plan_override, u.plan) = $3)
                 AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM product_events s
                      WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = $4))
           ),
           paid AS (
               SELECT c.user_id, MIN(m.at) AS t4 FROM mrr_movements m JOIN billing_customers c ON c.id = m.customer_id
               WHERE m.kind = 'new' AND c.user_id IS NOT NULL GROUP BY c.user_id
           ),
           f AS MATERIALIZED (
               SELECT u.created_at AS t0,
                   (SELECT MIN(at) FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_started'
                        AND ($5::text IS NULL OR e.workflow = $5)) AS t1,
                   (SELECT MIN(at) FROM product_events e WHERE e.user_id = u.id AND e.kind = 'step_completed'
                        AND ($5::text IS NULL OR e.workflow = $5)) AS t2,
                   (SELECT MIN(at) FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_completed'
                        AND ($5::text IS NULL OR e.workflow = $5)) AS t3,
                   paid.t4
               FROM u LEFT JOIN paid ON paid.user_id = u.id
           ),
           r AS (
               SELECT t0, t1,
                   CASE WHEN t1 IS NOT NULL THEN t2 END AS t2,
                   CASE WHEN t1 IS NOT NULL AND t2 IS NOT NULL THEN t3 END AS t3,
                   CASE WHEN t1 IS NOT NULL AND t2 IS NOT NULL AND t3 IS NOT NULL THEN t4 END AS t4
               FROM f
           )
           SELECT COUNT(*) AS "s0!", COUNT(t1) AS "s1!", COUNT(t2) AS "s2!", COUNT(t3) AS "s3!", COUNT(t4) AS "s4!",
               percentile_cont(0.5) WITHIN GROUP (ORDER BY GREATEST(extract(epoch FROM t1 - t0), 0)) AS "m0",
               percentile_cont(0.5) WITHIN GROUP (ORDER BY GREATEST(extract(epoch FROM t2 - t1), 0)) AS "m1",
               percentile_cont(0.5) WITHIN GROUP (ORDER BY GREATEST(extract(epoch FROM t3 - t2), 0)) AS "m2",
               percentile_cont(0.5) WITHIN GROUP (ORDER BY GREATEST(extract(epoch FROM t4 - t3), 0)) AS "m3"
           FROM r"#,
        f.from,
        f.to,
        plan,
        f.channel,
        f.workflow
    )
    .fetch_one(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(FunnelSums {
        reached: [row.s0, row.s1, row.s2, row.s3, row.s4],
        median_seconds: [row.m0, row.m1, row.m2, row.m3],
    })
}

pub(crate) async fn retention(store: &PgStore, f: &AnalyticsFilter) -> Result<RetentionSums> {
    let plan = f.plan.map(Plan::as_str);
    let mut conn = store.conn().await?;
    // Weeks since Monday 1970-01-05 (345,600 s after the epoch).
    let cohorts = sqlx::query!(
        r#"SELECT floor((extract(epoch FROM u.created_at) - 345600) / 604800)::BIGINT AS "week!", COUNT(*) AS "users!"
           FROM users u
           WHERE u.created_at >= $1 AND u.created_at < $2
             AND ($3::text IS NULL OR COALESCE(u.plan_override, u.plan) = $3)
             AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM product_events s
                  WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = $4))
           GROUP BY 1 ORDER BY 1"#,
        f.from,
        f.to,
        plan,
        f.channel
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let active = sqlx::query!(
        r#"WITH c AS (
               SELECT u.id, floor((extract(epoch FROM u.created_at) - 345600) / 604800)::BIGINT AS week FROM users u
               WHERE u.created_at >= $1 AND u.created_at < $2
                 AND ($3::text IS NULL OR COALESCE(u.plan_override, u.plan) = $3)
                 AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM product_events s
                      WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = $4))
           ),
           a AS (
               SELECT DISTINCT e.user_id, floor((extract(epoch FROM e.at) - 345600) / 604800)::BIGINT AS week
               FROM product_events e JOIN c ON c.id = e.user_id
           )
           SELECT c.week AS "cohort!", a.week - c.week AS "offset!", COUNT(*) AS "users!"
           FROM a JOIN c ON c.id = a.user_id WHERE a.week >= c.week
           GROUP BY 1, 2 ORDER BY 1, 2"#,
        f.from,
        f.to,
        plan,
        f.channel
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(RetentionSums {
        cohorts: cohorts.into_iter().map(|r| (r.week, r.users)).collect(),
        active: active.into_iter().map(|r| (r.cohort, r.offset, r.users)).collect(),
    })
}

pub(crate) async fn usage(store: &PgStore, f: &AnalyticsFilter) -> Result<UsageSums> {
    let plan = f.plan.map(Plan::as_str);
    let month_start = f.to - chrono::Duration::days(30);
    let mut conn = store.conn().await?;
    let features = sqlx::query!(
        r#"SELECT e.kind, e.name, COUNT(*) AS "events!", COUNT(DISTINCT e.user_id) AS "accounts!"
           FROM product_events e JOIN users u ON u.id = e.user_id
           WHERE e.at >= $1 AND e.at < $2
             AND ($3::text IS NULL OR COALESCE(u.plan_override, u.plan) = $3)
             AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM product_events s
                  WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = $4))
           GROUP BY e.kind, e.name ORDER BY 3 DESC, 1, 2"#,
        f.from,
        f.to,
        plan,
        f.channel
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| (r.kind, r.name, r.events, r.accounts))
    .collect();
    let daily_active = sqlx::query!(
        r#"SELECT to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS "day!", COUNT(DISTINCT e.user_id) AS "active!"
           FROM product_events e JOIN users u ON u.id = e.user_id
           WHERE e.at >= $1 AND e.at < $2
             AND ($3::text IS NULL OR COALESCE(u.plan_override, u.plan) = $3)
             AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM product_events s
                  WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = $4))
           GROUP BY 1 ORDER BY 1"#,
        f.from,
        f.to,
        plan,
        f.channel
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| (r.day, r.active))
    .collect();
    let monthly_active = sqlx::query_scalar!(
        r#"SELECT COUNT(DISTINCT e.user_id) AS "active!"
           FROM product_events e JOIN users u ON u.id = e.user_id
           WHERE e.at >= $1 AND e.at < $2
             AND ($3::text IS NULL OR COALESCE(u.plan_override, u.plan) = $3)
             AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM product_events s
                  WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = $4))"#,
        month_start,
        f.to,
        plan,
        f.channel
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(UsageSums {
        features,
        daily_active,
        monthly_active,
    })
}

pub(crate) async fn segments(store: &PgStore, f: &AnalyticsFilter) -> Result<Vec<SegmentSums>> {
    let rows = sqlx::query!(
        r#"WITH u AS (
               SELECT COALESCE(u.plan_override, u.plan) AS plan,
                   COALESCE((SELECT s.name FROM product_events s WHERE s.user_id = u.id AND s.kind = 'signed_up'
                             ORDER BY s.at LIMIT 1), 'direct') AS channel,
                   COALESCE((SELECT e.workflow FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_started'
                             ORDER BY e.at LIMIT 1), 'none') AS workflow,
                   EXISTS (SELECT 1 FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_started')::INT AS started,
                   EXISTS (SELECT 1 FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_completed')::INT AS completed,
                   EXISTS (SELECT 1 FROM subscriptions s JOIN billing_customers c ON c.id = s.customer_id
                           WHERE c.user_id = u.id AND s.mrr_cents > 0)::INT AS paying
               FROM users u WHERE u.created_at >= $1 AND u.created_at < $2
           )
           SELECT 'plan' AS "dimension!", plan AS "value!", COUNT(*) AS "accounts!",
                  SUM(started)::BIGINT AS "started!", SUM(completed)::BIGINT AS "completed!", SUM(paying)::BIGINT AS "paying!"
           FROM u GROUP BY plan
           UNION ALL
           SELECT 'channel', channel, COUNT(*), SUM(started)::BIGINT, SUM(completed)::BIGINT, SUM(paying)::BIGINT
           FROM u GROUP BY channel
           UNION ALL
           SELECT 'workflow', workflow, COUNT(*), SUM(started)::BIGINT, SUM(completed)::BIGINT, SUM(paying)::BIGINT
           FROM u GROUP BY workflow
           ORDER BY 1, 3 DESC, 2"#,
        f.from,
        f.to
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(SegmentSums {
                dimension: SEGMENT_DIMENSIONS.into_iter().find(|d| *d == r.dimension)?,
                value: r.value,
                accounts: r.accounts,
                started: r.started,
                completed: r.completed,
                paying: r.paying,
            })
        })
        .collect())
}
