//! OpenAI-compatible Chat Completions with SSE streaming (OpenAI, Azure-style deployments, vLLM,
//! Ollama, llama.cpp server, OpenRouter, LiteLLM): `base_url` + `/chat/completions`.
//! A stream is complete only with a `finish_reason` and the `[DONE]` marker.

use crate::{Chunk, ChunkStream, CompletionRequest, LlmError, Provider, Usage, http_error, sse};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;

/// Debug shows the key as `[REDACTED]`.
#[derive(Debug)]
pub struct OpenAiProvider {
    name: String,
    model: String,
    url: String,
    api_key: Option<SecretString>,
    client: reqwest::Client,
}

impl OpenAiProvider {
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
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            api_key,
            client,
        })
    }
}

#[derive(Default)]
struct Progress {
    finished: bool,
    done: bool,
    usage: Option<Usage>,
}

/// Interprets one SSE data payload; returns the chunks it carries.
fn on_data(data: &str, progress: &mut Progress) -> Result<Vec<Chunk>, LlmError> {
    if data.trim() == "[DONE]" {
        progress.done = true;
        return Ok(progress.usage.take().map(Chunk::Usage).into_iter().collect());
    }
    let value: Value = serde_json::from_str(data).map_err(|e| LlmError::Broken(format!("malformed chunk: {e}")))?;
    if let Some(error) = value.get("error") {
        return Err(LlmError::Unavailable(format!("error in stream: {error}")));
    }
    let mut chunks = Vec::new();
    if let Some(choice) = value["choices"].get(0) {
        if let Some(text) = choice["delta"]["content"].as_str().filter(|t| !t.is_empty()) {
            chunks.push(Chunk::Text(text.to_owned()));
        }
        if choice["finish_reason"].as_str().is_some() {
            progress.finished = true;
        }
    }
    if let Some(usage) = value.get("usage").filter(|u| u.is_object()) {
        progress.usage = Some(Usage {
            input_tokens: usage["prompt_tokens"].as_u64().unwrap_or(0),
            output_tokens: usage["completion_tokens"].as_u64().unwrap_or(0),
        });
    }
    Ok(chunks)
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn stream(&self, request: CompletionRequest) -> Result<ChunkStream, LlmError> {
        let body = json!({
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        let mut http = self.client.post(&self.url).json(&body);
        for (name, value) in crate::trace_headers() {
            http = http.header(name, value);
        }
        if let Some(key) = &self.api_key {
            http = http.bearer_auth(key.expose_secret());
        }
        let response = http.send().await.map_err(|e| LlmError::Unavailable(e.to_string()))?;
        if !response.status().is_success() {
            let (status, headers) = (response.status(), response.headers().clone());
            let text = response.text().await.unwrap_or_default();
            return Err(http_error(status, &headers, &text));
        }
        let interpret = |event: &eventsource_stream::Event, progress: &mut Progress| {
            let chunks = on_data(&event.data, progress)?;
            if progress.done && !progress.finished {
                return Err(LlmError::Broken("[DONE] without a finish_reason".into()));
            }
            Ok((chunks, progress.done))
        };
        Ok(sse::chunks(
            response,
            Progress::default(),
            interpret,
            "the stream ended without [DONE]",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_api_key() {
        let key = SecretString::from("sk-test-9f8e7d6c5b4a");
        let provider = OpenAiProvider::new(
            "primary",
            "https://api.openai.com/v1",
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
    fn chunks_usage_and_end_markers() {
        let mut p = Progress::default();
        let text = on_data(
            r#"{"choices":[{"delta":{"content":"Hel"},"finish_reason":null}]}"#,
            &mut p,
        )
        .unwrap();
        assert_eq!(text, vec![Chunk::Text("Hel".into())]);
        on_data(r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#, &mut p).unwrap();
        assert!(p.finished && !p.done);
        on_data(
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#,
            &mut p,
        )
        .unwrap();
        let last = on_data("[DONE]", &mut p).unwrap();
        assert_eq!(
            last,
            vec![Chunk::Usage(Usage {
                input_tokens: 12,
                output_tokens: 3
            })]
        );
        assert!(matches!(
            on_data("{not json", &mut Progress::default()),
            Err(LlmError::Broken(_))
        ));
    }
}
