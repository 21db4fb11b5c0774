//! The LLM side of a reply: the provider interface every model speaks through (streaming
//! first), its errors, and the built-in offline planner. Knows prompts and planning context,
//! not sessions, storage or HTTP handlers.

mod offline;

pub use offline::OfflineProvider;

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

/// A stream of text chunks; it ends after the last chunk or with an error.
pub type TextStream = BoxStream<'static, Result<String, LlmError>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("the model provider is rate limiting requests")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the model provider is unavailable: {0}")]
    Unavailable(String),
    #[error("the model provider did not answer in time")]
    Timeout,
    #[error("the model's stream broke off: {0}")]
    Broken(String),
    #[error("the model provider rejected the request: {0}")]
    Rejected(String),
}

impl LlmError {
    /// Whether trying again (later, or elsewhere) may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Rejected(_))
    }

    /// A stable machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "provider_rate_limited",
            Self::Unavailable(_) => "provider_unavailable",
            Self::Timeout => "provider_timeout",
            Self::Broken(_) => "provider_stream_broken",
            Self::Rejected(_) => "provider_rejected",
        }
    }
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The configured name of this provider (e.g. `offline`, `openai-main`).
    fn name(&self) -> &str;
    fn model(&self) -> &str;
    async fn stream(&self, request: CompletionRequest) -> Result<TextStream, LlmError>;
}
