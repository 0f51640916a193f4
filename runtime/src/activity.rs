//! What each task of a connector has done, across the cluster: `GET
//! /connectors/{name}/activity` and `GET /connectors?expand=activity`, which the web console
//! plots. A worker reads its own tasks' counters live; in a cluster every worker also shares
//! its tasks' figures through the status topic every [`SHARE_INTERVAL`], so whichever worker
//! answers knows all of them without calling the others.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::connector::ConnectorType;
use crate::herder::StatusInfo;
use crate::metrics::{now_ms, TaskMetrics, LATENCY_BOUNDS_MS};
use crate::worker::Worker;

/// How often a distributed worker shares its tasks' figures.
pub const SHARE_INTERVAL: Duration = Duration::from_secs(5);

/// One task's counters at one moment. Counters start at 0 on the worker that runs the task:
/// after a move to another worker they start again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskActivity {
    /// The task's number.
    pub id: u32,
    /// The worker the figures come from.
    pub worker_id: String,
    /// When they were read, in ms since the Unix epoch.
    pub at: u64,
    /// Records taken in: returned by `poll` (sources) or read from Kafka (sinks).
    pub records_in: u64,
    /// Records passed on: acknowledged by Kafka (sources) or handed to `put` (sinks).
    pub records_out: u64,
    /// Restarts on this worker, automatic or requested.
    pub restarts: u64,
    /// When the current run started, in ms since the Unix epoch.
    pub started_at: Option<u64>,
    /// Sinks: records in the task's partitions past the group's committed offsets, as
    /// `kafka-consumer-groups` shows the lag.
    pub lag: Option<u64>,
    /// Records by age when the task was done with them, cumulative per bound of
    /// `latency_bounds_ms`, then the total.
    pub latency_counts: Vec<u64>,
    /// The sum of those ages, in ms.
    pub latency_sum_ms: u64,
}

impl TaskActivity {
    /// The figures of task `id` from its counters on this worker.
    pub fn read(id: u32, worker_id: &str, kind: ConnectorType, metrics: &TaskMetrics) -> Self {
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        let (records_in, records_out) = match kind {
            ConnectorType::Sink => (load(&metrics.records_read), load(&metrics.records_put)),
            _ => (
                load(&metrics.records_polled),
                load(&metrics.records_written),
            ),
        };
        TaskActivity {
            id,
            worker_id: worker_id.to_string(),
            at: now_ms(),
            records_in,
            records_out,
            restarts: load(&metrics.runs).saturating_sub(1),
            started_at: Some(load(&metrics.started_ms)).filter(|ms| *ms > 0),
            lag: metrics.lag.get(),
            latency_counts: metrics.latency.cumulative(),
            latency_sum_ms: metrics.latency.sum_ms(),
        }
    }
}

/// A connector's tasks' figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectorActivity {
    /// The connector's name.
    pub name: String,
    /// source, sink, or unknown.
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    /// The plugin's full class name on the worker answering, if it is loaded there.
    pub plugin_class: Option<String>,
    /// That plugin's version.
    pub plugin_version: Option<String>,
    /// Upper bounds of the latency buckets, in ms; the last count of each task is the total.
    pub latency_bounds_ms: Vec<u64>,
    /// One entry per task whose figures are known, by task number.
    pub tasks: Vec<TaskActivity>,
}

/// The figures of the tasks in `status`: live for those this worker runs, as last shared for
/// the others. `connector_class` is the connector's `connector.class`, a class or an alias.
pub fn of_connector(
    worker: &Worker,
    status: &StatusInfo,
    connector_class: Option<&str>,
) -> ConnectorActivity {
    let plugin = connector_class.and_then(|class| worker.plugins.find(class));
    let here = worker.status.worker_id();
    let shared = worker.status.shared_activity(&status.name);
    let tasks = status
        .tasks
        .iter()
        .filter_map(|task| {
            let live = (task.status.worker_id == here)
                .then(|| worker.metrics.existing(&status.name, task.id))
                .flatten()
                .map(|(kind, metrics)| TaskActivity::read(task.id, here, kind, &metrics));
            live.or_else(|| shared.get(&task.id).cloned())
        })
        .collect();
    ConnectorActivity {
        name: status.name.clone(),
        kind: status.kind,
        plugin_class: plugin.as_ref().map(|p| p.class_name.clone()),
        plugin_version: plugin.as_ref().map(|p| p.version.clone()),
        latency_bounds_ms: LATENCY_BOUNDS_MS.to_vec(),
        tasks,
    }
}
