//! Several instances on one database sharing state through Redis (one node, and a Redis
//! Cluster): what one instance counts or caches, every instance sees; a Redis outage leaves
//! them ready and serving what does not need it.

use crate::helpers::{TestApp, assert_contiguous, read_events, spawn_with, start, text_of};
use plansmith_server::{Overrides, Settings};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn redis_url() -> String {
    std::env::var("PLANSMITH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn cluster_nodes() -> Vec<String> {
    std::env::var("PLANSMITH_TEST_REDIS_CLUSTER_NODES")
        .unwrap_or_else(|_| "redis://127.0.0.1:7101,redis://127.0.0.1:7102,redis://127.0.0.1:7103".into())
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// Instance A on a fresh database and instance B on the same database and shared state.
async fn two_instances(shared: impl Fn(&mut Settings)) -> (TestApp, TestApp) {
    let a = spawn_with(
        |s| {
            shared(s);
            s.auth.max_failed_logins_per_account = 3;
            // Every test's sign-ins come from 127.0.0.1 and the counters outlive a run.
            s.auth.max_failed_logins_per_ip = 100_000;
        },
        Overrides::default(),
    )
    .await;
    let mut settings = a.settings.clone();
    settings.listen = "127.0.0.1:0".into();
    let b = start(settings, Overrides::default()).await;
    (a, b)
}

async fn login(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.request(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
    .status()
}

async fn failed_sign_ins_count_on_every_instance(shared: impl Fn(&mut Settings)) {
    let (a, b) = two_instances(shared).await;
    let email = format!("shared-{}@example.com", uuid::Uuid::now_v7().simple());
    let (status, _) = a
        .json(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": email, "password": "right password"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(login(&a, &email, "wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&b, &email, "wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&a, &email, "wrong").await, StatusCode::UNAUTHORIZED);
    // Three failures in all, on two instances: both refuse the account for a while.
    assert_eq!(login(&b, &email, "right password").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login(&a, &email, "right password").await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_count_on_every_instance_on_redis() {
    failed_sign_ins_count_on_every_instance(|s| s.cache.redis_url = Some(redis_url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_count_on_every_instance_on_a_redis_cluster() {
    failed_sign_ins_count_on_every_instance(|s| s.cache.redis_cluster_nodes = cluster_nodes()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_created_on_one_instance_is_read_on_the_other() {
    let (a, b) = two_instances(|s| s.cache.redis_cluster_nodes = cluster_nodes()).await;
    let token = a.user().await;
    let session = a.session(&token, "quick-brief").await;
    let id = session["id"].as_str().unwrap();
    for app in [&a, &b] {
        let (status, body) = app.get(&format!("/api/v1/sessions/{id}/messages"), &token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let stranger = b.user().await;
    let (status, _) = b.get(&format!("/api/v1/sessions/{id}/messages"), &stranger).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the shared owner cache keeps sessions private"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_each_dependency() {
    let embedded = spawn_with(|_| {}, Overrides::default()).await;
    let (status, body) = embedded.json(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ready", "checks": {"database": "up"}}));

    let shared = spawn_with(|s| s.cache.redis_url = Some(redis_url()), Overrides::default()).await;
    let (status, body) = shared.json(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "ready", "checks": {"database": "up", "redis": "up"}})
    );
    // Redis commands are timed, and the instance measures its own round trip to Redis.
    shared.user().await;
    let metrics = shared.metrics().await;
    assert!(
        count(&metrics, "plansmith_redis_command_duration_seconds_count ") >= 1.0,
        "{metrics}"
    );
    assert!(
        count(
            &metrics,
            "plansmith_dependency_latency_seconds_count{dependency=\"redis\"}"
        ) >= 1.0
    );
    assert_eq!(count(&metrics, "plansmith_redis_command_errors_total"), 0.0);
}

/// The sum of the samples whose series starts with `series`.
fn count(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Redis down (here: nothing listens where it should be): the instance starts, stays ready and
/// serves what does not need Redis; what does gets a 503 with Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_an_instance_starts_stays_ready_and_serves_reads() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_with(
        |s| s.cache.redis_url = Some(format!("redis://127.0.0.1:{port}")),
        Overrides::default(),
    )
    .await;
    let (status, body) = app.json(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "a Redis outage must not take the instance out");
    assert_eq!(body["checks"], json!({"database": "up", "redis": "down"}));
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let id = session["id"].as_str().unwrap();
    let (status, body) = app.get(&format!("/api/v1/sessions/{id}/messages"), &token).await;
    assert_eq!(status, StatusCode::OK, "reads do not need Redis: {body}");
    let response = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nobody@example.com", "password": "x"})),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "sign-in limits live in Redis"
    );
    assert!(response.headers().get("retry-after").is_some());
    let response = app
        .request(
            Method::POST,
            &format!("/api/v1/sessions/{id}/messages"),
            Some(&token),
            Some(json!({"content": "Hello"})),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a reply's stream needs Redis"
    );
    assert!(response.headers().get("retry-after").is_some());
    let (_, messages) = app.get(&format!("/api/v1/sessions/{id}/messages"), &token).await;
    assert_eq!(
        messages["items"].as_array().unwrap().len(),
        1,
        "nothing half-written: only the intro"
    );
    let metrics = app.metrics().await;
    assert!(
        count(&metrics, "plansmith_redis_command_errors_total") >= 1.0,
        "failed commands are counted"
    );
}

/// A reply generated on A is streamed from B, live, and resumed on B by `Last-Event-ID`
/// without a gap or a duplicate; its text is the text A saved.
async fn a_reply_started_on_one_instance_streams_from_the_other(shared: impl Fn(&mut Settings)) {
    let (a, b) = two_instances(|s| {
        shared(s);
        s.llm.offline.tokens_per_second = 300.0;
    })
    .await;
    let token = a.user().await;
    let session = a.session(&token, "quick-brief").await;
    let id = session["id"].as_str().unwrap();
    let posted = a.say(&token, id, "A tool-lending app for community gardens").await;
    let url = posted["reply"]["stream_url"].as_str().unwrap();
    let reply = posted["reply"]["id"].as_str().unwrap();
    let first = read_events(b.open_stream(url, &token, None).await, 3).await;
    assert_eq!(first.len(), 3);
    let rest = read_events(b.open_stream(url, &token, Some(first[2].id)).await, usize::MAX).await;
    let all: Vec<_> = first.into_iter().chain(rest).collect();
    assert_contiguous(&all);
    assert_eq!(all[0].id, 1);
    assert_eq!(all.last().unwrap().event, "done", "{all:?}");
    let saved = a.wait_reply(&token, id, reply).await;
    assert_eq!(saved["content"].as_str().unwrap(), text_of(&all));
    // A finished reply replays the same numbered events from either instance.
    let again = read_events(a.open_stream(url, &token, None).await, usize::MAX).await;
    assert_eq!(again, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_started_on_one_instance_streams_from_the_other_on_redis() {
    a_reply_started_on_one_instance_streams_from_the_other(|s| s.cache.redis_url = Some(redis_url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_started_on_one_instance_streams_from_the_other_on_a_redis_cluster() {
    a_reply_started_on_one_instance_streams_from_the_other(|s| s.cache.redis_cluster_nodes = cluster_nodes()).await;
}

/// Redis goes away mid-reply and comes back: the reply goes on being generated, its events
/// wait and are appended in order, and a follower that reconnects (as browsers do, from its
/// last event) reads every event once; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_streams_on_through_a_redis_outage() {
    let redis = redis_url();
    let target = redis
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let proxy = crate::outage::Proxy::start(&target).await;
    let app = spawn_with(
        |s| {
            s.cache.redis_url = Some(format!("redis://{}", proxy.addr));
            s.llm.offline.tokens_per_second = 100.0;
        },
        Overrides::default(),
    )
    .await;
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let id = session["id"].as_str().unwrap();
    let posted = app.say(&token, id, "draft the rest").await;
    let url = posted["reply"]["stream_url"].as_str().unwrap();
    let mut all = read_events(app.open_stream(url, &token, None).await, 5).await;
    proxy.cut();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    proxy.restore();
    for _ in 0..100 {
        if all
            .last()
            .is_some_and(|e| ["done", "error"].contains(&e.event.as_str()))
        {
            break;
        }
        let last = all.last().unwrap().id;
        let response = app
            .client
            .get(app.url(url))
            .bearer_auth(&token)
            .header("Last-Event-ID", last.to_string())
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::OK {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        }
        all.extend(read_events(response, usize::MAX).await);
    }
    assert_contiguous(&all);
    assert_eq!(all.last().unwrap().event, "done", "{:?}", all.last());
    let saved = app
        .wait_reply(&token, id, posted["reply"]["id"].as_str().unwrap())
        .await;
    assert_eq!(saved["status"], "complete");
    assert_eq!(saved["content"].as_str().unwrap(), text_of(&all));
}

/// The per-user cap on model calls counts a user's calls on every instance: with one call per
/// user, a reply started on B while the user's reply on A is being generated waits for
/// admission and fails as busy after the maximum wait.
async fn a_users_model_calls_are_capped_across_instances(shared: impl Fn(&mut Settings)) {
    let (a, b) = two_instances(|s| {
        shared(s);
        s.llm.offline.tokens_per_second = 5.0;
        s.llm.queue.per_user_concurrency = 1;
        s.llm.queue.max_wait_seconds = 1;
    })
    .await;
    let token = a.user().await;
    let first = a.session(&token, "quick-brief").await;
    let second = a.session(&token, "quick-brief").await;
    let on_a = a.say(&token, first["id"].as_str().unwrap(), "A tool-lending app").await;
    let url_a = on_a["reply"]["stream_url"].as_str().unwrap();
    let started = read_events(a.open_stream(url_a, &token, None).await, 2).await;
    assert_eq!(started.len(), 2, "the reply on A is being generated: {started:?}");
    let on_b = b.say(&token, second["id"].as_str().unwrap(), "A seed library").await;
    let url_b = on_b["reply"]["stream_url"].as_str().unwrap();
    let events = tokio::time::timeout(std::time::Duration::from_secs(10), b.stream_all(url_b, &token, None))
        .await
        .expect("the reply on B ends (a second call of the user was admitted instead)");
    let last = events.last().expect("events");
    assert_eq!(last.event, "error", "{events:?}");
    assert_eq!(last.data["code"], "busy", "{events:?}");
    assert!(
        !events.iter().any(|e| e.event == "token"),
        "no text: B never called the model: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_model_calls_are_capped_across_instances_on_redis() {
    a_users_model_calls_are_capped_across_instances(|s| s.cache.redis_url = Some(redis_url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_model_calls_are_capped_across_instances_on_a_redis_cluster() {
    a_users_model_calls_are_capped_across_instances(|s| s.cache.redis_cluster_nodes = cluster_nodes()).await;
}

/// A reply's stream keys vanish from Redis mid-reply (evicted, or Redis restarted empty): the
/// writer opens the log again, sends a `restart` (`stream_lost`) with the reply so far whole,
/// and goes on; a follower reads on to `done` and shows exactly the saved text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_goes_on_when_its_stream_keys_are_evicted() {
    let app = spawn_with(
        |s| {
            s.cache.redis_url = Some(redis_url());
            s.llm.offline.tokens_per_second = 150.0;
        },
        Overrides::default(),
    )
    .await;
    let token = app.user().await;
    let session = app.session(&token, "quick-brief").await;
    let id = session["id"].as_str().unwrap();
    let posted = app.say(&token, id, "draft the rest").await;
    let url = posted["reply"]["stream_url"].as_str().unwrap();
    let reply = posted["reply"]["id"].as_str().unwrap();
    let follower = {
        let (app, url, token) = (app.clone_remote(), url.to_owned(), token.clone());
        tokio::spawn(async move { read_events(app.open_stream(&url, &token, None).await, usize::MAX).await })
    };
    let seen = read_events(app.open_stream(url, &token, None).await, 3).await;
    let keys = [
        format!("plansmith:reply:{{{reply}}}:meta"),
        format!("plansmith:reply:{{{reply}}}:events"),
    ];
    let evicted = std::process::Command::new("redis-cli")
        .args(["-u", &redis_url(), "DEL", &keys[0], &keys[1]])
        .output()
        .expect("redis-cli runs");
    assert_eq!(
        String::from_utf8_lossy(&evicted.stdout).trim(),
        "2",
        "both keys existed"
    );

    let events = tokio::time::timeout(std::time::Duration::from_secs(60), follower)
        .await
        .expect("the follower reads to the end")
        .unwrap();
    for pair in events.windows(2) {
        assert!(pair[1].id > pair[0].id, "ids keep increasing: {pair:?}");
    }
    let lost = events.iter().position(|e| e.event == "restart").unwrap_or_else(|| {
        panic!(
            "the lost log restarts the text: {:?}",
            events.iter().map(|e| (e.id, e.event.as_str())).collect::<Vec<_>>()
        )
    });
    assert_eq!(events[lost].data["reason"], json!("stream_lost"));
    assert!(events[lost].id > seen.last().unwrap().id);
    assert_eq!(events.last().unwrap().event, "done");
    let saved = app.wait_reply(&token, id, reply).await;
    assert_eq!(saved["status"], "complete");
    assert_eq!(saved["content"].as_str().unwrap(), text_of(&events));
    // A client resuming from before the loss gets the whole text again.
    let resumed = read_events(app.open_stream(url, &token, Some(seen[1].id)).await, usize::MAX).await;
    assert_eq!(saved["content"].as_str().unwrap(), text_of(&resumed));
}

/// Sign-ups from one address count on every instance: a client cannot get round the limit by
/// landing on another instance.
async fn sign_ups_count_on_every_instance(shared: impl Fn(&mut Settings)) {
    let (a, b) = two_instances(|s| {
        shared(s);
        s.auth.signups_per_address_per_hour = 3;
        s.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    // An address of its own for this run (the counters live in the shared Redis).
    let n = uuid::Uuid::now_v7().as_u128();
    let client = format!("10.{}.{}.{}", (n >> 16) as u8, (n >> 8) as u8, n as u8);
    let sign_up = |app: &TestApp| {
        app.client
            .post(app.url("/api/v1/auth/register"))
            .header("x-forwarded-for", client.clone())
            .json(&json!({
                "email": format!("signup-{}@example.com", uuid::Uuid::now_v7().simple()),
                "password": "right password",
            }))
            .send()
    };
    assert_eq!(sign_up(&a).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(sign_up(&b).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(sign_up(&a).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(sign_up(&b).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sign_up(&a).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_count_on_every_instance_on_redis() {
    sign_ups_count_on_every_instance(|s| s.cache.redis_url = Some(redis_url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_count_on_every_instance_on_a_redis_cluster() {
    sign_ups_count_on_every_instance(|s| s.cache.redis_cluster_nodes = cluster_nodes()).await;
}

/// A user's open reply streams count on every instance, and come back when closed.
async fn streams_count_on_every_instance(shared: impl Fn(&mut Settings)) {
    let (a, b) = two_instances(|s| {
        shared(s);
        s.limits.streams_per_user = 1;
        s.llm.offline.tokens_per_second = 20.0;
    })
    .await;
    let token = a.user().await;
    let sid = a.session(&token, "quick-brief").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent = a.say(&token, &sid, "Draft the rest").await;
    let url = sent["reply"]["stream_url"].as_str().unwrap().to_owned();
    let open = a.open_stream(&url, &token, None).await;
    let refused = b.client.get(b.url(&url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    drop(open);
    let mut reopened = false;
    for _ in 0..100 {
        if b.client
            .get(b.url(&url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
        {
            reopened = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        reopened,
        "the stream closed on one instance frees the place on the other"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_count_on_every_instance_on_redis() {
    streams_count_on_every_instance(|s| s.cache.redis_url = Some(redis_url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_count_on_every_instance_on_a_redis_cluster() {
    streams_count_on_every_instance(|s| s.cache.redis_cluster_nodes = cluster_nodes()).await;
}
