//! Records and offsets, with Kafka Connect's shapes.

use std::collections::HashMap;

/// A JSON object: source partitions and source offsets are stored this way in the offsets topic.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// One record header. Order and repeated names are kept, as Kafka does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub name: String,
    /// Header value bytes.
    pub value: Vec<u8>,
}

impl Header {
    /// A header from a name and any bytes.
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A record produced by a source task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceRecord {
    /// Which part of the source this record comes from, e.g. `{"file": "a.log"}`. Empty when the
    /// source has no replayable position (MQTT).
    pub source_partition: JsonMap,
    /// The position within that partition to resume after, e.g. `{"position": 1042}`.
    pub source_offset: JsonMap,
    /// Destination Kafka topic.
    pub topic: String,
    /// Destination partition; `None` lets the producer's partitioner choose from the key.
    pub partition: Option<i32>,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub value: Option<Vec<u8>>,
    /// Record headers.
    pub headers: Vec<Header>,
    /// Timestamp in milliseconds since the epoch; `None` lets Kafka stamp it.
    pub timestamp_ms: Option<i64>,
    /// How the key is to be read: opaque bytes (the default) or JSON text, which transformations
    /// see as a structured value.
    pub key_format: crate::data::PayloadFormat,
    /// How the value is to be read, as `key_format`.
    pub value_format: crate::data::PayloadFormat,
    /// Opaque to the worker and never written to Kafka: handed back in
    /// [`crate::SourceTask::commit_record`] so the task can acknowledge its upstream (for example
    /// an MQTT packet id).
    pub commit_token: u64,
}

/// A record read from Kafka, delivered to a sink task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkRecord {
    /// Kafka topic.
    pub topic: String,
    /// Kafka partition.
    pub partition: i32,
    /// Offset of this record in its partition.
    pub offset: i64,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub value: Option<Vec<u8>>,
    /// Record headers.
    pub headers: Vec<Header>,
    /// Timestamp in milliseconds since the epoch, when Kafka has one.
    pub timestamp_ms: Option<i64>,
    /// Where the record was read from, when a transformation changed its topic or partition
    /// (Kafka Connect's originalTopic/originalKafkaPartition). Offsets refer to this.
    pub original: Option<TopicPartition>,
}

impl SinkRecord {
    /// The topic and partition the record was read from: what its offset, `pre_commit` and
    /// errant reports refer to, whatever a transformation renamed it to.
    pub fn kafka_position(&self) -> TopicPartitionOffset {
        let (topic, partition) = match &self.original {
            Some(original) => (original.topic.clone(), original.partition),
            None => (self.topic.clone(), self.partition),
        };
        TopicPartitionOffset {
            topic,
            partition,
            offset: self.offset,
        }
    }
}

/// Where Kafka stored a source record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Kafka topic.
    pub topic: String,
    /// Kafka partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Timestamp Kafka stored, in milliseconds since the epoch, when known.
    pub timestamp_ms: Option<i64>,
}

/// A Kafka topic partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Kafka topic.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

/// A Kafka consumer position: `offset` is the next record to read, as Kafka commits it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartitionOffset {
    /// Kafka topic.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Offset of the next record to read.
    pub offset: i64,
}

/// A committed source offset: partition map and offset map.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOffset {
    /// The source partition.
    pub partition: JsonMap,
    /// The last committed offset within it.
    pub offset: JsonMap,
}

/// The offsets last committed for a connector, read when its tasks start.
#[derive(Debug, Clone, Default)]
pub struct OffsetReader {
    by_partition: HashMap<String, JsonMap>,
}

impl OffsetReader {
    /// Builds a reader over committed offsets.
    pub fn new(offsets: impl IntoIterator<Item = SourceOffset>) -> Self {
        let by_partition = offsets
            .into_iter()
            .map(|o| (canonical_key(&o.partition), o.offset))
            .collect();
        OffsetReader { by_partition }
    }

    /// The last committed offset for `partition`, if any.
    pub fn offset(&self, partition: &JsonMap) -> Option<&JsonMap> {
        self.by_partition.get(&canonical_key(partition))
    }

    /// True when nothing was committed yet.
    pub fn is_empty(&self) -> bool {
        self.by_partition.is_empty()
    }
}

/// `serde_json::Map` keeps keys sorted, so its JSON text identifies a partition map.
fn canonical_key(partition: &JsonMap) -> String {
    serde_json::Value::Object(partition.clone()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> JsonMap {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn offset_reader_finds_offsets_whatever_the_key_order() {
        let reader = OffsetReader::new([SourceOffset {
            partition: map(json!({"b": 1, "a": "x"})),
            offset: map(json!({"position": 7})),
        }]);
        let found = reader.offset(&map(json!({"a": "x", "b": 1}))).unwrap();
        assert_eq!(found["position"], 7);
        assert!(reader.offset(&map(json!({"a": "y"}))).is_none());
    }
}
