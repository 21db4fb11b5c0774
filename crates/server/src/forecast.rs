//! The MRR forecast (docs/analytics.md): Holt's linear trend method (additive level and trend,
//! exponential smoothing) fitted to the monthly series, with 80 % and 95 % prediction
//! intervals, and a rolling-origin backtest whose error (MAPE, MASE) and interval coverage are
//! reported with every forecast. No forecast is shown without its measured error.

/// Smoothing weights tried for the level and the trend (a grid: the series are short).
const GRID: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
/// z of the central 80 % and 95 % of a normal distribution.
const Z80: f64 = 1.281_551_565_545;
const Z95: f64 = 1.959_963_984_540;
/// The fewest months a model is fitted on.
pub const MIN_HISTORY: usize = 4;

/// A fitted model: smoothing weights, the last level and trend, and the spread of its
/// one-step errors.
#[derive(Debug, Clone, PartialEq)]
pub struct Holt {
    pub alpha: f64,
    pub beta: f64,
    level: f64,
    trend: f64,
    /// Standard deviation of the one-step-ahead errors in the fit.
    pub sigma: f64,
}

/// One forecast month: the point forecast and its intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub mean: f64,
    pub low80: f64,
    pub high80: f64,
    pub low95: f64,
    pub high95: f64,
}

impl Holt {
    /// Fits the weights that make the smallest one-step squared error; none with fewer than
    /// [`MIN_HISTORY`] months.
    pub fn fit(series: &[f64]) -> Option<Self> {
        if series.len() < MIN_HISTORY {
            return None;
        }
        let mut best: Option<(f64, Self)> = None;
        for alpha in GRID {
            for beta in GRID {
                let (sse, model) = Self::run(series, alpha, beta);
                if best.as_ref().is_none_or(|(b, _)| sse < *b) {
                    best = Some((sse, model));
                }
            }
        }
        best.map(|(_, model)| model)
    }

    /// Smooths the series with these weights; returns the squared one-step errors' sum.
    fn run(series: &[f64], alpha: f64, beta: f64) -> (f64, Self) {
        let mut level = series[0];
        let mut trend = series[1] - series[0];
        let mut sse = 0.0;
        let mut n = 0usize;
        for &y in &series[1..] {
            let predicted = level + trend;
            let error = y - predicted;
            sse += error * error;
            n += 1;
            let previous = level;
            level = alpha * y + (1.0 - alpha) * (level + trend);
            trend = beta * (level - previous) + (1.0 - beta) * trend;
        }
        // The first error is zero by construction of the trend; it does not count.
        let sigma = if n > 2 { (sse / (n - 2) as f64).sqrt() } else { 0.0 };
        (
            sse,
            Self {
                alpha,
                beta,
                level,
                trend,
                sigma,
            },
        )
    }

    /// `h` months ahead (1 = next month). The variance of an h-step error of Holt's method:
    /// σ² (1 + Σ_{j=1}^{h-1} (α + jαβ)²). MRR is never negative: bounds are cut at zero.
    pub fn forecast(&self, h: usize) -> Point {
        let mean = self.level + h as f64 * self.trend;
        let spread: f64 = (1..h)
            .map(|j| (self.alpha + j as f64 * self.alpha * self.beta).powi(2))
            .sum::<f64>()
            + 1.0;
        let sd = self.sigma * spread.sqrt();
        Point {
            mean: mean.max(0.0),
            low80: (mean - Z80 * sd).max(0.0),
            high80: (mean + Z80 * sd).max(0.0),
            low95: (mean - Z95 * sd).max(0.0),
            high95: (mean + Z95 * sd).max(0.0),
        }
    }
}

/// How well the model forecast the past.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    /// Forecasts compared with what happened.
    pub forecasts: usize,
    /// Mean absolute percentage error (months with zero MRR left out), as a fraction.
    pub mape: Option<f64>,
    /// Mean absolute scaled error: the mean absolute error ÷ that of the naive one-step
    /// forecast ("next month as this month") over the history. Below 1 beats the naive.
    pub mase: Option<f64>,
    /// Share of the actual values inside the 80 % and 95 % intervals.
    pub coverage80: Option<f64>,
    pub coverage95: Option<f64>,
}

/// Rolling origin: for each month from the [`MIN_HISTORY`]th on, fit on the months before it
/// and forecast up to `horizon` months ahead, against the months that followed.
pub fn backtest(series: &[f64], horizon: usize) -> Backtest {
    let mut absolute = Vec::new();
    let mut percentage = Vec::new();
    let (mut inside80, mut inside95) = (0usize, 0usize);
    for origin in MIN_HISTORY..series.len() {
        let Some(model) = Holt::fit(&series[..origin]) else {
            continue;
        };
        for h in 1..=horizon {
            let Some(&actual) = series.get(origin + h - 1) else {
                break;
            };
            let point = model.forecast(h);
            let error = (actual - point.mean).abs();
            absolute.push(error);
            if actual != 0.0 {
                percentage.push(error / actual.abs());
            }
            inside80 += usize::from((point.low80..=point.high80).contains(&actual));
            inside95 += usize::from((point.low95..=point.high95).contains(&actual));
        }
    }
    let n = absolute.len();
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let naive: Vec<f64> = series.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let scale = mean(&naive).filter(|s| *s > 0.0);
    Backtest {
        forecasts: n,
        mape: mean(&percentage),
        mase: mean(&absolute).zip(scale).map(|(mae, scale)| mae / scale),
        coverage80: (n > 0).then(|| inside80 as f64 / n as f64),
        coverage95: (n > 0).then(|| inside95 as f64 / n as f64),
    }
}

/// The MRR-weighted retention curve of signup cohorts: at each age (months since the cohort's
/// first month) the cohorts' MRR then ÷ their MRR in their first month, over the cohorts old
/// enough to have that age. `cohorts`: each cohort's MRR by age, from its first month.
pub fn retention_curve(cohorts: &[Vec<i64>]) -> Vec<f64> {
    let longest = cohorts.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .map_while(|age| {
            let (now, base) = cohorts
                .iter()
                .filter(|c| c.len() > age && c[0] > 0)
                .fold((0i64, 0i64), |(n, b), c| (n + c[age], b + c[0]));
            (base > 0).then(|| now as f64 / base as f64)
        })
        .collect()
}

/// The curve at `age`, past its end continued by its average month-over-month change over
/// its last six months.
fn curve_at(curve: &[f64], age: usize) -> f64 {
    if let Some(r) = curve.get(age) {
        return *r;
    }
    let Some(&last) = curve.last() else { return 1.0 };
    let tail: Vec<f64> = curve
        .windows(2)
        .rev()
        .take(6)
        .filter(|w| w[0] > 0.0)
        .map(|w| w[1] / w[0])
        .collect();
    let step = if tail.is_empty() {
        1.0
    } else {
        (tail.iter().sum::<f64>() / tail.len() as f64).clamp(0.0, 1.5)
    };
    last * step.powi((age + 1 - curve.len()) as i32)
}

/// The cohort-based view of MRR `horizon` months ahead: each existing cohort (its age now and
/// MRR now) follows the retention curve from its age on; the MRR of customers older than the
/// cohorts (`residual`) stays; and each future month brings `new_mrr[j]` that then follows
/// the curve from age 0.
pub fn cohort_projection(existing: &[(usize, f64)], residual: f64, new_mrr: &[f64], curve: &[f64]) -> Vec<f64> {
    (1..=new_mrr.len())
        .map(|h| {
            let kept: f64 = existing
                .iter()
                .map(|&(age, mrr)| {
                    let from = curve_at(curve, age);
                    if from > 0.0 {
                        mrr * curve_at(curve, age + h) / from
                    } else {
                        0.0
                    }
                })
                .sum();
            let joined: f64 = (1..=h).map(|j| new_mrr[j - 1] * curve_at(curve, h - j)).sum();
            (residual + kept + joined).max(0.0)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn cohorts_follow_their_retention_curve_and_new_customers_join_it() {
        // Two cohorts: 100 → 90 → 81, and 200 → 180.
        let curve = retention_curve(&[vec![100, 90, 81], vec![200, 180]]);
        assert_eq!(curve.len(), 3);
        assert!(
            (curve[1] - 0.9).abs() < 1e-12 && (curve[2] - 0.81).abs() < 1e-12,
            "{curve:?}"
        );
        // Past its end the curve keeps losing 10 % a month.
        assert!((curve_at(&curve, 4) - 0.6561).abs() < 1e-9);
        // Cohort A is 2 months old with 81, B 1 month with 180; 50 new each month; 10 older.
        let view = cohort_projection(&[(2, 81.0), (1, 180.0)], 10.0, &[50.0, 50.0], &curve);
        let month1 = 10.0 + 81.0 * 0.9 + 180.0 * 0.9 + 50.0;
        let month2 = 10.0 + 81.0 * 0.81 + 180.0 * 0.81 + 50.0 * 0.9 + 50.0;
        assert!(
            (view[0] - month1).abs() < 1e-9 && (view[1] - month2).abs() < 1e-9,
            "{view:?}"
        );
    }

    #[test]
    fn a_straight_line_is_continued_exactly() {
        let series: Vec<f64> = (0..12).map(|m| 1000.0 + 250.0 * m as f64).collect();
        let model = Holt::fit(&series).unwrap();
        let next = model.forecast(3);
        assert!((next.mean - (1000.0 + 250.0 * 14.0)).abs() < 1e-6, "{next:?}");
        assert!(next.high95 - next.low95 < 1e-6, "no error in the fit, no spread");
        let test = backtest(&series, 3);
        assert!(test.mape.unwrap() < 1e-9 && test.mase.unwrap() < 1e-9, "{test:?}");
    }

    #[test]
    fn intervals_widen_with_the_horizon_and_stay_at_or_above_zero() {
        let series = [100.0, 140.0, 90.0, 160.0, 120.0, 180.0, 130.0, 200.0];
        let model = Holt::fit(&series).unwrap();
        let (near, far) = (model.forecast(1), model.forecast(6));
        assert!(far.high95 - far.low95 > near.high95 - near.low95);
        assert!(near.low95 <= near.low80 && near.low80 <= near.mean && near.mean <= near.high80);
        assert!(near.high80 <= near.high95);
        let falling = [500.0, 400.0, 300.0, 200.0, 100.0];
        let gone = Holt::fit(&falling).unwrap().forecast(6);
        assert_eq!((gone.mean, gone.low95), (0.0, 0.0));
        assert!(Holt::fit(&series[..3]).is_none(), "too short to fit");
    }

    /// On a noisy growing series the 95 % intervals hold most of what happened, and the model
    /// beats the naive forecast on a trend.
    #[test]
    fn the_backtest_measures_error_and_coverage_honestly() {
        let mut rng = StdRng::seed_from_u64(7);
        let series: Vec<f64> = (0..36)
            .map(|m| 10_000.0 + 400.0 * m as f64 + rng.random_range(-300.0..300.0))
            .collect();
        let test = backtest(&series, 3);
        assert_eq!(test.forecasts, (4..36).map(|o| (36 - o).min(3)).sum::<usize>());
        let (mape, mase) = (test.mape.unwrap(), test.mase.unwrap());
        assert!(mape > 0.0 && mape < 0.05, "{test:?}");
        assert!(mase < 1.0, "beats next-month-as-this-month on a trend: {test:?}");
        assert!(test.coverage95.unwrap() >= 0.8, "{test:?}");
        assert!(test.coverage80.unwrap() <= test.coverage95.unwrap());
    }
}
