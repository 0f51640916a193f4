//! The worker: the one place that starts and stops connectors and tasks, for both modes.
//!
//! Herders decide what runs here; the worker runs it. Every connector instance lives on its own
//! thread with each call bounded by `connector.call.timeout.ms` (`connector`), every task on a
//! thread of its own with its own Kafka producer or consumer (`task`). Nothing here runs on the
//! REST server's runtime, so a stuck connector cannot freeze the API.

pub mod chain;
pub mod connector;
pub mod control;
pub mod converter;
mod dead_letter;
pub mod kafka_watch;
pub mod offset_tracker;
mod sink;
mod source;
pub mod task;

use std::sync::Arc;
use std::time::Duration;

use ferry_api::ConfigMap;

use crate::config::{resolve_config, ConnectorKeys, WorkerConfig};
use crate::metrics::Metrics;
use crate::plugins::{ConnectorEvents, Plugin, PluginRegistry};
use crate::status::StatusBoard;
use crate::store::OffsetStore;

/// What this worker process has: its config, plugins, stores and boards.
pub struct Worker {
    /// The worker's configuration.
    pub config: WorkerConfig,
    /// Loaded connector plugins.
    pub plugins: PluginRegistry,
    /// Source offsets in Kafka.
    pub offsets: Arc<OffsetStore>,
    /// Statuses of everything this worker runs.
    pub status: Arc<StatusBoard>,
    /// Counters for `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// For the few async Kafka calls made from task threads (offset writes).
    pub runtime: tokio::runtime::Handle,
}

pub use connector::{ConnectorCallError, ConnectorHandle};
pub use task::{TaskHandle, TaskSpec};

pub use crate::status::TargetState;

impl TargetState {
    /// What the tasks of a connector in this state do.
    pub fn task_target(self) -> control::TaskTarget {
        match self {
            TargetState::Running => control::TaskTarget::Running,
            TargetState::Paused => control::TaskTarget::Paused,
            TargetState::Stopped => control::TaskTarget::Stopping,
        }
    }
}

impl Worker {
    /// A worker with no plugins, offsets in memory and Kafka nowhere, for unit tests of the
    /// herders above it.
    #[cfg(test)]
    pub(crate) fn for_tests(runtime: tokio::runtime::Handle) -> Arc<Worker> {
        let config =
            WorkerConfig::parse("bootstrap.servers: 127.0.0.1:1", std::path::Path::new("."))
                .expect("a minimal worker config");
        Arc::new(Worker {
            config,
            plugins: PluginRegistry::scan(&[]).0,
            offsets: Arc::new(OffsetStore::in_memory()),
            status: Arc::new(StatusBoard::new("127.0.0.1:8083".into())),
            metrics: Arc::new(Metrics::default()),
            runtime,
        })
    }

    /// This worker's id (`host:port` of its REST listener).
    pub fn id(&self) -> &str {
        self.status.worker_id()
    }

    /// The plugin a connector config names, if it is on this worker's `plugin.path`.
    pub fn plugin_for(&self, config: &ConfigMap) -> Option<Arc<Plugin>> {
        self.plugins
            .find(crate::config::connector::connector_class(config))
    }

    /// Creates and starts connector `name`, bounded by `connector.call.timeout.ms`.
    pub fn start_connector(
        &self,
        plugin: Arc<Plugin>,
        name: &str,
        events: Arc<dyn ConnectorEvents>,
        config: &ConfigMap,
    ) -> Result<ConnectorHandle, ConnectorCallError> {
        ConnectorHandle::start(
            plugin,
            name,
            events,
            config,
            self.config.connector_call_timeout,
        )
    }

    /// Stops a connector instance, logging what went wrong (a stop that fails or hangs leaves
    /// nothing to do but go on).
    pub fn stop_connector(&self, name: &str, connector: ConnectorHandle) {
        if let Err(error) = connector.stop() {
            tracing::warn!(connector = name, %error, "connector stop failed");
        }
    }

    /// The spec of task `task` of connector `name`: runtime keys parsed, config provider
    /// references resolved (for running code only).
    pub fn task_spec(
        &self,
        name: &str,
        task: u32,
        plugin: Arc<Plugin>,
        connector_config: &ConfigMap,
        task_config: &ConfigMap,
    ) -> Result<TaskSpec, String> {
        let resolved = resolve_config(connector_config).map_err(|e| e.to_string())?;
        Ok(TaskSpec {
            connector: name.to_string(),
            task,
            keys: ConnectorKeys::parse_stored(&resolved, plugin.kind)?,
            plugin,
            task_config: resolve_config(task_config).map_err(|e| e.to_string())?,
        })
    }

    /// Starts a task thread in `target` state.
    pub fn start_task(self: &Arc<Self>, spec: TaskSpec, target: TargetState) -> TaskHandle {
        task::spawn(self.clone(), spec, target.task_target())
    }

    /// Stops tasks in parallel, each within `task.shutdown.graceful.timeout.ms`.
    pub fn stop_tasks(&self, tasks: Vec<TaskHandle>) {
        let timeout = self.config.task_shutdown_graceful_timeout;
        stop_all(tasks, timeout);
    }
}

fn stop_all(tasks: Vec<TaskHandle>, timeout: Duration) {
    for task in &tasks {
        task.set_target(control::TaskTarget::Stopping);
    }
    let stopping: Vec<_> = tasks
        .into_iter()
        .map(|task| std::thread::spawn(move || task.stop(timeout)))
        .collect();
    for handle in stopping {
        let _ = handle.join();
    }
}
