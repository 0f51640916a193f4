//! Producing test records to the real Kafka.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::Services;

/// A record to produce.
pub struct Outgoing {
    pub key: Option<String>,
    pub value: String,
    pub headers: Vec<(String, String)>,
}

impl Outgoing {
    /// A keyed record without headers.
    pub fn keyed(key: impl Into<String>, value: impl Into<String>) -> Self {
        Outgoing {
            key: Some(key.into()),
            value: value.into(),
            headers: Vec::new(),
        }
    }
}

/// An idempotent producer.
pub fn producer() -> FutureProducer {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", Services::from_env().kafka_bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

/// Produces records in order and waits for Kafka to acknowledge each.
pub async fn produce(topic: &str, records: Vec<Outgoing>) {
    let producer = producer();
    let mut pending = Vec::with_capacity(records.len());
    for record in &records {
        let mut headers = OwnedHeaders::new();
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let mut out = FutureRecord::to(topic)
            .payload(&record.value)
            .headers(headers);
        if let Some(key) = &record.key {
            out = out.key(key);
        }
        pending.push(producer.send_result(out).map_err(|(e, _)| e).unwrap());
    }
    for delivery in pending {
        delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
}
