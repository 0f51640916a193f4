//! The sink task loop: consumer group `connect-<name>` → converters → transformations → `put`
//! → `pre_commit` → commit exactly the offsets the task returned.
//!
//! Delivery guarantee: auto-commit is off; an offset is committed only when the task's
//! `pre_commit` returned it, which a sink returns only once the external system acknowledged every
//! record before it. Offsets are committed every `offset.flush.interval.ms`, before partitions are
//! revoked in a rebalance, and when the task stops. Records the task reports as errant are failed
//! (`errors.tolerance=none`, the default) or skipped and written to the dead-letter topic first.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_api::data::Payload;
use ferry_api::transform::{ConnectHeader, ConnectRecord};
use ferry_api::{ConnectError, Header, SinkRecord, TopicPartition, TopicPartitionOffset};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Headers;
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};

use super::chain::TransformChain;
use super::control::{TaskControl, TaskTarget};
use super::converter::{Converter, HeaderConverter};
use super::dead_letter::{DeadLetterQueue, Errant};
use super::task::{TaskReporter, TaskSpec};
use super::Worker;
use crate::config::connector::ErrorTolerance;
use crate::config::ConnectorKeys;
use crate::metrics::TaskMetrics;
use crate::plugins::SinkTaskInstance;
use crate::status::State;

const MAX_BATCH: usize = 500;
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// How often librdkafka reports the consumer's statistics, where the lag comes from.
const STATISTICS_INTERVAL_MS: &str = "1000";

/// One record read from Kafka, owned by the loop until it is handed to the task.
#[derive(Debug, Clone)]
struct Consumed {
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
    timestamp_ms: Option<i64>,
}

impl Consumed {
    fn errant(&self) -> Errant<'_> {
        Errant {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: &self.headers,
        }
    }
}

/// What the loop needs of its consumer: the group's consumer in a worker, a fake in tests.
trait RecordSource {
    /// The next record, waiting at most `timeout`.
    fn next(&self, timeout: Duration) -> Option<Result<Consumed, String>>;
    /// Stops fetching from every assigned partition (again: new ones arrive unpaused).
    fn pause_all(&self) -> Result<(), String>;
    /// Fetches from every assigned partition again.
    fn resume_all(&self) -> Result<(), String>;
    /// Reads `offset` of the partition again next (a record fetched while pausing).
    fn rewind(&self, topic: &str, partition: i32, offset: i64);
    /// Commits these offsets for the group (each the next offset to read).
    fn commit(&self, offsets: &[TopicPartitionOffset]) -> Result<(), String>;
}

impl RecordSource for BaseConsumer<RebalanceHandler> {
    fn next(&self, timeout: Duration) -> Option<Result<Consumed, String>> {
        let message = match self.poll(timeout)? {
            Ok(message) => message,
            Err(error) if passes(&error) => {
                tracing::warn!(%error, "the consumer waits: librdkafka retries on its own");
                self.context()
                    .metrics
                    .kafka_error_ms
                    .store(crate::metrics::now_ms(), Ordering::Relaxed);
                return None;
            }
            Err(error) => return Some(Err(format!("consumer error: {error}"))),
        };
        let headers = message
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| Header::new(h.key, h.value.unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        Some(Ok(Consumed {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp_ms: message.timestamp().to_millis(),
        }))
    }

    fn pause_all(&self) -> Result<(), String> {
        let assignment = self.assignment().map_err(|e| e.to_string())?;
        let _ = self.pause(&assignment);
        Ok(())
    }

    fn resume_all(&self) -> Result<(), String> {
        let assignment = self.assignment().map_err(|e| e.to_string())?;
        let _ = self.resume(&assignment);
        Ok(())
    }

    fn rewind(&self, topic: &str, partition: i32, offset: i64) {
        let _ = self.seek(
            topic,
            partition,
            Offset::Offset(offset),
            Duration::from_secs(5),
        );
    }

    fn commit(&self, offsets: &[TopicPartitionOffset]) -> Result<(), String> {
        let mut list = TopicPartitionList::new();
        for tpo in offsets {
            list.add_partition_offset(&tpo.topic, tpo.partition, Offset::Offset(tpo.offset))
                .map_err(|e| e.to_string())?;
        }
        Consumer::commit(self, &list, CommitMode::Sync)
            .map_err(|e| format!("offset commit failed: {e}"))
    }
}

/// Consumer errors that are news rather than failures: a subscribed topic that does not exist
/// yet (a sink started before the source that creates its topic, as Kafka Connect's consumer
/// waits for it), or brokers out of reach for a while. librdkafka keeps retrying both.
fn passes(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
        )
    )
}

/// What the loop calls on the task: the plugin in a worker, a fake in tests.
trait SinkTaskCalls {
    fn put(
        &mut self,
        records: &[SinkRecord],
    ) -> Result<Vec<(TopicPartitionOffset, String)>, ConnectError>;
    fn pre_commit(
        &mut self,
        offsets: &[TopicPartitionOffset],
    ) -> Result<Vec<TopicPartitionOffset>, ConnectError>;
}

impl SinkTaskCalls for SinkTaskInstance {
    fn put(
        &mut self,
        records: &[SinkRecord],
    ) -> Result<Vec<(TopicPartitionOffset, String)>, ConnectError> {
        SinkTaskInstance::put(self, records)
    }

    fn pre_commit(
        &mut self,
        offsets: &[TopicPartitionOffset],
    ) -> Result<Vec<TopicPartitionOffset>, ConnectError> {
        SinkTaskInstance::pre_commit(self, offsets)
    }
}

/// Why an offset commit did not happen.
#[derive(Debug)]
enum CommitError {
    /// The task's `pre_commit` failed: the task fails with it.
    Task(String),
    /// Kafka did not take the commit (its group coordinator moving, brokers out of reach). The
    /// task goes on and the next commit covers these offsets too; only a crash before then
    /// brings the records since the last commit again. Kafka Connect's sink task does the
    /// same.
    Kafka(String),
}

/// The task and the positions it has been given records up to (next offset to read).
struct SinkSession<T> {
    task: T,
    positions: BTreeMap<(String, i32), i64>,
    /// A failure inside a rebalance callback, surfaced by the main loop.
    failure: Option<String>,
}

impl<T: SinkTaskCalls> SinkSession<T> {
    fn new(task: T) -> Self {
        SinkSession {
            task,
            positions: BTreeMap::new(),
            failure: None,
        }
    }

    /// Asks the task what is safe and commits exactly that; `only` limits it to some partitions.
    fn commit(
        &mut self,
        source: &impl RecordSource,
        only: Option<&[TopicPartition]>,
    ) -> Result<usize, CommitError> {
        let consumed: Vec<TopicPartitionOffset> = self
            .positions
            .iter()
            .filter(|((topic, partition), _)| {
                only.is_none_or(|o| {
                    o.iter()
                        .any(|p| &p.topic == topic && p.partition == *partition)
                })
            })
            .map(|((topic, partition), offset)| TopicPartitionOffset {
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
            })
            .collect();
        if consumed.is_empty() {
            return Ok(0);
        }
        let safe = self
            .task
            .pre_commit(&consumed)
            .map_err(|e| CommitError::Task(format!("pre_commit failed: {e}")))?;
        if safe.is_empty() {
            return Ok(0);
        }
        source.commit(&safe).map_err(CommitError::Kafka)?;
        Ok(safe.len())
    }
}

type SharedSession<T> = Arc<Mutex<Option<SinkSession<T>>>>;

/// Calls `close` (after a last commit) and `open` on the task around rebalances, and keeps
/// the task's lag from the consumer's statistics.
struct RebalanceHandler {
    session: SharedSession<SinkTaskInstance>,
    metrics: Arc<TaskMetrics>,
}

impl ClientContext for RebalanceHandler {
    /// The lag as `kafka-consumer-groups` shows it: each assigned partition's log end offset
    /// minus the group's committed offset. Partitions without one yet are left out.
    fn stats(&self, statistics: Statistics) {
        let lags: Vec<u64> = statistics
            .topics
            .values()
            .flat_map(|topic| topic.partitions.values())
            .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
            .map(|p| p.consumer_lag as u64)
            .collect();
        let lag = (!lags.is_empty()).then(|| lags.iter().sum());
        self.metrics.lag.set(lag);
    }

    /// librdkafka's word that brokers are out of reach; the loop turns it into the status.
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "the consumer's Kafka client");
        if passes(&error) {
            self.metrics
                .kafka_error_ms
                .store(crate::metrics::now_ms(), Ordering::Relaxed);
        }
    }
}

fn partitions_of(list: &TopicPartitionList) -> Vec<TopicPartition> {
    list.elements()
        .iter()
        .map(|e| TopicPartition {
            topic: e.topic().to_string(),
            partition: e.partition(),
        })
        .collect()
}

impl ConsumerContext for RebalanceHandler {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let revoked = partitions_of(list);
        let mut guard = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let Some(session) = guard.as_mut() else {
            return;
        };
        let committed = match session.commit(consumer, Some(&revoked)) {
            Err(CommitError::Kafka(error)) => {
                // The partitions' next owner starts from the last commit: some records again.
                tracing::warn!(%error, "offsets of revoked partitions not committed");
                Ok(0)
            }
            Err(CommitError::Task(error)) => Err(error),
            Ok(n) => Ok(n),
        };
        let outcome = committed.and_then(|_| {
            session
                .task
                .close(&revoked)
                .map_err(|e| format!("close failed: {e}"))
        });
        session
            .positions
            .retain(|(t, p), _| !revoked.iter().any(|r| &r.topic == t && r.partition == *p));
        if let Err(e) = outcome {
            session.failure.get_or_insert(e);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(list) = rebalance else {
            return;
        };
        let assigned = partitions_of(list);
        tracing::info!(partitions = assigned.len(), "partitions assigned");
        let mut guard = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = guard.as_mut() {
            if let Err(e) = session.task.open(&assigned) {
                session.failure.get_or_insert(format!("open failed: {e}"));
            }
        }
    }
}

/// Runs the task until it is told to stop (`Ok`) or fails (`Err` with the trace).
pub fn run(
    context: &Worker,
    spec: &TaskSpec,
    control: &TaskControl,
    reporter: &TaskReporter,
) -> Result<(), String> {
    let dead_letters = DeadLetterQueue::from_config(context, &spec.keys, spec.task)?;
    let task = SinkTaskInstance::start(
        spec.plugin.clone(),
        &spec.connector,
        spec.task,
        &spec.task_config,
    )
    .map_err(|e| format!("task start failed: {e}"))?;
    let session = Arc::new(Mutex::new(Some(SinkSession::new(task))));
    let consumer = consumer(context, spec, session.clone(), reporter.metrics.clone())?;

    let outcome = run_loop(
        context,
        &spec.keys,
        dead_letters,
        control,
        reporter,
        &consumer,
        &session,
    );
    let stopped = {
        let mut guard = session.lock().unwrap_or_else(|e| e.into_inner());
        let mut ended = guard.take();
        let stopped = ended
            .as_mut()
            .map(|s| s.task.stop().map_err(|e| format!("task stop failed: {e}")))
            .unwrap_or(Ok(()));
        drop(guard);
        // The consumer leaves the group before the task is freed.
        consumer.unsubscribe();
        drop(ended);
        stopped
    };
    outcome.and(stopped)
}

/// The loop itself, over a record source and the task's calls: the group's consumer and the
/// plugin in a worker, fakes in the unit tests. Commits what the task allows when it ends,
/// whatever ended it.
fn run_loop<S: RecordSource, T: SinkTaskCalls>(
    context: &Worker,
    keys: &ConnectorKeys,
    dead_letters: Option<DeadLetterQueue>,
    control: &TaskControl,
    reporter: &TaskReporter,
    consumer: &S,
    session: &SharedSession<T>,
) -> Result<(), String> {
    let mut run = SinkRun {
        context,
        reporter,
        consumer,
        session,
        key_converter: keys.key_converter,
        value_converter: keys.value_converter,
        header_converter: keys.header_converter,
        chain: TransformChain::build(&keys.chain, &context.plugins).map_err(|issues| {
            let lines: Vec<String> = issues.iter().map(ToString::to_string).collect();
            format!("the transformation chain is invalid: {}", lines.join("; "))
        })?,
        as_read: Vec::new(),
        skip_errors: keys.errors_tolerance == ErrorTolerance::All,
        log_errors: keys.errors_log_enable,
        log_messages: keys.errors_log_include_messages,
        dead_letters,
        topics_seen: Default::default(),
    };
    let outcome = run.main_loop(control);
    let committed = run.commit(None).map(|_| ());
    outcome.and(committed)
}

struct SinkRun<'a, S, T> {
    context: &'a Worker,
    reporter: &'a TaskReporter,
    consumer: &'a S,
    session: &'a SharedSession<T>,
    key_converter: Converter,
    value_converter: Converter,
    header_converter: HeaderConverter,
    chain: TransformChain,
    /// With a chain, the records of the current batch as they were read (for the dead-letter
    /// topic); emptied by each `put`.
    as_read: Vec<Consumed>,
    skip_errors: bool,
    /// `errors.log.enable` and `errors.log.include.messages`.
    log_errors: bool,
    log_messages: bool,
    dead_letters: Option<DeadLetterQueue>,
    topics_seen: std::collections::HashSet<String>,
}

impl<S: RecordSource, T: SinkTaskCalls> SinkRun<'_, S, T> {
    fn with_session<R>(
        &self,
        f: impl FnOnce(&mut SinkSession<T>) -> Result<R, String>,
    ) -> Result<R, String> {
        let mut guard = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let session = guard.as_mut().ok_or("the task has ended")?;
        if let Some(failure) = session.failure.take() {
            return Err(failure);
        }
        f(session)
    }

    fn commit(&self, only: Option<&[TopicPartition]>) -> Result<usize, String> {
        let started = Instant::now();
        let metrics = &self.reporter.metrics;
        metrics
            .kafka_call_since_ms
            .store(crate::metrics::now_ms(), Ordering::Relaxed);
        let result = self.with_session(|s| Ok(s.commit(self.consumer, only)));
        metrics.kafka_call_since_ms.store(0, Ordering::Relaxed);
        let result = result?;
        let metrics = &self.reporter.metrics;
        TaskMetrics::add(
            &metrics.offset_commit_micros,
            started.elapsed().as_micros() as u64,
        );
        match result {
            Ok(0) => Ok(0),
            Ok(n) => {
                TaskMetrics::add(&metrics.offset_commits, 1);
                Ok(n)
            }
            Err(CommitError::Kafka(error)) => {
                TaskMetrics::add(&metrics.offset_commit_failures, 1);
                metrics
                    .kafka_error_ms
                    .store(crate::metrics::now_ms(), Ordering::Relaxed);
                tracing::warn!(%error, "offsets not committed; the next commit covers them");
                Ok(0)
            }
            Err(CommitError::Task(error)) => {
                TaskMetrics::add(&metrics.offset_commit_failures, 1);
                Err(error)
            }
        }
    }

    fn main_loop(&mut self, control: &TaskControl) -> Result<(), String> {
        let flush_interval = self.context.config.offset_flush_interval;
        let mut last_commit = Instant::now();
        let mut reported = None;
        loop {
            let target = control.target();
            let state = match target {
                TaskTarget::Stopping => return Ok(()),
                TaskTarget::Paused => State::Paused,
                TaskTarget::Running => State::Running,
            };
            let previous = reported.replace(state);
            if previous != Some(state) {
                self.reporter.state(state);
            }
            if target == TaskTarget::Paused {
                // Keep re-applying: partitions assigned during a pause arrive unpaused.
                self.consumer.pause_all()?;
            } else if previous == Some(State::Paused) {
                self.consumer.resume_all()?;
            }
            let batch = self.poll_batch(target == TaskTarget::Paused)?;
            if !batch.is_empty() {
                self.put(batch, control)?;
            }
            self.with_session(|_| Ok(()))?;
            if last_commit.elapsed() >= flush_interval {
                if self.commit(None)? > 0 {
                    self.reporter.metrics.kafka_progress_now();
                }
                last_commit = Instant::now();
            }
        }
    }

    /// Polls up to a batch of records, converting them; conversion failures follow the
    /// tolerance. While paused, polling only keeps the group membership alive.
    fn poll_batch(&mut self, paused: bool) -> Result<Vec<SinkRecord>, String> {
        let mut batch = Vec::new();
        let mut timeout = POLL_TIMEOUT;
        while batch.len() < MAX_BATCH {
            let Some(consumed) = self.consumer.next(timeout) else {
                break;
            };
            timeout = Duration::ZERO;
            let consumed = consumed?;
            if paused {
                // Fetched before the pause took effect: rewind so it is read again after resume,
                // or the position would move past a record the task never saw.
                self.consumer
                    .rewind(&consumed.topic, consumed.partition, consumed.offset);
                continue;
            }
            TaskMetrics::add(&self.reporter.metrics.records_read, 1);
            self.reporter.metrics.kafka_progress_now();
            let position = (consumed.partition, consumed.offset);
            match self.convert(consumed)? {
                Ok(record) => batch.push(record),
                Err(topic) => self.advance(&topic, position.0, position.1),
            }
        }
        Ok(batch)
    }

    fn advance(&self, topic: &str, partition: i32, offset: i64) {
        let mut guard = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = guard.as_mut() {
            session
                .positions
                .insert((topic.to_string(), partition), offset + 1);
        }
    }

    /// The record for the task, or its topic when it was dropped by a transformation or
    /// skipped (and dead-lettered).
    fn convert(&mut self, consumed: Consumed) -> Result<Result<SinkRecord, String>, String> {
        if !self.chain.is_empty() {
            return self.transform(consumed);
        }
        let mut consumed = consumed;
        let (mut key, mut value) = (consumed.key.take(), consumed.value.take());
        let converted = self
            .key_converter
            .from_kafka(&mut key)
            .and_then(|()| self.value_converter.from_kafka(&mut value));
        consumed.key = key;
        consumed.value = value;
        match converted {
            Ok(()) => Ok(Ok(SinkRecord {
                topic: consumed.topic,
                partition: consumed.partition,
                offset: consumed.offset,
                key: consumed.key,
                value: consumed.value,
                headers: consumed.headers,
                timestamp_ms: consumed.timestamp_ms,
                original: None,
            })),
            Err(reason) => {
                self.errant(&consumed.errant(), &reason)?;
                Ok(Err(consumed.topic))
            }
        }
    }

    /// Converts to payloads, runs the chain and turns the result into the task's bytes. The
    /// consumed bytes are kept for the dead-letter topic.
    fn transform(&mut self, consumed: Consumed) -> Result<Result<SinkRecord, String>, String> {
        let outcome = self.transformed(&consumed);
        match outcome {
            Ok(Some(record)) => {
                // The dead-letter topic gets a record as it was read, as in Kafka Connect.
                self.as_read.push(consumed);
                Ok(Ok(record))
            }
            Ok(None) => {
                TaskMetrics::add(&self.reporter.metrics.records_filtered, 1);
                Ok(Err(consumed.topic))
            }
            Err(reason) => {
                self.errant(&consumed.errant(), &reason)?;
                Ok(Err(consumed.topic))
            }
        }
    }

    fn transformed(&mut self, consumed: &Consumed) -> Result<Option<SinkRecord>, String> {
        let record = ConnectRecord {
            topic: consumed.topic.clone(),
            partition: Some(consumed.partition),
            key: self
                .key_converter
                .payload_from_kafka(consumed.key.clone())?,
            value: self
                .value_converter
                .payload_from_kafka(consumed.value.clone())?,
            headers: consumed
                .headers
                .iter()
                .map(|h| ConnectHeader {
                    name: h.name.clone(),
                    value: Some(Payload::Bytes(h.value.clone())),
                })
                .collect(),
            timestamp_ms: consumed.timestamp_ms,
        };
        let Some(record) = self.chain.apply(record)? else {
            return Ok(None);
        };
        let partition = record.partition.unwrap_or(consumed.partition);
        let moved = record.topic != consumed.topic || partition != consumed.partition;
        let headers = record
            .headers
            .into_iter()
            .map(|h| {
                let value = self.header_converter.to_bytes(&h.name, h.value)?;
                Ok(Header::new(h.name, value.unwrap_or_default()))
            })
            .collect::<Result<_, String>>()?;
        Ok(Some(SinkRecord {
            topic: record.topic,
            partition,
            offset: consumed.offset,
            key: record.key.and_then(Payload::into_bytes),
            value: record.value.and_then(Payload::into_bytes),
            headers,
            timestamp_ms: record.timestamp_ms,
            original: moved.then(|| TopicPartition {
                topic: consumed.topic.clone(),
                partition: consumed.partition,
            }),
        }))
    }

    /// Applies `errors.tolerance` to a record that cannot be written.
    fn errant(&self, record: &Errant<'_>, reason: &str) -> Result<(), String> {
        TaskMetrics::add(&self.reporter.metrics.errors, 1);
        let location = format!("{}-{}@{}", record.topic, record.partition, record.offset);
        if !self.skip_errors {
            return Err(format!(
                "record {location} cannot be written: {reason} (errors.tolerance=none; set errors.tolerance=all, and errors.deadletterqueue.topic.name to keep such records)"
            ));
        }
        if self.log_errors {
            if self.log_messages {
                let contents = record.describe();
                tracing::warn!(record = %location, %reason, %contents, "skipping a record that cannot be written (errors.tolerance=all)");
            } else {
                tracing::warn!(record = %location, %reason, "skipping a record that cannot be written (errors.tolerance=all)");
            }
        }
        if let Some(queue) = &self.dead_letters {
            queue.write(self.context, record, reason)?;
            TaskMetrics::add(&self.reporter.metrics.dead_letter_records, 1);
        }
        TaskMetrics::add(&self.reporter.metrics.records_skipped, 1);
        Ok(())
    }

    /// Hands a batch to the task, retrying retriable failures with backoff while running.
    fn put(&mut self, batch: Vec<SinkRecord>, control: &TaskControl) -> Result<(), String> {
        let mut backoff = Duration::from_millis(100);
        let errant = loop {
            let result = self.with_session(|s| Ok(s.task.put(&batch)))?;
            match result {
                Ok(errant) => break errant,
                Err(ConnectError::Retriable(reason)) if !control.stopping() => {
                    tracing::warn!(%reason, ?backoff, "put failed, retrying the same records");
                    control.wait_while(control.target(), backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(format!("put failed: {e}")),
            }
        };
        let metrics = &self.reporter.metrics;
        TaskMetrics::add(&metrics.records_put, batch.len() as u64);
        for record in &batch {
            metrics.latency.observe_since(record.timestamp_ms);
        }
        let as_read = std::mem::take(&mut self.as_read);
        for (position, reason) in &errant {
            let read = as_read.iter().find(|c| {
                c.topic == position.topic
                    && c.partition == position.partition
                    && c.offset == position.offset
            });
            if let Some(consumed) = read {
                self.errant(&consumed.errant(), reason)?;
                continue;
            }
            let Some(record) = batch.iter().find(|r| &r.kafka_position() == position) else {
                continue;
            };
            let record = Errant {
                topic: &record.topic,
                partition: record.partition,
                offset: record.offset,
                key: record.key.as_deref(),
                value: record.value.as_deref(),
                headers: &record.headers,
            };
            self.errant(&record, reason)?;
        }
        for record in &batch {
            let read_from = record.original.as_ref();
            let topic = read_from.map_or(&record.topic, |o| &o.topic);
            let partition = read_from.map_or(record.partition, |o| o.partition);
            self.advance(topic, partition, record.offset);
            if !self.topics_seen.contains(topic) {
                self.topics_seen.insert(topic.clone());
                self.context
                    .status
                    .record_topic(&self.reporter.connector, topic);
            }
        }
        Ok(())
    }
}

/// The task's consumer in group `connect-<name>`, subscribed to `topics` or `topics.regex`.
fn consumer(
    context: &Worker,
    spec: &TaskSpec,
    session: SharedSession<SinkTaskInstance>,
    reporter_metrics: Arc<TaskMetrics>,
) -> Result<BaseConsumer<RebalanceHandler>, String> {
    let mut config = context.config.kafka_client();
    config
        .set("group.id", format!("connect-{}", spec.connector))
        .set(
            "client.id",
            format!("connector-consumer-{}-{}", spec.connector, spec.task),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // A worker killed with -9 holds its partitions until the group notices; 10 s (Kafka
        // Connect's worker default) rather than librdkafka's 45 s bounds that pause.
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "3000")
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
    for (key, value) in &context.config.consumer_overrides {
        config.set(key, value);
    }
    for (key, value) in &spec.keys.consumer_overrides {
        config.set(key, value);
    }
    let consumer: BaseConsumer<RebalanceHandler> = config
        .create_with_context(RebalanceHandler {
            session,
            metrics: reporter_metrics,
        })
        .map_err(|e| format!("cannot create the task's Kafka consumer: {e}"))?;
    let subscription = spec
        .keys
        .subscription
        .as_ref()
        .map(|s| s.patterns())
        .ok_or("a sink connector needs `topics` or `topics.regex`")?;
    let topics: Vec<&str> = subscription.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| format!("cannot subscribe to {topics:?}: {e}"))?;
    Ok(consumer)
}

#[cfg(test)]
mod tests;
