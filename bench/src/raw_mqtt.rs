//! Limit 1 (MQTT): a minimal rumqttc publisher → Mosquitto → a minimal rumqttc subscriber on
//! another connection. What Ferry's MQTT side is compared with.

use std::time::Duration;

use clap::Args;
use tokio::time::Instant;

use crate::arrivals::Arrivals;
use crate::load::{await_arrivals, await_probe, send_all, watch_worker, LoadArgs, Outcome, Report};
use crate::mqtt::{qos, MqttArgs, Publisher, Subscription};
use crate::payload::new_run_id;

/// `ferry-bench raw-mqtt`.
#[derive(Debug, Clone, Args)]
pub struct RawMqttArgs {
    #[command(flatten)]
    pub mqtt: MqttArgs,
    /// QoS of publisher and subscription: 0 or 1.
    #[arg(long, default_value_t = 1)]
    pub qos: u8,
    /// Topic to use; default `ferry-bench/raw/<run>` (unique per invocation).
    #[arg(long)]
    pub topic: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Runs the case and returns its report.
pub async fn run(args: RawMqttArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let run = new_run_id();
    let level = qos(args.qos)?;
    let load = &args.load;
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| format!("ferry-bench/raw/{run:016x}"));
    let subscription = Subscription::start(
        &args.mqtt,
        &format!("ferry-bench-sub-{run:016x}"),
        &topic,
        level,
        Arrivals::new(run, load.total()),
    )
    .await?;
    let progress = subscription.progress();
    let publisher =
        Publisher::connect(&args.mqtt, &format!("ferry-bench-pub-{run:016x}"), level).await?;
    let publish = |_: u64, payload: Vec<u8>| publisher.publish(topic.clone(), payload);
    let ready = await_probe(load, run, &progress, publish).await?;
    let watch = watch_worker(load)?;
    let sent = send_all(load, run, publish).await?;
    await_arrivals(&progress, sent.count, Duration::from_secs_f64(load.idle_s)).await;
    let (worker, machine_busy_pct) = watch.finish()?;
    let acknowledged = publisher
        .close(sent.count + ready.probes, Duration::from_secs(5))
        .await
        .saturating_sub(ready.probes);
    let received = subscription.finish().await?.finish();
    Ok(Report::new(
        load,
        Outcome {
            bench: "raw-mqtt",
            qos: Some(args.qos),
            run,
            sent,
            acknowledged,
            received,
            ready,
            started,
            worker,
            machine_busy_pct,
        },
    ))
}
