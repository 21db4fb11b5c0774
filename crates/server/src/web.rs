//! The web app's files (`web/dist`, embedded at build time): hashed assets cached forever,
//! `index.html` revalidated every time and served for every client-side route, ETags, and
//! precompressed `.br`/`.gz` variants when the build produced them. Nothing user-specific is
//! ever in these responses, so a CDN may cache them.

use crate::error::{ApiError, ErrorCode, ErrorFamily, error_family};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::path::{Component, Path};

#[derive(Embed)]
#[folder = "../../web/dist/"]
#[allow_missing = true]
struct WebFiles;

/// Requests no route answers.
#[derive(Debug)]
pub enum RoutingError {
    RouteNotFound { method: Method, path: String },
    MethodNotAllowed { method: Method, path: String },
    WebAppNotBuilt,
}

error_family!(RoutingError);

impl ErrorFamily for RoutingError {
    const CODES: &'static [ErrorCode] = &[
        ErrorCode::RouteNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::WebAppNotBuilt,
    ];

    fn to_api_error(&self) -> ApiError {
        match self {
            Self::RouteNotFound { method, path } => ApiError::new(
                ErrorCode::RouteNotFound,
                format!("There is no {method} {path}."),
                "Check the address; the API is described at /api/openapi.json.",
            ),
            Self::MethodNotAllowed { method, path } => ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{method} is not allowed on {path}."),
                "See /api/openapi.json for the methods of each path.",
            ),
            Self::WebAppNotBuilt => ApiError::new(
                ErrorCode::WebAppNotBuilt,
                "The web app is not part of this build.",
                "Build it with ./scripts/run (or `npm ci && npm run build` in web/) and rebuild the binary; the API works without it.",
            ),
        }
    }
}

impl RoutingError {
    pub fn route_not_found(request: &Request) -> Self {
        Self::RouteNotFound {
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        }
    }

    pub fn method_not_allowed(request: &Request) -> Self {
        Self::MethodNotAllowed {
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        }
    }
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Serves a web file, the app shell for client-side routes, or the JSON 404 of the API.
pub async fn serve(State(state): State<AppState>, request: Request) -> Response {
    let files = Files {
        dir: state.settings.http.web_dir.as_deref().map(Path::new),
    };
    let path = request.uri().path().to_owned();
    if path.starts_with("/api/") || path == "/api" {
        let mut response = RoutingError::route_not_found(&request).into_response();
        let no_store = HeaderValue::from_static("no-store");
        response.headers_mut().insert(header::CACHE_CONTROL, no_store);
        return response;
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return RoutingError::route_not_found(&request).into_response();
    }
    let headers = request.headers();
    let file = path.trim_start_matches('/');
    if let Some(asset) = file.strip_prefix("assets/") {
        return match files.response(&format!("assets/{asset}"), IMMUTABLE, headers) {
            Some(response) => response,
            None => plain_not_found(),
        };
    }
    if !file.is_empty()
        && file != "index.html"
        && let Some(response) = files.response(file, REVALIDATE, headers)
    {
        return response;
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|accept| accept.contains("text/html") || accept.contains("*/*"));
    if wants_html && let Some(response) = files.response("index.html", REVALIDATE, headers) {
        return response;
    }
    if wants_html {
        return RoutingError::WebAppNotBuilt.into_response();
    }
    RoutingError::route_not_found(&request).into_response()
}

fn plain_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        "not found",
    )
        .into_response()
}

/// Where the web files come from: the embedded build, or a folder (`http.web_dir`).
struct Files<'a> {
    dir: Option<&'a Path>,
}

impl Files<'_> {
    fn get(&self, name: &str) -> Option<(Cow<'static, [u8]>, String)> {
        let Some(dir) = self.dir else {
            let file = WebFiles::get(name)?;
            let hash: String = file
                .metadata
                .sha256_hash()
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect();
            return Some((file.data, hash));
        };
        let relative = Path::new(name);
        if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
            return None;
        }
        let data = std::fs::read(dir.join(relative)).ok()?;
        let hash: String = Sha256::digest(&data)
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        Some((Cow::Owned(data), hash))
    }

    fn response(&self, name: &str, cache: &'static str, headers: &HeaderMap) -> Option<Response> {
        let (data, hash) = self.get(name)?;
        let accepts = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let encoded = [("br", ".br"), ("gzip", ".gz")]
            .into_iter()
            .find_map(|(encoding, suffix)| {
                let accepted = accepts
                    .split(',')
                    .any(|a| a.split(';').next().is_some_and(|e| e.trim() == encoding));
                accepted
                    .then(|| self.get(&format!("{name}{suffix}")).map(|(data, _)| (encoding, data)))
                    .flatten()
            });
        // Each encoding is its own representation with its own strong ETag (RFC 9110 8.8.3): a
        // cache must not answer a gzip request's revalidation with the brotli body.
        let etag = match &encoded {
            Some((encoding, _)) => format!("\"{hash}-{encoding}\""),
            None => format!("\"{hash}\""),
        };
        let mut builder = Response::builder()
            .header(header::CACHE_CONTROL, cache)
            .header(header::ETAG, &etag)
            .header(header::VARY, "Accept-Encoding")
            .header(header::CONTENT_TYPE, mime_type(name))
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        let not_modified = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        if not_modified {
            if let Some((encoding, _)) = encoded {
                builder = builder.header(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
            }
            return builder.status(StatusCode::NOT_MODIFIED).body(Body::empty()).ok();
        }
        let body = match encoded {
            Some((encoding, compressed)) => {
                builder = builder.header(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
                compressed
            }
            None => data,
        };
        builder.status(StatusCode::OK).body(Body::from(body.into_owned())).ok()
    }
}

fn mime_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "map" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::testing::assert_listed;

    #[test]
    fn every_variant_answers_a_listed_code() {
        assert_listed(&[
            RoutingError::RouteNotFound {
                method: Method::GET,
                path: "/api/v1/nothing".into(),
            },
            RoutingError::MethodNotAllowed {
                method: Method::DELETE,
                path: "/api/v1/workflows".into(),
            },
            RoutingError::WebAppNotBuilt,
        ]);
    }
}
