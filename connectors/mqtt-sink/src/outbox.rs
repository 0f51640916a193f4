//! Which records are published, which the broker acknowledged, and so which Kafka offsets are
//! safe to commit.
//!
//! Every record `put` accepts becomes an entry, numbered in put order, that lives until the
//! broker acknowledged it: PUBACK for QoS 1, PUBCOMP for QoS 2, for QoS 0 the write to the
//! network. An entry goes through these stages:
//!
//! ```text
//! Queued ──pump──▶ Submitted ──Written(pkid)──▶ Written ──PUBACK / (PUBREC ▶ Released ▶ PUBCOMP)──▶ done
//!   ▲                  │ connection lost              │ reconnect, session not resumed
//!   └──────────────────┴──────────────────────────────┘
//! ```
//!
//! - **Packet ids.** rumqttc gives each QoS 1/2 publish its packet id when it writes it and
//!   reports `Written(pkid)`; publishes are written in the order they were queued to it, so the
//!   n-th `Written` belongs to the n-th submitted entry (a `Written` for a packet id already in
//!   flight is a retransmission). The acknowledgement of a packet id then finds its entry.
//! - **Packet id reuse.** rumqttc cycles ids through `1..=window` (its in-flight limit; MQTT 5:
//!   the broker's Receive Maximum if lower). A QoS 1/2 entry is only submitted while fewer than
//!   `window` QoS 1/2 submissions separate it from the oldest one not yet acknowledged, so two
//!   unacknowledged entries never share an id — not even a QoS 2 entry between PUBREC and PUBCOMP,
//!   which rumqttc itself would let a new publish reuse.
//! - **Order.** Entries are submitted strictly in put order on one connection, so order holds per
//!   MQTT topic within a Kafka partition (and across them) while connected.
//! - **Connection lost.** Entries submitted but not written go back to the front of the queue.
//!   Entries written keep their packet id: if the broker resumes the session they are sent again
//!   under that id, DUP set, before anything new (a QoS 2 entry past PUBREC gets its PUBREL
//!   again); if it does not, they are queued again as new publishes. Duplicates, never loss.
//! - **Offsets.** Per Kafka partition, the committable offset is that of the oldest entry not yet
//!   acknowledged, or, when none is left, the worker's own position: never past a record the
//!   broker has not acknowledged. Records reported as errant are not entries: the worker handles
//!   them before its position passes them.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use ferry_api::{TopicPartition, TopicPartitionOffset};
use ferry_mqtt_common::client::OutgoingMessage;

/// Where an entry is on its way to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting to be handed to the MQTT client.
    Queued,
    /// Handed to the MQTT client, not written yet.
    Submitted,
    /// Written with this packet id; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Written(u16),
    /// QoS 2 after PUBREC: PUBREL sent, waiting for PUBCOMP.
    Released(u16),
}

#[derive(Debug)]
struct Entry {
    partition: TopicPartition,
    offset: i64,
    message: OutgoingMessage,
    stage: Stage,
    /// Position among QoS 1/2 submissions, while submitted and not acknowledged.
    qseq: Option<u64>,
}

/// What to send again after a reconnect that resumed the session, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// The publish, under the packet id it had.
    Publish(OutgoingMessage, u16),
    /// The PUBREL of a QoS 2 publish the broker already received.
    Release(u16),
}

/// Entries not yet acknowledged, and the commit position of each Kafka partition.
#[derive(Debug)]
pub struct Outbox {
    entries: BTreeMap<u64, Entry>,
    next_seq: u64,
    queue: VecDeque<u64>,
    submitted: VecDeque<u64>,
    by_pkid: HashMap<u16, u64>,
    /// `qseq` of the QoS 1/2 entries submitted and not acknowledged.
    outstanding: BTreeSet<u64>,
    next_qseq: u64,
    /// rumqttc's in-flight limit: packet ids cycle through `1..=upper`...
    upper: u16,
    /// ...or, with MQTT 5, through the broker's Receive Maximum when lower.
    window: u16,
    connected: bool,
    /// Per partition, the entries in put order (sequence number, Kafka offset); the front one is
    /// never acknowledged (acknowledged ones are dropped from the front).
    partitions: HashMap<TopicPartition, VecDeque<(u64, i64)>>,
}

impl Outbox {
    /// An empty outbox for a client whose packet ids cycle through `1..=max_inflight`.
    pub fn new(max_inflight: u16) -> Outbox {
        let upper = max_inflight.max(1);
        Outbox {
            entries: BTreeMap::new(),
            next_seq: 0,
            queue: VecDeque::new(),
            submitted: VecDeque::new(),
            by_pkid: HashMap::new(),
            outstanding: BTreeSet::new(),
            next_qseq: 0,
            upper,
            window: upper,
            connected: false,
            partitions: HashMap::new(),
        }
    }

    /// Entries not acknowledged yet.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when every entry is acknowledged.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True between a CONNACK and the loss of that connection.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The sequence number the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// True when every entry numbered below `seq` is acknowledged.
    pub fn done_before(&self, seq: u64) -> bool {
        self.entries.range(..seq).next().is_none()
    }

    /// Adds a record's message; returns its sequence number.
    pub fn push(
        &mut self,
        partition: TopicPartition,
        offset: i64,
        message: OutgoingMessage,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.partitions
            .entry(partition.clone())
            .or_default()
            .push_back((seq, offset));
        self.entries.insert(
            seq,
            Entry {
                partition,
                offset,
                message,
                stage: Stage::Queued,
                qseq: None,
            },
        );
        self.queue.push_back(seq);
        seq
    }

    /// Hands queued entries to the client, in order, while connected and the packet id window
    /// allows; `submit` returns false when the client cannot take more. Returns how many.
    pub fn pump(&mut self, mut submit: impl FnMut(&OutgoingMessage) -> bool) -> usize {
        let mut submitted = 0;
        while self.connected {
            let Some(&seq) = self.queue.front() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&seq) else {
                self.queue.pop_front();
                continue;
            };
            let acknowledged = entry.message.qos > 0;
            if acknowledged {
                if let Some(&oldest) = self.outstanding.first() {
                    if self.next_qseq - oldest >= u64::from(self.window) {
                        break;
                    }
                }
            }
            if !submit(&entry.message) {
                break;
            }
            self.queue.pop_front();
            entry.stage = Stage::Submitted;
            if acknowledged {
                entry.qseq = Some(self.next_qseq);
                self.outstanding.insert(self.next_qseq);
                self.next_qseq += 1;
            }
            self.submitted.push_back(seq);
            submitted += 1;
        }
        submitted
    }

    /// The client wrote a publish with packet id `pkid` (0 for QoS 0). An error means the
    /// bookkeeping no longer matches the client.
    pub fn written(&mut self, pkid: u16) -> Result<(), String> {
        if pkid != 0 && self.by_pkid.contains_key(&pkid) {
            return Ok(()); // a retransmission after a reconnect
        }
        let Some(seq) = self.submitted.pop_front() else {
            return Err(format!(
                "the MQTT client wrote a publish (packet id {pkid}) that this task did not queue"
            ));
        };
        let Some(entry) = self.entries.get_mut(&seq) else {
            return Err(format!("publish #{seq} was written but is not pending"));
        };
        match (entry.message.qos, pkid) {
            (0, 0) => {
                self.complete(seq);
                Ok(())
            }
            (qos, pkid) if qos > 0 && pkid > 0 => {
                entry.stage = Stage::Written(pkid);
                self.by_pkid.insert(pkid, seq);
                Ok(())
            }
            (qos, pkid) => Err(format!(
                "the MQTT client wrote a QoS {qos} publish with packet id {pkid}"
            )),
        }
    }

    /// PUBACK: the QoS 1 publish `pkid` is delivered. False for an unknown packet id.
    pub fn pub_ack(&mut self, pkid: u16) -> bool {
        match self.by_pkid.remove(&pkid) {
            Some(seq) => {
                self.complete(seq);
                true
            }
            None => false,
        }
    }

    /// PUBREC: the broker has the QoS 2 publish `pkid`; the client answers PUBREL.
    pub fn pub_rec(&mut self, pkid: u16) -> bool {
        let Some(entry) = self
            .by_pkid
            .get(&pkid)
            .and_then(|seq| self.entries.get_mut(seq))
        else {
            return false;
        };
        entry.stage = Stage::Released(pkid);
        true
    }

    /// PUBCOMP: the QoS 2 publish `pkid` is delivered. False for an unknown packet id.
    pub fn pub_comp(&mut self, pkid: u16) -> bool {
        self.pub_ack(pkid)
    }

    /// The MQTT topic and Kafka position of the publish in flight as `pkid`, for messages.
    pub fn describe(&self, pkid: u16) -> Option<String> {
        let entry = self.entries.get(self.by_pkid.get(&pkid)?)?;
        Some(format!(
            "`{}` (record {}-{}@{})",
            entry.message.topic, entry.partition.topic, entry.partition.partition, entry.offset
        ))
    }

    fn complete(&mut self, seq: u64) {
        let Some(entry) = self.entries.remove(&seq) else {
            return;
        };
        if let Some(qseq) = entry.qseq {
            self.outstanding.remove(&qseq);
        }
        if let Some(order) = self.partitions.get_mut(&entry.partition) {
            while let Some(&(front, _)) = order.front() {
                if self.entries.contains_key(&front) {
                    break;
                }
                order.pop_front();
            }
        }
    }

    /// The connection is lost: entries submitted but not written go back to the front of the
    /// queue. (Apply the events rumqttc produced but did not hand out first.)
    pub fn disconnected(&mut self) {
        self.connected = false;
        let requeued: Vec<u64> = self.submitted.drain(..).collect();
        for seq in requeued.iter().rev() {
            if let Some(entry) = self.entries.get_mut(seq) {
                entry.stage = Stage::Queued;
                if let Some(qseq) = entry.qseq.take() {
                    self.outstanding.remove(&qseq);
                }
                self.queue.push_front(*seq);
            }
        }
    }

    /// A CONNACK: returns what to send again, in order, before anything new. Without a resumed
    /// session the broker forgot every packet id, so written entries are queued again as new.
    pub fn connected(
        &mut self,
        session_present: bool,
        receive_maximum: Option<u16>,
    ) -> Vec<Resend> {
        if let Some(receive_maximum) = receive_maximum {
            self.window = receive_maximum.clamp(1, self.upper);
        }
        let mut resend = Vec::new();
        if session_present {
            for entry in self.entries.values() {
                match entry.stage {
                    Stage::Written(pkid) => {
                        resend.push(Resend::Publish(entry.message.clone(), pkid));
                    }
                    Stage::Released(pkid) => resend.push(Resend::Release(pkid)),
                    Stage::Queued | Stage::Submitted => {}
                }
            }
        } else {
            self.by_pkid.clear();
            for entry in self.entries.values_mut() {
                if let Stage::Written(_) | Stage::Released(_) = entry.stage {
                    entry.stage = Stage::Queued;
                    if let Some(qseq) = entry.qseq.take() {
                        self.outstanding.remove(&qseq);
                    }
                }
            }
            self.queue = (self.entries.iter())
                .filter(|(_, e)| e.stage == Stage::Queued)
                .map(|(seq, _)| *seq)
                .collect();
        }
        self.connected = true;
        resend
    }

    /// The offsets safe to commit, given the worker's positions: per partition, the offset of
    /// the oldest record not acknowledged yet, never beyond the worker's position.
    pub fn committable(&self, consumed: &[TopicPartitionOffset]) -> Vec<TopicPartitionOffset> {
        consumed
            .iter()
            .map(|position| {
                let partition = TopicPartition {
                    topic: position.topic.clone(),
                    partition: position.partition,
                };
                let pending = self
                    .partitions
                    .get(&partition)
                    .and_then(|order| order.front())
                    .map(|&(_, offset)| offset);
                TopicPartitionOffset {
                    offset: pending.map_or(position.offset, |o| o.min(position.offset)),
                    ..position.clone()
                }
            })
            .collect()
    }

    /// The partitions were revoked: their offsets are committed already; entries still in flight
    /// are delivered but no longer tracked for commits.
    pub fn close(&mut self, partitions: &[TopicPartition]) {
        for partition in partitions {
            self.partitions.remove(partition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn message(topic: &str, qos: u8) -> OutgoingMessage {
        OutgoingMessage {
            topic: topic.into(),
            payload: Bytes::from_static(b"x"),
            qos,
            retain: false,
            properties: None,
        }
    }

    fn tp(partition: i32) -> TopicPartition {
        TopicPartition {
            topic: "alerts".into(),
            partition,
        }
    }

    fn position(partition: i32, offset: i64) -> TopicPartitionOffset {
        TopicPartitionOffset {
            topic: "alerts".into(),
            partition,
            offset,
        }
    }

    /// What the client was handed, in order.
    fn pump(outbox: &mut Outbox) -> Vec<String> {
        let mut handed = Vec::new();
        outbox.pump(|m| {
            handed.push(m.topic.clone());
            true
        });
        handed
    }

    fn committed(outbox: &Outbox, partition: i32, consumed: i64) -> i64 {
        outbox.committable(&[position(partition, consumed)])[0].offset
    }

    #[test]
    fn offsets_follow_the_longest_acknowledged_prefix() {
        let mut outbox = Outbox::new(100);
        for offset in 10..15 {
            outbox.push(tp(0), offset, message(&format!("t{offset}"), 1));
        }
        assert!(pump(&mut outbox).is_empty(), "nothing before CONNACK");
        assert_eq!(outbox.connected(false, None), []);
        assert_eq!(pump(&mut outbox).len(), 5);
        assert_eq!(committed(&outbox, 0, 15), 10, "nothing acknowledged");
        for pkid in 1..=5 {
            outbox.written(pkid).unwrap();
        }
        assert_eq!(committed(&outbox, 0, 15), 10, "written is not acknowledged");
        assert!(outbox.pub_ack(2));
        assert!(outbox.pub_ack(3));
        assert_eq!(
            committed(&outbox, 0, 15),
            10,
            "offset 10 still unacknowledged"
        );
        assert!(outbox.pub_ack(1));
        assert_eq!(committed(&outbox, 0, 15), 13);
        assert!(outbox.pub_ack(5));
        assert_eq!(committed(&outbox, 0, 15), 13);
        assert!(outbox.pub_ack(4));
        assert_eq!(committed(&outbox, 0, 15), 15);
        assert_eq!(
            committed(&outbox, 0, 14),
            14,
            "never beyond the worker's position"
        );
        assert_eq!(
            committed(&outbox, 7, 99),
            99,
            "unknown partition: the worker's position"
        );
        assert!(outbox.is_empty());
        assert!(!outbox.pub_ack(4), "acknowledged twice");
    }

    #[test]
    fn partitions_are_independent_and_qos0_is_done_when_written() {
        let mut outbox = Outbox::new(100);
        outbox.connected(false, None);
        outbox.push(tp(0), 0, message("a", 1));
        outbox.push(tp(1), 0, message("b", 0));
        outbox.push(tp(1), 1, message("c", 2));
        assert_eq!(pump(&mut outbox), ["a", "b", "c"]);
        outbox.written(1).unwrap();
        outbox.written(0).unwrap();
        assert_eq!(committed(&outbox, 1, 2), 1, "QoS 0 done once written");
        outbox.written(2).unwrap();
        assert!(outbox.pub_rec(2));
        assert_eq!(
            committed(&outbox, 1, 2),
            1,
            "QoS 2 is done at PUBCOMP, not PUBREC"
        );
        assert!(outbox.pub_comp(2));
        assert_eq!(committed(&outbox, 1, 2), 2);
        assert_eq!(committed(&outbox, 0, 1), 0);
        assert!(outbox.written(9).is_err(), "nothing submitted");
    }

    #[test]
    fn packet_ids_are_never_shared_by_unacknowledged_publishes() {
        // rumqttc cycles ids 1..=3; a QoS 2 publish stuck between PUBREC and PUBCOMP holds id 1.
        let mut outbox = Outbox::new(3);
        outbox.connected(false, None);
        for (offset, qos) in [(0, 2), (1, 1), (2, 1), (3, 1), (4, 1), (5, 0)] {
            outbox.push(tp(0), offset, message(&format!("m{offset}"), qos));
        }
        assert_eq!(pump(&mut outbox), ["m0", "m1", "m2"], "window of 3");
        for pkid in 1..=3 {
            outbox.written(pkid).unwrap();
        }
        assert!(outbox.pub_rec(1));
        assert!(outbox.pub_ack(2));
        assert!(outbox.pub_ack(3));
        assert!(
            pump(&mut outbox).is_empty(),
            "the next id would be 1 again while m0 waits for PUBCOMP"
        );
        assert!(outbox.pub_comp(1));
        assert_eq!(pump(&mut outbox), ["m3", "m4", "m5"]);
    }

    #[test]
    fn a_lost_connection_requeues_in_order_and_resends_under_the_same_ids() {
        let mut outbox = Outbox::new(100);
        outbox.connected(false, None);
        for offset in 0..5 {
            outbox.push(tp(0), offset, message(&format!("m{offset}"), 2));
        }
        assert_eq!(pump(&mut outbox).len(), 5);
        outbox.written(1).unwrap();
        outbox.written(2).unwrap();
        outbox.written(3).unwrap();
        assert!(outbox.pub_rec(2));
        assert!(outbox.pub_rec(3) && outbox.pub_comp(3));
        // m3 and m4 were queued to the client but never written.
        outbox.disconnected();
        assert!(pump(&mut outbox).is_empty(), "nothing while disconnected");

        let resend = outbox.connected(true, None);
        assert_eq!(
            resend,
            [Resend::Publish(message("m0", 2), 1), Resend::Release(2),]
        );
        assert_eq!(pump(&mut outbox), ["m3", "m4"], "then the rest, in order");
        outbox.written(1).unwrap(); // the retransmission of m0
        outbox.written(4).unwrap();
        outbox.written(5).unwrap();
        assert!(outbox.pub_comp(1));
        assert!(outbox.pub_comp(2));
        assert_eq!(committed(&outbox, 0, 5), 3);
        assert!(outbox.pub_comp(4));
        assert!(outbox.pub_comp(5));
        assert_eq!(committed(&outbox, 0, 5), 5);
    }

    #[test]
    fn without_the_session_everything_unacknowledged_is_published_again() {
        let mut outbox = Outbox::new(100);
        outbox.connected(false, None);
        for offset in 0..4 {
            outbox.push(tp(0), offset, message(&format!("m{offset}"), 1));
        }
        pump(&mut outbox);
        outbox.written(1).unwrap();
        outbox.written(2).unwrap();
        assert!(outbox.pub_ack(2));
        outbox.disconnected();
        assert_eq!(outbox.connected(false, Some(50)), []);
        assert_eq!(pump(&mut outbox), ["m0", "m2", "m3"], "m1 was acknowledged");
        for pkid in 3..=5 {
            outbox.written(pkid).unwrap();
        }
        assert!(
            !outbox.pub_ack(1),
            "ids of the old session mean nothing now"
        );
        assert!(outbox.pub_ack(3));
        assert_eq!(committed(&outbox, 0, 4), 2);
        assert!(outbox.pub_ack(4) && outbox.pub_ack(5));
        assert_eq!(committed(&outbox, 0, 4), 4);
    }

    #[test]
    fn closed_partitions_are_forgotten() {
        let mut outbox = Outbox::new(10);
        outbox.connected(false, None);
        outbox.push(tp(0), 5, message("a", 1));
        pump(&mut outbox);
        outbox.close(&[tp(0)]);
        assert_eq!(
            committed(&outbox, 0, 6),
            6,
            "reassigned later: starts afresh"
        );
        outbox.written(1).unwrap();
        assert!(outbox.pub_ack(1));
        assert!(outbox.is_empty());
        assert!(outbox.done_before(outbox.next_seq()));
        assert_eq!(outbox.describe(1), None);
    }
}
