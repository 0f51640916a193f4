//! Kafka Connect's converters, by class name or short name: ByteArray (default), String, JSON.
//!
//! Ferry's records carry bytes, so converters check and reshape bytes: String insists on UTF-8,
//! JSON on valid JSON and, with `schemas.enable=true`, writes and reads Kafka Connect's
//! `{"schema": ..., "payload": ...}` envelope (schema `null`: MQTT payloads carry none).

use serde_json::Value;

pub use crate::config::connector::Converter;

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
}
