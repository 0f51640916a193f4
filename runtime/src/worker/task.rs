//! A task's thread: runs the source or sink loop, reports its state, and restarts it with
//! exponential backoff when it fails (on by default; Kafka Connect leaves failed tasks failed).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferry_api::ConfigMap;

use super::control::{TaskControl, TaskTarget};
use super::Worker;
use crate::config::ConnectorKeys;
use crate::metrics::TaskMetrics;
use crate::plugins::{ConnectorType, Plugin};
use crate::status::State;

/// A failure ran for longer than this counts as a fresh start: the backoff resets.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Everything needed to (re)start one task.
#[derive(Clone)]
pub struct TaskSpec {
    /// The connector's name.
    pub connector: String,
    /// The task's number.
    pub task: u32,
    /// The connector's plugin.
    pub plugin: Arc<Plugin>,
    /// The runtime keys of the connector's configuration (converters, topics, errors.*,
    /// overrides), parsed once, config providers resolved.
    pub keys: ConnectorKeys,
    /// The task's configuration from the connector, config providers resolved.
    pub task_config: ConfigMap,
}

/// What a running task reports while it runs.
pub struct TaskReporter {
    context: Arc<Worker>,
    /// The connector's name.
    pub connector: String,
    task: u32,
    /// The task's counters.
    pub metrics: Arc<TaskMetrics>,
}

impl TaskReporter {
    /// The reporter of task `task` of `connector`.
    pub(crate) fn new(
        context: Arc<Worker>,
        connector: &str,
        task: u32,
        metrics: Arc<TaskMetrics>,
    ) -> Self {
        TaskReporter {
            context,
            connector: connector.to_string(),
            task,
            metrics,
        }
    }

    /// Reports a state.
    pub fn state(&self, state: State) {
        self.context
            .status
            .set_task(&self.connector, self.task, state, None);
    }
}

/// A running task thread.
pub struct TaskHandle {
    control: Arc<TaskControl>,
    thread: Option<JoinHandle<()>>,
}

impl TaskHandle {
    /// Changes what the task should be doing.
    pub fn set_target(&self, target: TaskTarget) {
        self.control.set(target);
    }

    /// Asks the task to stop and waits for its thread to end, at most `timeout`; a task that
    /// does not end in time is abandoned (its thread finishes on its own, or with the process).
    pub fn stop(mut self, timeout: Duration) {
        self.control.set(TaskTarget::Stopping);
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = Instant::now() + timeout;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            tracing::warn!(
                ?timeout,
                "task did not stop within task.shutdown.graceful.timeout.ms; abandoning its thread"
            );
        }
    }
}

/// Starts a task thread in `target` state.
pub fn spawn(context: Arc<Worker>, spec: TaskSpec, target: TaskTarget) -> TaskHandle {
    let control = Arc::new(TaskControl::new(target));
    let thread_control = control.clone();
    let name = format!("task-{}-{}", spec.connector, spec.task);
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || run_with_restarts(context, spec, thread_control))
        .expect("spawning a task thread");
    TaskHandle {
        control,
        thread: Some(thread),
    }
}

fn run_with_restarts(context: Arc<Worker>, spec: TaskSpec, control: Arc<TaskControl>) {
    let span = tracing::info_span!("task", connector = %spec.connector, task = spec.task);
    let _entered = span.enter();
    let metrics = context
        .metrics
        .task(&spec.connector, spec.task, spec.plugin.kind);
    let reporter = TaskReporter::new(context.clone(), &spec.connector, spec.task, metrics);
    let config = &context.config;
    let mut backoff = config.task_restart_backoff_initial;
    loop {
        let started = Instant::now();
        reporter.metrics.run_started();
        let outcome = match spec.plugin.kind {
            ConnectorType::Source => super::source::run(&context, &spec, &control, &reporter),
            ConnectorType::Sink => super::sink::run(&context, &spec, &control, &reporter),
            ConnectorType::Unknown => Err("the connector's plugin is not loaded".to_string()),
        };
        let Err(trace) = outcome else {
            tracing::info!("task stopped");
            return;
        };
        TaskMetrics::add(&reporter.metrics.errors, 1);
        tracing::error!(error = %trace, "task failed");
        context
            .status
            .set_task(&spec.connector, spec.task, State::Failed, Some(trace));
        if control.stopping() {
            return;
        }
        if !config.task_restart_enabled {
            // Stay FAILED until the herder stops or restarts this task.
            while !control.stopping() {
                control.wait_while(control.target(), Duration::from_secs(1));
            }
            return;
        }
        if started.elapsed() > HEALTHY_RUN {
            backoff = config.task_restart_backoff_initial;
        }
        tracing::info!(?backoff, "restarting the failed task after a backoff");
        let deadline = Instant::now() + backoff;
        while Instant::now() < deadline && !control.stopping() {
            control.wait_while(control.target(), deadline - Instant::now());
        }
        if control.stopping() {
            return;
        }
        backoff = (backoff * 2).min(config.task_restart_backoff_max);
        TaskMetrics::add(&reporter.metrics.restarts, 1);
        reporter.state(State::Restarting);
    }
}
