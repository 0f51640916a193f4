//! Worker metrics with fixed names and bounded labels (connector, task), rendered in the
//! Prometheus text format by `GET /metrics`. Counters end in `_total`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::status::{State, StatusBoard};

/// Counters of one task.
#[derive(Debug, Default)]
pub struct TaskMetrics {
    /// Records returned by `poll` (sources).
    pub records_polled: AtomicU64,
    /// Records Kafka acknowledged (sources).
    pub records_written: AtomicU64,
    /// Records handed to `put` (sinks).
    pub records_put: AtomicU64,
    /// Offset commits that succeeded.
    pub offset_commits: AtomicU64,
    /// Offset commits that failed.
    pub offset_commit_failures: AtomicU64,
    /// Total time spent committing offsets, in microseconds.
    pub offset_commit_micros: AtomicU64,
    /// Record-level errors (conversion, errant records) and task failures.
    pub errors: AtomicU64,
    /// Records skipped under `errors.tolerance=all`.
    pub records_skipped: AtomicU64,
    /// Records written to the dead-letter topic.
    pub dead_letter_records: AtomicU64,
    /// Automatic restarts after a failure.
    pub restarts: AtomicU64,
}

impl TaskMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Picks one counter out of a task's metrics.
type Counter = fn(&TaskMetrics) -> &AtomicU64;

/// A distributed worker's view of its cluster (Kafka Connect's rebalance metrics).
#[derive(Debug, Default)]
pub struct ClusterMetrics {
    /// Set by distributed workers; the cluster metrics are rendered only then.
    pub enabled: AtomicBool,
    /// Rebalances of the worker group this worker took part in.
    pub rebalances: AtomicU64,
    /// 1 while this worker is the leader.
    pub leader: AtomicU64,
    /// Generation of the assignment this worker follows.
    pub generation: AtomicU64,
    /// Workers in that assignment.
    pub members: AtomicU64,
}

/// Every task's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    tasks: Mutex<BTreeMap<(String, u32), Arc<TaskMetrics>>>,
    /// Distributed mode only.
    pub cluster: ClusterMetrics,
}

impl Metrics {
    /// The counters of a task, created on first use and kept across its restarts.
    pub fn task(&self, connector: &str, task: u32) -> Arc<TaskMetrics> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks
            .entry((connector.to_string(), task))
            .or_default()
            .clone()
    }

    /// Drops the counters of a deleted connector.
    pub fn remove_connector(&self, connector: &str) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|(c, _), _| c != connector);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, status: &StatusBoard) -> String {
        let mut out = String::new();
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let counters: [(&str, &str, Counter); 10] = [
            (
                "ferry_source_records_polled_total",
                "Records returned by source tasks' poll.",
                |m| &m.records_polled,
            ),
            (
                "ferry_source_records_written_total",
                "Source records acknowledged by Kafka.",
                |m| &m.records_written,
            ),
            (
                "ferry_sink_records_put_total",
                "Records handed to sink tasks' put.",
                |m| &m.records_put,
            ),
            (
                "ferry_offset_commits_total",
                "Successful offset commits.",
                |m| &m.offset_commits,
            ),
            (
                "ferry_offset_commit_failures_total",
                "Failed offset commits.",
                |m| &m.offset_commit_failures,
            ),
            (
                "ferry_offset_commit_seconds_total",
                "Time spent committing offsets.",
                |m| &m.offset_commit_micros,
            ),
            (
                "ferry_task_errors_total",
                "Record errors and task failures.",
                |m| &m.errors,
            ),
            (
                "ferry_records_skipped_total",
                "Records skipped under errors.tolerance=all.",
                |m| &m.records_skipped,
            ),
            (
                "ferry_dead_letter_records_total",
                "Records written to the dead-letter topic.",
                |m| &m.dead_letter_records,
            ),
            (
                "ferry_task_restarts_total",
                "Automatic restarts of failed tasks.",
                |m| &m.restarts,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((connector, task), metrics) in &tasks {
                let value = counter(metrics).load(Ordering::Relaxed);
                if name == "ferry_offset_commit_seconds_total" {
                    let seconds = value as f64 / 1e6;
                    let _ = writeln!(
                        out,
                        "{name}{{connector=\"{connector}\",task=\"{task}\"}} {seconds}"
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "{name}{{connector=\"{connector}\",task=\"{task}\"}} {value}"
                    );
                }
            }
        }
        // In a cluster the board holds every worker's statuses: count this worker's own.
        let here = status.worker_id();
        let statuses: BTreeMap<_, _> = status
            .all()
            .into_iter()
            .map(|(name, mut s)| {
                s.tasks.retain(|_, t| t.worker_id == here);
                (name, s)
            })
            .filter(|(_, s)| s.connector.worker_id == here || !s.tasks.is_empty())
            .collect();
        let _ = writeln!(out, "# HELP ferry_task_state Task state: 1 for the current state.\n# TYPE ferry_task_state gauge");
        for (connector, connector_status) in &statuses {
            for (task, task_status) in &connector_status.tasks {
                let state = serde_json::to_value(task_status.state).unwrap_or_default();
                let state = state.as_str().unwrap_or("UNKNOWN");
                let _ = writeln!(out, "ferry_task_state{{connector=\"{connector}\",task=\"{task}\",state=\"{state}\"}} 1");
            }
        }
        let running = |s: &State| matches!(s, State::Running);
        let connectors = statuses.len();
        let tasks_total: usize = statuses.values().map(|s| s.tasks.len()).sum();
        let failed: usize = statuses
            .values()
            .flat_map(|s| s.tasks.values())
            .filter(|t| t.state == State::Failed)
            .count();
        let running_tasks: usize = statuses
            .values()
            .flat_map(|s| s.tasks.values())
            .filter(|t| running(&t.state))
            .count();
        let _ = writeln!(out, "# HELP ferry_worker_connectors Connectors on this worker.\n# TYPE ferry_worker_connectors gauge\nferry_worker_connectors {connectors}");
        let _ = writeln!(out, "# HELP ferry_worker_tasks Tasks on this worker, by state.\n# TYPE ferry_worker_tasks gauge");
        let _ = writeln!(out, "ferry_worker_tasks{{state=\"all\"}} {tasks_total}\nferry_worker_tasks{{state=\"running\"}} {running_tasks}\nferry_worker_tasks{{state=\"failed\"}} {failed}");
        let cluster = &self.cluster;
        if cluster.enabled.load(Ordering::Relaxed) {
            let gauges = [
                (
                    "ferry_cluster_rebalances_total",
                    "counter",
                    "Rebalances of the worker group.",
                    &cluster.rebalances,
                ),
                (
                    "ferry_cluster_leader",
                    "gauge",
                    "1 while this worker is the cluster's leader.",
                    &cluster.leader,
                ),
                (
                    "ferry_cluster_assignment_generation",
                    "gauge",
                    "Generation of the assignment this worker follows.",
                    &cluster.generation,
                ),
                (
                    "ferry_cluster_members",
                    "gauge",
                    "Workers in that assignment.",
                    &cluster.members,
                ),
            ];
            for (name, kind, help, value) in gauges {
                let value = value.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
                );
            }
        }
        out
    }
}
