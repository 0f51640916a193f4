//! Kafka Connect's REST API: same paths, JSON shapes, status codes and `{error_code, message}`
//! error bodies, so existing Kafka Connect clients work unchanged. Plus `GET /metrics`.
//!
//! Handlers only touch the herder's maps and queue commands; plugin code never runs on this
//! runtime, so a hung connector cannot stall the API.

pub mod auth;
mod error;
mod loggers;
mod openapi;
pub mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use ferry_api::ConfigMap;
use serde_json::{json, Map, Value};

pub use error::ApiError;
pub use loggers::LogLevels;

use crate::config::connector as keys;
use crate::herder::{offsets, secrets, validation, ConnectorInfo, Herder};
use crate::status::TargetState;

/// What every handler shares.
pub struct RestState {
    /// The herder.
    pub herder: Arc<dyn Herder>,
    /// Kafka's cluster id, for `GET /`.
    pub kafka_cluster_id: String,
    /// Runtime log levels for `/admin/loggers`.
    pub log_levels: LogLevels,
    /// Who may call, when `rest.auth.users.file` is set; `None` serves everyone.
    pub authenticator: Option<Arc<auth::Authenticator>>,
}

type Shared = State<Arc<RestState>>;
type ApiResult = Result<Response, ApiError>;

/// All routes.
pub fn router(state: Arc<RestState>, scope: Scope) -> Router {
    let authenticator = state.authenticator.clone();
    let mut routes = Router::new();
    if scope.api {
        routes = api_routes(routes);
    }
    if scope.admin {
        routes = routes.route("/admin/loggers", get(loggers::list)).route(
            "/admin/loggers/{logger}",
            get(loggers::get).put(loggers::set),
        );
    }
    let routes = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(
            error::REQUEST_BODY_LIMIT,
        ));
    let routes = match authenticator {
        Some(authenticator) => routes.layer(axum::middleware::from_fn_with_state(
            authenticator,
            auth::authenticate,
        )),
        None => routes,
    };
    routes
        .layer(axum::middleware::from_fn(error::within_limits))
        .layer(axum::middleware::from_fn(access_log))
        .layer(axum::middleware::map_response(error::in_error_shape))
}

/// Every route of the router, for the test that `openapi.yaml` describes them all.
#[cfg(test)]
const ROUTES: &[&str] = &[
    "/",
    "/openapi.json",
    "/health",
    "/metrics",
    "/connectors",
    "/connectors/{name}",
    "/connectors/{name}/config",
    "/connectors/{name}/status",
    "/connectors/{name}/tasks",
    "/connectors/{name}/tasks/{task}/status",
    "/connectors/{name}/tasks/{task}/restart",
    "/connectors/{name}/restart",
    "/connectors/{name}/pause",
    "/connectors/{name}/resume",
    "/connectors/{name}/stop",
    "/connectors/{name}/offsets",
    "/connectors/{name}/topics",
    "/connectors/{name}/topics/reset",
    "/connector-plugins",
    "/connector-plugins/{class}/config",
    "/connector-plugins/{class}/config/validate",
    "/admin/loggers",
    "/admin/loggers/{logger}",
];

/// What one listener serves: Kafka Connect's `admin.listeners` moves `/admin/*` to listeners
/// of its own, or turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// Everything but `/admin/*`.
    pub api: bool,
    /// `/admin/*`.
    pub admin: bool,
}

fn api_routes(routes: Router<Arc<RestState>>) -> Router<Arc<RestState>> {
    routes
        .route("/", get(server_info))
        .route("/openapi.json", get(openapi::document))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/connectors", get(list_connectors).post(create_connector))
        .route(
            "/connectors/{name}",
            get(connector_info).delete(delete_connector),
        )
        .route(
            "/connectors/{name}/config",
            get(connector_config).put(put_config).patch(patch_config),
        )
        .route("/connectors/{name}/status", get(connector_status))
        .route("/connectors/{name}/tasks", get(task_configs))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(restart_task),
        )
        .route("/connectors/{name}/restart", post(restart_connector))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route(
            "/connectors/{name}/offsets",
            get(get_offsets).patch(alter_offsets).delete(reset_offsets),
        )
        .route("/connectors/{name}/topics", get(connector_topics))
        .route("/connectors/{name}/topics/reset", put(reset_topics))
        .route("/connector-plugins", get(list_plugins))
        .route("/connector-plugins/{class}/config", get(plugin_config))
        .route(
            "/connector-plugins/{class}/config/validate",
            put(validate_config),
        )
}

/// Each request at debug level: method, path, status and time, never a header or a body (they
/// carry credentials and secrets).
async fn access_log(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "REST request");
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "HTTP 404 Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP 405 Method Not Allowed",
    )
}

fn json_response(status: StatusCode, body: impl serde::Serialize) -> Response {
    (status, Json(body)).into_response()
}

/// Parses a JSON body, with a 400 that says what is wrong.
fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "Request body is missing; send a JSON object",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))
}

/// A config object with string values (numbers and booleans are accepted and stringified).
fn config_map(value: &Value) -> Result<ConfigMap, ApiError> {
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request("config must be a JSON object of string values"))?;
    object
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Number(n) => Ok((k.clone(), n.to_string())),
            Value::Bool(b) => Ok((k.clone(), b.to_string())),
            _ => Err(ApiError::bad_request(format!(
                "config value of `{k}` must be a string, number or boolean"
            ))),
        })
        .collect()
}

/// Query parameters, repeated keys kept (`expand=status&expand=info`).
fn query_pairs(query: &Option<String>) -> Vec<(String, String)> {
    query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A boolean query parameter, absent meaning `default`. Case-insensitive, as Kafka Connect's
/// server reads it (`True`, `TRUE`); a value that is neither is refused rather than read as
/// false.
fn flag_or(query: &Option<String>, name: &str, default: bool) -> Result<bool, ApiError> {
    match query_pairs(query).iter().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) if v.is_empty() || v.eq_ignore_ascii_case("true") => Ok(true),
        Some((_, v)) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some((_, other)) => Err(ApiError::bad_request(format!(
            "{name} must be true or false, got `{other}`"
        ))),
    }
}

fn flag(query: &Option<String>, name: &str) -> Result<bool, ApiError> {
    flag_or(query, name, false)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn server_info(State(state): Shared) -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": option_env!("FERRY_GIT_COMMIT").unwrap_or("unknown"),
            "kafka_cluster_id": state.kafka_cluster_id,
        }),
    )
}

async fn health() -> Response {
    json_response(
        StatusCode::OK,
        json!({"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."}),
    )
}

async fn metrics(State(state): Shared) -> Response {
    let context = state.herder.worker();
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        context.metrics.render(&context.status),
    )
        .into_response()
}

async fn list_connectors(
    State(state): Shared,
    caller: Option<Extension<auth::Caller>>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let mut names = state.herder.connectors();
    // A grant limited to some connectors does not even learn the others' names.
    if let Some(Extension(caller)) = caller {
        names.retain(|name| caller.grant.allows(name));
    }
    let expand: Vec<String> = query_pairs(&query)
        .into_iter()
        .filter(|(k, _)| k == "expand")
        .map(|(_, v)| v)
        .collect();
    if expand.is_empty() {
        return Ok(json_response(StatusCode::OK, names));
    }
    let mut expanded = Map::new();
    for name in names {
        let mut entry = Map::new();
        for what in &expand {
            match what.as_str() {
                "status" => {
                    if let Ok(status) = state.herder.status(&name) {
                        entry.insert("status".into(), json!(status));
                    }
                }
                "info" => {
                    if let Ok(info) = state.herder.shown_info(&name) {
                        entry.insert("info".into(), json!(info));
                    }
                }
                _ => {}
            }
        }
        expanded.insert(name, Value::Object(entry));
    }
    Ok(json_response(StatusCode::OK, expanded))
}

async fn create_connector(State(state): Shared, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let name = body["name"]
        .as_str()
        .ok_or_else(|| {
            ApiError::bad_request(
                "Connector name is missing; send {\"name\": ..., \"config\": {...}}",
            )
        })?
        .to_string();
    let config = config_map(&body["config"])?;
    let initial = match &body["initial_state"] {
        Value::Null => TargetState::Running,
        Value::String(s) => {
            serde_json::from_value(Value::String(s.to_uppercase())).map_err(|_| {
                ApiError::bad_request(format!(
                    "initial_state must be RUNNING, PAUSED or STOPPED, got `{s}`"
                ))
            })?
        }
        _ => return Err(ApiError::bad_request("initial_state must be a string")),
    };
    let herder = state.herder.clone();
    let created = hidden(
        &state,
        blocking(move || herder.create(&name, config, initial)).await??,
    );
    let location = format!("/connectors/{}", created.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    )
        .into_response())
}

/// A ConnectorInfo as an answer may show it: secrets [hidden].
fn hidden(state: &RestState, mut info: ConnectorInfo) -> ConnectorInfo {
    let plugin = state.herder.worker().plugin_for(&info.config);
    info.config = secrets::hide(plugin.as_deref(), &info.config);
    info
}

async fn connector_info(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        state.herder.shown_info(&name)?,
    ))
}

async fn delete_connector(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    let herder = state.herder.clone();
    blocking(move || herder.delete(&name)).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn connector_config(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        state.herder.shown_config(&name)?,
    ))
}

async fn put_config(State(state): Shared, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let config = config_map(&parse_body(&body)?)?;
    let herder = state.herder.clone();
    let (created, info) = blocking(move || herder.put_config(&name, config)).await??;
    let info = hidden(&state, info);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, info))
}

async fn patch_config(State(state): Shared, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("PATCH body must be a JSON object"))?;
    let mut patch = BTreeMap::new();
    for (key, value) in object {
        let value = match value {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "value of `{key}` must be a string or null"
                )))
            }
        };
        patch.insert(key.clone(), value);
    }
    let herder = state.herder.clone();
    let info = hidden(
        &state,
        blocking(move || herder.patch_config(&name, patch)).await??,
    );
    Ok(json_response(StatusCode::OK, info))
}

async fn connector_status(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(StatusCode::OK, state.herder.status(&name)?))
}

async fn task_configs(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        state.herder.shown_tasks(&name)?,
    ))
}

fn task_id(task: &str) -> Result<u32, ApiError> {
    task.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Task {task} not found: task ids are numbers"),
        )
    })
}

async fn task_status(
    State(state): Shared,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult {
    let task = task_id(&task)?;
    Ok(json_response(
        StatusCode::OK,
        state.herder.task_status(&name, task)?,
    ))
}

async fn restart_task(
    State(state): Shared,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult {
    let task = task_id(&task)?;
    let herder = state.herder.clone();
    blocking(move || herder.restart_task(&name, task)).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restart_connector(
    State(state): Shared,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let include_tasks = flag(&query, "includeTasks")?;
    let only_failed = flag(&query, "onlyFailed")?;
    let herder = state.herder.clone();
    match blocking(move || herder.restart(&name, include_tasks, only_failed)).await?? {
        None => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(status) => Ok(json_response(StatusCode::ACCEPTED, status)),
    }
}

async fn pause(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    let herder = state.herder.clone();
    blocking(move || herder.set_target(&name, TargetState::Paused)).await??;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn resume(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    let herder = state.herder.clone();
    blocking(move || herder.set_target(&name, TargetState::Running)).await??;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn stop(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    let herder = state.herder.clone();
    blocking(move || herder.set_target(&name, TargetState::Stopped)).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_offsets(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        offsets::read(state.herder.clone(), &name).await?,
    ))
}

async fn alter_offsets(State(state): Shared, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    Ok(json_response(
        StatusCode::OK,
        offsets::alter(state.herder.clone(), &name, body).await?,
    ))
}

async fn reset_offsets(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        offsets::reset(state.herder.clone(), &name).await?,
    ))
}

async fn connector_topics(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    state.herder.config(&name)?;
    let topics = state.herder.worker().status.topics(&name);
    Ok(json_response(
        StatusCode::OK,
        json!({ name: { "topics": topics } }),
    ))
}

async fn reset_topics(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    state.herder.config(&name)?;
    state.herder.worker().status.reset_topics(&name);
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn list_plugins(State(state): Shared, RawQuery(query): RawQuery) -> ApiResult {
    let connectors_only = flag_or(&query, "connectorsOnly", true)?;
    let mut plugins: Vec<Value> = state
        .herder
        .worker()
        .plugins
        .plugins()
        .iter()
        .map(|p| json!({"class": p.class_name, "type": p.kind, "version": p.version}))
        .collect();
    if !connectors_only {
        for class in [
            "org.apache.kafka.connect.converters.ByteArrayConverter",
            "org.apache.kafka.connect.storage.StringConverter",
            "org.apache.kafka.connect.json.JsonConverter",
        ] {
            plugins.push(
                json!({"class": class, "type": "converter", "version": env!("CARGO_PKG_VERSION")}),
            );
        }
        plugins.push(json!({
            "class": "org.apache.kafka.connect.storage.SimpleHeaderConverter",
            "type": "header_converter",
            "version": env!("CARGO_PKG_VERSION"),
        }));
        for transform in state.herder.worker().plugins.transforms() {
            plugins.push(json!({
                "class": transform.class_name,
                "type": transform.plugin_type.rest_name(),
                "version": transform.version,
            }));
        }
    }
    Ok(json_response(StatusCode::OK, plugins))
}

fn plugin(state: &RestState, class: &str) -> Result<Arc<crate::plugins::Plugin>, ApiError> {
    state.herder.worker().plugins.find(class).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Unknown plugin {class}; GET /connector-plugins lists the loaded ones"),
        )
    })
}

async fn plugin_config(State(state): Shared, Path(class): Path<String>) -> ApiResult {
    // Transformations and predicates document their own keys, unprefixed, as Kafka Connect's do.
    if let Some(transform) = state.herder.worker().plugins.transform(&class) {
        return Ok(json_response(
            StatusCode::OK,
            validation::schema_definitions(&transform.config_schema, "", ""),
        ));
    }
    let plugin = plugin(&state, &class)?;
    Ok(json_response(
        StatusCode::OK,
        validation::definitions(&plugin),
    ))
}

async fn validate_config(
    State(state): Shared,
    Path(class): Path<String>,
    body: Bytes,
) -> ApiResult {
    let plugin = plugin(&state, &class)?;
    let mut config = config_map(&parse_body(&body)?)?;
    match config.get(keys::CONNECTOR_CLASS) {
        Some(given) if !plugin.answers_to(given) => {
            return Err(ApiError::bad_request(format!(
                "Included connector type {given} does not match request type {class}"
            )))
        }
        Some(_) => {}
        None => {
            config.insert(keys::CONNECTOR_CLASS.into(), plugin.class_name.clone());
        }
    }
    let herder = state.herder.clone();
    let infos = blocking(move || herder.validate(&plugin, &config)).await?;
    Ok(json_response(StatusCode::OK, infos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    #[test]
    fn boolean_parameters_are_read_as_kafka_connect_reads_them() {
        for (text, expected) in [
            ("includeTasks=true", true),
            ("includeTasks=True", true),
            ("includeTasks=TRUE", true),
            ("includeTasks", true),
            ("includeTasks=False", false),
            ("onlyFailed=true", false),
            ("", false),
        ] {
            assert_eq!(
                flag(&query(text), "includeTasks").unwrap(),
                expected,
                "{text}"
            );
        }
        assert!(flag(&query("includeTasks=yes"), "includeTasks").is_err());
        assert!(flag_or(&None, "connectorsOnly", true).unwrap());
        assert!(!flag_or(&query("connectorsOnly=FALSE"), "connectorsOnly", true).unwrap());
    }
}
