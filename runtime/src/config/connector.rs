//! Kafka Connect's connector-level keys: the part of a connector config the runtime owns.
//!
//! One definition, parsed once: validation reports these issues, the herders read the class and
//! `tasks.max` from here, the task loops their converters, error handling and subscription, and
//! the sink offsets API its topics. Keys the connector owns pass through untouched.

use std::collections::BTreeMap;

use ferry_api::config::ConfigIssue;
use ferry_api::ConfigMap;

use super::chain::ChainKeys;
use super::topic_creation::{self, TopicCreation};

/// Whether a connector is a source or a sink (Kafka Connect's ConnectorType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorType {
    /// Reads from an external system into Kafka.
    Source,
    /// Writes from Kafka to an external system.
    Sink,
    /// A stored connector whose plugin is not on this worker's `plugin.path` (Kafka Connect's
    /// UNKNOWN): never a loaded plugin's type.
    Unknown,
}

/// `name`: the connector's unique name.
pub const NAME: &str = "name";
/// `connector.class`: the plugin's class name or one of its aliases.
pub const CONNECTOR_CLASS: &str = "connector.class";
/// `tasks.max`: at most this many tasks.
pub const TASKS_MAX: &str = "tasks.max";
/// `key.converter`: how record keys are shaped (sub-keys under `key.converter.`).
pub const KEY_CONVERTER: &str = "key.converter";
/// `value.converter`: how record values are shaped (sub-keys under `value.converter.`).
pub const VALUE_CONVERTER: &str = "value.converter";
/// `header.converter`: how header values written by transformations become bytes.
pub const HEADER_CONVERTER: &str = "header.converter";
/// `errors.tolerance`: `none` fails the task on a bad record, `all` skips it.
pub const ERRORS_TOLERANCE: &str = "errors.tolerance";
/// `errors.log.enable`: log each record skipped under `errors.tolerance=all` (Ferry's default
/// is `true`, where Kafka Connect's is `false`: a skipped record is never silent).
pub const ERRORS_LOG_ENABLE: &str = "errors.log.enable";
/// `errors.log.include.messages`: put the record's key, value and headers in that log line.
pub const ERRORS_LOG_INCLUDE_MESSAGES: &str = "errors.log.include.messages";
/// `errors.deadletterqueue.topic.name` (sinks): where skipped records go.
pub const DEAD_LETTER_TOPIC: &str = "errors.deadletterqueue.topic.name";
/// `topics` (sinks): comma-separated topics to consume.
pub const TOPICS: &str = "topics";
/// `topics.regex` (sinks): a pattern of topics to consume.
pub const TOPICS_REGEX: &str = "topics.regex";
/// Prefix of per-connector producer settings (sources).
pub const PRODUCER_OVERRIDE_PREFIX: &str = "producer.override.";
/// Prefix of per-connector consumer settings (sinks).
pub const CONSUMER_OVERRIDE_PREFIX: &str = "consumer.override.";

/// Kafka Connect's connector-level keys Ferry does not implement, by key or prefix, with what
/// to do instead. A config that sets one is refused: a key that is accepted but ignored would
/// send data somewhere else without a word. `Some(value)` is the one value that asks for nothing
/// more than Ferry does, and is accepted.
const NOT_IMPLEMENTED: &[(&str, Option<&str>, &str)] = &[
    ("exactly.once.", None, "exactly-once source delivery is not implemented (delivery is at least once); remove it"),
    ("transaction.boundary", None, "transaction boundaries come with exactly-once delivery, which is not implemented; remove it"),
    ("offsets.storage.", None, "a connector's own offsets topic is not implemented: offsets go to the worker's offset.storage.topic; remove it"),
    ("errors.retry.", None, "retrying failed operations is not implemented: a record that fails follows errors.tolerance at once; remove it"),
    ("errors.deadletterqueue.topic.replication.factor", None, "Ferry does not create the dead-letter topic (the broker does, with its defaults); create it yourself and remove this key"),
    ("errors.deadletterqueue.context.headers.enable", Some("true"), "Ferry always writes the __connect.errors.* context headers; remove it or set it to true"),
    ("config.action.reload", Some("none"), "restarting a connector when a config provider's value changes is not implemented; set it to none (restart the connector yourself)"),
];

fn not_implemented(config: &ConfigMap) -> Vec<ConfigIssue> {
    config
        .iter()
        .filter_map(|(key, value)| {
            let (_, accepted, why) = NOT_IMPLEMENTED
                .iter()
                .find(|(name, _, _)| key == name || key.starts_with(name))?;
            if accepted.is_some_and(|accepted| value.trim().eq_ignore_ascii_case(accepted)) {
                return None;
            }
            Some(ConfigIssue::new(
                key,
                format!("Kafka Connect's `{key}` is not supported by Ferry: {why}"),
            ))
        })
        .collect()
}

/// The class a config names, trimmed; empty when unset.
pub fn connector_class(config: &ConfigMap) -> &str {
    config.get(CONNECTOR_CLASS).map_or("", |c| c.trim())
}

/// How bytes are checked and shaped on their way to or from Kafka (see `worker::converter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converter {
    /// Bytes pass through unchanged.
    ByteArray,
    /// Bytes must be UTF-8 text.
    String,
    /// Bytes must be JSON; `schemas_enable` adds or removes the envelope.
    Json {
        /// Wrap in / unwrap from `{"schema", "payload"}`.
        schemas_enable: bool,
    },
}

impl Converter {
    /// The converter configured under `prefix` (`key.converter` or `value.converter`).
    pub fn from_config(config: &ConfigMap, prefix: &str) -> Result<Converter, String> {
        let class = config
            .get(prefix)
            .map(String::as_str)
            .unwrap_or("ByteArrayConverter");
        let simple = class.rsplit('.').next().unwrap_or(class);
        match simple {
            "ByteArrayConverter" | "ByteArray" => Ok(Converter::ByteArray),
            "StringConverter" | "String" => Ok(Converter::String),
            "JsonConverter" | "Json" | "JSON" => {
                let key = format!("{prefix}.schemas.enable");
                let schemas_enable = match config.get(&key).map(String::as_str) {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(other) => {
                        return Err(format!("`{key}` must be true or false, got `{other}`"))
                    }
                };
                Ok(Converter::Json { schemas_enable })
            }
            _ => Err(format!(
                "`{prefix}` = `{class}` is not a known converter; use org.apache.kafka.connect.converters.ByteArrayConverter, org.apache.kafka.connect.storage.StringConverter or org.apache.kafka.connect.json.JsonConverter"
            )),
        }
    }
}

/// `header.converter`: how header values that transformations write become bytes. Headers that
/// no transformation writes pass through as the bytes they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderConverter {
    /// Kafka Connect's default `SimpleHeaderConverter`: strings as their UTF-8, other values as
    /// their text (numbers, booleans; arrays and objects as JSON).
    #[default]
    Simple,
    /// `StringConverter`: every value as its text.
    String,
    /// `ByteArrayConverter`: only bytes may be written.
    ByteArray,
}

impl HeaderConverter {
    /// The converter `header.converter` names; its sub-keys are refused (none is implemented).
    pub fn from_config(config: &ConfigMap) -> Result<HeaderConverter, ConfigIssue> {
        if let Some(key) = config.keys().find(|k| k.starts_with("header.converter.")) {
            return Err(ConfigIssue::new(
                key,
                "header converter settings are not implemented (headers are UTF-8); remove it",
            ));
        }
        let Some(class) = config.get(HEADER_CONVERTER).map(|c| c.trim()) else {
            return Ok(HeaderConverter::Simple);
        };
        match class.rsplit('.').next().unwrap_or(class) {
            "SimpleHeaderConverter" => Ok(HeaderConverter::Simple),
            "StringConverter" => Ok(HeaderConverter::String),
            "ByteArrayConverter" => Ok(HeaderConverter::ByteArray),
            _ => Err(ConfigIssue::new(
                HEADER_CONVERTER,
                format!("`{class}` is not a known header converter; use org.apache.kafka.connect.storage.SimpleHeaderConverter, org.apache.kafka.connect.storage.StringConverter or org.apache.kafka.connect.converters.ByteArrayConverter"),
            )),
        }
    }
}

/// What a task does with a record it cannot handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorTolerance {
    /// Fail the task.
    #[default]
    None,
    /// Skip the record (and dead-letter it, for sinks with a dead-letter topic).
    All,
}

/// The topics a sink consumes: `topics` or `topics.regex`, never both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// Named topics.
    Topics(Vec<String>),
    /// A pattern, anchored with `^` as librdkafka expects.
    Regex(String),
}

impl Subscription {
    /// Parses `topics` / `topics.regex`; the error names the key to fix.
    pub fn from_config(config: &ConfigMap) -> Result<Subscription, ConfigIssue> {
        let topics: Vec<String> = config
            .get(TOPICS)
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let regex = config
            .get(TOPICS_REGEX)
            .map(|r| r.trim())
            .filter(|r| !r.is_empty());
        match (topics.is_empty(), regex) {
            (false, None) => Ok(Subscription::Topics(topics)),
            (true, Some(regex)) => {
                let anchored = if regex.starts_with('^') {
                    regex.to_string()
                } else {
                    format!("^{regex}")
                };
                regex::Regex::new(&anchored).map_err(|e| {
                    ConfigIssue::new(TOPICS_REGEX, format!("not a valid regex: {e}"))
                })?;
                Ok(Subscription::Regex(anchored))
            }
            (false, Some(_)) => Err(ConfigIssue::new(
                TOPICS_REGEX,
                "set either `topics` or `topics.regex`, not both",
            )),
            (true, None) => Err(ConfigIssue::new(
                TOPICS,
                "a sink connector needs `topics` (comma-separated) or `topics.regex`",
            )),
        }
    }

    /// The subscription as librdkafka takes it: names, or one `^`-prefixed pattern.
    pub fn patterns(&self) -> Vec<String> {
        match self {
            Subscription::Topics(topics) => topics.clone(),
            Subscription::Regex(regex) => vec![regex.clone()],
        }
    }

    /// Whether `topic` is covered.
    pub fn covers(&self, topic: &str) -> bool {
        match self {
            Subscription::Topics(topics) => topics.iter().any(|t| t == topic),
            Subscription::Regex(regex) => regex::Regex::new(regex).is_ok_and(|r| r.is_match(topic)),
        }
    }
}

/// The runtime's keys of one connector config, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorKeys {
    /// `name`.
    pub name: String,
    /// `connector.class`.
    pub class: String,
    /// `tasks.max`, at least 1.
    pub tasks_max: u32,
    /// `key.converter`.
    pub key_converter: Converter,
    /// `value.converter`.
    pub value_converter: Converter,
    /// `header.converter`.
    pub header_converter: HeaderConverter,
    /// `transforms*` and `predicates*`.
    pub chain: ChainKeys,
    /// `errors.tolerance`.
    pub errors_tolerance: ErrorTolerance,
    /// `errors.log.enable`.
    pub errors_log_enable: bool,
    /// `errors.log.include.messages`.
    pub errors_log_include_messages: bool,
    /// `errors.deadletterqueue.topic.name` (sinks).
    pub dead_letter_topic: Option<String>,
    /// `topics` / `topics.regex` (sinks).
    pub subscription: Option<Subscription>,
    /// `producer.override.*`, prefix removed.
    pub producer_overrides: BTreeMap<String, String>,
    /// `consumer.override.*`, prefix removed.
    pub consumer_overrides: BTreeMap<String, String>,
    /// `topic.creation.*` (sources): the worker creates the topics records go to.
    pub topic_creation: Option<TopicCreation>,
}

impl ConnectorKeys {
    /// Parses the runtime keys of a config for a connector of `kind`, reporting every bad key.
    pub fn parse(config: &ConfigMap, kind: ConnectorType) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = not_implemented(config);
        let name = match config.get(NAME).map(|n| n.trim()) {
            None | Some("") => {
                issues.push(ConfigIssue::new(
                    NAME,
                    "missing; give the connector a unique name",
                ));
                String::new()
            }
            Some(name) if name.contains('/') || name.chars().any(char::is_control) => {
                issues.push(ConfigIssue::new(
                    NAME,
                    "must not contain '/' or control characters",
                ));
                name.to_string()
            }
            Some(name) => name.to_string(),
        };
        let tasks_max = match config.get(TASKS_MAX) {
            None => 1,
            Some(tasks) => match tasks.trim().parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    issues.push(ConfigIssue::new(
                        TASKS_MAX,
                        format!("expected a whole number of at least 1, got `{tasks}`"),
                    ));
                    1
                }
            },
        };
        let mut converter = |prefix: &str| {
            Converter::from_config(config, prefix).unwrap_or_else(|message| {
                issues.push(ConfigIssue::new(prefix, message));
                Converter::ByteArray
            })
        };
        let key_converter = converter(KEY_CONVERTER);
        let value_converter = converter(VALUE_CONVERTER);
        let header_converter = HeaderConverter::from_config(config).unwrap_or_else(|issue| {
            issues.push(issue);
            HeaderConverter::Simple
        });
        let chain = ChainKeys::parse(config, &mut issues);
        let errors_tolerance = match config.get(ERRORS_TOLERANCE).map(|t| t.trim()) {
            None | Some("none") => ErrorTolerance::None,
            Some("all") => ErrorTolerance::All,
            Some(other) => {
                issues.push(ConfigIssue::new(
                    ERRORS_TOLERANCE,
                    format!("must be none or all, got `{other}`"),
                ));
                ErrorTolerance::None
            }
        };
        let mut flag =
            |key: &str, default: bool| match config.get(key).map(|v| v.trim().to_ascii_lowercase())
            {
                None => default,
                Some(v) if v == "true" => true,
                Some(v) if v == "false" => false,
                Some(other) => {
                    issues.push(ConfigIssue::new(
                        key,
                        format!("must be true or false, got `{other}`"),
                    ));
                    default
                }
            };
        let errors_log_enable = flag(ERRORS_LOG_ENABLE, true);
        let errors_log_include_messages = flag(ERRORS_LOG_INCLUDE_MESSAGES, false);
        let mut subscription = None;
        let mut dead_letter_topic = None;
        let mut topic_creation = None;
        if kind == ConnectorType::Sink {
            for key in config
                .keys()
                .filter(|k| k.starts_with(topic_creation::PREFIX))
            {
                issues.push(ConfigIssue::new(
                    key,
                    "only source connectors create the topics they write to; remove it",
                ));
            }
            match Subscription::from_config(config) {
                Ok(parsed) => subscription = Some(parsed),
                Err(issue) => issues.push(issue),
            }
            dead_letter_topic = config
                .get(DEAD_LETTER_TOPIC)
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty());
        } else if kind == ConnectorType::Source {
            topic_creation = TopicCreation::parse(config, &mut issues);
            for key in [TOPICS, TOPICS_REGEX, DEAD_LETTER_TOPIC] {
                if config.contains_key(key) {
                    issues.push(ConfigIssue::new(
                        key,
                        "only sink connectors read from topics; remove it",
                    ));
                }
            }
        }
        let prefixed = |prefix: &str| -> BTreeMap<String, String> {
            config
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), v.clone())))
                .collect()
        };
        let keys = ConnectorKeys {
            name,
            class: connector_class(config).to_string(),
            tasks_max,
            key_converter,
            value_converter,
            header_converter,
            chain,
            errors_tolerance,
            errors_log_enable,
            errors_log_include_messages,
            dead_letter_topic,
            subscription,
            producer_overrides: prefixed(PRODUCER_OVERRIDE_PREFIX),
            consumer_overrides: prefixed(CONSUMER_OVERRIDE_PREFIX),
            topic_creation,
        };
        if issues.is_empty() {
            Ok(keys)
        } else {
            Err(issues)
        }
    }

    /// Parses a config that was validated when it was stored; a failure (a config written by
    /// another tool, say) becomes one trace naming every bad key.
    pub fn parse_stored(config: &ConfigMap, kind: ConnectorType) -> Result<Self, String> {
        Self::parse(config, kind).map_err(|issues| {
            let lines: Vec<String> = issues.iter().map(ConfigIssue::to_string).collect();
            format!("the connector config is invalid: {}", lines.join("; "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::config;

    #[test]
    fn defaults_for_a_minimal_source() {
        let keys = ConnectorKeys::parse(
            &config(&[("name", "a"), ("connector.class", " Seq ")]),
            ConnectorType::Source,
        )
        .unwrap();
        assert_eq!(keys.class, "Seq");
        assert_eq!(keys.tasks_max, 1);
        assert_eq!(keys.value_converter, Converter::ByteArray);
        assert_eq!(keys.errors_tolerance, ErrorTolerance::None);
        assert_eq!(keys.subscription, None);
    }

    #[test]
    fn every_bad_key_is_named() {
        let issues = ConnectorKeys::parse(
            &config(&[
                ("name", "a/b"),
                ("tasks.max", "0"),
                ("value.converter", "Avro"),
                ("errors.tolerance", "some"),
                ("topics", "t"),
            ]),
            ConnectorType::Source,
        )
        .unwrap_err();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "tasks.max",
                "value.converter",
                "errors.tolerance",
                "topics"
            ]
        );
    }

    #[test]
    fn kafka_connect_keys_that_are_not_implemented_are_refused() {
        // The config a new user copied from a Kafka Connect deployment.
        let copied = config(&[
            ("name", "c"),
            ("transforms", "route"),
            (
                "transforms.route.type",
                "org.apache.kafka.connect.transforms.RegexRouter",
            ),
            ("transforms.route.regex", "(.*)"),
            ("header.converter", "SimpleHeaderConverter"),
            ("exactly.once.support", "required"),
            ("errors.retry.timeout", "60000"),
            ("errors.log.include.messages", "true"),
        ]);
        let issues = ConnectorKeys::parse(&copied, ConnectorType::Source).unwrap_err();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["errors.retry.timeout", "exactly.once.support"]);
        assert!(
            issues[0].message.contains("not supported by Ferry"),
            "{}",
            issues[0]
        );
        // Values that ask for what Ferry does anyway are accepted.
        let harmless = config(&[
            ("name", "c"),
            ("errors.log.enable", "true"),
            ("errors.log.include.messages", "false"),
            ("config.action.reload", "NONE"),
        ]);
        assert!(ConnectorKeys::parse(&harmless, ConnectorType::Source).is_ok());
    }

    #[test]
    fn error_logging_keys_take_effect() {
        let keys = |pairs: &[(&str, &str)]| {
            let mut map = config(pairs);
            map.insert("name".into(), "c".into());
            ConnectorKeys::parse(&map, ConnectorType::Source)
        };
        let defaults = keys(&[]).unwrap();
        assert!(defaults.errors_log_enable && !defaults.errors_log_include_messages);
        let quiet = keys(&[
            ("errors.log.enable", "FALSE"),
            ("errors.log.include.messages", "true"),
        ])
        .unwrap();
        assert!(!quiet.errors_log_enable && quiet.errors_log_include_messages);
        let bad = keys(&[("errors.log.enable", "sometimes")]).unwrap_err();
        assert_eq!(bad[0].field, "errors.log.enable");
    }

    #[test]
    fn header_converters_by_name_and_their_settings_refused() {
        let parse = |pairs: &[(&str, &str)]| HeaderConverter::from_config(&config(pairs));
        assert_eq!(parse(&[]).unwrap(), HeaderConverter::Simple);
        assert_eq!(
            parse(&[(
                "header.converter",
                "org.apache.kafka.connect.storage.StringConverter"
            )])
            .unwrap(),
            HeaderConverter::String
        );
        assert_eq!(
            parse(&[("header.converter", "Avro")]).unwrap_err().field,
            "header.converter"
        );
        let setting = parse(&[("header.converter.encoding", "UTF-16")]).unwrap_err();
        assert_eq!(setting.field, "header.converter.encoding");
    }

    #[test]
    fn sink_subscription_and_overrides() {
        let keys = ConnectorKeys::parse(
            &config(&[
                ("name", "s"),
                ("topics.regex", "cars-.*"),
                ("consumer.override.fetch.min.bytes", "10"),
                ("errors.deadletterqueue.topic.name", "dlq"),
            ]),
            ConnectorType::Sink,
        )
        .unwrap();
        let subscription = keys.subscription.unwrap();
        assert_eq!(subscription.patterns(), ["^cars-.*"]);
        assert!(subscription.covers("cars-1") && !subscription.covers("trucks"));
        assert_eq!(keys.consumer_overrides["fetch.min.bytes"], "10");
        assert_eq!(keys.dead_letter_topic.as_deref(), Some("dlq"));
        let both = config(&[("name", "s"), ("topics", "a"), ("topics.regex", "b")]);
        let issues = ConnectorKeys::parse(&both, ConnectorType::Sink).unwrap_err();
        assert_eq!(issues[0].field, "topics.regex");
        let neither = ConnectorKeys::parse(&config(&[("name", "s")]), ConnectorType::Sink);
        assert_eq!(neither.unwrap_err()[0].field, "topics");
    }
}
