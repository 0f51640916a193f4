//! What is published for each record: the topic from [`crate::routing`], the value bytes as the
//! payload, the QoS and retain flag (connector defaults, overridable per record by headers), and
//! with MQTT 5 the user properties, content type and message expiry taken from headers.
//!
//! - Payload: the record value, byte for byte; a null value is an empty payload (with retain,
//!   that clears the topic's retained message, as a Kafka tombstone deletes a key).
//! - Headers are looked up by name; when a name repeats, the last one counts.
//! - A record that cannot be published as configured (template not fillable, an override header
//!   with a value that is not valid, a packet over `mqtt.max.packet.size.bytes`) yields the
//!   reason, for the errant-record report.

use bytes::Bytes;
use ferry_api::{Header, SinkRecord};
use ferry_mqtt_common::client::{OutgoingMessage, PublishProperties};

use crate::config::MqttSinkConfig;
use crate::routing::TopicTemplate;

/// Builds the MQTT message of each record.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    template: TopicTemplate,
    qos: u8,
    retain: bool,
    v5: bool,
    max_packet_size: u32,
    qos_header: String,
    retain_header: String,
    user_property_prefix: String,
    content_type_header: String,
    message_expiry_header: String,
}

impl MessageBuilder {
    /// The builder for a (checked) configuration.
    pub fn new(config: &MqttSinkConfig) -> Result<MessageBuilder, String> {
        Ok(MessageBuilder {
            template: TopicTemplate::parse(&config.topic)?,
            qos: config.qos,
            retain: config.retain,
            v5: config.v5(),
            max_packet_size: config.connection.max_packet_size_bytes,
            qos_header: config.qos_header.clone(),
            retain_header: config.retain_header.clone(),
            user_property_prefix: config.user_property_header_prefix.clone(),
            content_type_header: config.content_type_header.clone(),
            message_expiry_header: config.message_expiry_header.clone(),
        })
    }

    /// The message for `record`, or why it cannot be published. `broker_max_packet_size` is the
    /// limit the broker announced (MQTT 5), when lower than the configured one.
    pub fn build(
        &self,
        record: &SinkRecord,
        broker_max_packet_size: Option<u32>,
    ) -> Result<OutgoingMessage, String> {
        let topic = self.template.render(record)?;
        let qos = match header(record, &self.qos_header) {
            None => self.qos,
            Some(value) => match value {
                b"0" => 0,
                b"1" => 1,
                b"2" => 2,
                _ => {
                    return Err(format!(
                        "header `{}` is `{}`; a QoS override must be 0, 1 or 2",
                        self.qos_header,
                        String::from_utf8_lossy(value)
                    ))
                }
            },
        };
        let retain = match header(record, &self.retain_header) {
            None => self.retain,
            Some(value) => match std::str::from_utf8(value).map(str::to_ascii_lowercase) {
                Ok(text) if text == "true" => true,
                Ok(text) if text == "false" => false,
                _ => {
                    return Err(format!(
                        "header `{}` is `{}`; a retain override must be true or false",
                        self.retain_header,
                        String::from_utf8_lossy(value)
                    ))
                }
            },
        };
        let properties = if self.v5 {
            self.properties(record)?
        } else {
            None
        };
        let message = OutgoingMessage {
            topic,
            payload: Bytes::from(record.value.clone().unwrap_or_default()),
            qos,
            retain,
            properties,
        };
        let limit = broker_max_packet_size.map_or(self.max_packet_size, |broker| {
            broker.min(self.max_packet_size)
        });
        let size = packet_size(&message);
        if size > limit as usize {
            return Err(format!(
                "the MQTT packet would be {size} bytes, more than the {limit} allowed \
                 (`mqtt.max.packet.size.bytes`, or the broker's maximum packet size)"
            ));
        }
        Ok(message)
    }

    fn properties(&self, record: &SinkRecord) -> Result<Option<PublishProperties>, String> {
        let mut properties = PublishProperties::default();
        if !self.user_property_prefix.is_empty() {
            for h in &record.headers {
                if let Some(name) = h.name.strip_prefix(&self.user_property_prefix) {
                    if name.is_empty() {
                        continue;
                    }
                    let value = String::from_utf8(h.value.clone()).map_err(|_| {
                        format!("header `{}` is not UTF-8; user properties are text", h.name)
                    })?;
                    properties.user_properties.push((name.to_string(), value));
                }
            }
        }
        if let Some(value) = header(record, &self.content_type_header) {
            let text = String::from_utf8(value.to_vec()).map_err(|_| {
                format!(
                    "header `{}` is not UTF-8; a content type is text",
                    self.content_type_header
                )
            })?;
            properties.content_type = Some(text);
        }
        if let Some(value) = header(record, &self.message_expiry_header) {
            let seconds = std::str::from_utf8(value)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok())
                .ok_or_else(|| {
                    format!(
                        "header `{}` is `{}`; a message expiry interval is a whole number of \
                         seconds",
                        self.message_expiry_header,
                        String::from_utf8_lossy(value)
                    )
                })?;
            properties.message_expiry_interval = Some(seconds);
        }
        Ok((properties != PublishProperties::default()).then_some(properties))
    }
}

/// The value of the last header named `name`; never for an empty name (override disabled).
fn header<'a>(record: &'a SinkRecord, name: &str) -> Option<&'a [u8]> {
    if name.is_empty() {
        return None;
    }
    record
        .headers
        .iter()
        .rev()
        .find(|h: &&Header| h.name == name)
        .map(|h| h.value.as_slice())
}

/// The size of the PUBLISH packet, in bytes.
fn packet_size(message: &OutgoingMessage) -> usize {
    let mut remaining = 2 + message.topic.len() + message.payload.len();
    if message.qos > 0 {
        remaining += 2;
    }
    if let Some(p) = &message.properties {
        let mut properties = 0;
        for (name, value) in &p.user_properties {
            properties += 1 + 2 + name.len() + 2 + value.len();
        }
        if let Some(content_type) = &p.content_type {
            properties += 1 + 2 + content_type.len();
        }
        if p.message_expiry_interval.is_some() {
            properties += 1 + 4;
        }
        remaining += varint_len(properties) + properties;
    }
    1 + varint_len(remaining) + remaining
}

fn varint_len(n: usize) -> usize {
    match n {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::ConfigMap;

    fn builder(extra: &[(&str, &str)]) -> MessageBuilder {
        let mut config: ConfigMap = [
            ("mqtt.server.uri", "tcp://127.0.0.1:1883"),
            ("mqtt.topic", "cars/{key}/alerts"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            config.insert(k.to_string(), v.to_string());
        }
        MessageBuilder::new(&crate::config::parse(&config).unwrap()).unwrap()
    }

    fn record(value: Option<&str>, headers: &[(&str, &str)]) -> SinkRecord {
        SinkRecord {
            topic: "car-alerts".into(),
            partition: 0,
            offset: 7,
            key: Some(b"car-1".to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
            headers: headers.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
            timestamp_ms: None,
            original: None,
        }
    }

    #[test]
    fn defaults_and_header_overrides() {
        let b = builder(&[]);
        let m = b.build(&record(Some("hot"), &[]), None).unwrap();
        assert_eq!(m.topic, "cars/car-1/alerts");
        assert_eq!(&m.payload[..], b"hot");
        assert_eq!((m.qos, m.retain), (1, false));
        assert_eq!(m.properties, None);

        let m = b
            .build(
                &record(None, &[("mqtt.qos", "2"), ("mqtt.retain", "TRUE")]),
                None,
            )
            .unwrap();
        assert_eq!((m.qos, m.retain), (2, true));
        assert!(m.payload.is_empty(), "null value → empty payload");

        for (name, value, why) in [
            ("mqtt.qos", "3", "must be 0, 1 or 2"),
            ("mqtt.qos", "", "must be 0, 1 or 2"),
            ("mqtt.retain", "yes", "true or false"),
        ] {
            let error = b.build(&record(None, &[(name, value)]), None).unwrap_err();
            assert!(error.contains(why) && error.contains(name), "{error}");
        }

        let off = builder(&[("mqtt.qos.header", ""), ("mqtt.qos", "0")]);
        let m = off
            .build(&record(None, &[("mqtt.qos", "2")]), None)
            .unwrap();
        assert_eq!(m.qos, 0, "override disabled");
    }

    #[test]
    fn mqtt5_properties_come_from_headers() {
        let b = builder(&[("mqtt.version", "5")]);
        let m = b
            .build(
                &record(
                    Some("{}"),
                    &[
                        ("mqtt.user.unit", "celsius"),
                        ("other", "x"),
                        ("mqtt.user.fleet", "eu"),
                        ("mqtt.content.type", "application/json"),
                        ("mqtt.message.expiry.interval", "60"),
                    ],
                ),
                None,
            )
            .unwrap();
        let p = m.properties.unwrap();
        assert_eq!(
            p.user_properties,
            [
                ("unit".to_string(), "celsius".to_string()),
                ("fleet".to_string(), "eu".to_string())
            ]
        );
        assert_eq!(p.content_type.as_deref(), Some("application/json"));
        assert_eq!(p.message_expiry_interval, Some(60));

        let error = b
            .build(
                &record(None, &[("mqtt.message.expiry.interval", "soon")]),
                None,
            )
            .unwrap_err();
        assert!(error.contains("whole number of seconds"), "{error}");

        // MQTT 3.1.1 has no properties: the headers are ignored.
        let m = builder(&[])
            .build(&record(None, &[("mqtt.user.unit", "celsius")]), None)
            .unwrap();
        assert_eq!(m.properties, None);
    }

    #[test]
    fn packets_over_the_limit_are_refused() {
        let b = builder(&[("mqtt.max.packet.size.bytes", "1024")]);
        let big = "x".repeat(1024);
        let error = b.build(&record(Some(&big), &[]), None).unwrap_err();
        assert!(error.contains("mqtt.max.packet.size.bytes"), "{error}");
        let small = "x".repeat(900);
        assert!(b.build(&record(Some(&small), &[]), None).is_ok());
        assert!(b.build(&record(Some(&small), &[]), Some(512)).is_err());
        // 1 + 2 (remaining length) + 2 + 17 (topic) + 2 (packet id) + 900
        let m = b.build(&record(Some(&small), &[]), None).unwrap();
        assert_eq!(packet_size(&m), 1 + 2 + 2 + 17 + 2 + 900);
    }
}
