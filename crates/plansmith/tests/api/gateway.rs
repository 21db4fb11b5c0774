//! The LLM gateway against mock providers over real HTTP (OpenAI and Anthropic protocols):
//! failover, retries, timeouts, broken streams and circuit breakers, seen through replies.

use crate::helpers::{TestApp, spawn_with, text_of};
use plansmith_domain::Money;
use plansmith_mock_llm::{Fault, MockOptions, MockStats};
use plansmith_server::Overrides;
use plansmith_server::config::{PriceSettings, ProviderKind, ProviderSettings, Settings};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

struct Mock {
    url: String,
    stats: Arc<MockStats>,
}

async fn mock(options: MockOptions) -> Mock {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (router, stats) = plansmith_mock_llm::router(options);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Mock {
        url: format!("http://{addr}/v1"),
        stats,
    }
}

fn fast(fault: Option<Fault>) -> MockOptions {
    MockOptions {
        time_to_first_token: Duration::from_millis(20),
        tokens_per_second: 2000.0,
        reply_tokens: 40,
        fault,
        fault_rate: 1.0,
        fault_after_tokens: 5,
        retry_after_seconds: 1,
    }
}

pub fn provider(name: &str, kind: ProviderKind, url: &str) -> ProviderSettings {
    ProviderSettings {
        name: name.into(),
        kind,
        base_url: Some(url.into()),
        api_key_env: None,
        model: Some(format!("{name}-model")),
        requests_per_minute: None,
        tokens_per_minute: None,
        max_concurrency: None,
        connect_timeout_ms: 1000,
        first_token_timeout_ms: 2000,
        stall_timeout_ms: 500,
        total_timeout_ms: 10_000,
    }
}

async fn app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_with(
        |s| {
            s.llm.retry.base_delay_ms = 10;
            s.llm.retry.max_delay_ms = 50;
            configure(s);
        },
        Overrides::default(),
    )
    .await
}

/// Sends one message and waits for its reply; returns (reply, stream events).
async fn exchange(app: &TestApp) -> (Value, Vec<crate::helpers::Sse>) {
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "Tell me more").await;
    let events = app
        .stream_all(sent["reply"]["stream_url"].as_str().unwrap(), &token, None)
        .await;
    let reply = app
        .wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    (reply, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_and_anthropic_streams_make_replies_that_update_documents() {
    for kind in [ProviderKind::OpenAi, ProviderKind::Anthropic] {
        let healthy = mock(fast(None)).await;
        let url = healthy.url.clone();
        let app = app(move |s| {
            s.llm.providers = vec![provider("primary", kind, &url)];
            s.llm.route = vec!["primary".into()];
        })
        .await;
        let (reply, events) = exchange(&app).await;
        assert_eq!(reply["status"], "complete", "{kind}: {reply}");
        assert_eq!(reply["provider"], "primary");
        assert_eq!(reply["model"], "primary-model");
        assert_eq!(reply["content"], text_of(&events), "{kind}");
        assert!(
            events.iter().any(|e| e.event == "section"),
            "{kind}: the mock drafts a section"
        );
        assert_eq!(healthy.stats.requests.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_fails_over_to_the_next_target() {
    let broken = mock(fast(Some(Fault::Unavailable))).await;
    let healthy = mock(fast(None)).await;
    let (b, h) = (broken.url.clone(), healthy.url.clone());
    let app = app(move |s| {
        s.llm.providers = vec![
            provider("primary", ProviderKind::OpenAi, &b),
            provider("secondary", ProviderKind::Anthropic, &h),
        ];
        s.llm.route = vec!["primary".into(), "secondary".into()];
        s.llm.retry.max_attempts = 2;
    })
    .await;
    let (reply, _) = exchange(&app).await;
    assert_eq!(reply["status"], "complete");
    assert_eq!(reply["provider"], "secondary", "the reply records who produced it");
    assert_eq!(
        broken.stats.requests.load(Ordering::SeqCst),
        2,
        "503 is retried on the same target first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_stream_failures_restart_and_the_saved_reply_is_clean() {
    for fault in [Fault::Cut, Fault::Malformed, Fault::Overloaded, Fault::Stall] {
        let flaky = mock(fast(Some(fault))).await;
        let url = flaky.url.clone();
        let kind = if fault == Fault::Overloaded {
            ProviderKind::Anthropic
        } else {
            ProviderKind::OpenAi
        };
        let app = app(move |s| {
            s.llm.providers = vec![provider("primary", kind, &url)];
            s.llm.route = vec!["primary".into(), "offline".into()];
            s.llm.retry.max_attempts = 2;
            s.llm.offline.tokens_per_second = 5000.0;
        })
        .await;
        let (reply, events) = exchange(&app).await;
        assert_eq!(reply["status"], "complete", "{fault:?}: {reply}");
        assert_eq!(reply["provider"], "offline", "{fault:?}");
        let restarts = events.iter().filter(|e| e.event == "restart").count();
        assert_eq!(
            restarts, 2,
            "{fault:?}: each attempt after one that sent text starts with restart"
        );
        let content = reply["content"].as_str().unwrap();
        assert_eq!(content, text_of(&events), "{fault:?}");
        assert!(
            !content.contains("Here is a draft for you."),
            "{fault:?}: no text of the broken attempts: {content}"
        );
        assert_eq!(flaky.stats.requests.load(Ordering::SeqCst), 2, "{fault:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_before_trying_again() {
    let limited = mock(fast(Some(Fault::RateLimit))).await;
    let url = limited.url.clone();
    let app = app(move |s| {
        s.llm.providers = vec![provider("primary", ProviderKind::OpenAi, &url)];
        s.llm.route = vec!["primary".into(), "offline".into()];
        s.llm.retry.max_attempts = 2;
    })
    .await;
    let (reply, _) = exchange(&app).await;
    assert_eq!(reply["status"], "complete");
    assert_eq!(reply["provider"], "offline");
    let arrivals = limited.stats.arrivals();
    assert_eq!(arrivals.len(), 2);
    assert!(
        arrivals[1] - arrivals[0] >= Duration::from_millis(950),
        "waited for Retry-After: {arrivals:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_requests_are_not_retried_and_fail_clearly() {
    let unauthorized = mock(fast(Some(Fault::Unauthorized))).await;
    let url = unauthorized.url.clone();
    let app = app(move |s| {
        s.llm.providers = vec![provider("primary", ProviderKind::OpenAi, &url)];
        s.llm.route = vec!["primary".into(), "offline".into()];
    })
    .await;
    let (reply, events) = exchange(&app).await;
    assert_eq!(reply["status"], "failed");
    assert_eq!(reply["error"]["code"], "provider_rejected");
    assert!(
        reply["error"]["message"].as_str().unwrap().contains("rejected"),
        "{reply}"
    );
    assert_eq!(events.last().unwrap().event, "error");
    assert_eq!(
        unauthorized.stats.requests.load(Ordering::SeqCst),
        1,
        "a 401 is never retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_provider_times_out_and_fails_over() {
    let hanging = mock(fast(Some(Fault::Hang))).await;
    let url = hanging.url.clone();
    let app = app(move |s| {
        let mut p = provider("primary", ProviderKind::OpenAi, &url);
        p.first_token_timeout_ms = 300;
        s.llm.providers = vec![p];
        s.llm.route = vec!["primary".into(), "offline".into()];
        s.llm.retry.max_attempts = 1;
    })
    .await;
    let started = std::time::Instant::now();
    let (reply, _) = exchange(&app).await;
    assert_eq!(reply["status"], "complete");
    assert_eq!(reply["provider"], "offline");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "not stuck on the hanging provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_after_failures_and_probes_after_a_pause() {
    let broken = mock(fast(Some(Fault::ServerError))).await;
    let url = broken.url.clone();
    let app = app(move |s| {
        s.llm.providers = vec![provider("primary", ProviderKind::OpenAi, &url)];
        s.llm.route = vec!["primary".into(), "offline".into()];
        s.llm.retry.max_attempts = 1;
        s.llm.breaker.consecutive_failures = 2;
        // Long enough that the four exchanges below fit in it on a busy machine.
        s.llm.breaker.open_seconds = 3;
    })
    .await;
    for _ in 0..4 {
        let (reply, _) = exchange(&app).await;
        assert_eq!(reply["provider"], "offline");
    }
    assert_eq!(
        broken.stats.requests.load(Ordering::SeqCst),
        2,
        "once open, the failing provider is skipped"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "plansmith_llm_breaker_open{provider=\"primary\"} 1"),
        "breaker state is exported:\n{metrics}"
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    exchange(&app).await;
    assert_eq!(
        broken.stats.requests.load(Ordering::SeqCst),
        3,
        "one probe after the open period"
    );

    // The provider recovers: the next probe succeeds, the breaker closes and traffic returns.
    broken.stats.healed.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (reply, _) = exchange(&app).await;
    assert_eq!(reply["provider"], "primary", "the probe succeeded");
    let (reply, _) = exchange(&app).await;
    assert_eq!(
        reply["provider"], "primary",
        "closed again: every reply goes to the primary"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "plansmith_llm_breaker_open{provider=\"primary\"} 0"),
        "breaker closed in metrics:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costs_equal_reported_usage_times_price_and_admins_see_them() {
    let healthy = mock(fast(None)).await;
    let url = healthy.url.clone();
    let app = app(move |s| {
        s.llm.providers = vec![provider("primary", ProviderKind::OpenAi, &url)];
        s.llm.route = vec!["primary".into()];
        s.llm.prices.insert(
            "primary-model".into(),
            PriceSettings {
                input_per_million_usd: Money::from_dollars(3),
                output_per_million_usd: Money::from_dollars(15),
            },
        );
    })
    .await;
    for _ in 0..3 {
        let (reply, _) = exchange(&app).await;
        assert_eq!(reply["status"], "complete");
    }
    let (input, output) = (
        healthy.stats.input_tokens.load(Ordering::SeqCst) as i64,
        healthy.stats.output_tokens.load(Ordering::SeqCst) as i64,
    );
    assert!(input > 0 && output > 0);

    // Members may not look; admins may (granted through the store, as the CLI does).
    let member = app.user().await;
    let (status, body) = app.get("/api/v1/admin/llm/usage", &member).await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN, "{body}");
    let email = app.get("/api/v1/me", &member).await.1["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let settings = app.settings.clone();
    let store = plansmith_server::open_store(&settings, false).await.unwrap();
    store
        .set_user_role(
            &plansmith_domain::Email::parse(&email).unwrap(),
            plansmith_domain::Role::Admin,
        )
        .await
        .unwrap();

    let (status, report) = app.get("/api/v1/admin/llm/usage?group_by=model", &member).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{report}");
    let row = &report["items"][0];
    assert_eq!(row["key"], "primary-model");
    assert_eq!(row["calls"], 3);
    assert_eq!(row["input_tokens"], input, "tokens as the provider reported them");
    assert_eq!(row["output_tokens"], output);
    assert_eq!(
        row["cost_micros"],
        input * 3 + output * 15,
        "exactly usage × price, in micro-dollars"
    );
    assert_eq!(row["error_rate"], 0.0);
    assert!(row["ttft_ms_p50"].as_i64().unwrap() >= 20, "{row}");
    let (status, by_day) = app.get("/api/v1/admin/llm/usage?group_by=day", &member).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(
        by_day["items"][0]["key"],
        chrono::Utc::now().format("%Y-%m-%d").to_string()
    );
    let (status, _) = app.get("/api/v1/admin/llm/usage?group_by=planet", &member).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);

    let (status, providers) = app.get("/api/v1/admin/llm/providers", &member).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(providers["items"][0]["name"], "primary");
    assert_eq!(providers["items"][0]["breaker"], "closed");
    assert_eq!(providers["items"][0]["queue_depth"], 0);
    assert_eq!(providers["items"][0]["in_flight"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_over_budget_gets_a_clear_error_naming_the_limit_and_reset() {
    let app = app(|s| s.llm.budgets.free.monthly_tokens = 50).await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "Draft the rest").await;
    app.wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    let response = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/sessions/{sid}/messages"),
            Some(&token),
            Some(serde_json::json!({"content": "more"})),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "over_budget");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("50 tokens your free plan includes"),
        "{body}"
    );
    assert!(body["error"]["hint"].as_str().unwrap().contains("resets on"), "{body}");
    let (_, messages) = app.get(&format!("/api/v1/sessions/{sid}/messages"), &token).await;
    assert_eq!(
        messages["items"].as_array().unwrap().len(),
        3,
        "the refused message was not stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_over_the_cost_budget_is_told_both_amounts_in_dollars() {
    let app = app(|s| {
        s.llm.budgets.free.monthly_cost_usd = Money::from_cents(1);
        // The offline planner is free; priced like this one reply costs far more than a cent.
        s.llm.prices.insert(
            "offline-planner-1".into(),
            PriceSettings {
                input_per_million_usd: Money::from_dollars(1_000),
                output_per_million_usd: Money::from_dollars(1_000),
            },
        );
    })
    .await;
    let token = app.user().await;
    let sid = app.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = app.say(&token, &sid, "Draft the rest").await;
    app.wait_reply(&token, &sid, sent["reply"]["id"].as_str().unwrap())
        .await;
    let response = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/sessions/{sid}/messages"),
            Some(&token),
            Some(serde_json::json!({"content": "more"})),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "over_budget");
    let message = body["error"]["message"].as_str().unwrap();
    let used = message
        .strip_prefix("You have used $")
        .and_then(|rest| rest.strip_suffix(" of the $0.01 your free plan includes this month."))
        .unwrap_or_else(|| panic!("{message}"));
    let (dollars, cents) = used.split_once('.').unwrap_or_else(|| panic!("{message}"));
    assert!(
        cents.len() == 2 && dollars.parse::<u64>().is_ok() && used != "0.00",
        "dollars and cents: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_never_sees_more_requests_than_its_limit() {
    let healthy = mock(fast(None)).await;
    let url = healthy.url.clone();
    let app = Arc::new(
        app(move |s| {
            let mut p = provider("primary", ProviderKind::OpenAi, &url);
            p.requests_per_minute = Some(300); // 5 a second, bursts of 5
            s.llm.providers = vec![p];
            s.llm.route = vec!["primary".into()];
        })
        .await,
    );
    let mut tasks = Vec::new();
    for _ in 0..15 {
        let app = Arc::clone(&app);
        tasks.push(tokio::spawn(async move { exchange(&app).await.0 }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap()["status"], "complete");
    }
    let arrivals = healthy.stats.arrivals();
    assert_eq!(arrivals.len(), 15);
    // At 5/s with a burst of 5, 15 requests take at least 2 s, and no 1-second window holds
    // more than the burst plus one second's worth.
    assert!(*arrivals.last().unwrap() >= Duration::from_millis(1900), "{arrivals:?}");
    for (i, start) in arrivals.iter().enumerate() {
        let within = arrivals[i..]
            .iter()
            .filter(|t| **t - *start < Duration::from_secs(1))
            .count();
        assert!(
            within <= 10,
            "{within} requests within a second from {start:?}: {arrivals:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_busy_at_once_and_long_waits_fail_as_busy() {
    let slow = mock(MockOptions {
        time_to_first_token: Duration::from_secs(3),
        ..fast(None)
    })
    .await;
    let url = slow.url.clone();
    let app = app(move |s| {
        let mut p = provider("primary", ProviderKind::OpenAi, &url);
        p.max_concurrency = Some(1);
        p.first_token_timeout_ms = 10_000;
        s.llm.providers = vec![p];
        s.llm.route = vec!["primary".into()];
        s.llm.queue.max_length = 1;
        s.llm.queue.max_wait_seconds = 1;
    })
    .await;
    let (a, b, c) = (app.user().await, app.user().await, app.user().await);
    let sa = app.session(&a, "quick-brief").await["id"].as_str().unwrap().to_owned();
    let sb = app.session(&b, "quick-brief").await["id"].as_str().unwrap().to_owned();
    let sc = app.session(&c, "quick-brief").await["id"].as_str().unwrap().to_owned();
    app.say(&a, &sa, "first").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = app.say(&b, &sb, "second").await;
    let reply = waiting["reply"]["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, messages) = app.get(&format!("/api/v1/sessions/{sb}/messages"), &b).await;
    let queued = messages["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == reply)
        .unwrap()
        .clone();
    assert_eq!(queued["status"], "queued");
    assert_eq!(
        queued["position"], 1,
        "the queue position is visible while waiting: {queued}"
    );

    let response = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/sessions/{sc}/messages"),
            Some(&c),
            Some(serde_json::json!({"content": "third"})),
        )
        .await;
    assert_eq!(
        response.status(),
        reqwest::StatusCode::TOO_MANY_REQUESTS,
        "a full queue answers at once"
    );
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy");

    let events = app
        .stream_all(waiting["reply"]["stream_url"].as_str().unwrap(), &b, None)
        .await;
    let last = events.last().unwrap();
    assert_eq!(
        (last.event.as_str(), last.data["code"].as_str()),
        ("error", Some("busy"))
    );
    let failed = app.wait_reply(&b, &sb, reply).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "busy");
    assert!(
        failed["error"]["message"].as_str().unwrap().contains("busy"),
        "{failed}"
    );
}

/// Streams one completion from the mock through a gateway that batches text every `batch`;
/// returns the text pieces passed on and the time the first one arrived.
async fn pieces(url: &str, batch: Duration) -> (Vec<String>, Duration) {
    use futures::StreamExt;
    use plansmith_domain::planner::{PlanningContext, Turn};
    use plansmith_llm::{
        Admission, BreakerSettings, Caller, CompletionRequest, Gateway, GatewayEvent, Limits, OpenAiProvider,
        PriceTable, QueueSettings, RetryPolicy, Target, Timeouts,
    };
    let provider = OpenAiProvider::new("mock", url, "gpt-4o-mini", None, Duration::from_secs(2)).unwrap();
    let target = Target::new(
        Arc::new(provider),
        Timeouts::default(),
        Admission::new(Limits::default(), QueueSettings::default()),
    );
    let gateway = Arc::new(
        Gateway::new(
            vec![target],
            RetryPolicy::default(),
            BreakerSettings::default(),
            PriceTable::new([]),
        )
        .with_batching(batch),
    );
    let workflows = plansmith_server::workflows::builtin().unwrap();
    let context = Arc::new(PlanningContext {
        title: "Batching".into(),
        idea: "A tool".into(),
        workflow: Arc::clone(workflows.get("quick-brief").unwrap()),
        step_id: "brief".into(),
        documents: Default::default(),
        history: vec![Turn {
            role: plansmith_domain::MessageRole::User,
            step_id: "brief".into(),
            content: "go".into(),
        }],
    });
    let request = CompletionRequest {
        messages: plansmith_domain::prompt::build_messages(&context),
        max_tokens: 200,
        context,
    };
    let caller = Caller {
        user: "u".into(),
        paid: false,
        ticket: "t".into(),
    };
    let started = std::time::Instant::now();
    let mut first = None;
    let mut texts = Vec::new();
    let mut events = gateway.stream(request, caller);
    while let Some(event) = events.next().await {
        match event {
            GatewayEvent::Text(text) => {
                first.get_or_insert(started.elapsed());
                texts.push(text);
            }
            GatewayEvent::Finished { .. } => return (texts, first.unwrap()),
            GatewayEvent::Failed { error, .. } => panic!("the call failed: {error}"),
            _ => {}
        }
    }
    panic!("the stream ended without finishing");
}

#[tokio::test]
async fn text_is_passed_on_in_batches_after_an_immediate_first_token() {
    // 60 tokens, 5 ms apart: about 300 ms of streaming after 20 ms to the first token.
    let mock = mock(MockOptions {
        tokens_per_second: 200.0,
        reply_tokens: 60,
        ..fast(None)
    })
    .await;
    let (each, _) = pieces(&mock.url, Duration::ZERO).await;
    let (batched, first_after) = pieces(&mock.url, Duration::from_millis(500)).await;
    assert!(
        each.len() >= 60,
        "without batching every token is its own piece: {}",
        each.len()
    );
    assert_eq!(batched.concat(), each.concat(), "batching loses or reorders no text");
    assert!(
        batched.len() <= 4,
        "about one piece per 500 ms after the first, not one per token: {} pieces",
        batched.len()
    );
    assert_eq!(batched[0], each[0], "the first token goes on alone");
    assert!(
        first_after < Duration::from_millis(250),
        "the first token is not held back: {first_after:?}"
    );
}
