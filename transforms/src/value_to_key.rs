//! `ValueToKey`: replaces the key with fields of the value.

use ferry_api::data::{Payload, Schema, SchemaType, Structured};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::{Map, Value};

use crate::{field_value, json_type_name, BuiltIn};

/// `ValueToKey`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct ValueToKeyConfig {
    /// Field names on the record value to extract as the record key.
    fields: Vec<String>,
    /// Whether to replace fields that have a default value and that are null to the default
    /// value. When set to true, the default value is used, otherwise null is used.
    #[serde(rename = "replace.null.with.default", default = "yes")]
    replace_null_with_default: bool,
}

fn yes() -> bool {
    true
}

/// Kafka Connect's `ValueToKey`.
pub struct ValueToKey {
    fields: Vec<String>,
    replace_null_with_default: bool,
}

const CLASS: &str = "ValueToKey";

impl Transformation for ValueToKey {
    type Config = ValueToKeyConfig;

    fn new(config: ValueToKeyConfig) -> ferry_api::Result<Self> {
        if config.fields.is_empty() {
            return Err(ConnectError::config(
                "fields",
                "empty list; name at least one field of the value",
            ));
        }
        Ok(ValueToKey {
            fields: config.fields,
            replace_null_with_default: config.replace_null_with_default,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        // Kafka requires a value here: a tombstone is a DataException, not passed through.
        let data = match record.value.as_mut() {
            None => return Err(not_an_object("null", false)),
            Some(data) => data
                .structured()
                .map_err(|why| ConnectError::data(format!("{CLASS}: {why}")))?,
        };
        let key = match &data.schema {
            None => {
                let object = data
                    .value
                    .as_object()
                    .ok_or_else(|| not_an_object(json_type_name(&data.value), false))?;
                let key: Map<String, Value> = self
                    .fields
                    .iter()
                    .map(|f| (f.clone(), object.get(f).cloned().unwrap_or(Value::Null)))
                    .collect();
                Structured::schemaless(Value::Object(key))
            }
            Some(schema) => self.with_schema(schema, &data.value)?,
        };
        record.key = Some(Payload::Structured(key));
        Ok(Some(record))
    }
}

impl ValueToKey {
    fn with_schema(&self, schema: &Schema, value: &Value) -> ferry_api::Result<Structured> {
        let object = match value.as_object() {
            Some(object) if schema.schema_type == SchemaType::Struct => object,
            _ => {
                return Err(not_an_object(
                    &format!(
                        "{} with a schema of type {}",
                        json_type_name(value),
                        schema.schema_type.connect_name()
                    ),
                    true,
                ))
            }
        };
        let mut fields = Vec::with_capacity(self.fields.len());
        let mut key = Map::new();
        for name in &self.fields {
            let field = schema.field(name).ok_or_else(|| {
                ConnectError::data(format!("{CLASS}: Field does not exist: {name}"))
            })?;
            key.insert(
                name.clone(),
                field_value(object, field, self.replace_null_with_default),
            );
            fields.push(field.clone());
        }
        Ok(Structured::with_schema(
            Schema::structure(fields),
            Value::Object(key),
        ))
    }
}

fn not_an_object(found: &str, with_schema: bool) -> ConnectError {
    let how = if with_schema {
        "with a schema, only structs are supported"
    } else {
        "in absence of schema, only objects are supported"
    };
    ConnectError::data(format!(
        "{CLASS}: {how} for [copying fields from value to key], found {found}"
    ))
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![BuiltIn::transformation::<ValueToKey>("ValueToKey")]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DynTransformation;
    use ferry_api::config::ConfigIssue;
    use ferry_api::data::Field;
    use serde_json::json;

    fn build(pairs: &[(&str, &str)]) -> Result<Box<dyn DynTransformation>, Vec<ConfigIssue>> {
        crate::test_built_in("ValueToKey", pairs)
    }

    fn record(value: Option<Payload>) -> ConnectRecord {
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::Bytes(b"old".to_vec()));
        record.value = value;
        record
    }

    fn value_schema() -> Schema {
        Schema::structure(vec![
            Field::new("a", Schema::of(SchemaType::Int32)),
            Field::new("b", Schema::of(SchemaType::Int32)),
            Field::new(
                "c",
                Schema {
                    default_value: Some(json!("dflt")),
                    ..Schema::of(SchemaType::String).optional()
                },
            ),
        ])
    }

    #[test]
    fn schemaless_key_from_value_fields() {
        let mut t = build(&[("fields", "a,b,missing")]).unwrap();
        let value = Payload::schemaless(json!({"a": 1, "b": 2, "c": 3}));
        let out = t.apply(record(Some(value.clone()))).unwrap().unwrap();
        assert_eq!(
            out.key,
            Some(Payload::schemaless(
                json!({"a": 1, "b": 2, "missing": null})
            ))
        );
        assert_eq!(out.value, Some(value));
    }

    #[test]
    fn with_schema_the_key_has_those_fields_schemas() {
        let mut t = build(&[("fields", "a,b")]).unwrap();
        let value = Payload::Structured(Structured::with_schema(
            value_schema(),
            json!({"a": 1, "b": 2, "c": "x"}),
        ));
        let out = t.apply(record(Some(value.clone()))).unwrap().unwrap();
        let key_schema = Schema::structure(vec![
            Field::new("a", Schema::of(SchemaType::Int32)),
            Field::new("b", Schema::of(SchemaType::Int32)),
        ]);
        assert_eq!(
            out.key,
            Some(Payload::Structured(Structured::with_schema(
                key_schema,
                json!({"a": 1, "b": 2})
            )))
        );
        assert_eq!(out.value, Some(value));
    }

    #[test]
    fn replace_null_with_default() {
        let value = Payload::Structured(Structured::with_schema(
            value_schema(),
            json!({"a": 1, "b": 2, "c": null}),
        ));
        let key_of = |pairs: &[(&str, &str)]| {
            let out = build(pairs)
                .unwrap()
                .apply(record(Some(value.clone())))
                .unwrap()
                .unwrap();
            match out.key {
                Some(Payload::Structured(key)) => key.value,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(key_of(&[("fields", "c")]), json!({"c": "dflt"}));
        assert_eq!(
            key_of(&[("fields", "c"), ("replace.null.with.default", "false")]),
            json!({"c": null})
        );
    }

    #[test]
    fn data_errors() {
        let mut t = build(&[("fields", "not_exist")]).unwrap();
        let value = Payload::Structured(Structured::with_schema(value_schema(), json!({"a": 1})));
        assert_eq!(
            t.apply(record(Some(value))).unwrap_err(),
            ConnectError::data("ValueToKey: Field does not exist: not_exist")
        );
        assert_eq!(
            t.apply(record(None)).unwrap_err(),
            ConnectError::data(
                "ValueToKey: in absence of schema, only objects are supported for [copying fields from value to key], found null"
            )
        );
        let error = t
            .apply(record(Some(Payload::schemaless(json!("text")))))
            .unwrap_err();
        assert!(error.to_string().contains("found a string"), "{error}");
        let int = Structured::with_schema(Schema::of(SchemaType::Int32), json!(1));
        let error = t.apply(record(Some(Payload::Structured(int)))).unwrap_err();
        assert!(error.to_string().contains("INT32"), "{error}");
    }

    #[test]
    fn fields_must_name_at_least_one() {
        assert_eq!(build(&[]).err().unwrap()[0].field, "fields");
        assert_eq!(
            build(&[("fields", " , ")]).err().unwrap()[0].field,
            "fields"
        );
    }
}
