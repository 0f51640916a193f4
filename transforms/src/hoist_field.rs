//! `HoistField$Key` / `HoistField$Value`: wraps the key or value in a struct with one field.

use std::marker::PhantomData;

use ferry_api::data::{Field, Payload, Schema, Structured};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::{Map, Value};

use crate::side::{class_of, Key, Side, Value as ValueSide};
use crate::BuiltIn;

/// `HoistField`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct HoistFieldConfig {
    /// Field name for the single field that will be created in the resulting Struct or Map.
    field: String,
}

/// Kafka Connect's `HoistField`, on the key or the value.
pub struct HoistField<S: Side> {
    field: String,
    class: String,
    side: PhantomData<S>,
}

impl<S: Side> Transformation for HoistField<S> {
    type Config = HoistFieldConfig;

    fn new(config: HoistFieldConfig) -> ferry_api::Result<Self> {
        Ok(HoistField {
            field: config.field,
            class: class_of::<S>("HoistField"),
            side: PhantomData,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let payload = S::of(&mut record);
        // Kafka wraps nulls too: a null becomes `{field: null}`.
        let (schema, value) = match payload.as_mut() {
            None => (None, Value::Null),
            Some(data) => {
                let data = data
                    .structured()
                    .map_err(|why| ConnectError::data(format!("{}: {why}", self.class)))?;
                (data.schema.take(), data.value.take())
            }
        };
        let hoisted = match schema {
            None => Structured::schemaless(Value::Object(self.wrap(value))),
            Some(schema) => {
                if value.is_null() && !schema.optional {
                    // What Kafka's Struct.put says of a null in a required field.
                    return Err(ConnectError::data(format!(
                        "{}: invalid value: null used for required field: \"{}\", schema type: {}",
                        self.class,
                        self.field,
                        schema.schema_type.connect_name()
                    )));
                }
                let wrapped = Schema::structure(vec![Field::new(self.field.clone(), schema)]);
                Structured::with_schema(wrapped, Value::Object(self.wrap(value)))
            }
        };
        *payload = Some(Payload::Structured(hoisted));
        Ok(Some(record))
    }
}

impl<S: Side> HoistField<S> {
    fn wrap(&self, value: Value) -> Map<String, Value> {
        Map::from_iter([(self.field.clone(), value)])
    }
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::transformation::<HoistField<Key>>(&class_of::<Key>("HoistField")),
        BuiltIn::transformation::<HoistField<ValueSide>>(&class_of::<ValueSide>("HoistField")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::SchemaType;
    use serde_json::json;

    use crate::test_built_in as build;

    fn record(key: Option<Payload>, value: Option<Payload>) -> ConnectRecord {
        let mut record = ConnectRecord::new("t");
        record.key = key;
        record.value = value;
        record
    }

    #[test]
    fn schemaless_wraps_in_an_object() {
        let mut t = build("HoistField$Key", &[("field", "magic")]).unwrap();
        let out = t
            .apply(record(
                Some(Payload::schemaless(json!(42))),
                Some(Payload::schemaless(json!("v"))),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(out.key, Some(Payload::schemaless(json!({"magic": 42}))));
        assert_eq!(out.value, Some(Payload::schemaless(json!("v"))));

        let mut t = build("HoistField$Value", &[("field", "payload")]).unwrap();
        let out = t
            .apply(record(
                None,
                Some(Payload::JsonText(br#"{"a":1}"#.to_vec())),
            ))
            .unwrap()
            .unwrap();
        assert_eq!(
            out.value,
            Some(Payload::schemaless(json!({"payload": {"a": 1}})))
        );
    }

    #[test]
    fn with_schema_wraps_in_a_struct() {
        let mut t = build("HoistField$Key", &[("field", "magic")]).unwrap();
        let key = Structured::with_schema(Schema::of(SchemaType::Int32), json!(42));
        let out = t
            .apply(record(Some(Payload::Structured(key)), None))
            .unwrap()
            .unwrap();
        let expected = Structured::with_schema(
            Schema::structure(vec![Field::new("magic", Schema::of(SchemaType::Int32))]),
            json!({"magic": 42}),
        );
        assert_eq!(out.key, Some(Payload::Structured(expected)));
    }

    #[test]
    fn nulls_are_wrapped_as_kafka_does() {
        let mut t = build("HoistField$Value", &[("field", "f")]).unwrap();
        let out = t.apply(record(None, None)).unwrap().unwrap();
        assert_eq!(out.value, Some(Payload::schemaless(json!({"f": null}))));

        let optional = Schema::of(SchemaType::String).optional();
        let null = Structured::with_schema(optional.clone(), Value::Null);
        let out = t
            .apply(record(None, Some(Payload::Structured(null))))
            .unwrap()
            .unwrap();
        let expected = Structured::with_schema(
            Schema::structure(vec![Field::new("f", optional)]),
            json!({"f": null}),
        );
        assert_eq!(out.value, Some(Payload::Structured(expected)));

        let required_null = Structured::with_schema(Schema::of(SchemaType::String), Value::Null);
        let error = t
            .apply(record(None, Some(Payload::Structured(required_null))))
            .unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)));
        assert!(error.to_string().contains("required field"), "{error}");
    }

    #[test]
    fn opaque_bytes_are_a_data_error() {
        let mut t = build("HoistField$Value", &[("field", "f")]).unwrap();
        let error = t
            .apply(record(None, Some(Payload::Bytes(vec![1]))))
            .unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)));
        assert!(
            error.to_string().starts_with("HoistField$Value: "),
            "{error}"
        );
    }

    #[test]
    fn field_is_required() {
        let issues = build("HoistField$Value", &[]).err().unwrap();
        assert_eq!(issues[0].field, "field");
    }
}
