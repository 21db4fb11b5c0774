//! Product events and what the analytics make of them: the activation funnel with its
//! filters, and weekly retention, summed by the database.

use crate::accounts::{make_admin, unique};
use crate::helpers::{TestApp, spawn_with};
use chrono::{Datelike, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn register_from(app: &TestApp, email: &str, utm_source: Option<&str>) -> (String, String) {
    let mut body = json!({"email": email, "password": "correct horse battery"});
    if let Some(source) = utm_source {
        body["utm_source"] = json!(source);
    }
    let (status, answer) = app.json(Method::POST, "/api/v1/auth/register", None, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    (
        answer["token"].as_str().unwrap().to_owned(),
        answer["user"]["id"].as_str().unwrap().to_owned(),
    )
}

fn accounts(report: &Value) -> Vec<i64> {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["accounts"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_funnel_and_retention_follow_what_people_do() {
    const SECRET: &str = "whsec_analytics";
    let app = spawn_with(
        |s| s.billing.webhook_secret = Some(SECRET.into()),
        plansmith_server::Overrides::default(),
    )
    .await;
    let root = unique("analyst");
    let (admin, _) = register_from(&app, &root, None).await;
    make_admin(&app, &root).await;
    let (ada, ada_id) = register_from(&app, &unique("ada"), Some("Newsletter")).await;
    let (bob, _) = register_from(&app, &unique("bob"), None).await;
    let (_cy, cy_id) = register_from(&app, &unique("cy"), Some("newsletter")).await;

    // Ada plans the whole brief and pays; Bob starts a session; Cy only signs up.
    let sid = app.session(&ada, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&ada, &sid, "draft the rest").await;
    app.wait_reply(&ada, &sid, sent["reply"]["id"].as_str().unwrap()).await;
    let (status, body) = app
        .post(&format!("/api/v1/sessions/{sid}/steps/brief/complete"), &ada, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "completed", "quick-brief has one step");
    let subscription = json!({"id": "evt_paid", "object": "event", "type": "customer.subscription.created",
        "created": Utc::now().timestamp(), "data": {"object": {
            "id": "sub_ada", "object": "subscription", "customer": "cus_ada", "status": "active", "currency": "usd",
            "metadata": {"plansmith_user_id": ada_id},
            "items": {"data": [{"quantity": 1, "price": {"id": "price_x", "unit_amount": 2000, "currency": "usd",
                "product": {"id": "prod_x", "metadata": {"plansmith_plan": "pro"}},
                "recurring": {"interval": "month", "interval_count": 1}}}]}}}});
    let raw = serde_json::to_vec(&subscription).unwrap();
    let signature = plansmith_server::billing::sign(SECRET, Utc::now().timestamp(), &raw);
    let response = app
        .client
        .post(app.url("/api/v1/billing/webhook"))
        .header("stripe-signature", signature)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.session(&bob, "quick-brief").await;

    let (status, funnel) = app.get("/api/v1/admin/analytics/funnel", &admin).await;
    assert_eq!(status, StatusCode::OK, "{funnel}");
    assert_eq!(accounts(&funnel), [4, 2, 1, 1, 1], "{funnel}");
    let stages = funnel["stages"].as_array().unwrap();
    assert_eq!(stages[1]["conversion"], 0.5);
    assert_eq!(stages[2]["conversion"], 0.5);
    assert_eq!(stages[4]["overall"], 0.25);
    for stage in &stages[1..] {
        assert!(
            stage["median_seconds_from_previous"].as_f64().unwrap() >= 0.0,
            "{stage}"
        );
    }
    assert!(stages[0]["median_seconds_from_previous"].is_null());

    let report = |query: &str| {
        let path = format!("/api/v1/admin/analytics/funnel?{query}");
        let admin = admin.clone();
        let app = &app;
        async move { app.get(&path, &admin).await }
    };
    assert_eq!(accounts(&report("channel=newsletter").await.1), [2, 1, 1, 1, 1]);
    assert_eq!(accounts(&report("channel=direct").await.1), [2, 1, 0, 0, 0]);
    assert_eq!(accounts(&report("plan=pro").await.1), [1, 1, 1, 1, 1]);
    assert_eq!(accounts(&report("workflow=product-plan").await.1), [4, 0, 0, 0, 0]);
    let yesterday = (Utc::now() - chrono::Duration::days(1)).date_naive();
    assert_eq!(accounts(&report(&format!("to={yesterday}")).await.1), [0, 0, 0, 0, 0]);
    for bad in ["plan=gold", "from=2026-02-30", "from=2026-03-01&to=2026-02-01"] {
        let (status, body) = report(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // Cy comes back the week after: week 1 of the cohort.
    let store = plansmith_server::open_store(&app.settings, false).await.unwrap();
    let next_week = plansmith_store::events::ProductEvent {
        user: plansmith_domain::UserId(cy_id.parse().unwrap()),
        kind: plansmith_store::events::EventKind::SessionStarted,
        name: Some("quick-brief".into()),
        workflow: Some("quick-brief".into()),
        at: Utc::now() + chrono::Duration::days(7),
    };
    store.record_product_events(vec![next_week]).await.unwrap();
    let (status, retention) = app.get("/api/v1/admin/analytics/retention", &admin).await;
    assert_eq!(status, StatusCode::OK, "{retention}");
    let cohorts = retention["cohorts"].as_array().unwrap();
    assert_eq!(cohorts.len(), 1, "{retention}");
    assert_eq!(cohorts[0]["accounts"], 4);
    assert_eq!(cohorts[0]["active"], json!([1.0, 0.25]), "{retention}");
    let week: chrono::NaiveDate = cohorts[0]["week"].as_str().unwrap().parse().unwrap();
    assert_eq!(week.weekday(), chrono::Weekday::Mon);
    let member = register_from(&app, &unique("nosy"), None).await.0;
    let (status, _) = app.get("/api/v1/admin/analytics/retention", &member).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
