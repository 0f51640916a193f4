//! Kafka Connect's built-in transformations and predicates, under their exact class names and
//! with their keys and defaults, working on Ferry's structured values ([`ferry_api::data`]).
//!
//! Each is an ordinary [`Transformation`] or [`Predicate`], the traits a third-party plugin
//! implements too; [`built_ins`] lists them for the worker's registry. Field-level
//! transformations work on schemaless JSON objects and on values with a struct schema (what
//! JsonConverter reads from a `{schema, payload}` envelope), and fail on opaque bytes with an
//! error that says how to read them as JSON.

use ferry_api::config::{self, ConfigIssue};
use ferry_api::data::{Payload, Structured};
use ferry_api::transform::{ConnectRecord, Predicate, Transformation};
use ferry_api::{ConfigMap, ConnectError};

pub mod field_path;
pub mod side;

mod cast;
mod extract_field;
mod filter;
mod flatten;
mod headers;
mod hoist_field;
mod insert_field;
mod mask_field;
mod predicates;
mod regex_router;
mod replace_field;
mod set_schema_metadata;
mod timestamp_converter;
mod timestamp_router;
mod value_to_key;

/// Kafka Connect's package of the built-in transformations.
pub const PACKAGE: &str = "org.apache.kafka.connect.transforms";

/// A transformation behind a pointer: a built-in one or one in a plugin library.
pub trait DynTransformation: Send {
    /// See [`Transformation::apply`].
    fn apply(&mut self, record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>>;
}

impl<T: Transformation> DynTransformation for T {
    fn apply(&mut self, record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        Transformation::apply(self, record)
    }
}

/// A predicate behind a pointer.
pub trait DynPredicate: Send {
    /// See [`Predicate::test`].
    fn test(&mut self, record: &ConnectRecord) -> ferry_api::Result<bool>;
}

impl<P: Predicate> DynPredicate for P {
    fn test(&mut self, record: &ConnectRecord) -> ferry_api::Result<bool> {
        Predicate::test(self, record)
    }
}

/// Kafka Connect's plugin types for these (`GET /connector-plugins?connectorsOnly=false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginType {
    /// A single message transformation.
    Transformation,
    /// A predicate.
    Predicate,
}

impl PluginType {
    /// The type's name in Kafka Connect's REST answers.
    pub fn rest_name(self) -> &'static str {
        match self {
            PluginType::Transformation => "transformation",
            PluginType::Predicate => "predicate",
        }
    }
}

/// A configured instance, ready to run.
pub enum Built {
    /// A transformation.
    Transformation(Box<dyn DynTransformation>),
    /// A predicate.
    Predicate(Box<dyn DynPredicate>),
}

/// One built-in: its class name, type, configuration schema and constructor.
pub struct BuiltIn {
    /// Full class name, e.g. `org.apache.kafka.connect.transforms.ExtractField$Key`.
    pub class: String,
    /// Transformation or predicate.
    pub plugin_type: PluginType,
    /// JSON Schema of its keys (without the `transforms.<alias>.` prefix).
    pub config_schema: fn() -> String,
    build: fn(&ConfigMap) -> Result<Built, Vec<ConfigIssue>>,
}

impl std::fmt::Debug for BuiltIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltIn")
            .field("class", &self.class)
            .finish()
    }
}

impl BuiltIn {
    /// A built-in transformation called `PACKAGE.simple_name`.
    pub fn transformation<T: Transformation>(simple_name: &str) -> BuiltIn {
        BuiltIn {
            class: format!("{PACKAGE}.{simple_name}"),
            plugin_type: PluginType::Transformation,
            config_schema: config::schema_json::<T::Config>,
            build: build_transformation::<T>,
        }
    }

    /// A built-in predicate called `PACKAGE.predicates.simple_name`.
    pub fn predicate<P: Predicate>(simple_name: &str) -> BuiltIn {
        BuiltIn {
            class: format!("{PACKAGE}.predicates.{simple_name}"),
            plugin_type: PluginType::Predicate,
            config_schema: config::schema_json::<P::Config>,
            build: build_predicate::<P>,
        }
    }

    /// The short names users may write instead of the class: the simple name (`RegexRouter`,
    /// `ExtractField$Key`).
    pub fn aliases(&self) -> Vec<String> {
        let simple = self.class.rsplit('.').next().unwrap_or(&self.class);
        vec![simple.to_string()]
    }

    /// True when `name` is the class name or an alias.
    pub fn is_called(&self, name: &str) -> bool {
        self.class == name || self.aliases().iter().any(|a| a == name)
    }

    /// Builds an instance from its own keys; every offending key is reported.
    pub fn build(&self, config: &ConfigMap) -> Result<Built, Vec<ConfigIssue>> {
        (self.build)(config)
    }
}

fn build_transformation<T: Transformation>(config: &ConfigMap) -> Result<Built, Vec<ConfigIssue>> {
    let parsed = config::parse_own::<T::Config>(config)?;
    T::new(parsed)
        .map(|t| Built::Transformation(Box::new(t)))
        .map_err(issues_of)
}

fn build_predicate<P: Predicate>(config: &ConfigMap) -> Result<Built, Vec<ConfigIssue>> {
    let parsed = config::parse_own::<P::Config>(config)?;
    P::new(parsed)
        .map(|p| Built::Predicate(Box::new(p)))
        .map_err(issues_of)
}

fn issues_of(error: ConnectError) -> Vec<ConfigIssue> {
    match error {
        ConnectError::Config { field, message } => vec![ConfigIssue::new(field, message)],
        other => vec![ConfigIssue::new("type", other.to_string())],
    }
}

/// Every built-in transformation and predicate.
pub fn built_ins() -> Vec<BuiltIn> {
    [
        cast::registered(),
        extract_field::registered(),
        filter::registered(),
        flatten::registered(),
        headers::registered(),
        hoist_field::registered(),
        insert_field::registered(),
        mask_field::registered(),
        predicates::registered(),
        regex_router::registered(),
        replace_field::registered(),
        set_schema_metadata::registered(),
        timestamp_converter::registered(),
        timestamp_router::registered(),
        value_to_key::registered(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The structured key or value a field-level transformation works on; `Ok(None)` for a null,
/// which such transformations pass through unchanged, as Kafka Connect's do.
pub fn structured<'a>(
    payload: &'a mut Option<Payload>,
    transformation: &str,
) -> ferry_api::Result<Option<&'a mut Structured>> {
    let Some(payload) = payload.as_mut() else {
        return Ok(None);
    };
    if payload.is_null() {
        return Ok(None);
    }
    payload
        .structured()
        .map(Some)
        .map_err(|why| ConnectError::data(format!("{transformation}: {why}")))
}

/// A struct field's value: absent is null, and null is the field's default when asked for (what
/// Kafka's `Struct.get` does; `getWithoutDefault` without `with_default`).
pub(crate) fn field_value(
    object: &serde_json::Map<String, serde_json::Value>,
    field: &ferry_api::data::Field,
    with_default: bool,
) -> serde_json::Value {
    match object.get(&field.field) {
        Some(value) if !value.is_null() => value.clone(),
        _ if with_default => field
            .schema
            .default_value
            .clone()
            .unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    }
}

/// A built-in transformation by class or alias, built from `pairs` (for the unit tests).
#[cfg(test)]
pub(crate) fn test_built_in(
    class: &str,
    pairs: &[(&str, &str)],
) -> Result<Box<dyn DynTransformation>, Vec<ConfigIssue>> {
    let config = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let built_in = built_ins()
        .into_iter()
        .find(|b| b.is_called(class))
        .unwrap_or_else(|| panic!("no built-in {class}"));
    match built_in.build(&config)? {
        Built::Transformation(t) => Ok(t),
        Built::Predicate(_) => panic!("{class} is a predicate"),
    }
}

/// A JSON type's name for error messages.
pub fn json_type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_has_a_unique_class_and_a_schema() {
        let all = built_ins();
        let mut classes: Vec<&str> = all.iter().map(|b| b.class.as_str()).collect();
        classes.sort();
        let count = classes.len();
        classes.dedup();
        assert_eq!(classes.len(), count, "duplicate class names");
        for built_in in &all {
            let schema: serde_json::Value =
                serde_json::from_str(&(built_in.config_schema)()).unwrap();
            assert!(schema.is_object(), "{}", built_in.class);
        }
    }
}
