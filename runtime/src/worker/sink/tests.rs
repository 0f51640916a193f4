//! The sink loop with a fake consumer and a fake task: which offsets are committed, and what
//! retriable failures, errant records and unconvertible records do.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_api::{ConfigMap, ConnectError, SinkRecord, TopicPartitionOffset};

use super::{run_loop, Consumed, RecordSource, SinkSession, SinkTaskCalls};
use crate::config::ConnectorKeys;
use crate::plugins::ConnectorType;
use crate::worker::control::{TaskControl, TaskTarget};
use crate::worker::task::TaskReporter;
use crate::worker::Worker;

#[derive(Default)]
struct FakeSource {
    records: Mutex<VecDeque<Consumed>>,
    commits: Mutex<Vec<Vec<(String, i32, i64)>>>,
    /// Commits still to refuse, as Kafka does while its group coordinator moves.
    refused_commits: Mutex<usize>,
}

impl RecordSource for FakeSource {
    fn next(&self, timeout: Duration) -> Option<Result<Consumed, String>> {
        let next = self.records.lock().unwrap().pop_front();
        if next.is_none() {
            std::thread::sleep(timeout.min(Duration::from_millis(5)));
        }
        next.map(Ok)
    }

    fn pause_all(&self) -> Result<(), String> {
        Ok(())
    }

    fn resume_all(&self) -> Result<(), String> {
        Ok(())
    }

    fn rewind(&self, _: &str, _: i32, _: i64) {}

    fn commit(&self, offsets: &[TopicPartitionOffset]) -> Result<(), String> {
        let mut refused = self.refused_commits.lock().unwrap();
        if *refused > 0 {
            *refused -= 1;
            return Err("offset commit failed: NotCoordinator".to_string());
        }
        drop(refused);
        let offsets = offsets
            .iter()
            .map(|o| (o.topic.clone(), o.partition, o.offset))
            .collect();
        self.commits.lock().unwrap().push(offsets);
        Ok(())
    }
}

type Seen = Arc<Mutex<Vec<(String, Option<Vec<u8>>)>>>;

/// Acknowledges records up to `acknowledged_below` (exclusive); may fail its first puts
/// retriably, and reports the offsets in `errant`.
struct FakeTask {
    puts: Arc<Mutex<Vec<Vec<i64>>>>,
    /// Topic and value of every record put.
    seen: Seen,
    retriable_failures: usize,
    errant: Vec<i64>,
    acknowledged_below: i64,
}

impl SinkTaskCalls for FakeTask {
    fn put(
        &mut self,
        records: &[SinkRecord],
    ) -> Result<Vec<(TopicPartitionOffset, String)>, ConnectError> {
        self.puts
            .lock()
            .unwrap()
            .push(records.iter().map(|r| r.offset).collect());
        self.seen
            .lock()
            .unwrap()
            .extend(records.iter().map(|r| (r.topic.clone(), r.value.clone())));
        if self.retriable_failures > 0 {
            self.retriable_failures -= 1;
            return Err(ConnectError::Retriable("the broker is busy".into()));
        }
        Ok(records
            .iter()
            .filter(|r| self.errant.contains(&r.offset))
            .map(|r| (r.kafka_position(), "no such car".to_string()))
            .collect())
    }

    fn pre_commit(
        &mut self,
        offsets: &[TopicPartitionOffset],
    ) -> Result<Vec<TopicPartitionOffset>, ConnectError> {
        Ok(offsets
            .iter()
            .map(|o| TopicPartitionOffset {
                offset: o.offset.min(self.acknowledged_below),
                ..o.clone()
            })
            .collect())
    }
}

fn consumed(offset: i64, value: &str) -> Consumed {
    Consumed {
        topic: "alerts".into(),
        partition: 0,
        offset,
        key: None,
        value: Some(value.as_bytes().to_vec()),
        headers: Vec::new(),
        timestamp_ms: None,
    }
}

fn task(acknowledged_below: i64) -> FakeTask {
    FakeTask {
        puts: Default::default(),
        seen: Default::default(),
        retriable_failures: 0,
        errant: Vec::new(),
        acknowledged_below,
    }
}

/// Runs the loop over `records` until `done` holds (deadline 10 s), then stops it.
fn run(
    config: &[(&str, &str)],
    records: Vec<Consumed>,
    task: FakeTask,
    done: impl Fn(&FakeSource, &[Vec<i64>]) -> bool,
) -> (Result<(), String>, FakeSource, Vec<Vec<i64>>, Arc<Worker>) {
    let source = FakeSource {
        records: Mutex::new(records.into()),
        ..FakeSource::default()
    };
    run_over(config, source, None, task, done)
}

/// As [`run`], over a source set up by the test, committing every `flush_interval` if given
/// (else the worker's default).
fn run_over(
    config: &[(&str, &str)],
    source: FakeSource,
    flush_interval: Option<Duration>,
    task: FakeTask,
    done: impl Fn(&FakeSource, &[Vec<i64>]) -> bool,
) -> (Result<(), String>, FakeSource, Vec<Vec<i64>>, Arc<Worker>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut worker = Worker::for_tests(runtime.handle().clone());
    if let Some(interval) = flush_interval {
        let unique = Arc::get_mut(&mut worker).expect("the test's own worker");
        unique.config.offset_flush_interval = interval;
    }
    let mut map: ConfigMap = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.insert("name".into(), "s".into());
    map.insert("topics".into(), "alerts".into());
    let keys = ConnectorKeys::parse(&map, ConnectorType::Sink).unwrap();
    let puts = task.puts.clone();
    let session = Arc::new(Mutex::new(Some(SinkSession::new(task))));
    let control = TaskControl::new(TaskTarget::Running);
    let metrics = worker.metrics.task("s", 0, ConnectorType::Sink);
    let reporter = TaskReporter::new(worker.clone(), "s", 0, metrics);
    let outcome = std::thread::scope(|scope| {
        let looping =
            scope.spawn(|| run_loop(&worker, &keys, None, &control, &reporter, &source, &session));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(&source, &puts.lock().unwrap()) && !looping.is_finished() {
            if Instant::now() >= deadline {
                // Stop the loop first: a panic here would wait for it forever.
                control.set(TaskTarget::Stopping);
                let _ = looping.join();
                panic!("the sink loop never reached the expected state within 10 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        control.set(TaskTarget::Stopping);
        looping.join().unwrap()
    });
    let puts = puts.lock().unwrap().clone();
    (outcome, source, puts, worker)
}

fn delivered(puts: &[Vec<i64>]) -> usize {
    puts.iter().map(Vec::len).sum()
}

#[test]
fn only_what_pre_commit_returns_is_committed() {
    let records = (0..5).map(|o| consumed(o, "x")).collect();
    let (outcome, source, puts, _) = run(&[], records, task(3), |_, puts| delivered(puts) == 5);
    outcome.unwrap();
    assert_eq!(puts.concat(), [0, 1, 2, 3, 4]);
    // Consumed up to 5, but the task acknowledged only below 3: 3 is committed, not 5.
    let commits = source.commits.lock().unwrap().clone();
    assert_eq!(commits.last().unwrap(), &[("alerts".to_string(), 0, 3)]);
    assert!(commits.iter().flatten().all(|(_, _, offset)| *offset <= 3));
}

#[test]
fn a_commit_kafka_refuses_is_counted_and_the_next_one_covers_its_offsets() {
    let source = FakeSource {
        records: Mutex::new((0..5).map(|o| consumed(o, "x")).collect()),
        refused_commits: Mutex::new(3),
        ..FakeSource::default()
    };
    let every = Some(Duration::from_millis(10));
    let (outcome, source, puts, worker) = run_over(&[], source, every, task(5), |source, puts| {
        delivered(puts) == 5 && !source.commits.lock().unwrap().is_empty()
    });
    outcome.expect("refused commits do not fail the task");
    assert_eq!(puts.concat(), [0, 1, 2, 3, 4], "every record once");
    let commits = source.commits.lock().unwrap().clone();
    assert_eq!(commits.last().unwrap(), &[("alerts".to_string(), 0, 5)]);
    let metrics = worker.metrics.task("s", 0, ConnectorType::Sink);
    let failures = metrics.offset_commit_failures.load(Ordering::Relaxed);
    assert_eq!(failures, 3, "each refusal counted");
}

#[test]
fn a_retriable_put_is_retried_with_the_same_records() {
    let records = (0..3).map(|o| consumed(o, "x")).collect();
    let mut flaky = task(i64::MAX);
    flaky.retriable_failures = 2;
    let (outcome, source, puts, _) = run(&[], records, flaky, |_, puts| puts.len() == 3);
    outcome.unwrap();
    assert_eq!(puts, [vec![0, 1, 2], vec![0, 1, 2], vec![0, 1, 2]]);
    let commits = source.commits.lock().unwrap().clone();
    assert_eq!(commits.last().unwrap(), &[("alerts".to_string(), 0, 3)]);
}

#[test]
fn an_errant_record_fails_the_task_unless_errors_are_tolerated() {
    let records = || (0..3).map(|o| consumed(o, "x")).collect();
    let mut strict = task(i64::MAX);
    strict.errant = vec![1];
    let (outcome, source, _, _) = run(&[], records(), strict, |_, _| false);
    let error = outcome.unwrap_err();
    assert!(
        error.contains("alerts-0@1") && error.contains("errors.tolerance=none"),
        "{error}"
    );
    assert!(
        source.commits.lock().unwrap().is_empty(),
        "nothing of the failed batch may be committed"
    );

    let mut tolerant = task(i64::MAX);
    tolerant.errant = vec![1];
    let (outcome, source, _, worker) = run(
        &[("errors.tolerance", "all")],
        records(),
        tolerant,
        |_, puts| delivered(puts) == 3,
    );
    outcome.unwrap();
    let commits = source.commits.lock().unwrap().clone();
    assert_eq!(commits.last().unwrap(), &[("alerts".to_string(), 0, 3)]);
    let metrics = worker.metrics.task("s", 0, ConnectorType::Sink);
    let skipped = metrics
        .records_skipped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(skipped, 1);
}

#[test]
fn a_record_that_cannot_be_converted_is_skipped_when_tolerated() {
    let json = [
        ("value.converter", "JsonConverter"),
        ("value.converter.schemas.enable", "false"),
        ("errors.tolerance", "all"),
    ];
    let records = vec![
        consumed(0, "{}"),
        consumed(1, "not json"),
        consumed(2, "{}"),
    ];
    let (outcome, source, puts, _) = run(&json, records, task(i64::MAX), |_, puts| {
        delivered(puts) == 2
    });
    outcome.unwrap();
    assert_eq!(
        puts.concat(),
        [0, 2],
        "the bad record never reaches the task"
    );
    let commits = source.commits.lock().unwrap().clone();
    assert_eq!(commits.last().unwrap(), &[("alerts".to_string(), 0, 3)]);
}

#[test]
fn a_renamed_record_reaches_the_task_renamed_and_is_committed_where_it_was_read() {
    let chain = [
        ("value.converter", "JsonConverter"),
        ("value.converter.schemas.enable", "false"),
        ("transforms", "route,car"),
        ("transforms.route.type", "RegexRouter"),
        ("transforms.route.regex", "alerts"),
        ("transforms.route.replacement", "renamed"),
        ("transforms.car.type", "ExtractField$Value"),
        ("transforms.car.field", "car"),
    ];
    let records = (0..3)
        .map(|o| consumed(o, &format!(r#"{{"car":"car-{o}"}}"#)))
        .collect();
    let mut errant_one = task(i64::MAX);
    errant_one.errant = vec![1];
    let seen = errant_one.seen.clone();
    let (outcome, source, _, worker) = run(
        &[chain.as_slice(), &[("errors.tolerance", "all")]].concat(),
        records,
        errant_one,
        |_, puts| delivered(puts) == 3,
    );
    outcome.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        (0..3)
            .map(|o| ("renamed".to_string(), Some(format!("car-{o}").into_bytes())))
            .collect::<Vec<_>>()
    );
    // The errant report names the position the record was read from, so it is found and
    // skipped; offsets are committed for the consumed topic, never the renamed one.
    let commits = source.commits.lock().unwrap().clone();
    assert_eq!(commits.last().unwrap(), &[("alerts".to_string(), 0, 3)]);
    let metrics = worker.metrics.task("s", 0, ConnectorType::Sink);
    let skipped = metrics
        .records_skipped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(skipped, 1);
}

#[test]
fn a_transformation_failure_names_the_alias_and_record_or_is_skipped() {
    let chain = [
        ("value.converter", "JsonConverter"),
        ("value.converter.schemas.enable", "false"),
        ("transforms", "car"),
        ("transforms.car.type", "ExtractField$Value"),
        ("transforms.car.field", "car"),
    ];
    // A JSON string is not an object: ExtractField cannot take a field from it.
    let records = || {
        vec![
            consumed(0, r#"{"car":"a"}"#),
            consumed(1, r#""text""#),
            consumed(2, "{}"),
        ]
    };
    let (outcome, source, _, _) = run(&chain, records(), task(i64::MAX), |_, _| false);
    let error = outcome.unwrap_err();
    assert!(
        error.contains("alerts-0@1")
            && error.contains("transformation `car`")
            && error.contains("ExtractField$Value"),
        "{error}"
    );
    assert!(source
        .commits
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .all(|(_, _, o)| *o <= 1));

    let tolerant = [chain.as_slice(), &[("errors.tolerance", "all")]].concat();
    let (outcome, source, puts, worker) = run(&tolerant, records(), task(i64::MAX), |_, puts| {
        delivered(puts) == 2
    });
    outcome.unwrap();
    assert_eq!(puts.concat(), [0, 2]);
    let commits = source.commits.lock().unwrap().clone();
    assert_eq!(commits.last().unwrap(), &[("alerts".to_string(), 0, 3)]);
    let metrics = worker.metrics.task("s", 0, ConnectorType::Sink);
    assert_eq!(
        metrics
            .records_skipped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn a_record_a_transformation_drops_is_committed_without_reaching_the_task() {
    let chain = [
        ("transforms", "drop"),
        ("transforms.drop.type", "Filter"),
        ("transforms.drop.predicate", "tombstone"),
        ("predicates", "tombstone"),
        ("predicates.tombstone.type", "RecordIsTombstone"),
    ];
    let mut records: Vec<Consumed> = (0..3).map(|o| consumed(o, "x")).collect();
    records[1].value = None;
    let (outcome, source, puts, worker) = run(&chain, records, task(i64::MAX), |_, puts| {
        delivered(puts) == 2
    });
    let commits = source.commits.lock().unwrap().clone();
    assert_eq!(commits.last().unwrap(), &[("alerts".to_string(), 0, 3)]);
    outcome.unwrap();
    assert_eq!(puts.concat(), [0, 2]);
    let metrics = worker.metrics.task("s", 0, ConnectorType::Sink);
    assert_eq!(
        metrics
            .records_filtered
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
