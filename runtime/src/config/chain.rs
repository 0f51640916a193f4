//! The transformation chain's keys: `transforms`, `transforms.<alias>.*`, `predicates`,
//! `predicates.<alias>.*`, read as Kafka Connect reads them.
//!
//! This is the structure only (aliases, types, predicate references and each one's own keys);
//! whether a type exists and its keys are right is checked against the transformation registry
//! when the chain is built (`worker::chain`).

use std::collections::BTreeSet;

use ferry_api::config::ConfigIssue;
use ferry_api::ConfigMap;

/// `transforms`: ordered transformation aliases.
pub const TRANSFORMS: &str = "transforms";
/// `predicates`: predicate aliases.
pub const PREDICATES: &str = "predicates";

/// One transformation of the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct StepKeys {
    /// The alias in `transforms`.
    pub alias: String,
    /// `transforms.<alias>.type`.
    pub type_name: String,
    /// `transforms.<alias>.predicate` and `.negate`.
    pub predicate: Option<(String, bool)>,
    /// The transformation's own keys, prefix removed.
    pub config: ConfigMap,
}

/// One predicate.
#[derive(Debug, Clone, PartialEq)]
pub struct PredicateKeys {
    /// The alias in `predicates`.
    pub alias: String,
    /// `predicates.<alias>.type`.
    pub type_name: String,
    /// The predicate's own keys, prefix removed.
    pub config: ConfigMap,
}

/// The chain's keys, parsed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChainKeys {
    /// Transformations, in order.
    pub steps: Vec<StepKeys>,
    /// Predicates, by alias.
    pub predicates: Vec<PredicateKeys>,
}

impl ChainKeys {
    /// True when no transformation is configured.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Reads the chain's keys, collecting every problem.
    pub fn parse(config: &ConfigMap, issues: &mut Vec<ConfigIssue>) -> ChainKeys {
        let transforms = aliases(config, TRANSFORMS, issues);
        let predicates = aliases(config, PREDICATES, issues);
        let mut chain = ChainKeys::default();
        for alias in &predicates {
            let prefix = format!("{PREDICATES}.{alias}.");
            let (type_name, own) = typed(config, &prefix, issues);
            chain.predicates.push(PredicateKeys {
                alias: alias.clone(),
                type_name,
                config: own,
            });
        }
        for alias in &transforms {
            let prefix = format!("{TRANSFORMS}.{alias}.");
            let (type_name, mut own) = typed(config, &prefix, issues);
            let predicate_key = format!("{prefix}predicate");
            let negate_key = format!("{prefix}negate");
            let predicate = own.remove("predicate").map(|p| p.trim().to_string());
            let negate = match own.remove("negate").map(|n| n.trim().to_ascii_lowercase()) {
                None => None,
                Some(n) if n == "true" => Some(true),
                Some(n) if n == "false" => Some(false),
                Some(other) => {
                    issues.push(ConfigIssue::new(
                        &negate_key,
                        format!("must be true or false, got `{other}`"),
                    ));
                    None
                }
            };
            let predicate = match (predicate, negate) {
                (Some(p), _) if p.is_empty() => {
                    issues.push(ConfigIssue::new(
                        &predicate_key,
                        "is empty; name a predicate alias or remove the key",
                    ));
                    None
                }
                (Some(p), negate) => {
                    if !predicates.contains(&p) {
                        issues.push(ConfigIssue::new(
                            &predicate_key,
                            format!("predicate `{p}` is not defined: add it to `{PREDICATES}` and set `{PREDICATES}.{p}.type`"),
                        ));
                    }
                    Some((p, negate.unwrap_or(false)))
                }
                (None, Some(_)) => {
                    issues.push(ConfigIssue::new(
                        &negate_key,
                        format!(
                            "has no effect without `{predicate_key}`; set a predicate or remove it"
                        ),
                    ));
                    None
                }
                (None, None) => None,
            };
            chain.steps.push(StepKeys {
                alias: alias.clone(),
                type_name,
                predicate,
                config: own,
            });
        }
        // Keys for aliases that are not listed would be ignored: refuse them instead.
        for key in config.keys() {
            for (list, listed) in [(TRANSFORMS, &transforms), (PREDICATES, &predicates)] {
                let Some(rest) = key.strip_prefix(list).and_then(|r| r.strip_prefix('.')) else {
                    continue;
                };
                let listed_alias = |alias: &String| {
                    rest.strip_prefix(alias.as_str())
                        .is_some_and(|r| r.starts_with('.'))
                };
                if !listed.iter().any(listed_alias) {
                    let alias = rest.split('.').next().unwrap_or(rest);
                    issues.push(ConfigIssue::new(
                        key,
                        format!("`{alias}` is not listed in `{list}`, so this key would be ignored; add `{alias}` to `{list}` or remove the key"),
                    ));
                }
            }
        }
        chain
    }
}

/// The aliases listed under `key`, each checked once.
fn aliases(config: &ConfigMap, key: &str, issues: &mut Vec<ConfigIssue>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut aliases = Vec::new();
    let Some(list) = config.get(key) else {
        return aliases;
    };
    for alias in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if !seen.insert(alias.to_string()) {
            issues.push(ConfigIssue::new(
                key,
                format!("`{alias}` is listed twice; give each its own alias"),
            ));
            continue;
        }
        aliases.push(alias.to_string());
    }
    aliases
}

/// `<prefix>type` and the other keys under `prefix`.
fn typed(config: &ConfigMap, prefix: &str, issues: &mut Vec<ConfigIssue>) -> (String, ConfigMap) {
    let mut own: ConfigMap = config
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
        .collect();
    let type_name = own
        .remove("type")
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    if type_name.is_empty() {
        issues.push(ConfigIssue::new(
            format!("{prefix}type"),
            "missing: set the class name of the transformation or predicate",
        ));
    }
    (type_name, own)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::config;

    fn parse(pairs: &[(&str, &str)]) -> (ChainKeys, Vec<ConfigIssue>) {
        let mut issues = Vec::new();
        let chain = ChainKeys::parse(&config(pairs), &mut issues);
        (chain, issues)
    }

    fn fields(issues: &[ConfigIssue]) -> Vec<&str> {
        issues.iter().map(|i| i.field.as_str()).collect()
    }

    #[test]
    fn reads_steps_in_order_with_their_own_keys_and_predicates() {
        let (chain, issues) = parse(&[
            ("transforms", "route, insert"),
            ("transforms.route.type", "RegexRouter"),
            ("transforms.route.regex", "(.*)"),
            ("transforms.route.replacement", "$1-x"),
            ("transforms.insert.type", "InsertField$Value"),
            ("transforms.insert.predicate", "isCar"),
            ("transforms.insert.negate", "True"),
            ("predicates", "isCar"),
            ("predicates.isCar.type", "TopicNameMatches"),
            ("predicates.isCar.pattern", "cars.*"),
        ]);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(chain.steps.len(), 2);
        assert_eq!(chain.steps[0].alias, "route");
        assert_eq!(
            chain.steps[0].config,
            config(&[("regex", "(.*)"), ("replacement", "$1-x")])
        );
        assert_eq!(chain.steps[1].predicate, Some(("isCar".to_string(), true)));
        assert!(chain.steps[1].config.is_empty());
        assert_eq!(chain.predicates[0].config, config(&[("pattern", "cars.*")]));
    }

    #[test]
    fn refuses_what_would_otherwise_be_ignored() {
        let (_, issues) = parse(&[
            ("transforms", "a,a,b"),
            ("transforms.a.type", "Filter"),
            ("transforms.a.predicate", "missing"),
            ("transforms.b.negate", "true"),
            ("transforms.c.type", "Filter"),
            ("predicates.p.type", "RecordIsTombstone"),
        ]);
        let fields = fields(&issues);
        assert!(fields.contains(&"transforms"), "{issues:?}");
        assert!(fields.contains(&"transforms.a.predicate"));
        assert!(fields.contains(&"transforms.b.type"));
        assert!(fields.contains(&"transforms.b.negate"));
        assert!(fields.contains(&"transforms.c.type"));
        assert!(fields.contains(&"predicates.p.type"));
    }
}
