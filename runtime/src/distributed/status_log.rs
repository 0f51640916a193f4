//! The status topic: every worker writes the statuses of what it runs
//! (`status-connector-<n>`, `status-task-<n>-<i>`, value `{state, trace, worker_id, generation}`
//! as in Kafka Connect) and reads everyone's, so any worker answers for the whole cluster. The
//! topics each connector used travel the same way (`topic-<topic>-connector-<n>`), and so do the
//! figures of each task (`activity-task-<n>-<i>`, see [`crate::activity`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::activity::{TaskActivity, SHARE_INTERVAL};
use crate::metrics::Metrics;
use crate::status::{InstanceStatus, State, StatusBoard, StatusSink};

/// A connector (`None`) or one of its tasks.
type Unit = (String, Option<u32>);

/// This worker's writer to, and reader of, the status topic.
pub struct StatusLog {
    topic: String,
    worker_id: String,
    producer: FutureProducer,
    /// What runs on this worker: only its statuses are published, and others' words about
    /// them are ignored.
    running: RwLock<BTreeSet<Unit>>,
    generation: AtomicU64,
}

fn key(connector: &str, task: Option<u32>) -> String {
    match task {
        None => format!("status-connector-{connector}"),
        Some(task) => format!("status-task-{connector}-{task}"),
    }
}

fn activity_key(connector: &str, task: u32) -> String {
    format!("activity-task-{connector}-{task}")
}

fn parse_activity_key(key: &str) -> Option<(String, u32)> {
    let (name, task) = key.strip_prefix("activity-task-")?.rsplit_once('-')?;
    Some((name.to_string(), task.parse().ok()?))
}

fn parse_key(key: &str) -> Option<Unit> {
    if let Some(name) = key.strip_prefix("status-connector-") {
        return Some((name.to_string(), None));
    }
    let (name, task) = key.strip_prefix("status-task-")?.rsplit_once('-')?;
    Some((name.to_string(), Some(task.parse().ok()?)))
}

impl StatusLog {
    /// Starts following the topic into `board`, makes `board` publish through it, and shares
    /// the figures in `metrics` of the tasks this worker runs.
    pub fn open(
        client: &ClientConfig,
        topic: &str,
        board: Arc<StatusBoard>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<StatusLog>, String> {
        let kafka = |e: rdkafka::error::KafkaError| format!("status topic {topic}: {e}");
        let mut producer_config = client.clone();
        producer_config.set("acks", "all").set("linger.ms", "0");
        let log = Arc::new(StatusLog {
            topic: topic.to_string(),
            worker_id: board.worker_id().to_string(),
            producer: producer_config.create().map_err(kafka)?,
            running: RwLock::new(BTreeSet::new()),
            generation: AtomicU64::new(0),
        });
        let mut reader_config = client.clone();
        reader_config
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "50")
            .set("group.id", "ferry-status-reader");
        let consumer: BaseConsumer = reader_config.create().map_err(kafka)?;
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(30))
            .map_err(kafka)?;
        let mut assignment = TopicPartitionList::new();
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            assignment
                .add_partition_offset(topic, partition.id(), Offset::Beginning)
                .map_err(kafka)?;
        }
        consumer.assign(&assignment).map_err(kafka)?;
        let reader = log.clone();
        board.share_through(log.clone());
        std::thread::Builder::new()
            .name("status-log".into())
            .spawn(move || reader.follow(consumer, board))
            .map_err(|e| e.to_string())?;
        let sharer = log.clone();
        std::thread::Builder::new()
            .name("activity-share".into())
            .spawn(move || loop {
                std::thread::sleep(SHARE_INTERVAL);
                sharer.share_activity(&metrics);
            })
            .map_err(|e| e.to_string())?;
        Ok(log)
    }

    /// Publishes the figures of every task this worker runs.
    fn share_activity(&self, metrics: &Metrics) {
        let tasks: Vec<(String, u32)> = self
            .running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(connector, task)| Some((connector.clone(), (*task)?)))
            .collect();
        for (connector, task) in tasks {
            let Some((kind, counters)) = metrics.existing(&connector, task) else {
                continue;
            };
            let figures = TaskActivity::read(task, &self.worker_id, kind, &counters);
            let Ok(value) = serde_json::to_string(&figures) else {
                continue;
            };
            let key = activity_key(&connector, task);
            let record = FutureRecord::to(&self.topic).key(&key).payload(&value);
            if let Err((error, _)) = self.producer.send_result(record) {
                tracing::warn!(%error, %key, "cannot share a task's figures");
            }
        }
    }

    fn follow(&self, consumer: BaseConsumer, board: Arc<StatusBoard>) {
        // Topic records' keys are ambiguous when names hold dashes: tombstones are matched to
        // the record they delete.
        let mut topic_keys: HashMap<String, (String, String)> = HashMap::new();
        loop {
            let message = match consumer.poll(Duration::from_millis(500)) {
                None => continue,
                Some(Err(error)) => {
                    tracing::warn!(%error, "reading the status topic");
                    continue;
                }
                Some(Ok(message)) => message,
            };
            let key = message
                .key()
                .and_then(|k| std::str::from_utf8(k).ok())
                .unwrap_or_default();
            if key.starts_with("topic-") {
                let used = message
                    .payload()
                    .and_then(|p| serde_json::from_slice::<Value>(p).ok())
                    .and_then(|v| {
                        let name = v["topic"]["name"].as_str()?.to_string();
                        let connector = v["topic"]["connector"].as_str()?.to_string();
                        Some((connector, name))
                    });
                match used {
                    Some((connector, topic)) => {
                        board.apply_remote_topic(&connector, &topic, true);
                        topic_keys.insert(key.to_string(), (connector, topic));
                    }
                    None => {
                        if let Some((connector, topic)) = topic_keys.remove(key) {
                            board.apply_remote_topic(&connector, &topic, false);
                        }
                    }
                }
                continue;
            }
            if let Some((connector, task)) = parse_activity_key(key) {
                let figures = message
                    .payload()
                    .and_then(|p| serde_json::from_slice::<TaskActivity>(p).ok());
                board.apply_remote_activity(&connector, task, figures);
                continue;
            }
            let Some((connector, task)) = parse_key(key) else {
                continue;
            };
            if self.runs_here(&connector, task) {
                continue;
            }
            let status = message
                .payload()
                .and_then(|p| serde_json::from_slice::<Value>(p).ok())
                .and_then(|v| serde_json::from_value::<InstanceStatus>(v).ok());
            board.apply_remote(&connector, task, status);
        }
    }

    fn runs_here(&self, connector: &str, task: Option<u32>) -> bool {
        self.running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(connector.to_string(), task))
    }

    /// The assignment generation statuses are stamped with.
    pub fn set_generation(&self, generation: u64) {
        self.generation.store(generation, Ordering::Relaxed);
    }

    /// This worker now runs the unit: its statuses count.
    pub fn claim(&self, connector: &str, task: Option<u32>) {
        self.running
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert((connector.to_string(), task));
    }

    /// This worker no longer runs the unit: what it still reports while stopping is dropped,
    /// and a task's figures are withdrawn (its next worker shares its own).
    pub fn release(&self, connector: &str, task: Option<u32>) {
        self.running
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(connector.to_string(), task));
        if let Some(task) = task {
            self.delete(&activity_key(connector, task));
        }
    }

    /// Publishes a status in this worker's name, whether or not it runs the unit (a handoff:
    /// "I stopped it", which the next owner waits for).
    pub fn publish_state(&self, connector: &str, task: Option<u32>, state: State) {
        self.publish(
            connector,
            task,
            &InstanceStatus {
                state,
                worker_id: self.worker_id.clone(),
                trace: None,
                warning: None,
            },
        );
    }

    /// Deletes a unit's status (it no longer exists).
    pub fn tombstone(&self, connector: &str, task: Option<u32>) {
        self.delete(&key(connector, task));
    }

    fn delete(&self, key: &str) {
        let key = key.to_string();
        let record: FutureRecord<'_, String, [u8]> = FutureRecord::to(&self.topic).key(&key);
        if let Err((error, _)) = self.producer.send_result(record) {
            tracing::warn!(%error, %key, "cannot delete a status record");
        }
    }

    /// Waits (bounded) until published statuses reached Kafka, before the worker exits.
    pub fn flush(&self) {
        let _ = self.producer.flush(Duration::from_secs(5));
    }
}

impl StatusSink for StatusLog {
    fn owns(&self, connector: &str, task: Option<u32>) -> bool {
        self.runs_here(connector, task)
    }

    fn publish_topic(&self, connector: &str, topic: &str, used: bool) {
        let key = format!("topic-{topic}-connector-{connector}");
        let value = used.then(|| {
            let discovered = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            json!({"topic": {"name": topic, "connector": connector, "task": null, "discoverTimestamp": discovered}})
                .to_string()
        });
        let mut record: FutureRecord<'_, String, String> = FutureRecord::to(&self.topic).key(&key);
        if let Some(value) = &value {
            record = record.payload(value);
        }
        if let Err((error, _)) = self.producer.send_result(record) {
            tracing::warn!(%error, %key, "cannot publish a topic use");
        }
    }

    fn publish(&self, connector: &str, task: Option<u32>, status: &InstanceStatus) {
        let key = key(connector, task);
        let value = json!({
            "state": status.state,
            "trace": status.trace,
            "warning": status.warning,
            "worker_id": status.worker_id,
            "generation": self.generation.load(Ordering::Relaxed),
        })
        .to_string();
        let record = FutureRecord::to(&self.topic).key(&key).payload(&value);
        // Fire and forget: statuses are advisory, and the producer retries on its own.
        if let Err((error, _)) = self.producer.send_result(record) {
            tracing::warn!(%error, %key, "cannot publish a status");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for unit in [("a-b".to_string(), None), ("a-b".to_string(), Some(12))] {
            assert_eq!(parse_key(&key(&unit.0, unit.1)), Some(unit));
        }
        assert_eq!(parse_key("status-task-x"), None);
        assert_eq!(
            parse_activity_key(&activity_key("a-b", 3)),
            Some(("a-b".to_string(), 3))
        );
        assert_eq!(parse_key(&activity_key("a", 0)), None);
    }
}
