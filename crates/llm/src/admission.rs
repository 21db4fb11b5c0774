//! Admission to a target: requests per minute and tokens per minute (token buckets with a
//! one-second burst; tokens are borrowed as an estimate and reconciled with real usage),
//! concurrent calls, and a bounded priority queue in front of them — paid plans before free,
//! first come first served within a class, and a per-user cap on concurrent calls so one user
//! cannot starve the others. A request that cannot get in within the maximum wait is refused
//! as busy, never left hanging.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u64>,
    pub max_concurrency: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// Waiting requests per target; beyond it new requests are refused at once.
    pub max_length: usize,
    pub max_wait: Duration,
    /// Calls one user may have running on one target at once.
    pub per_user_concurrency: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            max_length: 1000,
            max_wait: Duration::from_secs(30),
            per_user_concurrency: 2,
        }
    }
}

/// Who is asking, for priority and fairness.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Groups a user's calls for the per-user cap.
    pub user: String,
    /// Paid plans go first.
    pub paid: bool,
    /// Identifies the waiting request (the reply), for its queue position.
    pub ticket: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model provider is busy; try again in {} s", retry_after.as_secs().max(1))]
pub struct Busy {
    pub retry_after: Duration,
}

struct Bucket {
    capacity: f64,
    per_second: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: f64) -> Self {
        let per_second = per_minute / 60.0;
        let capacity = per_second.max(1.0);
        Self {
            capacity,
            per_second,
            level: capacity,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        self.level = (self.level + now.duration_since(self.at).as_secs_f64() * self.per_second).min(self.capacity);
        self.at = now;
    }

    /// Time until `amount` is available (zero when it is now).
    fn wait_for(&self, amount: f64) -> Duration {
        let missing = amount.min(self.capacity) - self.level;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / self.per_second)
        }
    }
}

struct Waiter {
    caller: Caller,
    tokens: u64,
    grant: oneshot::Sender<()>,
}

#[derive(Default)]
struct State {
    in_flight: u32,
    per_user: HashMap<String, u32>,
    /// (class, arrival) → waiter: class 0 = paid, 1 = free.
    waiting: BTreeMap<(u8, u64), Waiter>,
    arrivals: u64,
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    wake_scheduled: bool,
}

pub struct Admission {
    limits: Limits,
    queue: QueueSettings,
    state: Mutex<State>,
    me: Weak<Admission>,
}

/// A granted call; dropping it frees the slot.
pub struct Permit {
    admission: Arc<Admission>,
    user: String,
    borrowed: u64,
}

impl Permit {
    /// Corrects the borrowed token estimate with the real usage.
    pub fn reconcile(&mut self, used_tokens: u64) {
        let mut state = self.admission.state.lock().expect("admission lock");
        if let Some(bucket) = state.tokens.as_mut() {
            bucket.refill(Instant::now());
            bucket.level = (bucket.level + self.borrowed as f64 - used_tokens as f64).min(bucket.capacity);
        }
        self.borrowed = used_tokens;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.admission.state.lock().expect("admission lock");
        state.release(&self.user);
        self.admission.dispatch(&mut state);
    }
}

/// A request in the queue. Dropping it before it becomes a permit (the wait ran out, or the
/// caller went away) withdraws it, or gives back what was granted meanwhile.
struct Ticket {
    admission: Arc<Admission>,
    key: (u8, u64),
    user: String,
    tokens: u64,
    granted: oneshot::Receiver<()>,
    /// Set once the grant became a `Permit`, which then owns the slot.
    taken: bool,
}

impl Ticket {
    fn into_permit(mut self) -> Permit {
        self.taken = true;
        Permit {
            admission: Arc::clone(&self.admission),
            user: std::mem::take(&mut self.user),
            borrowed: self.tokens,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        let mut state = self.admission.state.lock().expect("admission lock");
        // Still waiting: withdrawn, which may let others in (it may have held up the queue).
        // Otherwise `dispatch` granted it, under this lock and while `granted` was open, so
        // the slot, the request and the borrowed tokens are counted and come back here.
        if state.waiting.remove(&self.key).is_none() {
            state.release(&self.user);
            if let Some(bucket) = state.requests.as_mut() {
                bucket.level = (bucket.level + 1.0).min(bucket.capacity);
            }
            if let Some(bucket) = state.tokens.as_mut() {
                bucket.level = (bucket.level + self.tokens as f64).min(bucket.capacity);
            }
        }
        self.admission.dispatch(&mut state);
    }
}

impl State {
    /// Frees a slot of `user`.
    fn release(&mut self, user: &str) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(n) = self.per_user.get_mut(user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_user.remove(user);
            }
        }
    }
}

impl Admission {
    pub fn new(limits: Limits, queue: QueueSettings) -> Arc<Self> {
        let state = State {
            requests: limits.requests_per_minute.map(|r| Bucket::new(f64::from(r))),
            tokens: limits.tokens_per_minute.map(|t| Bucket::new(t as f64)),
            ..State::default()
        };
        Arc::new_cyclic(|me| Self {
            limits,
            queue,
            state: Mutex::new(state),
            me: me.clone(),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Requests waiting now.
    pub fn depth(&self) -> usize {
        self.state.lock().expect("admission lock").waiting.len()
    }

    /// Whether a new request would be refused at once.
    pub fn is_full(&self) -> bool {
        self.depth() >= self.queue.max_length
    }

    /// 1-based position of a waiting request (by its ticket), if it is waiting.
    pub fn position(&self, ticket: &str) -> Option<usize> {
        let state = self.state.lock().expect("admission lock");
        state
            .waiting
            .values()
            .position(|w| w.caller.ticket == ticket)
            .map(|i| i + 1)
    }

    /// Waits for a slot, in priority order, at most the maximum wait. A slot granted just as
    /// the wait runs out, or after the caller stopped waiting (dropped this future), is given
    /// back with its tokens.
    pub async fn acquire(self: &Arc<Self>, caller: Caller, tokens: u64) -> Result<Permit, Busy> {
        let mut ticket = {
            let mut state = self.state.lock().expect("admission lock");
            if state.waiting.len() >= self.queue.max_length {
                return Err(Busy {
                    retry_after: self.queue.max_wait,
                });
            }
            let (tx, rx) = oneshot::channel();
            state.arrivals += 1;
            let key = (u8::from(!caller.paid), state.arrivals);
            let ticket = Ticket {
                admission: Arc::clone(self),
                key,
                user: caller.user.clone(),
                tokens,
                granted: rx,
                taken: false,
            };
            state.waiting.insert(
                key,
                Waiter {
                    caller,
                    tokens,
                    grant: tx,
                },
            );
            self.dispatch(&mut state);
            ticket
        };
        match tokio::time::timeout(self.queue.max_wait, &mut ticket.granted).await {
            Ok(Ok(())) => Ok(ticket.into_permit()),
            // The ticket is dropped here: withdrawn, or a grant that came too late given back.
            _ => Err(Busy {
                retry_after: self.queue.max_wait,
            }),
        }
    }

    /// Grants waiting requests, in order, while limits allow.
    fn dispatch(&self, state: &mut State) {
        let now = Instant::now();
        if let Some(b) = state.requests.as_mut() {
            b.refill(now);
        }
        if let Some(b) = state.tokens.as_mut() {
            b.refill(now);
        }
        let mut wake_in: Option<Duration> = None;
        let keys: Vec<(u8, u64)> = state.waiting.keys().copied().collect();
        for key in keys {
            if self.limits.max_concurrency.is_some_and(|max| state.in_flight >= max) {
                break;
            }
            let waiter = &state.waiting[&key];
            let user_busy = state.per_user.get(&waiter.caller.user).copied().unwrap_or(0);
            if user_busy >= self.queue.per_user_concurrency {
                continue; // this user waits; others behind may go
            }
            let need_tokens = waiter.tokens as f64;
            let wait = state.requests.as_ref().map_or(Duration::ZERO, |b| b.wait_for(1.0)).max(
                state
                    .tokens
                    .as_ref()
                    .map_or(Duration::ZERO, |b| b.wait_for(need_tokens)),
            );
            if !wait.is_zero() {
                wake_in = Some(wait);
                break; // keep the order: nobody overtakes a request that waits for the rate
            }
            let waiter = state.waiting.remove(&key).expect("key listed above");
            // A waiter's ticket withdraws it under this lock before the receiver goes, so the
            // send only fails if that invariant breaks; then nothing is counted.
            if waiter.grant.send(()).is_err() {
                continue;
            }
            if let Some(b) = state.requests.as_mut() {
                b.level -= 1.0;
            }
            if let Some(b) = state.tokens.as_mut() {
                b.level -= need_tokens;
            }
            state.in_flight += 1;
            *state.per_user.entry(waiter.caller.user).or_default() += 1;
        }
        // A ticket may be dropped outside the runtime (at shutdown); nobody is left to wake then.
        if let Some(delay) = wake_in
            && !state.wake_scheduled
            && let Some(me) = self.me.upgrade()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            state.wake_scheduled = true;
            runtime.spawn(async move {
                tokio::time::sleep(delay).await;
                let mut state = me.state.lock().expect("admission lock");
                state.wake_scheduled = false;
                me.dispatch(&mut state);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user: &str, paid: bool, ticket: &str) -> Caller {
        Caller {
            user: user.into(),
            paid,
            ticket: ticket.into(),
        }
    }

    #[tokio::test]
    async fn paid_before_free_and_fifo_within_a_class() {
        let limits = Limits {
            max_concurrency: Some(1),
            ..Default::default()
        };
        let admission = Admission::new(limits, QueueSettings::default());
        let first = admission.acquire(caller("a", false, "t0"), 0).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, paid) in [("free1", false), ("free2", false), ("paid1", true), ("paid2", true)] {
            let (admission, order) = (Arc::clone(&admission), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let permit = admission.acquire(caller(name, paid, name), 0).await.unwrap();
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(permit);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(admission.position("free1"), Some(3));
        assert_eq!(admission.position("paid1"), Some(1));
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["paid1", "paid2", "free1", "free2"]);
    }

    #[tokio::test]
    async fn one_user_cannot_take_every_slot() {
        let limits = Limits {
            max_concurrency: Some(3),
            ..Default::default()
        };
        let queue = QueueSettings {
            per_user_concurrency: 1,
            ..Default::default()
        };
        let admission = Admission::new(limits, queue);
        let _mine = admission.acquire(caller("greedy", false, "1"), 0).await.unwrap();
        let greedy = {
            let admission = Arc::clone(&admission);
            tokio::spawn(async move { admission.acquire(caller("greedy", false, "2"), 0).await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let other = tokio::time::timeout(
            Duration::from_millis(100),
            admission.acquire(caller("other", false, "3"), 0),
        )
        .await;
        assert!(
            other.is_ok_and(|p| p.is_ok()),
            "another user gets in while the greedy one waits"
        );
        assert!(!greedy.is_finished());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_waits_are_bounded() {
        let limits = Limits {
            max_concurrency: Some(1),
            ..Default::default()
        };
        let queue = QueueSettings {
            max_length: 1,
            max_wait: Duration::from_millis(80),
            per_user_concurrency: 5,
        };
        let admission = Admission::new(limits, queue);
        let _held = admission.acquire(caller("a", false, "1"), 0).await.unwrap();
        let waiting = {
            let admission = Arc::clone(&admission);
            tokio::spawn(async move { admission.acquire(caller("b", false, "2"), 0).await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(admission.is_full());
        let started = Instant::now();
        assert!(admission.acquire(caller("c", false, "3"), 0).await.is_err());
        assert!(started.elapsed() < Duration::from_millis(20), "refused at once");
        assert!(waiting.await.unwrap().is_err(), "gave up after the maximum wait");
        assert_eq!(admission.depth(), 0);
    }

    #[tokio::test]
    async fn requests_per_minute_are_spread_out() {
        let limits = Limits {
            requests_per_minute: Some(600),
            ..Default::default()
        };
        let admission = Admission::new(
            limits,
            QueueSettings {
                per_user_concurrency: 100,
                ..Default::default()
            },
        );
        let started = Instant::now();
        let mut permits = Vec::new();
        for i in 0..30 {
            permits.push(
                admission
                    .acquire(caller(&format!("u{i}"), false, &i.to_string()), 0)
                    .await
                    .unwrap(),
            );
        }
        // 600/min = 10/s with a burst of 10: 30 grants need at least 2 s.
        assert!(
            started.elapsed() >= Duration::from_millis(1900),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn token_estimates_are_reconciled() {
        let limits = Limits {
            tokens_per_minute: Some(6000),
            ..Default::default()
        };
        let admission = Admission::new(
            limits,
            QueueSettings {
                per_user_concurrency: 100,
                ..Default::default()
            },
        );
        let mut permit = admission.acquire(caller("a", false, "1"), 100).await.unwrap();
        permit.reconcile(10);
        // The bucket holds 100 (one second of 6000/min); 90 came back, so 100 fit again at once.
        let started = Instant::now();
        let _again = admission.acquire(caller("b", false, "2"), 100).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(200));
    }

    /// The bucket level of a test admission, after refilling.
    fn tokens_left(admission: &Admission) -> f64 {
        let mut state = admission.state.lock().unwrap();
        let bucket = state.tokens.as_mut().unwrap();
        bucket.refill(Instant::now());
        bucket.level
    }

    #[tokio::test]
    async fn a_grant_to_a_request_that_stopped_waiting_is_given_back() {
        let limits = Limits {
            max_concurrency: Some(1),
            tokens_per_minute: Some(6000),
            ..Default::default()
        };
        let admission = Admission::new(limits, QueueSettings::default());
        let mut held = admission.acquire(caller("a", false, "1"), 10).await.unwrap();
        let mut waiting = Box::pin(admission.acquire(caller("b", false, "2"), 50));
        assert!(futures::poll!(&mut waiting).is_pending());
        held.reconcile(0);
        // The slot goes to "b" while it is not polled; it stops waiting (its wait ran out, or
        // its reply was abandoned) before it sees the grant.
        drop(held);
        drop(waiting);
        {
            let state = admission.state.lock().unwrap();
            assert_eq!(state.in_flight, 0, "the slot is free again");
            assert!(state.per_user.is_empty());
            assert!(state.waiting.is_empty());
        }
        assert!(
            tokens_left(&admission) > 99.0,
            "{} tokens left",
            tokens_left(&admission)
        );
        let next = tokio::time::timeout(
            Duration::from_millis(100),
            admission.acquire(caller("c", false, "3"), 100),
        )
        .await;
        assert!(
            next.is_ok_and(|p| p.is_ok()),
            "the next request gets the slot and the tokens"
        );
    }

    #[tokio::test]
    async fn a_request_that_stops_waiting_leaves_the_queue_at_once() {
        let limits = Limits {
            max_concurrency: Some(1),
            tokens_per_minute: Some(6000),
            ..Default::default()
        };
        let admission = Admission::new(limits, QueueSettings::default());
        let held = admission.acquire(caller("a", false, "1"), 10).await.unwrap();
        let mut waiting = Box::pin(admission.acquire(caller("b", false, "2"), 50));
        assert!(futures::poll!(&mut waiting).is_pending());
        assert_eq!(admission.position("2"), Some(1));
        drop(waiting);
        assert_eq!(admission.depth(), 0);
        assert_eq!(admission.position("2"), None);
        drop(held);
        // Nobody was granted anything for the abandoned request.
        assert!(
            tokens_left(&admission) >= 90.0,
            "{} tokens left",
            tokens_left(&admission)
        );
        assert_eq!(admission.state.lock().unwrap().in_flight, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_waits_and_releases_leave_nothing_behind() {
        let limits = Limits {
            max_concurrency: Some(2),
            tokens_per_minute: Some(6_000_000),
            ..Default::default()
        };
        let queue = QueueSettings {
            max_wait: Duration::from_millis(1),
            per_user_concurrency: 100,
            ..Default::default()
        };
        let admission = Admission::new(limits, queue);
        let tasks: Vec<_> = (0..400)
            .map(|i| {
                let admission = Arc::clone(&admission);
                tokio::spawn(async move {
                    if let Ok(mut permit) = admission.acquire(caller(&format!("u{}", i % 7), false, "t"), 10).await {
                        tokio::task::yield_now().await;
                        permit.reconcile(10);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let state = admission.state.lock().unwrap();
        assert_eq!(state.in_flight, 0);
        assert!(state.per_user.is_empty(), "{:?}", state.per_user);
        assert!(state.waiting.is_empty());
    }
}
