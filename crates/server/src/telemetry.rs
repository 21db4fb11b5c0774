//! The web app's field measurements (Web Vitals) reported to `POST /api/v1/rum`, kept as
//! histograms in `/metrics` (see `monitoring`).

use crate::error::{ApiError, ErrorCode, ErrorFamily, error_family};
use axum::body::Bytes;
use axum::http::StatusCode;
use serde::Deserialize;
use std::sync::OnceLock;
use utoipa::ToSchema;

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
