//! `ExtractField$Key` / `ExtractField$Value`: replaces the key or value with one of its fields.

use std::marker::PhantomData;

use ferry_api::data::{Field, Payload, Schema, SchemaType, Structured};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::{Map, Value};

use crate::field_path::{FieldPath, FieldSyntaxVersion};
use crate::side::{class_of, Key, Side, Value as ValueSide};
use crate::{field_value, json_type_name, structured, BuiltIn};

/// `ExtractField`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct ExtractFieldConfig {
    /// Field name to extract.
    field: String,
    /// Whether to replace fields that have a default value and that are null to the default
    /// value. When set to true, the default value is used, otherwise null is used.
    #[serde(rename = "replace.null.with.default", default = "yes")]
    replace_null_with_default: bool,
    /// How `field` is read: `V1` takes it as one top-level name, `V2` reads dots as nesting.
    #[serde(rename = "field.syntax.version", default)]
    field_syntax_version: FieldSyntaxVersion,
}

fn yes() -> bool {
    true
}

/// Kafka Connect's `ExtractField`, on the key or the value.
pub struct ExtractField<S: Side> {
    path: FieldPath,
    /// The path as configured, for "Unknown field" errors as Kafka words them.
    original: String,
    replace_null_with_default: bool,
    class: String,
    side: PhantomData<S>,
}

impl<S: Side> Transformation for ExtractField<S> {
    type Config = ExtractFieldConfig;

    fn new(config: ExtractFieldConfig) -> ferry_api::Result<Self> {
        let path = FieldPath::parse(&config.field, config.field_syntax_version)
            .map_err(|why| ConnectError::config("field", why))?;
        Ok(ExtractField {
            path,
            original: config.field,
            replace_null_with_default: config.replace_null_with_default,
            class: class_of::<S>("ExtractField"),
            side: PhantomData,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let payload = S::of(&mut record);
        let Some(data) = structured(payload, &self.class)? else {
            // A null key or value passes through, with or without a schema.
            if let Some(schema) = payload.as_ref().and_then(Payload::schema) {
                let field = self.field_of(schema)?.schema.clone();
                *payload = Some(Payload::Structured(Structured::with_schema(
                    field,
                    Value::Null,
                )));
            }
            return Ok(Some(record));
        };
        let extracted = match &data.schema {
            None => {
                let object = self.object(&data.value, "in absence of schema")?;
                Structured::schemaless(self.schemaless_value(object)?)
            }
            Some(schema) => {
                let field = self.field_of(schema)?.schema.clone();
                let object = self.object(&data.value, "with a struct schema")?;
                let value = self.struct_value(schema, object)?;
                Structured::with_schema(field, value)
            }
        };
        *payload = Some(Payload::Structured(extracted));
        Ok(Some(record))
    }
}

impl<S: Side> ExtractField<S> {
    fn object<'a>(&self, value: &'a Value, how: &str) -> ferry_api::Result<&'a Map<String, Value>> {
        value.as_object().ok_or_else(|| {
            ConnectError::data(format!(
                "{}: only objects are supported {how} for [field extraction], found {}",
                self.class,
                json_type_name(value)
            ))
        })
    }

    /// Missing fields (and missing parents) are null, as Kafka's map lookups are.
    fn schemaless_value(&self, object: &Map<String, Value>) -> ferry_api::Result<Value> {
        let (last, parents) = self.path.steps().split_last().expect("a path has a step");
        let mut current = object;
        for step in parents {
            match current.get(step) {
                None | Some(Value::Null) => return Ok(Value::Null),
                Some(Value::Object(inner)) => current = inner,
                Some(other) => {
                    return Err(ConnectError::data(format!(
                        "{}: only objects are supported for [nested field access] at `{step}` of `{}`, found {}",
                        self.class,
                        self.path,
                        json_type_name(other)
                    )))
                }
            }
        }
        Ok(current.get(last).cloned().unwrap_or(Value::Null))
    }

    /// The field's schema; with a schema, an unknown field is an error (as in Kafka).
    fn field_of<'a>(&self, schema: &'a Schema) -> ferry_api::Result<&'a Field> {
        let mut current = schema;
        let mut found = None;
        for step in self.path.steps() {
            if current.schema_type != SchemaType::Struct {
                return Err(ConnectError::data(format!(
                    "{}: cannot look up field `{step}` in a schema of type {}; a struct is required",
                    self.class,
                    current.schema_type.connect_name()
                )));
            }
            let field = current.field(step).ok_or_else(|| {
                ConnectError::data(format!("{}: Unknown field: {}", self.class, self.original))
            })?;
            current = &field.schema;
            found = Some(field);
        }
        Ok(found.expect("a path has a step"))
    }

    fn struct_value(
        &self,
        schema: &Schema,
        object: &Map<String, Value>,
    ) -> ferry_api::Result<Value> {
        let (last, parents) = self.path.steps().split_last().expect("a path has a step");
        let (mut schema, mut object) = (schema, object);
        for step in parents {
            let field = schema.field(step).expect("checked by field_of");
            // Kafka's Struct.get: a null parent is its default, if it has one.
            let inner = object
                .get(step)
                .filter(|v| !v.is_null())
                .or(field.schema.default_value.as_ref());
            match inner {
                None | Some(Value::Null) => return Ok(Value::Null),
                Some(Value::Object(inner)) => {
                    object = inner;
                    schema = &field.schema;
                }
                Some(other) => {
                    return Err(ConnectError::data(format!(
                        "{}: struct field `{step}` holds {}, not an object",
                        self.class,
                        json_type_name(other)
                    )))
                }
            }
        }
        let field = schema.field(last).expect("checked by field_of");
        Ok(field_value(object, field, self.replace_null_with_default))
    }
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::transformation::<ExtractField<Key>>(&class_of::<Key>("ExtractField")),
        BuiltIn::transformation::<ExtractField<ValueSide>>(&class_of::<ValueSide>("ExtractField")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DynTransformation;
    use serde_json::json;

    use crate::test_built_in as build;

    fn value_record(value: Option<Payload>) -> ConnectRecord {
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::schemaless(json!("k")));
        record.value = value;
        record
    }

    fn out_value(t: &mut Box<dyn DynTransformation>, value: Option<Payload>) -> Option<Payload> {
        t.apply(value_record(value)).unwrap().unwrap().value
    }

    fn car_schema() -> Schema {
        Schema::structure(vec![
            Field::new("id", Schema::of(SchemaType::String)),
            Field::new(
                "speed",
                Schema {
                    default_value: Some(json!(0)),
                    ..Schema::of(SchemaType::Int32).optional()
                },
            ),
            Field::new(
                "engine",
                Schema::structure(vec![Field::new("hp", Schema::of(SchemaType::Int32))]).optional(),
            ),
        ])
    }

    #[test]
    fn schemaless_extracts_the_field_and_missing_is_null() {
        let mut t = build("ExtractField$Value", &[("field", "magic")]).unwrap();
        let out = out_value(
            &mut t,
            Some(Payload::schemaless(json!({"magic": 42, "x": 1}))),
        );
        assert_eq!(out, Some(Payload::schemaless(json!(42))));
        let out = out_value(&mut t, Some(Payload::schemaless(json!({"x": 1}))));
        assert_eq!(out, Some(Payload::schemaless(Value::Null)));
        // JSON text is parsed first.
        let out = out_value(
            &mut t,
            Some(Payload::JsonText(br#"{"magic":{"a":1}}"#.to_vec())),
        );
        assert_eq!(out, Some(Payload::schemaless(json!({"a": 1}))));
    }

    #[test]
    fn key_variant_leaves_the_value_alone() {
        let mut t = build("ExtractField$Key", &[("field", "id")]).unwrap();
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::schemaless(json!({"id": "c1"})));
        record.value = Some(Payload::schemaless(json!({"id": "v"})));
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(out.key, Some(Payload::schemaless(json!("c1"))));
        assert_eq!(out.value, Some(Payload::schemaless(json!({"id": "v"}))));
    }

    #[test]
    fn nested_paths_with_v2_only() {
        let value = json!({"a": {"b": 7}, "a.b": 8});
        let mut v1 = build("ExtractField$Value", &[("field", "a.b")]).unwrap();
        assert_eq!(
            out_value(&mut v1, Some(Payload::schemaless(value.clone()))),
            Some(Payload::schemaless(json!(8)))
        );
        let mut v2 = build(
            "ExtractField$Value",
            &[("field", "a.b"), ("field.syntax.version", "V2")],
        )
        .unwrap();
        assert_eq!(
            out_value(&mut v2, Some(Payload::schemaless(value))),
            Some(Payload::schemaless(json!(7)))
        );
        // A missing parent is null, like a missing leaf.
        assert_eq!(
            out_value(&mut v2, Some(Payload::schemaless(json!({"x": 1})))),
            Some(Payload::schemaless(Value::Null))
        );
        let error = v2
            .apply(value_record(Some(Payload::schemaless(json!({"a": 3})))))
            .unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)), "{error}");
        assert!(error.to_string().contains("nested field access"), "{error}");
    }

    #[test]
    fn with_schema_the_result_has_the_fields_schema() {
        let mut t = build("ExtractField$Value", &[("field", "id")]).unwrap();
        let input = Structured::with_schema(car_schema(), json!({"id": "c1", "speed": 3}));
        let out = out_value(&mut t, Some(Payload::Structured(input)));
        assert_eq!(
            out,
            Some(Payload::Structured(Structured::with_schema(
                Schema::of(SchemaType::String),
                json!("c1")
            )))
        );

        let mut nested = build(
            "ExtractField$Value",
            &[("field", "engine.hp"), ("field.syntax.version", "V2")],
        )
        .unwrap();
        let input = Structured::with_schema(car_schema(), json!({"id": "c", "engine": {"hp": 90}}));
        let out = out_value(&mut nested, Some(Payload::Structured(input)));
        assert_eq!(
            out,
            Some(Payload::Structured(Structured::with_schema(
                Schema::of(SchemaType::Int32),
                json!(90)
            )))
        );
        // A null parent struct gives null.
        let input = Structured::with_schema(car_schema(), json!({"id": "c", "engine": null}));
        let out = out_value(&mut nested, Some(Payload::Structured(input)));
        assert_eq!(
            out,
            Some(Payload::Structured(Structured::with_schema(
                Schema::of(SchemaType::Int32),
                Value::Null
            )))
        );
    }

    #[test]
    fn null_with_default_follows_replace_null_with_default() {
        let input = Structured::with_schema(car_schema(), json!({"id": "c", "speed": null}));
        let speed_schema = car_schema().field("speed").unwrap().schema.clone();
        let mut t = build("ExtractField$Value", &[("field", "speed")]).unwrap();
        let out = out_value(&mut t, Some(Payload::Structured(input.clone())));
        assert_eq!(
            out,
            Some(Payload::Structured(Structured::with_schema(
                speed_schema.clone(),
                json!(0)
            )))
        );
        let mut t = build(
            "ExtractField$Value",
            &[("field", "speed"), ("replace.null.with.default", "false")],
        )
        .unwrap();
        let out = out_value(&mut t, Some(Payload::Structured(input)));
        assert_eq!(
            out,
            Some(Payload::Structured(Structured::with_schema(
                speed_schema,
                Value::Null
            )))
        );
    }

    #[test]
    fn unknown_field_with_schema_is_a_data_error() {
        let mut t = build("ExtractField$Value", &[("field", "nope")]).unwrap();
        let input = Structured::with_schema(car_schema(), json!({"id": "c"}));
        let error = t
            .apply(value_record(Some(Payload::Structured(input))))
            .unwrap_err();
        assert_eq!(
            error,
            ConnectError::data("ExtractField$Value: Unknown field: nope")
        );
    }

    #[test]
    fn nulls_pass_through() {
        let mut t = build("ExtractField$Value", &[("field", "id")]).unwrap();
        assert_eq!(out_value(&mut t, None), None);
        assert_eq!(
            out_value(&mut t, Some(Payload::schemaless(Value::Null))),
            Some(Payload::schemaless(Value::Null))
        );
        // With a schema the null takes the field's schema.
        let null = Structured::with_schema(car_schema().optional(), Value::Null);
        assert_eq!(
            out_value(&mut t, Some(Payload::Structured(null))),
            Some(Payload::Structured(Structured::with_schema(
                Schema::of(SchemaType::String),
                Value::Null
            )))
        );
    }

    #[test]
    fn wrong_types_are_data_errors() {
        let mut t = build("ExtractField$Value", &[("field", "id")]).unwrap();
        let error = t
            .apply(value_record(Some(Payload::schemaless(json!("text")))))
            .unwrap_err();
        assert_eq!(
            error,
            ConnectError::data(
                "ExtractField$Value: only objects are supported in absence of schema for [field extraction], found a string"
            )
        );
        let error = t
            .apply(value_record(Some(Payload::Bytes(b"x".to_vec()))))
            .unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)), "{error}");
        let int = Structured::with_schema(Schema::of(SchemaType::Int32), json!(3));
        let error = t
            .apply(value_record(Some(Payload::Structured(int))))
            .unwrap_err();
        assert!(error.to_string().contains("INT32"), "{error}");
    }

    #[test]
    fn config_errors_name_the_key() {
        let issues = build("ExtractField$Key", &[]).err().unwrap();
        assert_eq!(issues[0].field, "field");
        let issues = build(
            "ExtractField$Key",
            &[("field", "`a.b"), ("field.syntax.version", "V2")],
        )
        .err()
        .unwrap();
        assert_eq!(issues[0].field, "field");
        let issues = build(
            "ExtractField$Key",
            &[("field", "a"), ("replace.null.with.default", "maybe")],
        )
        .err()
        .unwrap();
        assert_eq!(issues[0].field, "replace.null.with.default");
    }
}
