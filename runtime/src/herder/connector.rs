//! One connector's thread: owns the connector instance and its task threads, and applies the
//! herder's commands in order. Plugin code runs here and on task threads, never on the REST
//! runtime, so a connector that hangs in `start` delays only itself.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ferry_api::ConfigMap;

use super::status::State;
use crate::config::resolve_config;
use crate::plugins::{ConnectorEvents, ConnectorInstance, Plugin};
use crate::worker::control::TaskTarget;
use crate::worker::task::{self, TaskHandle, TaskSpec};
use crate::worker::WorkerContext;

/// Where a connector should be, as set over REST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TargetState {
    /// Tasks run.
    Running,
    /// Tasks exist but move nothing.
    Paused,
    /// Connector and tasks shut down; the config is kept.
    Stopped,
}

impl TargetState {
    pub(crate) fn task_target(self) -> TaskTarget {
        match self {
            TargetState::Running => TaskTarget::Running,
            TargetState::Paused => TaskTarget::Paused,
            TargetState::Stopped => TaskTarget::Stopping,
        }
    }

    pub(crate) fn connector_state(self) -> State {
        match self {
            TargetState::Running => State::Running,
            TargetState::Paused => State::Paused,
            TargetState::Stopped => State::Stopped,
        }
    }
}

/// `tasks.max` of a connector config (validated before; at least 1).
pub(crate) fn max_tasks(config: &ConfigMap) -> u32 {
    config
        .get("tasks.max")
        .and_then(|t| t.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .max(1)
}

/// A started connector instance for a stored config (references resolved for it only), or
/// the trace to report.
pub(crate) fn start_instance(
    plugin: Arc<Plugin>,
    name: &str,
    events: Arc<dyn ConnectorEvents>,
    config: &ConfigMap,
) -> Result<ConnectorInstance, String> {
    let config = resolve_config(config)?;
    let mut instance = ConnectorInstance::new(plugin, name, events).map_err(|e| e.to_string())?;
    instance
        .start(&config)
        .map_err(|e| format!("connector start failed: {e}"))?;
    Ok(instance)
}

/// What the herder asks of a connector thread.
pub enum Command {
    /// New configuration (or first start): restart connector and tasks with it.
    Configure(ConfigMap),
    /// New target state.
    Target(TargetState),
    /// Restart the connector instance, and tasks as selected.
    Restart {
        /// Restart tasks too.
        include_tasks: bool,
        /// Only restart what is FAILED.
        only_failed: bool,
    },
    /// Restart one task.
    RestartTask(u32),
    /// The connector asked for new task configs.
    Reconfigure,
    /// The connector raised an error from outside a call.
    Fail(String),
    /// Stop everything and end the thread.
    Shutdown,
}

/// What REST reads of a running connector besides its status.
#[derive(Debug, Default, Clone)]
pub struct ConnectorView {
    /// Task configurations as the connector produced them (config references unresolved).
    pub task_configs: Vec<ConfigMap>,
}

/// Handle on a connector thread.
pub struct ConnectorRunner {
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    /// What REST shows.
    pub view: Arc<Mutex<ConnectorView>>,
}

impl ConnectorRunner {
    /// Starts the thread for connector `name` and configures it.
    pub fn start(
        context: Arc<WorkerContext>,
        name: String,
        plugin: Arc<Plugin>,
        config: ConfigMap,
        target: TargetState,
    ) -> ConnectorRunner {
        let (commands, receiver) = mpsc::channel();
        let view = Arc::new(Mutex::new(ConnectorView::default()));
        let events = Arc::new(EventsToCommands(Mutex::new(commands.clone())));
        let state = ConnectorThread {
            context,
            name: name.clone(),
            plugin,
            config: ConfigMap::new(),
            target,
            instance: None,
            tasks: Vec::new(),
            task_specs: Vec::new(),
            view: view.clone(),
            events,
        };
        let thread = std::thread::Builder::new()
            .name(format!("connector-{name}"))
            .spawn(move || state.run(receiver))
            .expect("spawning a connector thread");
        let runner = ConnectorRunner {
            commands,
            thread: Some(thread),
            view,
        };
        runner.send(Command::Configure(config));
        runner
    }

    /// Queues a command; the thread applies commands in order.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Stops connector and tasks and waits for the thread.
    pub fn shutdown(mut self) {
        self.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Turns the connector's context callbacks into commands for its own thread.
struct EventsToCommands(Mutex<Sender<Command>>);

impl ConnectorEvents for EventsToCommands {
    fn request_task_reconfiguration(&self) {
        let _ = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Command::Reconfigure);
    }

    fn raise_error(&self, message: String) {
        let _ = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Command::Fail(message));
    }
}

struct ConnectorThread {
    context: Arc<WorkerContext>,
    name: String,
    plugin: Arc<Plugin>,
    /// The configuration as stored (references unresolved).
    config: ConfigMap,
    target: TargetState,
    instance: Option<ConnectorInstance>,
    tasks: Vec<Option<TaskHandle>>,
    task_specs: Vec<TaskSpec>,
    view: Arc<Mutex<ConnectorView>>,
    events: Arc<EventsToCommands>,
}

impl ConnectorThread {
    fn run(mut self, commands: Receiver<Command>) {
        let span = tracing::info_span!("connector", connector = %self.name);
        let _entered = span.enter();
        while let Ok(command) = commands.recv() {
            match command {
                Command::Configure(config) => {
                    self.stop_all();
                    self.config = config;
                    self.start_all();
                }
                Command::Target(target) => self.retarget(target),
                Command::Restart {
                    include_tasks,
                    only_failed,
                } => self.restart(include_tasks, only_failed),
                Command::RestartTask(id) => self.restart_task(id),
                Command::Reconfigure => {
                    if self.target != TargetState::Stopped {
                        self.stop_tasks();
                        self.start_tasks();
                    }
                }
                Command::Fail(trace) => {
                    tracing::error!(%trace, "connector raised an error");
                    self.set_state(State::Failed, Some(trace));
                }
                Command::Shutdown => {
                    self.stop_all();
                    return;
                }
            }
        }
        self.stop_all();
    }

    fn set_state(&self, state: State, trace: Option<String>) {
        self.context
            .status
            .set_connector(&self.name, self.plugin.kind, state, trace);
    }

    /// Starts the connector instance (unless stopped) and its tasks (unless stopped or failed).
    fn start_all(&mut self) {
        if self.target == TargetState::Stopped {
            self.set_state(State::Stopped, None);
            return;
        }
        if self.start_connector() {
            self.start_tasks();
        }
    }

    fn start_connector(&mut self) -> bool {
        let outcome = start_instance(
            self.plugin.clone(),
            &self.name,
            self.events.clone(),
            &self.config,
        );
        match outcome {
            Ok(instance) => {
                self.instance = Some(instance);
                self.set_state(self.target.connector_state(), None);
                tracing::info!("connector started");
                true
            }
            Err(trace) => {
                tracing::error!(%trace, "connector failed to start");
                self.set_state(State::Failed, Some(trace));
                false
            }
        }
    }

    fn start_tasks(&mut self) {
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        let max_tasks = max_tasks(&self.config);
        let generated = instance.task_configs(max_tasks).map_err(|e| e.to_string());
        let outcome = generated.and_then(|configs| {
            let connector_config = resolve_config(&self.config)?;
            let specs = configs
                .iter()
                .enumerate()
                .map(|(id, task_config)| {
                    Ok(TaskSpec {
                        connector: self.name.clone(),
                        task: id as u32,
                        plugin: self.plugin.clone(),
                        connector_config: connector_config.clone(),
                        task_config: resolve_config(task_config)?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok((configs, specs))
        });
        let (configs, specs) = match outcome {
            Ok(generated) => generated,
            Err(trace) => {
                tracing::error!(%trace, "task configuration failed");
                self.set_state(State::Failed, Some(format!("task_configs failed: {trace}")));
                return;
            }
        };
        self.view
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .task_configs = configs;
        self.context
            .status
            .remove_tasks_from(&self.name, specs.len() as u32);
        for spec in &specs {
            self.context
                .status
                .set_task(&self.name, spec.task, State::Unassigned, None);
            self.tasks.push(Some(task::spawn(
                self.context.clone(),
                spec.clone(),
                self.target.task_target(),
            )));
        }
        tracing::info!(tasks = specs.len(), "tasks started");
        self.task_specs = specs;
    }

    /// Stops every task (in parallel, each within the graceful timeout).
    fn stop_tasks(&mut self) {
        let timeout = self.context.config.task_shutdown_graceful_timeout;
        for task in self.tasks.iter().flatten() {
            task.set_target(TaskTarget::Stopping);
        }
        let stopping: Vec<_> = self
            .tasks
            .drain(..)
            .flatten()
            .map(|task| std::thread::spawn(move || task.stop(timeout)))
            .collect();
        for handle in stopping {
            let _ = handle.join();
        }
        self.task_specs.clear();
        self.context.status.remove_tasks_from(&self.name, 0);
    }

    fn stop_connector(&mut self) {
        if let Some(mut instance) = self.instance.take() {
            if let Err(error) = instance.stop() {
                tracing::warn!(%error, "connector stop failed");
            }
        }
    }

    fn stop_all(&mut self) {
        self.stop_tasks();
        self.stop_connector();
        self.view
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .task_configs
            .clear();
    }

    fn retarget(&mut self, target: TargetState) {
        let previous = std::mem::replace(&mut self.target, target);
        match (previous, target) {
            (_, TargetState::Stopped) => {
                self.stop_all();
                self.set_state(State::Stopped, None);
            }
            (TargetState::Stopped, _) => self.start_all(),
            _ => {
                for task in self.tasks.iter().flatten() {
                    task.set_target(target.task_target());
                }
                if self.instance.is_some() {
                    self.set_state(target.connector_state(), None);
                }
            }
        }
    }

    /// Kafka Connect's restart: the connector (if `only_failed`, only when FAILED), and with
    /// `include_tasks` its tasks (if `only_failed`, the FAILED ones).
    fn restart(&mut self, include_tasks: bool, only_failed: bool) {
        if self.target == TargetState::Stopped {
            return;
        }
        let status = self.context.status.get(&self.name);
        // The herder marks what the request selected as RESTARTING before queuing it.
        let failed = |state: State| matches!(state, State::Failed | State::Restarting);
        let restart_connector =
            !only_failed || status.as_ref().is_some_and(|s| failed(s.connector.state));
        let tasks: Vec<u32> = match (&status, include_tasks) {
            (Some(status), true) => status
                .tasks
                .iter()
                .filter(|(_, t)| !only_failed || failed(t.state))
                .map(|(id, _)| *id)
                .collect(),
            _ => Vec::new(),
        };
        if restart_connector {
            self.set_state(State::Restarting, None);
            self.stop_connector();
            if !self.start_connector() {
                return;
            }
            if self.tasks.is_empty() {
                // The connector had failed before it could make tasks.
                self.start_tasks();
                return;
            }
        }
        for id in tasks {
            self.restart_task(id);
        }
    }

    fn restart_task(&mut self, id: u32) {
        let index = id as usize;
        let Some(spec) = self.task_specs.get(index).cloned() else {
            return;
        };
        if let Some(task) = self.tasks.get_mut(index).and_then(Option::take) {
            task.stop(self.context.config.task_shutdown_graceful_timeout);
        }
        self.context
            .status
            .set_task(&self.name, id, State::Restarting, None);
        let handle = task::spawn(self.context.clone(), spec, self.target.task_target());
        if let Some(slot) = self.tasks.get_mut(index) {
            *slot = Some(handle);
        }
    }
}
