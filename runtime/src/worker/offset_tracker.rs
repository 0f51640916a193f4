//! Which source offsets may be committed: only those of records Kafka acknowledged, and only
//! once every earlier record of the same source partition was acknowledged too (records of one
//! partition can be acknowledged out of order when they go to different Kafka partitions).

use std::collections::{HashMap, VecDeque};

use ferry_api::{JsonMap, SourceOffset};

struct Submitted {
    sequence: u64,
    offset: JsonMap,
    acknowledged: bool,
}

/// Tracks submitted records per source partition, in submission order.
#[derive(Default)]
pub struct OffsetTracker {
    /// Source partition (as canonical JSON) → records not yet committable, oldest first.
    pending: HashMap<String, VecDeque<Submitted>>,
    /// Sequence → its source partition key.
    partition_of: HashMap<u64, String>,
    /// Source partition → (partition map, newest committable offset), not yet written.
    committable: HashMap<String, SourceOffset>,
}

impl OffsetTracker {
    /// A record was handed to the producer.
    pub fn submitted(&mut self, sequence: u64, partition: &JsonMap, offset: &JsonMap) {
        if partition.is_empty() && offset.is_empty() {
            return; // the source has no positions (e.g. MQTT): nothing to commit
        }
        let key = serde_json::Value::Object(partition.clone()).to_string();
        self.partition_of.insert(sequence, key.clone());
        self.pending.entry(key).or_default().push_back(Submitted {
            sequence,
            offset: offset.clone(),
            acknowledged: false,
        });
    }

    /// Kafka acknowledged the record.
    pub fn acknowledged(&mut self, sequence: u64) {
        let Some(key) = self.partition_of.remove(&sequence) else {
            return;
        };
        let Some(queue) = self.pending.get_mut(&key) else {
            return;
        };
        if let Some(entry) = queue.iter_mut().find(|s| s.sequence == sequence) {
            entry.acknowledged = true;
        }
        let mut newest = None;
        while queue.front().is_some_and(|s| s.acknowledged) {
            newest = queue.pop_front().map(|s| s.offset);
        }
        if let Some(offset) = newest {
            let partition = serde_json::from_str(&key).unwrap_or_default();
            self.committable
                .insert(key.clone(), SourceOffset { partition, offset });
        }
        if queue.is_empty() {
            self.pending.remove(&key);
        }
    }

    /// Takes the offsets ready to be written.
    pub fn take_committable(&mut self) -> Vec<SourceOffset> {
        self.committable.drain().map(|(_, o)| o).collect()
    }

    /// Puts back offsets whose write failed, unless newer ones arrived meanwhile.
    pub fn restore(&mut self, offsets: Vec<SourceOffset>) {
        for offset in offsets {
            let key = serde_json::Value::Object(offset.partition.clone()).to_string();
            self.committable.entry(key).or_insert(offset);
        }
    }

    /// Records submitted but not acknowledged yet.
    pub fn in_flight(&self) -> usize {
        self.partition_of.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> JsonMap {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn commits_only_an_acknowledged_prefix() {
        let mut tracker = OffsetTracker::default();
        let p = map(json!({"file": "a"}));
        for seq in 0..3 {
            tracker.submitted(seq, &p, &map(json!({"pos": seq + 1})));
        }
        tracker.acknowledged(1);
        assert!(
            tracker.take_committable().is_empty(),
            "record 0 is still in flight"
        );
        tracker.acknowledged(0);
        let ready = tracker.take_committable();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].offset["pos"], 2);
        assert_eq!(tracker.in_flight(), 1);
        tracker.acknowledged(2);
        assert_eq!(tracker.take_committable()[0].offset["pos"], 3);
        assert_eq!(tracker.in_flight(), 0);
    }

    #[test]
    fn partitions_are_independent_and_failed_writes_come_back() {
        let mut tracker = OffsetTracker::default();
        tracker.submitted(0, &map(json!({"p": 0})), &map(json!({"o": 1})));
        tracker.submitted(1, &map(json!({"p": 1})), &map(json!({"o": 9})));
        tracker.acknowledged(1);
        let ready = tracker.take_committable();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].partition["p"], 1);
        tracker.restore(ready);
        assert_eq!(tracker.take_committable().len(), 1);
    }
}
