//! Session quality on PostgreSQL: ratings and surveys upserted; their sums and the
//! time-to-plan quartiles (nearest rank, as on SQLite) made by SQL.

use crate::{PgStore, db_err};
use chrono::{DateTime, Utc};
use plansmith_domain::{DocumentId, MessageRole, SessionId, UserId, content_hash};
use plansmith_store::history::{PastDocument, PastMessage, PastSession};
use plansmith_store::quality::{
    CsatSums, DocumentRating, FeedbackSource, FeedbackText, QualitySums, Quartiles, RatingSums, SessionFeedback,
    SessionSurvey,
};
use plansmith_store::{Result, StoreError};
use uuid::Uuid;

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

pub(crate) async fn feedback(store: &PgStore, session: SessionId, user: UserId) -> Result<SessionFeedback> {
    let mut conn = store.conn().await?;
    let ratings = sqlx::query!(
        r#"SELECT document_id, rating, useful, comment, updated_at
           FROM document_ratings WHERE session_id = $1 AND user_id = $2 ORDER BY updated_at, document_id"#,
        session.0,
        user.0
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| DocumentRating {
        document: DocumentId(r.document_id),
        session,
        user,
        rating: i64::from(r.rating),
        useful: r.useful,
        comment: r.comment,
        at: r.updated_at,
    })
    .collect();
    let survey = sqlx::query!(
        "SELECT csat, hours_without, comment, updated_at FROM session_surveys WHERE session_id = $1 AND user_id = $2",
        session.0,
        user.0
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?
    .map(|r| SessionSurvey {
        session,
        user,
        csat: i64::from(r.csat),
        hours_without: r.hours_without,
        comment: r.comment,
        at: r.updated_at,
    });
    Ok(SessionFeedback { ratings, survey })
}

/// Past sessions in one transaction, each table written by one statement over arrays.
pub(crate) async fn import(store: &PgStore, sessions: &[PastSession]) -> Result<()> {
    if let Some(problem) = sessions.iter().find_map(PastSession::problem) {
        return Err(StoreError::Integrity(problem));
    }
    let mut tx = store.begin().await?;
    let ids: Vec<Uuid> = sessions.iter().map(|s| s.id.0).collect();
    let users: Vec<Uuid> = sessions.iter().map(|s| s.user.0).collect();
    let workflows: Vec<String> = sessions.iter().map(|s| s.workflow_id.clone()).collect();
    let titles: Vec<String> = sessions.iter().map(|s| s.title.clone()).collect();
    let ideas: Vec<String> = sessions.iter().map(|s| s.idea.clone()).collect();
    let statuses: Vec<String> = sessions.iter().map(|s| s.status.as_str().to_owned()).collect();
    let steps: Vec<Option<String>> = sessions.iter().map(|s| s.current_step.clone()).collect();
    let completed_steps: Vec<i64> = sessions.iter().map(|s| s.completed_steps).collect();
    let created: Vec<DateTime<Utc>> = sessions.iter().map(|s| s.created_at).collect();
    let updated: Vec<DateTime<Utc>> = sessions.iter().map(|s| s.updated_at).collect();
    let first_messages: Vec<Option<DateTime<Utc>>> = sessions
        .iter()
        .map(|s| s.messages.iter().find(|m| m.role == MessageRole::User).map(|m| m.at))
        .collect();
    let completed: Vec<Option<DateTime<Utc>>> = sessions.iter().map(|s| s.completed_at).collect();
    sqlx::query!(
        "INSERT INTO planning_sessions (id, user_id, workflow_id, title, idea, status, current_step, completed_steps,
             created_at, updated_at, first_message_at, completed_at)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
             $8::bigint[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[])",
        &ids,
        &users,
        &workflows,
        &titles,
        &ideas,
        &statuses,
        &steps as &[Option<String>],
        &completed_steps,
        &created,
        &updated,
        &first_messages as &[Option<DateTime<Utc>>],
        &completed as &[Option<DateTime<Utc>>]
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;

    let messages: Vec<(&PastSession, usize, &PastMessage)> = sessions
        .iter()
        .flat_map(|s| s.messages.iter().enumerate().map(move |(i, m)| (s, i, m)))
        .collect();
    let ids: Vec<Uuid> = messages.iter().map(|(_, _, m)| m.id.0).collect();
    let of: Vec<Uuid> = messages.iter().map(|(s, _, _)| s.id.0).collect();
    let seqs: Vec<i64> = messages.iter().map(|(_, i, _)| *i as i64 + 1).collect();
    let roles: Vec<String> = messages.iter().map(|(_, _, m)| m.role.as_str().to_owned()).collect();
    let steps: Vec<String> = messages.iter().map(|(_, _, m)| m.step_id.clone()).collect();
    let contents: Vec<String> = messages.iter().map(|(_, _, m)| m.content.clone()).collect();
    let providers: Vec<Option<String>> = messages.iter().map(|(_, _, m)| m.provider.clone()).collect();
    let models: Vec<Option<String>> = messages.iter().map(|(_, _, m)| m.model.clone()).collect();
    let ats: Vec<DateTime<Utc>> = messages.iter().map(|(_, _, m)| m.at).collect();
    sqlx::query!(
        "INSERT INTO messages (id, session_id, seq, role, step_id, content, status, provider, model, created_at, updated_at)
         SELECT id, session_id, seq, role, step_id, content, 'complete', provider, model, at, at
         FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
             $9::timestamptz[]) AS m(id, session_id, seq, role, step_id, content, provider, model, at)",
        &ids,
        &of,
        &seqs,
        &roles,
        &steps,
        &contents,
        &providers as &[Option<String>],
        &models as &[Option<String>],
        &ats
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;

    let documents: Vec<(&PastSession, usize, &PastDocument, Option<String>)> = sessions
        .iter()
        .flat_map(|s| {
            s.documents
                .iter()
                .enumerate()
                .map(move |(i, d)| (s, i, d, d.content().map(|c| c.to_canonical_json())))
        })
        .collect();
    let ids: Vec<Uuid> = documents.iter().map(|(_, _, d, _)| d.id.0).collect();
    let of: Vec<Uuid> = documents.iter().map(|(s, _, _, _)| s.id.0).collect();
    let positions: Vec<i32> = documents.iter().map(|(_, i, _, _)| *i as i32).collect();
    let steps: Vec<String> = documents.iter().map(|(_, _, d, _)| d.step_id.clone()).collect();
    let titles: Vec<String> = documents.iter().map(|(_, _, d, _)| d.title.clone()).collect();
    let revisions: Vec<i64> = documents.iter().map(|(_, _, _, j)| i64::from(j.is_some())).collect();
    let filled: Vec<i64> = documents
        .iter()
        .map(|(_, _, d, _)| d.content().map_or(0, |c| c.filled() as i64))
        .collect();
    let ats: Vec<DateTime<Utc>> = documents.iter().map(|(_, _, d, _)| d.at).collect();
    sqlx::query!(
        "INSERT INTO documents (id, session_id, position, step_id, title, revision, filled, updated_at)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
             $8::timestamptz[])",
        &ids,
        &of,
        &positions,
        &steps,
        &titles,
        &revisions,
        &filled,
        &ats
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let written: Vec<(Uuid, &String, DateTime<Utc>)> = documents
        .iter()
        .filter_map(|(_, _, d, json)| json.as_ref().map(|j| (d.id.0, j, d.at)))
        .collect();
    let ids: Vec<Uuid> = written.iter().map(|(id, _, _)| *id).collect();
    let jsons: Vec<String> = written.iter().map(|(_, j, _)| (*j).clone()).collect();
    let hashes: Vec<String> = jsons.iter().map(|j| content_hash(j)).collect();
    let ats: Vec<DateTime<Utc>> = written.iter().map(|(_, _, at)| *at).collect();
    sqlx::query!(
        "INSERT INTO document_revisions (document_id, revision, author, content, content_hash, created_at)
         SELECT document_id, 1, 'ai', content, content_hash, at
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS r(document_id, content, content_hash, at)",
        &ids,
        &jsons,
        &hashes,
        &ats
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;

    let ratings: Vec<&DocumentRating> = sessions.iter().flat_map(|s| &s.ratings).collect();
    sqlx::query!(
        "INSERT INTO document_ratings (document_id, user_id, session_id, rating, useful, comment, updated_at)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::smallint[], $5::bool[], $6::text[], $7::timestamptz[])",
        &ratings.iter().map(|r| r.document.0).collect::<Vec<_>>(),
        &ratings.iter().map(|r| r.user.0).collect::<Vec<_>>(),
        &ratings.iter().map(|r| r.session.0).collect::<Vec<_>>(),
        &ratings.iter().map(|r| r.rating as i16).collect::<Vec<_>>(),
        &ratings.iter().map(|r| r.useful).collect::<Vec<_>>(),
        &ratings.iter().map(|r| r.comment.clone()).collect::<Vec<_>>() as &[Option<String>],
        &ratings.iter().map(|r| r.at).collect::<Vec<_>>()
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    let surveys: Vec<&SessionSurvey> = sessions.iter().filter_map(|s| s.survey.as_ref()).collect();
    sqlx::query!(
        "INSERT INTO session_surveys (session_id, user_id, csat, hours_without, comment, updated_at)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::smallint[], $4::float8[], $5::text[], $6::timestamptz[])",
        &surveys.iter().map(|v| v.session.0).collect::<Vec<_>>(),
        &surveys.iter().map(|v| v.user.0).collect::<Vec<_>>(),
        &surveys.iter().map(|v| v.csat as i16).collect::<Vec<_>>(),
        &surveys.iter().map(|v| v.hours_without).collect::<Vec<_>>(),
        &surveys.iter().map(|v| v.comment.clone()).collect::<Vec<_>>() as &[Option<String>],
        &surveys.iter().map(|v| v.at).collect::<Vec<_>>()
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(())
}
