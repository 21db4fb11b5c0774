//! Server-sent events from an HTTP response body.

use crate::LlmError;
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};

/// The events of a streamed response; a transport error mid-stream is a broken stream.
pub fn events(response: reqwest::Response) -> impl Stream<Item = Result<Event, LlmError>> + Send {
    response
        .bytes_stream()
        .eventsource()
        .map(|item| item.map_err(|e| LlmError::Broken(e.to_string())))
}
