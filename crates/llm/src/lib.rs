//! The LLM side of a reply: the provider interface every model speaks through (streaming
//! first), the OpenAI-compatible and Anthropic providers, the built-in offline planner, and the
//! gateway that routes a request over providers with retries, failover, timeouts and circuit
//! breakers. Knows prompts and planning context, not sessions, storage or HTTP handlers.

mod admission;
mod anthropic;
mod gateway;
mod offline;
mod openai;
mod pricing;
mod sse;

pub use admission::{
    Admission, AdmissionBackend, AdmissionUsage, Busy, Caller, InProcessAdmission, Lease, Limits, Permit,
    QueueSettings, Rules, Take, Unavailable,
};
pub use anthropic::AnthropicProvider;
pub use gateway::{
    BreakerSettings, BreakerState, Gateway, GatewayEvent, RetryPolicy, Target, TargetSnapshot, Timeouts,
};
pub use offline::OfflineProvider;
pub use openai::OpenAiProvider;
pub use pricing::{Price, PriceTable};

use async_trait::async_trait;
use futures::stream::BoxStream;
use plansmith_domain::planner::PlanningContext;
use plansmith_domain::prompt::PromptMessage;
use std::sync::Arc;
use std::time::Duration;

/// What a provider is asked to continue.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    /// The prompt for models that read text.
    pub messages: Vec<PromptMessage>,
    pub max_tokens: u32,
    /// The same request as structured data, for the offline planner.
    pub context: Arc<PlanningContext>,
}

impl CompletionRequest {
    /// A rough token count of the prompt (4 characters a token), for rate limits before the
    /// provider reports the real figure.
    pub fn estimated_prompt_tokens(&self) -> u64 {
        let chars: usize = self.messages.iter().map(|m| m.content.len()).sum();
        (chars as u64).div_ceil(4)
    }
}

/// Tokens a call used, as the provider reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// One piece of a provider's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    Text(String),
    Usage(Usage),
}

/// A provider's output; it ends after the last chunk (complete, with its end marker seen) or
/// with an error.
pub type ChunkStream = BoxStream<'static, Result<Chunk, LlmError>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("the model provider is rate limiting requests")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the model provider is unavailable ({0})")]
    Unavailable(String),
    #[error("the model provider did not answer in time ({0})")]
    Timeout(&'static str),
    #[error("the model's stream broke off ({0})")]
    Broken(String),
    #[error("the model provider rejected the request ({0})")]
    Rejected(String),
    #[error("the conversation is too long for the model ({0})")]
    ContextLength(String),
    #[error("every model provider is unavailable right now")]
    NoTarget,
    #[error("the planning agent is busy right now; try again in {} s", .retry_after.as_secs().max(1))]
    Busy { retry_after: Duration },
}

impl LlmError {
    /// Whether trying again (later, or elsewhere) may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Rejected(_) | Self::ContextLength(_) | Self::Busy { .. })
    }

    /// A stable machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "provider_rate_limited",
            Self::Unavailable(_) => "provider_unavailable",
            Self::Timeout(_) => "provider_timeout",
            Self::Broken(_) => "provider_stream_broken",
            Self::Rejected(_) => "provider_rejected",
            Self::ContextLength(_) => "context_too_long",
            Self::NoTarget => "provider_unavailable",
            Self::Busy { .. } => "busy",
        }
    }

    /// What happened, worded for people by the kind of error alone: never the provider's own
    /// text, which can hold parts of an API key or internal addresses (that text is logged).
    pub fn public_reason(&self) -> String {
        match self {
            Self::RateLimited { .. } => "the model provider is busy".into(),
            Self::Unavailable(_) | Self::NoTarget => "the model provider is unavailable".into(),
            Self::Timeout(_) => "the model provider did not answer in time".into(),
            Self::Broken(_) => "the model's answer broke off".into(),
            Self::Rejected(_) => "the model provider rejected the request".into(),
            Self::ContextLength(_) => "the conversation is too long for the model".into(),
            Self::Busy { .. } => self.to_string(),
        }
    }

    /// How long the provider asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The configured name of this provider (e.g. `offline`, `primary`).
    fn name(&self) -> &str;
    fn model(&self) -> &str;
    async fn stream(&self, request: CompletionRequest) -> Result<ChunkStream, LlmError>;
}

/// Maps an HTTP error answer of a provider onto an error kind.
pub(crate) fn http_error(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> LlmError {
    let detail = format!(
        "HTTP {}: {}",
        status.as_u16(),
        body.chars().take(300).collect::<String>()
    );
    let lower = body.to_lowercase();
    match status.as_u16() {
        429 => LlmError::RateLimited {
            retry_after: retry_after(headers),
        },
        400 | 413 | 422 if lower.contains("context") && (lower.contains("length") || lower.contains("window")) => {
            LlmError::ContextLength(detail)
        }
        400..=499 if status.as_u16() != 408 => LlmError::Rejected(detail),
        _ => LlmError::Unavailable(detail),
    }
}

/// `Retry-After` (seconds or an HTTP date is not supported: seconds only), else the common
/// rate-limit reset headers of OpenAI (`x-ratelimit-reset-requests: 1.5s`) and Anthropic
/// (`anthropic-ratelimit-requests-reset`: an RFC 3339 time, not parsed: ignored).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)));
    }
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 3600.0)));
    }
    for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
        if let Some(value) = header(name).and_then(parse_reset) {
            return Some(value);
        }
    }
    None
}

/// `1.5s`, `20ms`, `6m0s` → a duration.
fn parse_reset(value: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        total += match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                n / 1000.0
            }
            ('h', _) => n * 3600.0,
            ('m', _) => n * 60.0,
            ('s', _) => n,
            _ => return None,
        };
    }
    if !number.is_empty() {
        total += number.parse::<f64>().ok()?;
    }
    Some(Duration::from_secs_f64(total.min(3600.0)))
}

/// The W3C trace context (`traceparent`, `tracestate`) of the current span, for the request to
/// a provider, so its side of the call joins the trace. Empty when traces are not exported
/// (no propagator is installed then).
pub fn trace_headers() -> Vec<(String, String)> {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    struct Headers(Vec<(String, String)>);
    impl opentelemetry::propagation::Injector for Headers {
        fn set(&mut self, key: &str, value: String) {
            self.0.push((key.to_owned(), value));
        }
    }
    let context = tracing::Span::current().context();
    let mut headers = Headers(Vec::new());
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut headers));
    headers.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn reset_headers_are_understood() {
        assert_eq!(parse_reset("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_reset("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_reset("6m0s"), Some(Duration::from_secs(360)));
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset-requests", HeaderValue::from_static("2s"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    }

    #[test]
    fn http_errors_are_classified() {
        let h = HeaderMap::new();
        assert!(matches!(
            http_error(reqwest::StatusCode::TOO_MANY_REQUESTS, &h, ""),
            LlmError::RateLimited { .. }
        ));
        assert!(matches!(
            http_error(reqwest::StatusCode::SERVICE_UNAVAILABLE, &h, ""),
            LlmError::Unavailable(_)
        ));
        assert!(matches!(
            http_error(reqwest::StatusCode::UNAUTHORIZED, &h, "bad key"),
            LlmError::Rejected(_)
        ));
        let long = r#"{"error":{"code":"context_length_exceeded","message":"maximum context length is 8192"}}"#;
        let err = http_error(reqwest::StatusCode::BAD_REQUEST, &h, long);
        assert!(matches!(err, LlmError::ContextLength(_)) && !err.is_retryable());
    }
}
