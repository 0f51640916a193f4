//! `GET /openapi.json`: the REST API described in OpenAPI 3.0, from `openapi.yaml` beside this
//! file. The document is written by hand, and the fuzz stage of `dev/test` (schemathesis)
//! checks every answer of a real worker against it, so it cannot drift from the handlers.

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

static DOCUMENT: LazyLock<serde_json::Value> = LazyLock::new(|| {
    let mut document: serde_json::Value = serde_yaml::from_str(include_str!("openapi.yaml"))
        .expect("openapi.yaml is valid YAML (a unit test parses it)");
    document["info"]["version"] = env!("CARGO_PKG_VERSION").into();
    document
});

/// The handler of `GET /openapi.json`.
pub async fn document() -> Response {
    (StatusCode::OK, Json(DOCUMENT.clone())).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_parses_and_describes_every_route() {
        let document = &*super::DOCUMENT;
        assert_eq!(document["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let paths = document["paths"].as_object().expect("paths");
        for route in super::super::ROUTES {
            assert!(
                paths.contains_key(*route),
                "openapi.yaml does not describe {route}"
            );
        }
    }
}
