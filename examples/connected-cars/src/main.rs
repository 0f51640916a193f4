//! The connected-cars demo: a fleet of simulated cars publishes telemetry over MQTT; Ferry's
//! MQTT source brings it into Kafka (`sensor-data`); an analytics step flags overheating engines
//! and writes alerts keyed by car id (`car-alerts`); Ferry's MQTT sink routes each alert to
//! `cars/<car>/alerts`, where exactly that car listens.
//!
//! Run it through `./dev/demo` (which starts Kafka, Mosquitto, a worker and both connectors), or
//! by hand against a running setup:
//!
//!     connected-cars --cars 1000 --interval-ms 1000 --duration-s 60
//!
//! It prints a progress line every second and a summary: messages published, records in Kafka,
//! alerts produced and delivered to the right car, latencies in both directions, and what was
//! lost. It exits with status 2 when anything was lost.

mod analytics;
mod fleet;
mod stats;
mod telemetry;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use rumqttc::QoS;

use analytics::AnalyticsStats;
use fleet::{FleetConfig, FleetStats};

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Parser, Debug)]
#[command(about = "Simulated connected cars through MQTT, Kafka and back, counted end to end")]
struct Args {
    /// Number of cars.
    #[arg(long, default_value_t = 1000)]
    cars: u64,
    /// MQTT connections the cars share (one per car is allowed); default: one per car, at most 1000.
    #[arg(long)]
    connections: Option<u64>,
    /// Time between two messages of one car, in ms (the talk: 10000).
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// How long the cars publish, in seconds.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// MQTT QoS of the telemetry: 0, 1 or 2.
    #[arg(long, default_value_t = 1)]
    qos: u8,
    /// Mosquitto host.
    #[arg(long, default_value = "127.0.0.1")]
    mqtt_host: String,
    /// Mosquitto port.
    #[arg(long, default_value_t = 1883)]
    mqtt_port: u16,
    /// Kafka brokers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_servers: String,
    /// Kafka topic the MQTT source writes telemetry to.
    #[arg(long, default_value = "sensor-data")]
    telemetry_topic: String,
    /// Kafka topic the analytics step writes alerts to (the MQTT sink reads it).
    #[arg(long, default_value = "car-alerts")]
    alerts_topic: String,
    /// After publishing stops, how long to wait for the last records and alerts, in seconds.
    #[arg(long, default_value_t = 30)]
    drain_s: u64,
    /// Print the summary as one JSON line too.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let qos = match args.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        other => anyhow::bail!("--qos must be 0, 1 or 2, got {other}"),
    };
    let run = format!("run-{}", now_ms());
    let connections = args.connections.unwrap_or(args.cars.min(1000));
    let fleet_stats = Arc::new(FleetStats::default());
    let analytics_stats = Arc::new(AnalyticsStats::default());
    let (stop_fleet, fleet_stop) = tokio::sync::watch::channel(false);
    let (stop_analytics, analytics_stop) = tokio::sync::watch::channel(false);

    println!(
        "connected cars: {} cars over {connections} MQTT connections, one message per car every {} ms (≈{:.0} msg/s) for {} s, QoS {}",
        args.cars,
        args.interval_ms,
        args.cars as f64 * 1000.0 / args.interval_ms as f64,
        args.duration_s,
        args.qos
    );
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let analytics = tokio::spawn(analytics::run(
        args.bootstrap_servers.clone(),
        args.telemetry_topic.clone(),
        args.alerts_topic.clone(),
        run.clone(),
        analytics_stats.clone(),
        analytics_stop,
        ready_tx,
    ));
    let _ = ready_rx.await;

    let fleet = tokio::spawn(fleet::run(
        FleetConfig {
            host: args.mqtt_host.clone(),
            port: args.mqtt_port,
            cars: args.cars,
            connections,
            interval: Duration::from_millis(args.interval_ms.max(1)),
            qos,
            run: run.clone(),
        },
        fleet_stats.clone(),
        fleet_stop,
    ));

    let started = Instant::now();
    let publish_for = Duration::from_secs(args.duration_s);
    let mut progress = Progress::new();
    while started.elapsed() < publish_for {
        tokio::time::sleep(Duration::from_secs(1)).await;
        progress.show(&fleet_stats, &analytics_stats, false);
        if fleet.is_finished() {
            break;
        }
    }
    let _ = stop_fleet.send(true);
    fleet.await??;
    let published_for = started.elapsed();

    // Drain: wait until everything published is in Kafka and every expected alert arrived.
    let drain_deadline = Instant::now() + Duration::from_secs(args.drain_s);
    loop {
        let expected = fleet_stats
            .expected_alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len() as u64;
        let done = analytics_stats.telemetry.unique() >= fleet_stats.sent.get()
            && fleet_stats.alerts.unique() >= expected;
        if done || Instant::now() > drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        progress.show(&fleet_stats, &analytics_stats, false);
    }
    progress.show(&fleet_stats, &analytics_stats, true);
    let _ = stop_analytics.send(true);
    let _ = analytics.await?;

    let summary = Summary::new(&fleet_stats, &analytics_stats, published_for);
    summary.print();
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    if summary.lost_telemetry > 0 || summary.lost_alerts > 0 || summary.alerts_to_wrong_car > 0 {
        std::process::exit(2);
    }
    Ok(())
}

/// The live progress line.
struct Progress {
    last: Instant,
    last_sent: u64,
    terminal: bool,
}

impl Progress {
    fn new() -> Self {
        Progress {
            last: Instant::now(),
            last_sent: 0,
            terminal: std::io::stdout().is_terminal(),
        }
    }

    fn show(&mut self, fleet: &FleetStats, analytics: &AnalyticsStats, last: bool) {
        let sent = fleet.sent.get();
        let rate = (sent - self.last_sent) as f64 / self.last.elapsed().as_secs_f64().max(0.001);
        self.last = Instant::now();
        self.last_sent = sent;
        let line = format!(
            "published {sent:>9} | in Kafka {:>9} | alerts produced {:>7} | alerts received {:>7} | {rate:>8.0} msg/s",
            analytics.telemetry.unique(),
            analytics.alerts_produced.get(),
            fleet.alerts.unique(),
        );
        if self.terminal {
            print!("\r{line}");
            if last {
                println!();
            }
        } else {
            println!("{line}");
        }
        let _ = std::io::stdout().flush();
    }
}

/// The end-of-run figures.
#[derive(serde::Serialize)]
struct Summary {
    published: u64,
    acknowledged_by_broker: u64,
    publish_rate_per_s: f64,
    in_kafka: u64,
    kafka_duplicates: u64,
    lost_telemetry: u64,
    alerts_expected: u64,
    alerts_produced: u64,
    alerts_received_by_right_car: u64,
    alerts_to_wrong_car: u64,
    alert_duplicates: u64,
    lost_alerts: u64,
    latency_car_to_kafka_ms: stats::Percentiles,
    latency_car_to_ferry_ms: stats::Percentiles,
    latency_ferry_to_consumer_ms: stats::Percentiles,
    latency_car_to_alert_ms: stats::Percentiles,
}

impl Summary {
    fn new(fleet: &FleetStats, analytics: &AnalyticsStats, published_for: Duration) -> Self {
        let expected = fleet
            .expected_alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let lost_alerts = expected
            .iter()
            .filter(|(car, seq)| !fleet.alerts.contains(car, *seq))
            .count() as u64;
        let published = fleet.sent.get();
        let in_kafka = analytics.telemetry.unique();
        Summary {
            published,
            acknowledged_by_broker: fleet.acknowledged.get(),
            publish_rate_per_s: published as f64 / published_for.as_secs_f64().max(0.001),
            in_kafka,
            kafka_duplicates: analytics.telemetry.duplicates(),
            lost_telemetry: published.saturating_sub(in_kafka),
            alerts_expected: expected.len() as u64,
            alerts_produced: analytics.alerts_produced.get(),
            alerts_received_by_right_car: fleet.alerts.unique(),
            alerts_to_wrong_car: fleet.wrong_car.get(),
            alert_duplicates: fleet.alerts.duplicates(),
            lost_alerts,
            latency_car_to_kafka_ms: analytics.telemetry.percentiles(),
            latency_car_to_ferry_ms: analytics.car_to_ferry.percentiles(),
            latency_ferry_to_consumer_ms: analytics.ferry_to_consumer.percentiles(),
            latency_car_to_alert_ms: fleet.alerts.percentiles(),
        }
    }

    fn print(&self) {
        println!();
        println!("== connected cars: summary");
        println!(
            "messages published (MQTT)      {:>10}  ({:.0} msg/s; {} acknowledged by Mosquitto)",
            self.published, self.publish_rate_per_s, self.acknowledged_by_broker
        );
        println!(
            "records in Kafka (sensor-data) {:>10}  ({} duplicates)",
            self.in_kafka, self.kafka_duplicates
        );
        println!(
            "alerts produced (car-alerts)   {:>10}  (expected {})",
            self.alerts_produced, self.alerts_expected
        );
        println!(
            "alerts delivered to right car  {:>10}  ({} to a wrong car, {} duplicates)",
            self.alerts_received_by_right_car, self.alerts_to_wrong_car, self.alert_duplicates
        );
        println!(
            "latency car → Kafka            {}",
            self.latency_car_to_kafka_ms
        );
        println!(
            "  car → Ferry (MQTT)           {}",
            self.latency_car_to_ferry_ms
        );
        println!(
            "  Ferry → consumer (Kafka)     {}",
            self.latency_ferry_to_consumer_ms
        );
        println!(
            "latency car → alert at car     {}",
            self.latency_car_to_alert_ms
        );
        println!(
            "lost: telemetry = {}, alerts = {}",
            self.lost_telemetry, self.lost_alerts
        );
    }
}
