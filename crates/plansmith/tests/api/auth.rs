use crate::helpers::{spawn_app, spawn_with};
use plansmith_server::Overrides;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn register_login_me_logout() {
    let app = spawn_app().await;
    let (status, body) = app
        .json(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": " Ada@Example.com ", "password": "correct horse", "name": "Ada"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["plan"], "free");
    assert_eq!(body["user"]["role"], "member");

    let response = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "ada@example.com", "password": "correct horse"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("plansmith_session=ps_"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();

    let (status, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["name"], "Ada");
    assert!(
        me["id"].is_string() && me["plan"] == "free" && me["role"] == "member",
        "{me}"
    );

    // The cookie alone authenticates too.
    let cookie_pair = cookie.split(';').next().unwrap();
    let by_cookie = app
        .client
        .get(app.url("/api/v1/me"))
        .header("cookie", cookie_pair)
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), StatusCode::OK);

    let logout = app
        .request(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let (status, body) = app.get("/api/v1/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn missing_or_invalid_tokens_get_401() {
    let app = spawn_app().await;
    let (status, body) = app.json(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"]["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    for token in ["ps_not-a-real-token", "garbage", ""] {
        let (status, _) = app.json(Method::GET, "/api/v1/sessions", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "token {token:?}");
    }
}

#[tokio::test]
async fn registration_checks_input_and_duplicates() {
    let app = spawn_app().await;
    let register = |email: &str, password: &str| {
        app.json(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": email, "password": password})),
        )
    };
    let (status, body) = register("not-an-email", "correct horse").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().starts_with("email:"),
        "{body}"
    );
    let (status, body) = register("short@example.com", "abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("at least 8"),
        "{body}"
    );
    assert_eq!(
        register("dup@example.com", "correct horse").await.0,
        StatusCode::CREATED
    );
    let (status, body) = register("DUP@example.com", "another horse").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "email_taken");
}

#[tokio::test]
async fn failed_logins_are_limited_per_account_but_successes_are_not() {
    let app = spawn_with(|s| s.auth.max_failed_logins_per_account = 3, Overrides::default()).await;
    app.json(
        Method::POST,
        "/api/v1/auth/register",
        None,
        Some(json!({"email": "bob@example.com", "password": "right password"})),
    )
    .await;
    let login = |password: &str| {
        app.json(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "bob@example.com", "password": password})),
        )
    };
    for _ in 0..6 {
        assert_eq!(
            login("right password").await.0,
            StatusCode::OK,
            "successful logins are never limited"
        );
    }
    for _ in 0..3 {
        let (status, body) = login("wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "invalid_credentials");
    }
    // Now even the right password is refused for a while.
    let response = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "bob@example.com", "password": "right password"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn failed_logins_are_limited_per_address() {
    let app = spawn_with(|s| s.auth.max_failed_logins_per_ip = 4, Overrides::default()).await;
    for n in 0..4 {
        let (status, _) = app
            .json(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": format!("nobody{n}@example.com"), "password": "guess"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = app
        .json(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "fresh@example.com", "password": "guess"})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
