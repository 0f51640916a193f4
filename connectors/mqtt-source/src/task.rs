//! The source task: MQTT messages in, Kafka records out, acknowledgements only after Kafka.
//!
//! # Delivery guarantee: at least once, end to end
//!
//! With QoS 1 or 2 and a persistent session (`mqtt.clean.session.enabled=false`, the default),
//! every message the broker accepted for this connector's session reaches Kafka at least once:
//!
//! - The client runs with manual acknowledgements. A message's PUBACK (QoS 1) or PUBREC (QoS 2)
//!   is queued only in [`SourceTask::commit_record`], which the worker calls after Kafka
//!   acknowledged the record (`acks=all`). Until then the broker keeps the message in the session
//!   and redelivers it (DUP set) after a reconnect or a restart of the task; the client id is
//!   stable (`<connector>-<task>`), so a restarted worker resumes the same session.
//! - Acknowledgements go out in the order the messages were received, as MQTT requires: a commit
//!   that arrives out of order waits until every earlier message of the session is committed.
//! - An acknowledgement is only ever sent on the connection its message arrived on. After a
//!   reconnect the old packet identifiers may name other messages, so pending acknowledgements of
//!   the lost connection are dropped and the broker's redelivery is forwarded instead: a
//!   duplicate in Kafka, never a loss.
//! - Duplicates (DUP flag) are forwarded like any message; the `mqtt.duplicate` header says so.
//! - A message that cannot be mapped to a Kafka topic (see [`crate::mapping`]) fails the task
//!   without being acknowledged.
//! - At most `mqtt.max.inflight` messages are read and not yet acknowledged; then the task stops
//!   reading and the broker queues for the session (see [`crate::session`]). If that lasts longer
//!   than 1.5 keep-alive intervals the broker drops the connection; the task reconnects when Kafka
//!   catches up and the unacknowledged messages are redelivered (duplicates, no loss).
//!
//! Duplicates happen after a crash, a reconnect or a restart (messages written to Kafka but not
//! yet acknowledged to the broker). Each task start subscribes again, so that changed filters
//! apply; an MQTT 3.1.1 broker then sends the retained messages again (MQTT 5 is asked not to;
//! `mqtt.skip.retained` drops them). QoS 0 is at most once by definition: those messages are never
//! redelivered. With a clean session, messages published while the task is away are not kept.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_api::tracing::{self, Instrument};
use ferry_api::{
    ConfigMap, ConnectError, OffsetReader, RecordMetadata, Result, SourceRecord, SourceTask,
    TaskContext,
};
use tokio::sync::mpsc;

use crate::client::{Client, EventLoop, Message};
use crate::config::{self, MqttVersion};
use crate::mapping::{self, Mapping};
use crate::session::{self, Acked, DriverSettings, Shared};

/// Most records returned by one `poll`.
const MAX_BATCH: usize = 2000;

/// How long `stop` waits for the DISCONNECT to be written.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A received message waiting for its acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    token: u64,
    qos: u8,
    pkid: u16,
    epoch: u64,
    committed: bool,
}

/// Received messages in receive order; acknowledgements leave from the front only.
#[derive(Debug, Default)]
struct AckWindow {
    next_token: u64,
    slots: VecDeque<Slot>,
}

impl AckWindow {
    /// Appends a message; returns its commit token.
    fn push(&mut self, message: &Message, committed: bool) -> u64 {
        self.next_token += 1;
        self.slots.push_back(Slot {
            token: self.next_token,
            qos: message.qos,
            pkid: message.pkid,
            epoch: message.epoch,
            committed,
        });
        self.next_token
    }

    /// Marks a message as written to Kafka.
    fn commit(&mut self, token: u64) -> Result<()> {
        let front = self.slots.front().map_or(u64::MAX, |s| s.token);
        let slot = token
            .checked_sub(front)
            .and_then(|index| self.slots.get_mut(index as usize))
            .filter(|slot| slot.token == token && !slot.committed)
            .ok_or_else(|| {
                ConnectError::fatal(format!(
                    "commit_record for unknown or already committed MQTT message (token {token})"
                ))
            })?;
        slot.committed = true;
        Ok(())
    }

    /// The next message to acknowledge, when every earlier one is acknowledged too.
    fn pop_ready(&mut self) -> Option<Slot> {
        if self.slots.front()?.committed {
            self.slots.pop_front()
        } else {
            None
        }
    }
}

/// One MQTT connection feeding Kafka.
pub struct MqttSourceTask {
    context: TaskContext,
    runtime: Option<tokio::runtime::Runtime>,
    driver: Option<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
    client: Client,
    messages: mpsc::Receiver<Message>,
    mapping: Mapping,
    skip_retained: bool,
    payload_format: ferry_api::data::PayloadFormat,
    batch: usize,
    window: AckWindow,
    /// Acknowledgements that found the request queue full, in order; sent before any newer one.
    deferred: VecDeque<Slot>,
    /// Once failed, every poll says why.
    failed: Option<ConnectError>,
}

impl SourceTask for MqttSourceTask {
    fn start(context: TaskContext, config: &ConfigMap, _offsets: &OffsetReader) -> Result<Self> {
        let config = config::parse(config)?;
        let mapping = config.mapping().map_err(|issues| {
            ConnectError::config(issues[0].field.clone(), issues[0].message.clone())
        })?;
        let settings = config.settings(&context)?;
        let (client, events) =
            EventLoop::new(&settings, config.connection.version == MqttVersion::V5)
                .map_err(|e| ConnectError::config(e.key(), e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("mqtt-{}-{}", context.connector, context.task))
            .enable_all()
            .build()
            .map_err(|e| ConnectError::fatal(format!("cannot start the MQTT runtime: {e}")))?;
        let max_inflight = config.max_inflight as usize;
        let (sender, messages) = mpsc::channel(max_inflight);
        let shared = Arc::new(Shared::default());
        let driver_settings = DriverSettings {
            subscriptions: config.subscriptions(&context),
            qos: config.qos,
            max_inflight,
            backoff_initial: config.connection.backoff_initial(),
            backoff_max: config.connection.backoff_max(),
            insecure: settings.server.tls && config.connection.ssl_insecure_skip_verify,
            server: settings.server.to_string(),
            client_id: settings.client_id.clone(),
            clean_session: config.connection.clean_session,
        };
        tracing::info!(
            server = %driver_settings.server,
            client_id = %driver_settings.client_id,
            filters = ?driver_settings.subscriptions,
            qos = config.qos,
            version = ?config.connection.version,
            max_inflight,
            "MQTT source task starting"
        );
        let span = tracing::info_span!(
            "mqtt_session",
            connector = %context.connector,
            task = context.task
        );
        let driver = runtime.spawn(
            session::drive(
                events,
                client.clone(),
                shared.clone(),
                sender,
                driver_settings,
            )
            .instrument(span),
        );
        Ok(MqttSourceTask {
            context,
            runtime: Some(runtime),
            driver: Some(driver),
            shared,
            client,
            messages,
            mapping,
            skip_retained: config.skip_retained,
            payload_format: config.payload_format.into(),
            batch: max_inflight.min(MAX_BATCH),
            window: AckWindow::default(),
            deferred: VecDeque::new(),
            failed: None,
        })
    }

    fn poll(&mut self, timeout: Duration) -> Result<Vec<SourceRecord>> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        self.flush_deferred();
        let deadline = Instant::now() + timeout;
        let mut records = Vec::new();
        while records.len() < self.batch {
            let next = if records.is_empty() {
                self.wait_for_message(deadline)
            } else {
                match self.messages.try_recv() {
                    Ok(message) => Next::Message(message),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => Next::Closed,
                }
            };
            match next {
                Next::Message(message) => {
                    if self.skip_retained && message.retain {
                        self.window.push(&message, true);
                        self.acknowledge_ready();
                        continue;
                    }
                    match self.record(message) {
                        Ok(record) => records.push(record),
                        Err(error) => return self.fail(error, records),
                    }
                }
                Next::TimedOut => break,
                Next::Closed => {
                    let error = self.shared.take_fatal().unwrap_or_else(|| {
                        ConnectError::fatal("the MQTT session ended unexpectedly")
                    });
                    return self.fail(error, records);
                }
            }
        }
        Ok(records)
    }

    fn commit_record(&mut self, record: SourceRecord, _metadata: &RecordMetadata) -> Result<()> {
        self.window.commit(record.commit_token)?;
        self.acknowledge_ready();
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.flush_deferred();
        Ok(())
    }

    fn stop(&mut self) {
        // Queued behind the acknowledgements already queued, so those are written first; the
        // persistent session stays on the broker.
        self.client.try_disconnect();
        self.shared.stop();
        if let Some(runtime) = self.runtime.take() {
            if let Some(driver) = self.driver.take() {
                let _ = runtime.block_on(async { tokio::time::timeout(STOP_GRACE, driver).await });
            }
            runtime.shutdown_background();
        }
        tracing::info!(
            connector = %self.context.connector,
            task = self.context.task,
            unacknowledged = self.window.slots.len(),
            "MQTT source task stopped; unacknowledged messages stay with the broker's session"
        );
    }
}

impl Drop for MqttSourceTask {
    fn drop(&mut self) {
        // Without `stop`: drop the connection as a crash would; the session stays on the broker.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

enum Next {
    Message(Message),
    TimedOut,
    Closed,
}

impl MqttSourceTask {
    fn wait_for_message(&mut self, deadline: Instant) -> Next {
        let Some(runtime) = &self.runtime else {
            return Next::Closed;
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let messages = &mut self.messages;
        // The timer must be created inside the runtime.
        match runtime.block_on(async { tokio::time::timeout(remaining, messages.recv()).await }) {
            Ok(Some(message)) => Next::Message(message),
            Ok(None) => Next::Closed,
            Err(_) => Next::TimedOut,
        }
    }

    fn record(&mut self, message: Message) -> std::result::Result<SourceRecord, ConnectError> {
        let topic = self
            .mapping
            .kafka_topic(&message.topic)
            .and_then(|topic| Ok((topic, self.mapping.key(&message.topic)?)));
        let (topic, key) = topic.map_err(|e| ConnectError::fatal(e.to_string()))?;
        let headers = mapping::headers(&message);
        let commit_token = self.window.push(&message, false);
        Ok(SourceRecord {
            topic,
            key,
            headers,
            timestamp_ms: Some(message.received_ms),
            value: Some(message.payload),
            value_format: self.payload_format,
            commit_token,
            ..SourceRecord::default()
        })
    }

    /// Remembers the error for every later poll; records already built are handed out first.
    fn fail(
        &mut self,
        error: ConnectError,
        records: Vec<SourceRecord>,
    ) -> Result<Vec<SourceRecord>> {
        tracing::error!(
            connector = %self.context.connector,
            task = self.context.task,
            "{error}"
        );
        self.failed = Some(error.clone());
        if records.is_empty() {
            Err(error)
        } else {
            Ok(records)
        }
    }

    /// Acknowledges, in receive order, every message whose predecessors are all committed.
    fn acknowledge_ready(&mut self) {
        self.flush_deferred();
        while let Some(slot) = self.window.pop_ready() {
            if !self.deferred.is_empty() || self.send(&slot) == Acked::Full {
                self.deferred.push_back(slot);
            }
        }
    }

    fn flush_deferred(&mut self) {
        while let Some(slot) = self.deferred.front().copied() {
            if self.send(&slot) == Acked::Full {
                break;
            }
            self.deferred.pop_front();
        }
    }

    fn send(&self, slot: &Slot) -> Acked {
        self.shared
            .acknowledge(&self.client, slot.qos, slot.pkid, slot.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(pkid: u16) -> Message {
        Message {
            topic: "a".into(),
            payload: Vec::new(),
            qos: 1,
            retain: false,
            dup: false,
            pkid,
            properties: None,
            received_ms: 0,
            epoch: 0,
        }
    }

    #[test]
    fn acknowledgements_leave_in_receive_order() {
        let mut window = AckWindow::default();
        let tokens: Vec<u64> = (1..=4).map(|i| window.push(&message(i), false)).collect();
        window.commit(tokens[2]).unwrap();
        window.commit(tokens[1]).unwrap();
        assert_eq!(window.pop_ready(), None, "message 1 is not committed yet");
        window.commit(tokens[0]).unwrap();
        let order: Vec<u16> = std::iter::from_fn(|| window.pop_ready())
            .map(|s| s.pkid)
            .collect();
        assert_eq!(order, [1, 2, 3]);
        assert!(window.commit(tokens[0]).is_err(), "already acknowledged");
        assert!(window.commit(99).is_err(), "unknown");
        window.commit(tokens[3]).unwrap();
        assert!(window.commit(tokens[3]).is_err(), "committed twice");
        assert_eq!(window.pop_ready().map(|s| s.pkid), Some(4));
        assert!(window.slots.is_empty());
    }
}
