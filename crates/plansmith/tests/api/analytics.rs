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

    // Usage: what was used by how many; everyone was active today.
    let (status, usage) = app.get("/api/v1/admin/analytics/usage", &admin).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    let feature = |kind: &str, name: &str| {
        usage["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind && f["name"] == name)
            .map(|f| (f["events"].as_i64().unwrap(), f["accounts"].as_i64().unwrap()))
    };
    assert_eq!(feature("session_started", "quick-brief"), Some((2, 2)), "{usage}");
    assert_eq!(feature("signed_up", "newsletter"), Some((2, 2)));
    assert_eq!(feature("step_completed", "brief"), Some((1, 1)));
    assert_eq!(usage["mau"], 4);
    assert_eq!(usage["daily_active"].as_array().unwrap().len(), 1);
    assert_eq!(usage["daily_active"][0]["accounts"], 4);
    let stickiness = usage["stickiness"].as_f64().unwrap();
    assert!((stickiness - 4.0 / 90.0 / 4.0).abs() < 1e-9, "{usage}");

    // Segments: by channel, plan and first workflow, with how far each went.
    let (status, segments) = app.get("/api/v1/admin/analytics/segments", &admin).await;
    assert_eq!(status, StatusCode::OK, "{segments}");
    let segment = |dimension: &str, value: &str| {
        let s = segments["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["dimension"] == dimension && s["value"] == value)
            .unwrap_or_else(|| panic!("{dimension}={value} in {segments}"));
        ["accounts", "started", "completed", "paying"].map(|k| s[k].as_i64().unwrap())
    };
    assert_eq!(segment("channel", "newsletter"), [2, 1, 1, 1]);
    assert_eq!(segment("channel", "direct"), [2, 1, 0, 0]);
    assert_eq!(segment("plan", "pro"), [1, 1, 1, 1]);
    assert_eq!(segment("plan", "free"), [3, 1, 0, 0]);
    assert_eq!(segment("workflow", "quick-brief"), [2, 2, 1, 1]);
    assert_eq!(segment("workflow", "none"), [2, 0, 0, 0]);

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

/// Finishes a one-step session: a reply drafts the brief, then the step (and so the session)
/// completes. Returns the session and its document.
async fn finished_brief(app: &TestApp, token: &str) -> (String, String) {
    let sid = app.session(token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(token, &sid, "draft the rest").await;
    app.wait_reply(token, &sid, sent["reply"]["id"].as_str().unwrap()).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/sessions/{sid}/steps/brief/complete"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, documents) = app.get(&format!("/api/v1/sessions/{sid}/documents"), token).await;
    let doc = documents["items"][0]["id"].as_str().unwrap().to_owned();
    (sid, doc)
}

#[tokio::test]
async fn ratings_and_the_survey_become_quality_by_workflow_step_model_and_time_to_plan() {
    let app = spawn_with(|_| {}, plansmith_server::Overrides::default()).await;
    let root = unique("quality");
    let (admin, _) = register_from(&app, &root, None).await;
    make_admin(&app, &root).await;
    let (ada, _) = register_from(&app, &unique("ada"), None).await;
    let (bob, _) = register_from(&app, &unique("bob"), None).await;
    let (ada_session, ada_doc) = finished_brief(&app, &ada).await;
    let (bob_session, bob_doc) = finished_brief(&app, &bob).await;
    let put = |path: String, token: String, body: Value| {
        let app = &app;
        async move { app.json(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    let rating_path = |sid: &str, doc: &str| format!("/api/v1/sessions/{sid}/documents/{doc}/rating");

    // Bad input says which field and what to do; another person's document does not exist.
    for (body, field) in [
        (json!({"rating": 6, "useful": true}), "rating"),
        (
            json!({"rating": 3, "useful": true, "comment": "x".repeat(2001)}),
            "comment",
        ),
    ] {
        let (status, answer) = put(rating_path(&ada_session, &ada_doc), ada.clone(), body).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{answer}"
        );
    }
    let (status, _) = put(
        rating_path(&bob_session, &bob_doc),
        ada.clone(),
        json!({"rating": 1, "useful": false}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = put(
        rating_path(&ada_session, &bob_doc),
        ada.clone(),
        json!({"rating": 1, "useful": false}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nothing to read back before a rating or an answer: a 404 that says how to give one.
    let (status, none) = app.get(&rating_path(&ada_session, &ada_doc), &ada).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{none}");
    assert!(
        none["error"]["message"].as_str().unwrap().contains("not rated"),
        "{none}"
    );
    let (status, none) = app.get(&format!("/api/v1/sessions/{ada_session}/survey"), &ada).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{none}");

    // Ada rates 4 then changes her mind to 5 (one rating counts); Bob rates 2, not useful.
    let ada_rating = json!({"rating": 4, "useful": true, "comment": "Clear and useful brief"});
    let (status, saved) = put(rating_path(&ada_session, &ada_doc), ada.clone(), ada_rating).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    put(
        rating_path(&ada_session, &ada_doc),
        ada.clone(),
        json!({"rating": 5, "useful": true, "comment": "Clear and useful brief"}),
    )
    .await;
    put(
        rating_path(&bob_session, &bob_doc),
        bob.clone(),
        json!({"rating": 2, "useful": false}),
    )
    .await;
    for (body, field) in [
        (json!({"csat": 0, "hours_without": 3}), "csat"),
        (json!({"csat": 4, "hours_without": -1}), "hours_without"),
    ] {
        let (status, answer) = put(format!("/api/v1/sessions/{ada_session}/survey"), ada.clone(), body).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{answer}"
        );
    }
    let (status, survey) = put(
        format!("/api/v1/sessions/{ada_session}/survey"),
        ada.clone(),
        json!({"csat": 5, "hours_without": 12, "comment": "Saved me a week"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{survey}");

    // Each person reads back their own answers, comments opened; nobody else's.
    let (status, rating) = app.get(&rating_path(&ada_session, &ada_doc), &ada).await;
    assert_eq!(status, StatusCode::OK, "{rating}");
    assert_eq!(
        (&rating["rating"], &rating["useful"], &rating["comment"]),
        (&json!(5), &json!(true), &json!("Clear and useful brief"))
    );
    let (_, rating) = app.get(&rating_path(&bob_session, &bob_doc), &bob).await;
    assert_eq!((&rating["rating"], &rating["comment"]), (&json!(2), &Value::Null));
    let (status, _) = app.get(&rating_path(&bob_session, &bob_doc), &ada).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another person's rating is not there");
    let (status, answer) = app.get(&format!("/api/v1/sessions/{ada_session}/survey"), &ada).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (&answer["csat"], &answer["hours_without"], &answer["comment"]),
        (&json!(5), &json!(12.0), &json!("Saved me a week"))
    );
    let (status, _) = app.get(&format!("/api/v1/sessions/{ada_session}/survey"), &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Comments are sealed at rest.
    let sealed = "SELECT COUNT(*) FROM document_ratings WHERE comment LIKE 'pse1.%'";
    assert_eq!(crate::audit::count_rows(&app, sealed).await, 1);
    let clear = "SELECT COUNT(*) FROM session_surveys WHERE comment LIKE '%week%'";
    assert_eq!(crate::audit::count_rows(&app, clear).await, 0);

    let (status, report) = app.get("/api/v1/admin/analytics/quality", &admin).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let workflow = &report["by_workflow"][0];
    assert_eq!(workflow["group"], json!(["quick-brief"]));
    assert_eq!(
        (
            &workflow["ratings"],
            &workflow["average_rating"],
            &workflow["useful_share"]
        ),
        (&json!(2), &json!(3.5), &json!(0.5))
    );
    assert_eq!(report["by_step"][0]["group"], json!(["quick-brief", "brief"]));
    assert_eq!(report["by_model"][0]["group"][0], "offline", "{report}");
    assert_eq!(report["by_model"][0]["ratings"], 2);
    let csat = &report["csat"][0];
    assert_eq!(
        (&csat["surveys"], &csat["average_csat"], &csat["csat_percent"]),
        (&json!(1), &json!(5.0), &json!(100.0))
    );
    let measures: Vec<&Value> = report["time_to_plan"].as_array().unwrap().iter().collect();
    let measure = |name: &str| {
        *measures
            .iter()
            .find(|m| m["measure"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))
    };
    assert_eq!(measure("elapsed")["sessions"], 2);
    assert_eq!(measure("estimate")["sessions"], 1);
    assert_eq!(measure("estimate")["median_hours"], 12.0);
    let active = measure("active")["median_hours"].as_f64().unwrap();
    let elapsed = measure("elapsed")["median_hours"].as_f64().unwrap();
    assert!((0.0..=elapsed + 1e-9).contains(&active), "{report}");
    let saved = measure("saved")["median_hours"].as_f64().unwrap();
    assert!(saved > 11.9 && saved <= 12.0, "{report}");
    let (status, _) = app.get("/api/v1/admin/analytics/quality", &ada).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Comments and ideas are grouped into themes; only people who agreed to product research
/// are quoted, anonymised.
#[tokio::test]
async fn feedback_themes_quote_only_those_who_agreed() {
    let app = spawn_with(|_| {}, plansmith_server::Overrides::default()).await;
    let root = unique("research");
    let (admin, _) = register_from(&app, &root, None).await;
    make_admin(&app, &root).await;
    let mut people = Vec::new();
    for name in ["ada", "bob", "cy", "dee"] {
        people.push(register_from(&app, &unique(name), None).await.0);
    }
    let (status, consents) = app
        .post(
            "/api/v1/me/consents",
            &people[0],
            json!({"kind": "product_research", "given": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{consents}");
    assert_eq!(consents["notices"][1]["kind"], "product_research");
    assert_eq!(consents["notices"][1]["given"], true);
    for (i, token) in people.iter().enumerate() {
        let (idea, comment) = if i % 2 == 0 {
            (
                "A recipe app where families share recipes, cooking notes and weekly meal plans",
                format!("The docx export was broken, export failed twice. Mail me at person{i}@example.com"),
            )
        } else {
            (
                "Invoicing and accounting for freelancers: invoices, expenses and tax reports",
                "Pricing is too expensive; the price of the team subscription is high".to_owned(),
            )
        };
        for _ in 0..3 {
            let (status, session) = app
                .post(
                    "/api/v1/sessions",
                    token,
                    json!({"workflow_id": "quick-brief", "title": "Idea", "idea": idea}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{session}");
            let sid = session["id"].as_str().unwrap();
            let (status, answer) = app
                .json(
                    Method::PUT,
                    &format!("/api/v1/sessions/{sid}/survey"),
                    Some(token),
                    Some(json!({"csat": 3, "hours_without": 5, "comment": comment})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            let (status, _) = app
                .post(&format!("/api/v1/sessions/{sid}/abandon"), token, json!({}))
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }

    let (status, report) = app.get("/api/v1/admin/analytics/themes?k=2", &admin).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["texts"], 24, "12 comments and 12 ideas");
    let feedback = report["feedback"].as_array().unwrap();
    assert_eq!(feedback.len(), 2, "{report}");
    let export = feedback
        .iter()
        .find(|t| t["terms"][0] == "export")
        .expect("an export theme");
    assert_eq!(export["size"], 6);
    let quotes = export["quotes"].as_array().unwrap();
    assert_eq!(quotes.len(), 3, "Ada's three comments: {report}");
    for quote in quotes {
        let quote = quote.as_str().unwrap();
        assert!(quote.contains("[email]") && !quote.contains("example.com"), "{quote}");
    }
    let pricing = feedback.iter().find(|t| t != &export).unwrap();
    assert!(
        pricing["quotes"].as_array().unwrap().is_empty(),
        "nobody there agreed: {report}"
    );
    let categories = report["categories"].as_array().unwrap();
    assert_eq!(categories.len(), 2, "{report}");
    assert!(categories.iter().all(|c| c["size"] == 6), "{report}");
    let month = plansmith_store::billing::month_of(Utc::now());
    assert_eq!(categories[0]["by_month"], json!([{"month": month, "texts": 6}]));
    let (status, _) = app.get("/api/v1/admin/analytics/themes?k=0", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
