//! `SetSchemaMetadata`: sets the name and/or version of the key's or value's schema.

use std::marker::PhantomData;

use ferry_api::data::{Payload, SchemaType};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::Value;

use crate::side::{self, class_of, Side};
use crate::BuiltIn;

/// `SetSchemaMetadata`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct SetSchemaMetadataConfig {
    /// Schema name to set.
    #[serde(rename = "schema.name", default)]
    schema_name: Option<String>,
    /// Schema version to set.
    #[serde(rename = "schema.version", default)]
    schema_version: Option<i32>,
    /// Whether a null struct field that has a default value in its schema takes the default
    /// (true) or stays null (false).
    #[serde(rename = "replace.null.with.default", default = "default_true")]
    replace_null_with_default: bool,
}

fn default_true() -> bool {
    true
}

/// Kafka Connect's `SetSchemaMetadata$Key` / `SetSchemaMetadata$Value`.
pub struct SetSchemaMetadata<S> {
    name: Option<String>,
    version: Option<i32>,
    replace_null_with_default: bool,
    side: PhantomData<S>,
}

impl<S: Side> Transformation for SetSchemaMetadata<S> {
    type Config = SetSchemaMetadataConfig;

    fn new(config: SetSchemaMetadataConfig) -> ferry_api::Result<Self> {
        if config.schema_name.is_none() && config.schema_version.is_none() {
            return Err(ConnectError::config(
                "schema.name",
                "neither schema name nor version is configured: set `schema.name`, `schema.version` or both",
            ));
        }
        Ok(SetSchemaMetadata {
            name: config.schema_name,
            version: config.schema_version,
            replace_null_with_default: config.replace_null_with_default,
            side: PhantomData,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let class = class_of::<S>("SetSchemaMetadata");
        let schema_required = || {
            ConnectError::data(format!(
                "{class}: a schema is required for updating schema metadata, but the {} has none (for sinks use JsonConverter with schemas.enable=true)",
                S::NAME.to_ascii_lowercase()
            ))
        };
        let data = match S::of(&mut record) {
            // A null without a schema passes through, as in Kafka.
            None => return Ok(Some(record)),
            Some(Payload::Bytes(_)) => return Err(schema_required()),
            Some(payload) => payload
                .structured()
                .map_err(|why| ConnectError::data(format!("{class}: {why}")))?,
        };
        let Some(schema) = data.schema.as_mut() else {
            return if data.value.is_null() {
                Ok(Some(record))
            } else {
                Err(schema_required())
            };
        };
        if let Some(name) = &self.name {
            schema.name = Some(name.clone());
        }
        if let Some(version) = self.version {
            schema.version = Some(version);
        }
        // Kafka rebuilds a struct under the new schema, reading each field with its default.
        if let (SchemaType::Struct, true, Value::Object(object)) = (
            schema.schema_type,
            self.replace_null_with_default,
            &mut data.value,
        ) {
            for field in &schema.fields {
                if let Some(default) = &field.schema.default_value {
                    let value = object.entry(field.field.clone()).or_insert(Value::Null);
                    if value.is_null() {
                        *value = default.clone();
                    }
                }
            }
        }
        Ok(Some(record))
    }
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::transformation::<SetSchemaMetadata<side::Key>>(&class_of::<side::Key>(
            "SetSchemaMetadata",
        )),
        BuiltIn::transformation::<SetSchemaMetadata<side::Value>>(&class_of::<side::Value>(
            "SetSchemaMetadata",
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::{Field, Schema, Structured};
    use serde_json::json;

    fn set<S: Side>(name: Option<&str>, version: Option<i32>) -> SetSchemaMetadata<S> {
        SetSchemaMetadata::new(SetSchemaMetadataConfig {
            schema_name: name.map(str::to_string),
            schema_version: version,
            replace_null_with_default: true,
        })
        .unwrap()
    }

    fn with_value(data: Option<Payload>) -> ConnectRecord {
        let mut record = ConnectRecord::new("t");
        record.value = data;
        record
    }

    #[test]
    fn neither_name_nor_version_is_a_config_error() {
        let error = SetSchemaMetadata::<side::Value>::new(SetSchemaMetadataConfig {
            schema_name: None,
            schema_version: None,
            replace_null_with_default: true,
        })
        .err()
        .unwrap();
        assert!(matches!(&error, ConnectError::Config { field, .. } if field == "schema.name"));
    }

    #[test]
    fn sets_name_and_version_keeping_the_rest() {
        let mut t = set::<side::Value>(Some("foo"), Some(42));
        let schema = Schema {
            name: Some("old".into()),
            version: Some(1),
            doc: Some("cars".into()),
            ..Schema::structure(vec![
                Field::new("stringField", Schema::of(SchemaType::String)),
                Field::new(
                    "n",
                    Schema {
                        default_value: Some(json!(7)),
                        ..Schema::of(SchemaType::Int32).optional()
                    },
                ),
            ])
        };
        let data =
            Structured::with_schema(schema.clone(), json!({"stringField": "value", "n": null}));
        let out = t
            .apply(with_value(Some(Payload::Structured(data))))
            .unwrap()
            .unwrap();
        let expected = Schema {
            name: Some("foo".into()),
            version: Some(42),
            ..schema.clone()
        };
        assert_eq!(
            out.value,
            Some(Payload::Structured(Structured::with_schema(
                expected,
                json!({"stringField": "value", "n": 7})
            )))
        );

        // Only the version: the name stays; a primitive schema works too.
        let mut t = set::<side::Value>(None, Some(2));
        let data = Structured::with_schema(Schema::of(SchemaType::Int64), json!(5));
        let out = t
            .apply(with_value(Some(Payload::Structured(data))))
            .unwrap()
            .unwrap();
        assert_eq!(
            out.value.as_ref().and_then(Payload::schema).unwrap(),
            &Schema {
                version: Some(2),
                ..Schema::of(SchemaType::Int64)
            }
        );
    }

    #[test]
    fn nulls_without_a_schema_pass_and_with_one_get_the_metadata() {
        let mut t = set::<side::Value>(Some("foo"), None);
        let none = with_value(None);
        assert_eq!(t.apply(none.clone()).unwrap().unwrap(), none);
        let null = with_value(Some(Payload::schemaless(Value::Null)));
        assert_eq!(t.apply(null.clone()).unwrap().unwrap(), null);
        let data = Structured::with_schema(Schema::of(SchemaType::String).optional(), Value::Null);
        let out = t
            .apply(with_value(Some(Payload::Structured(data))))
            .unwrap()
            .unwrap();
        assert_eq!(
            out.value
                .as_ref()
                .and_then(Payload::schema)
                .unwrap()
                .name
                .as_deref(),
            Some("foo")
        );
    }

    #[test]
    fn schemaless_values_are_data_errors() {
        let mut t = set::<side::Value>(Some("foo"), None);
        for payload in [
            Payload::schemaless(json!({"a": 1})),
            Payload::JsonText(b"{\"a\":1}".to_vec()),
            Payload::Bytes(b"x".to_vec()),
        ] {
            let error = t.apply(with_value(Some(payload))).unwrap_err();
            assert!(matches!(error, ConnectError::Data(_)));
            assert!(
                error
                    .to_string()
                    .contains("SetSchemaMetadata$Value: a schema is required"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_key_side_changes_only_the_key() {
        let mut t = set::<side::Key>(Some("key"), None);
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::Structured(Structured::with_schema(
            Schema::of(SchemaType::String),
            json!("k"),
        )));
        record.value = Some(Payload::Structured(Structured::with_schema(
            Schema::of(SchemaType::String),
            json!("v"),
        )));
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(
            out.key
                .as_ref()
                .and_then(Payload::schema)
                .unwrap()
                .name
                .as_deref(),
            Some("key")
        );
        assert_eq!(
            out.value.as_ref().and_then(Payload::schema).unwrap().name,
            None
        );
    }
}
