//! `/admin/loggers`: read and change log levels at runtime. Logger names are `tracing` targets
//! (`ferry_runtime::worker`, `ferry::plugin`, ...) and `root`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::openapi::{LoggerLevel, SetLevel};
use super::{parse_body, ApiError, RestState};

/// Applies a filter directive string such as `info,ferry_runtime::worker=debug`.
pub type ApplyFilter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Logger name → (level, when it was last set, in ms since the epoch).
type Levels = BTreeMap<String, (String, Option<u64>)>;

/// The levels set so far, and how to apply them to the running subscriber.
#[derive(Clone)]
pub struct LogLevels {
    levels: Arc<Mutex<Levels>>,
    apply: Arc<ApplyFilter>,
}

const LEVELS: &[&str] = &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"];

impl LogLevels {
    /// Starts from the root level in effect.
    pub fn new(root: &str, apply: ApplyFilter) -> Self {
        let mut levels = BTreeMap::new();
        levels.insert("root".to_string(), (root.to_uppercase(), None));
        LogLevels {
            levels: Arc::new(Mutex::new(levels)),
            apply: Arc::new(apply),
        }
    }

    fn snapshot(&self) -> Levels {
        self.levels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, logger: &str, level: &str) -> Result<(), String> {
        let mut levels = self.levels.lock().unwrap_or_else(|e| e.into_inner());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut next = levels.clone();
        next.insert(logger.to_string(), (level.to_string(), Some(now)));
        let directives: Vec<String> = next
            .iter()
            .map(|(name, (level, _))| {
                let level = level.to_lowercase();
                if name == "root" {
                    level
                } else {
                    format!("{name}={level}")
                }
            })
            .collect();
        (self.apply)(&directives.join(","))?;
        *levels = next;
        Ok(())
    }
}

fn entry(level: &str, modified: Option<u64>) -> LoggerLevel {
    LoggerLevel {
        level: level.to_string(),
        last_modified: modified,
    }
}

#[utoipa::path(get, path = "/admin/loggers", tag = "admin", responses((status = 200, description = "Every logger set so far, and root", body = BTreeMap<String, LoggerLevel>)))]
pub(super) async fn list(State(state): State<Arc<RestState>>) -> Response {
    let levels: BTreeMap<String, LoggerLevel> = state
        .log_levels
        .snapshot()
        .into_iter()
        .map(|(name, (level, modified))| (name, entry(&level, modified)))
        .collect();
    Json(levels).into_response()
}

#[utoipa::path(get, path = "/admin/loggers/{logger}", tag = "admin", params(("logger" = String, Path, description = "A tracing target, or root")), responses((status = 200, description = "Its level", body = LoggerLevel)))]
pub(super) async fn get(
    State(state): State<Arc<RestState>>,
    Path(logger): Path<String>,
) -> Result<Response, ApiError> {
    let levels = state.log_levels.snapshot();
    let (level, modified) = levels.get(&logger).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("Logger {logger} not found."))
    })?;
    Ok(Json(entry(level, *modified)).into_response())
}

#[utoipa::path(put, path = "/admin/loggers/{logger}", tag = "admin", params(("logger" = String, Path, description = "A tracing target, or root")), request_body = SetLevel, responses((status = 200, description = "The loggers changed", body = Vec<String>)))]
pub(super) async fn set(
    State(state): State<Arc<RestState>>,
    Path(logger): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: SetLevel = serde_json::from_value(parse_body(&body)?).map_err(|e| {
        ApiError::bad_request(format!(
            "Request body must be {{\"level\": ...}} with one of {}: {e}",
            LEVELS.join(", ")
        ))
    })?;
    // A name is one tracing target (`ferry_runtime::worker`); anything else would be read as
    // more filter directives than the one asked for.
    let target_like = |c: char| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.');
    if logger.is_empty() || !logger.chars().all(target_like) {
        return Err(ApiError::bad_request(format!(
            "Logger name `{logger}` is not a logger: use a target such as ferry_runtime::worker, or root"
        )));
    }
    let level = Some(request.level.to_uppercase())
        .filter(|l| LEVELS.contains(&l.as_str()))
        .ok_or_else(|| {
            ApiError::bad_request(format!("level must be one of {}", LEVELS.join(", ")))
        })?;
    state
        .log_levels
        .set(&logger, &level)
        .map_err(ApiError::bad_request)?;
    Ok(Json(json!([logger])).into_response())
}
