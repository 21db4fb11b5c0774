//! The offline planner as a provider: deterministic output from the planning context,
//! streamed at a steady, configurable token rate, with no network.

use crate::{Chunk, ChunkStream, CompletionRequest, LlmError, Provider, Usage};
use async_trait::async_trait;
use plansmith_domain::planner::offline_reply;
use std::time::Duration;
use tokio::time::Instant;

pub struct OfflineProvider {
    tokens_per_second: f64,
}

impl OfflineProvider {
    pub fn new(tokens_per_second: f64) -> Self {
        Self {
            tokens_per_second: tokens_per_second.max(0.001),
        }
    }
}

/// Splits text into model-like tokens: words with their following whitespace, long words cut
/// into pieces of at most six characters. Concatenated, the tokens are the text.
pub fn tokenize(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    for word in text.split_inclusive(char::is_whitespace) {
        let mut rest = word;
        while rest.chars().count() > 6 {
            let cut = rest.char_indices().nth(6).map(|(i, _)| i).unwrap_or(rest.len());
            tokens.push(&rest[..cut]);
            rest = &rest[cut..];
        }
        if !rest.is_empty() {
            tokens.push(rest);
        }
    }
    tokens
}

#[async_trait]
impl Provider for OfflineProvider {
    fn name(&self) -> &str {
        "offline"
    }

    fn model(&self) -> &str {
        "offline-planner-1"
    }

    async fn stream(&self, request: CompletionRequest) -> Result<ChunkStream, LlmError> {
        let text = offline_reply(&request.context);
        let tokens: Vec<String> = tokenize(&text).into_iter().map(str::to_owned).collect();
        let usage = Usage {
            input_tokens: request.estimated_prompt_tokens(),
            output_tokens: tokens.len() as u64,
        };
        let interval = Duration::from_secs_f64(1.0 / self.tokens_per_second);
        let start = Instant::now();
        let stream = futures::stream::unfold(0usize, move |sent| {
            let tokens = tokens.clone();
            async move {
                if sent > tokens.len() {
                    return None;
                }
                if sent == tokens.len() {
                    return Some((Ok(Chunk::Usage(usage)), sent + 1));
                }
                let due = start + interval.mul_f64(sent as f64 + 1.0);
                tokio::time::sleep_until(due).await;
                // Everything due by now goes out as one chunk, so high rates do not flood.
                let elapsed = start.elapsed().as_secs_f64();
                let due_count = ((elapsed / interval.as_secs_f64()) as usize).clamp(sent + 1, tokens.len());
                let chunk: String = tokens[sent..due_count].concat();
                Some((Ok(Chunk::Text(chunk)), due_count))
            }
        });
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use plansmith_domain::planner::{PlanningContext, Turn};
    use plansmith_domain::{MessageRole, Workflow};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[test]
    fn tokens_concatenate_to_the_text() {
        let text = "Hello wonderful world,\n\nüberlange Wörter <section id=\"x\">ok</section>";
        assert_eq!(tokenize(text).concat(), text);
        assert!(tokenize(text).iter().all(|t| t.trim_end().chars().count() <= 6));
    }

    #[tokio::test]
    async fn streams_the_offline_reply_at_the_configured_rate() {
        let workflow = Workflow::parse(
            "t.toml",
            r#"id = "t"
name = "T"
[[steps]]
id = "brief"
title = "Brief"
role = "analyst"
document_title = "Brief"
intro = "Hi"
[[steps.sections]]
id = "summary"
title = "Summary"
purpose = "Sum up."
questions = ["What?"]
template = "{title} is {idea}. {answer}"
"#,
        )
        .unwrap();
        let context = Arc::new(PlanningContext {
            title: "Atlas".into(),
            idea: "a map of team skills".into(),
            workflow: Arc::new(workflow),
            step_id: "brief".into(),
            documents: BTreeMap::new(),
            history: vec![Turn {
                role: MessageRole::User,
                step_id: "brief".into(),
                content: "For managers.".into(),
            }],
        });
        let provider = OfflineProvider::new(1000.0);
        let request = CompletionRequest {
            messages: vec![],
            max_tokens: 1000,
            context: Arc::clone(&context),
        };
        let started = std::time::Instant::now();
        let chunks: Vec<Chunk> = provider
            .stream(request)
            .await
            .unwrap()
            .map(|c| c.unwrap())
            .collect()
            .await;
        let text: String = chunks
            .iter()
            .filter_map(|c| match c {
                Chunk::Text(t) => Some(t.as_str()),
                Chunk::Usage(_) => None,
            })
            .collect();
        assert!(matches!(chunks.last(), Some(Chunk::Usage(u)) if u.output_tokens == tokenize(&text).len() as u64));
        assert_eq!(text, offline_reply(&context));
        assert!(
            text.contains("**Atlas** is a map of team skills.") && text.contains("**For:** Managers"),
            "{text}"
        );
        let expected = Duration::from_secs_f64(tokenize(&text).len() as f64 / 1000.0);
        assert!(
            started.elapsed() >= expected,
            "streamed faster than the configured rate"
        );
    }
}
