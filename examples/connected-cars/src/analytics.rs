//! The analytics step: reads `sensor-data` from Kafka, flags overheating engines, and writes
//! alerts keyed by car id to `car-alerts` (the MQTT sink routes them to `cars/<car>/alerts`).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::now_ms;
use crate::stats::{Counter, Samples, Tally};
use crate::telemetry::Telemetry;

/// What the analytics step observed.
#[derive(Default)]
pub struct AnalyticsStats {
    /// Telemetry of this run found in Kafka, with car → Kafka-consumer latency.
    pub telemetry: Tally,
    /// The two legs of that latency, split at the record's timestamp (when the MQTT source
    /// received the message): car → Ferry over MQTT, and Ferry → this consumer through Kafka.
    pub car_to_ferry: Samples,
    pub ferry_to_consumer: Samples,
    /// Alerts Kafka acknowledged.
    pub alerts_produced: Counter,
    /// Alerts Kafka refused.
    pub alert_failures: Counter,
}

/// Consumes and produces until `stop` turns true. Signals `ready` once positioned, so the fleet
/// starts only when nothing it sends can be missed.
pub async fn run(
    bootstrap: String,
    input: String,
    output: String,
    run: String,
    stats: Arc<AnalyticsStats>,
    mut stop: watch::Receiver<bool>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<()> {
    ensure_topics(&bootstrap, &[(&input, 10), (&output, 4)]).await?;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("connected-cars-analytics-{run}"))
        .set("enable.auto.commit", "false")
        .create()?;
    // Start exactly at the current end of every partition: everything the fleet sends after
    // `ready` is read, nothing of earlier runs. Just-created partitions may have no leader yet,
    // so retry briefly.
    let mut attempts = 0;
    let assignment = loop {
        match end_offsets(&consumer, &input) {
            Ok(assignment) => break assignment,
            Err(_) if attempts < 60 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error),
        }
    };
    consumer.assign(&assignment)?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .create()?;
    let _ = ready.send(());
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            message = consumer.recv() => {
                if let Ok(message) = message {
                    handle(&message, &run, &output, &producer, &stats);
                }
            }
        }
    }
}

/// Every partition of `topic`, positioned at its current end.
fn end_offsets(consumer: &StreamConsumer, topic: &str) -> anyhow::Result<TopicPartitionList> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    let mut assignment = TopicPartitionList::new();
    for partitions in metadata.topics().iter().map(|t| t.partitions()) {
        for partition in partitions {
            let (_, high) =
                consumer.fetch_watermarks(topic, partition.id(), Duration::from_secs(30))?;
            assignment.add_partition_offset(topic, partition.id(), Offset::Offset(high))?;
        }
    }
    Ok(assignment)
}

/// Creates the demo's topics when missing (10 partitions for telemetry, as in the talk).
async fn ensure_topics(bootstrap: &str, topics: &[(&str, i32)]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    for result in admin
        .create_topics(&new_topics, &AdminOptions::new())
        .await?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => anyhow::bail!("cannot create topic {topic}: {code}"),
        }
    }
    Ok(())
}

fn handle(
    message: &rdkafka::message::BorrowedMessage<'_>,
    run: &str,
    output: &str,
    producer: &FutureProducer,
    stats: &Arc<AnalyticsStats>,
) {
    let Some(Ok(reading)) = message.payload().map(serde_json::from_slice::<Telemetry>) else {
        return;
    };
    if reading.run != run {
        return; // an earlier run's record
    }
    let now = now_ms();
    let latency = now.saturating_sub(reading.sent_at_ms);
    if !stats.telemetry.record(&reading.car, reading.seq, latency) {
        return; // a duplicate: its alert was already raised
    }
    if let Some(received) = message
        .timestamp()
        .to_millis()
        .and_then(|t| u64::try_from(t).ok())
    {
        stats
            .car_to_ferry
            .push(received.saturating_sub(reading.sent_at_ms));
        stats.ferry_to_consumer.push(now.saturating_sub(received));
    }
    let Some(alert) = reading.alert() else {
        return;
    };
    let payload = serde_json::to_vec(&alert).unwrap_or_default();
    // Drop the borrowed record from the error at once, so only the future is kept.
    let delivery = producer
        .send_result(FutureRecord::to(output).key(&alert.car).payload(&payload))
        .map_err(|(error, _)| error);
    let stats = stats.clone();
    tokio::spawn(async move {
        match delivery {
            Ok(future) => match future.await {
                Ok(Ok(_)) => stats.alerts_produced.inc(),
                _ => stats.alert_failures.inc(),
            },
            Err(_) => stats.alert_failures.inc(),
        }
    });
}
