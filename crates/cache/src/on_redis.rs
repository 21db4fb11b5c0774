//! Redis, one node or a Cluster, behind the cache traits: what several instances of the
//! server share in the scaled-out mode (sign-in limits, the session cache). Connections are
//! made lazily and remade after a failure, so an instance starts while Redis is down and
//! recovers when it returns; until then every call answers `CacheError::Unavailable`.

use crate::{CacheError, RateLimiter, Result, SessionCache};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Script, ScriptInvocation};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::Mutex;

/// Where Redis is: one node (`redis://` or `rediss://`) or the seed nodes of a Cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    Node(String),
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// Checks the addresses without connecting: a malformed one is an error that says which.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self {
            Self::Node(url) => redis::Client::open(url.as_str()).map(drop).map_err(|e| e.to_string()),
            Self::Cluster(nodes) if nodes.is_empty() => Err("no seed nodes".into()),
            Self::Cluster(nodes) => nodes.iter().try_for_each(|node| {
                redis::Client::open(node.as_str())
                    .map(drop)
                    .map_err(|e| format!("{node}: {e}"))
            }),
        }
    }
}

/// How long one call may wait for a connection or an answer before it fails as unavailable.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Longest a blocking read of a stream waits for new entries before it looks again.
pub(crate) const BLOCK: Duration = Duration::from_secs(2);

/// A shared connection to Redis or a Redis Cluster; cheap to clone.
#[derive(Clone)]
pub struct RedisConn {
    inner: Inner,
    target: RedisTarget,
}

#[derive(Clone)]
enum Inner {
    /// Multiplexed, reconnecting by itself.
    Node(ConnectionManager),
    /// Connected on first use; the cluster connection follows slot moves (MOVED/ASK) itself.
    Cluster(Arc<Cluster>),
}

struct Cluster {
    client: ClusterClient,
    conn: Mutex<Option<ClusterConnection>>,
}

fn unavailable(e: redis::RedisError) -> CacheError {
    CacheError::Unavailable(e.to_string())
}

/// An answer of Redis that is not what the command returns.
pub(crate) fn malformed(e: impl std::fmt::Display) -> CacheError {
    CacheError::Unavailable(format!("unexpected answer from Redis: {e}"))
}

/// Commands and reply events are small writes that must leave at once: no Nagle delay behind an
/// unacknowledged earlier write (redis-rs leaves Nagle on by default).
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

fn connection_info(url: &str) -> Result<redis::ConnectionInfo> {
    redis::IntoConnectionInfo::into_connection_info(url)
        .map(|info| info.set_tcp_settings(tcp_settings()))
        .map_err(unavailable)
}

impl RedisConn {
    /// Prepares a connection without connecting (the first call connects).
    pub fn open(target: &RedisTarget) -> Result<Self> {
        let inner = match target {
            RedisTarget::Node(url) => {
                let client = redis::Client::open(connection_info(url)?).map_err(unavailable)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                Inner::Node(ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?)
            }
            RedisTarget::Cluster(nodes) => {
                let client = ClusterClient::builder(nodes.iter().map(String::as_str))
                    .tcp_settings(tcp_settings())
                    .connection_timeout(TIMEOUT)
                    .response_timeout(TIMEOUT)
                    .retries(3)
                    .build()
                    .map_err(unavailable)?;
                Inner::Cluster(Arc::new(Cluster {
                    client,
                    conn: Mutex::default(),
                }))
            }
        };
        Ok(Self {
            inner,
            target: target.clone(),
        })
    }

    /// A connection of its own to the node that holds `key`, for a blocking read (which would
    /// hold up every other call on a shared connection).
    pub(crate) async fn dedicated_for(&self, key: &str) -> Result<redis::aio::MultiplexedConnection> {
        let info = match &self.target {
            RedisTarget::Node(url) => connection_info(url)?,
            RedisTarget::Cluster(seeds) => {
                let slot: u16 = self.query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).await?;
                let (host, port) = self.node_of_slot(slot).await?;
                let seed = connection_info(&seeds[0])?;
                let addr = match seed.addr() {
                    redis::ConnectionAddr::TcpTls {
                        insecure, tls_params, ..
                    } => redis::ConnectionAddr::TcpTls {
                        host,
                        port,
                        insecure: *insecure,
                        tls_params: tls_params.clone(),
                    },
                    _ => redis::ConnectionAddr::Tcp(host, port),
                };
                seed.set_addr(addr)
            }
        };
        let client = redis::Client::open(info).map_err(unavailable)?;
        // Blocking reads wait up to `BLOCK`; the answer may take that long.
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(BLOCK + TIMEOUT));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(unavailable)
    }

    /// The master that serves a hash slot, from `CLUSTER SLOTS`.
    async fn node_of_slot(&self, slot: u16) -> Result<(String, u16)> {
        let ranges: Vec<redis::Value> = self.query(&redis::cmd("CLUSTER").arg("SLOTS").clone()).await?;
        for range in ranges {
            let redis::Value::Array(parts) = range else { continue };
            let (Some(first), Some(last), Some(redis::Value::Array(master))) =
                (parts.first(), parts.get(1), parts.get(2))
            else {
                continue;
            };
            let (first, last): (u16, u16) = (
                redis::from_redis_value_ref(first).map_err(malformed)?,
                redis::from_redis_value_ref(last).map_err(malformed)?,
            );
            if (first..=last).contains(&slot) && master.len() >= 2 {
                let host: String = redis::from_redis_value_ref(&master[0]).map_err(malformed)?;
                let port: u16 = redis::from_redis_value_ref(&master[1]).map_err(malformed)?;
                return Ok((host, port));
            }
        }
        Err(CacheError::Unavailable(format!(
            "no Redis Cluster node serves slot {slot}"
        )))
    }

    async fn cluster(cluster: &Cluster) -> Result<ClusterConnection> {
        let mut conn = cluster.conn.lock().await;
        if let Some(existing) = conn.as_ref() {
            return Ok(existing.clone());
        }
        let made = cluster.client.get_async_connection().await.map_err(unavailable)?;
        *conn = Some(made.clone());
        Ok(made)
    }

    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T> {
        measured(async {
            match &self.inner {
                Inner::Node(manager) => cmd.query_async(&mut manager.clone()).await.map_err(unavailable),
                Inner::Cluster(cluster) => {
                    let mut cluster = Self::cluster(cluster).await?;
                    cmd.query_async(&mut cluster).await.map_err(unavailable)
                }
            }
        })
        .await
    }

    /// Runs a Lua script (by its hash, loading it on first use).
    pub async fn run<T: FromRedisValue>(&self, script: &ScriptInvocation<'_>) -> Result<T> {
        measured(async {
            match &self.inner {
                Inner::Node(manager) => script.invoke_async(&mut manager.clone()).await.map_err(unavailable),
                Inner::Cluster(cluster) => {
                    let mut cluster = Self::cluster(cluster).await?;
                    script.invoke_async(&mut cluster).await.map_err(unavailable)
                }
            }
        })
        .await
    }

    /// A round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        self.query::<String>(&redis::cmd("PING")).await.map(drop)
    }
}

/// Times a command (`plansmith_redis_command_duration_seconds`) and counts its failures
/// (`plansmith_redis_command_errors_total`). Blocking reads of stream logs are not measured
/// here: their time is the wait for new events, not Redis's latency.
async fn measured<T>(command: impl Future<Output = Result<T>>) -> Result<T> {
    let started = std::time::Instant::now();
    let result = command.await;
    metrics::histogram!("plansmith_redis_command_duration_seconds").record(started.elapsed().as_secs_f64());
    if result.is_err() {
        metrics::counter!("plansmith_redis_command_errors_total").increment(1);
    }
    result
}

/// Fixed-window counters shared by every instance: one key per counter, expiring with its
/// window.
#[derive(Clone)]
pub struct RedisRateLimiter {
    conn: RedisConn,
}

impl RedisRateLimiter {
    pub fn new(conn: RedisConn) -> Self {
        Self { conn }
    }
}

fn limit_key(key: &str) -> String {
    format!("plansmith:limit:{key}")
}

/// The milliseconds left in a window that reached `ARGV[1]` hits, or -1.
static BLOCKED_FOR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits < tonumber(ARGV[1]) then return -1 end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then return -1 end
return left
",
    )
});

/// Counts a hit; the first hit of a window starts its expiry.
static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local hits = redis.call('INCR', KEYS[1])
if hits == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return hits
",
    )
});

/// Takes an attempt when fewer than `ARGV[1]` were taken in the window (which the first
/// starts, `ARGV[2]` ms long): -1, or the milliseconds until the window ends.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits >= tonumber(ARGV[1]) then
  local left = redis.call('PTTL', KEYS[1])
  if left >= 0 then return math.max(left, 1) end
end
hits = redis.call('INCR', KEYS[1])
if hits == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return -1
",
    )
});

/// Returns a taken attempt (a paced one with the pause it started).
static GIVE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
  if tonumber(redis.call('HGET', KEYS[1], 'n') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'n', -1) end
  redis.call('HDEL', KEYS[1], 'next')
  return 0
end
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits > 0 then redis.call('DECR', KEYS[1]) end
return hits
",
    )
});

/// A paced attempt by Redis's clock (one clock for every instance): -1 when taken, or the
/// milliseconds until the next may go. `ARGV`: free attempts, window ms, maximum pause ms.
static TAKE_PACED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local next_at = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
if now < next_at then return next_at - now end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local extra = n - tonumber(ARGV[1])
if extra >= 0 then
  local pause = math.min(1000 * 2 ^ math.min(extra, 30), tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'next', math.floor(now + pause))
end
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return -1
",
    )
});

fn millis(d: Duration) -> u64 {
    d.as_millis().clamp(1, u128::from(u64::MAX)) as u64
}

/// The two keys of a held capacity: when each hold lapses (a sorted set) and its weight (a
/// hash), in one cluster slot.
fn hold_keys(key: &str) -> [String; 2] {
    [
        format!("plansmith:hold:{{{key}}}:until"),
        format!("plansmith:hold:{{{key}}}:weight"),
    ]
}

/// Drops lapsed holds, then holds `ARGV[2]` for holder `ARGV[1]` when the live holds of others
/// and it fit in `ARGV[3]`, lapsing after `ARGV[4]` ms: 1, or 0 when they do not fit.
static HOLD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, h in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('HDEL', KEYS[2], h)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local used = 0
for _, w in ipairs(redis.call('HVALS', KEYS[2])) do used = used + tonumber(w) end
used = used - tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if used + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return 0 end
local ttl = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
",
    )
});

/// Extends the live holds named in `ARGV[2..]` to `ARGV[1]` ms from now.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  local until_ms = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if until_ms and tonumber(until_ms) > now then
    redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[i])
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
",
    )
});

/// Gives a hold up.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
",
    )
});

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn blocked_for(&self, key: &str, limit: u32) -> Result<Option<Duration>> {
        let left: i64 = self.conn.run(BLOCKED_FOR.key(limit_key(key)).arg(limit)).await?;
        Ok(u64::try_from(left).ok().map(Duration::from_millis))
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<u32> {
        let window_ms = window.as_millis().max(1) as u64;
        self.conn.run(HIT.key(limit_key(key)).arg(window_ms)).await
    }

    async fn reset(&self, key: &str) -> Result<()> {
        self.conn
            .query::<i64>(redis::cmd("DEL").arg(limit_key(key)))
            .await
            .map(drop)
    }

    async fn take(&self, key: &str, limit: u32, window: Duration) -> Result<Option<Duration>> {
        let left: i64 = self
            .conn
            .run(TAKE.key(limit_key(key)).arg(limit).arg(millis(window)))
            .await?;
        Ok(u64::try_from(left).ok().map(Duration::from_millis))
    }

    async fn give_back(&self, key: &str) -> Result<()> {
        self.conn.run::<i64>(&GIVE_BACK.key(limit_key(key))).await.map(drop)
    }

    async fn take_paced(
        &self,
        key: &str,
        free: u32,
        window: Duration,
        max_pause: Duration,
    ) -> Result<Option<Duration>> {
        let mut script = TAKE_PACED.key(limit_key(key));
        script.arg(free).arg(millis(window)).arg(millis(max_pause));
        let left: i64 = self.conn.run(&script).await?;
        Ok(u64::try_from(left).ok().map(Duration::from_millis))
    }

    async fn hold(&self, key: &str, holder: &str, weight: u64, capacity: u64, ttl: Duration) -> Result<bool> {
        let [until, weights] = hold_keys(key);
        let mut script = HOLD.key(until);
        script
            .key(weights)
            .arg(holder)
            .arg(weight)
            .arg(capacity)
            .arg(millis(ttl));
        let held: i64 = self.conn.run(&script).await?;
        Ok(held == 1)
    }

    async fn renew(&self, key: &str, holders: &[String], ttl: Duration) -> Result<()> {
        let [until, weights] = hold_keys(key);
        let mut script = RENEW.key(until);
        script.key(weights).arg(millis(ttl));
        for holder in holders {
            script.arg(holder);
        }
        self.conn.run::<i64>(&script).await.map(drop)
    }

    async fn release(&self, key: &str, holder: &str) -> Result<()> {
        let [until, weights] = hold_keys(key);
        let mut script = RELEASE.key(until);
        script.key(weights).arg(holder);
        self.conn.run::<i64>(&script).await.map(drop)
    }
}

/// The session cache shared by every instance, entries expiring after `ttl`.
#[derive(Clone)]
pub struct RedisSessionCache {
    conn: RedisConn,
    ttl: Duration,
}

impl RedisSessionCache {
    pub fn new(conn: RedisConn, ttl: Duration) -> Self {
        Self { conn, ttl }
    }
}

fn cache_key(key: &str) -> String {
    format!("plansmith:cache:{key}")
}

#[async_trait]
impl SessionCache for RedisSessionCache {
    async fn get(&self, key: &str) -> Result<Option<String>> {
        self.conn.query(redis::cmd("GET").arg(cache_key(key))).await
    }

    async fn put(&self, key: &str, value: String) -> Result<()> {
        let ttl_ms = self.ttl.as_millis().max(1) as u64;
        self.conn
            .query::<()>(redis::cmd("SET").arg(cache_key(key)).arg(value).arg("PX").arg(ttl_ms))
            .await
    }

    async fn invalidate(&self, key: &str) -> Result<()> {
        self.conn
            .query::<i64>(redis::cmd("DEL").arg(cache_key(key)))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_addresses_are_refused_before_connecting() {
        assert!(RedisTarget::Node("redis://127.0.0.1:6379".into()).validate().is_ok());
        assert!(
            RedisTarget::Node("rediss://cache.example.com:6380/0".into())
                .validate()
                .is_ok()
        );
        assert!(RedisTarget::Node("http://127.0.0.1:6379".into()).validate().is_err());
        assert!(RedisTarget::Node("redis://:not-a-port".into()).validate().is_err());
        assert!(RedisTarget::Cluster(vec![]).validate().is_err());
        let bad = RedisTarget::Cluster(vec!["redis://127.0.0.1:7000".into(), "nonsense".into()]).validate();
        assert!(bad.unwrap_err().contains("nonsense"));
    }
}
