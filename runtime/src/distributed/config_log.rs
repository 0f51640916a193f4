//! The config topic: the cluster's write-ahead log of connector configs, task configs, target
//! states, restart requests and the leader's assignment, in Kafka Connect's key layout
//! (`connector-<n>`, `task-<n>-<i>`, `commit-<n>`, `target-state-<n>`, `restart-connector-<n>`)
//! plus `restart-task-<n>-<i>` and `ferry-assignment`.
//!
//! Every worker reads the whole log and keeps the same view of it; any worker may append
//! (the single partition orders all writes, so every worker sees the same last word).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ferry_api::ConfigMap;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::{json, Value};

use super::assignment::Assignment;
use crate::herder::connector::TargetState;

/// Key of the leader's assignment record.
pub const ASSIGNMENT_KEY: &str = "ferry-assignment";

/// One connector as the log defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorState {
    /// Its configuration (config references unresolved).
    pub config: ConfigMap,
    /// Where it should be.
    pub target: TargetState,
    /// Committed task configurations: a set takes effect only with its `commit-<n>` record.
    pub tasks: Vec<ConfigMap>,
}

/// A restart asked for over REST, carried out by whoever runs what it selects.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartRequest {
    /// The connector.
    pub connector: String,
    /// One task only (`restart-task-<n>-<i>`), or the connector with the flags below.
    pub task: Option<u32>,
    /// Restart its tasks too.
    pub include_tasks: bool,
    /// Only what is FAILED.
    pub only_failed: bool,
}

/// What the log says, as of `next_offset`.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Connectors by name.
    pub connectors: BTreeMap<String, ConnectorState>,
    /// Target states by name, kept apart since a target may be written before its connector.
    targets: BTreeMap<String, TargetState>,
    /// Task configs written but not committed yet.
    pending_tasks: BTreeMap<String, BTreeMap<u32, ConfigMap>>,
    /// The leader's latest assignment.
    pub assignment: Assignment,
    /// The offset after the last record applied.
    pub next_offset: i64,
}

fn properties(value: &Value) -> Option<ConfigMap> {
    value["properties"].as_object().map(|props| {
        props
            .iter()
            .map(|(k, v)| {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), text)
            })
            .collect()
    })
}

/// Kafka Connect writes `STARTED` where our REST API says RUNNING.
fn target_from_log(state: &str) -> Option<TargetState> {
    match state {
        "STARTED" => Some(TargetState::Running),
        "PAUSED" => Some(TargetState::Paused),
        "STOPPED" => Some(TargetState::Stopped),
        _ => None,
    }
}

/// The log value for a target state.
pub fn target_record(target: TargetState) -> Value {
    let state = match target {
        TargetState::Running => "STARTED",
        TargetState::Paused => "PAUSED",
        TargetState::Stopped => "STOPPED",
    };
    json!({ "state": state })
}

/// The log value for a connector or task config.
pub fn properties_record(config: &ConfigMap) -> Value {
    json!({ "properties": config })
}

/// `<name>-<i>` → (name, i).
fn split_task(rest: &str) -> Option<(&str, u32)> {
    let (name, task) = rest.rsplit_once('-')?;
    Some((name, task.parse().ok()?))
}

impl ClusterView {
    /// Applies one record; returns a restart request when it is one.
    pub fn apply(&mut self, key: &str, value: Option<&Value>) -> Option<RestartRequest> {
        if let Some(name) = key.strip_prefix("connector-") {
            match value.and_then(properties) {
                Some(config) => {
                    let target = self
                        .targets
                        .get(name)
                        .copied()
                        .unwrap_or(TargetState::Running);
                    self.connectors
                        .entry(name.to_string())
                        .and_modify(|c| c.config = config.clone())
                        .or_insert(ConnectorState {
                            config,
                            target,
                            tasks: Vec::new(),
                        });
                }
                None => {
                    self.connectors.remove(name);
                    self.targets.remove(name);
                    self.pending_tasks.remove(name);
                }
            }
        } else if let Some(name) = key.strip_prefix("target-state-") {
            match value
                .and_then(|v| v["state"].as_str())
                .and_then(target_from_log)
            {
                Some(target) => {
                    self.targets.insert(name.to_string(), target);
                    if let Some(connector) = self.connectors.get_mut(name) {
                        connector.target = target;
                    }
                }
                None => {
                    self.targets.remove(name);
                }
            }
        } else if let Some((name, task)) = key.strip_prefix("task-").and_then(split_task) {
            let pending = self.pending_tasks.entry(name.to_string()).or_default();
            match value.and_then(properties) {
                Some(config) => pending.insert(task, config),
                None => pending.remove(&task),
            };
        } else if let Some(name) = key.strip_prefix("commit-") {
            let count = value.and_then(|v| v["tasks"].as_u64())? as u32;
            let pending = self.pending_tasks.remove(name).unwrap_or_default();
            let tasks: Option<Vec<ConfigMap>> =
                (0..count).map(|i| pending.get(&i).cloned()).collect();
            match (self.connectors.get_mut(name), tasks) {
                (Some(connector), Some(tasks)) => connector.tasks = tasks,
                (Some(_), None) => {
                    tracing::warn!(
                        connector = name,
                        "ignoring a task commit with missing task configs"
                    )
                }
                _ => {}
            }
        } else if let Some(name) = key.strip_prefix("restart-connector-") {
            let value = value?;
            return Some(RestartRequest {
                connector: name.to_string(),
                task: None,
                include_tasks: value["include-tasks"].as_bool().unwrap_or(false),
                only_failed: value["only-failed"].as_bool().unwrap_or(false),
            });
        } else if let Some((name, task)) = key.strip_prefix("restart-task-").and_then(split_task) {
            value?;
            return Some(RestartRequest {
                connector: name.to_string(),
                task: Some(task),
                include_tasks: false,
                only_failed: false,
            });
        } else if key == ASSIGNMENT_KEY {
            match value.map(|v| serde_json::from_value::<Assignment>(v.clone())) {
                Some(Ok(assignment)) => self.assignment = assignment,
                Some(Err(error)) => tracing::warn!(%error, "ignoring an unreadable assignment"),
                None => {}
            }
        }
        None
    }
}

/// What the reader thread shares.
struct Shared {
    view: ClusterView,
    restarts: VecDeque<RestartRequest>,
    failure: Option<String>,
}

/// This worker's reader of, and writer to, the config topic.
pub struct ConfigLog {
    topic: String,
    client: ClientConfig,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    producer: FutureProducer,
    runtime: tokio::runtime::Handle,
}

impl ConfigLog {
    /// Reads the topic to its end, then follows it on a thread that calls `changed` after
    /// every batch of records. Restart requests already in the log are history, not asked of
    /// this worker.
    pub fn open(
        client: &ClientConfig,
        topic: &str,
        runtime: tokio::runtime::Handle,
        changed: impl Fn() + Send + 'static,
    ) -> Result<ConfigLog, String> {
        let kafka = |e: rdkafka::error::KafkaError| format!("config topic {topic}: {e}");
        let mut reader_config = client.clone();
        reader_config
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "50")
            // Only the assignments of leaders that were not fenced.
            .set("isolation.level", "read_committed")
            .set("group.id", "ferry-config-reader");
        let consumer: BaseConsumer = reader_config.create().map_err(kafka)?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, 0, Offset::Beginning)
            .map_err(kafka)?;
        consumer.assign(&assignment).map_err(kafka)?;
        let (_, end) = consumer
            .fetch_watermarks(topic, 0, Duration::from_secs(30))
            .map_err(kafka)?;
        let shared = Arc::new((
            Mutex::new(Shared {
                view: ClusterView::default(),
                restarts: VecDeque::new(),
                failure: None,
            }),
            Condvar::new(),
        ));
        let reader_shared = shared.clone();
        std::thread::Builder::new()
            .name("config-log".into())
            .spawn(move || follow(consumer, end, reader_shared, changed))
            .map_err(|e| e.to_string())?;
        let mut producer_config = client.clone();
        producer_config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0");
        let producer = producer_config.create().map_err(kafka)?;
        let log = ConfigLog {
            topic: topic.to_string(),
            client: client.clone(),
            shared,
            producer,
            runtime,
        };
        log.wait_until_read(end - 1, Duration::from_secs(60))?;
        Ok(log)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the current view.
    pub fn view(&self) -> ClusterView {
        self.lock().view.clone()
    }

    /// Reads `f` of the current view without copying all of it.
    pub fn with_view<R>(&self, f: impl FnOnce(&ClusterView) -> R) -> R {
        f(&self.lock().view)
    }

    /// Restart requests read since the last call.
    pub fn take_restarts(&self) -> Vec<RestartRequest> {
        self.lock().restarts.drain(..).collect()
    }

    /// Waits until the record at `offset` has been applied.
    fn wait_until_read(&self, offset: i64, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let (lock, condvar) = &*self.shared;
        let mut shared = lock.lock().unwrap_or_else(|e| e.into_inner());
        while shared.view.next_offset <= offset {
            if let Some(failure) = &shared.failure {
                return Err(failure.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "timed out reading config topic {} up to offset {offset}",
                    self.topic
                ));
            }
            shared = condvar
                .wait_timeout(shared, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }

    /// Waits until everything written to the log so far has been read (blocking).
    pub fn catch_up(&self) -> Result<(), String> {
        let (_, end) = self
            .producer
            .client()
            .fetch_watermarks(&self.topic, 0, Duration::from_secs(10))
            .map_err(|e| format!("config topic {}: {e}", self.topic))?;
        self.wait_until_read(end - 1, Duration::from_secs(30))
    }

    /// Appends records in order (blocking, not from async code) and waits until this worker
    /// has read them back, so a read right after a write shows it.
    pub fn append(&self, records: Vec<(String, Option<Value>)>) -> Result<(), String> {
        let last = self.send_all(&self.producer, records)?;
        self.wait_until_read(last, Duration::from_secs(30))
    }

    /// A writer for the leader. Creating it fences every earlier leader: they share the
    /// transactional id, so Kafka bumps its epoch and refuses their writes from then on.
    pub fn leader_writer(&self, group: &str) -> Result<LeaderWriter, String> {
        let mut config = self.client.clone();
        config
            .set("transactional.id", format!("ferry-leader-{group}"))
            // A transaction left open by a leader that died holds back every reader; Kafka
            // aborts it after this long if no new leader did first.
            .set("transaction.timeout.ms", "10000")
            .set("linger.ms", "0");
        let producer: FutureProducer = config
            .create()
            .map_err(|e| format!("cannot create the leader's producer: {e}"))?;
        producer
            .init_transactions(Duration::from_secs(30))
            .map_err(|e| format!("cannot fence earlier leaders: {e}"))?;
        Ok(LeaderWriter { producer })
    }

    /// Appends records as one transaction of `writer`; fails if a newer leader fenced it.
    pub fn append_as_leader(
        &self,
        writer: &LeaderWriter,
        records: Vec<(String, Option<Value>)>,
    ) -> Result<(), String> {
        let producer = &writer.producer;
        producer
            .begin_transaction()
            .map_err(|e| format!("cannot begin a transaction: {e}"))?;
        let last = match self.send_all(producer, records) {
            Ok(last) => last,
            Err(error) => {
                let _ = producer.abort_transaction(Duration::from_secs(10));
                return Err(error);
            }
        };
        producer
            .commit_transaction(Duration::from_secs(30))
            .map_err(|e| {
                format!("cannot commit the assignment (fenced by a newer leader?): {e}")
            })?;
        self.wait_until_read(last, Duration::from_secs(30))
    }

    fn send_all(
        &self,
        producer: &FutureProducer,
        records: Vec<(String, Option<Value>)>,
    ) -> Result<i64, String> {
        let topic = self.topic.clone();
        let producer = producer.clone();
        self.runtime.block_on(async move {
            let mut last = -1;
            for (key, value) in records {
                let payload = value.map(|v| v.to_string());
                let mut record = FutureRecord::to(&topic).key(&key).partition(0);
                if let Some(payload) = &payload {
                    record = record.payload(payload);
                }
                let delivery = producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map_err(|(e, _)| format!("cannot write to config topic {topic}: {e}"))?;
                last = delivery.offset;
            }
            Ok::<i64, String>(last)
        })
    }
}

/// The leader's fenced producer.
pub struct LeaderWriter {
    producer: FutureProducer,
}

fn position(consumer: &BaseConsumer) -> Option<i64> {
    let positions = consumer.position().ok()?;
    let element = positions.elements().into_iter().next()?;
    match element.offset() {
        Offset::Offset(offset) => Some(offset),
        _ => None,
    }
}

fn follow(
    consumer: BaseConsumer,
    initial_end: i64,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    changed: impl Fn(),
) {
    let (lock, condvar) = &*shared;
    loop {
        let Some(first) = consumer.poll(Duration::from_millis(100)) else {
            // Transaction markers take offsets but are never delivered: the position says
            // how far the log has been read.
            if let Some(position) = position(&consumer) {
                let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
                if position > state.view.next_offset {
                    state.view.next_offset = position;
                    drop(state);
                    condvar.notify_all();
                }
            }
            continue;
        };
        let mut batch = vec![first];
        while let Some(more) = consumer.poll(Duration::ZERO) {
            batch.push(more);
            if batch.len() >= 500 {
                break;
            }
        }
        {
            let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
            for message in batch {
                let message = match message {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(%error, "reading the config topic");
                        continue;
                    }
                };
                let key = message
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default();
                let value = match message.payload().map(serde_json::from_slice::<Value>) {
                    Some(Ok(value)) => Some(value),
                    Some(Err(error)) => {
                        tracing::warn!(%key, %error, "ignoring an unreadable config record");
                        state.view.next_offset = message.offset() + 1;
                        continue;
                    }
                    None => None,
                };
                let restart = state.view.apply(&key, value.as_ref());
                if let Some(restart) = restart.filter(|_| message.offset() >= initial_end) {
                    state.restarts.push_back(restart);
                }
                state.view.next_offset = message.offset() + 1;
            }
            // Past any transaction marker that followed the batch, even when records keep
            // coming and the consumer is never idle.
            if let Some(position) = position(&consumer) {
                state.view.next_offset = state.view.next_offset.max(position);
            }
        }
        condvar.notify_all();
        changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Value {
        let map: ConfigMap = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        properties_record(&map)
    }

    #[test]
    fn task_configs_take_effect_on_commit() {
        let mut view = ClusterView::default();
        view.apply("connector-a-b", Some(&config(&[("tasks.max", "2")])));
        view.apply("task-a-b-0", Some(&config(&[("t", "0")])));
        view.apply("task-a-b-1", Some(&config(&[("t", "1")])));
        assert!(view.connectors["a-b"].tasks.is_empty());
        view.apply("commit-a-b", Some(&json!({"tasks": 2})));
        assert_eq!(view.connectors["a-b"].tasks.len(), 2);
        assert_eq!(view.connectors["a-b"].tasks[1]["t"], "1");
        view.apply("commit-a-b", Some(&json!({"tasks": 0})));
        assert!(view.connectors["a-b"].tasks.is_empty());
    }

    #[test]
    fn target_states_and_deletion() {
        let mut view = ClusterView::default();
        view.apply("target-state-x", Some(&target_record(TargetState::Paused)));
        view.apply("connector-x", Some(&config(&[])));
        assert_eq!(view.connectors["x"].target, TargetState::Paused);
        view.apply("target-state-x", Some(&json!({"state": "STARTED"})));
        assert_eq!(view.connectors["x"].target, TargetState::Running);
        view.apply("connector-x", None);
        view.apply("target-state-x", None);
        assert!(view.connectors.is_empty());
        view.apply("connector-x", Some(&config(&[])));
        assert_eq!(view.connectors["x"].target, TargetState::Running);
    }

    #[test]
    fn restart_requests_are_returned() {
        let mut view = ClusterView::default();
        let request = view.apply(
            "restart-connector-x",
            Some(&json!({"include-tasks": true, "only-failed": false})),
        );
        assert_eq!(
            request,
            Some(RestartRequest {
                connector: "x".into(),
                task: None,
                include_tasks: true,
                only_failed: false
            })
        );
        let request = view.apply("restart-task-x-y-3", Some(&json!({})));
        assert_eq!(request.unwrap().task, Some(3));
    }
}
