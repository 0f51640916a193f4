//! Connector config validation in Kafka Connect's ConfigInfos shape, driven by the plugin's JSON
//! Schema plus the keys the runtime owns.

use std::collections::BTreeMap;

use ferry_api::config::ConfigIssue;
use ferry_api::ConfigMap;
use serde::Serialize;
use serde_json::Value;

use crate::config::chain::{self, ChainKeys};
use crate::config::connector::{self as keys, ConnectorKeys};
use crate::config::resolve_providers;
use crate::herder::secrets;
use crate::plugins::{ConnectorType, Plugin, PluginRegistry};
use crate::worker::chain::TransformChain;

/// One config key's definition, as `GET /connector-plugins/{class}/config` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigKeyInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub default_value: Option<String>,
    pub importance: String,
    pub documentation: String,
    pub group: String,
    pub order: i32,
    pub width: String,
    pub display_name: String,
    pub dependents: Vec<String>,
}

/// One key's value and errors.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigValueInfo {
    pub name: String,
    pub value: Option<String>,
    pub recommended_values: Vec<String>,
    pub errors: Vec<String>,
    pub visible: bool,
}

/// A definition with its value.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigInfo {
    pub definition: ConfigKeyInfo,
    pub value: ConfigValueInfo,
}

/// The answer of `PUT /connector-plugins/{class}/config/validate`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigInfos {
    pub name: String,
    pub error_count: usize,
    pub groups: Vec<String>,
    pub configs: Vec<ConfigInfo>,
}

impl ConfigInfos {
    /// "field: message" for every error, for the 400 message of create/update.
    pub fn error_lines(&self) -> Vec<String> {
        self.configs
            .iter()
            .flat_map(|c| {
                c.value
                    .errors
                    .iter()
                    .map(move |e| format!("{}: {e}", c.value.name))
            })
            .collect()
    }
}

const COMMON: &str = "Common";
const CONNECTOR: &str = "Connector";

/// Keys every connector has, owned by the runtime.
fn runtime_definitions(kind: ConnectorType) -> Vec<ConfigKeyInfo> {
    let key =
        |name: &str, kind: &str, required: bool, default: Option<&str>, doc: &str| ConfigKeyInfo {
            name: name.to_string(),
            kind: kind.to_string(),
            required,
            default_value: default.map(str::to_string),
            importance: if required { "HIGH" } else { "LOW" }.to_string(),
            documentation: doc.to_string(),
            group: COMMON.to_string(),
            order: 0,
            width: "NONE".to_string(),
            display_name: name.to_string(),
            dependents: Vec::new(),
        };
    let mut definitions = vec![
        key(keys::NAME, "STRING", true, None, "Globally unique name of the connector."),
        key(keys::CONNECTOR_CLASS, "STRING", true, None, "Class name or alias of the connector plugin."),
        key(keys::TASKS_MAX, "INT", false, Some("1"), "Maximum number of tasks."),
        key(keys::KEY_CONVERTER, "CLASS", false, Some("org.apache.kafka.connect.converters.ByteArrayConverter"), "Converter for record keys: ByteArray, String or Json."),
        key(keys::VALUE_CONVERTER, "CLASS", false, Some("org.apache.kafka.connect.converters.ByteArrayConverter"), "Converter for record values: ByteArray, String or Json."),
        key(keys::ERRORS_TOLERANCE, "STRING", false, Some("none"), "none: a record that cannot be handled fails the task; all: it is skipped (and dead-lettered for sinks)."),
        key(keys::HEADER_CONVERTER, "CLASS", false, Some("org.apache.kafka.connect.storage.SimpleHeaderConverter"), "How header values written by transformations become bytes: SimpleHeaderConverter, StringConverter or ByteArrayConverter."),
        key(chain::TRANSFORMS, "LIST", false, Some(""), "Aliases of the transformations to apply to records, in order."),
        key(chain::PREDICATES, "LIST", false, Some(""), "Aliases of the predicates transformations may use."),
    ];
    if kind == ConnectorType::Sink {
        definitions.push(key(
            keys::TOPICS,
            "LIST",
            false,
            Some(""),
            "Topics to consume; set this or topics.regex.",
        ));
        definitions.push(key(
            keys::TOPICS_REGEX,
            "STRING",
            false,
            Some(""),
            "Regular expression of topics to consume; set this or topics.",
        ));
        definitions.push(key(
            keys::DEAD_LETTER_TOPIC,
            "STRING",
            false,
            Some(""),
            "Topic for records that cannot be written, with errors.tolerance=all.",
        ));
    }
    for (order, k) in definitions.iter_mut().enumerate() {
        k.order = order as i32 + 1;
    }
    definitions
}

/// The plugin's keys from its JSON Schema.
fn plugin_definitions(plugin: &Plugin) -> Vec<ConfigKeyInfo> {
    schema_definitions(&plugin.config_schema, CONNECTOR, "")
}

/// The keys a JSON Schema describes, in `group`, each name prefixed with `prefix`.
pub fn schema_definitions(schema: &Value, group: &str, prefix: &str) -> Vec<ConfigKeyInfo> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .enumerate()
        .map(|(order, (name, property))| {
            let required = required.contains(&name.as_str());
            ConfigKeyInfo {
                name: format!("{prefix}{name}"),
                kind: type_name(schema, property),
                required,
                default_value: property.get("default").map(|d| match d {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string).unwrap_or(i.to_string()))
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                }),
                importance: if required { "HIGH" } else { "MEDIUM" }.to_string(),
                documentation: property["description"].as_str().unwrap_or("").to_string(),
                group: group.to_string(),
                order: order as i32 + 1,
                width: "NONE".to_string(),
                display_name: property["title"].as_str().unwrap_or(name).to_string(),
                dependents: Vec::new(),
            }
        })
        .collect()
}

/// Kafka Connect's type names for a JSON Schema property.
fn type_name(root: &Value, property: &Value) -> String {
    let resolved = property
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/"))
        .and_then(|path| path.split('/').try_fold(root, |node, part| node.get(part)))
        .unwrap_or(property);
    let kind = match resolved.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string")
            .to_string(),
        _ => "string".to_string(),
    };
    match (
        kind.as_str(),
        resolved.get("format").and_then(Value::as_str),
    ) {
        ("integer", Some("int64" | "uint64")) => "LONG",
        ("integer", _) => "INT",
        ("number", _) => "DOUBLE",
        ("boolean", _) => "BOOLEAN",
        ("array", _) => "LIST",
        _ if property.get("writeOnly") == Some(&Value::Bool(true)) => "PASSWORD",
        _ => "STRING",
    }
    .to_string()
}

/// Every definition of a plugin, runtime keys first.
pub fn definitions(plugin: &Plugin) -> Vec<ConfigKeyInfo> {
    let mut all = runtime_definitions(plugin.kind);
    all.extend(plugin_definitions(plugin));
    all
}

/// Checks the runtime-owned keys.
fn runtime_issues(kind: ConnectorType, config: &ConfigMap) -> Vec<ConfigIssue> {
    let mut issues = ConnectorKeys::parse(config, kind).err().unwrap_or_default();
    for (key, value) in config {
        if let Err(error) = resolve_providers(key, value) {
            issues.push(ConfigIssue::new(key, error.to_string()));
        }
    }
    issues
}

/// The definitions and groups of a config's transformations and predicates, each in its own
/// group as Kafka Connect shows them (`Transforms: <alias>`, `Predicates: <alias>`).
fn chain_definitions(
    chain: &ChainKeys,
    registry: &PluginRegistry,
) -> (Vec<String>, Vec<ConfigKeyInfo>) {
    let mut groups = Vec::new();
    let mut definitions = Vec::new();
    let mut section = |list: &str, title: &str, alias: &str, type_name: &str, guarded: bool| {
        let group = format!("{title}: {alias}");
        let prefix = format!("{list}.{alias}.");
        let mut own = vec![chain_key(
            &group,
            &format!("{prefix}type"),
            "CLASS",
            true,
            "Class name or alias of the transformation or predicate.",
        )];
        if guarded {
            own.push(chain_key(
                &group,
                &format!("{prefix}predicate"),
                "STRING",
                false,
                "Alias of a predicate: the transformation applies only to records it matches.",
            ));
            own.push(chain_key(
                &group,
                &format!("{prefix}negate"),
                "BOOLEAN",
                false,
                "Apply the transformation to records the predicate does not match instead.",
            ));
        }
        if let Some(plugin) = registry.transform(type_name) {
            own.extend(schema_definitions(&plugin.config_schema, &group, &prefix));
        }
        for (order, key) in own.iter_mut().enumerate() {
            key.order = order as i32 + 1;
        }
        groups.push(group);
        definitions.extend(own);
    };
    for step in &chain.steps {
        section(
            chain::TRANSFORMS,
            "Transforms",
            &step.alias,
            &step.type_name,
            true,
        );
    }
    for predicate in &chain.predicates {
        section(
            chain::PREDICATES,
            "Predicates",
            &predicate.alias,
            &predicate.type_name,
            false,
        );
    }
    (groups, definitions)
}

fn chain_key(group: &str, name: &str, kind: &str, required: bool, doc: &str) -> ConfigKeyInfo {
    ConfigKeyInfo {
        name: name.to_string(),
        kind: kind.to_string(),
        required,
        default_value: None,
        importance: if required { "HIGH" } else { "MEDIUM" }.to_string(),
        documentation: doc.to_string(),
        group: group.to_string(),
        order: 0,
        width: "NONE".to_string(),
        display_name: name.to_string(),
        dependents: Vec::new(),
    }
}

/// Validates a configuration against the runtime's keys, its transformation chain and the
/// plugin's own checks.
pub fn validate(plugin: &Plugin, registry: &PluginRegistry, config: &ConfigMap) -> ConfigInfos {
    let mut issues = runtime_issues(plugin.kind, config);
    let mut structure = Vec::new();
    let chain = ChainKeys::parse(config, &mut structure);
    if let Err(chain_issues) = TransformChain::build(&chain, registry) {
        issues.extend(chain_issues);
    }
    let (chain_groups, chain_definitions) = chain_definitions(&chain, registry);
    let resolved: ConfigMap = config
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                resolve_providers(k, v).unwrap_or_else(|_| v.clone()),
            )
        })
        .collect();
    match plugin.validate(&resolved) {
        Ok(plugin_issues) => issues.extend(plugin_issues),
        Err(error) => issues.push(ConfigIssue::new(
            keys::CONNECTOR_CLASS,
            format!("the connector's validate failed: {error}"),
        )),
    }
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for issue in issues {
        errors.entry(issue.field).or_default().push(issue.message);
    }
    let mut definitions = definitions(plugin);
    definitions.extend(chain_definitions);
    let mut configs: Vec<ConfigInfo> = definitions
        .iter()
        .map(|definition| {
            let name = definition.name.clone();
            ConfigInfo {
                definition: definition.clone(),
                value: ConfigValueInfo {
                    value: config
                        .get(&name)
                        .map(|v| {
                            if secrets::is_secret(Some(plugin), &name, v) {
                                secrets::HIDDEN.to_string()
                            } else {
                                v.clone()
                            }
                        })
                        .or_else(|| definition.default_value.clone()),
                    recommended_values: recommended(plugin, &name),
                    errors: errors.remove(&name).unwrap_or_default(),
                    visible: true,
                    name,
                },
            }
        })
        .collect();
    // Errors about keys without a definition (typos, unknown keys) still get an entry each.
    for (name, messages) in errors {
        configs.push(ConfigInfo {
            definition: ConfigKeyInfo {
                name: name.clone(),
                kind: "STRING".to_string(),
                required: false,
                default_value: None,
                importance: "LOW".to_string(),
                documentation: "Not a configuration key of this connector.".to_string(),
                group: CONNECTOR.to_string(),
                order: -1,
                width: "NONE".to_string(),
                display_name: name.clone(),
                dependents: Vec::new(),
            },
            value: ConfigValueInfo {
                value: config.get(&name).cloned(),
                recommended_values: Vec::new(),
                errors: messages,
                visible: true,
                name,
            },
        });
    }
    ConfigInfos {
        name: plugin.class_name.clone(),
        error_count: configs.iter().map(|c| c.value.errors.len()).sum(),
        groups: [COMMON.to_string(), CONNECTOR.to_string()]
            .into_iter()
            .chain(chain_groups)
            .collect(),
        configs,
    }
}

/// Enumerated values of a key, from its schema.
fn recommended(plugin: &Plugin, name: &str) -> Vec<String> {
    let schema = &plugin.config_schema;
    let property = &schema["properties"][name];
    let resolved = property
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/"))
        .and_then(|path| {
            path.split('/')
                .try_fold(schema, |node, part| node.get(part))
        })
        .unwrap_or(property);
    let mut values = Vec::new();
    if let Some(choices) = resolved["enum"].as_array() {
        values.extend(choices.iter().filter_map(Value::as_str).map(str::to_string));
    }
    for alternative in ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| resolved[*k].as_array())
        .flatten()
    {
        if let Some(constant) = alternative["const"].as_str() {
            values.push(constant.to_string());
        }
        if let Some(choices) = alternative["enum"].as_array() {
            values.extend(choices.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    values
}
