//! The way a reply's events reach its stream log, surviving a log that is unreachable for a
//! while (a Redis blip): events that cannot be appended wait here, in order, and are appended
//! before any later event once the log answers again, so followers — who reconnect by
//! themselves — read every event once, in order, and the reply goes on being generated.

use plansmith_cache::{CacheError, StreamLog};
use plansmith_domain::{MessageId, ReplyEvent};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Events one reply may hold back before it gives up (its log has been away too long).
pub const MAX_PENDING: usize = 10_000;

/// How often appends are tried again while the log is unreachable.
const RETRY_EVERY: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Pending {
    /// Each with its token: a resend after a lost answer is not appended twice.
    events: VecDeque<(u64, ReplyEvent)>,
    /// Number of the last event appended.
    last_id: u64,
    /// No append before then (the log failed just now).
    retry_at: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("its stream log has been unreachable for {held} events")]
    Overflow { held: usize },
    /// The log vanished (evicted, or Redis restarted empty): what waited is dropped, and the
    /// writer opens the log again after `last_id` and sends the reply so far whole.
    #[error("its stream log was lost")]
    Lost { last_id: u64 },
}

pub struct Outbox {
    log: Arc<dyn StreamLog>,
    pending: Mutex<HashMap<MessageId, Pending>>,
}

impl Outbox {
    pub fn new(log: Arc<dyn StreamLog>) -> Self {
        Self {
            log,
            pending: Mutex::default(),
        }
    }

    /// Appends `event` after any that wait; returns the number of the last event appended
    /// (an earlier one while events wait). Only the reply's own task sends its events.
    pub async fn send(&self, reply: MessageId, event: ReplyEvent) -> Result<u64, SendError> {
        let mut pending = self.take(reply);
        pending.events.push_back((rand::random(), event));
        let flushed = self.flush(reply, &mut pending).await;
        let (last_id, held) = (pending.last_id, pending.events.len());
        self.pending.lock().expect("outbox lock").insert(reply, pending);
        if flushed.is_err() {
            return Err(SendError::Lost { last_id });
        }
        if held > MAX_PENDING {
            return Err(SendError::Overflow { held });
        }
        Ok(last_id)
    }

    /// Whether events of `reply` still wait for the log.
    pub fn holds(&self, reply: MessageId) -> bool {
        self.pending
            .lock()
            .expect("outbox lock")
            .get(&reply)
            .is_some_and(|p| !p.events.is_empty())
    }

    /// The reply's generation ended here: forgets it unless events still wait (then
    /// [`Outbox::drain`] forgets it).
    pub fn done(&self, reply: MessageId) {
        let mut pending = self.pending.lock().expect("outbox lock");
        if pending.get(&reply).is_some_and(|p| p.events.is_empty()) {
            pending.remove(&reply);
        }
    }

    /// Tries the waiting events of `reply` every second until they are all appended or
    /// `patience` has passed; returns whether they were.
    pub async fn drain(&self, reply: MessageId, patience: Duration) -> bool {
        let until = Instant::now() + patience;
        loop {
            let mut pending = self.take(reply);
            pending.retry_at = None;
            if self.flush(reply, &mut pending).await.is_err() {
                tracing::warn!(reply = %reply, "the stream log of a finished reply was lost; the database has the reply");
                return false;
            }
            if pending.events.is_empty() {
                return true;
            }
            if Instant::now() >= until {
                tracing::error!(reply = %reply, lost = pending.events.len(), "the stream log stayed unreachable; events of a finished reply were dropped (the database has the reply)");
                return false;
            }
            self.pending.lock().expect("outbox lock").insert(reply, pending);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Forgets what `reply` holds (it stopped here).
    pub fn forget(&self, reply: MessageId) {
        self.pending.lock().expect("outbox lock").remove(&reply);
    }

    fn take(&self, reply: MessageId) -> Pending {
        self.pending
            .lock()
            .expect("outbox lock")
            .remove(&reply)
            .unwrap_or_default()
    }

    /// Appends waiting events in order until one fails (then waits `RETRY_EVERY` before the
    /// next try). A lost log drops what waited and is an error.
    async fn flush(&self, reply: MessageId, pending: &mut Pending) -> Result<(), CacheError> {
        if pending.retry_at.is_some_and(|at| Instant::now() < at) {
            return Ok(());
        }
        let held_back = pending.retry_at.is_some();
        while let Some((token, event)) = pending.events.front() {
            match self.log.append_once(reply.0, event.clone(), *token).await {
                Ok(id) => {
                    pending.last_id = id;
                    pending.events.pop_front();
                }
                Err(CacheError::LogLost) => {
                    pending.events.clear();
                    pending.retry_at = None;
                    return Err(CacheError::LogLost);
                }
                Err(e) => {
                    if !held_back {
                        tracing::warn!(reply = %reply, error = %e, "the stream log is unreachable; holding the reply's events until it is back");
                    }
                    pending.retry_at = Some(Instant::now() + RETRY_EVERY);
                    return Ok(());
                }
            }
        }
        if held_back {
            tracing::info!(reply = %reply, "the stream log is back; held events appended");
        }
        pending.retry_at = None;
        Ok(())
    }
}
