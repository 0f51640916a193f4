//! MQTT → Kafka through Ferry: numbered, stamped messages are published to an MQTT topic that a
//! running MQTT source connector maps to a Kafka topic, where a consumer counts them. Start the
//! worker and the connector first (bench/run does).

use std::time::Duration;

use clap::Args;
use tokio::time::Instant;

use crate::arrivals::Arrivals;
use crate::kafka::{ensure_topic, KafkaArgs, Reader};
use crate::load::{await_arrivals, await_probe, send_all, watch_worker, LoadArgs, Outcome, Report};
use crate::mqtt::{qos, MqttArgs, Publisher};
use crate::payload::new_run_id;
use crate::sentinel::Sentinels;

/// `ferry-bench mqtt-to-kafka`.
#[derive(Debug, Clone, Args)]
pub struct MqttToKafkaArgs {
    #[command(flatten)]
    pub mqtt: MqttArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// QoS of the publisher: 0 or 1 (the connector's `mqtt.qos` decides the subscription's).
    #[arg(long, default_value_t = 1)]
    pub qos: u8,
    /// MQTT topic to publish to (matched by the connector's `mqtt.topics`).
    #[arg(long)]
    pub mqtt_topic: String,
    /// Kafka topic the connector writes to (created with --partitions when missing).
    #[arg(long)]
    pub kafka_topic: String,
    /// Also time Kafka and Mosquitto themselves, second by second, while the case runs
    /// (`sentinel`): tells a broker's stall from Ferry's.
    #[arg(long)]
    pub sentinels: bool,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Runs the case and returns its report.
pub async fn run(args: MqttToKafkaArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let run = new_run_id();
    let level = qos(args.qos)?;
    let load = &args.load;
    ensure_topic(&args.kafka, &args.kafka_topic).await?;
    let arrivals = Arrivals::new(run, load.total());
    let origin_us = arrivals.origin_us();
    let reader = Reader::start(&args.kafka, &args.kafka_topic, arrivals)?;
    let progress = reader.progress();
    let sentinels = if args.sentinels {
        Some(Sentinels::start(&args.mqtt, &args.kafka, &args.kafka_topic, origin_us).await?)
    } else {
        None
    };
    let publisher =
        Publisher::connect(&args.mqtt, &format!("ferry-bench-pub-{run:016x}"), level).await?;
    let publish = |_: u64, payload: Vec<u8>| publisher.publish(args.mqtt_topic.clone(), payload);
    let ready = await_probe(load, run, &progress, publish).await?;
    let watch = watch_worker(load)?;
    let sent = send_all(load, run, publish).await?;
    await_arrivals(&progress, sent.count, Duration::from_secs_f64(load.idle_s)).await;
    let (worker, machine_busy_pct) = watch.finish()?;
    let acknowledged = publisher
        .close(sent.count + ready.probes, Duration::from_secs(5))
        .await
        .saturating_sub(ready.probes);
    let received = reader.finish()?.finish();
    let sentinels = match sentinels {
        Some(sentinels) => Some(sentinels.finish().await?),
        None => None,
    };
    Ok(Report::new(
        load,
        Outcome {
            bench: "mqtt-to-kafka",
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
    )
    .with_sentinels(sentinels))
}
