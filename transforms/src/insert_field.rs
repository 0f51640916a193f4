//! `InsertField$Key` / `InsertField$Value`: adds fields from the record's metadata or a static
//! value.

use std::marker::PhantomData;

use ferry_api::data::{logical, Field, Schema, SchemaType};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::{Map, Value};

use crate::side::{class_of, Key, Side, Value as ValueSide};
use crate::{field_value, json_type_name, structured, BuiltIn};

/// `InsertField`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct InsertFieldConfig {
    /// Field name for Kafka topic. Suffix with `!` to make this a required field, or `?` to keep
    /// it optional (the default).
    #[serde(rename = "topic.field", default)]
    topic_field: Option<String>,
    /// Field name for Kafka partition. Suffix with `!` to make this a required field, or `?` to
    /// keep it optional (the default).
    #[serde(rename = "partition.field", default)]
    partition_field: Option<String>,
    /// Field name for Kafka offset - only applicable to sink connectors. Not available in Ferry,
    /// whose records carry no offset.
    #[serde(rename = "offset.field", default)]
    offset_field: Option<String>,
    /// Field name for record timestamp. Suffix with `!` to make this a required field, or `?` to
    /// keep it optional (the default).
    #[serde(rename = "timestamp.field", default)]
    timestamp_field: Option<String>,
    /// Field name for static data field. Suffix with `!` to make this a required field, or `?`
    /// to keep it optional (the default).
    #[serde(rename = "static.field", default)]
    static_field: Option<String>,
    /// Static field value, if field name configured.
    #[serde(rename = "static.value", default)]
    static_value: Option<String>,
    /// Whether to replace fields that have a default value and that are null to the default
    /// value. When set to true, the default value is used, otherwise null is used.
    #[serde(rename = "replace.null.with.default", default = "yes")]
    replace_null_with_default: bool,
}

fn yes() -> bool {
    true
}

/// A field to insert: `name!` is required, `name?` and `name` optional (Kafka's syntax).
#[derive(Debug, Clone)]
struct Spec {
    name: String,
    optional: bool,
}

impl Spec {
    fn parse(text: Option<String>) -> Option<Spec> {
        let text = text?;
        Some(if let Some(name) = text.strip_suffix('?') {
            Spec {
                name: name.to_string(),
                optional: true,
            }
        } else if let Some(name) = text.strip_suffix('!') {
            Spec {
                name: name.to_string(),
                optional: false,
            }
        } else {
            Spec {
                name: text,
                optional: true,
            }
        })
    }

    fn schema(&self, schema: Schema) -> Schema {
        Schema {
            optional: self.optional,
            ..schema
        }
    }
}

/// Kafka Connect's `InsertField`, on the key or the value.
pub struct InsertField<S: Side> {
    topic: Option<Spec>,
    partition: Option<Spec>,
    timestamp: Option<Spec>,
    /// The static field and its value.
    fixed: Option<(Spec, String)>,
    replace_null_with_default: bool,
    class: String,
    side: PhantomData<S>,
}

impl<S: Side> Transformation for InsertField<S> {
    type Config = InsertFieldConfig;

    fn new(config: InsertFieldConfig) -> ferry_api::Result<Self> {
        if config.offset_field.is_some() {
            return Err(ConnectError::config(
                "offset.field",
                "not available: Ferry's records carry no Kafka offset for transformations; remove it",
            ));
        }
        let fixed = match (Spec::parse(config.static_field), config.static_value) {
            (Some(spec), Some(value)) => Some((spec, value)),
            (Some(spec), None) => {
                return Err(ConnectError::config(
                    "static.value",
                    format!("No value specified for static field: {}", spec.name),
                ))
            }
            (None, _) => None,
        };
        let transformation = InsertField {
            topic: Spec::parse(config.topic_field),
            partition: Spec::parse(config.partition_field),
            timestamp: Spec::parse(config.timestamp_field),
            fixed,
            replace_null_with_default: config.replace_null_with_default,
            class: class_of::<S>("InsertField"),
            side: PhantomData,
        };
        if transformation
            .insertions(&ConnectRecord::new(""))
            .is_empty()
        {
            return Err(ConnectError::config(
                "topic.field",
                "No field insertion configured; set at least one of topic.field, partition.field, timestamp.field, static.field",
            ));
        }
        Ok(transformation)
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let insertions = self.insertions(&record);
        let payload = S::of(&mut record);
        // A null key or value passes through unchanged (Kafka's tombstone tests).
        let Some(data) = structured(payload, &self.class)? else {
            return Ok(Some(record));
        };
        let found = json_type_name(&data.value);
        match &mut data.schema {
            None => {
                let object = data.value.as_object_mut().ok_or_else(|| {
                    ConnectError::data(format!(
                        "{}: in absence of schema, only objects are supported for [field insertion], found {found}",
                        self.class
                    ))
                })?;
                // Schemaless, Kafka leaves out what the record does not have.
                for (spec, _, value) in insertions {
                    if !value.is_null() {
                        object.insert(spec.name.clone(), value);
                    }
                }
            }
            Some(schema) => {
                if schema.schema_type != SchemaType::Struct || !data.value.is_object() {
                    return Err(ConnectError::data(format!(
                        "{}: with a schema, only structs are supported for [field insertion], found {found} with a schema of type {}",
                        self.class,
                        schema.schema_type.connect_name()
                    )));
                }
                let (new_schema, new_value) = self.with_schema(schema, &data.value, insertions)?;
                *schema = new_schema;
                data.value = new_value;
            }
        }
        Ok(Some(record))
    }
}

impl<S: Side> InsertField<S> {
    /// The configured insertions for this record, in Kafka's order: each field, its schema and
    /// its value (null when the record has none).
    fn insertions(&self, record: &ConnectRecord) -> Vec<(&Spec, Schema, Value)> {
        let timestamp = Schema {
            name: Some(logical::TIMESTAMP.to_string()),
            version: Some(1),
            ..Schema::of(SchemaType::Int64)
        };
        let mut out = Vec::new();
        if let Some(spec) = &self.topic {
            let schema = spec.schema(Schema::of(SchemaType::String));
            out.push((spec, schema, Value::from(record.topic.as_str())));
        }
        if let Some(spec) = &self.partition {
            let schema = spec.schema(Schema::of(SchemaType::Int32));
            out.push((
                spec,
                schema,
                record.partition.map_or(Value::Null, Value::from),
            ));
        }
        if let Some(spec) = &self.timestamp {
            // A Timestamp (int64 ms) with a schema; schemaless, the ms number Kafka puts there.
            let schema = spec.schema(timestamp);
            out.push((
                spec,
                schema,
                record.timestamp_ms.map_or(Value::Null, Value::from),
            ));
        }
        if let Some((spec, value)) = &self.fixed {
            let schema = spec.schema(Schema::of(SchemaType::String));
            out.push((spec, schema, Value::from(value.as_str())));
        }
        out
    }

    fn with_schema(
        &self,
        schema: &Schema,
        value: &Value,
        insertions: Vec<(&Spec, Schema, Value)>,
    ) -> ferry_api::Result<(Schema, Value)> {
        let object = value.as_object().expect("checked by apply");
        let mut fields = schema.fields.clone();
        let mut values = Map::new();
        for field in &schema.fields {
            values.insert(
                field.field.clone(),
                field_value(object, field, self.replace_null_with_default),
            );
        }
        for (spec, field_schema, value) in insertions {
            if values.contains_key(&spec.name) {
                // Kafka's SchemaBuilder refuses a second field with the same name.
                return Err(ConnectError::data(format!(
                    "{}: cannot insert field `{}`: the schema already has a field of that name",
                    self.class, spec.name
                )));
            }
            if value.is_null() && !spec.optional {
                return Err(ConnectError::data(format!(
                    "{}: field `{}` is required (`!`) but the record has no value for it",
                    self.class, spec.name
                )));
            }
            fields.push(Field::new(spec.name.clone(), field_schema));
            values.insert(spec.name.clone(), value);
        }
        let updated = schema.struct_like(fields);
        Ok((updated, Value::Object(values)))
    }
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::transformation::<InsertField<Key>>(&class_of::<Key>("InsertField")),
        BuiltIn::transformation::<InsertField<ValueSide>>(&class_of::<ValueSide>("InsertField")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::{Payload, Structured};
    use serde_json::json;

    use crate::test_built_in as build;

    const ALL: &[(&str, &str)] = &[
        ("topic.field", "topic_field!"),
        ("partition.field", "partition_field"),
        ("timestamp.field", "timestamp_field?"),
        ("static.field", "instance_id"),
        ("static.value", "my-instance-id"),
    ];

    fn record(value: Option<Payload>) -> ConnectRecord {
        let mut record = ConnectRecord::new("test");
        record.partition = Some(0);
        record.timestamp_ms = Some(789);
        record.value = value;
        record
    }

    fn timestamp_schema() -> Schema {
        Schema {
            name: Some(logical::TIMESTAMP.to_string()),
            version: Some(1),
            ..Schema::of(SchemaType::Int64).optional()
        }
    }

    #[test]
    fn schemaless_inserts_the_configured_fields() {
        let mut t = build("InsertField$Value", ALL).unwrap();
        let out = t
            .apply(record(Some(Payload::schemaless(json!({"magic": 42})))))
            .unwrap()
            .unwrap();
        assert_eq!(
            out.value,
            Some(Payload::schemaless(json!({
                "magic": 42,
                "topic_field": "test",
                "partition_field": 0,
                "timestamp_field": 789,
                "instance_id": "my-instance-id",
            })))
        );
        // Without partition and timestamp those fields are left out.
        let mut bare = record(Some(Payload::schemaless(json!({}))));
        bare.partition = None;
        bare.timestamp_ms = None;
        let out = t.apply(bare).unwrap().unwrap();
        assert_eq!(
            out.value,
            Some(Payload::schemaless(
                json!({"topic_field": "test", "instance_id": "my-instance-id"})
            ))
        );
    }

    #[test]
    fn with_schema_copies_the_schema_and_appends_fields() {
        let mut t = build("InsertField$Value", ALL).unwrap();
        let schema = Schema {
            name: Some("name".into()),
            version: Some(1),
            doc: Some("doc".into()),
            ..Schema::structure(vec![Field::new("magic", Schema::of(SchemaType::Int64))])
        };
        let input = Structured::with_schema(schema, json!({"magic": 42}));
        let out = t
            .apply(record(Some(Payload::Structured(input))))
            .unwrap()
            .unwrap();
        let expected_schema = Schema {
            name: Some("name".into()),
            version: Some(1),
            doc: Some("doc".into()),
            ..Schema::structure(vec![
                Field::new("magic", Schema::of(SchemaType::Int64)),
                Field::new("topic_field", Schema::of(SchemaType::String)),
                Field::new("partition_field", Schema::of(SchemaType::Int32).optional()),
                Field::new("timestamp_field", timestamp_schema()),
                Field::new("instance_id", Schema::of(SchemaType::String).optional()),
            ])
        };
        assert_eq!(
            out.value,
            Some(Payload::Structured(Structured::with_schema(
                expected_schema,
                json!({
                    "magic": 42,
                    "topic_field": "test",
                    "partition_field": 0,
                    "timestamp_field": 789,
                    "instance_id": "my-instance-id",
                })
            )))
        );
    }

    #[test]
    fn key_variant_and_nulls_with_schema() {
        let mut t = build("InsertField$Key", &[("partition.field", "p")]).unwrap();
        let schema = Schema::structure(vec![Field::new(
            "d",
            Schema {
                default_value: Some(json!(5)),
                ..Schema::of(SchemaType::Int32).optional()
            },
        )]);
        let mut input = record(None);
        input.partition = None;
        input.key = Some(Payload::Structured(Structured::with_schema(
            schema.clone(),
            json!({"d": null}),
        )));
        let out = t.apply(input).unwrap().unwrap();
        let Some(Payload::Structured(key)) = out.key else {
            panic!("no key")
        };
        // The default replaces the null, and the missing partition is a null field.
        assert_eq!(key.value, json!({"d": 5, "p": null}));
        assert_eq!(out.value, None);

        let mut t = build(
            "InsertField$Key",
            &[
                ("partition.field", "p"),
                ("replace.null.with.default", "false"),
            ],
        )
        .unwrap();
        let mut input = record(None);
        input.key = Some(Payload::Structured(Structured::with_schema(
            schema,
            json!({"d": null}),
        )));
        let Some(Payload::Structured(key)) = t.apply(input).unwrap().unwrap().key else {
            panic!("no key")
        };
        assert_eq!(key.value, json!({"d": null, "p": 0}));
    }

    #[test]
    fn tombstones_and_null_keys_pass_through() {
        let mut t = build("InsertField$Value", ALL).unwrap();
        assert_eq!(t.apply(record(None)).unwrap().unwrap(), record(None));
        let null = Structured::with_schema(Schema::structure(vec![]).optional(), Value::Null);
        let input = record(Some(Payload::Structured(null)));
        assert_eq!(t.apply(input.clone()).unwrap().unwrap(), input);
    }

    #[test]
    fn data_errors() {
        let mut t = build(
            "InsertField$Value",
            &[("topic.field", "t!"), ("partition.field", "p!")],
        )
        .unwrap();
        let int = Structured::with_schema(Schema::of(SchemaType::Int32), json!(42));
        let error = t.apply(record(Some(Payload::Structured(int)))).unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)), "{error}");
        assert!(error.to_string().contains("INT32"), "{error}");
        let error = t
            .apply(record(Some(Payload::schemaless(json!(42)))))
            .unwrap_err();
        assert_eq!(
            error,
            ConnectError::data(
                "InsertField$Value: in absence of schema, only objects are supported for [field insertion], found a number"
            )
        );
        // A required partition field without a partition.
        let schema = Schema::structure(vec![]);
        let mut input = record(Some(Payload::Structured(Structured::with_schema(
            schema.clone(),
            json!({}),
        ))));
        input.partition = None;
        let error = t.apply(input).unwrap_err();
        assert!(error.to_string().contains("`p` is required"), "{error}");
        // A field that is already there.
        let schema = Schema::structure(vec![Field::new("t", Schema::of(SchemaType::String))]);
        let input = record(Some(Payload::Structured(Structured::with_schema(
            schema,
            json!({"t": "x"}),
        ))));
        let error = t.apply(input).unwrap_err();
        assert!(error.to_string().contains("already has"), "{error}");
    }

    #[test]
    fn config_errors_name_the_key() {
        assert_eq!(
            build("InsertField$Value", &[]).err().unwrap()[0].field,
            "topic.field"
        );
        let issues = build("InsertField$Value", &[("static.field", "s")])
            .err()
            .unwrap();
        assert_eq!(issues[0].field, "static.value");
        let issues = build("InsertField$Value", &[("offset.field", "o")])
            .err()
            .unwrap();
        assert_eq!(issues[0].field, "offset.field");
        assert!(issues[0].message.contains("not available"), "{}", issues[0]);
        let issues = build("InsertField$Value", &[("topic.feld", "t")])
            .err()
            .unwrap();
        assert_eq!(issues[0].field, "topic.feld");
    }
}
