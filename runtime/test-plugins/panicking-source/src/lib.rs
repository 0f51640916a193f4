//! Test fixture: a source whose task emits `panic.after` records, then panics in `poll`, and
//! whose connector can hang in `start` for `hang.in.start.ms`.

use std::time::Duration;

use ferry_api::{
    export_source, ConfigMap, Connector, ConnectorContext, OffsetReader, Result, SourceConnector,
    SourceRecord, SourceTask, TaskContext,
};

/// Configuration of the panicking source.
#[derive(ferry_api::serde::Deserialize, ferry_api::schemars::JsonSchema)]
#[serde(crate = "ferry_api::serde")]
#[schemars(crate = "ferry_api::schemars")]
pub struct PanickingConfig {
    /// Topic for the records emitted before the panic.
    #[serde(rename = "kafka.topic")]
    pub kafka_topic: String,
    /// Records emitted before `poll` panics.
    #[serde(rename = "panic.after", default)]
    pub panic_after: u64,
    /// How long the connector's `start` blocks before returning.
    #[serde(rename = "hang.in.start.ms", default)]
    pub hang_in_start_ms: u64,
}

/// The connector.
pub struct PanickingSource(ConfigMap);

impl Connector for PanickingSource {
    type Config = PanickingConfig;
    fn new() -> Self {
        PanickingSource(ConfigMap::new())
    }
    fn version() -> &'static str {
        "0.0.1"
    }
    fn start(&mut self, _: ConnectorContext, config: &ConfigMap) -> Result<()> {
        let hang = config
            .get("hang.in.start.ms")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(hang));
        self.0 = config.clone();
        Ok(())
    }
    fn task_configs(&mut self, max_tasks: usize) -> Result<Vec<ConfigMap>> {
        Ok(vec![self.0.clone(); max_tasks])
    }
}

impl SourceConnector for PanickingSource {
    type Task = PanickingTask;
}

/// The task.
pub struct PanickingTask {
    topic: String,
    left: u64,
}

impl SourceTask for PanickingTask {
    fn start(_: TaskContext, config: &ConfigMap, _: &OffsetReader) -> Result<Self> {
        let config: PanickingConfig = ferry_api::config::parse(config)
            .map_err(|e| ferry_api::ConnectError::fatal(e[0].to_string()))?;
        Ok(PanickingTask {
            topic: config.kafka_topic,
            left: config.panic_after,
        })
    }

    fn poll(&mut self, timeout: Duration) -> Result<Vec<SourceRecord>> {
        if self.left == 0 {
            panic!("boom: the panicking source gave up");
        }
        self.left -= 1;
        std::thread::sleep(timeout.min(Duration::from_millis(10)));
        Ok(vec![SourceRecord {
            topic: self.topic.clone(),
            value: Some(b"before the panic".to_vec()),
            ..SourceRecord::default()
        }])
    }
}

export_source!(PanickingSource, "ferry.test.PanickingSourceConnector");
