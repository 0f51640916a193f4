//! The sending side, common to every benchmark: how many messages at what pace, a readiness
//! probe before measuring, waiting for the stragglers, and the one JSON line of results.
//!
//! Two modes: throughput (`--messages N`, sent as fast as the client accepts them; the figure
//! is the delivered rate) and fixed rate (`--rate R --seconds T`, paced on absolute deadlines so
//! timer lateness never lowers the offered rate; the figures are the latency percentiles).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use tokio::time::Instant;

use crate::arrivals::{Latency, Progress, Received};
use crate::payload::{encode, encode_json, now_us, PROBE_BIT};
use crate::process::{round3, Cost, MachineCpu, Watch};
use crate::sentinel::SentinelReport;

/// How much load, shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Throughput mode: send this many messages as fast as possible.
    #[arg(long, default_value_t = 100_000)]
    pub messages: u64,
    /// Fixed-rate mode: offered load in messages per second (then --messages is ignored).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Fixed-rate mode: how long to send, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Message size in bytes (the connected cars' telemetry is about 600).
    #[arg(long, default_value_t = 600)]
    pub size: usize,
    /// After sending, give up waiting once nothing new arrived for this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub idle_s: f64,
    /// Longest wait for the readiness probe to come through, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub probe_timeout_s: f64,
    /// Send JSON objects instead of the binary stamp (for the transformation cases).
    #[arg(long)]
    pub json: bool,
    /// A name for this case, copied into the JSON.
    #[arg(long)]
    pub label: Option<String>,
    /// A process (the Ferry worker) whose CPU time and RSS are measured around the load.
    #[arg(long)]
    pub worker_pid: Option<u32>,
}

impl LoadArgs {
    /// Message `seq` of `run`, in the chosen format.
    pub fn payload(&self, run: u64, seq: u64) -> Vec<u8> {
        if self.json {
            encode_json(run, seq, self.size)
        } else {
            encode(run, seq, self.size)
        }
    }

    /// Messages to send in total.
    pub fn total(&self) -> u64 {
        match self.rate {
            Some(rate) => (rate * self.seconds).round().max(1.0) as u64,
            None => self.messages.max(1),
        }
    }

    fn mode(&self) -> &'static str {
        if self.rate.is_some() {
            "rate"
        } else {
            "throughput"
        }
    }
}

/// What the sender did.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub count: u64,
    /// When the first message was stamped, µs since the epoch.
    pub first_us: u64,
    /// When the last message was handed over.
    pub last_us: u64,
}

/// Sends messages `0..total` of `run` through `send`, paced when a rate is given.
pub async fn send_all<F, Fut>(load: &LoadArgs, run: u64, mut send: F) -> anyhow::Result<Sent>
where
    F: FnMut(u64, Vec<u8>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let total = load.total();
    let start = Instant::now();
    let first_us = now_us();
    for seq in 0..total {
        if let Some(rate) = load.rate {
            // Absolute deadlines: a late wake-up is followed by a short burst, so the offered
            // rate holds; the stamp is taken after the wait, so waiting never counts as latency.
            let due = start + Duration::from_secs_f64(seq as f64 / rate);
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
        }
        send(seq, load.payload(run, seq)).await?;
    }
    Ok(Sent {
        count: total,
        first_us,
        last_us: now_us(),
    })
}

/// A readiness probe that came through.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    /// From the first probe to the one seen at the far end.
    pub after: Duration,
    /// Probes sent (they are acknowledged too, and are not part of the measured counts).
    pub probes: u64,
}

/// Sends probes (every 250 ms) until one comes through, so that the measured run starts on a
/// pipeline whose subscriptions, consumer groups and connections are all in place.
pub async fn await_probe<F, Fut>(
    load: &LoadArgs,
    run: u64,
    progress: &Progress,
    mut send: F,
) -> anyhow::Result<Ready>
where
    F: FnMut(u64, Vec<u8>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let timeout = Duration::from_secs_f64(load.probe_timeout_s);
    for n in 0.. {
        send(n, load.payload(run, PROBE_BIT | n)).await?;
        let next = Instant::now() + Duration::from_millis(250);
        while Instant::now() < next {
            if progress.probe_seen.load(Ordering::Relaxed) {
                return Ok(Ready {
                    after: started.elapsed(),
                    probes: n + 1,
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if started.elapsed() > timeout {
            break;
        }
    }
    bail!("no probe came through within {timeout:?}: is the connector running and mapped to these topics?")
}

/// Waits until `target` distinct messages arrived, or nothing new came for `idle`.
pub async fn await_arrivals(progress: &Progress, target: u64, idle: Duration) {
    let mut last = progress.unique.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    while last < target && last_change.elapsed() < idle {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = progress.unique.load(Ordering::Relaxed);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
}

/// Starts measuring the worker, when one is named, and the whole machine's CPU.
pub fn watch_worker(load: &LoadArgs) -> anyhow::Result<CaseWatch> {
    Ok(CaseWatch {
        worker: load.worker_pid.map(Watch::start).transpose()?,
        machine: MachineCpu::now(),
    })
}

/// What a case measures besides its messages: the worker's cost and how busy the machine was.
pub struct CaseWatch {
    worker: Option<Watch>,
    machine: Option<MachineCpu>,
}

impl CaseWatch {
    /// The worker's cost, and the share of all cores busy (any process), since the start.
    pub fn finish(self) -> anyhow::Result<(Option<Cost>, Option<f64>)> {
        let worker = self.worker.map(Watch::finish).transpose()?;
        Ok((worker, self.machine.and_then(|m| m.busy_pct_since())))
    }
}

/// The one JSON line every load benchmark prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub bench: &'static str,
    pub label: Option<String>,
    /// Run id (hex), as in the payloads.
    pub run: String,
    /// `throughput` or `rate`.
    pub mode: &'static str,
    pub qos: Option<u8>,
    pub size: usize,
    pub offered_rate_per_s: Option<f64>,
    pub sent: u64,
    /// Acknowledged by the first hop (PUBACK from Mosquitto, delivery report from Kafka;
    /// at MQTT QoS 0: written to the socket).
    pub acknowledged: u64,
    /// Distinct messages that reached the far end.
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Messages at the far end that were not this run's.
    pub stray: u64,
    /// Sent messages per second (first stamp to last hand-over).
    pub send_rate_per_s: f64,
    /// The throughput: distinct messages received per second, from the first message sent to
    /// the last one received.
    pub rate_per_s: f64,
    /// Distinct messages received per second between the first and the last arrival.
    pub receive_window_rate_per_s: f64,
    pub latency_ms: Latency,
    /// The worst latency of the messages sent in each second (stalls show as spikes).
    pub worst_latency_ms_by_second: Vec<f64>,
    /// Time the readiness probe took (connections, subscriptions, consumer groups).
    pub ready_s: f64,
    pub elapsed_s: f64,
    pub worker: Option<WorkerCost>,
    /// Share of all cores busy while the case sent and waited (every process: brokers, this
    /// load generator, the worker), from /proc/stat. Near 100 the case measured the machine.
    pub machine_busy_pct: Option<f64>,
    /// Kafka's and Mosquitto's own latency in each second of the case (`--sentinels`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentinels: Option<SentinelReport>,
}

/// The worker's cost over the run.
#[derive(Debug, Serialize)]
pub struct WorkerCost {
    #[serde(flatten)]
    pub cost: Cost,
    /// CPU seconds per 10,000 messages received: at 10k msg/s, the cores the worker keeps busy.
    pub cpu_s_per_10k_msgs: Option<f64>,
}

/// Everything a report is made of.
pub struct Outcome {
    pub bench: &'static str,
    pub qos: Option<u8>,
    pub run: u64,
    pub sent: Sent,
    pub acknowledged: u64,
    pub received: Received,
    pub ready: Ready,
    pub started: Instant,
    pub worker: Option<Cost>,
    pub machine_busy_pct: Option<f64>,
}

impl Report {
    /// Turns counts and times into rates.
    pub fn new(load: &LoadArgs, outcome: Outcome) -> Self {
        let Outcome {
            bench,
            qos,
            run,
            sent,
            acknowledged,
            received,
            ready,
            started,
            worker,
            machine_busy_pct,
        } = outcome;
        let per_s = |count: u64, from_us: u64, to_us: Option<u64>| match to_us {
            Some(to) if to > from_us => round1(count as f64 * 1e6 / (to - from_us) as f64),
            _ => 0.0,
        };
        let worker = worker.map(|cost| WorkerCost {
            cpu_s_per_10k_msgs: (received.unique > 0)
                .then(|| round3(cost.cpu_s / (received.unique as f64 / 10_000.0))),
            cost,
        });
        Report {
            bench,
            label: load.label.clone(),
            run: format!("{run:016x}"),
            mode: load.mode(),
            qos,
            size: load.size,
            offered_rate_per_s: load.rate,
            sent: sent.count,
            acknowledged,
            received: received.unique,
            lost: sent.count.saturating_sub(received.unique),
            duplicates: received.duplicates,
            stray: received.stray,
            send_rate_per_s: per_s(sent.count, sent.first_us, Some(sent.last_us)),
            rate_per_s: per_s(received.unique, sent.first_us, received.last_us),
            receive_window_rate_per_s: match received.first_us {
                Some(first) => per_s(received.unique, first, received.last_us),
                None => 0.0,
            },
            latency_ms: received.latency_ms,
            worst_latency_ms_by_second: received.worst_ms_by_second,
            ready_s: round3(ready.after.as_secs_f64()),
            elapsed_s: round3(started.elapsed().as_secs_f64()),
            worker,
            machine_busy_pct,
            sentinels: None,
        }
    }

    /// The report with what the sentinels saw.
    pub fn with_sentinels(self, sentinels: Option<SentinelReport>) -> Self {
        Report { sentinels, ..self }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        load: LoadArgs,
    }

    #[test]
    fn rate_mode_sends_rate_times_seconds() {
        let cli = Cli::parse_from(["x", "--rate", "1000", "--seconds", "2.5"]);
        assert_eq!(cli.load.total(), 2500);
        assert_eq!(cli.load.mode(), "rate");
        let cli = Cli::parse_from(["x", "--messages", "7"]);
        assert_eq!((cli.load.total(), cli.load.mode()), (7, "throughput"));
    }

    #[tokio::test]
    async fn paces_on_absolute_deadlines() {
        let cli = Cli::parse_from(["x", "--rate", "2000", "--seconds", "0.1", "--size", "40"]);
        let mut seqs = Vec::new();
        let sent = send_all(&cli.load, 5, |seq, payload| {
            assert_eq!(payload.len(), 40);
            seqs.push(seq);
            async { Ok(()) }
        })
        .await
        .unwrap();
        assert_eq!(sent.count, 200);
        assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    }
}
