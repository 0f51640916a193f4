//! Counters and latency samples shared by the fleet, the analytics step and the summary.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A set of `(car, seq)` seen, with duplicates counted and latencies sampled.
#[derive(Default)]
pub struct Tally {
    seen: Mutex<HashSet<(String, u64)>>,
    duplicates: AtomicU64,
    latencies_ms: Samples,
}

/// Latency samples in milliseconds.
#[derive(Default)]
pub struct Samples(Mutex<Vec<u64>>);

impl Samples {
    /// Adds one.
    pub fn push(&self, latency_ms: u64) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(latency_ms);
    }

    /// p50, p99 and max (zeros when empty).
    pub fn percentiles(&self) -> Percentiles {
        let mut samples = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        samples.sort_unstable();
        let at = |q: f64| {
            if samples.is_empty() {
                0
            } else {
                samples[((samples.len() - 1) as f64 * q).round() as usize]
            }
        };
        Percentiles {
            p50: at(0.50),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or(0),
        }
    }
}

impl Tally {
    /// Records one arrival; returns false for a duplicate.
    pub fn record(&self, car: &str, seq: u64, latency_ms: u64) -> bool {
        let fresh = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((car.to_string(), seq));
        if fresh {
            self.latencies_ms.push(latency_ms);
        } else {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        fresh
    }

    /// Distinct arrivals.
    pub fn unique(&self) -> u64 {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    /// Repeated arrivals.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Whether `(car, seq)` arrived.
    pub fn contains(&self, car: &str, seq: u64) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(car.to_string(), seq))
    }

    /// p50, p99 and max latency in ms (zeros when empty).
    pub fn percentiles(&self) -> Percentiles {
        self.latencies_ms.percentiles()
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {} ms, p99 {} ms, max {} ms",
            self.p50, self.p99, self.max
        )
    }
}

/// A counter.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
