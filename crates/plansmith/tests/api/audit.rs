//! The audit trail: requests on a session's data, admin actions and the platform's own changes
//! are recorded; admins list them with filters, each person sees who accessed their data, and
//! `plansmith audit verify` finds any entry edited, deleted, inserted or reordered.

use crate::accounts::{make_admin, register, unique};
use crate::helpers::{BIN, TEST_KEY, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn actions(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn reads_changes_and_admin_actions_are_audited_and_each_person_sees_their_access_log() {
    let app = spawn_app().await;
    let owner_email = unique("owner");
    let owner = register(&app, &owner_email).await;
    let owner_id = app.get("/api/v1/me", &owner).await.1["id"].as_str().unwrap().to_owned();
    let session = app.session(&owner, "quick-brief").await;
    let sid = session["id"].as_str().unwrap().to_owned();
    let posted = app.say(&owner, &sid, "A recipe box for busy parents.").await;
    app.wait_reply(&owner, &sid, posted["reply"]["id"].as_str().unwrap())
        .await;
    let (status, _) = app.get(&format!("/api/v1/sessions/{sid}"), &owner).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .json(
            Method::PATCH,
            &format!("/api/v1/sessions/{sid}"),
            Some(&owner),
            Some(json!({"title": "Recipe Box"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // A refused request reads nothing: not recorded.
    let stranger = register(&app, &unique("stranger")).await;
    let (status, _) = app.get(&format!("/api/v1/sessions/{sid}"), &stranger).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let root = unique("root");
    let admin = register(&app, &root).await;
    make_admin(&app, &root).await;
    let (status, changed) = app
        .json(
            Method::PUT,
            &format!("/api/v1/admin/users/{owner_id}"),
            Some(&admin),
            Some(json!({"plan": "pro"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");

    // The admin's view of the session's history, oldest last.
    let (status, list) = app.get(&format!("/api/v1/admin/audit?session={sid}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let seen = actions(&list);
    for action in [
        "sessions.create",
        "sessions.messages.create",
        "sessions.replies.write",
        "sessions.read",
        "sessions.update",
    ] {
        assert!(seen.contains(&action.to_owned()), "{action} in {seen:?}");
    }
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), seen.len());
    assert!(
        items
            .iter()
            .all(|e| e["session_id"] == sid.as_str() && e["user_id"] == owner_id.as_str()),
        "{list}"
    );
    let read = items.iter().find(|e| e["action"] == "sessions.read").unwrap();
    assert_eq!(read["actor"], "user");
    assert_eq!(read["actor_id"], owner_id.as_str());
    assert_eq!(read["network"], "127.0.0.0/24", "the network, not the address: {read}");
    assert!(read["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{read}");
    let written = items.iter().find(|e| e["action"] == "sessions.replies.write").unwrap();
    assert_eq!(written["actor"], "system");
    assert!(written.get("actor_id").is_none(), "{written}");
    let seqs: Vec<i64> = items.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");

    // Filters combine; paging follows the cursor.
    let (_, updates) = app
        .get(
            &format!("/api/v1/admin/audit?user={owner_id}&action=admin.users.update"),
            &admin,
        )
        .await;
    let updates = updates["items"].as_array().unwrap().clone();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["actor"], "admin");
    let (_, page) = app.get("/api/v1/admin/audit?limit=2", &admin).await;
    let cursor = page["next_cursor"].as_str().expect("more pages").to_owned();
    let (_, next) = app
        .get(&format!("/api/v1/admin/audit?limit=2&cursor={cursor}"), &admin)
        .await;
    assert!(next["items"][0]["seq"].as_i64().unwrap() < cursor.parse::<i64>().unwrap());
    let future = "2999-01-01T00:00:00Z";
    let (_, none) = app.get(&format!("/api/v1/admin/audit?from={future}"), &admin).await;
    assert!(none["items"].as_array().unwrap().is_empty(), "{none}");

    // The owner's access log: their own requests, the admin's change, the platform's writes;
    // never who the admin was.
    let (status, log) = app.get("/api/v1/me/access-log", &owner).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let mine = log["items"].as_array().unwrap();
    let admin_change = mine
        .iter()
        .find(|e| e["action"] == "admin.users.update")
        .expect("the admin's change");
    assert_eq!(admin_change["actor"], "admin");
    assert!(admin_change.get("actor_id").is_none(), "{admin_change}");
    assert!(mine.iter().any(|e| e["action"] == "sessions.replies.write"));
    assert!(
        mine.iter().all(|e| e["user_id"] == owner_id.as_str()),
        "only their data: {log}"
    );
    let (_, theirs) = app.get("/api/v1/me/access-log", &stranger).await;
    assert!(
        actions(&theirs).iter().all(|a| a.starts_with("me.")),
        "the stranger's refused read is not theirs to see: {theirs}"
    );

    // Members may not read the trail; bad queries say what is wrong.
    let (status, _) = app.get("/api/v1/admin/audit", &owner).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (query, field) in [
        ("limit=0", "limit"),
        ("cursor=abc", "cursor"),
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/admin/audit?{query}"), &admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
}

/// Runs the binary against the app's database with the test keys (or `keys`).
async fn cli(app: &TestApp, args: &[&str], keys: &str) -> (bool, String, String) {
    let output = tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PLANSMITH_DATABASE_URL", &app.settings.database.url)
        .env("PLANSMITH_CRYPTO__KEYS", keys)
        .current_dir(&app.dir)
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

/// Runs statements on the app's database (SQLite or PostgreSQL).
pub(crate) async fn run_sql(app: &TestApp, statements: &[&str]) {
    use sqlx::Connection;
    let url = &app.settings.database.url;
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn audit_verify_names_the_first_entry_edited_deleted_inserted_or_reordered() {
    let app = spawn_app().await;
    let keys = format!("test:{TEST_KEY}");
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..4 {
        let (status, _) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Everything the server recorded is stored (listing flushes), then signed: rotation
    // re-signs every checkpoint and records itself with one.
    let (status, _) = app.get("/api/v1/me/access-log", &token).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (ok, out, err) = cli(&app, &["keys", "rotate"], &keys).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("rotation to key test finished"), "{out}");
    let (ok, out, err) = cli(&app, &["audit", "verify"], &keys).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("audit chain intact") && out.contains("1 signed checkpoints"),
        "{out}"
    );

    run_sql(&app, &["CREATE TABLE audit_copy AS SELECT * FROM audit_log"]).await;
    let restore = [
        "DELETE FROM audit_log",
        "INSERT INTO audit_log SELECT * FROM audit_copy",
    ];
    let forged_hash = "f".repeat(64);
    let insert = format!(
        "INSERT INTO audit_log (seq, at, actor, action, prev_hash, hash)
         SELECT 4, at, 'admin', 'sessions.read', hash, '{forged_hash}' FROM audit_copy WHERE seq = 3"
    );
    let cases: [(&str, Vec<&str>, &str); 4] = [
        (
            "edited",
            vec!["UPDATE audit_log SET action = 'sessions.delete' WHERE seq = 3"],
            "audit entry 3: its hash does not match its content",
        ),
        (
            "deleted",
            vec!["DELETE FROM audit_log WHERE seq = 3"],
            "audit entry 4: it does not follow entry 2",
        ),
        (
            "reordered",
            vec![
                "UPDATE audit_log SET seq = 1000000 WHERE seq = 2",
                "UPDATE audit_log SET seq = 2 WHERE seq = 3",
                "UPDATE audit_log SET seq = 3 WHERE seq = 1000000",
            ],
            "audit entry 2: it does not follow entry 1",
        ),
        (
            "inserted",
            vec![
                "UPDATE audit_log SET seq = seq + 1000000 WHERE seq > 3",
                "UPDATE audit_log SET seq = seq - 999999 WHERE seq > 1000000",
                &insert,
            ],
            "audit entry 4: its hash does not match its content",
        ),
    ];
    for (what, statements, expected) in cases {
        run_sql(&app, &statements).await;
        let (ok, out, err) = cli(&app, &["audit", "verify"], &keys).await;
        assert!(!ok, "{what}: verified anyway: {out}");
        assert!(err.contains(expected), "{what}: {err}");
        run_sql(&app, &restore).await;
        let (ok, _, err) = cli(&app, &["audit", "verify"], &keys).await;
        assert!(ok, "{what}: intact again after the restore: {err}");
    }

    // A checkpoint needs its key; a wrong key with the same id does not verify it.
    let other = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktb3Q=";
    let (ok, _, err) = cli(&app, &["audit", "verify"], &format!("test:{other}")).await;
    assert!(!ok && err.contains("signature does not match"), "{err}");
    let (ok, _, err) = cli(&app, &["audit", "verify"], &format!("k9:{other}")).await;
    assert!(!ok && err.contains("key id 'test'"), "{err}");

    // Rotated to a new key (the old one still configured), the chain verifies with the new key alone.
    let both = format!("test:{TEST_KEY},k2:{other}");
    let (ok, out, err) = cli(&app, &["keys", "rotate"], &both).await;
    assert!(
        !ok && err.contains("crypto.current_key"),
        "two keys need a current one: {out}{err}"
    );
    let output = tokio::process::Command::new(BIN)
        .args(["keys", "rotate"])
        .env_clear()
        .env("PLANSMITH_DATABASE_URL", &app.settings.database.url)
        .env("PLANSMITH_CRYPTO__KEYS", &both)
        .env("PLANSMITH_CRYPTO__CURRENT_KEY", "k2")
        .current_dir(&app.dir)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (ok, out, err) = cli(&app, &["audit", "verify"], &format!("k2:{other}")).await;
    assert!(ok, "{out}{err}");
    let (status, list) = app
        .get("/api/v1/admin/audit?action=keys.rotate", &{
            let root = unique("root");
            let admin = register(&app, &root).await;
            make_admin(&app, &root).await;
            admin
        })
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "each rotation is audited: {list}"
    );
}

#[tokio::test]
async fn an_incident_notice_reaches_its_recipients_by_email_and_banner_with_read_receipts() {
    let app = spawn_app().await;
    let root = unique("root");
    let admin = register(&app, &root).await;
    make_admin(&app, &root).await;
    let affected_email = unique("affected");
    let affected = register(&app, &affected_email).await;
    let affected_id = app.get("/api/v1/me", &affected).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bystander = register(&app, &unique("bystander")).await;

    let publish = |body: Value| app.json(Method::POST, "/api/v1/admin/incidents", Some(&admin), Some(body));
    let notice = json!({
        "severity": "sev2",
        "title": "Some documents were briefly visible to another account",
        "body": "Between 10:02 and 10:19 UTC two documents could be read by one other account. Nothing else was exposed.",
        "user_ids": [affected_id],
    });
    for (change, field) in [
        (json!({"severity": "urgent"}), "severity"),
        (json!({"title": " "}), "title"),
        (json!({"body": ""}), "body"),
        (json!({"user_ids": []}), "user_ids"),
        (json!({"user_ids": [uuid::Uuid::now_v7()]}), "user_ids"),
    ] {
        let mut body = notice.clone();
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let (status, refused) = publish(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
    let (status, _) = app
        .json(
            Method::POST,
            "/api/v1/admin/incidents",
            Some(&affected),
            Some(notice.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "members cannot publish");

    let (status, created) = publish(notice.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["audience"], "users");
    assert_eq!(
        (created["recipient_count"].as_i64(), created["notified_count"].as_i64()),
        (Some(1), Some(1))
    );
    let id = created["id"].as_str().unwrap().to_owned();

    // The email is in the outbox; the banner's notice is the affected person's only.
    let (_, emails) = app.get("/api/v1/admin/emails", &admin).await;
    assert!(
        emails["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["to"] == affected_email.as_str() && e["subject"].as_str().unwrap().contains("briefly visible")),
        "{emails}"
    );
    let (status, mine) = app.get("/api/v1/me/incidents", &affected).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["items"][0]["id"], id.as_str());
    assert!(mine["items"][0]["read_at"].is_null());
    let (_, theirs) = app.get("/api/v1/me/incidents", &bystander).await;
    assert!(theirs["items"].as_array().unwrap().is_empty(), "{theirs}");

    // The read receipt: once, idempotent, and only the recipient's.
    let read = format!("/api/v1/me/incidents/{id}/read");
    let (status, _) = app.json(Method::POST, &read, Some(&bystander), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for _ in 0..2 {
        let (status, _) = app.json(Method::POST, &read, Some(&affected), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (_, mine) = app.get("/api/v1/me/incidents", &affected).await;
    assert!(mine["items"][0]["read_at"].is_string(), "{mine}");
    let (status, detail) = app.get(&format!("/api/v1/admin/incidents/{id}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["read_count"], 1);
    let recipient = &detail["recipients"][0];
    assert_eq!(recipient["user_id"], affected_id.as_str());
    assert!(
        recipient["notified_at"].is_string() && recipient["read_at"].is_string(),
        "{detail}"
    );
    let (status, _) = app
        .get(&format!("/api/v1/admin/incidents/{}", uuid::Uuid::now_v7()), &admin)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // To everyone: every account, each notified.
    let mut everyone = notice.clone();
    everyone.as_object_mut().unwrap().remove("user_ids");
    let (status, all) = publish(everyone).await;
    assert_eq!(status, StatusCode::CREATED, "{all}");
    assert_eq!(all["audience"], "all");
    assert_eq!(
        (all["recipient_count"].as_i64(), all["notified_count"].as_i64()),
        (Some(3), Some(3))
    );
    let (_, listed) = app.get("/api/v1/admin/incidents", &admin).await;
    assert_eq!(listed["items"][0]["id"], all["id"], "newest first: {listed}");
    let (_, theirs) = app.get("/api/v1/me/incidents", &bystander).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1);

    // Publishing is an audited admin action.
    let (_, audit) = app
        .get("/api/v1/admin/audit?action=admin.incidents.create", &admin)
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "{audit}");
}

#[tokio::test]
async fn the_retention_job_removes_what_is_past_its_period_and_keeps_the_rest() {
    let app = spawn_app().await;
    let token = app.user().await;
    let sid = |s: &Value| s["id"].as_str().unwrap().to_owned();
    let idle = sid(&app.session(&token, "quick-brief").await);
    let abandoned = sid(&app.session(&token, "quick-brief").await);
    let recent = sid(&app.session(&token, "quick-brief").await);
    let posted = app.say(&token, &recent, "A recipe box for busy parents.").await;
    app.wait_reply(&token, &recent, posted["reply"]["id"].as_str().unwrap())
        .await;
    let (status, _) = app
        .json(
            Method::POST,
            &format!("/api/v1/sessions/{abandoned}/abandon"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let old = "2020-01-15T10:00:00+00:00";
    run_sql(
        &app,
        &[
            &format!(
                "UPDATE planning_sessions SET updated_at = '{old}' WHERE id IN ({}, {})",
                id_literal(&app, &idle),
                id_literal(&app, &abandoned)
            ),
            &format!("UPDATE llm_calls SET created_at = '{old}'"),
            &format!("UPDATE security_events SET at = '{old}'"),
        ],
    )
    .await;

    let output = tokio::process::Command::new(BIN)
        .args(["retention", "run"])
        .env_clear()
        .env("PLANSMITH_DATABASE_URL", &app.settings.database.url)
        .env("PLANSMITH_CRYPTO__KEYS", format!("test:{TEST_KEY}"))
        .env("PLANSMITH_RETENTION__DELETE_ABANDONED_AFTER_DAYS", "30")
        .current_dir(&app.dir)
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        out.contains("1 model calls folded")
            && out.contains("1 sessions marked abandoned")
            && out.contains("1 abandoned sessions deleted"),
        "{out}"
    );
    assert!(!out.contains(" 0 security events"), "the sign-up events went: {out}");

    let status_of = |id: String| {
        let app = &app;
        let token = &token;
        async move { app.get(&format!("/api/v1/sessions/{id}"), token).await }
    };
    let (status, s) = status_of(idle).await;
    assert_eq!(
        (status, s["status"].as_str()),
        (StatusCode::OK, Some("abandoned")),
        "idle for years: abandoned"
    );
    assert_eq!(
        status_of(abandoned).await.0,
        StatusCode::NOT_FOUND,
        "abandoned long ago: deleted"
    );
    let (status, s) = status_of(recent.clone()).await;
    assert_eq!((status, s["status"].as_str()), (StatusCode::OK, Some("active")));
    // The call's cost stays in the monthly totals; the run is audited.
    let totals = count_rows(&app, "SELECT COUNT(*) FROM erased_usage WHERE month = '2020-01'").await;
    assert_eq!(totals, 1);
    let (ok, out, err) = cli(&app, &["audit", "verify"], &format!("test:{TEST_KEY}")).await;
    assert!(ok, "{out}{err}");
    // A second run finds nothing to do.
    let again = tokio::process::Command::new(BIN)
        .args(["retention", "run"])
        .env_clear()
        .env("PLANSMITH_DATABASE_URL", &app.settings.database.url)
        .env("PLANSMITH_CRYPTO__KEYS", format!("test:{TEST_KEY}"))
        .current_dir(&app.dir)
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(
        out.contains("0 model calls folded") && out.contains("0 sessions marked abandoned"),
        "{out}"
    );

    let output = tokio::process::Command::new(BIN)
        .args(["retention", "run"])
        .env_clear()
        .env("PLANSMITH_DATABASE_URL", &app.settings.database.url)
        .env("PLANSMITH_CRYPTO__KEYS", format!("test:{TEST_KEY}"))
        .env("PLANSMITH_RETENTION__LLM_CALL_DAYS", "7")
        .current_dir(&app.dir)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("retention.llm_call_days"));
}

/// A session id as a literal of the app's database.
fn id_literal(app: &TestApp, id: &str) -> String {
    if app.settings.database.url.starts_with("postgres") {
        format!("'{id}'")
    } else {
        format!("X'{}'", id.replace('-', ""))
    }
}

pub(crate) async fn count_rows(app: &TestApp, query: &str) -> i64 {
    use sqlx::Connection;
    let url = &app.settings.database.url;
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn compliance_evidence_is_collected_redacted_and_hashed_and_a_broken_chain_fails_it() {
    let app = spawn_app().await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    app.get("/api/v1/me/access-log", &token).await;
    let work = tempfile::TempDir::new().unwrap();
    let backups = work.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let backup_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let summary = work.path().join("junit.xml");
    std::fs::write(&summary, "<testsuites tests=\"3\" failures=\"0\"/>").unwrap();
    std::fs::write(
        work.path().join("deny.txt"),
        "advisories ok, bans ok, licenses ok, sources ok\n",
    )
    .unwrap();
    let keys = format!("test:{TEST_KEY}");
    let run = |args: Vec<String>| {
        let app = &app;
        let (keys, backups, summary) = (&keys, &backups, &summary);
        async move {
            let output = tokio::process::Command::new(BIN)
                .args(&args)
                .env_clear()
                .env("PLANSMITH_DATABASE_URL", &app.settings.database.url)
                .env("PLANSMITH_CRYPTO__KEYS", keys)
                .env("PLANSMITH_BACKUP__KEY", backup_key)
                .env("PLANSMITH_BACKUP__DIR", backups)
                .env("PLANSMITH_METRICS__TOKEN", "evidence-secret-token-0123456789")
                .env("PLANSMITH_EVIDENCE_TEST_SUMMARY", summary)
                .env("PLANSMITH_EVIDENCE_DEPENDENCY_SCAN", summary.with_file_name("deny.txt"))
                .current_dir(&app.dir)
                .output()
                .await
                .unwrap();
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        }
    };
    let backup = backups.join("plansmith-now.backup").display().to_string();
    let (code, out, err) = run(vec!["backup".into(), "create".into(), "--out".into(), backup]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let out_dir = work.path().join("evidence");
    let evidence_args = vec![
        "compliance".into(),
        "evidence".into(),
        "--out".into(),
        out_dir.display().to_string(),
    ];
    let (code, out, err) = run(evidence_args.clone()).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let folder = std::fs::read_dir(&out_dir).unwrap().next().unwrap().unwrap().path();
    assert!(
        folder
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("plansmith-evidence-20"),
        "dated: {folder:?}"
    );
    let read = |name: &str| std::fs::read_to_string(folder.join(name)).unwrap();
    let config = read("config.txt");
    assert!(config.contains("metrics.token = (secret, not shown)"), "{config}");
    assert!(config.contains("crypto.keys.test = (secret, not shown)"), "{config}");
    for secret in ["evidence-secret-token", TEST_KEY, backup_key] {
        assert!(!config.contains(secret), "a secret in the evidence: {config}");
    }
    assert!(
        read("audit-verify.txt").starts_with("audit chain intact"),
        "{}",
        read("audit-verify.txt")
    );
    assert!(
        read("backup-verify.txt").contains("verifies"),
        "{}",
        read("backup-verify.txt")
    );
    assert!(read("tests.txt").contains("failures=\"0\""));
    assert!(
        read("dependencies.txt").contains("licenses ok"),
        "{}",
        read("dependencies.txt")
    );
    let manifest: Value = serde_json::from_str(&read("manifest.json")).unwrap();
    for name in [
        "config.txt",
        "audit-verify.txt",
        "backup-verify.txt",
        "dependencies.txt",
        "tests.txt",
    ] {
        use sha2::Digest;
        let digest: String = sha2::Sha256::digest(std::fs::read(folder.join(name)).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(manifest["sha256"][name], digest.as_str(), "{name}");
    }

    // A broken chain is evidence too: written down, and the command fails.
    run_sql(&app, &["UPDATE audit_log SET action = 'sessions.delete' WHERE seq = 1"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (code, _, err) = run(evidence_args).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the audit chain does not verify"), "{err}");
}
