//! Test fixture: `ferry.test.predicates.ValueContains`, a predicate in a library, true when the
//! value's bytes (or JSON text) contain `text`. A value `panic` panics, to show the boundary
//! contains it.

use ferry_api::data::Payload;
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Predicate};
use ferry_api::Result;

/// The predicate's keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct ValueContainsConfig {
    /// Text the value must contain.
    text: String,
}

/// The predicate.
pub struct ValueContains {
    text: String,
}

impl Predicate for ValueContains {
    type Config = ValueContainsConfig;

    fn new(config: ValueContainsConfig) -> Result<Self> {
        Ok(ValueContains { text: config.text })
    }

    fn version() -> &'static str {
        "0.0.1"
    }

    fn test(&mut self, record: &ConnectRecord) -> Result<bool> {
        let text = match &record.value {
            Some(Payload::Bytes(bytes)) | Some(Payload::JsonText(bytes)) => {
                String::from_utf8_lossy(bytes).into_owned()
            }
            Some(Payload::Structured(s)) => s.value.to_string(),
            None => String::new(),
        };
        if text.contains("panic") {
            panic!("asked to panic");
        }
        Ok(text.contains(&self.text))
    }
}

ferry_api::export_predicate!(ValueContains, "ferry.test.predicates.ValueContains");
