//! Ferry's MQTT sink connector: Kafka records to MQTT 3.1.1 / 5 topics, at least once.
//!
//! `connector.class` = `ferry.mqtt.MqttSinkConnector` (or `MqttSinkConnector`, `MqttSink`). It
//! reads `topics` or `topics.regex`. The keys are documented on [`config::MqttSinkConfig`] (the
//! connection keys are the MQTT source connector's); the topic template in [`routing`]; what is
//! published for a record in [`message`]; the delivery guarantee at the top of [`task`]; how
//! acknowledgements become committable offsets in [`outbox`]. An example:
//! `examples/connectors/mqtt-sink.json`.
//!
//! Scale-out: each of the `tasks.max` tasks gets a share of the Kafka partitions and its own
//! connection (client id `<mqtt.client.id or connector name>-<task>`); order is kept per MQTT
//! topic within a Kafka partition, among messages of the same QoS.

pub mod config;
pub mod message;
pub mod outbox;
pub mod routing;
pub mod session;
pub mod task;

use ferry_api::config::ConfigIssue;
use ferry_api::{
    export_sink, tracing, ConfigMap, ConnectError, Connector, ConnectorContext, Result,
    SinkConnector,
};

use crate::config::MqttSinkConfig;

pub use crate::task::MqttSinkTask;

/// The connector: validates the configuration; every task gets the same one.
pub struct MqttSinkConnector {
    config: ConfigMap,
}

impl Connector for MqttSinkConnector {
    type Config = MqttSinkConfig;

    fn new() -> Self {
        MqttSinkConnector {
            config: ConfigMap::new(),
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
            topic = %parsed.topic,
            qos = parsed.qos,
            "MQTT sink connector started"
        );
        self.config = config.clone();
        Ok(())
    }

    fn task_configs(&mut self, max_tasks: usize) -> Result<Vec<ConfigMap>> {
        Ok(vec![self.config.clone(); max_tasks.max(1)])
    }

    fn validate(config: &ConfigMap) -> Vec<ConfigIssue> {
        match ferry_api::config::parse::<MqttSinkConfig>(config) {
            Ok(parsed) => parsed.check(),
            Err(issues) => issues,
        }
    }
}

impl SinkConnector for MqttSinkConnector {
    type Task = MqttSinkTask;
}

export_sink!(MqttSinkConnector, "ferry.mqtt.MqttSinkConnector");
