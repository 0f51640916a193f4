//! A complete third-party Ferry connector: a source of numbered records.
//!
//! Each task writes `{"task": T, "seq": N}` records to `kafka.topic` at `rate.per.second`, keyed
//! by the task number. The source offset of each record is `{"next": N + 1}` under the source
//! partition `{"task": T}`, so after a restart a task resumes right after the last record Kafka
//! acknowledged and the worker committed: no gap, and duplicates only from the last uncommitted
//! stretch. See README.md beside this file for the walk from `cargo new` to records in Kafka.

use std::time::{Duration, Instant};

use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::serde_json::{json, Value};
use ferry_api::{
    config, export_source, tracing, ConfigMap, Connector, ConnectorContext, JsonMap, OffsetReader,
    Result, SourceConnector, SourceRecord, SourceTask, TaskContext,
};

/// Configuration of the sequence source.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct SequenceConfig {
    /// Kafka topic the numbered records are written to.
    #[serde(rename = "kafka.topic")]
    pub kafka_topic: String,
    /// Records per second, per task.
    #[serde(rename = "rate.per.second", default = "default_rate")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub rate_per_second: u32,
    /// Stop producing after this many records per task; 0 means never stop.
    #[serde(rename = "max.records", default)]
    pub max_records: u64,
}

fn default_rate() -> u32 {
    10
}

/// The connector: validates its configuration and gives every task the same one.
pub struct SequenceSource {
    config: ConfigMap,
}

impl Connector for SequenceSource {
    type Config = SequenceConfig;

    fn new() -> Self {
        SequenceSource {
            config: ConfigMap::new(),
        }
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn start(&mut self, context: ConnectorContext, config: &ConfigMap) -> Result<()> {
        // Fail early, with the field named, rather than in every task.
        config::parse_checked::<SequenceConfig>(config, |_| Vec::new())?;
        tracing::info!(connector = context.name(), "sequence source started");
        self.config = config.clone();
        Ok(())
    }

    fn task_configs(&mut self, max_tasks: usize) -> Result<Vec<ConfigMap>> {
        // Tasks tell themselves apart by their task number, so they share one configuration.
        Ok(vec![self.config.clone(); max_tasks])
    }
}

impl SourceConnector for SequenceSource {
    type Task = SequenceTask;
}

/// One task: a counter, paced to the configured rate.
pub struct SequenceTask {
    topic: String,
    task: u32,
    partition: JsonMap,
    next: u64,
    max_records: u64,
    interval: Duration,
    next_due: Instant,
}

impl SourceTask for SequenceTask {
    fn start(context: TaskContext, config: &ConfigMap, offsets: &OffsetReader) -> Result<Self> {
        let config: SequenceConfig = config::parse_checked(config, |_| Vec::new())?;
        let partition = object(json!({ "task": context.task }));
        let next = offsets
            .offset(&partition)
            .and_then(|o| o.get("next"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        tracing::info!(task = context.task, next, "sequence task resumes");
        Ok(SequenceTask {
            topic: config.kafka_topic,
            task: context.task,
            partition,
            next,
            max_records: config.max_records,
            interval: Duration::from_secs(1) / config.rate_per_second.max(1),
            next_due: Instant::now(),
        })
    }

    fn poll(&mut self, timeout: Duration) -> Result<Vec<SourceRecord>> {
        let deadline = Instant::now() + timeout;
        let mut records = Vec::new();
        // Emit what is due now (bounded per call), or wait for the next one within the timeout.
        while records.len() < 1000 && !self.finished() {
            let now = Instant::now();
            if self.next_due > now {
                if !records.is_empty() || self.next_due > deadline {
                    break;
                }
                std::thread::sleep(self.next_due - now);
            }
            records.push(self.record());
            self.next += 1;
            self.next_due += self.interval;
        }
        if records.is_empty() {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        }
        Ok(records)
    }
}

impl SequenceTask {
    fn finished(&self) -> bool {
        self.max_records > 0 && self.next >= self.max_records
    }

    fn record(&self) -> SourceRecord {
        SourceRecord {
            source_partition: self.partition.clone(),
            source_offset: object(json!({ "next": self.next + 1 })),
            topic: self.topic.clone(),
            key: Some(self.task.to_string().into_bytes()),
            value: Some(
                json!({ "task": self.task, "seq": self.next })
                    .to_string()
                    .into_bytes(),
            ),
            ..SourceRecord::default()
        }
    }
}

fn object(value: Value) -> JsonMap {
    match value {
        Value::Object(map) => map,
        _ => JsonMap::new(),
    }
}

export_source!(SequenceSource, "com.example.SequenceSourceConnector");
