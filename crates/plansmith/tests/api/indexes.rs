//! Every hot query uses an index on a big database (PostgreSQL, ≥100,000 sessions and
//! ≥1,000,000 messages), and list queries are one statement whatever the list length.

use crate::testdb::{admin, url_for};
use plansmith_domain::{DocumentId, Email, MessageId, Revision, SessionId, UserId};
use plansmith_store::{NewDocument, NewSession, NewUser, Store};
use plansmith_store_postgres::{PgOptions, PgStore};
use plansmith_store_tests::Backend;
use sqlx::postgres::PgPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use uuid::Uuid;

const FILLED: &str = "plansmith_filled";
/// Bump when the fill or the schema changes, so the next run refills.
const FILL_VERSION: i32 = 3;
const SESSIONS: i64 = 100_000;
const MESSAGES_PER_SESSION: i64 = 10;

/// The shared big database: created and filled once (per machine and fill version), then
/// reused by every test run. An advisory lock keeps parallel tests from filling it twice.
pub async fn filled() -> PgPool {
    let mut conn = admin().await;
    sqlx::query("SELECT pg_advisory_lock(424242)")
        .execute(&mut conn)
        .await
        .unwrap();
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(FILLED)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let store = if exists {
        let store = PgStore::connect(&url_for(FILLED), &PgOptions::default()).await.unwrap();
        let version: Option<i32> = sqlx::query_scalar("SELECT version FROM fill_info")
            .fetch_optional(store.pool())
            .await
            .unwrap_or(None);
        if version == Some(FILL_VERSION) {
            Some(store)
        } else {
            store.close().await;
            None
        }
    } else {
        None
    };
    let store = match store {
        Some(store) => store,
        None => {
            let drop = format!("DROP DATABASE IF EXISTS {FILLED} WITH (FORCE)");
            sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {FILLED}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let options = PgOptions {
                statement_timeout: std::time::Duration::from_secs(900),
                ..PgOptions::default()
            };
            let store = PgStore::connect(&url_for(FILLED), &options).await.unwrap();
            store.migrate().await.unwrap();
            fill(store.pool()).await;
            store
        }
    };
    sqlx::query("SELECT pg_advisory_unlock(424242)")
        .execute(&mut conn)
        .await
        .unwrap();
    store.pool().clone()
}

async fn fill(pool: &PgPool) {
    let statements = [
        "INSERT INTO users (id, email, password_hash, created_at) \
         SELECT gen_random_uuid(), 'user' || g || '@example.com', 'h', now() FROM generate_series(1, 1000) g"
            .to_owned(),
        format!(
            "INSERT INTO planning_sessions (id, user_id, workflow_id, title, idea, status, current_step, created_at, updated_at) \
             SELECT gen_random_uuid(), u.id, 'quick-brief', 'Session', 'Idea', 'completed', NULL, now(), now() \
             FROM users u, generate_series(1, {})",
            SESSIONS / 1000
        ),
        format!(
            "INSERT INTO messages (id, session_id, seq, role, step_id, content, status, created_at, updated_at) \
             SELECT gen_random_uuid(), s.id, g, CASE WHEN g % 2 = 1 THEN 'user' ELSE 'assistant' END, 'brief', \
             'A message of ordinary length about the project.', 'complete', now(), now() \
             FROM planning_sessions s, generate_series(1, {MESSAGES_PER_SESSION}) g"
        ),
        "INSERT INTO documents (id, session_id, position, step_id, title, revision, filled, updated_at) \
         SELECT gen_random_uuid(), s.id, 0, 'brief', 'Project brief', 3, 1, now() FROM planning_sessions s"
            .to_owned(),
        "INSERT INTO document_revisions (document_id, revision, author, content, content_hash, created_at) \
         SELECT d.id, g, 'user', '{}', encode(sha256(convert_to('{}', 'UTF8')), 'hex'), now() FROM documents d, generate_series(1, 3) g"
            .to_owned(),
        "INSERT INTO auth_tokens (token_hash, id, user_id, created_at, expires_at, last_used_at) \
         SELECT sha256(convert_to(u.id::text || g, 'UTF8')), gen_random_uuid(), u.id, now(), now() + interval '100 years', now() \
         FROM users u, generate_series(1, 100) g"
            .to_owned(),
        "CREATE TABLE fill_info (version INT NOT NULL)".to_owned(),
        format!("INSERT INTO fill_info VALUES ({FILL_VERSION})"),
        "ANALYZE".to_owned(),
    ];
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// Runs `work` and returns the statements it executed (from sqlx's `sqlx::query` events).
async fn statements_of<F: std::future::Future>(work: F) -> Vec<String> {
    count_statements();
    let before = CAPTURED.lock().unwrap().len();
    work.await;
    CAPTURED.lock().unwrap()[before..].to_vec()
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// `EXPLAIN`s exactly the statement the store ran, with the same parameters.
async fn plan_of(pool: &PgPool, statement: &str, bind: impl FnOnce(PgQuery<'_>) -> PgQuery<'_>) -> String {
    let explain = format!("EXPLAIN {statement}");
    let rows = bind(sqlx::query(sqlx::AssertSqlSafe(explain)))
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {statement}: {e}"));
    rows.iter()
        .map(|r| sqlx::Row::get::<String, _>(r, 0))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_indexed(name: &str, plan: &str) {
    for table in [
        "planning_sessions",
        "messages",
        "documents",
        "document_revisions",
        "auth_tokens",
        "users",
    ] {
        assert!(
            !plan.contains(&format!("Seq Scan on {table}")),
            "{name} scans {table} sequentially:\n{plan}"
        );
    }
    assert!(plan.contains("Index"), "{name} uses no index:\n{plan}");
}

/// The one statement an operation ran.
fn single(name: &str, statements: Vec<String>) -> String {
    assert_eq!(statements.len(), 1, "{name} ran {statements:?}");
    statements.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_queries_use_indexes_on_a_big_database() {
    let pool = filled().await;
    let counts: (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM planning_sessions), (SELECT COUNT(*) FROM messages)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(counts.0 >= 100_000 && counts.1 >= 1_000_000, "{counts:?}");
    let (user, session): (Uuid, Uuid) = sqlx::query_as("SELECT user_id, id FROM planning_sessions LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let message: Uuid = sqlx::query_scalar("SELECT id FROM messages WHERE session_id = $1 LIMIT 1")
        .bind(session)
        .fetch_one(&pool)
        .await
        .unwrap();
    let document: Uuid = sqlx::query_scalar("SELECT id FROM documents WHERE session_id = $1")
        .bind(session)
        .fetch_one(&pool)
        .await
        .unwrap();
    let (token, last_used): (Vec<u8>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT token_hash, last_used_at FROM auth_tokens LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    // Just after its last use (however old the filled database): a read, no write of the use.
    let life = plansmith_store::TokenLife {
        now: last_used + chrono::Duration::seconds(1),
        idle: std::time::Duration::from_secs(86_400),
    };
    let email: String = sqlx::query_scalar("SELECT email FROM users LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let store = PgStore::connect(&url_for(FILLED), &PgOptions::default()).await.unwrap();
    let (u, s, m, d) = (
        UserId(user),
        SessionId(session),
        MessageId(message),
        DocumentId(document),
    );
    let email = Email::parse(&email).unwrap();

    let sql = single(
        "sessions of a user",
        statements_of(store.list_sessions(u, None, 21)).await,
    );
    assert_indexed(
        "sessions of a user",
        &plan_of(&pool, &sql, |q| q.bind(user).bind(None::<Uuid>).bind(21_i64)).await,
    );
    let sql = single("next page", statements_of(store.list_sessions(u, Some(s), 21)).await);
    assert_indexed(
        "next page",
        &plan_of(&pool, &sql, |q| q.bind(user).bind(Some(session)).bind(21_i64)).await,
    );
    let sql = single("one session", statements_of(store.get_session(u, s)).await);
    assert_indexed(
        "one session of a user",
        &plan_of(&pool, &sql, |q| q.bind(session).bind(user)).await,
    );
    let sql = single("messages", statements_of(store.list_messages(s)).await);
    assert_indexed(
        "messages of a session",
        &plan_of(&pool, &sql, |q| q.bind(session)).await,
    );
    let sql = single("one message", statements_of(store.get_message(s, m)).await);
    assert_indexed(
        "one message",
        &plan_of(&pool, &sql, |q| q.bind(message).bind(session)).await,
    );
    let sql = single("documents", statements_of(store.list_documents(s)).await);
    assert_indexed(
        "documents of a session",
        &plan_of(&pool, &sql, |q| q.bind(session)).await,
    );
    let sql = single("revisions", statements_of(store.list_revisions(d)).await);
    assert_indexed(
        "revisions of a document",
        &plan_of(&pool, &sql, |q| q.bind(document)).await,
    );
    let sql = single(
        "one revision",
        statements_of(store.get_document(s, d, Some(Revision(2)))).await,
    );
    assert_indexed(
        "one revision",
        &plan_of(&pool, &sql, |q| q.bind(Some(2_i64)).bind(document).bind(session)).await,
    );
    let sql = single("current documents", statements_of(store.current_documents(s)).await);
    assert_indexed(
        "a session's current documents",
        &plan_of(&pool, &sql, |q| q.bind(session)).await,
    );
    let sql = single("user by token", statements_of(store.user_by_token(&token, life)).await);
    assert_indexed(
        "user by token",
        &plan_of(&pool, &sql, |q| {
            q.bind(token.clone()).bind(life.now).bind(life.idle_cutoff())
        })
        .await,
    );
    let sql = single("user by email", statements_of(store.user_by_email(&email)).await);
    assert_indexed(
        "user by email",
        &plan_of(&pool, &sql, |q| q.bind(email.as_str().to_owned())).await,
    );
    // Statements inside writes that search: the next message number, unfinished replies at start.
    let next_seq = "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE session_id = $1";
    assert_indexed(
        "next message number",
        &plan_of(&pool, next_seq, |q| q.bind(session)).await,
    );
    let unfinished = "SELECT id FROM messages WHERE status IN ('queued', 'streaming')";
    assert_indexed("unfinished replies", &plan_of(&pool, unfinished, |q| q).await);
}

/// Counts the SQL statements sqlx runs (its `sqlx::query` log events).
static STATEMENTS: AtomicUsize = AtomicUsize::new(0);
static CAPTURED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct CountStatements;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut summary = Summary(String::new(), String::new());
        event.record(&mut summary);
        // Connection set-up (SQLite PRAGMAs) is not a statement of the operation measured.
        if !summary.0.trim_start().starts_with("PRAGMA") {
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
            CAPTURED.lock().unwrap().push(summary.1);
        }
    }
}

/// The `summary` and full `db.statement` of a sqlx event.
struct Summary(String, String);

impl tracing::field::Visit for Summary {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => self.0 = value.to_owned(),
            "db.statement" => self.1 = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, format!("{value:?}").trim_matches('"'));
    }
}

fn count_statements() {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(
        CountStatements
            .with_filter(tracing_subscriber::filter::Targets::new().with_target("sqlx::query", tracing::Level::TRACE)),
    );
    // Each test runs in its own process under nextest; a second install is harmless.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

use tracing_subscriber::Layer as _;

async fn statements_for<F: std::future::Future>(work: F) -> usize {
    let before = STATEMENTS.load(Ordering::SeqCst);
    work.await;
    STATEMENTS.load(Ordering::SeqCst) - before
}

async fn lists_cost_one_statement(b: Backend) {
    count_statements();
    let store: &dyn Store = b.store.as_ref();
    let email = Email::parse(&format!("n1-{}@example.com", Uuid::now_v7().simple())).unwrap();
    let user: UserId = store
        .create_user(NewUser {
            email,
            name: None,
            password_hash: "h".into(),
        })
        .await
        .unwrap()
        .id;
    let mut last: Option<(SessionId, DocumentId)> = None;
    let mut costs = Vec::new();
    let lease = plansmith_store::Lease {
        owner: "indexes:1".into(),
        duration: std::time::Duration::from_secs(60),
    };
    for size in [1, 30] {
        while store.list_sessions(user, None, 100).await.unwrap().len() < size {
            let doc = DocumentId::new();
            let id = SessionId::new();
            store
                .create_session(NewSession {
                    id,
                    user_id: user,
                    workflow_id: "quick-brief".into(),
                    title: "T".into(),
                    idea: "I".into(),
                    first_step: "brief".into(),
                    documents: vec![NewDocument {
                        id: doc,
                        step_id: "brief".into(),
                        title: "Brief".into(),
                    }],
                    intro: "Hi".into(),
                    max_active: u32::MAX,
                })
                .await
                .unwrap();
            store.post_message(id, "hello", None, &lease).await.unwrap();
            store.edit_section(doc, "summary", "x", Revision(0)).await.unwrap();
            last = Some((id, doc));
        }
        let (session, doc) = last.unwrap();
        // Warm the pool first: opening a connection runs set-up statements of its own.
        for _ in 0..3 {
            store.list_sessions(user, None, 100).await.unwrap();
        }
        costs.push([
            statements_for(store.list_sessions(user, None, 100)).await,
            statements_for(store.list_messages(session)).await,
            statements_for(store.list_documents(session)).await,
            statements_for(store.list_revisions(doc)).await,
        ]);
    }
    assert_eq!(costs[0], costs[1], "list costs must not grow with the list (N+1)");
    assert!(costs[0].iter().all(|&c| c == 1), "one statement per list: {costs:?}");
}

mod lists_are_one_statement {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::lists_cost_one_statement(plansmith_store_tests::Backend::sqlite().await).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::lists_cost_one_statement(plansmith_store_tests::Backend::postgres().await).await;
    }
}
