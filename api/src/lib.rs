//! Ferry's connector API: what a connector author depends on, and nothing else.
//!
//! A connector is a Rust crate built as a `cdylib` that implements [`SourceConnector`] or
//! [`SinkConnector`] and exports it with [`export_source!`] or [`export_sink!`]. The worker loads it
//! from its `plugin.path`, the way Kafka Connect loads jars. The semantics follow Kafka Connect's
//! `connect/api`:
//!
//! - a **connector** validates its configuration and splits the work into task configurations;
//! - a **source task** is polled for records; once Kafka has acknowledged a record the worker calls
//!   [`SourceTask::commit_record`], and only then does the record's source offset become committable;
//! - a **sink task** receives records with [`SinkTask::put`] and tells the worker, through
//!   [`SinkTask::pre_commit`], which Kafka offsets are safe to commit.
//!
//! Every call into a connector comes from one dedicated worker thread per task and may block. A
//! connector that needs async code runs it on a runtime it owns (a `tokio` runtime built in
//! `start` and dropped in `stop`): the library's copy of tokio is not the worker's.
//! Log with the `tracing` macros (re-exported as [`tracing`]): the events reach the worker's log
//! with the connector and task named.
#![warn(missing_docs)]

pub mod abi;
pub mod config;
pub mod data;
mod error;
mod export;
mod logging;
mod record;
pub mod transform;

use std::time::Duration;

pub use error::{ConnectError, Result};
pub use record::{
    Header, JsonMap, OffsetReader, RecordMetadata, SinkRecord, SourceOffset, SourceRecord,
    TopicPartition, TopicPartitionOffset,
};
pub use schemars;
pub use serde;
pub use serde_json;
pub use tracing;

/// A connector's configuration as Kafka Connect passes it: string keys to string values.
pub type ConfigMap = std::collections::BTreeMap<String, String>;

/// What every connector, source or sink, implements.
///
/// The worker creates one connector instance per configured connector, calls [`Connector::start`],
/// asks it for task configurations, and calls [`Connector::stop`] when the connector is stopped,
/// reconfigured or deleted.
pub trait Connector: Send + 'static {
    /// The typed configuration. Its JSON Schema (doc comments become descriptions) drives the
    /// worker's `validate` endpoint and `GET /connector-plugins/{class}/config`.
    type Config: config::ConnectorConfig;

    /// Builds an idle connector; called once per connector instance.
    fn new() -> Self
    where
        Self: Sized;

    /// The connector's version, shown by `GET /connector-plugins`.
    fn version() -> &'static str
    where
        Self: Sized;

    /// Starts the connector with its full configuration (runtime keys such as `name` included).
    fn start(&mut self, context: ConnectorContext, config: &ConfigMap) -> Result<()>;

    /// Splits the work into at most `max_tasks` task configurations.
    fn task_configs(&mut self, max_tasks: usize) -> Result<Vec<ConfigMap>>;

    /// Stops the connector; the worker stops its tasks separately.
    fn stop(&mut self) {}

    /// Checks a configuration. The default parses it into [`Connector::Config`] and reports one
    /// issue per offending field; override it to add cross-field checks (call
    /// [`config::validate`] first to keep the per-field ones).
    fn validate(config: &ConfigMap) -> Vec<config::ConfigIssue>
    where
        Self: Sized,
    {
        config::validate::<Self::Config>(config)
    }
}

/// A connector that reads from an external system and writes to Kafka.
pub trait SourceConnector: Connector {
    /// The task type this connector's task configurations start.
    type Task: SourceTask;
}

/// A connector that reads from Kafka and writes to an external system.
pub trait SinkConnector: Connector {
    /// The task type this connector's task configurations start.
    type Task: SinkTask;
}

/// A running source task. All calls come from the task's own worker thread.
pub trait SourceTask: Send + 'static {
    /// Starts the task with its configuration and the offsets last committed for its connector.
    fn start(context: TaskContext, config: &ConfigMap, offsets: &OffsetReader) -> Result<Self>
    where
        Self: Sized;

    /// Returns the records available now, waiting at most `timeout` for the first one. An empty
    /// vector is a normal answer. Keep the number of records in flight bounded: the worker keeps
    /// polling while Kafka acknowledges, so a task that reads without bound buffers without bound.
    fn poll(&mut self, timeout: Duration) -> Result<Vec<SourceRecord>>;

    /// Called once Kafka has acknowledged `record` (written with `acks=all`). This is the moment to
    /// acknowledge the upstream system: the record cannot be lost any more.
    fn commit_record(&mut self, record: SourceRecord, metadata: &RecordMetadata) -> Result<()> {
        let _ = (record, metadata);
        Ok(())
    }

    /// Called after the worker committed source offsets to Kafka.
    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    /// Stops the task; release connections here.
    fn stop(&mut self) {}
}

/// A running sink task. All calls come from the task's own worker thread.
pub trait SinkTask: Send + 'static {
    /// Starts the task with its configuration.
    fn start(context: TaskContext, config: &ConfigMap) -> Result<Self>
    where
        Self: Sized;

    /// The consumer was assigned these partitions.
    fn open(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let _ = partitions;
        Ok(())
    }

    /// These partitions were revoked; nothing more will arrive from them.
    fn close(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let _ = partitions;
        Ok(())
    }

    /// Delivers records read from Kafka. Writing them may happen later, in `flush`.
    ///
    /// A record that can never be written (say, a field the topic template needs is missing) is
    /// handed to `errant` instead of failing the whole call: the worker applies the connector's
    /// `errors.tolerance` (fail the task, or skip it and write it to the dead-letter topic).
    fn put(&mut self, records: Vec<SinkRecord>, errant: &mut ErrantRecords) -> Result<()>;

    /// Makes everything `put` so far durable in the external system.
    fn flush(&mut self, offsets: &[TopicPartitionOffset]) -> Result<()> {
        let _ = offsets;
        Ok(())
    }

    /// Given the offsets the worker has consumed up to, returns the offsets that are safe to commit
    /// (each the offset of the next record to read). The default flushes, then returns them all.
    fn pre_commit(
        &mut self,
        offsets: &[TopicPartitionOffset],
    ) -> Result<Vec<TopicPartitionOffset>> {
        self.flush(offsets)?;
        Ok(offsets.to_vec())
    }

    /// Stops the task; release connections here.
    fn stop(&mut self) {}
}

/// Records a sink task could not write, reported during [`SinkTask::put`].
#[derive(Debug, Default)]
pub struct ErrantRecords {
    reports: Vec<(TopicPartitionOffset, String)>,
}

impl ErrantRecords {
    /// Reports `record` as impossible to write, with the reason.
    pub fn report(&mut self, record: &SinkRecord, error: impl std::fmt::Display) {
        self.reports
            .push((record.kafka_position(), error.to_string()));
    }

    /// The reports so far: record position and reason.
    pub fn reports(&self) -> &[(TopicPartitionOffset, String)] {
        &self.reports
    }
}

/// Identifies a task to the connector code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskContext {
    /// The connector's name.
    pub connector: String,
    /// The task's number, from 0.
    pub task: u32,
}

/// What a running connector can ask of the worker.
///
/// The context may be cloned and moved to other threads. It is valid from [`Connector::start`]
/// until the worker stops the connector; after that every call returns an error (and does nothing
/// else), so a background thread that keeps a copy can notice it should end.
#[derive(Clone)]
pub struct ConnectorContext {
    name: String,
    host: abi::HostConnectorContext,
}

impl ConnectorContext {
    /// Builds a context around the worker's callbacks; the export macros call this.
    #[doc(hidden)]
    pub fn from_host(name: String, host: abi::HostConnectorContext) -> Self {
        ConnectorContext { name, host }
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Asks the worker to call [`Connector::task_configs`] again and restart tasks whose
    /// configuration changed, e.g. after the connector discovered new input.
    ///
    /// Fails once the worker has stopped the connector.
    pub fn request_task_reconfiguration(&self) -> Result<()> {
        self.outcome(self.host.request_task_reconfiguration())
    }

    /// Reports an unrecoverable error found outside a worker call (e.g. on a background thread):
    /// the worker marks the connector FAILED with this message.
    ///
    /// Fails once the worker has stopped the connector.
    pub fn raise_error(&self, error: &ConnectError) -> Result<()> {
        self.outcome(self.host.raise_error(&error.to_string()))
    }

    fn outcome(&self, status: i32) -> Result<()> {
        match status {
            abi::STATUS_OK => Ok(()),
            abi::STATUS_STOPPED => Err(ConnectError::fatal(format!(
                "connector {} was stopped; this context is no longer valid",
                self.name
            ))),
            other => Err(ConnectError::fatal(format!(
                "the worker could not take the call from connector {} (status {other})",
                self.name
            ))),
        }
    }
}

impl std::fmt::Debug for ConnectorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorContext")
            .field("name", &self.name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn accepted(_: u64) -> i32 {
        abi::STATUS_OK
    }
    extern "C" fn accepted_error(_: u64, _: abi::FfiSlice) -> i32 {
        abi::STATUS_OK
    }
    extern "C" fn stopped(_: u64) -> i32 {
        abi::STATUS_STOPPED
    }
    extern "C" fn stopped_error(_: u64, _: abi::FfiSlice) -> i32 {
        abi::STATUS_STOPPED
    }

    #[test]
    fn a_context_says_when_its_connector_was_stopped() {
        let live = ConnectorContext::from_host(
            "cars".into(),
            abi::HostConnectorContext {
                handle: 1,
                request_task_reconfiguration: accepted,
                raise_error: accepted_error,
            },
        );
        assert!(live.request_task_reconfiguration().is_ok());
        assert!(live.raise_error(&ConnectError::fatal("lost")).is_ok());

        let stale = ConnectorContext::from_host(
            "cars".into(),
            abi::HostConnectorContext {
                handle: 1,
                request_task_reconfiguration: stopped,
                raise_error: stopped_error,
            },
        );
        for result in [
            stale.request_task_reconfiguration(),
            stale.raise_error(&ConnectError::fatal("lost")),
        ] {
            let error = result.unwrap_err();
            assert_eq!(
                error.to_string(),
                "connector cars was stopped; this context is no longer valid"
            );
        }
    }
}
