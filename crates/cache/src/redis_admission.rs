//! The model admission limits of a target shared by every instance: its requests-per-minute
//! and tokens-per-minute buckets, its concurrency slots and its users' slots live in Redis and
//! change only in Lua scripts, which read the clock of Redis (`TIME`), never an instance's.
//!
//! Keys of target `T`, all in one Cluster slot (hash tag `{T}`):
//! - `plansmith:admission:{T}:requests`, `…:tokens` — buckets, hashes of `level` and `at`
//!   (milliseconds); forgotten once they would be full again (a missing bucket is full);
//! - `plansmith:admission:{T}:slots` — running calls, a sorted set of lease ids scored by when
//!   the lease expires;
//! - `plansmith:admission:{T}:user:<user>` — the same for one user's calls.
//!
//! A running call renews its lease every third of the lease time; a lease not renewed (its
//! instance died) is dropped by the next script that looks at the set, so its slot comes back.

use crate::on_redis::RedisConn;
use async_trait::async_trait;
use plansmith_llm::{AdmissionBackend, AdmissionUsage, Lease, Rules, Take, Unavailable};
use redis::Script;
use std::sync::LazyLock;
use std::time::Duration;

/// Shared by the scripts: Redis's clock, the buckets and the lease sets.
const PRELUDE: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end

-- A bucket of `per_minute` with a one-second burst (at least 1), refilled up to `now`.
local function bucket(key, per_minute, now)
  local b = { key = key, per_ms = per_minute / 60000, capacity = math.max(per_minute / 60, 1) }
  local saved = redis.call('HMGET', key, 'level', 'at')
  local level, at = tonumber(saved[1]), tonumber(saved[2])
  if level == nil or at == nil then
    b.level = b.capacity
  else
    b.level = math.min(b.capacity, level + math.max(0, now - at) * b.per_ms)
  end
  return b
end

-- Milliseconds until `amount` is in the bucket (0: now).
local function wait_for(b, amount)
  local missing = math.min(amount, b.capacity) - b.level
  if missing <= 0 then return 0 end
  if b.per_ms <= 0 then return 60000 end
  return missing / b.per_ms
end

-- Saves a bucket; it is forgotten once it would be full again.
local function save(b, now)
  b.level = math.min(b.level, b.capacity)
  redis.call('HSET', b.key, 'level', string.format('%.6f', b.level), 'at', string.format('%.3f', now))
  local full_in = 60000
  if b.per_ms > 0 then full_in = math.ceil((b.capacity - b.level) / b.per_ms) end
  redis.call('PEXPIRE', b.key, full_in + 1000)
end

-- A lease set lives as long as its longest lease.
local function extend(key, lease)
  if redis.call('PTTL', key) < lease then redis.call('PEXPIRE', key, lease) end
end

-- Milliseconds until the earliest lease of a set expires.
local function next_expiry(key, now)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] == nil then return 0 end
  return math.max(0, math.ceil(tonumber(first[2]) - now))
end
";

/// KEYS: requests, tokens, slots, the user's slots. ARGV: requests per minute, tokens per
/// minute, max concurrency (each -1 for no limit), per-user cap, tokens, lease id, lease ms.
/// Returns {0, 0} granted, {1, ms} full, {2, ms} the user is at the cap (ms: until the earliest
/// lease expires), {3, ms} the buckets refill within ms.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{PRELUDE}
local now = now_ms()
local rpm, tpm, max_slots, per_user = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local need, id, lease = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
if max_slots >= 0 and redis.call('ZCARD', KEYS[3]) >= max_slots then
  return {{1, next_expiry(KEYS[3], now)}}
end
if redis.call('ZCARD', KEYS[4]) >= per_user then
  return {{2, next_expiry(KEYS[4], now)}}
end
local requests, tokens
local wait = 0
if rpm >= 0 then
  requests = bucket(KEYS[1], rpm, now)
  wait = math.max(wait, wait_for(requests, 1))
end
if tpm >= 0 then
  tokens = bucket(KEYS[2], tpm, now)
  wait = math.max(wait, wait_for(tokens, need))
end
if wait > 0 then return {{3, math.ceil(wait)}} end
if requests then
  requests.level = requests.level - 1
  save(requests, now)
end
if tokens then
  tokens.level = tokens.level - need
  save(tokens, now)
end
redis.call('ZADD', KEYS[3], now + lease, id)
extend(KEYS[3], lease)
redis.call('ZADD', KEYS[4], now + lease, id)
extend(KEYS[4], lease)
return {{0, 0}}
"
    ))
});

/// KEYS as for TAKE. ARGV: lease id to free ('' for none), requests per minute, tokens per
/// minute (-1: no limit), requests and tokens to give back (tokens may be negative).
static GIVE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{PRELUDE}
local now = now_ms()
if ARGV[1] ~= '' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
end
local rpm, tpm = tonumber(ARGV[2]), tonumber(ARGV[3])
local requests, tokens = tonumber(ARGV[4]), tonumber(ARGV[5])
if rpm >= 0 and requests ~= 0 then
  local b = bucket(KEYS[1], rpm, now)
  b.level = b.level + requests
  save(b, now)
end
if tpm >= 0 and tokens ~= 0 then
  local b = bucket(KEYS[2], tpm, now)
  b.level = b.level + tokens
  save(b, now)
end
return 1
"
    ))
});

/// KEYS: slots, the user's slots. ARGV: lease id, lease ms. Returns how many of the two still
/// held the lease (an expired one is not brought back).
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{PRELUDE}
local now = now_ms()
local lease = tonumber(ARGV[2])
local held = 0
for i = 1, 2 do
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) then
    redis.call('ZADD', KEYS[i], now + lease, ARGV[1])
    extend(KEYS[i], lease)
    held = held + 1
  end
end
return held
"
    ))
});

/// KEYS as for TAKE. ARGV: requests per minute, tokens per minute (-1: no limit). Returns
/// {running calls, the user's, requests left or '', tokens left or ''}.
static USAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{PRELUDE}
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local requests, tokens = '', ''
if rpm >= 0 then requests = string.format('%.6f', bucket(KEYS[1], rpm, now).level) end
if tpm >= 0 then tokens = string.format('%.6f', bucket(KEYS[2], tpm, now).level) end
return {{redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), requests, tokens}}
"
    ))
});

/// One target's admission limits in Redis, shared with every instance that names the target
/// the same.
#[derive(Clone)]
pub struct RedisAdmission {
    conn: RedisConn,
    /// `plansmith:admission:{target}`.
    prefix: String,
    lease: Duration,
    poll: Duration,
}

impl RedisAdmission {
    /// How long a grant holds its slots without being renewed: how long the slots of a call
    /// whose instance died stay taken.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

    /// How soon a request refused asks again at the latest: slots freed and tokens given back
    /// on other instances are not announced.
    pub const DEFAULT_POLL: Duration = Duration::from_millis(100);

    pub fn new(conn: RedisConn, target: &str) -> Self {
        // Every key of the target in one Cluster slot; an empty name would make no hash tag.
        let tag = if target.is_empty() { "_" } else { target };
        Self {
            conn,
            prefix: format!("plansmith:admission:{{{tag}}}"),
            lease: Self::DEFAULT_LEASE,
            poll: Self::DEFAULT_POLL,
        }
    }

    /// Leases of this length (renewed every third of it); short ones for tests.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }

    fn keys<'a>(&self, script: &'a Script, user: &str) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(format!("{}:requests", self.prefix))
            .key(format!("{}:tokens", self.prefix))
            .key(format!("{}:slots", self.prefix))
            .key(format!("{}:user:{user}", self.prefix));
        invocation
    }

    /// When to ask again about slots: when the earliest lease expires, at most after `poll`.
    fn retry_in(&self, ms: i64) -> Option<Duration> {
        let ms = u64::try_from(ms).unwrap_or(0);
        Some(Duration::from_millis(ms).clamp(Duration::from_millis(5), self.poll))
    }
}

fn limit<T: Into<i64>>(value: Option<T>) -> i64 {
    value.map_or(-1, Into::into)
}

fn tokens_limit(rules: &Rules) -> i64 {
    limit(
        rules
            .limits
            .tokens_per_minute
            .map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
    )
}

fn unavailable(e: crate::CacheError) -> Unavailable {
    Unavailable(e.to_string())
}

#[async_trait]
impl AdmissionBackend for RedisAdmission {
    async fn take(&self, rules: &Rules, user: &str, tokens: u64) -> Result<Take, Unavailable> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let mut invocation = self.keys(&TAKE, user);
        invocation
            .arg(limit(rules.limits.requests_per_minute))
            .arg(tokens_limit(rules))
            .arg(limit(rules.limits.max_concurrency))
            .arg(rules.per_user)
            .arg(tokens)
            .arg(&id)
            .arg(self.lease.as_millis() as u64);
        let (outcome, ms): (i64, i64) = self.conn.run(&invocation).await.map_err(unavailable)?;
        Ok(match outcome {
            0 => Take::Granted(Lease {
                id,
                user: user.to_owned(),
            }),
            1 => Take::Full {
                retry_in: self.retry_in(ms),
            },
            2 => Take::UserBusy {
                retry_in: self.retry_in(ms),
            },
            // Tokens given back on another instance are seen the next time this one asks.
            _ => Take::Wait(Duration::from_millis(u64::try_from(ms).unwrap_or(0).max(1)).min(self.poll)),
        })
    }

    async fn release(&self, rules: &Rules, lease: &Lease, unused: Option<u64>) -> Result<(), Unavailable> {
        let (requests, tokens) = unused.map_or((0, 0), |t| (1, i64::try_from(t).unwrap_or(i64::MAX)));
        let mut invocation = self.keys(&GIVE_BACK, &lease.user);
        invocation
            .arg(&lease.id)
            .arg(limit(rules.limits.requests_per_minute))
            .arg(tokens_limit(rules))
            .arg(requests)
            .arg(tokens);
        self.conn.run::<i64>(&invocation).await.map(drop).map_err(unavailable)
    }

    async fn adjust_tokens(&self, rules: &Rules, lease: &Lease, delta: i64) -> Result<(), Unavailable> {
        let mut invocation = self.keys(&GIVE_BACK, &lease.user);
        invocation.arg("").arg(-1).arg(tokens_limit(rules)).arg(0).arg(delta);
        self.conn.run::<i64>(&invocation).await.map(drop).map_err(unavailable)
    }

    fn renew_every(&self) -> Option<Duration> {
        Some(self.lease / 3)
    }

    async fn renew(&self, lease: &Lease) -> Result<bool, Unavailable> {
        let mut invocation = RENEW.prepare_invoke();
        invocation
            .key(format!("{}:slots", self.prefix))
            .key(format!("{}:user:{}", self.prefix, lease.user))
            .arg(&lease.id)
            .arg(self.lease.as_millis() as u64);
        let held: i64 = self.conn.run(&invocation).await.map_err(unavailable)?;
        Ok(held == 2)
    }

    async fn usage(&self, rules: &Rules, user: &str) -> Result<AdmissionUsage, Unavailable> {
        let mut invocation = self.keys(&USAGE, user);
        invocation
            .arg(limit(rules.limits.requests_per_minute))
            .arg(tokens_limit(rules));
        let (in_flight, user_in_flight, requests, tokens): (u32, u32, String, String) =
            self.conn.run(&invocation).await.map_err(unavailable)?;
        Ok(AdmissionUsage {
            in_flight,
            user_in_flight,
            requests: requests.parse().ok(),
            tokens: tokens.parse().ok(),
        })
    }
}
