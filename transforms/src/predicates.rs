//! The built-in predicates: `HasHeaderKey`, `RecordIsTombstone`, `TopicNameMatches`.

use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Predicate};
use ferry_api::ConnectError;
use regex::Regex;

use crate::BuiltIn;

/// `HasHeaderKey`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct HasHeaderKeyConfig {
    /// The header name.
    name: String,
}

/// True when the record has at least one header called `name`.
pub struct HasHeaderKey {
    name: String,
}

impl Predicate for HasHeaderKey {
    type Config = HasHeaderKeyConfig;

    fn new(config: HasHeaderKeyConfig) -> ferry_api::Result<Self> {
        if config.name.is_empty() {
            return Err(ConnectError::config("name", "must not be empty"));
        }
        Ok(HasHeaderKey { name: config.name })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn test(&mut self, record: &ConnectRecord) -> ferry_api::Result<bool> {
        Ok(record.headers.iter().any(|h| h.name == self.name))
    }
}

/// `RecordIsTombstone` has no keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct RecordIsTombstoneConfig {}

/// True when the value is null.
pub struct RecordIsTombstone;

impl Predicate for RecordIsTombstone {
    type Config = RecordIsTombstoneConfig;

    fn new(_: RecordIsTombstoneConfig) -> ferry_api::Result<Self> {
        Ok(RecordIsTombstone)
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn test(&mut self, record: &ConnectRecord) -> ferry_api::Result<bool> {
        Ok(record.is_tombstone())
    }
}

/// `TopicNameMatches`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct TopicNameMatchesConfig {
    /// Regular expression the whole topic name must match.
    pattern: String,
}

/// True when the whole topic name matches `pattern`.
pub struct TopicNameMatches {
    pattern: Regex,
}

impl Predicate for TopicNameMatches {
    type Config = TopicNameMatchesConfig;

    fn new(config: TopicNameMatchesConfig) -> ferry_api::Result<Self> {
        let pattern = Regex::new(&format!("^(?:{})$", config.pattern)).map_err(|e| {
            ConnectError::config("pattern", format!("not a valid regular expression: {e}"))
        })?;
        Ok(TopicNameMatches { pattern })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn test(&mut self, record: &ConnectRecord) -> ferry_api::Result<bool> {
        Ok(self.pattern.is_match(&record.topic))
    }
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![
        BuiltIn::predicate::<HasHeaderKey>("HasHeaderKey"),
        BuiltIn::predicate::<RecordIsTombstone>("RecordIsTombstone"),
        BuiltIn::predicate::<TopicNameMatches>("TopicNameMatches"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::data::Payload;
    use ferry_api::transform::ConnectHeader;
    use serde_json::Value;

    #[test]
    fn has_header_key_looks_at_names_only() {
        let mut p = HasHeaderKey::new(HasHeaderKeyConfig { name: "car".into() }).unwrap();
        let mut record = ConnectRecord::new("t");
        assert!(!p.test(&record).unwrap());
        record.headers.push(ConnectHeader {
            name: "car".into(),
            value: None,
        });
        assert!(p.test(&record).unwrap());
        assert!(HasHeaderKey::new(HasHeaderKeyConfig {
            name: String::new()
        })
        .is_err());
    }

    #[test]
    fn tombstones_are_null_values_whether_absent_or_structured_null() {
        let mut p = RecordIsTombstone;
        let mut record = ConnectRecord::new("t");
        assert!(p.test(&record).unwrap());
        record.value = Some(Payload::schemaless(Value::Null));
        assert!(p.test(&record).unwrap());
        record.value = Some(Payload::Bytes(Vec::new()));
        assert!(!p.test(&record).unwrap());
    }

    #[test]
    fn topic_name_matches_the_whole_name() {
        let mut p = TopicNameMatches::new(TopicNameMatchesConfig {
            pattern: "cars-.*".into(),
        })
        .unwrap();
        assert!(p.test(&ConnectRecord::new("cars-1")).unwrap());
        assert!(!p.test(&ConnectRecord::new("old-cars-1")).unwrap());
        let bad = TopicNameMatches::new(TopicNameMatchesConfig {
            pattern: "[".into(),
        });
        assert!(bad.err().unwrap().to_string().contains("`pattern`"));
    }
}
