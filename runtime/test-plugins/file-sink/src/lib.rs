//! Test fixture: appends each record as a JSON line to `output.file`; a record whose value equals
//! `errant.value` is reported as errant; `pre_commit` holds back the last `commit.lag` records of
//! each partition, so tests can see that the worker commits exactly what the task returns.

use std::io::Write;

use ferry_api::serde_json::json;
use ferry_api::{
    export_sink, ConfigMap, ConnectError, Connector, ConnectorContext, ErrantRecords, Result,
    SinkConnector, SinkRecord, SinkTask, TaskContext, TopicPartitionOffset,
};

/// Configuration of the file sink.
#[derive(ferry_api::serde::Deserialize, ferry_api::schemars::JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct FileSinkConfig {
    /// File the records are appended to, one JSON object per line.
    #[serde(rename = "output.file")]
    pub output_file: String,
    /// Records with exactly this value are reported as errant.
    #[serde(rename = "errant.value", default)]
    pub errant_value: Option<String>,
    /// Records per partition that pre_commit keeps uncommitted.
    #[serde(rename = "commit.lag", default)]
    pub commit_lag: i64,
}

/// The connector.
pub struct FileSink(ConfigMap);

impl Connector for FileSink {
    type Config = FileSinkConfig;
    fn new() -> Self {
        FileSink(ConfigMap::new())
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

impl SinkConnector for FileSink {
    type Task = FileSinkTask;
}

/// The task.
pub struct FileSinkTask {
    file: std::fs::File,
    errant_value: Option<Vec<u8>>,
    commit_lag: i64,
}

impl SinkTask for FileSinkTask {
    fn start(_: TaskContext, config: &ConfigMap) -> Result<Self> {
        let config: FileSinkConfig = ferry_api::config::parse_checked(config, |_| Vec::new())?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.output_file)
            .map_err(|e| ConnectError::config("output.file", e.to_string()))?;
        Ok(FileSinkTask {
            file,
            errant_value: config.errant_value.map(String::into_bytes),
            commit_lag: config.commit_lag,
        })
    }

    fn put(&mut self, records: Vec<SinkRecord>, errant: &mut ErrantRecords) -> Result<()> {
        for record in &records {
            if record.value.is_some() && record.value == self.errant_value {
                errant.report(record, "the value is the configured errant.value");
                continue;
            }
            let line = json!({
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "key": record.key.as_deref().map(String::from_utf8_lossy),
                "value": record.value.as_deref().map(String::from_utf8_lossy),
                "headers": record.headers.iter().map(|h| (h.name.clone(), String::from_utf8_lossy(&h.value).into_owned())).collect::<Vec<_>>(),
            });
            writeln!(self.file, "{line}").map_err(|e| ConnectError::retriable(e.to_string()))?;
        }
        Ok(())
    }

    fn pre_commit(
        &mut self,
        offsets: &[TopicPartitionOffset],
    ) -> Result<Vec<TopicPartitionOffset>> {
        self.file
            .sync_data()
            .map_err(|e| ConnectError::retriable(e.to_string()))?;
        Ok(offsets
            .iter()
            .map(|o| TopicPartitionOffset {
                offset: o.offset - self.commit_lag,
                ..o.clone()
            })
            .collect())
    }
}

export_sink!(FileSink, "ferry.test.FileSinkConnector");
