//! The MQTT sink connector's configuration: Kafka Connect-style keys, typed and documented.
//!
//! Every field's doc comment is its description in the worker's `validate` endpoint and in
//! `GET /connector-plugins/{class}/config`. The connection keys (`mqtt.server.uri`, `mqtt.ssl.*`,
//! `mqtt.client.id`, `mqtt.username`, ...) are the MQTT source connector's, from
//! [`MqttConnectionConfig`]. Keys the worker owns (`topics`, `topics.regex`, `errors.*`,
//! converters, ...) are set aside by the API before parsing. [`MqttSinkConfig::check`] adds the
//! checks a schema cannot express (URI, TLS files, the topic template).

use std::time::Duration;

use ferry_api::config::ConfigIssue;
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::ConnectError;
use ferry_mqtt_common::config::{MqttConnectionConfig, MqttVersion};

use crate::routing::TopicTemplate;

/// Configuration of the MQTT sink connector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde")]
// Unknown keys are refused from the schema: serde cannot deny them next to `flatten`.
#[schemars(crate = "ferry_api::schemars", deny_unknown_fields)]
pub struct MqttSinkConfig {
    /// MQTT topic each record is published to: a name (`alerts/all`) or a template over the
    /// record: `{topic}` (Kafka topic), `{partition}`, `{key}` (the key as UTF-8), `{header.NAME}`
    /// and `{value.FIELD}` (a field of the JSON value; `{value.a.b}` for nested fields), e.g.
    /// `cars/{key}/alerts`. A record whose topic cannot be made (no key, missing header or field,
    /// value not JSON, result not a valid topic name) is errant: `errors.tolerance=none` fails the
    /// task, `all` skips it and writes it to `errors.deadletterqueue.topic.name` when set.
    #[serde(rename = "mqtt.topic")]
    pub topic: String,

    /// QoS of the publishes: 0 (at most once: a record counts as delivered once written to the
    /// network), 1 (at least once, the default: delivered when the broker's PUBACK arrives) or 2
    /// (exactly once between connector and broker: delivered at PUBCOMP). A record can override
    /// it with the header named by `mqtt.qos.header`.
    #[serde(rename = "mqtt.qos", default = "default_qos")]
    #[schemars(range(min = 0, max = 2))]
    pub qos: u8,

    /// Publish with the retain flag, so the broker keeps each topic's last message for future
    /// subscribers. A record can override it with the header named by `mqtt.retain.header`. A
    /// record with a null value is published with an empty payload, which with retain clears the
    /// topic's retained message.
    #[serde(rename = "mqtt.retain", default)]
    pub retain: bool,

    /// Most records a task holds that the broker has not acknowledged yet (queued, being written,
    /// or waiting for PUBACK / PUBCOMP). When reached, `put` waits for acknowledgements up to
    /// `mqtt.put.timeout.ms`. Also the most QoS 1 and 2 publishes in flight on the connection
    /// (MQTT 5: fewer if the broker's Receive Maximum is lower).
    #[serde(rename = "mqtt.max.inflight", default = "default_max_inflight")]
    #[schemars(range(min = 1, max = 65535))]
    pub max_inflight: u32,

    /// How long a `put` waits for room when `mqtt.max.inflight` records are unacknowledged, in
    /// milliseconds. Then it returns a retriable error and the worker hands the same records
    /// again after a backoff; those already accepted are not published twice.
    #[serde(rename = "mqtt.put.timeout.ms", default = "default_put_timeout")]
    pub put_timeout_ms: u64,

    /// How long an offset commit (every `offset.flush.interval.ms`, before partitions are
    /// revoked, and when the task stops) waits for the broker to acknowledge the records handed
    /// over so far, in milliseconds. The offsets of records still unacknowledged then are not
    /// committed; a later commit does. `stop` waits as long before disconnecting.
    #[serde(rename = "mqtt.flush.timeout.ms", default = "default_flush_timeout")]
    pub flush_timeout_ms: u64,

    /// Record header whose value (`0`, `1` or `2`) overrides `mqtt.qos` for that record; any other
    /// value makes the record errant. Empty: no override.
    #[serde(rename = "mqtt.qos.header", default = "default_qos_header")]
    pub qos_header: String,

    /// Record header whose value (`true` or `false`) overrides `mqtt.retain` for that record; any
    /// other value makes the record errant. Empty: no override. (The MQTT source connector's
    /// `mqtt.retained` header is deliberately not this one.)
    #[serde(rename = "mqtt.retain.header", default = "default_retain_header")]
    pub retain_header: String,

    /// MQTT 5: record headers whose name starts with this prefix become user properties, named
    /// without the prefix (`mqtt.user.unit: celsius` → user property `unit: celsius`). Values
    /// must be UTF-8. Empty: none. Ignored with MQTT 3.1.1.
    #[serde(
        rename = "mqtt.user.property.header.prefix",
        default = "default_user_property_prefix"
    )]
    pub user_property_header_prefix: String,

    /// MQTT 5: record header whose value (UTF-8) is sent as the content type. Empty: none.
    /// Ignored with MQTT 3.1.1.
    #[serde(
        rename = "mqtt.content.type.header",
        default = "default_content_type_header"
    )]
    pub content_type_header: String,

    /// MQTT 5: record header whose value, in seconds, is sent as the message expiry interval (the
    /// broker drops the message for subscribers that have not received it by then). Any value
    /// other than a whole number of seconds makes the record errant. Empty: none. Ignored with
    /// MQTT 3.1.1.
    #[serde(
        rename = "mqtt.message.expiry.header",
        default = "default_message_expiry_header"
    )]
    pub message_expiry_header: String,

    /// The broker connection: `mqtt.server.uri`, `mqtt.version`, `mqtt.client.id`, credentials,
    /// TLS, session and reconnect settings.
    #[serde(flatten)]
    pub connection: MqttConnectionConfig,
}

fn default_qos() -> u8 {
    1
}
fn default_max_inflight() -> u32 {
    1000
}
fn default_put_timeout() -> u64 {
    5_000
}
fn default_flush_timeout() -> u64 {
    5_000
}
fn default_qos_header() -> String {
    "mqtt.qos".to_string()
}
fn default_retain_header() -> String {
    "mqtt.retain".to_string()
}
fn default_user_property_prefix() -> String {
    "mqtt.user.".to_string()
}
fn default_content_type_header() -> String {
    "mqtt.content.type".to_string()
}
fn default_message_expiry_header() -> String {
    "mqtt.message.expiry.interval".to_string()
}

/// Parses a configuration map and runs every check; the first issue becomes the error.
pub fn parse(config: &ferry_api::ConfigMap) -> Result<MqttSinkConfig, ConnectError> {
    ferry_api::config::parse_checked(config, MqttSinkConfig::check)
}

impl MqttSinkConfig {
    /// The checks the schema cannot express; one issue per problem, naming the key and the fix.
    pub fn check(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        if let Err(e) = TopicTemplate::parse(&self.topic) {
            issues.push(ConfigIssue::new("mqtt.topic", e));
        }
        issues.extend(self.connection.check());
        let prefix = &self.user_property_header_prefix;
        for (key, header) in [
            ("mqtt.qos.header", &self.qos_header),
            ("mqtt.retain.header", &self.retain_header),
            ("mqtt.content.type.header", &self.content_type_header),
            ("mqtt.message.expiry.header", &self.message_expiry_header),
        ] {
            if !prefix.is_empty() && !header.is_empty() && header.starts_with(prefix.as_str()) {
                issues.push(ConfigIssue::new(
                    key,
                    format!(
                        "`{header}` starts with `mqtt.user.property.header.prefix` \
                         (`{prefix}`), so it would also become a user property; pick another \
                         name"
                    ),
                ));
            }
        }
        issues
    }

    /// True for MQTT 5.
    pub fn v5(&self) -> bool {
        self.connection.version == MqttVersion::V5
    }

    /// `mqtt.max.inflight` as MQTT's 16-bit count.
    pub fn max_inflight(&self) -> u16 {
        self.max_inflight.clamp(1, u16::MAX.into()) as u16
    }

    /// `mqtt.put.timeout.ms`.
    pub fn put_timeout(&self) -> Duration {
        Duration::from_millis(self.put_timeout_ms)
    }

    /// `mqtt.flush.timeout.ms`.
    pub fn flush_timeout(&self) -> Duration {
        Duration::from_millis(self.flush_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::ConfigMap;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn with(extra: &[(&str, &str)]) -> ConfigMap {
        let mut pairs = vec![
            ("name", "alerts"),
            ("connector.class", "MqttSink"),
            ("topics", "car-alerts"),
            ("errors.tolerance", "all"),
            ("mqtt.server.uri", "tcp://127.0.0.1:1883"),
            ("mqtt.topic", "cars/{key}/alerts"),
        ];
        pairs.extend_from_slice(extra);
        map(&pairs)
    }

    fn issues(config: &ConfigMap) -> Vec<ConfigIssue> {
        match ferry_api::config::parse::<MqttSinkConfig>(config) {
            Ok(parsed) => parsed.check(),
            Err(issues) => issues,
        }
    }

    #[test]
    fn defaults() {
        let config = parse(&with(&[])).unwrap();
        assert_eq!(config.qos, 1);
        assert!(!config.retain);
        assert_eq!(config.max_inflight(), 1000);
        assert_eq!(config.put_timeout(), Duration::from_secs(5));
        assert_eq!(config.flush_timeout(), Duration::from_secs(5));
        assert_eq!(config.qos_header, "mqtt.qos");
        assert_eq!(config.retain_header, "mqtt.retain");
        assert_eq!(config.user_property_header_prefix, "mqtt.user.");
        assert!(!config.v5());
        assert!(!config.connection.clean_session);
    }

    #[test]
    fn check_names_each_offending_key() {
        let found = issues(&with(&[("mqtt.qos", "3")]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "mqtt.qos");
        assert!(found[0].message.contains("at most 2"));

        let found = issues(&with(&[
            ("mqtt.topic", "cars/{car}/alerts"),
            ("mqtt.server.uri", "http://broker"),
        ]));
        let fields: Vec<&str> = found.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["mqtt.topic", "mqtt.server.uri"], "{found:?}");
        assert!(found[0].message.contains("unknown placeholder `{car}`"));

        let found = issues(&with(&[("mqtt.topic", "cars/{key/alerts")]));
        assert!(found[0].message.contains("never closed"), "{found:?}");

        let found = issues(&with(&[
            ("mqtt.server.uri", "ssl://broker:8883"),
            ("mqtt.ssl.ca.file", "/nonexistent/ca.pem"),
        ]));
        assert_eq!(found[0].field, "mqtt.ssl.ca.file", "{found:?}");

        let found = issues(&with(&[("mqtt.qos.header", "mqtt.user.qos")]));
        assert_eq!(found[0].field, "mqtt.qos.header", "{found:?}");

        let found = issues(&with(&[("mqtt.topik", "x")]));
        assert!(
            found[0].message.contains("did you mean `mqtt.topic`"),
            "{found:?}"
        );
    }
}
