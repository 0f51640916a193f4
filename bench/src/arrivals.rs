//! The receiving side's tally: which sequence numbers arrived, how often, and how late.
//!
//! One receiver thread or task owns an `Arrivals`; the sender watches its `Progress` (two
//! atomics) to know when everything arrived or when the probe came through.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::payload::{decode, now_us};

/// What the sender may watch while the receiver counts.
#[derive(Debug, Default)]
pub struct Progress {
    /// Distinct measured messages received so far.
    pub unique: AtomicU64,
    /// Whether a readiness probe of this run has come through.
    pub probe_seen: AtomicBool,
}

/// Messages of one run seen by one receiver.
#[derive(Debug)]
pub struct Arrivals {
    run: u64,
    expected: u64,
    seen: Vec<u64>,
    unique: u64,
    duplicates: u64,
    stray: u64,
    latencies_us: Vec<u32>,
    /// Worst latency of the messages sent in each second since `created_us`: shows whether a
    /// high p99 is a steady state or one stall.
    worst_by_second_us: Vec<u32>,
    created_us: u64,
    first_us: Option<u64>,
    last_us: Option<u64>,
    progress: Arc<Progress>,
}

impl Arrivals {
    /// A tally for messages `0..expected` of `run`.
    pub fn new(run: u64, expected: u64) -> Self {
        Self::counting_seconds_from(run, expected, now_us())
    }

    /// Like [`Arrivals::new`], its worst-by-second figures counted from `origin_us`, so that
    /// tallies of one case line up second for second.
    pub fn counting_seconds_from(run: u64, expected: u64, origin_us: u64) -> Self {
        Arrivals {
            run,
            expected,
            seen: vec![0; expected.div_ceil(64) as usize],
            unique: 0,
            duplicates: 0,
            stray: 0,
            latencies_us: Vec::with_capacity(expected.min(10_000_000) as usize),
            worst_by_second_us: Vec::new(),
            created_us: origin_us,
            first_us: None,
            last_us: None,
            progress: Arc::new(Progress::default()),
        }
    }

    /// Where its seconds count from, µs since the epoch.
    pub fn origin_us(&self) -> u64 {
        self.created_us
    }

    /// The atomics the sender watches.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Counts one received payload, timed now.
    pub fn record(&mut self, payload: &[u8]) {
        let now = now_us();
        let Some(stamp) = decode(payload).filter(|s| s.run == self.run) else {
            self.stray += 1;
            return;
        };
        if stamp.is_probe() {
            self.progress.probe_seen.store(true, Ordering::Relaxed);
            return;
        }
        if stamp.seq >= self.expected {
            self.stray += 1;
            return;
        }
        let (word, bit) = ((stamp.seq / 64) as usize, 1u64 << (stamp.seq % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= bit;
        self.unique += 1;
        let latency = now.saturating_sub(stamp.sent_us).min(u64::from(u32::MAX)) as u32;
        self.latencies_us.push(latency);
        // Bounded: a stamp from the future or far past (a broken clock) lands in the last slot.
        let second =
            (stamp.sent_us.saturating_sub(self.created_us) / 1_000_000).min(86_400) as usize;
        if self.worst_by_second_us.len() <= second {
            self.worst_by_second_us.resize(second + 1, 0);
        }
        self.worst_by_second_us[second] = self.worst_by_second_us[second].max(latency);
        self.first_us.get_or_insert(now);
        self.last_us = Some(now);
        self.progress.unique.store(self.unique, Ordering::Relaxed);
    }

    /// The final figures.
    pub fn finish(mut self) -> Received {
        self.latencies_us.sort_unstable();
        Received {
            unique: self.unique,
            duplicates: self.duplicates,
            stray: self.stray,
            first_us: self.first_us,
            last_us: self.last_us,
            latency_ms: Latency::of_sorted(&self.latencies_us),
            worst_ms_by_second: self.worst_by_second_us.into_iter().map(ms).collect(),
        }
    }
}

/// What a receiver saw, once it stopped.
#[derive(Debug, Clone)]
pub struct Received {
    /// Distinct measured messages.
    pub unique: u64,
    /// Measured messages that arrived more than once (each repeat counted).
    pub duplicates: u64,
    /// Messages that were not this run's (foreign, earlier runs, out of range).
    pub stray: u64,
    /// When the first and last distinct message arrived, µs since the epoch.
    pub first_us: Option<u64>,
    pub last_us: Option<u64>,
    /// Send-to-receive latency of the distinct messages.
    pub latency_ms: Latency,
    /// The worst latency among the messages sent in each second of the run.
    pub worst_ms_by_second: Vec<f64>,
}

/// Latency percentiles in milliseconds (zeros when nothing arrived).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// Nearest-rank percentiles of ascending µs samples.
    pub fn of_sorted(samples_us: &[u32]) -> Self {
        let at = |q: f64| match samples_us.len() {
            0 => 0.0,
            n => ms(samples_us[((n - 1) as f64 * q).round() as usize]),
        };
        Latency {
            p50: at(0.50),
            p99: at(0.99),
            max: samples_us.last().copied().map(ms).unwrap_or(0.0),
        }
    }
}

/// µs to ms, rounded to 0.01 ms so the JSON stays readable.
fn ms(us: u32) -> f64 {
    (f64::from(us) / 10.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{encode, PROBE_BIT};

    #[test]
    fn counts_unique_duplicates_strays_and_probes() {
        let mut arrivals = Arrivals::new(9, 3);
        let progress = arrivals.progress();
        arrivals.record(&encode(9, 0, 64));
        arrivals.record(&encode(9, 0, 64));
        arrivals.record(&encode(9, 2, 64));
        arrivals.record(&encode(9, 3, 64)); // beyond the run
        arrivals.record(&encode(8, 1, 64)); // another run
        arrivals.record(b"not ours");
        arrivals.record(&encode(9, PROBE_BIT, 64));
        assert!(progress.probe_seen.load(Ordering::Relaxed));
        assert_eq!(progress.unique.load(Ordering::Relaxed), 2);
        let received = arrivals.finish();
        assert_eq!(
            (received.unique, received.duplicates, received.stray),
            (2, 1, 3)
        );
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        let latency = Latency::of_sorted(&samples);
        assert_eq!(latency.p50, 51.0);
        assert_eq!(latency.p99, 99.0);
        assert_eq!(latency.max, 100.0);
        assert_eq!(Latency::of_sorted(&[]), Latency::default());
    }
}
