//! Who runs what. A [`Herder`] takes the REST API's requests and decides which connectors and
//! tasks run; the [`Worker`] runs them. Two implementations:
//!
//! - [`standalone::StandaloneHerder`]: every connector on this worker, configs in `state.dir`;
//! - `crate::distributed::DistributedHerder`: configs in the config topic, work shared by the
//!   workers of a group.
//!
//! What both modes share is written once, here, as the trait's provided methods (Kafka
//! Connect's `AbstractHerder`): name checks and validation before a write, the restart plan,
//! task status lookup; and in `offsets`, the offsets API.

pub mod info;
pub mod offsets;
pub mod secrets;
pub mod standalone;
pub mod validation;

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_api::ConfigMap;

pub use info::{ConnectorInfo, RestartPlan, StatusInfo, TaskId, TaskInfo, TaskStatusInfo};
use validation::ConfigInfos;

use crate::config::connector::{self as keys, connector_class};
use crate::plugins::{ConnectorType, Plugin};
use crate::status::{State, TargetState};
use crate::store::StoreError;
use crate::worker::Worker;

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
    /// 500: a store (Kafka, the state directory) failed; nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 500.
    #[error("{0}")]
    Internal(String),
}

/// A herder's answer.
pub type Result<T> = std::result::Result<T, HerderError>;

/// The 404 of an unknown connector, in Kafka Connect's words.
pub fn not_found(name: &str) -> HerderError {
    HerderError::NotFound(format!("Connector {name} not found"))
}

/// What the REST API asks of a worker, in either mode.
///
/// Implementations provide the reads and the writes of already validated configs; the provided
/// methods add what both modes share. Writes block (they wait for a store or a connector's
/// thread): the REST layer calls them off its async runtime.
pub trait Herder: Send + Sync {
    /// The worker this herder drives.
    fn worker(&self) -> &Arc<Worker>;

    /// Connector names, sorted.
    fn connectors(&self) -> Vec<String>;

    /// A connector's stored config (config provider references unresolved).
    fn config(&self, name: &str) -> Result<ConfigMap>;

    /// A connector's target state.
    fn target(&self, name: &str) -> Result<TargetState>;

    /// The configs of a connector's current tasks.
    fn tasks(&self, name: &str) -> Result<Vec<TaskInfo>>;

    /// A connector's status and its tasks'.
    fn status(&self, name: &str) -> Result<StatusInfo>;

    /// Stores a new, validated connector and starts it in `initial` (409 if it exists).
    fn write_new(&self, name: &str, config: ConfigMap, initial: TargetState) -> Result<()>;

    /// Creates or replaces a validated config; `true` when it was created.
    fn write_config(&self, name: &str, config: ConfigMap) -> Result<bool>;

    /// Pause, resume or stop.
    fn set_target(&self, name: &str, target: TargetState) -> Result<()>;

    /// Carries out a restart plan (what it selects is already marked RESTARTING in the answer).
    fn request_restart(&self, name: &str, plan: &RestartPlan) -> Result<()>;

    /// Restarts one existing task.
    fn request_task_restart(&self, name: &str, task: u32) -> Result<()>;

    /// Stops a connector everywhere and forgets its config and status. Its offsets stay, as in
    /// Kafka Connect (reset them first if a new connector of the same name must start afresh).
    fn delete(&self, name: &str) -> Result<()>;

    /// Reads again the source offsets other workers committed (distributed mode; blocking).
    fn reload_source_offsets(&self) -> Result<()> {
        Ok(())
    }

    /// Stops everything this worker runs, for shutdown.
    fn shutdown(&self);

    /// Source or sink, from the plugin its config names; unknown when that plugin is missing.
    fn kind(&self, name: &str) -> Result<ConnectorType> {
        Ok(kind_of(self.worker(), &self.config(name)?))
    }

    /// A connector's config as REST shows it: secrets [hidden].
    fn shown_config(&self, name: &str) -> Result<ConfigMap> {
        let config = self.config(name)?;
        let plugin = self.worker().plugin_for(&config);
        Ok(secrets::hide(plugin.as_deref(), &config))
    }

    /// Its task configs as REST shows them: the connector's secret keys [hidden].
    fn shown_tasks(&self, name: &str) -> Result<Vec<TaskInfo>> {
        let plugin = self.worker().plugin_for(&self.config(name)?);
        let mut tasks = self.tasks(name)?;
        for task in &mut tasks {
            task.config = secrets::hide(plugin.as_deref(), &task.config);
        }
        Ok(tasks)
    }

    /// Kafka Connect's ConnectorInfo as REST shows it: secrets [hidden].
    fn shown_info(&self, name: &str) -> Result<ConnectorInfo> {
        let mut info = self.info(name)?;
        let plugin = self.worker().plugin_for(&info.config);
        info.config = secrets::hide(plugin.as_deref(), &info.config);
        Ok(info)
    }

    /// Kafka Connect's ConnectorInfo.
    fn info(&self, name: &str) -> Result<ConnectorInfo> {
        let config = self.config(name)?;
        let tasks = self.tasks(name)?.len();
        let kind = kind_of(self.worker(), &config);
        Ok(ConnectorInfo::new(name, config, tasks, kind))
    }

    /// Validates a config for `plugin`.
    fn validate(&self, plugin: &Plugin, config: &ConfigMap) -> ConfigInfos {
        validation::validate(plugin, &self.worker().plugins, config)
    }

    /// Creates a connector (409 if it exists, 400 naming every bad key).
    fn create(
        &self,
        name: &str,
        mut config: ConfigMap,
        initial: TargetState,
    ) -> Result<ConnectorInfo> {
        if name.trim().is_empty() {
            return Err(HerderError::BadRequest(
                "Connector name must not be empty; set \"name\"".into(),
            ));
        }
        check_name_matches(name, &config)?;
        if self.config(name).is_ok() {
            return Err(HerderError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        if let Some(plugin) = self.worker().plugin_for(&config) {
            secrets::restore(&plugin, &mut config, None)?;
        }
        let config = checked(self, name, config)?;
        self.write_new(name, config, initial)?;
        self.info(name)
    }

    /// Creates or replaces a connector's config; `true` when it was created.
    fn put_config(&self, name: &str, mut config: ConfigMap) -> Result<(bool, ConnectorInfo)> {
        check_name_matches(name, &config)?;
        // A config read back from GET shows secrets as [hidden]: keep the stored ones.
        if let Some(plugin) = self.worker().plugin_for(&config) {
            secrets::restore(&plugin, &mut config, self.config(name).ok().as_ref())?;
        }
        let config = checked(self, name, config)?;
        let created = self.write_config(name, config)?;
        Ok((created, self.info(name)?))
    }

    /// Merges `patch` into a connector's config (`null` removes a key).
    fn patch_config(
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

    /// One task's status.
    fn task_status(&self, name: &str, task: u32) -> Result<TaskStatusInfo> {
        self.status(name)?
            .tasks
            .into_iter()
            .find(|t| t.id == task)
            .ok_or_else(|| HerderError::NotFound(format!("Task {name}-{task} not found")))
    }

    /// Restarts as Kafka Connect does; returns the status to answer with (202) when tasks or
    /// `only_failed` are involved, `None` for a plain connector restart (204).
    fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Option<StatusInfo>> {
        let mut status = self.status(name)?;
        let answer_with_status = include_tasks || only_failed;
        if self.target(name)? == TargetState::Stopped {
            // Nothing runs; resume starts it afresh.
            return Ok(answer_with_status.then_some(status));
        }
        let plan = status.mark_restarting(include_tasks, only_failed);
        self.request_restart(name, &plan)?;
        Ok(answer_with_status.then_some(status))
    }

    /// Restarts one task (404 if it does not exist).
    fn restart_task(&self, name: &str, task: u32) -> Result<()> {
        self.task_status(name, task)?;
        self.request_task_restart(name, task)
    }
}

/// The type of a connector config on this worker.
pub fn kind_of(worker: &Worker, config: &ConfigMap) -> ConnectorType {
    worker
        .plugin_for(config)
        .map_or(ConnectorType::Unknown, |p| p.kind)
}

/// The status of a connector nothing reported on yet.
pub fn unassigned(worker_id: &str) -> crate::status::InstanceStatus {
    crate::status::InstanceStatus {
        state: State::Unassigned,
        worker_id: worker_id.to_string(),
        trace: None,
        warning: None,
    }
}

fn check_name_matches(name: &str, config: &ConfigMap) -> Result<()> {
    match config.get(keys::NAME) {
        Some(body_name) if body_name != name => Err(HerderError::BadRequest(format!(
            "Connector name configuration ({body_name}) doesn't match connector name in the URL ({name})"
        ))),
        _ => Ok(()),
    }
}

/// The plugin for a config, or a 400 naming the field and the plugins available.
fn plugin_for<H: Herder + ?Sized>(herder: &H, config: &ConfigMap) -> Result<Arc<Plugin>> {
    let class = connector_class(config);
    if class.is_empty() {
        return Err(HerderError::BadRequest(
            "Connector config is missing connector.class; set it to a plugin's class name or alias (GET /connector-plugins lists them)".into(),
        ));
    }
    let plugins = &herder.worker().plugins;
    plugins.find(class).ok_or_else(|| {
        let available: Vec<&str> = plugins
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

/// The config with its name, validated against the runtime's keys and the plugin's.
fn checked<H: Herder + ?Sized>(herder: &H, name: &str, mut config: ConfigMap) -> Result<ConfigMap> {
    config.insert(keys::NAME.into(), name.to_string());
    let plugin = plugin_for(herder, &config)?;
    let infos = herder.validate(&plugin, &config);
    if infos.error_count > 0 {
        let lines = infos.error_lines();
        return Err(HerderError::BadRequest(format!(
            "Connector configuration is invalid and contains the following {} error(s):\n{}\nYou can also find the above list of errors at the endpoint `/connector-plugins/{{connectorType}}/config/validate`",
            lines.len(),
            lines.join("\n")
        )));
    }
    Ok(config)
}
