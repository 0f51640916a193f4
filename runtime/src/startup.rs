//! Start-up and shutdown shared by both modes (Kafka Connect's `AbstractConnectCli`): read the
//! worker config, load the plugins, bind the REST listener before touching Kafka, check that
//! Kafka answers, open the offsets store, then serve until SIGTERM or Ctrl-C and stop the
//! herder's work. Each mode only says which herder to create.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::config::{ConfigError, WorkerConfig};
use crate::herder::Herder;
use crate::metrics::Metrics;
use crate::plugins::PluginRegistry;
use crate::rest::{self, LogLevels, RestState};
use crate::status::StatusBoard;
use crate::store::{OffsetStore, StoreError};
use crate::worker::Worker;

/// Why the worker could not start; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The worker config is unreadable or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A setting the mode needs is missing or wrong.
    #[error("{path}: {message}")]
    Setting {
        /// The worker config file.
        path: PathBuf,
        /// What to set.
        message: String,
    },
    /// A connector file given on the command line.
    #[error("{path}: {message}")]
    ConnectorFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The REST listener's address is taken or invalid.
    #[error("cannot listen on {address} (listeners): {source}; stop what uses it or change `listeners` in {path}")]
    Bind {
        /// The address.
        address: String,
        /// The worker config file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Kafka does not answer.
    #[error("cannot reach Kafka at {servers} (bootstrap.servers): {source}; is the broker up?")]
    Kafka {
        /// `bootstrap.servers`.
        servers: String,
        /// librdkafka's error.
        source: rdkafka::error::KafkaError,
    },
    /// An internal topic or local store cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cluster could not be joined.
    #[error("{0}")]
    Cluster(String),
    /// The REST server failed.
    #[error("REST server failed: {0}")]
    Serve(std::io::Error),
    /// A start-up step panicked or was cancelled.
    #[error("start-up step failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// What both modes have once the shared start-up steps are done.
pub struct Started {
    /// The worker, ready to run connectors.
    pub worker: Arc<Worker>,
    /// The bound REST listener.
    pub listener: tokio::net::TcpListener,
    /// Kafka's cluster id, for `GET /`.
    pub kafka_cluster_id: String,
    /// The REST API's users, when authentication is on.
    pub authenticator: Option<Arc<rest::auth::Authenticator>>,
    /// TLS of the REST listener, when it is `https://`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Loads the config, plugins, listener and offsets store; `check` runs on the config first
/// (the distributed mode insists on `group.id`).
pub async fn start(
    worker_config: &Path,
    check: impl FnOnce(&WorkerConfig) -> Result<(), String>,
) -> Result<Started, StartupError> {
    let config = WorkerConfig::load(worker_config)?;
    check(&config).map_err(|message| StartupError::Setting {
        path: worker_config.to_path_buf(),
        message,
    })?;
    let authenticator = match &config.rest_auth {
        Some(auth) => Some(Arc::new(
            rest::auth::Authenticator::load(&auth.users_file, auth.health_open).map_err(
                |message| StartupError::Setting {
                    path: worker_config.to_path_buf(),
                    message: format!("rest.auth.users.file: {message}"),
                },
            )?,
        )),
        None => None,
    };
    let tls = match &config.https {
        Some(https) => {
            Some(
                rest::tls::server_config(https).map_err(|message| StartupError::Setting {
                    path: worker_config.to_path_buf(),
                    message,
                })?,
            )
        }
        None => None,
    };
    let plugins = load_plugins(&config);
    let address = config.worker_id();
    let listener = bind(&address, worker_config).await?;
    let kafka_cluster_id = kafka_cluster_id(&config).await?;
    let offsets = OffsetStore::open(&config).await?;
    let worker = Arc::new(Worker {
        status: Arc::new(StatusBoard::new(address)),
        config,
        plugins,
        offsets: Arc::new(offsets),
        metrics: Arc::new(Metrics::default()),
        runtime: tokio::runtime::Handle::current(),
    });
    Ok(Started {
        worker,
        listener,
        kafka_cluster_id,
        authenticator,
        tls,
    })
}

/// Scans `plugin.path`, logging what loaded and why anything was skipped.
fn load_plugins(config: &WorkerConfig) -> PluginRegistry {
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
async fn bind(
    address: &str,
    worker_config: &Path,
) -> Result<tokio::net::TcpListener, StartupError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| StartupError::Bind {
            address: address.to_string(),
            path: worker_config.to_path_buf(),
            source,
        })
}

async fn kafka_cluster_id(config: &WorkerConfig) -> Result<String, StartupError> {
    let client = config.kafka_client();
    let servers = config.bootstrap_servers.clone();
    tokio::task::spawn_blocking(move || {
        let unreachable = |source| StartupError::Kafka {
            servers: servers.clone(),
            source,
        };
        let consumer: BaseConsumer = client.create().map_err(unreachable)?;
        consumer
            .client()
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(unreachable)?;
        Ok(consumer
            .client()
            .fetch_cluster_id(Duration::from_secs(10))
            .unwrap_or_default())
    })
    .await?
}

/// Serves the REST API until SIGTERM or Ctrl-C, then stops the herder's connectors.
pub async fn serve(
    started: Started,
    herder: Arc<dyn Herder>,
    log_levels: LogLevels,
) -> Result<(), StartupError> {
    let Started {
        worker,
        listener,
        kafka_cluster_id,
        authenticator,
        tls,
    } = started;
    if authenticator.is_none() {
        tracing::warn!("the REST API has no authentication: anyone who reaches it may create connectors (set rest.auth.users.file)");
    }
    let state = Arc::new(RestState {
        herder: herder.clone(),
        kafka_cluster_id,
        log_levels,
        authenticator,
    });
    tracing::info!(address = %worker.id(), "REST API listening");
    let app = rest::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    match tls {
        None => axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(StartupError::Serve)?,
        Some(tls) => {
            let handle = axum_server::Handle::new();
            tokio::spawn({
                let handle = handle.clone();
                async move {
                    shutdown_signal().await;
                    handle.graceful_shutdown(Some(Duration::from_secs(5)));
                }
            });
            let listener = listener.into_std().map_err(StartupError::Serve)?;
            axum_server::from_tcp_rustls(
                listener,
                axum_server::tls_rustls::RustlsConfig::from_config(tls),
            )
            .map_err(StartupError::Serve)?
            .handle(handle)
            .serve(app)
            .await
            .map_err(StartupError::Serve)?
        }
    }

    tracing::info!("stopping connectors");
    let shutdown_timeout = worker.config.task_shutdown_graceful_timeout;
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
