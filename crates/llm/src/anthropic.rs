//! Anthropic Messages API streaming: `message_start` (input usage), `content_block_delta`
//! (text), `message_delta` (output usage), `message_stop` (the end marker), and `error` events
//! such as `overloaded_error` mid-stream.

use crate::{Chunk, ChunkStream, CompletionRequest, LlmError, Provider, Usage, http_error, sse};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;

const API_VERSION: &str = "2023-06-01";

/// Debug shows the key as `[REDACTED]`.
#[derive(Debug)]
pub struct AnthropicProvider {
    name: String,
    model: String,
    url: String,
    api_key: Option<SecretString>,
    client: reqwest::Client,
}

impl AnthropicProvider {
    pub fn new(
        name: &str,
        base_url: &str,
        model: &str,
        api_key: Option<SecretString>,
        connect_timeout: Duration,
    ) -> Result<Self, LlmError> {
        let client = sse::client(connect_timeout)?;
        Ok(Self {
            name: name.to_owned(),
            model: model.to_owned(),
            url: format!("{}/messages", base_url.trim_end_matches('/')),
            api_key,
            client,
        })
    }
}

#[derive(Default)]
struct Progress {
    usage: Usage,
    stopped: bool,
}

fn on_event(name: &str, data: &str, progress: &mut Progress) -> Result<Vec<Chunk>, LlmError> {
    let value: Value = serde_json::from_str(data).map_err(|e| LlmError::Broken(format!("malformed event: {e}")))?;
    let kind = value["type"].as_str().unwrap_or(name);
    match kind {
        "message_start" => {
            progress.usage.input_tokens = value["message"]["usage"]["input_tokens"].as_u64().unwrap_or(0);
            Ok(vec![])
        }
        "content_block_delta" => Ok(value["delta"]["text"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(|t| Chunk::Text(t.to_owned()))
            .into_iter()
            .collect()),
        "message_delta" => {
            if let Some(output) = value["usage"]["output_tokens"].as_u64() {
                progress.usage.output_tokens = output;
            }
            Ok(vec![])
        }
        "message_stop" => {
            progress.stopped = true;
            Ok(vec![Chunk::Usage(progress.usage)])
        }
        "error" => {
            let error_type = value["error"]["type"].as_str().unwrap_or("error");
            let message = value["error"]["message"].as_str().unwrap_or("");
            Err(match error_type {
                "overloaded_error" | "api_error" => LlmError::Unavailable(format!("{error_type}: {message}")),
                "rate_limit_error" => LlmError::RateLimited { retry_after: None },
                "invalid_request_error" if message.contains("prompt is too long") => {
                    LlmError::ContextLength(message.into())
                }
                _ => LlmError::Rejected(format!("{error_type}: {message}")),
            })
        }
        _ => Ok(vec![]),
    }
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn stream(&self, request: CompletionRequest) -> Result<ChunkStream, LlmError> {
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == "system")
            .map(|m| m.content.as_str())
            .collect();
        let messages: Vec<Value> = request
            .messages
            .iter()
            .filter(|m| m.role != "system")
            .map(|m| json!({ "role": m.role, "content": m.content }))
            .collect();
        let body = json!({
            "model": self.model,
            "max_tokens": request.max_tokens,
            "system": system.join("\n\n"),
            "messages": messages,
            "stream": true,
        });
        let mut http = self
            .client
            .post(&self.url)
            .header("anthropic-version", API_VERSION)
            .json(&body);
        for (name, value) in crate::trace_headers() {
            http = http.header(name, value);
        }
        if let Some(key) = &self.api_key {
            http = http.header("x-api-key", key.expose_secret());
        }
        let response = http.send().await.map_err(|e| LlmError::Unavailable(e.to_string()))?;
        if !response.status().is_success() {
            let (status, headers) = (response.status(), response.headers().clone());
            let text = response.text().await.unwrap_or_default();
            let err = match status.as_u16() {
                529 => LlmError::Unavailable(format!("overloaded: {text}")),
                _ => http_error(status, &headers, &text),
            };
            return Err(err);
        }
        let interpret = |event: &eventsource_stream::Event, progress: &mut Progress| {
            let chunks = on_event(&event.event, &event.data, progress)?;
            Ok((chunks, progress.stopped))
        };
        Ok(sse::chunks(
            response,
            Progress::default(),
            interpret,
            "the stream ended without message_stop",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_api_key() {
        let key = SecretString::from("sk-test-9f8e7d6c5b4a");
        let provider = AnthropicProvider::new(
            "primary",
            "https://api.anthropic.com/v1",
            "some-model",
            Some(key),
            Duration::from_secs(1),
        )
        .unwrap();
        let debug = format!("{provider:?}");
        assert!(!debug.contains("9f8e7d6c5b4a"), "{debug}");
        assert!(debug.contains("REDACTED") && debug.contains("some-model"), "{debug}");
    }

    #[test]
    fn events_text_usage_and_errors() {
        let mut p = Progress::default();
        on_event(
            "message_start",
            r#"{"type":"message_start","message":{"usage":{"input_tokens":40}}}"#,
            &mut p,
        )
        .unwrap();
        let text = on_event(
            "content_block_delta",
            r#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}"#,
            &mut p,
        )
        .unwrap();
        assert_eq!(text, vec![Chunk::Text("Hi".into())]);
        on_event(
            "message_delta",
            r#"{"type":"message_delta","usage":{"output_tokens":5}}"#,
            &mut p,
        )
        .unwrap();
        let end = on_event("message_stop", r#"{"type":"message_stop"}"#, &mut p).unwrap();
        assert_eq!(
            end,
            vec![Chunk::Usage(Usage {
                input_tokens: 40,
                output_tokens: 5
            })]
        );
        let overloaded = on_event(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            &mut Progress::default(),
        );
        assert!(matches!(overloaded, Err(LlmError::Unavailable(_))));
    }
}
