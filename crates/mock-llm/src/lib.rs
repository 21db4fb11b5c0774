//! A mock model provider speaking the OpenAI Chat Completions and Anthropic Messages streaming
//! protocols, with realistic timing and injectable faults. Its replies follow the model output
//! protocol (chat text plus a `<section id=…>` block for the first empty section named in the
//! prompt), so tests and load tests exercise document updates too. For tests and load tests
//! only: it never calls out anywhere.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A fault the mock can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After`.
    RateLimit,
    /// 500.
    ServerError,
    /// 503.
    Unavailable,
    /// 401: a bad API key (never worth retrying).
    Unauthorized,
    /// No response headers at all (until the client gives up).
    Hang,
    /// Stops sending after `fault_after_tokens` tokens but keeps the connection open.
    Stall,
    /// Closes the stream cleanly after `fault_after_tokens` tokens, without the end marker.
    Cut,
    /// Sends a chunk that is not JSON after `fault_after_tokens` tokens.
    Malformed,
    /// Anthropic `overloaded_error` event (OpenAI: an error chunk) after `fault_after_tokens`.
    Overloaded,
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "429" | "rate-limit" => Self::RateLimit,
            "500" | "server-error" => Self::ServerError,
            "503" | "unavailable" => Self::Unavailable,
            "401" | "unauthorized" => Self::Unauthorized,
            "hang" => Self::Hang,
            "stall" => Self::Stall,
            "cut" => Self::Cut,
            "malformed" => Self::Malformed,
            "overloaded" => Self::Overloaded,
            other => {
                return Err(format!(
                    "unknown fault '{other}'; use one of 429, 401, 500, 503, hang, stall, cut, malformed, overloaded"
                ));
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct MockOptions {
    pub time_to_first_token: Duration,
    pub tokens_per_second: f64,
    /// Output tokens per reply (roughly words).
    pub reply_tokens: usize,
    pub fault: Option<Fault>,
    /// Share of requests that get the fault, 0.0–1.0 (spread evenly, deterministic).
    pub fault_rate: f64,
    pub fault_after_tokens: usize,
    pub retry_after_seconds: u64,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            time_to_first_token: Duration::from_millis(400),
            tokens_per_second: 40.0,
            reply_tokens: 300,
            fault: None,
            fault_rate: 1.0,
            fault_after_tokens: 5,
            retry_after_seconds: 1,
        }
    }
}

/// What the mock has seen, for tests.
#[derive(Default)]
pub struct MockStats {
    pub requests: AtomicU64,
    pub faults: AtomicU64,
    /// Set to stop injecting faults (a provider that recovers).
    pub healed: std::sync::atomic::AtomicBool,
    /// Usage reported in complete replies, summed.
    pub input_tokens: AtomicU64,
    pub output_tokens: AtomicU64,
    started: std::sync::OnceLock<Instant>,
    arrivals: std::sync::Mutex<Vec<Duration>>,
}

impl MockStats {
    /// Arrival times of requests, relative to the first one.
    pub fn arrivals(&self) -> Vec<Duration> {
        self.arrivals.lock().expect("arrivals lock").clone()
    }
}

struct Mock {
    options: MockOptions,
    stats: Arc<MockStats>,
}

#[derive(Clone, Copy)]
enum Protocol {
    OpenAi,
    Anthropic,
}

/// The mock's routes: `POST /v1/chat/completions` and `POST /v1/messages`, plus
/// `POST /mock/heal` (stop injecting the fault: the provider recovers) and `POST /mock/break`
/// (inject it again), for drills that run the mock as its own process.
pub fn router(options: MockOptions) -> (Router, Arc<MockStats>) {
    let stats = Arc::new(MockStats::default());
    let mock = Arc::new(Mock {
        options,
        stats: Arc::clone(&stats),
    });
    let router = Router::new()
        .route("/v1/chat/completions", post(openai))
        .route("/chat/completions", post(openai))
        .route("/v1/messages", post(anthropic))
        .route("/messages", post(anthropic))
        .route("/mock/heal", post(heal))
        .route("/mock/break", post(unheal))
        .with_state(mock);
    (router, stats)
}

async fn heal(State(mock): State<Arc<Mock>>) -> StatusCode {
    mock.stats.healed.store(true, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}

async fn unheal(State(mock): State<Arc<Mock>>) -> StatusCode {
    mock.stats.healed.store(false, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}

async fn openai(State(mock): State<Arc<Mock>>, body: Bytes) -> Response {
    mock.answer(Protocol::OpenAi, &body).await
}

async fn anthropic(State(mock): State<Arc<Mock>>, body: Bytes) -> Response {
    mock.answer(Protocol::Anthropic, &body).await
}

impl Mock {
    /// Whether request number `n` (from 0) gets the fault: evenly spread at `fault_rate`.
    fn faulty(&self, n: u64) -> Option<Fault> {
        if self.stats.healed.load(Ordering::SeqCst) {
            return None;
        }
        let fault = self.options.fault?;
        let rate = self.options.fault_rate.clamp(0.0, 1.0);
        ((((n + 1) as f64) * rate).floor() > ((n as f64) * rate).floor()).then_some(fault)
    }

    async fn answer(&self, protocol: Protocol, body: &[u8]) -> Response {
        let n = self.stats.requests.fetch_add(1, Ordering::SeqCst);
        let first = *self.stats.started.get_or_init(Instant::now);
        self.stats.arrivals.lock().expect("arrivals lock").push(first.elapsed());
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": {"message": "body is not JSON"}})),
            )
                .into_response();
        };
        let fault = self.faulty(n);
        if fault.is_some() {
            self.stats.faults.fetch_add(1, Ordering::SeqCst);
        }
        match fault {
            Some(Fault::RateLimit) => {
                let body = json!({"error": {"type": "rate_limit_error", "message": "Rate limit reached"}});
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, self.options.retry_after_seconds.to_string())],
                    axum::Json(body),
                )
                    .into_response();
            }
            Some(Fault::ServerError) => return error(StatusCode::INTERNAL_SERVER_ERROR),
            Some(Fault::Unavailable) => return error(StatusCode::SERVICE_UNAVAILABLE),
            Some(Fault::Unauthorized) => return error(StatusCode::UNAUTHORIZED),
            Some(Fault::Hang) => {
                tokio::time::sleep(Duration::from_secs(600)).await;
                return error(StatusCode::GATEWAY_TIMEOUT);
            }
            _ => {}
        }
        let prompt = prompt_text(&request);
        let tokens = reply_tokens(&prompt, self.options.reply_tokens);
        let input_tokens = (prompt.len() as u64).div_ceil(4);
        let frames = frames(protocol, &tokens, input_tokens, fault, self.options.fault_after_tokens);
        if fault.is_none() {
            self.stats.input_tokens.fetch_add(input_tokens, Ordering::SeqCst);
            self.stats
                .output_tokens
                .fetch_add(tokens.len() as u64, Ordering::SeqCst);
        }
        let (ttft, interval) = (
            self.options.time_to_first_token,
            Duration::from_secs_f64(1.0 / self.options.tokens_per_second.max(0.001)),
        );
        let stream = futures::stream::unfold((frames.into_iter(), true), move |(mut frames, first)| async move {
            let frame = frames.next()?;
            match frame {
                Frame::Data(bytes) => {
                    tokio::time::sleep(if first { ttft } else { interval }).await;
                    Some((Ok::<_, Infallible>(Bytes::from(bytes)), (frames, false)))
                }
                Frame::Immediate(bytes) => Some((Ok(Bytes::from(bytes)), (frames, first))),
                Frame::Stall => {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    None
                }
            }
        });
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(stream))
            .expect("static response parts are valid")
    }
}

fn error(status: StatusCode) -> Response {
    (
        status,
        axum::Json(json!({"error": {"type": "api_error", "message": format!("mock {}", status.as_u16())}})),
    )
        .into_response()
}

enum Frame {
    /// Sent after the token interval (the first after the time to first token).
    Data(String),
    /// Sent at once.
    Immediate(String),
    /// Nothing more, but the connection stays open.
    Stall,
}

fn prompt_text(request: &Value) -> String {
    let mut text = request["system"].as_str().unwrap_or("").to_owned();
    for message in request["messages"].as_array().into_iter().flatten() {
        text.push('\n');
        text.push_str(message["content"].as_str().unwrap_or(""));
    }
    text
}

/// The reply as tokens: a sentence, a section block for the first empty section named in the
/// prompt (`- ID (Title): … Current content: (empty)`), and a question.
fn reply_tokens(prompt: &str, count: usize) -> Vec<String> {
    let section = prompt.lines().filter_map(|l| l.strip_prefix("- ")).find_map(|line| {
        let (id, rest) = line.split_once(" (")?;
        let title = rest.split_once("):")?.0;
        let valid = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        valid.then(|| (id.to_owned(), title.to_owned()))
    });
    let filler = [
        "the",
        "plan",
        "keeps",
        "scope",
        "small",
        "and",
        "measurable",
        "so",
        "each",
        "release",
        "teaches",
        "us",
        "something",
    ];
    let body_len = count.saturating_sub(12).max(1);
    let mut text = String::from("Here is a draft for you. ");
    match &section {
        Some((id, title)) => {
            text.push_str(&format!("<section id=\"{id}\">\n**{title}**: "));
            for i in 0..body_len {
                text.push_str(filler[i % filler.len()]);
                text.push(' ');
            }
            text.push_str("\n</section>\n");
        }
        None => {
            for i in 0..body_len {
                text.push_str(filler[i % filler.len()]);
                text.push(' ');
            }
        }
    }
    text.push_str("What would you like to change?");
    text.split_inclusive(' ').map(str::to_owned).collect()
}

fn frames(protocol: Protocol, tokens: &[String], input_tokens: u64, fault: Option<Fault>, after: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    let stop_at = match fault {
        Some(Fault::Stall | Fault::Cut | Fault::Malformed | Fault::Overloaded) => after.min(tokens.len()),
        _ => tokens.len(),
    };
    if let Protocol::Anthropic = protocol {
        let start = json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message", "role": "assistant", "usage": {"input_tokens": input_tokens, "output_tokens": 0}}});
        frames.push(Frame::Immediate(format!("event: message_start\ndata: {start}\n\n")));
        frames.push(Frame::Immediate("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".into()));
    }
    for token in &tokens[..stop_at] {
        frames.push(Frame::Data(match protocol {
            Protocol::OpenAi => {
                let chunk = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": null}]});
                format!("data: {chunk}\n\n")
            }
            Protocol::Anthropic => {
                let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": token}});
                format!("event: content_block_delta\ndata: {delta}\n\n")
            }
        }));
    }
    match fault {
        Some(Fault::Stall) => frames.push(Frame::Stall),
        Some(Fault::Cut) => {}
        Some(Fault::Malformed) => frames.push(Frame::Immediate("data: {\"choices\": [{\"delta\": {\"content\": \"brok\n\n".into())),
        Some(Fault::Overloaded) => frames.push(Frame::Immediate(match protocol {
            Protocol::Anthropic => "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".into(),
            Protocol::OpenAi => "data: {\"error\":{\"type\":\"server_error\",\"message\":\"overloaded\"}}\n\n".into(),
        })),
        _ => {
            let output = tokens.len();
            match protocol {
                Protocol::OpenAi => {
                    let end = json!({"id": "chatcmpl-mock", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
                    let usage = json!({"id": "chatcmpl-mock", "choices": [], "usage": {"prompt_tokens": input_tokens, "completion_tokens": output, "total_tokens": input_tokens + output as u64}});
                    frames.push(Frame::Immediate(format!("data: {end}\n\ndata: {usage}\n\ndata: [DONE]\n\n")));
                }
                Protocol::Anthropic => {
                    let delta = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": output}});
                    frames.push(Frame::Immediate(format!(
                        "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\nevent: message_delta\ndata: {delta}\n\nevent: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
                    )));
                }
            }
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_draft_the_first_empty_section_named_in_the_prompt() {
        let prompt = "Only these section ids are valid:\n- summary (Executive summary): Sum up. Questions: What?\n  Current content: (empty)\n";
        let text = reply_tokens(prompt, 40).concat();
        assert!(
            text.contains("<section id=\"summary\">") && text.contains("</section>"),
            "{text}"
        );
        let len = reply_tokens(prompt, 40).len();
        assert!((40..=48).contains(&len), "about the requested length: {len}");
    }

    #[test]
    fn faults_are_spread_at_the_configured_rate() {
        let mock = Mock {
            options: MockOptions {
                fault: Some(Fault::Cut),
                fault_rate: 0.25,
                ..Default::default()
            },
            stats: Arc::default(),
        };
        let faulty = (0..100).filter(|n| mock.faulty(*n).is_some()).count();
        assert_eq!(faulty, 25);
        let none = Mock {
            options: MockOptions::default(),
            stats: Arc::default(),
        };
        assert!((0..10).all(|n| none.faulty(n).is_none()));
    }

    #[tokio::test]
    async fn heal_and_break_switch_the_fault_off_and_on() {
        use tower::ServiceExt;
        let (router, stats) = router(MockOptions {
            fault: Some(Fault::ServerError),
            ..Default::default()
        });
        let post = |path: &str| axum::http::Request::post(path).body(Body::empty()).expect("request");
        let answer = router.clone().oneshot(post("/mock/heal")).await.expect("heal");
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        assert!(stats.healed.load(Ordering::SeqCst));
        let answer = router.oneshot(post("/mock/break")).await.expect("break");
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        assert!(!stats.healed.load(Ordering::SeqCst));
    }
}
