//! The config topic: the cluster's write-ahead log of connector configs, task configs, target
//! states, restart requests and the leader's assignment. Its records are `record::ConfigRecord`
//! (the only place that knows their keys and values); this module reads and appends them.
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
use serde_json::Value;

mod record;
mod sealing;

pub use record::{ConfigRecord, ASSIGNMENT_KEY};
pub use sealing::{Sealer, SecretKeys};

use super::assignment::Assignment;
use crate::status::TargetState;
use crate::store::StoreError;

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

impl ClusterView {
    /// Applies one record; returns a restart request when it is one.
    pub fn apply(&mut self, record: ConfigRecord) -> Option<RestartRequest> {
        match record {
            ConfigRecord::Connector {
                name,
                config: Some(config),
            } => {
                let target = self
                    .targets
                    .get(&name)
                    .copied()
                    .unwrap_or(TargetState::Running);
                self.connectors
                    .entry(name)
                    .and_modify(|c| c.config = config.clone())
                    .or_insert(ConnectorState {
                        config,
                        target,
                        tasks: Vec::new(),
                    });
            }
            ConfigRecord::Connector { name, config: None } => {
                self.connectors.remove(&name);
                self.targets.remove(&name);
                self.pending_tasks.remove(&name);
            }
            ConfigRecord::Target {
                name,
                target: Some(target),
            } => {
                if let Some(connector) = self.connectors.get_mut(&name) {
                    connector.target = target;
                }
                self.targets.insert(name, target);
            }
            ConfigRecord::Target { name, target: None } => {
                self.targets.remove(&name);
            }
            ConfigRecord::Task { name, task, config } => {
                let pending = self.pending_tasks.entry(name).or_default();
                match config {
                    Some(config) => pending.insert(task, config),
                    None => pending.remove(&task),
                };
            }
            ConfigRecord::Commit { tasks: None, .. } => {}
            ConfigRecord::Commit {
                name,
                tasks: Some(count),
            } => {
                let pending = self.pending_tasks.remove(&name).unwrap_or_default();
                let tasks: Option<Vec<ConfigMap>> =
                    (0..count).map(|i| pending.get(&i).cloned()).collect();
                match (self.connectors.get_mut(&name), tasks) {
                    (Some(connector), Some(tasks)) => connector.tasks = tasks,
                    (Some(_), None) => tracing::warn!(
                        connector = name,
                        "ignoring a task commit with missing task configs"
                    ),
                    _ => {}
                }
            }
            ConfigRecord::RestartConnector {
                name,
                include_tasks,
                only_failed,
            } => {
                return Some(RestartRequest {
                    connector: name,
                    task: None,
                    include_tasks,
                    only_failed,
                })
            }
            ConfigRecord::RestartTask { name, task } => {
                return Some(RestartRequest {
                    connector: name,
                    task: Some(task),
                    include_tasks: false,
                    only_failed: false,
                })
            }
            ConfigRecord::Assignment(assignment) => self.assignment = assignment,
        }
        None
    }
}

/// What a distributed herder needs of the config log: Kafka's in a cluster, memory in tests.
pub trait ConfigLogAccess: Send + Sync + 'static {
    /// Reads `f` of the current view.
    fn with_view<R>(&self, f: impl FnOnce(&ClusterView) -> R) -> R;
    /// Waits until everything written to the log so far has been read (blocking).
    fn catch_up(&self) -> Result<(), StoreError>;
    /// Appends records in order and waits until they are part of the view.
    fn append(&self, records: Vec<ConfigRecord>) -> Result<(), StoreError>;
}

impl ConfigLogAccess for ConfigLog {
    fn with_view<R>(&self, f: impl FnOnce(&ClusterView) -> R) -> R {
        ConfigLog::with_view(self, f)
    }

    fn catch_up(&self) -> Result<(), StoreError> {
        ConfigLog::catch_up(self)
    }

    fn append(&self, records: Vec<ConfigRecord>) -> Result<(), StoreError> {
        ConfigLog::append(self, records)
    }
}

/// A config log in memory: records apply at once, and are kept for tests to inspect.
#[derive(Debug, Default)]
pub struct MemoryConfigLog {
    state: Mutex<(ClusterView, Vec<ConfigRecord>)>,
}

impl MemoryConfigLog {
    /// Every record appended so far, in order.
    pub fn written(&self) -> Vec<ConfigRecord> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }
}

impl ConfigLogAccess for MemoryConfigLog {
    fn with_view<R>(&self, f: impl FnOnce(&ClusterView) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(|e| e.into_inner()).0)
    }

    fn catch_up(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn append(&self, records: Vec<ConfigRecord>) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for record in records {
            state.1.push(record.clone());
            state.0.apply(record);
        }
        Ok(())
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
    sealer: Arc<Sealer>,
}

impl ConfigLog {
    /// Reads the topic to its end, then follows it on a thread that calls `changed` after
    /// every batch of records. Restart requests already in the log are history, not asked of
    /// this worker.
    pub fn open(
        client: &ClientConfig,
        topic: &str,
        runtime: tokio::runtime::Handle,
        sealer: Sealer,
        changed: impl Fn() + Send + 'static,
    ) -> Result<ConfigLog, StoreError> {
        let sealer = Arc::new(sealer);
        let kafka =
            |e: rdkafka::error::KafkaError| StoreError::Kafka(format!("config topic {topic}: {e}"));
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
        let reader_sealer = sealer.clone();
        std::thread::Builder::new()
            .name("config-log".into())
            .spawn(move || follow(consumer, end, reader_shared, &reader_sealer, changed))
            .map_err(|e| StoreError::Kafka(format!("cannot start the config log reader: {e}")))?;
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
            sealer,
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
    fn wait_until_read(&self, offset: i64, timeout: Duration) -> Result<(), StoreError> {
        let deadline = Instant::now() + timeout;
        let (lock, condvar) = &*self.shared;
        let mut shared = lock.lock().unwrap_or_else(|e| e.into_inner());
        while shared.view.next_offset <= offset {
            if let Some(failure) = &shared.failure {
                return Err(StoreError::Kafka(failure.clone()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Kafka(format!(
                    "timed out reading config topic {} up to offset {offset}",
                    self.topic
                )));
            }
            shared = condvar
                .wait_timeout(shared, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }

    /// Waits until everything written to the log so far has been read (blocking).
    pub fn catch_up(&self) -> Result<(), StoreError> {
        let (_, end) = self
            .producer
            .client()
            .fetch_watermarks(&self.topic, 0, Duration::from_secs(10))
            .map_err(|e| StoreError::Kafka(format!("config topic {}: {e}", self.topic)))?;
        self.wait_until_read(end - 1, Duration::from_secs(30))
    }

    /// Appends records in order (blocking, not from async code) and waits until this worker
    /// has read them back, so a read right after a write shows it.
    pub fn append(&self, records: Vec<ConfigRecord>) -> Result<(), StoreError> {
        let last = self.send_all(&self.producer, records)?;
        self.wait_until_read(last, Duration::from_secs(30))
    }

    /// A writer for the leader. Creating it fences every earlier leader: they share the
    /// transactional id, so Kafka bumps its epoch and refuses their writes from then on.
    pub fn leader_writer(&self, group: &str) -> Result<LeaderWriter, StoreError> {
        let mut config = self.client.clone();
        config
            .set("transactional.id", format!("ferry-leader-{group}"))
            // A transaction left open by a leader that died holds back every reader; Kafka
            // aborts it after this long if no new leader did first.
            .set("transaction.timeout.ms", "10000")
            .set("linger.ms", "0");
        let producer: FutureProducer = config
            .create()
            .map_err(|e| StoreError::Kafka(format!("cannot create the leader's producer: {e}")))?;
        producer
            .init_transactions(Duration::from_secs(30))
            .map_err(|e| StoreError::Kafka(format!("cannot fence earlier leaders: {e}")))?;
        Ok(LeaderWriter { producer })
    }

    /// Appends records as one transaction of `writer`; fails if a newer leader fenced it.
    pub fn append_as_leader(
        &self,
        writer: &LeaderWriter,
        records: Vec<ConfigRecord>,
    ) -> Result<(), StoreError> {
        let producer = &writer.producer;
        producer
            .begin_transaction()
            .map_err(|e| StoreError::Kafka(format!("cannot begin a transaction: {e}")))?;
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
                StoreError::Kafka(format!(
                    "cannot commit the assignment (fenced by a newer leader?): {e}"
                ))
            })?;
        self.wait_until_read(last, Duration::from_secs(30))
    }

    fn send_all(
        &self,
        producer: &FutureProducer,
        records: Vec<ConfigRecord>,
    ) -> Result<i64, StoreError> {
        let records: Vec<ConfigRecord> = records.into_iter().map(|r| self.sealed(r)).collect();
        let topic = self.topic.clone();
        let producer = producer.clone();
        self.runtime.block_on(async move {
            let mut last = -1;
            for record in records {
                let key = record.key();
                let payload = record.value().map(|v| v.to_string());
                let mut record = FutureRecord::to(&topic).key(&key).partition(0);
                if let Some(payload) = &payload {
                    record = record.payload(payload);
                }
                let delivery = producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map_err(|(e, _)| {
                        StoreError::Kafka(format!("cannot write to config topic {topic}: {e}"))
                    })?;
                last = delivery.offset;
            }
            Ok::<i64, StoreError>(last)
        })
    }
}

impl ConfigLog {
    /// `record` with the secrets of its config sealed; a task's plugin is its connector's.
    fn sealed(&self, record: ConfigRecord) -> ConfigRecord {
        match record {
            ConfigRecord::Connector {
                name,
                config: Some(config),
            } => ConfigRecord::Connector {
                config: Some(
                    self.sealer
                        .seal(config.get("connector.class").map(String::as_str), &config),
                ),
                name,
            },
            ConfigRecord::Task {
                name,
                task,
                config: Some(config),
            } => {
                let class = self.with_view(|view| {
                    view.connectors
                        .get(&name)
                        .and_then(|c| c.config.get("connector.class").cloned())
                });
                let class = class.or_else(|| config.get("connector.class").cloned());
                ConfigRecord::Task {
                    config: Some(self.sealer.seal(class.as_deref(), &config)),
                    name,
                    task,
                }
            }
            other => other,
        }
    }
}

/// A record read from the topic with its sealed secrets opened.
fn opened(sealer: &Sealer, record: ConfigRecord) -> Result<ConfigRecord, String> {
    Ok(match record {
        ConfigRecord::Connector {
            name,
            config: Some(config),
        } => ConfigRecord::Connector {
            config: Some(
                sealer
                    .open(config)
                    .map_err(|e| format!("connector {name}: {e}"))?,
            ),
            name,
        },
        ConfigRecord::Task {
            name,
            task,
            config: Some(config),
        } => ConfigRecord::Task {
            config: Some(
                sealer
                    .open(config)
                    .map_err(|e| format!("task {name}-{task}: {e}"))?,
            ),
            name,
            task,
        },
        other => other,
    })
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
    sealer: &Sealer,
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
                let record = match ConfigRecord::parse(&key, value.as_ref())
                    .map(|record| opened(sealer, record))
                    .transpose()
                {
                    Ok(record) => record,
                    Err(error) => {
                        // A view without this record would run the connector with a config
                        // that is not its own: stop reading, and let every wait fail.
                        tracing::error!(%key, %error, "cannot read the config topic");
                        state.failure = Some(format!("config topic: {error}"));
                        drop(state);
                        condvar.notify_all();
                        return;
                    }
                };
                let restart = record.and_then(|record| state.view.apply(record));
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

    fn connector(name: &str, pairs: &[(&str, &str)]) -> ConfigRecord {
        ConfigRecord::Connector {
            name: name.into(),
            config: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }
    }

    fn target(name: &str, target: Option<TargetState>) -> ConfigRecord {
        ConfigRecord::Target {
            name: name.into(),
            target,
        }
    }

    #[test]
    fn task_configs_take_effect_on_commit() {
        let mut view = ClusterView::default();
        view.apply(connector("a-b", &[("tasks.max", "2")]));
        let tasks = [
            [("t".to_string(), "0".to_string())].into(),
            [("t".to_string(), "1".to_string())].into(),
        ];
        let mut records = ConfigRecord::task_set("a-b", &tasks);
        let commit = records.pop().unwrap();
        for record in records {
            view.apply(record);
        }
        assert!(view.connectors["a-b"].tasks.is_empty());
        view.apply(commit);
        assert_eq!(view.connectors["a-b"].tasks.len(), 2);
        assert_eq!(view.connectors["a-b"].tasks[1]["t"], "1");
        for record in ConfigRecord::task_set("a-b", &[]) {
            view.apply(record);
        }
        assert!(view.connectors["a-b"].tasks.is_empty());
    }

    #[test]
    fn target_states_and_deletion() {
        let mut view = ClusterView::default();
        view.apply(target("x", Some(TargetState::Paused)));
        view.apply(connector("x", &[]));
        assert_eq!(view.connectors["x"].target, TargetState::Paused);
        view.apply(target("x", Some(TargetState::Running)));
        assert_eq!(view.connectors["x"].target, TargetState::Running);
        for record in ConfigRecord::deletion("x", 0) {
            view.apply(record);
        }
        assert!(view.connectors.is_empty());
        view.apply(connector("x", &[]));
        assert_eq!(view.connectors["x"].target, TargetState::Running);
    }

    #[test]
    fn restart_requests_are_returned() {
        let mut view = ClusterView::default();
        let request = view.apply(ConfigRecord::RestartConnector {
            name: "x".into(),
            include_tasks: true,
            only_failed: false,
        });
        assert_eq!(
            request,
            Some(RestartRequest {
                connector: "x".into(),
                task: None,
                include_tasks: true,
                only_failed: false
            })
        );
        let request = view.apply(ConfigRecord::RestartTask {
            name: "x-y".into(),
            task: 3,
        });
        assert_eq!(request.unwrap().task, Some(3));
    }
}
