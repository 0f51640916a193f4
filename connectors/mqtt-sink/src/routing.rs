//! The MQTT topic of each record, from the `mqtt.topic` template.
//!
//! A template is literal text with placeholders in braces:
//!
//! | placeholder     | replaced by                                                        |
//! |-----------------|--------------------------------------------------------------------|
//! | `{topic}`       | the Kafka topic                                                    |
//! | `{partition}`   | the Kafka partition number                                         |
//! | `{key}`         | the record key, as UTF-8 text                                      |
//! | `{header.NAME}` | the value of header `NAME` (the last one when repeated), as UTF-8  |
//! | `{value.FIELD}` | field `FIELD` of the JSON object in the value; `{value.a.b}` nests, `{value.items.0}` indexes an array |
//!
//! e.g. `cars/{key}/alerts` or `fleet/{value.vehicle.id}/{header.kind}`. Strings are inserted as
//! they are, numbers and booleans as their JSON text. Inserted text may contain `/` (it then adds
//! topic levels). There is no escape for literal braces.
//!
//! A record whose topic cannot be made — no key, a missing header or field, a value that is not
//! JSON, an empty or non-text replacement, or a result that is not a valid MQTT topic name
//! (contains `+`, `#` or NUL, starts with `$`, longer than 65535 bytes) — is reported as errant
//! with the reason, naming the placeholder; the worker then applies `errors.tolerance`.

use std::fmt;

use ferry_api::serde_json::{self, Value};
use ferry_api::SinkRecord;

/// Longest MQTT topic name, in bytes.
const MAX_TOPIC_BYTES: usize = 65_535;

/// A parsed `mqtt.topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Topic,
    Partition,
    Key,
    Header(String),
    Value(Vec<String>),
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Literal(text) => f.write_str(text),
            Part::Topic => f.write_str("{topic}"),
            Part::Partition => f.write_str("{partition}"),
            Part::Key => f.write_str("{key}"),
            Part::Header(name) => write!(f, "{{header.{name}}}"),
            Part::Value(path) => write!(f, "{{value.{}}}", path.join(".")),
        }
    }
}

const PLACEHOLDERS: &str = "{topic}, {partition}, {key}, {header.NAME} or {value.FIELD}";

impl TopicTemplate {
    /// Parses a template; the error says what is wrong and where.
    pub fn parse(template: &str) -> Result<TopicTemplate, String> {
        if template.is_empty() {
            return Err("must not be empty; e.g. `cars/{key}/alerts`".to_string());
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = template.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (inner_at, inner) in chars.by_ref() {
                        match inner {
                            '}' => {
                                closed = true;
                                break;
                            }
                            '{' => {
                                return Err(format!(
                                    "unbalanced braces: `{{` at byte {inner_at} opens a \
                                     placeholder inside the one opened at byte {at}"
                                ))
                            }
                            _ => name.push(inner),
                        }
                    }
                    if !closed {
                        return Err(format!(
                            "unbalanced braces: `{{` at byte {at} is never closed"
                        ));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(placeholder(&name)?);
                }
                '}' => {
                    return Err(format!(
                        "unbalanced braces: `}}` at byte {at} closes no placeholder"
                    ))
                }
                '+' | '#' => {
                    return Err(format!(
                        "`{c}` is a wildcard: it may appear in subscriptions, not in the topic a \
                         message is published to"
                    ))
                }
                '\0' => return Err("contains a NUL character".to_string()),
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if let Some(Part::Literal(text)) = parts.first() {
            if text.starts_with('$') {
                return Err(
                    "topics starting with `$` are reserved for the broker ($SYS/...); brokers do \
                     not let clients publish there"
                        .to_string(),
                );
            }
        }
        Ok(TopicTemplate { parts })
    }

    /// True when the template needs the record value parsed as JSON.
    pub fn needs_value(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Value(_)))
    }

    /// The MQTT topic of `record`, or why there is none.
    pub fn render(&self, record: &SinkRecord) -> Result<String, String> {
        let value = if self.needs_value() {
            Some(parse_value(record))
        } else {
            None
        };
        let mut topic = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => topic.push_str(text),
                Part::Topic => topic.push_str(&record.topic),
                Part::Partition => topic.push_str(&record.partition.to_string()),
                Part::Key => {
                    let key = record
                        .key
                        .as_deref()
                        .ok_or_else(|| format!("the record has no key, needed by {part}"))?;
                    topic.push_str(text(key, "the key", part)?);
                }
                Part::Header(name) => {
                    let header = record
                        .headers
                        .iter()
                        .rev()
                        .find(|h| &h.name == name)
                        .ok_or_else(|| {
                            format!("the record has no header `{name}`, needed by {part}")
                        })?;
                    topic.push_str(text(&header.value, &format!("header `{name}`"), part)?);
                }
                Part::Value(path) => {
                    let value = match &value {
                        Some(Ok(value)) => value,
                        Some(Err(why)) => return Err(format!("{why}, needed by {part}")),
                        None => unreachable!("parsed when the template has value fields"),
                    };
                    topic.push_str(&field(value, path, part)?);
                }
            }
        }
        check_topic(&topic).map_err(|why| format!("the MQTT topic `{topic}` {why}"))?;
        Ok(topic)
    }
}

fn placeholder(name: &str) -> Result<Part, String> {
    let unknown = || format!("unknown placeholder `{{{name}}}`; use {PLACEHOLDERS}");
    match name {
        "" => Err(format!("empty placeholder `{{}}`; use {PLACEHOLDERS}")),
        "topic" => Ok(Part::Topic),
        "partition" => Ok(Part::Partition),
        "key" => Ok(Part::Key),
        _ => {
            if let Some(header) = name.strip_prefix("header.") {
                if header.is_empty() {
                    return Err("`{header.}` needs a header name, e.g. `{header.car-id}`".into());
                }
                Ok(Part::Header(header.to_string()))
            } else if let Some(path) = name.strip_prefix("value.") {
                let path: Vec<String> = path.split('.').map(str::to_string).collect();
                if path.iter().any(String::is_empty) {
                    return Err(format!(
                        "`{{{name}}}` has an empty field name; write fields as \
                         `{{value.vehicle.id}}`"
                    ));
                }
                Ok(Part::Value(path))
            } else {
                Err(unknown())
            }
        }
    }
}

fn text<'a>(bytes: &'a [u8], what: &str, part: &Part) -> Result<&'a str, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| format!("{what} is not UTF-8 text, needed by {part}"))?;
    if text.is_empty() {
        return Err(format!("{what} is empty, needed by {part}"));
    }
    Ok(text)
}

fn parse_value(record: &SinkRecord) -> Result<Value, String> {
    let bytes = record
        .value
        .as_deref()
        .ok_or_else(|| "the record value is null".to_string())?;
    serde_json::from_slice(bytes).map_err(|e| format!("the record value is not JSON ({e})"))
}

fn field(value: &Value, path: &[String], part: &Part) -> Result<String, String> {
    let mut current = value;
    for (depth, name) in path.iter().enumerate() {
        let next = match current {
            Value::Object(object) => object.get(name),
            Value::Array(items) => name.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        current = next.ok_or_else(|| {
            format!(
                "the record value has no field `{}`, needed by {part}",
                path[..=depth].join(".")
            )
        })?;
    }
    let text = match current {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => {
            return Err(format!(
                "field `{}` is null, needed by {part}",
                path.join(".")
            ))
        }
        Value::Object(_) | Value::Array(_) => {
            return Err(format!(
                "field `{}` is an object or array, not text, needed by {part}",
                path.join(".")
            ))
        }
    };
    if text.is_empty() {
        return Err(format!(
            "field `{}` is empty, needed by {part}",
            path.join(".")
        ));
    }
    Ok(text)
}

/// Why `topic` cannot be published to, if it cannot.
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        Err("is empty".to_string())
    } else if topic.contains(['+', '#']) {
        Err("contains a wildcard (`+` or `#`)".to_string())
    } else if topic.contains('\0') {
        Err("contains a NUL character".to_string())
    } else if topic.starts_with('$') {
        Err("starts with `$`, reserved for the broker".to_string())
    } else if topic.len() > MAX_TOPIC_BYTES {
        Err(format!("is longer than {MAX_TOPIC_BYTES} bytes"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::Header;

    fn record(key: Option<&str>, value: Option<&str>, headers: &[(&str, &[u8])]) -> SinkRecord {
        SinkRecord {
            topic: "car-alerts".into(),
            partition: 3,
            offset: 42,
            key: key.map(|k| k.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
            headers: headers.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
            timestamp_ms: None,
            original: None,
        }
    }

    fn render(template: &str, record: &SinkRecord) -> Result<String, String> {
        TopicTemplate::parse(template).unwrap().render(record)
    }

    #[test]
    fn fills_every_kind_of_placeholder() {
        let r = record(
            Some("car-7"),
            Some(r#"{"vehicle":{"id":"ev-1","n":5,"ok":true},"items":["a","b"]}"#),
            &[("kind", b"overheat"), ("kind", b"battery")],
        );
        assert_eq!(
            render("cars/{key}/alerts", &r).unwrap(),
            "cars/car-7/alerts"
        );
        assert_eq!(
            render("{topic}/{partition}/{header.kind}", &r).unwrap(),
            "car-alerts/3/battery"
        );
        assert_eq!(
            render(
                "v/{value.vehicle.id}/{value.vehicle.n}/{value.vehicle.ok}/{value.items.1}",
                &r
            )
            .unwrap(),
            "v/ev-1/5/true/b"
        );
        assert_eq!(render("static/topic", &r).unwrap(), "static/topic");
        let slashed = record(Some("a/b"), None, &[]);
        assert_eq!(render("cars/{key}", &slashed).unwrap(), "cars/a/b");
    }

    #[test]
    fn records_that_cannot_be_routed_say_why_and_name_the_placeholder() {
        let cases: Vec<(&str, SinkRecord, &str)> = vec![
            (
                "cars/{key}",
                record(None, None, &[]),
                "no key, needed by {key}",
            ),
            ("cars/{key}", record(Some(""), None, &[]), "key is empty"),
            (
                "x/{header.kind}",
                record(Some("k"), None, &[]),
                "no header `kind`, needed by {header.kind}",
            ),
            (
                "x/{header.kind}",
                record(Some("k"), None, &[("kind", &[0xff, 0xfe])]),
                "not UTF-8",
            ),
            (
                "x/{value.car.id}",
                record(Some("k"), Some(r#"{"car":{}}"#), &[]),
                "no field `car.id`, needed by {value.car.id}",
            ),
            (
                "x/{value.car}",
                record(Some("k"), Some(r#"{"car":{}}"#), &[]),
                "object or array",
            ),
            (
                "x/{value.car}",
                record(Some("k"), Some("not json"), &[]),
                "not JSON",
            ),
            (
                "x/{value.car}",
                record(Some("k"), None, &[]),
                "value is null",
            ),
            (
                "x/{value.car}",
                record(Some("k"), Some(r#"{"car":null}"#), &[]),
                "is null",
            ),
            ("x/{key}", record(Some("a/+"), None, &[]), "wildcard"),
            ("{key}", record(Some("$SYS/x"), None, &[]), "reserved"),
            ("x/{key}", record(Some("a\0b"), None, &[]), "NUL"),
        ];
        for (template, record, why) in cases {
            let error = render(template, &record).unwrap_err();
            assert!(error.contains(why), "{template}: {error}");
        }
    }

    #[test]
    fn bad_templates_are_rejected_with_the_reason() {
        for (template, why) in [
            ("", "must not be empty"),
            ("cars/{key", "never closed"),
            ("cars/key}", "closes no placeholder"),
            ("cars/{k{ey}}", "inside the one"),
            ("cars/{}", "empty placeholder"),
            ("cars/{car}", "unknown placeholder `{car}`"),
            ("cars/{value}", "unknown placeholder"),
            ("cars/{header.}", "needs a header name"),
            ("cars/{value.a..b}", "empty field name"),
            ("cars/+/alerts", "wildcard"),
            ("cars/#", "wildcard"),
            ("$SYS/x", "reserved"),
            ("$share/{key}", "reserved"),
        ] {
            let error = TopicTemplate::parse(template).unwrap_err();
            assert!(error.contains(why), "{template}: {error}");
        }
        assert!(!TopicTemplate::parse("a/{key}").unwrap().needs_value());
        assert!(TopicTemplate::parse("a/{value.x}").unwrap().needs_value());
    }
}
