//! Restarts, shutdown and the command line, with the real binary where a process matters.

use crate::helpers::{read_events, serve, signal, spawn_app, start, text_of};
use plansmith_server::{Application, Overrides};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_plansmith");

#[tokio::test]
async fn data_survives_a_server_restart() {
    let mut app = spawn_app().await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "draft the rest").await;
    app.wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    let (_, docs) = app.get(&format!("/api/v1/sessions/{sid}/documents"), &token).await;
    let doc = docs["items"][0]["id"].as_str().unwrap().to_owned();
    let before_messages = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await.1;
    let before_doc = app
        .get(&format!("/api/v1/sessions/{sid}/documents/{doc}"), &token)
        .await
        .1;
    let before_stream = app
        .stream_all(sent["reply"]["stream_url"].as_str().unwrap(), &token, None)
        .await;
    let settings = app.settings.clone();
    let _dir = app.keep_dir();
    let _db = app.db.clone();
    app.stop().await;

    let again = start(settings, Overrides::default()).await;
    let (status, _) = again.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::OK, "the sign-in survives");
    assert_eq!(
        again.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await.1,
        before_messages
    );
    assert_eq!(
        again
            .get(&format!("/api/v1/sessions/{sid}/documents/{doc}"), &token)
            .await
            .1,
        before_doc
    );
    let replay = again
        .stream_all(sent["reply"]["stream_url"].as_str().unwrap(), &token, None)
        .await;
    assert_eq!(
        replay, before_stream,
        "a finished reply replays the same events after a restart"
    );
}

#[tokio::test]
async fn readiness_fails_while_draining() {
    let dir = tempfile::TempDir::new().unwrap();
    let app = Application::build(crate::helpers::test_settings(dir.path()))
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    let draining = app.state().draining.clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::new();
    assert_eq!(
        client.get(format!("{base}/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    draining.store(true, Ordering::SeqCst);
    let response = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        client.get(format!("{base}/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
}

/// On SIGTERM with `shutdown.readiness_delay_seconds`, readiness turns 503 at once while every
/// other request is still served; only after the delay does the listener close.
#[tokio::test]
async fn after_sigterm_readiness_fails_first_and_requests_are_served_for_the_delay() {
    let dir = tempfile::TempDir::new().unwrap();
    let env = [("PLANSMITH_SHUTDOWN__READINESS_DELAY_SECONDS", "2")];
    let mut server = serve(dir.path(), &env).await;
    let app = server.app.clone_remote();
    let token = app.user().await;
    crate::helpers::signal(&server.child, "-TERM").await;
    let signalled = std::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE, "not ready at once");
    // A new connection is still accepted and served during the delay.
    let fresh = reqwest::Client::new();
    let (status, _) = app.get("/api/v1/workflows", &token).await;
    assert_eq!(status, StatusCode::OK);
    let me = fresh
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "still serving {:?} after SIGTERM",
        signalled.elapsed()
    );
    assert!(signalled.elapsed() < std::time::Duration::from_secs(2));
    let status = tokio::time::timeout(std::time::Duration::from_secs(15), server.child.wait())
        .await
        .expect("exits after the delay")
        .unwrap();
    assert!(status.success());
    assert!(
        signalled.elapsed() >= std::time::Duration::from_secs(2),
        "kept serving for the whole delay: {:?}",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn sigterm_lets_short_replies_finish_and_saves_the_rest_as_interrupted() {
    let dir = tempfile::TempDir::new().unwrap();
    let env = [
        ("PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND", "100"),
        ("PLANSMITH_SHUTDOWN__GRACE_SECONDS", "3"),
    ];
    let mut server = serve(dir.path(), &env).await;
    let app = &server.app;
    let token = app.user().await;
    let short = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let long = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let long_reply = app.say(&token, &long, "draft the rest").await;
    let short_reply = app.say(&token, &short, "Busy parents.").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&server.child, "-TERM").await;
    let status = tokio::time::timeout(Duration::from_secs(15), server.child.wait())
        .await
        .expect("exits in time")
        .unwrap();
    assert!(status.success(), "exit code 0 after SIGTERM, got {status}");

    let restarted = serve(dir.path(), &[]).await;
    let app = &restarted.app;
    let done = app
        .wait_reply(&token, &short, short_reply["reply"]["id"].as_str().unwrap())
        .await;
    assert_eq!(
        done["status"], "complete",
        "a reply that fits the grace period finishes"
    );
    let cut = app
        .wait_reply(&token, &long, long_reply["reply"]["id"].as_str().unwrap())
        .await;
    assert_eq!(cut["status"], "interrupted");
    assert_eq!(cut["error"]["code"], "interrupted");
    let partial = cut["content"].as_str().unwrap();
    assert!(!partial.is_empty(), "the partial text is kept");
    let events = app
        .stream_all(long_reply["reply"]["stream_url"].as_str().unwrap(), &token, None)
        .await;
    assert_eq!(events.last().unwrap().event, "error");
    assert_eq!(text_of(&events), partial);
    let (_, session) = app.get(&format!("/api/v1/sessions/{long}"), &token).await;
    assert_eq!(
        session["sections_filled"], 0,
        "an interrupted reply changes no document"
    );

    // It can be retried to completion.
    let reply = long_reply["reply"]["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/v1/sessions/{long}/replies/{reply}/retry"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

/// The name both runs of a restarted server share on their reply leases (as a fixed port
/// would give them).
const INSTANCE: (&str, &str) = ("PLANSMITH_GENERATION__INSTANCE_ID", "restarted-host:8080");

#[tokio::test]
async fn a_reply_cut_by_a_crash_is_generated_again_when_the_server_restarts() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut server = serve(
        dir.path(),
        &[("PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND", "100"), INSTANCE],
    )
    .await;
    let token = server.app.user().await;
    let sid = server.app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = server.app.say(&token, &sid, "draft the rest").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap().to_owned();
    // A client follows part of the reply, then the server dies under it.
    let seen = read_events(server.app.open_stream(&url, &token, None).await, 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&server.child, "-KILL").await;
    server.child.wait().await.unwrap();

    let restarted = serve(
        dir.path(),
        &[("PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND", "2000"), INSTANCE],
    )
    .await;
    let app = &restarted.app;
    let last_seen = seen.last().unwrap().id;
    let resumed = app.stream_all(&url, &token, Some(last_seen)).await;
    assert_eq!(
        (resumed[0].event.as_str(), &resumed[0].data["reason"]),
        ("restart", &json!("server_restarted")),
        "the client resumes at the restart: {:?}",
        &resumed[..2]
    );
    assert!(
        resumed[0].id > last_seen,
        "numbering continues past what the client saw"
    );
    for pair in resumed.windows(2) {
        assert!(pair[1].id > pair[0].id, "event ids keep increasing: {pair:?}");
    }
    assert_eq!(resumed.last().unwrap().event, "done");
    let reply = app
        .wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    assert_eq!(reply["status"], "complete", "nothing stays stuck after a crash");
    let content = reply["content"].as_str().unwrap();
    assert_eq!(
        text_of(&resumed),
        content,
        "the saved reply is the text after the restart"
    );
    let replay = app.stream_all(&url, &token, None).await;
    assert_eq!(text_of(&replay), content);
    let (_, session) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert!(
        session["sections_filled"].as_u64().unwrap() > 0,
        "the regenerated reply drafted sections"
    );
}

#[tokio::test]
async fn without_resuming_a_reply_cut_by_a_crash_is_interrupted_with_its_text() {
    let dir = tempfile::TempDir::new().unwrap();
    let env = [
        ("PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND", "100"),
        ("PLANSMITH_GENERATION__RESUME_ORPHANS", "false"),
        INSTANCE,
    ];
    let mut server = serve(dir.path(), &env).await;
    let token = server.app.user().await;
    let sid = server.app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = server.app.say(&token, &sid, "draft the rest").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap().to_owned();
    let seen = read_events(server.app.open_stream(&url, &token, None).await, 3).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    signal(&server.child, "-KILL").await;
    server.child.wait().await.unwrap();

    let restarted = serve(dir.path(), &env).await;
    let reply = restarted
        .app
        .wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    assert_eq!(reply["status"], "interrupted", "nothing stays stuck after a crash");
    let partial = reply["content"].as_str().unwrap();
    assert!(!partial.is_empty(), "checkpointed text is kept");
    let events = restarted.app.stream_all(&url, &token, None).await;
    assert_eq!(events.last().unwrap().event, "error");
    assert_eq!(text_of(&events), partial);
    // A client that saw part of the reply gets the kept text whole, after a restart, and the end.
    let resumed = restarted
        .app
        .stream_all(&url, &token, Some(seen.last().unwrap().id))
        .await;
    assert_eq!(resumed[0].event, "restart");
    assert_eq!(resumed.last().unwrap().event, "error");
    assert_eq!(text_of(&resumed), partial);
}

async fn cli(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> (bool, String, String) {
    let mut command = Command::new(BIN);
    command.args(args).env_clear().current_dir(dir);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

#[tokio::test]
async fn every_subcommand_explains_itself() {
    let dir = tempfile::TempDir::new().unwrap();
    for (args, expect) in [
        (vec!["--help"], "serve"),
        (vec!["serve", "--help"], "Run the web server"),
        (vec!["migrate", "--help"], "Apply pending database migrations"),
        (vec!["config", "check", "--help"], "Validate the configuration"),
        (vec!["users", "set-role", "--help"], "role"),
    ] {
        let (ok, out, _) = cli(&args, &[], dir.path()).await;
        assert!(ok && out.contains(expect), "{args:?}: {out}");
    }
}

#[tokio::test]
async fn config_check_names_the_wrong_key() {
    let dir = tempfile::TempDir::new().unwrap();
    let (ok, out, _) = cli(&["config", "check"], &[], dir.path()).await;
    assert!(ok, "{out}");
    assert!(out.contains("configuration is valid"));
    let (ok, _, err) = cli(
        &["config", "check"],
        &[("PLANSMITH_LLM__OFFLINE__TOKENS_PER_SECOND", "fast")],
        dir.path(),
    )
    .await;
    assert!(!ok);
    assert!(err.contains("llm.offline.tokens_per_second"), "{err}");
    std::fs::write(dir.path().join("plansmith.toml"), "listen = \"nowhere\"\n").unwrap();
    let (ok, _, err) = cli(&["config", "check"], &[], dir.path()).await;
    assert!(!ok, "plansmith.toml in the working folder is read");
    assert!(err.contains("listen"), "{err}");
    let (ok, _, err) = cli(&["--config", "missing.toml", "config", "check"], &[], dir.path()).await;
    assert!(!ok);
    assert!(err.contains("missing.toml"), "{err}");
    std::fs::remove_file(dir.path().join("plansmith.toml")).unwrap();
    // The real route, a missing provider key, and with --connect every dependency that does
    // not answer: all reported at once.
    std::fs::write(
        dir.path().join("routed.toml"),
        "[[llm.providers]]\nname = \"primary\"\nkind = \"anthropic\"\nmodel = \"claude-x\"\n\
         api_key_env = \"PLANSMITH_TEST_MISSING_KEY\"\n[llm]\nroute = [\"primary\", \"offline\"]\n",
    )
    .unwrap();
    let (ok, _, err) = cli(&["--config", "routed.toml", "config", "check"], &[], dir.path()).await;
    assert!(!ok);
    assert!(err.contains("PLANSMITH_TEST_MISSING_KEY is not set"), "{err}");
    let key = [("PLANSMITH_TEST_MISSING_KEY", "sk-test")];
    let (ok, out, err) = cli(&["--config", "routed.toml", "config", "check"], &key, dir.path()).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("primary (Anthropic, claude-x") && out.contains("→ offline"),
        "{out}"
    );
    let unreachable = [
        ("PLANSMITH_TEST_MISSING_KEY", "sk-test"),
        ("PLANSMITH_DATABASE_URL", "postgres://nobody:secret@127.0.0.1:1/none"),
        ("PLANSMITH_REDIS_URL", "redis://127.0.0.1:1"),
    ];
    let (ok, _, err) = cli(
        &["--config", "routed.toml", "config", "check", "--connect"],
        &unreachable,
        dir.path(),
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("database.url") && err.contains("Redis"),
        "both reported: {err}"
    );
    assert!(!err.contains("secret"), "the password is redacted: {err}");
    let (ok, out, _) = cli(&["config", "check", "--connect"], &[], dir.path()).await;
    assert!(ok && out.contains("answer"), "{out}");
    let (ok, out, _) = cli(&["--version"], &[], dir.path()).await;
    assert!(
        ok && out.contains(env!("CARGO_PKG_VERSION")) && out.contains("commit "),
        "{out}"
    );
    // Invalid settings stop `serve` before it starts.
    std::fs::write(dir.path().join("plansmith.toml"), "listen = \"nowhere\"\n").unwrap();
    let (ok, _, err) = cli(&["serve"], &[], dir.path()).await;
    assert!(!ok);
    assert!(err.contains("listen"), "{err}");
}

#[tokio::test]
async fn migrate_creates_the_database_and_set_role_grants_admin() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}/nested/db.sqlite", dir.path().display());
    let env = [("PLANSMITH_DATABASE_URL", url.as_str())];
    let (ok, out, err) = cli(&["migrate"], &env, dir.path()).await;
    assert!(ok, "{err}");
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../store-sqlite/migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".up.sql"))
        .count();
    assert!(
        out.contains(&format!("{migrations} migration(s) applied")),
        "every migration on a fresh database: {out}"
    );
    let (ok, out, _) = cli(&["migrate"], &env, dir.path()).await;
    assert!(ok && out.contains("0 migration(s) applied"), "{out}");
    assert!(dir.path().join("nested/db.sqlite").exists());

    let mut settings = crate::helpers::test_settings(dir.path());
    settings.database.url = url.clone();
    let app = start(settings, Overrides::default()).await;
    let (_, body) = app
        .json(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "root@example.com", "password": "correct horse"})),
        )
        .await;
    let token = body["token"].as_str().unwrap().to_owned();
    let (ok, out, err) = cli(&["users", "set-role", "root@example.com", "admin"], &env, dir.path()).await;
    assert!(ok, "{err}");
    assert!(out.contains("admin"));
    assert_eq!(
        app.get("/api/v1/me", &token).await.1["role"],
        "admin",
        "takes effect without a restart"
    );
    let (ok, _, err) = cli(&["users", "set-role", "ghost@example.com", "admin"], &env, dir.path()).await;
    assert!(!ok && err.contains("no user"), "{err}");
}

/// Environment parity: staging and production (deploy/k8s/overlays over the base) differ only
/// in the values meant to differ, as `config diff` lists them; exit status 0 same, 1 different,
/// 2 error; secrets never printed.
#[tokio::test]
async fn config_diff_lists_what_differs_between_the_overlays() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let k8s = repo.join("deploy/k8s");
    let run = |args: Vec<String>| async move {
        let output = Command::new(BIN).args(&args).env_clear().output().await.unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let path = |p: &str| k8s.join(p).display().to_string();
    let (code, out, err) = run(vec![
        "config".into(),
        "diff".into(),
        "--base".into(),
        path("base/config.env"),
        path("overlays/staging/config.env"),
        path("overlays/production/config.env"),
    ])
    .await;
    assert_eq!(code, Some(1), "{out}{err}");
    let keys: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.trim().split(':').next().unwrap())
        .collect();
    // Changing what differs between environments is deliberate: update this list with it.
    assert_eq!(
        keys,
        [
            "alerts.daily_spend_usd",
            "database.max_connections",
            "email.link_base",
            "telemetry.environment"
        ],
        "{out}"
    );
    assert!(out.contains("database.max_connections: 8 → 16"), "{out}");

    let (code, out, _) = run(vec![
        "config".into(),
        "diff".into(),
        path("overlays/staging/config.env"),
        path("overlays/staging/config.env"),
    ])
    .await;
    assert_eq!(code, Some(0), "{out}");

    let dir = tempfile::TempDir::new().unwrap();
    let secret = dir.path().join("secret.toml");
    std::fs::write(
        &secret,
        "[metrics]\ntoken = \"s3cret-metrics-token-0000\"\n[database]\nurl = \"postgres://app:pw123@db/p\"\n",
    )
    .unwrap();
    let (code, out, _) = run(vec![
        "config".into(),
        "diff".into(),
        path("overlays/staging/config.env"),
        secret.display().to_string(),
    ])
    .await;
    assert_eq!(code, Some(1));
    assert!(out.contains("metrics.token: differs (secret, not shown)"), "{out}");
    assert!(!out.contains("s3cret") && !out.contains("pw123"), "{out}");

    let (code, _, err) = run(vec![
        "config".into(),
        "diff".into(),
        path("overlays/staging/config.env"),
        "missing.toml".into(),
    ])
    .await;
    assert_eq!(code, Some(2));
    assert!(err.contains("missing.toml"), "{err}");
}

/// The web app reads the support contact and whether the offline planner answers from the
/// server's settings, not from its own code.
#[tokio::test]
async fn about_tells_the_support_contact_and_the_planner() {
    let app = crate::helpers::spawn_with(
        |s| {
            s.support.contact = "help@garden.example".into();
            s.limits.max_title_chars = 120;
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    let (status, about) = app.json(reqwest::Method::GET, "/api/v1/about", None, None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(about["support_contact"], "help@garden.example");
    assert_eq!(about["offline_planner"], true);
    assert_eq!(about["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(about["limits"]["title_chars"], 120);
    assert_eq!(about["limits"]["message_chars"], app.settings.limits.max_message_chars);
    let routed = crate::helpers::spawn_with(
        |s| {
            s.llm.providers = vec![crate::gateway::provider(
                "primary",
                plansmith_server::config::ProviderKind::OpenAi,
                "http://127.0.0.1:9",
            )];
            s.llm.route = vec!["primary".into(), "offline".into()];
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    let (_, about) = routed.json(reqwest::Method::GET, "/api/v1/about", None, None).await;
    assert_eq!(about["offline_planner"], false);
}
