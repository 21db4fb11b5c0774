//! Billing on SQLite: events applied through the writer (one savepoint each), the sums of the
//! subscription metrics read through the pool. The rules (which movement a change is, which
//! plan subscriptions give) are `plansmith_store::billing`'s.

use crate::db_err;
use crate::write::{change, stamp};
use crate::writer::sql_err;
use chrono::{DateTime, Utc};
use plansmith_domain::{Plan, UserId};
use plansmith_store::Result;
use plansmith_store::billing::{
    BillingAccount, BillingChange, BillingEvent, BillingOutcome, CohortSum, CurrencyTotals, CustomerUpdate,
    MovementKind, MovementSum, MrrSums, Payment, Subscription, SubscriptionUpdate, classify, month_of, plan_of,
};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;
use uuid::Uuid;

pub(crate) fn apply(conn: &Connection, event: &BillingEvent) -> Result<BillingOutcome> {
    let fresh = change(
        conn,
        "INSERT OR IGNORE INTO billing_events (id, type, created_at, received_at) VALUES (?1, ?2, ?3, ?4)",
        params![event.id, event.kind, stamp(event.at), stamp(event.received_at)],
    )?;
    if fresh == 0 {
        return Ok(BillingOutcome::Duplicate);
    }
    let (customer, movement) = match &event.change {
        BillingChange::Customer(c) => (c.customer_id.as_str(), None),
        BillingChange::Subscription(s) => (s.customer.customer_id.as_str(), subscription(conn, s, event.at)?),
        BillingChange::InvoicePaid(p) => {
            payment(conn, p, "paid", event.at)?;
            change(
                conn,
                "UPDATE billing_customers SET past_due_since = NULL WHERE id = ?1",
                params![p.customer_id],
            )?;
            (p.customer_id.as_str(), None)
        }
        BillingChange::PaymentFailed(p) => {
            payment(conn, p, "failed", event.at)?;
            change(
                conn,
                "UPDATE billing_customers SET past_due_since = COALESCE(past_due_since, ?2) WHERE id = ?1",
                params![p.customer_id, stamp(event.at)],
            )?;
            (p.customer_id.as_str(), None)
        }
        BillingChange::Refund(p) => {
            payment(conn, p, "refunded", event.at)?;
            (p.customer_id.as_str(), None)
        }
    };
    let update = match &event.change {
        BillingChange::Customer(c) => c.clone(),
        BillingChange::Subscription(s) => s.customer.clone(),
        _ => CustomerUpdate {
            customer_id: customer.to_owned(),
            email: None,
            user: None,
        },
    };
    let user = link(conn, &update, event.at)?;
    let plan = match user {
        Some(user) => Some(settle_plan(conn, user, event.grace_cutoff)?),
        None => None,
    };
    Ok(BillingOutcome::Applied { user, movement, plan })
}

/// Makes sure the customer exists, links it to an account if it is not yet (by the account id
/// in its metadata, else its email); returns the account it is linked to.
fn link(conn: &Connection, c: &CustomerUpdate, at: DateTime<Utc>) -> Result<Option<UserId>> {
    change(
        conn,
        "INSERT OR IGNORE INTO billing_customers (id, created_at) VALUES (?1, ?2)",
        params![c.customer_id, stamp(at)],
    )?;
    let linked: Option<Uuid> = conn
        .prepare_cached("SELECT user_id FROM billing_customers WHERE id = ?1")
        .and_then(|mut s| s.query_row(params![c.customer_id], |r| r.get(0)))
        .map_err(sql_err)?;
    if let Some(user) = linked {
        return Ok(Some(UserId(user)));
    }
    let by_id = |id: Uuid| {
        conn.prepare_cached("SELECT id FROM users WHERE id = ?1")
            .and_then(|mut s| s.query_row(params![id], |r| r.get::<_, Uuid>(0)).optional())
    };
    let by_email = |email: &str| {
        conn.prepare_cached("SELECT id FROM users WHERE email = ?1")
            .and_then(|mut s| s.query_row(params![email], |r| r.get::<_, Uuid>(0)).optional())
    };
    let mut found = match c.user {
        Some(user) => by_id(user.0).map_err(sql_err)?,
        None => None,
    };
    if found.is_none()
        && let Some(email) = &c.email
    {
        found = by_email(email).map_err(sql_err)?;
    }
    if let Some(user) = found {
        change(
            conn,
            "UPDATE billing_customers SET user_id = ?2 WHERE id = ?1",
            params![c.customer_id, user],
        )?;
    }
    Ok(found.map(UserId))
}

/// Stores the subscription's state (unless a later event was applied already) and records the
/// movement of its customer's MRR.
fn subscription(conn: &Connection, s: &SubscriptionUpdate, at: DateTime<Utc>) -> Result<Option<MovementKind>> {
    change(
        conn,
        "INSERT OR IGNORE INTO billing_customers (id, created_at) VALUES (?1, ?2)",
        params![s.customer.customer_id, stamp(at)],
    )?;
    let stored: Option<(String, String)> = conn
        .prepare_cached("SELECT currency, event_at FROM subscriptions WHERE id = ?1")
        .and_then(|mut st| st.query_row(params![s.id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(sql_err)?;
    if let Some((_, event_at)) = &stored
        && DateTime::parse_from_rfc3339(event_at).is_ok_and(|t| t > at)
    {
        return Ok(None);
    }
    let mut currencies = vec![s.currency.clone()];
    if let Some((old, _)) = stored
        && old != s.currency
    {
        currencies.push(old);
    }
    let mrr_of = |currency: &str| -> Result<i64> {
        conn.prepare_cached(
            "SELECT COALESCE(SUM(mrr_cents), 0) FROM subscriptions WHERE customer_id = ?1 AND currency = ?2",
        )
        .and_then(|mut st| st.query_row(params![s.customer.customer_id, currency], |r| r.get(0)))
        .map_err(sql_err)
    };
    let before = currencies.iter().map(|c| mrr_of(c)).collect::<Result<Vec<_>>>()?;
    change(
        conn,
        "INSERT INTO subscriptions (id, customer_id, status, currency, mrr_cents, plan, event_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, currency = excluded.currency,
             mrr_cents = excluded.mrr_cents, plan = excluded.plan, event_at = excluded.event_at,
             updated_at = excluded.updated_at",
        params![
            s.id,
            s.customer.customer_id,
            s.status,
            s.currency,
            s.mrr_cents,
            s.plan.map(Plan::as_str),
            stamp(at)
        ],
    )?;
    let month = month_of(at);
    let mut first = None;
    for (currency, before) in currencies.iter().zip(before) {
        let after = mrr_of(currency)?;
        let paid_before: bool = conn
            .prepare_cached("SELECT first_paid_month IS NOT NULL FROM billing_customers WHERE id = ?1")
            .and_then(|mut st| st.query_row(params![s.customer.customer_id], |r| r.get(0)))
            .map_err(sql_err)?;
        let Some(kind) = classify(before, after, paid_before) else {
            continue;
        };
        change(
            conn,
            "INSERT INTO mrr_movements (customer_id, currency, at, month, kind, delta_cents, mrr_after_cents)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                s.customer.customer_id,
                currency,
                stamp(at),
                month,
                kind.as_str(),
                after - before,
                after
            ],
        )?;
        if after > 0 {
            change(
                conn,
                "UPDATE billing_customers SET first_paid_month = ?2 WHERE id = ?1 AND first_paid_month IS NULL",
                params![s.customer.customer_id, month],
            )?;
        }
        first.get_or_insert(kind);
    }
    Ok(first)
}

fn payment(conn: &Connection, p: &Payment, kind: &str, at: DateTime<Utc>) -> Result<()> {
    change(
        conn,
        "INSERT OR IGNORE INTO billing_customers (id, created_at) VALUES (?1, ?2)",
        params![p.customer_id, stamp(at)],
    )?;
    change(
        conn,
        "INSERT INTO billing_payments (id, kind, customer_id, amount_cents, currency, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id, kind) DO UPDATE SET amount_cents = excluded.amount_cents, at = excluded.at",
        params![p.object_id, kind, p.customer_id, p.amount, p.currency, stamp(at)],
    )?;
    Ok(())
}

/// Sets the account's billed plan from its subscriptions: free while a payment is overdue
/// past the grace period.
fn settle_plan(conn: &Connection, user: UserId, grace_cutoff: DateTime<Utc>) -> Result<Plan> {
    let rows: Vec<(String, Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT s.status, s.plan, c.past_due_since FROM subscriptions s
             JOIN billing_customers c ON c.id = s.customer_id WHERE c.user_id = ?1",
        )
        .and_then(|mut st| {
            st.query_map(params![user.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(sql_err)?;
    let lapsed = |since: &Option<String>| {
        since
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t <= grace_cutoff)
    };
    let plan = plan_of(
        rows.iter()
            .filter(|(_, _, since)| !lapsed(since))
            .map(|(status, plan, _)| (status.as_str(), plan.as_deref().and_then(Plan::parse))),
    );
    change(
        conn,
        "UPDATE users SET plan = ?2 WHERE id = ?1",
        params![user.0, plan.as_str()],
    )?;
    Ok(plan)
}

/// Accounts whose payment is overdue since `cutoff` or before, still on a paid plan: back to
/// free. Returns them.
pub(crate) fn lapse(conn: &Connection, cutoff: DateTime<Utc>) -> Result<Vec<UserId>> {
    let candidates: Vec<(Uuid, String)> = conn
        .prepare_cached(
            "SELECT DISTINCT u.id, c.past_due_since FROM billing_customers c JOIN users u ON u.id = c.user_id
             WHERE c.past_due_since IS NOT NULL AND u.plan <> 'free'",
        )
        .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(sql_err)?;
    let mut lapsed = Vec::new();
    for (user, since) in candidates {
        if DateTime::parse_from_rfc3339(&since).is_ok_and(|t| t <= cutoff)
            && settle_plan(conn, UserId(user), cutoff)? == Plan::Free
        {
            lapsed.push(UserId(user));
        }
    }
    Ok(lapsed)
}

pub(crate) async fn account(pool: &SqlitePool, user: UserId) -> Result<Option<BillingAccount>> {
    let customer = sqlx::query!(
        r#"SELECT id AS "id!", (SELECT MIN(past_due_since) FROM billing_customers WHERE user_id = ?1) AS "past_due_since: DateTime<Utc>"
           FROM billing_customers WHERE user_id = ?1 ORDER BY created_at DESC LIMIT 1"#,
        user.0
    )
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    let Some(customer) = customer else {
        return Ok(None);
    };
    let subscriptions = sqlx::query!(
        r#"SELECT s.id AS "id!", s.status, s.currency, s.mrr_cents, s.plan, s.updated_at AS "updated_at: DateTime<Utc>"
           FROM subscriptions s JOIN billing_customers c ON c.id = s.customer_id
           WHERE c.user_id = ?1 ORDER BY s.updated_at DESC"#,
        user.0
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| Subscription {
        id: r.id,
        status: r.status,
        currency: r.currency,
        mrr_cents: r.mrr_cents,
        plan: r.plan.as_deref().and_then(Plan::parse),
        updated_at: r.updated_at,
    })
    .collect();
    Ok(Some(BillingAccount {
        customer_id: customer.id,
        past_due_since: customer.past_due_since,
        subscriptions,
    }))
}

pub(crate) async fn sums(pool: &SqlitePool, from: &str, to: &str) -> Result<MrrSums> {
    let before = sqlx::query!(
        r#"SELECT currency AS "currency!", SUM(delta_cents) AS "mrr!: i64",
                  SUM(CASE kind WHEN 'new' THEN 1 WHEN 'reactivation' THEN 1 WHEN 'churn' THEN -1 ELSE 0 END) AS "customers!: i64"
           FROM mrr_movements WHERE month < ?1 GROUP BY currency ORDER BY currency"#,
        from
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| CurrencyTotals {
        currency: r.currency,
        mrr_cents: r.mrr,
        customers: r.customers,
    })
    .collect();
    let movements = sqlx::query!(
        r#"SELECT month AS "month!", currency AS "currency!", kind AS "kind!", SUM(delta_cents) AS "cents!: i64",
                  COUNT(*) AS "count!: i64"
           FROM mrr_movements WHERE month >= ?1 AND month <= ?2
           GROUP BY month, currency, kind ORDER BY month, currency, kind"#,
        from,
        to
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .filter_map(|r| {
        Some(MovementSum {
            month: r.month,
            currency: r.currency,
            kind: MovementKind::parse(&r.kind)?,
            cents: r.cents,
            count: r.count,
        })
    })
    .collect();
    let cohorts = sqlx::query!(
        r#"SELECT c.first_paid_month AS "cohort!", m.month AS "month!", m.currency AS "currency!",
                  SUM(m.delta_cents) AS "cents!: i64"
           FROM mrr_movements m JOIN billing_customers c ON c.id = m.customer_id
           WHERE c.first_paid_month >= ?1 AND c.first_paid_month <= ?2 AND m.month <= ?2
           GROUP BY c.first_paid_month, m.month, m.currency ORDER BY 1, 2, 3"#,
        from,
        to
    )
    .fetch_all(pool)
    .await
    .map_err(db_err)?
    .into_iter()
    .map(|r| CohortSum {
        cohort: r.cohort,
        month: r.month,
        currency: r.currency,
        cents: r.cents,
    })
    .collect();
    Ok(MrrSums {
        before,
        movements,
        cohorts,
    })
}
