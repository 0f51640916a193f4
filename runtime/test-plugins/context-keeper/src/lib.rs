//! Test fixture: a connector that misuses its context the way a careless one might. `start`
//! spawns a thread that keeps a copy of the context and asks for task reconfiguration every
//! `call.interval.ms`, without ever being told to stop. The thread reports to `report.file`:
//! `ok <n>` after the n-th successful call, and `error: <message>` when a call failed, and then
//! ends. Its one task produces nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_api::{
    config, export_source, ConfigMap, Connector, ConnectorContext, OffsetReader, Result,
    SourceConnector, SourceRecord, SourceTask, TaskContext,
};

/// Configuration of the context keeper.
#[derive(ferry_api::serde::Deserialize, ferry_api::schemars::JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct KeeperConfig {
    /// File the background thread writes what its calls returned to.
    #[serde(rename = "report.file")]
    pub report_file: String,
    /// Pause between two calls of the context.
    #[serde(rename = "call.interval.ms", default = "default_interval_ms")]
    pub call_interval_ms: u64,
}

fn default_interval_ms() -> u64 {
    200
}

/// The connector.
pub struct ContextKeeper(ConfigMap);

impl Connector for ContextKeeper {
    type Config = KeeperConfig;
    fn new() -> Self {
        ContextKeeper(ConfigMap::new())
    }
    fn version() -> &'static str {
        "0.0.1"
    }
    fn start(&mut self, context: ConnectorContext, settings: &ConfigMap) -> Result<()> {
        let parsed: KeeperConfig = config::parse_checked(settings, |_| Vec::new())?;
        let report = PathBuf::from(parsed.report_file);
        let interval = Duration::from_millis(parsed.call_interval_ms);
        // Deliberately never joined and never told to stop: the thread outlives the connector.
        std::thread::spawn(move || keep_calling(&context, &report, interval));
        self.0 = settings.clone();
        Ok(())
    }
    fn task_configs(&mut self, _max_tasks: usize) -> Result<Vec<ConfigMap>> {
        Ok(vec![self.0.clone()])
    }
}

fn keep_calling(context: &ConnectorContext, report: &Path, interval: Duration) {
    let mut calls = 0u64;
    loop {
        match context.request_task_reconfiguration() {
            Ok(()) => {
                calls += 1;
                write(report, &format!("ok {calls}"));
            }
            Err(error) => {
                write(report, &format!("error: {error}"));
                return;
            }
        }
        std::thread::sleep(interval);
    }
}

/// Replaces the report in one step, so a reader never sees half of it.
fn write(report: &Path, text: &str) {
    let partial = report.with_extension("partial");
    if std::fs::write(&partial, text).is_ok() {
        let _ = std::fs::rename(&partial, report);
    }
}

impl SourceConnector for ContextKeeper {
    type Task = IdleTask;
}

/// A task with nothing to produce.
pub struct IdleTask;

impl SourceTask for IdleTask {
    fn start(_: TaskContext, _: &ConfigMap, _: &OffsetReader) -> Result<Self> {
        Ok(IdleTask)
    }

    fn poll(&mut self, timeout: Duration) -> Result<Vec<SourceRecord>> {
        std::thread::sleep(timeout.min(Duration::from_millis(50)));
        Ok(Vec::new())
    }
}

export_source!(ContextKeeper, "ferry.test.ContextKeeperConnector");
