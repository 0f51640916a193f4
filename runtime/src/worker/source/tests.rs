//! The source loop with a fake task and a fake producer: when records are acknowledged
//! upstream, which offsets are committed, and what a bad record does.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_api::{ConfigMap, ConnectError, JsonMap, RecordMetadata, SourceRecord};
use serde_json::json;

use super::{run_loop, Delivery, Outgoing, RecordProducer, SendError, SourceTaskCalls};
use crate::config::ConnectorKeys;
use crate::plugins::{ConnectorType, PolledRecord};
use crate::worker::control::{TaskControl, TaskTarget};
use crate::worker::task::TaskReporter;
use crate::worker::Worker;

/// What the fake task saw.
#[derive(Default)]
struct Seen {
    acknowledged: Vec<u64>,
    commits: usize,
}

struct FakeTask {
    batches: VecDeque<Vec<PolledRecord>>,
    seen: Arc<Mutex<Seen>>,
}

impl SourceTaskCalls for FakeTask {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<PolledRecord>, ConnectError> {
        match self.batches.pop_front() {
            Some(batch) => Ok(batch),
            None => {
                std::thread::sleep(timeout.min(Duration::from_millis(5)));
                Ok(Vec::new())
            }
        }
    }

    fn commit_record(&mut self, sequence: u64, _: &RecordMetadata) -> Result<(), ConnectError> {
        self.seen.lock().unwrap().acknowledged.push(sequence);
        Ok(())
    }

    fn commit(&mut self) -> Result<(), ConnectError> {
        self.seen.lock().unwrap().commits += 1;
        Ok(())
    }
}

/// Sequence, topic and value of every record handed to the producer.
type Sent = Arc<Mutex<Vec<(u64, String, Option<Vec<u8>>)>>>;

/// Answers each send at once: delivered, or refused for the sequences in `refuse`. With
/// `hold`, answers nothing until released.
struct FakeProducer {
    reports: Sender<Delivery>,
    refuse: Vec<u64>,
    held: Option<Arc<Mutex<Vec<u64>>>>,
    sent: Sent,
}

impl RecordProducer for FakeProducer {
    fn send(&self, record: Outgoing) -> Result<(), SendError> {
        self.sent.lock().unwrap().push((
            record.sequence,
            record.topic.clone(),
            record.value.clone(),
        ));
        if let Some(held) = &self.held {
            held.lock().unwrap().push(record.sequence);
            return Ok(());
        }
        let result = if self.refuse.contains(&record.sequence) {
            Err(format!(
                "Kafka did not accept a record for topic {}",
                record.topic
            ))
        } else {
            Ok(RecordMetadata {
                topic: record.topic,
                partition: 0,
                offset: record.sequence as i64,
                timestamp_ms: None,
            })
        };
        let _ = self.reports.send(Delivery {
            sequence: record.sequence,
            result,
        });
        Ok(())
    }
}

fn record(sequence: u64, partition: &str, position: u64, value: &str) -> PolledRecord {
    let map = |v: serde_json::Value| -> JsonMap { v.as_object().cloned().unwrap() };
    PolledRecord {
        sequence,
        record: SourceRecord {
            source_partition: map(json!({ "p": partition })),
            source_offset: map(json!({ "position": position })),
            topic: "out".into(),
            partition: None,
            key: None,
            value: Some(value.as_bytes().to_vec()),
            headers: Vec::new(),
            timestamp_ms: None,
            ..SourceRecord::default()
        },
    }
}

struct Harness {
    worker: Arc<Worker>,
    _runtime: tokio::runtime::Runtime,
}

impl Harness {
    fn new() -> Harness {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Harness {
            worker: Worker::for_tests(runtime.handle().clone()),
            _runtime: runtime,
        }
    }

    /// Runs the loop until `done` holds (or fails after a deadline), then stops it.
    fn run(
        &self,
        config: &[(&str, &str)],
        mut task: FakeTask,
        producer: FakeProducer,
        reports: Receiver<Delivery>,
        done: impl Fn() -> bool,
    ) -> Result<(), String> {
        let mut map: ConfigMap = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert("name".into(), "c".into());
        let keys = ConnectorKeys::parse(&map, ConnectorType::Source).unwrap();
        let control = TaskControl::new(TaskTarget::Running);
        let metrics = self.worker.metrics.task("c", 0, ConnectorType::Source);
        let reporter = TaskReporter::new(self.worker.clone(), "c", 0, metrics);
        let (worker, keys, control_ref, reporter) = (&self.worker, &keys, &control, &reporter);
        std::thread::scope(|scope| {
            let looping = scope.spawn(move || {
                run_loop(
                    worker,
                    "c",
                    keys,
                    control_ref,
                    reporter,
                    &mut task,
                    &producer,
                    &reports,
                )
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            while !done() && !looping.is_finished() {
                if Instant::now() >= deadline {
                    // Stop the loop first: a panic here would wait for it forever.
                    control_ref.set(TaskTarget::Stopping);
                    let _ = looping.join();
                    panic!("the source loop never reached the expected state within 10 s");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            control.set(TaskTarget::Stopping);
            looping.join().unwrap()
        })
    }
}

fn fakes(
    batches: Vec<Vec<PolledRecord>>,
    refuse: Vec<u64>,
    held: Option<Arc<Mutex<Vec<u64>>>>,
) -> (FakeTask, FakeProducer, Receiver<Delivery>, Arc<Mutex<Seen>>) {
    let (sender, reports) = mpsc::channel();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let task = FakeTask {
        batches: batches.into(),
        seen: seen.clone(),
    };
    let producer = FakeProducer {
        reports: sender,
        refuse,
        held,
        sent: Default::default(),
    };
    (task, producer, reports, seen)
}

#[test]
fn records_are_acknowledged_upstream_and_committed_only_after_kafka() {
    let harness = Harness::new();
    let batch = vec![
        record(0, "a", 10, "x"),
        record(1, "a", 11, "y"),
        record(2, "b", 7, "z"),
    ];
    let held = Arc::new(Mutex::new(Vec::new()));
    let (task, producer, reports, seen) = fakes(vec![batch], Vec::new(), Some(held.clone()));
    let sender = producer.reports.clone();
    // Kafka answers nothing at first: nothing may be acknowledged upstream.
    harness
        .run(&[], task, producer, reports, || {
            held.lock().unwrap().len() == 3
        })
        .unwrap();
    assert!(seen.lock().unwrap().acknowledged.is_empty());
    assert!(harness.worker.offsets.offsets("c").is_empty());

    // Now with Kafka answering, out of order across source partitions.
    let batch = vec![
        record(0, "a", 10, "x"),
        record(1, "a", 11, "y"),
        record(2, "b", 7, "z"),
    ];
    let (task, producer, reports, seen) = fakes(vec![batch], Vec::new(), None);
    drop(sender);
    harness
        .run(&[], task, producer, reports, || {
            seen.lock().unwrap().acknowledged.len() == 3
        })
        .unwrap();
    assert_eq!(seen.lock().unwrap().acknowledged, [0, 1, 2]);
    let mut committed: Vec<_> = harness
        .worker
        .offsets
        .offsets("c")
        .into_iter()
        .map(|o| (o.partition["p"].clone(), o.offset["position"].clone()))
        .collect();
    committed.sort_by_key(|(p, _)| p.to_string());
    assert_eq!(committed, [(json!("a"), json!(11)), (json!("b"), json!(7))]);
    assert_eq!(
        seen.lock().unwrap().commits,
        1,
        "the task heard of the commit"
    );
}

#[test]
fn a_record_kafka_refuses_fails_the_task_and_is_not_acknowledged() {
    let harness = Harness::new();
    let batch = vec![
        record(0, "a", 1, "x"),
        record(1, "a", 2, "y"),
        record(2, "a", 3, "z"),
    ];
    let (task, producer, reports, seen) = fakes(vec![batch], vec![1], None);
    let outcome = harness.run(&[], task, producer, reports, || false);
    let error = outcome.unwrap_err();
    assert!(error.contains("Kafka did not accept"), "{error}");
    let acknowledged = seen.lock().unwrap().acknowledged.clone();
    assert!(!acknowledged.contains(&1), "{acknowledged:?}");
    // Only the offset before the refused record may be committed.
    let committed = harness.worker.offsets.offsets("c");
    assert!(
        committed
            .iter()
            .all(|o| o.offset["position"].as_u64() <= Some(1)),
        "{committed:?}"
    );
}

#[test]
fn a_record_that_cannot_be_converted_fails_the_task_or_is_skipped() {
    let harness = Harness::new();
    let json = [("value.converter", "JsonConverter")];
    let (task, producer, reports, seen) =
        fakes(vec![vec![record(0, "a", 1, "not json")]], Vec::new(), None);
    let error = harness
        .run(&json, task, producer, reports, || false)
        .unwrap_err();
    assert!(
        error.contains("JsonConverter") && error.contains("errors.tolerance=all"),
        "{error}"
    );
    assert!(seen.lock().unwrap().acknowledged.is_empty());

    let tolerant = [
        ("value.converter", "JsonConverter"),
        ("errors.tolerance", "all"),
    ];
    let batch = vec![
        record(0, "a", 1, "not json"),
        record(1, "a", 2, r#"{"ok":1}"#),
    ];
    let (task, producer, reports, seen) = fakes(vec![batch], Vec::new(), None);
    let sent = producer.sent.clone();
    harness
        .run(&tolerant, task, producer, reports, || {
            seen.lock().unwrap().acknowledged.len() == 2
        })
        .unwrap();
    // The bad record is acknowledged upstream (skipped) but never reaches Kafka.
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 1);
    let metrics = harness.worker.metrics.task("c", 0, ConnectorType::Source);
    assert_eq!(
        metrics
            .records_skipped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn the_chain_routes_records_and_a_dropped_one_is_acknowledged_and_committed() {
    let harness = Harness::new();
    let chain = [
        ("transforms", "route,drop"),
        ("transforms.route.type", "RegexRouter"),
        ("transforms.route.regex", "(.*)"),
        ("transforms.route.replacement", "$1-routed"),
        ("transforms.drop.type", "Filter"),
        ("transforms.drop.predicate", "marked"),
        ("predicates", "marked"),
        ("predicates.marked.type", "HasHeaderKey"),
        ("predicates.marked.name", "skip"),
    ];
    let mut dropped = record(1, "a", 2, "y");
    dropped
        .record
        .headers
        .push(ferry_api::Header::new("skip", "1"));
    let batch = vec![record(0, "a", 1, "x"), dropped, record(2, "a", 3, "z")];
    let (task, producer, reports, seen) = fakes(vec![batch], Vec::new(), None);
    let sent = producer.sent.clone();
    harness
        .run(&chain, task, producer, reports, || {
            seen.lock().unwrap().acknowledged.len() == 3
        })
        .unwrap();
    let sent = sent.lock().unwrap().clone();
    let routed: Vec<(u64, &str)> = sent.iter().map(|(s, t, _)| (*s, t.as_str())).collect();
    assert_eq!(routed, [(0, "out-routed"), (2, "out-routed")]);
    let mut acknowledged = seen.lock().unwrap().acknowledged.clone();
    acknowledged.sort();
    assert_eq!(
        acknowledged,
        [0, 1, 2],
        "the dropped record is acknowledged upstream too"
    );
    let committed = harness.worker.offsets.offsets("c");
    assert_eq!(committed[0].offset["position"], 3, "{committed:?}");
    let metrics = harness.worker.metrics.task("c", 0, ConnectorType::Source);
    assert_eq!(
        metrics
            .records_filtered
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn a_transformation_failure_names_its_alias_or_the_record_is_skipped_and_acknowledged() {
    let harness = Harness::new();
    let chain = [
        ("transforms", "car"),
        ("transforms.car.type", "ExtractField$Value"),
        ("transforms.car.field", "car"),
    ];
    // The values are opaque bytes (the default format): a field cannot be taken from them.
    let (task, producer, reports, seen) = fakes(
        vec![vec![record(0, "a", 1, r#"{"car":"x"}"#)]],
        Vec::new(),
        None,
    );
    let error = harness
        .run(&chain, task, producer, reports, || false)
        .unwrap_err();
    assert!(
        error.contains("transformation `car`")
            && error.contains("ExtractField$Value")
            && error.contains("topic out"),
        "{error}"
    );
    assert!(seen.lock().unwrap().acknowledged.is_empty());

    let mut json = record(1, "a", 2, r#"{"car":"y"}"#);
    json.record.value_format = ferry_api::data::PayloadFormat::Json;
    let batch = vec![record(0, "a", 1, r#"{"car":"x"}"#), json];
    let tolerant = [chain.as_slice(), &[("errors.tolerance", "all")]].concat();
    let (task, producer, reports, seen) = fakes(vec![batch], Vec::new(), None);
    let sent = producer.sent.clone();
    harness
        .run(&tolerant, task, producer, reports, || {
            seen.lock().unwrap().acknowledged.len() == 2
        })
        .unwrap();
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "only the JSON record is written");
    assert_eq!(
        sent[0].2.as_deref(),
        Some(&b"y"[..]),
        "its extracted field, as text"
    );
}
