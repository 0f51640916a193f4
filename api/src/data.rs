//! Record data between a connector, the transformation chain and the converters.
//!
//! Kafka Connect's model is a value plus an optional schema (`SchemaAndValue`); schemaless values
//! are maps. Ferry keeps that model with JSON as the value: a [`Structured`] is a
//! `serde_json::Value` with an optional [`Schema`] written exactly as JsonConverter writes
//! schemas (`{"type": "struct", "fields": [...], "optional": false}`), so a `{schema, payload}`
//! envelope reads into one without translation and a schema-aware converter has what it needs.
//! Values follow JsonConverter's encoding: integers and floats as JSON numbers (the schema says
//! which width), `bytes` as base64 strings, structs and string-keyed maps as objects.
//!
//! A [`Payload`] that nobody looks into stays the bytes it arrived as: no parse, no copy.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Kafka Connect's schema types, by JsonConverter's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaType {
    /// 8-bit signed integer.
    Int8,
    /// 16-bit signed integer.
    Int16,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 32-bit float (Kafka Connect's FLOAT32).
    Float,
    /// 64-bit float (Kafka Connect's FLOAT64).
    Double,
    /// Boolean.
    Boolean,
    /// UTF-8 string.
    String,
    /// Bytes (base64 in JSON).
    Bytes,
    /// Array of `items`.
    Array,
    /// Map from `keys` to `values`.
    Map,
    /// Struct of named `fields`.
    Struct,
}

impl SchemaType {
    /// Kafka Connect's name for the type (`INT32`, `FLOAT64`, ...), as its error messages use.
    pub fn connect_name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "INT8",
            SchemaType::Int16 => "INT16",
            SchemaType::Int32 => "INT32",
            SchemaType::Int64 => "INT64",
            SchemaType::Float => "FLOAT32",
            SchemaType::Double => "FLOAT64",
            SchemaType::Boolean => "BOOLEAN",
            SchemaType::String => "STRING",
            SchemaType::Bytes => "BYTES",
            SchemaType::Array => "ARRAY",
            SchemaType::Map => "MAP",
            SchemaType::Struct => "STRUCT",
        }
    }

    /// True for the types that are not containers.
    pub fn is_primitive(self) -> bool {
        !matches!(
            self,
            SchemaType::Array | SchemaType::Map | SchemaType::Struct
        )
    }
}

/// A Kafka Connect schema, in JsonConverter's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// The type.
    #[serde(rename = "type")]
    pub schema_type: SchemaType,
    /// Whether the value may be null.
    #[serde(default)]
    pub optional: bool,
    /// The schema's name, e.g. `org.apache.kafka.connect.data.Timestamp` for a logical type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The schema's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// Documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// The default value.
    #[serde(rename = "default", default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
    /// Free-form parameters (a decimal's `scale`, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, String>>,
    /// A struct's fields, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    /// An array's element schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Schema>>,
    /// A map's key schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Box<Schema>>,
    /// A map's value schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Box<Schema>>,
}

/// One field of a struct schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The field's name.
    pub field: String,
    /// The field's schema.
    #[serde(flatten)]
    pub schema: Schema,
}

/// Logical type names, as Kafka Connect spells them.
pub mod logical {
    /// INT64 milliseconds since the epoch.
    pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
    /// INT32 days since the epoch.
    pub const DATE: &str = "org.apache.kafka.connect.data.Date";
    /// INT32 milliseconds since midnight.
    pub const TIME: &str = "org.apache.kafka.connect.data.Time";
    /// BYTES unscaled big-endian two's complement, with a `scale` parameter.
    pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
}

impl Schema {
    /// A required schema of a type, with nothing else set.
    pub fn of(schema_type: SchemaType) -> Schema {
        Schema {
            schema_type,
            optional: false,
            name: None,
            version: None,
            doc: None,
            default_value: None,
            parameters: None,
            fields: Vec::new(),
            items: None,
            keys: None,
            values: None,
        }
    }

    /// The same schema, optional.
    pub fn optional(mut self) -> Schema {
        self.optional = true;
        self
    }

    /// A struct schema with these fields.
    pub fn structure(fields: Vec<Field>) -> Schema {
        Schema {
            fields,
            ..Schema::of(SchemaType::Struct)
        }
    }

    /// A struct schema of `fields` that keeps this one's name, version, doc and parameters
    /// (Kafka's `SchemaUtil.copySchemaBasics`): required and without a default, as in Kafka.
    pub fn struct_like(&self, fields: Vec<Field>) -> Schema {
        Schema {
            name: self.name.clone(),
            version: self.version,
            doc: self.doc.clone(),
            parameters: self.parameters.clone(),
            ..Schema::structure(fields)
        }
    }

    /// The field called `name`, for a struct schema.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.field == name)
    }

    /// True when this is the logical type `name`.
    pub fn is_logical(&self, name: &str) -> bool {
        self.name.as_deref() == Some(name)
    }
}

impl Field {
    /// A field called `name` with `schema`.
    pub fn new(name: impl Into<String>, schema: Schema) -> Field {
        Field {
            field: name.into(),
            schema,
        }
    }
}

/// A value with an optional schema: Kafka Connect's `SchemaAndValue`.
#[derive(Debug, Clone, PartialEq)]
pub struct Structured {
    /// The schema, when the data has one.
    pub schema: Option<Schema>,
    /// The value; `Value::Null` is a null.
    pub value: Value,
}

impl Structured {
    /// A schemaless value.
    pub fn schemaless(value: Value) -> Structured {
        Structured {
            schema: None,
            value,
        }
    }

    /// A value with a schema.
    pub fn with_schema(schema: Schema, value: Value) -> Structured {
        Structured {
            schema: Some(schema),
            value,
        }
    }

    /// True when the schema says `bytes`.
    pub fn is_bytes(&self) -> bool {
        self.schema
            .as_ref()
            .is_some_and(|s| s.schema_type == SchemaType::Bytes)
    }

    /// The value as bytes, the way Ferry hands it to a system that takes bytes: a string as its
    /// UTF-8, `bytes` (by schema) decoded from base64, anything else as JSON text; null as none.
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        let is_bytes = self.is_bytes();
        match self.value {
            Value::Null => None,
            Value::String(text) => {
                if is_bytes {
                    if let Ok(bytes) = BASE64.decode(&text) {
                        return Some(bytes);
                    }
                }
                Some(text.into_bytes())
            }
            // to_vec writes straight into the buffer; Display would go through a formatter.
            other => Some(serde_json::to_vec(&other).expect("a JSON value serializes")),
        }
    }
}

/// How a source connector's key or value bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadFormat {
    /// Opaque bytes.
    #[default]
    Bytes,
    /// JSON text: transforms see it as a schemaless structured value.
    Json,
}

/// A record key, value or header value on its way through the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Bytes nobody has looked into: what a connector produced or Kafka held.
    Bytes(Vec<u8>),
    /// JSON text not parsed yet; [`Payload::structured`] parses it the first time it is needed.
    JsonText(Vec<u8>),
    /// A value with an optional schema.
    Structured(Structured),
}

impl Payload {
    /// Bytes in the given format.
    pub fn from_bytes(bytes: Vec<u8>, format: PayloadFormat) -> Payload {
        match format {
            PayloadFormat::Bytes => Payload::Bytes(bytes),
            PayloadFormat::Json => Payload::JsonText(bytes),
        }
    }

    /// A schemaless value.
    pub fn schemaless(value: Value) -> Payload {
        Payload::Structured(Structured::schemaless(value))
    }

    /// The structured value, parsing JSON text once; `Err` for opaque bytes or text that is not
    /// JSON, with a message that says why.
    pub fn structured(&mut self) -> Result<&mut Structured, String> {
        if let Payload::JsonText(text) = self {
            let value: Value = serde_json::from_slice(text)
                .map_err(|e| format!("the data is not valid JSON ({e})"))?;
            *self = Payload::schemaless(value);
        }
        match self {
            Payload::Structured(structured) => Ok(structured),
            Payload::Bytes(_) => Err("the data is opaque bytes, not a structured value: read it as JSON (a source connector's JSON payload format, e.g. mqtt.payload.format=json; for sinks value.converter/key.converter=org.apache.kafka.connect.json.JsonConverter)".to_string()),
            Payload::JsonText(_) => unreachable!("parsed above"),
        }
    }

    /// The schema, when the data is structured and has one (JSON text has none).
    pub fn schema(&self) -> Option<&Schema> {
        match self {
            Payload::Structured(structured) => structured.schema.as_ref(),
            _ => None,
        }
    }

    /// True for a structured null.
    pub fn is_null(&self) -> bool {
        matches!(
            self,
            Payload::Structured(Structured {
                value: Value::Null,
                ..
            })
        )
    }

    /// The bytes a system that takes bytes gets (see [`Structured::into_bytes`]).
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self {
            Payload::Bytes(bytes) | Payload::JsonText(bytes) => Some(bytes),
            Payload::Structured(structured) => structured.into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schemas_read_and_write_in_json_converter_shape() {
        let text = json!({"type": "struct", "optional": false, "name": "car", "fields": [
            {"field": "id", "type": "string", "optional": false},
            {"field": "speed", "type": "double", "optional": true},
            {"field": "tags", "type": "array", "items": {"type": "string", "optional": false}, "optional": true}
        ]});
        let schema: Schema = serde_json::from_value(text.clone()).unwrap();
        assert_eq!(schema.schema_type, SchemaType::Struct);
        assert_eq!(
            schema.field("speed").unwrap().schema.schema_type,
            SchemaType::Double
        );
        assert!(schema.field("tags").unwrap().schema.items.is_some());
        assert_eq!(serde_json::to_value(&schema).unwrap(), text);
    }

    #[test]
    fn json_text_is_parsed_only_when_asked_and_bytes_refuse() {
        let mut text = Payload::JsonText(br#"{"a":1}"#.to_vec());
        assert_eq!(text.structured().unwrap().value, json!({"a": 1}));
        assert!(matches!(text, Payload::Structured(_)));
        let mut broken = Payload::JsonText(b"{".to_vec());
        assert!(broken.structured().unwrap_err().contains("not valid JSON"));
        let mut bytes = Payload::Bytes(b"{}".to_vec());
        assert!(bytes.structured().unwrap_err().contains("JSON"));
    }

    #[test]
    fn structured_values_become_bytes_as_their_text() {
        assert_eq!(
            Payload::schemaless(json!("cars/1")).into_bytes().unwrap(),
            b"cars/1"
        );
        assert_eq!(Payload::schemaless(json!(7)).into_bytes().unwrap(), b"7");
        assert_eq!(
            Payload::schemaless(json!({"a": [1]})).into_bytes().unwrap(),
            br#"{"a":[1]}"#
        );
        assert_eq!(Payload::schemaless(Value::Null).into_bytes(), None);
        let bytes = Structured::with_schema(Schema::of(SchemaType::Bytes), json!("AAE="));
        assert_eq!(bytes.into_bytes().unwrap(), vec![0, 1]);
    }
}
