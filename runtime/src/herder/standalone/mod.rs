//! The standalone herder: every connector runs on this worker, and configs with their target
//! states persist in a [`ConnectorStore`] (`connectors.json` in `state.dir`).
//!
//! A write is persisted before it takes effect, and a write that cannot be persisted is refused
//! (500) and changes nothing. No lock is held while connector code runs: each connector has a
//! thread of its own (`runner`) that applies the herder's commands in order.

mod runner;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ferry_api::ConfigMap;
use serde_json::Value;

use runner::{Command, ConnectorRunner};

use super::{not_found, unassigned, Herder, HerderError, RestartPlan, Result, StatusInfo};
use super::{TaskInfo, TaskStatusInfo};
use crate::plugins::{ConnectorType, Plugin};
use crate::status::{State, TargetState};
use crate::store::{ConnectorStore, StoredConnector};
use crate::worker::Worker;

struct Entry {
    config: ConfigMap,
    target: TargetState,
    plugin: Option<Arc<Plugin>>,
    runner: Option<ConnectorRunner>,
}

impl Entry {
    fn kind(&self) -> ConnectorType {
        self.plugin
            .as_ref()
            .map_or(ConnectorType::Unknown, |p| p.kind)
    }
}

/// The standalone herder.
pub struct StandaloneHerder {
    worker: Arc<Worker>,
    store: Box<dyn ConnectorStore>,
    connectors: Mutex<BTreeMap<String, Entry>>,
}

impl StandaloneHerder {
    /// A herder over `worker`, persisting configs in `store`.
    pub fn new(worker: Arc<Worker>, store: Box<dyn ConnectorStore>) -> Self {
        StandaloneHerder {
            worker,
            store,
            connectors: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.connectors.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Saves the connectors as they would be after a change; nothing changes if this fails.
    fn persist(&self, connectors: &BTreeMap<String, (ConfigMap, TargetState)>) -> Result<()> {
        let stored = connectors
            .iter()
            .map(|(name, (config, target))| {
                let target = serde_json::to_value(target).unwrap_or_default();
                (
                    name.clone(),
                    StoredConnector {
                        config: config.clone(),
                        target_state: target.as_str().unwrap_or("RUNNING").to_string(),
                    },
                )
            })
            .collect();
        Ok(self.store.save(&stored)?)
    }

    /// What is stored now, with one connector changed (`None` removes it).
    fn persist_with(
        &self,
        connectors: &BTreeMap<String, Entry>,
        name: &str,
        change: Option<(ConfigMap, TargetState)>,
    ) -> Result<()> {
        let mut next: BTreeMap<String, (ConfigMap, TargetState)> = connectors
            .iter()
            .map(|(n, e)| (n.clone(), (e.config.clone(), e.target)))
            .collect();
        match change {
            Some(entry) => next.insert(name.to_string(), entry),
            None => next.remove(name),
        };
        self.persist(&next)
    }

    /// Starts the stored connectors, then those given on the command line (which replace stored
    /// ones of the same name). Invalid ones are reported and skipped; the worker keeps running.
    pub fn start_connectors(&self, from_files: Vec<(String, ConfigMap)>) -> Vec<String> {
        let mut problems = Vec::new();
        let stored = self.store.load().unwrap_or_else(|e| {
            problems.push(e.to_string());
            BTreeMap::new()
        });
        for (name, connector) in stored {
            let target = serde_json::from_value(Value::String(connector.target_state))
                .unwrap_or(TargetState::Running);
            let entry = self.start_entry(&name, connector.config, target);
            self.lock().insert(name, entry);
        }
        for (name, config) in from_files {
            if let Err(e) = self.put_config(&name, config) {
                problems.push(format!("connector {name}: {e}"));
            }
        }
        problems
    }

    /// A connector's entry with its thread started; no validation (callers validated).
    fn start_entry(&self, name: &str, config: ConfigMap, target: TargetState) -> Entry {
        let plugin = self.worker.plugin_for(&config);
        let runner = plugin.clone().map(|plugin| {
            ConnectorRunner::start(
                self.worker.clone(),
                name.to_string(),
                plugin,
                config.clone(),
                target,
            )
        });
        if plugin.is_none() {
            let class = crate::config::connector::connector_class(&config);
            self.worker.status.set_connector(
                name,
                ConnectorType::Unknown,
                State::Failed,
                Some(format!("connector class {class} is not on plugin.path; add its library there and restart the worker")),
            );
        }
        Entry {
            config,
            target,
            plugin,
            runner,
        }
    }

    fn send(&self, name: &str, command: Command) -> Result<()> {
        let connectors = self.lock();
        let entry = connectors.get(name).ok_or_else(|| not_found(name))?;
        match &entry.runner {
            Some(runner) => {
                runner.send(command);
                Ok(())
            }
            None => Err(HerderError::Conflict(format!(
                "Connector {name} cannot run on this worker: its plugin is missing"
            ))),
        }
    }
}

impl Herder for StandaloneHerder {
    fn worker(&self) -> &Arc<Worker> {
        &self.worker
    }

    fn connectors(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn config(&self, name: &str) -> Result<ConfigMap> {
        self.lock()
            .get(name)
            .map(|e| e.config.clone())
            .ok_or_else(|| not_found(name))
    }

    fn target(&self, name: &str) -> Result<TargetState> {
        self.lock()
            .get(name)
            .map(|e| e.target)
            .ok_or_else(|| not_found(name))
    }

    fn kind(&self, name: &str) -> Result<ConnectorType> {
        self.lock()
            .get(name)
            .map(Entry::kind)
            .ok_or_else(|| not_found(name))
    }

    fn tasks(&self, name: &str) -> Result<Vec<TaskInfo>> {
        let connectors = self.lock();
        let entry = connectors.get(name).ok_or_else(|| not_found(name))?;
        let configs = entry
            .runner
            .as_ref()
            .map(ConnectorRunner::task_configs)
            .unwrap_or_default();
        Ok(TaskInfo::list(name, configs))
    }

    fn status(&self, name: &str) -> Result<StatusInfo> {
        let kind = self.kind(name)?;
        let status = self.worker.status.get(name);
        Ok(StatusInfo {
            name: name.to_string(),
            connector: status
                .as_ref()
                .map(|s| s.connector.clone())
                .unwrap_or_else(|| unassigned(self.worker.id())),
            tasks: status
                .map(|s| s.tasks)
                .unwrap_or_default()
                .into_iter()
                .map(|(id, status)| TaskStatusInfo { id, status })
                .collect(),
            kind,
        })
    }

    fn write_new(&self, name: &str, config: ConfigMap, initial: TargetState) -> Result<()> {
        let mut connectors = self.lock();
        if connectors.contains_key(name) {
            return Err(HerderError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        self.persist_with(&connectors, name, Some((config.clone(), initial)))?;
        let entry = self.start_entry(name, config, initial);
        connectors.insert(name.to_string(), entry);
        Ok(())
    }

    fn write_config(&self, name: &str, config: ConfigMap) -> Result<bool> {
        let plugin = self.worker.plugin_for(&config);
        let mut connectors = self.lock();
        let Some(entry) = connectors.get(name) else {
            self.persist_with(
                &connectors,
                name,
                Some((config.clone(), TargetState::Running)),
            )?;
            let entry = self.start_entry(name, config, TargetState::Running);
            connectors.insert(name.to_string(), entry);
            return Ok(true);
        };
        let target = entry.target;
        self.persist_with(&connectors, name, Some((config.clone(), target)))?;
        let entry = connectors.get_mut(name).expect("checked above");
        let same_plugin = match (&entry.plugin, &plugin) {
            (Some(old), Some(new)) => Arc::ptr_eq(old, new),
            _ => false,
        };
        entry.config = config.clone();
        if let (Some(runner), true) = (&entry.runner, same_plugin) {
            // Until the connector's thread has restarted it with the new config, say so: a
            // status read right after this answer must not show the old config's RUNNING.
            let board = &self.worker.status;
            if let Some(status) = board.get(name) {
                board.set_connector(name, status.kind, State::Restarting, None);
                for task in status.tasks.keys() {
                    board.set_task(name, *task, State::Restarting, None);
                }
            }
            runner.send(Command::Configure(config));
            return Ok(false);
        }
        // Another class, or it could not run before: a fresh thread for the new plugin, once
        // the old one is gone (they may share external resources such as client ids).
        let old = entry.runner.take();
        drop(connectors);
        if let Some(old) = old {
            old.shutdown();
        }
        let fresh = self.start_entry(name, config, target);
        if let Some(entry) = self.lock().get_mut(name) {
            *entry = fresh;
        }
        Ok(false)
    }

    fn set_target(&self, name: &str, target: TargetState) -> Result<()> {
        let mut connectors = self.lock();
        let entry = connectors.get(name).ok_or_else(|| not_found(name))?;
        self.persist_with(&connectors, name, Some((entry.config.clone(), target)))?;
        let entry = connectors.get_mut(name).expect("checked above");
        entry.target = target;
        if let Some(runner) = &entry.runner {
            runner.send(Command::Target(target));
        }
        Ok(())
    }

    fn request_restart(&self, name: &str, plan: &RestartPlan) -> Result<()> {
        // Mark what restarts before the connector thread acts, so a status read right after
        // this answer never shows the state from before the restart.
        let board = &self.worker.status;
        if plan.connector {
            board.set_connector(name, self.kind(name)?, State::Restarting, None);
        }
        for task in &plan.tasks {
            board.set_task(name, *task, State::Restarting, None);
        }
        self.send(
            name,
            Command::Restart {
                include_tasks: plan.include_tasks,
                only_failed: plan.only_failed,
            },
        )
    }

    fn request_task_restart(&self, name: &str, task: u32) -> Result<()> {
        self.worker
            .status
            .set_task(name, task, State::Restarting, None);
        self.send(name, Command::RestartTask(task))
    }

    fn delete(&self, name: &str) -> Result<()> {
        let entry = {
            let mut connectors = self.lock();
            if !connectors.contains_key(name) {
                return Err(not_found(name));
            }
            self.persist_with(&connectors, name, None)?;
            connectors.remove(name).expect("checked above")
        };
        if let Some(runner) = entry.runner {
            runner.shutdown();
        }
        self.worker.status.remove(name);
        self.worker.metrics.remove_connector(name);
        Ok(())
    }

    fn shutdown(&self) {
        let runners: Vec<ConnectorRunner> = self
            .lock()
            .values_mut()
            .filter_map(|e| e.runner.take())
            .collect();
        let stopping: Vec<_> = runners
            .into_iter()
            .map(|runner| std::thread::spawn(move || runner.shutdown()))
            .collect();
        for handle in stopping {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests;
