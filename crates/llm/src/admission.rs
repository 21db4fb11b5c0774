//! Admission to a target: requests per minute and tokens per minute (token buckets with a
//! one-second burst; tokens are borrowed as an estimate and reconciled with real usage),
//! concurrent calls, and a bounded priority queue in front of them — paid plans before free,
//! first come first served within a class, and a per-user cap on concurrent calls so one user
//! cannot starve the others. A request that cannot get in within the maximum wait is refused
//! as busy, never left hanging.
//!
//! The queue (its order and its bound) is always this process's own. What it waits for is
//! counted by an [`AdmissionBackend`]: in the process ([`InProcessAdmission`], the default), or
//! shared by every instance (the Redis backend in `plansmith-cache`), where a grant is a lease
//! on a concurrency slot and a slot of its user that a running call renews and that comes back
//! by itself when its holder dies. The queue's dispatcher asks the backend to take one request,
//! the estimated tokens, a concurrency slot and a user slot at once, and gets a grant or how
//! long to wait. With the in-process backend every step completes at once, inline, as part of
//! the arrival or release that caused it; with a remote one it runs in a task.

use async_trait::async_trait;
use futures::FutureExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
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

/// What a backend enforces for one target; passed with every call, so a backend needs no
/// configuration of its own.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub limits: Limits,
    /// Calls one user may have running on the target at once.
    pub per_user: u32,
}

/// A grant's hold on a concurrency slot and a slot of its user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    /// Unique among the target's grants.
    pub id: String,
    pub user: String,
}

/// A backend's answer to a request for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// One request, the tokens, a concurrency slot and a slot of the user were taken.
    Granted(Lease),
    /// Every concurrency slot is held. Ask again after `retry_in` (slots held elsewhere come
    /// back unseen), or, when it is `None`, when a slot is released here.
    Full { retry_in: Option<Duration> },
    /// The user holds all their slots (others may go); when to ask again as for `Full`.
    UserBusy { retry_in: Option<Duration> },
    /// The request or token bucket is short; it refills within this time.
    Wait(Duration),
}

/// The backend could not be asked (Redis unreachable): nothing was granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("admission limits unavailable: {0}")]
pub struct Unavailable(pub String);

/// What is held of a target's limits now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AdmissionUsage {
    /// Calls running (holding a concurrency slot), on every instance the backend counts.
    pub in_flight: u32,
    /// Calls of the user asked about.
    pub user_in_flight: u32,
    /// Requests left in the bucket; `None` without a requests-per-minute limit.
    pub requests: Option<f64>,
    /// Tokens left in the bucket (negative when calls used more than they borrowed); `None`
    /// without a tokens-per-minute limit.
    pub tokens: Option<f64>,
}

/// Where a target's limits are counted. `take` is all or nothing: a grant holds one request,
/// the borrowed tokens, a concurrency slot and a slot of its user.
#[async_trait]
pub trait AdmissionBackend: Send + Sync {
    async fn take(&self, rules: &Rules, user: &str, tokens: u64) -> Result<Take, Unavailable>;

    /// Frees a grant's slots. With `unused` (a grant nobody used, and its borrowed tokens) the
    /// request and the tokens come back too.
    async fn release(&self, rules: &Rules, lease: &Lease, unused: Option<u64>) -> Result<(), Unavailable>;

    /// Gives back `delta` borrowed tokens (negative: the call used more than it borrowed).
    async fn adjust_tokens(&self, rules: &Rules, lease: &Lease, delta: i64) -> Result<(), Unavailable>;

    /// How often a running call renews its lease; `None` when leases do not expire.
    fn renew_every(&self) -> Option<Duration> {
        None
    }

    /// Extends a running call's lease; `false` when it had already expired and is lost.
    async fn renew(&self, _lease: &Lease) -> Result<bool, Unavailable> {
        Ok(true)
    }

    /// Whether every call completes at once (in the process). Such a backend is called inline,
    /// even outside a runtime; any other only from tasks.
    fn is_immediate(&self) -> bool {
        false
    }

    /// Asks to have `wake` called whenever a slot is freed in this process, for backends that
    /// answer `retry_in: None`.
    fn notify_releases(&self, _wake: Weak<dyn Fn() + Send + Sync>) {}

    async fn usage(&self, rules: &Rules, user: &str) -> Result<AdmissionUsage, Unavailable>;
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
            // A limit of zero never refills: look again in a minute.
            Duration::try_from_secs_f64(missing / self.per_second).unwrap_or(Duration::from_secs(60))
        }
    }

    fn add(&mut self, amount: f64) {
        self.refill(Instant::now());
        self.level = (self.level + amount).min(self.capacity);
    }
}

/// The limits counted in this process: what one instance alone allows. Admissions that share
/// one share its limits.
#[derive(Default)]
pub struct InProcessAdmission {
    counts: Mutex<Counts>,
    listeners: Mutex<Vec<Weak<dyn Fn() + Send + Sync>>>,
}

#[derive(Default)]
struct Counts {
    in_flight: u32,
    per_user: HashMap<String, u32>,
    /// Made on first use, full.
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    leases: u64,
}

impl Counts {
    fn refill(&mut self, rules: &Rules) {
        let now = Instant::now();
        if let Some(rpm) = rules.limits.requests_per_minute {
            self.requests
                .get_or_insert_with(|| Bucket::new(f64::from(rpm)))
                .refill(now);
        }
        if let Some(tpm) = rules.limits.tokens_per_minute {
            self.tokens.get_or_insert_with(|| Bucket::new(tpm as f64)).refill(now);
        }
    }

    fn free(&mut self, user: &str) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(n) = self.per_user.get_mut(user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_user.remove(user);
            }
        }
    }
}

impl InProcessAdmission {
    pub fn new() -> Self {
        Self::default()
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().expect("admission counts lock")
    }

    fn released(&self) {
        let listeners: Vec<_> = {
            let mut listeners = self.listeners.lock().expect("admission listeners lock");
            listeners.retain(|l| l.strong_count() > 0);
            listeners.iter().filter_map(Weak::upgrade).collect()
        };
        for wake in listeners {
            wake();
        }
    }
}

#[async_trait]
impl AdmissionBackend for InProcessAdmission {
    async fn take(&self, rules: &Rules, user: &str, tokens: u64) -> Result<Take, Unavailable> {
        let mut counts = self.counts();
        counts.refill(rules);
        if rules.limits.max_concurrency.is_some_and(|max| counts.in_flight >= max) {
            return Ok(Take::Full { retry_in: None });
        }
        if counts.per_user.get(user).copied().unwrap_or(0) >= rules.per_user {
            return Ok(Take::UserBusy { retry_in: None });
        }
        let need = tokens as f64;
        let wait = counts
            .requests
            .as_ref()
            .map_or(Duration::ZERO, |b| b.wait_for(1.0))
            .max(counts.tokens.as_ref().map_or(Duration::ZERO, |b| b.wait_for(need)));
        if !wait.is_zero() {
            return Ok(Take::Wait(wait));
        }
        if let Some(b) = counts.requests.as_mut() {
            b.level -= 1.0;
        }
        if let Some(b) = counts.tokens.as_mut() {
            b.level -= need;
        }
        counts.in_flight += 1;
        *counts.per_user.entry(user.to_owned()).or_default() += 1;
        counts.leases += 1;
        Ok(Take::Granted(Lease {
            id: counts.leases.to_string(),
            user: user.to_owned(),
        }))
    }

    async fn release(&self, _rules: &Rules, lease: &Lease, unused: Option<u64>) -> Result<(), Unavailable> {
        {
            let mut counts = self.counts();
            counts.free(&lease.user);
            if let Some(tokens) = unused {
                if let Some(b) = counts.requests.as_mut() {
                    b.add(1.0);
                }
                if let Some(b) = counts.tokens.as_mut() {
                    b.add(tokens as f64);
                }
            }
        }
        self.released();
        Ok(())
    }

    async fn adjust_tokens(&self, _rules: &Rules, _lease: &Lease, delta: i64) -> Result<(), Unavailable> {
        if let Some(b) = self.counts().tokens.as_mut() {
            b.add(delta as f64);
        }
        Ok(())
    }

    fn is_immediate(&self) -> bool {
        true
    }

    fn notify_releases(&self, wake: Weak<dyn Fn() + Send + Sync>) {
        self.listeners.lock().expect("admission listeners lock").push(wake);
    }

    async fn usage(&self, rules: &Rules, user: &str) -> Result<AdmissionUsage, Unavailable> {
        let mut counts = self.counts();
        counts.refill(rules);
        Ok(AdmissionUsage {
            in_flight: counts.in_flight,
            user_in_flight: counts.per_user.get(user).copied().unwrap_or(0),
            requests: counts.requests.as_ref().map(|b| b.level),
            tokens: counts.tokens.as_ref().map(|b| b.level),
        })
    }
}

/// How soon the dispatcher asks an unreachable backend again.
const RETRY_UNAVAILABLE: Duration = Duration::from_millis(250);

/// How often an unreachable backend is reported while it stays unreachable.
const WARN_EVERY: Duration = Duration::from_secs(30);

struct Waiter {
    caller: Caller,
    tokens: u64,
    grant: oneshot::Sender<Lease>,
}

#[derive(Default)]
struct State {
    /// (class, arrival) → waiter: class 0 = paid, 1 = free.
    waiting: BTreeMap<(u8, u64), Waiter>,
    arrivals: u64,
    /// A dispatcher is running; `again` asks it for one more pass.
    dispatching: bool,
    again: bool,
    /// When the earliest scheduled wake-up fires.
    wake_at: Option<Instant>,
    /// Since when the backend is unreachable, and when that was last reported.
    unavailable: Option<(Instant, Instant)>,
}

pub struct Admission {
    rules: Rules,
    queue: QueueSettings,
    backend: Arc<dyn AdmissionBackend>,
    state: Mutex<State>,
    me: Weak<Admission>,
    /// Given (weakly) to the backend to be woken when a slot is freed.
    wake: Arc<dyn Fn() + Send + Sync>,
}

/// A granted call; dropping it frees the slot.
pub struct Permit {
    admission: Arc<Admission>,
    lease: Lease,
    borrowed: u64,
    /// Renews the lease while the call runs (backends whose leases expire).
    renewal: Option<tokio::task::JoinHandle<()>>,
}

impl Permit {
    /// Corrects the borrowed token estimate with the real usage.
    pub fn reconcile(&mut self, used_tokens: u64) {
        let delta = i64::try_from(self.borrowed)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(used_tokens).unwrap_or(i64::MAX));
        self.borrowed = used_tokens;
        if delta == 0 || self.admission.rules.limits.tokens_per_minute.is_none() {
            return;
        }
        let (admission, lease) = (Arc::clone(&self.admission), self.lease.clone());
        self.admission.detached(async move {
            match admission.backend.adjust_tokens(&admission.rules, &lease, delta).await {
                // Tokens came back: a request waiting for them may go.
                Ok(()) if delta > 0 => admission.kick(),
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "could not reconcile a model call's tokens"),
            }
        });
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        let (admission, lease) = (Arc::clone(&self.admission), std::mem::take(&mut self.lease));
        self.admission.detached(async move {
            if let Err(e) = admission.backend.release(&admission.rules, &lease, None).await {
                tracing::warn!(error = %e, "could not free a model call's slot; its lease expires");
            }
            admission.kick();
        });
    }
}

/// A request in the queue. Dropping it before it becomes a permit (the wait ran out, or the
/// caller went away) withdraws it, or gives back what was granted meanwhile.
struct Ticket {
    admission: Arc<Admission>,
    key: (u8, u64),
    tokens: u64,
    granted: oneshot::Receiver<Lease>,
    /// Set once the grant became a `Permit`, which then owns the slot.
    taken: bool,
}

impl Ticket {
    fn into_permit(mut self, lease: Lease) -> Permit {
        self.taken = true;
        let backend = Arc::clone(&self.admission.backend);
        let renewal = backend.renew_every().and_then(|every| {
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            let lease = lease.clone();
            Some(runtime.spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match backend.renew(&lease).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!("a running model call's slot lease expired before it was renewed"),
                        Err(e) => tracing::warn!(error = %e, "could not renew a running model call's slot lease"),
                    }
                }
            }))
        });
        Permit {
            admission: Arc::clone(&self.admission),
            lease,
            borrowed: self.tokens,
            renewal,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        // Still waiting: withdrawn, which may let others in (it may have held up the queue).
        // Otherwise the dispatcher granted it, under this lock and while `granted` was open,
        // so the lease is in `granted`: its slot, request and tokens come back here.
        let unclaimed = {
            let mut state = self.admission.lock();
            if state.waiting.remove(&self.key).is_some() {
                None
            } else {
                self.granted.try_recv().ok()
            }
        };
        match unclaimed {
            None => self.admission.kick(),
            Some(lease) => {
                let (admission, tokens) = (Arc::clone(&self.admission), self.tokens);
                self.admission.detached(async move {
                    admission.give_back(&lease, tokens).await;
                    admission.kick();
                });
            }
        }
    }
}

/// Clears `dispatching` if a dispatcher ends without finishing (dropped unpolled at shutdown).
struct Dispatching(Option<Arc<Admission>>);

impl Drop for Dispatching {
    fn drop(&mut self) {
        if let Some(admission) = self.0.take() {
            let mut state = admission.lock();
            state.dispatching = false;
            state.again = false;
        }
    }
}

fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Admission {
    /// An admission whose limits are counted in this process.
    pub fn new(limits: Limits, queue: QueueSettings) -> Arc<Self> {
        Self::with_backend(limits, queue, Arc::new(InProcessAdmission::new()))
    }

    /// An admission whose limits are counted by `backend` (possibly shared with other
    /// admissions, here or on other instances); the queue is this admission's own.
    pub fn with_backend(limits: Limits, queue: QueueSettings, backend: Arc<dyn AdmissionBackend>) -> Arc<Self> {
        let admission = Arc::new_cyclic(|me: &Weak<Self>| {
            let weak = me.clone();
            Self {
                rules: Rules {
                    limits,
                    per_user: queue.per_user_concurrency,
                },
                queue,
                backend,
                state: Mutex::default(),
                me: me.clone(),
                wake: Arc::new(move || {
                    if let Some(admission) = weak.upgrade() {
                        admission.kick();
                    }
                }),
            }
        });
        admission.backend.notify_releases(Arc::downgrade(&admission.wake));
        admission
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("admission lock")
    }

    pub fn limits(&self) -> Limits {
        self.rules.limits
    }

    /// Requests waiting now (in this process's queue).
    pub fn depth(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Whether a new request would be refused at once.
    /// Waiting requests beyond which new ones are refused at once.
    pub fn capacity(&self) -> usize {
        self.queue.max_length
    }

    pub fn is_full(&self) -> bool {
        self.depth() >= self.queue.max_length
    }

    /// 1-based position of a waiting request (by its ticket), if it is waiting.
    pub fn position(&self, ticket: &str) -> Option<usize> {
        self.lock()
            .waiting
            .values()
            .position(|w| w.caller.ticket == ticket)
            .map(|i| i + 1)
    }

    /// What is held of the limits now, as the backend counts it (with `user`'s calls).
    pub async fn usage(&self, user: &str) -> Result<AdmissionUsage, Unavailable> {
        self.backend.usage(&self.rules, user).await
    }

    /// Waits for a slot, in priority order, at most the maximum wait. A slot granted just as
    /// the wait runs out, or after the caller stopped waiting (dropped this future), is given
    /// back with its tokens.
    pub async fn acquire(self: &Arc<Self>, caller: Caller, tokens: u64) -> Result<Permit, Busy> {
        let mut ticket = {
            let mut state = self.lock();
            if state.waiting.len() >= self.queue.max_length {
                return Err(Busy {
                    retry_after: self.queue.max_wait,
                });
            }
            let (tx, rx) = oneshot::channel();
            state.arrivals += 1;
            let key = (u8::from(!caller.paid), state.arrivals);
            state.waiting.insert(
                key,
                Waiter {
                    caller,
                    tokens,
                    grant: tx,
                },
            );
            Ticket {
                admission: Arc::clone(self),
                key,
                tokens,
                granted: rx,
                taken: false,
            }
        };
        self.kick();
        match tokio::time::timeout(self.queue.max_wait, &mut ticket.granted).await {
            Ok(Ok(lease)) => Ok(ticket.into_permit(lease)),
            // The ticket is dropped here: withdrawn, or a grant that came too late given back.
            _ => Err(Busy {
                retry_after: self.queue.max_wait,
            }),
        }
    }

    /// Runs `work` at once when the backend completes at once, else in a task. Outside a
    /// runtime a remote backend's work is dropped: a slot it would have freed comes back when
    /// its lease expires.
    fn detached(&self, work: impl Future<Output = ()> + Send + 'static) {
        let mut work = Box::pin(work);
        if self.backend.is_immediate() && (&mut work).now_or_never().is_some() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(work);
        }
    }

    /// Makes sure a dispatcher looks at the queue: starts one, or has the running one look
    /// again when it is done.
    fn kick(&self) {
        let Some(me) = self.me.upgrade() else { return };
        {
            let mut state = self.lock();
            if state.dispatching {
                state.again = true;
                return;
            }
            state.dispatching = true;
        }
        let guard = Dispatching(Some(Arc::clone(&me)));
        self.detached(me.dispatch(guard));
    }

    async fn dispatch(self: Arc<Self>, mut guard: Dispatching) {
        loop {
            let wake = self.pass().await;
            let mut state = self.lock();
            if std::mem::take(&mut state.again) {
                continue;
            }
            state.dispatching = false;
            guard.0 = None;
            if let Some(delay) = wake {
                self.wake_in(&mut state, delay);
            }
            return;
        }
    }

    /// Grants waiting requests, in order, while the limits allow; returns when to look again
    /// without being woken by an arrival or a release.
    async fn pass(&self) -> Option<Duration> {
        let order: Vec<((u8, u64), String, u64)> = self
            .lock()
            .waiting
            .iter()
            .map(|(key, w)| (*key, w.caller.user.clone(), w.tokens))
            .collect();
        let mut wake = None;
        let mut busy_users = HashSet::new();
        for (key, user, tokens) in order {
            if busy_users.contains(&user) {
                continue;
            }
            let still_waiting = self.lock().waiting.contains_key(&key);
            if !still_waiting {
                continue;
            }
            let taken = self.backend.take(&self.rules, &user, tokens).await;
            self.note_reachable(taken.as_ref().err());
            match taken {
                Ok(Take::Granted(lease)) => {
                    // A waiter withdrawn while the backend answered, or whose receiver is gone,
                    // gets nothing: what was taken for it comes back.
                    let unclaimed = match self.lock().waiting.remove(&key) {
                        Some(waiter) => waiter.grant.send(lease).err(),
                        None => Some(lease),
                    };
                    if let Some(lease) = unclaimed {
                        self.give_back(&lease, tokens).await;
                    }
                }
                Ok(Take::UserBusy { retry_in }) => {
                    // This user waits; others behind may go.
                    busy_users.insert(user);
                    wake = earliest(wake, retry_in);
                }
                Ok(Take::Full { retry_in }) => {
                    wake = earliest(wake, retry_in);
                    break;
                }
                Ok(Take::Wait(delay)) => {
                    wake = earliest(wake, Some(delay));
                    break; // keep the order: nobody overtakes a request that waits for the rate
                }
                Err(_) => {
                    // Never granted without the backend: keep waiting, up to the maximum wait.
                    wake = earliest(wake, Some(RETRY_UNAVAILABLE));
                    break;
                }
            }
        }
        wake
    }

    /// Gives back a grant nobody used: its slots, its request and its tokens.
    async fn give_back(&self, lease: &Lease, tokens: u64) {
        if let Err(e) = self.backend.release(&self.rules, lease, Some(tokens)).await {
            tracing::warn!(error = %e, "could not give back an unused model call slot; its lease expires");
        }
    }

    /// Reports an unreachable backend when it becomes so and then now and then, and when it
    /// is back.
    fn note_reachable(&self, error: Option<&Unavailable>) {
        let mut state = self.lock();
        match (error, state.unavailable) {
            (None, None) => {}
            (None, Some((since, _))) => {
                state.unavailable = None;
                drop(state);
                tracing::info!(after = ?since.elapsed(), "model admission limits are reachable again");
            }
            (Some(e), last) => {
                let now = Instant::now();
                if last.is_none_or(|(_, warned)| now.duration_since(warned) >= WARN_EVERY) {
                    let since = last.map_or(now, |(since, _)| since);
                    state.unavailable = Some((since, now));
                    drop(state);
                    tracing::warn!(error = %e, "model admission limits unreachable; requests wait, then are refused as busy");
                }
            }
        }
    }

    /// Has the dispatcher look again after `delay` unless it is to look sooner anyway. A
    /// ticket may be dropped outside the runtime (at shutdown); nobody is left to wake then.
    fn wake_in(&self, state: &mut State, delay: Duration) {
        let at = Instant::now() + delay;
        if state.wake_at.is_some_and(|scheduled| scheduled <= at) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        state.wake_at = Some(at);
        let me = self.me.clone();
        runtime.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let Some(me) = me.upgrade() else { return };
            {
                let mut state = me.lock();
                if state.wake_at == Some(at) {
                    state.wake_at = None;
                }
            }
            me.kick();
        });
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
    async fn tokens_left(admission: &Admission) -> f64 {
        admission.usage("-").await.unwrap().tokens.unwrap()
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
        for user in ["a", "b"] {
            let usage = admission.usage(user).await.unwrap();
            assert_eq!(usage.in_flight, 0, "the slot is free again");
            assert_eq!(usage.user_in_flight, 0);
        }
        assert_eq!(admission.depth(), 0);
        let left = tokens_left(&admission).await;
        assert!(left > 99.0, "{left} tokens left");
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
        let left = tokens_left(&admission).await;
        assert!(left >= 90.0, "{left} tokens left");
        assert_eq!(admission.usage("a").await.unwrap().in_flight, 0);
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
        for i in 0..7 {
            let usage = admission.usage(&format!("u{i}")).await.unwrap();
            assert_eq!(usage.in_flight, 0);
            assert_eq!(usage.user_in_flight, 0, "u{i}");
        }
        assert_eq!(admission.depth(), 0);
    }
}
