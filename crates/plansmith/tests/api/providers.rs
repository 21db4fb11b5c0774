//! Replies from providers that misbehave, through a scripted test double of the provider
//! interface (the model output protocol, failures, retries).

use crate::helpers::{TestApp, assert_contiguous, spawn_with, text_of};
use async_trait::async_trait;
use plansmith_llm::{Chunk, ChunkStream, CompletionRequest, LlmError, Provider};
use plansmith_server::Overrides;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted generation: chunks in order, each either text or an error.
type Script = Vec<Result<&'static str, LlmError>>;

struct Scripted {
    scripts: Mutex<VecDeque<Script>>,
}

#[async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn model(&self) -> &str {
        "scripted-1"
    }
    async fn stream(&self, _request: CompletionRequest) -> Result<ChunkStream, LlmError> {
        let script = self
            .scripts
            .lock()
            .unwrap()
            .pop_front()
            .expect("a script for every generation");
        let items: Vec<Result<Chunk, LlmError>> = script
            .into_iter()
            .map(|r| r.map(|t| Chunk::Text(t.to_owned())))
            .collect();
        let stream = futures::stream::iter(items).then(|item| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            item
        });
        Ok(Box::pin(stream))
    }
}

use futures::StreamExt;

async fn app_with(scripts: Vec<Script>) -> TestApp {
    let provider = Arc::new(Scripted {
        scripts: Mutex::new(scripts.into()),
    });
    // One attempt: these tests are about what the user sees and does after a failure.
    spawn_with(
        |s| s.llm.retry.max_attempts = 1,
        Overrides {
            provider: Some(provider),
            ..Overrides::default()
        },
    )
    .await
}

async fn brief_document(app: &TestApp, token: &str, sid: &str) -> serde_json::Value {
    let (_, docs) = app.get(&format!("/api/v1/sessions/{sid}/documents"), token).await;
    let doc = docs["items"][0]["id"].as_str().unwrap();
    app.get(&format!("/api/v1/sessions/{sid}/documents/{doc}"), token)
        .await
        .1
}

#[tokio::test]
async fn section_tags_split_across_chunks_are_applied() {
    let chunks: Script = "Here you go.\n<section id=\"problem\">Families lose recipes.</section>\nNext?"
        .split_inclusive(|_| true)
        .map(|c| Ok(&*Box::leak(c.to_owned().into_boxed_str())))
        .collect();
    let app = app_with(vec![chunks]).await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "hi").await;
    let events = app
        .stream_all(sent["reply"]["stream_url"].as_str().unwrap(), &token, None)
        .await;
    assert_eq!(text_of(&events), "Here you go.\n\nNext?");
    let message = app
        .wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    assert_eq!(message["content"], "Here you go.\n\nNext?");
    assert_eq!(message["provider"], "scripted");
    assert_eq!(message["model"], "scripted-1");
    let doc = brief_document(&app, &token, &sid).await;
    assert_eq!(doc["sections"][1]["id"], "problem");
    assert_eq!(doc["sections"][1]["content"], "Families lose recipes.");
}

#[tokio::test]
async fn invalid_section_updates_leave_the_document_unchanged() {
    let app = app_with(vec![vec![
        Ok("Trying. <section id=\"nonsense\">x</section>"),
        Ok("<section id=\"summary\">   </section> and <section id=\"goals\">never clos"),
        Ok("ed"),
    ]])
    .await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "hi").await;
    let events = app
        .stream_all(sent["reply"]["stream_url"].as_str().unwrap(), &token, None)
        .await;
    assert!(events.iter().all(|e| e.event != "section"), "{events:?}");
    assert_eq!(events.last().unwrap().event, "done");
    let message = app
        .wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    let content = message["content"].as_str().unwrap();
    assert_eq!(content, text_of(&events));
    assert!(content.contains("unknown section 'nonsense'"), "{content}");
    assert!(content.contains("was empty"), "{content}");
    assert!(content.contains("never closed"), "{content}");
    assert!(!content.contains("never clos\n"), "the unclosed block is not shown");
    let doc = brief_document(&app, &token, &sid).await;
    assert_eq!(doc["revision"], 0);
    assert!(doc["sections"].as_array().unwrap().iter().all(|s| s["content"] == ""));
}

#[tokio::test]
async fn a_failed_reply_keeps_its_reason_and_a_retry_restarts_it_cleanly() {
    let app = app_with(vec![
        vec![Ok("Half an ans"), Err(LlmError::Broken("connection reset".into()))],
        vec![
            Ok("A whole answer."),
            Ok("<section id=\"summary\">Recipes for all.</section>"),
        ],
    ])
    .await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "hi").await;
    let reply = sent["reply"]["id"].as_str().unwrap();
    let url = sent["reply"]["stream_url"].as_str().unwrap();
    let failed = app.stream_all(url, &token, None).await;
    let last = failed.last().unwrap();
    assert_eq!(last.event, "error");
    assert_eq!(last.data["code"], "provider_stream_broken");
    assert!(last.data["message"].as_str().unwrap().contains("Retry"));
    let message = app.wait_reply(&token, &sid, reply).await;
    assert_eq!(message["status"], "failed");
    assert_eq!(message["content"], "Half an ans", "partial text is kept");
    assert_eq!(message["error"]["code"], "provider_stream_broken");
    assert!(
        message["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not finish")
    );

    let (status, body) = app
        .post(
            &format!("/api/v1/sessions/{sid}/replies/{reply}/retry"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["id"], reply);
    let all = app.stream_all(url, &token, None).await;
    assert_contiguous(&all);
    assert!(all.iter().any(|e| e.event == "restart"));
    assert_eq!(all.last().unwrap().event, "done");
    assert_eq!(text_of(&all), "A whole answer.");
    let resumed = app.stream_all(url, &token, Some(last.id)).await;
    assert_eq!(
        resumed[0].event, "restart",
        "a client that saw the error resumes at the restart"
    );
    let message = app.wait_reply(&token, &sid, reply).await;
    assert_eq!(message["status"], "complete");
    assert_eq!(
        message["content"], "A whole answer.",
        "never mixed with the failed attempt"
    );
    assert_eq!(message["error"], serde_json::Value::Null);
    let doc = brief_document(&app, &token, &sid).await;
    assert_eq!(doc["sections"][0]["content"], "Recipes for all.");
}

#[tokio::test]
async fn a_provider_that_refuses_fails_the_reply_at_once() {
    struct Refusing;
    #[async_trait]
    impl Provider for Refusing {
        fn name(&self) -> &str {
            "refusing"
        }
        fn model(&self) -> &str {
            "r"
        }
        async fn stream(&self, _: CompletionRequest) -> Result<ChunkStream, LlmError> {
            Err(LlmError::Unavailable("503 from upstream".into()))
        }
    }
    let app = spawn_with(
        |s| s.llm.retry.max_attempts = 1,
        Overrides {
            provider: Some(Arc::new(Refusing)),
            ..Overrides::default()
        },
    )
    .await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "hi").await;
    let events = app
        .stream_all(sent["reply"]["stream_url"].as_str().unwrap(), &token, None)
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "error");
    assert_eq!(events[0].data["code"], "provider_unavailable");
    let message = app
        .wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    assert_eq!(message["status"], "failed");
    assert_eq!(message["content"], "");
}

#[tokio::test]
async fn a_retried_attempt_says_why_without_the_provider_text() {
    let provider = Arc::new(Scripted {
        scripts: Mutex::new(
            vec![
                vec![
                    Ok("Half an ans"),
                    Err(LlmError::Broken("upstream said: bad key sk-test-SECRET123".into())),
                ],
                vec![Ok("A whole answer.")],
            ]
            .into(),
        ),
    });
    let app = spawn_with(
        |s| {
            s.llm.retry.max_attempts = 2;
            s.llm.retry.base_delay_ms = 10;
        },
        Overrides {
            provider: Some(provider),
            ..Overrides::default()
        },
    )
    .await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "hi").await;
    let events = app
        .stream_all(sent["reply"]["stream_url"].as_str().unwrap(), &token, None)
        .await;
    let restart = events.iter().find(|e| e.event == "restart").expect("a restart");
    assert_eq!(
        restart.data["reason"], "retrying after: the model's answer broke off",
        "worded by the kind of error alone"
    );
    for event in &events {
        assert!(!event.data.to_string().contains("SECRET123"), "{event:?}");
    }
    assert_eq!(events.last().unwrap().event, "done");
}
