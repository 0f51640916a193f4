//! Sentinels: while a case measures latency through Ferry, two light probes time the brokers
//! themselves at the same moments, each one 600-byte message every 10 ms on a path of its own:
//! a librdkafka producer (Ferry's source producer settings) to a sentinel topic, timed to a
//! consumer of that topic, and a QoS 1 publish to Mosquitto, timed to a subscriber. A second where Ferry's
//! latency spikes and a sentinel's does too is a stall of the broker or of the machine, not of
//! Ferry; one where only Ferry's does is Ferry's own.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rumqttc::QoS;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::arrivals::Arrivals;
use crate::kafka::{ensure_topic, KafkaArgs, Producer, Reader};
use crate::mqtt::{MqttArgs, Publisher, Subscription};
use crate::payload::{encode, new_run_id, PROBE_BIT};

/// Time between two sentinel messages: light enough not to load the brokers, dense enough to
/// catch a stall of a few tens of milliseconds in every second.
const PERIOD: Duration = Duration::from_millis(10);
const SIZE: usize = 600;
/// Room for every message of a long case (the tally is a bitmap).
const CAPACITY: u64 = 1_000_000;
/// Longest wait for the untimed first message and for the last acknowledgements.
const WARM_UP: Duration = Duration::from_secs(10);

/// What the sentinels saw, second by second from when they started.
#[derive(Debug, Serialize)]
pub struct SentinelReport {
    /// Worst Kafka produce-to-consumer latency of the sentinel messages sent in each second.
    pub kafka_worst_ms_by_second: Vec<f64>,
    /// Worst Mosquitto publish-to-subscriber latency (QoS 1) of those sent in each second.
    pub mqtt_worst_ms_by_second: Vec<f64>,
}

/// Both probes, running.
pub struct Sentinels {
    stop: watch::Sender<bool>,
    kafka: JoinHandle<anyhow::Result<Arrivals>>,
    mqtt: JoinHandle<anyhow::Result<Arrivals>>,
}

impl Sentinels {
    /// Starts both probes, their seconds counted from `origin_us`. `topic` names the sentinels'
    /// Kafka topic and MQTT topic, neither of which a connector may read.
    pub async fn start(
        mqtt: &MqttArgs,
        kafka: &KafkaArgs,
        topic: &str,
        origin_us: u64,
    ) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let kafka_topic = format!("{topic}-kafka-sentinel");
        ensure_topic(kafka, &kafka_topic).await?;
        let kafka_run = new_run_id();
        // Timed through a consumer like Ferry's records are: a stall of the broker's fetch path
        // shows too, not only of its produce path.
        let reader = Reader::start(
            kafka,
            &kafka_topic,
            Arrivals::counting_seconds_from(kafka_run, CAPACITY, origin_us),
        )?;
        let progress = reader.progress();
        let producer = Producer::new(kafka, None)?;
        // A first, untimed message: the connections and the producer id are not the broker's
        // latency.
        producer
            .send(&kafka_topic, None, &encode(kafka_run, PROBE_BIT, SIZE))
            .await?;
        let deadline = tokio::time::Instant::now() + WARM_UP;
        while !progress.probe_seen.load(Ordering::Relaxed) {
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "the Kafka sentinel's first message did not come through within {WARM_UP:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut pacer = Pacer::new(stopped.clone());
        let kafka = tokio::spawn(async move {
            let mut sent = 0;
            while let Some(seq) = pacer.next().await {
                producer
                    .send(&kafka_topic, None, &encode(kafka_run, seq, SIZE))
                    .await?;
                sent += 1;
            }
            let deadline = tokio::time::Instant::now() + WARM_UP;
            while progress.unique.load(Ordering::Relaxed) < sent
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            reader.finish()
        });
        let mqtt_run = new_run_id();
        let mqtt_topic = format!("{topic}/mqtt-sentinel");
        let subscription = Subscription::start(
            mqtt,
            &format!("ferry-bench-sentinel-sub-{mqtt_run:016x}"),
            &mqtt_topic,
            QoS::AtLeastOnce,
            Arrivals::counting_seconds_from(mqtt_run, CAPACITY, origin_us),
        )
        .await?;
        let publisher = Publisher::connect(
            mqtt,
            &format!("ferry-bench-sentinel-pub-{mqtt_run:016x}"),
            QoS::AtLeastOnce,
        )
        .await?;
        publisher
            .publish(mqtt_topic.clone(), encode(mqtt_run, PROBE_BIT, SIZE))
            .await?;
        let deadline = tokio::time::Instant::now() + WARM_UP;
        while publisher.acknowledged() < 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut pacer = Pacer::new(stopped);
        let mqtt = tokio::spawn(async move {
            let mut sent = 0;
            while let Some(seq) = pacer.next().await {
                publisher
                    .publish(mqtt_topic.clone(), encode(mqtt_run, seq, SIZE))
                    .await?;
                sent += 1;
            }
            publisher.close(sent + 1, WARM_UP).await;
            // Let the last ones arrive before the tally stops.
            tokio::time::sleep(Duration::from_millis(500)).await;
            subscription.finish().await
        });
        Ok(Sentinels { stop, kafka, mqtt })
    }

    /// Stops both probes and returns what they saw.
    pub async fn finish(self) -> anyhow::Result<SentinelReport> {
        let _ = self.stop.send(true);
        let kafka = self.kafka.await??.finish();
        let mqtt = self.mqtt.await??.finish();
        Ok(SentinelReport {
            kafka_worst_ms_by_second: kafka.worst_ms_by_second,
            mqtt_worst_ms_by_second: mqtt.worst_ms_by_second,
        })
    }
}

/// One tick every `PERIOD` on absolute deadlines (a late tick never lowers the rate), until
/// told to stop.
struct Pacer {
    stopped: watch::Receiver<bool>,
    start: tokio::time::Instant,
    seq: u64,
}

impl Pacer {
    fn new(stopped: watch::Receiver<bool>) -> Self {
        Pacer {
            stopped,
            start: tokio::time::Instant::now(),
            seq: 0,
        }
    }

    /// The next message's number once it is due, or `None` once stopped (or full).
    async fn next(&mut self) -> Option<u64> {
        if self.seq >= CAPACITY || *self.stopped.borrow() {
            return None;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(self.start + PERIOD * self.seq as u32) => {}
            _ = self.stopped.changed() => return None,
        }
        self.seq += 1;
        Some(self.seq - 1)
    }
}
