//! Request extractors that turn every rejection into the API's error shape.

use crate::error::CommonError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// JSON body; malformed or wrongly shaped bodies get a 400 naming the problem, oversized
/// bodies a 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = CommonError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> CommonError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return CommonError::PayloadTooLarge;
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => CommonError::UnsupportedContentType,
        JsonRejection::JsonSyntaxError(e) => CommonError::MalformedJson(
            e.body_text()
                .trim_start_matches("Failed to parse the request body as JSON: ")
                .to_owned(),
        ),
        JsonRejection::JsonDataError(e) => CommonError::InvalidBody(
            e.body_text()
                .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
                .to_owned(),
        ),
        other => CommonError::UnreadableBody(other.body_text()),
    }
}

/// Path parameters; a malformed id is simply not found.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = CommonError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(CommonError::not_found("The resource")),
            Err(other) => Err(CommonError::internal(other.body_text())),
        }
    }
}

/// Query string parameters with a 400 naming the bad one.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = CommonError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(CommonError::InvalidQuery(
                e.body_text()
                    .trim_start_matches("Failed to deserialize query string: ")
                    .to_owned(),
            )),
            Err(other) => Err(CommonError::InvalidQuery(other.body_text())),
        }
    }
}
