//! Kafka Connect's converters, by class name or short name: ByteArray (default), String, JSON.
//!
//! Without transformations, records stay bytes and converters only check and reshape them:
//! String insists on UTF-8, JSON on valid JSON and, with `schemas.enable=true`, writes and reads
//! Kafka Connect's `{"schema": ..., "payload": ...}` envelope (schema `null` for bytes from a
//! connector: MQTT payloads carry none). With a chain, they turn bytes into [`Payload`]s (sinks)
//! and payloads into bytes (sources): a structured value is written as JSON, in the envelope with
//! its schema when `schemas.enable=true`; ByteArray and String write a string as its text and
//! other values as JSON text.

use ferry_api::data::{Payload, Schema, SchemaType, Structured};
use serde_json::Value;

pub use crate::config::connector::{Converter, HeaderConverter};

impl Converter {
    /// Shapes bytes produced by a source connector for Kafka.
    pub fn to_kafka(&self, data: Option<Vec<u8>>) -> Result<Option<Vec<u8>>, String> {
        let Some(bytes) = data else {
            return Ok(None);
        };
        match self {
            Converter::ByteArray => Ok(Some(bytes)),
            Converter::String => String::from_utf8(bytes)
                .map(|s| Some(s.into_bytes()))
                .map_err(|e| format!("StringConverter: not UTF-8 ({e})")),
            Converter::Json { schemas_enable } => {
                let value: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("JsonConverter: not JSON ({e})"))?;
                if *schemas_enable {
                    let envelope = serde_json::json!({"schema": null, "payload": value});
                    Ok(Some(envelope.to_string().into_bytes()))
                } else {
                    Ok(Some(bytes))
                }
            }
        }
    }

    /// Shapes bytes read from Kafka for a sink connector, in place: bytes that need no
    /// reshaping are not copied, and on an error `data` is left as it was (for the dead-letter
    /// topic).
    pub fn from_kafka(&self, data: &mut Option<Vec<u8>>) -> Result<(), String> {
        let Some(bytes) = data.as_deref() else {
            return Ok(());
        };
        match self {
            Converter::ByteArray => Ok(()),
            Converter::String => std::str::from_utf8(bytes)
                .map(|_| ())
                .map_err(|e| format!("StringConverter: not UTF-8 ({e})")),
            Converter::Json { schemas_enable } => {
                let value: Value = serde_json::from_slice(bytes)
                    .map_err(|e| format!("JsonConverter: not JSON ({e})"))?;
                if !*schemas_enable {
                    return Ok(());
                }
                match value {
                    Value::Object(mut envelope)
                        if envelope.contains_key("schema") && envelope.contains_key("payload") =>
                    {
                        let payload = envelope.remove("payload").unwrap_or(Value::Null);
                        *data = Some(payload.to_string().into_bytes());
                        Ok(())
                    }
                    _ => Err("JsonConverter with schemas.enable=true expects {\"schema\": ..., \"payload\": ...}; set value.converter.schemas.enable=false for plain JSON".to_string()),
                }
            }
        }
    }
}

impl Converter {
    /// A payload from a source's chain, as bytes for Kafka.
    pub fn payload_to_kafka(&self, payload: Option<Payload>) -> Result<Option<Vec<u8>>, String> {
        match payload {
            None => Ok(None),
            Some(Payload::Bytes(bytes) | Payload::JsonText(bytes)) => self.to_kafka(Some(bytes)),
            Some(Payload::Structured(structured)) if structured.value.is_null() => Ok(None),
            Some(Payload::Structured(structured)) => match self {
                Converter::ByteArray | Converter::String => Ok(structured.into_bytes()),
                Converter::Json { schemas_enable } => {
                    let written = if *schemas_enable {
                        serde_json::to_vec(&serde_json::json!({
                            "schema": structured.schema,
                            "payload": structured.value,
                        }))
                    } else {
                        serde_json::to_vec(&structured.value)
                    };
                    Ok(Some(written.map_err(|e| format!("JsonConverter: {e}"))?))
                }
            },
        }
    }

    /// Bytes read from Kafka, as a payload for a sink's chain.
    pub fn payload_from_kafka(&self, data: Option<Vec<u8>>) -> Result<Option<Payload>, String> {
        let Some(bytes) = data else {
            return Ok(None);
        };
        match self {
            Converter::ByteArray => Ok(Some(Payload::Bytes(bytes))),
            Converter::String => {
                let text = String::from_utf8(bytes)
                    .map_err(|e| format!("StringConverter: not UTF-8 ({e})"))?;
                Ok(Some(Payload::Structured(Structured::with_schema(
                    Schema::of(SchemaType::String).optional(),
                    Value::String(text),
                ))))
            }
            Converter::Json { schemas_enable } => {
                let value: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("JsonConverter: not JSON ({e})"))?;
                if !*schemas_enable {
                    return Ok(Some(Payload::schemaless(value)));
                }
                match value {
                    Value::Object(mut envelope)
                        if envelope.contains_key("schema") && envelope.contains_key("payload") =>
                    {
                        let payload = envelope.remove("payload").unwrap_or(Value::Null);
                        let schema = match envelope.remove("schema") {
                            None | Some(Value::Null) => None,
                            Some(schema) => Some(serde_json::from_value::<Schema>(schema).map_err(
                                |e| format!("JsonConverter: the envelope's schema is not a Kafka Connect schema ({e})"),
                            )?),
                        };
                        Ok(Some(Payload::Structured(Structured { schema, value: payload })))
                    }
                    _ => Err("JsonConverter with schemas.enable=true expects {\"schema\": ..., \"payload\": ...}; set value.converter.schemas.enable=false for plain JSON".to_string()),
                }
            }
        }
    }
}

impl HeaderConverter {
    /// A header value as bytes for Kafka: values no transformation wrote stay as they were.
    pub fn to_bytes(
        &self,
        name: &str,
        payload: Option<Payload>,
    ) -> Result<Option<Vec<u8>>, String> {
        match (self, payload) {
            (_, None) => Ok(None),
            (_, Some(Payload::Bytes(bytes) | Payload::JsonText(bytes))) => Ok(Some(bytes)),
            (HeaderConverter::ByteArray, Some(Payload::Structured(s))) if !s.is_bytes() && !s.value.is_null() => Err(format!(
                "header `{name}` holds {}, which header.converter=ByteArrayConverter cannot write; use org.apache.kafka.connect.storage.SimpleHeaderConverter",
                ferry_transforms::json_type_name(&s.value)
            )),
            (_, Some(Payload::Structured(s))) => Ok(s.into_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::config;
    use ferry_api::ConfigMap;

    #[test]
    fn json_envelope_round_trip() {
        let json = Converter::from_config(
            &config(&[(
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            )]),
            "value.converter",
        )
        .unwrap();
        let out = json
            .to_kafka(Some(br#"{"speed":88}"#.to_vec()))
            .unwrap()
            .unwrap();
        let envelope: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(envelope["payload"]["speed"], 88);
        let mut back = Some(out.clone());
        json.from_kafka(&mut back).unwrap();
        let back = back.unwrap();
        assert_eq!(back, br#"{"speed":88}"#);
        assert!(json.to_kafka(Some(b"not json".to_vec())).is_err());
    }

    #[test]
    fn defaults_and_errors() {
        assert_eq!(
            Converter::from_config(&ConfigMap::new(), "key.converter").unwrap(),
            Converter::ByteArray
        );
        let plain = config(&[
            ("value.converter", "JsonConverter"),
            ("value.converter.schemas.enable", "false"),
        ]);
        assert_eq!(
            Converter::from_config(&plain, "value.converter").unwrap(),
            Converter::Json {
                schemas_enable: false
            }
        );
        let bad = Converter::from_config(&config(&[("key.converter", "Avro")]), "key.converter");
        assert!(bad.unwrap_err().contains("key.converter"));
        let string = Converter::String;
        assert!(string.to_kafka(Some(vec![0xff, 0xfe])).is_err());
    }

    #[test]
    fn structured_payloads_are_written_as_json_with_their_schema_when_asked() {
        let schema = Schema::structure(vec![ferry_api::data::Field::new(
            "speed",
            Schema::of(SchemaType::Int32),
        )]);
        let value = Payload::Structured(Structured::with_schema(
            schema,
            serde_json::json!({"speed": 88}),
        ));
        let enveloped = Converter::Json {
            schemas_enable: true,
        }
        .payload_to_kafka(Some(value.clone()))
        .unwrap()
        .unwrap();
        let envelope: Value = serde_json::from_slice(&enveloped).unwrap();
        assert_eq!(envelope["schema"]["fields"][0]["type"], "int32");
        assert_eq!(envelope["payload"]["speed"], 88);
        // And read back into the same structured value.
        let back = Converter::Json {
            schemas_enable: true,
        }
        .payload_from_kafka(Some(enveloped))
        .unwrap()
        .unwrap();
        assert_eq!(back, value);
        let plain = Converter::ByteArray
            .payload_to_kafka(Some(value))
            .unwrap()
            .unwrap();
        assert_eq!(plain, br#"{"speed":88}"#);
        let text = Payload::schemaless(Value::String("cars/1".into()));
        assert_eq!(
            Converter::String
                .payload_to_kafka(Some(text))
                .unwrap()
                .unwrap(),
            b"cars/1"
        );
    }

    #[test]
    fn header_converters_write_what_transformations_put_in_headers() {
        let number = || Some(Payload::schemaless(serde_json::json!(42)));
        assert_eq!(
            HeaderConverter::Simple
                .to_bytes("h", number())
                .unwrap()
                .unwrap(),
            b"42"
        );
        assert_eq!(
            HeaderConverter::String
                .to_bytes("h", number())
                .unwrap()
                .unwrap(),
            b"42"
        );
        let refused = HeaderConverter::ByteArray
            .to_bytes("h", number())
            .unwrap_err();
        assert!(refused.contains("header `h`"), "{refused}");
        let raw = Some(Payload::Bytes(vec![1, 2]));
        assert_eq!(
            HeaderConverter::ByteArray
                .to_bytes("h", raw)
                .unwrap()
                .unwrap(),
            [1, 2]
        );
    }
}
