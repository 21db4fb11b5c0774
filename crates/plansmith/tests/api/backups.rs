//! Backups: the restore drill (create data, back up, destroy, restore, compare every session's
//! export byte for byte), on the backend the API tests run on (SQLite, and PostgreSQL in the
//! second run); refusals and exit codes; the point-in-time view of a session.

use crate::helpers::{BIN, TestApp, spawn_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// `backup.key` of these tests (32 bytes, base64).
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

async fn plansmith(args: &[&str], env: &[(&str, &str)], dir: &Path) -> (i32, String, String) {
    let mut command = Command::new(BIN);
    command.args(args).env_clear().current_dir(dir);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().await.unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

/// Every document of every session of `token`, exported as Markdown, with its messages.
async fn exports(app: &TestApp, token: &str) -> Vec<(String, Vec<u8>)> {
    let (_, sessions) = app.get("/api/v1/sessions", token).await;
    let mut out = Vec::new();
    for session in sessions["items"].as_array().unwrap() {
        let sid = session["id"].as_str().unwrap();
        let (_, messages) = app.get(&format!("/api/v1/sessions/{sid}/messages"), token).await;
        out.push((format!("{sid}/messages"), messages.to_string().into_bytes()));
        let (_, docs) = app.get(&format!("/api/v1/sessions/{sid}/documents"), token).await;
        for doc in docs["items"].as_array().unwrap() {
            let did = doc["id"].as_str().unwrap();
            let path = format!("/api/v1/sessions/{sid}/documents/{did}/export.md");
            let body = app
                .request(reqwest::Method::GET, &path, Some(token), None)
                .await
                .bytes()
                .await
                .unwrap();
            out.push((path, body.to_vec()));
        }
    }
    out
}

async fn plan(app: &TestApp, token: &str, workflow: &str) -> String {
    let session = app.session(token, workflow).await;
    let sid = session["id"].as_str().unwrap().to_owned();
    let sent = app.say(token, &sid, "Please draft the rest").await;
    app.wait_reply(token, &sid, sent["reply"]["id"].as_str().unwrap()).await;
    sid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_drill_brings_back_every_session_byte_for_byte() {
    let app = spawn_with(
        |s| s.backup.key = Some(KEY.into()),
        plansmith_server::Overrides::default(),
    )
    .await;
    let token = app.user().await;
    let first = plan(&app, &token, "quick-brief").await;
    plan(&app, &token, "product-plan").await;
    let before = exports(&app, &token).await;
    assert!(before.len() >= 6, "sessions, messages and documents to compare");

    let work = tempfile::TempDir::new().unwrap();
    let file = work.path().join("drill.backup");
    let url = app.settings.database.url.clone();
    let env = [("PLANSMITH_DATABASE_URL", url.as_str()), ("PLANSMITH_BACKUP__KEY", KEY)];
    let (code, out, err) = plansmith(
        &["backup", "create", "--out", file.to_str().unwrap()],
        &env,
        work.path(),
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("schema version"), "{out}");
    // Written after the backup: lost by a restore (the recovery point).
    let sent = app.say(&token, &first, "A message after the backup").await;
    app.wait_reply(&token, &first, sent["reply"]["id"].as_str().unwrap())
        .await;

    let (code, out, err) = plansmith(&["backup", "verify", file.to_str().unwrap()], &env, work.path()).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verifies"), "{out}");

    // Destroy: a new, empty database takes the place of the old one.
    let (target, _keep) = empty_database(&app, work.path()).await;
    let mut app = app;
    app.stop().await;
    let target_env = [("PLANSMITH_BACKUP__KEY", KEY)];
    let started = Instant::now();
    let (code, out, err) = plansmith(
        &["backup", "restore", file.to_str().unwrap(), "--database-url", &target],
        &target_env,
        work.path(),
    )
    .await;
    let restore_time = started.elapsed();
    assert_eq!(code, 0, "{out}{err}");
    println!(
        "restore drill: restored in {:.2} s (RTO of this size)",
        restore_time.as_secs_f64()
    );

    // A restore into a database that holds data is refused without --force (usage: exit 2).
    let (code, _, err) = plansmith(
        &["backup", "restore", file.to_str().unwrap(), "--database-url", &target],
        &target_env,
        work.path(),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");

    let restored = spawn_with(
        {
            let target = target.clone();
            move |s| s.database.url = target
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    let login = restored
        .request(reqwest::Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(login.status(), StatusCode::OK, "sign-ins are restored too");
    let after = exports(&restored, &token).await;
    assert_eq!(after.len(), before.len());
    for ((path, want), (_, got)) in before.iter().zip(&after) {
        assert!(want == got, "{path} differs after the restore");
    }
    let (_, messages) = restored
        .get(&format!("/api/v1/sessions/{first}/messages"), &token)
        .await;
    assert!(
        !messages.to_string().contains("A message after the backup"),
        "what was written after the backup is not in it (RPO = time since the last backup)"
    );
}

/// A fresh, empty database of the backend under test, and what keeps it alive.
async fn empty_database(app: &TestApp, dir: &Path) -> (String, Option<crate::testdb::TestDb>) {
    if app.settings.database.url.starts_with("postgres") {
        let db = crate::testdb::TestDb::create().await;
        (db.url.clone(), Some(db))
    } else {
        (format!("sqlite://{}/restored.db", dir.display()), None)
    }
}

#[tokio::test]
async fn backups_that_do_not_verify_exit_1_and_usage_errors_exit_2() {
    let app = spawn_with(|_| {}, plansmith_server::Overrides::default()).await;
    let work = tempfile::TempDir::new().unwrap();
    let file = work.path().join("b.backup");
    let url = app.settings.database.url.clone();
    let env = [("PLANSMITH_DATABASE_URL", url.as_str()), ("PLANSMITH_BACKUP__KEY", KEY)];
    let path = file.to_str().unwrap();
    let (code, _, err) = plansmith(
        &["backup", "create", "--out", path],
        &[("PLANSMITH_DATABASE_URL", &url)],
        work.path(),
    )
    .await;
    assert_eq!(code, 2, "no key: usage");
    assert!(err.contains("backup.key"), "{err}");
    let (code, out, err) = plansmith(&["backup", "create", "--out", path], &env, work.path()).await;
    assert_eq!(code, 0, "{out}{err}");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() - 20;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let (code, _, err) = plansmith(&["backup", "verify", path], &env, work.path()).await;
    assert_eq!(code, 1, "a damaged backup does not verify: {err}");
    assert!(err.contains("checksum"), "{err}");
    let other_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let (code, _, _) = plansmith(
        &["backup", "verify", path],
        &[("PLANSMITH_BACKUP__KEY", other_key)],
        work.path(),
    )
    .await;
    assert_eq!(code, 1);
    let (code, _, _) = plansmith(&["backup", "verify"], &env, work.path()).await;
    assert_eq!(code, 2, "a missing argument is a usage error");
    let (code, _, err) = plansmith(&["backup", "verify", "/nonexistent/x.backup"], &env, work.path()).await;
    assert_eq!(code, 2, "{err}");

    let (code, out, _) = plansmith(&["migrate", "--list"], &env, work.path()).await;
    assert_eq!(code, 0);
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../store-sqlite/migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".up.sql"))
        .count();
    assert_eq!(
        out.lines().filter(|l| l.contains("applied")).count(),
        migrations,
        "{out}"
    );
    assert!(out.lines().next().unwrap().trim_start().starts_with("1 "), "{out}");

    // Down to 5 and up again through the command line.
    let (code, out, err) = plansmith(&["migrate", "down", "--to", "5"], &env, work.path()).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("{} migration(s) reverted", migrations - 5)),
        "{out}"
    );
    let (_, list, _) = plansmith(&["migrate", "--list"], &env, work.path()).await;
    assert_eq!(
        list.lines().filter(|l| l.contains("pending")).count(),
        migrations - 5,
        "{list}"
    );
    let (code, _, err) = plansmith(&["migrate", "down", "--to", "42"], &env, work.path()).await;
    assert_ne!(code, 0);
    assert!(err.contains("not a migration version"), "{err}");
    let (code, out, _) = plansmith(&["migrate"], &env, work.path()).await;
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("{} migration(s) applied", migrations - 5)),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_shown_as_it_was_at_a_moment() {
    let app = spawn_with(|_| {}, plansmith_server::Overrides::default()).await;
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let sid = session["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let empty_moment = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sent = app.say(&token, sid, "Please draft the rest").await;
    app.wait_reply(&token, sid, sent["reply"]["id"].as_str().unwrap()).await;

    let at = |time: chrono::DateTime<chrono::Utc>| {
        let time = time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        format!("/api/v1/sessions/{sid}/at?time={}", time.replace('+', "%2B"))
    };
    let (status, then) = app.get(&at(empty_moment), &token).await;
    assert_eq!(status, StatusCode::OK, "{then}");
    let (_, now) = app.get(&at(chrono::Utc::now()), &token).await;
    let filled = |view: &Value| {
        view["documents"][0]["sections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| !s["content"].as_str().unwrap_or("").trim().is_empty())
            .count()
    };
    assert_eq!(filled(&then), 0, "before the draft: {then}");
    assert!(filled(&now) > 0, "after the draft: {now}");
    assert_eq!(then["documents"][0]["revision"], 0, "not written yet");
    assert!(now["documents"][0]["revision"].as_i64().unwrap() >= 1);
    let before_session = chrono::Utc::now() - chrono::Duration::days(1);
    let (_, nothing) = app.get(&at(before_session), &token).await;
    assert_eq!(nothing["documents"], json!([]), "the session did not exist yet");
    let (status, bad) = app
        .get(&format!("/api/v1/sessions/{sid}/at?time=yesterday"), &token)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let other = app.user().await;
    let (status, _) = app.get(&at(chrono::Utc::now()), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "someone else's session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_taken_inside_serve_and_old_ones_pruned() {
    let work = tempfile::TempDir::new().unwrap();
    let dir = work.path().join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    for old in [
        "plansmith-20200101T000000Z.backup",
        "plansmith-20200102T000000Z.backup",
        "plansmith-20200103T000000Z.backup",
    ] {
        std::fs::write(dir.join(old), b"old").unwrap();
    }
    let backups = dir.clone();
    let app = spawn_with(
        move |s| {
            s.backup.key = Some(KEY.into());
            s.backup.schedule = Some("1h".into());
            s.backup.dir = backups.display().to_string();
            s.backup.keep = 2;
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    // The first one is taken as the server starts.
    let deadline = Instant::now() + Duration::from_secs(20);
    let taken = loop {
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("plansmith-2") && !n.starts_with("plansmith-2020"))
            .collect();
        if !names.is_empty() || Instant::now() > deadline {
            break names;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(taken.len(), 1, "one scheduled backup");
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".backup"))
        .collect();
    assert_eq!(left.len(), 2, "backup.keep = 2: {left:?}");
    assert!(
        left.contains(&"plansmith-20200103T000000Z.backup".to_owned()),
        "{left:?}"
    );
    let file = dir.join(&taken[0]);
    let url = app.settings.database.url.clone();
    let env = [("PLANSMITH_DATABASE_URL", url.as_str()), ("PLANSMITH_BACKUP__KEY", KEY)];
    let (code, out, err) = plansmith(&["backup", "verify", file.to_str().unwrap()], &env, work.path()).await;
    assert_eq!(code, 0, "{out}{err}");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("plansmith_backups_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
}

/// Crypto-shredding's other half: an account erased after a backup was taken is erased again
/// when that backup is restored (from the erasure log, which lives outside the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_erased_after_a_backup_stays_erased_after_its_restore() {
    let app = spawn_with(
        |s| s.backup.key = Some(KEY.into()),
        plansmith_server::Overrides::default(),
    )
    .await;
    let leaving = app.user().await;
    plan(&app, &leaving, "quick-brief").await;
    let staying = app.user().await;
    plan(&app, &staying, "quick-brief").await;
    let leaving_email = app.get("/api/v1/me", &leaving).await.1["email"]
        .as_str()
        .unwrap()
        .to_owned();

    let work = tempfile::TempDir::new().unwrap();
    let file = work.path().join("before-erasure.backup");
    let url = app.settings.database.url.clone();
    let env = [("PLANSMITH_DATABASE_URL", url.as_str()), ("PLANSMITH_BACKUP__KEY", KEY)];
    let (code, out, err) = plansmith(
        &["backup", "create", "--out", file.to_str().unwrap()],
        &env,
        work.path(),
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");

    let (status, body) = app
        .json(
            reqwest::Method::DELETE,
            "/api/v1/me",
            Some(&leaving),
            Some(json!({"password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let log = app.settings.backup.erasure_log.clone();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 1, "{logged}");

    let (target, _keep) = empty_database(&app, work.path()).await;
    let restore_env = [
        ("PLANSMITH_BACKUP__KEY", KEY),
        ("PLANSMITH_BACKUP__ERASURE_LOG", log.as_str()),
    ];
    let (code, out, err) = plansmith(
        &["backup", "restore", file.to_str().unwrap(), "--database-url", &target],
        &restore_env,
        work.path(),
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("re-applied 1 of the 1 erasures"), "{out}");

    let restored = spawn_with(
        {
            let target = target.clone();
            move |s| s.database.url = target
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    let (status, _) = restored.get("/api/v1/me", &leaving).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the erased account is gone again");
    let (status, sessions) = restored.get("/api/v1/sessions", &staying).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sessions["items"].as_array().unwrap().len(),
        1,
        "everyone else is restored"
    );
    let (status, _) = restored
        .json(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": leaving_email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
