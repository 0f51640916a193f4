//! A worker's part in the cluster, on one thread: as leader, it writes the assignment; as every
//! member, it makes what runs here match the assignment and the config log.
//!
//! A task moved away from a live worker starts on its new worker only once the old one has
//! said it stopped it (an UNASSIGNED status in its name), or after the graceful shutdown
//! timeout: two copies of a task never run at once when both workers are healthy.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_api::ConfigMap;

use super::assignment::TaskRef;
use super::config_log::{ClusterView, ConfigLog, ConfigRecord, LeaderWriter, RestartRequest};
use super::status_log::StatusLog;
use super::Event;
use crate::config::{resolve_config, with_references, ConnectorKeys};
use crate::plugins::{ConnectorEvents, ConnectorType, Plugin};
use crate::status::{State, StatusSink, TargetState};
use crate::worker::{ConnectorHandle, TaskHandle, Worker};

struct RunningConnector {
    /// None while stopped or after a failed start.
    instance: Option<ConnectorHandle>,
    config: ConfigMap,
    target: TargetState,
}

struct RunningTask {
    handle: TaskHandle,
    connector_config: ConfigMap,
    task_config: ConfigMap,
    target: TargetState,
}

/// Turns a connector's context callbacks into events for the member thread.
struct ConnectorCallbacks {
    name: String,
    events: Mutex<Sender<Event>>,
}

impl ConnectorEvents for ConnectorCallbacks {
    fn request_task_reconfiguration(&self) {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let _ = events.send(Event::Reconfigure(self.name.clone()));
    }

    fn raise_error(&self, message: String) {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let _ = events.send(Event::ConnectorFailed(self.name.clone(), message));
    }
}

/// The member thread's state.
pub struct Member {
    context: Arc<Worker>,
    log: Arc<ConfigLog>,
    statuses: Arc<StatusLog>,
    events: Sender<Event>,
    me: String,
    group: String,
    leader: bool,
    /// While leader: the producer that fenced earlier leaders.
    leader_writer: Option<LeaderWriter>,
    members: Vec<String>,
    connectors: BTreeMap<String, RunningConnector>,
    tasks: BTreeMap<TaskRef, RunningTask>,
    /// Tasks assigned here, waiting for their previous worker to let go; since when.
    waiting: BTreeMap<TaskRef, Instant>,
    /// When the statuses of what runs here were last published again.
    reasserted: Instant,
}

/// How often a worker publishes again the statuses of what it runs, so a late word from a
/// task's previous worker cannot leave the others with a stale status for long.
const REASSERT_INTERVAL: Duration = Duration::from_secs(5);

impl Member {
    /// The state of a worker that runs nothing yet.
    pub fn new(
        context: Arc<Worker>,
        log: Arc<ConfigLog>,
        statuses: Arc<StatusLog>,
        events: Sender<Event>,
        group: &str,
    ) -> Member {
        let me = context.status.worker_id().to_string();
        Member {
            context,
            log,
            statuses,
            events,
            me,
            group: group.to_string(),
            leader: false,
            leader_writer: None,
            members: Vec::new(),
            connectors: BTreeMap::new(),
            tasks: BTreeMap::new(),
            waiting: BTreeMap::new(),
            reasserted: Instant::now(),
        }
    }

    /// Applies events until `Event::Shutdown`, then stops everything that runs here.
    pub fn run(mut self, events: Receiver<Event>) {
        let span = tracing::info_span!("member", worker = %self.me);
        let _entered = span.enter();
        loop {
            let first = match events.recv_timeout(Duration::from_millis(500)) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(Event::Shutdown),
            };
            let mut rebalanced = false;
            let mut reconfigure = BTreeSet::new();
            for event in first.into_iter().chain(events.try_iter()) {
                match event {
                    Event::Rebalanced { leader, members } => {
                        tracing::info!(leader, ?members, "group rebalanced");
                        self.leader = leader;
                        self.members = members;
                        let cluster = &self.context.metrics.cluster;
                        cluster.rebalances.fetch_add(1, Ordering::Relaxed);
                        cluster.leader.store(u64::from(leader), Ordering::Relaxed);
                        if !leader {
                            self.leader_writer = None;
                        }
                        rebalanced = true;
                    }
                    Event::ConfigChanged => {}
                    Event::Reconfigure(name) => {
                        reconfigure.insert(name);
                    }
                    Event::ConnectorFailed(name, trace) => {
                        if self.connectors.contains_key(&name) {
                            tracing::error!(connector = %name, %trace, "connector raised an error");
                            self.set_connector_state(&name, State::Failed, Some(trace));
                        }
                    }
                    Event::Shutdown => {
                        self.stop_everything();
                        return;
                    }
                }
            }
            let started = Instant::now();
            if self.leader {
                self.assign(rebalanced);
            }
            self.reconcile(&reconfigure);
            if started.elapsed() > Duration::from_secs(5) {
                // Everything here waits for this thread: say when it was held up.
                tracing::warn!(took = ?started.elapsed(), leader = self.leader, "a slow round of cluster work");
            }
        }
    }

    /// As leader: a new assignment when members or work changed.
    fn assign(&mut self, rebalanced: bool) {
        if self.members.is_empty() {
            return;
        }
        if self.leader_writer.is_none() {
            // First, since it also aborts a transaction a dead leader left open, which would
            // hold every reader of the config topic back until it timed out.
            match self.log.leader_writer(&self.group) {
                Ok(writer) => self.leader_writer = Some(writer),
                Err(error) => {
                    tracing::warn!(%error, "cannot take up leadership");
                    return;
                }
            }
        }
        if rebalanced {
            // Another leader may have written since; build on its last word.
            if let Err(error) = self.log.catch_up() {
                tracing::warn!(%error, "cannot read the config topic to its end");
                return;
            }
        }
        let view = self.log.view();
        let connectors: BTreeSet<String> = view.connectors.keys().cloned().collect();
        let tasks: BTreeSet<TaskRef> = view
            .connectors
            .iter()
            .flat_map(|(name, state)| {
                (0..state.tasks.len() as u32).map(|task| TaskRef {
                    connector: name.clone(),
                    task,
                })
            })
            .collect();
        let next = view
            .assignment
            .rebalanced(&self.me, &self.members, &connectors, &tasks);
        if next.same_work(&view.assignment) {
            return;
        }
        tracing::info!(
            generation = next.generation,
            members = next.members.len(),
            connectors = connectors.len(),
            tasks = tasks.len(),
            "writing a new assignment"
        );
        let writer = self.leader_writer.as_ref().expect("set above");
        if let Err(error) = self
            .log
            .append_as_leader(writer, vec![ConfigRecord::Assignment(next)])
        {
            tracing::warn!(%error, "cannot write the assignment");
            self.leader_writer = None;
        }
    }

    fn plugin(&self, config: &ConfigMap) -> Option<Arc<Plugin>> {
        self.context.plugin_for(config)
    }

    fn kind(&self, name: &str) -> ConnectorType {
        self.connectors
            .get(name)
            .and_then(|c| self.plugin(&c.config))
            .map_or(ConnectorType::Unknown, |p| p.kind)
    }

    fn set_connector_state(&self, name: &str, state: State, trace: Option<String>) {
        self.context
            .status
            .set_connector(name, self.kind(name), state, trace);
    }

    /// Makes what runs here match the assignment and the log.
    fn reconcile(&mut self, reconfigure: &BTreeSet<String>) {
        let view = self.log.view();
        let assignment = &view.assignment;
        self.statuses.set_generation(assignment.generation);
        let cluster = &self.context.metrics.cluster;
        cluster
            .generation
            .store(assignment.generation, Ordering::Relaxed);
        cluster
            .members
            .store(assignment.members.len() as u64, Ordering::Relaxed);
        let mine_connectors: BTreeSet<String> = assignment
            .connectors
            .get(&self.me)
            .into_iter()
            .flatten()
            .filter(|name| view.connectors.contains_key(*name))
            .cloned()
            .collect();
        let mine_tasks = self.assigned_tasks(&view);

        self.stop_tasks_not_wanted(&view, &mine_tasks);
        self.stop_connectors_not_wanted(&view, &mine_connectors);
        for name in &mine_connectors {
            self.update_connector(name, &view, reconfigure.contains(name));
        }
        self.start_tasks(&view, &mine_tasks);
        for request in self.log.take_restarts() {
            self.restart(&view, request);
        }
        self.hand_off_stale_statuses();
        if self.reasserted.elapsed() >= REASSERT_INTERVAL {
            self.reassert_statuses();
            self.reasserted = Instant::now();
        }
    }

    fn reassert_statuses(&self) {
        for (name, status) in self.context.status.all() {
            if self.connectors.contains_key(&name) && status.connector.worker_id == self.me {
                self.statuses.publish(&name, None, &status.connector);
            }
            for (task, instance) in &status.tasks {
                let here = self.tasks.contains_key(&TaskRef {
                    connector: name.clone(),
                    task: *task,
                });
                if here && instance.worker_id == self.me {
                    self.statuses.publish(&name, Some(*task), instance);
                }
            }
        }
    }

    /// The tasks assigned here that should run: their connector exists and is not stopped,
    /// and its committed task set has them (an assignment may lag behind the task configs).
    fn assigned_tasks(&self, view: &ClusterView) -> BTreeSet<TaskRef> {
        view.assignment
            .tasks
            .get(&self.me)
            .into_iter()
            .flatten()
            .filter(|t| {
                view.connectors.get(&t.connector).is_some_and(|c| {
                    c.target != TargetState::Stopped && (t.task as usize) < c.tasks.len()
                })
            })
            .cloned()
            .collect()
    }

    fn stop_tasks_not_wanted(&mut self, view: &ClusterView, mine: &BTreeSet<TaskRef>) {
        let unwanted: Vec<TaskRef> = self
            .tasks
            .iter()
            .filter(|(task, running)| {
                let current = view.connectors.get(&task.connector).and_then(|c| {
                    c.tasks
                        .get(task.task as usize)
                        .map(|task_config| (&c.config, task_config))
                });
                !mine.contains(*task)
                    || current.is_none_or(|(config, task_config)| {
                        *config != running.connector_config || *task_config != running.task_config
                    })
            })
            .map(|(task, _)| task.clone())
            .collect();
        let stopped = self.stop_tasks(unwanted);
        for task in stopped {
            let exists = view
                .connectors
                .get(&task.connector)
                .is_some_and(|c| (task.task as usize) < c.tasks.len());
            if !exists {
                self.statuses.tombstone(&task.connector, Some(task.task));
            } else if !mine.contains(&task) {
                self.statuses
                    .publish_state(&task.connector, Some(task.task), State::Unassigned);
            }
        }
    }

    /// Stops tasks in parallel, each within the graceful timeout; returns them.
    fn stop_tasks(&mut self, tasks: Vec<TaskRef>) -> Vec<TaskRef> {
        let mut stopping = Vec::new();
        for task in &tasks {
            if let Some(running) = self.tasks.remove(task) {
                self.statuses.release(&task.connector, Some(task.task));
                tracing::info!(connector = %task.connector, task = task.task, "stopping task");
                stopping.push(running.handle);
            }
        }
        self.context.stop_tasks(stopping);
        tasks
    }

    fn stop_connectors_not_wanted(&mut self, view: &ClusterView, mine: &BTreeSet<String>) {
        let unwanted: Vec<String> = self
            .connectors
            .iter()
            .filter(|(name, running)| {
                !mine.contains(*name)
                    || view
                        .connectors
                        .get(*name)
                        .is_none_or(|c| c.config != running.config)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in unwanted {
            self.stop_connector(&name);
            if !view.connectors.contains_key(&name) {
                self.statuses.tombstone(&name, None);
            } else if !mine.contains(&name) {
                self.statuses.publish_state(&name, None, State::Unassigned);
            }
        }
    }

    fn stop_connector(&mut self, name: &str) {
        if let Some(mut running) = self.connectors.remove(name) {
            self.statuses.release(name, None);
            if let Some(instance) = running.instance.take() {
                self.context.stop_connector(name, instance);
            }
        }
    }

    /// Starts, retargets or reconfigures a connector assigned here.
    fn update_connector(&mut self, name: &str, view: &ClusterView, reconfigure: bool) {
        let state = &view.connectors[name];
        let previous = self.connectors.get(name).map(|c| c.target);
        match (previous, state.target) {
            (Some(before), after) if before == after => {
                if reconfigure {
                    self.generate_task_configs(name, view);
                }
            }
            (_, TargetState::Stopped) => {
                self.stop_connector(name);
                self.statuses.claim(name, None);
                self.connectors.insert(
                    name.to_string(),
                    RunningConnector {
                        instance: None,
                        config: state.config.clone(),
                        target: TargetState::Stopped,
                    },
                );
                self.set_connector_state(name, State::Stopped, None);
            }
            (None | Some(TargetState::Stopped), target) => {
                self.stop_connector(name);
                self.start_connector(name, &state.config, target);
                self.generate_task_configs(name, view);
            }
            (Some(_), target) => {
                if let Some(running) = self.connectors.get_mut(name) {
                    running.target = target;
                    if running.instance.is_some() {
                        self.set_connector_state(name, target.connector_state(), None);
                    }
                }
            }
        }
    }

    fn start_connector(&mut self, name: &str, config: &ConfigMap, target: TargetState) {
        self.statuses.claim(name, None);
        self.connectors.insert(
            name.to_string(),
            RunningConnector {
                instance: None,
                config: config.clone(),
                target,
            },
        );
        let Some(plugin) = self.plugin(config) else {
            let class = crate::config::connector::connector_class(config);
            self.set_connector_state(name, State::Failed, Some(format!("connector class {class} is not on this worker's plugin.path; install the same plugins on every worker")));
            return;
        };
        let callbacks = Arc::new(ConnectorCallbacks {
            name: name.to_string(),
            events: Mutex::new(self.events.clone()),
        });
        match self
            .context
            .start_connector(plugin, name, callbacks, config)
        {
            Ok(instance) => {
                tracing::info!(connector = name, "connector started");
                if let Some(running) = self.connectors.get_mut(name) {
                    running.instance = Some(instance);
                }
                self.set_connector_state(name, target.connector_state(), None);
            }
            Err(error) => {
                tracing::error!(connector = name, %error, "connector failed to start");
                self.set_connector_state(name, State::Failed, Some(error.to_string()));
            }
        }
    }

    /// Asks the connector for task configs and commits them to the log when they changed.
    fn generate_task_configs(&mut self, name: &str, view: &ClusterView) {
        let Some(state) = view.connectors.get(name) else {
            return;
        };
        let kind = self.kind(name);
        let Some(instance) = self
            .connectors
            .get_mut(name)
            .and_then(|c| c.instance.as_mut())
        else {
            return;
        };
        let generated = ConnectorKeys::parse_stored(&state.config, kind).and_then(|keys| {
            instance
                .task_configs(keys.tasks_max)
                .map_err(|e| e.to_string())
        });
        let configs = match generated.and_then(|configs| {
            let secrets = resolve_config(&state.config).map_err(|e| e.to_string())?;
            Ok(configs
                .iter()
                .map(|task| with_references(task, &state.config, &secrets))
                .collect::<Vec<_>>())
        }) {
            Ok(configs) => configs,
            Err(trace) => {
                tracing::error!(connector = name, %trace, "task configuration failed");
                self.set_connector_state(
                    name,
                    State::Failed,
                    Some(format!("task_configs failed: {trace}")),
                );
                return;
            }
        };
        if configs == state.tasks {
            return;
        }
        let records = ConfigRecord::task_set(name, &configs);
        tracing::info!(
            connector = name,
            tasks = configs.len(),
            "committing task configs"
        );
        if let Err(error) = self.log.append(records) {
            tracing::warn!(connector = name, %error, "cannot write task configs");
        }
    }

    /// Whether another live worker may still run `task` (it has not reported letting go).
    fn held_elsewhere(&self, view: &ClusterView, task: &TaskRef) -> bool {
        let Some(status) = self.context.status.get(&task.connector) else {
            return false;
        };
        let Some(status) = status.tasks.get(&task.task) else {
            return false;
        };
        status.worker_id != self.me
            && matches!(
                status.state,
                State::Running | State::Paused | State::Restarting
            )
            && view.assignment.members.contains(&status.worker_id)
    }

    fn start_tasks(&mut self, view: &ClusterView, mine: &BTreeSet<TaskRef>) {
        let grace = self.context.config.task_shutdown_graceful_timeout + Duration::from_secs(5);
        let mut offsets_reloaded = false;
        self.waiting.retain(|task, _| mine.contains(task));
        for task in mine {
            let state = &view.connectors[&task.connector];
            if let Some(running) = self.tasks.get_mut(task) {
                if running.target != state.target {
                    running.target = state.target;
                    running.handle.set_target(state.target.task_target());
                }
                continue;
            }
            if self.held_elsewhere(view, task) {
                if !self.waiting.contains_key(task) {
                    tracing::info!(connector = %task.connector, task = task.task, "task assigned here; waiting for its previous worker to stop it");
                }
                let since = *self
                    .waiting
                    .entry(task.clone())
                    .or_insert_with(Instant::now);
                if since.elapsed() < grace {
                    continue;
                }
                tracing::warn!(connector = %task.connector, task = task.task, "the previous worker did not report stopping the task in time; starting it here anyway");
            }
            self.waiting.remove(task);
            let Some(plugin) = self.plugin(&state.config) else {
                self.statuses.claim(&task.connector, Some(task.task));
                self.context.status.set_task(
                    &task.connector,
                    task.task,
                    State::Failed,
                    Some("the connector's plugin is not on this worker's plugin.path; install the same plugins on every worker".into()),
                );
                continue;
            };
            if plugin.kind == ConnectorType::Source && !offsets_reloaded {
                // Resume from what the task's previous worker committed.
                if let Err(error) = self.context.offsets.reload() {
                    tracing::warn!(%error, "cannot reread source offsets");
                }
                offsets_reloaded = true;
            }
            let task_config = &state.tasks[task.task as usize];
            self.statuses.claim(&task.connector, Some(task.task));
            let spec = self.context.task_spec(
                &task.connector,
                task.task,
                plugin,
                &state.config,
                task_config,
            );
            let spec = match spec {
                Ok(spec) => spec,
                Err(trace) => {
                    self.context.status.set_task(
                        &task.connector,
                        task.task,
                        State::Failed,
                        Some(trace),
                    );
                    continue;
                }
            };
            tracing::info!(connector = %task.connector, task = task.task, "starting task");
            self.context
                .status
                .set_task(&task.connector, task.task, State::Unassigned, None);
            let handle = self.context.start_task(spec, state.target);
            self.tasks.insert(
                task.clone(),
                RunningTask {
                    handle,
                    connector_config: state.config.clone(),
                    task_config: task_config.clone(),
                    target: state.target,
                },
            );
        }
    }

    fn is_failed(&self, name: &str, task: Option<u32>) -> bool {
        let status = self.context.status.get(name);
        let state = match task {
            None => status.map(|s| s.connector.state),
            Some(task) => status.and_then(|s| s.tasks.get(&task).map(|t| t.state)),
        };
        state == Some(State::Failed)
    }

    /// Carries out the part of a restart request that runs here.
    fn restart(&mut self, view: &ClusterView, request: RestartRequest) {
        let name = &request.connector;
        let Some(state) = view.connectors.get(name) else {
            return;
        };
        if state.target == TargetState::Stopped {
            return;
        }
        let tasks: Vec<TaskRef> = match request.task {
            Some(task) => vec![TaskRef {
                connector: name.clone(),
                task,
            }],
            None if request.include_tasks => self
                .tasks
                .keys()
                .filter(|t| &t.connector == name)
                .filter(|t| !request.only_failed || self.is_failed(name, Some(t.task)))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let restart_connector = request.task.is_none()
            && self.connectors.contains_key(name)
            && (!request.only_failed || self.is_failed(name, None));
        if restart_connector {
            tracing::info!(connector = %name, "restarting connector");
            self.set_connector_state(name, State::Restarting, None);
            self.stop_connector(name);
            self.start_connector(name, &state.config, state.target);
            self.generate_task_configs(name, view);
        }
        let tasks: Vec<TaskRef> = tasks
            .into_iter()
            .filter(|t| self.tasks.contains_key(t))
            .collect();
        for task in &tasks {
            self.context
                .status
                .set_task(&task.connector, task.task, State::Restarting, None);
        }
        // Stopped here, started again by the next reconciliation with the same config.
        self.stop_tasks(tasks);
        let mine = self.assigned_tasks(view);
        self.start_tasks(
            view,
            &mine.into_iter().filter(|t| t.connector == *name).collect(),
        );
    }

    /// Statuses in this worker's name for what no longer runs here (left by a previous run of
    /// this worker): say UNASSIGNED, so nobody waits for this worker to let go.
    fn hand_off_stale_statuses(&self) {
        let active =
            |state: State| matches!(state, State::Running | State::Paused | State::Restarting);
        for (name, status) in self.context.status.all() {
            if status.connector.worker_id == self.me
                && active(status.connector.state)
                && !self.connectors.contains_key(&name)
            {
                self.statuses.publish_state(&name, None, State::Unassigned);
            }
            for (task, instance) in &status.tasks {
                let here = self.tasks.contains_key(&TaskRef {
                    connector: name.clone(),
                    task: *task,
                });
                if instance.worker_id == self.me && active(instance.state) && !here {
                    self.statuses
                        .publish_state(&name, Some(*task), State::Unassigned);
                }
            }
        }
    }

    /// Shutdown: stops every task and connector and says so, so others take over at once.
    fn stop_everything(&mut self) {
        let tasks: Vec<TaskRef> = self.tasks.keys().cloned().collect();
        for task in self.stop_tasks(tasks) {
            self.statuses
                .publish_state(&task.connector, Some(task.task), State::Unassigned);
        }
        let names: Vec<String> = self.connectors.keys().cloned().collect();
        for name in names {
            self.stop_connector(&name);
            self.statuses.publish_state(&name, None, State::Unassigned);
        }
        self.statuses.flush();
    }
}
