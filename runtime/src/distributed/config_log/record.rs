//! The config topic's records, both ways: every key and value the cluster writes, and how a
//! record read back is understood. Kafka Connect's layout (`connector-<n>`, `task-<n>-<i>`,
//! `commit-<n>`, `target-state-<n>`, `restart-connector-<n>`), plus Ferry's own
//! `restart-task-<n>-<i>` and `ferry-assignment`. Nothing else builds or parses these keys.

use ferry_api::ConfigMap;
use serde_json::{json, Value};

use crate::distributed::assignment::Assignment;
use crate::status::TargetState;

/// Key of the leader's assignment record.
pub const ASSIGNMENT_KEY: &str = "ferry-assignment";

/// One record of the config topic. `None` payloads are tombstones (deletions).
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigRecord {
    /// `connector-<n>`: a connector's config, `{"properties": {...}}`.
    Connector {
        /// The connector.
        name: String,
        /// Its config; `None` deletes the connector.
        config: Option<ConfigMap>,
    },
    /// `target-state-<n>`: `{"state": "STARTED" | "PAUSED" | "STOPPED"}`.
    Target {
        /// The connector.
        name: String,
        /// Its target; `None` forgets it.
        target: Option<TargetState>,
    },
    /// `task-<n>-<i>`: one task's config, effective only with the next commit.
    Task {
        /// The connector.
        name: String,
        /// The task's number.
        task: u32,
        /// Its config; `None` deletes it.
        config: Option<ConfigMap>,
    },
    /// `commit-<n>`: `{"tasks": N}` makes tasks 0..N the connector's task set, atomically.
    Commit {
        /// The connector.
        name: String,
        /// The number of tasks; `None` is the tombstone written on delete.
        tasks: Option<u32>,
    },
    /// `restart-connector-<n>`: `{"include-tasks": bool, "only-failed": bool}`.
    RestartConnector {
        /// The connector.
        name: String,
        /// Restart its tasks too.
        include_tasks: bool,
        /// Only what is FAILED.
        only_failed: bool,
    },
    /// `restart-task-<n>-<i>`: `{}`.
    RestartTask {
        /// The connector.
        name: String,
        /// The task's number.
        task: u32,
    },
    /// `ferry-assignment`: the leader's assignment.
    Assignment(Assignment),
}

/// Kafka Connect writes `STARTED` where the REST API says RUNNING.
fn target_name(target: TargetState) -> &'static str {
    match target {
        TargetState::Running => "STARTED",
        TargetState::Paused => "PAUSED",
        TargetState::Stopped => "STOPPED",
    }
}

fn target_from_name(state: &str) -> Option<TargetState> {
    match state {
        "STARTED" => Some(TargetState::Running),
        "PAUSED" => Some(TargetState::Paused),
        "STOPPED" => Some(TargetState::Stopped),
        _ => None,
    }
}

fn properties(config: &ConfigMap) -> Value {
    json!({ "properties": config })
}

fn properties_from(value: &Value) -> Option<ConfigMap> {
    value["properties"].as_object().map(|props| {
        props
            .iter()
            .map(|(k, v)| {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), text)
            })
            .collect()
    })
}

/// `<name>-<i>` → (name, i).
fn split_task(rest: &str) -> Option<(&str, u32)> {
    let (name, task) = rest.rsplit_once('-')?;
    Some((name, task.parse().ok()?))
}

impl ConfigRecord {
    /// The record's key.
    pub fn key(&self) -> String {
        match self {
            ConfigRecord::Connector { name, .. } => format!("connector-{name}"),
            ConfigRecord::Target { name, .. } => format!("target-state-{name}"),
            ConfigRecord::Task { name, task, .. } => format!("task-{name}-{task}"),
            ConfigRecord::Commit { name, .. } => format!("commit-{name}"),
            ConfigRecord::RestartConnector { name, .. } => format!("restart-connector-{name}"),
            ConfigRecord::RestartTask { name, task } => format!("restart-task-{name}-{task}"),
            ConfigRecord::Assignment(_) => ASSIGNMENT_KEY.to_string(),
        }
    }

    /// The record's value; `None` is a tombstone.
    pub fn value(&self) -> Option<Value> {
        match self {
            ConfigRecord::Connector { config, .. } | ConfigRecord::Task { config, .. } => {
                config.as_ref().map(properties)
            }
            ConfigRecord::Target { target, .. } => {
                target.map(|t| json!({ "state": target_name(t) }))
            }
            ConfigRecord::Commit { tasks, .. } => tasks.map(|n| json!({ "tasks": n })),
            ConfigRecord::RestartConnector {
                include_tasks,
                only_failed,
                ..
            } => Some(json!({"include-tasks": include_tasks, "only-failed": only_failed})),
            ConfigRecord::RestartTask { .. } => Some(json!({})),
            ConfigRecord::Assignment(assignment) => {
                Some(serde_json::to_value(assignment).expect("assignments serialize"))
            }
        }
    }

    /// Understands a record read from the topic; `None` for keys of no interest, tombstones
    /// of requests, and values that cannot be read (logged).
    pub fn parse(key: &str, value: Option<&Value>) -> Option<ConfigRecord> {
        let name = |n: &str| n.to_string();
        if let Some(n) = key.strip_prefix("connector-") {
            Some(ConfigRecord::Connector {
                name: name(n),
                config: value.and_then(properties_from),
            })
        } else if let Some(n) = key.strip_prefix("target-state-") {
            Some(ConfigRecord::Target {
                name: name(n),
                target: value
                    .and_then(|v| v["state"].as_str())
                    .and_then(target_from_name),
            })
        } else if let Some((n, task)) = key.strip_prefix("task-").and_then(split_task) {
            Some(ConfigRecord::Task {
                name: name(n),
                task,
                config: value.and_then(properties_from),
            })
        } else if let Some(n) = key.strip_prefix("commit-") {
            Some(ConfigRecord::Commit {
                name: name(n),
                tasks: value.and_then(|v| v["tasks"].as_u64()).map(|t| t as u32),
            })
        } else if let Some(n) = key.strip_prefix("restart-connector-") {
            let value = value?;
            Some(ConfigRecord::RestartConnector {
                name: name(n),
                include_tasks: value["include-tasks"].as_bool().unwrap_or(false),
                only_failed: value["only-failed"].as_bool().unwrap_or(false),
            })
        } else if let Some((n, task)) = key.strip_prefix("restart-task-").and_then(split_task) {
            value?;
            Some(ConfigRecord::RestartTask {
                name: name(n),
                task,
            })
        } else if key == ASSIGNMENT_KEY {
            match serde_json::from_value::<Assignment>(value?.clone()) {
                Ok(assignment) => Some(ConfigRecord::Assignment(assignment)),
                Err(error) => {
                    tracing::warn!(%error, "ignoring an unreadable assignment");
                    None
                }
            }
        } else {
            None
        }
    }

    /// The records that delete a connector with `tasks` tasks: config, target, tasks, commit.
    pub fn deletion(name: &str, tasks: usize) -> Vec<ConfigRecord> {
        let mut records = vec![
            ConfigRecord::Connector {
                name: name.to_string(),
                config: None,
            },
            ConfigRecord::Target {
                name: name.to_string(),
                target: None,
            },
        ];
        records.extend((0..tasks as u32).map(|task| ConfigRecord::Task {
            name: name.to_string(),
            task,
            config: None,
        }));
        records.push(ConfigRecord::Commit {
            name: name.to_string(),
            tasks: None,
        });
        records
    }

    /// The records that make `configs` a connector's task set.
    pub fn task_set(name: &str, configs: &[ConfigMap]) -> Vec<ConfigRecord> {
        let mut records: Vec<ConfigRecord> = configs
            .iter()
            .enumerate()
            .map(|(task, config)| ConfigRecord::Task {
                name: name.to_string(),
                task: task as u32,
                config: Some(config.clone()),
            })
            .collect();
        records.push(ConfigRecord::Commit {
            name: name.to_string(),
            tasks: Some(configs.len() as u32),
        });
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(record: ConfigRecord) -> ConfigRecord {
        ConfigRecord::parse(&record.key(), record.value().as_ref()).expect("parses back")
    }

    #[test]
    fn every_record_parses_back() {
        let config: ConfigMap = [("tasks.max".to_string(), "2".to_string())].into();
        let records = [
            ConfigRecord::Connector {
                name: "a-b".into(),
                config: Some(config.clone()),
            },
            ConfigRecord::Connector {
                name: "a-b".into(),
                config: None,
            },
            ConfigRecord::Target {
                name: "a".into(),
                target: Some(TargetState::Paused),
            },
            ConfigRecord::Task {
                name: "a-b".into(),
                task: 3,
                config: Some(config),
            },
            ConfigRecord::Commit {
                name: "a".into(),
                tasks: Some(2),
            },
            ConfigRecord::RestartConnector {
                name: "x".into(),
                include_tasks: true,
                only_failed: false,
            },
            ConfigRecord::RestartTask {
                name: "x-y".into(),
                task: 3,
            },
        ];
        for record in records {
            assert_eq!(round_trip(record.clone()), record);
        }
    }

    #[test]
    fn kafka_connect_layout() {
        let target = ConfigRecord::Target {
            name: "c".into(),
            target: Some(TargetState::Running),
        };
        assert_eq!(target.key(), "target-state-c");
        assert_eq!(target.value(), Some(json!({"state": "STARTED"})));
        assert_eq!(
            ConfigRecord::Commit {
                name: "c".into(),
                tasks: Some(0)
            }
            .value(),
            Some(json!({"tasks": 0}))
        );
        // Kafka Connect may write numbers in properties; they read as text.
        let parsed = ConfigRecord::parse("connector-c", Some(&json!({"properties": {"n": 5}})));
        let Some(ConfigRecord::Connector {
            config: Some(config),
            ..
        }) = parsed
        else {
            panic!("not a connector record: {parsed:?}");
        };
        assert_eq!(config["n"], "5");
        assert_eq!(ConfigRecord::parse("restart-connector-c", None), None);
        assert_eq!(ConfigRecord::parse("session-key", Some(&json!({}))), None);
    }
}
