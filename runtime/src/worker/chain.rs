//! A connector's transformation chain, built per task from its keys and the registry.
//!
//! Each step runs when it has no predicate, or when its predicate matches (does not match, with
//! `negate=true`). A step that drops the record ends the chain for it.

use ferry_api::config::ConfigIssue;
use ferry_api::transform::ConnectRecord;
use ferry_transforms::{Built, DynPredicate, DynTransformation, PluginType};

use crate::config::chain::{ChainKeys, PREDICATES, TRANSFORMS};
use crate::plugins::PluginRegistry;

struct Step {
    alias: String,
    class: String,
    transformation: Box<dyn DynTransformation>,
    /// Index into the chain's predicates, and `negate`.
    predicate: Option<(usize, bool)>,
}

struct NamedPredicate {
    alias: String,
    predicate: Box<dyn DynPredicate>,
}

/// The configured transformations of one task.
#[derive(Default)]
pub struct TransformChain {
    steps: Vec<Step>,
    predicates: Vec<NamedPredicate>,
}

impl std::fmt::Debug for TransformChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let aliases: Vec<&str> = self.steps.iter().map(|s| s.alias.as_str()).collect();
        f.debug_struct("TransformChain")
            .field("steps", &aliases)
            .finish()
    }
}

impl TransformChain {
    /// Builds every transformation and predicate; the issues name each offending key in full
    /// (`transforms.<alias>.<key>`).
    pub fn build(
        keys: &ChainKeys,
        registry: &PluginRegistry,
    ) -> Result<TransformChain, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut chain = TransformChain::default();
        for predicate in &keys.predicates {
            let prefix = format!("{PREDICATES}.{}.", predicate.alias);
            if let Some(Built::Predicate(built)) = build(
                registry,
                PluginType::Predicate,
                &predicate.type_name,
                &predicate.config,
                &prefix,
                &mut issues,
            ) {
                chain.predicates.push(NamedPredicate {
                    alias: predicate.alias.clone(),
                    predicate: built,
                });
            }
        }
        for step in &keys.steps {
            let prefix = format!("{TRANSFORMS}.{}.", step.alias);
            let built = build(
                registry,
                PluginType::Transformation,
                &step.type_name,
                &step.config,
                &prefix,
                &mut issues,
            );
            let predicate = step.predicate.as_ref().and_then(|(alias, negate)| {
                let index = chain.predicates.iter().position(|p| &p.alias == alias)?;
                Some((index, *negate))
            });
            if let Some(Built::Transformation(transformation)) = built {
                chain.steps.push(Step {
                    alias: step.alias.clone(),
                    class: registry
                        .transform(&step.type_name)
                        .map(|t| t.class_name.clone())
                        .unwrap_or_default(),
                    transformation,
                    predicate,
                });
            }
        }
        if issues.is_empty() {
            Ok(chain)
        } else {
            Err(issues)
        }
    }

    /// True when there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the chain; `Ok(None)` when a step dropped the record, `Err` naming the step that
    /// failed.
    pub fn apply(&mut self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, String> {
        for step in &mut self.steps {
            if let Some((index, negate)) = step.predicate {
                let named = &mut self.predicates[index];
                let matched = named.predicate.test(&record).map_err(|e| {
                    format!(
                        "predicate `{}` of transformation `{}` failed: {e}",
                        named.alias, step.alias
                    )
                })?;
                if matched == negate {
                    continue;
                }
            }
            match step.transformation.apply(record) {
                Ok(Some(next)) => record = next,
                Ok(None) => return Ok(None),
                Err(e) => {
                    return Err(format!(
                        "transformation `{}` ({}) failed: {e}",
                        step.alias, step.class
                    ))
                }
            }
        }
        Ok(Some(record))
    }
}

/// Builds one transformation or predicate, adding its issues under `prefix`.
fn build(
    registry: &PluginRegistry,
    wanted: PluginType,
    type_name: &str,
    config: &ferry_api::ConfigMap,
    prefix: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<Built> {
    if type_name.is_empty() {
        return None; // reported with the chain's keys
    }
    let type_key = format!("{prefix}type");
    let Some(plugin) = registry.transform(type_name) else {
        let available: Vec<&str> = registry
            .transforms()
            .iter()
            .filter(|t| t.plugin_type == wanted)
            .map(|t| t.class_name.as_str())
            .collect();
        issues.push(ConfigIssue::new(
            type_key,
            format!(
                "`{type_name}` is not a known {}; available: {}",
                wanted.rest_name(),
                available.join(", ")
            ),
        ));
        return None;
    };
    if plugin.plugin_type != wanted {
        issues.push(ConfigIssue::new(
            type_key,
            format!(
                "`{type_name}` is a {}, not a {}",
                plugin.plugin_type.rest_name(),
                wanted.rest_name()
            ),
        ));
        return None;
    }
    match plugin.build(config) {
        Ok(built) => Some(built),
        Err(own) => {
            issues.extend(own.into_iter().map(|issue| {
                let field = if issue.field == "type" || issue.field.is_empty() {
                    type_key.clone()
                } else {
                    format!("{prefix}{}", issue.field)
                };
                ConfigIssue::new(field, issue.message)
            }));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::config;
    use ferry_api::data::Payload;
    use serde_json::json;

    fn chain(pairs: &[(&str, &str)]) -> Result<TransformChain, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let keys = ChainKeys::parse(&config(pairs), &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        TransformChain::build(&keys, &PluginRegistry::default())
    }

    #[test]
    fn the_config_from_kafka_connect_routes_to_the_renamed_topic() {
        let mut chain = chain(&[
            ("transforms", "route"),
            (
                "transforms.route.type",
                "org.apache.kafka.connect.transforms.RegexRouter",
            ),
            ("transforms.route.regex", "(.*)"),
            ("transforms.route.replacement", "$1-x"),
        ])
        .unwrap();
        let out = chain.apply(ConnectRecord::new("i1")).unwrap().unwrap();
        assert_eq!(out.topic, "i1-x");
    }

    #[test]
    fn predicates_guard_steps_and_negate_inverts_them() {
        let mut chain = chain(&[
            ("transforms", "drop"),
            ("transforms.drop.type", "Filter"),
            ("transforms.drop.predicate", "isCar"),
            ("transforms.drop.negate", "true"),
            ("predicates", "isCar"),
            ("predicates.isCar.type", "TopicNameMatches"),
            ("predicates.isCar.pattern", "cars-.*"),
        ])
        .unwrap();
        let mut car = ConnectRecord::new("cars-1");
        car.value = Some(Payload::schemaless(json!({"speed": 1})));
        assert!(chain.apply(car).unwrap().is_some());
        assert!(chain.apply(ConnectRecord::new("trucks")).unwrap().is_none());
    }

    #[test]
    fn unknown_types_name_the_key_and_list_what_exists() {
        let issues = chain(&[
            ("transforms", "x"),
            ("transforms.x.type", "com.example.Missing"),
        ])
        .unwrap_err();
        assert_eq!(issues[0].field, "transforms.x.type");
        assert!(
            issues[0].message.contains("RegexRouter"),
            "{}",
            issues[0].message
        );
        let issues = chain(&[
            ("transforms", "x"),
            ("transforms.x.type", "TopicNameMatches"),
        ])
        .unwrap_err();
        assert!(
            issues[0].message.contains("is a predicate"),
            "{}",
            issues[0].message
        );
        let issues = chain(&[
            ("transforms", "route"),
            ("transforms.route.type", "RegexRouter"),
            ("transforms.route.regex", "("),
            ("transforms.route.replacement", "x"),
            ("transforms.route.replacment", "x"),
        ])
        .unwrap_err();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["transforms.route.replacment"], "{issues:?}");
    }
}
