//! Limit 1 (Kafka): the librdkafka producer with `acks=all` and idempotence, the settings of
//! Ferry's own source producer, on the same message size. A message counts once Kafka
//! acknowledged it; its latency is stamp to delivery report.

use std::time::Duration;

use clap::Args;
use tokio::time::Instant;

use crate::arrivals::Arrivals;
use crate::kafka::{ensure_topic, KafkaArgs, Producer};
use crate::load::{await_probe, send_all, watch_worker, LoadArgs, Outcome, Report};
use crate::payload::new_run_id;

/// `ferry-bench raw-kafka`.
#[derive(Debug, Clone, Args)]
pub struct RawKafkaArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Topic to produce to; default `ferry-bench-raw-<run>` (created with --partitions).
    #[arg(long)]
    pub topic: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Runs the case and returns its report.
pub async fn run(args: RawKafkaArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let run = new_run_id();
    let load = &args.load;
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| format!("ferry-bench-raw-{run:016x}"));
    ensure_topic(&args.kafka, &topic).await?;
    let producer = Producer::new(&args.kafka, Some(Arrivals::new(run, load.total())))?;
    let progress = producer.progress().unwrap_or_default();
    let (producer_ref, topic_ref) = (&producer, topic.as_str());
    let produce = move |_: u64, payload: Vec<u8>| async move {
        producer_ref.send(topic_ref, None, &payload).await
    };
    let ready = await_probe(load, run, &progress, produce).await?;
    let watch = watch_worker(load)?;
    let sent = send_all(load, run, produce).await?;
    let idle = Duration::from_secs_f64(load.idle_s);
    let (ok, _failed) = producer.settle(sent.count + ready.probes, idle).await;
    let (worker, machine_busy_pct) = watch.finish()?;
    let received = producer
        .take_arrivals()
        .map(Arrivals::finish)
        .unwrap_or_else(|| Arrivals::new(run, 0).finish());
    Ok(Report::new(
        load,
        Outcome {
            bench: "raw-kafka",
            qos: None,
            run,
            sent,
            acknowledged: ok.saturating_sub(ready.probes),
            received,
            ready,
            started,
            worker,
            machine_busy_pct,
        },
    ))
}
