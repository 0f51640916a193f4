//! The worker's side of a connector's context: handles instead of pointers.
//!
//! A connector may keep its context on a thread of its own and call it at any time, also after the
//! worker stopped and freed the connector. So the plugin never holds a pointer into the worker:
//! it holds an opaque handle, and each callback looks the handle up here. [`Registration`] is the
//! connector instance's entry; while it is absent (stopped, or dropped) the callbacks answer
//! [`STATUS_STOPPED`] and touch nothing. Handles are never reused, so a stale one cannot reach
//! another connector.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ferry_api::abi::{FfiSlice, HostConnectorContext, STATUS_OK, STATUS_PANIC, STATUS_STOPPED};

use super::ConnectorEvents;

/// The connectors whose contexts are valid now, by handle.
static LIVE: Mutex<BTreeMap<u64, Arc<dyn ConnectorEvents>>> = Mutex::new(BTreeMap::new());
/// The next handle; 0 is never handed out.
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

fn live() -> MutexGuard<'static, BTreeMap<u64, Arc<dyn ConnectorEvents>>> {
    // The map stays consistent whatever panicked while it was locked: inserts and removes only.
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// One connector instance's context. Valid while registered; dropping it revokes it for good.
pub(super) struct Registration {
    handle: u64,
    events: Arc<dyn ConnectorEvents>,
}

impl Registration {
    /// A new, valid context delivering to `events`.
    pub(super) fn new(events: Arc<dyn ConnectorEvents>) -> Self {
        let registration = Registration {
            handle: NEXT_HANDLE.fetch_add(1, Ordering::Relaxed),
            events,
        };
        registration.activate();
        registration
    }

    /// What the plugin gets: the handle and the callbacks.
    pub(super) fn host_context(&self) -> HostConnectorContext {
        HostConnectorContext {
            handle: self.handle,
            request_task_reconfiguration: on_request_reconfiguration,
            raise_error: on_raise_error,
        }
    }

    /// Makes the context reach `events` (again, when the connector is restarted).
    pub(super) fn activate(&self) {
        live().insert(self.handle, self.events.clone());
    }

    /// From now on, calls through this context fail and do nothing.
    pub(super) fn revoke(&self) {
        live().remove(&self.handle);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.revoke();
    }
}

/// The events behind `handle`, if its connector is live. The lock is released before the events
/// are called, so a callback never waits for, or blocks, another connector's.
fn events_of(handle: u64) -> Option<Arc<dyn ConnectorEvents>> {
    live().get(&handle).cloned()
}

/// Runs `deliver` on the events behind `handle`. A panic in the worker's own handler becomes a
/// status: unwinding out of an `extern "C"` function would abort the worker.
fn deliver(handle: u64, deliver: impl FnOnce(&dyn ConnectorEvents)) -> i32 {
    let Some(events) = events_of(handle) else {
        return STATUS_STOPPED;
    };
    match catch_unwind(AssertUnwindSafe(|| deliver(&*events))) {
        Ok(()) => STATUS_OK,
        Err(_) => STATUS_PANIC,
    }
}

extern "C" fn on_request_reconfiguration(handle: u64) -> i32 {
    deliver(handle, |events| events.request_task_reconfiguration())
}

/// # Safety
/// `message` must be valid for the call.
unsafe extern "C" fn on_raise_error(handle: u64, message: FfiSlice) -> i32 {
    // SAFETY: guaranteed by the caller; the bytes are copied here, before anything else.
    let message = unsafe { message.to_string_lossy() };
    deliver(handle, |events| events.raise_error(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[derive(Default)]
    struct Counting {
        reconfigurations: AtomicUsize,
        errors: Mutex<Vec<String>>,
    }

    impl ConnectorEvents for Counting {
        fn request_task_reconfiguration(&self) {
            self.reconfigurations.fetch_add(1, Ordering::Relaxed);
        }
        fn raise_error(&self, message: String) {
            self.errors.lock().unwrap().push(message);
        }
    }

    fn raise(context: &HostConnectorContext, message: &str) -> i32 {
        // SAFETY: the message lives for the call.
        unsafe { (context.raise_error)(context.handle, FfiSlice::new(message.as_bytes())) }
    }

    #[test]
    fn a_context_reaches_its_connector_until_revoked_or_dropped() {
        let events = Arc::new(Counting::default());
        let registration = Registration::new(events.clone());
        let context = registration.host_context();

        assert_eq!(
            (context.request_task_reconfiguration)(context.handle),
            STATUS_OK
        );
        assert_eq!(raise(&context, "lost the upstream"), STATUS_OK);
        registration.revoke();
        assert_eq!(
            (context.request_task_reconfiguration)(context.handle),
            STATUS_STOPPED
        );
        registration.activate();
        assert_eq!(
            (context.request_task_reconfiguration)(context.handle),
            STATUS_OK
        );
        drop(registration);
        assert_eq!(
            (context.request_task_reconfiguration)(context.handle),
            STATUS_STOPPED
        );
        assert_eq!(raise(&context, "after the end"), STATUS_STOPPED);

        assert_eq!(events.reconfigurations.load(Ordering::Relaxed), 2);
        assert_eq!(*events.errors.lock().unwrap(), ["lost the upstream"]);
    }

    #[test]
    fn unknown_handles_and_panicking_handlers_are_statuses() {
        assert_eq!(on_request_reconfiguration(0), STATUS_STOPPED);
        assert_eq!(on_request_reconfiguration(u64::MAX), STATUS_STOPPED);

        struct Panicking;
        impl ConnectorEvents for Panicking {
            fn request_task_reconfiguration(&self) {
                panic!("the handler broke");
            }
            fn raise_error(&self, _: String) {}
        }
        let registration = Registration::new(Arc::new(Panicking));
        let context = registration.host_context();
        assert_eq!(
            (context.request_task_reconfiguration)(context.handle),
            STATUS_PANIC
        );
    }
}
