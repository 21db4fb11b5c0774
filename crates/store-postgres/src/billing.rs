//! Billing on PostgreSQL: each event in one transaction that locks its customer's row first
//! (two deliveries for one customer at once apply one after the other); the sums of the
//! subscription metrics in SQL. The rules are `plansmith_store::billing`'s.

use crate::{PgStore, db_err};
use chrono::{DateTime, Utc};
use plansmith_domain::{Plan, UserId};
use plansmith_store::Result;
use plansmith_store::billing::{
    BillingAccount, BillingChange, BillingEvent, BillingOutcome, CohortSum, CurrencyTotals, CustomerUpdate,
    MovementKind, MovementSum, MrrSums, Payment, Subscription, SubscriptionUpdate, classify, month_of, plan_of,
};
use sqlx::{PgConnection, Postgres, Transaction};

pub(crate) async fn apply(store: &PgStore, event: &BillingEvent) -> Result<BillingOutcome> {
    let mut tx: Transaction<'static, Postgres> = store.begin().await?;
    let fresh = sqlx::query!(
        "INSERT INTO billing_events (id, type, created_at, received_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING",
        event.id,
        event.kind,
        event.at,
        event.received_at
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    if fresh.rows_affected() == 0 {
        return Ok(BillingOutcome::Duplicate);
    }
    let customer = match &event.change {
        BillingChange::Customer(c) => c.clone(),
        BillingChange::Subscription(s) => s.customer.clone(),
        BillingChange::InvoicePaid(p) | BillingChange::PaymentFailed(p) | BillingChange::Refund(p) => CustomerUpdate {
            customer_id: p.customer_id.clone(),
            email: None,
            user: None,
        },
    };
    lock_customer(&mut tx, &customer.customer_id, event.at).await?;
    let movement = match &event.change {
        BillingChange::Customer(_) => None,
        BillingChange::Subscription(s) => subscription(&mut tx, s, event.at).await?,
        BillingChange::InvoicePaid(p) => {
            payment(&mut tx, p, "paid", event.at).await?;
            sqlx::query!(
                "UPDATE billing_customers SET past_due_since = NULL WHERE id = $1",
                p.customer_id
            )
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            None
        }
        BillingChange::PaymentFailed(p) => {
            payment(&mut tx, p, "failed", event.at).await?;
            sqlx::query!(
                "UPDATE billing_customers SET past_due_since = COALESCE(past_due_since, $2) WHERE id = $1",
                p.customer_id,
                event.at
            )
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            None
        }
        BillingChange::Refund(p) => {
            payment(&mut tx, p, "refunded", event.at).await?;
            None
        }
    };
    let user = link(&mut tx, &customer).await?;
    let plan = match user {
        Some(user) => Some(settle_plan(&mut tx, user, event.grace_cutoff).await?),
        None => None,
    };
    tx.commit().await.map_err(db_err)?;
    Ok(BillingOutcome::Applied { user, movement, plan })
}

/// Makes sure the customer exists and holds its row until the transaction ends.
async fn lock_customer(conn: &mut PgConnection, customer: &str, at: DateTime<Utc>) -> Result<()> {
    sqlx::query!(
        "INSERT INTO billing_customers (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        customer,
        at
    )
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    sqlx::query!("SELECT id FROM billing_customers WHERE id = $1 FOR UPDATE", customer)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Links the customer to an account if it is not yet (by the account id in its metadata, else
/// its email); returns the account it is linked to.
async fn link(conn: &mut PgConnection, c: &CustomerUpdate) -> Result<Option<UserId>> {
    let linked = sqlx::query_scalar!("SELECT user_id FROM billing_customers WHERE id = $1", c.customer_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    if let Some(user) = linked {
        return Ok(Some(UserId(user)));
    }
    let mut found = match c.user {
        Some(user) => sqlx::query_scalar!("SELECT id FROM users WHERE id = $1", user.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?,
        None => None,
    };
    if found.is_none()
        && let Some(email) = &c.email
    {
        found = sqlx::query_scalar!("SELECT id FROM users WHERE email = $1", email)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    if let Some(user) = found {
        sqlx::query!(
            "UPDATE billing_customers SET user_id = $2 WHERE id = $1",
            c.customer_id,
            user
        )
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(found.map(UserId))
}

async fn mrr_of(conn: &mut PgConnection, customer: &str, currency: &str) -> Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT COALESCE(SUM(mrr_cents), 0)::BIGINT AS "mrr!" FROM subscriptions WHERE customer_id = $1 AND currency = $2"#,
        customer,
        currency
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)
}

/// Stores the subscription's state (unless a later event was applied already) and records the
/// movement of its customer's MRR.
async fn subscription(
    conn: &mut PgConnection,
    s: &SubscriptionUpdate,
    at: DateTime<Utc>,
) -> Result<Option<MovementKind>> {
    let customer = s.customer.customer_id.as_str();
    let stored = sqlx::query!("SELECT currency, event_at FROM subscriptions WHERE id = $1", s.id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    if stored.as_ref().is_some_and(|r| r.event_at > at) {
        return Ok(None);
    }
    let mut currencies = vec![s.currency.clone()];
    if let Some(old) = stored
        && old.currency != s.currency
    {
        currencies.push(old.currency);
    }
    let mut before = Vec::with_capacity(currencies.len());
    for currency in &currencies {
        before.push(mrr_of(conn, customer, currency).await?);
    }
    sqlx::query!(
        "INSERT INTO subscriptions (id, customer_id, status, currency, mrr_cents, plan, event_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, currency = excluded.currency,
             mrr_cents = excluded.mrr_cents, plan = excluded.plan, event_at = excluded.event_at,
             updated_at = excluded.updated_at",
        s.id,
        customer,
        s.status,
        s.currency,
        s.mrr_cents,
        s.plan.map(Plan::as_str),
        at
    )
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let month = month_of(at);
    let mut first = None;
    for (currency, before) in currencies.iter().zip(before) {
        let after = mrr_of(conn, customer, currency).await?;
        let paid_before = sqlx::query_scalar!(
            r#"SELECT first_paid_month IS NOT NULL AS "paid!" FROM billing_customers WHERE id = $1"#,
            customer
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
        let Some(kind) = classify(before, after, paid_before) else {
            continue;
        };
        sqlx::query!(
            "INSERT INTO mrr_movements (customer_id, currency, at, month, kind, delta_cents, mrr_after_cents)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            customer,
            currency,
            at,
            month,
            kind.as_str(),
            after - before,
            after
        )
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        if after > 0 {
            sqlx::query!(
                "UPDATE billing_customers SET first_paid_month = $2 WHERE id = $1 AND first_paid_month IS NULL",
                customer,
                month
            )
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        }
        first.get_or_insert(kind);
    }
    Ok(first)
}

async fn payment(conn: &mut PgConnection, p: &Payment, kind: &str, at: DateTime<Utc>) -> Result<()> {
    sqlx::query!(
        "INSERT INTO billing_payments (id, kind, customer_id, amount_cents, currency, at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id, kind) DO UPDATE SET amount_cents = excluded.amount_cents, at = excluded.at",
        p.object_id,
        kind,
        p.customer_id,
        p.amount,
        p.currency,
        at
    )
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Sets the account's billed plan from its subscriptions: free while a payment is overdue
/// past the grace period.
async fn settle_plan(conn: &mut PgConnection, user: UserId, grace_cutoff: DateTime<Utc>) -> Result<Plan> {
    let rows = sqlx::query!(
        "SELECT s.status, s.plan FROM subscriptions s JOIN billing_customers c ON c.id = s.customer_id
         WHERE c.user_id = $1 AND (c.past_due_since IS NULL OR c.past_due_since > $2)",
        user.0,
        grace_cutoff
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let plan = plan_of(
        rows.iter()
            .map(|r| (r.status.as_str(), r.plan.as_deref().and_then(Plan::parse))),
    );
    sqlx::query!("UPDATE users SET plan = $2 WHERE id = $1", user.0, plan.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(plan)
}

/// Accounts whose payment is overdue since `cutoff` or before, still on a paid plan: back to
/// free. Returns them.
pub(crate) async fn lapse(store: &PgStore, cutoff: DateTime<Utc>) -> Result<Vec<UserId>> {
    let mut tx = store.begin().await?;
    let candidates = sqlx::query_scalar!(
        r#"SELECT DISTINCT u.id FROM billing_customers c JOIN users u ON u.id = c.user_id
           WHERE c.past_due_since <= $1 AND u.plan <> 'free'"#,
        cutoff
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    let mut lapsed = Vec::new();
    for user in candidates {
        if settle_plan(&mut tx, UserId(user), cutoff).await? == Plan::Free {
            lapsed.push(UserId(user));
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(lapsed)
}

pub(crate) async fn account(store: &PgStore, user: UserId) -> Result<Option<BillingAccount>> {
    let mut conn = store.conn().await?;
    let customer = sqlx::query!(
        r#"SELECT id, (SELECT MIN(past_due_since) FROM billing_customers WHERE user_id = $1) AS "past_due_since"
           FROM billing_customers WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1"#,
        user.0
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    let Some(customer) = customer else {
        return Ok(None);
    };
    let subscriptions = sqlx::query!(
        "SELECT s.id, s.status, s.currency, s.mrr_cents, s.plan, s.updated_at
         FROM subscriptions s JOIN billing_customers c ON c.id = s.customer_id
         WHERE c.user_id = $1 ORDER BY s.updated_at DESC",
        user.0
    )
    .fetch_all(&mut *conn)
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

pub(crate) async fn sums(store: &PgStore, from: &str, to: &str) -> Result<MrrSums> {
    let mut conn = store.conn().await?;
    let before = sqlx::query!(
        r#"SELECT currency, SUM(delta_cents)::BIGINT AS "mrr!",
                  SUM(CASE kind WHEN 'new' THEN 1 WHEN 'reactivation' THEN 1 WHEN 'churn' THEN -1 ELSE 0 END)::BIGINT
                      AS "customers!"
           FROM mrr_movements WHERE month < $1 GROUP BY currency ORDER BY currency"#,
        from
    )
    .fetch_all(&mut *conn)
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
        r#"SELECT month, currency, kind, SUM(delta_cents)::BIGINT AS "cents!", COUNT(*) AS "count!"
           FROM mrr_movements WHERE month >= $1 AND month <= $2
           GROUP BY month, currency, kind ORDER BY month, currency, kind"#,
        from,
        to
    )
    .fetch_all(&mut *conn)
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
        r#"SELECT c.first_paid_month AS "cohort!", m.month, m.currency, SUM(m.delta_cents)::BIGINT AS "cents!"
           FROM mrr_movements m JOIN billing_customers c ON c.id = m.customer_id
           WHERE c.first_paid_month >= $1 AND c.first_paid_month <= $2 AND m.month <= $2
           GROUP BY c.first_paid_month, m.month, m.currency ORDER BY 1, 2, 3"#,
        from,
        to
    )
    .fetch_all(&mut *conn)
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
