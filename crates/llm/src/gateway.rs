//! The gateway between a reply and the providers: a route of targets walked in order, retries
//! with exponential backoff and full jitter (honouring `Retry-After`) within a total deadline,
//! timeouts for the first token, stalls between tokens and the whole call, and a circuit
//! breaker per target. Text is forwarded as it arrives; when an attempt fails after sending
//! text, the next attempt starts with `Restart` so the consumer drops the partial text.

use crate::{Chunk, CompletionRequest, LlmError, Provider, Usage};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use plansmith_domain::RestartReason;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From sending the request to the first text.
    pub first_token: Duration,
    /// Longest pause between two chunks.
    pub stall: Duration,
    /// Whole call.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            first_token: Duration::from_secs(30),
            stall: Duration::from_secs(20),
            total: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per target before moving on to the next.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// All attempts on all targets together.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            deadline: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a random delay up to the exponential cap for this attempt (0-based).
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max_delay);
        cap.mul_f64(rand::random::<f64>())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Opens after this many failures in a row…
    pub consecutive_failures: u32,
    /// …or when this share of the calls in the window failed (with at least `min_calls`).
    pub error_ratio: f64,
    pub min_calls: u32,
    pub window: Duration,
    /// How long it stays open before one probe call is let through.
    pub open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_ratio: 0.5,
            min_calls: 10,
            window: Duration::from_secs(60),
            open_for: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Breaker {
    state: BreakerState,
    consecutive: u32,
    calls: VecDeque<(Instant, bool)>,
    opened_at: Option<Instant>,
    probing: bool,
}

impl Breaker {
    fn new() -> Self {
        Self {
            state: BreakerState::Closed,
            consecutive: 0,
            calls: VecDeque::new(),
            opened_at: None,
            probing: false,
        }
    }

    fn allow(&mut self, now: Instant, settings: &BreakerSettings) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => {
                if self
                    .opened_at
                    .is_some_and(|at| now.duration_since(at) >= settings.open_for)
                {
                    self.state = BreakerState::HalfOpen;
                    self.probing = true;
                    true
                } else {
                    false
                }
            }
            BreakerState::HalfOpen if self.probing => false,
            BreakerState::HalfOpen => {
                self.probing = true;
                true
            }
        }
    }

    fn record(&mut self, ok: bool, now: Instant, settings: &BreakerSettings) {
        self.calls.push_back((now, ok));
        while self
            .calls
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > settings.window)
        {
            self.calls.pop_front();
        }
        if ok {
            self.consecutive = 0;
            if self.state != BreakerState::Closed {
                self.state = BreakerState::Closed;
                self.calls.clear();
            }
            self.probing = false;
            return;
        }
        self.consecutive += 1;
        let failures = self.calls.iter().filter(|(_, ok)| !ok).count();
        let ratio_tripped = self.calls.len() as u32 >= settings.min_calls
            && failures as f64 / self.calls.len() as f64 >= settings.error_ratio;
        if self.state == BreakerState::HalfOpen || self.consecutive >= settings.consecutive_failures || ratio_tripped {
            self.state = BreakerState::Open;
            self.opened_at = Some(now);
            self.probing = false;
        }
    }
}

/// One entry of a route: a provider with its timeouts and breaker.
pub struct Target {
    provider: Arc<dyn Provider>,
    timeouts: Timeouts,
    breaker: Mutex<Breaker>,
    in_flight: std::sync::atomic::AtomicU64,
    admission: Arc<crate::Admission>,
}

impl Target {
    pub fn new(provider: Arc<dyn Provider>, timeouts: Timeouts, admission: Arc<crate::Admission>) -> Self {
        Self {
            provider,
            timeouts,
            breaker: Mutex::new(Breaker::new()),
            in_flight: Default::default(),
            admission,
        }
    }
}

/// A target's state, for metrics and the admin API.
#[derive(Debug, Clone)]
pub struct TargetSnapshot {
    pub name: String,
    pub model: String,
    pub breaker: BreakerState,
    /// Calls running on this target now.
    pub in_flight: u64,
    /// Requests waiting for admission.
    pub queue_depth: usize,
    /// Waiting requests beyond which new ones are refused.
    pub queue_capacity: usize,
    pub limits: crate::Limits,
}

/// What the consumer of a gateway stream sees.
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayEvent {
    /// A provider took the request (sent before every attempt).
    Admitted {
        provider: String,
        model: String,
    },
    Text(String),
    /// Drop the text received so far: a new attempt starts.
    Restart {
        reason: RestartReason,
    },
    Finished {
        provider: String,
        model: String,
        usage: Usage,
        attempts: u32,
    },
    Failed {
        error: LlmError,
        attempts: u32,
    },
}

impl PartialEq for LlmError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

pub struct Gateway {
    targets: Vec<Arc<Target>>,
    retry: RetryPolicy,
    breaker: BreakerSettings,
    prices: crate::PriceTable,
    /// After the first token, text is read and passed on at most once per this interval.
    batch: Duration,
}

impl Gateway {
    /// A gateway over `targets` in route order.
    pub fn new(targets: Vec<Target>, retry: RetryPolicy, breaker: BreakerSettings, prices: crate::PriceTable) -> Self {
        Self {
            targets: targets.into_iter().map(Arc::new).collect(),
            retry,
            breaker,
            prices,
            batch: Duration::ZERO,
        }
    }

    /// Reads the provider's stream at most once per `batch` after the first token (which is
    /// passed on at once), handing on everything that arrived meanwhile as one piece of text.
    /// Providers send a token per event; reading each one on its own cost a wake-up, a read and
    /// a hand-over per token, which at thousands of streams was most of the server's work.
    pub fn with_batching(mut self, batch: Duration) -> Self {
        self.batch = batch;
        self
    }

    /// What a call of `model` with `usage` costs, in micro-dollars.
    pub fn cost_micros(&self, model: &str, usage: Usage) -> i64 {
        self.prices.cost(model, usage).micros()
    }

    /// What a call with `usage` costs at most, on the dearest target of the route (in
    /// micro-dollars; models without a price count as free), for reserving a budget before
    /// the call.
    pub fn dearest_cost_micros(&self, usage: Usage) -> i64 {
        self.targets
            .iter()
            .filter(|t| self.prices.price(t.provider.model()).is_some())
            .map(|t| self.prices.cost(t.provider.model(), usage).micros())
            .max()
            .unwrap_or(0)
    }

    /// The provider a reply starts on (the first target of the route).
    pub fn first(&self) -> (&str, &str) {
        self.targets
            .first()
            .map_or(("none", "none"), |t| (t.provider.name(), t.provider.model()))
    }

    pub fn snapshot(&self) -> Vec<TargetSnapshot> {
        self.targets
            .iter()
            .map(|t| TargetSnapshot {
                name: t.provider.name().to_owned(),
                model: t.provider.model().to_owned(),
                breaker: t.breaker.lock().expect("breaker lock").state,
                in_flight: t.in_flight.load(std::sync::atomic::Ordering::Relaxed),
                queue_depth: t.admission.depth(),
                queue_capacity: t.admission.capacity(),
                limits: t.admission.limits(),
            })
            .collect()
    }

    /// Whether a new request would be refused at once (the first target's queue is full).
    pub fn is_full(&self) -> bool {
        self.targets.first().is_some_and(|t| t.admission.is_full())
    }

    /// Where a waiting request (by its ticket) stands in its target's queue, from 1.
    pub fn position(&self, ticket: &str) -> Option<usize> {
        self.targets.iter().find_map(|t| t.admission.position(ticket))
    }

    /// Streams one completion over the route. The call runs in its own task; dropping the
    /// stream abandons it.
    pub fn stream(
        self: &Arc<Self>,
        request: CompletionRequest,
        caller: crate::Caller,
    ) -> BoxStream<'static, GatewayEvent> {
        let (tx, rx) = mpsc::channel(64);
        let this = Arc::clone(self);
        tokio::spawn(async move { this.drive(request, caller, tx).await });
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|e| (e, rx))
        }))
    }

    async fn drive(&self, request: CompletionRequest, caller: crate::Caller, tx: mpsc::Sender<GatewayEvent>) {
        let estimate = request.estimated_prompt_tokens() + u64::from(request.max_tokens);
        let deadline = Instant::now() + self.retry.deadline;
        let mut attempts = 0;
        let mut emitted = false;
        let mut last_error = LlmError::NoTarget;
        for target in &self.targets {
            for attempt in 0..self.retry.max_attempts.max(1) {
                if !target
                    .breaker
                    .lock()
                    .expect("breaker lock")
                    .allow(Instant::now(), &self.breaker)
                {
                    last_error =
                        LlmError::Unavailable(format!("{} is paused after repeated failures", target.provider.name()));
                    break;
                }
                if std::mem::take(&mut emitted) {
                    let reason = RestartReason::AttemptFailed(last_error.public_reason());
                    if tx.send(GatewayEvent::Restart { reason }).await.is_err() {
                        return;
                    }
                }
                let admitted = tokio::select! {
                    admitted = target.admission.acquire(caller.clone(), estimate) => admitted,
                    () = tx.closed() => return,
                };
                let mut permit = match admitted {
                    Ok(permit) => permit,
                    Err(busy) => {
                        let error = LlmError::Busy {
                            retry_after: busy.retry_after,
                        };
                        let _ = tx.send(GatewayEvent::Failed { error, attempts }).await;
                        return;
                    }
                };
                let admitted = GatewayEvent::Admitted {
                    provider: target.provider.name().to_owned(),
                    model: target.provider.model().to_owned(),
                };
                if tx.send(admitted).await.is_err() {
                    return;
                }
                attempts += 1;
                target.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let outcome = self.attempt(target, request.clone(), &tx, &mut emitted, deadline).await;
                target.in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                let used = outcome.as_ref().map_or(0, |u| u.input_tokens + u.output_tokens);
                permit.reconcile(used);
                drop(permit);
                self.count_attempt(target, &outcome);
                let ok = outcome.is_ok();
                target
                    .breaker
                    .lock()
                    .expect("breaker lock")
                    .record(ok, Instant::now(), &self.breaker);
                let error = match outcome {
                    Ok(usage) => {
                        let finished = GatewayEvent::Finished {
                            provider: target.provider.name().to_owned(),
                            model: target.provider.model().to_owned(),
                            usage,
                            attempts,
                        };
                        let _ = tx.send(finished).await;
                        return;
                    }
                    Err(Abandoned) => return,
                    Err(Failed(error)) => error,
                };
                tracing::warn!(provider = target.provider.name(), attempt = attempts, error = %error, "model call failed");
                if !error.is_retryable() {
                    let _ = tx.send(GatewayEvent::Failed { error, attempts }).await;
                    return;
                }
                let delay = self.retry.backoff(attempt).max(error.retry_after().unwrap_or_default());
                last_error = error;
                let last_on_target = attempt + 1 >= self.retry.max_attempts;
                if last_on_target || Instant::now() + delay >= deadline {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = tx.closed() => return,
                }
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        let _ = tx
            .send(GatewayEvent::Failed {
                error: last_error,
                attempts,
            })
            .await;
    }

    /// `plansmith_llm_requests_total` by outcome, and the tokens and cost of a successful call.
    fn count_attempt(&self, target: &Target, outcome: &Result<Usage, AttemptError>) {
        let (provider, model) = (target.provider.name().to_owned(), target.provider.model().to_owned());
        let outcome_label = match outcome {
            Ok(_) => "ok",
            Err(Abandoned) => "cancelled",
            Err(Failed(LlmError::RateLimited { .. })) => "rate_limited",
            Err(Failed(LlmError::Timeout(_))) => "timeout",
            Err(Failed(_)) => "error",
        };
        metrics::counter!("plansmith_llm_requests_total", "provider" => provider.clone(), "model" => model.clone(), "outcome" => outcome_label)
            .increment(1);
        if let Ok(usage) = outcome {
            for (direction, tokens) in [("input", usage.input_tokens), ("output", usage.output_tokens)] {
                metrics::counter!("plansmith_llm_tokens_total", "provider" => provider.clone(), "model" => model.clone(), "direction" => direction)
                    .increment(tokens);
            }
            let cost = self.prices.cost(&model, *usage).micros();
            metrics::counter!("plansmith_llm_cost_microdollars_total", "provider" => provider, "model" => model)
                .increment(cost.max(0) as u64);
        }
    }

    /// One call to one target, forwarding its text. Errors include timeouts and streams that
    /// end without their end marker.
    async fn attempt(
        &self,
        target: &Target,
        request: CompletionRequest,
        tx: &mpsc::Sender<GatewayEvent>,
        emitted: &mut bool,
        deadline: Instant,
    ) -> Result<Usage, AttemptError> {
        let timeouts = target.timeouts;
        let started = Instant::now();
        let total = timeouts.total.min(deadline.saturating_duration_since(started));
        let call = async {
            let mut stream = tokio::time::timeout(timeouts.first_token, target.provider.stream(request))
                .await
                .map_err(|_| Failed(LlmError::Timeout("no answer before the first-token timeout")))?
                .map_err(Failed)?;
            let mut first = true;
            let mut usage = None;
            loop {
                if !first && !self.batch.is_zero() {
                    // Let the next tokens gather in the connection's buffer.
                    tokio::time::sleep(self.batch).await;
                }
                let wait = if first {
                    timeouts.first_token.saturating_sub(started.elapsed())
                } else {
                    timeouts.stall
                };
                let mut next = tokio::time::timeout(wait, stream.next()).await.map_err(|_| {
                    Failed(LlmError::Timeout(if first {
                        "no first token in time"
                    } else {
                        "the stream stalled"
                    }))
                })?;
                // Everything already received goes on together; the stream's end or error
                // comes after the text that preceded it.
                let mut text = String::new();
                let end = loop {
                    match next {
                        None => break Some(Ok(usage.unwrap_or_default())),
                        Some(Err(e)) => break Some(Err(Failed(e))),
                        Some(Ok(Chunk::Usage(u))) => usage = Some(u),
                        Some(Ok(Chunk::Text(piece))) => text.push_str(&piece),
                    }
                    if self.batch.is_zero() && !text.is_empty() {
                        break None;
                    }
                    // The HTTP connection's own task hands the body on a piece at a time: give
                    // it one turn to pass on what it has already read before calling it done.
                    next = match stream.next().now_or_never() {
                        Some(item) => item,
                        None => {
                            tokio::task::yield_now().await;
                            match stream.next().now_or_never() {
                                Some(item) => item,
                                None => break None,
                            }
                        }
                    };
                };
                if !text.is_empty() {
                    if first {
                        metrics::histogram!("plansmith_llm_time_to_first_token_seconds", "provider" => target.provider.name().to_owned())
                            .record(started.elapsed().as_secs_f64());
                    }
                    first = false;
                    *emitted = true;
                    if tx.send(GatewayEvent::Text(text)).await.is_err() {
                        return Err(Abandoned);
                    }
                }
                if let Some(end) = end {
                    return end;
                }
            }
        };
        match tokio::time::timeout(total, call).await {
            Ok(result) => result,
            Err(_) => Err(Failed(LlmError::Timeout("the call took longer than its total timeout"))),
        }
    }
}

enum AttemptError {
    Failed(LlmError),
    /// The consumer went away.
    Abandoned,
}

use AttemptError::{Abandoned, Failed};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_probes_and_closes() {
        let settings = BreakerSettings {
            consecutive_failures: 3,
            open_for: Duration::from_millis(50),
            ..Default::default()
        };
        let mut b = Breaker::new();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.allow(t0, &settings));
            b.record(false, t0, &settings);
        }
        assert_eq!(b.state, BreakerState::Open);
        assert!(!b.allow(t0 + Duration::from_millis(10), &settings));
        let later = t0 + Duration::from_millis(60);
        assert!(b.allow(later, &settings), "one probe after the open period");
        assert_eq!(b.state, BreakerState::HalfOpen);
        assert!(!b.allow(later, &settings), "only one probe at a time");
        b.record(false, later, &settings);
        assert_eq!(b.state, BreakerState::Open, "a failed probe opens again");
        let again = later + Duration::from_millis(60);
        assert!(b.allow(again, &settings));
        b.record(true, again, &settings);
        assert_eq!(b.state, BreakerState::Closed);
    }

    #[test]
    fn breaker_opens_on_error_ratio() {
        let settings = BreakerSettings {
            consecutive_failures: 100,
            error_ratio: 0.5,
            min_calls: 4,
            ..Default::default()
        };
        let mut b = Breaker::new();
        let t = Instant::now();
        for ok in [true, false, true, false] {
            b.record(ok, t, &settings);
        }
        assert_eq!(b.state, BreakerState::Open);
    }

    #[test]
    fn backoff_is_jittered_under_an_exponential_cap() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..Default::default()
        };
        for attempt in 0..6 {
            let cap = Duration::from_millis((100u64 << attempt).min(350));
            for _ in 0..50 {
                assert!(policy.backoff(attempt) <= cap);
            }
        }
        let spread: std::collections::HashSet<u128> = (0..50).map(|_| policy.backoff(3).as_micros()).collect();
        assert!(spread.len() > 10, "delays are random, not fixed");
    }
}
