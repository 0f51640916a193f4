//! One standalone connector's thread: holds the connector's instance and its task threads
//! and applies the herder's commands in order. It asks the worker for everything that runs
//! connector code, so each connector call is bounded by `connector.call.timeout.ms`: a
//! connector that hangs in `start` is FAILED after that long, and a DELETE queued behind it
//! is answered.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ferry_api::ConfigMap;

use crate::config::{resolve_config, with_references, ConnectorKeys};
use crate::plugins::{ConnectorEvents, Plugin};
use crate::status::{State, TargetState};
use crate::worker::{ConnectorHandle, TaskHandle, TaskSpec, Worker};

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
struct ConnectorView {
    /// Task configurations as the connector produced them (config references unresolved).
    task_configs: Vec<ConfigMap>,
}

/// Handle on a connector thread.
pub struct ConnectorRunner {
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    view: Arc<Mutex<ConnectorView>>,
}

impl ConnectorRunner {
    /// Starts the thread for connector `name` and configures it.
    pub fn start(
        context: Arc<Worker>,
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

    /// The task configs the connector produced last (config references unresolved).
    pub fn task_configs(&self) -> Vec<ConfigMap> {
        self.view
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .task_configs
            .clone()
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
    context: Arc<Worker>,
    name: String,
    plugin: Arc<Plugin>,
    /// The configuration as stored (references unresolved).
    config: ConfigMap,
    target: TargetState,
    instance: Option<ConnectorHandle>,
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
        let outcome = self.context.start_connector(
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
            Err(error) => {
                tracing::error!(%error, "connector failed to start");
                self.set_state(State::Failed, Some(error.to_string()));
                false
            }
        }
    }

    fn start_tasks(&mut self) {
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        let keys = ConnectorKeys::parse_stored(&self.config, self.plugin.kind);
        let generated = keys.and_then(|keys| {
            instance
                .task_configs(keys.tasks_max)
                .map_err(|e| e.to_string())
        });
        let outcome = generated.and_then(|configs| {
            // What REST shows keeps the config's provider references, not what they resolve to.
            let resolved = resolve_config(&self.config).map_err(|e| e.to_string())?;
            let shown = configs
                .iter()
                .map(|task| with_references(task, &self.config, &resolved))
                .collect::<Vec<_>>();
            let specs = shown
                .iter()
                .enumerate()
                .map(|(id, task_config)| {
                    self.context.task_spec(
                        &self.name,
                        id as u32,
                        self.plugin.clone(),
                        &self.config,
                        task_config,
                    )
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok((shown, specs))
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
            self.tasks
                .push(Some(self.context.start_task(spec.clone(), self.target)));
        }
        tracing::info!(tasks = specs.len(), "tasks started");
        self.task_specs = specs;
    }

    /// Stops every task (in parallel, each within the graceful timeout).
    fn stop_tasks(&mut self) {
        let tasks = self.tasks.drain(..).flatten().collect();
        self.context.stop_tasks(tasks);
        self.task_specs.clear();
        self.context.status.remove_tasks_from(&self.name, 0);
    }

    fn stop_connector(&mut self) {
        if let Some(instance) = self.instance.take() {
            self.context.stop_connector(&self.name, instance);
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
            self.context.stop_tasks(vec![task]);
        }
        self.context
            .status
            .set_task(&self.name, id, State::Restarting, None);
        let handle = self.context.start_task(spec, self.target);
        if let Some(slot) = self.tasks.get_mut(index) {
            *slot = Some(handle);
        }
    }
}
