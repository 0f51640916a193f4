//! The sink task: Kafka records in, MQTT publishes out, offsets committed only for what the
//! broker acknowledged.
//!
//! # Delivery guarantee: at least once, Kafka to broker
//!
//! - `put` turns each record into a publish (topic from the template, payload = value bytes,
//!   QoS / retain / MQTT 5 properties from the defaults and headers; see [`crate::message`]) and
//!   queues it on the task's one MQTT connection, in record order. A record that cannot be
//!   published as configured is reported as errant, never dropped silently.
//! - A record is delivered when the broker acknowledged its publish: PUBACK for QoS 1, PUBCOMP
//!   for QoS 2. A QoS 0 record counts as delivered once written to the network: QoS 0 is at most
//!   once by definition and nothing would ever acknowledge it.
//! - `pre_commit` (every `offset.flush.interval.ms`, before partitions are revoked, and before
//!   the task stops) first waits up to `mqtt.flush.timeout.ms` for the records put so far, then
//!   returns, per partition, the offset just after the longest run of delivered records: never
//!   beyond a record the broker has not acknowledged, never beyond the worker's own position.
//!   The worker commits exactly that.
//! - If the task, the worker or the machine dies, the records whose acknowledgement had not
//!   arrived were not committed and are read from Kafka again: published twice at worst.
//! - Connection lost: the task reconnects with exponential backoff
//!   (`mqtt.reconnect.backoff.initial.ms` doubling up to `mqtt.reconnect.backoff.max.ms`). Publishes
//!   not acknowledged are sent again: under their packet id with DUP set when the broker resumed
//!   the session (`mqtt.clean.session.enabled=false`, the default; the client id
//!   `<connector>-<task>` is stable), so a QoS 2 publish is still delivered once; as new
//!   publishes otherwise. Duplicates are possible, loss is not (see [`crate::outbox`]).
//! - Order: publishes leave in record order on one connection, so subscribers see each MQTT
//!   topic's messages of a Kafka partition in offset order, with two limits that are MQTT's:
//!   order holds among messages of the same QoS (a broker forwards a QoS 2 message at PUBREL,
//!   so possibly after QoS 0/1 messages published after it; Mosquitto does), and after a
//!   reconnect the unacknowledged messages come again.
//! - Backpressure: at most `mqtt.max.inflight` records are held unacknowledged. When full, `put`
//!   waits for acknowledgements up to `mqtt.put.timeout.ms`, then returns a retriable error; the
//!   worker hands the same batch again after a backoff, and the records this task already
//!   accepted from it are skipped (their errant reports repeated), so nothing is published twice
//!   because of the retry and nothing is queued without bound.
//! - A publish the broker refuses (MQTT 5 reason code, e.g. not authorized) fails the task
//!   without committing that record's offset. MQTT 3.1.1 brokers cannot refuse a publish; they
//!   may acknowledge and drop it (Mosquitto does for a topic the ACL denies).
//! - `stop` waits up to `mqtt.flush.timeout.ms` for outstanding acknowledgements, then sends
//!   DISCONNECT. (The worker's last `pre_commit` comes before `stop`; its own wait is the one
//!   that lets the final commit include them.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_api::tracing::{self, Instrument};
use ferry_api::{
    ConfigMap, ConnectError, ErrantRecords, Result, SinkRecord, SinkTask, TaskContext,
    TopicPartition, TopicPartitionOffset,
};
use ferry_mqtt_common::client::EventLoop;

use crate::config::{self, MqttSinkConfig};
use crate::message::MessageBuilder;
use crate::session::{self, DriverSettings, Shared};

/// How long `stop` waits for the DISCONNECT to be written.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Room in the client's request queue beyond the in-flight limit (the DISCONNECT).
const REQUEST_MARGIN: usize = 16;

/// A batch `put` gave up on half-way (retriable error): what the worker's retry may skip.
#[derive(Debug)]
struct Resume {
    /// The first record of the batch.
    first: (String, i32, i64),
    /// How many records of the batch were accepted (queued or reported as errant).
    accepted: usize,
    /// The errant reports among them, repeated on the retry.
    errant: Vec<(usize, String)>,
}

/// One MQTT connection fed from Kafka.
pub struct MqttSinkTask {
    context: TaskContext,
    runtime: Option<tokio::runtime::Runtime>,
    driver: Option<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
    builder: MessageBuilder,
    max_inflight: usize,
    put_timeout: Duration,
    flush_timeout: Duration,
    resume: Option<Resume>,
}

impl SinkTask for MqttSinkTask {
    fn start(context: TaskContext, config: &ConfigMap) -> Result<Self> {
        let config = config::parse(config)?;
        let builder =
            MessageBuilder::new(&config).map_err(|e| ConnectError::config("mqtt.topic", e))?;
        let max_inflight = config.max_inflight();
        let settings = config.connection.settings(
            &context,
            // Receive Maximum: this client receives no publishes.
            16,
            false,
            usize::from(max_inflight) + REQUEST_MARGIN,
        )?;
        let (client, events) = EventLoop::publisher(&settings, config.v5(), max_inflight)
            .map_err(|e| ConnectError::config(e.key(), e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("mqtt-sink-{}-{}", context.connector, context.task))
            .enable_all()
            .build()
            .map_err(|e| ConnectError::fatal(format!("cannot start the MQTT runtime: {e}")))?;
        let shared = Arc::new(Shared::new(client, max_inflight));
        let driver_settings = DriverSettings {
            backoff_initial: config.connection.backoff_initial(),
            backoff_max: config.connection.backoff_max(),
            clean_session: config.connection.clean_session,
            insecure: settings.server.tls && config.connection.ssl_insecure_skip_verify,
            server: settings.server.to_string(),
            client_id: settings.client_id.clone(),
        };
        tracing::info!(
            server = %driver_settings.server,
            client_id = %driver_settings.client_id,
            topic = %config.topic,
            qos = config.qos,
            retain = config.retain,
            version = ?config.connection.version,
            max_inflight,
            "MQTT sink task starting"
        );
        let span = tracing::info_span!(
            "mqtt_sink_session",
            connector = %context.connector,
            task = context.task
        );
        let driver =
            runtime.spawn(session::drive(events, shared.clone(), driver_settings).instrument(span));
        let mut task = MqttSinkTask {
            context,
            runtime: Some(runtime),
            driver: Some(driver),
            shared,
            builder,
            max_inflight: max_inflight.into(),
            put_timeout: config.put_timeout(),
            flush_timeout: config.flush_timeout(),
            resume: None,
        };
        task.await_first_connection(&config)?;
        Ok(task)
    }

    fn open(&mut self, _partitions: &[TopicPartition]) -> Result<()> {
        self.resume = None;
        Ok(())
    }

    fn close(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.resume = None;
        self.shared.lock().outbox.close(partitions);
        Ok(())
    }

    fn put(&mut self, records: Vec<SinkRecord>, errant: &mut ErrantRecords) -> Result<()> {
        self.check()?;
        let mut start = 0;
        let mut reported = Vec::new();
        if let Some(resume) = self.resume.take() {
            let same_batch = records.first().map(position) == Some(resume.first.clone())
                && records.len() >= resume.accepted;
            if same_batch {
                for (index, reason) in resume.errant {
                    errant.report(&records[index], &reason);
                    reported.push((index, reason));
                }
                start = resume.accepted;
            }
        }
        let deadline = Instant::now() + self.put_timeout;
        for (index, record) in records.iter().enumerate().skip(start) {
            let broker_max = self.shared.lock().broker_max_packet_size;
            let message = match self.builder.build(record, broker_max) {
                Ok(message) => message,
                Err(reason) => {
                    errant.report(record, &reason);
                    reported.push((index, reason));
                    continue;
                }
            };
            let max_inflight = self.max_inflight;
            let mut state = self.shared.wait_until(deadline, |s| {
                s.outbox.len() < max_inflight || s.fatal.is_some() || !s.driver_alive
            });
            if let Some(error) = &state.fatal {
                return Err(error.clone());
            }
            if !state.driver_alive {
                return Err(ConnectError::fatal(
                    "the MQTT connection ended unexpectedly",
                ));
            }
            if state.outbox.len() >= max_inflight {
                let unacknowledged = state.outbox.len();
                let connected = state.outbox.is_connected();
                drop(state);
                self.resume = records.first().map(|first| Resume {
                    first: position(first),
                    accepted: index,
                    errant: reported,
                });
                return Err(ConnectError::retriable(format!(
                    "{unacknowledged} MQTT publishes (`mqtt.max.inflight`) are not acknowledged \
                     after waiting {} ms (`mqtt.put.timeout.ms`){}; the worker retries",
                    self.put_timeout.as_millis(),
                    if connected {
                        ""
                    } else {
                        " and the broker is not connected"
                    }
                )));
            }
            // Offsets refer to where the record was read, whatever a transformation renamed.
            let read_from = record.kafka_position();
            state.outbox.push(
                TopicPartition {
                    topic: read_from.topic,
                    partition: read_from.partition,
                },
                record.offset,
                message,
            );
            self.shared.pump(&mut state);
        }
        Ok(())
    }

    fn pre_commit(
        &mut self,
        offsets: &[TopicPartitionOffset],
    ) -> Result<Vec<TopicPartitionOffset>> {
        self.check()?;
        let put_so_far = self.shared.lock().outbox.next_seq();
        let deadline = Instant::now() + self.flush_timeout;
        let state = self.shared.wait_until(deadline, |s| {
            s.outbox.done_before(put_so_far) || s.fatal.is_some() || !s.driver_alive
        });
        if let Some(error) = &state.fatal {
            return Err(error.clone());
        }
        Ok(state.outbox.committable(offsets))
    }

    fn stop(&mut self) {
        let deadline = Instant::now() + self.flush_timeout;
        let unacknowledged = self
            .shared
            .wait_until(deadline, |s| {
                s.outbox.is_empty() || s.fatal.is_some() || !s.driver_alive
            })
            .outbox
            .len();
        // Queued behind the publishes already queued; a persistent session stays on the broker.
        self.shared.stop();
        if let Some(runtime) = self.runtime.take() {
            if let Some(driver) = self.driver.take() {
                let _ = runtime.block_on(async { tokio::time::timeout(STOP_GRACE, driver).await });
            }
            runtime.shutdown_background();
        }
        if unacknowledged == 0 {
            tracing::info!(
                connector = %self.context.connector,
                task = self.context.task,
                "MQTT sink task stopped"
            );
        } else {
            tracing::warn!(
                connector = %self.context.connector,
                task = self.context.task,
                unacknowledged,
                "MQTT sink task stopped with publishes the broker has not acknowledged; their \
                 offsets were not committed, so they are published again by the next run"
            );
        }
    }
}

impl Drop for MqttSinkTask {
    fn drop(&mut self) {
        // Without `stop`: drop the connection as a crash would.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn position(record: &SinkRecord) -> (String, i32, i64) {
    let read_from = record.kafka_position();
    (read_from.topic, read_from.partition, read_from.offset)
}

impl MqttSinkTask {
    /// The error that ended the connection, if any.
    fn check(&self) -> Result<()> {
        let state = self.shared.lock();
        if let Some(error) = &state.fatal {
            return Err(error.clone());
        }
        if !state.driver_alive {
            return Err(ConnectError::fatal(
                "the MQTT connection ended unexpectedly",
            ));
        }
        Ok(())
    }

    /// Waits for the outcome of the first connection attempt, so that a refusal (credentials,
    /// certificates) fails the start with its reason. A broker that is merely unreachable does
    /// not: the task starts and keeps reconnecting.
    fn await_first_connection(&mut self, config: &MqttSinkConfig) -> Result<()> {
        let timeout = Duration::from_secs(config.connection.connect_timeout_seconds.into())
            + Duration::from_secs(1);
        let state = self.shared.wait_until(Instant::now() + timeout, |s| {
            s.attempts > 0 || s.fatal.is_some() || !s.driver_alive
        });
        if let Some(error) = state.fatal.clone() {
            drop(state);
            self.stop();
            return Err(error);
        }
        if !state.outbox.is_connected() {
            tracing::warn!(
                server = %config.connection.server_uri,
                "the MQTT broker is not reachable yet; the task starts and keeps reconnecting"
            );
        }
        Ok(())
    }
}
