//! Source offsets in a compacted Kafka topic, in Kafka Connect's layout: key
//! `["<connector>",{<source partition>}]`, value the offset map as JSON (null deletes).
//!
//! Only offsets of records Kafka acknowledged reach this store (see worker::offset_tracker). The
//! worker reads the whole topic at start and keeps it in memory; its own writes update that copy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use ferry_api::{JsonMap, SourceOffset};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::Value;

use super::{ensure_compacted_topic, StoreError};
use crate::config::WorkerConfig;

/// Connector → canonical partition JSON → offset.
type Offsets = HashMap<String, BTreeMap<String, SourceOffset>>;

/// The offsets topic and the worker's copy of it.
pub struct OffsetStore {
    /// None for a store kept in memory only (unit tests).
    kafka: Option<KafkaOffsets>,
    offsets: Mutex<Offsets>,
}

struct KafkaOffsets {
    topic: String,
    client: ClientConfig,
    producer: FutureProducer,
}

impl OffsetStore {
    /// Creates or checks the topic and reads it to the end.
    pub async fn open(config: &WorkerConfig) -> Result<OffsetStore, StoreError> {
        let client = config.kafka_client();
        let topic = config.offset_storage_topic.clone();
        ensure_compacted_topic(
            &client,
            &topic,
            config.offset_storage_partitions,
            config.offset_storage_replication_factor,
            "offset.storage.topic",
        )
        .await?;
        let reader_config = client.clone();
        let reader_topic = topic.clone();
        let offsets = tokio::task::spawn_blocking(move || {
            // A topic created a moment ago may have no partition leaders yet: retry briefly.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                match read_all(&reader_config, &reader_topic) {
                    Err(error) if std::time::Instant::now() < deadline => {
                        tracing::debug!(%error, "offsets topic not readable yet; retrying");
                        std::thread::sleep(Duration::from_millis(500));
                    }
                    outcome => return outcome,
                }
            }
        })
        .await
        .map_err(|e| StoreError::Kafka(e.to_string()))??;
        let mut producer_config = client.clone();
        producer_config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0");
        let producer = producer_config
            .create()
            .map_err(|e| StoreError::Kafka(format!("cannot create the offsets producer: {e}")))?;
        Ok(OffsetStore {
            kafka: Some(KafkaOffsets {
                topic,
                client,
                producer,
            }),
            offsets: Mutex::new(offsets),
        })
    }

    /// A store that keeps offsets in memory only, for tests of the code above it.
    pub fn in_memory() -> OffsetStore {
        OffsetStore {
            kafka: None,
            offsets: Mutex::new(Offsets::new()),
        }
    }

    /// Reads the topic to its end again (blocking), for offsets other workers wrote: a task
    /// taking over from another worker resumes where that one committed.
    pub fn reload(&self) -> Result<(), StoreError> {
        let Some(kafka) = &self.kafka else {
            return Ok(());
        };
        let offsets = read_all(&kafka.client, &kafka.topic)?;
        *self.offsets.lock().unwrap_or_else(|e| e.into_inner()) = offsets;
        Ok(())
    }

    /// The committed offsets of a connector.
    pub fn offsets(&self, connector: &str) -> Vec<SourceOffset> {
        let offsets = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        offsets
            .get(connector)
            .map(|by_partition| by_partition.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Writes offsets and waits until Kafka has them; an empty offset map deletes the partition.
    pub async fn write(&self, connector: &str, offsets: &[SourceOffset]) -> Result<(), StoreError> {
        let mut sends = Vec::with_capacity(offsets.len());
        for offset in offsets.iter().filter(|_| self.kafka.is_some()) {
            let kafka = self.kafka.as_ref().expect("filtered above");
            let key = serde_json::to_vec(&serde_json::json!([connector, offset.partition]))
                .expect("offset keys serialize");
            let value = (!offset.offset.is_empty())
                .then(|| serde_json::to_vec(&offset.offset).expect("offsets serialize"));
            let producer = &kafka.producer;
            let topic = &kafka.topic;
            sends.push(async move {
                let mut record = FutureRecord::to(topic).key(&key);
                if let Some(value) = &value {
                    record = record.payload(value);
                }
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map_err(|(e, _)| {
                        StoreError::Kafka(format!("offset write to {topic} failed: {e}"))
                    })
            });
        }
        for send in sends {
            send.await?;
        }
        let mut cache = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        let by_partition = cache.entry(connector.to_string()).or_default();
        for offset in offsets {
            let key = Value::Object(offset.partition.clone()).to_string();
            if offset.offset.is_empty() {
                by_partition.remove(&key);
            } else {
                by_partition.insert(key, offset.clone());
            }
        }
        Ok(())
    }

    /// Deletes every committed offset of a connector.
    pub async fn reset(&self, connector: &str) -> Result<(), StoreError> {
        let tombstones: Vec<SourceOffset> = self
            .offsets(connector)
            .into_iter()
            .map(|o| SourceOffset {
                partition: o.partition,
                offset: JsonMap::new(),
            })
            .collect();
        self.write(connector, &tombstones).await
    }
}

/// Reads the whole offsets topic from the beginning to its current end.
fn read_all(client: &ClientConfig, topic: &str) -> Result<Offsets, StoreError> {
    let kafka = |e: rdkafka::error::KafkaError| {
        StoreError::Kafka(format!("cannot read offsets topic {topic}: {e}"))
    };
    let consumer: BaseConsumer = client
        .clone()
        .set("enable.auto.commit", "false")
        .set("group.id", "ferry-offset-reader")
        .create()
        .map_err(kafka)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .map_err(kafka)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut remaining = HashMap::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(30))
            .map_err(kafka)?;
        if high > low {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .map_err(kafka)?;
            remaining.insert(partition, high);
        }
    }
    let mut offsets = Offsets::new();
    if remaining.is_empty() {
        return Ok(offsets);
    }
    consumer.assign(&assignment).map_err(kafka)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !remaining.is_empty() {
        if std::time::Instant::now() > deadline {
            return Err(StoreError::Kafka(format!(
                "reading offsets topic {topic} did not finish within 60 s"
            )));
        }
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.map_err(kafka)?;
        if message.offset() + 1 >= remaining.get(&message.partition()).copied().unwrap_or(0) {
            remaining.remove(&message.partition());
        }
        apply(&mut offsets, message.key(), message.payload());
    }
    Ok(offsets)
}

/// Applies one offsets-topic record; records of other shapes are ignored (logged).
fn apply(offsets: &mut Offsets, key: Option<&[u8]>, value: Option<&[u8]>) {
    let parsed: Option<(String, JsonMap)> = key
        .and_then(|k| serde_json::from_slice::<Value>(k).ok())
        .and_then(|k| match k {
            Value::Array(mut parts) if parts.len() == 2 => {
                let partition = parts.pop()?.as_object()?.clone();
                let connector = parts.pop()?.as_str()?.to_string();
                Some((connector, partition))
            }
            _ => None,
        });
    let Some((connector, partition)) = parsed else {
        tracing::warn!(
            "ignoring an offsets-topic record whose key is not [\"<connector>\", {{...}}]"
        );
        return;
    };
    let partition_key = Value::Object(partition.clone()).to_string();
    let by_partition = offsets.entry(connector).or_default();
    match value.and_then(|v| serde_json::from_slice::<JsonMap>(v).ok()) {
        Some(offset) => {
            by_partition.insert(partition_key, SourceOffset { partition, offset });
        }
        None => {
            by_partition.remove(&partition_key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_kafka_connect_records_and_tombstones() {
        let mut offsets = Offsets::new();
        apply(
            &mut offsets,
            Some(br#"["seq",{"task":0}]"#),
            Some(br#"{"next":5}"#),
        );
        apply(
            &mut offsets,
            Some(br#"["seq",{"task":1}]"#),
            Some(br#"{"next":9}"#),
        );
        apply(
            &mut offsets,
            Some(br#"["seq",{"task":0}]"#),
            Some(br#"{"next":7}"#),
        );
        apply(&mut offsets, Some(br#"["seq",{"task":1}]"#), None);
        apply(&mut offsets, Some(b"garbage"), Some(b"{}"));
        let seq = &offsets["seq"];
        assert_eq!(seq.len(), 1);
        assert_eq!(seq.values().next().unwrap().offset["next"], 7);
    }
}
