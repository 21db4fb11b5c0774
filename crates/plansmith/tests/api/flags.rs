//! Feature flags: admin editing, OFREP evaluation (shapes, stickiness, targeting, ETag), a
//! workflow behind a flag, and a change seen by every instance at once.

use crate::helpers::{TestApp, spawn_app, spawn_with, start};
use plansmith_server::Overrides;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A signed-in admin's token (admin role granted through the store).
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

async fn put_flag(app: &TestApp, admin: &str, key: &str, definition: Value) -> (StatusCode, Value) {
    app.json(
        Method::PUT,
        &format!("/api/v1/admin/flags/{key}"),
        Some(admin),
        Some(definition),
    )
    .await
}

async fn ofrep(app: &TestApp, token: &str, key: &str, context: Value) -> (StatusCode, Value) {
    app.json(
        Method::POST,
        &format!("/ofrep/v1/evaluate/flags/{key}"),
        Some(token),
        Some(json!({"context": context})),
    )
    .await
}

#[tokio::test]
async fn admins_create_read_replace_and_delete_flags() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let member = app.user().await;
    let (status, body) = put_flag(
        &app,
        &admin,
        "new.gallery",
        json!({"enabled": true, "rollout_percent": 150}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_field");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("rollout_percent"),
        "{body}"
    );
    let (status, body) = put_flag(&app, &admin, "Bad Key", json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = put_flag(&app, &admin, "new.gallery", json!({"enabled": true, "colour": "red"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused: {body}");

    let definition = json!({"enabled": true, "description": "Template gallery", "rollout_percent": 25,
        "targeting": {"plans": ["free", "pro"]}});
    let (status, body) = put_flag(&app, &admin, "new.gallery", definition.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["definition"]["rollout_percent"], 25);
    let (status, one) = app.get("/api/v1/admin/flags/new.gallery", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["definition"]["description"], "Template gallery");
    assert!(one["updated_by"].is_string());
    put_flag(&app, &admin, "new.gallery", json!({"enabled": false})).await;
    let (_, list) = app.get("/api/v1/admin/flags", &admin).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "replaced, not added: {list}");
    assert_eq!(items[0]["definition"]["enabled"], false);
    assert_eq!(app.get("/api/v1/admin/flags", &member).await.0, StatusCode::FORBIDDEN);
    let (status, _) = put_flag(&app, &member, "x", json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .json(Method::DELETE, "/api/v1/admin/flags/new.gallery", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .json(Method::DELETE, "/api/v1/admin/flags/new.gallery", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/admin/flags/new.gallery", &admin).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn ofrep_answers_in_its_own_shapes_with_sticky_buckets() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let user = app.user().await;
    let (_, me) = app.get("/api/v1/me", &user).await;
    let user_id = me["id"].as_str().unwrap().to_owned();
    put_flag(&app, &admin, "split", json!({"enabled": true, "rollout_percent": 50})).await;
    put_flag(
        &app,
        &admin,
        "colours",
        json!({"enabled": true, "variants": [{"name": "blue", "weight": 1}, {"name": "green", "weight": 1}]}),
    )
    .await;

    let (status, body) = ofrep(&app, &user, "split", json!({"targetingKey": user_id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected = plansmith_domain::flags::bucket("split", &user_id) <= 50;
    assert_eq!(body["key"], "split");
    assert_eq!(
        body["value"], expected,
        "the bucket is murmur3(\"split:{{user}}\") % 100 + 1: {body}"
    );
    assert_eq!(body["reason"], if expected { "SPLIT" } else { "DEFAULT" });
    assert!(body["metadata"].is_object() && body["variant"].is_string());
    for _ in 0..3 {
        assert_eq!(
            ofrep(&app, &user, "split", json!({"targetingKey": user_id})).await.1["value"],
            expected,
            "sticky"
        );
    }
    // Another targeting key buckets differently, as the formula says.
    for other in ["org-1", "org-2", "org-3", "org-4"] {
        let (_, body) = ofrep(&app, &user, "split", json!({"targetingKey": other})).await;
        assert_eq!(
            body["value"],
            plansmith_domain::flags::bucket("split", other) <= 50,
            "{other}"
        );
    }
    let (_, body) = ofrep(&app, &user, "colours", json!({})).await;
    assert!(
        ["blue", "green"].contains(&body["value"].as_str().unwrap()),
        "a variant's value is its name: {body}"
    );

    let (status, body) = ofrep(&app, &user, "nope", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"key": "nope", "errorCode": "FLAG_NOT_FOUND", "errorDetails": "There is no flag 'nope'."})
    );
    let response = app
        .client
        .post(app.url("/ofrep/v1/evaluate/flags/split"))
        .bearer_auth(&user)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errorCode"], "INVALID_CONTEXT");
    let anonymous = app
        .client
        .post(app.url("/ofrep/v1/evaluate/flags/split"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "a signed-in user's token is needed"
    );

    // Bulk: every flag, an ETag, 304 while nothing changed, 200 after a change.
    let bulk = |etag: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/ofrep/v1/evaluate/flags"))
            .bearer_auth(&user)
            .json(&json!({"context": {"targetingKey": user_id}}));
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        request.send()
    };
    let first = bulk(None).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = first.json().await.unwrap();
    let keys: Vec<&str> = body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["colours", "split"]);
    assert_eq!(
        bulk(Some(etag.clone())).await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );
    put_flag(&app, &admin, "split", json!({"enabled": false})).await;
    let changed = bulk(Some(etag.clone())).await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK, "the change is seen at once");
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
}

#[tokio::test]
async fn targeting_by_plan_follows_the_users_plan() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let user = app.user().await;
    let (_, me) = app.get("/api/v1/me", &user).await;
    put_flag(
        &app,
        &admin,
        "pro.only",
        json!({"enabled": true, "targeting": {"plans": ["pro", "team"]}}),
    )
    .await;
    let (_, body) = ofrep(&app, &user, "pro.only", json!({"plan": "pro"})).await;
    assert_eq!(
        body["value"], false,
        "the client's claim of a plan is not believed: {body}"
    );
    let path = format!("/api/v1/admin/users/{}", me["id"].as_str().unwrap());
    let (status, _) = app
        .json(Method::PUT, &path, Some(&admin), Some(json!({"plan": "pro"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = ofrep(&app, &user, "pro.only", json!({})).await;
    assert_eq!(
        (body["value"].as_bool(), body["reason"].as_str()),
        (Some(true), Some("TARGETING_MATCH")),
        "{body}"
    );
}

#[tokio::test]
async fn a_workflow_behind_a_flag_is_offered_only_to_users_it_is_on_for() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let (insider, outsider) = (app.user().await, app.user().await);
    let (_, me) = app.get("/api/v1/me", &insider).await;
    let (status, body) = put_flag(
        &app,
        &admin,
        "workflow:product-plan",
        json!({"enabled": true, "rollout_percent": 0, "targeting": {"user_ids": [me["id"]]}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, seen) = app.get("/api/v1/workflows", &insider).await;
    assert!(ids(&seen).contains(&"product-plan".to_owned()));
    let (_, hidden) = app.get("/api/v1/workflows", &outsider).await;
    assert!(!ids(&hidden).contains(&"product-plan".to_owned()), "{hidden}");
    assert!(ids(&hidden).contains(&"quick-brief".to_owned()), "other workflows stay");
    let visitor: Value = app
        .client
        .get(app.url("/api/v1/workflows"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!ids(&visitor).contains(&"product-plan".to_owned()));
    let (status, body) = start_product_plan(&app, &outsider).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(start_product_plan(&app, &insider).await.0, StatusCode::CREATED);
    app.json(
        Method::DELETE,
        "/api/v1/admin/flags/workflow:product-plan",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        start_product_plan(&app, &outsider).await.0,
        StatusCode::CREATED,
        "without the flag, open to everyone"
    );
}

async fn start_product_plan(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.json(
        Method::POST,
        "/api/v1/sessions",
        Some(token),
        Some(json!({"workflow_id": "product-plan", "title": "Flagged", "idea": "An idea"})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_instance_is_seen_on_another_at_once() {
    let redis = std::env::var("PLANSMITH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let db = crate::testdb::TestDb::create().await;
    let url = db.url.clone();
    let a = spawn_with(
        move |s| {
            s.database.url = url;
            s.cache.redis_url = Some(redis);
        },
        Overrides::default(),
    )
    .await;
    let mut settings = a.settings.clone();
    settings.listen = "127.0.0.1:0".into();
    let b = start(settings, Overrides::default()).await;
    let admin = admin(&a).await;
    let user = a.user().await;
    put_flag(&a, &admin, "shared", json!({"enabled": true})).await;
    assert_eq!(ofrep(&b, &user, "shared", json!({})).await.1["value"], true);
    put_flag(&a, &admin, "shared", json!({"enabled": false})).await;
    assert_eq!(
        ofrep(&b, &user, "shared", json!({})).await.1["value"],
        false,
        "no stale cache on B"
    );
}

#[tokio::test]
async fn admin_issued_client_keys_evaluate_for_the_user_in_the_context_until_revoked() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let member = app.user().await;
    let (status, _) = put_flag(
        &app,
        &admin,
        "pro.export",
        json!({"enabled": true, "targeting": {"plans": ["pro"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Only admins issue keys, and a key needs a name.
    let issue = |token: String, body: Value| {
        let app = &app;
        async move {
            app.json(Method::POST, "/api/v1/admin/flag-client-keys", Some(&token), Some(body))
                .await
        }
    };
    let (status, _) = issue(member.clone(), json!({"name": "billing"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = issue(admin.clone(), json!({"name": "  "})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "name", "{body}");
    let (status, issued) = issue(admin.clone(), json!({"name": "billing service"})).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let key = issued["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("pfk_") && key.len() > 40, "{key}");
    let id = issued["id"].as_str().unwrap().to_owned();

    // The list never shows the key again.
    let (status, list) = app.get("/api/v1/admin/flag-client-keys", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["name"], "billing service");
    assert!(list["items"][0]["revoked_at"].is_null());
    assert!(!list.to_string().contains(&key));

    // The context describes the user: their plan decides here.
    let (status, body) = ofrep(&app, &key, "pro.export", json!({"targetingKey": "u-1", "plan": "pro"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"], true);
    assert_eq!(body["reason"], "TARGETING_MATCH");
    let (_, body) = ofrep(&app, &key, "pro.export", json!({"targetingKey": "u-2", "plan": "free"})).await;
    assert_eq!(body["value"], false);
    let (status, body) = ofrep(&app, &key, "pro.export", json!({"plan": "pro"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "TARGETING_KEY_MISSING");
    assert_eq!(body["key"], "pro.export");
    let (status, body) = ofrep(
        &app,
        &key,
        "pro.export",
        json!({"targetingKey": "u-1", "signedUpAt": "yesterday"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "INVALID_CONTEXT");
    let (status, bulk) = app
        .json(
            Method::POST,
            "/ofrep/v1/evaluate/flags",
            Some(&key),
            Some(json!({"context": {"targetingKey": "u-1", "plan": "pro"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bulk}");
    assert_eq!(bulk["flags"][0]["key"], "pro.export");
    assert_eq!(bulk["flags"][0]["value"], true);
    // A key is not a user's token.
    let (status, _) = app.get("/api/v1/me", &key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A made-up key is refused.
    let (status, _) = ofrep(&app, "pfk_not-a-key", "pro.export", json!({"targetingKey": "u-1"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Revoked: refused at once; revoking again is a 404.
    let (status, _) = app
        .json(
            Method::DELETE,
            &format!("/api/v1/admin/flag-client-keys/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = ofrep(&app, &key, "pro.export", json!({"targetingKey": "u-1"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .json(
            Method::DELETE,
            &format!("/api/v1/admin/flag-client-keys/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/v1/admin/flag-client-keys", &admin).await;
    assert!(list["items"][0]["revoked_at"].is_string());
}
