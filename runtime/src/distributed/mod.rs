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

use config_log::{ConfigLog, ConfigLogAccess, ConfigRecord, ConnectorState};
use member::Member;
use membership::Membership;
use status_log::StatusLog;

use crate::config::WorkerConfig;
use crate::herder::{
    not_found, unassigned, Herder, HerderError, RestartPlan, Result, StatusInfo, TaskInfo,
    TaskStatusInfo,
};
use crate::rest::LogLevels;
use crate::startup::{self, StartupError};
use crate::status::TargetState;
use crate::store::ensure_compacted_topic;
use crate::worker::Worker;

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

/// The distributed herder: the cluster as the REST API sees it from this worker. Reads come
/// from the config log (and the status board the status topic fills); writes are appended to
/// the log, and the member thread of every worker acts on them.
pub struct DistributedHerder<L: ConfigLogAccess = ConfigLog> {
    worker: Arc<Worker>,
    log: Arc<L>,
    /// The threads that take part in the group; none in unit tests.
    cluster: Option<ClusterThreads>,
}

/// A worker's part in the group: its member thread, membership and status log.
struct ClusterThreads {
    statuses: Arc<StatusLog>,
    events: Sender<Event>,
    member: Mutex<Option<JoinHandle<()>>>,
    membership: Mutex<Option<Membership>>,
}

impl<L: ConfigLogAccess> DistributedHerder<L> {
    /// A herder over `log` that takes no part in a group: for tests of what it answers and
    /// writes.
    pub fn detached(worker: Arc<Worker>, log: Arc<L>) -> Self {
        DistributedHerder {
            worker,
            log,
            cluster: None,
        }
    }
}

impl<L: ConfigLogAccess> DistributedHerder<L> {
    fn connector(&self, name: &str) -> Result<ConnectorState> {
        self.log
            .with_view(|view| view.connectors.get(name).cloned())
            .ok_or_else(|| not_found(name))
    }

    fn target_record(name: &str, target: TargetState) -> ConfigRecord {
        ConfigRecord::Target {
            name: name.to_string(),
            target: Some(target),
        }
    }

    fn connector_record(name: &str, config: ConfigMap) -> ConfigRecord {
        ConfigRecord::Connector {
            name: name.to_string(),
            config: Some(config),
        }
    }
}

impl<L: ConfigLogAccess> Herder for DistributedHerder<L> {
    fn worker(&self) -> &Arc<Worker> {
        &self.worker
    }

    fn connectors(&self) -> Vec<String> {
        self.log
            .with_view(|view| view.connectors.keys().cloned().collect())
    }

    fn config(&self, name: &str) -> Result<ConfigMap> {
        Ok(self.connector(name)?.config)
    }

    fn target(&self, name: &str) -> Result<TargetState> {
        Ok(self.connector(name)?.target)
    }

    fn tasks(&self, name: &str) -> Result<Vec<TaskInfo>> {
        Ok(TaskInfo::list(name, self.connector(name)?.tasks))
    }

    /// Cluster-wide status: each connector and task as its worker last reported it.
    fn status(&self, name: &str) -> Result<StatusInfo> {
        let (state, owner) = self
            .log
            .with_view(|view| {
                view.connectors.get(name).cloned().map(|state| {
                    let owner = view.assignment.connector_owner(name).map(str::to_string);
                    (state, owner)
                })
            })
            .ok_or_else(|| not_found(name))?;
        let me = self.worker.id();
        let reported = self.worker.status.get(name);
        let connector = reported
            .as_ref()
            .map(|s| s.connector.clone())
            .unwrap_or_else(|| unassigned(owner.as_deref().unwrap_or(me)));
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
                        unassigned(owner.as_deref().unwrap_or(me))
                    }),
            })
            .collect();
        Ok(StatusInfo {
            name: name.to_string(),
            connector,
            tasks,
            kind: crate::herder::kind_of(&self.worker, &state.config),
        })
    }

    fn write_new(&self, name: &str, config: ConfigMap, initial: TargetState) -> Result<()> {
        self.log.catch_up()?;
        if self.connector(name).is_ok() {
            return Err(HerderError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        Ok(self.log.append(vec![
            Self::target_record(name, initial),
            Self::connector_record(name, config),
        ])?)
    }

    fn write_config(&self, name: &str, config: ConfigMap) -> Result<bool> {
        self.log.catch_up()?;
        let existing = self.connector(name).ok();
        if existing.as_ref().is_some_and(|c| c.config == config) {
            // Nothing changes: no record, so no churn in the log.
            return Ok(false);
        }
        let created = existing.is_none();
        let mut records = Vec::new();
        if created {
            records.push(Self::target_record(name, TargetState::Running));
        }
        records.push(Self::connector_record(name, config));
        self.log.append(records)?;
        Ok(created)
    }

    /// Pause, resume or stop. Stopping also empties the task set, as in Kafka Connect; resuming
    /// makes the connector generate it again.
    fn set_target(&self, name: &str, target: TargetState) -> Result<()> {
        let state = self.connector(name)?;
        let mut records = vec![Self::target_record(name, target)];
        if target == TargetState::Stopped && !state.tasks.is_empty() {
            records.extend(ConfigRecord::task_set(name, &[]));
        }
        Ok(self.log.append(records)?)
    }

    /// Asks the workers running what the plan selects to restart it; each marks its part
    /// RESTARTING when it acts.
    fn request_restart(&self, name: &str, plan: &RestartPlan) -> Result<()> {
        Ok(self.log.append(vec![ConfigRecord::RestartConnector {
            name: name.to_string(),
            include_tasks: plan.include_tasks,
            only_failed: plan.only_failed,
        }])?)
    }

    fn request_task_restart(&self, name: &str, task: u32) -> Result<()> {
        if task as usize >= self.connector(name)?.tasks.len() {
            return Err(HerderError::NotFound(format!(
                "Task {name}-{task} not found"
            )));
        }
        Ok(self.log.append(vec![ConfigRecord::RestartTask {
            name: name.to_string(),
            task,
        }])?)
    }

    fn delete(&self, name: &str) -> Result<()> {
        self.log.catch_up()?;
        let state = self.connector(name)?;
        self.log
            .append(ConfigRecord::deletion(name, state.tasks.len()))?;
        self.worker.metrics.remove_connector(name);
        self.worker.status.reset_topics(name);
        Ok(())
    }

    fn reload_source_offsets(&self) -> Result<()> {
        Ok(self.worker.offsets.reload()?)
    }

    /// Leaves the group and stops everything that runs here, reporting it stopped.
    fn shutdown(&self) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let membership = cluster
            .membership
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // Leave first: the others rebalance while this worker stops its tasks, and start each
        // one as soon as this worker reports it stopped.
        let leaving = membership.map(|m| std::thread::spawn(move || m.leave()));
        let _ = cluster.events.send(Event::Shutdown);
        if let Some(member) = cluster
            .member
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = member.join();
        }
        if let Some(leaving) = leaving {
            let _ = leaving.join();
        }
        cluster.statuses.flush();
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

/// The config topic's sealer: the worker's key, and the plugins' password keys.
fn sealer(worker: &Arc<Worker>) -> config_log::Sealer {
    let plugins = worker.clone();
    if worker.config.cluster.secrets_key.is_none() {
        tracing::warn!("connector secrets are written to the config topic as they are: set config.storage.secrets.key to seal them");
    }
    config_log::Sealer::new(
        worker.config.cluster.secrets_key.as_ref().map(|k| &k.0),
        Box::new(move |class, key| {
            crate::herder::secrets::is_secret_key(plugins.plugins.find(class).as_deref(), key)
        }),
    )
}

/// Runs a distributed worker until SIGTERM or Ctrl-C.
pub async fn run(
    worker_config: &Path,
    log_levels: LogLevels,
) -> std::result::Result<(), StartupError> {
    let started = startup::start(worker_config, |config| match &config.cluster.group_id {
        Some(group) if !group.is_empty() => Ok(()),
        _ => Err("group.id is missing; distributed workers with the same group.id form one cluster, e.g. `group.id: ferry-cluster`".into()),
    })
    .await?;
    let worker = started.worker.clone();
    let config = worker.config.clone();
    let group = config.cluster.group_id.clone().unwrap_or_default();
    let client = config.kafka_client();
    let topics = &config.cluster;
    ensure_compacted_topic(
        &client,
        &topics.config_storage_topic,
        1,
        topics.config_storage_replication_factor,
        "config.storage.topic",
    )
    .await?;
    ensure_compacted_topic(
        &client,
        &topics.status_storage_topic,
        topics.status_storage_partitions,
        topics.status_storage_replication_factor,
        "status.storage.topic",
    )
    .await?;
    worker
        .metrics
        .cluster
        .enabled
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let (events, receiver) = mpsc::channel();
    let runtime = tokio::runtime::Handle::current();
    let herder = tokio::task::spawn_blocking(move || {
        let topics = &config.cluster;
        let address = worker.id().to_string();
        check_single_partition(&config, &topics.config_storage_topic)?;
        let statuses = StatusLog::open(
            &client,
            &topics.status_storage_topic,
            worker.status.clone(),
            worker.metrics.clone(),
        )?;
        let changed = events.clone();
        let log = Arc::new(
            ConfigLog::open(
                &client,
                &topics.config_storage_topic,
                runtime,
                sealer(&worker),
                move || {
                    let _ = changed.send(Event::ConfigChanged);
                },
            )
            .map_err(|e| e.to_string())?,
        );
        let member = Member::new(
            worker.clone(),
            log.clone(),
            statuses.clone(),
            events.clone(),
            &group,
        );
        let member = std::thread::Builder::new()
            .name("member".into())
            .spawn(move || {
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| member.run(receiver)));
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
        Ok::<_, String>(Arc::new(DistributedHerder {
            worker,
            log,
            cluster: Some(ClusterThreads {
                statuses,
                events,
                member: Mutex::new(Some(member)),
                membership: Mutex::new(Some(membership)),
            }),
        }))
    })
    .await?
    .map_err(StartupError::Cluster)?;
    startup::serve(started, herder, log_levels).await
}

#[cfg(test)]
mod tests;
