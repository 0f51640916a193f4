//! Who runs what. The standalone herder runs every connector on this worker and keeps their
//! configs in the state directory; in distributed mode it validates requests and hands them to
//! the cluster (`crate::distributed`). The REST API calls it.
//!
//! No lock is held while plugin code runs: writes update the config map, persist it, and queue a
//! command for the connector's own thread (see `connector`).

pub mod connector;
pub mod status;
pub mod validation;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ferry_api::{ConfigMap, SourceOffset};
use serde::Serialize;
use serde_json::{json, Value};

use connector::{Command, ConnectorRunner, TargetState};
use status::{ConnectorStatus, InstanceStatus, State};
use validation::ConfigInfos;

use crate::distributed::Cluster;
use crate::plugins::{ConnectorType, Plugin};
use crate::store::{group_offsets, ConnectorFileStore, StoredConnector};
use crate::worker::WorkerContext;

/// Why a request was refused; maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum HerderError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 500.
    #[error("{0}")]
    Internal(String),
}

type Result<T> = std::result::Result<T, HerderError>;

/// `{connector, task}`.
#[derive(Debug, Clone, Serialize)]
pub struct TaskId {
    pub connector: String,
    pub task: u32,
}

/// Kafka Connect's ConnectorInfo.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorInfo {
    pub name: String,
    pub config: ConfigMap,
    pub tasks: Vec<TaskId>,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
}

/// Kafka Connect's connector status body.
#[derive(Debug, Clone, Serialize)]
pub struct StatusInfo {
    pub name: String,
    pub connector: InstanceStatus,
    pub tasks: Vec<TaskStatusInfo>,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
}

impl StatusInfo {
    /// Marks what a restart request selects as RESTARTING (Kafka Connect's plan: the connector
    /// unless `only_failed` and it did not fail; with `include_tasks` its tasks, or only the
    /// failed ones); returns whether the connector was selected, and the task ids.
    pub fn mark_restarting(&mut self, include_tasks: bool, only_failed: bool) -> (bool, Vec<u32>) {
        let selected = |s: &InstanceStatus| !only_failed || s.state == State::Failed;
        let connector = selected(&self.connector);
        if connector {
            self.connector.state = State::Restarting;
            self.connector.trace = None;
        }
        let mut tasks = Vec::new();
        for task in self
            .tasks
            .iter_mut()
            .filter(|t| include_tasks && selected(&t.status))
        {
            task.status.state = State::Restarting;
            task.status.trace = None;
            tasks.push(task.id);
        }
        (connector, tasks)
    }
}

/// A task's status with its id.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStatusInfo {
    pub id: u32,
    #[serde(flatten)]
    pub status: InstanceStatus,
}

/// A task's configuration, as `GET /connectors/{name}/tasks` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskInfo {
    pub id: TaskId,
    pub config: ConfigMap,
}

impl TaskInfo {
    /// The tasks of connector `name`, numbered in order.
    pub fn list(name: &str, configs: Vec<ConfigMap>) -> Vec<TaskInfo> {
        configs
            .into_iter()
            .enumerate()
            .map(|(task, config)| TaskInfo {
                id: TaskId {
                    connector: name.to_string(),
                    task: task as u32,
                },
                config,
            })
            .collect()
    }
}

struct Entry {
    config: ConfigMap,
    target: TargetState,
    plugin: Option<Arc<Plugin>>,
    runner: Option<ConnectorRunner>,
}

/// The herder.
pub struct Herder {
    context: Arc<WorkerContext>,
    /// Standalone: where configs persist.
    store: Option<ConnectorFileStore>,
    connectors: Mutex<BTreeMap<String, Entry>>,
    /// Distributed: the cluster answers instead of `connectors`.
    cluster: Option<Arc<Cluster>>,
}

impl Herder {
    /// A herder over `context`, persisting configs in `store`.
    pub fn new(context: Arc<WorkerContext>, store: ConnectorFileStore) -> Self {
        Herder {
            context,
            store: Some(store),
            connectors: Mutex::new(BTreeMap::new()),
            cluster: None,
        }
    }

    /// A herder for a distributed worker: validation here, the rest in `cluster`.
    pub fn distributed(context: Arc<WorkerContext>, cluster: Arc<Cluster>) -> Self {
        Herder {
            context,
            store: None,
            connectors: Mutex::new(BTreeMap::new()),
            cluster: Some(cluster),
        }
    }

    /// The worker's shared context.
    pub fn context(&self) -> &Arc<WorkerContext> {
        &self.context
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.connectors.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn persist(&self, connectors: &BTreeMap<String, Entry>) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let stored = connectors
            .iter()
            .map(|(name, entry)| {
                let target = serde_json::to_value(entry.target).unwrap_or_default();
                (
                    name.clone(),
                    StoredConnector {
                        config: entry.config.clone(),
                        target_state: target.as_str().unwrap_or("RUNNING").to_string(),
                    },
                )
            })
            .collect();
        store
            .save(&stored)
            .map_err(|e| HerderError::Internal(e.to_string()))
    }

    /// Starts the stored connectors, then those given on the command line (which replace stored
    /// ones of the same name). Invalid ones are reported and skipped; the worker keeps running.
    pub fn start_connectors(&self, from_files: Vec<(String, ConfigMap)>) -> Vec<String> {
        let mut problems = Vec::new();
        let Some(store) = &self.store else {
            return problems;
        };
        let stored = match store.load() {
            Ok(stored) => stored,
            Err(e) => {
                problems.push(e.to_string());
                BTreeMap::new()
            }
        };
        for (name, connector) in stored {
            let target = serde_json::from_value(Value::String(connector.target_state))
                .unwrap_or(TargetState::Running);
            self.start_entry(name, connector.config, target, false);
        }
        for (name, config) in from_files {
            if let Err(e) = self.put_config(&name, config) {
                problems.push(format!("connector {name}: {e}"));
            }
        }
        problems
    }

    /// Records a connector and starts its thread; no validation (callers validated).
    fn start_entry(&self, name: String, config: ConfigMap, target: TargetState, persist: bool) {
        let class = config.get("connector.class").cloned().unwrap_or_default();
        let plugin = self.context.plugins.find(&class);
        let runner = plugin.clone().map(|plugin| {
            ConnectorRunner::start(
                self.context.clone(),
                name.clone(),
                plugin,
                config.clone(),
                target,
            )
        });
        if plugin.is_none() {
            self.context.status.set_connector(
                &name,
                ConnectorType::Source,
                State::Failed,
                Some(format!("connector class {class} is not on plugin.path; add its library there and restart the worker")),
            );
        }
        let mut connectors = self.lock();
        connectors.insert(
            name,
            Entry {
                config,
                target,
                plugin,
                runner,
            },
        );
        if persist {
            let _ = self.persist(&connectors);
        }
    }

    /// Stops every connector (in parallel) for shutdown.
    pub fn shutdown(&self) {
        if let Some(cluster) = &self.cluster {
            return cluster.shutdown();
        }
        let runners: Vec<ConnectorRunner> = self
            .lock()
            .values_mut()
            .filter_map(|e| e.runner.take())
            .collect();
        let stopping: Vec<_> = runners
            .into_iter()
            .map(|runner| std::thread::spawn(move || runner.shutdown()))
            .collect();
        for handle in stopping {
            let _ = handle.join();
        }
    }

    /// Connector names, sorted.
    pub fn connectors(&self) -> Vec<String> {
        if let Some(cluster) = &self.cluster {
            return cluster.connectors();
        }
        self.lock().keys().cloned().collect()
    }

    fn not_found(name: &str) -> HerderError {
        HerderError::NotFound(format!("Connector {name} not found"))
    }

    /// Kafka Connect's ConnectorInfo.
    pub fn info(&self, name: &str) -> Result<ConnectorInfo> {
        if let Some(cluster) = &self.cluster {
            return cluster.info(name);
        }
        let connectors = self.lock();
        let entry = connectors.get(name).ok_or_else(|| Self::not_found(name))?;
        let tasks = entry
            .runner
            .as_ref()
            .map(|r| {
                r.view
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .task_configs
                    .len()
            })
            .unwrap_or(0);
        Ok(ConnectorInfo {
            name: name.to_string(),
            config: entry.config.clone(),
            tasks: (0..tasks as u32)
                .map(|task| TaskId {
                    connector: name.to_string(),
                    task,
                })
                .collect(),
            kind: entry
                .plugin
                .as_ref()
                .map_or(ConnectorType::Source, |p| p.kind),
        })
    }

    /// The plugin for a config, or a 400 naming the field and the plugins available.
    fn plugin_for(&self, config: &ConfigMap) -> Result<Arc<Plugin>> {
        let class = config
            .get("connector.class")
            .map(|c| c.trim())
            .unwrap_or("");
        if class.is_empty() {
            return Err(HerderError::BadRequest(
                "Connector config is missing connector.class; set it to a plugin's class name or alias (GET /connector-plugins lists them)".into(),
            ));
        }
        self.context.plugins.find(class).ok_or_else(|| {
            let available: Vec<&str> = self
                .context
                .plugins
                .plugins()
                .iter()
                .map(|p| p.class_name.as_str())
                .collect();
            HerderError::BadRequest(format!(
                "Failed to find any class that implements Connector and which name matches {class}, available connectors are: {}",
                available.join(", ")
            ))
        })
    }

    /// Validates a config for `plugin`.
    pub fn validate(&self, plugin: &Plugin, config: &ConfigMap) -> ConfigInfos {
        validation::validate(plugin, config)
    }

    fn checked(&self, name: &str, mut config: ConfigMap) -> Result<(Arc<Plugin>, ConfigMap)> {
        config.insert("name".into(), name.to_string());
        let plugin = self.plugin_for(&config)?;
        let infos = self.validate(&plugin, &config);
        if infos.error_count > 0 {
            let lines = infos.error_lines();
            return Err(HerderError::BadRequest(format!(
                "Connector configuration is invalid and contains the following {} error(s):\n{}\nYou can also find the above list of errors at the endpoint `/connector-plugins/{{connectorType}}/config/validate`",
                lines.len(),
                lines.join("\n")
            )));
        }
        Ok((plugin, config))
    }

    /// Creates a connector (409 if it exists).
    pub fn create(
        &self,
        name: &str,
        config: ConfigMap,
        initial: TargetState,
    ) -> Result<ConnectorInfo> {
        if name.trim().is_empty() {
            return Err(HerderError::BadRequest(
                "Connector name must not be empty; set \"name\"".into(),
            ));
        }
        if let Some(body_name) = config.get("name") {
            if body_name != name {
                return Err(HerderError::BadRequest(format!(
                    "Connector name configuration ({body_name}) doesn't match connector name in the URL ({name})"
                )));
            }
        }
        if self.lock().contains_key(name) {
            return Err(HerderError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        let (_, config) = self.checked(name, config)?;
        if let Some(cluster) = &self.cluster {
            return cluster.create(name, config, initial);
        }
        self.start_entry(name.to_string(), config, initial, true);
        self.info(name)
    }

    /// Creates or replaces a connector's config; `true` when it was created.
    pub fn put_config(&self, name: &str, config: ConfigMap) -> Result<(bool, ConnectorInfo)> {
        if let Some(body_name) = config.get("name") {
            if body_name != name {
                return Err(HerderError::BadRequest(format!(
                    "Connector name configuration ({body_name}) doesn't match connector name in the URL ({name})"
                )));
            }
        }
        let (plugin, config) = self.checked(name, config)?;
        if let Some(cluster) = &self.cluster {
            return cluster.put_config(name, config);
        }
        let mut connectors = self.lock();
        let Some(entry) = connectors.get_mut(name) else {
            drop(connectors);
            self.start_entry(name.to_string(), config, TargetState::Running, true);
            return Ok((true, self.info(name)?));
        };
        let same_plugin = entry
            .plugin
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, &plugin));
        entry.config = config.clone();
        let replaced = match (&entry.runner, same_plugin) {
            (Some(runner), true) => {
                runner.send(Command::Configure(config.clone()));
                None
            }
            // Another class, or it could not run before: a fresh thread for the new plugin,
            // once the old one is gone (they may share external resources such as client ids).
            _ => Some((entry.runner.take(), entry.target)),
        };
        entry.plugin = Some(plugin.clone());
        self.persist(&connectors)?;
        drop(connectors);
        if let Some((old, target)) = replaced {
            if let Some(old) = old {
                old.shutdown();
            }
            let runner = ConnectorRunner::start(
                self.context.clone(),
                name.to_string(),
                plugin,
                config,
                target,
            );
            if let Some(entry) = self.lock().get_mut(name) {
                entry.runner = Some(runner);
            }
        }
        Ok((false, self.info(name)?))
    }

    /// Merges `patch` into a connector's config (`null` removes a key).
    pub fn patch_config(
        &self,
        name: &str,
        patch: BTreeMap<String, Option<String>>,
    ) -> Result<ConnectorInfo> {
        let mut config = self.config(name)?;
        for (key, value) in patch {
            match value {
                Some(value) => config.insert(key, value),
                None => config.remove(&key),
            };
        }
        self.put_config(name, config).map(|(_, info)| info)
    }

    /// A connector's stored config.
    pub fn config(&self, name: &str) -> Result<ConfigMap> {
        if let Some(cluster) = &self.cluster {
            return cluster.config(name);
        }
        self.lock()
            .get(name)
            .map(|e| e.config.clone())
            .ok_or_else(|| Self::not_found(name))
    }

    /// Kafka Connect's status body.
    pub fn status(&self, name: &str) -> Result<StatusInfo> {
        if let Some(cluster) = &self.cluster {
            return cluster.status(name);
        }
        let kind = {
            let connectors = self.lock();
            let entry = connectors.get(name).ok_or_else(|| Self::not_found(name))?;
            entry
                .plugin
                .as_ref()
                .map_or(ConnectorType::Source, |p| p.kind)
        };
        let status = self
            .context
            .status
            .get(name)
            .unwrap_or_else(|| ConnectorStatus {
                kind,
                connector: InstanceStatus {
                    state: State::Unassigned,
                    worker_id: self.context.status.worker_id().to_string(),
                    trace: None,
                },
                tasks: BTreeMap::new(),
            });
        Ok(StatusInfo {
            name: name.to_string(),
            connector: status.connector,
            tasks: status
                .tasks
                .into_iter()
                .map(|(id, status)| TaskStatusInfo { id, status })
                .collect(),
            kind,
        })
    }

    /// One task's status.
    pub fn task_status(&self, name: &str, task: u32) -> Result<TaskStatusInfo> {
        self.status(name)?
            .tasks
            .into_iter()
            .find(|t| t.id == task)
            .ok_or_else(|| HerderError::NotFound(format!("Task {name}-{task} not found")))
    }

    /// Task configurations.
    pub fn tasks(&self, name: &str) -> Result<Vec<TaskInfo>> {
        if let Some(cluster) = &self.cluster {
            return cluster.tasks(name);
        }
        let connectors = self.lock();
        let entry = connectors.get(name).ok_or_else(|| Self::not_found(name))?;
        let configs = entry
            .runner
            .as_ref()
            .map(|r| {
                r.view
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .task_configs
                    .clone()
            })
            .unwrap_or_default();
        Ok(TaskInfo::list(name, configs))
    }

    fn send(&self, name: &str, command: Command) -> Result<()> {
        let connectors = self.lock();
        let entry = connectors.get(name).ok_or_else(|| Self::not_found(name))?;
        match &entry.runner {
            Some(runner) => {
                runner.send(command);
                Ok(())
            }
            None => Err(HerderError::Conflict(format!(
                "Connector {name} cannot run on this worker: its plugin is missing"
            ))),
        }
    }

    /// Restarts as Kafka Connect does; returns the status to answer with (202) when tasks or
    /// `only_failed` are involved, `None` for a plain connector restart (204).
    pub fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Option<StatusInfo>> {
        if let Some(cluster) = &self.cluster {
            return cluster.restart(name, include_tasks, only_failed);
        }
        let mut status = self.status(name)?;
        if self.target(name)? == TargetState::Stopped {
            // Nothing runs; resume starts it afresh.
            return Ok((include_tasks || only_failed).then_some(status));
        }
        // Mark what restarts before the connector thread acts, so a status read right after this
        // answer never shows the state from before the restart.
        let board = &self.context.status;
        let (connector, tasks) = status.mark_restarting(include_tasks, only_failed);
        if connector {
            board.set_connector(name, status.kind, State::Restarting, None);
        }
        for task in tasks {
            board.set_task(name, task, State::Restarting, None);
        }
        self.send(
            name,
            Command::Restart {
                include_tasks,
                only_failed,
            },
        )?;
        Ok((include_tasks || only_failed).then_some(status))
    }

    /// Restarts one task.
    pub fn restart_task(&self, name: &str, task: u32) -> Result<()> {
        if let Some(cluster) = &self.cluster {
            return cluster.restart_task(name, task);
        }
        self.task_status(name, task)?;
        self.context
            .status
            .set_task(name, task, State::Restarting, None);
        self.send(name, Command::RestartTask(task))
    }

    /// Sets a connector's target state (pause, resume, stop).
    pub fn set_target(&self, name: &str, target: TargetState) -> Result<()> {
        if let Some(cluster) = &self.cluster {
            return cluster.set_target(name, target);
        }
        let mut connectors = self.lock();
        let entry = connectors
            .get_mut(name)
            .ok_or_else(|| Self::not_found(name))?;
        entry.target = target;
        if let Some(runner) = &entry.runner {
            runner.send(Command::Target(target));
        }
        self.persist(&connectors)
    }

    /// The target state of a connector.
    pub fn target(&self, name: &str) -> Result<TargetState> {
        if let Some(cluster) = &self.cluster {
            return cluster.target(name);
        }
        self.lock()
            .get(name)
            .map(|e| e.target)
            .ok_or_else(|| Self::not_found(name))
    }

    /// Deletes a connector: stops it, forgets config and status. Its offsets stay, as in Kafka
    /// Connect (reset them first if a new connector of the same name must start afresh).
    pub fn delete(&self, name: &str) -> Result<()> {
        if let Some(cluster) = &self.cluster {
            return cluster.delete(name);
        }
        let entry = {
            let mut connectors = self.lock();
            let entry = connectors
                .remove(name)
                .ok_or_else(|| Self::not_found(name))?;
            self.persist(&connectors)?;
            entry
        };
        if let Some(runner) = entry.runner {
            runner.shutdown();
        }
        self.context.status.remove(name);
        self.context.metrics.remove_connector(name);
        Ok(())
    }

    fn kind(&self, name: &str) -> Result<ConnectorType> {
        if let Some(cluster) = &self.cluster {
            return cluster.kind(name);
        }
        let connectors = self.lock();
        let entry = connectors.get(name).ok_or_else(|| Self::not_found(name))?;
        Ok(entry
            .plugin
            .as_ref()
            .map_or(ConnectorType::Source, |p| p.kind))
    }

    /// `{"offsets": [{partition, offset}]}` in Kafka Connect's source or sink form.
    pub async fn offsets(&self, name: &str) -> Result<Value> {
        let kind = self.kind(name)?;
        if kind == ConnectorType::Source {
            self.reload_source_offsets().await?;
        }
        let offsets = match kind {
            ConnectorType::Source => self
                .context
                .offsets
                .offsets(name)
                .into_iter()
                .map(|o| json!({"partition": o.partition, "offset": o.offset}))
                .collect(),
            ConnectorType::Sink => {
                let config = self.config(name)?;
                let client = self.context.config.kafka_client();
                let group = format!("connect-{name}");
                tokio::task::spawn_blocking(move || group_offsets::read(&client, &group, &config))
                    .await
                    .map_err(|e| HerderError::Internal(e.to_string()))?
                    .map_err(HerderError::Internal)?
                    .into_iter()
                    .map(|(topic, partition, offset)| {
                        json!({
                            "partition": {"kafka_topic": topic, "kafka_partition": partition},
                            "offset": {"kafka_offset": offset}
                        })
                    })
                    .collect()
            }
        };
        Ok(json!({ "offsets": Value::Array(offsets) }))
    }

    /// Distributed: other workers' tasks committed source offsets this worker has not read.
    async fn reload_source_offsets(&self) -> Result<()> {
        if self.cluster.is_none() {
            return Ok(());
        }
        let offsets = self.context.offsets.clone();
        tokio::task::spawn_blocking(move || offsets.reload())
            .await
            .map_err(|e| HerderError::Internal(e.to_string()))?
            .map_err(|e| HerderError::Internal(e.to_string()))
    }

    fn require_stopped(&self, name: &str) -> Result<()> {
        let stopped =
            self.target(name)? == TargetState::Stopped && self.status(name)?.tasks.is_empty();
        if stopped {
            Ok(())
        } else {
            Err(HerderError::BadRequest(format!(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
            )))
        }
    }

    /// Alters offsets of a STOPPED connector (`null` offset removes a source partition).
    pub async fn alter_offsets(&self, name: &str, body: Value) -> Result<Value> {
        self.require_stopped(name)?;
        let entries = body["offsets"].as_array().cloned().ok_or_else(|| {
            HerderError::BadRequest(
                "body must be {\"offsets\": [{\"partition\": {...}, \"offset\": {...}}]}".into(),
            )
        })?;
        match self.kind(name)? {
            ConnectorType::Source => {
                let mut offsets = Vec::new();
                for entry in entries {
                    let partition = entry["partition"].as_object().cloned().ok_or_else(|| {
                        HerderError::BadRequest("each entry needs a \"partition\" object".into())
                    })?;
                    let offset = match &entry["offset"] {
                        Value::Null => Default::default(),
                        Value::Object(o) => o.clone(),
                        _ => {
                            return Err(HerderError::BadRequest(
                                "\"offset\" must be an object or null".into(),
                            ))
                        }
                    };
                    offsets.push(SourceOffset { partition, offset });
                }
                self.context
                    .offsets
                    .write(name, &offsets)
                    .await
                    .map_err(|e| HerderError::Internal(e.to_string()))?;
            }
            ConnectorType::Sink => {
                let mut positions = Vec::new();
                for entry in entries {
                    let topic = entry["partition"]["kafka_topic"].as_str();
                    let partition = entry["partition"]["kafka_partition"].as_i64();
                    let offset = entry["offset"]["kafka_offset"].as_i64();
                    match (topic, partition, offset) {
                        (Some(t), Some(p), Some(o)) => positions.push((t.to_string(), p as i32, o)),
                        _ => {
                            return Err(HerderError::BadRequest(
                                "sink offsets look like {\"partition\": {\"kafka_topic\": \"t\", \"kafka_partition\": 0}, \"offset\": {\"kafka_offset\": 5}}".into(),
                            ))
                        }
                    }
                }
                let client = self.context.config.kafka_client();
                let group = format!("connect-{name}");
                tokio::task::spawn_blocking(move || {
                    group_offsets::alter(&client, &group, &positions)
                })
                .await
                .map_err(|e| HerderError::Internal(e.to_string()))?
                .map_err(HerderError::Internal)?;
            }
        }
        Ok(json!({"message": "The offsets for this connector have been altered successfully"}))
    }

    /// Deletes every offset of a STOPPED connector.
    pub async fn reset_offsets(&self, name: &str) -> Result<Value> {
        self.require_stopped(name)?;
        let kind = self.kind(name)?;
        if kind == ConnectorType::Source {
            // Every partition any worker committed must get its tombstone.
            self.reload_source_offsets().await?;
        }
        match kind {
            ConnectorType::Source => self
                .context
                .offsets
                .reset(name)
                .await
                .map_err(|e| HerderError::Internal(e.to_string()))?,
            ConnectorType::Sink => {
                let client = self.context.config.kafka_client();
                group_offsets::reset(&client, &format!("connect-{name}"))
                    .await
                    .map_err(HerderError::Internal)?;
            }
        }
        Ok(json!({"message": "The offsets for this connector have been reset successfully"}))
    }
}
