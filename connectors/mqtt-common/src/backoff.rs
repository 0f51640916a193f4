//! Waiting between reconnection attempts without delaying a stop.

use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};

/// Sleeps `duration`, but returns as soon as `stopping()` is true; `wake` is notified whenever
/// the answer may have changed.
pub async fn sleep_unless_stopped(duration: Duration, wake: &Notify, stopping: impl Fn() -> bool) {
    let until = Instant::now() + duration;
    while !stopping() && Instant::now() < until {
        tokio::select! {
            _ = sleep_until(until) => {}
            _ = wake.notified() => {}
        }
    }
}
