//! A connector instance on a thread of its own, every call into it bounded in time.
//!
//! A connector's `start`, `task_configs` and `stop` are the connector author's code: they may
//! block on the network or hang. Each runs on the instance's own thread, and the caller (a REST
//! request in standalone mode, the cluster thread in distributed mode) waits at most
//! `connector.call.timeout.ms`. Past it the call is reported as timed out (the herder marks the
//! connector FAILED with a trace naming the setting) and the caller goes on. The instance and
//! its thread are then abandoned: if the call ever returns, the thread stops the connector and
//! frees it.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use ferry_api::{ConfigMap, ConnectError};

use crate::config::{resolve_config, ConfigError};
use crate::plugins::{ConnectorEvents, ConnectorInstance, Plugin};

/// Why a call into a connector did not succeed; the text is the trace shown in its status.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorCallError {
    /// The connector's config references a secret that cannot be resolved.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The connector returned an error, or panicked (caught at the plugin boundary).
    #[error("connector {call} failed: {source}")]
    Failed {
        /// Which call.
        call: &'static str,
        /// The connector's error.
        source: ConnectError,
    },
    /// The call did not return in time.
    #[error("connector {call} did not return within {timeout:?} (connector.call.timeout.ms); the worker went on without it: fix the connector, then restart it")]
    TimedOut {
        /// Which call.
        call: &'static str,
        /// `connector.call.timeout.ms`.
        timeout: Duration,
    },
    /// An earlier call timed out, so the instance is gone.
    #[error("connector {call} was not called: an earlier call did not return in time; restart the connector")]
    Abandoned {
        /// Which call.
        call: &'static str,
    },
}

/// A call for the instance's thread; `true` when it stopped the connector.
type Call = Box<dyn FnOnce(&mut ConnectorInstance) -> bool + Send>;

/// A started connector instance.
pub struct ConnectorHandle {
    calls: Option<Sender<Call>>,
    timeout: Duration,
}

impl std::fmt::Debug for ConnectorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorHandle")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ConnectorHandle {
    /// Creates connector `name` of `plugin` on its own thread and starts it with `config`
    /// (config provider references resolved for the connector only).
    pub fn start(
        plugin: Arc<Plugin>,
        name: &str,
        events: Arc<dyn ConnectorEvents>,
        config: &ConfigMap,
        timeout: Duration,
    ) -> Result<ConnectorHandle, ConnectorCallError> {
        let config = resolve_config(config)?;
        let (calls, receiver) = mpsc::channel::<Call>();
        let (started, outcome) = mpsc::channel();
        let thread_name = format!("connector-{name}");
        let name = name.to_string();
        let spawned = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                let created = ConnectorInstance::new(plugin, &name, events)
                    .and_then(|mut instance| instance.start(&config).map(|()| instance));
                match created {
                    Ok(instance) => {
                        let _ = started.send(Ok(()));
                        serve(instance, receiver);
                    }
                    Err(error) => {
                        let _ = started.send(Err(error));
                    }
                }
            });
        if let Err(error) = spawned {
            return Err(ConnectorCallError::Failed {
                call: "start",
                source: ConnectError::fatal(format!("cannot start a thread for it: {error}")),
            });
        }
        match outcome.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(ConnectorHandle {
                calls: Some(calls),
                timeout,
            }),
            Ok(Err(source)) => Err(ConnectorCallError::Failed {
                call: "start",
                source,
            }),
            Err(_) => Err(ConnectorCallError::TimedOut {
                call: "start",
                timeout,
            }),
        }
    }

    /// Runs `work` on the instance's thread and waits for it, at most the call timeout;
    /// `stops` says that `work` stops the connector.
    fn call<T: Send + 'static>(
        &mut self,
        call: &'static str,
        stops: bool,
        work: impl FnOnce(&mut ConnectorInstance) -> Result<T, ConnectError> + Send + 'static,
    ) -> Result<T, ConnectorCallError> {
        let Some(calls) = &self.calls else {
            return Err(ConnectorCallError::Abandoned { call });
        };
        let (done, outcome) = mpsc::channel();
        let sent = calls.send(Box::new(move |instance: &mut ConnectorInstance| {
            let _ = done.send(work(instance));
            stops
        }));
        if sent.is_err() {
            self.calls = None;
            return Err(ConnectorCallError::Abandoned { call });
        }
        match outcome.recv_timeout(self.timeout) {
            Ok(result) => result.map_err(|source| ConnectorCallError::Failed { call, source }),
            Err(_) => {
                // The thread is stuck in the connector: never queue anything behind it.
                self.calls = None;
                Err(ConnectorCallError::TimedOut {
                    call,
                    timeout: self.timeout,
                })
            }
        }
    }

    /// Asks for at most `max_tasks` task configurations.
    pub fn task_configs(&mut self, max_tasks: u32) -> Result<Vec<ConfigMap>, ConnectorCallError> {
        self.call("task_configs", false, move |instance| {
            instance.task_configs(max_tasks)
        })
    }

    /// Stops the connector; its thread then frees the instance and ends.
    pub fn stop(mut self) -> Result<(), ConnectorCallError> {
        let stopped = self.call("stop", true, |instance| instance.stop());
        self.calls = None;
        stopped
    }
}

/// The instance's thread: runs calls in order until one stops the connector, then frees it.
/// When the handle went away without a stop (a start that returned after its timeout, or a
/// call after which nothing was queued), the connector is stopped here before it is freed, so
/// it can release what it holds.
fn serve(mut instance: ConnectorInstance, calls: Receiver<Call>) {
    while let Ok(call) = calls.recv() {
        if call(&mut instance) {
            return;
        }
    }
    match instance.stop() {
        Ok(()) => tracing::info!(
            "stopped a connector that was abandoned (a call of it returned after connector.call.timeout.ms)"
        ),
        Err(error) => tracing::warn!(%error, "stopping an abandoned connector failed"),
    }
}
