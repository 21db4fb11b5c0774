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
            let life = plansmith_store::TokenLife {
                now: chrono::Utc::now(),
                idle: std::time::Duration::from_secs(86_400),
            };
            st.user_by_token(&s.tokens[i % s.tokens.len()], life).await.unwrap();
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
            let lease = plansmith_store::Lease {
                owner: "bench:1".into(),
                duration: Duration::from_secs(60),
            };
            tokio::spawn(async move {
                for i in 0..total / 16 {
                    store
                        .post_message(
                            sessions[(w * 97 + i) % sessions.len()],
                            "benchmark message",
                            None,
                            &lease,
                        )
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
                 INSERT INTO auth_tokens (token_hash, id, user_id, created_at, expires_at, last_used_at) \
                 SELECT randomblob(32), randomblob(16), u.id, {now}, '2100-01-01T00:00:00Z', {now} FROM users u, g"
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

mod gateway {
    //! The gateway's own added time and CPU per request, streaming through the mock provider
    //! (OpenAI protocol over loopback HTTP) at 1,000 concurrent streams started at 1,000/s.
    use async_trait::async_trait;
    use futures::StreamExt;
    use plansmith_cache::{InProcessStreamLog, StreamLog};
    use plansmith_domain::planner::{PlanningContext, Turn};
    use plansmith_llm::{
        Admission, BreakerSettings, Caller, Chunk, ChunkStream, CompletionRequest, Gateway, GatewayEvent, Limits,
        LlmError, OpenAiProvider, PriceTable, Provider, QueueSettings, RetryPolicy, Target, Timeouts,
    };
    use std::collections::{BTreeMap, HashMap};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Records when the gateway hands a request to the provider and when the provider yields
    /// its first text, keyed by the request (its title).
    /// Per request: when it was handed to the provider, and when its first text arrived.
    type CallTimes = Arc<Mutex<HashMap<String, (Instant, Option<Instant>)>>>;

    struct Timed {
        inner: OpenAiProvider,
        calls: CallTimes,
    }

    #[async_trait]
    impl Provider for Timed {
        fn name(&self) -> &str {
            self.inner.name()
        }
        fn model(&self) -> &str {
            self.inner.model()
        }
        async fn stream(&self, request: CompletionRequest) -> Result<ChunkStream, LlmError> {
            let key = request.context.title.clone();
            self.calls.lock().unwrap().insert(key.clone(), (Instant::now(), None));
            let stream = self.inner.stream(request).await?;
            let calls = Arc::clone(&self.calls);
            Ok(Box::pin(stream.inspect(move |item| {
                if let Ok(Chunk::Text(_)) = item {
                    let mut calls = calls.lock().unwrap();
                    if let Some(entry) = calls.get_mut(&key)
                        && entry.1.is_none()
                    {
                        entry.1 = Some(Instant::now());
                    }
                }
            })))
        }
    }

    fn cpu_seconds() -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / 100.0
    }

    fn pct(sorted: &[Duration], p: f64) -> f64 {
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark; run on demand"]
    async fn bench_gateway_overhead() {
        let streams = 1000;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = plansmith_mock_llm::MockOptions {
            time_to_first_token: Duration::from_millis(200),
            tokens_per_second: 40.0,
            reply_tokens: 40,
            ..Default::default()
        };
        let (router, _) = plansmith_mock_llm::router(options);
        tokio::spawn(async move { axum::serve(listener, router).await });
        let calls = Arc::new(Mutex::new(HashMap::new()));
        let inner = OpenAiProvider::new(
            "mock",
            &format!("http://{addr}/v1"),
            "gpt-4o-mini",
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        let provider = Arc::new(Timed {
            inner,
            calls: Arc::clone(&calls),
        });
        let admission = Admission::new(
            Limits::default(),
            QueueSettings {
                max_length: 10_000,
                ..Default::default()
            },
        );
        let gateway = Arc::new(Gateway::new(
            vec![Target::new(provider, Timeouts::default(), admission)],
            RetryPolicy::default(),
            BreakerSettings::default(),
            PriceTable::new([]),
        ));
        let workflows = plansmith_server::workflows::builtin().unwrap();
        let workflow = Arc::clone(workflows.get("quick-brief").unwrap());
        let log = Arc::new(InProcessStreamLog::new());
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..streams {
            // 1,000 requests a second.
            tokio::time::sleep_until((started + Duration::from_millis(i as u64)).into()).await;
            let context = Arc::new(PlanningContext {
                title: format!("r{i}"),
                idea: "A benchmark".into(),
                workflow: Arc::clone(&workflow),
                step_id: "brief".into(),
                documents: BTreeMap::new(),
                history: vec![Turn {
                    role: plansmith_domain::MessageRole::User,
                    step_id: "brief".into(),
                    content: "go".into(),
                }],
            });
            let request = CompletionRequest {
                messages: plansmith_domain::prompt::build_messages(&context),
                max_tokens: 200,
                context,
            };
            let (gateway, log) = (Arc::clone(&gateway), Arc::clone(&log));
            tasks.push(tokio::spawn(async move {
                let reply = uuid::Uuid::now_v7();
                log.open(reply, 0).await.unwrap();
                let caller = Caller {
                    user: format!("u{i}"),
                    paid: false,
                    ticket: reply.to_string(),
                };
                let asked = Instant::now();
                let mut events = gateway.stream(request, caller);
                let mut first_append = None;
                let mut ok = false;
                while let Some(event) = events.next().await {
                    match event {
                        GatewayEvent::Text(text) => {
                            log.append(reply, plansmith_domain::ReplyEvent::Token { text })
                                .await
                                .unwrap();
                            first_append.get_or_insert_with(Instant::now);
                        }
                        GatewayEvent::Finished { .. } => ok = true,
                        GatewayEvent::Failed { error, .. } => panic!("{error}"),
                        _ => {}
                    }
                }
                (format!("r{i}"), asked, first_append, ok)
            }));
        }
        let mut to_upstream = Vec::new();
        let mut to_log = Vec::new();
        let mut completed = 0;
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let elapsed = started.elapsed();
        let cpu = cpu_seconds() - cpu_before;
        let calls = calls.lock().unwrap();
        for (key, asked, first_append, ok) in results {
            completed += usize::from(ok);
            let (called, first_yield) = calls[&key];
            to_upstream.push(called - asked);
            if let (Some(yielded), Some(appended)) = (first_yield, first_append) {
                to_log.push(appended.saturating_duration_since(yielded));
            }
        }
        to_upstream.sort();
        to_log.sort();
        println!(
            "\n### Gateway overhead ({streams} streams at 1,000/s, {completed} complete, {:.1} s)\n",
            elapsed.as_secs_f64()
        );
        println!("| gateway's own time | p50 ms | p99 ms | max ms |\n|---|---|---|---|");
        println!(
            "| request admitted → handed to the provider client | {:.3} | {:.3} | {:.3} |",
            pct(&to_upstream, 0.5),
            pct(&to_upstream, 0.99),
            pct(&to_upstream, 1.0)
        );
        println!(
            "| first upstream token → first event in the stream log | {:.3} | {:.3} | {:.3} |",
            pct(&to_log, 0.5),
            pct(&to_log, 0.99),
            pct(&to_log, 1.0)
        );
        println!(
            "\nCPU for the whole run (gateway, HTTP client, mock server, stream log): {cpu:.2} s = {:.2} ms per request",
            cpu * 1e3 / streams as f64
        );
        assert_eq!(completed, streams);
    }
}
