use crate::helpers::{spawn_app, spawn_with};
use plansmith_server::Overrides;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn workflows_are_listed_with_their_steps() {
    let app = spawn_app().await;
    let token = app.user().await;
    let (status, body) = app.get("/api/v1/workflows", &token).await;
    assert_eq!(status, StatusCode::OK);
    let items = body["items"].as_array().unwrap();
    let plan = items.iter().find(|w| w["id"] == "product-plan").expect("product-plan");
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["brief", "prd", "architecture", "delivery"]);
    let brief: Vec<&str> = plan["steps"][0]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        brief,
        [
            "summary",
            "problem",
            "solution",
            "users",
            "goals",
            "mvp",
            "constraints",
            "risks"
        ]
    );
    assert!(plan["steps"][0]["sections"][0]["title"].is_string());
    let quick = items.iter().find(|w| w["id"] == "quick-brief").expect("quick-brief");
    assert_eq!(quick["steps"].as_array().unwrap().len(), 1);
    assert_eq!(quick["steps"][0]["id"], "brief");
}

#[tokio::test]
async fn create_get_and_list_sessions_newest_first_with_cursor() {
    let app = spawn_app().await;
    let token = app.user().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let (status, body) = app
            .post(
                "/api/v1/sessions",
                &token,
                json!({"workflow_id": "product-plan", "title": format!("Plan {n}"), "idea": "A tool"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["status"], "active");
        assert_eq!(body["current_step"], "brief");
        assert_eq!(body["progress"], 0.0);
        assert_eq!(body["sections_total"], 27);
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, one) = app.get(&format!("/api/v1/sessions/{}", ids[2]), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["title"], "Plan 2");
    assert_eq!(one["steps"][0]["status"], "current");
    assert_eq!(one["steps"][1]["status"], "pending");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/sessions?limit=2&cursor={c}"),
            None => "/api/v1/sessions?limit=2".into(),
        };
        let (status, page) = app.get(&path, &token).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "every session once, newest first");
    let (status, body) = app.get("/api/v1/sessions?limit=0", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app.get("/api/v1/sessions?cursor=nonsense", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn session_input_is_validated() {
    let app = spawn_app().await;
    let token = app.user().await;
    let (status, body) = app
        .post(
            "/api/v1/sessions",
            &token,
            json!({"workflow_id": "nope", "title": "T", "idea": "I"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("workflow_id"));
    assert!(body["error"]["hint"].as_str().unwrap().contains("product-plan"));
    let (status, body) = app
        .post(
            "/api/v1/sessions",
            &token,
            json!({"workflow_id": "quick-brief", "title": "  ", "idea": "I"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("title"));
    let (status, body) = app
        .post(
            "/api/v1/sessions",
            &token,
            json!({"workflow_id": "quick-brief", "title": "T"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("idea"), "{body}");
}

#[tokio::test]
async fn another_users_data_is_always_404() {
    let app = spawn_app().await;
    let owner = app.user().await;
    let intruder = app.user().await;
    let session = app.session(&owner, "quick-brief").await;
    let sid = session["id"].as_str().unwrap();
    let sent = app.say(&owner, sid, "draft the rest").await;
    let reply = sent["reply"]["id"].as_str().unwrap();
    app.wait_reply(&owner, sid, reply).await;
    let (_, docs) = app.get(&format!("/api/v1/sessions/{sid}/documents"), &owner).await;
    let doc = docs["items"][0]["id"].as_str().unwrap();

    let attempts: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/sessions/{sid}"), None),
        (Method::GET, format!("/api/v1/sessions/{sid}/messages"), None),
        (
            Method::POST,
            format!("/api/v1/sessions/{sid}/messages"),
            Some(json!({"content": "hi"})),
        ),
        (
            Method::GET,
            format!("/api/v1/sessions/{sid}/replies/{reply}/stream"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/sessions/{sid}/replies/{reply}/retry"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/sessions/{sid}/steps/brief/complete"),
            None,
        ),
        (Method::POST, format!("/api/v1/sessions/{sid}/complete"), None),
        (Method::POST, format!("/api/v1/sessions/{sid}/abandon"), None),
        (Method::GET, format!("/api/v1/sessions/{sid}/documents"), None),
        (Method::GET, format!("/api/v1/sessions/{sid}/documents/{doc}"), None),
        (
            Method::PUT,
            format!("/api/v1/sessions/{sid}/documents/{doc}/sections/summary"),
            Some(json!({"content": "x", "base_revision": 1})),
        ),
        (
            Method::GET,
            format!("/api/v1/sessions/{sid}/documents/{doc}/revisions"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/sessions/{sid}/documents/{doc}/restore"),
            Some(json!({"revision": 1})),
        ),
        (
            Method::GET,
            format!("/api/v1/sessions/{sid}/documents/{doc}/export.md"),
            None,
        ),
    ];
    for (method, path, body) in attempts {
        let (status, error) = app.json(method.clone(), &path, Some(&intruder), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {error}");
        assert_eq!(error["error"]["code"], "not_found");
    }
    let (_, list) = app.get("/api/v1/sessions", &intruder).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    // The owner's data is untouched.
    let (status, still) = app.get(&format!("/api/v1/sessions/{sid}"), &owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(still["status"], "active");
}

#[tokio::test]
async fn steps_complete_in_order_and_the_last_completes_the_session() {
    let app = spawn_app().await;
    let token = app.user().await;
    let session = app.session(&token, "product-plan").await;
    let sid = session["id"].as_str().unwrap();

    let (status, body) = app
        .post(
            &format!("/api/v1/sessions/{sid}/steps/brief/complete"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "step_incomplete");
    assert!(body["error"]["message"].as_str().unwrap().contains("Executive summary"));
    let (status, body) = app
        .post(&format!("/api/v1/sessions/{sid}/steps/prd/complete"), &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "step_not_current");
    let (status, _) = app
        .post(
            &format!("/api/v1/sessions/{sid}/steps/nope/complete"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .post(&format!("/api/v1/sessions/{sid}/complete"), &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "steps_incomplete");

    for (i, step) in ["brief", "prd", "architecture", "delivery"].iter().enumerate() {
        let sent = app.say(&token, sid, "Please draft the rest").await;
        let reply = app.wait_reply(&token, sid, sent["reply"]["id"].as_str().unwrap()).await;
        assert_eq!(reply["status"], "complete", "{reply}");
        assert_eq!(reply["step_id"], *step);
        let (status, body) = app
            .post(
                &format!("/api/v1/sessions/{sid}/steps/{step}/complete"),
                &token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if i < 3 {
            assert_eq!(body["status"], "active");
            assert_eq!(body["steps"][i]["status"], "completed");
            assert_eq!(body["steps"][i + 1]["status"], "current");
        } else {
            assert_eq!(body["status"], "completed");
            assert_eq!(body["current_step"], serde_json::Value::Null);
            assert_eq!(body["progress"], 1.0);
            assert!(body["completed_at"].is_string());
        }
    }
    // The agent introduced every later step in the chat.
    let (_, messages) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    let intros = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant" && m["content"].as_str().unwrap().contains("We'll start with"))
        .count();
    assert_eq!(intros, 4);
    let (status, body) = app
        .post(&format!("/api/v1/sessions/{sid}/complete"), &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "completing a completed session changes nothing");
    assert_eq!(body["status"], "completed");
    let (status, body) = app
        .post(
            &format!("/api/v1/sessions/{sid}/messages"),
            &token,
            json!({"content": "more"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "session_closed");
    let (status, _) = app
        .post(&format!("/api/v1/sessions/{sid}/abandon"), &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn abandon_closes_the_session() {
    let app = spawn_app().await;
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let sid = session["id"].as_str().unwrap();
    let (status, body) = app
        .post(&format!("/api/v1/sessions/{sid}/abandon"), &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "abandoned");
    let (status, _) = app
        .post(
            &format!("/api/v1/sessions/{sid}/messages"),
            &token,
            json!({"content": "hello"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(&format!("/api/v1/sessions/{sid}/complete"), &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn sessions_are_renamed_and_deleted_by_their_owner_only() {
    let app = spawn_app().await;
    let token = app.user().await;
    let other = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/sessions/{sid}");

    let (status, renamed) = app
        .json(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"title": "  Family recipes  "})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["title"], "Family recipes");
    let (_, list) = app.get("/api/v1/sessions", &token).await;
    assert_eq!(list["items"][0]["title"], "Family recipes");
    let (status, body) = app
        .json(Method::PATCH, &path, Some(&token), Some(json!({"title": " "})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_field");
    let long = "x".repeat(app.settings.limits.max_title_chars + 1);
    let (status, body) = app
        .json(Method::PATCH, &path, Some(&token), Some(json!({"title": long})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app
        .json(Method::PATCH, &path, Some(&other), Some(json!({"title": "Mine now"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Not while a reply is being written; then for good, with its documents.
    let slow = spawn_with(|s| s.llm.offline.tokens_per_second = 150.0, Overrides::default()).await;
    let slow_token = slow.user().await;
    let busy = slow.session(&slow_token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = slow.say(&slow_token, &busy, "draft the rest").await;
    let (status, body) = slow
        .json(
            Method::DELETE,
            &format!("/api/v1/sessions/{busy}"),
            Some(&slow_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "reply_in_progress");
    slow.wait_reply(&slow_token, &busy, sent["reply"]["id"].as_str().unwrap())
        .await;
    let (status, _) = slow
        .json(
            Method::DELETE,
            &format!("/api/v1/sessions/{busy}"),
            Some(&slow_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (_, docs) = app.get(&format!("{path}/documents"), &token).await;
    assert_eq!(
        docs["items"].as_array().unwrap().len(),
        1,
        "documents are read once, caching the owner"
    );
    let (status, _) = app.json(Method::DELETE, &path, Some(&other), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.json(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for gone in [path.clone(), format!("{path}/documents"), format!("{path}/messages")] {
        let (status, _) = app.get(&gone, &token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
    }
    let (_, list) = app.get("/api/v1/sessions", &token).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (status, _) = app.json(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
