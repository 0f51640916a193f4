//! Running tasks: one thread per task, with its own Kafka producer or consumer.
//!
//! Task threads call plugin code, which may block or hang; nothing here runs on the REST
//! server's runtime, so a stuck connector cannot freeze the API.

pub mod control;
pub mod converter;
mod dead_letter;
pub mod offset_tracker;
mod sink;
mod source;
pub mod task;

pub use sink::subscription as sink_subscription;

use std::sync::Arc;

use crate::config::WorkerConfig;
use crate::herder::status::StatusBoard;
use crate::metrics::Metrics;
use crate::plugins::PluginRegistry;
use crate::store::OffsetStore;

/// What every task thread shares with the worker.
pub struct WorkerContext {
    /// The worker's configuration.
    pub config: WorkerConfig,
    /// Loaded connector plugins.
    pub plugins: PluginRegistry,
    /// Source offsets in Kafka.
    pub offsets: Arc<OffsetStore>,
    /// Statuses of everything this worker runs.
    pub status: Arc<StatusBoard>,
    /// Counters for `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// For the few async Kafka calls made from task threads (offset writes).
    pub runtime: tokio::runtime::Handle,
}
