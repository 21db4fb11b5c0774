//! Observability: who may read `/metrics`, every metric family after a planning session, the
//! access log, error groups with their notification, Sentry, and the web app's error reports.

use crate::helpers::{METRICS_TOKEN, TestApp, spawn_with};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::routing::{get, post};
use plansmith_server::Overrides;
use plansmith_server::error::CommonError;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bodies posted to a small server of ours (a webhook receiver or Sentry's envelope
/// endpoint), answering each with the next status of `answers` (then 200).
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<(String, String)>>>,
    answers: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start(answers: Vec<u16>) -> (Self, String) {
        let receiver = Self {
            answers: Arc::new(Mutex::new(answers)),
            ..Self::default()
        };
        async fn take(State(r): State<Receiver>, uri: axum::http::Uri, body: Bytes) -> AxumStatus {
            r.bodies
                .lock()
                .unwrap()
                .push((uri.path().to_owned(), String::from_utf8_lossy(&body).into_owned()));
            let mut answers = r.answers.lock().unwrap();
            let code = if answers.is_empty() { 200 } else { answers.remove(0) };
            AxumStatus::from_u16(code).unwrap()
        }
        let app = Router::new().fallback(post(take)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, format!("http://{addr}"))
    }

    fn bodies(&self) -> Vec<(String, String)> {
        self.bodies.lock().unwrap().clone()
    }

    /// Waits until at least `n` bodies arrived.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<(String, String)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let bodies = self.bodies();
            if bodies.len() >= n || tokio::time::Instant::now() > deadline {
                return bodies;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Routes that fail on purpose, behind the same middleware as the API.
fn failing_routes() -> Router<plansmith_server::state::AppState> {
    async fn fail(_signed_in: plansmith_server::auth::AuthUser) -> Result<(), CommonError> {
        Err(CommonError::internal("the ledger is on fire"))
    }
    async fn explode() -> &'static str {
        panic!("the handler gave up")
    }
    Router::new()
        .route("/api/v1/test/fail", get(fail))
        .route("/api/v1/test/panic", get(explode))
}

async fn admin(app: &TestApp) -> String {
    let token = app.user().await;
    let (_, me) = app.get("/api/v1/me", &token).await;
    let store = plansmith_server::open_store(&app.settings, false).await.unwrap();
    let email = plansmith_domain::Email::parse(me["email"].as_str().unwrap()).unwrap();
    assert!(
        store
            .set_user_role(&email, plansmith_domain::Role::Admin)
            .await
            .unwrap()
    );
    token
}

async fn status_of(app: &TestApp, path: &str, token: Option<&str>) -> StatusCode {
    app.request(reqwest::Method::GET, path, token, None).await.status()
}

#[tokio::test]
async fn metrics_are_served_to_the_token_or_on_their_own_listener_and_nowhere_else() {
    let app = spawn_with(|_| {}, Overrides::default()).await;
    let no_token = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("not-the-metrics-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(app.metrics().await.contains("plansmith_http_requests_total"));

    let closed = spawn_with(|s| s.metrics.token = None, Overrides::default()).await;
    let answer = closed.client.get(closed.url("/metrics")).send().await.unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::NOT_FOUND,
        "neither listener nor token: 404"
    );

    let dir = tempfile::TempDir::new().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path());
    let _db = if crate::testdb::api_on_postgres() {
        let db = crate::testdb::TestDb::create().await;
        settings.database.url = db.url.clone();
        Some(db)
    } else {
        None
    };
    settings.metrics.listen = Some("127.0.0.1:0".into());
    let application = plansmith_server::Application::build(settings.clone()).await.unwrap();
    let metrics_addr = application.metrics_addr().expect("a metrics listener");
    let base = application.base_url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let on_main = client
        .get(format!("{base}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        on_main.status(),
        StatusCode::NOT_FOUND,
        "with metrics.listen, never on the main listener"
    );
    let own = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert!(own.text().await.unwrap().contains("plansmith_ready 1"));
    let other = client
        .get(format!("http://{metrics_addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        StatusCode::NOT_FOUND,
        "the metrics listener serves nothing else"
    );
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

/// Samples of one family (`name{labels} value` lines), by their label text.
fn samples<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let labels = match series.strip_prefix(name)? {
                "" => "",
                rest if rest.starts_with('{') => rest,
                _ => return None,
            };
            Some((labels, value.parse().ok()?))
        })
        .collect()
}

fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    samples(text, name)
        .into_iter()
        .filter(|(l, _)| labels.iter().all(|want| l.contains(want)))
        .map(|(_, v)| v)
        .sum()
}

/// Every family the operator's dashboards and alerts read, after a planning session.
const FAMILIES: &[&str] = &[
    "plansmith_http_requests_total",
    "plansmith_http_request_duration_seconds_bucket",
    "plansmith_llm_requests_total",
    "plansmith_llm_time_to_first_token_seconds_bucket",
    "plansmith_llm_tokens_total",
    "plansmith_llm_cost_microdollars_total",
    "plansmith_llm_queue_depth",
    "plansmith_llm_queue_capacity",
    "plansmith_llm_in_flight",
    "plansmith_llm_breaker_open",
    "plansmith_active_replies",
    "plansmith_active_streams",
    "plansmith_replies_total",
    "plansmith_reply_first_token_seconds_bucket",
    "plansmith_reply_first_token_overhead_seconds_bucket",
    "plansmith_sessions_started_total",
    "plansmith_sessions_completed_total",
    "plansmith_sessions_abandoned_total",
    "plansmith_session_completion_seconds_bucket",
    "plansmith_step_completion_seconds_bucket",
    "plansmith_users",
    "plansmith_active_users",
    "plansmith_paying_users",
    "plansmith_sessions_in_progress",
    "plansmith_db_pool_connections",
    "plansmith_db_pool_max_connections",
    "plansmith_db_pool_waiting",
    "plansmith_db_pool_acquisitions_total",
    "plansmith_db_pool_acquire_wait_seconds_total",
    "plansmith_dependency_latency_seconds_bucket",
    "plansmith_ready",
    "plansmith_build_info",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planning_session_shows_in_every_metric_family() {
    let app = spawn_with(|s| s.metrics.refresh_seconds = 1, Overrides::default()).await;
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let sid = session["id"].as_str().unwrap();
    let sent = app.say(&token, sid, "Please draft the rest").await;
    let reply_id = sent["reply"]["id"].as_str().unwrap();
    let stream = app
        .open_stream(
            &format!("/api/v1/sessions/{sid}/replies/{reply_id}/stream"),
            &token,
            None,
        )
        .await;
    let connected = app.metrics().await;
    assert_eq!(
        value(&connected, "plansmith_active_streams", &[]),
        1.0,
        "one SSE client connected"
    );
    crate::helpers::read_events(stream, usize::MAX).await;
    app.wait_reply(&token, sid, reply_id).await;
    let (status, done) = app
        .post(
            &format!("/api/v1/sessions/{sid}/steps/brief/complete"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "completed");
    let dropped = app.session(&token, "product-plan").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/sessions/{}/abandon", dropped["id"].as_str().unwrap()),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.session(&token, "product-plan").await;
    // Let the business gauges refresh (every second here) after the sessions.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let text = app.metrics().await;

    for family in FAMILIES {
        assert!(!samples(&text, family).is_empty(), "{family} missing from\n{text}");
    }
    // Counters are counters, with the matched route (never a raw id) as their label.
    assert!(text.contains("# TYPE plansmith_http_requests_total counter"));
    assert!(text.contains("# TYPE plansmith_sessions_started_total counter"));
    assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
    assert!(!text.contains(sid), "no session id in any label");
    assert!(
        value(
            &text,
            "plansmith_http_requests_total",
            &[
                "route=\"/api/v1/sessions/{id}/messages\"",
                "method=\"POST\"",
                "status=\"202\""
            ]
        ) >= 1.0
    );
    assert_eq!(
        value(&text, "plansmith_sessions_started_total", &["workflow=\"quick-brief\""]),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "plansmith_sessions_started_total",
            &["workflow=\"product-plan\""]
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "plansmith_sessions_completed_total",
            &["workflow=\"quick-brief\""]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "plansmith_sessions_abandoned_total",
            &["workflow=\"product-plan\""]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "plansmith_session_completion_seconds_count",
            &["workflow=\"quick-brief\""]
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "plansmith_step_completion_seconds_count",
            &["workflow=\"quick-brief\"", "step=\"brief\""]
        ),
        1.0
    );
    assert!(
        value(
            &text,
            "plansmith_llm_requests_total",
            &["provider=\"offline\"", "outcome=\"ok\""]
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            "plansmith_llm_tokens_total",
            &["provider=\"offline\"", "direction=\"output\""]
        ) > 0.0
    );
    assert!(
        value(
            &text,
            "plansmith_llm_time_to_first_token_seconds_count",
            &["provider=\"offline\""]
        ) >= 1.0
    );
    assert_eq!(
        value(&text, "plansmith_llm_breaker_open", &["provider=\"offline\""]),
        0.0
    );
    assert_eq!(
        value(&text, "plansmith_llm_queue_capacity", &["provider=\"offline\""]),
        1000.0
    );
    assert_eq!(value(&text, "plansmith_active_streams", &[]), 0.0, "the stream ended");
    assert_eq!(value(&text, "plansmith_users", &[]), 1.0);
    assert_eq!(value(&text, "plansmith_paying_users", &[]), 0.0);
    assert_eq!(value(&text, "plansmith_active_users", &["window=\"1d\""]), 1.0);
    assert_eq!(value(&text, "plansmith_active_users", &["window=\"30d\""]), 1.0);
    assert_eq!(value(&text, "plansmith_sessions_in_progress", &[]), 1.0);
    assert!(
        value(
            &text,
            "plansmith_dependency_latency_seconds_count",
            &["dependency=\"database\""]
        ) >= 1.0
    );
    assert_eq!(value(&text, "plansmith_ready", &[]), 1.0);
    assert!(value(&text, "process_resident_memory_bytes", &[]) > 1e6);
    let max = value(&text, "plansmith_db_pool_max_connections", &[]);
    assert!(max >= 1.0, "pool bound exported: {max}");
    if !crate::testdb::api_on_postgres() {
        assert!(!samples(&text, "plansmith_sqlite_writer_queue_depth").is_empty());
        assert!(value(&text, "plansmith_storage_volume_size_bytes", &[]) > 0.0);
    }
}

#[tokio::test]
async fn every_metric_the_alert_rules_and_dashboards_read_is_exported() {
    let app = spawn_with(
        |s| s.alerts.daily_spend_usd = Some(plansmith_domain::Money::from_dollars(50)),
        Overrides::default(),
    )
    .await;
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let sid = session["id"].as_str().unwrap();
    let sent = app.say(&token, sid, "Please draft the rest").await;
    app.wait_reply(&token, sid, sent["reply"]["id"].as_str().unwrap()).await;
    app.post(
        &format!("/api/v1/sessions/{sid}/steps/brief/complete"),
        &token,
        json!({}),
    )
    .await;
    let text = app.metrics().await;
    let exported: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(base_name)
        .collect();
    // Families exported only in the scaled-out mode, or only once something failed.
    let conditional = [
        "plansmith_redis_command_duration_seconds",
        "plansmith_redis_command_errors_total",
        "plansmith_server_errors_total",
        "plansmith_client_errors_total",
        "plansmith_dependency_errors_total",
        "plansmith_sessions_abandoned_total",
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let mut files = Vec::new();
    for dir in ["prometheus/rules", "grafana/dashboards"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("deploy/{dir}: {e}")) {
            files.push(entry.unwrap().path());
        }
    }
    let dashboards = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .count();
    assert!(dashboards >= 4, "four dashboards in deploy/grafana/dashboards");
    let mut read = BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for name in metric_names(&text) {
            read.insert((name, file.file_name().unwrap().to_string_lossy().into_owned()));
        }
    }
    assert!(read.len() > 20, "the rules and dashboards read metrics: {read:?}");
    // Families of the embedded mode (SQLite): checked by the SQLite run of these tests.
    let embedded_only = [
        "plansmith_sqlite_writer_queue_depth",
        "plansmith_storage_volume_free_bytes",
        "plansmith_storage_volume_size_bytes",
    ];
    let on_postgres = crate::testdb::api_on_postgres();
    let missing: Vec<_> = read
        .iter()
        .filter(|(name, _)| !exported.contains(name) && !conditional.contains(&name.as_str()))
        .filter(|(name, _)| !(on_postgres && embedded_only.contains(&name.as_str())))
        .collect();
    assert!(
        missing.is_empty(),
        "read but never exported: {missing:?}\nexported: {exported:?}"
    );
}

/// A series name without the suffixes a histogram adds.
fn base_name(series: &str) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = series.strip_suffix(suffix) {
            return base.to_owned();
        }
    }
    series.to_owned()
}

/// The `plansmith_*` metric names a rule or dashboard file mentions.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("plansmith_") {
        let before = rest[..at].chars().next_back();
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        // Recording rules (`job:plansmith_…:ratio`) and words inside other names are not metrics.
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') || rest.starts_with(':') {
            continue;
        }
        names.insert(base_name(&name));
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_grouped_notified_once_and_listed_for_admins() {
    // The webhook fails once: the notification is retried.
    let (webhook, webhook_url) = Receiver::start(vec![500]).await;
    let app = spawn_with(
        |s| s.alerts.webhook_url = Some(format!("{webhook_url}/hook")),
        Overrides {
            routes: Some(failing_routes()),
            ..Overrides::default()
        },
    )
    .await;
    let token = app.user().await;
    let mut request_ids = Vec::new();
    for _ in 0..3 {
        let answer = app
            .request(reqwest::Method::GET, "/api/v1/test/fail", Some(&token), None)
            .await;
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        request_ids.push(answer.headers()["x-request-id"].to_str().unwrap().to_owned());
        let body: Value = answer.json().await.unwrap();
        assert!(
            !body.to_string().contains("ledger"),
            "the cause stays on the server: {body}"
        );
    }
    let panicked = app
        .request(reqwest::Method::GET, "/api/v1/test/panic", None, None)
        .await;
    assert_eq!(panicked.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(status_of(&app, "/healthz", None).await, StatusCode::OK, "still serving");

    webhook.wait_for(3, Duration::from_secs(10)).await;
    // Give a wrong extra notification time to arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bodies: Vec<Value> = webhook
        .bodies()
        .iter()
        .map(|(path, body)| {
            assert_eq!(path, "/hook");
            serde_json::from_str(body).unwrap()
        })
        .collect();
    let titles: Vec<&str> = bodies.iter().map(|b| b["title"].as_str().unwrap()).collect();
    let groups: BTreeSet<&str> = titles.iter().copied().collect();
    assert_eq!(groups.len(), 2, "one notification per new group: {titles:?}");
    // The first post was refused once and sent again; the repeated 5xx sent nothing.
    assert_eq!(titles.len(), 3, "two groups, one retry: {titles:?}");
    let fail = bodies.iter().find(|b| b["kind"] == "http_5xx").unwrap();
    assert_eq!(fail["type"], "new_error_group");
    assert_eq!(fail["request_id"], request_ids[0].as_str());
    assert!(fail["detail"].as_str().unwrap().contains("the ledger is on fire"));

    let admin = admin(&app).await;
    let (status, list) = app.get("/api/v1/admin/errors", &admin).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    let group = items.iter().find(|g| g["kind"] == "http_5xx").expect("the 5xx group");
    assert_eq!(group["count"], 3);
    assert_eq!(group["sample_request_id"], request_ids[2].as_str());
    assert!(group["sample_user_id"].is_string(), "the signed-in user: {group}");
    let panic_group = items.iter().find(|g| g["kind"] == "panic").expect("the panic group");
    assert!(
        panic_group["detail"].as_str().unwrap().contains("observability.rs"),
        "where it panicked: {panic_group}"
    );
    let (status, _) = app.get("/api/v1/admin/errors", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/v1/admin/errors?limit=0", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let text = app.metrics().await;
    assert_eq!(
        value(&text, "plansmith_server_errors_total", &["kind=\"http_5xx\""]),
        3.0
    );
    assert_eq!(value(&text, "plansmith_server_errors_total", &["kind=\"panic\""]), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_reach_sentry_with_request_user_release_and_environment() {
    let (sentry, sentry_url) = Receiver::start(vec![]).await;
    let dsn = sentry_url.replace("http://", "http://public-key@") + "/42";
    let app = spawn_with(
        move |s| {
            s.telemetry.sentry_dsn = Some(dsn);
            s.telemetry.environment = "staging".into();
        },
        Overrides {
            routes: Some(failing_routes()),
            ..Overrides::default()
        },
    )
    .await;
    let token = app.user().await;
    let (_, me) = app.get("/api/v1/me", &token).await;
    let answer = app
        .request(reqwest::Method::GET, "/api/v1/test/fail", Some(&token), None)
        .await;
    let request_id = answer.headers()["x-request-id"].to_str().unwrap().to_owned();
    let panicked = app
        .request(reqwest::Method::GET, "/api/v1/test/panic", None, None)
        .await;
    let panic_request_id = panicked.headers()["x-request-id"].to_str().unwrap().to_owned();
    let reported = app
        .client
        .post(app.url("/api/v1/client-errors"))
        .bearer_auth(&token)
        .json(&json!({"message": "TypeError: x is undefined", "stack": "at render (app.js:1:2)", "url": "/sessions/:id", "source": "boundary"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reported.status(), StatusCode::ACCEPTED);
    let client_request_id = reported.headers()["x-request-id"].to_str().unwrap().to_owned();

    let envelopes = sentry.wait_for(3, Duration::from_secs(10)).await;
    assert!(envelopes.len() >= 3, "{envelopes:?}");
    let events: Vec<Value> = envelopes
        .iter()
        .map(|(path, envelope)| {
            assert_eq!(path, "/api/42/envelope/");
            // An envelope: a header line, then item header and payload lines.
            envelope
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|item| item.get("exception").is_some())
                .unwrap_or_else(|| panic!("no event in {envelope}"))
        })
        .collect();
    let server = events
        .iter()
        .find(|e| e["tags"]["kind"] == "http_5xx")
        .expect("the 5xx event");
    assert_eq!(server["tags"]["request_id"], request_id.as_str());
    assert_eq!(server["user"]["id"], me["id"]);
    assert_eq!(server["release"], env!("CARGO_PKG_VERSION"));
    assert_eq!(server["environment"], "staging");
    let browser = events
        .iter()
        .find(|e| e["tags"]["kind"] == "client")
        .expect("the browser's event");
    assert_eq!(browser["tags"]["request_id"], client_request_id.as_str());
    let panic = events
        .iter()
        .find(|e| e["tags"]["kind"] == "panic")
        .expect("the panic's event");
    assert_eq!(panic["tags"]["request_id"], panic_request_id.as_str());
    assert!(
        panic["message"].as_str().unwrap().contains("the handler gave up"),
        "{panic}"
    );
    assert_eq!(browser["user"]["id"], me["id"]);
    assert!(browser["message"].as_str().unwrap().contains("x is undefined"));
    assert!(
        browser["message"].as_str().unwrap().contains("page: /sessions/:id"),
        "{browser}"
    );
}

#[tokio::test]
async fn browser_error_reports_are_grouped_bounded_and_limited_per_address() {
    let app = spawn_with(|_| {}, Overrides::default()).await;
    let report =
        |message: &str| json!({"message": message, "stack": "Error\n    at Chat (chat.tsx:10:5)", "source": "onerror"});
    for _ in 0..3 {
        let answer = app
            .client
            .post(app.url("/api/v1/client-errors"))
            .json(&report("Boom"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
    }
    let too_big = json!({"message": "x".repeat(70 * 1024)});
    let answer = app
        .client
        .post(app.url("/api/v1/client-errors"))
        .json(&too_big)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let empty = app
        .client
        .post(app.url("/api/v1/client-errors"))
        .json(&json!({"message": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    let body: Value = empty.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_field");
    let unknown = app
        .client
        .post(app.url("/api/v1/client-errors"))
        .json(&json!({"message": "m", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);

    // 60 a minute per address: 6 taken above, then 54 more, then refused.
    for _ in 0..54 {
        let answer = app
            .client
            .post(app.url("/api/v1/client-errors"))
            .json(&report("Other"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
    }
    let refused = app
        .client
        .post(app.url("/api/v1/client-errors"))
        .json(&report("Boom"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));

    let admin = admin(&app).await;
    let groups = wait_for_groups(&app, &admin, 2).await;
    let boom = groups
        .iter()
        .find(|g| g["title"].as_str().unwrap().contains("Boom"))
        .unwrap();
    assert_eq!(
        (boom["kind"].as_str(), boom["count"].as_i64()),
        (Some("client"), Some(3))
    );
    assert!(boom["detail"].as_str().unwrap().contains("chat.tsx"));
    let other = groups
        .iter()
        .find(|g| g["title"].as_str().unwrap().contains("Other"))
        .unwrap();
    assert_eq!(other["count"], 54);
    assert_eq!(value(&app.metrics().await, "plansmith_client_errors_total", &[]), 57.0);
}

async fn wait_for_groups(app: &TestApp, admin: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = app.get("/api/v1/admin/errors", admin).await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let settled = items.iter().map(|g| g["count"].as_i64().unwrap_or(0)).sum::<i64>() >= 57;
        if (items.len() >= n && settled) || tokio::time::Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_request_writes_one_json_access_log_line_without_secrets() {
    let dir = tempfile::TempDir::new().unwrap();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = crate::helpers::serve_logged(dir.path(), &[("PLANSMITH_LOG__FORMAT", "json")], log).await;
    let app = &server.app;
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let sid = session["id"].as_str().unwrap();
    let answer = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/sessions/{sid}"),
            Some(&token),
            None,
        )
        .await;
    let request_id = answer.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (_, me) = app.get("/api/v1/me", &token).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "plansmith::access")
        .collect();
    let line = lines
        .iter()
        .find(|l| l["fields"]["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no access line for {request_id} in\n{text}"));
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["method"], "GET");
    assert_eq!(line["fields"]["route"], "/api/v1/sessions/{id}");
    assert_eq!(line["fields"]["status"], 200);
    assert!(line["fields"]["duration_ms"].is_number());
    assert_eq!(line["fields"]["user_id"], me["id"]);
    let same_request = lines
        .iter()
        .filter(|l| l["fields"]["request_id"] == request_id.as_str())
        .count();
    assert_eq!(same_request, 1, "one line per request");
    assert!(lines.len() >= 4, "sign-up, session, read and me: {}", lines.len());
    assert!(!text.contains(&token), "no token in the log");
    assert!(!text.contains("correct horse battery"), "no password in the log");
}

/// Spans received by a small OTLP/HTTP receiver of ours (`POST /v1/traces`, protobuf).
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

#[derive(Clone, Debug)]
struct ReceivedSpan {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: std::collections::BTreeMap<String, String>,
    service: String,
}

impl Collector {
    async fn start() -> (Self, String) {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
        use prost::Message;
        let collector = Self::default();
        async fn take(State(c): State<Collector>, headers: axum::http::HeaderMap, body: Bytes) -> AxumStatus {
            assert_eq!(headers["content-type"], "application/x-protobuf");
            let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                return AxumStatus::BAD_REQUEST;
            };
            let text = |v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>| match v
                .as_ref()
                .and_then(|v| v.value.as_ref())
            {
                Some(Any::StringValue(s)) => s.clone(),
                Some(Any::IntValue(i)) => i.to_string(),
                Some(Any::BoolValue(b)) => b.to_string(),
                Some(Any::DoubleValue(d)) => d.to_string(),
                _ => String::new(),
            };
            let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
            let mut spans = c.spans.lock().unwrap();
            for resource in request.resource_spans {
                let service = resource
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|a| a.key == "service.name")
                    .map(|a| text(&a.value))
                    .unwrap_or_default();
                for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                    spans.push(ReceivedSpan {
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: span
                            .attributes
                            .iter()
                            .map(|a| (a.key.clone(), text(&a.value)))
                            .collect(),
                        service: service.clone(),
                    });
                }
            }
            AxumStatus::OK
        }
        let app = Router::new()
            .route("/v1/traces", post(take))
            .with_state(collector.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (collector, format!("http://{addr}"))
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_reach_an_otlp_collector_and_the_provider_joins_them() {
    let (collector, endpoint) = Collector::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mock_addr = listener.local_addr().unwrap();
    let (router, stats) = plansmith_mock_llm::router(plansmith_mock_llm::MockOptions {
        time_to_first_token: Duration::from_millis(10),
        tokens_per_second: 2000.0,
        reply_tokens: 20,
        ..plansmith_mock_llm::MockOptions::default()
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    let dir = tempfile::TempDir::new().unwrap();
    let config = dir.path().join("plansmith.toml");
    std::fs::write(
        &config,
        format!(
            "[[llm.providers]]\nname = \"mock\"\nkind = \"openai\"\nbase_url = \"http://{mock_addr}/v1\"\n\
             model = \"gpt-4o-mini\"\n[llm]\nroute = [\"mock\"]\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let server = crate::helpers::serve_logged(
        dir.path(),
        &[
            ("PLANSMITH_CONFIG", config.to_str().unwrap()),
            ("PLANSMITH_TELEMETRY__OTLP_ENDPOINT", &endpoint),
        ],
        log,
    )
    .await;
    let app = &server.app;
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let sid = session["id"].as_str().unwrap();
    // The caller's trace context is continued.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let posted = app
        .client
        .post(app.url(&format!("/api/v1/sessions/{sid}/messages")))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{caller_trace}-00f067aa0ba902b7-01"))
        .json(&json!({"content": "Who are the users?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::ACCEPTED);
    let request_id = posted.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = posted.json().await.unwrap();
    app.wait_reply(&token, sid, body["reply"]["id"].as_str().unwrap()).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = collector.spans();
        let has_attempt = spans
            .iter()
            .any(|s| s.name == "llm mock" && s.attributes.contains_key("outcome"));
        if has_attempt || tokio::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let names: BTreeSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let request = spans
        .iter()
        .find(|s| s.name == "POST /api/v1/sessions/{id}/messages")
        .unwrap_or_else(|| panic!("no request span in {names:?}"));
    assert_eq!(request.service, "plansmith");
    assert_eq!(request.trace_id, caller_trace, "the caller's trace goes on");
    assert_eq!(request.parent_span_id, "00f067aa0ba902b7");
    assert_eq!(request.attributes["request_id"], request_id);
    assert_eq!(request.attributes["http.route"], "/api/v1/sessions/{id}/messages");
    assert_eq!(request.attributes["http.response.status_code"], "202");
    assert!(request.attributes.contains_key("user_id"), "{request:?}");
    let store_ops: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name.starts_with("store.") && s.trace_id == caller_trace)
        .collect();
    assert!(
        store_ops.iter().any(|s| s.name == "store.post_message"),
        "a span per store operation in the request's trace: {names:?}"
    );
    let attempt = spans
        .iter()
        .find(|s| s.name == "llm mock")
        .unwrap_or_else(|| panic!("no model call span in {names:?}"));
    assert_eq!(
        attempt.trace_id, caller_trace,
        "the reply belongs to the request's trace"
    );
    assert_eq!(attempt.attributes["gen_ai.provider.name"], "mock");
    assert_eq!(attempt.attributes["gen_ai.request.model"], "gpt-4o-mini");
    assert_eq!(attempt.attributes["outcome"], "ok");
    assert!(attempt.attributes["gen_ai.usage.output_tokens"].parse::<u64>().unwrap() > 0);
    // The provider received the attempt's context: same trace, the attempt as parent.
    let sent = stats.traceparents();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let parts: Vec<&str> = sent[0].split('-').collect();
    assert_eq!(
        (parts[1], parts[2]),
        (caller_trace, attempt.span_id.as_str()),
        "{sent:?}"
    );
}
