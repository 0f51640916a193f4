//! Worker metrics with fixed names and bounded labels (connector, task), served by
//! `GET /metrics` in the Prometheus text format 0.0.4. Counters end in `_total`.
//!
//! Task threads bump plain atomics; `render` reads them into the `prometheus` crate's data
//! model and lets its encoder write the text, so the library escapes label values (a connector
//! name may hold `"`, `\` or a newline). A task exports only the series of its connector's
//! type: a source has no `ferry_sink_*` or dead-letter series, a sink no `ferry_source_*` ones.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::TextEncoder;

use crate::config::connector::ConnectorType;
use crate::status::{State, StatusBoard};

/// The `Content-Type` of [`Metrics::render`]'s text: the encoder's format, and UTF-8 because
/// connector names are.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

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
    /// Records a transformation dropped (a `Filter`, say).
    pub records_filtered: AtomicU64,
    /// Records written to the dead-letter topic (sinks).
    pub dead_letter_records: AtomicU64,
    /// Automatic restarts after a failure.
    pub restarts: AtomicU64,
    /// Records read from Kafka (sinks).
    pub records_read: AtomicU64,
    /// Runs of the task on this worker: the first start, then each restart, automatic or
    /// requested.
    pub runs: AtomicU64,
    /// When the current run started, in ms since the Unix epoch.
    pub started_ms: AtomicU64,
    /// Records in the task's partitions past the group's committed offsets (sinks).
    pub lag: OptionalGauge,
    /// How old records were when the task was done with them: acknowledged by Kafka
    /// (sources), handed to `put` (sinks).
    pub latency: LatencyHistogram,
    /// 1 while the task waits for Kafka (see the task status's `warning`).
    pub waiting_for_kafka: AtomicU64,
    /// When the task's Kafka client last reported that it cannot reach Kafka, in ms since the
    /// Unix epoch (0: never).
    pub kafka_error_ms: AtomicU64,
    /// When Kafka last moved the task on (a delivery report, a record read, a commit), in ms
    /// since the Unix epoch.
    pub kafka_progress_ms: AtomicU64,
    /// Records handed to the producer and not yet answered (sources).
    pub in_flight: AtomicU64,
    /// When the Kafka call the task is blocked in began (a sink's commit), 0 when in none.
    pub kafka_call_since_ms: AtomicU64,
}

impl TaskMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Notes that a run of the task starts now.
    pub fn run_started(&self) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.started_ms.store(now_ms(), Ordering::Relaxed);
        self.kafka_progress_now();
        self.in_flight.store(0, Ordering::Relaxed);
        self.kafka_call_since_ms.store(0, Ordering::Relaxed);
    }

    /// Notes that Kafka moved the task on just now.
    pub fn kafka_progress_now(&self) {
        self.kafka_progress_ms.store(now_ms(), Ordering::Relaxed);
    }
}

/// Milliseconds since the Unix epoch, the unit of Kafka's record timestamps.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A gauge that may have no value yet.
#[derive(Debug)]
pub struct OptionalGauge(AtomicU64);

impl Default for OptionalGauge {
    fn default() -> Self {
        OptionalGauge(AtomicU64::new(u64::MAX))
    }
}

impl OptionalGauge {
    /// Sets the value, or clears it.
    pub fn set(&self, value: Option<u64>) {
        let stored = value.map_or(u64::MAX, |v| v.min(u64::MAX - 1));
        self.0.store(stored, Ordering::Relaxed);
    }

    /// The value, if one was set.
    pub fn get(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|v| *v != u64::MAX)
    }
}

/// Upper bounds of the latency histogram's buckets, in milliseconds; one more bucket holds
/// the rest. Record timestamps have millisecond resolution, so finer buckets would mislead.
pub const LATENCY_BOUNDS_MS: [u64; 18] = [
    1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1_000, 2_000, 5_000, 10_000, 30_000,
];

/// Record latencies by bucket, bumped by the task thread with one atomic add.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Records per bucket (not cumulative); the last bucket is everything above the bounds.
    buckets: [AtomicU64; LATENCY_BOUNDS_MS.len() + 1],
    sum_ms: AtomicU64,
}

impl LatencyHistogram {
    /// Counts a record that took `latency_ms`; a negative figure (clocks apart) counts as 0.
    pub fn observe_ms(&self, latency_ms: i64) {
        let latency = latency_ms.max(0) as u64;
        let bucket = LATENCY_BOUNDS_MS.partition_point(|bound| *bound < latency);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(latency, Ordering::Relaxed);
    }

    /// Counts a record whose timestamp was `timestamp_ms`, if it has one.
    pub fn observe_since(&self, timestamp_ms: Option<i64>) {
        if let Some(timestamp) = timestamp_ms {
            self.observe_ms(now_ms() as i64 - timestamp);
        }
    }

    /// Cumulative counts, one per bound and then the total, as Prometheus shows them.
    pub fn cumulative(&self) -> Vec<u64> {
        let mut total = 0;
        self.buckets
            .iter()
            .map(|bucket| {
                total += bucket.load(Ordering::Relaxed);
                total
            })
            .collect()
    }

    /// The sum of every latency counted, in milliseconds.
    pub fn sum_ms(&self) -> u64 {
        self.sum_ms.load(Ordering::Relaxed)
    }
}

/// One counter that every task of the connector types it applies to exports.
struct TaskCounter {
    name: &'static str,
    help: &'static str,
    /// The one connector type that has it, or `None` for both.
    only: Option<ConnectorType>,
    value: fn(&TaskMetrics) -> f64,
}

fn count(counter: &AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
}

const TASK_COUNTERS: [TaskCounter; 12] = [
    TaskCounter {
        name: "ferry_source_records_polled_total",
        help: "Records returned by source tasks' poll.",
        only: Some(ConnectorType::Source),
        value: |m| count(&m.records_polled),
    },
    TaskCounter {
        name: "ferry_source_records_written_total",
        help: "Source records acknowledged by Kafka.",
        only: Some(ConnectorType::Source),
        value: |m| count(&m.records_written),
    },
    TaskCounter {
        name: "ferry_sink_records_read_total",
        help: "Records sink tasks read from Kafka.",
        only: Some(ConnectorType::Sink),
        value: |m| count(&m.records_read),
    },
    TaskCounter {
        name: "ferry_sink_records_put_total",
        help: "Records handed to sink tasks' put.",
        only: Some(ConnectorType::Sink),
        value: |m| count(&m.records_put),
    },
    TaskCounter {
        name: "ferry_offset_commits_total",
        help: "Successful offset commits.",
        only: None,
        value: |m| count(&m.offset_commits),
    },
    TaskCounter {
        name: "ferry_offset_commit_failures_total",
        help: "Failed offset commits.",
        only: None,
        value: |m| count(&m.offset_commit_failures),
    },
    TaskCounter {
        name: "ferry_offset_commit_seconds_total",
        help: "Time spent committing offsets.",
        only: None,
        value: |m| count(&m.offset_commit_micros) / 1e6,
    },
    TaskCounter {
        name: "ferry_task_errors_total",
        help: "Record errors and task failures.",
        only: None,
        value: |m| count(&m.errors),
    },
    TaskCounter {
        name: "ferry_records_skipped_total",
        help: "Records skipped under errors.tolerance=all.",
        only: None,
        value: |m| count(&m.records_skipped),
    },
    TaskCounter {
        name: "ferry_records_filtered_total",
        help: "Records a transformation dropped.",
        only: None,
        value: |m| count(&m.records_filtered),
    },
    // Only sinks have a dead-letter topic (`errors.deadletterqueue.topic.name`).
    TaskCounter {
        name: "ferry_dead_letter_records_total",
        help: "Records written to the dead-letter topic.",
        only: Some(ConnectorType::Sink),
        value: |m| count(&m.dead_letter_records),
    },
    TaskCounter {
        name: "ferry_task_restarts_total",
        help: "Automatic restarts of failed tasks.",
        only: None,
        value: |m| count(&m.restarts),
    },
];

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

/// One task's sample of a family, given its `connector` and `task` labels; `None` leaves the
/// task out of it.
type TaskSample = dyn Fn(&TaskEntry, &[(&str, &str)]) -> Option<Metric>;

/// A task's counters and the type of its connector, which decides the series they feed.
#[derive(Debug, Clone)]
struct TaskEntry {
    kind: ConnectorType,
    metrics: Arc<TaskMetrics>,
}

/// Every task's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    tasks: Mutex<BTreeMap<(String, u32), TaskEntry>>,
    /// Distributed mode only.
    pub cluster: ClusterMetrics,
}

impl Metrics {
    /// The counters of a task of a `kind` connector, created on first use and kept across its
    /// restarts. A connector re-created under the same name with the other type starts afresh,
    /// since the old counters belong to series the new type does not export.
    pub fn task(&self, connector: &str, task: u32, kind: ConnectorType) -> Arc<TaskMetrics> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = || TaskEntry {
            kind,
            metrics: Arc::default(),
        };
        let entry = tasks
            .entry((connector.to_string(), task))
            .or_insert_with(fresh);
        if entry.kind != kind {
            *entry = fresh();
        }
        entry.metrics.clone()
    }

    /// Every task's counters, with its connector, number and type.
    pub fn tasks(&self) -> Vec<(String, u32, ConnectorType, Arc<TaskMetrics>)> {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks
            .iter()
            .map(|((connector, task), entry)| {
                (connector.clone(), *task, entry.kind, entry.metrics.clone())
            })
            .collect()
    }

    /// The counters of a task, if it ran on this worker.
    pub fn existing(
        &self,
        connector: &str,
        task: u32,
    ) -> Option<(ConnectorType, Arc<TaskMetrics>)> {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks
            .get(&(connector.to_string(), task))
            .map(|entry| (entry.kind, entry.metrics.clone()))
    }

    /// Drops the counters of a deleted connector.
    pub fn remove_connector(&self, connector: &str) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|(c, _), _| c != connector);
    }

    /// The Prometheus text exposition (format 0.0.4, see [`CONTENT_TYPE`]).
    pub fn render(&self, status: &StatusBoard) -> String {
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut families = Vec::new();
        for counter in &TASK_COUNTERS {
            let samples = tasks
                .iter()
                .filter(|(_, entry)| counter.only.is_none_or(|only| only == entry.kind))
                .map(|((connector, task), entry)| {
                    let task = task.to_string();
                    sample_counter(
                        &[("connector", connector), ("task", &task)],
                        (counter.value)(&entry.metrics),
                    )
                })
                .collect();
            families.push(family(
                counter.name,
                counter.help,
                MetricType::COUNTER,
                samples,
            ));
        }
        let per_task = |sample: &TaskSample| {
            tasks
                .iter()
                .filter_map(|((connector, task), entry)| {
                    sample(
                        entry,
                        &[("connector", connector), ("task", &task.to_string())],
                    )
                })
                .collect::<Vec<_>>()
        };
        families.push(family(
            "ferry_sink_records_lag",
            "Records in a sink task's partitions past the committed offsets (log end minus committed).",
            MetricType::GAUGE,
            per_task(&|entry, labels| {
                let lag = entry.metrics.lag.get()?;
                (entry.kind == ConnectorType::Sink).then(|| sample_gauge(labels, lag as f64))
            }),
        ));
        families.push(family(
            "ferry_task_waiting_for_kafka",
            "1 while the task waits for Kafka: records in flight unacknowledged, or the client out of reach.",
            MetricType::GAUGE,
            per_task(&|entry, labels| {
                let waiting = entry.metrics.waiting_for_kafka.load(Ordering::Relaxed);
                Some(sample_gauge(labels, waiting as f64))
            }),
        ));
        families.push(family(
            "ferry_task_start_time_seconds",
            "When the task's current run started, in seconds since the Unix epoch.",
            MetricType::GAUGE,
            per_task(&|entry, labels| {
                let started = entry.metrics.started_ms.load(Ordering::Relaxed);
                (started > 0).then(|| sample_gauge(labels, started as f64 / 1e3))
            }),
        ));
        families.push(family(
            "ferry_record_latency_seconds",
            "Age of records, from their timestamp, when Kafka acknowledged them (sources) or \
             they were handed to put (sinks).",
            MetricType::HISTOGRAM,
            per_task(&|entry, labels| Some(sample_histogram(labels, &entry.metrics.latency))),
        ));

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
        let mut states = Vec::new();
        for (connector, connector_status) in &statuses {
            for (task, task_status) in &connector_status.tasks {
                let state = serde_json::to_value(task_status.state).unwrap_or_default();
                let state = state.as_str().unwrap_or("UNKNOWN");
                let task = task.to_string();
                states.push(sample_gauge(
                    &[("connector", connector), ("task", &task), ("state", state)],
                    1.0,
                ));
            }
        }
        families.push(family(
            "ferry_task_state",
            "Task state: 1 for the current state.",
            MetricType::GAUGE,
            states,
        ));
        let task_states = || statuses.values().flat_map(|s| s.tasks.values());
        let all = task_states().count();
        let running = task_states().filter(|t| t.state == State::Running).count();
        let failed = task_states().filter(|t| t.state == State::Failed).count();
        families.push(family(
            "ferry_worker_connectors",
            "Connectors on this worker.",
            MetricType::GAUGE,
            vec![sample_gauge(&[], statuses.len() as f64)],
        ));
        families.push(family(
            "ferry_worker_tasks",
            "Tasks on this worker, by state.",
            MetricType::GAUGE,
            [("all", all), ("running", running), ("failed", failed)]
                .into_iter()
                .map(|(state, n)| sample_gauge(&[("state", state)], n as f64))
                .collect(),
        ));

        let cluster = &self.cluster;
        if cluster.enabled.load(Ordering::Relaxed) {
            let values = [
                (
                    "ferry_cluster_rebalances_total",
                    MetricType::COUNTER,
                    "Rebalances of the worker group.",
                    &cluster.rebalances,
                ),
                (
                    "ferry_cluster_leader",
                    MetricType::GAUGE,
                    "1 while this worker is the cluster's leader.",
                    &cluster.leader,
                ),
                (
                    "ferry_cluster_assignment_generation",
                    MetricType::GAUGE,
                    "Generation of the assignment this worker follows.",
                    &cluster.generation,
                ),
                (
                    "ferry_cluster_members",
                    MetricType::GAUGE,
                    "Workers in that assignment.",
                    &cluster.members,
                ),
            ];
            for (name, kind, help, value) in values {
                let sample = match kind {
                    MetricType::COUNTER => sample_counter(&[], count(value)),
                    _ => sample_gauge(&[], count(value)),
                };
                families.push(family(name, help, kind, vec![sample]));
            }
        }

        // The encoder refuses a family without samples (the hand-written text used to print
        // HELP and TYPE alone, which told a scraper nothing).
        families.retain(|f| !f.get_metric().is_empty());
        let mut text = String::new();
        if let Err(error) = TextEncoder::new().encode_utf8(&families, &mut text) {
            // Only a family without a name or samples fails, and none is left here.
            tracing::error!(%error, "the metrics could not be rendered");
        }
        text
    }
}

fn family(name: &str, help: &str, kind: MetricType, samples: Vec<Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_string());
    family.set_help(help.to_string());
    family.set_field_type(kind);
    family.set_metric(samples);
    family
}

/// A sample with its labels in the given order, the order the text shows them in.
fn labelled(labels: &[(&str, &str)]) -> Metric {
    Metric::from_label(
        labels
            .iter()
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name(name.to_string());
                pair.set_value(value.to_string());
                pair
            })
            .collect(),
    )
}

fn sample_counter(labels: &[(&str, &str)], value: f64) -> Metric {
    let mut sample = labelled(labels);
    let mut counter = Counter::default();
    counter.set_value(value);
    sample.set_counter(counter);
    sample
}

fn sample_histogram(labels: &[(&str, &str)], latency: &LatencyHistogram) -> Metric {
    let cumulative = latency.cumulative();
    let buckets = LATENCY_BOUNDS_MS
        .iter()
        .zip(&cumulative)
        .map(|(bound, count)| {
            let mut bucket = Bucket::default();
            bucket.set_upper_bound(*bound as f64 / 1e3);
            bucket.set_cumulative_count(*count);
            bucket
        })
        .collect();
    let mut histogram = Histogram::default();
    histogram.set_bucket(buckets);
    histogram.set_sample_count(cumulative.last().copied().unwrap_or(0));
    histogram.set_sample_sum(latency.sum_ms() as f64 / 1e3);
    let mut sample = labelled(labels);
    sample.set_histogram(histogram);
    sample
}

fn sample_gauge(labels: &[(&str, &str)], value: f64) -> Metric {
    let mut sample = labelled(labels);
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    sample.set_gauge(gauge);
    sample
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;

    /// A sample's labels, in the order of the text.
    type Labels = Vec<(String, String)>;

    /// A strict reading of the text format 0.0.4 for the unit tests (the integration test uses
    /// Prometheus' own parser): HELP then TYPE once per family, then only that family's samples,
    /// each `name{label="value",...} number` with `\\`, `\"` and `\n` the only escapes; a
    /// histogram's samples are its `_bucket`, `_sum` and `_count`.
    /// Returns every sample as (name, labels unescaped, value).
    fn parse(text: &str) -> Vec<(String, Labels, f64)> {
        let name = r"[a-zA-Z_:][a-zA-Z0-9_:]*";
        let value = r#"(?:[^"\\\n]|\\[\\"n])*"#;
        let help = regex::Regex::new(&format!(r"^# HELP ({name}) .+$")).unwrap();
        let kind =
            regex::Regex::new(&format!(r"^# TYPE ({name}) (counter|gauge|histogram)$")).unwrap();
        let sample = regex::Regex::new(&format!(
            r#"^({name})(?:\{{((?:{name}="{value}")(?:,{name}="{value}")*)\}})? (\S+)$"#
        ))
        .unwrap();
        let label = regex::Regex::new(&format!(r#"({name})="({value})""#)).unwrap();
        assert!(text.ends_with('\n'), "the text ends with a newline");
        let mut typed = HashSet::new();
        let mut current: Option<(String, bool)> = None;
        let mut samples = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some(h) = help.captures(line) {
                let family = h[1].to_string();
                let next = lines.next().unwrap_or_default();
                let t = kind
                    .captures(next)
                    .unwrap_or_else(|| panic!("no TYPE after {line:?}: {next:?}"));
                assert_eq!(t[1], family, "TYPE of another family: {next:?}");
                assert!(typed.insert(family.clone()), "{family} appears twice");
                current = Some((family, &t[2] == "histogram"));
                continue;
            }
            let s = sample
                .captures(line)
                .unwrap_or_else(|| panic!("not a valid sample line: {line:?}"));
            let (family, histogram) = current.clone().unwrap_or_default();
            let in_family = s[1] == family
                || histogram
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|suffix| s[1] == format!("{family}{suffix}"));
            assert!(in_family, "outside its family: {line:?}");
            let labels: Labels = s.get(2).map_or(vec![], |l| {
                label
                    .captures_iter(l.as_str())
                    .map(|c| (c[1].to_string(), unescape(&c[2])))
                    .collect()
            });
            let number: f64 = s[3]
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {line:?}"));
            samples.push((s[1].to_string(), labels, number));
        }
        samples
    }

    fn unescape(value: &str) -> String {
        let mut out = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            // The value regex admits only these three escapes.
            out.push(match chars.next() {
                Some('n') => '\n',
                Some(escaped) => escaped,
                None => unreachable!("a trailing backslash in {value:?}"),
            });
        }
        out
    }

    fn board(tasks: &[(&str, ConnectorType)]) -> StatusBoard {
        let board = StatusBoard::new("worker-1".to_string());
        for (name, kind) in tasks {
            board.set_connector(name, *kind, State::Running, None);
            board.set_task(name, 0, State::Running, None);
        }
        board
    }

    /// The series names rendered for `connector`.
    fn series_of(samples: &[(String, Labels, f64)], connector: &str) -> BTreeSet<String> {
        samples
            .iter()
            .filter(|(_, labels, _)| {
                labels
                    .iter()
                    .any(|(k, v)| k == "connector" && v == connector)
            })
            .map(|(name, _, _)| name.clone())
            .collect()
    }

    #[test]
    #[should_panic(expected = "not a valid sample line")]
    fn the_checker_rejects_the_unescaped_text_of_old() {
        parse(
            "# HELP ferry_x_total X.\n# TYPE ferry_x_total counter\n\
             ferry_x_total{connector=\"a\"b\\c\",task=\"0\"} 1\n",
        );
    }

    #[test]
    fn names_with_quotes_backslashes_and_newlines_are_escaped() {
        let metrics = Metrics::default();
        let quoted = "a\"b\\c";
        let broken = "line\nbreak";
        let task = metrics.task(quoted, 0, ConnectorType::Source);
        TaskMetrics::add(&task.records_written, 3);
        metrics.task(broken, 0, ConnectorType::Sink);
        let text = metrics.render(&board(&[
            (quoted, ConnectorType::Source),
            (broken, ConnectorType::Sink),
        ]));

        assert!(
            text.contains(r#"ferry_source_records_written_total{connector="a\"b\\c",task="0"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ferry_task_state{connector="line\nbreak",task="0",state="RUNNING"} 1"#
            ),
            "{text}"
        );
        let samples = parse(&text);
        let connectors: BTreeSet<&str> = samples
            .iter()
            .flat_map(|(_, labels, _)| labels)
            .filter(|(k, _)| k == "connector")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(connectors, BTreeSet::from([quoted, broken]));
    }

    #[test]
    fn each_task_exports_only_the_series_of_its_connector_type() {
        let metrics = Metrics::default();
        let source = metrics.task("src", 0, ConnectorType::Source);
        let sink = metrics.task("snk", 0, ConnectorType::Sink);
        for task in [&source, &sink] {
            task.run_started();
            // Only a sink exports it, whatever is set.
            task.lag.set(Some(7));
        }
        let samples = parse(&metrics.render(&board(&[
            ("src", ConnectorType::Source),
            ("snk", ConnectorType::Sink),
        ])));
        let shared = [
            "ferry_offset_commits_total",
            "ferry_offset_commit_failures_total",
            "ferry_offset_commit_seconds_total",
            "ferry_task_errors_total",
            "ferry_records_skipped_total",
            "ferry_records_filtered_total",
            "ferry_task_restarts_total",
            "ferry_task_state",
            "ferry_task_waiting_for_kafka",
            "ferry_task_start_time_seconds",
            "ferry_record_latency_seconds_bucket",
            "ferry_record_latency_seconds_sum",
            "ferry_record_latency_seconds_count",
        ];
        let with = |own: &[&str]| -> BTreeSet<String> {
            shared.iter().chain(own).map(|s| s.to_string()).collect()
        };
        assert_eq!(
            series_of(&samples, "src"),
            with(&[
                "ferry_source_records_polled_total",
                "ferry_source_records_written_total"
            ])
        );
        assert_eq!(
            series_of(&samples, "snk"),
            with(&[
                "ferry_sink_records_read_total",
                "ferry_sink_records_put_total",
                "ferry_sink_records_lag",
                "ferry_dead_letter_records_total"
            ])
        );
    }

    #[test]
    fn latencies_fall_in_the_bucket_of_the_first_bound_they_do_not_exceed() {
        let latency = LatencyHistogram::default();
        for ms in [-5, 0, 1, 2, 3, 30_000, 30_001] {
            latency.observe_ms(ms);
        }
        let cumulative = latency.cumulative();
        assert_eq!(cumulative.len(), LATENCY_BOUNDS_MS.len() + 1);
        // ≤1 ms: -5 (as 0), 0, 1; ≤2 ms: 2; ≤5 ms: 3; ≤30 s: 30000; above: 30001.
        assert_eq!(&cumulative[..3], &[3, 4, 5]);
        assert_eq!(cumulative[LATENCY_BOUNDS_MS.len() - 1], 6);
        assert_eq!(cumulative[LATENCY_BOUNDS_MS.len()], 7);
        assert_eq!(latency.sum_ms(), 60_007);
        let metrics = Metrics::default();
        let task = metrics.task("l", 0, ConnectorType::Source);
        task.latency.observe_ms(4);
        let samples = parse(&metrics.render(&board(&[("l", ConnectorType::Source)])));
        let bucket = |le: &str| {
            samples
                .iter()
                .find(|(name, labels, _)| {
                    name == "ferry_record_latency_seconds_bucket"
                        && labels.iter().any(|(k, v)| k == "le" && v == le)
                })
                .map(|(_, _, value)| *value)
        };
        assert_eq!(bucket("0.002"), Some(0.0));
        assert_eq!(bucket("0.005"), Some(1.0));
        assert_eq!(bucket("+Inf"), Some(1.0));
    }

    #[test]
    fn a_connector_recreated_with_the_other_type_starts_afresh() {
        let metrics = Metrics::default();
        let source = metrics.task("x", 0, ConnectorType::Source);
        TaskMetrics::add(&source.records_polled, 5);
        assert!(Arc::ptr_eq(
            &source,
            &metrics.task("x", 0, ConnectorType::Source)
        ));
        let sink = metrics.task("x", 0, ConnectorType::Sink);
        assert_eq!(sink.records_polled.load(Ordering::Relaxed), 0);
        let text = metrics.render(&board(&[]));
        assert!(!text.contains("ferry_source_"), "{text}");
        assert!(text.contains(r#"ferry_sink_records_put_total{connector="x",task="0"} 0"#));
    }

    #[test]
    fn worker_and_cluster_series_keep_their_names_and_values() {
        let metrics = Metrics::default();
        let task = metrics.task("seq", 1, ConnectorType::Source);
        TaskMetrics::add(&task.offset_commit_micros, 250_000);
        metrics.cluster.enabled.store(true, Ordering::Relaxed);
        metrics.cluster.members.store(2, Ordering::Relaxed);
        metrics.cluster.rebalances.store(3, Ordering::Relaxed);
        let board = board(&[("seq", ConnectorType::Source)]);
        board.set_task("seq", 1, State::Failed, Some("boom".to_string()));
        let text = metrics.render(&board);
        parse(&text);
        for line in [
            r#"ferry_offset_commit_seconds_total{connector="seq",task="1"} 0.25"#,
            r#"ferry_task_state{connector="seq",task="1",state="FAILED"} 1"#,
            "ferry_worker_connectors 1",
            r#"ferry_worker_tasks{state="all"} 2"#,
            r#"ferry_worker_tasks{state="running"} 1"#,
            r#"ferry_worker_tasks{state="failed"} 1"#,
            "# TYPE ferry_cluster_rebalances_total counter",
            "ferry_cluster_rebalances_total 3",
            "ferry_cluster_members 2",
            "ferry_cluster_leader 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
        let idle = Metrics::default().render(&StatusBoard::new("worker-2".to_string()));
        assert!(
            idle.lines().any(|l| l == "ferry_worker_connectors 0"),
            "{idle}"
        );
    }
}
