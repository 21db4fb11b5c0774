//! Test harness: the real server on 127.0.0.1:0 with a temporary SQLite database, an HTTP
//! client, and an SSE reader.

use futures::StreamExt;
use plansmith_server::{Application, Overrides, Settings};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub dir: PathBuf,
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    _tmp: Option<TempDir>,
    /// The PostgreSQL database of this app, when the API tests run on PostgreSQL.
    pub db: Option<std::sync::Arc<crate::testdb::TestDb>>,
}

static EMAILS: AtomicUsize = AtomicUsize::new(0);

pub fn test_settings(dir: &std::path::Path) -> Settings {
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        ..Settings::default()
    };
    settings.database.url = format!("sqlite://{}/plansmith.db", dir.display());
    settings.llm.offline.tokens_per_second = 5000.0;
    settings.generation.checkpoint_interval_ms = 50;
    settings.shutdown.grace_seconds = 2.0;
    // Tests register many accounts from 127.0.0.1 (on Redis, counted across tests and runs);
    // the sign-up limits have tests of their own.
    settings.auth.signups_per_address_per_hour = 1_000_000;
    settings.auth.signups_per_minute = 1_000_000;
    // `wait_reply` polls; the per-user request rate has tests of its own.
    settings.limits.requests_per_user_per_minute = 1_000_000;
    // Test accounts are not verified; the unverified budget has tests of its own.
    settings.llm.budgets.unverified.monthly_tokens = u64::MAX;
    settings.llm.budgets.unverified.monthly_cost_usd = plansmith_domain::Money::from_dollars(1_000_000);
    // Tests read /metrics on the main listener with this token.
    settings.metrics.token = Some(METRICS_TOKEN.into());
    // The erasure log beside the database, not in the working directory.
    settings.backup.erasure_log = dir.join("erasures.log").display().to_string();
    // One key for every test server, so instances sharing a PostgreSQL database agree.
    settings.crypto.keys = std::collections::BTreeMap::from([("test".to_owned(), TEST_KEY.to_owned())]);
    settings
}

/// `crypto.keys.test` of the test servers (32 bytes in base64).
pub const TEST_KEY: &str = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdCE=";

/// `metrics.token` of the test servers.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}, Overrides::default()).await
}

pub async fn spawn_with(configure: impl FnOnce(&mut Settings), overrides: Overrides) -> TestApp {
    let tmp = TempDir::new().expect("temp dir");
    let dir = tmp.path().to_path_buf();
    let mut settings = test_settings(&dir);
    let db = if crate::testdb::api_on_postgres() {
        let db = crate::testdb::TestDb::create().await;
        settings.database.url = db.url.clone();
        Some(std::sync::Arc::new(db))
    } else {
        None
    };
    configure(&mut settings);
    let mut app = start(settings, overrides).await;
    app._tmp = Some(tmp);
    app.dir = dir;
    app.db = db;
    app
}

/// Starts an app on the given settings (e.g. the database of a stopped app).
pub async fn start(settings: Settings, overrides: Overrides) -> TestApp {
    let app = Application::build_with(settings.clone(), overrides)
        .await
        .expect("app builds");
    let base = app.base_url();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        dir: PathBuf::new(),
        settings,
        stop: Some(stop),
        handle: Some(handle),
        _tmp: None,
        db: None,
    }
}

impl TestApp {
    /// Another client of the same server (for a task of its own).
    pub fn clone_remote(&self) -> TestApp {
        start_remote(self.base.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The server's `/metrics` text (main listener, with the test token).
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("metrics answer");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "metrics are served to the token"
        );
        response.text().await.expect("metrics text")
    }

    /// Gracefully stops the server and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("server stops cleanly");
        }
    }

    /// Takes the temporary directory so it outlives this app (for restarts).
    pub fn keep_dir(&mut self) -> Option<TempDir> {
        self._tmp.take()
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request sent")
    }

    pub async fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = self.request(method, path, token, body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.json(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.json(Method::POST, path, Some(token), Some(body)).await
    }

    /// Registers a fresh user and returns its token.
    pub async fn user(&self) -> String {
        let n = EMAILS.fetch_add(1, Ordering::SeqCst);
        let email = format!("user{n}-{}@example.com", uuid::Uuid::now_v7().simple());
        let (status, body) = self
            .json(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(json!({"email": email, "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn session(&self, token: &str, workflow: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/sessions",
                token,
                json!({"workflow_id": workflow, "title": "Recipe Box", "idea": "An app where families share and preserve recipes across generations."}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Posts a message and returns the 202 body.
    pub async fn say(&self, token: &str, session: &str, content: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/api/v1/sessions/{session}/messages"),
                token,
                json!({"content": content}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body
    }

    /// Opens a reply's stream.
    pub async fn open_stream(&self, url: &str, token: &str, last_event_id: Option<u64>) -> Response {
        let mut req = self.client.get(self.url(url)).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let response = req.send().await.expect("stream opened");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"),
            "not an event stream"
        );
        response
    }

    /// Reads a whole reply stream (until the server ends it).
    pub async fn stream_all(&self, url: &str, token: &str, last_event_id: Option<u64>) -> Vec<Sse> {
        read_events(self.open_stream(url, token, last_event_id).await, usize::MAX).await
    }

    /// Waits until the reply reaches a terminal status and returns the message.
    pub async fn wait_reply(&self, token: &str, session: &str, reply: &str) -> Value {
        for _ in 0..400 {
            let (_, body) = self.get(&format!("/api/v1/sessions/{session}/messages"), token).await;
            let message = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == reply)
                .cloned()
                .expect("reply listed");
            if ["complete", "failed", "interrupted"].contains(&message["status"].as_str().unwrap()) {
                return message;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("reply {reply} did not finish");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub id: u64,
    pub event: String,
    pub data: Value,
}

/// Parses server-sent events from a response, stopping after `limit` events.
pub async fn read_events(response: Response, limit: usize) -> Vec<Sse> {
    read_events_timed(response, limit).await.0
}

/// [`read_events`] with the moment each event arrived.
pub async fn read_events_timed(response: Response, limit: usize) -> (Vec<Sse>, Vec<std::time::Instant>) {
    let mut events = Vec::new();
    let mut arrived = Vec::new();
    let mut buffer = String::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().parse::<u64>().expect("numeric id"));
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            // Keep-alive comments have no id.
            let Some(id) = id else { continue };
            events.push(Sse {
                id,
                event,
                data: serde_json::from_str(&data).expect("JSON data"),
            });
            arrived.push(std::time::Instant::now());
            if events.len() >= limit {
                return (events, arrived);
            }
        }
    }
    (events, arrived)
}

/// The text a client shows: token events after the last restart.
pub fn text_of(events: &[Sse]) -> String {
    let start = events.iter().rposition(|e| e.event == "restart").map_or(0, |i| i + 1);
    events[start..]
        .iter()
        .filter(|e| e.event == "token")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect()
}

pub fn assert_contiguous(events: &[Sse]) {
    for pair in events.windows(2) {
        assert_eq!(pair[1].id, pair[0].id + 1, "gap or duplicate between events {pair:?}");
    }
}

/// A client for a server running in another process.
pub fn start_remote(base: String) -> TestApp {
    TestApp {
        base,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        dir: PathBuf::new(),
        settings: Settings::default(),
        stop: None,
        handle: None,
        _tmp: None,
        db: None,
    }
}

/// The real binary, for tests where a process matters (restarts, signals, several instances).
pub const BIN: &str = env!("CARGO_BIN_EXE_plansmith");

/// A `plansmith serve` process and a client of it.
pub struct Server {
    pub child: tokio::process::Child,
    pub app: TestApp,
}

/// Starts the real binary on a free port with a SQLite database in `dir`; `env` adds or
/// overrides settings (e.g. `PLANSMITH_DATABASE_URL`).
pub async fn serve(dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    serve_to(dir, env, std::process::Stdio::null()).await
}

/// Like [`serve`], with the server's log (standard error) written to `log`.
pub async fn serve_logged(dir: &std::path::Path, env: &[(&str, &str)], log: std::fs::File) -> Server {
    serve_to(dir, env, log.into()).await
}

async fn serve_to(dir: &std::path::Path, env: &[(&str, &str)], stderr: std::process::Stdio) -> Server {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(BIN);
    command
        .arg("serve")
        .env_clear()
        .env("PLANSMITH_LISTEN", "127.0.0.1:0")
        .env(
            "PLANSMITH_DATABASE_URL",
            format!("sqlite://{}/plansmith.db", dir.display()),
        )
        .env("PLANSMITH_GENERATION__CHECKPOINT_INTERVAL_MS", "50")
        .env("PLANSMITH_AUTH__SIGNUPS_PER_ADDRESS_PER_HOUR", "1000000")
        .env("PLANSMITH_AUTH__SIGNUPS_PER_MINUTE", "1000000")
        .env("PLANSMITH_LIMITS__REQUESTS_PER_USER_PER_MINUTE", "1000000")
        // Test accounts are not verified; the unverified budget has tests of its own.
        .env("PLANSMITH_LLM__BUDGETS__UNVERIFIED__MONTHLY_TOKENS", "1000000000")
        .env("PLANSMITH_LLM__BUDGETS__UNVERIFIED__MONTHLY_COST_USD", "100000")
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    // Servers on PostgreSQL need keys (the same for every instance); SQLite ones generate a
    // key file beside their database unless a test sets its own.
    let on_postgres = env
        .iter()
        .any(|(k, v)| *k == "PLANSMITH_DATABASE_URL" && v.starts_with("postgres"));
    if on_postgres && !env.iter().any(|(k, _)| k.starts_with("PLANSMITH_CRYPTO__")) {
        command.env("PLANSMITH_CRYPTO__KEYS", format!("test:{TEST_KEY}"));
    }
    let mut child = command.spawn().expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("started in time")
        .unwrap()
        .unwrap();
    let base = line.rsplit(' ').next().unwrap().to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") || base.starts_with("https://127.0.0.1:"),
        "{line}"
    );
    let mut app = start_remote(base);
    app.dir = dir.to_path_buf();
    Server { child, app }
}

/// Sends a signal (`-TERM`, `-KILL`) to a server process.
pub async fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let status = tokio::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
}
