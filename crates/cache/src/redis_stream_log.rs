//! The reply stream log on Redis Streams, shared by every instance: a reply started on one
//! instance can be followed, and resumed by `Last-Event-ID`, on any other.
//!
//! Per reply two keys with the reply's hash tag, so they share a Cluster slot:
//! `plansmith:reply:{<id>}:events`, a Redis Stream whose entry ids are the event numbers
//! (`7-0` is event 7), and `plansmith:reply:{<id>}:meta`, a hash with the next number and, while
//! the log is closed, the number of the event that closed it. Writes are Lua scripts (atomic
//! per reply). Followers read with `XREAD BLOCK` on a connection of their own to the node that
//! holds the reply, and find it again when its slot moves. Closed logs expire (the database
//! keeps finished replies).

use crate::on_redis::{BLOCK, RedisConn, malformed};
use crate::{CacheError, EventStream, Result, StreamEvent, StreamLog};
use async_trait::async_trait;
use plansmith_domain::ReplyEvent;
use redis::Script;
use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use uuid::Uuid;

/// Seals each event's payload before Redis keeps it (the text of a reply is a person's
/// content), and opens it when read.
pub trait PayloadSeal: Send + Sync + 'static {
    fn seal(&self, json: &str) -> String;
    /// The JSON again; an error says why it cannot be opened.
    fn open(&self, stored: &str) -> std::result::Result<String, String>;
}

/// Payloads as they are (for tests of the log itself).
struct Plain;

impl PayloadSeal for Plain {
    fn seal(&self, json: &str) -> String {
        json.to_owned()
    }

    fn open(&self, stored: &str) -> std::result::Result<String, String> {
        Ok(stored.to_owned())
    }
}

#[derive(Clone)]
pub struct RedisStreamLog {
    conn: RedisConn,
    seal: Arc<dyn PayloadSeal>,
}

impl RedisStreamLog {
    /// A log whose payloads Redis keeps as they are.
    pub fn new(conn: RedisConn) -> Self {
        Self::sealed(conn, Arc::new(Plain))
    }

    /// A log whose payloads are sealed with `seal`.
    pub fn sealed(conn: RedisConn, seal: Arc<dyn PayloadSeal>) -> Self {
        Self { conn, seal }
    }

    async fn append_with(&self, reply: Uuid, event: &ReplyEvent, token: &str) -> Result<u64> {
        let json = self.seal.seal(&serde_json::to_string(event).map_err(malformed)?);
        let terminal = u8::from(event.is_terminal());
        let mut invocation = APPEND.key(meta_key(reply));
        invocation.key(events_key(reply)).arg(json).arg(terminal).arg(token);
        let id: i64 = self.conn.run(&invocation).await?;
        u64::try_from(id).map_err(|_| CacheError::LogLost)
    }
}

fn events_key(reply: Uuid) -> String {
    format!("plansmith:reply:{{{reply}}}:events")
}

fn meta_key(reply: Uuid) -> String {
    format!("plansmith:reply:{{{reply}}}:meta")
}

/// (Re)opens a log: numbering continues after `ARGV[1]` (and after anything already in it),
/// the log is no longer closed and no longer expires.
static OPEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local next = tonumber(redis.call('HGET', KEYS[1], 'next') or '1')
local want = tonumber(ARGV[1]) + 1
if want > next then next = want end
redis.call('HSET', KEYS[1], 'next', next)
redis.call('HDEL', KEYS[1], 'closed')
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
return next
",
    )
});

/// Appends `ARGV[1]` (the event's JSON) as the next event; `ARGV[2]` = 1 closes the log.
/// Without its meta (never opened, or lost: evicted, or Redis restarted empty) nothing is
/// appended and the answer is -1: the writer opens the log again and sends what was lost.
/// `ARGV[3]`, when not empty, is the event's token: the event last appended with the same
/// token is not appended again (its id is the answer).
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local next = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
if next < 1 then return -1 end
if ARGV[3] ~= '' then
  if redis.call('HGET', KEYS[1], 'token') == ARGV[3] then return next - 1 end
  redis.call('HSET', KEYS[1], 'token', ARGV[3])
end
redis.call('XADD', KEYS[2], next .. '-0', 'e', ARGV[1])
redis.call('HSET', KEYS[1], 'next', next + 1)
if ARGV[2] == '1' then redis.call('HSET', KEYS[1], 'closed', next) end
return next
",
    )
});

/// Expires a closed log after `ARGV[1]` ms; an open one (a retry began meanwhile) stays.
static EXPIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HEXISTS', KEYS[1], 'closed') == 0 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
",
    )
});

/// One stream entry: its id (`7-0`) and fields (`e` → the event's JSON).
type Entry = (String, Vec<(String, String)>);

fn parse_entry((id, fields): Entry, seal: &dyn PayloadSeal) -> Result<StreamEvent> {
    let number = id
        .split_once('-')
        .and_then(|(n, _)| n.parse::<u64>().ok())
        .ok_or_else(|| malformed(format!("stream entry id {id}")))?;
    let json = fields
        .into_iter()
        .find_map(|(name, value)| (name == "e").then_some(value))
        .ok_or_else(|| malformed(format!("stream entry {id} has no event")))?;
    let json = seal
        .open(&json)
        .map_err(|e| malformed(format!("stream entry {id}: {e}")))?;
    let event: ReplyEvent = serde_json::from_str(&json).map_err(malformed)?;
    Ok(StreamEvent { id: number, event })
}

#[async_trait]
impl StreamLog for RedisStreamLog {
    async fn open(&self, reply: Uuid, last_id: u64) -> Result<()> {
        let mut invocation = OPEN.key(meta_key(reply));
        invocation.key(events_key(reply)).arg(last_id);
        self.conn.run::<i64>(&invocation).await.map(drop)
    }

    async fn append(&self, reply: Uuid, event: ReplyEvent) -> Result<u64> {
        self.append_with(reply, &event, "").await
    }

    async fn append_once(&self, reply: Uuid, event: ReplyEvent, token: u64) -> Result<u64> {
        self.append_with(reply, &event, &token.to_string()).await
    }

    async fn events(&self, reply: Uuid) -> Result<Option<Vec<StreamEvent>>> {
        let exists: bool = self.conn.query(redis::cmd("EXISTS").arg(meta_key(reply))).await?;
        if !exists {
            return Ok(None);
        }
        let entries: Vec<Entry> = self
            .conn
            .query(redis::cmd("XRANGE").arg(events_key(reply)).arg("-").arg("+"))
            .await?;
        entries
            .into_iter()
            .map(|e| parse_entry(e, self.seal.as_ref()))
            .collect::<Result<_>>()
            .map(Some)
    }

    async fn follow(&self, reply: Uuid, after: u64) -> Result<Option<EventStream>> {
        let exists: bool = self.conn.query(redis::cmd("EXISTS").arg(meta_key(reply))).await?;
        if !exists {
            return Ok(None);
        }
        // Resumed at or after the event that closed the log: nothing more will come.
        if closed_at(&self.conn, reply)
            .await?
            .is_some_and(|closed| closed <= after)
        {
            return Ok(Some(Box::pin(futures::stream::empty())));
        }
        let follower = Follower {
            conn: self.conn.clone(),
            seal: Arc::clone(&self.seal),
            reply,
            reader: None,
            cursor: after,
            buffer: VecDeque::new(),
            done: false,
        };
        let stream = futures::stream::unfold(follower, |mut f| async move {
            let event = f.next().await?;
            Some((event, f))
        });
        Ok(Some(Box::pin(stream)))
    }

    async fn expire(&self, reply: Uuid, ttl: Duration) -> Result<()> {
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let mut invocation = EXPIRE.key(meta_key(reply));
        invocation.key(events_key(reply)).arg(ttl_ms);
        self.conn.run::<i64>(&invocation).await.map(drop)
    }
}

/// The number of the event that closed the log, while it is closed.
async fn closed_at(conn: &RedisConn, reply: Uuid) -> Result<Option<u64>> {
    conn.query(redis::cmd("HGET").arg(meta_key(reply)).arg("closed")).await
}

/// Reads a log from `cursor` on, blocking for new entries, until the event that closes it.
struct Follower {
    conn: RedisConn,
    seal: Arc<dyn PayloadSeal>,
    reply: Uuid,
    /// The follower's own connection, made on first read and again after a failure.
    reader: Option<redis::aio::MultiplexedConnection>,
    cursor: u64,
    buffer: VecDeque<StreamEvent>,
    done: bool,
}

/// Reconnect attempts of a follower before it gives up (the client resumes by
/// `Last-Event-ID`); with the pause below, Redis may be away this long mid-stream.
const READ_ATTEMPTS: u32 = 30;
const RETRY_PAUSE: Duration = Duration::from_secs(1);

impl Follower {
    async fn next(&mut self) -> Option<StreamEvent> {
        let mut failures = 0;
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.buffer.pop_front() {
                self.cursor = event.id;
                if event.is_terminal() && self.closes(event.id).await {
                    self.done = true;
                }
                return Some(event);
            }
            match self.read().await {
                Ok(Some(events)) => {
                    failures = 0;
                    self.buffer.extend(events);
                }
                // Nothing new within the block time: is the log still there, and still open
                // or closed after the cursor?
                Ok(None) => match self.ended().await {
                    Ok(false) => {}
                    Ok(true) => return None,
                    Err(_) => failures += 1,
                },
                Err(e) => {
                    failures += 1;
                    self.reader = None;
                    tracing::debug!(reply = %self.reply, error = %e, "reading a reply stream from Redis failed; retrying");
                    if failures >= READ_ATTEMPTS {
                        return None;
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    /// Whether nothing more will come: the log is gone, or it closed at or before the cursor.
    async fn ended(&self) -> Result<bool> {
        let exists: bool = self.conn.query(redis::cmd("EXISTS").arg(meta_key(self.reply))).await?;
        if !exists {
            return Ok(true);
        }
        let closed = closed_at(&self.conn, self.reply).await?;
        Ok(closed.is_some_and(|closed| closed <= self.cursor))
    }

    /// Whether event `id` is the one that closes the log now (an older `error` of a reply that
    /// was retried since does not end the stream).
    async fn closes(&self, id: u64) -> bool {
        let closed: Result<Option<u64>> = self
            .conn
            .query(redis::cmd("HGET").arg(meta_key(self.reply)).arg("closed"))
            .await;
        // When Redis cannot say, end here: the client resumes and asks again.
        closed.map_or(true, |closed| closed == Some(id))
    }

    /// Entries after the cursor, waiting up to `BLOCK` for some; `None` when none came.
    async fn read(&mut self) -> Result<Option<Vec<StreamEvent>>> {
        let key = events_key(self.reply);
        if self.reader.is_none() {
            self.reader = Some(self.conn.dedicated_for(&key).await?);
        }
        let reader = self.reader.as_mut().expect("just made");
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(256)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&key)
            .arg(format!("{}-0", self.cursor));
        let reply: Option<Vec<(String, Vec<Entry>)>> = cmd
            .query_async(reader)
            .await
            .map_err(|e| CacheError::Unavailable(e.to_string()))?;
        let Some(streams) = reply else { return Ok(None) };
        let entries: Vec<Entry> = streams.into_iter().flat_map(|(_, entries)| entries).collect();
        if entries.is_empty() {
            return Ok(None);
        }
        entries
            .into_iter()
            .map(|e| parse_entry(e, self.seal.as_ref()))
            .collect::<Result<_>>()
            .map(Some)
    }
}
