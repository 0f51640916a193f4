//! Test fixture: a sink whose task panics in `put`.

use ferry_api::{
    export_sink, ConfigMap, Connector, ConnectorContext, ErrantRecords, Result, SinkConnector,
    SinkRecord, SinkTask, TaskContext,
};

/// Configuration of the panicking sink (only runtime keys).
#[derive(ferry_api::serde::Deserialize, ferry_api::schemars::JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct PanickingConfig {}

/// The connector.
pub struct PanickingSink(ConfigMap);

impl Connector for PanickingSink {
    type Config = PanickingConfig;
    fn new() -> Self {
        PanickingSink(ConfigMap::new())
    }
    fn version() -> &'static str {
        "0.0.1"
    }
    fn start(&mut self, _: ConnectorContext, config: &ConfigMap) -> Result<()> {
        self.0 = config.clone();
        Ok(())
    }
    fn task_configs(&mut self, max_tasks: usize) -> Result<Vec<ConfigMap>> {
        Ok(vec![self.0.clone(); max_tasks])
    }
}

impl SinkConnector for PanickingSink {
    type Task = PanickingTask;
}

/// The task.
pub struct PanickingTask;

impl SinkTask for PanickingTask {
    fn start(_: TaskContext, _: &ConfigMap) -> Result<Self> {
        Ok(PanickingTask)
    }

    fn put(&mut self, records: Vec<SinkRecord>, _: &mut ErrantRecords) -> Result<()> {
        panic!("boom: the panicking sink refused {} records", records.len());
    }
}

export_sink!(PanickingSink, "ferry.test.PanickingSinkConnector");
