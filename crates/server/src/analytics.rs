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
    CurrencyTotals, cohort_retention, month_figures, month_of, months_after, months_before, months_between, parse_month,
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
    Horizon(u32),
    Plan(String),
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
            Self::Horizon(months) => ApiError::invalid(
                query,
                "months",
                format_args!("{months} is not 1 to 12"),
                "Forecast 1 to 12 months ahead.",
            ),
            Self::Plan(plan) => ApiError::invalid(
                query,
                "plan",
                format_args!("'{plan}' is not a plan"),
                "Use free, pro or team.",
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

/// The currencies the sums have (only `wanted`, when given), sorted.
fn currencies_of<'a>(sums: &'a plansmith_store::billing::MrrSums, wanted: Option<&str>) -> Vec<&'a str> {
    let wanted = wanted.map(|c| c.trim().to_lowercase());
    let mut currencies: Vec<&str> = sums
        .before
        .iter()
        .map(|t| t.currency.as_str())
        .chain(sums.movements.iter().map(|m| m.currency.as_str()))
        .filter(|c| wanted.as_deref().is_none_or(|w| w == *c))
        .collect();
    currencies.sort_unstable();
    currencies.dedup();
    currencies
}

/// A currency's totals before the summed range (none: zero).
fn start_of(sums: &plansmith_store::billing::MrrSums, currency: &str) -> CurrencyTotals {
    sums.before
        .iter()
        .find(|t| t.currency == currency)
        .cloned()
        .unwrap_or(CurrencyTotals {
            currency: currency.to_owned(),
            mrr_cents: 0,
            customers: 0,
        })
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
    let currencies = currencies_of(&sums, q.currency.as_deref());
    let cohorts = cohort_retention(&months, &sums.cohorts);
    let report = currencies
        .into_iter()
        .map(|currency| {
            let start = start_of(&sums, currency);
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

/// The most months of history a forecast is fitted on.
const FORECAST_HISTORY: u32 = 60;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// Months ahead, 1–12 (default 6).
    pub months: Option<u32>,
    /// Only this currency (ISO code).
    pub currency: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryMonth {
    pub month: String,
    /// MRR at the end of the month (this month: now), cents.
    pub mrr: i64,
}

/// A forecast month: the point forecast and its 80 % and 95 % prediction intervals, cents.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastMonth {
    pub month: String,
    pub mrr: i64,
    pub low80: i64,
    pub high80: i64,
    pub low95: i64,
    pub high95: i64,
}

/// How the same model forecast the past (rolling origin, the same horizon).
#[derive(Debug, Serialize, ToSchema)]
pub struct BacktestView {
    /// Forecasts compared with what happened.
    pub forecasts: usize,
    /// Mean absolute percentage error, a fraction (0.05 = 5 %).
    pub mape: Option<f64>,
    /// Mean absolute scaled error against next-month-as-this-month; below 1 beats it.
    pub mase: Option<f64>,
    /// Share of actual values inside the 80 % interval.
    pub coverage80: Option<f64>,
    /// Share of actual values inside the 95 % interval.
    pub coverage95: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyForecast {
    pub currency: String,
    /// `holt_linear`: Holt's linear trend exponential smoothing (docs/analytics.md).
    pub model: String,
    /// Smoothing weight of the level.
    pub alpha: Option<f64>,
    /// Smoothing weight of the trend.
    pub beta: Option<f64>,
    pub history: Vec<HistoryMonth>,
    /// Empty while the history is shorter than four months (`note` says so).
    pub forecast: Vec<ForecastMonth>,
    pub backtest: BacktestView,
    /// The cohort-based view of the same months: each signup cohort follows the MRR-weighted
    /// retention curve of the cohorts before it, and new customers keep coming at the trend
    /// of the new MRR (Holt's method on the monthly new MRR).
    pub cohort_view: Vec<HistoryMonth>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastReport {
    pub months: u32,
    pub currencies: Vec<CurrencyForecast>,
}

/// MRR forecast 1–12 months ahead per currency with 80 % and 95 % intervals, and the
/// rolling-origin backtest of the same model over the history: MAPE, MASE and interval
/// coverage. Never a forecast without its measured error.
#[utoipa::path(get, path = "/api/v1/admin/analytics/forecast", tag = "admin", operation_id = "mrr_forecast",
    params(ForecastQuery), responses((status = 200, body = ForecastReport), AnalyticsError))]
pub async fn forecast(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<ForecastQuery>,
) -> Result<Json<ForecastReport>, AnalyticsError> {
    let horizon = q.months.unwrap_or(6);
    if !(1..=12).contains(&horizon) {
        return Err(AnalyticsError::Horizon(horizon));
    }
    let to = parse_month(&month_of(Utc::now())).unwrap_or((2026, 1));
    let from = months_before(to, FORECAST_HISTORY - 1);
    let months = months_between(from, to);
    let sums = state.store.mrr_sums(&months[0], &months[months.len() - 1]).await?;
    let currencies = currencies_of(&sums, q.currency.as_deref());
    let cohorts = cohort_retention(&months, &sums.cohorts);
    let mut report = Vec::with_capacity(currencies.len());
    for currency in currencies {
        let start = start_of(&sums, currency);
        let figures = month_figures(&start, &[], &months, &sums.movements);
        // From the first month with any MRR or movement.
        let begin = figures
            .iter()
            .position(|f| f.mrr_end != 0 || f.movements.net() != 0 || f.mrr_start != 0)
            .unwrap_or(figures.len());
        let history: Vec<HistoryMonth> = figures[begin..]
            .iter()
            .map(|f| HistoryMonth {
                month: f.month.clone(),
                mrr: f.mrr_end,
            })
            .collect();
        let series: Vec<f64> = history.iter().map(|h| h.mrr as f64).collect();
        let model = crate::forecast::Holt::fit(&series);
        let tested = crate::forecast::backtest(&series, horizon as usize);
        let forecast = model
            .as_ref()
            .map(|m| {
                (1..=horizon)
                    .map(|h| {
                        let p = m.forecast(h as usize);
                        ForecastMonth {
                            month: months_after(to, h),
                            mrr: p.mean.round() as i64,
                            low80: p.low80.round() as i64,
                            high80: p.high80.round() as i64,
                            low95: p.low95.round() as i64,
                            high95: p.high95.round() as i64,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let cohort_view = cohort_view(&figures[begin..], &cohorts, currency, horizon, to);
        report.push(CurrencyForecast {
            currency: currency.to_owned(),
            model: "holt_linear".into(),
            cohort_view,
            alpha: model.as_ref().map(|m| m.alpha),
            beta: model.as_ref().map(|m| m.beta),
            note: model.is_none().then(|| {
                format!(
                    "{} months of history; a forecast needs at least {}",
                    history.len(),
                    crate::forecast::MIN_HISTORY
                )
            }),
            history,
            forecast,
            backtest: BacktestView {
                forecasts: tested.forecasts,
                mape: tested.mape,
                mase: tested.mase,
                coverage80: tested.coverage80,
                coverage95: tested.coverage95,
            },
        });
    }
    Ok(Json(ForecastReport {
        months: horizon,
        currencies: report,
    }))
}

/// The cohort-based view of a currency's next `horizon` months (see [`CurrencyForecast`]).
fn cohort_view(
    figures: &[plansmith_store::billing::MonthFigures],
    cohorts: &[plansmith_store::billing::CohortRetention],
    currency: &str,
    horizon: u32,
    to: (i32, u32),
) -> Vec<HistoryMonth> {
    let Some(last) = figures.last() else {
        return Vec::new();
    };
    let mine: Vec<Vec<i64>> = cohorts
        .iter()
        .filter(|c| c.currency == currency)
        .map(|c| c.months.iter().map(|(_, mrr, _)| *mrr).collect())
        .collect();
    let curve = crate::forecast::retention_curve(&mine);
    let existing: Vec<(usize, f64)> = mine
        .iter()
        .filter_map(|c| Some((c.len() - 1, *c.last()? as f64)))
        .collect();
    let residual = last.mrr_end as f64 - existing.iter().map(|(_, mrr)| mrr).sum::<f64>();
    let new_series: Vec<f64> = figures.iter().map(|f| f.movements.new as f64).collect();
    let new_mrr: Vec<f64> = match crate::forecast::Holt::fit(&new_series) {
        Some(model) => (1..=horizon as usize).map(|h| model.forecast(h).mean).collect(),
        None => {
            let recent: Vec<f64> = new_series.iter().rev().take(3).copied().collect();
            let mean = if recent.is_empty() {
                0.0
            } else {
                recent.iter().sum::<f64>() / recent.len() as f64
            };
            vec![mean; horizon as usize]
        }
    };
    crate::forecast::cohort_projection(&existing, residual, &new_mrr, &curve)
        .into_iter()
        .enumerate()
        .map(|(i, mrr)| HistoryMonth {
            month: months_after(to, i as u32 + 1),
            mrr: mrr.round() as i64,
        })
        .collect()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CohortQuery {
    /// Accounts that signed up from this day (`YYYY-MM-DD`, UTC; default 90 days ago).
    pub from: Option<chrono::NaiveDate>,
    /// Until this day, inclusive (default today).
    pub to: Option<chrono::NaiveDate>,
    /// Only accounts on this plan now (`free`, `pro`, `team`).
    pub plan: Option<String>,
    /// Only accounts from this sign-up channel (`utm_source` at sign-up, or `direct`).
    pub channel: Option<String>,
    /// Only sessions of this workflow count for the session stages (funnel).
    pub workflow: Option<String>,
}

fn filter_of(q: &CohortQuery) -> Result<plansmith_store::events::AnalyticsFilter, AnalyticsError> {
    let today = Utc::now().date_naive();
    let to = q.to.unwrap_or(today);
    let from = match q.from {
        Some(from) => from,
        None => to
            .checked_sub_days(chrono::Days::new(89))
            .ok_or(AnalyticsError::Range)?,
    };
    if from > to || (to - from).num_days() > 3660 {
        return Err(AnalyticsError::Range);
    }
    let end = to.checked_add_days(chrono::Days::new(1)).ok_or(AnalyticsError::Range)?;
    let plan = match q.plan.as_deref() {
        None => None,
        Some(p) => Some(plansmith_domain::Plan::parse(p.trim()).ok_or_else(|| AnalyticsError::Plan(p.to_owned()))?),
    };
    let midnight = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    Ok(plansmith_store::events::AnalyticsFilter {
        from: midnight(from),
        to: midnight(end),
        plan,
        channel: q.channel.as_deref().map(|c| crate::auth::signup_channel(Some(c))),
        workflow: q.workflow.clone().filter(|w| !w.trim().is_empty()),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelStage {
    /// `signed_up`, `first_session`, `first_step_completed`, `plan_completed`, `paid`.
    pub stage: String,
    /// Accounts that reached this stage (and every stage before it).
    pub accounts: i64,
    /// Of those that reached the stage before (the first stage: 1).
    pub conversion: Option<f64>,
    /// Of the accounts that signed up.
    pub overall: Option<f64>,
    /// Median seconds from the stage before, among the accounts that made both.
    pub median_seconds_from_previous: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelReport {
    pub stages: Vec<FunnelStage>,
}

/// The activation funnel of the accounts that signed up in the range: sign-up → first session
/// → first completed step → completed plan → paid, with conversions and the median time
/// between stages. Filters combine.
#[utoipa::path(get, path = "/api/v1/admin/analytics/funnel", tag = "admin", operation_id = "funnel_report",
    params(CohortQuery), responses((status = 200, body = FunnelReport), AnalyticsError))]
pub async fn funnel(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<CohortQuery>,
) -> Result<Json<FunnelReport>, AnalyticsError> {
    let filter = filter_of(&q)?;
    state.events.flush().await;
    let sums = state.store.funnel_sums(&filter).await?;
    let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
    let stages = plansmith_store::events::FUNNEL_STAGES
        .iter()
        .enumerate()
        .map(|(i, stage)| FunnelStage {
            stage: (*stage).to_owned(),
            accounts: sums.reached[i],
            conversion: if i == 0 {
                ratio(1, 1)
            } else {
                ratio(sums.reached[i], sums.reached[i - 1])
            },
            overall: ratio(sums.reached[i], sums.reached[0]),
            median_seconds_from_previous: i.checked_sub(1).and_then(|p| sums.median_seconds[p]),
        })
        .collect();
    Ok(Json(FunnelReport { stages }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionCohort {
    /// The Monday (UTC) of the sign-up week.
    pub week: chrono::NaiveDate,
    pub accounts: i64,
    /// Week 0 (the sign-up week), 1, 2, …: the share of the cohort active that week (any
    /// product event), up to the current week (or the latest week with events).
    pub active: Vec<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetentionReport {
    pub cohorts: Vec<RetentionCohort>,
}

/// Weekly retention: accounts by sign-up week × weeks since, the share active each week.
#[utoipa::path(get, path = "/api/v1/admin/analytics/retention", tag = "admin", operation_id = "retention_report",
    params(CohortQuery), responses((status = 200, body = RetentionReport), AnalyticsError))]
pub async fn retention(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<CohortQuery>,
) -> Result<Json<RetentionReport>, AnalyticsError> {
    let filter = filter_of(&q)?;
    state.events.flush().await;
    let sums = state.store.retention_sums(&filter).await?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 5).unwrap_or_default();
    let this_week = (Utc::now().date_naive() - epoch).num_days().div_euclid(7);
    let cohorts = sums
        .cohorts
        .iter()
        .map(|&(week, accounts)| {
            let latest = sums
                .active
                .iter()
                .filter(|(c, _, _)| *c == week)
                .map(|(_, offset, _)| *offset)
                .max()
                .unwrap_or(0);
            let weeks = usize::try_from((this_week - week).max(latest) + 1).unwrap_or(0);
            let mut active = vec![0.0; weeks];
            for &(_, offset, users) in sums.active.iter().filter(|(c, _, _)| *c == week) {
                if let Some(slot) = usize::try_from(offset).ok().and_then(|o| active.get_mut(o)) {
                    *slot = users as f64 / accounts as f64;
                }
            }
            RetentionCohort {
                week: epoch + chrono::Duration::weeks(week),
                accounts,
                active,
            }
        })
        .collect();
    Ok(Json(RetentionReport { cohorts }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QualityQuery {
    /// Ratings, surveys and completed sessions from this day (`YYYY-MM-DD`, UTC; default 90 days ago).
    pub from: Option<chrono::NaiveDate>,
    /// Until this day, inclusive (default today).
    pub to: Option<chrono::NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RatingGroup {
    /// `[workflow]`, `[workflow, step]` or `[provider, model]`.
    pub group: Vec<String>,
    pub ratings: i64,
    /// Mean of the 1–5 ratings.
    pub average_rating: f64,
    /// Share rated useful.
    pub useful_share: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CsatGroup {
    pub workflow: String,
    pub surveys: i64,
    /// Mean of the 1–5 answers.
    pub average_csat: f64,
    /// The mean on a 0–100 scale: (mean − 1) ÷ 4 × 100.
    pub csat_percent: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimeToPlanMeasure {
    /// The month the people signed up (`YYYY-MM`).
    pub cohort: String,
    /// `elapsed` (start → completed), `active` (gaps of 30 minutes or less between messages),
    /// `estimate` (the survey's hours without Plansmith) or `saved` (estimate − active).
    pub measure: String,
    pub sessions: i64,
    /// Nearest-rank quartiles, in hours.
    pub p25_hours: f64,
    pub median_hours: f64,
    pub p75_hours: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QualityReport {
    pub by_workflow: Vec<RatingGroup>,
    pub by_step: Vec<RatingGroup>,
    pub by_model: Vec<RatingGroup>,
    pub csat: Vec<CsatGroup>,
    /// Time to plan against the people's own estimate of traditional planning, per cohort.
    pub time_to_plan: Vec<TimeToPlanMeasure>,
}

/// Session quality: document ratings by workflow, step and the model that wrote them; CSAT
/// by workflow; and the time to plan of completed sessions against the people's own estimate
/// of planning without Plansmith, as quartiles per sign-up cohort. Definitions:
/// docs/analytics.md.
#[utoipa::path(get, path = "/api/v1/admin/analytics/quality", tag = "admin", operation_id = "quality_report",
    params(QualityQuery), responses((status = 200, body = QualityReport), AnalyticsError))]
pub async fn quality(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<QualityQuery>,
) -> Result<Json<QualityReport>, AnalyticsError> {
    let range = filter_of(&CohortQuery {
        from: q.from,
        to: q.to,
        plan: None,
        channel: None,
        workflow: None,
    })?;
    let sums = state.store.quality_sums(range.from, range.to).await?;
    let ratings = |groups: Vec<plansmith_store::quality::RatingSums>| -> Vec<RatingGroup> {
        groups
            .into_iter()
            .filter(|g| g.ratings > 0)
            .map(|g| RatingGroup {
                average_rating: g.rating_sum as f64 / g.ratings as f64,
                useful_share: g.useful as f64 / g.ratings as f64,
                group: g.group,
                ratings: g.ratings,
            })
            .collect()
    };
    Ok(Json(QualityReport {
        by_workflow: ratings(sums.by_workflow),
        by_step: ratings(sums.by_step),
        by_model: ratings(sums.by_model),
        csat: sums
            .csat
            .into_iter()
            .filter(|c| c.surveys > 0)
            .map(|c| {
                let average = c.csat_sum as f64 / c.surveys as f64;
                CsatGroup {
                    workflow: c.workflow,
                    surveys: c.surveys,
                    average_csat: average,
                    csat_percent: (average - 1.0) / 4.0 * 100.0,
                }
            })
            .collect(),
        time_to_plan: sums
            .time_to_plan
            .into_iter()
            .map(|t| TimeToPlanMeasure {
                cohort: t.cohort,
                measure: t.measure,
                sessions: t.sessions,
                p25_hours: t.p25,
                median_hours: t.p50,
                p75_hours: t.p75,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeatureUsage {
    /// The event: `session_started`, `document_exported`, `feature_used`, …
    pub kind: String,
    /// What it was about: the feature, the format, the workflow, …
    pub name: Option<String>,
    pub events: i64,
    /// Distinct accounts.
    pub accounts: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyActive {
    pub day: String,
    pub accounts: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductUsageReport {
    pub features: Vec<FeatureUsage>,
    /// Distinct accounts with an event each day of the range that had any.
    pub daily_active: Vec<DailyActive>,
    /// The mean of the daily active accounts over every day of the range (days without any
    /// count as 0).
    pub average_dau: f64,
    /// Distinct accounts active in the 30 days up to the end of the range.
    pub mau: i64,
    /// Stickiness: average DAU ÷ MAU.
    pub stickiness: Option<f64>,
}

/// Feature usage and stickiness over the events of the range (here `from`/`to` select events,
/// not sign-ups), for the accounts of a plan or channel if given.
#[utoipa::path(get, path = "/api/v1/admin/analytics/usage", tag = "admin", operation_id = "usage_report",
    params(CohortQuery), responses((status = 200, body = ProductUsageReport), AnalyticsError))]
pub async fn usage(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<CohortQuery>,
) -> Result<Json<ProductUsageReport>, AnalyticsError> {
    let filter = filter_of(&q)?;
    state.events.flush().await;
    let sums = state.store.usage_sums(&filter).await?;
    let days = (filter.to - filter.from).num_days().max(1) as f64;
    let average_dau = sums.daily_active.iter().map(|(_, n)| *n as f64).sum::<f64>() / days;
    Ok(Json(ProductUsageReport {
        features: sums
            .features
            .into_iter()
            .map(|(kind, name, events, accounts)| FeatureUsage {
                kind,
                name,
                events,
                accounts,
            })
            .collect(),
        daily_active: sums
            .daily_active
            .into_iter()
            .map(|(day, accounts)| DailyActive { day, accounts })
            .collect(),
        average_dau,
        mau: sums.monthly_active,
        stickiness: (sums.monthly_active > 0).then(|| average_dau / sums.monthly_active as f64),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Segment {
    /// `channel` (at sign-up), `plan` (now) or `workflow` (of the first session; `none`).
    pub dimension: String,
    pub value: String,
    pub accounts: i64,
    /// Started a session.
    pub started: i64,
    /// Completed a plan.
    pub completed: i64,
    /// Paying now.
    pub paying: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentReport {
    pub segments: Vec<Segment>,
}

/// The accounts that signed up in the range by sign-up channel, plan and first workflow, with
/// how many started a session, completed a plan and pay now.
#[utoipa::path(get, path = "/api/v1/admin/analytics/segments", tag = "admin", operation_id = "segments_report",
    params(CohortQuery), responses((status = 200, body = SegmentReport), AnalyticsError))]
pub async fn segments(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<CohortQuery>,
) -> Result<Json<SegmentReport>, AnalyticsError> {
    let filter = filter_of(&q)?;
    state.events.flush().await;
    let sums = state.store.segment_sums(&filter).await?;
    Ok(Json(SegmentReport {
        segments: sums
            .into_iter()
            .map(|s| Segment {
                dimension: s.dimension.to_owned(),
                value: s.value,
                accounts: s.accounts,
                started: s.started,
                completed: s.completed,
                paying: s.paying,
            })
            .collect(),
    }))
}

/// The most texts of each source a themes report reads.
const THEME_TEXTS: u32 = 5000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThemesQuery {
    /// Texts of the last this many months (1–24, default 12).
    pub months: Option<u32>,
    /// Themes at most (1–20, default 8).
    pub k: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThemeMonth {
    pub month: String,
    pub texts: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThemeView {
    /// The top terms joined, e.g. `export · docx · broken`.
    pub label: String,
    pub terms: Vec<String>,
    pub size: usize,
    pub by_month: Vec<ThemeMonth>,
    /// Anonymised, from people who agreed to product research only.
    pub quotes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThemesReport {
    /// Themes of the rating and survey comments.
    pub feedback: Vec<ThemeView>,
    /// Project categories: themes of the session ideas, with their counts by month.
    pub categories: Vec<ThemeView>,
    /// Texts read.
    pub texts: usize,
}

fn theme_views(themes: Vec<crate::themes::Theme>) -> Vec<ThemeView> {
    themes
        .into_iter()
        .map(|t| ThemeView {
            label: t.terms.iter().take(3).cloned().collect::<Vec<_>>().join(" · "),
            terms: t.terms,
            size: t.size,
            by_month: t
                .by_month
                .into_iter()
                .map(|(month, texts)| ThemeMonth { month, texts })
                .collect(),
            quotes: t.quotes,
        })
        .collect()
}

/// Feedback themes and project categories: the comments of ratings and surveys, and the
/// session ideas, grouped by TF-IDF and k-means (deterministic), each with its top terms, size,
/// trend by month and anonymised quotes from people who agreed to product research.
#[utoipa::path(get, path = "/api/v1/admin/analytics/themes", tag = "admin", operation_id = "themes_report",
    params(ThemesQuery), responses((status = 200, body = ThemesReport), AnalyticsError))]
pub async fn themes(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<ThemesQuery>,
) -> Result<Json<ThemesReport>, AnalyticsError> {
    let months = q.months.unwrap_or(12);
    let k = q.k.unwrap_or(8);
    if !(1..=24).contains(&months) || !(1..=20).contains(&k) {
        return Err(AnalyticsError::Range);
    }
    let since = Utc::now() - chrono::Duration::days(i64::from(months) * 31);
    let texts = state.store.feedback_texts(since, THEME_TEXTS).await?;
    let count = texts.len();
    let (ideas, comments): (Vec<_>, Vec<_>) = texts
        .into_iter()
        .partition(|t| t.source == plansmith_store::quality::FeedbackSource::Idea);
    let as_texts = |list: Vec<plansmith_store::quality::FeedbackText>| -> Vec<crate::themes::Text> {
        list.into_iter()
            .map(|t| crate::themes::Text {
                text: t.text,
                at: t.at,
                quotable: t.quotable,
            })
            .collect()
    };
    let (comments, ideas) = (as_texts(comments), as_texts(ideas));
    // The grouping is CPU work: off the request threads.
    let k = k as usize;
    let (feedback, categories) =
        tokio::task::spawn_blocking(move || (crate::themes::themes(&comments, k), crate::themes::themes(&ideas, k)))
            .await
            .map_err(CommonError::internal)?;
    Ok(Json(ThemesReport {
        feedback: theme_views(feedback),
        categories: theme_views(categories),
        texts: count,
    }))
}
