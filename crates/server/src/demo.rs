//! `plansmith demo-data`: a realistic, reproducible history for a fresh install and for the
//! tests and benchmarks of the analytics — accounts signing up month after month, some of them
//! subscribing, upgrading, downgrading, churning and coming back. The subscriptions are Stripe
//! events applied through the webhook's own path (`billing::change_of` then the store), so the
//! figures the dashboard shows are made the way real ones are.

mod sessions;

use crate::billing::{StripeEvent, change_of};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use plansmith_domain::{Email, UserId};
use plansmith_store::billing::{BillingEvent, BillingOutcome};
use plansmith_store::events::{EventKind, ProductEvent};
use plansmith_store::{Consent, NewUser, Store, StoreError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sessions::{Script, StepScript};
use std::collections::BTreeMap;

/// What to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    pub users: u32,
    /// How many months of history, ending now.
    pub months: u32,
    pub seed: u64,
}

/// What was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    pub users: u32,
    /// Product events: sign-ups, sessions, steps, messages, exports, features.
    pub product_events: u32,
    /// Planning sessions written with their conversations and documents.
    pub sessions: u32,
    pub ratings: u32,
    pub surveys: u32,
    pub customers: u32,
    pub events: u32,
    /// MRR at the end, per currency, in cents.
    pub mrr: BTreeMap<String, i64>,
}

/// A price of the demo catalogue: its plan rides on the product's `metadata.plansmith_plan`,
/// so the demo needs no `billing.plans`.
struct Price {
    id: &'static str,
    plan: &'static str,
    /// Cents per interval, per seat.
    amount: i64,
    interval: &'static str,
}

const PRO_MONTHLY: Price = Price {
    id: "price_demo_pro_month",
    plan: "pro",
    amount: 2000,
    interval: "month",
};
const PRO_YEARLY: Price = Price {
    id: "price_demo_pro_year",
    plan: "pro",
    amount: 19_200,
    interval: "year",
};
const TEAM_MONTHLY: Price = Price {
    id: "price_demo_team_month",
    plan: "team",
    amount: 4900,
    interval: "month",
};

/// One customer's subscription as the simulation runs it.
struct Running {
    id: String,
    price: &'static Price,
    seats: i64,
}

/// Probabilities per month (and of the first subscription), chosen to look like a young SaaS.
const CONVERTS: f64 = 0.14;
const CHURNS: f64 = 0.035;
const UPGRADES: f64 = 0.02;
const DOWNGRADES: f64 = 0.01;
const SEATS_CHANGE: f64 = 0.06;
const COMES_BACK: f64 = 0.06;
const PAYMENT_FAILS: f64 = 0.02;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo data for seed {0} is already in this database; use another --seed or a fresh database")]
    AlreadyThere(u64),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("a demo event could not be applied: {0}")]
    Event(String),
    #[error("the demo accounts' password could not be hashed: {0}")]
    Hash(String),
    #[error("the built-in workflows do not load: {0}")]
    Workflows(String),
}

/// Fills the store. Deterministic for a seed: the same accounts and events each time.
pub async fn fill(store: &dyn Store, options: DemoOptions) -> Result<DemoReport, DemoError> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let now = Utc::now();
    let months = options.months.max(1);
    let first = month_start(now, months - 1);
    // Sign-ups grow 8 % a month.
    let weights: Vec<f64> = (0..months).map(|m| 1.08f64.powi(m as i32)).collect();
    let total: f64 = weights.iter().sum();
    let password_hash = demo_password_hash()?;
    let workflows = crate::workflows::builtin().map_err(|e| DemoError::Workflows(e.to_string()))?;
    let mut report = DemoReport::default();
    let mut past_sessions = Vec::new();
    let mut product_events: Vec<ProductEvent> = Vec::new();
    let mut events: Vec<(DateTime<Utc>, Value)> = Vec::new();
    let mut next_event = 0u64;
    let mut event = |at: DateTime<Utc>, kind: &str, object: Value| {
        next_event += 1;
        let id = format!("evt_demo_{}_{next_event}", options.seed);
        events.push((
            at,
            json!({"id": id, "object": "event", "type": kind, "created": at.timestamp(), "data": {"object": object}}),
        ));
    };
    for i in 0..options.users {
        let mut pick = rng.random::<f64>() * total;
        let mut month = 0;
        while month + 1 < months as usize && pick > weights[month] {
            pick -= weights[month];
            month += 1;
        }
        let back = months - 1 - month as u32;
        let start = month_start(now, back).max(first);
        let end = if back == 0 { now } else { month_start(now, back - 1) };
        let span = (end - start).num_seconds().max(1);
        let signed_up = start + Duration::seconds(rng.random_range(0..span));
        let email = format!("demo-{}-{i}@demo.plansmith.test", options.seed);
        let user = match store
            .create_user(NewUser {
                email: Email::parse(&email).map_err(|e| DemoError::Event(e.to_string()))?,
                name: Some(format!("Demo {i}")),
                password_hash: password_hash.clone(),
            })
            .await
        {
            Ok(user) => user.id,
            Err(StoreError::EmailTaken) => return Err(DemoError::AlreadyThere(options.seed)),
            Err(e) => return Err(e.into()),
        };
        store.backdate_user(user, signed_up).await?;
        report.users += 1;
        if let Some(script) = activity(&mut rng, user, signed_up, now, &mut product_events) {
            // The words of the session come from a generator of their own, so the accounts'
            // course and their billing stay as they were for a seed.
            let mut words = StdRng::seed_from_u64(options.seed.rotate_left(32) ^ u64::from(i));
            let made = sessions::write(&mut words, &workflows, user, &script, now)?;
            report.sessions += 1;
            report.ratings += made.session.ratings.len() as u32;
            report.surveys += u32::from(made.session.survey.is_some());
            if made.quotable {
                store
                    .give_consent(Consent {
                        id: uuid::Uuid::now_v7(),
                        user_id: user,
                        kind: crate::consents::PRODUCT_RESEARCH.into(),
                        version: crate::consents::PRODUCT_RESEARCH_VERSION.into(),
                        given_at: signed_up,
                        withdrawn_at: None,
                    })
                    .await?;
            }
            past_sessions.push(made.session);
            if past_sessions.len() >= 200 {
                store.import_sessions(std::mem::take(&mut past_sessions)).await?;
            }
        }
        if product_events.len() >= 2000 {
            report.product_events += product_events.len() as u32;
            store.record_product_events(std::mem::take(&mut product_events)).await?;
        }
        if rng.random::<f64>() >= CONVERTS {
            continue;
        }
        let mut at = signed_up + Duration::seconds((exponential(&mut rng, 20.0) * 86_400.0) as i64);
        if at >= now {
            continue;
        }
        report.customers += 1;
        let customer = format!("cus_demo_{}_{i}", options.seed);
        let currency = match rng.random::<f64>() {
            x if x < 0.8 => "usd",
            x if x < 0.95 => "eur",
            _ => "gbp",
        };
        event(
            at,
            "customer.created",
            json!({"id": customer, "object": "customer", "email": email,
                "metadata": {"plansmith_user_id": user.0.to_string()}}),
        );
        simulate(
            &mut rng,
            &mut event,
            SimulatedCustomer {
                user,
                customer,
                currency,
            },
            &mut at,
            now,
        );
    }
    report.product_events += product_events.len() as u32;
    store.record_product_events(product_events).await?;
    if !past_sessions.is_empty() {
        store.import_sessions(past_sessions).await?;
    }
    events.sort_by_key(|(at, _)| *at);
    let plans = BTreeMap::new();
    for (at, body) in events {
        let stripe: StripeEvent = serde_json::from_value(body).map_err(|e| DemoError::Event(e.to_string()))?;
        let Some(change) = change_of(&stripe, &plans).map_err(|e| DemoError::Event(e.0))? else {
            continue;
        };
        let applied = store
            .apply_billing_event(BillingEvent {
                id: stripe.id.clone(),
                kind: stripe.kind.clone(),
                at,
                received_at: at,
                grace_cutoff: at - Duration::days(7),
                change,
            })
            .await?;
        if applied == BillingOutcome::Duplicate {
            return Err(DemoError::AlreadyThere(options.seed));
        }
        report.events += 1;
    }
    let this_month = plansmith_store::billing::month_of(now);
    let sums = store.mrr_sums(&this_month, &this_month).await?;
    for total in sums.before {
        *report.mrr.entry(total.currency).or_default() += total.mrr_cents;
    }
    for movement in sums.movements {
        *report.mrr.entry(movement.currency).or_default() += movement.cents;
    }
    Ok(report)
}

struct SimulatedCustomer {
    user: UserId,
    customer: String,
    currency: &'static str,
}

/// One customer's life from their first subscription to now, month by month.
fn simulate(
    rng: &mut StdRng,
    event: &mut impl FnMut(DateTime<Utc>, &str, Value),
    who: SimulatedCustomer,
    at: &mut DateTime<Utc>,
    now: DateTime<Utc>,
) {
    let mut generation = 0;
    let mut running = Some(Running {
        id: format!("sub_{}_{generation}", who.customer),
        price: first_price(rng),
        seats: 1,
    });
    if let Some(sub) = &mut running
        && sub.price.plan == "team"
    {
        sub.seats = rng.random_range(2..8);
    }
    let object = |sub: &Running, status: &str| subscription_object(sub, status, &who);
    if let Some(sub) = &running {
        event(*at, "customer.subscription.created", object(sub, "active"));
    }
    let mut invoice = 0;
    loop {
        *at += Duration::days(30) + Duration::hours(rng.random_range(0..48));
        if *at >= now {
            return;
        }
        match &mut running {
            Some(sub) => {
                invoice += 1;
                let invoice_id = format!("in_{}_{invoice}", who.customer);
                let amount = sub.price.amount * sub.seats;
                let paid = json!({"id": invoice_id, "object": "invoice", "customer": who.customer,
                    "currency": who.currency, "amount_paid": amount, "amount_due": amount});
                if rng.random::<f64>() < PAYMENT_FAILS {
                    event(*at, "invoice.payment_failed", paid.clone());
                    event(*at + Duration::days(2), "invoice.paid", paid);
                } else {
                    event(*at, "invoice.paid", paid);
                }
                let roll = rng.random::<f64>();
                if roll < CHURNS {
                    event(*at, "customer.subscription.deleted", object(sub, "canceled"));
                    running = None;
                } else if roll < CHURNS + UPGRADES && sub.price.plan == "pro" {
                    sub.price = &TEAM_MONTHLY;
                    sub.seats = rng.random_range(2..6);
                    event(*at, "customer.subscription.updated", object(sub, "active"));
                } else if roll < CHURNS + UPGRADES + DOWNGRADES && sub.price.plan == "team" {
                    sub.price = &PRO_MONTHLY;
                    sub.seats = 1;
                    event(*at, "customer.subscription.updated", object(sub, "active"));
                } else if roll < CHURNS + UPGRADES + DOWNGRADES + SEATS_CHANGE && sub.price.plan == "team" {
                    sub.seats = (sub.seats + if rng.random::<bool>() { 1 } else { -1 }).max(2);
                    event(*at, "customer.subscription.updated", object(sub, "active"));
                }
            }
            None => {
                if rng.random::<f64>() < COMES_BACK {
                    generation += 1;
                    let sub = Running {
                        id: format!("sub_{}_{generation}", who.customer),
                        price: &PRO_MONTHLY,
                        seats: 1,
                    };
                    event(*at, "customer.subscription.created", object(&sub, "active"));
                    running = Some(sub);
                }
            }
        }
    }
}

/// Sign-up channels and their shares.
const CHANNELS: [(&str, f64); 5] = [
    ("direct", 0.45),
    ("google", 0.25),
    ("newsletter", 0.15),
    ("twitter", 0.10),
    ("producthunt", 0.05),
];
/// The workflows and their steps, as shipped.
const WORKFLOWS: [(&str, &[&str]); 2] = [
    ("product-plan", &["brief", "prd", "architecture", "delivery"]),
    ("quick-brief", &["brief"]),
];
const STARTS_A_SESSION: f64 = 0.65;
const COMPLETES_A_STEP: f64 = 0.72;

/// One account's use of the product from its sign-up: the sign-up with its channel, maybe a
/// first session (messages, steps, completion or abandonment, exports, edits), then weeks of
/// returning that grow rarer. The first session's course comes back, to be written as a real
/// session.
fn activity(
    rng: &mut StdRng,
    user: UserId,
    signed_up: DateTime<Utc>,
    now: DateTime<Utc>,
    out: &mut Vec<ProductEvent>,
) -> Option<Script> {
    let mut push = |kind: EventKind, name: Option<&str>, workflow: Option<&str>, at: DateTime<Utc>| {
        if at < now {
            out.push(ProductEvent {
                user,
                kind,
                name: name.map(str::to_owned),
                workflow: workflow.map(str::to_owned),
                at,
            });
        }
    };
    let mut pick = rng.random::<f64>();
    let channel = CHANNELS
        .iter()
        .find(|(_, share)| {
            pick -= share;
            pick < 0.0
        })
        .map_or("direct", |(name, _)| name);
    push(EventKind::SignedUp, Some(channel), None, signed_up);
    if rng.random::<f64>() >= STARTS_A_SESSION {
        return None;
    }
    let mut at = signed_up + Duration::seconds((exponential(rng, 1.5) * 86_400.0) as i64);
    let (workflow, steps) = WORKFLOWS[usize::from(rng.random::<f64>() < 0.45)];
    let w = Some(workflow);
    push(EventKind::SessionStarted, w, w, at);
    let mut script = Script {
        workflow,
        started: at,
        steps: Vec::new(),
        completed: None,
        abandoned: None,
    };
    let mut done = 0;
    for step in steps {
        let mut messages = Vec::new();
        for _ in 0..rng.random_range(2..7) {
            at += Duration::minutes(rng.random_range(2..25));
            push(EventKind::MessageSent, None, w, at);
            messages.push(at);
        }
        if rng.random::<f64>() < 0.3 {
            push(EventKind::FeatureUsed, Some("section_edit"), w, at);
        }
        if rng.random::<f64>() >= COMPLETES_A_STEP {
            script.steps.push(StepScript {
                messages,
                completed: None,
            });
            break;
        }
        at += Duration::minutes(rng.random_range(1..10));
        push(EventKind::StepCompleted, Some(step), w, at);
        script.steps.push(StepScript {
            messages,
            completed: Some(at),
        });
        done += 1;
        // Longer plans are made over several sittings.
        at += Duration::hours(rng.random_range(0..30));
    }
    if done == steps.len() {
        push(EventKind::SessionCompleted, w, w, at);
        script.completed = Some(at);
        if rng.random::<f64>() < 0.4 {
            let format = if rng.random::<bool>() { "md" } else { "docx" };
            push(EventKind::DocumentExported, Some(format), w, at + Duration::minutes(3));
        }
    } else if rng.random::<f64>() < 0.4 {
        let abandoned = at + Duration::days(rng.random_range(1..20));
        push(EventKind::SessionAbandoned, w, w, abandoned);
        script.abandoned = Some(abandoned);
    }
    // Coming back week after week, less and less.
    let mut chance = 0.55;
    for week in 1..52 {
        chance *= 0.86;
        if rng.random::<f64>() >= chance {
            continue;
        }
        let back = at + Duration::weeks(week) + Duration::hours(rng.random_range(0..96));
        push(EventKind::SessionStarted, w, w, back);
        for m in 0..rng.random_range(1..5) {
            push(EventKind::MessageSent, None, w, back + Duration::minutes(5 * (m + 1)));
        }
    }
    Some(script)
}

fn first_price(rng: &mut StdRng) -> &'static Price {
    match rng.random::<f64>() {
        x if x < 0.55 => &PRO_MONTHLY,
        x if x < 0.75 => &PRO_YEARLY,
        _ => &TEAM_MONTHLY,
    }
}

fn subscription_object(sub: &Running, status: &str, who: &SimulatedCustomer) -> Value {
    json!({
        "id": sub.id, "object": "subscription", "customer": who.customer, "status": status,
        "currency": who.currency, "metadata": {"plansmith_user_id": who.user.0.to_string()},
        "items": {"object": "list", "data": [{"quantity": sub.seats, "price": {
            "id": sub.price.id, "currency": who.currency, "unit_amount": sub.price.amount,
            "product": {"id": format!("prod_demo_{}", sub.price.plan), "metadata": {"plansmith_plan": sub.price.plan}},
            "recurring": {"interval": sub.price.interval, "interval_count": 1}}}]}
    })
}

fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// The first instant of the month `back` months before `now`'s.
fn month_start(now: DateTime<Utc>, back: u32) -> DateTime<Utc> {
    let (year, month) = plansmith_store::billing::months_before((now.year(), now.month()), back);
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().unwrap_or(now)
}

/// One hash for every demo account, of a password nobody is told: they are not for signing in.
fn demo_password_hash() -> Result<String, DemoError> {
    use argon2::PasswordHasher;
    let secret: [u8; 24] = rand::random();
    argon2::Argon2::default()
        .hash_password(&secret[..])
        .map(|h| h.to_string())
        .map_err(|e| DemoError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_start_at_their_first_instant() {
        let now = Utc.with_ymd_and_hms(2026, 3, 15, 10, 0, 0).unwrap();
        assert_eq!(month_start(now, 0), Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
        assert_eq!(month_start(now, 3), Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).unwrap());
    }
}
