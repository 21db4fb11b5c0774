//! OpenAI-compatible Chat Completions with SSE streaming (OpenAI, Azure-style deployments, vLLM,
//! Ollama, llama.cpp server, OpenRouter, LiteLLM): `base_url` + `/chat/completions`.
//! A stream is complete only with a `finish_reason` and the `[DONE]` marker.

use crate::{Chunk, ChunkStream, CompletionRequest, LlmError, Provider, Usage, http_error, sse};
use async_trait::async_trait;
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

pub struct OpenAiProvider {
    name: String,
    model: String,
    url: String,
    api_key: Option<String>,
    client: reqwest::Client,
}

impl OpenAiProvider {
    pub fn new(
        name: &str,
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        connect_timeout: Duration,
    ) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|e| LlmError::Unavailable(format!("HTTP client: {e}")))?;
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
        if let Some(key) = &self.api_key {
            http = http.bearer_auth(key);
        }
        let response = http.send().await.map_err(|e| LlmError::Unavailable(e.to_string()))?;
        if !response.status().is_success() {
            let (status, headers) = (response.status(), response.headers().clone());
            let text = response.text().await.unwrap_or_default();
            return Err(http_error(status, &headers, &text));
        }
        let events = sse::events(response);
        let stream = futures::stream::unfold(
            (Box::pin(events), Progress::default(), false),
            |(mut events, mut progress, ended)| async move {
                if ended {
                    return None;
                }
                loop {
                    match events.next().await {
                        Some(Ok(event)) => match on_data(&event.data, &mut progress) {
                            Ok(chunks) if progress.done => {
                                if !progress.finished {
                                    let e = LlmError::Broken("[DONE] without a finish_reason".into());
                                    return Some((futures::stream::iter(vec![Err(e)]), (events, progress, true)));
                                }
                                let items = chunks.into_iter().map(Ok).collect::<Vec<_>>();
                                return Some((futures::stream::iter(items), (events, progress, true)));
                            }
                            Ok(chunks) if chunks.is_empty() => continue,
                            Ok(chunks) => {
                                return Some((
                                    futures::stream::iter(chunks.into_iter().map(Ok).collect::<Vec<_>>()),
                                    (events, progress, false),
                                ));
                            }
                            Err(e) => return Some((futures::stream::iter(vec![Err(e)]), (events, progress, true))),
                        },
                        Some(Err(e)) => return Some((futures::stream::iter(vec![Err(e)]), (events, progress, true))),
                        None => {
                            let e = LlmError::Broken("the stream ended without [DONE]".into());
                            return Some((futures::stream::iter(vec![Err(e)]), (events, progress, true)));
                        }
                    }
                }
            },
        );
        Ok(Box::pin(stream.flatten()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
