//! Sink offsets are ordinary consumer-group offsets of group `connect-<name>`, as in Kafka
//! Connect, so operators can also read and move them with Kafka's own tools.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::StoreError;
use crate::config::connector::Subscription;

const TIMEOUT: Duration = Duration::from_secs(30);

fn consumer(client: &ClientConfig, group: &str) -> Result<BaseConsumer, StoreError> {
    client
        .clone()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| StoreError::Kafka(format!("cannot create a consumer for group {group}: {e}")))
}

/// The partitions a sink's `topics` / `topics.regex` cover today.
fn partitions(
    consumer: &BaseConsumer,
    subscription: &Subscription,
) -> Result<TopicPartitionList, StoreError> {
    let metadata = consumer
        .fetch_metadata(None, TIMEOUT)
        .map_err(|e| StoreError::Kafka(format!("cannot read topic metadata: {e}")))?;
    let mut list = TopicPartitionList::new();
    for topic in metadata
        .topics()
        .iter()
        .filter(|t| subscription.covers(t.name()))
    {
        for partition in topic.partitions() {
            list.add_partition(topic.name(), partition.id());
        }
    }
    Ok(list)
}

/// Committed `(topic, partition, offset)` of the group on the sink's topics.
pub fn read(
    client: &ClientConfig,
    group: &str,
    subscription: &Subscription,
) -> Result<Vec<(String, i32, i64)>, StoreError> {
    let consumer = consumer(client, group)?;
    let list = partitions(&consumer, subscription)?;
    let committed = consumer
        .committed_offsets(list, TIMEOUT)
        .map_err(|e| StoreError::Kafka(format!("cannot read the offsets of group {group}: {e}")))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.topic().to_string(), e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// Commits the given positions for the group (which must have no active member).
pub fn alter(
    client: &ClientConfig,
    group: &str,
    positions: &[(String, i32, i64)],
) -> Result<(), StoreError> {
    let consumer = consumer(client, group)?;
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in positions {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(|e| StoreError::Kafka(e.to_string()))?;
    }
    consumer
        .commit(&list, CommitMode::Sync)
        .map_err(|e| StoreError::Kafka(format!("cannot commit offsets for group {group}: {e}")))
}

/// Deletes the group and so all its offsets.
pub async fn reset(client: &ClientConfig, group: &str) -> Result<(), StoreError> {
    let admin: AdminClient<DefaultClientContext> = client
        .create()
        .map_err(|e| StoreError::Kafka(format!("cannot create a Kafka admin client: {e}")))?;
    let results = admin
        .delete_groups(
            &[group],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .map_err(|e| StoreError::Kafka(format!("cannot delete group {group}: {e}")))?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::GroupIdNotFound)) => {}
            Err((_, code)) => {
                return Err(StoreError::Kafka(format!(
                    "cannot delete group {group}: {code}"
                )))
            }
        }
    }
    Ok(())
}
