//! Transformations (Kafka Connect's single message transforms) and predicates.
//!
//! The worker runs a connector's chain (`transforms=a,b`) on every record: for sources after
//! `poll` and before the converter, for sinks after the converter and before `put`. A
//! transformation gets the record and returns it changed, or `None` to drop it. A predicate
//! (`transforms.<alias>.predicate`) decides whether a transformation applies to a record.
//!
//! Ferry's own transformations implement these traits too. A third party exports one from a
//! `cdylib` with [`export_transformation!`](crate::export_transformation) or
//! [`export_predicate!`](crate::export_predicate), and the worker finds it on its `plugin.path`.
//! Its configuration is a typed struct, as a connector's is: the keys under
//! `transforms.<alias>.` (or `predicates.<alias>.`), without `type`, `predicate` and `negate`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::config::ConnectorConfig;
use crate::data::{Payload, Schema, Structured};
use crate::{ConnectError, Result};

/// A record as transformations see it: Kafka Connect's `ConnectRecord`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRecord {
    /// The Kafka topic (sources: where it will go; sinks: where it came from, or renamed).
    pub topic: String,
    /// The partition; `None` lets the producer's partitioner choose (sources).
    pub partition: Option<i32>,
    /// The key; `None` is a null key.
    pub key: Option<Payload>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<Payload>,
    /// Headers, in order; names may repeat.
    pub headers: Vec<ConnectHeader>,
    /// Timestamp in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
}

/// One header: a name and a value that stays bytes until a transformation writes a structured
/// one (the connector's `header.converter` turns that into bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectHeader {
    /// The header's name.
    pub name: String,
    /// The value; `None` is a null header value.
    pub value: Option<Payload>,
}

impl ConnectHeader {
    /// A header with a structured value.
    pub fn structured(name: impl Into<String>, value: Structured) -> ConnectHeader {
        ConnectHeader {
            name: name.into(),
            value: Some(Payload::Structured(value)),
        }
    }
}

impl ConnectRecord {
    /// A record for `topic` with nothing else set.
    pub fn new(topic: impl Into<String>) -> ConnectRecord {
        ConnectRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    /// True when the value is null: a tombstone.
    pub fn is_tombstone(&self) -> bool {
        self.value.as_ref().is_none_or(Payload::is_null)
    }
}

/// A single message transformation.
pub trait Transformation: Send + 'static {
    /// The typed configuration; its JSON Schema documents and validates the keys.
    type Config: ConnectorConfig;

    /// Builds the transformation from its configuration; one instance per task.
    fn new(config: Self::Config) -> Result<Self>
    where
        Self: Sized;

    /// The transformation's version, shown by `GET /connector-plugins?connectorsOnly=false`.
    fn version() -> &'static str
    where
        Self: Sized;

    /// Transforms one record, or drops it (`Ok(None)`). An error follows the connector's
    /// `errors.tolerance`.
    fn apply(&mut self, record: ConnectRecord) -> Result<Option<ConnectRecord>>;
}

/// A condition on a record that decides whether a transformation applies.
pub trait Predicate: Send + 'static {
    /// The typed configuration.
    type Config: ConnectorConfig;

    /// Builds the predicate from its configuration; one instance per task.
    fn new(config: Self::Config) -> Result<Self>
    where
        Self: Sized;

    /// The predicate's version.
    fn version() -> &'static str
    where
        Self: Sized;

    /// True when the record matches.
    fn test(&mut self, record: &ConnectRecord) -> Result<bool>;
}

/// The JSON form in which a record crosses the plugin boundary to a transformation or
/// predicate in a library: `{"topic", "partition", "timestamp", "key", "value", "headers":
/// [{"name", "value"}]}`, each payload `null`, `{"bytes": base64}` or `{"schema", "value"}`.
pub mod wire {
    use super::*;

    /// A record as JSON text; JSON text payloads are parsed into structured ones.
    pub fn encode(record: &ConnectRecord) -> Result<String> {
        let headers: Vec<Value> = record
            .headers
            .iter()
            .map(|h| Ok(json!({"name": h.name, "value": payload(h.value.as_ref())?})))
            .collect::<Result<_>>()?;
        Ok(json!({
            "topic": record.topic,
            "partition": record.partition,
            "timestamp": record.timestamp_ms,
            "key": payload(record.key.as_ref())?,
            "value": payload(record.value.as_ref())?,
            "headers": headers,
        })
        .to_string())
    }

    fn payload(payload: Option<&Payload>) -> Result<Value> {
        Ok(match payload {
            None => Value::Null,
            Some(Payload::Bytes(bytes)) => json!({"bytes": BASE64.encode(bytes)}),
            Some(Payload::JsonText(text)) => {
                let value: Value = serde_json::from_slice(text)
                    .map_err(|e| ConnectError::data(format!("the data is not valid JSON ({e})")))?;
                json!({"schema": null, "value": value})
            }
            Some(Payload::Structured(s)) => json!({"schema": s.schema, "value": s.value}),
        })
    }

    /// A record from its JSON text.
    pub fn decode(text: &[u8]) -> Result<ConnectRecord> {
        let malformed = |what: &str| ConnectError::data(format!("malformed record JSON: {what}"));
        let document: Value =
            serde_json::from_slice(text).map_err(|e| malformed(&e.to_string()))?;
        let object = document
            .as_object()
            .ok_or_else(|| malformed("not an object"))?;
        let topic = object
            .get("topic")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("no topic"))?;
        let int = |name: &str| object.get(name).and_then(Value::as_i64);
        let headers = match object.get("headers") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|h| {
                    let name = h
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| malformed("a header without a name"))?;
                    Ok(ConnectHeader {
                        name: name.to_string(),
                        value: payload_from(h.get("value"))?,
                    })
                })
                .collect::<Result<_>>()?,
            _ => Vec::new(),
        };
        Ok(ConnectRecord {
            topic: topic.to_string(),
            partition: int("partition").map(|p| p as i32),
            key: payload_from(object.get("key"))?,
            value: payload_from(object.get("value"))?,
            headers,
            timestamp_ms: int("timestamp"),
        })
    }

    fn payload_from(value: Option<&Value>) -> Result<Option<Payload>> {
        let Some(Value::Object(object)) = value else {
            return Ok(None);
        };
        if let Some(Value::String(encoded)) = object.get("bytes") {
            let bytes = BASE64
                .decode(encoded)
                .map_err(|e| ConnectError::data(format!("malformed record JSON: bytes ({e})")))?;
            return Ok(Some(Payload::Bytes(bytes)));
        }
        let schema =
            match object.get("schema") {
                None | Some(Value::Null) => None,
                Some(schema) => Some(serde_json::from_value::<Schema>(schema.clone()).map_err(
                    |e| ConnectError::data(format!("malformed record JSON: schema ({e})")),
                )?),
            };
        let value = object.get("value").cloned().unwrap_or(Value::Null);
        Ok(Some(Payload::Structured(Structured { schema, value })))
    }

    /// A transformation's answer: the record, or `null` when it was dropped.
    pub fn encode_outcome(outcome: Option<&ConnectRecord>) -> Result<String> {
        match outcome {
            Some(record) => encode(record),
            None => Ok("null".to_string()),
        }
    }

    /// The record a transformation returned, or `None` when it dropped it.
    pub fn decode_outcome(text: &[u8]) -> Result<Option<ConnectRecord>> {
        if text == b"null" {
            return Ok(None);
        }
        decode(text).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SchemaType;

    #[test]
    fn records_cross_the_boundary_unchanged() {
        let record = ConnectRecord {
            topic: "cars".into(),
            partition: Some(3),
            key: Some(Payload::Bytes(vec![0, 255])),
            value: Some(Payload::Structured(Structured::with_schema(
                Schema::of(SchemaType::Int32),
                json!(7),
            ))),
            headers: vec![
                ConnectHeader {
                    name: "h".into(),
                    value: Some(Payload::Bytes(b"x".to_vec())),
                },
                ConnectHeader {
                    name: "n".into(),
                    value: None,
                },
            ],
            timestamp_ms: Some(1_700_000_000_000),
        };
        let text = wire::encode(&record).unwrap();
        assert_eq!(wire::decode(text.as_bytes()).unwrap(), record);
        assert_eq!(wire::decode_outcome(b"null").unwrap(), None);

        let mut json_text = ConnectRecord::new("t");
        json_text.value = Some(Payload::JsonText(br#"{"a":1}"#.to_vec()));
        let back = wire::decode(wire::encode(&json_text).unwrap().as_bytes()).unwrap();
        assert_eq!(back.value, Some(Payload::schemaless(json!({"a": 1}))));
    }

    #[test]
    fn tombstones_are_null_values() {
        let mut record = ConnectRecord::new("t");
        assert!(record.is_tombstone());
        record.value = Some(Payload::schemaless(Value::Null));
        assert!(record.is_tombstone());
        record.value = Some(Payload::Bytes(vec![]));
        assert!(!record.is_tombstone());
    }
}
