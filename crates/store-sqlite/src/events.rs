//! Product events on SQLite: stored through the writer in batches; funnels and retention summed
//! by SQL over the pool (window functions for the medians). A stage reached before the one
//! before it (paid before completing a plan) counts as reached at once: zero seconds.

use crate::db_err;
use crate::write::{change, stamp};
use plansmith_domain::Plan;
use plansmith_store::Result;
use plansmith_store::events::{AnalyticsFilter, FunnelSums, ProductEvent, RetentionSums};
use rusqlite::{Connection, params};
use sqlx::SqlitePool;

pub(crate) fn record(conn: &Connection, events: &[ProductEvent]) -> Result<()> {
    for e in events {
        change(
            conn,
            "INSERT INTO product_events (user_id, kind, name, workflow, at)
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?1)",
            params![e.user.0, e.kind.as_str(), e.name, e.workflow, stamp(e.at)],
        )?;
    }
    Ok(())
}

pub(crate) async fn funnel(pool: &SqlitePool, f: &AnalyticsFilter) -> Result<FunnelSums> {
    let (from, to) = (stamp(f.from), stamp(f.to));
    let plan = f.plan.map(Plan::as_str);
    let counts = sqlx::query!(
        r#"WITH u AS (
               SELECT u.id, u.created_at FROM users u
               WHERE u.created_at >= ?1 AND u.created_at < ?2
                 AND (?3 IS NULL OR COALESCE(u.plan_override, u.plan) = ?3)
                 AND (?4 IS NULL OR EXISTS (SELECT 1 FROM product_events s
                      WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = ?4))
           ),
           f AS (
               SELECT u.created_at AS t0,
                   (SELECT MIN(at) FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_started'
                        AND (?5 IS NULL OR e.workflow = ?5)) AS t1,
                   (SELECT MIN(at) FROM product_events e WHERE e.user_id = u.id AND e.kind = 'step_completed'
                        AND (?5 IS NULL OR e.workflow = ?5)) AS t2,
                   (SELECT MIN(at) FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_completed'
                        AND (?5 IS NULL OR e.workflow = ?5)) AS t3,
                   (SELECT MIN(m.at) FROM mrr_movements m JOIN billing_customers c ON c.id = m.customer_id
                        WHERE c.user_id = u.id AND m.kind = 'new') AS t4
               FROM u
           )
           SELECT COUNT(*) AS "s0!: i64",
                  COUNT(t1) AS "s1!: i64",
                  SUM(t1 IS NOT NULL AND t2 IS NOT NULL) AS "s2!: i64",
                  SUM(t1 IS NOT NULL AND t2 IS NOT NULL AND t3 IS NOT NULL) AS "s3!: i64",
                  SUM(t1 IS NOT NULL AND t2 IS NOT NULL AND t3 IS NOT NULL AND t4 IS NOT NULL) AS "s4!: i64"
           FROM f"#,
        from,
        to,
        plan,
        f.channel,
        f.workflow
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    let medians = sqlx::query!(
        r#"WITH u AS (
               SELECT u.id, u.created_at FROM users u
               WHERE u.created_at >= ?1 AND u.created_at < ?2
                 AND (?3 IS NULL OR COALESCE(u.plan_override, u.plan) = ?3)
                 AND (?4 IS NULL OR EXISTS (SELECT 1 FROM product_events s
                      WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = ?4))
           ),
           f AS (
               SELECT julianday(u.created_at) AS t0,
                   julianday((SELECT MIN(at) FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_started'
                        AND (?5 IS NULL OR e.workflow = ?5))) AS t1,
                   julianday((SELECT MIN(at) FROM product_events e WHERE e.user_id = u.id AND e.kind = 'step_completed'
                        AND (?5 IS NULL OR e.workflow = ?5))) AS t2,
                   julianday((SELECT MIN(at) FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_completed'
                        AND (?5 IS NULL OR e.workflow = ?5))) AS t3,
                   julianday((SELECT MIN(m.at) FROM mrr_movements m JOIN billing_customers c ON c.id = m.customer_id
                        WHERE c.user_id = u.id AND m.kind = 'new')) AS t4
               FROM u
           ),
           d AS (
               SELECT 0 AS step, MAX(t1 - t0, 0) * 86400.0 AS s FROM f WHERE t1 IS NOT NULL
               UNION ALL SELECT 1, MAX(t2 - t1, 0) * 86400.0 FROM f WHERE t1 IS NOT NULL AND t2 IS NOT NULL
               UNION ALL SELECT 2, MAX(t3 - t2, 0) * 86400.0 FROM f WHERE t1 IS NOT NULL AND t2 IS NOT NULL AND t3 IS NOT NULL
               UNION ALL SELECT 3, MAX(t4 - t3, 0) * 86400.0 FROM f
                   WHERE t1 IS NOT NULL AND t2 IS NOT NULL AND t3 IS NOT NULL AND t4 IS NOT NULL
           ),
           o AS (
               SELECT step, s, ROW_NUMBER() OVER (PARTITION BY step ORDER BY s) AS rn,
                      COUNT(*) OVER (PARTITION BY step) AS n
               FROM d
           )
           SELECT step AS "step!: i64", AVG(s) AS "median!: f64" FROM o
           WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY step ORDER BY step"#,
        from,
        to,
        plan,
        f.channel,
        f.workflow
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut sums = FunnelSums {
        reached: [counts.s0, counts.s1, counts.s2, counts.s3, counts.s4],
        median_seconds: [None; 4],
    };
    for m in medians {
        if let Some(slot) = usize::try_from(m.step)
            .ok()
            .and_then(|i| sums.median_seconds.get_mut(i))
        {
            *slot = Some(m.median);
        }
    }
    Ok(sums)
}

pub(crate) async fn retention(pool: &SqlitePool, f: &AnalyticsFilter) -> Result<RetentionSums> {
    let (from, to) = (stamp(f.from), stamp(f.to));
    let plan = f.plan.map(Plan::as_str);
    // Weeks since Monday 1970-01-05 (Julian day 2440591.5).
    let cohorts = sqlx::query!(
        r#"SELECT CAST((julianday(u.created_at) - 2440591.5) / 7 AS INTEGER) AS "week!: i64", COUNT(*) AS "users!: i64"
           FROM users u
           WHERE u.created_at >= ?1 AND u.created_at < ?2
             AND (?3 IS NULL OR COALESCE(u.plan_override, u.plan) = ?3)
             AND (?4 IS NULL OR EXISTS (SELECT 1 FROM product_events s
                  WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = ?4))
           GROUP BY 1 ORDER BY 1"#,
        from,
        to,
        plan,
        f.channel
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let active = sqlx::query!(
        r#"WITH c AS (
               SELECT u.id, CAST((julianday(u.created_at) - 2440591.5) / 7 AS INTEGER) AS week FROM users u
               WHERE u.created_at >= ?1 AND u.created_at < ?2
                 AND (?3 IS NULL OR COALESCE(u.plan_override, u.plan) = ?3)
                 AND (?4 IS NULL OR EXISTS (SELECT 1 FROM product_events s
                      WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = ?4))
           ),
           a AS (
               SELECT DISTINCT e.user_id, CAST((julianday(e.at) - 2440591.5) / 7 AS INTEGER) AS week
               FROM product_events e JOIN c ON c.id = e.user_id
           )
           SELECT c.week AS "cohort!: i64", a.week - c.week AS "offset!: i64", COUNT(*) AS "users!: i64"
           FROM a JOIN c ON c.id = a.user_id WHERE a.week >= c.week
           GROUP BY 1, 2 ORDER BY 1, 2"#,
        from,
        to,
        plan,
        f.channel
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    Ok(RetentionSums {
        cohorts: cohorts.into_iter().map(|r| (r.week, r.users)).collect(),
        active: active.into_iter().map(|r| (r.cohort, r.offset, r.users)).collect(),
    })
}
