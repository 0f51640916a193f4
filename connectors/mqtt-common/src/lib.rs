//! What Ferry's MQTT connectors share: how to reach a broker and one face over rumqttc's MQTT
//! 3.1.1 and MQTT 5 clients.
//!
//! - [`config`]: the connection keys (`mqtt.server.uri`, `mqtt.ssl.*`, `mqtt.client.id`, ...),
//!   typed and documented once, embedded by each connector's configuration;
//! - [`connection`]: URI parsing, TLS and the rumqttc options built from those keys;
//! - [`client`]: the client and event loop for either protocol version, with a subscriber's view
//!   of the events (the source connector) and a publisher's view (the sink connector).

pub mod backoff;
pub mod client;
pub mod config;
pub mod connection;
