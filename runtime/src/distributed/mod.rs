//! `ferry distributed`: workers with the same `group.id` form a cluster coordinated by Kafka
//! alone. The group coordinator gives membership, failure detection and a leader
//! (`membership`); the config topic is the shared log of configs and of the leader's
//! assignment (`config_log`, `assignment`); the status topic carries every worker's statuses
//! (`status_log`); each worker's `member` thread runs what is assigned to it.
//!
//! Any worker answers every REST request: writes are appended to the config log by the worker
//! that receives them (no forwarding, so no 409 while the group rebalances), reads come from
//! the log and status topic every worker follows.

pub mod assignment;
pub mod config_log;
mod member;
mod membership;
mod status_log;

use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ferry_api::ConfigMap;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{json, Value};

use config_log::{properties_record, target_record, ConfigLog, ConnectorState};
use member::Member;
use membership::Membership;
use status_log::StatusLog;

use crate::config::WorkerConfig;
use crate::herder::connector::TargetState;
use crate::herder::status::{InstanceStatus, State, StatusBoard};
use crate::herder::{
    ConnectorInfo, Herder, HerderError, StatusInfo, TaskId, TaskInfo, TaskStatusInfo,
};
use crate::metrics::Metrics;
use crate::plugins::ConnectorType;
use crate::rest::{LogLevels, RestState};
use crate::standalone::{self, StartupError};
use crate::store::{ensure_compacted_topic, OffsetStore};
use crate::worker::WorkerContext;

/// What the member thread reacts to.
pub enum Event {
    /// The group rebalanced; `members` are the worker ids when this worker leads.
    Rebalanced {
        /// This worker is the leader.
        leader: bool,
        /// Sorted worker ids (leader only).
        members: Vec<String>,
    },
    /// New records in the config log.
    ConfigChanged,
    /// A connector asked for new task configs.
    Reconfigure(String),
    /// A connector raised an error.
    ConnectorFailed(String, String),
    /// Stop everything here.
    Shutdown,
}

type Result<T> = std::result::Result<T, HerderError>;

/// The cluster as the REST API sees it from this worker.
pub struct Cluster {
    context: Arc<WorkerContext>,
    log: Arc<ConfigLog>,
    statuses: Arc<StatusLog>,
    events: Sender<Event>,
    member: Mutex<Option<JoinHandle<()>>>,
    membership: Mutex<Option<Membership>>,
}

fn internal(error: String) -> HerderError {
    HerderError::Internal(error)
}

fn not_found(name: &str) -> HerderError {
    HerderError::NotFound(format!("Connector {name} not found"))
}

impl Cluster {
    fn connector(&self, name: &str) -> Result<ConnectorState> {
        self.log
            .with_view(|view| view.connectors.get(name).cloned())
            .ok_or_else(|| not_found(name))
    }

    fn kind_of(&self, config: &ConfigMap) -> ConnectorType {
        config
            .get("connector.class")
            .and_then(|class| self.context.plugins.find(class))
            .map_or(ConnectorType::Source, |p| p.kind)
    }

    /// Connector names, sorted.
    pub fn connectors(&self) -> Vec<String> {
        self.log
            .with_view(|view| view.connectors.keys().cloned().collect())
    }

    /// Kafka Connect's ConnectorInfo.
    pub fn info(&self, name: &str) -> Result<ConnectorInfo> {
        let state = self.connector(name)?;
        Ok(ConnectorInfo {
            name: name.to_string(),
            kind: self.kind_of(&state.config),
            tasks: (0..state.tasks.len() as u32)
                .map(|task| TaskId {
                    connector: name.to_string(),
                    task,
                })
                .collect(),
            config: state.config,
        })
    }

    /// A connector's config.
    pub fn config(&self, name: &str) -> Result<ConfigMap> {
        Ok(self.connector(name)?.config)
    }

    /// A connector's target state.
    pub fn target(&self, name: &str) -> Result<TargetState> {
        Ok(self.connector(name)?.target)
    }

    /// Source or sink.
    pub fn kind(&self, name: &str) -> Result<ConnectorType> {
        Ok(self.kind_of(&self.connector(name)?.config))
    }

    /// Committed task configs.
    pub fn tasks(&self, name: &str) -> Result<Vec<TaskInfo>> {
        Ok(TaskInfo::list(name, self.connector(name)?.tasks))
    }

    /// Cluster-wide status: each connector and task as its worker last reported it.
    pub fn status(&self, name: &str) -> Result<StatusInfo> {
        let (state, owner) = self
            .log
            .with_view(|view| {
                view.connectors.get(name).cloned().map(|state| {
                    let owner = view.assignment.connector_owner(name).map(str::to_string);
                    (state, owner)
                })
            })
            .ok_or_else(|| not_found(name))?;
        let unassigned = |worker: Option<String>| InstanceStatus {
            state: State::Unassigned,
            worker_id: worker.unwrap_or_else(|| self.context.status.worker_id().to_string()),
            trace: None,
        };
        let reported = self.context.status.get(name);
        let connector = reported
            .as_ref()
            .map(|s| s.connector.clone())
            .unwrap_or_else(|| unassigned(owner));
        let tasks = (0..state.tasks.len() as u32)
            .map(|id| TaskStatusInfo {
                id,
                status: reported
                    .as_ref()
                    .and_then(|s| s.tasks.get(&id).cloned())
                    .unwrap_or_else(|| {
                        let owner = self.log.with_view(|view| {
                            view.assignment.task_owner(name, id).map(str::to_string)
                        });
                        unassigned(owner)
                    }),
            })
            .collect();
        Ok(StatusInfo {
            name: name.to_string(),
            connector,
            tasks,
            kind: self.kind_of(&state.config),
        })
    }

    /// Creates a connector whose config the caller validated (409 if it exists).
    pub fn create(
        &self,
        name: &str,
        config: ConfigMap,
        initial: TargetState,
    ) -> Result<ConnectorInfo> {
        self.log.catch_up().map_err(internal)?;
        if self.connector(name).is_ok() {
            return Err(HerderError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        self.log
            .append(vec![
                (format!("target-state-{name}"), Some(target_record(initial))),
                (
                    format!("connector-{name}"),
                    Some(properties_record(&config)),
                ),
            ])
            .map_err(internal)?;
        self.info(name)
    }

    /// Creates or replaces a validated config; `true` when it was created.
    pub fn put_config(&self, name: &str, config: ConfigMap) -> Result<(bool, ConnectorInfo)> {
        self.log.catch_up().map_err(internal)?;
        let existing = self.connector(name).ok();
        if existing.as_ref().is_some_and(|c| c.config == config) {
            // Nothing changes: no record, so no churn in the log.
            return Ok((false, self.info(name)?));
        }
        let created = existing.is_none();
        let mut records = Vec::new();
        if created {
            records.push((
                format!("target-state-{name}"),
                Some(target_record(TargetState::Running)),
            ));
        }
        records.push((
            format!("connector-{name}"),
            Some(properties_record(&config)),
        ));
        self.log.append(records).map_err(internal)?;
        Ok((created, self.info(name)?))
    }

    /// Pause, resume or stop. Stopping also empties the task set, as in Kafka Connect; resuming
    /// makes the connector generate it again.
    pub fn set_target(&self, name: &str, target: TargetState) -> Result<()> {
        let state = self.connector(name)?;
        let mut records = vec![(format!("target-state-{name}"), Some(target_record(target)))];
        if target == TargetState::Stopped && !state.tasks.is_empty() {
            records.push((format!("commit-{name}"), Some(json!({"tasks": 0}))));
        }
        self.log.append(records).map_err(internal)
    }

    /// Asks the workers running what the request selects to restart it; answers with the
    /// plan (what will be RESTARTING), as Kafka Connect does.
    pub fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Option<StatusInfo>> {
        let mut status = self.status(name)?;
        if self.target(name)? == TargetState::Stopped {
            return Ok((include_tasks || only_failed).then_some(status));
        }
        status.mark_restarting(include_tasks, only_failed);
        self.log
            .append(vec![(
                format!("restart-connector-{name}"),
                Some(json!({"include-tasks": include_tasks, "only-failed": only_failed})),
            )])
            .map_err(internal)?;
        Ok((include_tasks || only_failed).then_some(status))
    }

    /// Asks the worker running a task to restart it.
    pub fn restart_task(&self, name: &str, task: u32) -> Result<()> {
        if task as usize >= self.connector(name)?.tasks.len() {
            return Err(HerderError::NotFound(format!(
                "Task {name}-{task} not found"
            )));
        }
        self.log
            .append(vec![(
                format!("restart-task-{name}-{task}"),
                Some(json!({})),
            )])
            .map_err(internal)
    }

    /// Deletes a connector everywhere; its offsets stay, as in Kafka Connect.
    pub fn delete(&self, name: &str) -> Result<()> {
        self.log.catch_up().map_err(internal)?;
        let state = self.connector(name)?;
        let mut records: Vec<(String, Option<Value>)> = vec![
            (format!("connector-{name}"), None),
            (format!("target-state-{name}"), None),
        ];
        records.extend((0..state.tasks.len()).map(|i| (format!("task-{name}-{i}"), None)));
        records.push((format!("commit-{name}"), None));
        self.log.append(records).map_err(internal)?;
        self.context.metrics.remove_connector(name);
        self.context.status.reset_topics(name);
        Ok(())
    }

    /// Leaves the group and stops everything that runs here, reporting it stopped.
    pub fn shutdown(&self) {
        let membership = self
            .membership
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // Leave first: the others rebalance while this worker stops its tasks, and start each
        // one as soon as this worker reports it stopped.
        let leaving = membership.map(|m| std::thread::spawn(move || m.leave()));
        let _ = self.events.send(Event::Shutdown);
        if let Some(member) = self.member.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = member.join();
        }
        if let Some(leaving) = leaving {
            let _ = leaving.join();
        }
        self.statuses.flush();
    }
}

/// Refuses a config topic with more than one partition: the log's order is its meaning.
fn check_single_partition(config: &WorkerConfig, topic: &str) -> std::result::Result<(), String> {
    let consumer: BaseConsumer = config
        .kafka_client()
        .create()
        .map_err(|e| format!("cannot create a Kafka client: {e}"))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .map_err(|e| format!("cannot describe topic {topic}: {e}"))?;
    let partitions = metadata
        .topics()
        .iter()
        .map(|t| t.partitions().len())
        .sum::<usize>();
    if partitions != 1 {
        return Err(format!(
            "topic {topic} (config.storage.topic) has {partitions} partitions, but the config log must have exactly one to keep its order; choose another config.storage.topic"
        ));
    }
    Ok(())
}

/// Runs a distributed worker until SIGTERM or Ctrl-C.
pub async fn run(
    worker_config: &Path,
    log_levels: LogLevels,
) -> std::result::Result<(), StartupError> {
    let config = WorkerConfig::load(worker_config).map_err(|e| StartupError(e.to_string()))?;
    let Some(group) = config.cluster.group_id.clone().filter(|g| !g.is_empty()) else {
        return Err(StartupError(format!(
            "{}: group.id is missing; distributed workers with the same group.id form one cluster, e.g. `group.id: ferry-cluster`",
            worker_config.display()
        )));
    };
    let plugins = standalone::load_plugins(&config);
    let address = config.worker_id();
    let listener = standalone::bind(&address, worker_config).await?;
    let cluster_id = standalone::kafka_cluster_id(&config).await?;
    let client = config.kafka_client();
    let startup = |e: String| StartupError(e);
    let topics = &config.cluster;
    ensure_compacted_topic(
        &client,
        &topics.config_storage_topic,
        1,
        config.replication_factor,
        "config.storage.topic",
    )
    .await
    .map_err(|e| StartupError(e.to_string()))?;
    ensure_compacted_topic(
        &client,
        &topics.status_storage_topic,
        topics.status_storage_partitions,
        config.replication_factor,
        "status.storage.topic",
    )
    .await
    .map_err(|e| StartupError(e.to_string()))?;
    let offsets = OffsetStore::open(&config)
        .await
        .map_err(|e| StartupError(e.to_string()))?;
    let shutdown_timeout = config.task_shutdown_graceful_timeout;
    let board = Arc::new(StatusBoard::new(address.clone()));
    let context = Arc::new(WorkerContext {
        status: board.clone(),
        config: config.clone(),
        plugins,
        offsets: Arc::new(offsets),
        metrics: Arc::new(Metrics::default()),
        runtime: tokio::runtime::Handle::current(),
    });
    context
        .metrics
        .cluster
        .enabled
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let (events, receiver) = mpsc::channel();
    let cluster = {
        let config = config.clone();
        let context = context.clone();
        let events = events.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let topics = &config.cluster;
            check_single_partition(&config, &topics.config_storage_topic)?;
            let statuses = StatusLog::open(&client, &topics.status_storage_topic, board)?;
            let changed = events.clone();
            let log = Arc::new(ConfigLog::open(
                &client,
                &topics.config_storage_topic,
                runtime,
                move || {
                    let _ = changed.send(Event::ConfigChanged);
                },
            )?);
            let member = Member::new(
                context.clone(),
                log.clone(),
                statuses.clone(),
                events.clone(),
                &group,
            );
            let member = std::thread::Builder::new()
                .name("member".into())
                .spawn(move || {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        member.run(receiver)
                    }));
                    if outcome.is_err() {
                        // A worker that no longer follows its assignment would keep its tasks
                        // from the others: exit, and let the group hand them over.
                        tracing::error!(
                            "the cluster thread panicked; exiting so other workers take over"
                        );
                        std::process::exit(70);
                    }
                })
                .map_err(|e| e.to_string())?;
            let membership = Membership::join(
                &client,
                &group,
                &address,
                &topics.config_storage_topic,
                topics.session_timeout,
                topics.heartbeat_interval,
                events.clone(),
            )?;
            tracing::info!(group = %group, worker = %address, "joined the cluster");
            Ok::<_, String>(Arc::new(Cluster {
                context,
                log,
                statuses,
                events,
                member: Mutex::new(Some(member)),
                membership: Mutex::new(Some(membership)),
            }))
        })
        .await
        .map_err(|e| StartupError(e.to_string()))?
        .map_err(startup)?
    };

    let herder = Arc::new(Herder::distributed(context, cluster));
    let state = Arc::new(RestState {
        herder: herder.clone(),
        kafka_cluster_id: cluster_id,
        log_levels,
    });
    standalone::serve(listener, state, herder, shutdown_timeout).await
}
