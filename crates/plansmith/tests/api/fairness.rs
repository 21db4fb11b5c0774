//! Per-user fairness: caps on open reply streams, active sessions, replies in progress and
//! requests per minute, and budgets reserved when a message is accepted.

use crate::helpers::{TestApp, spawn_with};
use plansmith_server::Overrides;
use plansmith_server::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

async fn app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_with(
        |s| {
            // Replies that stay in progress for a while.
            s.llm.offline.tokens_per_second = 20.0;
            configure(s);
        },
        Overrides::default(),
    )
    .await
}

fn session_id(session: &Value) -> String {
    session["id"].as_str().unwrap().to_owned()
}

async fn refused(response: reqwest::Response, code: &str, words: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(words), "{body}");
}

async fn send(app: &TestApp, token: &str, session: &str, content: &str) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/v1/sessions/{session}/messages"),
        Some(token),
        Some(json!({ "content": content })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_reply_streams_are_capped_per_user() {
    let app = app(|s| s.limits.streams_per_user = 2).await;
    let token = app.user().await;
    let sid = session_id(&app.session(&token, "quick-brief").await);
    let sent = app.say(&token, &sid, "Draft the rest").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap().to_owned();
    let first = app.open_stream(&url, &token, None).await;
    let _second = app.open_stream(&url, &token, None).await;
    let third = app.client.get(app.url(&url)).bearer_auth(&token).send().await.unwrap();
    refused(third, "limit_reached", "2 replies streaming").await;
    // Another user is not affected.
    let other = app.user().await;
    let other_sid = session_id(&app.session(&other, "quick-brief").await);
    let other_sent = app.say(&other, &other_sid, "Hello").await;
    app.open_stream(other_sent["reply"]["stream_url"].as_str().unwrap(), &other, None)
        .await;
    // A closed stream gives its place back.
    drop(first);
    let mut reopened = false;
    for _ in 0..100 {
        let response = app.client.get(app.url(&url)).bearer_auth(&token).send().await.unwrap();
        if response.status() == StatusCode::OK {
            reopened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reopened, "the closed stream's place came back");
}

#[tokio::test]
async fn active_sessions_are_capped_per_user() {
    let app = app(|s| s.limits.active_sessions_per_user = 2).await;
    let token = app.user().await;
    let first = session_id(&app.session(&token, "quick-brief").await);
    app.session(&token, "quick-brief").await;
    let create = || {
        app.request(
            Method::POST,
            "/api/v1/sessions",
            Some(&token),
            Some(json!({"workflow_id": "quick-brief", "title": "Third", "idea": "One too many."})),
        )
    };
    refused(create().await, "limit_reached", "2 active planning sessions").await;
    let (status, _) = app
        .post(&format!("/api/v1/sessions/{first}/abandon"), &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        create().await.status(),
        StatusCode::CREATED,
        "an abandoned session makes room"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_in_progress_are_capped_per_user() {
    let app = app(|s| {
        s.limits.queued_replies_per_user = 2;
        // Long enough that the third message comes while the first two are in progress.
        s.llm.offline.tokens_per_second = 200.0;
    })
    .await;
    let token = app.user().await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(session_id(&app.session(&token, "quick-brief").await));
    }
    let first = app.say(&token, &sessions[0], "Draft the rest").await;
    app.say(&token, &sessions[1], "Draft the rest").await;
    refused(
        send(&app, &token, &sessions[2], "Draft the rest").await,
        "limit_reached",
        "2 replies waiting",
    )
    .await;
    // Once a reply is done, its place is free again.
    let reply = first["reply"]["id"].as_str().unwrap();
    app.wait_reply(&token, &sessions[0], reply).await;
    let mut accepted = false;
    for _ in 0..100 {
        if send(&app, &token, &sessions[2], "Draft the rest").await.status() == StatusCode::ACCEPTED {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(accepted, "a finished reply gives its place back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_messages_cannot_overrun_the_budget() {
    // Each reply may write up to 1,000 tokens: the budget has room for three of them.
    let app = app(|s| {
        s.llm.max_tokens = 1000;
        s.llm.budgets.free.monthly_tokens = 3_200;
        s.llm.offline.tokens_per_second = 5.0;
    })
    .await;
    let token = app.user().await;
    let mut sessions = Vec::new();
    for _ in 0..6 {
        sessions.push(session_id(&app.session(&token, "quick-brief").await));
    }
    let burst: Vec<_> = sessions
        .iter()
        .map(|sid| {
            let request = app
                .client
                .post(app.url(&format!("/api/v1/sessions/{sid}/messages")))
                .bearer_auth(&token)
                .json(&json!({"content": "Draft the rest"}));
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let (mut accepted, mut reserved) = (0, 0);
    for response in burst {
        let response = response.await.unwrap();
        match response.status() {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"));
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "over_budget", "{body}");
                reserved += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((accepted, reserved), (3, 3), "the accepted replies fit the budget");
}

#[tokio::test]
async fn requests_per_user_are_limited_per_minute() {
    let app = app(|s| s.limits.requests_per_user_per_minute = 5).await;
    let token = app.user().await;
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/me", &token).await.0, StatusCode::OK);
    }
    let response = app.request(Method::GET, "/api/v1/me", Some(&token), None).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    refused(response, "rate_limited", "more than 5 requests in a minute").await;
    let other = app.user().await;
    assert_eq!(app.get("/api/v1/me", &other).await.0, StatusCode::OK, "per user");
}
