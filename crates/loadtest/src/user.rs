//! One virtual user planning a session.

use crate::{LoadError, Options, Recorder};
use futures::StreamExt;
use plansmith_domain::ReplyEvent;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Signs up `count` users (not timed against the API targets; reported separately).
pub async fn sign_up_all(
    client: &reqwest::Client,
    base: &str,
    count: usize,
    seed: u64,
    recorder: &Recorder,
) -> Result<Vec<String>, LoadError> {
    let run = format!("{seed}-{}", std::process::id());
    let tokens = futures::stream::iter(0..count)
        .map(|i| {
            let (client, base, run) = (client.clone(), base.to_owned(), run.clone());
            async move {
                let started = Instant::now();
                let body = json!({"email": format!("load-{run}-{i}@example.com"), "password": "load test password"});
                let response = client
                    .post(format!("{base}/api/v1/auth/register"))
                    .json(&body)
                    .send()
                    .await;
                let elapsed = started.elapsed();
                match response {
                    Ok(r) if r.status().is_success() => {
                        let signed_up: SignedUp = r.json().await.map_err(|e| LoadError::Setup(e.to_string()))?;
                        Ok((signed_up.token, elapsed))
                    }
                    Ok(r) => Err(LoadError::Setup(format!("sign-up answered {}", r.status()))),
                    Err(e) => Err(LoadError::Setup(e.to_string())),
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let mut out = Vec::with_capacity(count);
    for result in tokens {
        let (token, elapsed) = result?;
        recorder.record("sign-up (setup)", elapsed, false);
        out.push(token);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct SignedUp {
    token: String,
}

pub struct VirtualUser {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
    pub options: Options,
    pub recorder: Arc<Recorder>,
    pub seed: u64,
}

impl VirtualUser {
    async fn call(&self, name: &str, request: reqwest::RequestBuilder) -> Option<Value> {
        let started = Instant::now();
        let request = request.bearer_auth(&self.token);
        let response = send_retrying(request).await;
        let elapsed = started.elapsed();
        match response {
            Ok(r) if r.status().is_success() => {
                self.recorder.record(name, elapsed, true);
                let text = r.text().await.ok()?;
                Some(serde_json::from_str(&text).unwrap_or(Value::Null))
            }
            Ok(r) => {
                self.recorder.record(name, elapsed, true);
                self.recorder.error(&format!("{name}: HTTP {}", r.status().as_u16()));
                None
            }
            Err(e) => {
                self.recorder.error(&format!(
                    "{name}: {}",
                    if e.is_timeout() { "timeout" } else { "connection" }
                ));
                None
            }
        }
    }

    /// The whole session: create, K messages with think time, read the document, complete.
    pub async fn plan(self) {
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(self.options.seed ^ self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let body = json!({"workflow_id": self.options.workflow, "title": format!("Load session {}", self.seed), "idea": "A tool that helps small teams plan their week."});
        let Some(session) = self
            .call(
                "POST /sessions",
                self.client.post(format!("{}/api/v1/sessions", self.base)).json(&body),
            )
            .await
        else {
            return;
        };
        let Some(id) = session["id"].as_str().map(str::to_owned) else {
            return;
        };
        let messages = self.options.messages.max(1);
        for k in 0..messages {
            let (min, max) = (
                self.options.think_min.as_secs_f64(),
                self.options
                    .think_max
                    .as_secs_f64()
                    .max(self.options.think_min.as_secs_f64()),
            );
            let think = if max > min { rng.random_range(min..=max) } else { min };
            tokio::time::sleep(Duration::from_secs_f64(think)).await;
            // The last message drafts everything left, so the step can be completed.
            let content = if k + 1 == messages {
                "Thanks — please draft the rest."
            } else {
                "Our users are busy team leads who plan on Mondays."
            };
            let posted_at = Instant::now();
            let url = format!("{}/api/v1/sessions/{id}/messages", self.base);
            // Sent with an idempotency key, as the web app does: a resend after a dropped
            // connection gets the first answer instead of a second message.
            let key = format!("load-{}-{k}-{}", self.seed, rand::random::<u64>());
            let Some(sent) = self
                .call(
                    "POST /sessions/{id}/messages",
                    self.client
                        .post(url)
                        .header("idempotency-key", key)
                        .json(&json!({"content": content})),
                )
                .await
            else {
                return;
            };
            let Some(stream_url) = sent["reply"]["stream_url"].as_str() else {
                return;
            };
            if !self.read_stream(stream_url, posted_at).await {
                return;
            }
        }
        let sessions_url = format!("{}/api/v1/sessions/{id}", self.base);
        let Some(session) = self.call("GET /sessions/{id}", self.client.get(&sessions_url)).await else {
            return;
        };
        let Some(step) = session["current_step"].as_str() else {
            return;
        };
        let documents_url = format!("{sessions_url}/documents");
        let Some(docs) = self
            .call("GET /sessions/{id}/documents", self.client.get(&documents_url))
            .await
        else {
            return;
        };
        for doc in docs["items"].as_array().into_iter().flatten() {
            let Some(doc_id) = doc["id"].as_str() else { continue };
            let url = format!("{documents_url}/{doc_id}");
            let Some(document) = self
                .call("GET /sessions/{id}/documents/{doc_id}", self.client.get(&url))
                .await
            else {
                return;
            };
            if doc["step_id"].as_str() == Some(step) && !self.fill_empty_sections(&url, &document).await {
                return;
            }
        }
        let url = format!("{sessions_url}/steps/{step}/complete");
        if self
            .call("POST /sessions/{id}/steps/{step}/complete", self.client.post(url))
            .await
            .is_some()
        {
            self.recorder.session_completed();
        }
    }

    /// Writes the sections the agent left empty, as a person would, so the step can be completed.
    async fn fill_empty_sections(&self, url: &str, document: &Value) -> bool {
        let mut revision = document["revision"].as_i64().unwrap_or(0);
        for section in document["sections"].as_array().into_iter().flatten() {
            if !section["content"].as_str().unwrap_or("").trim().is_empty() {
                continue;
            }
            let Some(section_id) = section["id"].as_str() else {
                continue;
            };
            let body =
                json!({"content": "Written by the team during the planning session.", "base_revision": revision});
            let put = self.client.put(format!("{url}/sections/{section_id}")).json(&body);
            let name = "PUT /sessions/{id}/documents/{doc_id}/sections/{section_id}";
            let Some(saved) = self.call(name, put).await else {
                return false;
            };
            revision = saved["revision"].as_i64().unwrap_or(revision + 1);
        }
        true
    }

    /// Reads a reply's stream to its end; records time to first token and reply duration.
    async fn read_stream(&self, path: &str, posted_at: Instant) -> bool {
        let response =
            match send_retrying(self.client.get(format!("{}{path}", self.base)).bearer_auth(&self.token)).await {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    self.recorder
                        .error(&format!("GET stream: HTTP {}", r.status().as_u16()));
                    return false;
                }
                Err(_) => {
                    self.recorder.error("GET stream: connection");
                    return false;
                }
            };
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        let mut first_token = None;
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else {
                self.recorder.error("GET stream: broken");
                return false;
            };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                match sse_event(&block) {
                    None => {}
                    Some(Ok(ReplyEvent::Token { .. })) if first_token.is_none() => {
                        let ttft = posted_at.elapsed();
                        first_token = Some(ttft);
                        self.recorder.record("time to first token", ttft, false);
                    }
                    Some(Ok(ReplyEvent::Done { .. })) => {
                        self.recorder.record("reply duration", posted_at.elapsed(), false);
                        return true;
                    }
                    Some(Ok(ReplyEvent::Error { code, .. })) => {
                        self.recorder.error(&format!("reply: {code}"));
                        return false;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) => {
                        self.recorder.error("GET stream: unreadable event");
                        return false;
                    }
                }
            }
        }
        self.recorder.error("GET stream: ended without done");
        false
    }
}

/// The reply event of one SSE block; `None` for a block without an event name (a keep-alive).
/// Sends a request; a request that is safe to send again (GET, or one with an idempotency
/// key) is sent once more when its connection dropped before an answer, as browsers do with a
/// kept-alive connection the server (or a proxy reloading) closed just as it was reused.
async fn send_retrying(request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let again = request.try_clone().and_then(|copy| {
        let built = copy.try_clone()?.build().ok()?;
        let safe = built.method() == reqwest::Method::GET || built.headers().contains_key("idempotency-key");
        safe.then_some(copy)
    });
    match request.send().await {
        Err(e) if !e.is_timeout() && (e.is_connect() || e.is_request()) => match again {
            Some(again) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                again.send().await
            }
            None => Err(e),
        },
        other => other,
    }
}

fn sse_event(block: &str) -> Option<Result<ReplyEvent, serde_json::Error>> {
    let mut name = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    Some(ReplyEvent::from_sse(name?, &data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_are_read_as_reply_events() {
        let token = sse_event("id: 1\nevent: token\ndata: {\"text\":\"Hi\"}\n\n");
        assert_eq!(token.unwrap().unwrap(), ReplyEvent::Token { text: "Hi".into() });
        let error = sse_event("id:2\nevent:error\ndata:{\"code\":\"busy\",\"message\":\"Busy.\"}\n\n");
        assert!(matches!(error, Some(Ok(ReplyEvent::Error { code, .. })) if code == "busy"));
        assert!(sse_event(":\n\n").is_none());
        assert!(sse_event("event: nonsense\ndata: {}\n\n").unwrap().is_err());
    }
}
