//! An example third-party transformation: `com.example.transforms.UppercaseField` upper-cases
//! one text field of each record value.
//!
//! ```json
//! "transforms": "shout",
//! "transforms.shout.type": "com.example.transforms.UppercaseField",
//! "transforms.shout.field": "status"
//! ```
//!
//! The value must be structured: a JSON payload (for the MQTT source, `mqtt.payload.format=json`;
//! for sinks, `value.converter=org.apache.kafka.connect.json.JsonConverter`). A record whose value
//! is null passes unchanged; one that is not a JSON object, or whose field is not text, is a data
//! error, which the connector's `errors.tolerance` decides about.

use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::serde_json::Value;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::{ConnectError, Result};

/// The keys under `transforms.<alias>.`.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct UppercaseFieldConfig {
    /// The top-level field of the value to upper-case.
    field: String,
}

/// The transformation: one instance per task, called from that task's thread.
pub struct UppercaseField {
    field: String,
}

impl Transformation for UppercaseField {
    type Config = UppercaseFieldConfig;

    fn new(config: UppercaseFieldConfig) -> Result<Self> {
        if config.field.is_empty() {
            return Err(ConnectError::config(
                "field",
                "must name a field of the value",
            ));
        }
        Ok(UppercaseField {
            field: config.field,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let Some(value) = record.value.as_mut() else {
            return Ok(Some(record));
        };
        if value.is_null() {
            return Ok(Some(record));
        }
        // Parses JSON text on first use; opaque bytes are refused with a message saying why.
        let structured = value.structured().map_err(ConnectError::data)?;
        let Value::Object(object) = &mut structured.value else {
            return Err(ConnectError::data(
                "UppercaseField: the value is not a JSON object",
            ));
        };
        match object.get_mut(&self.field) {
            Some(Value::String(text)) => *text = text.to_uppercase(),
            Some(_) => {
                return Err(ConnectError::data(format!(
                    "UppercaseField: field `{}` is not text",
                    self.field
                )))
            }
            None => {} // nothing to change
        }
        Ok(Some(record))
    }
}

ferry_api::export_transformation!(UppercaseField, "com.example.transforms.UppercaseField");

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::Payload;
    use ferry_api::serde_json::json;

    fn shout(value: Option<Payload>) -> Result<Option<ConnectRecord>> {
        let mut transformation = UppercaseField::new(UppercaseFieldConfig {
            field: "status".into(),
        })?;
        let mut record = ConnectRecord::new("cars");
        record.value = value;
        transformation.apply(record)
    }

    #[test]
    fn upper_cases_the_field_of_json_text_and_leaves_the_rest() {
        let text = Payload::JsonText(br#"{"status":"hot","car":"c-1"}"#.to_vec());
        let out = shout(Some(text)).unwrap().unwrap();
        assert_eq!(
            out.value,
            Some(Payload::schemaless(json!({"status": "HOT", "car": "c-1"})))
        );
        assert_eq!(shout(None).unwrap().unwrap().value, None);
    }

    #[test]
    fn refuses_bytes_and_fields_that_are_not_text() {
        let error = shout(Some(Payload::Bytes(b"hot".to_vec()))).unwrap_err();
        assert!(error.to_string().contains("JSON"), "{error}");
        let number = Payload::schemaless(json!({"status": 7}));
        assert!(shout(Some(number))
            .unwrap_err()
            .to_string()
            .contains("not text"));
    }
}
