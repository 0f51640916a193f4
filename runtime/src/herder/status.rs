//! The status of every connector and task this worker knows, in Kafka Connect's shapes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

use serde::Serialize;

use crate::plugins::ConnectorType;

/// Kafka Connect's connector and task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// One connector's or task's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceStatus {
    /// Its state.
    pub state: State,
    /// The worker running it.
    pub worker_id: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
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

/// Statuses, written by connector and task threads, read by the REST API and metrics.
#[derive(Debug)]
pub struct StatusBoard {
    worker_id: String,
    statuses: RwLock<BTreeMap<String, ConnectorStatus>>,
    /// Topics each connector wrote to or read from, for `GET /connectors/{name}/topics`.
    topics: RwLock<BTreeMap<String, BTreeSet<String>>>,
}

impl StatusBoard {
    /// An empty board for this worker.
    pub fn new(worker_id: String) -> Self {
        StatusBoard {
            worker_id,
            statuses: RwLock::new(BTreeMap::new()),
            topics: RwLock::new(BTreeMap::new()),
        }
    }

    fn instance(&self, state: State, trace: Option<String>) -> InstanceStatus {
        InstanceStatus {
            state,
            worker_id: self.worker_id.clone(),
            trace,
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
        let mut statuses = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        if let Some(status) = statuses.get_mut(name) {
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
        self.reset_topics(name);
    }

    /// Notes that a connector used `topic`.
    pub fn record_topic(&self, name: &str, topic: &str) {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        topics
            .entry(name.to_string())
            .or_default()
            .insert(topic.to_string());
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
        topics.remove(name);
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
