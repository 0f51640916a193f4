//! The MQTT session of one task: a tokio task that owns the rumqttc event loop, connects and
//! reconnects with backoff, (re)subscribes, and hands received messages to the task through a
//! bounded channel, never handing out more than the in-flight limit allows.
//!
//! Flow control is one counter, [`Flow::outstanding`]: messages read from the broker whose slot
//! is not free yet. A slot frees when the message's PUBACK/PUBREC has been written to the
//! network, or, for messages that need none (QoS 0, skipped, or received on an earlier
//! connection), when Kafka acknowledged them. The driver only polls the event loop while
//! `outstanding < max` (or while acknowledgements wait to be written, which frees slots), so when
//! Kafka is slow the connection stops being read and the broker queues for the session.
//!
//! The polls that write acknowledgements may also read messages while there is no room (rumqttc
//! reads up to 10 packets at a time): those are parked here, in order, and handed to the task as
//! room frees up, so the task never holds more than `mqtt.max.inflight`. Parking is short-lived
//! (it stops as soon as the acknowledgements are written) and cannot happen with MQTT 5 at QoS 1
//! and 2, where the broker honours the Receive Maximum of `mqtt.max.inflight`.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferry_api::{tracing, ConnectError};
use tokio::sync::{mpsc, Notify};

use crate::client::{Client, Event, EventLoop, Message, PollError};

/// Shared by the task thread and the driver.
#[derive(Default)]
pub struct Shared {
    flow: Mutex<Flow>,
    wake: Notify,
    stopping: AtomicBool,
    fatal: Mutex<Option<ConnectError>>,
}

/// Connection generation and in-flight accounting.
#[derive(Debug, Default)]
pub struct Flow {
    /// Bumped whenever a connection is lost: acknowledgements for messages of another epoch are
    /// never sent (the packet identifier may already name another message).
    pub epoch: u64,
    /// A CONNACK was received for the current epoch.
    pub connected: bool,
    /// Messages read whose slot is not free yet.
    pub outstanding: usize,
    /// Acknowledgements queued to the event loop and not yet written.
    pub acks_unwritten: usize,
    /// The driver runs.
    pub driver_alive: bool,
}

/// What became of an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acked {
    /// Queued to the event loop; its slot frees once written.
    Queued,
    /// None needed or none possible any more; its slot is free.
    Released,
    /// The request queue is full: try again later, in the same order.
    Full,
}

impl Shared {
    fn flow(&self) -> MutexGuard<'_, Flow> {
        self.flow.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Task side: acknowledges a message Kafka has acknowledged, if it came on the current
    /// connection; otherwise just frees its slot.
    pub fn acknowledge(&self, client: &Client, qos: u8, pkid: u16, epoch: u64) -> Acked {
        let mut flow = self.flow();
        let outcome = if qos == 0 || epoch != flow.epoch || !flow.connected || !flow.driver_alive {
            flow.outstanding = flow.outstanding.saturating_sub(1);
            Acked::Released
        } else if client.try_ack(qos, pkid) {
            flow.acks_unwritten += 1;
            Acked::Queued
        } else {
            return Acked::Full;
        };
        drop(flow);
        self.wake.notify_one();
        outcome
    }

    /// Task side: the error that ended the session, once.
    pub fn take_fatal(&self) -> Option<ConnectError> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Task side: asks the driver to stop once the DISCONNECT the caller queued is written.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn fail(&self, error: ConnectError) {
        *self.fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }

    /// Messages handed to the task and not released, given how many are parked.
    fn handed_out(&self, parked: usize) -> usize {
        self.flow().outstanding.saturating_sub(parked)
    }

    /// Waits until the event loop may be polled: room for a message, acknowledgements to write,
    /// or a stop to carry out.
    async fn room(&self, max_inflight: usize) {
        loop {
            {
                let flow = self.flow();
                if self.stopping() || flow.outstanding < max_inflight || flow.acks_unwritten > 0 {
                    return;
                }
            }
            // notify_one stores a permit, so a wake-up between the check and here is not lost.
            self.wake.notified().await;
        }
    }

    #[cfg(test)]
    pub fn snapshot(&self) -> (u64, bool, usize, usize) {
        let flow = self.flow();
        (
            flow.epoch,
            flow.connected,
            flow.outstanding,
            flow.acks_unwritten,
        )
    }
}

/// What the driver needs to know besides the connection settings.
#[derive(Debug, Clone)]
pub struct DriverSettings {
    /// Filters to subscribe to, `$share/` prefix included.
    pub subscriptions: Vec<String>,
    /// Subscription QoS.
    pub qos: u8,
    /// `mqtt.max.inflight`.
    pub max_inflight: usize,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// `mqtt.ssl.insecure.skip.verify`.
    pub insecure: bool,
    /// For log lines.
    pub server: String,
    /// For log lines.
    pub client_id: String,
    /// `mqtt.clean.session.enabled`.
    pub clean_session: bool,
}

/// Runs the session until stopped or failed; the end closes `messages`.
pub async fn drive(
    mut events: EventLoop,
    client: Client,
    shared: Arc<Shared>,
    messages: mpsc::Sender<Message>,
    settings: DriverSettings,
) {
    shared.flow().driver_alive = true;
    let mut backoff = settings.backoff_initial;
    let mut attempt: u32 = 0;
    let mut subscribed_once = false;
    // QoS 2 messages whose PUBREL came after rumqttc forgot them (see EventLoop::expect_pubrel).
    let mut unknown_pubrels = BTreeSet::new();

    // Messages read while flushing acknowledgements with no room left; handed out as room frees
    // up, so the task never holds more than `max_inflight` (see the module docs).
    let mut parked: VecDeque<Message> = VecDeque::new();

    'session: loop {
        while !parked.is_empty() && shared.handed_out(parked.len()) < settings.max_inflight {
            let message = parked.pop_front().expect("not empty");
            if messages.send(message).await.is_err() {
                break 'session;
            }
        }
        shared.room(settings.max_inflight).await;
        if !parked.is_empty() && shared.handed_out(parked.len()) < settings.max_inflight {
            continue;
        }
        // When stopping, the task has queued a DISCONNECT: keep polling until it is written.
        match events.poll().await {
            Ok(Event::Connected { session_present }) => {
                if shared.stopping() {
                    break;
                }
                attempt = 0;
                backoff = settings.backoff_initial;
                shared.flow().connected = true;
                if settings.insecure {
                    tracing::warn!(
                        server = %settings.server,
                        "INSECURE: connected WITHOUT verifying the broker's TLS certificate \
                         (mqtt.ssl.insecure.skip.verify=true); anyone on the network path can \
                         impersonate the broker and read or inject messages"
                    );
                }
                tracing::info!(
                    server = %settings.server,
                    client_id = %settings.client_id,
                    session_present,
                    "connected to the MQTT broker"
                );
                if session_present {
                    for pkid in std::mem::take(&mut unknown_pubrels) {
                        events.expect_pubrel(pkid);
                    }
                } else {
                    unknown_pubrels.clear();
                    if subscribed_once && !settings.clean_session {
                        tracing::warn!(
                            client_id = %settings.client_id,
                            "the broker did not resume the persistent session (it expired or the \
                             broker lost its state); messages published while disconnected and \
                             not yet acknowledged may be lost"
                        );
                    }
                }
                // Mosquitto 2.0 does not keep shared subscriptions across a broker restart even
                // when it resumes the session, so those are renewed on every connect; plain ones
                // only when the session was lost (renewing them would resend retained messages).
                let shared_subscriptions = settings
                    .subscriptions
                    .iter()
                    .any(|s| s.starts_with("$share/"));
                if !subscribed_once || !session_present || shared_subscriptions {
                    if !client.try_subscribe(&settings.subscriptions, settings.qos) {
                        shared.fail(ConnectError::fatal(
                            "cannot queue the MQTT subscription request; check `mqtt.topics`",
                        ));
                        break;
                    }
                    subscribed_once = true;
                }
            }
            Ok(Event::Message(mut message)) => {
                if shared.stopping() {
                    // Not acknowledged: the broker redelivers it to the next session.
                    continue;
                }
                let room = {
                    let mut flow = shared.flow();
                    message.epoch = flow.epoch;
                    flow.outstanding += 1;
                    flow.outstanding.saturating_sub(parked.len()) <= settings.max_inflight
                };
                if room && parked.is_empty() {
                    if messages.send(message).await.is_err() {
                        break;
                    }
                } else {
                    parked.push_back(message);
                }
            }
            Ok(Event::AckWritten) => {
                let mut flow = shared.flow();
                if flow.acks_unwritten > 0 {
                    flow.acks_unwritten -= 1;
                    flow.outstanding = flow.outstanding.saturating_sub(1);
                }
            }
            Ok(Event::Subscribed { refused }) => {
                if let Some((index, reason)) = refused.first() {
                    let filter = settings
                        .subscriptions
                        .get(*index)
                        .map_or("?", String::as_str);
                    shared.fail(ConnectError::fatal(format!(
                        "the MQTT broker refused the subscription to `{filter}` ({reason}); check \
                         `mqtt.topics`, the broker's ACL for `mqtt.username`, and for `$share/` \
                         filters that the broker supports shared subscriptions (or set \
                         `mqtt.tasks.split=filters`)"
                    )));
                    break;
                }
                tracing::debug!(filters = ?settings.subscriptions, "subscribed");
            }
            Ok(Event::DisconnectSent) => {
                if shared.stopping() {
                    break;
                }
            }
            Ok(Event::Other) => {}
            Err(error) => {
                {
                    let mut flow = shared.flow();
                    events.forget_connection();
                    flow.epoch += 1;
                    flow.connected = false;
                    flow.outstanding = flow.outstanding.saturating_sub(flow.acks_unwritten);
                    flow.acks_unwritten = 0;
                }
                if shared.stopping() {
                    break;
                }
                match error {
                    PollError::Refused(message) => {
                        tracing::error!(server = %settings.server, "{message}");
                        shared.fail(ConnectError::fatal(message));
                        break;
                    }
                    PollError::UnknownPubRel(pkid) => {
                        tracing::info!(
                            pkid,
                            "the broker released a QoS 2 message received before a reconnect; \
                             reconnecting to complete it"
                        );
                        unknown_pubrels.insert(pkid);
                        continue;
                    }
                    PollError::Connection(reason) => {
                        attempt += 1;
                        tracing::warn!(
                            server = %settings.server,
                            client_id = %settings.client_id,
                            error = %reason,
                            attempt,
                            retry_in_ms = backoff.as_millis() as u64,
                            "MQTT connection failed or lost; reconnecting after a backoff"
                        );
                    }
                }
                // Sleep, but wake up for a stop (other wake-ups are re-checked by `room`).
                ferry_mqtt_common::backoff::sleep_unless_stopped(backoff, &shared.wake, || {
                    shared.stopping()
                })
                .await;
                if shared.stopping() {
                    break;
                }
                backoff = (backoff * 2).min(settings.backoff_max);
            }
        }
    }
    let mut flow = shared.flow();
    flow.driver_alive = false;
    flow.connected = false;
}
