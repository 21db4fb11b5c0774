//! Billing: the subscriptions Stripe tells us about, and the subscription metrics computed from
//! them. The metric definitions live here, once (ChartMogul's, docs/analytics.md); the
//! backends run the aggregations in SQL and hand the sums to [`month_figures`] and
//! [`cohort_retention`].
//!
//! Money is integer cents per currency (ISO code, lower case as Stripe writes it), never
//! converted between currencies.

use chrono::{DateTime, Datelike, Utc};
use plansmith_domain::{Plan, UserId};

/// A change of a customer's MRR, by ChartMogul's definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MovementKind {
    /// The customer's first MRR.
    New,
    /// More MRR than before.
    Expansion,
    /// Less MRR than before, but some.
    Contraction,
    /// No MRR left.
    Churn,
    /// MRR again after a churn.
    Reactivation,
}

impl MovementKind {
    pub const ALL: [Self; 5] = [
        Self::New,
        Self::Expansion,
        Self::Contraction,
        Self::Churn,
        Self::Reactivation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Expansion => "expansion",
            Self::Contraction => "contraction",
            Self::Churn => "churn",
            Self::Reactivation => "reactivation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How the movement changes the count of paying customers.
    pub fn customers(self) -> i64 {
        match self {
            Self::New | Self::Reactivation => 1,
            Self::Churn => -1,
            Self::Expansion | Self::Contraction => 0,
        }
    }
}

/// The movement that a customer's MRR (in one currency) going from `before` to `after` is;
/// `paid_before`: the customer has had MRR at some time before. None when nothing changed.
pub fn classify(before: i64, after: i64, paid_before: bool) -> Option<MovementKind> {
    Some(match (before, after) {
        (b, a) if b == a => return None,
        (0, _) if paid_before => MovementKind::Reactivation,
        (0, _) => MovementKind::New,
        (_, 0) => MovementKind::Churn,
        (b, a) if a > b => MovementKind::Expansion,
        _ => MovementKind::Contraction,
    })
}

/// A billing period's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

impl Interval {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "day" => Self::Day,
            "week" => Self::Week,
            "month" => Self::Month,
            "year" => Self::Year,
            _ => return None,
        })
    }

    /// Periods of one unit in a month, as the fraction `n / 12` (a year is 12 months, a week
    /// 52/12 of a month's share, a day 365/12).
    fn twelfths_per_month(self) -> i128 {
        match self {
            Self::Day => 365,
            Self::Week => 52,
            Self::Month => 12,
            Self::Year => 1,
        }
    }
}

/// One priced line of a subscription: `unit_amount × quantity` cents every `count` intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedItem {
    pub unit_amount: i64,
    pub quantity: i64,
    pub interval: Interval,
    pub count: i64,
}

/// A discount on a subscription: a percentage off (in hundredths of a percent: 12.5 % is 1250)
/// and/or an amount off each invoice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Discount {
    pub percent_off_hundredths: i64,
    pub amount_off: i64,
}

/// An exact fraction of cents.
#[derive(Debug, Clone, Copy)]
struct Fraction {
    num: i128,
    den: i128,
}

impl Fraction {
    fn add(self, other: Self) -> Self {
        let den = lcm(self.den, other.den);
        Self {
            num: self.num * (den / self.den) + other.num * (den / other.den),
            den,
        }
    }

    /// Rounded half away from zero.
    fn round(self) -> i64 {
        let twice = 2 * self.num.abs() + self.den;
        let rounded = twice / (2 * self.den);
        i64::try_from(self.num.signum() * rounded).unwrap_or(i64::MAX)
    }
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs().max(1) } else { gcd(b, a % b) }
}

fn lcm(a: i128, b: i128) -> i128 {
    a / gcd(a, b) * b
}

/// Monthly recurring revenue of a subscription's items, in cents: each item's
/// `unit_amount × quantity` normalised to a month (a year ÷ 12, a week × 52/12, a day ×
/// 365/12, each ÷ its interval count), after the discount (the percentage first, then the
/// amount off each invoice, normalised as the first item's period), never below zero, rounded
/// half away from zero once, at the end.
pub fn monthly_cents(items: &[PricedItem], discount: Discount) -> i64 {
    let mut total = Fraction { num: 0, den: 1 };
    for item in items {
        let count = i128::from(item.count.max(1));
        total = total.add(Fraction {
            num: i128::from(item.unit_amount) * i128::from(item.quantity) * item.interval.twelfths_per_month(),
            den: 12 * count,
        });
    }
    let percent = i128::from(discount.percent_off_hundredths.clamp(0, 10_000));
    let mut after = Fraction {
        num: total.num * (10_000 - percent),
        den: total.den * 10_000,
    };
    if discount.amount_off > 0
        && let Some(first) = items.first()
    {
        after = after.add(Fraction {
            num: -i128::from(discount.amount_off) * first.interval.twelfths_per_month(),
            den: 12 * i128::from(first.count.max(1)),
        });
    }
    if after.num <= 0 { 0 } else { after.round() }
}

/// The Stripe subscription statuses whose MRR counts (a trial pays nothing yet; an unpaid,
/// cancelled or incomplete subscription brings nothing).
pub fn counts_for_mrr(status: &str) -> bool {
    matches!(status, "active" | "past_due")
}

/// The statuses that give the customer the subscription's plan.
pub fn grants_plan(status: &str) -> bool {
    matches!(status, "active" | "past_due" | "trialing")
}

/// The plan a customer's subscriptions give: the best of those that grant one, else free.
pub fn plan_of<'a>(subscriptions: impl IntoIterator<Item = (&'a str, Option<Plan>)>) -> Plan {
    subscriptions
        .into_iter()
        .filter(|(status, _)| grants_plan(status))
        .filter_map(|(_, plan)| plan)
        .max_by_key(|plan| plan_rank(*plan))
        .unwrap_or(Plan::Free)
}

fn plan_rank(plan: Plan) -> u8 {
    match plan {
        Plan::Free => 0,
        Plan::Pro => 1,
        Plan::Team => 2,
    }
}

/// `YYYY-MM` of an instant (UTC).
pub fn month_of(at: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", at.year(), at.month())
}

/// A `YYYY-MM` month as (year, month), if it is one.
pub fn parse_month(s: &str) -> Option<(i32, u32)> {
    let (year, month) = s.split_once('-')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    let (year, month) = (year.parse().ok()?, month.parse().ok()?);
    (1..=12).contains(&month).then_some((year, month))
}

/// Every month from `from` to `to`, both included (`YYYY-MM`).
pub fn months_between(from: (i32, u32), to: (i32, u32)) -> Vec<String> {
    let mut months = Vec::new();
    let (mut year, mut month) = from;
    while (year, month) <= to {
        months.push(format!("{year:04}-{month:02}"));
        (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    }
    months
}

/// The month `n` months before `month`.
pub fn months_before(month: (i32, u32), n: u32) -> (i32, u32) {
    months_from(month, -i64::from(n))
}

/// The month `n` months after `month`, as `YYYY-MM`.
pub fn months_after(month: (i32, u32), n: u32) -> String {
    let (year, month) = months_from(month, i64::from(n));
    format!("{year:04}-{month:02}")
}

fn months_from(month: (i32, u32), n: i64) -> (i32, u32) {
    let index = i64::from(month.0) * 12 + i64::from(month.1) - 1 + n;
    (index.div_euclid(12) as i32, index.rem_euclid(12) as u32 + 1)
}

// ---- what the webhook records ----

/// A billing event to apply once: `id` is Stripe's event id (a replay is ignored).
#[derive(Debug, Clone)]
pub struct BillingEvent {
    pub id: String,
    /// Stripe's event type (`customer.subscription.updated`, …).
    pub kind: String,
    /// When Stripe created it; orders the changes of one subscription.
    pub at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// A customer past due since before this falls back to free.
    pub grace_cutoff: DateTime<Utc>,
    pub change: BillingChange,
}

#[derive(Debug, Clone)]
pub enum BillingChange {
    Customer(CustomerUpdate),
    Subscription(SubscriptionUpdate),
    InvoicePaid(Payment),
    PaymentFailed(Payment),
    Refund(Payment),
}

/// Who a Stripe customer is: linked to an account by `user` (its metadata) or its email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerUpdate {
    pub customer_id: String,
    pub email: Option<String>,
    pub user: Option<UserId>,
}

/// A subscription as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionUpdate {
    pub id: String,
    pub customer: CustomerUpdate,
    pub status: String,
    pub currency: String,
    pub mrr_cents: i64,
    /// The plan its prices map to, if any.
    pub plan: Option<Plan>,
}

/// An invoice paid or failed, or a refund: `amount` cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub customer_id: String,
    /// The invoice or charge.
    pub object_id: String,
    pub amount: i64,
    pub currency: String,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingOutcome {
    /// This event id was applied before: nothing changed.
    Duplicate,
    Applied {
        /// The account the customer is linked to.
        user: Option<UserId>,
        /// The MRR movement it made, if any.
        movement: Option<MovementKind>,
        /// The account's billed plan after it (when linked).
        plan: Option<Plan>,
    },
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    pub currency: String,
    pub mrr_cents: i64,
    pub plan: Option<Plan>,
    pub updated_at: DateTime<Utc>,
}

/// A person's billing: their Stripe customer, whether a payment failed, their subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingAccount {
    pub customer_id: String,
    pub past_due_since: Option<DateTime<Utc>>,
    pub subscriptions: Vec<Subscription>,
}

// ---- the subscription metrics ----

/// The sums of one month's movements of one kind in one currency (from SQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementSum {
    pub month: String,
    pub currency: String,
    pub kind: MovementKind,
    /// Signed cents: churn and contraction are negative.
    pub cents: i64,
    /// How many movements (for new, churn and reactivation: customers).
    pub count: i64,
}

/// A currency's MRR and paying customers at an instant (from SQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub currency: String,
    pub mrr_cents: i64,
    pub customers: i64,
}

/// The movements of the customers of a signup cohort (the month of their first MRR) in a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortSum {
    pub cohort: String,
    pub month: String,
    pub currency: String,
    pub cents: i64,
}

/// What the store sums for a range of months: the totals before its first month, each month's
/// movements, and the cohorts' movements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MrrSums {
    pub before: Vec<CurrencyTotals>,
    pub movements: Vec<MovementSum>,
    pub cohorts: Vec<CohortSum>,
}

/// One month's movements in one currency, signed cents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Movements {
    pub new: i64,
    pub expansion: i64,
    pub contraction: i64,
    pub churn: i64,
    pub reactivation: i64,
    pub new_customers: i64,
    pub churned_customers: i64,
    pub reactivated_customers: i64,
}

impl Movements {
    pub fn add(&mut self, kind: MovementKind, cents: i64, count: i64) {
        match kind {
            MovementKind::New => {
                self.new += cents;
                self.new_customers += count;
            }
            MovementKind::Expansion => self.expansion += cents,
            MovementKind::Contraction => self.contraction += cents,
            MovementKind::Churn => {
                self.churn += cents;
                self.churned_customers += count;
            }
            MovementKind::Reactivation => {
                self.reactivation += cents;
                self.reactivated_customers += count;
            }
        }
    }

    /// The net change of MRR.
    pub fn net(&self) -> i64 {
        self.new + self.expansion + self.contraction + self.churn + self.reactivation
    }
}

/// A month's subscription metrics in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthFigures {
    pub month: String,
    pub movements: Movements,
    pub mrr_start: i64,
    pub mrr_end: i64,
    /// 12 × MRR at the end of the month.
    pub arr: i64,
    pub customers_start: i64,
    pub customers_end: i64,
    /// MRR ÷ customers at the end of the month, rounded half away from zero; none without
    /// customers.
    pub arpa: Option<i64>,
    /// Customers churned in the month ÷ customers at its start.
    pub customer_churn_rate: Option<f64>,
    /// (churn + contraction − expansion − reactivation) ÷ MRR at the start of the month, the
    /// amounts as magnitudes (negative: the month's expansion outweighed its losses).
    pub net_mrr_churn_rate: Option<f64>,
    /// ARPA ÷ the average customer churn rate of the six months ending with this one (those
    /// with customers at their start); none while that average is zero.
    pub ltv: Option<i64>,
}

/// The figures of each month of `months` (ascending, `YYYY-MM`), from the totals at the start
/// of the first of `history` months before them and each month's movements. `history` months
/// before the range feed the LTV's churn average; they are not returned.
pub fn month_figures(
    start: &CurrencyTotals,
    history: &[String],
    months: &[String],
    movements: &[MovementSum],
) -> Vec<MonthFigures> {
    let (mut mrr, mut customers) = (start.mrr_cents, start.customers);
    let mut churn_rates: Vec<Option<f64>> = Vec::new();
    let mut figures = Vec::with_capacity(months.len());
    for (index, month) in history.iter().chain(months).enumerate() {
        let mut m = Movements::default();
        for sum in movements
            .iter()
            .filter(|s| &s.month == month && s.currency == start.currency)
        {
            m.add(sum.kind, sum.cents, sum.count);
        }
        let (mrr_start, customers_start) = (mrr, customers);
        mrr += m.net();
        customers += m.new_customers + m.reactivated_customers - m.churned_customers;
        let customer_churn_rate = (customers_start > 0).then(|| m.churned_customers as f64 / customers_start as f64);
        churn_rates.push(customer_churn_rate);
        if index < history.len() {
            continue;
        }
        let losses = -m.churn - m.contraction;
        let gains = m.expansion + m.reactivation;
        let net_mrr_churn_rate = (mrr_start > 0).then(|| (losses - gains) as f64 / mrr_start as f64);
        let arpa = (customers > 0).then(|| {
            Fraction {
                num: i128::from(mrr),
                den: i128::from(customers),
            }
            .round()
        });
        let recent: Vec<f64> = churn_rates.iter().rev().take(6).flatten().copied().collect();
        let average_churn = if recent.is_empty() {
            0.0
        } else {
            recent.iter().sum::<f64>() / recent.len() as f64
        };
        let ltv = match arpa {
            Some(arpa) if average_churn > 0.0 => Some((arpa as f64 / average_churn).round() as i64),
            _ => None,
        };
        figures.push(MonthFigures {
            month: month.clone(),
            movements: m,
            mrr_start,
            mrr_end: mrr,
            arr: mrr * 12,
            customers_start,
            customers_end: customers,
            arpa,
            customer_churn_rate,
            net_mrr_churn_rate,
            ltv,
        });
    }
    figures
}

/// A signup cohort's MRR month by month, and its net MRR retention: the MRR at the end of a
/// month ÷ the MRR at the end of the cohort's own month.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortRetention {
    pub cohort: String,
    pub currency: String,
    /// From the cohort's month to the last month: (month, MRR at its end, net MRR retention).
    pub months: Vec<(String, i64, Option<f64>)>,
}

/// Each cohort's retention over `months` (ascending; cohorts start within them).
pub fn cohort_retention(months: &[String], sums: &[CohortSum]) -> Vec<CohortRetention> {
    let mut keys: Vec<(&str, &str)> = sums.iter().map(|s| (s.cohort.as_str(), s.currency.as_str())).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter(|(cohort, _)| months.iter().any(|m| m == cohort))
        .map(|(cohort, currency)| {
            let mut mrr = 0;
            let mut base = None;
            let row = months
                .iter()
                .skip_while(|m| m.as_str() != cohort)
                .map(|month| {
                    mrr += sums
                        .iter()
                        .filter(|s| s.cohort == cohort && s.currency == currency && &s.month == month)
                        .map(|s| s.cents)
                        .sum::<i64>();
                    let base = *base.get_or_insert(mrr);
                    let retention = (base > 0).then(|| mrr as f64 / base as f64);
                    (month.clone(), mrr, retention)
                })
                .collect();
            CohortRetention {
                cohort: cohort.to_owned(),
                currency: currency.to_owned(),
                months: row,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monthly(amount: i64) -> PricedItem {
        PricedItem {
            unit_amount: amount,
            quantity: 1,
            interval: Interval::Month,
            count: 1,
        }
    }

    #[test]
    fn each_change_of_mrr_is_one_movement() {
        assert_eq!(classify(0, 5000, false), Some(MovementKind::New));
        assert_eq!(classify(5000, 8000, true), Some(MovementKind::Expansion));
        assert_eq!(classify(8000, 3000, true), Some(MovementKind::Contraction));
        assert_eq!(classify(3000, 0, true), Some(MovementKind::Churn));
        assert_eq!(classify(0, 5000, true), Some(MovementKind::Reactivation));
        assert_eq!(classify(5000, 5000, true), None);
        assert_eq!(classify(0, 0, false), None);
    }

    #[test]
    fn periods_are_normalised_to_a_month() {
        let item = |amount, interval, count| PricedItem {
            unit_amount: amount,
            quantity: 1,
            interval,
            count,
        };
        let none = Discount::default();
        assert_eq!(monthly_cents(&[item(12_000, Interval::Year, 1)], none), 1000);
        // $10 a week: 10 × 52 / 12 = 43.333… dollars.
        assert_eq!(monthly_cents(&[item(1000, Interval::Week, 1)], none), 4333);
        // $1 a day: 365 / 12 = 30.4166… dollars.
        assert_eq!(monthly_cents(&[item(100, Interval::Day, 1)], none), 3042);
        // Every 3 months.
        assert_eq!(monthly_cents(&[item(3000, Interval::Month, 3)], none), 1000);
        // Quantity: 3 seats at $3.33.
        let seats = PricedItem {
            unit_amount: 333,
            quantity: 3,
            interval: Interval::Month,
            count: 1,
        };
        assert_eq!(monthly_cents(&[seats], none), 999);
        // Rounded once, at the end: two items of 83.5 cents a month make 167, not 168.
        let yearly = item(1002, Interval::Year, 1);
        assert_eq!(monthly_cents(&[yearly.clone(), yearly], none), 167);
    }

    #[test]
    fn discounts_come_off_before_rounding_and_never_below_zero() {
        let percent = Discount {
            percent_off_hundredths: 2500,
            amount_off: 0,
        };
        assert_eq!(monthly_cents(&[monthly(5000)], percent), 3750);
        let half_and_some = Discount {
            percent_off_hundredths: 1250,
            amount_off: 0,
        };
        assert_eq!(monthly_cents(&[monthly(999)], half_and_some), 874); // 874.125
        let amount = Discount {
            percent_off_hundredths: 0,
            amount_off: 1200,
        };
        // $120 a year less $12 off each (yearly) invoice: 108 / 12 = $9.
        let yearly = PricedItem {
            unit_amount: 12_000,
            quantity: 1,
            interval: Interval::Year,
            count: 1,
        };
        assert_eq!(monthly_cents(&[yearly], amount), 900);
        let all = Discount {
            percent_off_hundredths: 0,
            amount_off: 10_000,
        };
        assert_eq!(monthly_cents(&[monthly(5000)], all), 0);
    }

    fn sum(month: &str, kind: MovementKind, cents: i64) -> MovementSum {
        MovementSum {
            month: month.into(),
            currency: "usd".into(),
            kind,
            cents,
            count: 1,
        }
    }

    /// A customer on $50/mo moves to $80/mo, cancels, and returns on $50/mo; another joins
    /// on $20/mo and leaves.
    #[test]
    fn a_customer_who_upgrades_cancels_and_returns() {
        let months = months_between((2026, 1), (2026, 5));
        let movements = [
            sum("2026-01", MovementKind::New, 5000),
            sum("2026-01", MovementKind::New, 2000),
            sum("2026-02", MovementKind::Expansion, 3000),
            sum("2026-03", MovementKind::Churn, -8000),
            sum("2026-04", MovementKind::Reactivation, 5000),
            sum("2026-05", MovementKind::Churn, -2000),
        ];
        let start = CurrencyTotals {
            currency: "usd".into(),
            mrr_cents: 0,
            customers: 0,
        };
        let f = month_figures(&start, &[], &months, &movements);
        let mrr: Vec<i64> = f.iter().map(|m| m.mrr_end).collect();
        assert_eq!(mrr, [7000, 10_000, 2000, 7000, 5000]);
        let customers: Vec<i64> = f.iter().map(|m| m.customers_end).collect();
        assert_eq!(customers, [2, 2, 1, 2, 1]);
        assert_eq!(f[1].arr, 120_000);
        assert_eq!(f[1].arpa, Some(5000));
        // March: 1 of 2 customers churned; $80 lost of $100.
        assert_eq!(f[2].customer_churn_rate, Some(0.5));
        assert_eq!(f[2].net_mrr_churn_rate, Some(0.8));
        // February: $30 of expansion on $70 at the start: negative net churn.
        assert_eq!(f[1].net_mrr_churn_rate, Some(-3000.0 / 7000.0));
        // April: $50 back on $20 at the start.
        assert_eq!(f[3].net_mrr_churn_rate, Some(-2.5));
        // January has no customers at its start: no rates.
        assert_eq!(f[0].customer_churn_rate, None);
        // LTV in April: ARPA $35 ÷ average churn of Feb (0), Mar (0.5), Apr (0) = 1/6.
        assert_eq!(f[3].arpa, Some(3500));
        assert_eq!(f[3].ltv, Some(21_000));
        // Before any churn there is no LTV.
        assert_eq!(f[1].ltv, None);
    }

    #[test]
    fn cohorts_keep_their_mrr_relative_to_their_first_month() {
        let months = months_between((2026, 1), (2026, 3));
        let c = |cohort: &str, month: &str, cents| CohortSum {
            cohort: cohort.into(),
            month: month.into(),
            currency: "usd".into(),
            cents,
        };
        let sums = [
            c("2026-01", "2026-01", 10_000),
            c("2026-01", "2026-02", 2000),
            c("2026-01", "2026-03", -6000),
            c("2026-02", "2026-02", 5000),
        ];
        let cohorts = cohort_retention(&months, &sums);
        assert_eq!(cohorts.len(), 2);
        assert_eq!(
            cohorts[0].months,
            [
                ("2026-01".into(), 10_000, Some(1.0)),
                ("2026-02".into(), 12_000, Some(1.2)),
                ("2026-03".into(), 6000, Some(0.6)),
            ]
        );
        assert_eq!(cohorts[1].months[0], ("2026-02".into(), 5000, Some(1.0)));
        assert_eq!(cohorts[1].months.len(), 2);
    }

    #[test]
    fn months_are_counted_across_years() {
        assert_eq!(months_before((2026, 2), 3), (2025, 11));
        assert_eq!(months_after((2025, 11), 3), "2026-02");
        assert_eq!(months_between((2025, 11), (2026, 2)).len(), 4);
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(parse_month("2026-1"), None);
        assert_eq!(parse_month("2026-01"), Some((2026, 1)));
    }

    #[test]
    fn the_best_granted_plan_counts() {
        assert_eq!(
            plan_of([("canceled", Some(Plan::Team)), ("active", Some(Plan::Pro))]),
            Plan::Pro
        );
        assert_eq!(plan_of([("trialing", Some(Plan::Team))]), Plan::Team);
        assert_eq!(plan_of([("unpaid", Some(Plan::Team))]), Plan::Free);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// (day of the history, customer, new MRR of that customer in cents)
    fn histories() -> impl Strategy<Value = Vec<(u32, u8, i64)>> {
        prop::collection::vec((0u32..720, 0u8..12, prop_oneof![Just(0i64), 1i64..20_000]), 0..120)
    }

    proptest! {
        /// Whatever happens to whom, each month the movements add up to the change of MRR,
        /// and the MRR and customers at each month's end are those of the customers then.
        #[test]
        fn movements_add_up_to_the_change_of_mrr(mut history in histories()) {
            history.sort_by_key(|(day, _, _)| *day);
            let start = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
            let mut mrr: BTreeMap<u8, i64> = BTreeMap::new();
            let mut paid: BTreeMap<u8, bool> = BTreeMap::new();
            let mut sums: BTreeMap<(String, MovementKind), (i64, i64)> = BTreeMap::new();
            let mut at_end: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            for (day, customer, after) in history {
                let month = month_of(start + chrono::Duration::days(i64::from(day)));
                let before = mrr.get(&customer).copied().unwrap_or(0);
                let paid_before = paid.get(&customer).copied().unwrap_or(false);
                if let Some(kind) = classify(before, after, paid_before) {
                    let entry = sums.entry((month.clone(), kind)).or_default();
                    entry.0 += after - before;
                    entry.1 += 1;
                }
                mrr.insert(customer, after);
                paid.insert(customer, paid_before || after > 0);
                let total: i64 = mrr.values().sum();
                let customers = mrr.values().filter(|v| **v > 0).count() as i64;
                at_end.insert(month, (total, customers));
            }
            let movements: Vec<MovementSum> = sums
                .into_iter()
                .map(|((month, kind), (cents, count))| MovementSum { month, currency: "usd".into(), kind, cents, count })
                .collect();
            let months = months_between((2025, 1), (2026, 12));
            let zero = CurrencyTotals { currency: "usd".into(), mrr_cents: 0, customers: 0 };
            let figures = month_figures(&zero, &[], &months, &movements);
            let mut last = (0, 0);
            for f in figures {
                prop_assert_eq!(f.mrr_end - f.mrr_start, f.movements.net());
                let expected = at_end.get(&f.month).copied().unwrap_or(last);
                prop_assert_eq!((f.mrr_end, f.customers_end), expected);
                last = expected;
            }
        }
    }
}
