//! Content at rest: what a person writes is stored only sealed with their data key. A marker
//! written everywhere a session holds words (title, idea, messages, the reply, a document
//! section) reads back through the API but is found nowhere in the database: not in the SQLite
//! file and its WAL, not in a `pg_dump`. Keys: a missing or wrong key stops the start naming
//! it, rotation re-wraps every data key online, and erasing an account shreds its key.

use crate::helpers::{TEST_KEY, TestApp, spawn_app, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// A session whose every text holds `marker`; returns its id.
async fn session_with(app: &TestApp, token: &str, marker: &str) -> String {
    let (status, session) = app
        .post(
            "/api/v1/sessions",
            token,
            json!({"workflow_id": "quick-brief", "title": format!("Plan {marker}"), "idea": format!("An app called {marker} for families.")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let sid = session["id"].as_str().unwrap().to_owned();
    let sent = app
        .say(token, &sid, &format!("Our product is named {marker}; draft the rest"))
        .await;
    app.wait_reply(token, &sid, sent["reply"]["id"].as_str().unwrap()).await;
    let (_, docs) = app.get(&format!("/api/v1/sessions/{sid}/documents"), token).await;
    let doc = docs["items"][0]["id"].as_str().unwrap().to_owned();
    let base = docs["items"][0]["revision"].as_i64().unwrap();
    let (status, body) = app
        .json(
            Method::PUT,
            &format!("/api/v1/sessions/{sid}/documents/{doc}/sections/summary"),
            Some(token),
            Some(json!({"content": format!("{marker} keeps recipes."), "base_revision": base})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sid
}

/// Every byte the database keeps: the SQLite file and its WAL, or a `pg_dump`.
async fn database_bytes(app: &TestApp) -> Vec<u8> {
    let url = &app.settings.database.url;
    if url.starts_with("postgres") {
        let out = tokio::process::Command::new("pg_dump")
            .arg("--no-owner")
            .arg(url)
            .output()
            .await
            .expect("pg_dump runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    } else {
        let path = url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let mut bytes = std::fs::read(&path).unwrap();
        for suffix in ["-wal", "-shm"] {
            if let Ok(more) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend(more);
            }
        }
        bytes
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_sessions_words_are_stored_only_sealed() {
    let app = spawn_app().await;
    let token = app.user().await;
    let marker = format!("Zq{}canary", uuid::Uuid::now_v7().simple());
    let sid = session_with(&app, &token, &marker).await;

    // Readable by its owner through the API, everywhere it was written.
    let (_, session) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert!(session["title"].as_str().unwrap().contains(&marker), "{session}");
    let (_, messages) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    let texts: Vec<&str> = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        texts.iter().filter(|t| t.contains(&marker)).count() >= 2,
        "the message and the reply: {texts:?}"
    );
    let (_, docs) = app.get(&format!("/api/v1/sessions/{sid}/documents"), &token).await;
    let doc = docs["items"][0]["id"].as_str().unwrap();
    let (_, document) = app
        .get(&format!("/api/v1/sessions/{sid}/documents/{doc}"), &token)
        .await;
    assert!(
        document.to_string().contains(&format!("{marker} keeps recipes.")),
        "{document}"
    );
    let (status, export) = app.get("/api/v1/me/export", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(export.to_string().contains(&marker), "the export is readable");

    // Nowhere in the database.
    let (status, _) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    assert_eq!(status, StatusCode::OK);
    let stored = database_bytes(&app).await;
    assert!(stored.len() > 10_000, "the database was read: {} bytes", stored.len());
    assert!(!contains(&stored, &marker), "the marker is stored in the clear");
    assert!(contains(&stored, "pse1."), "sealed values are there");

    // Going below the migration of the data keys would lose them: refused.
    let out = tokio::process::Command::new(crate::helpers::BIN)
        .args(["migrate", "down", "--to", "13"])
        .env_clear()
        .env("PLANSMITH_DATABASE_URL", &app.settings.database.url)
        .current_dir(&app.dir)
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("data keys"), "{err}");
    let (_, session) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert!(
        session["title"].as_str().unwrap().contains(&marker),
        "still readable: {session}"
    );
}

#[tokio::test]
async fn keys_rotate_online_a_missing_or_wrong_key_stops_the_start_and_erasure_shreds() {
    let app = spawn_app().await;
    let token = app.user().await;
    let marker = format!("Zq{}rotate", uuid::Uuid::now_v7().simple());
    let sid = session_with(&app, &token, &marker).await;
    let other = app.user().await;
    session_with(&app, &other, "OtherWords").await;

    // A second key becomes current: the old one must stay until rotation has run.
    let new_key = "bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleSE=";
    let keys = format!("test:{TEST_KEY},k2:{new_key}");
    let run = |args: &'static [&'static str], keys: String| {
        let app = &app;
        async move {
            let out = tokio::process::Command::new(crate::helpers::BIN)
                .args(args)
                .env_clear()
                .env("PLANSMITH_DATABASE_URL", &app.settings.database.url)
                .env("PLANSMITH_CRYPTO__KEYS", keys)
                .env("PLANSMITH_CRYPTO__CURRENT_KEY", "k2")
                .current_dir(&app.dir)
                .output()
                .await
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (ok, out, err) = run(&["keys", "rotate"], keys.clone()).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("re-wrapped 2 data keys"), "{out}");
    let (ok, out, _) = run(&["keys", "rotate"], keys.clone()).await;
    assert!(
        ok && out.contains("re-wrapped 0 data keys"),
        "a second run has nothing left: {out}"
    );

    // The server starts with the new key alone and reads everything.
    let url = app.settings.database.url.clone();
    let only_new = |s: &mut plansmith_server::Settings| {
        s.crypto.keys = std::collections::BTreeMap::from([("k2".to_owned(), new_key.to_owned())]);
    };
    let rotated = spawn_with(
        {
            let url = url.clone();
            move |s| {
                only_new(s);
                s.database.url = url;
            }
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    let (_, session) = rotated.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert!(session["title"].as_str().unwrap().contains(&marker), "{session}");

    // Without it, or with another key under its id, the start stops and names it.
    let mut missing = app.settings.clone();
    missing.database.url = url.clone();
    let err = plansmith_server::Application::build(missing.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("'k2'") && err.contains("not configured"), "{err}");
    missing.crypto.keys = std::collections::BTreeMap::from([("k2".to_owned(), TEST_KEY.to_owned())]);
    let err = plansmith_server::Application::build(missing)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("does not open") && err.contains("'k2'"), "{err}");

    // Erasure deletes the data key: what a backup or a stray copy holds cannot be opened.
    let before = crate::audit::count_rows(&rotated, "SELECT COUNT(*) FROM data_keys").await;
    let (status, body) = rotated
        .json(
            Method::DELETE,
            "/api/v1/me",
            Some(&token),
            Some(json!({"password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let after = crate::audit::count_rows(&rotated, "SELECT COUNT(*) FROM data_keys").await;
    assert_eq!(after, before - 1, "the account's data key is gone");
}

/// With Redis, the live stream of a reply is sealed too: Redis never holds its text.
#[tokio::test]
async fn reply_streams_in_redis_hold_only_sealed_payloads() {
    let redis = std::env::var("PLANSMITH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let app = spawn_with(
        {
            let redis = redis.clone();
            move |s| s.cache.redis_url = Some(redis)
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    let token = app.user().await;
    let marker = format!("Zq{}stream", uuid::Uuid::now_v7().simple());
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, &format!("Our product is named {marker}")).await;
    let reply = sent["reply"]["id"].as_str().unwrap().to_owned();
    let done = app.wait_reply(&token, &sid, &reply).await;
    // The stream replays from Redis, opened ...
    let events = app
        .stream_all(&format!("/api/v1/sessions/{sid}/replies/{reply}/stream"), &token, None)
        .await;
    assert_eq!(crate::helpers::text_of(&events), done["content"].as_str().unwrap());
    // ... while Redis holds every event sealed: no JSON, no words.
    let out = tokio::process::Command::new("redis-cli")
        .args([
            "-u",
            &redis,
            "XRANGE",
            &format!("plansmith:reply:{{{reply}}}:events"),
            "-",
            "+",
        ])
        .output()
        .await
        .expect("redis-cli runs");
    let held = String::from_utf8_lossy(&out.stdout);
    let payloads: Vec<&str> = held.lines().filter(|l| l.len() > 40).collect();
    assert!(payloads.len() >= 3, "the log is in Redis: {held}");
    assert!(payloads.iter().all(|p| p.starts_with("psl1.")), "{held}");
    for clear in ["\"type\"", "offline planner", "Executive", &marker] {
        assert!(!held.contains(clear), "Redis holds {clear} in the clear: {held}");
    }
}

/// What was stored before encryption reads as it is, and `plansmith keys backfill` seals it in
/// place (revisions keep verifying: their hash follows the sealed content).
#[tokio::test]
async fn the_backfill_seals_what_was_stored_in_the_clear() {
    use sha2::Digest;
    let app = spawn_app().await;
    let token = app.user().await;
    let marker = format!("Zq{}legacy", uuid::Uuid::now_v7().simple());
    let sid = session_with(&app, &token, "NewWords").await;
    let (_, docs) = app.get(&format!("/api/v1/sessions/{sid}/documents"), &token).await;
    let doc = docs["items"][0]["id"].as_str().unwrap().to_owned();
    // As an older release stored them: in the clear.
    let legacy_doc = format!(r#"{{"summary":"{marker} summary"}}"#);
    let hash: String = sha2::Sha256::digest(legacy_doc.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let id = |text: &str| {
        if app.settings.database.url.starts_with("postgres") {
            format!("'{text}'")
        } else {
            format!("X'{}'", text.replace('-', ""))
        }
    };
    crate::audit::run_sql(
        &app,
        &[
            &format!("UPDATE planning_sessions SET title = 'Title {marker}', idea = 'Idea {marker}' WHERE id = {}", id(&sid)),
            &format!("UPDATE messages SET content = 'Message {marker}' WHERE seq = 2 AND session_id = {}", id(&sid)),
            &format!(
                "UPDATE document_revisions SET content = '{legacy_doc}', content_hash = '{hash}' WHERE document_id = {} AND revision = 1",
                id(&doc)
            ),
        ],
    )
    .await;
    let (_, session) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert_eq!(session["title"], format!("Title {marker}"), "plaintext reads as it is");
    let clear = "SELECT COUNT(*) FROM planning_sessions WHERE title NOT LIKE 'pse1.%'";
    assert_eq!(crate::audit::count_rows(&app, clear).await, 1);

    let out = tokio::process::Command::new(crate::helpers::BIN)
        .args(["keys", "backfill"])
        .env_clear()
        .env("PLANSMITH_DATABASE_URL", &app.settings.database.url)
        .env("PLANSMITH_CRYPTO__KEYS", format!("test:{TEST_KEY}"))
        .current_dir(&app.dir)
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("backfill finished: 4 values sealed"),
        "title, idea, message, revision: {printed}"
    );

    for query in [
        "SELECT COUNT(*) FROM planning_sessions WHERE title NOT LIKE 'pse1.%' OR idea NOT LIKE 'pse1.%'",
        "SELECT COUNT(*) FROM messages WHERE content <> '' AND content NOT LIKE 'pse1.%'",
        "SELECT COUNT(*) FROM document_revisions WHERE content LIKE '%legacy%'",
    ] {
        assert_eq!(crate::audit::count_rows(&app, query).await, 0, "{query}");
    }
    // Read back the same, and the revision's hash verifies.
    let (_, session) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert_eq!(session["title"], format!("Title {marker}"));
    let (status, first) = app
        .get(&format!("/api/v1/sessions/{sid}/documents/{doc}?revision=1"), &token)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first.to_string().contains(&format!("{marker} summary")), "{first}");
    let (_, messages) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    assert!(messages.to_string().contains(&format!("Message {marker}")));
    if app.settings.database.url.starts_with("postgres") {
        assert!(
            !contains(&database_bytes(&app).await, &marker),
            "a dump holds no plaintext"
        );
    }
    let out = tokio::process::Command::new(crate::helpers::BIN)
        .args(["keys", "backfill"])
        .env_clear()
        .env("PLANSMITH_DATABASE_URL", &app.settings.database.url)
        .env("PLANSMITH_CRYPTO__KEYS", format!("test:{TEST_KEY}"))
        .current_dir(&app.dir)
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("backfill finished: 0 values sealed"));
}

/// The rolling upgrade from a release that cannot open sealed values: with
/// `crypto.seal_writes = false` writes stay in clear (the old release reads them) while sealed
/// values still open.
#[tokio::test]
async fn with_sealed_writes_off_writes_stay_clear_and_sealed_values_still_open() {
    let app = spawn_app().await;
    let token = app.user().await;
    let marker = format!("Zq{}sealed", uuid::Uuid::now_v7().simple());
    let sid = session_with(&app, &token, &marker).await;
    let url = app.settings.database.url.clone();
    let upgrading = spawn_with(
        move |s| {
            s.database.url = url;
            s.crypto.seal_writes = false;
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    let (_, session) = upgrading.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert!(
        session["title"].as_str().unwrap().contains(&marker),
        "sealed values open: {session}"
    );
    let clear = format!("Zq{}clear", uuid::Uuid::now_v7().simple());
    let sent = upgrading.say(&token, &sid, &format!("Also {clear}")).await;
    upgrading
        .wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    let stored = crate::audit::count_rows(
        &app,
        &format!("SELECT COUNT(*) FROM messages WHERE content = 'Also {clear}'"),
    )
    .await;
    assert_eq!(stored, 1, "written in clear while sealing is off");
}
