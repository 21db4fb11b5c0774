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
    /// Takes one of the `limit` attempts `key` has per window (the first attempt starts a
    /// window of `window`), checking and counting in one step, so that concurrent attempts
    /// cannot all pass: `None` when taken, or how long until the window ends.
    async fn take(&self, key: &str, limit: u32, window: Duration) -> crate::Result<Option<Duration>>;
    /// Returns one attempt taken with [`take`](Self::take) or [`take_paced`](Self::take_paced)
    /// that should not count (e.g. a sign-in that succeeded), with the pause it started.
    async fn give_back(&self, key: &str) -> crate::Result<()>;
    /// Attempts with a growing pause: the first `free` in a window go at once; after them each
    /// must wait for a pause since the one before it, one second doubling with every attempt up
    /// to `max_pause`. `None` when taken, or how long until the next attempt may go.
    async fn take_paced(
        &self,
        key: &str,
        free: u32,
        window: Duration,
        max_pause: Duration,
    ) -> crate::Result<Option<Duration>>;
    /// Holds `weight` of `key`'s `capacity` for `holder` until [`release`](Self::release),
    /// or until `ttl` passes without a [`renew`](Self::renew), so that the holds of an
    /// instance that died come back by themselves. `false` (nothing held) when the live holds
    /// and `weight` together would exceed `capacity`. Holding again under the same holder
    /// replaces its weight.
    async fn hold(&self, key: &str, holder: &str, weight: u64, capacity: u64, ttl: Duration) -> crate::Result<bool>;
    /// Extends the holds of `holder` on `key` to `ttl` from now (holds that lapsed stay gone).
    async fn renew(&self, key: &str, holders: &[String], ttl: Duration) -> crate::Result<()>;
    async fn release(&self, key: &str, holder: &str) -> crate::Result<()>;
}

/// The pause after the `n`th attempt (from 1) when `free` attempts go at once.
pub fn pause_after(n: u32, free: u32, max_pause: Duration) -> Duration {
    match n.checked_sub(free) {
        None => Duration::ZERO,
        Some(extra) => Duration::from_secs(1u64 << extra.min(30)).min(max_pause),
    }
}

/// A key's window: when it ends, the attempts counted in it, and (for paced keys) when the
/// next attempt may go.
struct Window {
    ends: Instant,
    count: u32,
    next: Instant,
}

#[derive(Default)]
pub struct InProcessRateLimiter {
    windows: Mutex<HashMap<String, Window>>,
    holds: Mutex<HashMap<String, KeyHolds>>,
}

/// A key's holds: per holder, its weight and when it lapses.
type KeyHolds = HashMap<String, (u64, Instant)>;

const PRUNE_ABOVE: usize = 100_000;

impl InProcessRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` on `key`'s running window (a new one of `window` when none runs).
    fn with_window<T>(&self, key: &str, window: Duration, f: impl FnOnce(&mut Window, Instant) -> T) -> T {
        let mut windows = self.windows.lock().expect("limiter lock");
        let now = Instant::now();
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, w| w.ends > now);
        }
        let fresh = || Window {
            ends: now + window,
            count: 0,
            next: now,
        };
        let entry = windows.entry(key.to_owned()).or_insert_with(fresh);
        if entry.ends <= now {
            *entry = fresh();
        }
        f(entry, now)
    }
}

#[async_trait]
impl RateLimiter for InProcessRateLimiter {
    async fn blocked_for(&self, key: &str, limit: u32) -> crate::Result<Option<Duration>> {
        let windows = self.windows.lock().expect("limiter lock");
        let now = Instant::now();
        Ok(windows
            .get(key)
            .filter(|w| w.ends > now && w.count >= limit)
            .map(|w| w.ends - now))
    }

    async fn hit(&self, key: &str, window: Duration) -> crate::Result<u32> {
        Ok(self.with_window(key, window, |w, _| {
            w.count += 1;
            w.count
        }))
    }

    async fn reset(&self, key: &str) -> crate::Result<()> {
        self.windows.lock().expect("limiter lock").remove(key);
        Ok(())
    }

    async fn take(&self, key: &str, limit: u32, window: Duration) -> crate::Result<Option<Duration>> {
        Ok(self.with_window(key, window, |w, now| {
            if w.count >= limit {
                return Some(w.ends - now);
            }
            w.count += 1;
            None
        }))
    }

    async fn give_back(&self, key: &str) -> crate::Result<()> {
        if let Some(w) = self.windows.lock().expect("limiter lock").get_mut(key) {
            w.count = w.count.saturating_sub(1);
            w.next = w.next.min(Instant::now());
        }
        Ok(())
    }

    async fn take_paced(
        &self,
        key: &str,
        free: u32,
        window: Duration,
        max_pause: Duration,
    ) -> crate::Result<Option<Duration>> {
        Ok(self.with_window(key, window, |w, now| {
            if now < w.next {
                return Some(w.next - now);
            }
            w.count += 1;
            w.next = now + pause_after(w.count, free, max_pause);
            None
        }))
    }

    async fn hold(&self, key: &str, holder: &str, weight: u64, capacity: u64, ttl: Duration) -> crate::Result<bool> {
        let mut holds = self.holds.lock().expect("holds lock");
        let now = Instant::now();
        let key_holds = holds.entry(key.to_owned()).or_default();
        key_holds.retain(|_, (_, until)| *until > now);
        let others: u64 = key_holds
            .iter()
            .filter(|(h, _)| h.as_str() != holder)
            .map(|(_, (w, _))| *w)
            .sum();
        if others.saturating_add(weight) > capacity {
            if key_holds.is_empty() {
                holds.remove(key);
            }
            return Ok(false);
        }
        key_holds.insert(holder.to_owned(), (weight, now + ttl));
        Ok(true)
    }

    async fn renew(&self, key: &str, holders: &[String], ttl: Duration) -> crate::Result<()> {
        let mut holds = self.holds.lock().expect("holds lock");
        let now = Instant::now();
        if let Some(key_holds) = holds.get_mut(key) {
            for holder in holders {
                if let Some((_, until)) = key_holds.get_mut(holder)
                    && *until > now
                {
                    *until = now + ttl;
                }
            }
        }
        Ok(())
    }

    async fn release(&self, key: &str, holder: &str) -> crate::Result<()> {
        let mut holds = self.holds.lock().expect("holds lock");
        if let Some(key_holds) = holds.get_mut(key) {
            key_holds.remove(holder);
            if key_holds.is_empty() {
                holds.remove(key);
            }
        }
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
