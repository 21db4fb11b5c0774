//! Two-factor sign-in (TOTP): enrolment, confirmation, sign-in with and without a code, codes
//! working once, turning it off, and admins required to use it.

use crate::email::register;
use crate::helpers::{TestApp, spawn_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret, Totp};

const PASSWORD: &str = "correct horse battery";

fn totp(secret: &str) -> Totp {
    let bytes = Secret::try_from_base32(secret)
        .expect("base32 secret")
        .as_ref()
        .to_vec();
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(bytes)
        .build()
        .expect("a valid TOTP")
}

/// The code of the step `offset` steps from now.
fn code(totp: &Totp, offset: i64) -> String {
    let now = chrono::Utc::now().timestamp() + offset * 30;
    totp.generate(now as u64).to_string()
}

async fn login(app: &TestApp, email: &str, totp: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    app.json(Method::POST, "/api/v1/auth/login", None, Some(body)).await
}

/// Enrols and confirms with the current code; the TOTP.
async fn enable(app: &TestApp, token: &str) -> Totp {
    let (status, enrolment) = app.post("/api/v1/me/mfa/totp", token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{enrolment}");
    let totp = totp(enrolment["secret"].as_str().unwrap());
    let (status, body) = app
        .post("/api/v1/me/mfa/totp/confirm", token, json!({"code": code(&totp, 0)}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    totp
}

#[tokio::test]
async fn sign_in_needs_a_fresh_code_once_totp_is_confirmed() {
    let app = spawn_with(|_| {}, Default::default()).await;
    let (email, token) = register(&app).await;

    let (status, enrolment) = app.post("/api/v1/me/mfa/totp", &token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{enrolment}");
    let secret = enrolment["secret"].as_str().unwrap();
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Plansmith:"), "{uri}");
    assert!(
        uri.contains(&format!("secret={secret}")) && uri.contains("issuer=Plansmith"),
        "{uri}"
    );
    let status = app.get("/api/v1/me/mfa", &token).await.1;
    assert_eq!(
        (&status["totp_enabled"], &status["totp_pending"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(
        login(&app, &email, None).await.0,
        StatusCode::OK,
        "pending: no code asked yet"
    );

    let totp = totp(secret);
    let wrong = format!("{:06}", (code(&totp, 0).parse::<u32>().unwrap() + 1) % 1_000_000);
    let (status, body) = app
        .post("/api/v1/me/mfa/totp/confirm", &token, json!({"code": wrong}))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_field"))
    );
    let confirming = code(&totp, 0);
    let (status, body) = app
        .post("/api/v1/me/mfa/totp/confirm", &token, json!({"code": confirming}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = app.post("/api/v1/me/mfa/totp", &token, json!({})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("mfa_already_enabled"))
    );
    let status = app.get("/api/v1/me/mfa", &token).await.1;
    assert_eq!(status["totp_enabled"], true);
    assert!(status.get("secret").is_none(), "the secret is never shown again");

    let (status, body) = login(&app, &email, None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("mfa_required"))
    );
    let (status, body) = login(&app, &email, Some(&wrong)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("mfa_invalid"))
    );
    let (status, body) = login(&app, &email, Some(&confirming)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("mfa_invalid")),
        "the confirming code was used"
    );
    let next = code(&totp, 1);
    let (status, body) = login(&app, &email, Some(&next)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the next step's code, within the tolerance: {body}"
    );
    let (status, body) = login(&app, &email, Some(&next)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("mfa_invalid")),
        "a code works once"
    );
    let far = code(&totp, 3);
    assert_eq!(
        login(&app, &email, Some(&far)).await.0,
        StatusCode::UNAUTHORIZED,
        "beyond one step"
    );
}

#[tokio::test]
async fn a_missing_code_counts_as_a_failed_sign_in() {
    let app = spawn_with(|s| s.auth.max_failed_logins_per_account = 2, Default::default()).await;
    let (email, token) = register(&app).await;
    let totp = enable(&app, &token).await;
    assert_eq!(login(&app, &email, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, &email, None).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = login(&app, &email, Some(&code(&totp, 1))).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::TOO_MANY_REQUESTS, &json!("rate_limited"))
    );
}

#[tokio::test]
async fn turning_totp_off_needs_the_password_and_a_code() {
    let app = spawn_with(|_| {}, Default::default()).await;
    let (email, token) = register(&app).await;
    let totp = enable(&app, &token).await;
    let delete = |body: Value| {
        let (app, token) = (&app, token.clone());
        async move {
            app.json(Method::DELETE, "/api/v1/me/mfa/totp", Some(&token), Some(body))
                .await
        }
    };
    let (status, body) = delete(json!({"password": "not it", "code": code(&totp, 1)})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_credentials"))
    );
    let (status, body) = delete(json!({"password": PASSWORD, "code": "000000x"})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_field"))
    );
    let (status, body) = delete(json!({"password": PASSWORD, "code": code(&totp, 1)})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(login(&app, &email, None).await.0, StatusCode::OK);
    assert_eq!(app.get("/api/v1/me/mfa", &token).await.1["totp_enabled"], false);
}

#[tokio::test]
async fn admins_must_turn_totp_on_before_using_admin_routes_when_required() {
    let app = spawn_with(|s| s.auth.require_mfa_for_admins = true, Default::default()).await;
    let (email, token) = register(&app).await;
    let store = plansmith_server::open_store(&app.settings, false).await.unwrap();
    store
        .set_user_role(
            &plansmith_domain::Email::parse(&email).unwrap(),
            plansmith_domain::Role::Admin,
        )
        .await
        .unwrap();
    let (status, body) = app.get("/api/v1/admin/llm/providers", &token).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("mfa_enrolment_required"))
    );
    let (status, _) = app.get("/api/v1/me", &token).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the rest of the API works, so the admin can enrol"
    );
    enable(&app, &token).await;
    let (status, body) = app.get("/api/v1/admin/llm/providers", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let member = app.user().await;
    let (status, body) = app.get("/api/v1/admin/llm/providers", &member).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
}

#[tokio::test]
async fn admins_without_totp_may_use_admin_routes_when_not_required() {
    let app = spawn_with(|_| {}, Default::default()).await;
    let (email, token) = register(&app).await;
    let store = plansmith_server::open_store(&app.settings, false).await.unwrap();
    store
        .set_user_role(
            &plansmith_domain::Email::parse(&email).unwrap(),
            plansmith_domain::Role::Admin,
        )
        .await
        .unwrap();
    let (status, body) = app.get("/api/v1/admin/llm/providers", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
