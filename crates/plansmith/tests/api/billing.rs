//! Billing through Stripe: the signed webhook (applied once, bad signatures stored nowhere),
//! plans following subscriptions under an admin's override, past due and the grace period,
//! Checkout and the customer portal against a server of our own that speaks Stripe's API, and
//! the MRR movements of a known history.

use crate::accounts::{make_admin, register, unique};
use crate::helpers::{TestApp, spawn_with};
use axum::extract::State;
use chrono::{DateTime, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const SECRET: &str = "whsec_test_0123456789";

async fn billing_app(configure: impl FnOnce(&mut plansmith_server::Settings)) -> TestApp {
    spawn_with(
        |s| {
            s.billing.webhook_secret = Some(SECRET.into());
            s.billing.plans = [("price_pro", "pro"), ("price_team", "team")]
                .into_iter()
                .map(|(id, plan)| (id.to_owned(), plan.to_owned()))
                .collect();
            configure(s);
        },
        plansmith_server::Overrides::default(),
    )
    .await
}

/// Sends an event as Stripe does: the raw body signed now.
async fn deliver(app: &TestApp, event: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let signature = plansmith_server::billing::sign(SECRET, Utc::now().timestamp(), &body);
    post_raw(app, &body, Some(&signature)).await
}

async fn post_raw(app: &TestApp, body: &[u8], signature: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url("/api/v1/billing/webhook"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn event(id: &str, kind: &str, at: DateTime<Utc>, object: Value) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": at.timestamp(), "data": {"object": object}})
}

/// A subscription of `customer` to `price` at `cents` a month.
fn subscription(id: &str, customer: &str, price: &str, cents: i64, status: &str, user: Option<&str>) -> Value {
    json!({
        "id": id, "object": "subscription", "customer": customer, "status": status, "currency": "usd",
        "metadata": user.map(|u| json!({"plansmith_user_id": u})).unwrap_or(json!({})),
        "items": {"object": "list", "data": [{"quantity": 1, "price": {
            "id": price, "product": "prod_plansmith", "unit_amount": cents, "currency": "usd",
            "recurring": {"interval": "month", "interval_count": 1}}}]}
    })
}

fn invoice(id: &str, customer: &str, cents: i64) -> Value {
    json!({"id": id, "object": "invoice", "customer": customer, "currency": "usd",
        "amount_paid": cents, "amount_due": cents})
}

async fn me(app: &TestApp, token: &str) -> (String, Value) {
    let (_, me) = app.get("/api/v1/me", token).await;
    let (status, billing) = app.get("/api/v1/me/billing", token).await;
    assert_eq!(status, StatusCode::OK, "{billing}");
    (me["plan"].as_str().unwrap().to_owned(), billing)
}

#[tokio::test]
async fn stripe_events_apply_once_and_a_bad_signature_stores_nothing() {
    let app = billing_app(|_| {}).await;
    let email = unique("payer");
    let token = register(&app, &email).await;
    let now = Utc::now();
    let created = event(
        "evt_customer",
        "customer.created",
        now,
        json!({"id": "cus_A", "object": "customer", "email": email.to_uppercase(), "metadata": {}}),
    );
    let body = serde_json::to_vec(&created).unwrap();

    // Signed with another secret, by nobody, or long ago: 400 and nothing stored.
    let forged = plansmith_server::billing::sign("whsec_other", now.timestamp(), &body);
    let (status, answer) = post_raw(&app, &body, Some(&forged)).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_header"))
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Stripe-Signature"),
        "{answer}"
    );
    let (status, _) = post_raw(&app, &body, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let stale = plansmith_server::billing::sign(SECRET, now.timestamp() - 301, &body);
    let (status, _) = post_raw(&app, &body, Some(&stale)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let sub = subscription("sub_A", "cus_A", "price_pro", 5000, "active", None);
    let sub_event = event("evt_sub_1", "customer.subscription.created", now, sub.clone());
    let sub_body = serde_json::to_vec(&sub_event).unwrap();
    let tampered = plansmith_server::billing::sign(SECRET, now.timestamp(), &body);
    let (status, _) = post_raw(&app, &sub_body, Some(&tampered)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a signature of another body");
    let (plan, billing) = me(&app, &token).await;
    assert_eq!((plan.as_str(), billing["status"].as_str()), ("free", Some("none")));

    // The customer is linked by its email; the subscription gives the plan.
    let (status, answer) = deliver(&app, &created).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{answer}"
    );
    let (status, answer) = deliver(&app, &sub_event).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{answer}"
    );
    let (plan, billing) = me(&app, &token).await;
    assert_eq!(plan, "pro");
    assert_eq!(billing["status"], "active");
    assert_eq!(billing["subscriptions"][0]["mrr_cents"], 5000);

    // A replay (Stripe retries) changes nothing: still one movement of MRR.
    let (status, answer) = deliver(&app, &sub_event).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    // Types Plansmith does not use are acknowledged.
    let payout = event("evt_payout", "payout.paid", now, json!({"id": "po_1"}));
    let (status, answer) = deliver(&app, &payout).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("ignored")));
    // A broken object of a type we use is refused, saying what is wrong.
    let broken = event(
        "evt_broken",
        "customer.subscription.updated",
        now,
        json!({"id": "sub_A"}),
    );
    let (status, answer) = deliver(&app, &broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("status"),
        "{answer}"
    );

    let root = unique("root");
    let admin = register(&app, &root).await;
    make_admin(&app, &root).await;
    let month = plansmith_store::billing::month_of(now);
    let (status, report) = app
        .get(&format!("/api/v1/admin/analytics/mrr?from={month}&to={month}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let figures = &report["currencies"][0]["months"][0];
    assert_eq!(
        (&figures["new"], &figures["mrr"], &figures["customers"]),
        (&json!(5000), &json!(5000), &json!(1))
    );

    // An upgrade to team; then an admin's override wins over what is billed.
    let team = subscription("sub_A", "cus_A", "price_team", 9900, "active", None);
    deliver(&app, &event("evt_sub_2", "customer.subscription.updated", now, team)).await;
    assert_eq!(me(&app, &token).await.0, "team");
    let user_id = app.get("/api/v1/me", &token).await.1["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .json(
            Method::PUT,
            &format!("/api/v1/admin/users/{user_id}"),
            Some(&admin),
            Some(json!({"plan": "free"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (plan, billing) = me(&app, &token).await;
    assert_eq!((plan.as_str(), billing["billed_plan"].as_str()), ("free", Some("team")));
    let (status, _) = app
        .json(
            Method::PUT,
            &format!("/api/v1/admin/users/{user_id}"),
            Some(&admin),
            Some(json!({"plan": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me(&app, &token).await.0, "team");

    // A failed payment: past due, the plan kept for the grace period; paid: active again.
    deliver(
        &app,
        &event(
            "evt_fail",
            "invoice.payment_failed",
            now,
            invoice("in_1", "cus_A", 9900),
        ),
    )
    .await;
    let (plan, billing) = me(&app, &token).await;
    assert_eq!((plan.as_str(), billing["status"].as_str()), ("team", Some("past_due")));
    let since: DateTime<Utc> = billing["past_due_since"].as_str().unwrap().parse().unwrap();
    let downgrade: DateTime<Utc> = billing["downgrade_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(downgrade - since, chrono::Duration::days(7));
    deliver(
        &app,
        &event("evt_paid", "invoice.paid", now, invoice("in_1", "cus_A", 9900)),
    )
    .await;
    assert_eq!(me(&app, &token).await.1["status"], "active");

    // An older event arriving late does not undo a newer one.
    let older = subscription("sub_A", "cus_A", "price_pro", 5000, "active", None);
    let late = now - chrono::Duration::minutes(5);
    deliver(&app, &event("evt_late", "customer.subscription.updated", late, older)).await;
    assert_eq!(me(&app, &token).await.0, "team");

    // Cancelled: back to free.
    let gone = subscription("sub_A", "cus_A", "price_team", 9900, "active", None);
    deliver(&app, &event("evt_gone", "customer.subscription.deleted", now, gone)).await;
    let (plan, billing) = me(&app, &token).await;
    assert_eq!(
        (plan.as_str(), billing["subscriptions"][0]["status"].as_str()),
        ("free", Some("canceled"))
    );
}

#[tokio::test]
async fn an_account_overdue_past_the_grace_period_falls_back_to_free_until_it_pays() {
    let app = billing_app(|s| s.billing.grace_days = 3).await;
    let token = register(&app, &unique("late")).await;
    let user = app.get("/api/v1/me", &token).await.1["id"].as_str().unwrap().to_owned();
    let now = Utc::now();
    let sub = subscription("sub_L", "cus_L", "price_pro", 2000, "active", Some(&user));
    deliver(&app, &event("evt_l1", "customer.subscription.created", now, sub)).await;
    assert_eq!(
        me(&app, &token).await.0,
        "pro",
        "linked by the account id in its metadata"
    );

    // Stripe retried the failure for four days: past the grace period at once.
    let four_days_ago = now - chrono::Duration::days(4);
    deliver(
        &app,
        &event(
            "evt_l2",
            "invoice.payment_failed",
            four_days_ago,
            invoice("in_L", "cus_L", 2000),
        ),
    )
    .await;
    let (plan, billing) = me(&app, &token).await;
    assert_eq!((plan.as_str(), billing["status"].as_str()), ("free", Some("lapsed")));
    deliver(
        &app,
        &event("evt_l3", "invoice.paid", now, invoice("in_L", "cus_L", 2000)),
    )
    .await;
    assert_eq!(me(&app, &token).await.0, "pro");

    // Overdue within the grace period; the periodic check moves it once the period is over.
    deliver(
        &app,
        &event("evt_l4", "invoice.payment_failed", now, invoice("in_L2", "cus_L", 2000)),
    )
    .await;
    assert_eq!(me(&app, &token).await.0, "pro");
    let store = plansmith_server::open_store(&app.settings, false).await.unwrap();
    assert_eq!(
        store.lapse_past_due(now - chrono::Duration::seconds(1)).await.unwrap(),
        []
    );
    let lapsed = store.lapse_past_due(now + chrono::Duration::seconds(1)).await.unwrap();
    assert_eq!(lapsed.iter().map(|u| u.0.to_string()).collect::<Vec<_>>(), [user]);
    assert_eq!(me(&app, &token).await.0, "free");
}

/// What our Stripe saw: the path, the Authorization header and the form.
type Seen = Arc<Mutex<Vec<(String, String, Vec<(String, String)>)>>>;

async fn fake_stripe() -> (String, Seen) {
    let seen: Seen = Arc::default();
    async fn create(
        State(seen): State<Seen>,
        uri: axum::http::Uri,
        headers: axum::http::HeaderMap,
        body: String,
    ) -> axum::Json<Value> {
        let form: Vec<(String, String)> = url_pairs(&body);
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let path = uri.path().to_owned();
        seen.lock().unwrap().push((path.clone(), auth, form));
        let id = if path.contains("checkout") {
            "cs_test_1"
        } else {
            "bps_test_1"
        };
        axum::Json(json!({"id": id, "object": "checkout.session", "url": format!("https://stripe.test/{id}")}))
    }
    let router = axum::Router::new()
        .route("/v1/checkout/sessions", axum::routing::post(create))
        .route("/v1/billing_portal/sessions", axum::routing::post(create))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, seen)
}

/// `application/x-www-form-urlencoded` pairs.
fn url_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn checkout_and_the_portal_go_through_stripes_api() {
    let unconfigured = billing_app(|_| {}).await;
    let token = register(&unconfigured, &unique("early")).await;
    let (status, body) = unconfigured
        .post("/api/v1/billing/checkout", &token, json!({"plan": "pro"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert!(
        body["error"]["hint"].as_str().unwrap().contains("billing.secret_key"),
        "{body}"
    );

    let (stripe, seen) = fake_stripe().await;
    let app = billing_app(|s| {
        s.billing.secret_key = Some("sk_test_abc".into());
        s.billing.api_base = stripe.clone();
        s.billing.return_url = Some("https://plansmith.test/plans".into());
    })
    .await;
    let email = unique("buyer");
    let token = register(&app, &email).await;
    let user = app.get("/api/v1/me", &token).await.1["id"].as_str().unwrap().to_owned();
    let (_, billing) = app.get("/api/v1/me/billing", &token).await;
    assert_eq!(
        (&billing["purchasable"], &billing["payments_enabled"]),
        (&json!(["pro", "team"]), &json!(true))
    );

    for (plan, field) in [("gold", "plan"), ("free", "plan")] {
        let (status, body) = app
            .post("/api/v1/billing/checkout", &token, json!({"plan": plan}))
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }
    let (status, body) = app.post("/api/v1/billing/portal", &token, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no customer yet: {body}");

    let (status, body) = app
        .post("/api/v1/billing/checkout", &token, json!({"plan": "team"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["url"], "https://stripe.test/cs_test_1");
    {
        let seen = seen.lock().unwrap();
        let (path, auth, form) = seen.last().unwrap();
        assert_eq!(
            (path.as_str(), auth.as_str()),
            ("/v1/checkout/sessions", "Bearer sk_test_abc")
        );
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(field("mode"), Some("subscription"));
        assert_eq!(field("line_items[0][price]"), Some("price_team"));
        assert_eq!(field("customer_email"), Some(email.as_str()));
        assert_eq!(
            field("subscription_data[metadata][plansmith_user_id]"),
            Some(user.as_str())
        );
        assert_eq!(
            field("success_url"),
            Some("https://plansmith.test/plans?checkout=success")
        );
    }

    // Checkout completed: the subscription arrives by the webhook; the portal opens for it.
    let sub = subscription("sub_B", "cus_B", "price_team", 4900, "active", Some(&user));
    deliver(&app, &event("evt_b1", "customer.subscription.created", Utc::now(), sub)).await;
    let (status, body) = app.post("/api/v1/billing/portal", &token, json!({})).await;
    assert_eq!(
        (status, body["url"].as_str()),
        (StatusCode::OK, Some("https://stripe.test/bps_test_1")),
        "{body}"
    );
    let seen = seen.lock().unwrap();
    let (path, _, form) = seen.last().unwrap();
    assert_eq!(path, "/v1/billing_portal/sessions");
    assert!(form.contains(&("customer".into(), "cus_B".into())), "{form:?}");
}

fn month(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 12, 0, 0).unwrap()
}

/// Customer A on $50/mo moves to $80/mo, cancels and returns on $50/mo; B joins on $20/mo and
/// leaves; C pays in euros. Every figure by hand.
#[tokio::test]
async fn mrr_movements_of_a_known_history() {
    let app = billing_app(|_| {}).await;
    let root = unique("cfo");
    let admin = register(&app, &root).await;
    make_admin(&app, &root).await;
    let history = [
        (
            "e1",
            month(2025, 1, 5),
            subscription("sub_a", "cus_a", "price_pro", 5000, "active", None),
        ),
        (
            "e2",
            month(2025, 1, 9),
            subscription("sub_b", "cus_b", "price_pro", 2000, "active", None),
        ),
        (
            "e3",
            month(2025, 2, 3),
            subscription("sub_a", "cus_a", "price_team", 8000, "active", None),
        ),
        (
            "e4",
            month(2025, 3, 1),
            subscription("sub_a", "cus_a", "price_team", 8000, "canceled", None),
        ),
        (
            "e5",
            month(2025, 4, 2),
            subscription("sub_a2", "cus_a", "price_pro", 5000, "active", None),
        ),
        (
            "e6",
            month(2025, 5, 20),
            subscription("sub_b", "cus_b", "price_pro", 2000, "canceled", None),
        ),
    ];
    for (id, at, object) in history {
        let (status, answer) = deliver(&app, &event(id, "customer.subscription.updated", at, object)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let mut euro = subscription("sub_c", "cus_c", "price_pro", 3000, "active", None);
    euro["currency"] = json!("eur");
    deliver(
        &app,
        &event("e7", "customer.subscription.created", month(2025, 2, 1), euro),
    )
    .await;

    let (status, report) = app
        .get("/api/v1/admin/analytics/mrr?from=2025-01&to=2025-05", &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let currencies: Vec<&str> = report["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["currency"].as_str().unwrap())
        .collect();
    assert_eq!(currencies, ["eur", "usd"], "never converted");
    let usd = &report["currencies"][1];
    let months = usd["months"].as_array().unwrap();
    let column = |name: &str| months.iter().map(|m| m[name].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(column("new"), [7000, 0, 0, 0, 0]);
    assert_eq!(column("expansion"), [0, 3000, 0, 0, 0]);
    assert_eq!(column("churn"), [0, 0, -8000, 0, -2000]);
    assert_eq!(column("reactivation"), [0, 0, 0, 5000, 0]);
    assert_eq!(column("mrr"), [7000, 10_000, 2000, 7000, 5000]);
    assert_eq!(column("arr"), [84_000, 120_000, 24_000, 84_000, 60_000]);
    assert_eq!(column("customers"), [2, 2, 1, 2, 1]);
    for m in months {
        assert_eq!(
            m["net"].as_i64().unwrap(),
            m["mrr"].as_i64().unwrap() - m["mrr_start"].as_i64().unwrap()
        );
    }
    assert_eq!(months[2]["customer_churn_rate"], 0.5);
    assert_eq!(months[2]["net_mrr_churn_rate"], 0.8);
    assert_eq!(months[3]["arpa"], 3500);
    assert_eq!(months[3]["ltv"], 21_000);
    let cohort = &usd["cohorts"][0];
    assert_eq!(cohort["cohort"], "2025-01");
    let retention: Vec<f64> = cohort["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["net_mrr_retention"].as_f64().unwrap())
        .collect();
    assert_eq!(
        retention,
        [1.0, 10_000.0 / 7000.0, 2000.0 / 7000.0, 1.0, 5000.0 / 7000.0]
    );
    let eur = &report["currencies"][0]["months"];
    assert_eq!((&eur[1]["new"], &eur[4]["mrr"]), (&json!(3000), &json!(3000)));

    // A later range starts from the totals before it.
    let (_, later) = app
        .get(
            "/api/v1/admin/analytics/mrr?from=2025-04&to=2025-04&currency=usd",
            &admin,
        )
        .await;
    let april = &later["currencies"][0]["months"][0];
    assert_eq!(
        (&april["mrr_start"], &april["mrr"], &april["ltv"]),
        (&json!(2000), &json!(7000), &json!(21_000))
    );

    for query in ["from=2025-13", "from=2025-05&to=2025-01", "to=May"] {
        let (status, body) = app.get(&format!("/api/v1/admin/analytics/mrr?{query}"), &admin).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query")),
            "{query}: {body}"
        );
    }
    let member = register(&app, &unique("member")).await;
    let (status, _) = app.get("/api/v1/admin/analytics/mrr", &member).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Demo data goes through the webhook's path: the same seed makes the same figures, every
/// month's movements add up to its change of MRR in the database's own sums, and the forecast
/// comes with its backtest.
#[tokio::test]
async fn demo_data_feeds_the_metrics_and_a_forecast_with_its_measured_error() {
    let app = billing_app(|_| {}).await;
    let store = plansmith_server::open_store(&app.settings, false).await.unwrap();
    let options = plansmith_server::demo::DemoOptions {
        users: 400,
        months: 18,
        seed: 3,
    };
    let made = plansmith_server::demo::fill(store.as_ref(), options).await.unwrap();
    assert_eq!(made.users, 400);
    assert!(made.customers > 20 && made.events > made.customers, "{made:?}");
    let again = plansmith_server::demo::fill(store.as_ref(), options).await;
    assert!(again.unwrap_err().to_string().contains("already"), "a seed fills once");

    let other = billing_app(|_| {}).await;
    let other_store = plansmith_server::open_store(&other.settings, false).await.unwrap();
    let same = plansmith_server::demo::fill(other_store.as_ref(), options)
        .await
        .unwrap();
    assert_eq!(same, made, "the same seed makes the same history");

    let root = unique("ceo");
    let admin = register(&app, &root).await;
    make_admin(&app, &root).await;
    let now = plansmith_store::billing::month_of(Utc::now());
    let (status, report) = app
        .get(&format!("/api/v1/admin/analytics/mrr?from=2020-01&to={now}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    for currency in report["currencies"].as_array().unwrap() {
        let mut mrr = 0;
        for m in currency["months"].as_array().unwrap() {
            let kinds: i64 = ["new", "expansion", "contraction", "churn", "reactivation"]
                .iter()
                .map(|k| m[*k].as_i64().unwrap())
                .sum();
            assert_eq!(m["mrr_start"].as_i64().unwrap(), mrr);
            mrr += kinds;
            assert_eq!(m["mrr"].as_i64().unwrap(), mrr, "{}", m["month"]);
        }
        assert_eq!(mrr, made.mrr[currency["currency"].as_str().unwrap()]);
    }

    let (status, forecast) = app
        .get("/api/v1/admin/analytics/forecast?months=6&currency=usd", &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{forecast}");
    let usd = &forecast["currencies"][0];
    assert_eq!(usd["model"], "holt_linear");
    assert!(usd["history"].as_array().unwrap().len() >= 12, "{usd}");
    let months = usd["forecast"].as_array().unwrap();
    assert_eq!(months.len(), 6);
    for m in months {
        let v = |k: &str| m[k].as_i64().unwrap();
        assert!(
            v("low95") <= v("low80") && v("low80") <= v("mrr") && v("mrr") <= v("high80"),
            "{m}"
        );
        assert!(v("high80") <= v("high95"), "{m}");
    }
    let cohort_view = usd["cohort_view"].as_array().unwrap();
    assert_eq!(cohort_view.len(), 6, "{usd}");
    assert_eq!(cohort_view[0]["month"], months[0]["month"]);
    assert!(cohort_view.iter().all(|m| m["mrr"].as_i64().unwrap() > 0), "{usd}");
    let backtest = &usd["backtest"];
    assert!(backtest["forecasts"].as_u64().unwrap() > 10, "{backtest}");
    for key in ["mape", "mase", "coverage80", "coverage95"] {
        assert!(backtest[key].as_f64().is_some(), "{key} in {backtest}");
    }
    let (status, _) = app.get("/api/v1/admin/analytics/forecast?months=13", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The accounts' use of the product is there too, back-dated to their sign-ups.
    assert!(made.product_events > made.users, "{made:?}");
    let since = (Utc::now() - chrono::Duration::days(600)).date_naive();
    let (status, funnel) = app
        .get(&format!("/api/v1/admin/analytics/funnel?from={since}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{funnel}");
    let reached: Vec<i64> = funnel["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["accounts"].as_i64().unwrap())
        .collect();
    assert_eq!(reached[0], 401, "the demo accounts and the admin: {funnel}");
    assert!(reached.windows(2).all(|w| w[0] >= w[1]), "{funnel}");
    assert!(reached[1] > 150 && reached[3] > 20, "{funnel}");
    let (_, retention) = app
        .get(&format!("/api/v1/admin/analytics/retention?from={since}"), &admin)
        .await;
    assert!(
        retention["cohorts"].as_array().unwrap().len() > 40,
        "weekly cohorts over 18 months"
    );

    // Their first sessions are real sessions, with conversations, documents, ratings and
    // surveys: the quality report and the feedback themes have data too.
    assert!(
        made.sessions > 150 && made.ratings > 40 && made.surveys > 10,
        "{made:?}"
    );
    let (status, quality) = app
        .get(&format!("/api/v1/admin/analytics/quality?from={since}"), &admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{quality}");
    let groups = |key: &str| -> Vec<String> {
        quality[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["group"].to_string())
            .collect()
    };
    assert_eq!(
        groups("by_workflow"),
        ["[\"product-plan\"]", "[\"quick-brief\"]"],
        "{quality}"
    );
    assert_eq!(groups("by_model").len(), 3, "{quality}");
    assert!(groups("by_step").len() >= 4, "{quality}");
    let average = |provider: &str| {
        quality["by_model"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"][0] == provider)
            .and_then(|g| g["average_rating"].as_f64())
            .unwrap()
    };
    assert!(average("offline") < average("anthropic"), "{quality}");
    let measures: Vec<&str> = quality["time_to_plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["measure"].as_str())
        .collect();
    for measure in ["active", "elapsed", "estimate", "saved"] {
        assert!(measures.contains(&measure), "{measure} in {quality}");
    }
    let (status, themes) = app.get("/api/v1/admin/analytics/themes?months=24", &admin).await;
    assert_eq!(status, StatusCode::OK, "{themes}");
    assert!(themes["feedback"].as_array().unwrap().len() >= 3, "{themes}");
    assert!(themes["categories"].as_array().unwrap().len() >= 3, "{themes}");
    let quoted = themes["feedback"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| !t["quotes"].as_array().unwrap().is_empty());
    assert!(quoted, "people who agreed are quoted: {themes}");
}

/// The headline subscription figures are Prometheus gauges per currency.
#[tokio::test]
async fn mrr_arr_and_customers_are_gauges_per_currency() {
    let app = billing_app(|_| {}).await;
    let now = Utc::now();
    let sub = subscription("sub_g", "cus_g", "price_pro", 2500, "active", None);
    deliver(&app, &event("evt_g1", "customer.subscription.created", now, sub)).await;
    let mut team = subscription("sub_h", "cus_h", "price_team", 4000, "active", None);
    team["currency"] = json!("eur");
    deliver(&app, &event("evt_g2", "customer.subscription.created", now, team)).await;
    // A second instance on the same database reads them at its start (then once a minute).
    let second = crate::helpers::start(app.settings.clone(), plansmith_server::Overrides::default()).await;
    let mut text = String::new();
    for _ in 0..50 {
        text = second.metrics().await;
        if text.contains("plansmith_mrr_cents{currency=\"eur\"}") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for (line, value) in [
        ("plansmith_mrr_cents{currency=\"usd\"}", "2500"),
        ("plansmith_arr_cents{currency=\"usd\"}", "30000"),
        ("plansmith_paying_customers{currency=\"usd\"}", "1"),
        ("plansmith_mrr_cents{currency=\"eur\"}", "4000"),
    ] {
        assert!(
            text.lines().any(|l| l == format!("{line} {value}")),
            "{line} {value} in:\n{}",
            text.lines()
                .filter(|l| l.contains("_cents") || l.contains("customers"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
