use crate::helpers::{Sse, assert_contiguous, read_events, spawn_app, spawn_with, text_of};
use plansmith_server::Overrides;
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn a_message_is_answered_by_a_streamed_reply_that_updates_the_document() {
    let app = spawn_app().await;
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let sid = session["id"].as_str().unwrap();
    let (_, history) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    let intro = &history["items"][0];
    assert_eq!(intro["role"], "assistant");
    assert!(
        intro["content"].as_str().unwrap().contains("Executive summary"),
        "the agent opens the step: {intro}"
    );

    let sent = app
        .say(
            &token,
            sid,
            "Grandparents who cook by heart, and grandchildren who want to learn.",
        )
        .await;
    assert_eq!(sent["message"]["role"], "user");
    assert_eq!(sent["message"]["seq"], 2);
    assert_eq!(sent["reply"]["status"], "queued");
    let reply = sent["reply"]["id"].as_str().unwrap();
    let url = sent["reply"]["stream_url"].as_str().unwrap();
    assert_eq!(url, format!("/api/v1/sessions/{sid}/replies/{reply}/stream"));

    let events = app.stream_all(url, &token, None).await;
    assert_contiguous(&events);
    assert_eq!(events[0].id, 1);
    assert_eq!(events.last().unwrap().event, "done");
    let section = events.iter().find(|e| e.event == "section").expect("a section event");
    assert_eq!(section.data["section_id"], "summary");
    assert_eq!(section.data["revision"], 1);
    let draft = events
        .iter()
        .rfind(|e| e.event == "section_draft")
        .expect("the section is drafted while it is written");
    assert!(draft.id < section.id, "drafts come before the commit");
    assert_eq!(draft.data["document_id"], section.data["document_id"]);
    assert_eq!(draft.data["section_id"], "summary");
    let text = text_of(&events);
    assert!(!text.contains("<section"), "section blocks never show as chat text");
    assert!(
        text.contains("Problem statement"),
        "the agent asks the next section's questions: {text}"
    );

    let message = app.wait_reply(&token, sid, reply).await;
    assert_eq!(message["status"], "complete");
    assert_eq!(
        message["content"], text,
        "persisted content is exactly the token events"
    );
    assert_eq!(message["id"], reply);
    assert_eq!(message["provider"], "offline");

    let doc_id = section.data["document_id"].as_str().unwrap();
    let (_, doc) = app
        .get(&format!("/api/v1/sessions/{sid}/documents/{doc_id}"), &token)
        .await;
    assert_eq!(doc["revision"], 1);
    let summary = doc["sections"][0]["content"].as_str().unwrap();
    assert_eq!(draft.data["text"], summary, "the last draft is the committed text");
    assert!(
        summary.contains("Recipe Box") && summary.contains("Grandparents who cook by heart"),
        "{summary}"
    );
    let (_, session) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert_eq!(session["sections_filled"], 1);
    assert!((session["progress"].as_f64().unwrap() - 1.0 / 8.0).abs() < 1e-9);
}

#[tokio::test]
async fn finished_replies_replay_their_whole_log_ending_with_done() {
    let app = spawn_app().await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "draft the rest").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap();
    let first = app.stream_all(url, &token, None).await;
    app.wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    let again = app.stream_all(url, &token, None).await;
    assert_eq!(first, again);
    let sections: Vec<&str> = again
        .iter()
        .filter(|e| e.event == "section")
        .map(|e| e.data["section_id"].as_str().unwrap())
        .collect();
    assert_eq!(sections.len(), 8, "draft the rest drafts every section: {sections:?}");
    assert!(
        again
            .iter()
            .filter(|e| e.event == "section")
            .all(|e| e.data["revision"] == 1),
        "one AI revision per reply"
    );
}

#[tokio::test]
async fn resuming_a_finished_reply_after_its_last_event_ends_the_stream() {
    let app = spawn_app().await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "hello").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap();
    let all = app.stream_all(url, &token, None).await;
    let last = all.last().expect("a reply has events");
    assert_eq!(last.event, "done");
    // Found by fuzzing: a resume at or past the closing event waited for events that never come.
    for after in [last.id, last.id + 100] {
        let rest = tokio::time::timeout(Duration::from_secs(5), app.stream_all(url, &token, Some(after)))
            .await
            .unwrap_or_else(|_| panic!("the stream resumed after event {after} did not end"));
        assert!(rest.is_empty(), "{rest:?}");
    }
}

#[tokio::test]
async fn reply_survives_client_disconnect() {
    let app = spawn_with(|s| s.llm.offline.tokens_per_second = 300.0, Overrides::default()).await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "draft the rest").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap();
    let reply = sent["reply"]["id"].as_str().unwrap();
    let partial = read_events(app.open_stream(url, &token, None).await, 5).await;
    assert_eq!(partial.len(), 5);
    // The connection is dropped here; the generation goes on.
    let (_, messages) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    let status = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == reply)
        .unwrap()["status"]
        .clone();
    assert_eq!(status, "streaming");
    let message = app.wait_reply(&token, &sid, reply).await;
    assert_eq!(message["status"], "complete");
    let all = app.stream_all(url, &token, None).await;
    assert_eq!(&all[..5], &partial[..]);
    assert_eq!(message["content"], text_of(&all));
    let (_, session) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert_eq!(session["sections_filled"], 8);
}

#[tokio::test]
async fn resume_with_last_event_id_yields_exactly_the_persisted_text() {
    // Every token its own event, so that there are many events to resume between.
    let app = spawn_with(
        |s| {
            s.llm.offline.tokens_per_second = 400.0;
            s.llm.stream_batch_ms = 0;
        },
        Overrides::default(),
    )
    .await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "draft the rest").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap();
    let mut events: Vec<Sse> = Vec::new();
    // Reconnect several times mid-stream, each time from the last event seen.
    for _ in 0..3 {
        let last = events.last().map(|e| e.id);
        events.extend(read_events(app.open_stream(url, &token, last).await, 7).await);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let last = events.last().unwrap().id;
    events.extend(app.stream_all(url, &token, Some(last)).await);
    assert_contiguous(&events);
    assert_eq!(events[0].id, 1);
    assert_eq!(events.last().unwrap().event, "done");
    let message = app
        .wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    assert_eq!(message["content"], text_of(&events), "no gap, no duplicate");

    // `?after=N` works like the header, also on a finished reply.
    let tail = app.stream_all(&format!("{url}?after=10"), &token, None).await;
    assert_eq!(tail.first().unwrap().id, 11);
    assert_eq!(&tail[..], &events[10..]);
    let response = app
        .client
        .get(app.url(url))
        .bearer_auth(&token)
        .header("Last-Event-ID", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn empty_and_oversized_messages_are_refused() {
    let app = spawn_with(|s| s.limits.max_message_chars = 100, Overrides::default()).await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = app
        .post(
            &format!("/api/v1/sessions/{sid}/messages"),
            &token,
            serde_json::json!({"content": "   "}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().starts_with("content"));
    let (status, _) = app
        .post(
            &format!("/api/v1/sessions/{sid}/messages"),
            &token,
            serde_json::json!({"content": "x".repeat(101)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, messages) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    assert_eq!(messages["items"].as_array().unwrap().len(), 1, "nothing was stored");
}

#[tokio::test]
async fn retrying_a_complete_reply_is_refused() {
    let app = spawn_app().await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "hello").await;
    let reply = sent["reply"]["id"].as_str().unwrap();
    app.wait_reply(&token, &sid, reply).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/sessions/{sid}/replies/{reply}/retry"),
            &token,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "not_retryable");
    let user_message = sent["message"]["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/v1/sessions/{sid}/replies/{user_message}/retry"),
            &token,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a user message is not a reply");
}

#[tokio::test]
async fn a_resent_message_with_the_same_idempotency_key_is_stored_once() {
    let app = spawn_app().await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let send = |key: &'static str| {
        app.client
            .post(app.url(&format!("/api/v1/sessions/{sid}/messages")))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&serde_json::json!({"content": "Families, mostly."}))
            .send()
    };
    let first = send("6f1c2a4e-8d3b-4f5a-9c1e-2b7d8e9f0a1b").await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = send("6f1c2a4e-8d3b-4f5a-9c1e-2b7d8e9f0a1b").await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["message"]["id"], first["message"]["id"]);
    assert_eq!(again["reply"]["id"], first["reply"]["id"]);
    app.wait_reply(&token, &sid, first["reply"]["id"].as_str().unwrap())
        .await;
    let (_, messages) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    assert_eq!(
        messages["items"].as_array().unwrap().len(),
        3,
        "intro, the message once, its reply once"
    );
    let other = send("another-key").await.unwrap();
    assert_eq!(other.status(), StatusCode::ACCEPTED, "a new key is a new message");
    let bad = app
        .client
        .post(app.url(&format!("/api/v1/sessions/{sid}/messages")))
        .bearer_auth(&token)
        .header("Idempotency-Key", "x".repeat(200))
        .json(&serde_json::json!({"content": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
