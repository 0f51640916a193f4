//! The MQTT connection of one task: a tokio task that owns the rumqttc event loop, connects and
//! reconnects with exponential backoff, and turns every event into [`Outbox`] bookkeeping.
//!
//! The task thread and this driver share one [`State`] behind a mutex. The task thread queues
//! records and hands them to the client (under the lock, so the order in which rumqttc receives
//! publishes is the outbox's order); the driver records what rumqttc wrote and what the broker
//! acknowledged, hands over more as packet ids free up, and wakes the task thread (a condition
//! variable) when something it waits for changed: room, acknowledgements, a failure.
//!
//! When the connection is lost, the driver takes rumqttc's own copies of the unacknowledged
//! publishes away from it (rumqttc would drop them if the broker forgot the session, and resends
//! them in packet id order rather than put order) and lets the outbox decide what to send again
//! after the next CONNACK (see [`crate::outbox`]).
//!
//! The first connection of a task asks for a clean session: what a previous run of the task left
//! on the broker is of no use (its unacknowledged records are read again from Kafka), and a QoS 2
//! packet id the broker still holds from it would make the broker drop a new message that happens
//! to get the same id as a duplicate. Later connections resume the session unless
//! `mqtt.clean.session.enabled=true`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferry_api::{tracing, ConnectError};
use ferry_mqtt_common::client::{Client, Delivery, EventLoop, PollError};
use tokio::sync::Notify;

use crate::outbox::{Outbox, Resend};

/// What the task thread and the driver share.
#[derive(Debug)]
pub struct State {
    /// Records not acknowledged yet.
    pub outbox: Outbox,
    /// Why the task cannot go on; every call reports it.
    pub fatal: Option<ConnectError>,
    /// The driver runs.
    pub driver_alive: bool,
    /// Connection attempts that ended, in success or failure.
    pub attempts: u64,
    /// MQTT 5: the largest packet the broker accepts, from its CONNACK.
    pub broker_max_packet_size: Option<u32>,
}

/// The state, its condition variable, and the client records are handed to.
pub struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    wake: Notify,
    stopping: AtomicBool,
    client: Client,
}

impl Shared {
    /// Shared state for a client whose packet ids cycle through `1..=max_inflight`.
    pub fn new(client: Client, max_inflight: u16) -> Shared {
        Shared {
            state: Mutex::new(State {
                outbox: Outbox::new(max_inflight),
                fatal: None,
                driver_alive: true,
                attempts: 0,
                broker_max_packet_size: None,
            }),
            changed: Condvar::new(),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            client,
        }
    }

    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `ready` holds or `deadline` passes; returns the locked state either way.
    pub fn wait_until(
        &self,
        deadline: Instant,
        mut ready: impl FnMut(&State) -> bool,
    ) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        loop {
            if ready(&state) {
                return state;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return state;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Hands queued records to the client, as far as the packet id window allows.
    pub fn pump(&self, state: &mut State) {
        state
            .outbox
            .pump(|message| self.client.try_publish(message));
    }

    /// Task side: asks the driver to end, once the DISCONNECT queued here is written (or at once
    /// when not connected).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.client.try_disconnect();
        self.wake.notify_one();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn fail(&self, state: &mut State, error: ConnectError) {
        tracing::error!("{error}");
        state.fatal.get_or_insert(error);
    }
}

/// What the driver needs besides the event loop.
#[derive(Debug, Clone)]
pub struct DriverSettings {
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// `mqtt.clean.session.enabled`, for the connections after the first.
    pub clean_session: bool,
    /// `mqtt.ssl.insecure.skip.verify` on a TLS connection.
    pub insecure: bool,
    /// For log lines.
    pub server: String,
    /// For log lines.
    pub client_id: String,
}

/// What the driver does after an event.
enum Step {
    /// Poll again.
    Next,
    /// Connected: poll again with the backoff reset.
    Connected,
    /// The connection failed: wait, then reconnect.
    Failed(PollError),
    /// Stop driving.
    End,
}

/// Runs the connection until stopped or refused for good.
pub async fn drive(mut events: EventLoop, shared: Arc<Shared>, settings: DriverSettings) {
    let mut backoff = settings.backoff_initial;
    let mut attempt: u32 = 0;
    let mut first_connection = true;
    events.set_clean_start(true);
    loop {
        let polled = events.poll_delivery().await;
        let step = on_event(&shared, &mut events, &settings, polled);
        shared.changed.notify_all();
        let error = match step {
            Step::Next => continue,
            Step::End => break,
            Step::Connected => {
                if first_connection {
                    events.set_clean_start(settings.clean_session);
                    first_connection = false;
                }
                attempt = 0;
                backoff = settings.backoff_initial;
                continue;
            }
            Step::Failed(error) => error,
        };
        if shared.stopping() {
            break;
        }
        match error {
            // Already recorded as the task's fatal error by `on_event`.
            PollError::Refused(_) => break,
            PollError::UnknownPubRel(pkid) => {
                tracing::warn!(
                    server = %settings.server,
                    pkid,
                    "the MQTT broker acknowledged a packet id this task does not know; reconnecting"
                );
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
        // Sleep, but wake up for a stop.
        ferry_mqtt_common::backoff::sleep_unless_stopped(backoff, &shared.wake, || {
            shared.stopping()
        })
        .await;
        if shared.stopping() {
            break;
        }
        backoff = (backoff * 2).min(settings.backoff_max);
    }
    shared.lock().driver_alive = false;
    shared.changed.notify_all();
}

/// Records what the event loop reported, under the lock.
fn on_event(
    shared: &Shared,
    events: &mut EventLoop,
    settings: &DriverSettings,
    polled: Result<Delivery, PollError>,
) -> Step {
    let mut state = shared.lock();
    tracing::trace!(?polled, "MQTT event");
    match polled {
        Ok(Delivery::Connected {
            session_present,
            receive_maximum,
            maximum_packet_size,
        }) => {
            state.attempts += 1;
            state.broker_max_packet_size = maximum_packet_size;
            let resend = state.outbox.connected(session_present, receive_maximum);
            let resent = resend.len();
            for item in resend {
                match item {
                    Resend::Publish(message, pkid) => events.retransmit(&message, pkid),
                    Resend::Release(pkid) => events.release(pkid),
                }
            }
            shared.pump(&mut state);
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
                resent,
                unacknowledged = state.outbox.len(),
                "connected to the MQTT broker"
            );
            Step::Connected
        }
        Ok(Delivery::DisconnectSent) if shared.stopping() => Step::End,
        Ok(delivery) => {
            if let Err(error) = apply(&mut state, delivery) {
                shared.fail(&mut state, error);
            }
            shared.pump(&mut state);
            Step::Next
        }
        Err(error) => {
            // Events rumqttc produced for the lost connection and did not hand out yet: a
            // publish it gave a packet id to, acknowledgements it had read.
            for stale in events.abandon_outgoing() {
                if stale == Delivery::Written(0) {
                    continue; // a QoS 0 write that may have failed: it goes out again
                }
                if let Err(error) = apply(&mut state, stale) {
                    shared.fail(&mut state, error);
                }
            }
            state.outbox.disconnected();
            // A refusal is recorded in the same critical section that counts the attempt:
            // the start waits for `attempts > 0` and must then see the reason, not a broker
            // that merely looks unreachable.
            if let PollError::Refused(message) = &error {
                if !shared.stopping() {
                    shared.fail(&mut state, ConnectError::fatal(message.clone()));
                }
            }
            state.attempts += 1;
            Step::Failed(error)
        }
    }
}

/// Records one event of the connection.
fn apply(state: &mut State, delivery: Delivery) -> Result<(), ConnectError> {
    let outbox = &mut state.outbox;
    match delivery {
        Delivery::Written(pkid) => outbox.written(pkid).map_err(|e| {
            ConnectError::fatal(format!(
                "internal error in the MQTT sink's delivery tracking: {e}; restarting the task \
                 publishes the unacknowledged records again"
            ))
        })?,
        Delivery::Waiting(pkid) => {
            tracing::debug!(pkid, "publish waits for its packet id to be acknowledged");
        }
        Delivery::PubAck { pkid, refused } | Delivery::PubRec { pkid, refused }
            if refused.is_some() =>
        {
            let what = outbox
                .describe(pkid)
                .unwrap_or_else(|| format!("packet id {pkid}"));
            let reason = refused.unwrap_or_default();
            return Err(ConnectError::fatal(format!(
                "the MQTT broker refused the publish to {what} ({reason}); check the broker's \
                 ACL for `mqtt.username` and the topic (`mqtt.topic`); the record's offset is \
                 not committed"
            )));
        }
        Delivery::PubAck { pkid, .. } => {
            if !outbox.pub_ack(pkid) {
                tracing::warn!(pkid, "PUBACK for a packet id not in flight; ignored");
            }
        }
        Delivery::PubRec { pkid, .. } => {
            if !outbox.pub_rec(pkid) {
                tracing::warn!(pkid, "PUBREC for a packet id not in flight; ignored");
            }
        }
        Delivery::PubComp { pkid, refused } => {
            if let Some(reason) = refused {
                // The broker no longer knew the id at PUBREL: it had the message already.
                tracing::warn!(pkid, %reason, "PUBCOMP with a reason code; counted as delivered");
            }
            if !outbox.pub_comp(pkid) {
                tracing::warn!(pkid, "PUBCOMP for a packet id not in flight; ignored");
            }
        }
        Delivery::Connected { .. } | Delivery::DisconnectSent | Delivery::Other => {}
    }
    Ok(())
}
