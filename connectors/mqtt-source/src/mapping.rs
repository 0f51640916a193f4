//! From an MQTT message to a Kafka record: destination topic, key and headers.
//!
//! `kafka.topic` is either a plain Kafka topic name or a template. Placeholders:
//!
//! - `{N}`: level `N` of the MQTT topic, counting from 0 (`{3}` of `vehicles/sensor/data/car-7`
//!   is `car-7`);
//! - `{topic}`: the whole MQTT topic;
//! - `$N` or `${N}`: capture group `N` of `kafka.topic.regex` (`$0` is the whole topic).
//!
//! Substituted text has `/` replaced by `.` and every other character that Kafka does not allow
//! in topic names (anything but ASCII letters, digits, `.`, `_` and `-`) replaced by `_`. The
//! literal parts of the template must already be legal.
//!
//! A message whose topic cannot be mapped (it lacks a level the template or key uses, or it does
//! not match the regex) is never skipped: the task fails before that message is acknowledged,
//! so with a persistent session the broker delivers it again once the configuration is fixed.

use std::str::FromStr;

use ferry_api::config::ConfigIssue;
use ferry_api::Header;
use regex::Regex;

use crate::client::Message;

/// Kafka's longest topic name.
const MAX_KAFKA_TOPIC_LEN: usize = 249;

/// Checks one MQTT topic filter, e.g. `vehicles/+/data/#`.
pub fn check_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("a topic filter cannot be empty".into());
    }
    if filter.len() > 65_535 {
        return Err(format!(
            "topic filter `{filter}` is longer than MQTT's 65535 bytes"
        ));
    }
    if filter.contains('\0') {
        return Err(format!("topic filter `{filter}` contains a NUL character"));
    }
    if filter.starts_with("$share/") || filter.starts_with("$queue/") {
        return Err(format!(
            "`{filter}` is a shared subscription; list the plain filter and let \
             `mqtt.tasks.split=shared` and `mqtt.shared.subscription.group` add the prefix"
        ));
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err(format!(
                "in topic filter `{filter}`, `#` must be a whole level and the last one \
                 (e.g. `vehicles/#`)"
            ));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!(
                "in topic filter `{filter}`, `+` must be a whole level (e.g. `vehicles/+/data`)"
            ));
        }
    }
    Ok(())
}

/// How many levels every topic matched by `filter` has at least, and whether it may have more.
fn filter_depth(filter: &str) -> (usize, bool) {
    let levels = filter.split('/').count();
    if filter == "#" || filter.ends_with("/#") {
        // `a/#` also matches `a` itself.
        (levels - 1, true)
    } else {
        (levels, false)
    }
}

/// One piece of a `kafka.topic` template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Level(usize),
    Topic,
    Group(usize),
}

/// A parsed `kafka.topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate {
    parts: Vec<Part>,
}

fn is_kafka_topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl FromStr for TopicTemplate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("the Kafka topic cannot be empty".into());
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let placeholder = match c {
                '{' => {
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("a `{{` in `{text}` is never closed with `}}`"))?;
                    let name = &rest[1..end];
                    rest = &rest[end + 1..];
                    match name {
                        "topic" => Part::Topic,
                        _ => match name.parse::<usize>() {
                            Ok(level) => Part::Level(level),
                            Err(_) => {
                                return Err(format!(
                                    "unknown placeholder `{{{name}}}` in `{text}`; use `{{N}}` for \
                                     MQTT topic level N (from 0), `{{topic}}` for the whole MQTT \
                                     topic, or `$N` for a `kafka.topic.regex` capture group"
                                ))
                            }
                        },
                    }
                }
                '$' => {
                    let after = &rest[1..];
                    let digits = if let Some(inner) = after.strip_prefix('{') {
                        let end = inner.find('}').ok_or_else(|| {
                            format!("a `${{` in `{text}` is never closed with `}}`")
                        })?;
                        rest = &inner[end + 1..];
                        &inner[..end]
                    } else {
                        let end = after
                            .find(|c: char| !c.is_ascii_digit())
                            .unwrap_or(after.len());
                        rest = &after[end..];
                        &after[..end]
                    };
                    let group = digits.parse::<usize>().map_err(|_| {
                        format!(
                            "`$` in `{text}` must be followed by a capture group number, e.g. `$1` \
                             or `${{1}}`"
                        )
                    })?;
                    Part::Group(group)
                }
                c if is_kafka_topic_char(c) => {
                    literal.push(c);
                    rest = &rest[c.len_utf8()..];
                    continue;
                }
                c => {
                    return Err(format!(
                        "`{c}` is not allowed in a Kafka topic name (`{text}`); use ASCII letters, \
                         digits, `.`, `_` and `-`, plus placeholders"
                    ))
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(placeholder);
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let template = TopicTemplate { parts };
        if let Some(name) = template.static_name() {
            check_kafka_topic(&name)?;
        }
        Ok(template)
    }
}

impl TopicTemplate {
    /// The topic name when the template has no placeholder.
    pub fn static_name(&self) -> Option<String> {
        match self.parts.as_slice() {
            [] => Some(String::new()),
            [Part::Literal(name)] => Some(name.clone()),
            _ => None,
        }
    }

    fn levels(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Level(level) => Some(*level),
            _ => None,
        })
    }

    fn groups(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Group(group) => Some(*group),
            _ => None,
        })
    }
}

fn check_kafka_topic(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("it is empty".into())
    } else if name == "." || name == ".." {
        Err("`.` and `..` are not allowed".into())
    } else if name.len() > MAX_KAFKA_TOPIC_LEN {
        Err(format!(
            "it is {} characters long; Kafka allows {MAX_KAFKA_TOPIC_LEN}",
            name.len()
        ))
    } else {
        Ok(())
    }
}

/// Makes substituted text legal in a Kafka topic name.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '/' => '.',
            c if is_kafka_topic_char(c) => c,
            _ => '_',
        })
        .collect()
}

/// What the Kafka record key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// The whole MQTT topic.
    Topic,
    /// One level of the MQTT topic, from 0.
    Level(usize),
    /// No key.
    None,
}

impl FromStr for KeySpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        match text {
            "topic" => Ok(KeySpec::Topic),
            "none" => Ok(KeySpec::None),
            _ => text
                .strip_prefix("level:")
                .and_then(|n| n.trim().parse().ok())
                .map(KeySpec::Level)
                .ok_or_else(|| {
                    format!(
                        "got \"{text}\"; use `topic` (the MQTT topic), `level:N` (MQTT topic level \
                         N, from 0, e.g. `level:3` for the car id of `vehicles/sensor/data/car-7`) \
                         or `none`"
                    )
                }),
        }
    }
}

/// Why a message could not be mapped to a Kafka record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The topic has fewer levels than the template or the key needs.
    #[error(
        "MQTT topic `{topic}` has no level {level} (levels count from 0), which `{field}` uses; \
         the message was not acknowledged: fix `{field}` or `mqtt.topics` and restart the task"
    )]
    MissingLevel {
        /// The MQTT topic.
        topic: String,
        /// The level asked for.
        level: usize,
        /// The configuration key that asked for it.
        field: &'static str,
    },
    /// The topic does not match `kafka.topic.regex`.
    #[error(
        "MQTT topic `{topic}` does not match `kafka.topic.regex` ({regex}); the message was not \
         acknowledged: fix `kafka.topic.regex` or `mqtt.topics` and restart the task"
    )]
    NoMatch {
        /// The MQTT topic.
        topic: String,
        /// The regex.
        regex: String,
    },
    /// The template produced an unusable topic name.
    #[error(
        "`kafka.topic` maps MQTT topic `{topic}` to `{name}`, which is not a valid Kafka topic \
         name ({reason}); the message was not acknowledged: fix `kafka.topic` and restart the task"
    )]
    InvalidTopic {
        /// The MQTT topic.
        topic: String,
        /// The Kafka topic name built.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Maps MQTT messages to Kafka topics, keys and headers.
#[derive(Debug, Clone)]
pub struct Mapping {
    template: TopicTemplate,
    regex: Option<Regex>,
    key: KeySpec,
}

impl Mapping {
    /// Builds the mapping from `kafka.topic`, `kafka.topic.regex` and `kafka.key`, reporting
    /// every problem.
    pub fn new(
        kafka_topic: &str,
        regex: Option<&str>,
        key: &str,
    ) -> Result<Mapping, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let template = kafka_topic
            .parse::<TopicTemplate>()
            .map_err(|e| issues.push(ConfigIssue::new("kafka.topic", e)))
            .ok();
        let key = key
            .parse::<KeySpec>()
            .map_err(|e| issues.push(ConfigIssue::new("kafka.key", e)))
            .ok();
        let regex = match regex.map(str::trim).filter(|r| !r.is_empty()) {
            None => None,
            Some(pattern) => match Regex::new(&format!("^(?:{pattern})$")) {
                Ok(regex) => Some(regex),
                Err(e) => {
                    issues.push(ConfigIssue::new(
                        "kafka.topic.regex",
                        format!("not a valid regular expression: {e}"),
                    ));
                    return Err(issues);
                }
            },
        };
        if let Some(template) = &template {
            let groups = regex.as_ref().map_or(0, |r| r.captures_len());
            if let Some(group) = template.groups().find(|g| *g >= groups) {
                let message = if regex.is_none() {
                    format!(
                        "`${group}` refers to a capture group but `kafka.topic.regex` is not set; \
                         set it (e.g. `vehicles/sensor/data/(.+)`) or use `{{N}}` for a topic level"
                    )
                } else {
                    format!(
                        "`${group}` refers to a capture group that `kafka.topic.regex` does not \
                         have (it has {})",
                        groups - 1
                    )
                };
                issues.push(ConfigIssue::new("kafka.topic", message));
            }
        }
        match (template, key) {
            (Some(template), Some(key)) if issues.is_empty() => Ok(Mapping {
                template,
                regex,
                key,
            }),
            _ => Err(issues),
        }
    }

    /// Rejects levels that no topic matched by one of `filters` can have.
    pub fn check_levels(&self, filters: &[String]) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let uses = self
            .template
            .levels()
            .map(|level| ("kafka.topic", level))
            .chain(match self.key {
                KeySpec::Level(level) => Some(("kafka.key", level)),
                _ => None,
            });
        for (field, level) in uses {
            let short = filters.iter().find(|f| {
                let (min, open) = filter_depth(f);
                !open && level >= min
            });
            if let Some(filter) = short {
                let (depth, _) = filter_depth(filter);
                issues.push(ConfigIssue::new(
                    field,
                    format!(
                        "uses MQTT topic level {level}, but topics matched by filter `{filter}` \
                         have only {depth} levels (0 to {}); levels count from 0",
                        depth.saturating_sub(1)
                    ),
                ));
            }
        }
        issues
    }

    /// True when the destination topic is the same for every message.
    pub fn static_topic(&self) -> Option<String> {
        self.template.static_name()
    }

    /// The Kafka topic for a message on `mqtt_topic`.
    pub fn kafka_topic(&self, mqtt_topic: &str) -> Result<String, MappingError> {
        if let Some(name) = self.template.static_name() {
            return Ok(name);
        }
        let captures = match &self.regex {
            Some(regex) => {
                Some(
                    regex
                        .captures(mqtt_topic)
                        .ok_or_else(|| MappingError::NoMatch {
                            topic: mqtt_topic.to_string(),
                            regex: regex.as_str().to_string(),
                        })?,
                )
            }
            None => None,
        };
        let mut name = String::new();
        for part in &self.template.parts {
            match part {
                Part::Literal(text) => name.push_str(text),
                Part::Topic => name.push_str(&sanitize(mqtt_topic)),
                Part::Level(level) => {
                    name.push_str(&sanitize(level_of(mqtt_topic, *level, "kafka.topic")?))
                }
                Part::Group(group) => {
                    let text = captures
                        .as_ref()
                        .and_then(|c| c.get(*group))
                        .map_or("", |m| m.as_str());
                    name.push_str(&sanitize(text));
                }
            }
        }
        check_kafka_topic(&name).map_err(|reason| MappingError::InvalidTopic {
            topic: mqtt_topic.to_string(),
            name: name.clone(),
            reason,
        })?;
        Ok(name)
    }

    /// The Kafka key for a message on `mqtt_topic`.
    pub fn key(&self, mqtt_topic: &str) -> Result<Option<Vec<u8>>, MappingError> {
        Ok(match self.key {
            KeySpec::Topic => Some(mqtt_topic.as_bytes().to_vec()),
            KeySpec::Level(level) => Some(
                level_of(mqtt_topic, level, "kafka.key")?
                    .as_bytes()
                    .to_vec(),
            ),
            KeySpec::None => None,
        })
    }
}

fn level_of<'a>(
    topic: &'a str,
    level: usize,
    field: &'static str,
) -> Result<&'a str, MappingError> {
    topic
        .split('/')
        .nth(level)
        .ok_or_else(|| MappingError::MissingLevel {
            topic: topic.to_string(),
            level,
            field,
        })
}

/// The headers every record carries: MQTT metadata, and for MQTT 5 the publish properties.
pub fn headers(message: &Message) -> Vec<Header> {
    let mut headers = vec![
        Header::new("mqtt.topic", message.topic.as_bytes()),
        Header::new("mqtt.qos", message.qos.to_string()),
        Header::new("mqtt.retained", message.retain.to_string()),
        Header::new("mqtt.duplicate", message.dup.to_string()),
        Header::new("mqtt.message.id", message.pkid.to_string()),
    ];
    if let Some(properties) = &message.properties {
        if let Some(content_type) = &properties.content_type {
            headers.push(Header::new("mqtt.content.type", content_type.as_bytes()));
        }
        if let Some(response_topic) = &properties.response_topic {
            headers.push(Header::new(
                "mqtt.response.topic",
                response_topic.as_bytes(),
            ));
        }
        if let Some(correlation_data) = &properties.correlation_data {
            headers.push(Header::new(
                "mqtt.correlation.data",
                correlation_data.clone(),
            ));
        }
        for (name, value) in &properties.user_properties {
            headers.push(Header::new(name.clone(), value.as_bytes()));
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Properties;

    fn mapping(topic: &str, regex: Option<&str>, key: &str) -> Mapping {
        Mapping::new(topic, regex, key).unwrap()
    }

    fn issues(topic: &str, regex: Option<&str>, key: &str) -> Vec<ConfigIssue> {
        Mapping::new(topic, regex, key).unwrap_err()
    }

    #[test]
    fn filters_follow_the_mqtt_rules() {
        for good in [
            "#",
            "+",
            "a/b",
            "vehicles/sensor/data/+",
            "a/+/c/#",
            "/a",
            "a//b",
            "$SYS/#",
        ] {
            assert_eq!(check_filter(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("a/#/b", "last one"),
            ("a/b#", "whole level"),
            ("a+/b", "whole level"),
            ("a/++", "whole level"),
            ("$share/g/a", "shared subscription"),
            ("a\0b", "NUL"),
        ] {
            let error = check_filter(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn static_topics_and_level_templates() {
        let m = mapping("sensor-data", None, "topic");
        assert_eq!(m.static_topic().as_deref(), Some("sensor-data"));
        assert_eq!(m.kafka_topic("a/b").unwrap(), "sensor-data");

        let m = mapping("vehicles.{3}", None, "level:3");
        assert_eq!(
            m.kafka_topic("vehicles/sensor/data/car-7").unwrap(),
            "vehicles.car-7"
        );
        assert_eq!(
            m.key("vehicles/sensor/data/car-7").unwrap().unwrap(),
            b"car-7"
        );
        let missing = m.kafka_topic("vehicles/sensor").unwrap_err();
        assert!(
            matches!(missing, MappingError::MissingLevel { level: 3, .. }),
            "{missing}"
        );
        assert!(missing.to_string().contains("was not acknowledged"));
    }

    #[test]
    fn whole_topic_placeholder_replaces_separators_and_illegal_characters() {
        let m = mapping("mqtt.{topic}", None, "none");
        assert_eq!(
            m.kafka_topic("vehicles/car 7/ü+x").unwrap(),
            "mqtt.vehicles.car_7.__x"
        );
        assert_eq!(m.key("a/b").unwrap(), None);
        let long = "x/".repeat(200);
        assert!(matches!(
            m.kafka_topic(&long),
            Err(MappingError::InvalidTopic { .. })
        ));
    }

    #[test]
    fn regex_capture_groups() {
        let m = mapping(
            "fleet-$1.${2}",
            Some(r"vehicles/([^/]+)/data/(.+)"),
            "topic",
        );
        assert_eq!(
            m.kafka_topic("vehicles/eu/data/car/7").unwrap(),
            "fleet-eu.car.7"
        );
        // Anchored: a topic that only contains a match does not match.
        assert!(matches!(
            m.kafka_topic("x/vehicles/eu/data/car"),
            Err(MappingError::NoMatch { .. })
        ));
    }

    #[test]
    fn template_errors_name_the_field() {
        let found = issues("vehicles.{car}", None, "topic");
        assert_eq!(found[0].field, "kafka.topic");
        assert!(found[0].message.contains("unknown placeholder `{car}`"));

        let found = issues("vehicles/{3}", None, "topic");
        assert!(found[0].message.contains("`/` is not allowed"));

        let found = issues("v.$1", None, "topic");
        assert!(found[0].message.contains("`kafka.topic.regex` is not set"));

        let found = issues("v.$2", Some("a/(b)"), "topic");
        assert!(found[0].message.contains("does not have (it has 1)"));

        let found = issues("v", Some("a/(b"), "topic");
        assert_eq!(found[0].field, "kafka.topic.regex");

        let found = issues("v.{1", None, "level:x");
        let fields: Vec<_> = found.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["kafka.topic", "kafka.key"]);

        let found = issues("..", None, "topic");
        assert!(found[0].message.contains("not allowed"));
    }

    #[test]
    fn levels_beyond_a_fixed_depth_filter_are_rejected() {
        let m = mapping("vehicles.{3}", None, "level:4");
        let filters = |fs: &[&str]| fs.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        let found = m.check_levels(&filters(&["vehicles/sensor/data/+"]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "kafka.key");
        assert!(found[0].message.contains("only 4 levels"), "{found:?}");

        let found = m.check_levels(&filters(&["vehicles/+"]));
        assert_eq!(found.len(), 2);
        // With `#` the depth is open: not determinable, accepted.
        assert!(m.check_levels(&filters(&["vehicles/#"])).is_empty());
        assert!(m
            .check_levels(&filters(&["a/b/c/d/e", "vehicles/#"]))
            .is_empty());
    }

    #[test]
    fn headers_carry_metadata_and_mqtt5_properties() {
        let message = Message {
            topic: "a/b".into(),
            payload: b"x".to_vec(),
            qos: 1,
            retain: false,
            dup: true,
            pkid: 42,
            properties: Some(Properties {
                user_properties: vec![("unit".into(), "celsius".into())],
                content_type: Some("application/json".into()),
                response_topic: Some("replies/a".into()),
                correlation_data: Some(vec![1, 2]),
            }),
            received_ms: 0,
            epoch: 0,
        };
        let found: Vec<(String, Vec<u8>)> = headers(&message)
            .into_iter()
            .map(|h| (h.name, h.value))
            .collect();
        let expect = |n: &str, v: &[u8]| (n.to_string(), v.to_vec());
        assert_eq!(
            found,
            vec![
                expect("mqtt.topic", b"a/b"),
                expect("mqtt.qos", b"1"),
                expect("mqtt.retained", b"false"),
                expect("mqtt.duplicate", b"true"),
                expect("mqtt.message.id", b"42"),
                expect("mqtt.content.type", b"application/json"),
                expect("mqtt.response.topic", b"replies/a"),
                expect("mqtt.correlation.data", &[1, 2]),
                expect("unit", b"celsius"),
            ]
        );
    }
}
