//! Kafka Connect's converters, by class name or short name: ByteArray (default), String, JSON.
//!
//! Ferry's records carry bytes, so converters check and reshape bytes: String insists on UTF-8,
//! JSON on valid JSON and, with `schemas.enable=true`, writes and reads Kafka Connect's
//! `{"schema": ..., "payload": ...}` envelope (schema `null`: MQTT payloads carry none).

use ferry_api::ConfigMap;
use serde_json::Value;

/// How bytes are checked and shaped on their way to or from Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converter {
    /// Bytes pass through unchanged.
    ByteArray,
    /// Bytes must be UTF-8 text.
    String,
    /// Bytes must be JSON; `schemas_enable` adds or removes the envelope.
    Json {
        /// Wrap in / unwrap from `{"schema", "payload"}`.
        schemas_enable: bool,
    },
}

impl Converter {
    /// The converter configured under `prefix` (`key.converter` or `value.converter`).
    pub fn from_config(config: &ConfigMap, prefix: &str) -> Result<Converter, String> {
        let class = config
            .get(prefix)
            .map(String::as_str)
            .unwrap_or("ByteArrayConverter");
        let simple = class.rsplit('.').next().unwrap_or(class);
        match simple {
            "ByteArrayConverter" | "ByteArray" => Ok(Converter::ByteArray),
            "StringConverter" | "String" => Ok(Converter::String),
            "JsonConverter" | "Json" | "JSON" => {
                let key = format!("{prefix}.schemas.enable");
                let schemas_enable = match config.get(&key).map(String::as_str) {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(other) => {
                        return Err(format!("`{key}` must be true or false, got `{other}`"))
                    }
                };
                Ok(Converter::Json { schemas_enable })
            }
            _ => Err(format!(
                "`{prefix}` = `{class}` is not a known converter; use org.apache.kafka.connect.converters.ByteArrayConverter, org.apache.kafka.connect.storage.StringConverter or org.apache.kafka.connect.json.JsonConverter"
            )),
        }
    }

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

    /// Shapes bytes read from Kafka for a sink connector.
    pub fn from_kafka(&self, data: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        let Some(bytes) = data else {
            return Ok(None);
        };
        match self {
            Converter::ByteArray => Ok(Some(bytes.to_vec())),
            Converter::String => std::str::from_utf8(bytes)
                .map(|s| Some(s.as_bytes().to_vec()))
                .map_err(|e| format!("StringConverter: not UTF-8 ({e})")),
            Converter::Json { schemas_enable } => {
                let value: Value = serde_json::from_slice(bytes)
                    .map_err(|e| format!("JsonConverter: not JSON ({e})"))?;
                if !*schemas_enable {
                    return Ok(Some(bytes.to_vec()));
                }
                match value {
                    Value::Object(mut envelope)
                        if envelope.contains_key("schema") && envelope.contains_key("payload") =>
                    {
                        let payload = envelope.remove("payload").unwrap_or(Value::Null);
                        Ok(Some(payload.to_string().into_bytes()))
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

    fn config(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

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
        let back = json.from_kafka(Some(&out)).unwrap().unwrap();
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
