//! The dead-letter topic of a sink connector (`errors.deadletterqueue.topic.name`): records that
//! cannot be written, unchanged, with Kafka Connect's `__connect.errors.*` headers saying why.
//! Each write is acknowledged by Kafka before the record's offset may be committed.

use std::time::Duration;

use crate::config::ConnectorKeys;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::Worker;

/// A dead-letter topic and its producer.
pub struct DeadLetterQueue {
    topic: String,
    producer: FutureProducer,
    connector: String,
    task: u32,
}

/// The original record, as read from Kafka.
pub struct Errant<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [ferry_api::Header],
}

impl Errant<'_> {
    /// The record for `errors.log.include.messages`: position, key, value and headers as text
    /// (lossy UTF-8, each cut at 1 KiB so one record cannot flood the log).
    pub fn describe(&self) -> String {
        fn text(bytes: Option<&[u8]>) -> String {
            match bytes {
                None => "null".to_string(),
                Some(bytes) => {
                    let cut = &bytes[..bytes.len().min(1024)];
                    let more = if cut.len() < bytes.len() { "..." } else { "" };
                    format!("{:?}{more}", String::from_utf8_lossy(cut))
                }
            }
        }
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|h| format!("{}={}", h.name, text(Some(&h.value))))
            .collect();
        format!(
            "topic={} partition={} offset={} key={} value={} headers=[{}]",
            self.topic,
            self.partition,
            self.offset,
            text(self.key),
            text(self.value),
            headers.join(", ")
        )
    }
}

impl DeadLetterQueue {
    /// The connector's dead-letter topic, when one is configured.
    pub fn from_config(
        context: &Worker,
        keys: &ConnectorKeys,
        task: u32,
    ) -> Result<Option<DeadLetterQueue>, String> {
        let Some(topic) = &keys.dead_letter_topic else {
            return Ok(None);
        };
        let connector = &keys.name;
        let mut client = context.config.kafka_client();
        client.set("enable.idempotence", "true").set("acks", "all");
        for (key, value) in &context.config.producer_overrides {
            client.set(key, value);
        }
        let producer = client
            .create()
            .map_err(|e| format!("cannot create the dead-letter producer: {e}"))?;
        Ok(Some(DeadLetterQueue {
            topic: topic.trim().to_string(),
            producer,
            connector: connector.to_string(),
            task,
        }))
    }

    /// Writes one record with the reason, and waits for Kafka's acknowledgement.
    pub fn write(&self, context: &Worker, record: &Errant<'_>, reason: &str) -> Result<(), String> {
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let task = self.task.to_string();
        let mut headers = OwnedHeaders::new();
        for header in record.headers {
            headers = headers.insert(Header {
                key: &header.name,
                value: Some(&header.value),
            });
        }
        let context_headers: [(&str, &str); 7] = [
            ("__connect.errors.topic", record.topic),
            ("__connect.errors.partition", &partition),
            ("__connect.errors.offset", &offset),
            ("__connect.errors.connector.name", &self.connector),
            ("__connect.errors.task.id", &task),
            ("__connect.errors.stage", "TASK_PUT"),
            ("__connect.errors.exception.message", reason),
        ];
        for (key, value) in context_headers {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut out: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = record.key {
            out = out.key(key);
        }
        if let Some(value) = record.value {
            out = out.payload(value);
        }
        context
            .runtime
            .block_on(self.producer.send(out, Duration::from_secs(30)))
            .map(|_| ())
            .map_err(|(e, _)| format!("cannot write to the dead-letter topic {}: {e}", self.topic))
    }
}
