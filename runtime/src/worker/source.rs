//! The source task loop: `poll` → transformations → converters → idempotent producer
//! (`acks=all`) → delivery report → `commit_record` → offsets.
//!
//! Delivery guarantee: a record's upstream acknowledgement (`commit_record`) happens only after
//! Kafka acknowledged the record, and its source offset becomes committable only then, and only
//! once every earlier record of the same source partition was acknowledged too. Offsets are
//! written to the offsets topic every `offset.flush.interval.ms` and when the task stops. A record
//! Kafka finally refuses fails the task without acknowledging upstream, so it is sent again.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferry_api::data::Payload;
use ferry_api::transform::{ConnectHeader, ConnectRecord};
use ferry_api::{ConnectError, RecordMetadata, SourceRecord};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use super::chain::TransformChain;
use super::control::{TaskControl, TaskTarget};
use super::converter::{Converter, HeaderConverter};
use super::dead_letter::Errant;
use super::offset_tracker::OffsetTracker;
use super::task::{TaskReporter, TaskSpec};
use super::Worker;
use crate::config::connector::{ConnectorKeys, ErrorTolerance};
use crate::config::topic_creation::TopicCreation;
use crate::metrics::TaskMetrics;
use crate::plugins::{PolledRecord, SourceTaskInstance};
use crate::status::State;

/// Records handed to the producer and not yet acknowledged, per task. Past it the task is not
/// polled until Kafka catches up: memory stays bounded when Kafka is slow or down.
const MAX_IN_FLIGHT: usize = 10_000;
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// Kafka's answer for one record.
struct Delivery {
    sequence: u64,
    result: Result<RecordMetadata, String>,
}

/// Forwards delivery reports from librdkafka's thread to the task thread.
struct DeliveryForwarder {
    reports: Mutex<Sender<Delivery>>,
}

impl ClientContext for DeliveryForwarder {}

impl ProducerContext for DeliveryForwarder {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sequence: usize) {
        let result = match result {
            Ok(message) => Ok(RecordMetadata {
                topic: message.topic().to_string(),
                partition: message.partition(),
                offset: message.offset(),
                timestamp_ms: message.timestamp().to_millis(),
            }),
            Err((error, message)) => Err(format!(
                "Kafka did not accept a record for topic {}: {error}",
                message.topic()
            )),
        };
        let reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        let _ = reports.send(Delivery {
            sequence: sequence as u64,
            result,
        });
    }
}

/// How the loop treats records it cannot transform or convert.
struct Tolerance {
    skip_errors: bool,
    /// `errors.log.enable`.
    log_errors: bool,
    /// `errors.log.include.messages`.
    log_messages: bool,
}

/// Runs the task until it is told to stop (`Ok`) or fails (`Err` with the trace).
pub fn run(
    context: &Worker,
    spec: &TaskSpec,
    control: &TaskControl,
    reporter: &TaskReporter,
) -> Result<(), String> {
    let (report_sender, reports) = mpsc::channel();
    let producer = producer(context, &spec.keys, report_sender)?;
    let offsets = context.offsets.offsets(&spec.connector);
    let mut task = SourceTaskInstance::start(
        spec.plugin.clone(),
        &spec.connector,
        spec.task,
        &spec.task_config,
        &offsets,
    )
    .map_err(|e| format!("task start failed: {e}"))?;

    let outcome = run_loop(
        context,
        &spec.connector,
        &spec.keys,
        control,
        reporter,
        &mut task,
        &producer,
        &reports,
    );
    let stopped = task.stop().map_err(|e| format!("task stop failed: {e}"));
    // What is still in flight belongs to this run only: nothing waits once it ended.
    reporter
        .metrics
        .in_flight
        .store(0, std::sync::atomic::Ordering::Relaxed);
    outcome.and(stopped)
}

/// The loop itself, over the task's calls and a producer: the plugin and librdkafka in a
/// worker, fakes in the unit tests.
#[allow(clippy::too_many_arguments)]
fn run_loop<T: SourceTaskCalls, P: RecordProducer>(
    context: &Worker,
    connector: &str,
    keys: &ConnectorKeys,
    control: &TaskControl,
    reporter: &TaskReporter,
    task: &mut T,
    producer: &P,
    reports: &Receiver<Delivery>,
) -> Result<(), String> {
    let mut run = SourceRun {
        context,
        connector,
        reporter,
        task,
        producer,
        reports,
        tracker: OffsetTracker::default(),
        in_flight: 0,
        key_converter: keys.key_converter,
        value_converter: keys.value_converter,
        header_converter: keys.header_converter,
        chain: TransformChain::build(&keys.chain, &context.plugins).map_err(|issues| {
            let lines: Vec<String> = issues.iter().map(ToString::to_string).collect();
            format!("the transformation chain is invalid: {}", lines.join("; "))
        })?,
        tolerance: Tolerance {
            skip_errors: keys.errors_tolerance == ErrorTolerance::All,
            log_errors: keys.errors_log_enable,
            log_messages: keys.errors_log_include_messages,
        },
        topics_seen: Default::default(),
        topic_creation: keys
            .topic_creation
            .clone()
            .map(|rules| (rules, Default::default())),
    };
    let outcome = run.main_loop(control);
    // Whatever happened, let Kafka answer for what was sent and commit what it acknowledged.
    let drained = run.drain(context.config.task_shutdown_graceful_timeout);
    run.commit_offsets();
    outcome.and(drained)
}

/// What the loop calls on the task.
trait SourceTaskCalls {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<PolledRecord>, ConnectError>;
    fn commit_record(
        &mut self,
        sequence: u64,
        metadata: &RecordMetadata,
    ) -> Result<(), ConnectError>;
    fn commit(&mut self) -> Result<(), ConnectError>;
}

impl SourceTaskCalls for SourceTaskInstance {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<PolledRecord>, ConnectError> {
        SourceTaskInstance::poll(self, timeout)
    }

    fn commit_record(
        &mut self,
        sequence: u64,
        metadata: &RecordMetadata,
    ) -> Result<(), ConnectError> {
        SourceTaskInstance::commit_record(self, sequence, metadata)
    }

    fn commit(&mut self) -> Result<(), ConnectError> {
        SourceTaskInstance::commit(self)
    }
}

/// A converted record on its way to Kafka; `sequence` comes back in its delivery report.
struct Outgoing {
    sequence: u64,
    topic: String,
    partition: Option<i32>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<ferry_api::Header>,
    timestamp_ms: Option<i64>,
}

/// What became of a polled record before the producer.
enum Prepared {
    /// Ready for Kafka.
    Send(Outgoing),
    /// A transformation dropped it.
    Dropped { topic: String },
    /// It cannot be transformed or converted.
    Failed { topic: String, error: String },
}

/// Why a send did not happen.
enum SendError {
    /// The producer's queue is full: try again once something was delivered.
    QueueFull(Box<Outgoing>),
    /// Kafka refused it for good.
    Failed(String),
}

/// Where the loop hands records; each send is answered later by one [`Delivery`].
trait RecordProducer {
    fn send(&self, record: Outgoing) -> Result<(), SendError>;
}

impl RecordProducer for ThreadedProducer<DeliveryForwarder> {
    fn send(&self, record: Outgoing) -> Result<(), SendError> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for header in &record.headers {
            headers = headers.insert(Header {
                key: &header.name,
                value: Some(&header.value),
            });
        }
        let mut base =
            BaseRecord::with_opaque_to(&record.topic, record.sequence as usize).headers(headers);
        if let Some(key) = &record.key {
            base = base.key(key);
        }
        if let Some(value) = &record.value {
            base = base.payload(value);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        if let Some(timestamp) = record.timestamp_ms {
            base = base.timestamp(timestamp);
        }
        match ThreadedProducer::send(self, base) {
            Ok(()) => Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                Err(SendError::QueueFull(Box::new(record)))
            }
            Err((error, _)) => Err(SendError::Failed(format!(
                "cannot produce to topic {}: {error}",
                record.topic
            ))),
        }
    }
}

struct SourceRun<'a, T, P> {
    context: &'a Worker,
    connector: &'a str,
    reporter: &'a TaskReporter,
    task: &'a mut T,
    producer: &'a P,
    reports: &'a Receiver<Delivery>,
    tracker: OffsetTracker,
    in_flight: usize,
    key_converter: Converter,
    value_converter: Converter,
    header_converter: HeaderConverter,
    chain: TransformChain,
    tolerance: Tolerance,
    topics_seen: std::collections::HashSet<String>,
    /// `topic.creation.*`, with the topics already made sure of.
    topic_creation: Option<(TopicCreation, std::collections::HashSet<String>)>,
}

impl<T: SourceTaskCalls, P: RecordProducer> SourceRun<'_, T, P> {
    /// With `topic.creation.*`, creates `topic` before its first record unless it exists.
    /// Blocking the task thread is fine: once per topic, as Kafka Connect does.
    fn ensure_topic(&mut self, topic: &str) -> Result<(), String> {
        let Some((rules, ready)) = &mut self.topic_creation else {
            return Ok(());
        };
        if ready.contains(topic) {
            return Ok(());
        }
        let client = self.context.config.kafka_client();
        self.context
            .runtime
            .block_on(crate::store::create_topic_unless_exists(
                &client,
                topic,
                rules.settings_for(topic),
            ))?;
        ready.insert(topic.to_string());
        Ok(())
    }

    /// Tells the worker's watch (`worker::kafka_watch`) how many records wait for Kafka and
    /// when Kafka last answered.
    fn note_in_flight(&self) {
        let metrics = &self.reporter.metrics;
        metrics
            .in_flight
            .store(self.in_flight as u64, Ordering::Relaxed);
    }

    fn main_loop(&mut self, control: &TaskControl) -> Result<(), String> {
        let flush_interval = self.context.config.offset_flush_interval;
        let mut last_flush = Instant::now();
        let mut reported = None;
        loop {
            while let Ok(delivery) = self.reports.try_recv() {
                self.delivered(delivery)?;
            }
            if last_flush.elapsed() >= flush_interval {
                self.commit_offsets();
                last_flush = Instant::now();
            }
            let target = control.target();
            if target == TaskTarget::Paused && self.in_flight > 0 {
                // Report PAUSED only once what was sent before the pause is acknowledged, so
                // nothing is written while the status says PAUSED.
                self.wait_for_delivery(POLL_TIMEOUT)?;
                continue;
            }
            let state = match target {
                TaskTarget::Stopping => return Ok(()),
                TaskTarget::Paused => State::Paused,
                TaskTarget::Running => State::Running,
            };
            if reported != Some(state) {
                self.reporter.state(state);
                reported = Some(state);
            }
            if target == TaskTarget::Paused {
                control.wait_while(TaskTarget::Paused, POLL_TIMEOUT);
                continue;
            }
            if self.in_flight >= MAX_IN_FLIGHT {
                self.wait_for_delivery(POLL_TIMEOUT)?;
                continue;
            }
            let records = self
                .task
                .poll(POLL_TIMEOUT)
                .map_err(|e| format!("poll failed: {e}"))?;
            TaskMetrics::add(&self.reporter.metrics.records_polled, records.len() as u64);
            for record in records {
                self.send(record, control)?;
            }
        }
    }

    fn wait_for_delivery(&mut self, timeout: Duration) -> Result<(), String> {
        match self.reports.recv_timeout(timeout) {
            Ok(delivery) => self.delivered(delivery),
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => Err("the producer went away".to_string()),
        }
    }

    fn delivered(&mut self, delivery: Delivery) -> Result<(), String> {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.reporter.metrics.kafka_progress_now();
        self.note_in_flight();
        let metadata = delivery.result?;
        TaskMetrics::add(&self.reporter.metrics.records_written, 1);
        self.reporter
            .metrics
            .latency
            .observe_since(metadata.timestamp_ms);
        if !self.topics_seen.contains(&metadata.topic) {
            self.topics_seen.insert(metadata.topic.clone());
            self.context
                .status
                .record_topic(self.connector, &metadata.topic);
        }
        self.task
            .commit_record(delivery.sequence, &metadata)
            .map_err(|e| format!("commit_record failed: {e}"))?;
        self.tracker.acknowledged(delivery.sequence);
        Ok(())
    }

    /// Transforms, converts and hands one record to the producer, waiting while its queue is
    /// full. A record the chain drops, or one skipped under `errors.tolerance=all`, is
    /// acknowledged upstream at once: it was handled, and must not come back.
    fn send(&mut self, polled: PolledRecord, control: &TaskControl) -> Result<(), String> {
        let PolledRecord {
            sequence,
            mut record,
        } = polled;
        let source_partition = std::mem::take(&mut record.source_partition);
        let source_offset = std::mem::take(&mut record.source_offset);
        self.tracker
            .submitted(sequence, &source_partition, &source_offset);
        let contents = (self.tolerance.log_messages).then(|| {
            Errant {
                topic: &record.topic,
                partition: record.partition.unwrap_or(-1),
                offset: -1,
                key: record.key.as_deref(),
                value: record.value.as_deref(),
                headers: &record.headers,
            }
            .describe()
        });
        let mut outgoing = match self.prepare(sequence, record) {
            Prepared::Send(outgoing) => outgoing,
            Prepared::Dropped { topic } => {
                TaskMetrics::add(&self.reporter.metrics.records_filtered, 1);
                return self.handled_without_kafka(sequence, topic);
            }
            Prepared::Failed { topic, error } if self.tolerance.skip_errors => {
                const SKIPPING: &str = "skipping a record that cannot be transformed or converted (errors.tolerance=all)";
                match (self.tolerance.log_errors, contents) {
                    (false, _) => {}
                    (true, Some(contents)) => tracing::warn!(%error, %topic, %contents, "{SKIPPING}"),
                    (true, None) => tracing::warn!(%error, %topic, "{SKIPPING}"),
                }
                TaskMetrics::add(&self.reporter.metrics.errors, 1);
                TaskMetrics::add(&self.reporter.metrics.records_skipped, 1);
                return self.handled_without_kafka(sequence, topic);
            }
            Prepared::Failed { topic, error } => {
                return Err(format!(
                    "cannot send a record for topic {topic}: {error}; fix the data, the converter or the transformation, or set errors.tolerance=all to skip such records"
                ))
            }
        };
        self.ensure_topic(&outgoing.topic)?;
        loop {
            match self.producer.send(outgoing) {
                Ok(()) => {
                    if self.in_flight == 0 {
                        self.reporter.metrics.kafka_progress_now();
                    }
                    self.in_flight += 1;
                    self.note_in_flight();
                    return Ok(());
                }
                Err(SendError::QueueFull(returned)) => {
                    outgoing = *returned;
                    if control.stopping() && self.in_flight == 0 {
                        return Err("stopped while the producer queue was full".to_string());
                    }
                    self.wait_for_delivery(Duration::from_millis(10))?;
                }
                Err(SendError::Failed(error)) => return Err(error),
            }
        }
    }

    /// Acknowledges a record that will not be written (dropped or skipped): upstream and in the
    /// offsets, as Kafka Connect commits a filtered record's offset.
    fn handled_without_kafka(&mut self, sequence: u64, topic: String) -> Result<(), String> {
        self.tracker.acknowledged(sequence);
        let unwritten = RecordMetadata {
            topic,
            partition: -1,
            offset: -1,
            timestamp_ms: None,
        };
        self.task
            .commit_record(sequence, &unwritten)
            .map_err(|e| format!("commit_record failed: {e}"))
    }

    /// The record as Kafka gets it. Without transformations the bytes go straight to the
    /// converters, unparsed unless a converter must check them.
    fn prepare(&mut self, sequence: u64, record: SourceRecord) -> Prepared {
        if self.chain.is_empty() {
            let converted = self
                .key_converter
                .to_kafka(record.key)
                .and_then(|k| Ok((k, self.value_converter.to_kafka(record.value)?)));
            return match converted {
                Ok((key, value)) => Prepared::Send(Outgoing {
                    sequence,
                    topic: record.topic,
                    partition: record.partition,
                    key,
                    value,
                    headers: record.headers,
                    timestamp_ms: record.timestamp_ms,
                }),
                Err(error) => Prepared::Failed {
                    topic: record.topic,
                    error,
                },
            };
        }
        let polled_topic = record.topic.clone();
        let connect = ConnectRecord {
            topic: record.topic,
            partition: record.partition,
            key: record
                .key
                .map(|k| Payload::from_bytes(k, record.key_format)),
            value: record
                .value
                .map(|v| Payload::from_bytes(v, record.value_format)),
            headers: record
                .headers
                .into_iter()
                .map(|h| ConnectHeader {
                    name: h.name,
                    value: Some(Payload::Bytes(h.value)),
                })
                .collect(),
            timestamp_ms: record.timestamp_ms,
        };
        let transformed = match self.chain.apply(connect) {
            Ok(Some(transformed)) => transformed,
            Ok(None) => {
                return Prepared::Dropped {
                    topic: polled_topic,
                }
            }
            Err(error) => {
                return Prepared::Failed {
                    topic: polled_topic,
                    error,
                }
            }
        };
        match self.convert_transformed(sequence, transformed) {
            Ok(outgoing) => Prepared::Send(outgoing),
            Err(error) => Prepared::Failed {
                topic: polled_topic,
                error,
            },
        }
    }

    fn convert_transformed(
        &self,
        sequence: u64,
        record: ConnectRecord,
    ) -> Result<Outgoing, String> {
        let headers = record
            .headers
            .into_iter()
            .map(|h| {
                let value = self.header_converter.to_bytes(&h.name, h.value)?;
                Ok(ferry_api::Header::new(h.name, value.unwrap_or_default()))
            })
            .collect::<Result<_, String>>()?;
        Ok(Outgoing {
            sequence,
            key: self.key_converter.payload_to_kafka(record.key)?,
            value: self.value_converter.payload_to_kafka(record.value)?,
            topic: record.topic,
            partition: record.partition,
            headers,
            timestamp_ms: record.timestamp_ms,
        })
    }

    /// Waits up to `timeout` for Kafka to answer every record in flight.
    fn drain(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut failure = Ok(());
        while self.in_flight > 0 && Instant::now() < deadline {
            match self.reports.recv_timeout(deadline - Instant::now()) {
                Ok(delivery) => {
                    if let Err(e) = self.delivered(delivery) {
                        failure = failure.and(Err(e));
                    }
                }
                Err(_) => break,
            }
        }
        if self.in_flight > 0 {
            tracing::warn!(
                in_flight = self.in_flight,
                "stopping with records Kafka has not acknowledged; they were not acknowledged upstream either and will be sent again"
            );
        }
        failure
    }

    /// Writes the committable offsets to the offsets topic, then tells the task.
    fn commit_offsets(&mut self) {
        let ready = self.tracker.take_committable();
        if ready.is_empty() {
            return;
        }
        let started = Instant::now();
        let written = self
            .context
            .runtime
            .block_on(self.context.offsets.write(self.connector, &ready));
        let metrics = &self.reporter.metrics;
        TaskMetrics::add(
            &metrics.offset_commit_micros,
            started.elapsed().as_micros() as u64,
        );
        match written {
            Ok(()) => {
                TaskMetrics::add(&metrics.offset_commits, 1);
                if let Err(error) = self.task.commit() {
                    tracing::warn!(%error, "the task's commit hook failed");
                }
            }
            Err(error) => {
                TaskMetrics::add(&metrics.offset_commit_failures, 1);
                tracing::warn!(%error, "offset commit failed; will retry");
                self.tracker.restore(ready);
            }
        }
    }
}

/// An idempotent, `acks=all` producer for one task, with worker and connector overrides.
fn producer(
    context: &Worker,
    keys: &ConnectorKeys,
    reports: Sender<Delivery>,
) -> Result<ThreadedProducer<DeliveryForwarder>, String> {
    let mut config = context.config.kafka_client();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4");
    for (key, value) in &context.config.producer_overrides {
        config.set(key, value);
    }
    for (key, value) in &keys.producer_overrides {
        config.set(key, value);
    }
    config
        .create_with_context(DeliveryForwarder {
            reports: Mutex::new(reports),
        })
        .map_err(|e| format!("cannot create the task's Kafka producer: {e}; check bootstrap.servers and producer.* settings"))
}

#[cfg(test)]
mod tests;
