//! The one REST error type: Kafka Connect's `{"error_code": <status>, "message": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::herder::HerderError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<HerderError> for ApiError {
    fn from(error: HerderError) -> Self {
        let status = match &error {
            HerderError::NotFound(_) => StatusCode::NOT_FOUND,
            HerderError::Conflict(_) => StatusCode::CONFLICT,
            HerderError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HerderError::Store(_) | HerderError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = super::openapi::ErrorBody {
            error_code: self.status.as_u16(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// The largest request body the REST API reads (a connector config is a few KiB).
pub const REQUEST_BODY_LIMIT: usize = 4 << 20;

/// The 413 of a body over [`REQUEST_BODY_LIMIT`].
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "Request body larger than {} MiB; a connector config is far smaller",
            REQUEST_BODY_LIMIT >> 20
        ),
    )
}

/// Puts the answers the handlers did not make (axum's rejections of a too-large body, a path
/// that is not UTF-8, a timeout) into Kafka Connect's error shape, so every client parses every
/// error the same way.
pub async fn in_error_shape(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Rejection texts are short; a larger body is not axum's and is not read.
    let text = axum::body::to_bytes(body, 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match (status, text.is_empty()) {
        (StatusCode::PAYLOAD_TOO_LARGE, _) => return too_large().into_response(),
        (_, true) => status
            .canonical_reason()
            .unwrap_or("Request failed")
            .to_string(),
        (_, false) => text,
    };
    let mut shaped = ApiError::new(status, message).into_response();
    // Headers the rejection set (WWW-Authenticate, Allow) stay.
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}

/// How long one request may take, reading its body included (Kafka Connect's REST timeout).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// Refuses a body whose `Content-Length` is over [`REQUEST_BODY_LIMIT`] before reading it, and
/// ends a request that is not done within [`REQUEST_TIMEOUT`], so a client that trickles its
/// body cannot hold a connection and a handler without end cannot either.
pub async fn within_limits(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > REQUEST_BODY_LIMIT as u64) {
        return too_large().into_response();
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "Request not completed within {} s",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}
