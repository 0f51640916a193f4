//! `RegexRouter`: renames the topic when the whole name matches `regex`.

use ferry_api::schemars::JsonSchema;
use ferry_api::serde::Deserialize;
use ferry_api::transform::{ConnectRecord, Transformation};
use ferry_api::ConnectError;
use regex::Regex;

use crate::BuiltIn;

/// `RegexRouter`'s keys.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "ferry_api::serde", deny_unknown_fields)]
#[schemars(crate = "ferry_api::schemars")]
pub struct RegexRouterConfig {
    /// Regular expression the whole topic name must match.
    regex: String,
    /// Replacement: `$1` (or `${1}`, `${name}`) refers to a group of the match.
    replacement: String,
}

/// Kafka Connect's `RegexRouter`.
pub struct RegexRouter {
    regex: Regex,
    replacement: String,
}

impl Transformation for RegexRouter {
    type Config = RegexRouterConfig;

    fn new(config: RegexRouterConfig) -> ferry_api::Result<Self> {
        // Java's Matcher.matches() wants the whole name: anchor it.
        let regex = Regex::new(&format!("^(?:{})$", config.regex)).map_err(|e| {
            ConnectError::config("regex", format!("not a valid regular expression: {e}"))
        })?;
        Ok(RegexRouter {
            regex,
            replacement: java_replacement(&config.replacement),
        })
    }

    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn apply(&mut self, mut record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        if let Some(captures) = self.regex.captures(&record.topic) {
            let mut topic = String::new();
            captures.expand(&self.replacement, &mut topic);
            record.topic = topic;
        }
        Ok(Some(record))
    }
}

/// Java's `$1` is a group number up to the first non-digit; Rust's `$1x` would read a group
/// called `1x`. Braces make every reference explicit, and `\$` is a literal dollar in both.
fn java_replacement(java: &str) -> String {
    let mut out = String::new();
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    out.push(d);
                    chars.next();
                }
                out.push('}');
            }
            '$' => out.push('$'),
            other => out.push(other),
        }
    }
    out
}

pub(crate) fn registered() -> Vec<BuiltIn> {
    vec![BuiltIn::transformation::<RegexRouter>("RegexRouter")]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(regex: &str, replacement: &str) -> RegexRouter {
        RegexRouter::new(RegexRouterConfig {
            regex: regex.into(),
            replacement: replacement.into(),
        })
        .unwrap()
    }

    fn route(router: &mut RegexRouter, topic: &str) -> String {
        router
            .apply(ConnectRecord::new(topic))
            .unwrap()
            .unwrap()
            .topic
    }

    #[test]
    fn renames_topics_that_match_whole() {
        let mut r = router("(.*)", "$1-x");
        assert_eq!(route(&mut r, "i1"), "i1-x");
        let mut r = router("cars-(\\d+)", "fleet-$1x");
        assert_eq!(route(&mut r, "cars-42"), "fleet-42x");
        // A partial match is no match, as with Java's matches().
        assert_eq!(route(&mut r, "old-cars-42"), "old-cars-42");
        let mut r = router("a", "\\$a");
        assert_eq!(route(&mut r, "a"), "$a");
    }

    #[test]
    fn a_bad_regex_names_the_key() {
        let error = RegexRouter::new(RegexRouterConfig {
            regex: "(".into(),
            replacement: "x".into(),
        })
        .err()
        .unwrap();
        assert!(error.to_string().contains("`regex`"), "{error}");
    }
}
