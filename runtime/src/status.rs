//! The status of every connector and task this worker knows, in Kafka Connect's shapes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock, RwLock};

use serde::{Deserialize, Serialize};

use crate::activity::TaskActivity;
use crate::config::connector::ConnectorType;

/// Kafka Connect's connector and task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    /// Not running anywhere yet.
    Unassigned,
    /// Running.
    Running,
    /// Paused by request.
    Paused,
    /// Stopped by request (connectors only).
    Stopped,
    /// Failed; `trace` says why.
    Failed,
    /// Being restarted.
    Restarting,
}

/// Where a connector should be, as set over REST (Kafka Connect's target states).
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
    /// The state a running connector in this target reports.
    pub fn connector_state(self) -> State {
        match self {
            TargetState::Running => State::Running,
            TargetState::Paused => State::Paused,
            TargetState::Stopped => State::Stopped,
        }
    }
}

/// One connector's or task's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstanceStatus {
    /// Its state.
    pub state: State,
    /// The worker running it.
    pub worker_id: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Ferry's addition: what a task that is not FAILED waits for, while it waits (Kafka out
    /// of reach, say). Kafka Connect's clients ignore the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A connector's status with its tasks'.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorStatus {
    /// Source or sink.
    pub kind: ConnectorType,
    /// The connector instance.
    pub connector: InstanceStatus,
    /// Task id → status.
    pub tasks: BTreeMap<u32, InstanceStatus>,
}

/// Where a distributed worker shares the statuses it sets (the status topic).
pub trait StatusSink: Send + Sync {
    /// Whether this worker runs the connector (`task` None) or task, so its word counts.
    fn owns(&self, connector: &str, task: Option<u32>) -> bool;
    /// Shares a status this worker set.
    fn publish(&self, connector: &str, task: Option<u32>, status: &InstanceStatus);
    /// Shares that a connector used `topic` (`used`), or that its topics were reset.
    fn publish_topic(&self, connector: &str, topic: &str, used: bool);
}

/// Statuses, written by connector and task threads, read by the REST API and metrics.
pub struct StatusBoard {
    worker_id: String,
    statuses: RwLock<BTreeMap<String, ConnectorStatus>>,
    /// Topics each connector wrote to or read from, for `GET /connectors/{name}/topics`.
    topics: RwLock<BTreeMap<String, BTreeSet<String>>>,
    /// Tasks' figures other workers shared (distributed mode), by connector and task.
    activity: RwLock<BTreeMap<String, BTreeMap<u32, TaskActivity>>>,
    /// Set in distributed mode only.
    sink: OnceLock<Arc<dyn StatusSink>>,
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard")
            .field("worker_id", &self.worker_id)
            .finish_non_exhaustive()
    }
}

impl StatusBoard {
    /// An empty board for this worker.
    pub fn new(worker_id: String) -> Self {
        StatusBoard {
            worker_id,
            statuses: RwLock::new(BTreeMap::new()),
            topics: RwLock::new(BTreeMap::new()),
            activity: RwLock::new(BTreeMap::new()),
            sink: OnceLock::new(),
        }
    }

    /// Distributed mode: share this worker's statuses through `sink`, and keep only those of
    /// what it owns (a task that was moved away may still report while it stops).
    pub fn share_through(&self, sink: Arc<dyn StatusSink>) {
        let _ = self.sink.set(sink);
    }

    fn shared(&self, name: &str, task: Option<u32>, instance: &InstanceStatus) -> bool {
        match self.sink.get() {
            None => true,
            Some(sink) if sink.owns(name, task) => {
                sink.publish(name, task, instance);
                true
            }
            Some(_) => false,
        }
    }

    /// A status another worker shared (read from the status topic); `None` removes it.
    pub fn apply_remote(&self, name: &str, task: Option<u32>, instance: Option<InstanceStatus>) {
        let mut statuses = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        match (task, instance) {
            (None, Some(instance)) => {
                statuses
                    .entry(name.to_string())
                    .and_modify(|s| s.connector = instance.clone())
                    .or_insert(ConnectorStatus {
                        kind: ConnectorType::Unknown,
                        connector: instance,
                        tasks: BTreeMap::new(),
                    });
            }
            (None, None) => {
                statuses.remove(name);
            }
            (Some(task), Some(instance)) => {
                Self::placeholder(&mut statuses, name, &self.worker_id)
                    .tasks
                    .insert(task, instance);
            }
            (Some(task), None) => {
                if let Some(status) = statuses.get_mut(name) {
                    status.tasks.remove(&task);
                }
            }
        }
    }

    /// A connector's entry, made UNASSIGNED if its own status has not arrived yet.
    fn placeholder<'a>(
        statuses: &'a mut BTreeMap<String, ConnectorStatus>,
        name: &str,
        worker_id: &str,
    ) -> &'a mut ConnectorStatus {
        statuses
            .entry(name.to_string())
            .or_insert_with(|| ConnectorStatus {
                kind: ConnectorType::Unknown,
                connector: InstanceStatus {
                    state: State::Unassigned,
                    worker_id: worker_id.to_string(),
                    trace: None,
                    warning: None,
                },
                tasks: BTreeMap::new(),
            })
    }

    fn instance(&self, state: State, trace: Option<String>) -> InstanceStatus {
        InstanceStatus {
            state,
            worker_id: self.worker_id.clone(),
            trace,
            warning: None,
        }
    }

    /// Sets or clears a task's warning, keeping its state; ignored for a task not on the board.
    pub fn set_task_warning(&self, name: &str, task: u32, warning: Option<String>) {
        let current = self
            .statuses
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .and_then(|s| s.tasks.get(&task).cloned());
        let Some(mut instance) = current else {
            return;
        };
        if instance.warning == warning {
            return;
        }
        instance.warning = warning;
        if !self.shared(name, Some(task), &instance) {
            return;
        }
        let mut statuses = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        if let Some(status) = statuses.get_mut(name) {
            status.tasks.insert(task, instance);
        }
    }

    /// Sets a connector's own state, creating its entry if needed.
    pub fn set_connector(
        &self,
        name: &str,
        kind: ConnectorType,
        state: State,
        trace: Option<String>,
    ) {
        let instance = self.instance(state, trace);
        if !self.shared(name, None, &instance) {
            return;
        }
        let mut statuses = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        statuses
            .entry(name.to_string())
            .and_modify(|s| s.connector = instance.clone())
            .or_insert(ConnectorStatus {
                kind,
                connector: instance,
                tasks: BTreeMap::new(),
            });
    }

    /// Sets a task's state (ignored once the connector was deleted).
    pub fn set_task(&self, name: &str, task: u32, state: State, trace: Option<String>) {
        let instance = self.instance(state, trace);
        if !self.shared(name, Some(task), &instance) {
            return;
        }
        let mut statuses = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        if self.sink.get().is_some() {
            // Another worker may run the connector; its status may not have arrived yet.
            Self::placeholder(&mut statuses, name, &self.worker_id)
                .tasks
                .insert(task, instance);
        } else if let Some(status) = statuses.get_mut(name) {
            status.tasks.insert(task, instance);
        }
    }

    /// Forgets tasks with ids at or above `from` (after scaling down or stopping).
    pub fn remove_tasks_from(&self, name: &str, from: u32) {
        let mut statuses = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        if let Some(status) = statuses.get_mut(name) {
            status.tasks.retain(|id, _| *id < from);
        }
    }

    /// Forgets a connector.
    pub fn remove(&self, name: &str) {
        let mut statuses = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        statuses.remove(name);
        drop(statuses);
        self.reset_topics(name);
        let mut activity = self.activity.write().unwrap_or_else(|e| e.into_inner());
        activity.remove(name);
    }

    /// A task's figures another worker shared; `None` forgets them.
    pub fn apply_remote_activity(&self, name: &str, task: u32, figures: Option<TaskActivity>) {
        let mut activity = self.activity.write().unwrap_or_else(|e| e.into_inner());
        match figures {
            Some(figures) => {
                activity
                    .entry(name.to_string())
                    .or_default()
                    .insert(task, figures);
            }
            None => {
                if let Some(tasks) = activity.get_mut(name) {
                    tasks.remove(&task);
                }
            }
        }
    }

    /// The figures other workers shared about a connector's tasks.
    pub fn shared_activity(&self, name: &str) -> BTreeMap<u32, TaskActivity> {
        let activity = self.activity.read().unwrap_or_else(|e| e.into_inner());
        activity.get(name).cloned().unwrap_or_default()
    }

    /// Notes that a connector used `topic`.
    pub fn record_topic(&self, name: &str, topic: &str) {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let new = topics
            .entry(name.to_string())
            .or_default()
            .insert(topic.to_string());
        if let (true, Some(sink)) = (new, self.sink.get()) {
            sink.publish_topic(name, topic, true);
        }
    }

    /// A topic use another worker shared (`used`), or its reset.
    pub fn apply_remote_topic(&self, name: &str, topic: &str, used: bool) {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let known = topics.entry(name.to_string()).or_default();
        if used {
            known.insert(topic.to_string());
        } else {
            known.remove(topic);
        }
    }

    /// Topics a connector used since it was created or its topics were reset.
    pub fn topics(&self, name: &str) -> Vec<String> {
        let topics = self.topics.read().unwrap_or_else(|e| e.into_inner());
        topics
            .get(name)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets the topics a connector used.
    pub fn reset_topics(&self, name: &str) {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let forgotten = topics.remove(name).unwrap_or_default();
        if let Some(sink) = self.sink.get() {
            for topic in forgotten {
                sink.publish_topic(name, &topic, false);
            }
        }
    }

    /// A connector's status.
    pub fn get(&self, name: &str) -> Option<ConnectorStatus> {
        let statuses = self.statuses.read().unwrap_or_else(|e| e.into_inner());
        statuses.get(name).cloned()
    }

    /// All statuses.
    pub fn all(&self) -> BTreeMap<String, ConnectorStatus> {
        self.statuses
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The worker id statuses carry.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_keeps_the_state_and_a_new_state_clears_it() {
        let board = StatusBoard::new("w".into());
        board.set_connector("c", ConnectorType::Source, State::Running, None);
        board.set_task("c", 0, State::Running, None);
        board.set_task_warning("c", 0, Some("waiting for Kafka".into()));
        board.set_task_warning("c", 7, Some("no such task".into()));
        let task = &board.get("c").unwrap().tasks[&0];
        assert_eq!(task.state, State::Running);
        assert_eq!(task.warning.as_deref(), Some("waiting for Kafka"));
        assert!(!board.get("c").unwrap().tasks.contains_key(&7));
        let shown = serde_json::to_value(task).unwrap();
        assert_eq!(shown["warning"], "waiting for Kafka");

        board.set_task("c", 0, State::Paused, None);
        let task = &board.get("c").unwrap().tasks[&0];
        assert_eq!(task.warning, None);
        assert!(serde_json::to_value(task).unwrap().get("warning").is_none());
    }
}
