//! What the herders answer with: Kafka Connect's ConnectorInfo, status and task bodies.

use ferry_api::ConfigMap;
use serde::Serialize;

use crate::plugins::ConnectorType;
use crate::status::{InstanceStatus, State};

/// `{connector, task}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskId {
    /// The connector's name.
    pub connector: String,
    /// The task's number.
    pub task: u32,
}

/// Kafka Connect's ConnectorInfo.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectorInfo {
    /// The connector's name.
    pub name: String,
    /// Its stored config, secrets `[hidden]`.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub config: ConfigMap,
    /// Its tasks.
    pub tasks: Vec<TaskId>,
    /// source, sink, or unknown when its plugin is missing.
    #[serde(rename = "type")]
    pub kind: ConnectorType,
}

impl ConnectorInfo {
    /// The info of connector `name` with `tasks` tasks.
    pub fn new(name: &str, config: ConfigMap, tasks: usize, kind: ConnectorType) -> Self {
        ConnectorInfo {
            name: name.to_string(),
            config,
            tasks: (0..tasks as u32)
                .map(|task| TaskId {
                    connector: name.to_string(),
                    task,
                })
                .collect(),
            kind,
        }
    }
}

/// Kafka Connect's connector status body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusInfo {
    /// The connector's name.
    pub name: String,
    /// The connector instance's status.
    pub connector: InstanceStatus,
    /// Its tasks' statuses.
    pub tasks: Vec<TaskStatusInfo>,
    /// source, sink, or unknown.
    #[serde(rename = "type")]
    pub kind: ConnectorType,
}

/// What a restart request selects, by Kafka Connect's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPlan {
    /// Restart the connector instance.
    pub connector: bool,
    /// The tasks to restart.
    pub tasks: Vec<u32>,
    /// As requested: tasks too.
    pub include_tasks: bool,
    /// As requested: only what FAILED.
    pub only_failed: bool,
}

impl StatusInfo {
    /// Marks what a restart request selects as RESTARTING (Kafka Connect's plan: the connector
    /// unless `only_failed` and it did not fail; with `include_tasks` its tasks, or only the
    /// failed ones) and returns the plan.
    pub fn mark_restarting(&mut self, include_tasks: bool, only_failed: bool) -> RestartPlan {
        let selected = |s: &InstanceStatus| !only_failed || s.state == State::Failed;
        let connector = selected(&self.connector);
        if connector {
            self.connector.state = State::Restarting;
            self.connector.trace = None;
        }
        let mut tasks = Vec::new();
        for task in self
            .tasks
            .iter_mut()
            .filter(|t| include_tasks && selected(&t.status))
        {
            task.status.state = State::Restarting;
            task.status.trace = None;
            tasks.push(task.id);
        }
        RestartPlan {
            connector,
            tasks,
            include_tasks,
            only_failed,
        }
    }
}

/// A task's status with its id.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskStatusInfo {
    /// The task's number.
    pub id: u32,
    /// Its status.
    #[serde(flatten)]
    pub status: InstanceStatus,
}

/// A task's configuration, as `GET /connectors/{name}/tasks` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskInfo {
    /// The task.
    pub id: TaskId,
    /// Its config as the connector produced it (config provider references kept).
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub config: ConfigMap,
}

impl TaskInfo {
    /// The tasks of connector `name`, numbered in order.
    pub fn list(name: &str, configs: Vec<ConfigMap>) -> Vec<TaskInfo> {
        configs
            .into_iter()
            .enumerate()
            .map(|(task, config)| TaskInfo {
                id: TaskId {
                    connector: name.to_string(),
                    task: task as u32,
                },
                config,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(connector: State, tasks: &[State]) -> StatusInfo {
        let instance = |state| InstanceStatus {
            state,
            worker_id: "w".into(),
            trace: Some("boom".into()),
            warning: None,
        };
        StatusInfo {
            name: "c".into(),
            connector: instance(connector),
            tasks: tasks
                .iter()
                .enumerate()
                .map(|(id, s)| TaskStatusInfo {
                    id: id as u32,
                    status: instance(*s),
                })
                .collect(),
            kind: ConnectorType::Source,
        }
    }

    #[test]
    fn restart_plan_follows_kafka_connect() {
        let mut plain = status(State::Running, &[State::Running, State::Failed]);
        let plan = plain.mark_restarting(false, false);
        assert!(plan.connector && plan.tasks.is_empty());
        assert_eq!(plain.connector.state, State::Restarting);
        assert_eq!(plain.tasks[1].status.state, State::Failed);

        let mut failed_tasks = status(State::Running, &[State::Running, State::Failed]);
        let plan = failed_tasks.mark_restarting(true, true);
        assert!(!plan.connector);
        assert_eq!(plan.tasks, [1]);
        assert_eq!(failed_tasks.connector.state, State::Running);
        assert_eq!(failed_tasks.tasks[1].status.state, State::Restarting);
        assert_eq!(failed_tasks.tasks[1].status.trace, None);

        let mut everything = status(State::Failed, &[State::Running, State::Paused]);
        let plan = everything.mark_restarting(true, false);
        assert!(plan.connector);
        assert_eq!(plan.tasks, [0, 1]);
    }
}
