use crate::helpers::spawn_app;
use plansmith_server::accounts::{AccountError, AdminUsersError};
use plansmith_server::admin::AdminError;
use plansmith_server::analytics::AnalyticsError;
use plansmith_server::audit::AuditListError;
use plansmith_server::auth::AuthError;
use plansmith_server::billing::{BillingError, WebhookError};
use plansmith_server::documents::DocumentError;
use plansmith_server::error::{ErrorCode, ErrorFamily, JSON_BODY_CODES};
use plansmith_server::health::HealthError;
use plansmith_server::incidents::{IncidentError, IncidentReadError};
use plansmith_server::messages::MessageError;
use plansmith_server::mfa::MfaError;
use plansmith_server::quality::QualityError;
use plansmith_server::recovery::RecoveryError;
use plansmith_server::security_events::SecurityEventsError;
use plansmith_server::sessions::SessionError;
use plansmith_server::telemetry::RumError;

#[tokio::test]
async fn openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/me/export"),
        ("delete", "/api/v1/me"),
        ("get", "/api/v1/me/consents"),
        ("post", "/api/v1/me/consents"),
        ("get", "/api/v1/me/access-log"),
        ("get", "/api/v1/admin/audit"),
        ("post", "/api/v1/admin/incidents"),
        ("get", "/api/v1/admin/incidents"),
        ("get", "/api/v1/admin/incidents/{id}"),
        ("get", "/api/v1/me/incidents"),
        ("post", "/api/v1/me/incidents/{id}/read"),
        ("post", "/api/v1/auth/verify-email"),
        ("post", "/api/v1/auth/password-reset"),
        ("post", "/api/v1/auth/password-reset/confirm"),
        ("get", "/api/v1/me/mfa"),
        ("post", "/api/v1/me/mfa/totp"),
        ("delete", "/api/v1/me/mfa/totp"),
        ("post", "/api/v1/me/mfa/totp/confirm"),
        ("post", "/api/v1/me/password"),
        ("get", "/api/v1/me/sign-ins"),
        ("delete", "/api/v1/me/sign-ins/{id}"),
        ("post", "/api/v1/me/sign-ins/revoke-all"),
        ("get", "/api/v1/workflows"),
        ("post", "/api/v1/sessions"),
        ("get", "/api/v1/sessions"),
        ("get", "/api/v1/sessions/{id}"),
        ("patch", "/api/v1/sessions/{id}"),
        ("delete", "/api/v1/sessions/{id}"),
        ("get", "/api/v1/sessions/{id}/export.md"),
        ("get", "/api/v1/sessions/{id}/export.docx"),
        ("post", "/api/v1/sessions/{id}/messages"),
        ("get", "/api/v1/sessions/{id}/messages"),
        ("get", "/api/v1/sessions/{id}/replies/{reply_id}/stream"),
        ("post", "/api/v1/sessions/{id}/replies/{reply_id}/retry"),
        ("post", "/api/v1/sessions/{id}/steps/{step_id}/complete"),
        ("post", "/api/v1/sessions/{id}/complete"),
        ("post", "/api/v1/sessions/{id}/abandon"),
        ("get", "/api/v1/sessions/{id}/documents"),
        ("get", "/api/v1/sessions/{id}/documents/{doc_id}"),
        ("put", "/api/v1/sessions/{id}/documents/{doc_id}/sections/{section_id}"),
        ("get", "/api/v1/sessions/{id}/documents/{doc_id}/revisions"),
        ("post", "/api/v1/sessions/{id}/documents/{doc_id}/restore"),
        ("get", "/api/v1/sessions/{id}/documents/{doc_id}/export.md"),
        ("get", "/api/v1/sessions/{id}/at"),
        ("get", "/healthz"),
        ("get", "/api/v1/about"),
        ("get", "/readyz"),
        ("get", "/api/openapi.json"),
        ("get", "/metrics"),
        ("post", "/api/v1/rum"),
        ("post", "/api/v1/client-errors"),
        ("get", "/api/v1/admin/errors"),
        ("get", "/api/v1/admin/flags"),
        ("get", "/api/v1/admin/flags/{key}"),
        ("put", "/api/v1/admin/flags/{key}"),
        ("delete", "/api/v1/admin/flags/{key}"),
        ("get", "/api/v1/admin/flag-client-keys"),
        ("post", "/api/v1/admin/flag-client-keys"),
        ("delete", "/api/v1/admin/flag-client-keys/{id}"),
        ("post", "/ofrep/v1/evaluate/flags"),
        ("post", "/ofrep/v1/evaluate/flags/{key}"),
        ("get", "/api/v1/admin/llm/providers"),
        ("get", "/api/v1/admin/llm/usage"),
        ("get", "/api/v1/admin/emails"),
        ("get", "/api/v1/admin/users"),
        ("put", "/api/v1/admin/users/{id}"),
        ("post", "/api/v1/admin/users/{id}/revoke-sign-ins"),
        ("get", "/api/v1/admin/security-events"),
        ("post", "/api/v1/billing/webhook"),
        ("post", "/api/v1/billing/checkout"),
        ("post", "/api/v1/billing/portal"),
        ("get", "/api/v1/me/billing"),
        ("get", "/api/v1/admin/analytics/mrr"),
        ("get", "/api/v1/admin/analytics/forecast"),
        ("get", "/api/v1/admin/analytics/funnel"),
        ("get", "/api/v1/admin/analytics/retention"),
        ("get", "/api/v1/admin/analytics/quality"),
        ("get", "/api/v1/admin/analytics/usage"),
        ("get", "/api/v1/admin/analytics/segments"),
        ("get", "/api/v1/admin/analytics/themes"),
        ("put", "/api/v1/sessions/{id}/documents/{doc_id}/rating"),
        ("get", "/api/v1/sessions/{id}/documents/{doc_id}/rating"),
        ("put", "/api/v1/sessions/{id}/survey"),
        ("get", "/api/v1/sessions/{id}/survey"),
    ];
    for (method, path) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "every documented operation is expected here"
    );
    // The version is the release's (checked here), not part of the document's shape.
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let mut doc = doc;
    doc["info"]["version"] = serde_json::json!("[version]");
    insta::assert_json_snapshot!("openapi", doc);
}

async fn served_document() -> serde_json::Value {
    let app = spawn_app().await;
    app.client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The error codes a route documents (its responses' `x-error-codes`), sorted.
fn documented_codes(doc: &serde_json::Value, method: &str, path: &str) -> Vec<String> {
    let responses = doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} has no responses"));
    let mut codes: Vec<String> = responses
        .values()
        .filter_map(|r| r["x-error-codes"].as_array())
        .flatten()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    codes
}

fn family_codes(codes: &[ErrorCode]) -> Vec<String> {
    let mut codes: Vec<String> = codes.iter().map(|c| c.as_str().to_owned()).collect();
    codes.sort();
    codes
}

#[tokio::test]
async fn each_route_documents_the_codes_of_its_error_family() {
    let doc = served_document().await;
    let with_body = |codes: &[ErrorCode]| [codes, JSON_BODY_CODES].concat();
    let routes = [
        ("post", "/api/v1/auth/login", with_body(AuthError::CODES)),
        ("get", "/api/v1/me", AuthError::CODES.to_vec()),
        ("get", "/api/v1/sessions/{id}", SessionError::CODES.to_vec()),
        (
            "post",
            "/api/v1/sessions/{id}/steps/{step_id}/complete",
            SessionError::CODES.to_vec(),
        ),
        ("post", "/api/v1/sessions/{id}/messages", with_body(MessageError::CODES)),
        (
            "get",
            "/api/v1/sessions/{id}/replies/{reply_id}/stream",
            MessageError::CODES.to_vec(),
        ),
        (
            "put",
            "/api/v1/sessions/{id}/documents/{doc_id}/sections/{section_id}",
            with_body(DocumentError::CODES),
        ),
        ("get", "/api/v1/admin/llm/usage", AdminError::CODES.to_vec()),
        ("get", "/api/v1/admin/emails", AdminError::CODES.to_vec()),
        ("post", "/api/v1/me/mfa/totp/confirm", with_body(MfaError::CODES)),
        (
            "post",
            "/api/v1/auth/password-reset/confirm",
            with_body(RecoveryError::CODES),
        ),
        ("post", "/api/v1/me/password", with_body(AccountError::CODES)),
        ("get", "/api/v1/me/sign-ins", AccountError::CODES.to_vec()),
        ("delete", "/api/v1/me/sign-ins/{id}", AccountError::CODES.to_vec()),
        ("get", "/api/v1/admin/users", AdminUsersError::CODES.to_vec()),
        ("put", "/api/v1/admin/users/{id}", with_body(AdminUsersError::CODES)),
        (
            "get",
            "/api/v1/admin/security-events",
            SecurityEventsError::CODES.to_vec(),
        ),
        ("get", "/api/v1/admin/audit", AuditListError::CODES.to_vec()),
        ("get", "/api/v1/me/access-log", AuditListError::CODES.to_vec()),
        ("post", "/api/v1/admin/incidents", with_body(IncidentError::CODES)),
        ("get", "/api/v1/admin/incidents", IncidentReadError::CODES.to_vec()),
        ("get", "/api/v1/admin/incidents/{id}", IncidentReadError::CODES.to_vec()),
        ("get", "/api/v1/me/incidents", IncidentReadError::CODES.to_vec()),
        (
            "post",
            "/api/v1/me/incidents/{id}/read",
            IncidentReadError::CODES.to_vec(),
        ),
        ("post", "/api/v1/billing/webhook", WebhookError::CODES.to_vec()),
        ("post", "/api/v1/billing/checkout", with_body(BillingError::CODES)),
        ("post", "/api/v1/billing/portal", BillingError::CODES.to_vec()),
        ("get", "/api/v1/me/billing", BillingError::CODES.to_vec()),
        ("get", "/api/v1/admin/analytics/mrr", AnalyticsError::CODES.to_vec()),
        (
            "get",
            "/api/v1/admin/analytics/forecast",
            AnalyticsError::CODES.to_vec(),
        ),
        ("get", "/api/v1/admin/analytics/funnel", AnalyticsError::CODES.to_vec()),
        (
            "get",
            "/api/v1/admin/analytics/retention",
            AnalyticsError::CODES.to_vec(),
        ),
        ("get", "/api/v1/admin/analytics/quality", AnalyticsError::CODES.to_vec()),
        ("get", "/api/v1/admin/analytics/usage", AnalyticsError::CODES.to_vec()),
        (
            "get",
            "/api/v1/admin/analytics/segments",
            AnalyticsError::CODES.to_vec(),
        ),
        ("put", "/api/v1/sessions/{id}/survey", with_body(QualityError::CODES)),
        (
            "put",
            "/api/v1/sessions/{id}/documents/{doc_id}/rating",
            with_body(QualityError::CODES),
        ),
        ("get", "/readyz", HealthError::CODES.to_vec()),
        ("post", "/api/v1/rum", RumError::CODES.to_vec()),
    ];
    for (method, path, codes) in routes {
        assert_eq!(
            documented_codes(&doc, method, path),
            family_codes(&codes),
            "{method} {path}"
        );
    }
    assert!(documented_codes(&doc, "get", "/api/v1/workflows").is_empty());
}

#[tokio::test]
async fn error_responses_list_their_codes_by_status() {
    let doc = served_document().await;
    let responses = &doc["paths"]["/api/v1/sessions/{id}/steps/{step_id}/complete"]["post"]["responses"];
    assert_eq!(
        responses["409"]["description"],
        "Conflict: `session_closed`, `step_not_current`, `steps_incomplete`, `step_incomplete`, `reply_in_progress`"
    );
    assert_eq!(
        responses["404"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    let post = &doc["paths"]["/api/v1/sessions/{id}/messages"]["post"]["responses"];
    assert_eq!(
        post["429"]["x-error-codes"],
        serde_json::json!(["rate_limited", "busy", "limit_reached", "over_budget"])
    );
    for status in ["429", "503"] {
        assert_eq!(
            post[status]["headers"]["Retry-After"]["schema"]["type"], "integer",
            "{status} tells when to retry"
        );
    }
    assert!(post["409"]["headers"].get("Retry-After").is_none());
}

#[tokio::test]
async fn query_parameters_are_declared_in_the_query() {
    let doc = served_document().await;
    let parameter = |method: &str, path: &str, name: &str| {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
            .clone()
    };
    for (method, path, name) in [
        ("get", "/api/v1/sessions", "cursor"),
        ("get", "/api/v1/sessions", "limit"),
        ("get", "/api/v1/sessions/{id}/replies/{reply_id}/stream", "after"),
        ("get", "/api/v1/sessions/{id}/documents/{doc_id}", "revision"),
        ("get", "/api/v1/sessions/{id}/documents/{doc_id}/export.md", "revision"),
        ("get", "/api/v1/admin/llm/usage", "group_by"),
        ("get", "/api/v1/admin/llm/usage", "from"),
        ("get", "/api/v1/admin/llm/usage", "to"),
        ("get", "/api/v1/admin/users", "cursor"),
        ("get", "/api/v1/admin/users", "limit"),
        ("get", "/api/v1/admin/security-events", "user"),
        ("get", "/api/v1/admin/security-events", "kind"),
        ("get", "/api/v1/admin/security-events", "from"),
        ("get", "/api/v1/admin/security-events", "to"),
        ("get", "/api/v1/admin/security-events", "cursor"),
        ("get", "/api/v1/admin/security-events", "limit"),
        ("get", "/api/v1/admin/audit", "user"),
        ("get", "/api/v1/admin/audit", "session"),
        ("get", "/api/v1/admin/audit", "action"),
        ("get", "/api/v1/admin/audit", "from"),
        ("get", "/api/v1/admin/audit", "to"),
        ("get", "/api/v1/me/access-log", "cursor"),
    ] {
        let p = parameter(method, path, name);
        assert_eq!(p["in"], "query", "{method} {path} {name}");
        assert_eq!(p["required"], false, "{method} {path} {name}");
    }
    assert_eq!(parameter("get", "/api/v1/sessions/{id}", "id")["in"], "path");
}

#[tokio::test]
async fn rum_takes_one_measurement_or_an_array() {
    let doc = served_document().await;
    let body = &doc["paths"]["/api/v1/rum"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["$ref"], "#/components/schemas/RumReport");
    let one_of = &doc["components"]["schemas"]["RumReport"]["oneOf"];
    assert_eq!(one_of[0]["$ref"], "#/components/schemas/RumMetric");
    assert_eq!(one_of[1]["type"], "array");
    assert_eq!(one_of[1]["items"]["$ref"], "#/components/schemas/RumMetric");
}

#[tokio::test]
async fn security_event_kinds_are_an_enum_in_the_document() {
    let doc = served_document().await;
    let kinds = &doc["components"]["schemas"]["SecurityEventKind"]["enum"];
    assert_eq!(
        kinds,
        &serde_json::json!([
            "sign_up",
            "sign_in",
            "sign_in_failed",
            "lockout",
            "password_changed",
            "token_revoked",
            "admin_action",
            "role_changed",
            "admin_denied",
            "account_erased"
        ])
    );
    let view = &doc["components"]["schemas"]["SecurityEventView"]["properties"]["kind"];
    assert_eq!(view["$ref"], "#/components/schemas/SecurityEventKind");
}
