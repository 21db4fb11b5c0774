//! Shared short-lived state behind small interfaces: the reply stream log, the session cache
//! and rate-limit counters, with in-process implementations for the embedded mode and Redis
//! implementations (one node or a Cluster) for the scaled-out mode — and, on Redis, the model
//! admission limits (`RedisAdmission`, implementing `plansmith-llm`'s `AdmissionBackend`). The
//! log holds the domain's `ReplyEvent`s, numbered; this crate knows nothing of HTTP, SQL or
//! planning.

mod limiter;
mod on_redis;
mod redis_admission;
mod redis_stream_log;
mod session_cache;
mod stream_log;

pub use limiter::{InProcessRateLimiter, RateLimiter, pause_after};
pub use on_redis::{RedisConn, RedisRateLimiter, RedisSessionCache, RedisTarget};
pub use redis_admission::RedisAdmission;
pub use redis_stream_log::{PayloadSeal, RedisStreamLog};
pub use session_cache::{InProcessSessionCache, SessionCache};
pub use stream_log::{EventStream, InProcessStreamLog, StreamEvent, StreamLog};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// A reply's stream log vanished while it was written (evicted, or Redis restarted empty).
    #[error("the reply's stream log is gone (evicted, or Redis restarted without it)")]
    LogLost,
}

pub type Result<T> = std::result::Result<T, CacheError>;
