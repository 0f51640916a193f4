//! Kafka Connect's REST API: same paths, JSON shapes, status codes and `{error_code, message}`
//! error bodies, so existing Kafka Connect clients work unchanged. Plus `GET /metrics`.
//!
//! Handlers only touch the herder's maps and queue commands; plugin code never runs on this
//! runtime, so a hung connector cannot stall the API.

pub mod auth;
mod console;
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
use axum::{Extension, Json, Router};
use ferry_api::ConfigMap;
use serde_json::Value;

pub use error::ApiError;
pub use loggers::LogLevels;

use crate::activity::{self, ConnectorActivity};
use crate::config::connector as keys;
use crate::herder::{
    offsets, secrets, validation, ConnectorInfo, Herder, StatusInfo, TaskInfo, TaskStatusInfo,
};
use crate::status::TargetState;
use openapi::{ConnectorList, ErrorBody, ExpandedConnector, ServerInfo};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// The routes one listener serves, with the middleware every request passes.
pub fn router(state: Arc<RestState>, scope: Scope) -> Router {
    let authenticator = state.authenticator.clone();
    let (routes, _) = documented_routes(scope).split_for_parts();
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

/// Every route with its documentation: the router and `GET /openapi.json` are both built from
/// this list.
fn documented_routes(scope: Scope) -> OpenApiRouter<Arc<RestState>> {
    let mut routes = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi());
    if scope.api {
        routes = routes
            .routes(routes!(server_info))
            .routes(routes!(console::whoami))
            .routes(routes!(console::index))
            .routes(routes!(console::script))
            .routes(routes!(console::style))
            .routes(routes!(openapi::document))
            .routes(routes!(health))
            .routes(routes!(metrics))
            .routes(routes!(list_connectors, create_connector))
            .routes(routes!(connector_info, delete_connector))
            .routes(routes!(connector_config, put_config, patch_config))
            .routes(routes!(connector_status))
            .routes(routes!(connector_activity))
            .routes(routes!(task_configs))
            .routes(routes!(task_status))
            .routes(routes!(restart_task))
            .routes(routes!(restart_connector))
            .routes(routes!(pause))
            .routes(routes!(resume))
            .routes(routes!(stop))
            .routes(routes!(get_offsets, alter_offsets, reset_offsets))
            .routes(routes!(connector_topics))
            .routes(routes!(reset_topics))
            .routes(routes!(list_plugins))
            .routes(routes!(plugin_config))
            .routes(routes!(validate_config));
    }
    if scope.admin {
        routes = routes
            .routes(routes!(loggers::list))
            .routes(routes!(loggers::get, loggers::set));
    }
    routes
}

/// Every route, for the test that the document describes them all.
#[cfg(test)]
const ROUTES: &[&str] = &[
    "/",
    "/openapi.json",
    "/whoami",
    "/ui",
    "/ui/app.js",
    "/ui/app.css",
    "/health",
    "/metrics",
    "/connectors",
    "/connectors/{name}",
    "/connectors/{name}/config",
    "/connectors/{name}/status",
    "/connectors/{name}/activity",
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
            (form_decoded(k), form_decoded(v))
        })
        .collect()
}

/// What a path segment may not hold unencoded (RFC 3986: everything but unreserved characters).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A query component as a form encodes it: `+` is a space, `%xx` a byte.
fn form_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
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

#[utoipa::path(get, path = "/", tag = "worker", responses((status = 200, description = "Version and Kafka cluster", body = ServerInfo)))]
async fn server_info(State(state): Shared) -> Response {
    json_response(
        StatusCode::OK,
        ServerInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            commit: option_env!("FERRY_GIT_COMMIT").unwrap_or("unknown").into(),
            kafka_cluster_id: state.kafka_cluster_id.clone(),
        },
    )
}

#[utoipa::path(get, path = "/health", tag = "worker", security((), ("basic" = []), ("bearer" = [])), responses((status = 200, description = "Started and serving", body = openapi::Health)))]
async fn health() -> Response {
    json_response(
        StatusCode::OK,
        openapi::Health {
            status: "healthy".into(),
            message: "Worker has completed startup and is ready to handle requests.".into(),
        },
    )
}

#[utoipa::path(get, path = "/metrics", tag = "worker", responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
async fn metrics(State(state): Shared) -> Response {
    let context = state.herder.worker();
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        context.metrics.render(&context.status),
    )
        .into_response()
}

#[utoipa::path(get, path = "/connectors", tag = "connectors", params(("expand" = Option<Vec<String>>, Query, description = "status, info and/or activity (a Ferry addition), repeatable")), responses((status = 200, description = "Connector names, or with expand a map of name to status and info", body = openapi::ConnectorList)))]
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
        return Ok(json_response(StatusCode::OK, ConnectorList::Names(names)));
    }
    let mut expanded = BTreeMap::new();
    for name in names {
        let mut entry = ExpandedConnector::default();
        for what in &expand {
            match what.as_str() {
                "status" => entry.status = state.herder.status(&name).ok(),
                "info" => entry.info = state.herder.shown_info(&name).ok(),
                "activity" => entry.activity = connector_activity_of(&state, &name).ok(),
                _ => {}
            }
        }
        expanded.insert(name, entry);
    }
    Ok(json_response(
        StatusCode::OK,
        ConnectorList::Expanded(expanded),
    ))
}

#[utoipa::path(post, path = "/connectors", tag = "connectors", request_body = openapi::CreateConnector, responses((status = 201, description = "Created", body = ConnectorInfo), (status = 409, description = "A connector of that name exists", body = ErrorBody)))]
async fn create_connector(State(state): Shared, body: Bytes) -> ApiResult {
    let request: openapi::CreateConnector =
        serde_json::from_value(parse_body(&body)?).map_err(|e| {
            ApiError::bad_request(format!(
                "Request body must be {{\"name\": ..., \"config\": {{...}}}}: {e}"
            ))
        })?;
    let name = request.name;
    let config = config_map(&Value::Object(request.config.into_iter().collect()))?;
    let initial = match request.initial_state {
        None => TargetState::Running,
        Some(s) => serde_json::from_value(Value::String(s.to_uppercase())).map_err(|_| {
            ApiError::bad_request(format!(
                "initial_state must be RUNNING, PAUSED or STOPPED, got `{s}`"
            ))
        })?,
    };
    let herder = state.herder.clone();
    let created = hidden(
        &state,
        blocking(move || herder.create(&name, config, initial)).await??,
    );
    // A header is ASCII: the name percent-encoded, as Kafka Connect's URI builder does.
    let location = format!(
        "/connectors/{}",
        percent_encoding::utf8_percent_encode(&created.name, PATH_SEGMENT)
    );
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

#[utoipa::path(get, path = "/connectors/{name}", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 200, description = "Config (secrets [hidden]) and tasks", body = ConnectorInfo)))]
async fn connector_info(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        state.herder.shown_info(&name)?,
    ))
}

#[utoipa::path(delete, path = "/connectors/{name}", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 204, description = "Deleted"), (status = 409, description = "A rebalance is in progress", body = ErrorBody)))]
async fn delete_connector(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    let herder = state.herder.clone();
    blocking(move || herder.delete(&name)).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/connectors/{name}/config", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 200, description = "The config, secrets [hidden]", body = BTreeMap<String, String>)))]
async fn connector_config(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        state.herder.shown_config(&name)?,
    ))
}

#[utoipa::path(put, path = "/connectors/{name}/config", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), request_body = BTreeMap<String, String>, responses((status = 200, description = "Updated", body = ConnectorInfo), (status = 201, description = "Created", body = ConnectorInfo), (status = 409, description = "A rebalance is in progress", body = ErrorBody)))]
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

#[utoipa::path(patch, path = "/connectors/{name}/config", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), request_body(content = BTreeMap<String, Option<String>>, description = "Keys to set; null removes a key"), responses((status = 200, description = "Patched", body = ConnectorInfo)))]
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

#[utoipa::path(get, path = "/connectors/{name}/status", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 200, description = "The connector's and its tasks' states", body = StatusInfo)))]
async fn connector_status(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(StatusCode::OK, state.herder.status(&name)?))
}

/// A Ferry addition for the web console: each task's counters, restarts, lag and latency
/// buckets, from whichever worker runs it.
#[utoipa::path(get, path = "/connectors/{name}/activity", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 200, description = "Each task's records in and out, restarts, start time, lag (sinks) and latency histogram, cumulative since the task started on its worker", body = ConnectorActivity)))]
async fn connector_activity(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        connector_activity_of(&state, &name)?,
    ))
}

fn connector_activity_of(
    state: &RestState,
    name: &str,
) -> Result<ConnectorActivity, crate::herder::HerderError> {
    let status = state.herder.status(name)?;
    let config = state.herder.config(name)?;
    let class = config.get(keys::CONNECTOR_CLASS).map(String::as_str);
    Ok(activity::of_connector(
        state.herder.worker(),
        &status,
        class,
    ))
}

#[utoipa::path(get, path = "/connectors/{name}/tasks", tag = "tasks", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 200, description = "Each task's config, secrets [hidden]", body = Vec<TaskInfo>)))]
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

#[utoipa::path(get, path = "/connectors/{name}/tasks/{task}/status", tag = "tasks", params(("name" = String, Path, description = "The connector's name, percent-encoded"), ("task" = String, Path, description = "The task's number")), responses((status = 200, description = "The task's state", body = TaskStatusInfo)))]
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

#[utoipa::path(post, path = "/connectors/{name}/tasks/{task}/restart", tag = "tasks", params(("name" = String, Path, description = "The connector's name, percent-encoded"), ("task" = String, Path, description = "The task's number")), responses((status = 204, description = "Restart requested"), (status = 409, description = "A rebalance is in progress", body = ErrorBody)))]
async fn restart_task(
    State(state): Shared,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult {
    let task = task_id(&task)?;
    let herder = state.herder.clone();
    blocking(move || herder.restart_task(&name, task)).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/connectors/{name}/restart", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded"), ("includeTasks" = Option<bool>, Query, description = "Restart its tasks too"), ("onlyFailed" = Option<bool>, Query, description = "Only what is FAILED")), responses((status = 202, description = "Restarting what the flags select", body = StatusInfo), (status = 204, description = "The connector alone restarted"), (status = 409, description = "A rebalance is in progress", body = ErrorBody)))]
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

#[utoipa::path(put, path = "/connectors/{name}/pause", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 202, description = "Pausing")))]
async fn pause(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    let herder = state.herder.clone();
    blocking(move || herder.set_target(&name, TargetState::Paused)).await??;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[utoipa::path(put, path = "/connectors/{name}/resume", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 202, description = "Resuming")))]
async fn resume(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    let herder = state.herder.clone();
    blocking(move || herder.set_target(&name, TargetState::Running)).await??;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[utoipa::path(put, path = "/connectors/{name}/stop", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 204, description = "Stopped: tasks shut down, config kept")))]
async fn stop(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    let herder = state.herder.clone();
    blocking(move || herder.set_target(&name, TargetState::Stopped)).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/connectors/{name}/offsets", tag = "offsets", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 200, description = "{\"offsets\": [{partition, offset}]} in the source or sink form (KIP-875)", body = Object)))]
async fn get_offsets(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        offsets::read(state.herder.clone(), &name).await?,
    ))
}

#[utoipa::path(patch, path = "/connectors/{name}/offsets", tag = "offsets", params(("name" = String, Path, description = "The connector's name, percent-encoded")), request_body(content = Object, description = "{\"offsets\": [{partition, offset}]}; the connector must be STOPPED"), responses((status = 200, description = "Altered", body = Object), (status = 409, description = "The connector is not STOPPED", body = ErrorBody)))]
async fn alter_offsets(State(state): Shared, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    Ok(json_response(
        StatusCode::OK,
        offsets::alter(state.herder.clone(), &name, body).await?,
    ))
}

#[utoipa::path(delete, path = "/connectors/{name}/offsets", tag = "offsets", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 200, description = "Reset", body = Object), (status = 409, description = "The connector is not STOPPED", body = ErrorBody)))]
async fn reset_offsets(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        offsets::reset(state.herder.clone(), &name).await?,
    ))
}

#[utoipa::path(get, path = "/connectors/{name}/topics", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 200, description = "The connector's name to the topics it used", body = BTreeMap<String, openapi::ActiveTopics>)))]
async fn connector_topics(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    state.herder.config(&name)?;
    let topics = state.herder.worker().status.topics(&name);
    Ok(json_response(
        StatusCode::OK,
        BTreeMap::from([(name, openapi::ActiveTopics { topics })]),
    ))
}

#[utoipa::path(put, path = "/connectors/{name}/topics/reset", tag = "connectors", params(("name" = String, Path, description = "The connector's name, percent-encoded")), responses((status = 202, description = "Forgotten")))]
async fn reset_topics(State(state): Shared, Path(name): Path<String>) -> ApiResult {
    state.herder.config(&name)?;
    state.herder.worker().status.reset_topics(&name);
    Ok(StatusCode::ACCEPTED.into_response())
}

#[utoipa::path(get, path = "/connector-plugins", tag = "plugins", params(("connectorsOnly" = Option<bool>, Query, description = "false lists converters, transformations and predicates too")), responses((status = 200, description = "Loaded plugins", body = Vec<openapi::PluginInfo>)))]
async fn list_plugins(State(state): Shared, RawQuery(query): RawQuery) -> ApiResult {
    let connectors_only = flag_or(&query, "connectorsOnly", true)?;
    let worker = state.herder.worker();
    let info = |class: &str, kind: &str, version: &str| openapi::PluginInfo {
        class: class.to_string(),
        kind: kind.to_string(),
        version: version.to_string(),
    };
    let mut plugins: Vec<openapi::PluginInfo> = worker
        .plugins
        .plugins()
        .iter()
        .map(|p| {
            let kind = serde_json::to_value(p.kind).unwrap_or_default();
            info(
                &p.class_name,
                kind.as_str().unwrap_or("unknown"),
                &p.version,
            )
        })
        .collect();
    if !connectors_only {
        let version = env!("CARGO_PKG_VERSION");
        for class in [
            "org.apache.kafka.connect.converters.ByteArrayConverter",
            "org.apache.kafka.connect.storage.StringConverter",
            "org.apache.kafka.connect.json.JsonConverter",
        ] {
            plugins.push(info(class, "converter", version));
        }
        plugins.push(info(
            "org.apache.kafka.connect.storage.SimpleHeaderConverter",
            "header_converter",
            version,
        ));
        for transform in worker.plugins.transforms() {
            plugins.push(info(
                &transform.class_name,
                transform.plugin_type.rest_name(),
                &transform.version,
            ));
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

#[utoipa::path(get, path = "/connector-plugins/{class}/config", tag = "plugins", params(("class" = String, Path, description = "A plugin's class name or alias")), responses((status = 200, description = "The plugin's config keys", body = Vec<validation::ConfigKeyInfo>)))]
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

#[utoipa::path(put, path = "/connector-plugins/{class}/config/validate", tag = "plugins", params(("class" = String, Path, description = "A plugin's class name or alias")), request_body = BTreeMap<String, String>, responses((status = 200, description = "Each key's value and errors, secrets [hidden]", body = validation::ConfigInfos)))]
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
    fn query_values_are_percent_decoded() {
        assert!(flag(&query("includeTasks=%74rue"), "includeTasks").unwrap());
        assert_eq!(
            query_pairs(&query("expand=st%61tus&a+b=c%20d")),
            [
                ("expand".to_string(), "status".to_string()),
                ("a b".to_string(), "c d".to_string())
            ]
        );
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
