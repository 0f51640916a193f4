//! Where the worker keeps what must survive it: source offsets in a compacted Kafka topic, and
//! (standalone mode) connector configs in the local state directory.

mod connectors;
pub mod group_offsets;
mod kafka_topics;
mod offsets;

pub use connectors::{ConnectorFileStore, ConnectorStore, MemoryConnectorStore, StoredConnector};
pub use kafka_topics::{create_topic_unless_exists, ensure_compacted_topic};
pub use offsets::OffsetStore;

/// A store operation that failed; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Kafka refused or timed out.
    #[error("{0}")]
    Kafka(String),
    /// The local state directory could not be used.
    #[error("{0}")]
    Local(String),
}
