//! Creating and checking the worker's internal, compacted topics.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use super::StoreError;

/// Creates `topic` compacted if missing; refuses an existing topic that is not compacted, since
/// deletion by retention would silently lose offsets or configs.
pub async fn ensure_compacted_topic(
    client: &ClientConfig,
    topic: &str,
    partitions: i32,
    replication_factor: i32,
    setting: &str,
) -> Result<(), StoreError> {
    let admin: AdminClient<DefaultClientContext> = client
        .create()
        .map_err(|e| StoreError::Kafka(format!("cannot create a Kafka admin client: {e}")))?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let new_topic = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(replication_factor),
    )
    .set("cleanup.policy", "compact");
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .map_err(|e| StoreError::Kafka(format!("cannot create topic {topic} ({setting}): {e}")))?;
    for result in results {
        match result {
            Ok(_) => tracing::info!(topic, partitions, "created compacted topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(StoreError::Kafka(format!(
                    "cannot create topic {topic} ({setting}): {code}; check the brokers in bootstrap.servers and the ACLs"
                )))
            }
        }
    }
    // A topic created a moment ago may not show its configs yet: ask again briefly.
    let mut policy = String::new();
    for _ in 0..20 {
        let described = admin
            .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
            .await
            .map_err(|e| StoreError::Kafka(format!("cannot describe topic {topic}: {e}")))?;
        for resource in described {
            let resource = resource
                .map_err(|e| StoreError::Kafka(format!("cannot describe topic {topic}: {e}")))?;
            policy = resource
                .get("cleanup.policy")
                .and_then(|entry| entry.value.clone())
                .unwrap_or_default();
        }
        if !policy.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if !policy.split(',').any(|p| p.trim() == "compact") {
        return Err(StoreError::Kafka(format!(
            "topic {topic} ({setting}) has cleanup.policy={policy}, but Ferry needs a compacted topic or it will lose data to retention; \
             run `kafka-configs --alter --entity-type topics --entity-name {topic} --add-config cleanup.policy=compact` or choose another {setting}"
        )));
    }
    Ok(())
}
