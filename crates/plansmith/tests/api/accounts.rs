//! Accounts: password changes, sign-ins (listed, revoked, idle), admins' account management,
//! common passwords and the security event log.

use crate::helpers::{TestApp, spawn_app, spawn_with};
use plansmith_server::Overrides;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const PASSWORD: &str = "correct horse battery";

/// Registers `email` with [`PASSWORD`] and returns its token.
pub(crate) async fn register(app: &TestApp, email: &str) -> String {
    let (status, body) = app
        .json(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// Signs in with a user agent of its own; the status and body.
async fn login_as(app: &TestApp, email: &str, password: &str, user_agent: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("user-agent", user_agent)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn login(app: &TestApp, email: &str, user_agent: &str) -> String {
    let (status, body) = login_as(app, email, PASSWORD, user_agent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.get("/api/v1/me", token).await.0
}

/// Grants the admin role through the store, as `plansmith users set-role` does.
pub(crate) async fn make_admin(app: &TestApp, email: &str) {
    let store = plansmith_server::open_store(&app.settings, false).await.unwrap();
    let email = plansmith_domain::Email::parse(email).unwrap();
    assert!(
        store
            .set_user_role(&email, plansmith_domain::Role::Admin)
            .await
            .unwrap()
    );
}

pub(crate) fn unique(name: &str) -> String {
    format!("{name}-{}@example.com", uuid::Uuid::now_v7().simple())
}

async fn revoke(app: &TestApp, id: &str, token: &str) -> (StatusCode, Value) {
    let path = format!("/api/v1/me/sign-ins/{id}");
    app.json(Method::DELETE, &path, Some(token), None).await
}

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> (StatusCode, Value) {
    app.post(
        "/api/v1/me/password",
        token,
        json!({"current_password": current, "new_password": new}),
    )
    .await
}

#[tokio::test]
async fn a_password_change_revokes_other_sign_ins_but_not_this_one() {
    let app = spawn_app().await;
    let email = unique("ada");
    let here = register(&app, &email).await;
    let phone = login(&app, &email, "Phone/1").await;
    let laptop = login(&app, &email, "Laptop/1").await;

    let (status, body) = change_password(&app, &here, PASSWORD, "a new and longer passphrase").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(me(&app, &here).await, StatusCode::OK, "the changing sign-in stays");
    assert_eq!(me(&app, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &laptop).await, StatusCode::UNAUTHORIZED);
    let (status, _) = login_as(&app, &email, PASSWORD, "Phone/1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    let (status, _) = login_as(&app, &email, "a new and longer passphrase", "Phone/1").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_current_password_or_a_weak_new_one_changes_nothing() {
    let app = spawn_app().await;
    let email = unique("bob");
    let token = register(&app, &email).await;
    let other = login(&app, &email, "Other/1").await;

    let (status, body) = change_password(&app, &token, "not my password", "a new and longer passphrase").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "invalid_credentials");
    assert_eq!(body["error"]["message"], "The current password is not correct.");
    let (status, body) = change_password(&app, &token, PASSWORD, "short").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_field"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("new_password: must be at least 8"),
        "{body}"
    );
    let (status, body) = change_password(&app, &token, PASSWORD, "qwertyuiop").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_field"))
    );
    assert_eq!(
        body["error"]["message"],
        "password: is one of the most common passwords"
    );

    assert_eq!(me(&app, &token).await, StatusCode::OK);
    assert_eq!(me(&app, &other).await, StatusCode::OK, "nothing was revoked");
    let (status, _) = login_as(&app, &email, PASSWORD, "Other/1").await;
    assert_eq!(status, StatusCode::OK, "the password is unchanged");
}

#[tokio::test]
async fn wrong_current_passwords_are_limited() {
    let app = spawn_with(|s| s.auth.max_failed_logins_per_account = 2, Overrides::default()).await;
    let token = register(&app, &unique("carl")).await;
    for _ in 0..2 {
        let (status, _) = change_password(&app, &token, "guess one", "a new and longer passphrase").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = change_password(&app, &token, PASSWORD, "a new and longer passphrase").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn common_passwords_are_refused_at_registration() {
    let app = spawn_app().await;
    for password in ["qwertyuiop", "Password1", "iloveyou1", "football"] {
        let (status, body) = app
            .json(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(json!({"email": unique("common"), "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{password}: {body}");
        assert_eq!(body["error"]["code"], "invalid_field");
        assert_eq!(
            body["error"]["message"], "password: is one of the most common passwords",
            "{password}"
        );
    }
}

#[tokio::test]
async fn sign_ins_are_listed_with_address_and_user_agent_and_revoked_one_by_one() {
    let app = spawn_app().await;
    let email = unique("dora");
    register(&app, &email).await;
    let first = login(&app, &email, "Firefox/140").await;
    let second = login(&app, &email, "Safari/18").await;

    let (status, list) = app.get("/api/v1/me/sign-ins", &second).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{list}");
    assert_eq!(items[0]["user_agent"], "Safari/18", "newest first");
    assert_eq!(items[1]["user_agent"], "Firefox/140");
    assert_eq!(
        items
            .iter()
            .map(|i| i["current"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [true, false, false]
    );
    for item in items {
        assert_eq!(item["address"], "127.0.0.1", "{item}");
        assert!(item["created_at"].is_string() && item["last_used_at"].is_string() && item["expires_at"].is_string());
    }

    let firefox = items[1]["id"].as_str().unwrap();
    assert_eq!(revoke(&app, firefox, &second).await.0, StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &second).await, StatusCode::OK);
    let (status, body) = revoke(&app, firefox, &second).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    let (status, _) = revoke(&app, "not-an-id", &second).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Another user cannot revoke this one's sign-in.
    let stranger = register(&app, &unique("eve")).await;
    let safari = items[0]["id"].as_str().unwrap();
    assert_eq!(revoke(&app, safari, &stranger).await.0, StatusCode::NOT_FOUND);
    assert_eq!(me(&app, &second).await, StatusCode::OK);

    // Revoking the request's own sign-in signs it out and clears the cookie.
    let response = app
        .request(
            Method::DELETE,
            &format!("/api/v1/me/sign-ins/{safari}"),
            Some(&second),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_eq!(me(&app, &second).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoke_all_signs_out_everywhere() {
    let app = spawn_app().await;
    let email = unique("finn");
    let tokens = [
        register(&app, &email).await,
        login(&app, &email, "A/1").await,
        login(&app, &email, "B/1").await,
    ];
    let bystander = register(&app, &unique("gus")).await;
    let response = app
        .request(Method::POST, "/api/v1/me/sign-ins/revoke-all", Some(&tokens[1]), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    for token in &tokens {
        assert_eq!(me(&app, token).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        me(&app, &bystander).await,
        StatusCode::OK,
        "other users are not signed out"
    );
}

#[tokio::test]
async fn a_sign_in_unused_for_the_idle_timeout_stops_working() {
    // Three seconds; uses are noted at most every 1.5 s.
    let app = spawn_with(|s| s.auth.idle_timeout_minutes = 0.05, Overrides::default()).await;
    let token = register(&app, &unique("hal")).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(2000)).await;
        assert_eq!(me(&app, &token).await, StatusCode::OK, "each use renews the sign-in");
    }
    tokio::time::sleep(Duration::from_millis(3600)).await;
    let (status, body) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn admins_list_accounts_and_change_role_plan_and_disabled() {
    let app = spawn_app().await;
    let root = unique("root");
    let admin = register(&app, &root).await;
    make_admin(&app, &root).await;
    let member_email = unique("ivy");
    let member = register(&app, &member_email).await;
    let member_id = app.get("/api/v1/me", &member).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_id = app.get("/api/v1/me", &admin).await.1["id"].as_str().unwrap().to_owned();
    for n in 0..3 {
        register(&app, &unique(&format!("extra{n}"))).await;
    }

    // Paged, newest first, with role, plan and status.
    let (status, first) = app.get("/api/v1/admin/users?limit=3", &admin).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = app
        .get(&format!("/api/v1/admin/users?limit=3&cursor={cursor}"), &admin)
        .await;
    assert!(second["next_cursor"].is_null(), "{second}");
    let all: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap().clone())
        .collect();
    assert_eq!(all.len(), 5);
    assert_eq!(all[4]["email"], root.as_str(), "oldest last");
    let listed = all.iter().find(|u| u["id"] == member_id.as_str()).unwrap();
    assert_eq!(
        (
            &listed["role"],
            &listed["plan"],
            &listed["status"],
            &listed["plan_override"]
        ),
        (&json!("member"), &json!("free"), &json!("active"), &Value::Null)
    );
    let (status, _) = app.get("/api/v1/admin/users?limit=0", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let path = format!("/api/v1/admin/users/{member_id}");
    let put = |body: Value| app.json(Method::PUT, &path, Some(&admin), Some(body));
    let (status, changed) = put(json!({"plan": "pro"})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (&changed["plan"], &changed["plan_override"]),
        (&json!("pro"), &json!("pro"))
    );
    assert_eq!(
        app.get("/api/v1/me", &member).await.1["plan"],
        "pro",
        "the override is in force"
    );
    let (_, changed) = put(json!({"plan": null, "role": "admin"})).await;
    assert_eq!((&changed["plan"], &changed["role"]), (&json!("free"), &json!("admin")));
    assert_eq!(
        app.get("/api/v1/admin/users", &member).await.0,
        StatusCode::OK,
        "now an admin"
    );
    let (_, changed) = put(json!({"role": "member"})).await;
    assert_eq!(changed["role"], "member");

    let (status, changed) = put(json!({"disabled": true})).await;
    assert_eq!((status, &changed["status"]), (StatusCode::OK, &json!("disabled")));
    assert_eq!(
        me(&app, &member).await,
        StatusCode::UNAUTHORIZED,
        "its sign-ins stop at once"
    );
    let (status, body) = login_as(&app, &member_email, PASSWORD, "Again/1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "account_disabled");
    let (status, body) = login_as(&app, &member_email, "not the password", "Again/1").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_credentials")),
        "without the right password, nothing about the account is told"
    );
    put(json!({"disabled": false})).await;
    let (status, _) = login_as(&app, &member_email, PASSWORD, "Again/1").await;
    assert_eq!(status, StatusCode::OK, "enabled again");

    // No admin can lock themselves out.
    let own = format!("/api/v1/admin/users/{admin_id}");
    for body in [json!({"role": "member"}), json!({"disabled": true})] {
        let (status, refused) = app.json(Method::PUT, &own, Some(&admin), Some(body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert_eq!(refused["error"]["code"], "self_lockout");
    }
    assert_eq!(app.get("/api/v1/admin/users", &admin).await.0, StatusCode::OK);

    let (status, body) = put(json!({"role": "owner"})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_field"))
    );
    let (status, body) = put(json!({"plan": "gold"})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_field"))
    );
    let ghost = format!("/api/v1/admin/users/{}", uuid::Uuid::now_v7());
    let (status, _) = app
        .json(Method::PUT, &ghost, Some(&admin), Some(json!({"plan": "pro"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admins_revoke_an_accounts_sign_ins_and_members_may_not() {
    let app = spawn_app().await;
    let root = unique("root");
    let admin = register(&app, &root).await;
    make_admin(&app, &root).await;
    let email = unique("jo");
    let tokens = [register(&app, &email).await, login(&app, &email, "B/1").await];
    let id = app.get("/api/v1/me", &tokens[0]).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/admin/users/{id}/revoke-sign-ins");

    let (status, body) = app.post(&path, &tokens[0], json!({})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    let (status, body) = app.post(&path, &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], 2);
    for token in &tokens {
        assert_eq!(me(&app, token).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(me(&app, &admin).await, StatusCode::OK);
    let ghost = format!("/api/v1/admin/users/{}/revoke-sign-ins", uuid::Uuid::now_v7());
    assert_eq!(app.post(&ghost, &admin, json!({})).await.0, StatusCode::NOT_FOUND);
}

/// The security events of a query, oldest first, as (kind, outcome, detail).
async fn events(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/v1/admin/security-events?{query}"), admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut items = body["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn security_events_are_recorded_and_filtered_by_user_kind_and_time() {
    let app = spawn_app().await;
    let started = chrono::Utc::now();
    let root = unique("root");
    let admin = register(&app, &root).await;
    make_admin(&app, &root).await;
    let email = unique("kim");
    let token = register(&app, &email).await;
    let id = app.get("/api/v1/me", &token).await.1["id"].as_str().unwrap().to_owned();
    let failed = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-request-id", "req-wrong-password")
        .json(&json!({"email": email, "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let second = login(&app, &email, "K/1").await;
    let (status, _) = change_password(&app, &second, PASSWORD, "a new and longer passphrase").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // A member at the admin API (403), and nobody at all (401).
    let (status, _) = app.get("/api/v1/admin/security-events", &second).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.json(Method::GET, "/api/v1/admin/users", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.request(Method::POST, "/api/v1/auth/logout", Some(&second), None)
        .await;

    let mine = events(&app, &admin, &format!("user={id}")).await;
    assert_eq!(
        kinds(&mine),
        [
            "sign_up",
            "sign_in_failed",
            "sign_in",
            "password_changed",
            "admin_denied",
            "token_revoked"
        ],
        "{mine:#?}"
    );
    for event in &mine {
        assert_eq!(event["user_id"], id.as_str());
        assert_eq!(event["address"], "127.0.0.1");
        assert!(event["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{event}");
    }
    let failure = &mine[1];
    assert_eq!(
        (&failure["outcome"], &failure["request_id"], &failure["detail"]),
        (
            &json!("failure"),
            &json!("req-wrong-password"),
            &json!("wrong email or password")
        )
    );
    assert_eq!(mine[3]["detail"], "1 other sign-ins revoked");
    assert_eq!(mine[4]["detail"], "GET /api/v1/admin/security-events: forbidden");

    let denied = events(&app, &admin, "kind=admin_denied").await;
    assert_eq!(denied.len(), 2, "{denied:#?}");
    assert_eq!(denied[1]["detail"], "GET /api/v1/admin/users: unauthorized");
    assert!(denied[1]["user_id"].is_null());
    let sign_ups = events(&app, &admin, "kind=sign_up").await;
    assert_eq!(sign_ups.len(), 2);
    let mine_failed = events(&app, &admin, &format!("user={id}&kind=sign_in_failed")).await;
    assert_eq!(mine_failed.len(), 1);

    let ended = chrono::Utc::now();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let range = format!("from={}&to={}", stamp(started), stamp(ended));
    let all_in_range = events(&app, &admin, &range.replace('+', "%2B")).await;
    assert!(all_in_range.len() >= 8, "{all_in_range:#?}");
    assert!(events(&app, &admin, &format!("from={}", stamp(ended))).await.is_empty());
    assert!(events(&app, &admin, &format!("to={}", stamp(started))).await.is_empty());

    // Paged newest first.
    let (_, page) = app.get("/api/v1/admin/security-events?limit=2", &admin).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = app
        .get(
            &format!("/api/v1/admin/security-events?limit=2&cursor={cursor}"),
            &admin,
        )
        .await;
    let first_ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let next_ids: Vec<&str> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(
        first_ids[1] > next_ids[0] && first_ids[0] > first_ids[1],
        "{first_ids:?} {next_ids:?}"
    );

    for bad in ["kind=everything", "limit=0", "cursor=nope", "user=nope"] {
        let (status, body) = app.get(&format!("/api/v1/admin/security-events?{bad}"), &admin).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_query")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn admin_changes_are_recorded_as_admin_actions_and_role_changes() {
    let app = spawn_app().await;
    let root = unique("root");
    let admin = register(&app, &root).await;
    make_admin(&app, &root).await;
    let admin_id = app.get("/api/v1/me", &admin).await.1["id"].as_str().unwrap().to_owned();
    let member = register(&app, &unique("lee")).await;
    let id = app.get("/api/v1/me", &member).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/admin/users/{id}");
    let (status, _) = app
        .json(
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({"role": "admin", "disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let actions = events(&app, &admin, &format!("user={admin_id}&kind=admin_action")).await;
    assert_eq!(actions.len(), 1, "{actions:#?}");
    let detail = actions[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&id) && detail.ends_with("role member -> admin, disabled false -> true"),
        "{detail}"
    );
    let target = events(&app, &admin, &format!("user={id}")).await;
    assert_eq!(
        kinds(&target),
        ["sign_up", "role_changed", "token_revoked"],
        "{target:#?}"
    );
    assert_eq!(target[1]["detail"], format!("member -> admin by admin {admin_id}"));
}

/// GDPR access and portability: one JSON document with the account, every session with its
/// messages and every revision of every document, usage and consents; nobody else's data.
#[tokio::test]
async fn a_user_exports_all_their_data_as_one_json_document() {
    let app = crate::helpers::spawn_app().await;
    let token = app.user().await;
    let other = app.user().await;
    let theirs = app.session(&other, "quick-brief").await;
    let mut sessions = Vec::new();
    // More sessions than one page of the stream.
    for _ in 0..23 {
        sessions.push(
            app.session(&token, "quick-brief").await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let sid = &sessions[0];
    let sent = app.say(&token, sid, "draft the rest").await;
    app.wait_reply(&token, sid, sent["reply"]["id"].as_str().unwrap()).await;
    let (_, docs) = app.get(&format!("/api/v1/sessions/{sid}/documents"), &token).await;
    let doc = docs["items"][0]["id"].as_str().unwrap();
    let (status, _) = app
        .json(
            reqwest::Method::PUT,
            &format!("/api/v1/sessions/{sid}/documents/{doc}/sections/summary"),
            Some(&token),
            Some(serde_json::json!({"content": "Exported words.", "base_revision": 1})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK);

    let response = app
        .request(reqwest::Method::GET, "/api/v1/me/export", Some(&token), None)
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"plansmith-export-")
    );
    let export: serde_json::Value = response.json().await.expect("one JSON document");
    assert_eq!(export["format"], "plansmith-export-1");
    let (_, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(export["account"]["email"], me["email"]);
    let exported: Vec<&str> = export["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(exported.len(), 23);
    assert!(sessions.iter().all(|s| exported.contains(&s.as_str())));
    assert!(!exported.contains(&theirs["id"].as_str().unwrap()));
    let planned = export["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == sid.as_str())
        .unwrap();
    assert_eq!(planned["title"], "Recipe Box");
    let roles: Vec<&str> = planned["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["assistant", "user", "assistant"]);
    let revisions = planned["documents"][0]["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "every revision");
    assert_eq!(revisions[1]["sections"]["summary"], "Exported words.");
    assert_ne!(revisions[0]["sections"]["summary"], "Exported words.");
    assert!(export["llm_usage"]["tokens"].as_i64().unwrap() > 0);
    assert!(export["consents"].as_array().unwrap().is_empty());

    let (status, _) = app.json(reqwest::Method::GET, "/api/v1/me/export", None, None).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
}

/// Counts rows on the app's database (SQLite or PostgreSQL) with one bound value.
async fn count_rows(app: &crate::helpers::TestApp, sql: &str, value: Bind) -> i64 {
    use sqlx::Connection;
    let url = &app.settings.database.url;
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let pg = sql.replace("?1", "$1");
        let query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(pg));
        match value {
            Bind::Id(id) => query.bind(id).fetch_one(&mut conn).await.unwrap(),
            Bind::Text(text) => query.bind(text).fetch_one(&mut conn).await.unwrap(),
        }
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()));
        match value {
            Bind::Id(id) => query.bind(id).fetch_one(&mut conn).await.unwrap(),
            Bind::Text(text) => query.bind(text).fetch_one(&mut conn).await.unwrap(),
        }
    }
}

enum Bind {
    Id(uuid::Uuid),
    Text(String),
}

/// GDPR erasure: the password again, then nothing names the person but opaque ids in the
/// security log; usage stays as anonymous totals.
#[tokio::test]
async fn an_account_is_erased_with_its_password_and_nothing_names_it_afterwards() {
    let app = crate::helpers::spawn_app().await;
    let token = app.user().await;
    let (_, me) = app.get("/api/v1/me", &token).await;
    let id: uuid::Uuid = me["id"].as_str().unwrap().parse().unwrap();
    let email = me["email"].as_str().unwrap().to_owned();
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "draft the rest").await;
    app.wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    // A password reset leaves an email with the address in the outbox.
    let (status, _) = app
        .json(
            reqwest::Method::POST,
            "/api/v1/auth/password-reset",
            None,
            Some(serde_json::json!({"email": email})),
        )
        .await;
    assert!(status.is_success());
    assert!(
        count_rows(
            &app,
            "SELECT COUNT(*) FROM email_outbox WHERE \"to\" = ?1",
            Bind::Text(email.clone())
        )
        .await
            > 0
    );
    let usage_before = count_rows(&app, "SELECT COUNT(*) FROM llm_calls WHERE user_id = ?1", Bind::Id(id)).await;
    assert!(usage_before > 0);
    let someone = app.user().await;

    let erase = |password: &str| {
        let body = serde_json::json!({ "password": password });
        let (app, token) = (&app, token.clone());
        async move {
            app.json(reqwest::Method::DELETE, "/api/v1/me", Some(&token), Some(body))
                .await
        }
    };
    let (status, body) = erase("not my password").await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "invalid_credentials");
    assert_eq!(body["error"]["field"], "password");
    let (status, _) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert_eq!(status, reqwest::StatusCode::OK, "nothing was erased");

    let (status, body) = erase("correct horse battery").await;
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT, "{body}");
    let (status, _) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "every sign-in ended");
    let (status, _) = app
        .json(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"email": email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);

    for (sql, value) in [
        ("SELECT COUNT(*) FROM users WHERE email = ?1", Bind::Text(email.clone())),
        (
            "SELECT COUNT(*) FROM planning_sessions WHERE user_id = ?1",
            Bind::Id(id),
        ),
        ("SELECT COUNT(*) FROM llm_calls WHERE user_id = ?1", Bind::Id(id)),
        ("SELECT COUNT(*) FROM auth_tokens WHERE user_id = ?1", Bind::Id(id)),
        ("SELECT COUNT(*) FROM one_time_tokens WHERE user_id = ?1", Bind::Id(id)),
        (
            "SELECT COUNT(*) FROM email_outbox WHERE \"to\" = ?1",
            Bind::Text(email.clone()),
        ),
        (
            "SELECT COUNT(*) FROM security_events WHERE user_id = ?1 AND (address IS NOT NULL OR detail IS NOT NULL)",
            Bind::Id(id),
        ),
    ] {
        assert_eq!(count_rows(&app, sql, value).await, 0, "{sql}");
    }
    let kept = count_rows(
        &app,
        "SELECT COUNT(*) FROM security_events WHERE user_id = ?1",
        Bind::Id(id),
    )
    .await;
    assert!(kept > 0, "the security log keeps the opaque id");
    let calls = count_rows(
        &app,
        "SELECT CAST(COALESCE(SUM(calls), 0) AS BIGINT) FROM erased_usage WHERE provider <> ?1",
        Bind::Text(String::new()),
    )
    .await;
    assert_eq!(calls, usage_before, "usage stays as anonymous totals");
    // Someone else is untouched.
    let (status, _) = app.get("/api/v1/me", &someone).await;
    assert_eq!(status, reqwest::StatusCode::OK);
}

/// Consents: given to the current version, withdrawn as easily, the history kept, in the export,
/// gone with the account.
#[tokio::test]
async fn consents_are_given_withdrawn_kept_as_history_and_exported() {
    let app = crate::helpers::spawn_app().await;
    let token = app.user().await;
    let (status, consents) = app.get("/api/v1/me/consents", &token).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(consents["items"].as_array().unwrap().is_empty());
    let notice = &consents["notices"][0];
    assert_eq!(notice["kind"], "llm_processing");
    assert_eq!(notice["given"], false);
    assert!(notice["text"].as_str().unwrap().contains("offline planner"), "{notice}");

    let change = |given: bool| {
        let (app, token) = (&app, token.clone());
        async move {
            app.post(
                "/api/v1/me/consents",
                &token,
                serde_json::json!({"kind": "llm_processing", "given": given}),
            )
            .await
        }
    };
    let (status, after) = change(true).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{after}");
    assert_eq!(after["notices"][0]["given"], true);
    assert_eq!(after["items"].as_array().unwrap().len(), 1);
    let (_, again) = change(true).await;
    assert_eq!(
        again["items"].as_array().unwrap().len(),
        1,
        "giving twice records it once"
    );
    let (_, withdrawn) = change(false).await;
    assert_eq!(withdrawn["notices"][0]["given"], false);
    assert!(withdrawn["items"][0]["withdrawn_at"].is_string());
    let (_, given_again) = change(true).await;
    let items = given_again["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the history stays");
    assert!(items[0]["withdrawn_at"].is_string() && items[1]["withdrawn_at"].is_null());

    let (status, body) = app
        .post(
            "/api/v1/me/consents",
            &token,
            serde_json::json!({"kind": "telepathy", "given": true}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "kind");

    let export: serde_json::Value = app
        .request(reqwest::Method::GET, "/api/v1/me/export", Some(&token), None)
        .await
        .json()
        .await
        .unwrap();
    let exported = export["consents"].as_array().unwrap();
    assert_eq!(exported.len(), 2);
    assert_eq!(exported[0]["kind"], "llm_processing");

    // With a model provider first in the route, the notice names it.
    let routed = crate::helpers::spawn_with(
        |s| {
            s.llm.providers = vec![crate::gateway::provider(
                "anthropic",
                plansmith_server::config::ProviderKind::Anthropic,
                "http://127.0.0.1:9",
            )];
            s.llm.route = vec!["anthropic".into(), "offline".into()];
        },
        plansmith_server::Overrides::default(),
    )
    .await;
    let other = routed.user().await;
    let (_, consents) = routed.get("/api/v1/me/consents", &other).await;
    assert!(
        consents["notices"][0]["text"].as_str().unwrap().contains("anthropic"),
        "{consents}"
    );
}
