use crate::helpers::spawn_app;

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
        ("get", "/api/v1/workflows"),
        ("post", "/api/v1/sessions"),
        ("get", "/api/v1/sessions"),
        ("get", "/api/v1/sessions/{id}"),
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
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/api/openapi.json"),
        ("get", "/metrics"),
        ("post", "/api/v1/rum"),
        ("get", "/api/v1/admin/llm/providers"),
        ("get", "/api/v1/admin/llm/usage"),
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
    insta::assert_json_snapshot!("openapi", doc);
}
