//! The reply stream log: numbered events per reply, replayable from any id and followable live.

use crate::Result;
use async_trait::async_trait;
use futures::stream::BoxStream;
use plansmith_domain::ReplyEvent;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// One numbered event of a reply's stream. Its JSON, as held and saved with finished replies,
/// is `{"id": 1, "event": "token", "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamEvent {
    pub id: u64,
    #[serde(flatten)]
    pub event: ReplyEvent,
}

impl StreamEvent {
    pub fn is_terminal(&self) -> bool {
        self.event.is_terminal()
    }
}

pub type EventStream = BoxStream<'static, StreamEvent>;

#[async_trait]
pub trait StreamLog: Send + Sync + 'static {
    /// Starts (or restarts, for a retry) the log of a reply; ids continue after `last_id`.
    async fn open(&self, reply: Uuid, last_id: u64) -> Result<()>;
    /// Appends an event and returns its id. A terminal event closes the log.
    async fn append(&self, reply: Uuid, event: ReplyEvent) -> Result<u64>;
    /// Appends like [`append`](Self::append), at most once per `token` (unique per event):
    /// when an append's answer was lost (the connection broke after the log took it), sending
    /// it again with the same token returns the id it got instead of appending it twice. Only
    /// the last event appended is remembered, so a writer resends only its latest event.
    async fn append_once(&self, reply: Uuid, event: ReplyEvent, token: u64) -> Result<u64> {
        let _ = token;
        self.append(reply, event).await
    }
    /// All events of a known log, in order; `None` when the log is not (or no longer) held.
    async fn events(&self, reply: Uuid) -> Result<Option<Vec<StreamEvent>>>;
    /// Events after `after`, then live ones, ending with the event that closes the log.
    /// `None` when the log is not held.
    async fn follow(&self, reply: Uuid, after: u64) -> Result<Option<EventStream>>;
    /// Forgets a closed log after `ttl` (the database keeps finished replies).
    async fn expire(&self, reply: Uuid, ttl: Duration) -> Result<()>;
}

#[derive(Default)]
struct Log {
    events: Vec<StreamEvent>,
    next_id: u64,
    /// Id of the event that closed the log, while it is closed.
    closed_at: Option<u64>,
    /// Bumped on every open, so a pending expiry of an earlier run leaves a retry alone.
    epoch: u64,
}

struct Entry {
    log: Mutex<Log>,
    last_id: watch::Sender<u64>,
}

#[derive(Default, Clone)]
pub struct InProcessStreamLog {
    logs: Arc<Mutex<HashMap<Uuid, Arc<Entry>>>>,
}

impl InProcessStreamLog {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&self, reply: Uuid) -> Option<Arc<Entry>> {
        self.logs.lock().expect("stream log lock").get(&reply).cloned()
    }

    /// Number of logs held, for metrics and tests.
    pub fn len(&self) -> usize {
        self.logs.lock().expect("stream log lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl StreamLog for InProcessStreamLog {
    async fn open(&self, reply: Uuid, last_id: u64) -> Result<()> {
        let mut logs = self.logs.lock().expect("stream log lock");
        let entry = logs.entry(reply).or_insert_with(|| {
            Arc::new(Entry {
                log: Mutex::new(Log::default()),
                last_id: watch::channel(0).0,
            })
        });
        let mut log = entry.log.lock().expect("log lock");
        log.next_id = log.next_id.max(last_id + 1);
        log.closed_at = None;
        log.epoch += 1;
        Ok(())
    }

    async fn append(&self, reply: Uuid, event: ReplyEvent) -> Result<u64> {
        let entry = match self.entry(reply) {
            Some(entry) => entry,
            None => {
                self.open(reply, 0).await?;
                self.entry(reply).expect("just opened")
            }
        };
        let id = {
            let mut log = entry.log.lock().expect("log lock");
            let id = log.next_id.max(1);
            log.next_id = id + 1;
            let event = StreamEvent { id, event };
            if event.is_terminal() {
                log.closed_at = Some(id);
            }
            log.events.push(event);
            id
        };
        entry.last_id.send_replace(id);
        Ok(id)
    }

    async fn events(&self, reply: Uuid) -> Result<Option<Vec<StreamEvent>>> {
        Ok(self
            .entry(reply)
            .map(|e| e.log.lock().expect("log lock").events.clone()))
    }

    async fn follow(&self, reply: Uuid, after: u64) -> Result<Option<EventStream>> {
        let Some(entry) = self.entry(reply) else {
            return Ok(None);
        };
        let rx = entry.last_id.subscribe();
        let state = Follower {
            entry,
            rx,
            cursor: after,
            buffer: VecDeque::new(),
            done: false,
        };
        let stream = futures::stream::unfold(state, |mut f| async move {
            let event = f.next().await?;
            Some((event, f))
        });
        Ok(Some(Box::pin(stream)))
    }

    async fn expire(&self, reply: Uuid, ttl: Duration) -> Result<()> {
        let Some(entry) = self.entry(reply) else { return Ok(()) };
        let epoch = entry.log.lock().expect("log lock").epoch;
        let logs = Arc::clone(&self.logs);
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            let mut logs = logs.lock().expect("stream log lock");
            let still_closed = logs.get(&reply).is_some_and(|e| {
                let log = e.log.lock().expect("log lock");
                log.epoch == epoch && log.closed_at.is_some()
            });
            if still_closed {
                logs.remove(&reply);
            }
        });
        Ok(())
    }
}

struct Follower {
    entry: Arc<Entry>,
    rx: watch::Receiver<u64>,
    cursor: u64,
    buffer: VecDeque<(StreamEvent, bool)>,
    done: bool,
}

impl Follower {
    async fn next(&mut self) -> Option<StreamEvent> {
        loop {
            if let Some((event, last)) = self.buffer.pop_front() {
                self.done = last;
                return Some(event);
            }
            if self.done {
                return None;
            }
            // Mark the current value seen before reading, so no append is missed.
            self.rx.borrow_and_update();
            {
                let log = self.entry.log.lock().expect("log lock");
                let start = log.events.partition_point(|e| e.id <= self.cursor);
                for event in &log.events[start..] {
                    let last = log.closed_at == Some(event.id);
                    self.buffer.push_back((event.clone(), last));
                    if last {
                        break;
                    }
                }
                // Resumed at or after the event that closed the log: nothing more will come.
                if self.buffer.is_empty() && log.closed_at.is_some_and(|closed| closed <= self.cursor) {
                    return None;
                }
            }
            if let Some((event, _)) = self.buffer.back() {
                self.cursor = event.id;
                continue;
            }
            if self.rx.changed().await.is_err() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use plansmith_domain::{MessageId, MessageStatus, RestartReason};

    fn token(text: &str) -> ReplyEvent {
        ReplyEvent::Token { text: text.into() }
    }

    fn done() -> ReplyEvent {
        ReplyEvent::Done {
            reply_id: MessageId::new(),
            status: MessageStatus::Complete,
        }
    }

    #[tokio::test]
    async fn follow_replays_then_goes_live_and_ends_at_done() {
        let log = InProcessStreamLog::new();
        let reply = Uuid::now_v7();
        log.open(reply, 0).await.unwrap();
        log.append(reply, token("a")).await.unwrap();
        log.append(reply, token("b")).await.unwrap();
        let follower = log.follow(reply, 1).await.unwrap().unwrap();
        let writer = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            writer.append(reply, token("c")).await.unwrap();
            writer.append(reply, done()).await.unwrap();
        });
        let got: Vec<StreamEvent> = follower.collect().await;
        let ids: Vec<u64> = got.iter().map(|e| e.id).collect();
        assert_eq!(ids, [2, 3, 4]);
        assert!(got[2].is_terminal());
    }

    #[tokio::test]
    async fn a_retry_continues_numbering_and_old_errors_do_not_end_followers() {
        let log = InProcessStreamLog::new();
        let reply = Uuid::now_v7();
        log.open(reply, 0).await.unwrap();
        log.append(reply, token("x")).await.unwrap();
        log.append(
            reply,
            ReplyEvent::Error {
                code: "failed".into(),
                message: "It failed.".into(),
            },
        )
        .await
        .unwrap();
        log.open(reply, 2).await.unwrap();
        assert_eq!(
            log.append(
                reply,
                ReplyEvent::Restart {
                    reason: RestartReason::Retry,
                }
            )
            .await
            .unwrap(),
            3
        );
        log.append(reply, done()).await.unwrap();
        let got: Vec<&str> = log
            .follow(reply, 0)
            .await
            .unwrap()
            .unwrap()
            .map(|e| e.event.name())
            .collect()
            .await;
        assert_eq!(got, ["token", "error", "restart", "done"]);
    }

    #[tokio::test]
    async fn unknown_logs_are_none_and_closed_logs_expire() {
        let log = InProcessStreamLog::new();
        let reply = Uuid::now_v7();
        assert!(log.follow(reply, 0).await.unwrap().is_none());
        log.open(reply, 0).await.unwrap();
        log.append(reply, done()).await.unwrap();
        log.expire(reply, Duration::from_millis(10)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(log.events(reply).await.unwrap().is_none());
    }

    #[test]
    fn events_keep_their_json_form() {
        let event = StreamEvent {
            id: 1,
            event: token("a"),
        };
        let json = r#"{"id":1,"event":"token","data":{"text":"a"}}"#;
        assert_eq!(serde_json::to_string(&event).unwrap(), json);
        assert_eq!(serde_json::from_str::<StreamEvent>(json).unwrap(), event);
    }
}
