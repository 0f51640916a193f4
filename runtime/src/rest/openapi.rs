//! `GET /openapi.json`: the OpenAPI 3.1 document of the REST API, generated from the handlers'
//! `#[utoipa::path]` annotations and the types they answer with. The router is built from the
//! same `routes!` list (`super::documented_routes`), so no route is served undocumented; the
//! fuzz stage of `dev/test` (schemathesis) checks a real worker's answers against it.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::activity::ConnectorActivity;
use crate::herder::{ConnectorInfo, StatusInfo};

/// Kafka Connect's error body, for every 4xx and 5xx.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status again.
    pub error_code: u16,
    /// What went wrong, and what to do.
    pub message: String,
}

/// `GET /`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerInfo {
    /// Ferry's version.
    pub version: String,
    /// The git commit it was built from.
    pub commit: String,
    /// The Kafka cluster's id.
    pub kafka_cluster_id: String,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `healthy`.
    pub status: String,
    /// What that means.
    pub message: String,
}

/// One entry of `GET /connector-plugins`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginInfo {
    /// The class name connectors give as `connector.class` (or a transformation's `type`).
    pub class: String,
    /// `source`, `sink`, `converter`, `header_converter`, `transformation` or `predicate`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The plugin's version.
    pub version: String,
}

/// `POST /connectors`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateConnector {
    /// The connector's name: any text, percent-encoded in paths.
    pub name: String,
    /// Its config; numbers and booleans are taken as their text.
    #[schema(value_type = BTreeMap<String, String>)]
    pub config: BTreeMap<String, serde_json::Value>,
    /// `RUNNING` (the default), `PAUSED` or `STOPPED` (KIP-980).
    pub initial_state: Option<String>,
}

/// One connector of `GET /connectors?expand=...`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ExpandedConnector {
    /// With `expand=status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusInfo>,
    /// With `expand=info`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<ConnectorInfo>,
    /// With `expand=activity` (a Ferry addition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<ConnectorActivity>,
}

/// `GET /connectors`: names, or with `expand` a map of name to the expanded entries.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ConnectorList {
    /// Without `expand`.
    Names(Vec<String>),
    /// With `expand=status`, `expand=info` and/or `expand=activity`.
    Expanded(BTreeMap<String, ExpandedConnector>),
}

/// `GET /connectors/{name}/topics`: the connector's name to the topics it used.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveTopics {
    /// Topics the connector's tasks wrote or read since the last reset.
    pub topics: Vec<String>,
}

/// A logger's level (`/admin/loggers`).
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggerLevel {
    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `OFF`.
    pub level: String,
    /// When it was last set over REST, in ms since the epoch.
    pub last_modified: Option<u64>,
}

/// `PUT /admin/loggers/{logger}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetLevel {
    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `OFF` (any case).
    pub level: String,
}

/// The document's fixed parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry REST API",
        description = "Kafka Connect's REST API as Ferry serves it, plus /metrics and this document. With rest.auth.users.file set, every operation but /health needs HTTP Basic, a Bearer token or a listed client certificate."
    ),
    components(schemas(ErrorBody)),
    modifiers(&Shared)
)]
pub struct ApiDoc;

/// Security schemes, and the answers any operation can give.
struct Shared;

impl Modify for Shared {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        openapi.security = Some(vec![
            SecurityRequirement::new("basic", Vec::<String>::new()),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
        ]);
    }
}

/// Answers every operation can give: a bad path or body, no or wrong credentials, a role or
/// grant too low, an unknown connector, too slow, too large.
const COMMON_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "Bad request: a path that is not UTF-8, a body that is not what the operation takes",
    ),
    ("401", "Missing or wrong credentials (authentication on)"),
    ("403", "The caller's role or grant does not allow this"),
    ("404", "No such connector, task, plugin or logger"),
    ("408", "Not completed within 90 s"),
    ("413", "Body over 4 MiB"),
];

/// Adds [`COMMON_ERRORS`] to every operation, each with Kafka Connect's error body.
fn with_common_errors(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, description) in COMMON_ERRORS {
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(error_response(description)));
            }
        }
    }
    openapi
}

/// A response with Kafka Connect's error body.
pub fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

static DOCUMENT: LazyLock<serde_json::Value> = LazyLock::new(|| {
    let (_, openapi) = super::documented_routes(super::Scope {
        api: true,
        admin: true,
    })
    .split_for_parts();
    serde_json::to_value(with_common_errors(openapi)).expect("the OpenAPI document serializes")
});

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "worker",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
pub async fn document() -> Response {
    (StatusCode::OK, Json(DOCUMENT.clone())).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented_with_its_errors() {
        let document = &*super::DOCUMENT;
        assert_eq!(document["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let paths = document["paths"].as_object().expect("paths");
        for route in super::super::ROUTES {
            assert!(paths.contains_key(*route), "{route} is not documented");
        }
        let status = &paths["/connectors/{name}/status"]["get"]["responses"];
        assert!(
            status["200"]["content"]["application/json"].is_object(),
            "{status}"
        );
        assert_eq!(
            status["401"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        assert!(document["components"]["securitySchemes"]["basic"].is_object());
    }
}
