//! Bridges the connector library's `tracing` events to the worker's log.
//!
//! A `cdylib` carries its own copy of `tracing`'s globals, so without this bridge a connector's
//! events would go nowhere. At load the worker calls [`init`] with a log callback; from then on
//! each event, formatted with its spans (the export glue opens none; connectors may), is handed to
//! the worker, which prints it inside the span of the task thread that made the call, so the
//! connector and task are named.
#![allow(unsafe_code)]

use std::io::Write;
use std::sync::OnceLock;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::abi::{FfiHost, FfiSlice};

static HOST: OnceLock<FfiHost> = OnceLock::new();

/// Called once by the worker right after loading the library.
///
/// # Safety
/// `host` must point to a valid [`FfiHost`]; it is copied.
pub(crate) unsafe extern "C" fn init(host: *const FfiHost) {
    // SAFETY: guaranteed by the caller.
    let Some(host) = (unsafe { host.as_ref() }).copied() else {
        return;
    };
    if HOST.set(host).is_err() {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        let max_level = match host.max_level {
            0 | 1 => tracing_subscriber::filter::LevelFilter::ERROR,
            2 => tracing_subscriber::filter::LevelFilter::WARN,
            3 => tracing_subscriber::filter::LevelFilter::INFO,
            4 => tracing_subscriber::filter::LevelFilter::DEBUG,
            _ => tracing_subscriber::filter::LevelFilter::TRACE,
        };
        let _ = tracing_subscriber::fmt()
            .with_max_level(max_level)
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_ansi(false)
            .with_writer(HostLog)
            .finish()
            .try_init();
        // The default hook writes to stderr, outside the worker's log; keep the location and
        // message in the log instead. The panic itself is still caught at the boundary.
        std::panic::set_hook(Box::new(|info| {
            tracing::error!("{info}");
        }));
    });
}

/// Hands each formatted event to the worker's log callback.
struct HostLog;

/// One event's text, sent when the formatter drops it.
struct HostLine {
    level: u8,
    target: String,
    text: Vec<u8>,
}

impl<'a> MakeWriter<'a> for HostLog {
    type Writer = HostLine;

    fn make_writer(&'a self) -> HostLine {
        HostLine {
            level: 3,
            target: "plugin".to_string(),
            text: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> HostLine {
        let level = match *meta.level() {
            Level::ERROR => 1,
            Level::WARN => 2,
            Level::INFO => 3,
            Level::DEBUG => 4,
            Level::TRACE => 5,
        };
        HostLine {
            level,
            target: meta.target().to_string(),
            text: Vec::new(),
        }
    }
}

impl Write for HostLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for HostLine {
    fn drop(&mut self) {
        let text = self.text.trim_ascii_end();
        if text.is_empty() {
            return;
        }
        if let Some(host) = HOST.get() {
            // SAFETY: both slices are borrowed for the call; the worker copies them.
            unsafe {
                (host.log)(
                    self.level,
                    FfiSlice::new(self.target.as_bytes()),
                    FfiSlice::new(text),
                )
            };
        }
    }
}
