//! Product events on SQLite: stored through the writer in batches; funnels and retention summed
//! by SQL over the pool (window functions for the medians). A stage reached before the one
//! before it (paid before completing a plan) counts as reached at once: zero seconds.

use crate::db_err;
use crate::write::{change, stamp};
use plansmith_domain::Plan;
use plansmith_store::Result;
use plansmith_store::events::{
    AnalyticsFilter, FunnelSums, ProductEvent, RetentionSums, SEGMENT_DIMENSIONS, SegmentSums, UsageSums,
};
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

pub(crate) async fn usage(pool: &SqlitePool, f: &AnalyticsFilter) -> Result<UsageSums> {
    let (from, to) = (stamp(f.from), stamp(f.to));
    let month_start = stamp(f.to - chrono::Duration::days(30));
    let plan = f.plan.map(Plan::as_str);
    let features = sqlx::query!(
        r#"SELECT e.kind AS "kind!: String", e.name AS "name?: String", COUNT(*) AS "events!: i64",
                  COUNT(DISTINCT e.user_id) AS "accounts!: i64"
           FROM product_events e JOIN users u ON u.id = e.user_id
           WHERE e.at >= ?1 AND e.at < ?2
             AND (?3 IS NULL OR COALESCE(u.plan_override, u.plan) = ?3)
             AND (?4 IS NULL OR EXISTS (SELECT 1 FROM product_events s
                  WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = ?4))
           GROUP BY e.kind, e.name ORDER BY 3 DESC, 1, 2"#,
        from,
        to,
        plan,
        f.channel
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| (r.kind, r.name, r.events, r.accounts))
    .collect();
    let daily_active = sqlx::query!(
        r#"SELECT substr(e.at, 1, 10) AS "day!: String", COUNT(DISTINCT e.user_id) AS "active!: i64"
           FROM product_events e JOIN users u ON u.id = e.user_id
           WHERE e.at >= ?1 AND e.at < ?2
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
    .map_err(db_err)?
    .into_iter()
    .map(|r| (r.day, r.active))
    .collect();
    let monthly_active = sqlx::query_scalar!(
        r#"SELECT COUNT(DISTINCT e.user_id) AS "active!: i64"
           FROM product_events e JOIN users u ON u.id = e.user_id
           WHERE e.at >= ?1 AND e.at < ?2
             AND (?3 IS NULL OR COALESCE(u.plan_override, u.plan) = ?3)
             AND (?4 IS NULL OR EXISTS (SELECT 1 FROM product_events s
                  WHERE s.user_id = u.id AND s.kind = 'signed_up' AND s.name = ?4))"#,
        month_start,
        to,
        plan,
        f.channel
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)?;
    Ok(UsageSums {
        features,
        daily_active,
        monthly_active,
    })
}

pub(crate) async fn segments(pool: &SqlitePool, f: &AnalyticsFilter) -> Result<Vec<SegmentSums>> {
    let (from, to) = (stamp(f.from), stamp(f.to));
    let rows = sqlx::query!(
        r#"WITH u AS (
               SELECT COALESCE(u.plan_override, u.plan) AS plan,
                   COALESCE((SELECT s.name FROM product_events s WHERE s.user_id = u.id AND s.kind = 'signed_up'
                             ORDER BY s.at LIMIT 1), 'direct') AS channel,
                   COALESCE((SELECT e.workflow FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_started'
                             ORDER BY e.at LIMIT 1), 'none') AS workflow,
                   EXISTS (SELECT 1 FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_started') AS started,
                   EXISTS (SELECT 1 FROM product_events e WHERE e.user_id = u.id AND e.kind = 'session_completed') AS completed,
                   EXISTS (SELECT 1 FROM subscriptions s JOIN billing_customers c ON c.id = s.customer_id
                           WHERE c.user_id = u.id AND s.mrr_cents > 0) AS paying
               FROM users u WHERE u.created_at >= ?1 AND u.created_at < ?2
           )
           SELECT 'plan' AS "dimension!: String", plan AS "value!: String", COUNT(*) AS "accounts!: i64",
                  SUM(started) AS "started!: i64", SUM(completed) AS "completed!: i64", SUM(paying) AS "paying!: i64"
           FROM u GROUP BY plan
           UNION ALL
           SELECT 'channel', channel, COUNT(*), SUM(started), SUM(completed), SUM(paying) FROM u GROUP BY channel
           UNION ALL
           SELECT 'workflow', workflow, COUNT(*), SUM(started), SUM(completed), SUM(paying) FROM u GROUP BY workflow
           ORDER BY 1, 3 DESC, 2"#,
        from,
        to
    )
    .fetch_all(pool)
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
