//! Typed connector configuration from Kafka Connect's string maps.
//!
//! A connector describes its configuration as a Rust struct deriving `Deserialize` and
//! `JsonSchema`, with keys renamed to Kafka Connect's dotted style:
//!
//! ```
//! use ferry_api::{schemars::JsonSchema, serde::Deserialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(crate = "ferry_api::serde", deny_unknown_fields)]
//! #[schemars(crate = "ferry_api::schemars")]
//! struct SequenceConfig {
//!     /// Kafka topic the numbers are written to.
//!     #[serde(rename = "kafka.topic")]
//!     kafka_topic: String,
//!     /// Records per second, per task.
//!     #[serde(rename = "rate.per.second", default = "default_rate")]
//!     rate_per_second: u32,
//! }
//! fn default_rate() -> u32 { 10 }
//!
//! let map = [("kafka.topic", "numbers"), ("rate.per.second", "250")]
//!     .into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
//! let config: SequenceConfig = ferry_api::config::parse(&map).unwrap();
//! assert_eq!(config.rate_per_second, 250);
//! ```
//!
//! Values arrive as strings; the JSON Schema says which are numbers, booleans or lists, so a wrong
//! value is reported against its key ("`rate.per.second`: expected an integer, got \"fast\"")
//! rather than as a serde error about the whole struct. Keys the worker owns (`name`,
//! `connector.class`, `tasks.max`, converters, `errors.*`, ...) are left out before parsing, so
//! `deny_unknown_fields` only catches the connector's own typos.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::ConfigMap;

/// A connector configuration type: deserializable, with a JSON Schema.
pub trait ConnectorConfig: DeserializeOwned + JsonSchema {}

impl<T: DeserializeOwned + JsonSchema> ConnectorConfig for T {}

/// One problem with one configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The configuration key.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigIssue {
    /// An issue with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigIssue {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Prefixes and keys the worker itself interprets (Kafka Connect's runtime keys).
const RUNTIME_KEYS: &[&str] = &[
    "name",
    "connector.class",
    "tasks.max",
    "key.converter",
    "value.converter",
    "header.converter",
    "topics",
    "topics.regex",
    "config.action.reload",
];
const RUNTIME_PREFIXES: &[&str] = &[
    "key.converter.",
    "value.converter.",
    "header.converter.",
    "transforms",
    "predicates",
    "errors.",
    "producer.override.",
    "consumer.override.",
    "offsets.storage.",
    "exactly.once.",
    "transaction.boundary",
    "task.",
    "topic.creation.",
];

/// True for keys the worker owns; connectors see them in the map but not in their typed config.
pub fn is_runtime_key(key: &str) -> bool {
    RUNTIME_KEYS.contains(&key) || RUNTIME_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The JSON Schema of a configuration type, as JSON text.
pub fn schema_json<C: ConnectorConfig>() -> String {
    serde_json::to_string(&schemars::schema_for!(C)).expect("a JSON Schema serializes")
}

/// Parses a configuration, reporting every offending key at once.
pub fn parse<C: ConnectorConfig>(config: &ConfigMap) -> Result<C, Vec<ConfigIssue>> {
    parse_with::<C>(config, is_runtime_key)
}

/// Parses a transformation's or predicate's own keys: every key is its own (the worker removed
/// the `transforms.<alias>.` prefix), so none is left out as a runtime key, `name` included.
pub fn parse_own<C: ConnectorConfig>(config: &ConfigMap) -> Result<C, Vec<ConfigIssue>> {
    parse_with::<C>(config, |_| false)
}

fn parse_with<C: ConnectorConfig>(
    config: &ConfigMap,
    left_out: fn(&str) -> bool,
) -> Result<C, Vec<ConfigIssue>> {
    let schema = serde_json::to_value(schemars::schema_for!(C)).expect("a JSON Schema serializes");
    let (object, mut issues) = coerce(&schema, config, left_out);
    if !issues.is_empty() {
        return Err(issues);
    }
    match serde_json::from_value::<C>(Value::Object(object)) {
        Ok(parsed) => Ok(parsed),
        Err(e) => {
            let message = e.to_string();
            let field = backticked(&message).unwrap_or_else(|| "config".to_string());
            issues.push(ConfigIssue::new(field, message));
            Err(issues)
        }
    }
}

/// Parses a configuration for a connector's or task's `start`, then runs `check` for what a
/// schema cannot express; the first issue becomes a [`crate::ConnectError::Config`] naming its key.
pub fn parse_checked<C: ConnectorConfig>(
    config: &ConfigMap,
    check: impl FnOnce(&C) -> Vec<ConfigIssue>,
) -> crate::Result<C> {
    let first = |issues: Vec<ConfigIssue>| {
        let issue = issues
            .into_iter()
            .next()
            .unwrap_or_else(|| ConfigIssue::new("config", "invalid"));
        crate::ConnectError::config(issue.field, issue.message)
    };
    let parsed: C = parse(config).map_err(first)?;
    let issues = check(&parsed);
    if issues.is_empty() {
        Ok(parsed)
    } else {
        Err(first(issues))
    }
}

/// Checks a configuration: one issue per offending key, empty when it is valid.
pub fn validate<C: ConnectorConfig>(config: &ConfigMap) -> Vec<ConfigIssue> {
    parse::<C>(config).err().unwrap_or_default()
}

/// Turns the string map into a JSON object typed as the schema says, collecting issues.
fn coerce(
    schema: &Value,
    config: &ConfigMap,
    left_out: fn(&str) -> bool,
) -> (Map<String, Value>, Vec<ConfigIssue>) {
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    let mut object = Map::new();
    let mut issues = Vec::new();

    for (key, raw) in config.iter().filter(|(k, _)| !left_out(k)) {
        match properties.get(key) {
            Some(property) => match coerce_value(schema, property, raw) {
                Ok(value) => {
                    object.insert(key.clone(), value);
                }
                Err(message) => issues.push(ConfigIssue::new(key, message)),
            },
            None if closed => {
                let hint = closest(key, properties.keys())
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_else(|| "; remove it".to_string());
                issues.push(ConfigIssue::new(
                    key,
                    format!("unknown configuration key{hint}"),
                ));
            }
            None => {
                object.insert(key.clone(), Value::String(raw.clone()));
            }
        }
    }

    let required = schema.get("required").and_then(Value::as_array);
    for key in required.into_iter().flatten().filter_map(Value::as_str) {
        if !config.contains_key(key) {
            let about = properties
                .get(key)
                .and_then(|p| p.get("description"))
                .and_then(Value::as_str)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            issues.push(ConfigIssue::new(
                key,
                format!("missing required configuration; set `{key}`{about}"),
            ));
        }
    }
    (object, issues)
}

/// Converts one string value to the JSON type its schema asks for.
fn coerce_value(root: &Value, property: &Value, raw: &str) -> Result<Value, String> {
    let property = resolve(root, property);
    if let Some(choices) = enumerated(root, property) {
        return if choices.iter().any(|c| c == raw) {
            Ok(Value::String(raw.to_string()))
        } else {
            Err(format!(
                "got \"{raw}\"; must be one of {}",
                choices.join(", ")
            ))
        };
    }
    match primary_type(root, property).as_deref() {
        Some("integer") => {
            let n: i64 = raw
                .trim()
                .parse()
                .map_err(|_| format!("expected an integer, got \"{raw}\""))?;
            check_bounds(property, n as f64)?;
            Ok(Value::from(n))
        }
        Some("number") => {
            let n: f64 = raw
                .trim()
                .parse()
                .map_err(|_| format!("expected a number, got \"{raw}\""))?;
            check_bounds(property, n)?;
            Ok(Value::from(n))
        }
        Some("boolean") => match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got \"{raw}\"")),
        },
        Some("array") => {
            let items = property.get("items").cloned().unwrap_or(Value::Null);
            raw.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| coerce_value(root, &items, item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Some("object") => serde_json::from_str(raw)
            .map_err(|e| format!("expected a JSON object, got \"{raw}\" ({e})")),
        _ => Ok(Value::String(raw.to_string())),
    }
}

fn check_bounds(property: &Value, n: f64) -> Result<(), String> {
    if let Some(min) = property.get("minimum").and_then(Value::as_f64) {
        if n < min {
            return Err(format!("must be at least {min}, got {n}"));
        }
    }
    if let Some(max) = property.get("maximum").and_then(Value::as_f64) {
        if n > max {
            return Err(format!("must be at most {max}, got {n}"));
        }
    }
    Ok(())
}

/// Follows a local `$ref` to its definition.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix("#/")
            .map(|path| {
                path.split('/')
                    .try_fold(root, |node, part| node.get(part))
                    .unwrap_or(schema)
            })
            .unwrap_or(schema),
        None => schema,
    }
}

/// The non-null type of a schema, looking through `Option`'s `anyOf`/`type: [T, "null"]`.
fn primary_type(root: &Value, schema: &Value) -> Option<String> {
    match schema.get("type") {
        Some(Value::String(t)) => return Some(t.clone()),
        Some(Value::Array(types)) => {
            return types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .map(str::to_string)
        }
        _ => {}
    }
    alternatives(schema)
        .map(|s| resolve(root, s))
        .find(|s| s.get("type").and_then(Value::as_str) != Some("null"))
        .and_then(|s| primary_type(root, s))
}

/// The allowed strings of an enum schema, in any of the shapes schemars emits.
fn enumerated(root: &Value, schema: &Value) -> Option<Vec<String>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        );
    }
    if let Some(constant) = schema.get("const").and_then(Value::as_str) {
        return Some(vec![constant.to_string()]);
    }
    let mut choices = Vec::new();
    let mut any = false;
    for alternative in alternatives(schema).map(|s| resolve(root, s)) {
        if alternative.get("type").and_then(Value::as_str) == Some("null") {
            continue;
        }
        any = true;
        choices.extend(enumerated(root, alternative)?);
    }
    any.then_some(choices)
}

fn alternatives(schema: &Value) -> impl Iterator<Item = &Value> {
    ["anyOf", "oneOf"]
        .into_iter()
        .filter_map(|k| schema.get(k).and_then(Value::as_array))
        .flatten()
}

/// The first name between backticks in a serde message, e.g. "missing field `kafka.topic`".
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

/// The known key closest to a misspelt one, when it is close enough to be a typo.
fn closest<'a>(key: &str, known: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    known
        .map(|k| (edit_distance(key, k), k))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    #[serde(deny_unknown_fields)]
    enum Mode {
        #[serde(rename = "fast")]
        Fast,
        #[serde(rename = "slow")]
        Slow,
    }

    /// Test configuration.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        /// Where records go.
        #[serde(rename = "kafka.topic")]
        kafka_topic: String,
        #[serde(rename = "rate", default)]
        #[schemars(range(min = 1, max = 1000))]
        rate: Option<u32>,
        #[serde(rename = "enabled", default)]
        enabled: bool,
        #[serde(rename = "mode", default)]
        mode: Option<Mode>,
        #[serde(rename = "filters", default)]
        filters: Vec<String>,
    }

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_strings_into_typed_fields_and_ignores_runtime_keys() {
        let parsed: Sample = parse(&map(&[
            ("name", "x"),
            ("connector.class", "Y"),
            ("tasks.max", "3"),
            ("kafka.topic", "t"),
            ("rate", "5"),
            ("enabled", "TRUE"),
            ("mode", "slow"),
            ("filters", "a/#, b/+"),
        ]))
        .unwrap();
        assert_eq!(parsed.kafka_topic, "t");
        assert_eq!(parsed.rate, Some(5));
        assert!(parsed.enabled);
        assert_eq!(parsed.mode, Some(Mode::Slow));
        assert_eq!(parsed.filters, vec!["a/#", "b/+"]);
    }

    #[test]
    fn reports_one_issue_per_bad_field() {
        let issues = validate::<Sample>(&map(&[
            ("rate", "fast"),
            ("enabled", "yes"),
            ("mode", "medium"),
            ("kafka.topik", "t"),
        ]));
        let by_field = |f: &str| {
            issues
                .iter()
                .find(|i| i.field == f)
                .unwrap_or_else(|| panic!("no issue for {f} in {issues:?}"))
                .message
                .clone()
        };
        assert!(by_field("rate").contains("expected an integer"));
        assert!(by_field("enabled").contains("true or false"));
        assert!(by_field("mode").contains("fast, slow"));
        assert!(by_field("kafka.topik").contains("did you mean `kafka.topic`"));
        assert!(by_field("kafka.topic").contains("missing required"));
        assert!(by_field("kafka.topic").contains("Where records go."));
        assert_eq!(issues.len(), 5);
    }

    #[test]
    fn enforces_schema_bounds() {
        let issues = validate::<Sample>(&map(&[("kafka.topic", "t"), ("rate", "0")]));
        assert_eq!(issues.len(), 1);
        assert!(issues[0].message.contains("at least 1"), "{issues:?}");
    }
}
