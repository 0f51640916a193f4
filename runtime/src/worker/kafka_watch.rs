//! Says in a task's status (`warning`) and metrics (`ferry_task_waiting_for_kafka`) when it
//! waits for Kafka, from a thread of its own: a task loop blocked in a Kafka call cannot report
//! on itself. The loops only note, in their counters, when Kafka last moved them on, what they
//! have in flight and when a blocking call began; this thread reads those every second.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::Worker;
use crate::metrics::{now_ms, TaskMetrics};
use crate::plugins::ConnectorType;

/// How long Kafka may leave a task without progress before its status says so.
pub const KAFKA_STALL_MS: u64 = 5_000;
/// A client error this recent, with no progress since, means the task waits for Kafka.
/// librdkafka reports a broker out of reach at each reconnection attempt (at least every
/// `reconnect.backoff.max.ms`, 10 s), so the warning clears this long after they stop.
const KAFKA_ERROR_WINDOW_MS: u64 = 15_000;
const EVERY: Duration = Duration::from_secs(1);

/// Starts the watch of every task of `worker`, for the life of the process.
pub fn spawn(worker: Arc<Worker>) {
    let started = std::thread::Builder::new()
        .name("kafka-watch".into())
        .spawn(move || loop {
            std::thread::sleep(EVERY);
            watch_once(&worker);
        });
    if let Err(error) = started {
        tracing::error!(%error, "cannot start the thread that reports tasks waiting for Kafka");
    }
}

fn watch_once(worker: &Worker) {
    for (connector, task, kind, metrics) in worker.metrics.tasks() {
        let why = waiting_for(kind, &metrics, now_ms());
        metrics
            .waiting_for_kafka
            .store(u64::from(why.is_some()), Ordering::Relaxed);
        let Some(status) = worker.status.get(&connector) else {
            continue;
        };
        let Some(current) = status.tasks.get(&task) else {
            continue;
        };
        if current.worker_id != worker.id() || current.warning.is_some() == why.is_some() {
            continue;
        }
        match &why {
            Some(why) => tracing::warn!(%connector, task, %why, "waiting for Kafka"),
            None => tracing::info!(%connector, task, "Kafka answers the task again"),
        }
        worker.status.set_task_warning(&connector, task, why);
    }
}

/// Why the task waits for Kafka at `now` (ms since the epoch), if it does.
fn waiting_for(kind: ConnectorType, metrics: &TaskMetrics, now: u64) -> Option<String> {
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let progress = load(&metrics.kafka_progress_ms);
    let quiet = now.saturating_sub(progress);
    match kind {
        ConnectorType::Source => {
            let in_flight = load(&metrics.in_flight);
            (in_flight > 0 && quiet >= KAFKA_STALL_MS).then(|| {
                format!(
                    "Kafka has answered none of the {in_flight} records in flight for {} s; they \
                     are not acknowledged upstream, so nothing is lost, and the producer keeps \
                     retrying",
                    quiet / 1000
                )
            })
        }
        ConnectorType::Sink => {
            let call = load(&metrics.kafka_call_since_ms);
            if call > 0 && now.saturating_sub(call) >= KAFKA_STALL_MS {
                return Some(format!(
                    "an offset commit has waited {} s for Kafka; records are not committed \
                     before Kafka takes them, so nothing is lost",
                    now.saturating_sub(call) / 1000
                ));
            }
            let error = load(&metrics.kafka_error_ms);
            (error > progress
                && now.saturating_sub(error) < KAFKA_ERROR_WINDOW_MS
                && quiet >= KAFKA_STALL_MS)
                .then(|| {
                    "Kafka is out of reach of the task's consumer, or refuses its offset \
                     commits; records wait in Kafka and offsets are committed once it answers, \
                     so nothing is lost"
                        .to_string()
                })
        }
        ConnectorType::Unknown => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_waits_while_records_in_flight_get_no_answer() {
        let metrics = TaskMetrics::default();
        metrics.kafka_progress_ms.store(10_000, Ordering::Relaxed);
        let at = |now| waiting_for(ConnectorType::Source, &metrics, now);
        assert_eq!(at(20_000), None, "nothing in flight, nothing waits");
        metrics.in_flight.store(12, Ordering::Relaxed);
        assert_eq!(at(14_000), None, "answered 4 s ago");
        assert!(at(15_000).is_some_and(|w| w.contains("12 records")));
    }

    #[test]
    fn a_sink_waits_on_a_blocked_commit_or_recent_errors_without_progress() {
        let metrics = TaskMetrics::default();
        metrics.kafka_progress_ms.store(10_000, Ordering::Relaxed);
        let at = |now| waiting_for(ConnectorType::Sink, &metrics, now);
        assert_eq!(
            at(60_000),
            None,
            "an idle sink without errors does not wait"
        );
        metrics.kafka_call_since_ms.store(50_000, Ordering::Relaxed);
        assert!(at(56_000).is_some_and(|w| w.contains("commit has waited 6 s")));
        metrics.kafka_call_since_ms.store(0, Ordering::Relaxed);
        metrics.kafka_error_ms.store(55_000, Ordering::Relaxed);
        assert!(at(60_000).is_some_and(|w| w.contains("out of reach")));
        assert_eq!(at(71_000), None, "no error for 16 s: Kafka answers again");
        metrics.kafka_progress_ms.store(58_000, Ordering::Relaxed);
        assert_eq!(at(60_000), None, "progress after the error");
    }
}
