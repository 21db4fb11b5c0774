//! Brute force and abuse: sign-in attempts counted before the password check, growing pauses
//! instead of an account lock, the client address behind trusted proxies, sign-up limits and
//! the bounded password-hashing queue.

use crate::helpers::{TestApp, spawn_with};
use plansmith_server::Overrides;
use plansmith_server::config::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

async fn app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_with(configure, Overrides::default()).await
}

/// A request as forwarded by a proxy for `client` (believed only from a trusted proxy).
async fn send(app: &TestApp, path: &str, client: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).json(&body);
    if let Some(client) = client {
        request = request.header("x-forwarded-for", client);
    }
    request.send().await.expect("request sent")
}

async fn login(app: &TestApp, client: Option<&str>, email: &str, password: &str) -> StatusCode {
    send(
        app,
        "/api/v1/auth/login",
        client,
        json!({"email": email, "password": password}),
    )
    .await
    .status()
}

async fn register(app: &TestApp, client: Option<&str>, email: &str) -> reqwest::Response {
    send(
        app,
        "/api/v1/auth/register",
        client,
        json!({"email": email, "password": PASSWORD}),
    )
    .await
}

fn email(name: &str) -> String {
    format!("{name}-{}@example.com", uuid::Uuid::now_v7().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_reach_the_password_check_at_most_the_limit() {
    let app = app(|s| s.auth.max_failed_logins_per_account = 5).await;
    let victim = email("victim");
    assert_eq!(register(&app, None, &victim).await.status(), StatusCode::CREATED);
    let guesses: Vec<_> = (0..50)
        .map(|n| {
            let request = app
                .client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"email": victim, "password": format!("guess {n}")}));
            tokio::spawn(async move { request.send().await.expect("request sent") })
        })
        .collect();
    let (mut checked, mut refused) = (0, 0);
    for guess in guesses {
        let response = guess.await.unwrap();
        match response.status() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        (checked, refused),
        (5, 45),
        "only the limit's worth of guesses was checked"
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    // Without trusted proxies the header is the client's own say-so: every guess counts
    // against the connection's address.
    let direct = app(|s| s.auth.max_failed_logins_per_ip = 3).await;
    for n in 0..3 {
        let client = format!("203.0.113.{n}");
        let status = login(&direct, Some(&client), &email("nobody"), "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = login(&direct, Some("203.0.113.99"), &email("nobody"), "guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a forged header does not help");

    // Behind a trusted proxy each client is counted on its own.
    let proxied = app(|s| {
        s.auth.max_failed_logins_per_ip = 3;
        s.http.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    for _ in 0..3 {
        let status = login(&proxied, Some("203.0.113.7"), &email("nobody"), "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = login(&proxied, Some("203.0.113.7"), &email("nobody"), "guess").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let status = login(&proxied, Some("198.51.100.8"), &email("nobody"), "guess").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another client is not held up");
}

#[tokio::test]
async fn guesses_from_many_addresses_slow_down_without_locking_the_owner_out() {
    let app = app(|s| {
        s.auth.max_failed_logins_per_account = 3;
        s.auth.max_login_pause_seconds = 600;
        s.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let owner = email("owner");
    let home = "198.51.100.20";
    assert_eq!(register(&app, Some(home), &owner).await.status(), StatusCode::CREATED);
    assert_eq!(login(&app, Some(home), &owner, PASSWORD).await, StatusCode::OK);
    // A guesser moving between addresses: three guesses are checked, then the account pauses.
    for n in 0..3 {
        let status = login(&app, Some(&format!("203.0.113.{n}")), &owner, "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = send(
        &app,
        "/api/v1/auth/login",
        Some("203.0.113.50"),
        json!({"email": owner, "password": "guess"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Even the right password from a new address waits: it could be the guesser's.
    assert_eq!(
        login(&app, Some("203.0.113.51"), &owner, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner, at an address they signed in from before, is not locked out.
    assert_eq!(login(&app, Some(home), &owner, PASSWORD).await, StatusCode::OK);
}

#[tokio::test]
async fn sign_ups_are_limited_per_address_and_for_everyone() {
    let app = app(|s| {
        s.auth.signups_per_address_per_hour = 20;
        s.auth.signups_per_minute = 25;
        s.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let mut created = 0;
    for n in 0..30 {
        let response = register(&app, Some("203.0.113.30"), &email(&format!("signup{n}"))).await;
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=3600).contains(&retry_after), "{retry_after}");
                let body: Value = response.json().await.unwrap();
                assert!(
                    body["error"]["message"].as_str().unwrap().contains("from your network"),
                    "{body}"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 20, "the address's hourly limit");
    // Other addresses go on until everyone's limit per minute.
    for n in 0..5 {
        let client = format!("198.51.100.{n}");
        let status = register(&app, Some(&client), &email("other")).await.status();
        assert_eq!(status, StatusCode::CREATED);
    }
    let response = register(&app, Some("198.51.100.77"), &email("late")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("more sign-ups"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_queue_answers_503_with_retry_after() {
    let app = app(|s| s.auth.max_queued_password_hashes = 1).await;
    let attempts: Vec<_> = (0..30)
        .map(|n| {
            let request = app
                .client
                .post(app.url("/api/v1/auth/register"))
                .json(&json!({"email": email(&format!("burst{n}")), "password": PASSWORD}));
            tokio::spawn(async move { request.send().await.expect("request sent") })
        })
        .collect();
    let (mut created, mut busy) = (0, 0);
    for attempt in attempts {
        let response = attempt.await.unwrap();
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(response.headers()["retry-after"], "2");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "unavailable");
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(created >= 1 && busy >= 1, "created {created}, busy {busy}");
    // The queue drains: a sign-up after the burst goes through (the last hashes of the burst
    // may still be finishing on a busy machine, so it may take a moment).
    let mut late = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        late = register(&app, None, &email("after-burst")).await.status();
        if late != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(late, StatusCode::CREATED);
}

#[tokio::test]
async fn a_pause_is_recorded_once_not_for_every_refused_attempt() {
    let app = app(|s| s.auth.max_failed_logins_per_account = 2).await;
    let root = email("root");
    let admin: Value = register(&app, None, &root).await.json().await.unwrap();
    let admin = admin["token"].as_str().unwrap().to_owned();
    let store = plansmith_server::open_store(&app.settings, false).await.unwrap();
    let root = plansmith_domain::Email::parse(&root).unwrap();
    assert!(store.set_user_role(&root, plansmith_domain::Role::Admin).await.unwrap());
    let victim = email("flooded");
    assert_eq!(register(&app, None, &victim).await.status(), StatusCode::CREATED);
    for _ in 0..2 {
        assert_eq!(login(&app, None, &victim, "guess").await, StatusCode::UNAUTHORIZED);
    }
    // Refused attempts count too: after 20 from the address, the address pauses as well.
    for _ in 0..40 {
        assert_eq!(login(&app, None, &victim, "guess").await, StatusCode::TOO_MANY_REQUESTS);
    }
    let (status, events) = app.get("/api/v1/admin/security-events?kind=lockout", &admin).await;
    assert_eq!(status, StatusCode::OK, "{events}");
    let mut details: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    details.sort_unstable();
    assert_eq!(
        details,
        [
            "sign-in paused: account from this address",
            "sign-in paused: client address"
        ],
        "each pause once"
    );
}
