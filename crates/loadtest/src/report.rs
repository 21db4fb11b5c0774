//! The load test report: per endpoint and per stream measure, errors, sessions, server figures;
//! as JSON (`report.json`) and Markdown (`report.md`), checked against thresholds.

use crate::{Options, Recorder};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub count: u64,
    /// Per second over the timed phase.
    pub throughput: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// Server CPU and memory, from its `/metrics`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ServerFigures {
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub sessions: usize,
    pub duration_seconds: f64,
    /// Milliseconds; corrected for coordinated omission.
    pub endpoints: BTreeMap<String, Figures>,
    /// Milliseconds from posting a message to its first token.
    pub time_to_first_token: Option<Figures>,
    pub reply_duration: Option<Figures>,
    pub sign_up: Option<Figures>,
    pub provider_time_to_first_token_ms: Option<f64>,
    pub provider_tokens_per_second: Option<f64>,
    pub errors: BTreeMap<String, u64>,
    pub error_rate: f64,
    pub requests: u64,
    pub sessions_completed: u64,
    /// CPU seconds the server used during the run, and its memory at the end.
    pub server_cpu_seconds: Option<f64>,
    pub server_cpu_percent: Option<f64>,
    pub server_resident_memory_bytes: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Thresholds {
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_error_rate: Option<f64>,
}

fn figures(h: &hdrhistogram::Histogram<u64>, seconds: f64) -> Figures {
    let ms = |micros: u64| micros as f64 / 1000.0;
    Figures {
        count: h.len(),
        throughput: h.len() as f64 / seconds.max(0.001),
        p50: ms(h.value_at_quantile(0.50)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        max: ms(h.max()),
    }
}

/// `(url, bearer token)` of the server's `/metrics`.
pub async fn server_figures(client: &reqwest::Client, (url, token): (&str, Option<&str>)) -> ServerFigures {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let Ok(response) = request.send().await else {
        return ServerFigures::default();
    };
    if !response.status().is_success() {
        return ServerFigures::default();
    }
    let text = response.text().await.unwrap_or_default();
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
    };
    ServerFigures {
        cpu_seconds: value("process_cpu_seconds_total"),
        resident_memory_bytes: value("process_resident_memory_bytes"),
    }
}

impl Report {
    pub fn build(
        options: &Options,
        recorder: &Recorder,
        elapsed: Duration,
        before: ServerFigures,
        after: ServerFigures,
    ) -> Self {
        let seconds = elapsed.as_secs_f64();
        let histograms = recorder.histograms.lock().expect("histograms lock");
        let errors = recorder.errors.lock().expect("errors lock").clone();
        let special = ["time to first token", "reply duration", "sign-up (setup)"];
        let endpoints: BTreeMap<String, Figures> = histograms
            .iter()
            .filter(|(name, _)| !special.contains(&name.as_str()))
            .map(|(n, h)| (n.clone(), figures(h, seconds)))
            .collect();
        let failed: u64 = errors.values().sum();
        let requests: u64 = endpoints.values().map(|f| f.count).sum::<u64>().max(1);
        let cpu = match (before.cpu_seconds, after.cpu_seconds) {
            (Some(b), Some(a)) => Some(a - b),
            _ => None,
        };
        Self {
            url: options.url.clone(),
            sessions: options.sessions,
            duration_seconds: seconds,
            time_to_first_token: histograms.get("time to first token").map(|h| figures(h, seconds)),
            reply_duration: histograms.get("reply duration").map(|h| figures(h, seconds)),
            sign_up: histograms.get("sign-up (setup)").map(|h| figures(h, seconds)),
            provider_time_to_first_token_ms: options.provider_ttft.map(|d| d.as_secs_f64() * 1000.0),
            provider_tokens_per_second: options.provider_tokens_per_second,
            error_rate: failed as f64 / requests as f64,
            errors,
            requests,
            sessions_completed: *recorder.sessions_completed.lock().expect("sessions lock"),
            server_cpu_seconds: cpu,
            server_cpu_percent: cpu.map(|c| 100.0 * c / seconds.max(0.001)),
            server_resident_memory_bytes: after.resident_memory_bytes,
            endpoints,
        }
    }

    /// API calls (not streams, not sign-up) slower than the thresholds, and the error rate.
    pub fn violations(&self, thresholds: &Thresholds) -> Vec<String> {
        let mut out = Vec::new();
        for (name, f) in &self.endpoints {
            if let Some(limit) = thresholds.p95_ms.filter(|l| f.p95 > *l) {
                out.push(format!("{name}: p95 {:.1} ms > {limit} ms", f.p95));
            }
            if let Some(limit) = thresholds.p99_ms.filter(|l| f.p99 > *l) {
                out.push(format!("{name}: p99 {:.1} ms > {limit} ms", f.p99));
            }
        }
        if let Some(limit) = thresholds.max_error_rate.filter(|l| self.error_rate > *l) {
            out.push(format!("error rate {:.4} > {limit}", self.error_rate));
        }
        out
    }

    pub fn markdown(&self) -> String {
        let row = |name: &str, f: &Figures| {
            format!(
                "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                f.count, f.throughput, f.p50, f.p95, f.p99, f.max
            )
        };
        let mut md = format!(
            "# Load test\n\n{} sessions against {} for {:.1} s; {} sessions completed; error rate {:.4}.\n\n\
             ## API calls (ms, corrected for coordinated omission)\n\n| endpoint | count | per s | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|---|\n",
            self.sessions, self.url, self.duration_seconds, self.sessions_completed, self.error_rate
        );
        for (name, f) in &self.endpoints {
            md.push_str(&row(name, f));
        }
        md.push_str(
            "\n## Replies (ms)\n\n| measure | count | per s | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|---|\n",
        );
        for (name, f) in [
            ("time to first token", &self.time_to_first_token),
            ("reply duration", &self.reply_duration),
            ("sign-up (setup, not an API target)", &self.sign_up),
        ] {
            if let Some(f) = f {
                md.push_str(&row(name, f));
            }
        }
        if let Some(ttft) = self.provider_time_to_first_token_ms {
            md.push_str(&format!(
                "\nProvider configured: {ttft:.0} ms to first token, {} tokens/s.\n",
                self.provider_tokens_per_second.unwrap_or(0.0)
            ));
        }
        md.push_str("\n## Errors\n\n");
        if self.errors.is_empty() {
            md.push_str("None.\n");
        }
        for (kind, n) in &self.errors {
            md.push_str(&format!("- {kind}: {n}\n"));
        }
        if let (Some(cpu), Some(pct)) = (self.server_cpu_seconds, self.server_cpu_percent) {
            md.push_str(&format!(
                "\n## Server\n\nCPU {cpu:.1} s ({pct:.0} % of one core over the run)"
            ));
            if let Some(mem) = self.server_resident_memory_bytes {
                md.push_str(&format!(
                    ", resident memory {:.0} MiB at the end",
                    mem / 1024.0 / 1024.0
                ));
            }
            md.push_str(".\n");
        }
        md
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("report.json"),
            serde_json::to_string_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::write(dir.join("report.md"), self.markdown())
    }
}
