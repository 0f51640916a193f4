//! One face for rumqttc's MQTT 3.1.1 and MQTT 5 clients, with just what the connectors need,
//! and the repairs rumqttc leaves to its user when a connection is lost.
//!
//! Two views of the same event loop:
//! - a subscriber's ([`EventLoop::poll`], [`Event`]): messages in, acknowledgements and
//!   subscriptions out (the source connector);
//! - a publisher's ([`EventLoop::poll_delivery`], [`Delivery`]): publishes out, the broker's
//!   PUBACK / PUBREC / PUBCOMP in, and the packet identifier rumqttc gave each publish
//!   (the sink connector).

use std::io;

use bytes::Bytes;
use rumqttc::tokio_rustls::rustls;
use rumqttc::v5::mqttbytes::v5 as mqtt5;

use crate::connection::{ConnectionSettings, TlsSetupError};

/// A message received from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The MQTT topic it was published to.
    pub topic: String,
    /// The payload, unchanged.
    pub payload: Vec<u8>,
    /// The QoS it was delivered with: 0, 1 or 2.
    pub qos: u8,
    /// Delivered because it was retained when the subscription was made.
    pub retain: bool,
    /// The broker may have delivered it before (DUP flag).
    pub dup: bool,
    /// Packet identifier; 0 for QoS 0.
    pub pkid: u16,
    /// MQTT 5 publish properties.
    pub properties: Option<Properties>,
    /// When it was read from the network, in milliseconds since the epoch.
    pub received_ms: i64,
    /// The connection it arrived on: its acknowledgement is only valid on that connection.
    pub epoch: u64,
}

/// The MQTT 5 publish properties that become record headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// User properties, in order.
    pub user_properties: Vec<(String, String)>,
    /// Content type.
    pub content_type: Option<String>,
    /// Response topic.
    pub response_topic: Option<String>,
    /// Correlation data.
    pub correlation_data: Option<Vec<u8>>,
}

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The MQTT topic name (no wildcards).
    pub topic: String,
    /// The payload, sent unchanged.
    pub payload: Bytes,
    /// QoS 0, 1 or 2.
    pub qos: u8,
    /// Ask the broker to keep it as the topic's retained message.
    pub retain: bool,
    /// MQTT 5 publish properties; not sent with MQTT 3.1.1.
    pub properties: Option<PublishProperties>,
}

/// The MQTT 5 properties of an outgoing publish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishProperties {
    /// User properties, in order.
    pub user_properties: Vec<(String, String)>,
    /// Content type.
    pub content_type: Option<String>,
    /// Message expiry interval in seconds.
    pub message_expiry_interval: Option<u32>,
}

impl PublishProperties {
    fn v5(&self) -> mqtt5::PublishProperties {
        mqtt5::PublishProperties {
            user_properties: self.user_properties.clone(),
            content_type: self.content_type.clone(),
            message_expiry_interval: self.message_expiry_interval,
            ..mqtt5::PublishProperties::default()
        }
    }
}

/// What the event loop reported.
#[derive(Debug)]
pub enum Event {
    /// CONNACK accepted.
    Connected {
        /// The broker resumed an existing session (its subscriptions still hold).
        session_present: bool,
    },
    /// A PUBLISH arrived.
    Message(Message),
    /// A PUBACK or PUBREC queued by [`Client::try_ack`] was written to the network.
    AckWritten,
    /// A SUBACK arrived: the filters the broker refused, by position, with the reason.
    Subscribed {
        /// `(index in the subscribe request, reason)` of each refused filter.
        refused: Vec<(usize, String)>,
    },
    /// The DISCONNECT asked for by [`Client::try_disconnect`] was written.
    DisconnectSent,
    /// Anything else (pings, PUBCOMP for QoS 2, ...).
    Other,
}

/// What the event loop reported, seen by a publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// CONNACK accepted.
    Connected {
        /// The broker resumed an existing session.
        session_present: bool,
        /// MQTT 5: the broker's Receive Maximum, the QoS 1 and 2 publishes it accepts
        /// unacknowledged; rumqttc cycles packet ids through that many values.
        receive_maximum: Option<u16>,
        /// MQTT 5: the largest packet the broker accepts.
        maximum_packet_size: Option<u32>,
    },
    /// A PUBLISH was written to the network, with the packet identifier rumqttc gave it (0 for
    /// QoS 0). Publishes are written in the order they were queued.
    Written(u16),
    /// A PUBLISH is held back because its packet identifier is still in use.
    Waiting(u16),
    /// PUBACK for a QoS 1 publish; `refused` holds an MQTT 5 failure reason.
    PubAck {
        /// Packet identifier.
        pkid: u16,
        /// The failure reason, when the broker refused the message.
        refused: Option<String>,
    },
    /// PUBREC for a QoS 2 publish (rumqttc answers PUBREL itself).
    PubRec {
        /// Packet identifier.
        pkid: u16,
        /// The failure reason, when the broker refused the message.
        refused: Option<String>,
    },
    /// PUBCOMP: a QoS 2 publish is complete.
    PubComp {
        /// Packet identifier.
        pkid: u16,
        /// The failure reason (MQTT 5: the broker did not know the packet identifier).
        refused: Option<String>,
    },
    /// The DISCONNECT asked for by [`Client::try_disconnect`] was written.
    DisconnectSent,
    /// Anything else (pings, ...).
    Other,
}

/// Why polling the event loop failed. The event loop reconnects on the next poll.
#[derive(Debug)]
pub enum PollError {
    /// The broker or the TLS handshake refused us for a reason that retrying will not fix; the
    /// message names the settings to check.
    Refused(String),
    /// The broker released (PUBREL) a QoS 2 message this client no longer knows, after a
    /// reconnect or restart; see [`EventLoop::expect_pubrel`].
    UnknownPubRel(u16),
    /// Network, TLS or protocol failure; worth retrying.
    Connection(String),
}

/// Sends requests to the event loop; cheap to clone, usable from any thread.
#[derive(Clone)]
pub enum Client {
    /// MQTT 3.1.1.
    V4(rumqttc::AsyncClient),
    /// MQTT 5.
    V5(rumqttc::v5::AsyncClient),
}

impl Client {
    /// Queues the acknowledgement of a received publish: PUBACK for QoS 1, PUBREC for QoS 2,
    /// nothing for QoS 0. False when the request queue is full or the event loop is gone.
    pub fn try_ack(&self, qos: u8, pkid: u16) -> bool {
        match self {
            Client::V4(client) => {
                let mut publish = rumqttc::Publish::new("", qos4(qos), Vec::new());
                publish.pkid = pkid;
                client.try_ack(&publish).is_ok()
            }
            Client::V5(client) => {
                let mut publish = mqtt5::Publish::new("", qos5(qos), Vec::new(), None);
                publish.pkid = pkid;
                client.try_ack(&publish).is_ok()
            }
        }
    }

    /// Queues one SUBSCRIBE for all `filters`. False when it could not be queued.
    pub fn try_subscribe(&self, filters: &[String], qos: u8) -> bool {
        match self {
            Client::V4(client) => client
                .try_subscribe_many(
                    filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), qos4(qos))),
                )
                .is_ok(),
            Client::V5(client) => client
                .try_subscribe_many(filters.iter().map(|f| {
                    let mut filter = mqtt5::Filter::new(f.clone(), qos5(qos));
                    // Re-subscribing after a restart must not replay retained messages again.
                    filter.retain_forward_rule = mqtt5::RetainForwardRule::OnNewSubscribe;
                    filter
                }))
                .is_ok(),
        }
    }

    /// Queues a publish; rumqttc gives it a packet identifier when it writes it (see
    /// [`Delivery::Written`]). False when the request queue is full or the event loop is gone;
    /// the topic must be a valid topic name.
    pub fn try_publish(&self, message: &OutgoingMessage) -> bool {
        match self {
            Client::V4(client) => client
                .try_publish(
                    message.topic.as_str(),
                    qos4(message.qos),
                    message.retain,
                    message.payload.to_vec(),
                )
                .is_ok(),
            Client::V5(client) => match &message.properties {
                Some(properties) => client
                    .try_publish_with_properties(
                        message.topic.as_str(),
                        qos5(message.qos),
                        message.retain,
                        message.payload.clone(),
                        properties.v5(),
                    )
                    .is_ok(),
                None => client
                    .try_publish(
                        message.topic.as_str(),
                        qos5(message.qos),
                        message.retain,
                        message.payload.clone(),
                    )
                    .is_ok(),
            },
        }
    }

    /// Queues a DISCONNECT, which keeps a persistent session on the broker.
    pub fn try_disconnect(&self) {
        match self {
            Client::V4(client) => {
                let _ = client.try_disconnect();
            }
            Client::V5(client) => {
                let _ = client.try_disconnect();
            }
        }
    }
}

fn qos4(qos: u8) -> rumqttc::QoS {
    match qos {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn qos5(qos: u8) -> rumqttc::v5::mqttbytes::QoS {
    use rumqttc::v5::mqttbytes::QoS;
    match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// The connection to the broker; poll it continuously from one task.
pub enum EventLoop {
    /// MQTT 3.1.1.
    V4(Box<rumqttc::EventLoop>),
    /// MQTT 5.
    V5(Box<rumqttc::v5::EventLoop>),
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl EventLoop {
    /// A client and its event loop for `settings`, speaking MQTT 5 when `v5`. Nothing connects
    /// before the first poll.
    pub fn new(
        settings: &ConnectionSettings,
        v5: bool,
    ) -> Result<(Client, EventLoop), TlsSetupError> {
        Self::build(settings, v5, None)
    }

    /// Like [`EventLoop::new`], for a client that publishes: at most `max_inflight` QoS 1 and 2
    /// publishes unacknowledged (MQTT 5: fewer if the broker's Receive Maximum says so). rumqttc
    /// gives packet identifiers 1, 2, ... `max_inflight`, 1, 2, ... in the order publishes are
    /// written (MQTT 5: up to the Receive Maximum).
    pub fn publisher(
        settings: &ConnectionSettings,
        v5: bool,
        max_inflight: u16,
    ) -> Result<(Client, EventLoop), TlsSetupError> {
        Self::build(settings, v5, Some(max_inflight.max(1)))
    }

    fn build(
        settings: &ConnectionSettings,
        v5: bool,
        outgoing_inflight: Option<u16>,
    ) -> Result<(Client, EventLoop), TlsSetupError> {
        if v5 {
            let mut options = settings.v5()?;
            if let Some(inflight) = outgoing_inflight {
                options.set_outgoing_inflight_upper_limit(inflight);
            }
            let (client, events) =
                rumqttc::v5::AsyncClient::new(options, settings.request_capacity);
            Ok((Client::V5(client), EventLoop::V5(Box::new(events))))
        } else {
            let (mut options, network) = settings.v4()?;
            if let Some(inflight) = outgoing_inflight {
                options.set_inflight(inflight);
            }
            let (client, mut events) =
                rumqttc::AsyncClient::new(options, settings.request_capacity);
            events.set_network_options(network);
            Ok((Client::V4(client), EventLoop::V4(Box::new(events))))
        }
    }

    /// Waits for the next event, seen by a publisher. Not cancel-safe: always await it to
    /// completion.
    pub async fn poll_delivery(&mut self) -> Result<Delivery, PollError> {
        match self {
            EventLoop::V4(events) => match events.poll().await {
                Ok(event) => Ok(delivery4(event)),
                Err(e) => Err(error4(e)),
            },
            EventLoop::V5(events) => match events.poll().await {
                Ok(event) => Ok(delivery5(event)),
                Err(e) => Err(error5(e)),
            },
        }
    }

    /// After a failed poll of a publisher: takes everything rumqttc would resend on its own out
    /// of its hands, so that the caller decides what to send again once connected (rumqttc drops
    /// it all when the broker did not keep the session, and resends unacknowledged publishes in
    /// packet id order rather than in the order they were queued). Drops the publishes still
    /// queued to the event loop and any packet id collision, and returns the events produced
    /// for the lost connection but not handed out yet (for example the [`Delivery::Written`] of
    /// a publish whose write failed: it did get that packet id).
    pub fn abandon_outgoing(&mut self) -> Vec<Delivery> {
        match self {
            EventLoop::V4(events) => {
                events.clean();
                events.pending.clear();
                events.state.collision = None;
                events.state.events.drain(..).map(delivery4).collect()
            }
            EventLoop::V5(events) => {
                events.clean();
                events.pending.clear();
                events.state.collision = None;
                events.state.events.drain(..).map(delivery5).collect()
            }
        }
    }

    /// Queues, ahead of anything queued through the client, the retransmission of a publish
    /// under the packet identifier it had (DUP set). Only after [`EventLoop::abandon_outgoing`]
    /// and a CONNACK that resumed the session, in the original order.
    pub fn retransmit(&mut self, message: &OutgoingMessage, pkid: u16) {
        match self {
            EventLoop::V4(events) => {
                let publish = rumqttc::Publish {
                    dup: true,
                    qos: qos4(message.qos),
                    retain: message.retain,
                    topic: message.topic.clone(),
                    pkid,
                    payload: message.payload.clone(),
                };
                events.pending.push_back(rumqttc::Request::Publish(publish));
            }
            EventLoop::V5(events) => {
                let publish = mqtt5::Publish {
                    dup: true,
                    qos: qos5(message.qos),
                    retain: message.retain,
                    topic: Bytes::copy_from_slice(message.topic.as_bytes()),
                    pkid,
                    payload: message.payload.clone(),
                    properties: message.properties.as_ref().map(PublishProperties::v5),
                };
                events
                    .pending
                    .push_back(rumqttc::v5::Request::Publish(publish));
            }
        }
    }

    /// Like [`EventLoop::retransmit`], for a QoS 2 publish the broker already received (PUBREC):
    /// queues its PUBREL again.
    pub fn release(&mut self, pkid: u16) {
        match self {
            EventLoop::V4(events) => events
                .pending
                .push_back(rumqttc::Request::PubRel(rumqttc::PubRel::new(pkid))),
            EventLoop::V5(events) => events
                .pending
                .push_back(rumqttc::v5::Request::PubRel(mqtt5::PubRel::new(pkid, None))),
        }
    }

    /// Whether the next CONNECT asks for a clean session (MQTT 3.1.1) or a clean start (MQTT 5).
    pub fn set_clean_start(&mut self, clean: bool) {
        match self {
            EventLoop::V4(events) => {
                events.mqtt_options.set_clean_session(clean);
            }
            EventLoop::V5(events) => {
                events.options.set_clean_start(clean);
            }
        }
    }

    /// Waits for the next event. Not cancel-safe: always await it to completion.
    pub async fn poll(&mut self) -> Result<Event, PollError> {
        match self {
            EventLoop::V4(events) => match events.poll().await {
                Ok(event) => Ok(event4(event)),
                Err(e) => Err(error4(e)),
            },
            EventLoop::V5(events) => match events.poll().await {
                Ok(event) => Ok(event5(event)),
                Err(e) => Err(error5(e)),
            },
        }
    }

    /// After a failed poll: forgets everything tied to the lost connection, so that nothing of it
    /// reaches the next one. Acknowledgements still queued are dropped (their packet identifiers
    /// mean nothing on a new connection; the broker redelivers those messages instead), and so
    /// are packets read but not yet handed out (redelivered too).
    pub fn forget_connection(&mut self) {
        match self {
            EventLoop::V4(events) => {
                events.clean();
                events.pending.retain(|r| {
                    !matches!(r, rumqttc::Request::PubAck(_) | rumqttc::Request::PubRec(_))
                });
                events.state.events.clear();
            }
            EventLoop::V5(events) => {
                events.clean();
                events.pending.retain(|r| {
                    !matches!(
                        r,
                        rumqttc::v5::Request::PubAck(_) | rumqttc::v5::Request::PubRec(_)
                    )
                });
                events.state.events.clear();
            }
        }
    }

    /// Tells the state machine that QoS 2 message `pkid` was received (PUBREC sent) in an earlier
    /// connection, so that the broker's PUBREL for it is answered with PUBCOMP instead of
    /// failing the connection. rumqttc forgets these on reconnect; call it after CONNACK.
    pub fn expect_pubrel(&mut self, pkid: u16) {
        match self {
            EventLoop::V4(events) => {
                let mut publish = rumqttc::Publish::new("", rumqttc::QoS::ExactlyOnce, Vec::new());
                publish.pkid = pkid;
                if events
                    .state
                    .handle_incoming_packet(rumqttc::Packet::Publish(publish))
                    .is_ok()
                {
                    // Drop the event it queued: this is not a new message.
                    events.state.events.pop_back();
                }
            }
            EventLoop::V5(events) => {
                let mut publish = mqtt5::Publish::new(
                    "ferry/pubrel",
                    rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
                    Vec::new(),
                    None,
                );
                publish.pkid = pkid;
                if events
                    .state
                    .handle_incoming_packet(mqtt5::Packet::Publish(publish))
                    .is_ok()
                {
                    events.state.events.pop_back();
                }
            }
        }
    }
}

fn event4(event: rumqttc::Event) -> Event {
    use rumqttc::{Event as E, Outgoing, Packet};
    match event {
        E::Incoming(Packet::ConnAck(connack)) => Event::Connected {
            session_present: connack.session_present,
        },
        E::Incoming(Packet::Publish(p)) => Event::Message(Message {
            topic: p.topic,
            payload: p.payload.to_vec(),
            qos: p.qos as u8,
            retain: p.retain,
            dup: p.dup,
            pkid: p.pkid,
            properties: None,
            received_ms: now_ms(),
            epoch: 0,
        }),
        E::Incoming(Packet::SubAck(suback)) => Event::Subscribed {
            refused: suback
                .return_codes
                .iter()
                .enumerate()
                .filter(|(_, c)| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                .map(|(i, _)| (i, "refused (0x80)".to_string()))
                .collect(),
        },
        E::Outgoing(Outgoing::PubAck(_) | Outgoing::PubRec(_)) => Event::AckWritten,
        E::Outgoing(Outgoing::Disconnect) => Event::DisconnectSent,
        _ => Event::Other,
    }
}

fn event5(event: rumqttc::v5::Event) -> Event {
    use mqtt5::Packet;
    use rumqttc::v5::Event as E;
    use rumqttc::Outgoing;
    match event {
        E::Incoming(Packet::ConnAck(connack)) => Event::Connected {
            session_present: connack.session_present,
        },
        E::Incoming(Packet::Publish(p)) => Event::Message(Message {
            topic: String::from_utf8_lossy(&p.topic).into_owned(),
            payload: p.payload.to_vec(),
            qos: p.qos as u8,
            retain: p.retain,
            dup: p.dup,
            pkid: p.pkid,
            properties: Some(
                p.properties
                    .map(|props| Properties {
                        user_properties: props.user_properties,
                        content_type: props.content_type,
                        response_topic: props.response_topic,
                        correlation_data: props.correlation_data.map(|d| d.to_vec()),
                    })
                    .unwrap_or_default(),
            ),
            received_ms: now_ms(),
            epoch: 0,
        }),
        E::Incoming(Packet::SubAck(suback)) => Event::Subscribed {
            refused: suback
                .return_codes
                .iter()
                .enumerate()
                .filter(|(_, c)| !matches!(c, mqtt5::SubscribeReasonCode::Success(_)))
                .map(|(i, c)| (i, format!("{c:?}")))
                .collect(),
        },
        E::Outgoing(Outgoing::PubAck(_) | Outgoing::PubRec(_)) => Event::AckWritten,
        E::Outgoing(Outgoing::Disconnect) => Event::DisconnectSent,
        _ => Event::Other,
    }
}

fn delivery4(event: rumqttc::Event) -> Delivery {
    use rumqttc::{Event as E, Outgoing, Packet};
    match event {
        E::Incoming(Packet::ConnAck(connack)) => Delivery::Connected {
            session_present: connack.session_present,
            receive_maximum: None,
            maximum_packet_size: None,
        },
        E::Outgoing(Outgoing::Publish(pkid)) => Delivery::Written(pkid),
        E::Outgoing(Outgoing::AwaitAck(pkid)) => Delivery::Waiting(pkid),
        E::Incoming(Packet::PubAck(ack)) => Delivery::PubAck {
            pkid: ack.pkid,
            refused: None,
        },
        E::Incoming(Packet::PubRec(ack)) => Delivery::PubRec {
            pkid: ack.pkid,
            refused: None,
        },
        E::Incoming(Packet::PubComp(ack)) => Delivery::PubComp {
            pkid: ack.pkid,
            refused: None,
        },
        E::Outgoing(Outgoing::Disconnect) => Delivery::DisconnectSent,
        _ => Delivery::Other,
    }
}

fn delivery5(event: rumqttc::v5::Event) -> Delivery {
    use mqtt5::{Packet, PubAckReason, PubCompReason, PubRecReason};
    use rumqttc::v5::Event as E;
    use rumqttc::Outgoing;
    match event {
        E::Incoming(Packet::ConnAck(connack)) => Delivery::Connected {
            session_present: connack.session_present,
            receive_maximum: connack.properties.as_ref().and_then(|p| p.receive_max),
            maximum_packet_size: connack.properties.as_ref().and_then(|p| p.max_packet_size),
        },
        E::Outgoing(Outgoing::Publish(pkid)) => Delivery::Written(pkid),
        E::Outgoing(Outgoing::AwaitAck(pkid)) => Delivery::Waiting(pkid),
        E::Incoming(Packet::PubAck(ack)) => Delivery::PubAck {
            pkid: ack.pkid,
            refused: match ack.reason {
                PubAckReason::Success | PubAckReason::NoMatchingSubscribers => None,
                reason => Some(format!("{reason:?}")),
            },
        },
        E::Incoming(Packet::PubRec(ack)) => Delivery::PubRec {
            pkid: ack.pkid,
            refused: match ack.reason {
                PubRecReason::Success | PubRecReason::NoMatchingSubscribers => None,
                reason => Some(format!("{reason:?}")),
            },
        },
        E::Incoming(Packet::PubComp(ack)) => Delivery::PubComp {
            pkid: ack.pkid,
            refused: match ack.reason {
                PubCompReason::Success => None,
                reason => Some(format!("{reason:?}")),
            },
        },
        E::Outgoing(Outgoing::Disconnect) => Delivery::DisconnectSent,
        _ => Delivery::Other,
    }
}

fn error4(error: rumqttc::ConnectionError) -> PollError {
    use rumqttc::{ConnectReturnCode as C, ConnectionError as E, StateError};
    match &error {
        E::ConnectionRefused(code) => match code {
            C::BadUserNamePassword | C::NotAuthorized => PollError::Refused(format!(
                "the MQTT broker refused the connection ({code:?}): check `mqtt.username` and \
                 `mqtt.password`"
            )),
            C::BadClientId => PollError::Refused(format!(
                "the MQTT broker refused the client identifier ({code:?}): check `mqtt.client.id`"
            )),
            C::RefusedProtocolVersion => PollError::Refused(
                "the MQTT broker does not accept MQTT 3.1.1: check `mqtt.version`".to_string(),
            ),
            _ => PollError::Connection(error.to_string()),
        },
        E::MqttState(StateError::Unsolicited(pkid)) => PollError::UnknownPubRel(*pkid),
        _ => tls_refusal(&error).unwrap_or_else(|| PollError::Connection(error.to_string())),
    }
}

fn error5(error: rumqttc::v5::ConnectionError) -> PollError {
    use mqtt5::ConnectReturnCode as C;
    use rumqttc::v5::{ConnectionError as E, StateError};
    match &error {
        E::ConnectionRefused(code) => match code {
            C::BadUserNamePassword | C::NotAuthorized | C::BadAuthenticationMethod | C::Banned => {
                PollError::Refused(format!(
                    "the MQTT broker refused the connection ({code:?}): check `mqtt.username` and \
                     `mqtt.password`"
                ))
            }
            C::BadClientId | C::ClientIdentifierNotValid => PollError::Refused(format!(
                "the MQTT broker refused the client identifier ({code:?}): check `mqtt.client.id`"
            )),
            C::RefusedProtocolVersion | C::UnsupportedProtocolVersion => PollError::Refused(
                "the MQTT broker does not accept MQTT 5: check `mqtt.version`".to_string(),
            ),
            _ => PollError::Connection(error.to_string()),
        },
        E::MqttState(StateError::Unsolicited(pkid)) => PollError::UnknownPubRel(*pkid),
        _ => tls_refusal(&error).unwrap_or_else(|| PollError::Connection(error.to_string())),
    }
}

/// A TLS failure that names a certificate problem: retrying cannot fix it.
fn tls_refusal(error: &(dyn std::error::Error + 'static)) -> Option<PollError> {
    let mut current = Some(error);
    while let Some(e) = current {
        let rustls_error = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls_error) = rustls_error {
            return certificate_problem(rustls_error).map(PollError::Refused);
        }
        current = e.source();
    }
    None
}

fn certificate_problem(error: &rustls::Error) -> Option<String> {
    use rustls::AlertDescription as A;
    match error {
        rustls::Error::InvalidCertificate(why) => Some(format!(
            "the MQTT broker's TLS certificate was rejected ({why:?}): set `mqtt.ssl.ca.file` to \
             the PEM file of the CA that signed it (for throwaway test brokers only: \
             `mqtt.ssl.insecure.skip.verify=true`)"
        )),
        rustls::Error::AlertReceived(
            alert @ (A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::CertificateRequired
            | A::AccessDenied),
        ) => Some(format!(
            "the MQTT broker rejected this client's TLS certificate ({alert:?}): check \
             `mqtt.ssl.cert.file` and `mqtt.ssl.key.file`"
        )),
        _ => None,
    }
}
