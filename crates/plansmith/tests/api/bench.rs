//! Store benchmark (run on demand, figures go to docs/performance.md):
//! `cargo nextest run -p plansmith --run-ignored only -E 'test(/bench::/)' --no-capture`
//! Hot queries p50/p99 at ≥100,000 sessions and ≥1,000,000 messages on both backends, and the
//! throughput of the post-message transaction.

use plansmith_domain::{DocumentId, SessionId, UserId};
use plansmith_store::Store;
use plansmith_store_postgres::{PgOptions, PgStore};
use plansmith_store_sqlite::{SqliteOptions, SqliteStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const SAMPLES: usize = 2000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure<F, Fut>(name: &str, mut op: F) -> String
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..50 {
        op(i).await;
    }
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let started = Instant::now();
        op(i).await;
        times.push(started.elapsed());
    }
    times.sort();
    format!(
        "| {name} | {:.3} | {:.3} |",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    )
}

struct Sample {
    users: Vec<UserId>,
    sessions: Vec<SessionId>,
    documents: Vec<(SessionId, DocumentId)>,
    tokens: Vec<Vec<u8>>,
}

async fn run(label: &str, store: Arc<dyn Store>, sample: Sample) {
    let s = &sample;
    let st = store.as_ref();
    let mut rows = vec![format!(
        "\n### {label}\n\n| operation | p50 ms | p99 ms |\n|---|---|---|"
    )];
    rows.push(
        measure("sessions of a user (page of 20)", |i| async move {
            st.list_sessions(s.users[i % s.users.len()], None, 21).await.unwrap();
        })
        .await,
    );
    rows.push(
        measure("one session of a user", |i| async move {
            let _ = st
                .get_session(s.users[0], s.sessions[i % s.sessions.len()])
                .await
                .unwrap();
        })
        .await,
    );
    rows.push(
        measure("messages of a session (10)", |i| async move {
            st.list_messages(s.sessions[i % s.sessions.len()]).await.unwrap();
        })
        .await,
    );
    rows.push(
        measure("latest document (hash verified)", |i| async move {
            let (session, doc) = s.documents[i % s.documents.len()];
            st.get_document(session, doc, None).await.unwrap();
        })
        .await,
    );
    rows.push(
        measure("user by token", |i| async move {
            st.user_by_token(&s.tokens[i % s.tokens.len()], chrono::Utc::now())
                .await
                .unwrap();
        })
        .await,
    );
    println!("{}", rows.join("\n"));

    // Post-message transaction throughput: 16 concurrent writers.
    let total = 4000;
    let started = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|w| {
            let store = store.clone();
            let sessions = sample.sessions.clone();
            tokio::spawn(async move {
                for i in 0..total / 16 {
                    store
                        .post_message(sessions[(w * 97 + i) % sessions.len()], "brief", "benchmark message")
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!("\npost-message transactions ({label}, 16 writers): {rate:.0}/s");
}

async fn sample_from_pg(pool: &sqlx::PgPool) -> Sample {
    let pairs: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "SELECT s.user_id, s.id, d.id FROM planning_sessions s JOIN documents d ON d.session_id = s.id ORDER BY random() LIMIT 500",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let tokens: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM auth_tokens LIMIT 500")
        .fetch_all(pool)
        .await
        .unwrap();
    Sample {
        users: pairs.iter().map(|p| UserId(p.0)).collect(),
        sessions: pairs.iter().map(|p| SessionId(p.1)).collect(),
        documents: pairs.iter().map(|p| (SessionId(p.1), DocumentId(p.2))).collect(),
        tokens,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run on demand"]
async fn bench_postgres() {
    let pool = crate::indexes::filled().await;
    let sample = sample_from_pg(&pool).await;
    let url = crate::testdb::url_for("plansmith_filled");
    let store = PgStore::connect(&url, &PgOptions::default()).await.unwrap();
    run("PostgreSQL", Arc::new(store), sample).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run on demand"]
async fn bench_sqlite() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let store = SqliteStore::connect(&url, &SqliteOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
    let statements = [
        format!(
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 1000) \
                 INSERT INTO users (id, email, password_hash, created_at) SELECT randomblob(16), 'user' || x || '@example.com', 'h', {now} FROM g"
        ),
        format!(
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 100) \
                 INSERT INTO planning_sessions (id, user_id, workflow_id, title, idea, status, current_step, created_at, updated_at) \
                 SELECT randomblob(16), u.id, 'quick-brief', 'Session', 'Idea', 'active', 'brief', {now}, {now} FROM users u, g"
        ),
        format!(
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 10) \
                 INSERT INTO messages (id, session_id, seq, role, step_id, content, status, created_at, updated_at) \
                 SELECT randomblob(16), s.id, x, 'user', 'brief', 'A message of ordinary length about the project.', 'complete', {now}, {now} \
                 FROM planning_sessions s, g"
        ),
        format!(
            "INSERT INTO documents (id, session_id, position, step_id, title, updated_at) \
                 SELECT randomblob(16), s.id, 0, 'brief', 'Project brief', {now} FROM planning_sessions s"
        ),
        format!(
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 100) \
                 INSERT INTO auth_tokens (token_hash, user_id, created_at, expires_at) \
                 SELECT randomblob(32), u.id, {now}, '2100-01-01T00:00:00Z' FROM users u, g"
        ),
        "ANALYZE".to_owned(),
    ];
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&raw).await.unwrap();
    }
    let pairs: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "SELECT s.user_id, s.id, d.id FROM planning_sessions s JOIN documents d ON d.session_id = s.id ORDER BY random() LIMIT 500",
    )
    .fetch_all(&raw)
    .await
    .unwrap();
    let tokens: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM auth_tokens LIMIT 500")
        .fetch_all(&raw)
        .await
        .unwrap();
    let sample = Sample {
        users: pairs.iter().map(|p| UserId(p.0)).collect(),
        sessions: pairs.iter().map(|p| SessionId(p.1)).collect(),
        documents: pairs.iter().map(|p| (SessionId(p.1), DocumentId(p.2))).collect(),
        tokens,
    };
    let counts: (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM planning_sessions), (SELECT COUNT(*) FROM messages)")
            .fetch_one(&raw)
            .await
            .unwrap();
    println!("SQLite filled: {} sessions, {} messages", counts.0, counts.1);
    run("SQLite", Arc::new(store), sample).await;
}
