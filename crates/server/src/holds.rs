//! Per-user caps on things that stay open for a while (reply streams, replies waiting for the
//! agent): each open thing holds a share of its user's capacity in the shared limiter (Redis
//! when instances share state) for as long as it lives. The holds of this instance are renewed
//! together every third of their lifetime; when the instance dies they lapse, so a crashed
//! instance's streams do not count against their users for ever.

use plansmith_cache::{CacheError, RateLimiter};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How long a hold lasts without renewal.
const HOLD_TTL: Duration = Duration::from_secs(30);

pub struct Holds {
    limiter: Arc<dyn RateLimiter>,
    /// This instance's live holds: key → holders.
    held: Mutex<HashMap<String, HashSet<String>>>,
}

/// Logs a cap that could not be checked because the shared limiter is unreachable (Redis
/// down). Caps whose refusal would stop what works without Redis (reading streams, the
/// request rate, sign-ups) let the request go on unlimited meanwhile.
pub fn unchecked(cap: &str, error: &CacheError) {
    tracing::warn!(cap, %error, "a limit could not be checked (shared state unreachable); the request goes on without it");
}

/// One held share; dropping it gives the share back.
pub struct Hold {
    holds: Arc<Holds>,
    key: String,
    holder: String,
}

impl Holds {
    /// Holds that a task renews until the last reference to them is gone.
    pub fn start(limiter: Arc<dyn RateLimiter>) -> Arc<Self> {
        let holds = Arc::new(Self {
            limiter,
            held: Mutex::new(HashMap::new()),
        });
        tokio::spawn(keep(Arc::downgrade(&holds)));
        holds
    }

    /// Holds `weight` of `key`'s `capacity`, or `None` when the holds already there leave no
    /// room for it.
    pub async fn take(self: &Arc<Self>, key: String, weight: u64, capacity: u64) -> Result<Option<Hold>, CacheError> {
        let holder = uuid::Uuid::now_v7().simple().to_string();
        if !self.limiter.hold(&key, &holder, weight, capacity, HOLD_TTL).await? {
            return Ok(None);
        }
        self.held
            .lock()
            .expect("holds lock")
            .entry(key.clone())
            .or_default()
            .insert(holder.clone());
        Ok(Some(Hold {
            holds: Arc::clone(self),
            key,
            holder,
        }))
    }

    async fn renew_all(&self) {
        let held: Vec<(String, Vec<String>)> = self
            .held
            .lock()
            .expect("holds lock")
            .iter()
            .map(|(key, holders)| (key.clone(), holders.iter().cloned().collect()))
            .collect();
        for (key, holders) in held {
            if let Err(e) = self.limiter.renew(&key, &holders, HOLD_TTL).await {
                tracing::warn!(key, error = %e, "per-user holds not renewed; they lapse unless the next renewal succeeds");
            }
        }
    }
}

/// Renews every hold every third of its lifetime while the holds exist.
async fn keep(holds: Weak<Holds>) {
    let mut every = tokio::time::interval(HOLD_TTL / 3);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(holds) = holds.upgrade() else { return };
        holds.renew_all().await;
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        {
            let mut held = self.holds.held.lock().expect("holds lock");
            if let Some(holders) = held.get_mut(&self.key) {
                holders.remove(&self.holder);
                if holders.is_empty() {
                    held.remove(&self.key);
                }
            }
        }
        let (limiter, key, holder) = (
            Arc::clone(&self.holds.limiter),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.holder),
        );
        // Not renewed any more, the hold lapses by itself if this release does not arrive.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = limiter.release(&key, &holder).await {
                        tracing::warn!(key, error = %e, "a per-user hold was not released; it lapses within 30 s");
                    }
                });
            }
            Err(_) => tracing::warn!(key, "a per-user hold dropped outside the runtime lapses within 30 s"),
        }
    }
}
