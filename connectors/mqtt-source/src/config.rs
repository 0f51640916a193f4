//! The MQTT source connector's configuration: Kafka Connect-style keys, typed and documented.
//!
//! Every field's doc comment is its description in the worker's `validate` endpoint and in
//! `GET /connector-plugins/{class}/config`. The connection keys (`mqtt.server.uri`, `mqtt.ssl.*`,
//! `mqtt.client.id`, `mqtt.username`, ...) are shared with the MQTT sink connector, from
//! [`MqttConnectionConfig`]. [`MqttSourceConfig::check`] adds the checks a schema cannot express
//! (URI, topic filters, templates, TLS files).

use ferry_api::config::ConfigIssue;
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::{Deserialize, Serialize};
use ferry_api::{ConnectError, TaskContext};
pub use ferry_mqtt_common::config::{MqttConnectionConfig, MqttVersion};

use crate::connection::ConnectionSettings;
use crate::mapping::{check_filter, Mapping};

/// The task configuration key that carries a task's share of the filters in `filters` split
/// mode. Set by the connector; not meant for users.
pub const TASK_FILTERS_KEY: &str = "mqtt.task.filters";

/// Configuration of the MQTT source connector.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde")]
// Unknown keys are refused from the schema: serde cannot deny them next to `flatten`.
#[schemars(crate = "ferry_api::schemars", deny_unknown_fields)]
pub struct MqttSourceConfig {
    /// Comma-separated MQTT topic filters to subscribe to; `+` matches one level, `#` (last)
    /// any number of levels, e.g. `vehicles/sensor/data/+,alerts/#`.
    #[serde(rename = "mqtt.topics")]
    pub topics: Vec<String>,

    /// Destination Kafka topic: a name (`sensor-data`) or a template over the MQTT topic:
    /// `{N}` is MQTT topic level N counting from 0 (`vehicles.{3}` sends
    /// `vehicles/sensor/data/car-7` to `vehicles.car-7`), `{topic}` the whole MQTT topic, and with
    /// `kafka.topic.regex`, `$N` (or `${N}`) capture group N. Substituted text has `/` replaced by
    /// `.` and characters Kafka does not allow by `_`. A message whose topic lacks a level used
    /// here (possible with `#` filters) or does not match the regex fails the task before it is
    /// acknowledged, so the broker redelivers it after the configuration is fixed.
    #[serde(rename = "kafka.topic")]
    pub kafka_topic: String,

    /// Regular expression matched against the whole MQTT topic (implicitly anchored), whose
    /// capture groups `$1`, `$2`... can be used in `kafka.topic`, e.g.
    /// `vehicles/([^/]+)/data/(.+)` with `kafka.topic` = `fleet-$1`.
    #[serde(rename = "kafka.topic.regex", default)]
    pub kafka_topic_regex: Option<String>,

    /// Kafka record key: `topic` (the MQTT topic), `level:N` (MQTT topic level N, from 0, e.g.
    /// `level:3` for the car id of `vehicles/sensor/data/car-7`) or `none`.
    #[serde(rename = "kafka.key", default = "default_key")]
    pub kafka_key: String,

    /// QoS of the subscriptions: 0 (at most once), 1 (at least once) or 2 (exactly once between
    /// broker and connector). Kafka delivery is at least once for QoS 1 and 2 with a persistent
    /// session.
    #[serde(rename = "mqtt.qos", default = "default_qos")]
    #[schemars(range(min = 0, max = 2))]
    pub qos: u8,

    /// How transformations see the payload: `bytes` (opaque, the default) or `json` (a
    /// schemaless JSON value, for field transformations such as `InsertField$Value`). The
    /// payload is parsed only when a transformation looks inside; one that is not JSON then
    /// follows `errors.tolerance`. Without transformations the bytes are written unchanged.
    #[serde(rename = "mqtt.payload.format", default)]
    pub payload_format: PayloadFormatConfig,

    /// Drop messages the broker sends because they were retained when the subscription was
    /// made (they are still acknowledged). Live messages are always forwarded.
    #[serde(rename = "mqtt.skip.retained", default)]
    pub skip_retained: bool,

    /// Shared subscription group used with `mqtt.tasks.split=shared`; tasks subscribe to
    /// `$share/<group>/<filter>`. Defaults to the connector name.
    #[serde(rename = "mqtt.shared.subscription.group", default)]
    pub shared_subscription_group: Option<String>,

    /// How tasks split the work: `shared` (every task subscribes to every filter through a
    /// shared subscription and the broker spreads messages across tasks) or `filters` (the
    /// filters are dealt round-robin to the tasks; fewer tasks when there are fewer filters).
    #[serde(rename = "mqtt.tasks.split", default)]
    pub tasks_split: TaskSplit,

    /// Messages a task may hold that Kafka has not acknowledged yet. When reached, the task stops
    /// reading and the broker queues for the session. Also sent as MQTT 5 Receive Maximum.
    #[serde(rename = "mqtt.max.inflight", default = "default_max_inflight")]
    #[schemars(range(min = 1, max = 65535))]
    pub max_inflight: u32,

    /// Internal, set by the connector for each task in `filters` split mode: the filters this
    /// task subscribes to. Do not set it yourself.
    #[serde(rename = "mqtt.task.filters", default)]
    pub task_filters: Option<Vec<String>>,

    /// The broker connection: `mqtt.server.uri`, `mqtt.version`, `mqtt.client.id`, credentials,
    /// TLS, session and reconnect settings.
    #[serde(flatten)]
    pub connection: MqttConnectionConfig,
}

/// `mqtt.payload.format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(crate = "ferry_api::serde")]
#[schemars(crate = "ferry_api::schemars")]
pub enum PayloadFormatConfig {
    /// Opaque bytes.
    #[default]
    #[serde(rename = "bytes")]
    Bytes,
    /// JSON text.
    #[serde(rename = "json")]
    Json,
}

impl From<PayloadFormatConfig> for ferry_api::data::PayloadFormat {
    fn from(format: PayloadFormatConfig) -> Self {
        match format {
            PayloadFormatConfig::Bytes => ferry_api::data::PayloadFormat::Bytes,
            PayloadFormatConfig::Json => ferry_api::data::PayloadFormat::Json,
        }
    }
}

/// How the work is split across tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(crate = "ferry_api::serde")]
#[schemars(crate = "ferry_api::schemars")]
pub enum TaskSplit {
    /// Every task subscribes to every filter as `$share/<group>/<filter>`.
    #[default]
    #[serde(rename = "shared")]
    Shared,
    /// Filters are divided round-robin across tasks.
    #[serde(rename = "filters")]
    Filters,
}

fn default_key() -> String {
    "topic".to_string()
}
fn default_qos() -> u8 {
    1
}
/// Acknowledgements wait for Kafka's round trip, so the window bounds throughput per task at
/// about window / round trip: 10,000 keeps a task above 25k msg/s at QoS 1 for ~6 MB of messages.
fn default_max_inflight() -> u32 {
    10_000
}

/// Parses a configuration map and runs every check; the first issue becomes the error.
pub fn parse(config: &ferry_api::ConfigMap) -> Result<MqttSourceConfig, ConnectError> {
    ferry_api::config::parse_checked(config, MqttSourceConfig::check)
}

impl MqttSourceConfig {
    /// The checks the schema cannot express; one issue per problem, naming the key and the fix.
    pub fn check(&self) -> Vec<ConfigIssue> {
        // The shared connection checks, in the source's historical order: the URI first, the
        // rest (TLS files, credentials, client id, keep-alive, backoff) after the topic checks.
        let (mut issues, connection): (Vec<_>, Vec<_>) = (self.connection.check())
            .into_iter()
            .partition(|issue| issue.field == "mqtt.server.uri");
        if self.topics.is_empty() {
            issues.push(ConfigIssue::new(
                "mqtt.topics",
                "no topic filter given; list at least one, e.g. `vehicles/sensor/data/+`",
            ));
        }
        for (key, filters) in [
            ("mqtt.topics", Some(&self.topics)),
            (TASK_FILTERS_KEY, self.task_filters.as_ref()),
        ] {
            for filter in filters.into_iter().flatten() {
                if let Err(e) = check_filter(filter) {
                    issues.push(ConfigIssue::new(key, e));
                }
            }
        }
        match self.mapping() {
            Ok(mapping) => {
                let valid: Vec<String> = (self.topics.iter())
                    .filter(|f| check_filter(f).is_ok())
                    .cloned()
                    .collect();
                issues.extend(mapping.check_levels(&valid));
            }
            Err(found) => issues.extend(found),
        }
        issues.extend(connection);
        if let Some(group) = &self.shared_subscription_group {
            if group.is_empty() || group.contains(['/', '+', '#']) {
                issues.push(ConfigIssue::new(
                    "mqtt.shared.subscription.group",
                    format!(
                        "`{group}` cannot be a shared subscription group: it must be non-empty \
                         without `/`, `+` or `#`"
                    ),
                ));
            }
        }
        issues
    }

    /// The topic/key mapping.
    pub fn mapping(&self) -> Result<Mapping, Vec<ConfigIssue>> {
        Mapping::new(
            &self.kafka_topic,
            self.kafka_topic_regex.as_deref(),
            &self.kafka_key,
        )
    }

    /// The shared subscription group: the configured one, or the connector name made legal.
    pub fn share_group(&self, connector: &str) -> String {
        self.shared_subscription_group.clone().unwrap_or_else(|| {
            let group: String = connector
                .chars()
                .map(|c| if matches!(c, '/' | '+' | '#') { '_' } else { c })
                .collect();
            if group.is_empty() {
                "ferry".to_string()
            } else {
                group
            }
        })
    }

    /// The filters this task subscribes to, `$share/` prefix included in shared mode.
    pub fn subscriptions(&self, task: &TaskContext) -> Vec<String> {
        let filters = self.task_filters.as_ref().unwrap_or(&self.topics);
        match self.tasks_split {
            TaskSplit::Shared => {
                let group = self.share_group(&task.connector);
                filters
                    .iter()
                    .map(|f| format!("$share/{group}/{f}"))
                    .collect()
            }
            TaskSplit::Filters => filters.clone(),
        }
    }

    /// How a task connects: manual acks, `mqtt.max.inflight` as MQTT 5 Receive Maximum.
    pub fn settings(&self, task: &TaskContext) -> Result<ConnectionSettings, ConnectError> {
        let max_inflight = self.max_inflight.clamp(1, u16::MAX as u32);
        // Acks waiting to be written are bounded by the in-flight limit; see task.rs.
        let request_capacity = 2 * max_inflight as usize + 64;
        (self.connection).settings(task, max_inflight as u16, true, request_capacity)
    }

    /// Filters dealt round-robin to at most `max_tasks` tasks (fewer when there are fewer filters).
    pub fn split_filters(&self, max_tasks: usize) -> Vec<Vec<String>> {
        let tasks = max_tasks.max(1).min(self.topics.len().max(1));
        let mut split = vec![Vec::new(); tasks];
        for (i, filter) in self.topics.iter().enumerate() {
            split[i % tasks].push(filter.clone());
        }
        split
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::ConfigMap;
    use std::time::Duration;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("name", "cars"),
            ("mqtt.server.uri", "tcp://127.0.0.1:1883"),
            ("mqtt.topics", "vehicles/sensor/data/+"),
            ("kafka.topic", "sensor-data"),
        ]
    }

    fn with(extra: &[(&'static str, &'static str)]) -> ConfigMap {
        let mut pairs = base();
        pairs.extend_from_slice(extra);
        map(&pairs)
    }

    fn issues(config: &ConfigMap) -> Vec<ConfigIssue> {
        match ferry_api::config::parse::<MqttSourceConfig>(config) {
            Ok(parsed) => parsed.check(),
            Err(issues) => issues,
        }
    }

    fn task(n: u32) -> TaskContext {
        TaskContext {
            connector: "cars".into(),
            task: n,
        }
    }

    #[test]
    fn defaults() {
        let config = parse(&with(&[])).unwrap();
        assert_eq!(config.qos, 1);
        assert_eq!(config.connection.version, MqttVersion::V311);
        assert!(!config.connection.clean_session);
        assert_eq!(config.max_inflight, 10_000);
        assert_eq!(config.tasks_split, TaskSplit::Shared);
        assert_eq!(config.kafka_key, "topic");
        assert_eq!(config.connection.client_id(&task(2)), "cars-2");
        assert_eq!(
            config.subscriptions(&task(0)),
            ["$share/cars/vehicles/sensor/data/+"]
        );
        let connection = config.settings(&task(0)).unwrap();
        assert_eq!(connection.keep_alive, Duration::from_secs(60));
        assert_eq!(connection.connect_timeout, Duration::from_secs(30));
        assert_eq!(connection.receive_maximum, 10_000);
    }

    #[test]
    fn client_ids_and_groups() {
        let config = parse(&with(&[
            ("mqtt.client.id", "bridge-{task}-eu"),
            ("mqtt.shared.subscription.group", "g1"),
        ]))
        .unwrap();
        assert_eq!(config.connection.client_id(&task(1)), "bridge-1-eu");
        assert_eq!(
            config.subscriptions(&task(0))[0],
            "$share/g1/vehicles/sensor/data/+"
        );
        let config = parse(&with(&[("mqtt.client.id", "bridge")])).unwrap();
        assert_eq!(config.connection.client_id(&task(1)), "bridge-1");
        let odd = TaskContext {
            connector: "a/b+c".into(),
            task: 0,
        };
        assert_eq!(config.share_group(&odd.connector), "a_b_c");
    }

    #[test]
    fn filters_split_round_robin() {
        let config = parse(&with(&[("mqtt.topics", "a/#, b/+, c, d")])).unwrap();
        assert_eq!(
            config.split_filters(3),
            vec![vec!["a/#", "d"], vec!["b/+"], vec!["c"]]
        );
        assert_eq!(config.split_filters(10).len(), 4);
        assert_eq!(config.split_filters(0).len(), 1);
    }

    #[test]
    fn check_names_each_offending_key() {
        let found = issues(&with(&[
            ("mqtt.server.uri", "http://broker"),
            ("mqtt.topics", "a/#/b,ok/+"),
            ("mqtt.qos", "3"),
            ("mqtt.ssl.ca.file", "/nonexistent/ca.pem"),
        ]));
        // The schema rejects the QoS first; the rest is checked once it parses.
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "mqtt.qos");
        assert!(found[0].message.contains("at most 2"));

        let found = issues(&with(&[
            ("mqtt.server.uri", "ssl://broker:x"),
            ("mqtt.topics", "a/#/b,ok/+"),
            ("kafka.topic", "vehicles.{3}"),
            ("mqtt.ssl.ca.file", "/nonexistent/ca.pem"),
            ("mqtt.ssl.cert.file", "/nonexistent/cert.pem"),
            ("mqtt.password", "secret"),
            ("mqtt.shared.subscription.group", "a/b"),
        ]));
        let fields: Vec<&str> = found.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "mqtt.server.uri",
                "mqtt.topics",
                "kafka.topic",
                "mqtt.username",
                "mqtt.shared.subscription.group"
            ],
            "{found:?}"
        );
        assert!(found[2].message.contains("filter `ok/+`"), "{found:?}");
        assert!(
            found[3].message.contains("without a user name"),
            "{found:?}"
        );

        let found = issues(&with(&[
            ("mqtt.server.uri", "ssl://broker"),
            ("mqtt.ssl.cert.file", "/nonexistent/cert.pem"),
        ]));
        let fields: Vec<&str> = found.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["mqtt.ssl.cert.file", "mqtt.ssl.key.file"]);
    }

    #[test]
    fn unknown_keys_and_bad_enums_are_rejected_by_the_schema() {
        let found = issues(&with(&[("mqtt.version", "4"), ("mqtt.qoss", "1")]));
        let fields: Vec<&str> = found.iter().map(|i| i.field.as_str()).collect();
        assert!(fields.contains(&"mqtt.version"), "{found:?}");
        assert!(fields.contains(&"mqtt.qoss"), "{found:?}");
        // Unknown keys get a hint, for the source's own keys and the shared connection keys.
        let found = issues(&with(&[
            ("mqtt.qoss", "1"),
            ("mqtt.clean.sesion.enabled", "true"),
        ]));
        let hint = |field: &str| {
            (found.iter())
                .find(|i| i.field == field)
                .map(|i| i.message.clone())
                .unwrap_or_default()
        };
        assert!(
            hint("mqtt.qoss").contains("did you mean `mqtt.qos`"),
            "{found:?}"
        );
        assert!(
            hint("mqtt.clean.sesion.enabled").contains("did you mean `mqtt.clean.session.enabled`"),
            "{found:?}"
        );
        assert!(issues(&with(&[("mqtt.version", "5")])).is_empty());
        let found = issues(&with(&[
            ("mqtt.version", "5"),
            ("mqtt.keepalive.interval.seconds", "0"),
        ]));
        assert_eq!(found[0].field, "mqtt.keepalive.interval.seconds");
        assert!(issues(&with(&[("mqtt.keepalive.interval.seconds", "0")])).is_empty());
    }
}
