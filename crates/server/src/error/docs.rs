//! The error responses of each route in the OpenAPI document, made from its family's codes:
//! one response per status, whose description lists the codes and whose `x-error-codes`
//! extension carries them for machines. In debug builds every error response is checked
//! against what its route documents, so the document cannot drift from the handlers.

use super::ErrorCode;
use axum::http::StatusCode;
use std::collections::BTreeMap;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::{ContentBuilder, Object, Ref, RefOr, Response, ResponseBuilder, Type};

/// The response extension that lists a response's error codes.
pub const ERROR_CODES_EXTENSION: &str = "x-error-codes";

/// OpenAPI responses for these codes, grouped by status.
pub fn error_responses(codes: &[ErrorCode]) -> BTreeMap<String, RefOr<Response>> {
    // In the order of the code table, so the document does not depend on how a family lists them.
    let codes: std::collections::BTreeSet<ErrorCode> = codes.iter().copied().collect();
    let mut by_status: BTreeMap<StatusCode, Vec<ErrorCode>> = BTreeMap::new();
    for code in codes {
        by_status.entry(code.status()).or_default().push(code);
    }
    by_status
        .into_iter()
        .map(|(status, codes)| (status.as_str().to_owned(), response(status, &codes).into()))
        .collect()
}

fn response(status: StatusCode, codes: &[ErrorCode]) -> Response {
    let listed: Vec<String> = codes.iter().map(|c| format!("`{}`", c.as_str())).collect();
    let reason = status.canonical_reason().unwrap_or("Error");
    let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    let mut response = ResponseBuilder::new()
        .description(format!("{reason}: {}", listed.join(", ")))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .extensions(Some(ExtensionsBuilder::new().add(ERROR_CODES_EXTENSION, names).build()));
    if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(Object::with_type(Type::Integer)))
                .description(Some("Seconds to wait before trying again."))
                .build(),
        );
    }
    response.build()
}

/// The codes each route documents, read back from the OpenAPI document.
#[derive(Debug, Default)]
pub struct DocumentedErrors {
    /// (method, path template) → codes.
    routes: std::collections::HashMap<(String, String), Vec<String>>,
}

impl DocumentedErrors {
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        Self::from_json(&serde_json::to_value(doc).unwrap_or_default())
    }

    fn from_json(doc: &serde_json::Value) -> Self {
        let mut routes = std::collections::HashMap::new();
        let paths = doc["paths"].as_object().into_iter().flatten();
        for (path, item) in paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let codes = operation["responses"]
                    .as_object()
                    .into_iter()
                    .flat_map(|responses| responses.values())
                    .filter_map(|response| response[ERROR_CODES_EXTENSION].as_array())
                    .flatten()
                    .filter_map(|code| code.as_str().map(str::to_owned))
                    .collect();
                routes.insert((method.clone(), path.clone()), codes);
            }
        }
        Self { routes }
    }

    /// The codes documented for `method path`; `None` for a route the document lacks.
    pub fn codes(&self, method: &str, path: &str) -> Option<&[String]> {
        let method = match method.to_ascii_lowercase().as_str() {
            "head" => "get".to_owned(),
            other => other.to_owned(),
        };
        self.routes.get(&(method, path.to_owned())).map(Vec::as_slice)
    }
}

/// Debug builds: an error response whose code its route does not document is a bug in the
/// route's error family (its `CODES`), so it fails loudly — in the API tests, every error
/// they provoke is checked this way.
#[cfg(debug_assertions)]
pub async fn check_documented(
    axum::extract::State(documented): axum::extract::State<std::sync::Arc<DocumentedErrors>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    if let (Some(route), Some(code)) = (route, response.extensions().get::<ErrorCode>())
        && let Some(codes) = documented.codes(&method, &route)
    {
        assert!(
            codes.iter().any(|c| c == code.as_str()),
            "{method} {route} answered `{}`, which its OpenAPI document does not list ({codes:?}); add it to the CODES of the route's error family",
            code.as_str()
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(debug_assertions)]
    use {crate::error::CommonError, axum::response::IntoResponse, tower::ServiceExt};

    #[cfg(debug_assertions)]
    /// A router whose one route documents `not_found` only and answers `unauthorized`.
    fn app_answering_an_undocumented_code() -> axum::Router {
        let doc = serde_json::json!({
            "paths": { "/things/{id}": { "get": { "responses": error_responses(&[ErrorCode::NotFound]) } } }
        });
        let documented = std::sync::Arc::new(DocumentedErrors::from_json(&doc));
        axum::Router::new()
            .route(
                "/things/{id}",
                axum::routing::get(|| async { CommonError::Unauthorized.into_response() }),
            )
            .layer(axum::middleware::from_fn_with_state(documented, check_documented))
    }

    #[cfg(debug_assertions)]
    #[tokio::test]
    #[should_panic(expected = "GET /things/{id} answered `unauthorized`, which its OpenAPI document does not list")]
    async fn an_undocumented_error_code_fails_loudly_in_debug_builds() {
        let request = axum::http::Request::get("/things/7")
            .body(axum::body::Body::empty())
            .unwrap();
        let _ = app_answering_an_undocumented_code().oneshot(request).await;
    }

    #[test]
    fn responses_group_codes_by_status_with_retry_after_where_it_is_sent() {
        let responses = error_responses(&[
            ErrorCode::StepNotCurrent,
            ErrorCode::NotFound,
            ErrorCode::SessionClosed,
            ErrorCode::SessionClosed,
            ErrorCode::Busy,
        ]);
        let json = serde_json::to_value(&responses).unwrap();
        assert_eq!(
            json["409"]["description"],
            "Conflict: `session_closed`, `step_not_current`"
        );
        assert_eq!(
            json["409"][ERROR_CODES_EXTENSION],
            serde_json::json!(["session_closed", "step_not_current"])
        );
        assert_eq!(
            json["404"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        assert!(json["409"]["headers"].get("Retry-After").is_none());
        assert_eq!(json["429"]["headers"]["Retry-After"]["schema"]["type"], "integer");
    }
}
