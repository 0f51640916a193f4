//! Creating and checking the worker's internal, compacted topics.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use super::StoreError;
use crate::config::topic_creation::TopicSettings;

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

/// Creates `topic` for a source connector's `topic.creation.*` group unless it exists (a topic
/// that exists is used as it is, as Kafka Connect does). True when it was created.
pub async fn create_topic_unless_exists(
    client: &ClientConfig,
    topic: &str,
    settings: &TopicSettings,
) -> Result<bool, String> {
    let admin: AdminClient<DefaultClientContext> = client
        .create()
        .map_err(|e| format!("cannot create a Kafka admin client: {e}"))?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut new_topic = NewTopic::new(
        topic,
        settings.partitions,
        TopicReplication::Fixed(settings.replication_factor),
    );
    for (key, value) in &settings.configs {
        new_topic = new_topic.set(key, value);
    }
    let how = format!(
        "topic.creation group {}: replication.factor {}, partitions {}",
        settings.group, settings.replication_factor, settings.partitions
    );
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .map_err(|e| format!("cannot create topic {topic} ({how}): {e}"))?;
    // One topic asked for, one answer.
    match results.into_iter().next() {
        Some(Ok(_)) => {
            tracing::info!(topic, group = %settings.group, replication_factor = settings.replication_factor,
                partitions = settings.partitions, configs = ?settings.configs, "created topic (topic.creation)");
            Ok(true)
        }
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => Ok(false),
        Some(Err((_, code))) => Err(format!(
            "cannot create topic {topic} ({how}): {code}; fix the topic.creation.{}.* keys (a replication factor above the number of brokers, say) or create the topic yourself",
            settings.group
        )),
    }
}
