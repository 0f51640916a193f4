//! Ferry's MQTT source connector: MQTT 3.1.1 / 5 topics into Kafka, at least once.
//!
//! `connector.class` = `ferry.mqtt.MqttSourceConnector` (or `MqttSourceConnector`, `MqttSource`).
//! The keys are documented on [`config::MqttSourceConfig`]; the delivery guarantee at the top of
//! [`task`]; topic, key and header mapping in [`mapping`]. An example:
//! `examples/connectors/mqtt-source.json`.
//!
//! Scale-out: with `mqtt.tasks.split=shared` (the default) each of the `tasks.max` tasks
//! subscribes to every filter as `$share/<group>/<filter>` and the broker spreads the messages
//! across them; with `filters` the filters are dealt round-robin to the tasks.
//!
//! Lowering `tasks.max` leaves the persistent sessions of the removed tasks (client ids
//! `<prefix>-<n>`) on the broker, still subscribed: with shared subscriptions a broker may keep
//! queueing a share of the messages for them (Mosquitto does for offline persistent sessions),
//! delivered only when a task with that id connects again. Set
//! `mqtt.session.expiry.interval.seconds` (MQTT 5) or clear those sessions when scaling down.

pub mod config;
pub mod mapping;
pub mod session;
pub mod task;

// The connection code is shared with the MQTT sink.
pub use ferry_mqtt_common::{client, connection};

use ferry_api::config::ConfigIssue;
use ferry_api::{
    export_source, tracing, ConfigMap, ConnectError, Connector, ConnectorContext, Result,
    SourceConnector,
};

use crate::config::{MqttSourceConfig, TaskSplit, TASK_FILTERS_KEY};

pub use crate::task::MqttSourceTask;

/// The connector: validates the configuration and hands each task its share of the work.
pub struct MqttSourceConnector {
    config: ConfigMap,
    split: TaskSplit,
    parsed: Option<MqttSourceConfig>,
}

impl Connector for MqttSourceConnector {
    type Config = MqttSourceConfig;

    fn new() -> Self {
        MqttSourceConnector {
            config: ConfigMap::new(),
            split: TaskSplit::default(),
            parsed: None,
        }
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn start(&mut self, context: ConnectorContext, config: &ConfigMap) -> Result<()> {
        if let Some(issue) = Self::validate(config).into_iter().next() {
            return Err(ConnectError::config(issue.field, issue.message));
        }
        let parsed = config::parse(config)?;
        tracing::info!(
            connector = context.name(),
            server = %parsed.connection.server_uri,
            filters = ?parsed.topics,
            kafka_topic = %parsed.kafka_topic,
            split = ?parsed.tasks_split,
            "MQTT source connector started"
        );
        self.split = parsed.tasks_split;
        self.parsed = Some(parsed);
        self.config = config.clone();
        Ok(())
    }

    fn task_configs(&mut self, max_tasks: usize) -> Result<Vec<ConfigMap>> {
        let parsed = self
            .parsed
            .as_ref()
            .ok_or_else(|| ConnectError::fatal("task_configs called before start"))?;
        let max_tasks = max_tasks.max(1);
        Ok(match self.split {
            TaskSplit::Shared => vec![self.config.clone(); max_tasks],
            TaskSplit::Filters => parsed
                .split_filters(max_tasks)
                .into_iter()
                .map(|filters| {
                    let mut config = self.config.clone();
                    config.insert(TASK_FILTERS_KEY.to_string(), filters.join(","));
                    config
                })
                .collect(),
        })
    }

    fn validate(config: &ConfigMap) -> Vec<ConfigIssue> {
        let mut issues = ferry_api::config::validate::<MqttSourceConfig>(config);
        if issues.is_empty() {
            if let Ok(parsed) = ferry_api::config::parse::<MqttSourceConfig>(config) {
                issues.extend(parsed.check());
            }
        }
        if config.contains_key(TASK_FILTERS_KEY) {
            issues.push(ConfigIssue::new(
                TASK_FILTERS_KEY,
                "is set by the connector for its tasks; remove it (use `mqtt.topics` and \
                 `mqtt.tasks.split`)",
            ));
        }
        issues
    }
}

impl SourceConnector for MqttSourceConnector {
    type Task = MqttSourceTask;
}

export_source!(MqttSourceConnector, "ferry.mqtt.MqttSourceConnector");

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn task_configs_split_filters_or_share_them() {
        let base = [
            ("name", "cars"),
            ("mqtt.server.uri", "tcp://127.0.0.1:1883"),
            ("mqtt.topics", "a/+,b/#,c"),
            ("kafka.topic", "t"),
        ];
        extern "C" fn reconfigure(_: u64) -> i32 {
            ferry_api::abi::STATUS_OK
        }
        extern "C" fn raise(_: u64, _: ferry_api::abi::FfiSlice) -> i32 {
            ferry_api::abi::STATUS_OK
        }
        let context = || {
            let host = ferry_api::abi::HostConnectorContext {
                handle: 0,
                request_task_reconfiguration: reconfigure,
                raise_error: raise,
            };
            ConnectorContext::from_host("cars".into(), host)
        };
        let mut connector = MqttSourceConnector::new();
        connector.start(context(), &map(&base)).unwrap();
        let tasks = connector.task_configs(2).unwrap();
        assert_eq!(tasks.len(), 2);
        assert!(tasks.iter().all(|t| !t.contains_key(TASK_FILTERS_KEY)));

        let mut pairs = base.to_vec();
        pairs.push(("mqtt.tasks.split", "filters"));
        let mut connector = MqttSourceConnector::new();
        connector.start(context(), &map(&pairs)).unwrap();
        let tasks = connector.task_configs(5).unwrap();
        let filters: Vec<&str> = tasks.iter().map(|t| t[TASK_FILTERS_KEY].as_str()).collect();
        assert_eq!(filters, ["a/+", "b/#", "c"]);
        let parsed = config::parse(&tasks[1]).unwrap();
        let task = ferry_api::TaskContext {
            connector: "cars".into(),
            task: 1,
        };
        assert_eq!(parsed.subscriptions(&task), ["b/#"]);

        assert!(!MqttSourceConnector::validate(&tasks[0]).is_empty());
    }
}
