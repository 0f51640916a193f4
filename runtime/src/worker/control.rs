//! What a task thread is told to do: run, pause or stop. Set by the herder, read by the thread.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// The state the herder wants a task in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskTarget {
    /// Move records.
    Running,
    /// Keep resources, move nothing.
    Paused,
    /// Deliver what is in flight, commit, release everything and end the thread.
    Stopping,
}

/// A task's target state with a way to sleep until it changes.
#[derive(Debug)]
pub struct TaskControl {
    target: Mutex<TaskTarget>,
    changed: Condvar,
}

impl TaskControl {
    /// Starts in `target`.
    pub fn new(target: TaskTarget) -> Self {
        TaskControl {
            target: Mutex::new(target),
            changed: Condvar::new(),
        }
    }

    /// The current target.
    pub fn target(&self) -> TaskTarget {
        *self.target.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the target and wakes a thread waiting on it. Stopping is final.
    pub fn set(&self, target: TaskTarget) {
        let mut current = self.target.lock().unwrap_or_else(|e| e.into_inner());
        if *current != TaskTarget::Stopping {
            *current = target;
        }
        self.changed.notify_all();
    }

    /// Sleeps up to `timeout` or until the target differs from `from`; returns the target.
    pub fn wait_while(&self, from: TaskTarget, timeout: Duration) -> TaskTarget {
        let guard = self.target.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |t| *t == from)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }

    /// True once the task was told to stop.
    pub fn stopping(&self) -> bool {
        self.target() == TaskTarget::Stopping
    }
}
