//! The load generator: virtual users that plan like people against a running Plansmith —
//! sign up, start a session, send messages with think time, read every reply's stream to the
//! end (time to first token, total), read the document, complete the step. Latencies go into
//! HDR histograms corrected for coordinated omission; the report is JSON and Markdown. Knows
//! the public HTTP API only.

mod report;
mod user;

pub use report::{Report, Thresholds};

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Options {
    pub url: String,
    pub sessions: usize,
    pub ramp_up: Duration,
    pub duration: Duration,
    /// Think time between messages: uniform in [min, max].
    pub think_min: Duration,
    pub think_max: Duration,
    pub messages: usize,
    pub seed: u64,
    pub workflow: String,
    /// Values the provider is configured with, echoed in the report for comparison.
    pub provider_ttft: Option<Duration>,
    pub provider_tokens_per_second: Option<f64>,
    /// Where the server's CPU and memory are read: its `metrics.listen` address, or its main
    /// listener with `metrics_token` (default `{url}/metrics`).
    pub metrics_url: Option<String>,
    pub metrics_token: Option<String>,
}

/// Everything measured during a run.
pub struct Recorder {
    histograms: Mutex<BTreeMap<String, Histogram<u64>>>,
    errors: Mutex<BTreeMap<String, u64>>,
    sessions_completed: Mutex<u64>,
    think_mean: Duration,
}

impl Recorder {
    pub fn new(think_mean: Duration) -> Arc<Self> {
        Arc::new(Self {
            histograms: Mutex::default(),
            errors: Mutex::default(),
            sessions_completed: Mutex::new(0),
            think_mean,
        })
    }

    /// Records a latency; for request/response calls the expected interval between calls of a
    /// virtual user (its think time) corrects for coordinated omission.
    pub fn record(&self, name: &str, latency: Duration, correct: bool) {
        let micros = latency.as_micros().clamp(1, u128::from(u64::MAX)) as u64;
        let mut histograms = self.histograms.lock().expect("histograms lock");
        let histogram = histograms
            .entry(name.to_owned())
            .or_insert_with(|| Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"));
        let interval = self.think_mean.as_micros() as u64;
        let _ = if correct && interval > 0 {
            histogram.record_correct(micros, interval)
        } else {
            histogram.record(micros.min(3_600_000_000))
        };
    }

    pub fn error(&self, kind: &str) {
        *self
            .errors
            .lock()
            .expect("errors lock")
            .entry(kind.to_owned())
            .or_default() += 1;
    }

    pub fn session_completed(&self) {
        *self.sessions_completed.lock().expect("sessions lock") += 1;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("setting up users failed: {0}")]
    Setup(String),
}

/// Runs the load test and returns its report. Users are created before the timed phase.
pub async fn run(options: Options) -> Result<Report, LoadError> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| LoadError::Setup(e.to_string()))?;
    let base = options.url.trim_end_matches('/').to_owned();
    client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .map_err(|e| LoadError::Unreachable {
            url: base.clone(),
            message: e.to_string(),
        })?;
    let think_mean = (options.think_min + options.think_max) / 2;
    let recorder = Recorder::new(think_mean);
    let tokens = user::sign_up_all(&client, &base, options.sessions, options.seed, &recorder).await?;
    // The server's CPU is counted from here: the timed phase, without the sign-ups' hashing.
    let metrics_url = options.metrics_url.clone().unwrap_or_else(|| format!("{base}/metrics"));
    let metrics = (metrics_url.as_str(), options.metrics_token.as_deref());
    let before = report::server_figures(&client, metrics).await;

    let started = Instant::now();
    let deadline = started + options.duration;
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let delay = if options.sessions > 1 {
            options.ramp_up.mul_f64(i as f64 / (options.sessions - 1) as f64)
        } else {
            Duration::ZERO
        };
        let (client, base, options, recorder) = (client.clone(), base.clone(), options.clone(), Arc::clone(&recorder));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let user = user::VirtualUser {
                client,
                base,
                token,
                options,
                recorder,
                seed: i as u64,
            };
            // The hard stop: a session cut off by the duration is not an error.
            let _ = tokio::time::timeout_at(deadline.into(), user.plan()).await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    let after = report::server_figures(&client, metrics).await;
    Ok(Report::build(&options, &recorder, elapsed, before, after))
}
