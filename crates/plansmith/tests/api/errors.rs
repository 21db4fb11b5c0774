use crate::helpers::spawn_with;
use axum::routing::get;
use plansmith_server::Overrides;
use reqwest::StatusCode;

async fn app() -> crate::helpers::TestApp {
    let routes = axum::Router::new().route(
        "/api/v1/test/panic",
        get(|| async {
            if true {
                panic!("deliberate test panic");
            }
            "unreachable"
        }),
    );
    spawn_with(
        |s| s.http.body_limit_bytes = 4096,
        Overrides {
            routes: Some(routes),
            ..Overrides::default()
        },
    )
    .await
}

fn assert_error_shape(body: &serde_json::Value) {
    let error = &body["error"];
    for field in ["code", "message", "hint", "request_id"] {
        assert!(error[field].is_string(), "error.{field} missing in {body}");
    }
}

#[tokio::test]
async fn malformed_json_gets_400_naming_the_problem() {
    let app = app().await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": \"a@b.co\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_error_shape(&body);
    assert_eq!(body["error"]["code"], "malformed_json");
    assert!(body["error"]["message"].as_str().unwrap().contains("EOF"), "{body}");

    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .body("email=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_content_type");

    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&serde_json::json!({"email": 5, "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("email"), "{body}");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let app = app().await;
    let big = serde_json::json!({"email": "a@b.co", "password": "x".repeat(10_000)});
    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_error_shape(&body);
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn unknown_api_routes_and_methods_get_json_errors() {
    let app = app().await;
    let response = app.client.get(app.url("/api/v1/nothing/here")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_error_shape(&body);
    assert_eq!(body["error"]["code"], "route_not_found");
    let response = app.client.delete(app.url("/api/v1/workflows")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_error_shape(&body);
}

#[tokio::test]
async fn a_panicking_handler_gets_500_with_request_id_and_the_server_keeps_serving() {
    let app = app().await;
    let response = app
        .client
        .get(app.url("/api/v1/test/panic"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_error_shape(&body);
    assert_eq!(body["error"]["request_id"], "trace-me-42");
    assert!(
        body["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("support@plansmith.dev"),
        "5xx hints name the support contact"
    );
    assert!(
        !body.to_string().contains("deliberate"),
        "panic details stay in the logs"
    );
    for _ in 0..3 {
        assert_eq!(
            app.client.get(app.url("/healthz")).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .headers()
            .contains_key("x-request-id")
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let app = app().await;
    let health: serde_json::Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}
