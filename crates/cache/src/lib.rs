//! Shared short-lived state behind small interfaces: the reply stream log, the session cache
//! and rate-limit counters. This crate has the in-process implementations, which serve the
//! embedded mode; the scaled-out mode will add Redis implementations of the same traits (not
//! built yet). The log holds the domain's `ReplyEvent`s, numbered; this crate knows nothing of
//! HTTP, SQL or planning.

mod limiter;
mod on_redis;
mod redis_stream_log;
mod session_cache;
mod stream_log;

pub use limiter::{InProcessRateLimiter, RateLimiter};
pub use on_redis::{RedisConn, RedisRateLimiter, RedisSessionCache, RedisTarget};
pub use redis_stream_log::RedisStreamLog;
pub use session_cache::{InProcessSessionCache, SessionCache};
pub use stream_log::{EventStream, InProcessStreamLog, StreamEvent, StreamLog};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T> = std::result::Result<T, CacheError>;
