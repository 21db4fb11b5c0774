//! The reply-event protocol: what a reply's stream carries, from generation through the stream
//! log and the saved events of finished replies to the SSE clients (the web app, the load
//! test). The JSON form is `{"event": NAME, "data": {…}}`, NAME being the SSE event name and
//! `data` its SSE data line. Finished replies keep their events in the database in this form,
//! so payloads only ever gain optional fields. Event names are spelled here and nowhere else
//! (the web app mirrors them in `web/src/api/events.ts`).

use crate::{DocumentId, MessageId, MessageStatus, Revision};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One event of a reply's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ReplyEvent {
    /// Chat text; the reply's content is the `token` texts after its last `restart`.
    Token { text: String },
    /// The text so far of a section the model is writing, before it is validated and
    /// committed; a later draft or the committed `section` supersedes it.
    SectionDraft {
        document_id: DocumentId,
        section_id: String,
        text: String,
    },
    /// A section committed in `revision` of the document.
    Section {
        document_id: DocumentId,
        section_id: String,
        revision: Revision,
    },
    /// Everything sent since the last `restart` (or the start) is void: the reply starts over.
    Restart { reason: RestartReason },
    /// The reply is committed; closes the stream.
    Done { reply_id: MessageId, status: MessageStatus },
    /// The reply ended without success; closes the stream. `message` is for people.
    Error { code: String, message: String },
}

impl ReplyEvent {
    /// The SSE event name, the `event` of the JSON form.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Token { .. } => "token",
            Self::SectionDraft { .. } => "section_draft",
            Self::Section { .. } => "section",
            Self::Restart { .. } => "restart",
            Self::Done { .. } => "done",
            Self::Error { .. } => "error",
        }
    }

    /// `done` and `error` end a generation (a retry opens the stream again with `restart`).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Done { .. } | Self::Error { .. })
    }

    /// The payload as JSON, the SSE data line.
    pub fn data_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("reply events serialize to JSON");
        value["data"].take().to_string()
    }

    /// Reads an event from its SSE name and data line.
    pub fn from_sse(name: &str, data: &str) -> Result<Self, serde_json::Error> {
        let data: serde_json::Value = serde_json::from_str(data)?;
        serde_json::from_value(serde_json::json!({ "event": name, "data": data }))
    }
}

const RETRYING_AFTER: &str = "retrying after: ";

/// Why a reply starts over. On the wire a string: `retry`, `instance_lost`,
/// `server_restarted`, `stream_lost`, or `retrying after: <error>` for a failed model attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartReason {
    /// The user asked for a failed or interrupted reply again.
    Retry,
    /// A model attempt failed after sending text (the error, worded for people); the gateway
    /// tries again.
    AttemptFailed(String),
    /// The instance generating the reply went away and another one took it over.
    InstanceLost,
    /// The server restarted while generating the reply and generates it again.
    ServerRestarted,
    /// The reply's live stream was lost from the shared store (evicted, or Redis restarted
    /// empty); the text so far follows whole, then the reply goes on.
    StreamLost,
}

impl fmt::Display for RestartReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retry => f.write_str("retry"),
            Self::AttemptFailed(error) => write!(f, "{RETRYING_AFTER}{error}"),
            Self::InstanceLost => f.write_str("instance_lost"),
            Self::ServerRestarted => f.write_str("server_restarted"),
            Self::StreamLost => f.write_str("stream_lost"),
        }
    }
}

impl std::str::FromStr for RestartReason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "retry" => Self::Retry,
            "instance_lost" => Self::InstanceLost,
            "server_restarted" => Self::ServerRestarted,
            "stream_lost" => Self::StreamLost,
            _ => match s.strip_prefix(RETRYING_AFTER) {
                Some(error) => Self::AttemptFailed(error.to_owned()),
                None => return Err(format!("unknown restart reason {s:?}")),
            },
        })
    }
}

impl Serialize for RestartReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RestartReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn ids() -> (DocumentId, MessageId) {
        (
            DocumentId(Uuid::parse_str("0190c1d2-0000-7000-8000-000000000001").unwrap()),
            MessageId(Uuid::parse_str("0190c1d2-0000-7000-8000-000000000002").unwrap()),
        )
    }

    fn every_event() -> Vec<ReplyEvent> {
        let (document_id, reply_id) = ids();
        vec![
            ReplyEvent::Token { text: "Hi".into() },
            ReplyEvent::SectionDraft {
                document_id,
                section_id: "summary".into(),
                text: "Plans".into(),
            },
            ReplyEvent::Section {
                document_id,
                section_id: "summary".into(),
                revision: Revision(2),
            },
            ReplyEvent::Restart {
                reason: RestartReason::Retry,
            },
            ReplyEvent::Restart {
                reason: RestartReason::AttemptFailed("the provider timed out".into()),
            },
            ReplyEvent::Restart {
                reason: RestartReason::InstanceLost,
            },
            ReplyEvent::Restart {
                reason: RestartReason::ServerRestarted,
            },
            ReplyEvent::Done {
                reply_id,
                status: MessageStatus::Complete,
            },
            ReplyEvent::Error {
                code: "busy".into(),
                message: "Busy.".into(),
            },
        ]
    }

    #[test]
    fn the_json_form_is_event_and_data() {
        let (document_id, reply_id) = ids();
        let cases = [
            (
                ReplyEvent::Token { text: "a".into() },
                json!({"event": "token", "data": {"text": "a"}}),
            ),
            (
                ReplyEvent::Section {
                    document_id,
                    section_id: "goals".into(),
                    revision: Revision(3),
                },
                json!({"event": "section", "data": {"document_id": document_id, "section_id": "goals", "revision": 3}}),
            ),
            (
                ReplyEvent::Done {
                    reply_id,
                    status: MessageStatus::Complete,
                },
                json!({"event": "done", "data": {"reply_id": reply_id, "status": "complete"}}),
            ),
            (
                ReplyEvent::Restart {
                    reason: RestartReason::AttemptFailed("x".into()),
                },
                json!({"event": "restart", "data": {"reason": "retrying after: x"}}),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(serde_json::to_value(&event).unwrap(), expected);
        }
    }

    #[test]
    fn names_data_and_sse_round_trip() {
        for event in every_event() {
            let value = serde_json::to_value(&event).unwrap();
            assert_eq!(value["event"], event.name(), "{event:?}");
            assert_eq!(event.data_json(), value["data"].to_string());
            assert_eq!(ReplyEvent::from_sse(event.name(), &event.data_json()).unwrap(), event);
        }
    }

    #[test]
    fn only_done_and_error_are_terminal() {
        let terminal: Vec<&str> = every_event()
            .iter()
            .filter(|e| e.is_terminal())
            .map(ReplyEvent::name)
            .collect();
        assert_eq!(terminal, ["done", "error"]);
    }

    #[test]
    fn unknown_names_and_reasons_are_refused() {
        assert!(ReplyEvent::from_sse("message", r#"{"text":"a"}"#).is_err());
        assert!(ReplyEvent::from_sse("restart", r#"{"reason":"because"}"#).is_err());
        assert!(ReplyEvent::from_sse("token", "not json").is_err());
    }

    /// Events as finished replies saved them in `messages.events` before this type existed.
    #[test]
    fn stored_events_of_earlier_replies_still_load() {
        #[derive(Deserialize)]
        struct Stored {
            id: u64,
            #[serde(flatten)]
            event: ReplyEvent,
        }
        let saved = r#"[{"id":1,"event":"token","data":{"text":"Here is a draft."}},{"id":2,"event":"restart","data":{"reason":"retrying after: the provider stream broke off"}},{"id":3,"event":"token","data":{"text":"Again."}},{"id":4,"event":"section","data":{"document_id":"0190c1d2-0000-7000-8000-000000000001","revision":1,"section_id":"summary"}},{"id":5,"event":"done","data":{"reply_id":"0190c1d2-0000-7000-8000-000000000002","status":"complete"}},{"id":6,"event":"restart","data":{"reason":"retry"}},{"id":7,"event":"error","data":{"code":"interrupted","message":"The server restarted."}}]"#;
        let events: Vec<Stored> = serde_json::from_str(saved).unwrap();
        let numbers: Vec<u64> = events.iter().map(|e| e.id).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7]);
        let (document_id, reply_id) = ids();
        let events: Vec<ReplyEvent> = events.into_iter().map(|e| e.event).collect();
        assert_eq!(
            events,
            [
                ReplyEvent::Token {
                    text: "Here is a draft.".into()
                },
                ReplyEvent::Restart {
                    reason: RestartReason::AttemptFailed("the provider stream broke off".into())
                },
                ReplyEvent::Token { text: "Again.".into() },
                ReplyEvent::Section {
                    document_id,
                    section_id: "summary".into(),
                    revision: Revision(1)
                },
                ReplyEvent::Done {
                    reply_id,
                    status: MessageStatus::Complete
                },
                ReplyEvent::Restart {
                    reason: RestartReason::Retry
                },
                ReplyEvent::Error {
                    code: "interrupted".into(),
                    message: "The server restarted.".into()
                },
            ]
        );
    }

    /// Code that handles events names them through this type; a name spelled as a string
    /// elsewhere is a second definition that drifts. Comments and test modules may spell them.
    #[test]
    fn event_names_are_spelled_only_here() {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let quoted: Vec<String> = every_event().iter().map(|e| format!("\"{}\"", e.name())).collect();
        let mut files = Vec::new();
        for dir in ["domain/src", "server/src", "cache/src", "loadtest/src"] {
            rust_files(&crates.join(dir), &mut files);
        }
        assert!(files.len() > 20, "the scan found the sources ({} files)", files.len());
        let mut found = Vec::new();
        for file in files.iter().filter(|f| !f.ends_with("domain/src/events.rs")) {
            let source = std::fs::read_to_string(file).unwrap();
            let code = source.lines().take_while(|l| l.trim() != "#[cfg(test)]");
            for (n, line) in code.enumerate() {
                if !line.trim_start().starts_with("//") && quoted.iter().any(|q| line.contains(q.as_str())) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "event names spelled outside events.rs:\n{}",
            found.join("\n")
        );
    }

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
}
