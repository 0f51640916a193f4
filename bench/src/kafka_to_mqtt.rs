//! Kafka → MQTT through Ferry: numbered, stamped records are produced to a Kafka topic that a
//! running MQTT sink connector routes to MQTT, where a subscriber counts them. Start the worker
//! and the connector first (bench/run does).

use std::time::Duration;

use clap::Args;
use tokio::time::Instant;

use crate::arrivals::Arrivals;
use crate::kafka::{ensure_topic, KafkaArgs, Producer};
use crate::load::{await_arrivals, await_probe, send_all, watch_worker, LoadArgs, Outcome, Report};
use crate::mqtt::{qos, MqttArgs, Subscription};
use crate::payload::new_run_id;

/// `ferry-bench kafka-to-mqtt`.
#[derive(Debug, Clone, Args)]
pub struct KafkaToMqttArgs {
    #[command(flatten)]
    pub mqtt: MqttArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// QoS of the subscription: 0 or 1.
    #[arg(long, default_value_t = 1)]
    pub qos: u8,
    /// Kafka topic to produce to (the connector's `topics`; created with --partitions).
    #[arg(long)]
    pub kafka_topic: String,
    /// MQTT filter to subscribe to: the connector's `mqtt.topic`, with `+` where it has `{key}`.
    #[arg(long)]
    pub mqtt_filter: String,
    /// Distinct record keys, cycled (`<key-prefix><seq % keys>`); 0 sends records without keys.
    #[arg(long, default_value_t = 0)]
    pub keys: u64,
    /// Prefix of the record keys.
    #[arg(long, default_value = "key-")]
    pub key_prefix: String,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Runs the case and returns its report.
pub async fn run(args: KafkaToMqttArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let run = new_run_id();
    let level = qos(args.qos)?;
    let load = &args.load;
    ensure_topic(&args.kafka, &args.kafka_topic).await?;
    let subscription = Subscription::start(
        &args.mqtt,
        &format!("ferry-bench-sub-{run:016x}"),
        &args.mqtt_filter,
        level,
        Arrivals::new(run, load.total()),
    )
    .await?;
    let progress = subscription.progress();
    let producer = Producer::new(&args.kafka, None)?;
    let (producer_ref, topic, keys, prefix) = (
        &producer,
        args.kafka_topic.as_str(),
        args.keys,
        args.key_prefix.as_str(),
    );
    let produce = move |seq: u64, payload: Vec<u8>| async move {
        let key = (keys > 0).then(|| format!("{prefix}{}", seq % keys));
        producer_ref.send(topic, key.as_deref(), &payload).await
    };
    let ready = await_probe(load, run, &progress, produce).await?;
    let watch = watch_worker(load)?;
    let sent = send_all(load, run, produce).await?;
    let idle = Duration::from_secs_f64(load.idle_s);
    await_arrivals(&progress, sent.count, idle).await;
    let (worker, machine_busy_pct) = watch.finish()?;
    let (ok, _failed) = producer.settle(sent.count + ready.probes, idle).await;
    let received = subscription.finish().await?.finish();
    Ok(Report::new(
        load,
        Outcome {
            bench: "kafka-to-mqtt",
            qos: Some(args.qos),
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
