//! `ReplaceField`: keeps, drops and renames top-level fields of an object or struct.

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;

use ferry_api::data::{Field, SchemaType, Structured};
use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use serde_json::{Map, Value};

use crate::side::{self, class_of, Side};
use crate::{json_type_name, structured, BuiltIn};

/// `ReplaceField`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct ReplaceFieldConfig {
    /// Fields to exclude. This takes precedence over the fields to include.
    #[serde(default)]
    exclude: Option<Vec<String>>,
    /// Fields to include. If specified, only these fields will be used.
    #[serde(default)]
    include: Option<Vec<String>>,
    /// Field rename mappings, as `old:new` pairs: `foo:bar,abc:xyz`.
    #[serde(default)]
    renames: Vec<String>,
    /// Deprecated: use `exclude` (which wins when both are set).
    #[serde(default)]
    blacklist: Option<Vec<String>>,
    /// Deprecated: use `include` (which wins when both are set).
    #[serde(default)]
    whitelist: Option<Vec<String>>,
    /// Whether a null field that has a default value in its schema takes the default (true) or
    /// stays null (false).
    #[serde(rename = "replace.null.with.default", default = "default_true")]
    replace_null_with_default: bool,
}

fn default_true() -> bool {
    true
}

/// Kafka Connect's `ReplaceField$Key` / `ReplaceField$Value`.
pub struct ReplaceField<S> {
    exclude: HashSet<String>,
    include: HashSet<String>,
    renames: HashMap<String, String>,
    replace_null_with_default: bool,
    side: PhantomData<S>,
}

impl<S: Side> Transformation for ReplaceField<S> {
    type Config = ReplaceFieldConfig;

    fn new(config: ReplaceFieldConfig) -> ferry_api::Result<Self> {
        let mut renames = HashMap::new();
        for mapping in &config.renames {
            match mapping.split(':').collect::<Vec<_>>()[..] {
                [old, new] if !old.is_empty() && !new.is_empty() => {
                    renames.insert(old.to_string(), new.to_string());
                }
                _ => {
                    return Err(ConnectError::config(
                        "renames",
                        format!("invalid rename mapping `{mapping}`: write `old:new`"),
                    ))
                }
            }
        }
        let set = |list: Option<Vec<String>>| -> HashSet<String> {
            list.unwrap_or_default().into_iter().collect()
        };
        Ok(ReplaceField {
            exclude: set(config.exclude.or(config.blacklist)),
            include: set(config.include.or(config.whitelist)),
            renames,
            replace_null_with_default: config.replace_null_with_default,
            side: PhantomData,
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let class = class_of::<S>("ReplaceField");
        if let Some(data) = structured(S::of(&mut record), &class)? {
            self.replace(data)
                .map_err(|why| ConnectError::data(format!("{class}: {why}")))?;
        }
        Ok(Some(record))
    }
}

impl<S> ReplaceField<S> {
    fn kept(&self, name: &str) -> bool {
        !self.exclude.contains(name) && (self.include.is_empty() || self.include.contains(name))
    }

    fn renamed<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames.get(name).map_or(name, String::as_str)
    }

    fn replace(&self, data: &mut Structured) -> Result<(), String> {
        let Value::Object(object) = &mut data.value else {
            let expected = if data.schema.is_some() {
                "a struct"
            } else {
                "a JSON object in absence of a schema"
            };
            return Err(format!(
                "only {expected} can have fields replaced, found {}",
                json_type_name(&data.value)
            ));
        };
        let Some(schema) = &data.schema else {
            let mut replaced = Map::new();
            for (name, value) in std::mem::take(object) {
                if self.kept(&name) {
                    // A field that keeps its name keeps its key: no new allocation.
                    let key = match self.renames.get(&name) {
                        Some(renamed) => renamed.clone(),
                        None => name,
                    };
                    replaced.insert(key, value);
                }
            }
            *object = replaced;
            return Ok(());
        };
        if schema.schema_type != SchemaType::Struct {
            return Err(format!(
                "only a struct can have fields replaced, but the schema is {}",
                schema.schema_type.connect_name()
            ));
        }
        let mut fields: Vec<Field> = Vec::new();
        let mut replaced = Map::new();
        for field in schema.fields.iter().filter(|f| self.kept(&f.field)) {
            let name = self.renamed(&field.field);
            if fields.iter().any(|f| f.field == name) {
                return Err(format!(
                    "two fields would be called `{name}`; change `renames`"
                ));
            }
            let mut value = object.remove(&field.field).unwrap_or(Value::Null);
            if value.is_null() && self.replace_null_with_default {
                if let Some(default) = &field.schema.default_value {
                    value = default.clone();
                }
            }
            replaced.insert(name.to_string(), value);
            fields.push(Field::new(name, field.schema.clone()));
        }
        let updated = schema.struct_like(fields);
        data.value = Value::Object(replaced);
        data.schema = Some(updated);
        Ok(())
    }
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::transformation::<ReplaceField<side::Key>>(&class_of::<side::Key>("ReplaceField")),
        BuiltIn::transformation::<ReplaceField<side::Value>>(&class_of::<side::Value>(
            "ReplaceField",
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::Payload;
    use ferry_api::data::Schema;
    use ferry_api::ConfigMap;
    use serde_json::json;

    fn configured<S: Side>(pairs: &[(&str, &str)]) -> ferry_api::Result<ReplaceField<S>> {
        let map: ConfigMap = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = ferry_api::config::parse::<ReplaceFieldConfig>(&map).map_err(|issues| {
            ConnectError::config(issues[0].field.clone(), issues[0].message.clone())
        })?;
        ReplaceField::new(config)
    }

    fn apply_value(
        t: &mut ReplaceField<side::Value>,
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
    fn schemaless_fields_are_filtered_and_renamed() {
        let mut t =
            configured::<side::Value>(&[("exclude", "dont"), ("renames", "abc:xyz,foo:bar")])
                .unwrap();
        let out = apply_value(
            &mut t,
            Structured::schemaless(
                json!({"dont": "whatever", "abc": 42, "foo": true, "etc": "etc"}),
            ),
        )
        .unwrap();
        assert_eq!(out.value, json!({"xyz": 42, "bar": true, "etc": "etc"}));

        let mut t = configured::<side::Value>(&[("include", "abc,foo")]).unwrap();
        let out = apply_value(
            &mut t,
            Structured::schemaless(json!({"dont": 1, "abc": 42, "foo": true})),
        )
        .unwrap();
        assert_eq!(out.value, json!({"abc": 42, "foo": true}));

        let error = apply_value(&mut t, Structured::schemaless(json!([1]))).unwrap_err();
        assert!(matches!(error, ConnectError::Data(_)));
        assert!(
            error
                .to_string()
                .contains("ReplaceField$Value: only a JSON object"),
            "{error}"
        );
    }

    #[test]
    fn exclude_wins_over_include_and_deprecated_names_still_work() {
        let mut t = configured::<side::Value>(&[("include", "a,b"), ("exclude", "b")]).unwrap();
        let out = apply_value(&mut t, Structured::schemaless(json!({"a": 1, "b": 2}))).unwrap();
        assert_eq!(out.value, json!({"a": 1}));

        let mut t = configured::<side::Value>(&[("whitelist", "a,b"), ("blacklist", "b")]).unwrap();
        let out = apply_value(
            &mut t,
            Structured::schemaless(json!({"a": 1, "b": 2, "c": 3})),
        )
        .unwrap();
        assert_eq!(out.value, json!({"a": 1}));

        // The new key wins over its deprecated alias.
        let mut t = configured::<side::Value>(&[("include", "c"), ("whitelist", "a")]).unwrap();
        let out = apply_value(&mut t, Structured::schemaless(json!({"a": 1, "c": 3}))).unwrap();
        assert_eq!(out.value, json!({"c": 3}));
    }

    #[test]
    fn bad_renames_name_the_key() {
        for bad in ["foo", "foo:bar:baz", "foo:"] {
            let error = configured::<side::Value>(&[("renames", bad)])
                .err()
                .unwrap();
            assert!(
                matches!(&error, ConnectError::Config { field, .. } if field == "renames"),
                "{error}"
            );
        }
        let error = configured::<side::Value>(&[("rename", "a:b")])
            .err()
            .unwrap();
        assert!(error.to_string().contains("`rename`"), "{error}");
    }

    #[test]
    fn struct_fields_are_filtered_and_renamed_in_the_schema_too() {
        let mut t =
            configured::<side::Value>(&[("exclude", "dont"), ("renames", "abc:xyz,foo:bar")])
                .unwrap();
        let schema = Schema {
            name: Some("car".into()),
            version: Some(3),
            ..Schema::structure(vec![
                Field::new("dont", Schema::of(SchemaType::String)),
                Field::new("abc", Schema::of(SchemaType::Int32)),
                Field::new(
                    "foo",
                    Schema {
                        default_value: Some(json!(true)),
                        ..Schema::of(SchemaType::Boolean).optional()
                    },
                ),
                Field::new("etc", Schema::of(SchemaType::String)),
            ])
            .optional()
        };
        let value = json!({"dont": "whatever", "abc": 42, "foo": null, "etc": "etc"});
        let out = apply_value(
            &mut t,
            Structured::with_schema(schema.clone(), value.clone()),
        )
        .unwrap();
        assert_eq!(out.value, json!({"xyz": 42, "bar": true, "etc": "etc"}));
        let updated = out.schema.unwrap();
        assert_eq!(updated.name.as_deref(), Some("car"));
        assert_eq!(updated.version, Some(3));
        let names: Vec<&str> = updated.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["xyz", "bar", "etc"]);
        assert_eq!(
            updated.field("bar").unwrap().schema,
            schema.field("foo").unwrap().schema
        );

        let mut t = configured::<side::Value>(&[
            ("renames", "foo:bar"),
            ("replace.null.with.default", "false"),
        ])
        .unwrap();
        let out = apply_value(&mut t, Structured::with_schema(schema.clone(), value)).unwrap();
        assert_eq!(out.value["bar"], Value::Null);

        let error = apply_value(&mut t, Structured::with_schema(schema, json!(1))).unwrap_err();
        assert!(error.to_string().contains("only a struct"), "{error}");
    }

    #[test]
    fn keys_are_replaced_and_nulls_pass() {
        let mut t = configured::<side::Key>(&[("renames", "a:b")]).unwrap();
        let mut record = ConnectRecord::new("t");
        record.key = Some(Payload::schemaless(json!({"a": 1})));
        record.value = Some(Payload::schemaless(json!({"a": 1})));
        let out = t.apply(record).unwrap().unwrap();
        assert_eq!(out.key, Some(Payload::schemaless(json!({"b": 1}))));
        assert_eq!(out.value, Some(Payload::schemaless(json!({"a": 1}))));

        let mut null = ConnectRecord::new("t");
        null.key = Some(Payload::Structured(Structured::with_schema(
            Schema::structure(vec![]).optional(),
            Value::Null,
        )));
        assert_eq!(t.apply(null.clone()).unwrap().unwrap(), null);
    }
}
