//! Billing through Stripe (docs/analytics.md). Stripe tells us what happened through its
//! webhook (`POST /api/v1/billing/webhook`, signed with `billing.webhook_secret`); each event
//! is applied once, in one transaction: the customer is linked to an account, a subscription's
//! MRR is stored with the movement it makes, and the account's plan follows its
//! subscriptions (an admin's override still wins). A failed payment marks the account past due;
//! `billing.grace_days` later it falls back to free until an invoice is paid. People pay
//! through Stripe Checkout and manage their subscription in Stripe's customer portal.

use crate::auth::AuthUser;
use crate::error::{ApiError, CommonError, ErrorCode, ErrorFamily, WithJsonBody, error_family};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use plansmith_domain::{Plan, UserId};
use plansmith_store::billing::{
    BillingAccount, BillingChange, BillingEvent, BillingOutcome, CustomerUpdate, Discount, Interval, Payment,
    PricedItem, SubscriptionUpdate, counts_for_mrr, monthly_cents, plan_of,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;

/// How far a signature's timestamp may be from our clock (Stripe's default tolerance).
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;
/// How often a running server moves overdue accounts to free.
const LAPSE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);
/// The longest a call to Stripe's API may take.
const STRIPE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Why a `Stripe-Signature` does not prove the body came from Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    Missing,
    Malformed,
    /// The timestamp is more than the tolerance away from now (seconds).
    Stale(i64),
    Mismatch,
}

/// Checks a `Stripe-Signature` header (`t=…,v1=…[,v1=…]`) on `body`: one `v1` must be the
/// HMAC-SHA256 of `"{t}.{body}"` with `secret` (compared in constant time), and `t` within the
/// tolerance of `now` (Unix seconds).
pub fn verify_signature(header: Option<&str>, body: &[u8], secret: &str, now: i64) -> Result<(), SignatureProblem> {
    let header = header.ok_or(SignatureProblem::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| SignatureProblem::Malformed)?),
            Some(("v1", sig)) => signatures.push(decode_hex(sig).ok_or(SignatureProblem::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureProblem::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureProblem::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureProblem::Malformed);
    }
    let age = now - timestamp;
    if age.abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err(SignatureProblem::Stale(age));
    }
    let mac = signer(secret, timestamp, body);
    for signature in &signatures {
        // `verify_slice` compares in constant time; a clone per candidate keeps the input.
        if mac.clone().verify_slice(signature).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureProblem::Mismatch)
}

fn signer(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Stripe-Signature` header Stripe would send for `body` at `timestamp` (for the tests'
/// own Stripe and the demo data).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = signer(secret, timestamp, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A Stripe event as the webhook receives it.
#[derive(Debug, Deserialize)]
pub struct StripeEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds.
    pub created: i64,
    pub data: StripeEventData,
}

#[derive(Debug, Deserialize)]
pub struct StripeEventData {
    pub object: Value,
}

/// Why an event of a type we handle cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventProblem(pub String);

/// The event types the webhook applies; others are answered 200 and ignored.
pub const HANDLED: [&str; 7] = [
    "customer.created",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
    "charge.refunded",
];

/// What an event changes, by its type; `None` for a type we do not handle.
pub fn change_of(
    event: &StripeEvent,
    plans: &std::collections::BTreeMap<String, String>,
) -> Result<Option<BillingChange>, EventProblem> {
    let o = &event.data.object;
    Ok(Some(match event.kind.as_str() {
        "customer.created" => BillingChange::Customer(CustomerUpdate {
            customer_id: text(o, "id")?,
            email: o.get("email").and_then(Value::as_str).map(|e| e.trim().to_lowercase()),
            user: metadata_user(o),
        }),
        "customer.subscription.created" | "customer.subscription.updated" | "customer.subscription.deleted" => {
            BillingChange::Subscription(subscription(o, event.kind.ends_with(".deleted"), plans)?)
        }
        "invoice.paid" => BillingChange::InvoicePaid(payment(o, "amount_paid")?),
        "invoice.payment_failed" => BillingChange::PaymentFailed(payment(o, "amount_due")?),
        "charge.refunded" => BillingChange::Refund(payment(o, "amount_refunded")?),
        _ => return Ok(None),
    }))
}

fn text(o: &Value, field: &str) -> Result<String, EventProblem> {
    o.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| EventProblem(format!("data.object.{field} is missing or not a string")))
}

/// An id field that Stripe may give as the id or as the expanded object.
fn id_of(o: &Value, field: &str) -> Result<String, EventProblem> {
    match o.get(field) {
        Some(Value::String(id)) => Ok(id.clone()),
        Some(Value::Object(expanded)) => expanded
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| EventProblem(format!("data.object.{field}.id is missing"))),
        _ => Err(EventProblem(format!("data.object.{field} is missing"))),
    }
}

fn metadata_user(o: &Value) -> Option<UserId> {
    o.pointer("/metadata/plansmith_user_id")
        .and_then(Value::as_str)
        .and_then(|id| id.parse().ok())
        .map(UserId)
}

fn payment(o: &Value, amount_field: &str) -> Result<Payment, EventProblem> {
    Ok(Payment {
        customer_id: id_of(o, "customer")?,
        object_id: text(o, "id")?,
        amount: o.get(amount_field).and_then(Value::as_i64).unwrap_or(0),
        currency: o.get("currency").and_then(Value::as_str).unwrap_or("").to_lowercase(),
    })
}

fn subscription(
    o: &Value,
    deleted: bool,
    plans: &std::collections::BTreeMap<String, String>,
) -> Result<SubscriptionUpdate, EventProblem> {
    let status = if deleted {
        "canceled".to_owned()
    } else {
        text(o, "status")?
    };
    let items = o
        .pointer("/items/data")
        .and_then(Value::as_array)
        .ok_or_else(|| EventProblem("data.object.items.data is missing".into()))?;
    let mut priced = Vec::with_capacity(items.len());
    let mut plan_ids = Vec::new();
    let mut currency = o.get("currency").and_then(Value::as_str).map(str::to_lowercase);
    for (i, item) in items.iter().enumerate() {
        let price = item
            .get("price")
            .ok_or_else(|| EventProblem(format!("data.object.items.data[{i}].price is missing")))?;
        let interval = price
            .pointer("/recurring/interval")
            .and_then(Value::as_str)
            .and_then(Interval::parse)
            .ok_or_else(|| {
                EventProblem(format!(
                    "data.object.items.data[{i}].price.recurring.interval is not day, week, month or year"
                ))
            })?;
        let unit_amount = match price.get("unit_amount").and_then(Value::as_i64) {
            Some(amount) => amount,
            None => price
                .get("unit_amount_decimal")
                .and_then(Value::as_str)
                .and_then(|d| d.parse::<f64>().ok())
                .map(|d| d.round() as i64)
                .ok_or_else(|| EventProblem(format!("data.object.items.data[{i}].price.unit_amount is missing")))?,
        };
        priced.push(PricedItem {
            unit_amount,
            quantity: item.get("quantity").and_then(Value::as_i64).unwrap_or(1),
            interval,
            count: price
                .pointer("/recurring/interval_count")
                .and_then(Value::as_i64)
                .unwrap_or(1),
        });
        if currency.is_none() {
            currency = price.get("currency").and_then(Value::as_str).map(str::to_lowercase);
        }
        let product_plan = price
            .pointer("/product/metadata/plansmith_plan")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mapped = [price.get("id"), price.get("product"), price.pointer("/product/id")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|id| plans.get(id).cloned());
        if let Some(plan) = mapped.or(product_plan).as_deref().and_then(Plan::parse) {
            plan_ids.push(plan);
        }
    }
    let discount = discount_of(o);
    let mrr_cents = if counts_for_mrr(&status) {
        monthly_cents(&priced, discount)
    } else {
        0
    };
    Ok(SubscriptionUpdate {
        id: text(o, "id")?,
        customer: CustomerUpdate {
            customer_id: id_of(o, "customer")?,
            email: None,
            user: metadata_user(o),
        },
        plan: (!plan_ids.is_empty()).then(|| plan_of(plan_ids.iter().map(|p| ("active", Some(*p))))),
        status,
        currency: currency.ok_or_else(|| EventProblem("data.object.currency is missing".into()))?,
        mrr_cents,
    })
}

/// The subscription's discounts that last (`forever` or `repeating`; a `once` coupon is not
/// recurring revenue lost), from `discount` and expanded `discounts`.
fn discount_of(o: &Value) -> Discount {
    let mut total = Discount::default();
    let single = o.get("discount").filter(|d| d.is_object());
    let many = o.get("discounts").and_then(Value::as_array).into_iter().flatten();
    for discount in single.into_iter().chain(many.filter(|d| d.is_object())) {
        let Some(coupon) = discount.get("coupon") else { continue };
        if coupon.get("duration").and_then(Value::as_str) == Some("once") {
            continue;
        }
        if let Some(percent) = coupon.get("percent_off").and_then(Value::as_f64) {
            total.percent_off_hundredths += (percent * 100.0).round() as i64;
        }
        if let Some(amount) = coupon.get("amount_off").and_then(Value::as_i64) {
            total.amount_off += amount;
        }
    }
    total
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// `applied`, `duplicate` (this event id was applied before) or `ignored` (a type
    /// Plansmith does not use).
    pub outcome: String,
}

#[derive(Debug)]
pub enum WebhookError {
    NotConfigured,
    Signature(SignatureProblem),
    Body(String),
    Common(CommonError),
}

error_family!(WebhookError, common);

impl ErrorFamily for WebhookError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidHeader,
        ErrorCode::InvalidBody,
        ErrorCode::PayloadTooLarge,
        ErrorCode::NotFound,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        let header = ErrorCode::InvalidHeader;
        let fix = "Send Stripe's events to this endpoint with the signing secret set as billing.webhook_secret.";
        match self {
            Self::NotConfigured => ApiError::new(
                ErrorCode::NotFound,
                "Billing is not set up on this server.",
                "Set billing.webhook_secret (PLANSMITH_BILLING__WEBHOOK_SECRET) to the endpoint's signing secret.",
            ),
            Self::Signature(SignatureProblem::Missing) => {
                ApiError::invalid(header, "Stripe-Signature", "is missing", fix)
            }
            Self::Signature(SignatureProblem::Malformed) => {
                ApiError::invalid(header, "Stripe-Signature", "is not t=<time>,v1=<hex signature>", fix)
            }
            Self::Signature(SignatureProblem::Stale(age)) => ApiError::invalid(
                header,
                "Stripe-Signature",
                format_args!(
                    "was made {}s from now, more than the {SIGNATURE_TOLERANCE_SECONDS}s allowed",
                    -age
                ),
                "Check the server's clock; Stripe sends each event again with a fresh signature.",
            ),
            Self::Signature(SignatureProblem::Mismatch) => ApiError::invalid(
                header,
                "Stripe-Signature",
                "does not match the body with the configured signing secret",
                fix,
            ),
            Self::Body(problem) => ApiError::new(
                ErrorCode::InvalidBody,
                format!("The event cannot be applied: {problem}."),
                "Send the event exactly as Stripe made it.",
            ),
            Self::Common(e) => e.to_api_error(),
        }
    }
}

/// Stripe's webhook: applies `customer.created`, `customer.subscription.created|updated|deleted`,
/// `invoice.paid`, `invoice.payment_failed` and `charge.refunded` once each; other types are
/// acknowledged and ignored. The `Stripe-Signature` header must sign the raw body with
/// `billing.webhook_secret` within 5 minutes; otherwise 400 and nothing is stored.
#[utoipa::path(post, path = "/api/v1/billing/webhook", tag = "billing", operation_id = "billing_webhook",
    request_body(content = String, content_type = "application/json", description = "A Stripe event, as Stripe sent it"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<HMAC-SHA256 hex>")),
    responses((status = 200, body = WebhookAnswer), WebhookError))]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAnswer>, WebhookError> {
    let settings = &state.settings.billing;
    let secret = settings
        .webhook_secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(WebhookError::NotConfigured)?;
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let now = Utc::now();
    verify_signature(signature, &body, secret, now.timestamp()).map_err(WebhookError::Signature)?;
    let event: StripeEvent = serde_json::from_slice(&body).map_err(|e| WebhookError::Body(e.to_string()))?;
    let Some(change) = change_of(&event, &settings.plans).map_err(|e| WebhookError::Body(e.0))? else {
        tracing::debug!(event = %event.id, kind = %event.kind, "billing event of a type not used: ignored");
        return Ok(Json(WebhookAnswer {
            outcome: "ignored".into(),
        }));
    };
    let at = DateTime::from_timestamp(event.created, 0)
        .ok_or_else(|| WebhookError::Body(format!("created {} is not a time", event.created)))?;
    let applied = state
        .store
        .apply_billing_event(BillingEvent {
            id: event.id.clone(),
            kind: event.kind.clone(),
            at,
            received_at: now,
            grace_cutoff: grace_cutoff(&state, now),
            change,
        })
        .await?;
    let outcome = match applied {
        BillingOutcome::Duplicate => "duplicate",
        BillingOutcome::Applied { user, movement, plan } => {
            if let (Some(user), Some(_), Some(plan)) = (user, movement, plan) {
                state.events.record(
                    user,
                    plansmith_store::events::EventKind::PlanChanged,
                    Some(plan.as_str()),
                    None,
                );
            }
            tracing::info!(event = %event.id, kind = %event.kind, user = ?user.map(|u| u.0),
                movement = ?movement.map(|m| m.as_str()), plan = ?plan.map(Plan::as_str), "billing event applied");
            "applied"
        }
    };
    Ok(Json(WebhookAnswer {
        outcome: outcome.into(),
    }))
}

fn grace_cutoff(state: &AppState, now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(i64::from(state.settings.billing.grace_days))
}

/// Moves accounts whose payment is overdue past the grace period to free, now and every few
/// minutes, until the server stops.
pub fn spawn_lapse(state: AppState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            match state.store.lapse_past_due(grace_cutoff(&state, Utc::now())).await {
                Ok(users) => {
                    for user in &users {
                        tracing::info!(user = %user.0, "payment overdue past the grace period: back to the free plan");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not check overdue payments; trying again later"),
            }
            tokio::select! {
                () = tokio::time::sleep(LAPSE_EVERY) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    });
}

// ---- the person's side: their billing, Checkout and the portal ----

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    /// Stripe's status: `active`, `past_due`, `trialing`, `canceled`, …
    pub status: String,
    #[schema(value_type = Option<String>, example = "pro")]
    pub plan: Option<Plan>,
    /// ISO currency code, lower case.
    pub currency: String,
    /// What it brings each month, in cents (0 unless active or past due).
    pub mrr_cents: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyBilling {
    /// The plan in force (an admin's override wins over the billed plan).
    #[schema(value_type = String, example = "pro")]
    pub plan: Plan,
    /// The plan the subscriptions give (free while a payment is overdue past the grace period).
    #[schema(value_type = String, example = "pro")]
    pub billed_plan: Plan,
    /// `none` (never subscribed), `active`, `past_due` (a payment failed; the plan stays until
    /// `downgrade_at`) or `lapsed` (overdue past the grace period: free until an invoice is paid).
    pub status: String,
    pub past_due_since: Option<DateTime<Utc>>,
    /// When an overdue account falls back to free.
    pub downgrade_at: Option<DateTime<Utc>>,
    pub subscriptions: Vec<SubscriptionView>,
    /// Plans that can be bought here (those with a Stripe price in billing.plans).
    #[schema(value_type = Vec<String>, example = json!(["pro", "team"]))]
    pub purchasable: Vec<Plan>,
    /// Checkout and the portal are set up (billing.secret_key).
    pub payments_enabled: bool,
}

#[derive(Debug)]
pub enum BillingError {
    Plan(String),
    NotForSale(Plan),
    NotConfigured,
    NoCustomer,
    Stripe(String),
    Common(CommonError),
}

error_family!(BillingError, common);

impl ErrorFamily for BillingError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::InvalidField,
        ErrorCode::NotFound,
        ErrorCode::Unauthorized,
        ErrorCode::CrossSiteRequest,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::Plan(plan) => ApiError::invalid(
                ErrorCode::InvalidField,
                "plan",
                format_args!("'{plan}' is not a plan"),
                "Choose pro or team.",
            ),
            Self::NotForSale(plan) => ApiError::invalid(
                ErrorCode::InvalidField,
                "plan",
                format_args!("the {} plan cannot be bought here", plan.as_str()),
                "Choose one of the plans GET /api/v1/me/billing lists as purchasable.",
            ),
            Self::NotConfigured => ApiError::new(
                ErrorCode::NotFound,
                "Payments are not set up on this server.",
                "An operator sets billing.secret_key and billing.plans; until then plans are changed by an admin.",
            ),
            Self::NoCustomer => ApiError::new(
                ErrorCode::NotFound,
                "You have no subscription to manage yet.",
                "Choose a plan first (POST /api/v1/billing/checkout).",
            ),
            Self::Stripe(cause) => {
                tracing::warn!(cause = %cause, "Stripe's API failed");
                ApiError::new(
                    ErrorCode::Unavailable,
                    "The payment service did not answer.",
                    "Try again in a minute; nothing was charged.",
                )
            }
            Self::Common(e) => e.to_api_error(),
        }
    }
}

fn price_for(settings: &crate::config::BillingSettings, plan: Plan) -> Option<&str> {
    settings
        .plans
        .iter()
        .find(|(id, p)| id.starts_with("price_") && Plan::parse(p) == Some(plan))
        .map(|(id, _)| id.as_str())
}

fn lapsed(account: &BillingAccount, cutoff: DateTime<Utc>) -> bool {
    account.past_due_since.is_some_and(|since| since <= cutoff)
}

/// Your plan, your subscriptions and whether a payment is overdue (the web app's banner).
#[utoipa::path(get, path = "/api/v1/me/billing", tag = "billing", operation_id = "my_billing",
    responses((status = 200, body = MyBilling), BillingError))]
pub async fn mine(State(state): State<AppState>, auth: AuthUser) -> Result<Json<MyBilling>, BillingError> {
    let settings = &state.settings.billing;
    let account = state.store.billing_account(auth.id()).await?;
    let now = Utc::now();
    let cutoff = grace_cutoff(&state, now);
    let (status, billed_plan) = match &account {
        None => ("none", Plan::Free),
        Some(a) if lapsed(a, cutoff) => ("lapsed", Plan::Free),
        Some(a) => (
            if a.past_due_since.is_some() {
                "past_due"
            } else {
                "active"
            },
            plan_of(a.subscriptions.iter().map(|s| (s.status.as_str(), s.plan))),
        ),
    };
    let past_due_since = account.as_ref().and_then(|a| a.past_due_since);
    let payments_enabled = settings.secret_key.as_deref().is_some_and(|k| !k.is_empty());
    Ok(Json(MyBilling {
        plan: auth.user.plan,
        billed_plan,
        status: status.into(),
        past_due_since,
        downgrade_at: past_due_since.map(|since| since + Duration::days(i64::from(settings.grace_days))),
        subscriptions: account
            .map(|a| a.subscriptions)
            .unwrap_or_default()
            .into_iter()
            .map(|s| SubscriptionView {
                id: s.id,
                status: s.status,
                plan: s.plan,
                currency: s.currency,
                mrr_cents: s.mrr_cents,
                updated_at: s.updated_at,
            })
            .collect(),
        purchasable: [Plan::Pro, Plan::Team]
            .into_iter()
            .filter(|p| payments_enabled && price_for(settings, *p).is_some())
            .collect(),
        payments_enabled,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckoutRequest {
    /// `pro` or `team`.
    pub plan: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedirectUrl {
    /// Stripe's page to send the person to.
    pub url: String,
}

fn return_url(state: &AppState) -> String {
    let settings = &state.settings;
    settings.billing.return_url.clone().unwrap_or_else(|| {
        let base = settings.email.link_base.as_deref().unwrap_or("http://localhost:8080");
        format!("{}/plans", base.trim_end_matches('/'))
    })
}

async fn stripe_post(state: &AppState, path: &str, form: &[(&str, String)]) -> Result<RedirectUrl, BillingError> {
    let settings = &state.settings.billing;
    let key = settings
        .secret_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or(BillingError::NotConfigured)?;
    let url = format!("{}{path}", settings.api_base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(STRIPE_TIMEOUT)
        .build()
        .map_err(|e| BillingError::Stripe(e.to_string()))?;
    let response = client
        .post(&url)
        .bearer_auth(key)
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .form(form)
        .send()
        .await
        .map_err(|e| BillingError::Stripe(format!("{url}: {e}")))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| BillingError::Stripe(format!("{url} answered {status} without JSON: {e}")))?;
    if !status.is_success() {
        let message = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("");
        return Err(BillingError::Stripe(format!("{url} answered {status}: {message}")));
    }
    let url = body
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| BillingError::Stripe(format!("{url} answered without a url")))?;
    Ok(RedirectUrl { url: url.to_owned() })
}

/// Starts paying for a plan: creates a Stripe Checkout Session for it and returns its URL.
/// The subscription reaches Plansmith through the webhook.
#[utoipa::path(post, path = "/api/v1/billing/checkout", tag = "billing", operation_id = "start_checkout",
    request_body = CheckoutRequest, responses((status = 200, body = RedirectUrl), WithJsonBody<BillingError>))]
pub async fn checkout(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<CheckoutRequest>,
) -> Result<Json<RedirectUrl>, BillingError> {
    let plan = Plan::parse(body.plan.trim()).ok_or(BillingError::Plan(body.plan.clone()))?;
    let settings = &state.settings.billing;
    if settings.secret_key.as_deref().is_none_or(str::is_empty) {
        return Err(BillingError::NotConfigured);
    }
    let price = price_for(settings, plan).ok_or(BillingError::NotForSale(plan))?;
    let user = auth.id().0.to_string();
    let back = return_url(&state);
    let mut form = vec![
        ("mode", "subscription".to_owned()),
        ("line_items[0][price]", price.to_owned()),
        ("line_items[0][quantity]", "1".to_owned()),
        ("success_url", format!("{back}?checkout=success")),
        ("cancel_url", format!("{back}?checkout=cancelled")),
        ("client_reference_id", user.clone()),
        ("metadata[plansmith_user_id]", user.clone()),
        ("subscription_data[metadata][plansmith_user_id]", user),
    ];
    match state.store.billing_account(auth.id()).await? {
        Some(account) => form.push(("customer", account.customer_id)),
        None => form.push(("customer_email", auth.user.email.clone())),
    }
    Ok(Json(stripe_post(&state, "/v1/checkout/sessions", &form).await?))
}

/// Opens Stripe's customer portal for you (change plan, card, cancel) and returns its URL.
#[utoipa::path(post, path = "/api/v1/billing/portal", tag = "billing", operation_id = "open_billing_portal",
    responses((status = 200, body = RedirectUrl), BillingError))]
pub async fn portal(State(state): State<AppState>, auth: AuthUser) -> Result<Json<RedirectUrl>, BillingError> {
    if state.settings.billing.secret_key.as_deref().is_none_or(str::is_empty) {
        return Err(BillingError::NotConfigured);
    }
    let account = state
        .store
        .billing_account(auth.id())
        .await?
        .ok_or(BillingError::NoCustomer)?;
    let form = [("customer", account.customer_id), ("return_url", return_url(&state))];
    Ok(Json(stripe_post(&state, "/v1/billing_portal/sessions", &form).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_signature_is_checked_against_the_raw_body_and_the_clock() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign("whsec_test", 1_700_000_000, body);
        assert_eq!(
            verify_signature(Some(&header), body, "whsec_test", 1_700_000_100),
            Ok(())
        );
        assert_eq!(
            verify_signature(Some(&header), br#"{"id":"evt_2"}"#, "whsec_test", 1_700_000_100),
            Err(SignatureProblem::Mismatch)
        );
        assert_eq!(
            verify_signature(Some(&header), body, "whsec_other", 1_700_000_100),
            Err(SignatureProblem::Mismatch)
        );
        assert_eq!(
            verify_signature(Some(&header), body, "whsec_test", 1_700_000_301),
            Err(SignatureProblem::Stale(301))
        );
        assert_eq!(
            verify_signature(None, body, "whsec_test", 0),
            Err(SignatureProblem::Missing)
        );
        assert_eq!(
            verify_signature(Some("v1=abcd"), body, "whsec_test", 0),
            Err(SignatureProblem::Malformed)
        );
        // Several signatures (a secret being rolled): one that matches is enough.
        let both = format!("{header},v1={}", "00".repeat(32));
        let rolled = format!("t=1700000000,v1={},{}", "00".repeat(32), &header[13..]);
        assert_eq!(verify_signature(Some(&both), body, "whsec_test", 1_700_000_000), Ok(()));
        assert_eq!(
            verify_signature(Some(&rolled), body, "whsec_test", 1_700_000_000),
            Ok(())
        );
    }

    fn event(kind: &str, object: Value) -> StripeEvent {
        StripeEvent {
            id: "evt_1".into(),
            kind: kind.into(),
            created: 1_700_000_000,
            data: StripeEventData { object },
        }
    }

    #[test]
    fn a_subscription_brings_its_items_normalised_discounted_and_mapped_to_a_plan() {
        let plans = [("price_pro_year".to_owned(), "pro".to_owned())].into();
        let object = json!({
            "id": "sub_1", "customer": "cus_1", "status": "active", "currency": "eur",
            "metadata": {"plansmith_user_id": "01a23e6a-520a-71ad-a2f2-fc98d8915a3a"},
            "discount": {"coupon": {"percent_off": 10.0, "duration": "forever"}},
            "items": {"data": [
                {"quantity": 2, "price": {"id": "price_pro_year", "product": "prod_1", "unit_amount": 12000,
                    "currency": "eur", "recurring": {"interval": "year", "interval_count": 1}}},
                {"quantity": 1, "price": {"id": "price_addon", "product": {"id": "prod_2", "metadata": {"plansmith_plan": "team"}},
                    "unit_amount": 500, "currency": "eur", "recurring": {"interval": "month", "interval_count": 1}}}
            ]}
        });
        let Some(BillingChange::Subscription(s)) =
            change_of(&event("customer.subscription.updated", object.clone()), &plans).unwrap()
        else {
            panic!("a subscription change");
        };
        // (2 × 120 / 12 + 5) × 0.9 = 22.50 a month.
        assert_eq!(s.mrr_cents, 2250);
        assert_eq!(s.currency, "eur");
        assert_eq!(s.plan, Some(Plan::Team));
        assert_eq!(s.customer.customer_id, "cus_1");
        assert!(s.customer.user.is_some());
        let Some(BillingChange::Subscription(gone)) =
            change_of(&event("customer.subscription.deleted", object), &plans).unwrap()
        else {
            panic!("a subscription change");
        };
        assert_eq!((gone.status.as_str(), gone.mrr_cents), ("canceled", 0));
    }

    #[test]
    fn other_types_are_ignored_and_broken_objects_named() {
        let plans = Default::default();
        assert!(change_of(&event("payout.paid", json!({})), &plans).unwrap().is_none());
        let problem = change_of(
            &event(
                "customer.subscription.created",
                json!({"id": "sub_1", "status": "active"}),
            ),
            &plans,
        )
        .unwrap_err();
        assert!(problem.0.contains("items.data"), "{problem:?}");
        let trial = json!({"id": "sub_1", "customer": "cus_1", "status": "trialing", "currency": "usd",
            "items": {"data": [{"price": {"id": "p", "unit_amount": 1000, "recurring": {"interval": "month"}}}]}});
        let Some(BillingChange::Subscription(s)) =
            change_of(&event("customer.subscription.created", trial), &plans).unwrap()
        else {
            panic!("a subscription change");
        };
        assert_eq!(s.mrr_cents, 0, "a trial brings no MRR yet");
    }
}
