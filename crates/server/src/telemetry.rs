//! Prometheus metrics at `/metrics`: HTTP requests by route and status, replies, and the web
//! app's field measurements (Web Vitals) reported to `POST /api/v1/rum`.

use crate::error::{ApiError, ErrorCode, ErrorFamily, error_family};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use std::sync::OnceLock;
use std::time::Instant;
use utoipa::ToSchema;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls (more apps in one process) share it.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ];
            let vitals_ms = &[
                50.0, 100.0, 200.0, 500.0, 800.0, 1000.0, 1800.0, 2500.0, 3000.0, 4000.0, 6000.0, 10000.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), seconds)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("plansmith_web_vitals".into()), vitals_ms));
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Prometheus text exposition of every metric.
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = "metrics", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn render(State(state): State<AppState>) -> Response {
    metrics::gauge!("plansmith_replies_in_flight").set(state.generator.in_flight() as f64);
    for target in state.generator.gateway().snapshot() {
        let value = match target.breaker {
            plansmith_llm::BreakerState::Closed => 0.0,
            plansmith_llm::BreakerState::HalfOpen => 1.0,
            plansmith_llm::BreakerState::Open => 2.0,
        };
        metrics::gauge!("plansmith_llm_breaker_state", "target" => target.name, "model" => target.model).set(value);
    }
    if let Some((cpu, rss)) = process_figures() {
        metrics::gauge!("process_cpu_seconds_total").set(cpu);
        metrics::gauge!("process_resident_memory_bytes").set(rss);
    }
    let pool = state.store.pool_stats();
    metrics::gauge!("plansmith_db_pool_connections", "state" => "in_use")
        .set(f64::from(pool.size.saturating_sub(pool.idle)));
    metrics::gauge!("plansmith_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("plansmith_db_pool_waiting").set(pool.waiting as f64);
    metrics::gauge!("plansmith_db_pool_acquisitions").set(pool.acquisitions as f64);
    metrics::gauge!("plansmith_db_pool_acquire_seconds_total").set(pool.acquire_micros_total as f64 / 1e6);
    let body = install().map(PrometheusHandle::render).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// CPU seconds used and resident memory of this process (Linux `/proc`).
fn process_figures() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 0, utime 11, stime 12 (clock ticks), rss 21 (pages).
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    let cpu = (ticks(11)? + ticks(12)?) / 100.0;
    let rss = ticks(21)? * 4096.0;
    Some((cpu, rss))
}

/// Counts every request and its latency by route template and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| {
            if request.uri().path().starts_with("/api/") {
                "unmatched".into()
            } else {
                "web".into()
            }
        });
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("plansmith_http_requests_total", &labels).increment(1);
    metrics::histogram!("plansmith_http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

/// One Web Vitals measurement from a browser.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RumMetric {
    /// Route pattern of the page, e.g. `/sessions/:id`.
    pub page: String,
    /// `LCP`, `INP`, `CLS`, `TTFB` or `FCP`.
    pub name: String,
    /// Milliseconds (CLS: unitless score).
    pub value: f64,
    #[serde(default)]
    pub id: Option<String>,
}

/// One measurement, or an array of up to 50.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RumReport {
    One(RumMetric),
    Many(Vec<RumMetric>),
}

/// Why measurements were refused.
#[derive(Debug)]
pub enum RumError {
    /// Not one measurement or an array of them; the parser's complaint.
    Unreadable(String),
    TooMany {
        max: usize,
    },
    UnknownVital(String),
    ValueOutOfRange,
}

error_family!(RumError);

impl ErrorFamily for RumError {
    const CODES: &'static [ErrorCode] = &[ErrorCode::InvalidBody, ErrorCode::InvalidField];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::Unreadable(detail) => ApiError::new(
                ErrorCode::InvalidBody,
                format!("The measurement is not valid: {detail}"),
                "Send {\"page\", \"name\", \"value\"} or an array of them.",
            ),
            Self::TooMany { max } => ApiError::new(
                ErrorCode::InvalidBody,
                format!("At most {max} measurements per request."),
                "Send them in smaller batches.",
            ),
            Self::UnknownVital(name) => ApiError::invalid(
                ErrorCode::InvalidField,
                "name",
                format_args!("'{name}' is not one of {}", VITALS.join(", ")),
                "Report Web Vitals by their short names.",
            ),
            Self::ValueOutOfRange => ApiError::invalid(
                ErrorCode::InvalidField,
                "value",
                "must be between 0 and 600000",
                "Report milliseconds.",
            ),
        }
    }
}

const MAX_MEASUREMENTS: usize = 50;

const VITALS: [&str; 5] = ["LCP", "INP", "CLS", "TTFB", "FCP"];
const MAX_PAGE_LABELS: usize = 50;

/// Page labels seen so far; beyond the cap new pages count as `other`, so a client cannot
/// blow up the metric's cardinality.
static PAGES: OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> = OnceLock::new();

fn page_label(page: &str) -> String {
    let valid = page.starts_with('/')
        && page.len() <= 80
        && page.chars().all(|c| c.is_ascii_alphanumeric() || "/:-_.".contains(c));
    if !valid {
        return "other".into();
    }
    let mut pages = PAGES.get_or_init(Default::default).lock().expect("pages lock");
    if pages.contains(page) || pages.len() < MAX_PAGE_LABELS {
        pages.insert(page.to_owned());
        page.to_owned()
    } else {
        "other".into()
    }
}

/// Field measurements of the web app (Web Vitals), kept as histograms by page. Accepts one
/// object or an array; any content type (so `navigator.sendBeacon` works).
#[utoipa::path(post, path = "/api/v1/rum", tag = "health", operation_id = "record_rum", request_body = RumReport,
    responses((status = 202), RumError))]
pub async fn rum(body: Bytes) -> Result<StatusCode, RumError> {
    let parsed: RumReport = serde_json::from_slice(&body).map_err(|e| RumError::Unreadable(e.to_string()))?;
    let metrics = match parsed {
        RumReport::One(m) => vec![m],
        RumReport::Many(m) => m,
    };
    if metrics.len() > MAX_MEASUREMENTS {
        return Err(RumError::TooMany { max: MAX_MEASUREMENTS });
    }
    for m in metrics {
        let Some(name) = VITALS.iter().find(|v| v.eq_ignore_ascii_case(&m.name)) else {
            return Err(RumError::UnknownVital(m.name));
        };
        if !m.value.is_finite() || m.value < 0.0 || m.value > 600_000.0 {
            return Err(RumError::ValueOutOfRange);
        }
        metrics::histogram!("plansmith_web_vitals", "page" => page_label(&m.page), "name" => *name).record(m.value);
    }
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            RumError::Unreadable("EOF".into()),
            RumError::TooMany { max: 50 },
            RumError::UnknownVital("XYZ".into()),
            RumError::ValueOutOfRange,
        ]);
    }
}
