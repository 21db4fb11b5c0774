//! Fixed-window counters for rate limiting (e.g. failed sign-ins per account and per address).

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// When `key` has reached `limit` hits in its current window: how long until it resets.
    async fn blocked_for(&self, key: &str, limit: u32) -> crate::Result<Option<Duration>>;
    /// Counts one hit for `key`; a new window of `window` starts when none is running.
    async fn hit(&self, key: &str, window: Duration) -> crate::Result<u32>;
    async fn reset(&self, key: &str) -> crate::Result<()>;
}

#[derive(Default)]
pub struct InProcessRateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

const PRUNE_ABOVE: usize = 100_000;

impl InProcessRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RateLimiter for InProcessRateLimiter {
    async fn blocked_for(&self, key: &str, limit: u32) -> crate::Result<Option<Duration>> {
        let windows = self.windows.lock().expect("limiter lock");
        let now = Instant::now();
        Ok(windows
            .get(key)
            .filter(|(ends, count)| *ends > now && *count >= limit)
            .map(|(ends, _)| *ends - now))
    }

    async fn hit(&self, key: &str, window: Duration) -> crate::Result<u32> {
        let mut windows = self.windows.lock().expect("limiter lock");
        let now = Instant::now();
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (ends, _)| *ends > now);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now + window, 0));
        if entry.0 <= now {
            *entry = (now + window, 0);
        }
        entry.1 += 1;
        Ok(entry.1)
    }

    async fn reset(&self, key: &str) -> crate::Result<()> {
        self.windows.lock().expect("limiter lock").remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocks_at_the_limit_until_the_window_ends() {
        let limiter = InProcessRateLimiter::new();
        let window = Duration::from_millis(60);
        for _ in 0..3 {
            assert!(limiter.blocked_for("k", 3).await.unwrap().is_none());
            limiter.hit("k", window).await.unwrap();
        }
        let wait = limiter.blocked_for("k", 3).await.unwrap().expect("blocked");
        assert!(wait <= window);
        assert!(limiter.blocked_for("other", 3).await.unwrap().is_none());
        tokio::time::sleep(window).await;
        assert!(limiter.blocked_for("k", 3).await.unwrap().is_none());
    }
}
