//! Server-sent events from a provider's HTTP response, turned into chunks.

use crate::{Chunk, ChunkStream, LlmError};
use eventsource_stream::{Event, Eventsource};
use futures::StreamExt;

/// What one event meant: the chunks it carries and whether it was the stream's end marker.
pub type Interpreted = Result<(Vec<Chunk>, bool), LlmError>;

/// The chunks of a streamed response. `interpret` reads each event (keeping its own `state`);
/// the stream ends after the end marker, at the first error, or — without the end marker, even
/// when the connection closed cleanly — with a broken-stream error saying `missing_end`.
pub fn chunks<S, F>(response: reqwest::Response, state: S, interpret: F, missing_end: &'static str) -> ChunkStream
where
    S: Send + 'static,
    F: FnMut(&Event, &mut S) -> Interpreted + Send + 'static,
{
    let events = Box::pin(response.bytes_stream().eventsource());
    let stream = futures::stream::unfold(Some((events, state, interpret)), move |reader| async move {
        let (mut events, mut state, mut interpret) = reader?;
        loop {
            let item = match events.next().await {
                Some(Ok(event)) => interpret(&event, &mut state),
                Some(Err(e)) => Err(LlmError::Broken(e.to_string())),
                None => Err(LlmError::Broken(missing_end.into())),
            };
            let batch: Vec<Result<Chunk, LlmError>> = match item {
                Ok((chunks, true)) => {
                    let last: Vec<Result<Chunk, LlmError>> = chunks.into_iter().map(Ok).collect();
                    return Some((futures::stream::iter(last), None));
                }
                Ok((chunks, false)) if chunks.is_empty() => continue,
                Ok((chunks, false)) => chunks.into_iter().map(Ok).collect(),
                Err(e) => return Some((futures::stream::iter(vec![Err(e)]), None)),
            };
            return Some((futures::stream::iter(batch), Some((events, state, interpret))));
        }
    });
    Box::pin(stream.flatten())
}

/// An HTTP client for a provider, with its connect timeout.
pub fn client(connect_timeout: std::time::Duration) -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|e| LlmError::Unavailable(format!("HTTP client: {e}")))
}
