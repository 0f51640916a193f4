//! `ferry standalone`: one worker that runs every connector itself, keeps source offsets in
//! Kafka and connector configs in its state directory, and serves the REST API.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_api::ConfigMap;

use crate::herder::standalone::StandaloneHerder;
use crate::rest::LogLevels;
use crate::startup::{self, StartupError};
use crate::store::ConnectorFileStore;

/// Runs a standalone worker until SIGTERM or Ctrl-C, then stops tasks, commits, and returns.
pub async fn run(
    worker_config: &Path,
    connector_files: &[PathBuf],
    log_levels: LogLevels,
) -> Result<(), StartupError> {
    let connectors = connector_files
        .iter()
        .map(|path| read_connector_file(path))
        .collect::<Result<Vec<_>, _>>()?;
    let started = startup::start(worker_config, |config| {
        match config.cluster.secrets_key {
            // The standalone state file is the worker user's alone (0600); there is no topic.
            Some(_) => Err("config.storage.secrets.key seals secrets in a distributed cluster's config topic; a standalone worker keeps configs in its 0600 state file: remove the key, or run `ferry distributed`".into()),
            None => Ok(()),
        }
    })
    .await?;
    let store = ConnectorFileStore::open(&started.worker.config.state_dir)?;
    let herder = Arc::new(StandaloneHerder::new(
        started.worker.clone(),
        Box::new(store),
    ));
    let starter = herder.clone();
    let problems =
        tokio::task::spawn_blocking(move || starter.start_connectors(connectors)).await?;
    for problem in problems {
        tracing::error!("{problem}");
    }
    startup::serve(started, herder, log_levels).await
}

/// A connector file: Kafka Connect's REST body (`{"name", "config"}`) or a flat config with
/// `name`, in JSON or YAML.
pub fn read_connector_file(path: &Path) -> Result<(String, ConfigMap), StartupError> {
    let fail = |message: String| StartupError::ConnectorFile {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let value: serde_json::Value =
        serde_yaml::from_str(&text).map_err(|e| fail(format!("not JSON or YAML: {e}")))?;
    let config_value = if value.get("config").is_some() {
        &value["config"]
    } else {
        &value
    };
    let config: ConfigMap = config_value
        .as_object()
        .ok_or_else(|| fail("expected {\"name\": ..., \"config\": {...}}".into()))?
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    let name = value["name"]
        .as_str()
        .map(str::to_string)
        .or_else(|| config.get("name").cloned())
        .ok_or_else(|| fail("the connector has no \"name\"".into()))?;
    Ok((name, config))
}
