//! Session quality on PostgreSQL: ratings and surveys upserted; their sums and the
//! time-to-plan quartiles (nearest rank, as on SQLite) made by SQL.

use crate::{PgStore, db_err};
use chrono::{DateTime, Utc};
use plansmith_store::Result;
use plansmith_store::quality::{
    CsatSums, DocumentRating, FeedbackSource, FeedbackText, QualitySums, Quartiles, RatingSums, SessionSurvey,
};

pub(crate) async fn rate(store: &PgStore, r: &DocumentRating) -> Result<()> {
    sqlx::query!(
        "INSERT INTO document_ratings (document_id, user_id, session_id, rating, useful, comment, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (document_id, user_id) DO UPDATE SET rating = excluded.rating, useful = excluded.useful,
             comment = excluded.comment, updated_at = excluded.updated_at",
        r.document.0,
        r.user.0,
        r.session.0,
        r.rating as i16,
        r.useful,
        r.comment,
        r.at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn survey(store: &PgStore, s: &SessionSurvey) -> Result<()> {
    sqlx::query!(
        "INSERT INTO session_surveys (session_id, user_id, csat, hours_without, comment, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (session_id) DO UPDATE SET csat = excluded.csat, hours_without = excluded.hours_without,
             comment = excluded.comment, updated_at = excluded.updated_at",
        s.session.0,
        s.user.0,
        s.csat as i16,
        s.hours_without,
        s.comment,
        s.at
    )
    .execute(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn sums(store: &PgStore, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<QualitySums> {
    let mut conn = store.conn().await?;
    let by_workflow = sqlx::query!(
        r#"SELECT s.workflow_id AS "group!", COUNT(*) AS "ratings!", SUM(r.rating)::BIGINT AS "rating_sum!",
                  SUM(r.useful::INT)::BIGINT AS "useful!"
           FROM document_ratings r JOIN planning_sessions s ON s.id = r.session_id
           WHERE r.updated_at >= $1 AND r.updated_at < $2 GROUP BY 1 ORDER BY 1"#,
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| RatingSums {
        group: vec![r.group],
        ratings: r.ratings,
        rating_sum: r.rating_sum,
        useful: r.useful,
    })
    .collect();
    let by_step = sqlx::query!(
        r#"SELECT s.workflow_id AS "workflow!", d.step_id AS "step!", COUNT(*) AS "ratings!",
                  SUM(r.rating)::BIGINT AS "rating_sum!", SUM(r.useful::INT)::BIGINT AS "useful!"
           FROM document_ratings r JOIN planning_sessions s ON s.id = r.session_id JOIN documents d ON d.id = r.document_id
           WHERE r.updated_at >= $1 AND r.updated_at < $2 GROUP BY 1, 2 ORDER BY 1, 2"#,
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| RatingSums {
        group: vec![r.workflow, r.step],
        ratings: r.ratings,
        rating_sum: r.rating_sum,
        useful: r.useful,
    })
    .collect();
    let by_model = sqlx::query!(
        r#"SELECT provider AS "provider!", model AS "model!", COUNT(*) AS "ratings!",
                  SUM(rating)::BIGINT AS "rating_sum!", SUM(useful::INT)::BIGINT AS "useful!"
           FROM (
               SELECT r.rating, r.useful,
                   COALESCE((SELECT m.provider FROM messages m WHERE m.session_id = r.session_id AND m.step_id = d.step_id
                             AND m.role = 'assistant' AND m.provider IS NOT NULL ORDER BY m.seq DESC LIMIT 1), 'unknown') AS provider,
                   COALESCE((SELECT m.model FROM messages m WHERE m.session_id = r.session_id AND m.step_id = d.step_id
                             AND m.role = 'assistant' AND m.model IS NOT NULL ORDER BY m.seq DESC LIMIT 1), 'unknown') AS model
               FROM document_ratings r JOIN documents d ON d.id = r.document_id
               WHERE r.updated_at >= $1 AND r.updated_at < $2
           ) rated GROUP BY 1, 2 ORDER BY 1, 2"#,
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| RatingSums {
        group: vec![r.provider, r.model],
        ratings: r.ratings,
        rating_sum: r.rating_sum,
        useful: r.useful,
    })
    .collect();
    let csat = sqlx::query!(
        r#"SELECT s.workflow_id AS "workflow!", COUNT(*) AS "surveys!", SUM(v.csat)::BIGINT AS "csat_sum!"
           FROM session_surveys v JOIN planning_sessions s ON s.id = v.session_id
           WHERE v.updated_at >= $1 AND v.updated_at < $2 GROUP BY 1 ORDER BY 1"#,
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| CsatSums {
        workflow: r.workflow,
        surveys: r.surveys,
        csat_sum: r.csat_sum,
    })
    .collect();
    let time_to_plan = sqlx::query!(
        r#"WITH done AS (
               SELECT s.id, to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS cohort,
                      extract(epoch FROM s.completed_at - s.created_at)::DOUBLE PRECISION / 3600.0 AS elapsed
               FROM planning_sessions s JOIN users u ON u.id = s.user_id
               WHERE s.status = 'completed' AND s.completed_at >= $1 AND s.completed_at < $2
           ),
           g AS (
               SELECT m.session_id,
                      extract(epoch FROM m.created_at - LAG(m.created_at) OVER (PARTITION BY m.session_id ORDER BY m.seq))::DOUBLE PRECISION
                          / 3600.0 AS gap
               FROM messages m JOIN done ON done.id = m.session_id
           ),
           a AS (
               SELECT session_id, SUM(CASE WHEN gap <= 0.5 THEN gap ELSE 0 END) AS active FROM g GROUP BY session_id
           ),
           t AS (
               SELECT done.cohort, done.elapsed, COALESCE(a.active, 0) AS active, v.hours_without AS estimate
               FROM done LEFT JOIN a ON a.session_id = done.id LEFT JOIN session_surveys v ON v.session_id = done.id
           ),
           q AS (
               SELECT cohort, 'elapsed' AS measure, elapsed AS v FROM t
               UNION ALL SELECT cohort, 'active', active FROM t
               UNION ALL SELECT cohort, 'estimate', estimate FROM t WHERE estimate IS NOT NULL
               UNION ALL SELECT cohort, 'saved', estimate - active FROM t WHERE estimate IS NOT NULL
           ),
           o AS (
               SELECT cohort, measure, v, ROW_NUMBER() OVER (PARTITION BY cohort, measure ORDER BY v) AS rn,
                      COUNT(*) OVER (PARTITION BY cohort, measure) AS n
               FROM q
           )
           SELECT cohort AS "cohort!", measure AS "measure!", MAX(n) AS "sessions!",
                  MAX(CASE WHEN rn = (n + 3) / 4 THEN v END) AS "p25!",
                  MAX(CASE WHEN rn = (n + 1) / 2 THEN v END) AS "p50!",
                  MAX(CASE WHEN rn = (3 * n + 3) / 4 THEN v END) AS "p75!"
           FROM o GROUP BY cohort, measure ORDER BY cohort, measure"#,
        from,
        to
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| Quartiles {
        cohort: r.cohort,
        measure: r.measure,
        sessions: r.sessions,
        p25: r.p25,
        p50: r.p50,
        p75: r.p75,
    })
    .collect();
    Ok(QualitySums {
        by_workflow,
        by_step,
        by_model,
        csat,
        time_to_plan,
    })
}

pub(crate) async fn texts(store: &PgStore, since: DateTime<Utc>, limit: u32) -> Result<Vec<FeedbackText>> {
    let rows = sqlx::query!(
        r#"SELECT t.user_id AS "user_id!", t.source AS "source!", t.text AS "text!", t.at AS "at!",
                  EXISTS (SELECT 1 FROM consents c WHERE c.user_id = t.user_id AND c.kind = 'product_research'
                          AND c.withdrawn_at IS NULL) AS "quotable!"
           FROM (
               (SELECT user_id, 'rating' AS source, comment AS text, updated_at AS at FROM document_ratings
                WHERE comment IS NOT NULL AND updated_at >= $1 ORDER BY updated_at DESC LIMIT $2)
               UNION ALL
               (SELECT user_id, 'survey', comment, updated_at FROM session_surveys
                WHERE comment IS NOT NULL AND updated_at >= $1 ORDER BY updated_at DESC LIMIT $2)
               UNION ALL
               (SELECT user_id, 'idea', idea, created_at FROM planning_sessions
                WHERE idea <> '' AND created_at >= $1 ORDER BY created_at DESC LIMIT $2)
           ) t ORDER BY t.at DESC"#,
        since,
        i64::from(limit)
    )
    .fetch_all(&mut *store.conn().await?)
    .await
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|r| FeedbackText {
            user: plansmith_domain::UserId(r.user_id),
            source: FeedbackSource::parse(&r.source),
            text: r.text,
            at: r.at,
            quotable: r.quotable,
        })
        .collect())
}
