//! Session quality on SQLite: ratings and surveys saved through the writer; their sums and the
//! time-to-plan quartiles made by SQL (window functions) over the pool.

use crate::db_err;
use crate::write::{change, stamp};
use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentId, MessageRole, SessionId, UserId, content_hash};
use plansmith_store::history::PastSession;
use plansmith_store::quality::{
    CsatSums, DocumentRating, FeedbackSource, FeedbackText, QualitySums, Quartiles, RatingSums, SessionFeedback,
    SessionSurvey,
};
use plansmith_store::{Result, StoreError};
use rusqlite::{Connection, params};
use sqlx::SqlitePool;

pub(crate) fn rate(conn: &Connection, r: &DocumentRating) -> Result<()> {
    change(
        conn,
        "INSERT INTO document_ratings (document_id, user_id, session_id, rating, useful, comment, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (document_id, user_id) DO UPDATE SET rating = excluded.rating, useful = excluded.useful,
             comment = excluded.comment, updated_at = excluded.updated_at",
        params![
            r.document.0,
            r.user.0,
            r.session.0,
            r.rating,
            r.useful,
            r.comment,
            stamp(r.at)
        ],
    )?;
    Ok(())
}

pub(crate) fn survey(conn: &Connection, s: &SessionSurvey) -> Result<()> {
    change(
        conn,
        "INSERT INTO session_surveys (session_id, user_id, csat, hours_without, comment, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (session_id) DO UPDATE SET csat = excluded.csat, hours_without = excluded.hours_without,
             comment = excluded.comment, updated_at = excluded.updated_at",
        params![s.session.0, s.user.0, s.csat, s.hours_without, s.comment, stamp(s.at)],
    )?;
    Ok(())
}

pub(crate) async fn sums(pool: &SqlitePool, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<QualitySums> {
    let (from, to) = (stamp(from), stamp(to));
    let by_workflow = sqlx::query!(
        r#"SELECT s.workflow_id AS "group!", COUNT(*) AS "ratings!: i64", SUM(r.rating) AS "rating_sum!: i64",
                  SUM(r.useful) AS "useful!: i64"
           FROM document_ratings r JOIN planning_sessions s ON s.id = r.session_id
           WHERE r.updated_at >= ?1 AND r.updated_at < ?2 GROUP BY 1 ORDER BY 1"#,
        from,
        to
    )
    .fetch_all(pool)
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
        r#"SELECT s.workflow_id AS "workflow!", d.step_id AS "step!", COUNT(*) AS "ratings!: i64",
                  SUM(r.rating) AS "rating_sum!: i64", SUM(r.useful) AS "useful!: i64"
           FROM document_ratings r JOIN planning_sessions s ON s.id = r.session_id JOIN documents d ON d.id = r.document_id
           WHERE r.updated_at >= ?1 AND r.updated_at < ?2 GROUP BY 1, 2 ORDER BY 1, 2"#,
        from,
        to
    )
    .fetch_all(pool)
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
    // The model that wrote a document: the latest reply of its step that names one.
    let by_model = sqlx::query!(
        r#"SELECT provider AS "provider!: String", model AS "model!: String", COUNT(*) AS "ratings!: i64",
                  SUM(rating) AS "rating_sum!: i64", SUM(useful) AS "useful!: i64"
           FROM (
               SELECT r.rating, r.useful,
                   COALESCE((SELECT m.provider FROM messages m WHERE m.session_id = r.session_id AND m.step_id = d.step_id
                             AND m.role = 'assistant' AND m.provider IS NOT NULL ORDER BY m.seq DESC LIMIT 1), 'unknown') AS provider,
                   COALESCE((SELECT m.model FROM messages m WHERE m.session_id = r.session_id AND m.step_id = d.step_id
                             AND m.role = 'assistant' AND m.model IS NOT NULL ORDER BY m.seq DESC LIMIT 1), 'unknown') AS model
               FROM document_ratings r JOIN documents d ON d.id = r.document_id
               WHERE r.updated_at >= ?1 AND r.updated_at < ?2
           ) GROUP BY 1, 2 ORDER BY 1, 2"#,
        from,
        to
    )
    .fetch_all(pool)
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
        r#"SELECT s.workflow_id AS "workflow!", COUNT(*) AS "surveys!: i64", SUM(v.csat) AS "csat_sum!: i64"
           FROM session_surveys v JOIN planning_sessions s ON s.id = v.session_id
           WHERE v.updated_at >= ?1 AND v.updated_at < ?2 GROUP BY 1 ORDER BY 1"#,
        from,
        to
    )
    .fetch_all(pool)
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
               SELECT s.id, substr(u.created_at, 1, 7) AS cohort,
                      (julianday(s.completed_at) - julianday(s.created_at)) * 24.0 AS elapsed
               FROM planning_sessions s JOIN users u ON u.id = s.user_id
               WHERE s.status = 'completed' AND s.completed_at >= ?1 AND s.completed_at < ?2
           ),
           g AS (
               SELECT m.session_id,
                      (julianday(m.created_at) - julianday(LAG(m.created_at) OVER (PARTITION BY m.session_id ORDER BY m.seq))) * 24.0 AS gap
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
           SELECT cohort AS "cohort!: String", measure AS "measure!: String", MAX(n) AS "sessions!: i64",
                  MAX(CASE WHEN rn = (n + 3) / 4 THEN v END) AS "p25!: f64",
                  MAX(CASE WHEN rn = (n + 1) / 2 THEN v END) AS "p50!: f64",
                  MAX(CASE WHEN rn = (3 * n + 3) / 4 THEN v END) AS "p75!: f64"
           FROM o GROUP BY cohort, measure ORDER BY cohort, measure"#,
        from,
        to
    )
    .fetch_all(pool)
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

pub(crate) async fn texts(pool: &SqlitePool, since: DateTime<Utc>, limit: u32) -> Result<Vec<FeedbackText>> {
    let (since, limit) = (stamp(since), i64::from(limit));
    let rows = sqlx::query!(
        r#"SELECT user_id AS "user_id!: uuid::Uuid", source AS "source!: String", text AS "text!: String",
                  at AS "at!: DateTime<Utc>",
                  EXISTS (SELECT 1 FROM consents c WHERE c.user_id = t.user_id AND c.kind = 'product_research'
                          AND c.withdrawn_at IS NULL) AS "quotable!: bool"
           FROM (
               SELECT * FROM (SELECT user_id, 'rating' AS source, comment AS text, updated_at AS at FROM document_ratings
                              WHERE comment IS NOT NULL AND updated_at >= ?1 ORDER BY updated_at DESC LIMIT ?2)
               UNION ALL
               SELECT * FROM (SELECT user_id, 'survey', comment, updated_at FROM session_surveys
                              WHERE comment IS NOT NULL AND updated_at >= ?1 ORDER BY updated_at DESC LIMIT ?2)
               UNION ALL
               SELECT * FROM (SELECT user_id, 'idea', idea, created_at FROM planning_sessions
                              WHERE idea <> '' AND created_at >= ?1 ORDER BY created_at DESC LIMIT ?2)
           ) t ORDER BY at DESC"#,
        since,
        limit
    )
    .fetch_all(pool)
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

pub(crate) async fn feedback(pool: &SqlitePool, session: SessionId, user: UserId) -> Result<SessionFeedback> {
    let ratings = sqlx::query!(
        r#"SELECT document_id AS "document_id!: uuid::Uuid", rating AS "rating!: i64", useful AS "useful!: bool",
                  comment, updated_at AS "updated_at!: DateTime<Utc>"
           FROM document_ratings WHERE session_id = ?1 AND user_id = ?2 ORDER BY updated_at, document_id"#,
        session.0,
        user.0
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| DocumentRating {
        document: DocumentId(r.document_id),
        session,
        user,
        rating: r.rating,
        useful: r.useful,
        comment: r.comment,
        at: r.updated_at,
    })
    .collect();
    let survey = sqlx::query!(
        r#"SELECT csat AS "csat!: i64", hours_without AS "hours_without!: f64", comment,
                  updated_at AS "updated_at!: DateTime<Utc>"
           FROM session_surveys WHERE session_id = ?1 AND user_id = ?2"#,
        session.0,
        user.0
    )
    .fetch_optional(pool)
    .await
    .map_err(db_err)?
    .map(|r| SessionSurvey {
        session,
        user,
        csat: r.csat,
        hours_without: r.hours_without,
        comment: r.comment,
        at: r.updated_at,
    });
    Ok(SessionFeedback { ratings, survey })
}

/// Past sessions, each with everything that belongs to it, inside the writer's transaction.
pub(crate) fn import(conn: &Connection, sessions: &[PastSession]) -> Result<()> {
    for s in sessions {
        if let Some(problem) = s.problem() {
            return Err(StoreError::Integrity(problem));
        }
        let first_message = s
            .messages
            .iter()
            .find(|m| m.role == MessageRole::User)
            .map(|m| stamp(m.at));
        change(
            conn,
            "INSERT INTO planning_sessions (id, user_id, workflow_id, title, idea, status, current_step, completed_steps,
                 created_at, updated_at, first_message_at, completed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                s.id.0,
                s.user.0,
                s.workflow_id,
                s.title,
                s.idea,
                s.status.as_str(),
                s.current_step,
                s.completed_steps,
                stamp(s.created_at),
                stamp(s.updated_at),
                first_message,
                s.completed_at.map(stamp)
            ],
        )?;
        for (seq, m) in s.messages.iter().enumerate() {
            change(
                conn,
                "INSERT INTO messages (id, session_id, seq, role, step_id, content, status, provider, model, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'complete', ?7, ?8, ?9, ?9)",
                params![
                    m.id.0,
                    s.id.0,
                    seq as i64 + 1,
                    m.role.as_str(),
                    m.step_id,
                    m.content,
                    m.provider,
                    m.model,
                    stamp(m.at)
                ],
            )?;
        }
        for (position, d) in s.documents.iter().enumerate() {
            let content = d.content();
            let filled = content.as_ref().map_or(0, |c| c.filled() as i64);
            change(
                conn,
                "INSERT INTO documents (id, session_id, position, step_id, title, revision, filled, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    d.id.0,
                    s.id.0,
                    position as i64,
                    d.step_id,
                    d.title,
                    i64::from(content.is_some()),
                    filled,
                    stamp(d.at)
                ],
            )?;
            if let Some(content) = content {
                let json = content.to_canonical_json();
                change(
                    conn,
                    "INSERT INTO document_revisions (document_id, revision, author, content, content_hash, created_at)
                     VALUES (?1, 1, 'ai', ?2, ?3, ?4)",
                    params![d.id.0, json, content_hash(&json), stamp(d.at)],
                )?;
            }
        }
        for r in &s.ratings {
            rate(conn, r)?;
        }
        if let Some(v) = &s.survey {
            survey(conn, v)?;
        }
    }
    Ok(())
}
