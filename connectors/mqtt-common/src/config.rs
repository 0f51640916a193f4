//! The connection keys every MQTT connector accepts, typed and documented once.
//!
//! A connector embeds [`MqttConnectionConfig`] in its own configuration with `#[serde(flatten)]`,
//! so `mqtt.server.uri`, `mqtt.ssl.*`, `mqtt.client.id`, ... mean the same everywhere and the
//! doc comments below are their descriptions in the worker's `validate` endpoint. Serde refuses
//! `deny_unknown_fields` next to `flatten`, so the embedding struct puts it on the schema only
//! (`#[schemars(deny_unknown_fields)]`): the API rejects unknown keys from the schema before
//! deserializing, with a "did you mean" hint.

use std::path::PathBuf;
use std::time::Duration;

use ferry_api::config::ConfigIssue;
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::{Deserialize, Serialize};
use ferry_api::{ConnectError, TaskContext};

use crate::connection::{ConnectionSettings, ServerUri, TlsSettings};

/// MQTT protocol version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(crate = "ferry_api::serde")]
#[schemars(crate = "ferry_api::schemars")]
pub enum MqttVersion {
    /// MQTT 3.1.1.
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5.
    #[serde(rename = "5")]
    V5,
}

/// How to reach and authenticate to the MQTT broker.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde")]
#[schemars(crate = "ferry_api::schemars")]
pub struct MqttConnectionConfig {
    /// Broker address: `tcp://host:port` (or `mqtt://`) for plain TCP, `ssl://host:port` (or
    /// `mqtts://`) for TLS, e.g. `tcp://127.0.0.1:1883`. The port defaults to 1883 / 8883.
    #[serde(rename = "mqtt.server.uri")]
    pub server_uri: String,

    /// MQTT protocol version: `3.1.1` or `5`.
    #[serde(rename = "mqtt.version", default)]
    pub version: MqttVersion,

    /// MQTT client identifier. Each task connects as `<this>-<task number>`, or with `{task}`
    /// replaced by the task number when the value contains it. Defaults to the connector name,
    /// so ids are stable across restarts.
    #[serde(rename = "mqtt.client.id", default)]
    pub client_id: Option<String>,

    /// User name for the broker.
    #[serde(rename = "mqtt.username", default)]
    pub username: Option<String>,

    /// Password for the broker. A secret: REST answers show it as `[hidden]`; better still, give
    /// a reference such as `${file:/etc/ferry/secrets.properties:mqtt.password}`.
    #[serde(rename = "mqtt.password", default)]
    #[schemars(extend("writeOnly" = true))]
    pub password: Option<String>,

    /// Seconds to wait for the TCP connection, the TLS handshake and the broker's CONNACK.
    #[serde(
        rename = "mqtt.connect.timeout.seconds",
        default = "default_connect_timeout"
    )]
    #[schemars(range(min = 1, max = 3600))]
    pub connect_timeout_seconds: u32,

    /// Keep-alive interval in seconds; 0 disables keep-alive pings (MQTT 3.1.1 only; MQTT 5
    /// needs at least 5).
    #[serde(
        rename = "mqtt.keepalive.interval.seconds",
        default = "default_keepalive"
    )]
    pub keepalive_interval_seconds: u16,

    /// Start a clean session on every connect instead of resuming the broker's persistent
    /// session for this client id.
    #[serde(rename = "mqtt.clean.session.enabled", default)]
    pub clean_session: bool,

    /// MQTT 5 only: how long the broker keeps the persistent session after a disconnect, in
    /// seconds; 4294967295 (the default) means never expire, as an MQTT 3.1.1 persistent
    /// session. Ignored with `mqtt.clean.session.enabled=true`.
    #[serde(
        rename = "mqtt.session.expiry.interval.seconds",
        default = "default_session_expiry"
    )]
    pub session_expiry_interval_seconds: u32,

    /// PEM file with the CA certificates that sign the broker's certificate. When unset, the
    /// system's root certificates are trusted.
    #[serde(rename = "mqtt.ssl.ca.file", default)]
    pub ssl_ca_file: Option<PathBuf>,

    /// PEM file with this client's certificate (chain), for brokers that require mutual TLS;
    /// needs `mqtt.ssl.key.file`.
    #[serde(rename = "mqtt.ssl.cert.file", default)]
    pub ssl_cert_file: Option<PathBuf>,

    /// PEM file with the private key of `mqtt.ssl.cert.file` (PKCS#8, PKCS#1 or SEC1).
    #[serde(rename = "mqtt.ssl.key.file", default)]
    pub ssl_key_file: Option<PathBuf>,

    /// Accept any broker certificate without verification. Insecure: for test brokers with
    /// throwaway certificates only; a warning is logged at every connect.
    #[serde(rename = "mqtt.ssl.insecure.skip.verify", default)]
    pub ssl_insecure_skip_verify: bool,

    /// Largest MQTT packet sent or accepted, in bytes (MQTT's maximum by default).
    #[serde(
        rename = "mqtt.max.packet.size.bytes",
        default = "default_max_packet_size"
    )]
    #[schemars(range(min = 1024, max = 268435455))]
    pub max_packet_size_bytes: u32,

    /// First wait before reconnecting after a lost connection, in milliseconds; doubles at each
    /// failed attempt up to `mqtt.reconnect.backoff.max.ms`.
    #[serde(
        rename = "mqtt.reconnect.backoff.initial.ms",
        default = "default_backoff_initial"
    )]
    #[schemars(range(min = 1))]
    pub reconnect_backoff_initial_ms: u64,

    /// Longest wait between reconnection attempts, in milliseconds.
    #[serde(
        rename = "mqtt.reconnect.backoff.max.ms",
        default = "default_backoff_max"
    )]
    #[schemars(range(min = 1))]
    pub reconnect_backoff_max_ms: u64,
}

fn default_connect_timeout() -> u32 {
    30
}
fn default_keepalive() -> u16 {
    60
}
fn default_session_expiry() -> u32 {
    u32::MAX
}
fn default_max_packet_size() -> u32 {
    268_435_455
}
fn default_backoff_initial() -> u64 {
    100
}
fn default_backoff_max() -> u64 {
    30_000
}

impl MqttConnectionConfig {
    /// The checks the schema cannot express (URI, TLS files, credentials, version limits); one
    /// issue per problem, naming the key and the fix.
    pub fn check(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        match self.server_uri.parse::<ServerUri>() {
            Ok(server) => issues.extend(self.tls().check(server.tls)),
            Err(e) => issues.push(ConfigIssue::new("mqtt.server.uri", e)),
        }
        if self.password.is_some() && self.username.is_none() {
            issues.push(ConfigIssue::new(
                "mqtt.username",
                "`mqtt.password` is set without a user name; set `mqtt.username` too",
            ));
        }
        if let Some(id) = &self.client_id {
            if id.trim().is_empty() || id.starts_with(' ') {
                issues.push(ConfigIssue::new(
                    "mqtt.client.id",
                    "must not be empty or start with a space; leave it unset to use the \
                     connector name",
                ));
            }
        }
        if self.version == MqttVersion::V5 && self.keepalive_interval_seconds < 5 {
            issues.push(ConfigIssue::new(
                "mqtt.keepalive.interval.seconds",
                format!(
                    "{} is too short with `mqtt.version=5`: the MQTT 5 client needs at least 5 \
                     seconds (0, no keep-alive, works with 3.1.1 only)",
                    self.keepalive_interval_seconds
                ),
            ));
        }
        if self.reconnect_backoff_initial_ms > self.reconnect_backoff_max_ms {
            issues.push(ConfigIssue::new(
                "mqtt.reconnect.backoff.initial.ms",
                format!(
                    "{} is more than `mqtt.reconnect.backoff.max.ms` ({}); lower it or raise the \
                     maximum",
                    self.reconnect_backoff_initial_ms, self.reconnect_backoff_max_ms
                ),
            ));
        }
        issues
    }

    /// The TLS settings, from `mqtt.ssl.*`.
    pub fn tls(&self) -> TlsSettings {
        TlsSettings {
            ca_file: self.ssl_ca_file.clone(),
            cert_file: self.ssl_cert_file.clone(),
            key_file: self.ssl_key_file.clone(),
            insecure_skip_verify: self.ssl_insecure_skip_verify,
        }
    }

    /// The client identifier of a task: stable for a connector name and task number.
    pub fn client_id(&self, task: &TaskContext) -> String {
        let base = self
            .client_id
            .clone()
            .unwrap_or_else(|| task.connector.trim().to_string());
        if base.contains("{task}") {
            base.replace("{task}", &task.task.to_string())
        } else {
            format!("{base}-{}", task.task)
        }
    }

    /// First wait before a reconnect.
    pub fn backoff_initial(&self) -> Duration {
        Duration::from_millis(self.reconnect_backoff_initial_ms)
    }

    /// Longest wait between reconnects.
    pub fn backoff_max(&self) -> Duration {
        Duration::from_millis(self.reconnect_backoff_max_ms)
    }

    /// How a task connects. `receive_maximum`, `manual_acks` and `request_capacity` depend on
    /// what the connector does with the connection.
    pub fn settings(
        &self,
        task: &TaskContext,
        receive_maximum: u16,
        manual_acks: bool,
        request_capacity: usize,
    ) -> Result<ConnectionSettings, ConnectError> {
        let server = self
            .server_uri
            .parse::<ServerUri>()
            .map_err(|e| ConnectError::config("mqtt.server.uri", e))?;
        Ok(ConnectionSettings {
            server,
            client_id: self.client_id(task),
            username: self.username.clone(),
            password: self.password.clone(),
            clean_session: self.clean_session,
            session_expiry_seconds: self.session_expiry_interval_seconds,
            keep_alive: Duration::from_secs(self.keepalive_interval_seconds.into()),
            connect_timeout: Duration::from_secs(self.connect_timeout_seconds.into()),
            max_packet_size: self.max_packet_size_bytes,
            receive_maximum,
            manual_acks,
            request_capacity,
            tls: self.tls(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::ConfigMap;

    /// A connector configuration embedding the connection keys, as connectors do.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(crate = "ferry_api::serde")]
    #[schemars(crate = "ferry_api::schemars", deny_unknown_fields)]
    struct Embedding {
        /// Where to publish.
        #[serde(rename = "mqtt.topic")]
        topic: String,
        #[serde(flatten)]
        connection: MqttConnectionConfig,
    }

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn task(n: u32) -> TaskContext {
        TaskContext {
            connector: "cars".into(),
            task: n,
        }
    }

    #[test]
    fn flattened_keys_parse_and_are_documented() {
        let parsed: Embedding = ferry_api::config::parse(&map(&[
            ("name", "cars"),
            ("mqtt.topic", "a/b"),
            ("mqtt.server.uri", "tcp://127.0.0.1:1883"),
            ("mqtt.version", "5"),
            ("mqtt.keepalive.interval.seconds", "10"),
            ("mqtt.ssl.insecure.skip.verify", "false"),
        ]))
        .unwrap();
        assert_eq!(parsed.topic, "a/b");
        let connection = &parsed.connection;
        assert_eq!(connection.version, MqttVersion::V5);
        assert_eq!(connection.keepalive_interval_seconds, 10);
        assert_eq!(connection.connect_timeout_seconds, 30);
        assert!(!connection.clean_session);
        assert_eq!(connection.client_id(&task(3)), "cars-3");
        assert!(connection.check().is_empty());

        let schema: ferry_api::serde_json::Value =
            ferry_api::serde_json::from_str(&ferry_api::config::schema_json::<Embedding>())
                .unwrap();
        for key in ["mqtt.topic", "mqtt.server.uri", "mqtt.ssl.ca.file"] {
            let description = schema["properties"][key]["description"]
                .as_str()
                .unwrap_or_default();
            assert!(!description.is_empty(), "{key} has no description");
        }
    }

    #[test]
    fn unknown_and_bad_keys_are_named() {
        let issues = ferry_api::config::validate::<Embedding>(&map(&[
            ("mqtt.topic", "a"),
            ("mqtt.server.uri", "tcp://127.0.0.1:1883"),
            ("mqtt.servr.uri", "x"),
            ("mqtt.version", "4"),
            ("mqtt.connect.timeout.seconds", "0"),
        ]));
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert!(fields.contains(&"mqtt.servr.uri"), "{issues:?}");
        assert!(fields.contains(&"mqtt.version"), "{issues:?}");
        assert!(
            fields.contains(&"mqtt.connect.timeout.seconds"),
            "{issues:?}"
        );
        let missing = ferry_api::config::validate::<Embedding>(&map(&[("mqtt.topic", "a")]));
        assert_eq!(missing[0].field, "mqtt.server.uri", "{missing:?}");
    }

    #[test]
    fn checks_name_each_key() {
        let parsed: Embedding = ferry_api::config::parse(&map(&[
            ("mqtt.topic", "a"),
            ("mqtt.server.uri", "ssl://broker:x"),
            ("mqtt.password", "secret"),
            ("mqtt.client.id", " "),
            ("mqtt.reconnect.backoff.initial.ms", "5000"),
            ("mqtt.reconnect.backoff.max.ms", "100"),
        ]))
        .unwrap();
        let issues = parsed.connection.check();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "mqtt.server.uri",
                "mqtt.username",
                "mqtt.client.id",
                "mqtt.reconnect.backoff.initial.ms"
            ]
        );

        let parsed: Embedding = ferry_api::config::parse(&map(&[
            ("mqtt.topic", "a"),
            ("mqtt.server.uri", "ssl://broker"),
            ("mqtt.ssl.cert.file", "/nonexistent/cert.pem"),
            ("mqtt.version", "5"),
            ("mqtt.keepalive.interval.seconds", "0"),
        ]))
        .unwrap();
        let issues = parsed.connection.check();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "mqtt.ssl.cert.file",
                "mqtt.ssl.key.file",
                "mqtt.keepalive.interval.seconds"
            ]
        );
    }

    #[test]
    fn client_ids_follow_the_task() {
        let parsed: Embedding = ferry_api::config::parse(&map(&[
            ("mqtt.topic", "a"),
            ("mqtt.server.uri", "tcp://127.0.0.1"),
            ("mqtt.client.id", "bridge-{task}-eu"),
        ]))
        .unwrap();
        assert_eq!(parsed.connection.client_id(&task(1)), "bridge-1-eu");
        let settings = parsed.connection.settings(&task(1), 10, false, 64).unwrap();
        assert_eq!(settings.client_id, "bridge-1-eu");
        assert_eq!(settings.server.port, 1883);
    }
}
