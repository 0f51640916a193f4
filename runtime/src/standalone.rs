//! `ferry standalone`: one worker that runs every connector itself, keeps source offsets in
//! Kafka and connector configs in its state directory, and serves the REST API.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_api::ConfigMap;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::config::WorkerConfig;
use crate::herder::status::StatusBoard;
use crate::herder::Herder;
use crate::metrics::Metrics;
use crate::plugins::PluginRegistry;
use crate::rest::{self, LogLevels, RestState};
use crate::store::{ConnectorFileStore, OffsetStore};
use crate::worker::WorkerContext;

/// Why the worker could not start; each message says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(pub String);

/// Runs a standalone worker until SIGTERM or Ctrl-C, then stops tasks, commits, and returns.
pub async fn run(
    worker_config: &Path,
    connector_files: &[PathBuf],
    log_levels: LogLevels,
) -> Result<(), StartupError> {
    let config = WorkerConfig::load(worker_config).map_err(|e| StartupError(e.to_string()))?;
    let connectors = connector_files
        .iter()
        .map(|path| read_connector_file(path))
        .collect::<Result<Vec<_>, _>>()?;

    let plugins = load_plugins(&config);
    let address = config.worker_id();
    let listener = bind(&address, worker_config).await?;
    let cluster_id = kafka_cluster_id(&config).await?;
    let offsets = OffsetStore::open(&config)
        .await
        .map_err(|e| StartupError(e.to_string()))?;
    let store =
        ConnectorFileStore::open(&config.state_dir).map_err(|e| StartupError(e.to_string()))?;
    let shutdown_timeout = config.task_shutdown_graceful_timeout;
    let context = Arc::new(WorkerContext {
        status: Arc::new(StatusBoard::new(address.clone())),
        config,
        plugins,
        offsets: Arc::new(offsets),
        metrics: Arc::new(Metrics::default()),
        runtime: tokio::runtime::Handle::current(),
    });
    let herder = Arc::new(Herder::new(context, store));
    let starter = herder.clone();
    let problems = tokio::task::spawn_blocking(move || starter.start_connectors(connectors))
        .await
        .map_err(|e| StartupError(e.to_string()))?;
    for problem in problems {
        tracing::error!("{problem}");
    }

    let state = Arc::new(RestState {
        herder: herder.clone(),
        kafka_cluster_id: cluster_id,
        log_levels,
    });
    serve(listener, state, herder, shutdown_timeout).await
}

/// Scans `plugin.path`, logging what loaded and why anything was skipped.
pub(crate) fn load_plugins(config: &WorkerConfig) -> PluginRegistry {
    let (plugins, failures) = PluginRegistry::scan(&config.plugin_path);
    for failure in &failures {
        tracing::warn!("{failure}");
    }
    for plugin in plugins.plugins() {
        tracing::info!(class = %plugin.class_name, version = %plugin.version, path = %plugin.path.display(), "loaded connector plugin");
    }
    if plugins.plugins().is_empty() {
        tracing::warn!(plugin_path = ?config.plugin_path, "no connector plugins found; set plugin.path to the directories holding connector libraries");
    }
    plugins
}

/// Binds the REST listener before anything else touches Kafka, so a busy port fails fast and
/// clearly.
pub(crate) async fn bind(
    address: &str,
    worker_config: &Path,
) -> Result<tokio::net::TcpListener, StartupError> {
    tokio::net::TcpListener::bind(address).await.map_err(|e| {
        StartupError(format!(
            "cannot listen on {address} (listeners): {e}; stop what uses it or change `listeners` in {}",
            worker_config.display()
        ))
    })
}

/// Serves the REST API until SIGTERM or Ctrl-C, then stops the herder's connectors.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<RestState>,
    herder: Arc<Herder>,
    shutdown_timeout: Duration,
) -> Result<(), StartupError> {
    tracing::info!(address = %herder.context().status.worker_id(), "REST API listening");
    axum::serve(listener, rest::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| StartupError(format!("REST server failed: {e}")))?;

    tracing::info!("stopping connectors");
    let stopping = tokio::task::spawn_blocking(move || herder.shutdown());
    // Each task has the graceful timeout; connectors stop in parallel. Bound the whole.
    if tokio::time::timeout(shutdown_timeout * 2 + Duration::from_secs(5), stopping)
        .await
        .is_err()
    {
        tracing::warn!("some connectors did not stop in time; exiting anyway");
    }
    tracing::info!("worker stopped");
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown requested");
}

pub(crate) async fn kafka_cluster_id(config: &WorkerConfig) -> Result<String, StartupError> {
    let client = config.kafka_client();
    let servers = config.bootstrap_servers.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client
            .create()
            .map_err(|e| StartupError(format!("cannot create a Kafka client: {e}")))?;
        consumer
            .client()
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(|e| {
                StartupError(format!(
                    "cannot reach Kafka at {servers} (bootstrap.servers): {e}; is the broker up?"
                ))
            })?;
        Ok(consumer
            .client()
            .fetch_cluster_id(Duration::from_secs(10))
            .unwrap_or_default())
    })
    .await
    .map_err(|e| StartupError(e.to_string()))?
}

/// A connector file: Kafka Connect's REST body (`{"name", "config"}`) or a flat config with
/// `name`, in JSON or YAML.
pub fn read_connector_file(path: &Path) -> Result<(String, ConfigMap), StartupError> {
    let fail = |why: String| StartupError(format!("{}: {why}", path.display()));
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
