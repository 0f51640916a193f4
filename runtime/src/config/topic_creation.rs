//! Kafka Connect's `topic.creation.*` keys (KIP-158): the topics a source connector writes to
//! are created by the worker, before the first record goes to each, with the replication factor,
//! partitions and topic configs of the first group whose patterns match.
//!
//! - `topic.creation.default.replication.factor` and `topic.creation.default.partitions` turn
//!   it on; both are required once any `topic.creation.*` key is set (Kafka Connect silently
//!   leaves creation off without them; Ferry says so). `-1` takes the broker's default.
//! - `topic.creation.groups`: more groups, tried in the order listed, before `default`. Each
//!   needs `topic.creation.<group>.include` (comma-separated regexes, matched against the whole
//!   topic name), may have `.exclude`, and inherits the default's replication factor and
//!   partitions unless it sets its own.
//! - Any other `topic.creation.<group>.<key>` is a topic config (`cleanup.policy`,
//!   `retention.ms`, ...); the default group's apply to every group.
//! - A topic that already exists is used as it is, as in Kafka Connect.

use std::collections::BTreeMap;

use ferry_api::config::ConfigIssue;
use ferry_api::ConfigMap;
use regex::Regex;

/// Prefix of every topic creation key.
pub const PREFIX: &str = "topic.creation.";
const GROUPS: &str = "topic.creation.groups";
const DEFAULT_GROUP: &str = "default";

/// How one group creates a topic.
#[derive(Debug, Clone)]
pub struct TopicSettings {
    /// The group's name (`default` for the fallback).
    pub group: String,
    /// `-1`: the broker's default.
    pub replication_factor: i32,
    /// `-1`: the broker's default.
    pub partitions: i32,
    /// Topic configs, as `kafka-topics --config` takes them.
    pub configs: BTreeMap<String, String>,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

/// Equal when every setting and pattern is (a `Regex` compares by its text).
impl PartialEq for TopicSettings {
    fn eq(&self, other: &Self) -> bool {
        let texts = |regexes: &[Regex]| {
            regexes
                .iter()
                .map(|r| r.as_str().to_string())
                .collect::<Vec<_>>()
        };
        self.group == other.group
            && self.replication_factor == other.replication_factor
            && self.partitions == other.partitions
            && self.configs == other.configs
            && texts(&self.include) == texts(&other.include)
            && texts(&self.exclude) == texts(&other.exclude)
    }
}

impl TopicSettings {
    fn matches(&self, topic: &str) -> bool {
        self.include.iter().any(|r| r.is_match(topic))
            && !self.exclude.iter().any(|r| r.is_match(topic))
    }
}

/// A source connector's topic creation rules.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicCreation {
    /// The listed groups in order, then `default`.
    groups: Vec<TopicSettings>,
}

impl TopicCreation {
    /// The rules of `config`, `None` when it sets no `topic.creation.*` key. Every bad key is
    /// reported into `issues`.
    pub fn parse(config: &ConfigMap, issues: &mut Vec<ConfigIssue>) -> Option<TopicCreation> {
        if !config.keys().any(|k| k.starts_with(PREFIX)) {
            return None;
        }
        let listed: Vec<String> = config
            .get(GROUPS)
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        for group in &listed {
            if group == DEFAULT_GROUP || group.contains('.') {
                issues.push(ConfigIssue::new(
                    GROUPS,
                    format!("`{group}` cannot name a group: `default` is always there, and names cannot contain '.'"),
                ));
            }
        }
        // Every key belongs to a known group: one for a group not listed would be ignored.
        let mut keys: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
        for (key, value) in config.iter().filter(|(k, _)| k.as_str() != GROUPS) {
            let Some(rest) = key.strip_prefix(PREFIX) else {
                continue;
            };
            match rest.split_once('.') {
                Some((group, setting))
                    if group == DEFAULT_GROUP || listed.iter().any(|g| g == group) =>
                {
                    keys.entry(group).or_default().insert(setting, value);
                }
                Some((group, _)) => issues.push(ConfigIssue::new(
                    key,
                    format!("group `{group}` is not in topic.creation.groups; add it there or remove this key"),
                )),
                None => issues.push(ConfigIssue::new(
                    key,
                    "expected topic.creation.groups or topic.creation.<group>.<setting>",
                )),
            }
        }
        let default_keys = keys.remove(DEFAULT_GROUP).unwrap_or_default();
        let required = |setting: &str| -> Result<i32, ConfigIssue> {
            let key = format!("{PREFIX}{DEFAULT_GROUP}.{setting}");
            match default_keys.get(setting) {
                None => Err(ConfigIssue::new(
                    key,
                    "required once any topic.creation.* key is set (-1 takes the broker's default)",
                )),
                Some(value) => count(&key, value),
            }
        };
        let replication_factor = required("replication.factor");
        let partitions = required("partitions");
        for (key, message) in [
            (
                format!("{PREFIX}{DEFAULT_GROUP}.include"),
                "the default group matches every topic; remove it",
            ),
            (
                format!("{PREFIX}{DEFAULT_GROUP}.exclude"),
                "the default group matches every topic; remove it",
            ),
        ] {
            if config.contains_key(&key) {
                issues.push(ConfigIssue::new(&key, message));
            }
        }
        let (replication_factor, partitions) = match (replication_factor, partitions) {
            (Ok(r), Ok(p)) => (r, p),
            (r, p) => {
                issues.extend(r.err());
                issues.extend(p.err());
                (-1, -1)
            }
        };
        let default_configs = topic_configs(&default_keys);
        let mut groups = Vec::new();
        for name in &listed {
            let own = keys.remove(name.as_str()).unwrap_or_default();
            let prefix = format!("{PREFIX}{name}.");
            let patterns = |setting: &str, issues: &mut Vec<ConfigIssue>| -> Vec<Regex> {
                let key = format!("{prefix}{setting}");
                own.get(setting)
                    .map(|list| list.split(',').map(str::trim).filter(|p| !p.is_empty()))
                    .into_iter()
                    .flatten()
                    .filter_map(|pattern| match Regex::new(&format!("^(?:{pattern})$")) {
                        Ok(regex) => Some(regex),
                        Err(e) => {
                            issues.push(ConfigIssue::new(
                                &key,
                                format!("`{pattern}` is not a regex: {e}"),
                            ));
                            None
                        }
                    })
                    .collect()
            };
            let include = patterns("include", issues);
            if include.is_empty() && !own.contains_key("include") {
                issues.push(ConfigIssue::new(
                    format!("{prefix}include"),
                    "required for every group of topic.creation.groups: the topics (comma-separated regexes) it creates",
                ));
            }
            let exclude = patterns("exclude", issues);
            let mut own_count = |setting: &str, inherited: i32| match own.get(setting) {
                None => inherited,
                Some(value) => {
                    count(&format!("{prefix}{setting}"), value).unwrap_or_else(|issue| {
                        issues.push(issue);
                        inherited
                    })
                }
            };
            let group_replication = own_count("replication.factor", replication_factor);
            let group_partitions = own_count("partitions", partitions);
            let mut configs = default_configs.clone();
            configs.extend(topic_configs(&own));
            groups.push(TopicSettings {
                group: name.clone(),
                replication_factor: group_replication,
                partitions: group_partitions,
                configs,
                include,
                exclude,
            });
        }
        groups.push(TopicSettings {
            group: DEFAULT_GROUP.to_string(),
            replication_factor,
            partitions,
            configs: default_configs,
            include: vec![Regex::new(".*").expect("a valid regex")],
            exclude: Vec::new(),
        });
        Some(TopicCreation { groups })
    }

    /// The settings `topic` is created with: the first listed group that matches, else the
    /// default.
    pub fn settings_for(&self, topic: &str) -> &TopicSettings {
        self.groups
            .iter()
            .find(|g| g.matches(topic))
            .unwrap_or_else(|| {
                self.groups
                    .last()
                    .expect("the default group is always there")
            })
    }
}

/// A replication factor or partition count: at least 1, or -1 for the broker's default.
fn count(key: &str, value: &str) -> Result<i32, ConfigIssue> {
    match value.trim().parse::<i32>() {
        Ok(n) if n >= 1 || n == -1 => Ok(n),
        _ => Err(ConfigIssue::new(
            key,
            format!("expected a whole number of at least 1, or -1 for the broker's default; got `{value}`"),
        )),
    }
}

/// A group's topic configs: its settings other than the four Ferry interprets.
fn topic_configs(settings: &BTreeMap<&str, &str>) -> BTreeMap<String, String> {
    settings
        .iter()
        .filter(|(k, _)| {
            !matches!(
                **k,
                "replication.factor" | "partitions" | "include" | "exclude"
            )
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<Option<TopicCreation>, Vec<String>> {
        let mut issues = Vec::new();
        let parsed = TopicCreation::parse(&config(pairs), &mut issues);
        if issues.is_empty() {
            Ok(parsed)
        } else {
            Err(issues.iter().map(ToString::to_string).collect())
        }
    }

    #[test]
    fn without_keys_topics_are_left_to_the_broker() {
        assert!(parse(&[("tasks.max", "1")]).unwrap().is_none());
    }

    #[test]
    fn groups_match_in_order_and_inherit_the_default() {
        let rules = parse(&[
            ("topic.creation.groups", "compacted, raw"),
            ("topic.creation.default.replication.factor", "3"),
            ("topic.creation.default.partitions", "6"),
            ("topic.creation.default.compression.type", "lz4"),
            ("topic.creation.compacted.include", "state-.*,.*-latest"),
            ("topic.creation.compacted.exclude", "state-tmp"),
            ("topic.creation.compacted.partitions", "1"),
            ("topic.creation.compacted.cleanup.policy", "compact"),
            ("topic.creation.raw.include", ".*"),
            ("topic.creation.raw.replication.factor", "-1"),
        ])
        .unwrap()
        .unwrap();
        let state = rules.settings_for("state-cars");
        assert_eq!(state.group, "compacted");
        assert_eq!((state.replication_factor, state.partitions), (3, 1));
        assert_eq!(state.configs["cleanup.policy"], "compact");
        assert_eq!(state.configs["compression.type"], "lz4");
        // Excluded from the first group: the next that matches.
        let tmp = rules.settings_for("state-tmp");
        assert_eq!(tmp.group, "raw");
        assert_eq!((tmp.replication_factor, tmp.partitions), (-1, 6));
        assert!(!tmp.configs.contains_key("cleanup.policy"));
        // Patterns match the whole name.
        assert_eq!(rules.settings_for("my-state-x").group, "raw");
    }

    #[test]
    fn only_the_default_group_matches_everything() {
        let rules = parse(&[
            ("topic.creation.default.replication.factor", "-1"),
            ("topic.creation.default.partitions", "4"),
        ])
        .unwrap()
        .unwrap();
        let any = rules.settings_for("whatever");
        assert_eq!(
            (any.group.as_str(), any.replication_factor, any.partitions),
            ("default", -1, 4)
        );
    }

    #[test]
    fn every_bad_key_is_named() {
        let issues = parse(&[
            ("topic.creation.groups", "a,default"),
            ("topic.creation.default.partitions", "0"),
            ("topic.creation.a.exclude", "("),
            ("topic.creation.b.include", "x"),
            ("topic.creation.default.include", "x"),
        ])
        .unwrap_err()
        .join("\n");
        for expected in [
            "topic.creation.groups: `default` cannot name a group",
            "topic.creation.b.include: group `b` is not in topic.creation.groups",
            "topic.creation.default.replication.factor: required",
            "topic.creation.default.partitions: expected a whole number of at least 1, or -1",
            "topic.creation.default.include: the default group matches every topic",
            "topic.creation.a.exclude: `(` is not a regex",
            "topic.creation.a.include: required for every group",
        ] {
            assert!(
                issues.contains(expected),
                "missing {expected:?} in:\n{issues}"
            );
        }
    }
}
