//! `Flatten`: nested objects (or structs) become top-level fields named `parent.child`;
//! arrays, and whatever they hold, stay as they are.

use std::marker::PhantomData;

use ferry_api::data::{Field, Schema, SchemaType, Structured};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::{Map, Value};

use crate::side::{self, class_of, Side};
use crate::{json_type_name, structured, BuiltIn};

/// `Flatten`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct FlattenConfig {
    /// Delimiter inserted between the field names of each level to make the flattened names.
    #[serde(default = "default_delimiter")]
    delimiter: String,
}

fn default_delimiter() -> String {
    ".".to_string()
}

/// Kafka Connect's `Flatten$Key` / `Flatten$Value`.
pub struct Flatten<S> {
    delimiter: String,
    side: PhantomData<S>,
}

impl<S: Side> Transformation for Flatten<S> {
    type Config = FlattenConfig;

    fn new(config: FlattenConfig) -> ferry_api::Result<Self> {
        Ok(Flatten {
            delimiter: config.delimiter,
            side: PhantomData,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let class = class_of::<S>("Flatten");
        if let Some(data) = structured(S::of(&mut record), &class)? {
            self.flatten(data)
                .map_err(|why| ConnectError::data(format!("{class}: {why}")))?;
        }
        Ok(Some(record))
    }
}

impl<S> Flatten<S> {
    fn flatten(&self, data: &mut Structured) -> Result<(), String> {
        let Value::Object(object) = &data.value else {
            let expected = if data.schema.is_some() {
                "a struct"
            } else {
                "a JSON object in absence of a schema"
            };
            return Err(format!(
                "only {expected} can be flattened, found {}",
                json_type_name(&data.value)
            ));
        };
        match &data.schema {
            None => {
                let mut flat = Map::new();
                self.flatten_object(object, "", &mut flat);
                data.value = Value::Object(flat);
            }
            Some(schema) => {
                if schema.schema_type != SchemaType::Struct {
                    return Err(format!(
                        "only a struct can be flattened, but the schema is {}",
                        schema.schema_type.connect_name()
                    ));
                }
                let flat_schema = self.flat_schema(schema)?;
                let mut flat = Map::new();
                self.flatten_struct(schema, Some(object), "", &mut flat);
                // A null left by a null parent reads as the field's default in Kafka's Struct,
                // and JsonConverter writes it so: write the default here.
                for field in &flat_schema.fields {
                    let value = flat.entry(field.field.clone()).or_insert(Value::Null);
                    if value.is_null() {
                        if let Some(default) = &field.schema.default_value {
                            *value = default.clone();
                        }
                    }
                }
                data.value = Value::Object(flat);
                data.schema = Some(flat_schema);
            }
        }
        Ok(())
    }

    fn name(&self, prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}{}{name}", self.delimiter)
        }
    }

    fn flatten_object(
        &self,
        object: &Map<String, Value>,
        prefix: &str,
        flat: &mut Map<String, Value>,
    ) {
        for (name, value) in object {
            let name = self.name(prefix, name);
            match value {
                Value::Object(nested) => self.flatten_object(nested, &name, flat),
                other => {
                    flat.insert(name, other.clone());
                }
            }
        }
    }

    /// The flattened schema: Kafka keeps the top level's name, version, doc and parameters but
    /// not its optionality or default; a field is optional when it or any parent is, and takes
    /// its own default or else its parent's default's value for it.
    fn flat_schema(&self, schema: &Schema) -> Result<Schema, String> {
        let mut fields = Vec::new();
        self.flat_fields(
            schema,
            "",
            schema.optional,
            schema.default_value.as_ref(),
            &mut fields,
        )?;
        Ok(schema.struct_like(fields))
    }

    fn flat_fields(
        &self,
        schema: &Schema,
        prefix: &str,
        optional: bool,
        parent_default: Option<&Value>,
        fields: &mut Vec<Field>,
    ) -> Result<(), String> {
        for field in &schema.fields {
            let name = self.name(prefix, &field.field);
            let optional = optional || field.schema.optional;
            let default = field.schema.default_value.as_ref().or_else(|| {
                parent_default
                    .and_then(|d| d.get(&field.field))
                    .filter(|v| !v.is_null())
            });
            match field.schema.schema_type {
                SchemaType::Struct => {
                    self.flat_fields(&field.schema, &name, optional, default, fields)?
                }
                SchemaType::Map => {
                    return Err(format!(
                        "MAP fields cannot be flattened in records with schemas (field `{name}`)"
                    ))
                }
                _ => {
                    if fields.iter().any(|f| f.field == name) {
                        return Err(format!(
                            "two fields flatten to the same name `{name}`; set another delimiter"
                        ));
                    }
                    let leaf = Schema {
                        optional,
                        default_value: default.cloned(),
                        ..field.schema.clone()
                    };
                    fields.push(Field::new(name, leaf));
                }
            }
        }
        Ok(())
    }

    fn flatten_struct(
        &self,
        schema: &Schema,
        object: Option<&Map<String, Value>>,
        prefix: &str,
        flat: &mut Map<String, Value>,
    ) {
        for field in &schema.fields {
            let name = self.name(prefix, &field.field);
            let value = object.and_then(|o| o.get(&field.field));
            if field.schema.schema_type == SchemaType::Struct {
                self.flatten_struct(&field.schema, value.and_then(Value::as_object), &name, flat);
            } else {
                let value = value.cloned().unwrap_or(Value::Null);
                flat.insert(name, value);
            }
        }
    }
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::transformation::<Flatten<side::Key>>(&class_of::<side::Key>("Flatten")),
        BuiltIn::transformation::<Flatten<side::Value>>(&class_of::<side::Value>("Flatten")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::Payload;
    use serde_json::json;

    fn flatten<S: Side>(delimiter: &str) -> Flatten<S> {
        Flatten::new(FlattenConfig {
            delimiter: delimiter.into(),
        })
        .unwrap()
    }

    fn apply_value(
        t: &mut Flatten<side::Value>,
        data: Structured,
    ) -> ferry_api::Result<Structured> {
        let mut record = ConnectRecord::new("t");
        record.value = Some(Payload::Structured(data));
        match t.apply(record)?.unwrap().value {
            Some(Payload::Structured(s)) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn schemaless_objects_flatten_and_arrays_stay() {
        let mut t = flatten::<side::Value>("#");
        let out = apply_value(
            &mut t,
            Structured::schemaless(json!({
                "A": {"B": {"int": 8, "s": "stringy", "n": null}, "empty": {}},
                "list": [{"x": 1}], "top": true
            })),
        )
        .unwrap();
        assert_eq!(
            out,
            Structured::schemaless(
                json!({"A#B#int": 8, "A#B#s": "stringy", "A#B#n": null, "list": [{"x": 1}], "top": true})
            )
        );
        let error = apply_value(&mut t, Structured::schemaless(json!(42))).unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)));
        assert!(
            error
                .to_string()
                .contains("Flatten$Value: only a JSON object"),
            "{error}"
        );
    }

    #[test]
    fn the_key_flattens_too() {
        let mut t = flatten::<side::Key>(".");
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::schemaless(json!({"A": {"B": 12}})));
        record.value = Some(Payload::schemaless(json!({"A": {"B": 1}})));
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(out.key, Some(Payload::schemaless(json!({"A.B": 12}))));
        assert_eq!(out.value, Some(Payload::schemaless(json!({"A": {"B": 1}}))));
    }

    #[test]
    fn tombstones_pass_through() {
        let mut t = flatten::<side::Value>(".");
        let schema = Schema::structure(vec![Field::new(
            "a",
            Schema::structure(vec![Field::new("b", Schema::of(SchemaType::Int32))]),
        )])
        .optional();
        let null = Structured::with_schema(schema, Value::Null);
        assert_eq!(apply_value(&mut t, null.clone()).unwrap(), null);
        let record = ConnectRecord::new("t");
        assert_eq!(t.apply(record.clone()).unwrap().unwrap(), record);
    }

    #[test]
    fn structs_flatten_with_their_schema() {
        let mut t = flatten::<side::Value>(".");
        let inner = Schema::structure(vec![
            Field::new("int8", Schema::of(SchemaType::Int8)),
            Field::new("opt", Schema::of(SchemaType::Int32).optional()),
        ]);
        let schema = Schema {
            name: Some("car".into()),
            ..Schema::structure(vec![
                Field::new("A", Schema::structure(vec![Field::new("B", inner.clone())])),
                Field::new("C", inner.clone().optional()),
                Field::new(
                    "list",
                    Schema {
                        items: Some(Box::new(inner)),
                        ..Schema::of(SchemaType::Array)
                    },
                ),
            ])
        };
        let value = json!({
            "A": {"B": {"int8": 8, "opt": null}},
            "C": null,
            "list": [{"int8": 1, "opt": 2}]
        });
        let out = apply_value(&mut t, Structured::with_schema(schema.clone(), value)).unwrap();
        assert_eq!(
            out.value,
            json!({"A.B.int8": 8, "A.B.opt": null, "C.int8": null, "C.opt": null, "list": [{"int8": 1, "opt": 2}]})
        );
        let flat = out.schema.unwrap();
        assert_eq!(flat.name.as_deref(), Some("car"));
        let names: Vec<&str> = flat.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["A.B.int8", "A.B.opt", "C.int8", "C.opt", "list"]);
        assert_eq!(
            flat.field("A.B.int8").unwrap().schema,
            Schema::of(SchemaType::Int8)
        );
        // The optional parent makes its required child optional.
        assert_eq!(
            flat.field("C.int8").unwrap().schema,
            Schema::of(SchemaType::Int8).optional()
        );
        assert_eq!(
            flat.field("list").unwrap().schema,
            schema.field("list").unwrap().schema
        );

        let error = apply_value(&mut t, Structured::with_schema(schema, json!("x"))).unwrap_err();
        assert!(error.to_string().contains("only a struct"), "{error}");
    }

    #[test]
    fn optional_and_default_values_propagate_from_parents() {
        let mut t = flatten::<side::Value>(".");
        let schema = Schema {
            default_value: Some(json!({"req_field": "req_default", "opt_field": null})),
            ..Schema::structure(vec![
                Field::new("req_field", Schema::of(SchemaType::String)),
                Field::new(
                    "opt_field",
                    Schema {
                        default_value: Some(json!("child_default")),
                        ..Schema::of(SchemaType::String).optional()
                    },
                ),
            ])
            .optional()
        };
        let out = apply_value(&mut t, Structured::with_schema(schema, json!({}))).unwrap();
        let flat = out.schema.unwrap();
        assert!(!flat.optional);
        assert_eq!(flat.default_value, None);
        assert_eq!(
            flat.field("req_field").unwrap().schema,
            Schema {
                default_value: Some(json!("req_default")),
                ..Schema::of(SchemaType::String).optional()
            }
        );
        assert_eq!(
            flat.field("opt_field").unwrap().schema.default_value,
            Some(json!("child_default"))
        );
        assert_eq!(
            out.value,
            json!({"req_field": "req_default", "opt_field": "child_default"})
        );
    }

    #[test]
    fn map_fields_with_a_schema_are_refused() {
        let mut t = flatten::<side::Value>(".");
        let map = Schema {
            keys: Some(Box::new(Schema::of(SchemaType::String))),
            values: Some(Box::new(Schema::of(SchemaType::Int32))),
            ..Schema::of(SchemaType::Map)
        };
        let schema = Schema::structure(vec![Field::new(
            "a",
            Schema::structure(vec![Field::new("m", map)]),
        )]);
        let error = apply_value(
            &mut t,
            Structured::with_schema(schema, json!({"a": {"m": {}}})),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("MAP fields cannot be flattened in records with schemas (field `a.m`)"),
            "{error}"
        );
    }
}
