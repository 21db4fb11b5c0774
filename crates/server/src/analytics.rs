//! Business analytics for admins (docs/analytics.md): subscription metrics by ChartMogul's
//! definitions, computed by `plansmith_store::billing` from sums the database makes.

use crate::admin::AdminUser;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, error_family};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::Utc;
use plansmith_store::billing::{
    CurrencyTotals, cohort_retention, month_figures, month_of, months_before, months_between, parse_month,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The longest range one request covers.
const MAX_MONTHS: usize = 120;
/// Months before the range whose churn feeds the LTV.
const LTV_MONTHS: u32 = 6;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MrrQuery {
    /// First month, `YYYY-MM` (default: 11 months before `to`).
    pub from: Option<String>,
    /// Last month, `YYYY-MM` (default: this month).
    pub to: Option<String>,
    /// Only this currency (ISO code, e.g. `usd`).
    pub currency: Option<String>,
}

/// One month's subscription metrics in one currency. Money in integer cents.
#[derive(Debug, Serialize, ToSchema)]
pub struct MrrMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// MRR from customers' first subscriptions.
    pub new: i64,
    /// MRR added by customers who pay more.
    pub expansion: i64,
    /// MRR lost by customers who pay less (negative).
    pub contraction: i64,
    /// MRR lost by customers who left (negative).
    pub churn: i64,
    /// MRR from customers who came back after churning.
    pub reactivation: i64,
    /// The sum of the movements: `mrr - mrr_start`.
    pub net: i64,
    pub mrr_start: i64,
    /// MRR at the end of the month.
    pub mrr: i64,
    /// 12 × MRR.
    pub arr: i64,
    pub customers_start: i64,
    /// Paying customers at the end of the month.
    pub customers: i64,
    pub new_customers: i64,
    pub churned_customers: i64,
    pub reactivated_customers: i64,
    /// Average revenue per account: MRR ÷ customers.
    pub arpa: Option<i64>,
    /// Customers churned ÷ customers at the start.
    pub customer_churn_rate: Option<f64>,
    /// (churn + contraction − expansion − reactivation) ÷ MRR at the start.
    pub net_mrr_churn_rate: Option<f64>,
    /// Lifetime value: ARPA ÷ the average customer churn rate of the six months ending with
    /// this one.
    pub ltv: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CohortMonth {
    pub month: String,
    /// The cohort's MRR at the end of the month.
    pub mrr: i64,
    /// That MRR ÷ the cohort's MRR at the end of its first month.
    pub net_mrr_retention: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MrrCohort {
    /// The month of the cohort's customers' first subscription.
    pub cohort: String,
    pub months: Vec<CohortMonth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyMrr {
    /// ISO code, lower case. Currencies are never converted.
    pub currency: String,
    pub months: Vec<MrrMonth>,
    /// Net MRR retention of the customers who started paying in each month of the range.
    pub cohorts: Vec<MrrCohort>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MrrReport {
    pub from: String,
    pub to: String,
    pub currencies: Vec<CurrencyMrr>,
}

#[derive(Debug)]
pub enum AnalyticsError {
    Month(&'static str, String),
    Range,
    Common(CommonError),
}

error_family!(AnalyticsError, common);

impl ErrorFamily for AnalyticsError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidQuery,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::Forbidden,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        let query = ErrorCode::InvalidQuery;
        match self {
            Self::Month(name, value) => ApiError::invalid(
                query,
                name,
                format_args!("'{value}' is not a month"),
                "Write months as YYYY-MM, e.g. 2026-01.",
            ),
            Self::Range => ApiError::invalid(
                query,
                "from",
                format_args!("must not be after to, and the range at most {MAX_MONTHS} months"),
                "Give from ≤ to, at most ten years apart.",
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

fn month_param(name: &'static str, value: Option<&str>, default: (i32, u32)) -> Result<(i32, u32), AnalyticsError> {
    match value {
        None => Ok(default),
        Some(text) => parse_month(text.trim()).ok_or_else(|| AnalyticsError::Month(name, text.to_owned())),
    }
}

/// MRR movements and subscription metrics month by month, per currency: new, expansion,
/// contraction, churn and reactivation MRR; MRR, ARR, customers, ARPA, customer churn rate,
/// net MRR churn rate, LTV; and net MRR retention by cohort. Definitions: docs/analytics.md.
#[utoipa::path(get, path = "/api/v1/admin/analytics/mrr", tag = "admin", operation_id = "mrr_report",
    params(MrrQuery), responses((status = 200, body = MrrReport), AnalyticsError))]
pub async fn mrr(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<MrrQuery>,
) -> Result<Json<MrrReport>, AnalyticsError> {
    let this_month = parse_month(&month_of(Utc::now())).unwrap_or((2026, 1));
    let to = month_param("to", q.to.as_deref(), this_month)?;
    let from = month_param("from", q.from.as_deref(), months_before(to, 11))?;
    let months = months_between(from, to);
    if months.is_empty() || months.len() > MAX_MONTHS {
        return Err(AnalyticsError::Range);
    }
    let history_start = months_before(from, LTV_MONTHS);
    let history = months_between(history_start, months_before(from, 1));
    let first = history.first().unwrap_or(&months[0]).clone();
    let last = months[months.len() - 1].clone();
    let sums = state.store.mrr_sums(&first, &last).await?;
    let wanted = q.currency.as_deref().map(|c| c.trim().to_lowercase());
    let mut currencies: Vec<&str> = sums
        .before
        .iter()
        .map(|t| t.currency.as_str())
        .chain(sums.movements.iter().map(|m| m.currency.as_str()))
        .filter(|c| wanted.as_deref().is_none_or(|w| w == *c))
        .collect();
    currencies.sort_unstable();
    currencies.dedup();
    let cohorts = cohort_retention(&months, &sums.cohorts);
    let report = currencies
        .into_iter()
        .map(|currency| {
            let start = sums
                .before
                .iter()
                .find(|t| t.currency == currency)
                .cloned()
                .unwrap_or(CurrencyTotals {
                    currency: currency.to_owned(),
                    mrr_cents: 0,
                    customers: 0,
                });
            let months = month_figures(&start, &history, &months, &sums.movements)
                .into_iter()
                .map(|f| MrrMonth {
                    month: f.month,
                    new: f.movements.new,
                    expansion: f.movements.expansion,
                    contraction: f.movements.contraction,
                    churn: f.movements.churn,
                    reactivation: f.movements.reactivation,
                    net: f.movements.net(),
                    mrr_start: f.mrr_start,
                    mrr: f.mrr_end,
                    arr: f.arr,
                    customers_start: f.customers_start,
                    customers: f.customers_end,
                    new_customers: f.movements.new_customers,
                    churned_customers: f.movements.churned_customers,
                    reactivated_customers: f.movements.reactivated_customers,
                    arpa: f.arpa,
                    customer_churn_rate: f.customer_churn_rate,
                    net_mrr_churn_rate: f.net_mrr_churn_rate,
                    ltv: f.ltv,
                })
                .collect();
            CurrencyMrr {
                currency: currency.to_owned(),
                months,
                cohorts: cohorts
                    .iter()
                    .filter(|c| c.currency == currency)
                    .map(|c| MrrCohort {
                        cohort: c.cohort.clone(),
                        months: c
                            .months
                            .iter()
                            .map(|(month, mrr, retention)| CohortMonth {
                                month: month.clone(),
                                mrr: *mrr,
                                net_mrr_retention: *retention,
                            })
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Json(MrrReport {
        from: months[0].clone(),
        to: last,
        currencies: report,
    }))
}
