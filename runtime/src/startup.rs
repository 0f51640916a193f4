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
    /// The bound REST listeners (`listeners`, then `admin.listeners`).
    pub listeners: Vec<BoundListener>,
    /// Kafka's cluster id, for `GET /`.
    pub kafka_cluster_id: String,
    /// The REST API's users, when authentication is on.
    pub authenticator: Option<Arc<rest::auth::Authenticator>>,
}

/// One bound REST listener and what it serves.
pub struct BoundListener {
    /// The URL from the worker config.
    pub url: String,
    /// The socket.
    pub socket: tokio::net::TcpListener,
    /// TLS, for an `https://` URL.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The API, `/admin/*`, or both.
    pub scope: rest::Scope,
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
    let setting = |message: String| StartupError::Setting {
        path: worker_config.to_path_buf(),
        message,
    };
    let tls = |https: &Option<crate::config::HttpsConfig>| {
        https
            .as_ref()
            .map(rest::tls::server_config)
            .transpose()
            .map_err(setting)
    };
    let (main_tls, admin_tls) = (tls(&config.https)?, tls(&config.admin_https)?);
    if let Some(authenticator) = &authenticator {
        let asks_for_certificates = |https: &Option<crate::config::HttpsConfig>| {
            https
                .as_ref()
                .is_some_and(|h| h.client_auth != crate::config::ClientAuth::None)
        };
        if authenticator.uses_certificates()
            && !asks_for_certificates(&config.https)
            && !asks_for_certificates(&config.admin_https)
        {
            return Err(setting("rest.auth.users.file lists certificates, but no https:// listener asks for client certificates: set listeners.https.ssl.client.auth to requested or required".into()));
        }
    }
    let plugins = load_plugins(&config);
    let address = config.worker_id();
    let mut listeners = Vec::new();
    let admin_on_main = config.admin_listeners.is_none();
    let planned = config
        .listeners
        .iter()
        .map(|url| {
            (
                url,
                &main_tls,
                rest::Scope {
                    api: true,
                    admin: admin_on_main,
                },
            )
        })
        .chain(config.admin_listeners.iter().flatten().map(|url| {
            (
                url,
                &admin_tls,
                rest::Scope {
                    api: false,
                    admin: true,
                },
            )
        }));
    for (url, tls, scope) in planned {
        let tls = if url.starts_with("https://") {
            tls.clone()
        } else {
            None
        };
        listeners.push(BoundListener {
            url: url.clone(),
            socket: bind(&crate::config::listener_address(url), worker_config).await?,
            tls,
            scope,
        });
    }
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
    crate::worker::kafka_watch::spawn(worker.clone());
    Ok(Started {
        worker,
        listeners,
        kafka_cluster_id,
        authenticator,
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
        listeners,
        kafka_cluster_id,
        authenticator,
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
    let mut servers = tokio::task::JoinSet::new();
    let mut handles = Vec::new();
    for listener in listeners {
        let handle = axum_server::Handle::new();
        handles.push(handle.clone());
        let app = rest::router(state.clone(), listener.scope)
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let socket = listener.socket.into_std().map_err(StartupError::Serve)?;
        let mut server = axum_server::from_tcp(socket)
            .map_err(StartupError::Serve)?
            .handle(handle);
        // A client that sends its headers slower than this is cut off (slowloris).
        server
            .http_builder()
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(REQUEST_HEADER_TIMEOUT);
        tracing::info!(url = %listener.url, api = listener.scope.api, admin = listener.scope.admin, "REST API listening");
        match listener.tls {
            None => servers.spawn(async move { server.serve(app).await }),
            Some(tls) => servers.spawn(async move {
                server
                    .acceptor(rest::tls::ClientIdentityAcceptor::new(tls))
                    .serve(app)
                    .await
            }),
        };
    }
    tokio::select! {
        _ = shutdown_signal() => {
            for handle in &handles {
                handle.graceful_shutdown(Some(Duration::from_secs(5)));
            }
            while servers.join_next().await.is_some() {}
        }
        Some(ended) = servers.join_next() => {
            // A listener only ends on its own when it fails.
            ended?.map_err(StartupError::Serve)?;
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

/// How long a client may take to send a request's headers.
const REQUEST_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

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
