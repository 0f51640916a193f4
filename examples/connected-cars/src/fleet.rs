//! The fleet: N cars over C MQTT connections, each publishing telemetry on
//! `vehicles/sensor/data/<car>` at a fixed interval and listening on `cars/<car>/alerts`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeFilter};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::now_ms;
use crate::stats::{Counter, Tally};
use crate::telemetry::{car_name, is_anomalous, Alert, Telemetry};

/// How the fleet runs.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub host: String,
    pub port: u16,
    pub cars: u64,
    pub connections: u64,
    /// Time between two messages of one car.
    pub interval: Duration,
    pub qos: QoS,
    pub run: String,
}

/// What the fleet observed.
#[derive(Default)]
pub struct FleetStats {
    /// Messages handed to the client.
    pub sent: Counter,
    /// Messages the broker acknowledged (all of them at QoS 0).
    pub acknowledged: Counter,
    /// Sent messages that must raise an alert, as (car, seq).
    pub expected_alerts: std::sync::Mutex<Vec<(String, u64)>>,
    /// Alerts received by the car they are about.
    pub alerts: Tally,
    /// Alerts that arrived on a car's topic but were about another car.
    pub wrong_car: Counter,
}

/// Runs the fleet until `stop` turns true; returns once every connection has stopped publishing.
pub async fn run(
    config: FleetConfig,
    stats: Arc<FleetStats>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let connections = config.connections.clamp(1, config.cars.max(1));
    let mut tasks = Vec::new();
    // Every car subscribes to its alerts before the first car publishes, and all cars count
    // their phase from the same instant.
    let everyone_subscribed = Arc::new(tokio::sync::Barrier::new(connections as usize));
    for connection in 0..connections {
        let cars: Vec<u64> = (0..config.cars)
            .filter(|c| c % connections == connection)
            .collect();
        tasks.push(tokio::spawn(connection_task(
            config.clone(),
            connection,
            cars,
            stats.clone(),
            stop.clone(),
            everyone_subscribed.clone(),
        )));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

async fn connection_task(
    config: FleetConfig,
    connection: u64,
    cars: Vec<u64>,
    stats: Arc<FleetStats>,
    mut stop: watch::Receiver<bool>,
    everyone_subscribed: Arc<tokio::sync::Barrier>,
) -> anyhow::Result<()> {
    let mut options = MqttOptions::new(
        format!("fleet-{}-{connection}", config.run),
        &config.host,
        config.port,
    );
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(true);
    options.set_inflight(1000);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, events) = AsyncClient::new(options, 1024);
    let names: Vec<String> = cars.iter().map(|c| car_name(*c)).collect();
    let mine: HashSet<String> = names.iter().cloned().collect();
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    let batches = names.len().div_ceil(100);
    tokio::spawn(event_loop(
        events,
        mine,
        config.run.clone(),
        stats.clone(),
        config.qos,
        batches,
        subscribed_tx,
    ));
    for batch in names.chunks(100) {
        let filters = batch
            .iter()
            .map(|car| SubscribeFilter::new(format!("cars/{car}/alerts"), QoS::AtLeastOnce));
        client.subscribe_many(filters).await?;
    }
    let _ = subscribed_rx.await;
    // A connection that failed never arrives; the run's end still stops the others.
    tokio::select! {
        _ = everyone_subscribed.wait() => {}
        _ = stop.changed() => return Ok(()),
    }

    // Independent cars are not in step: car g of the fleet publishes at
    // start + g * interval / cars + seq * interval, so the fleet offers an even load rather than
    // one burst of every car at the top of each interval.
    let phase = |car: u64| {
        config
            .interval
            .mul_f64(car as f64 / config.cars.max(1) as f64)
    };
    let start = Instant::now();
    let mut tick: u64 = 0;
    loop {
        let index = (tick % cars.len() as u64) as usize;
        let seq = tick / cars.len() as u64;
        let due = start + phase(cars[index]) + config.interval * seq as u32;
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
        let reading = Telemetry::reading(&config.run, cars[index], seq, now_ms());
        let payload = serde_json::to_vec(&reading)?;
        client
            .publish(
                format!("vehicles/sensor/data/{}", reading.car),
                config.qos,
                false,
                payload,
            )
            .await?;
        stats.sent.inc();
        if is_anomalous(seq) {
            stats
                .expected_alerts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((reading.car.clone(), seq));
        }
        tick += 1;
    }
    Ok(())
}

/// Drives one connection: counts acknowledgements, checks and times alerts, survives
/// reconnects.
async fn event_loop(
    mut events: EventLoop,
    mine: HashSet<String>,
    run: String,
    stats: Arc<FleetStats>,
    qos: QoS,
    mut suback_pending: usize,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                suback_pending = suback_pending.saturating_sub(1);
                if suback_pending == 0 {
                    if let Some(done) = subscribed.take() {
                        let _ = done.send(());
                    }
                }
            }
            Ok(Event::Incoming(Packet::PubAck(_))) if qos == QoS::AtLeastOnce => {
                stats.acknowledged.inc()
            }
            Ok(Event::Incoming(Packet::PubComp(_))) if qos == QoS::ExactlyOnce => {
                stats.acknowledged.inc()
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Publish(_))) if qos == QoS::AtMostOnce => {
                stats.acknowledged.inc()
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let Ok(alert) = serde_json::from_slice::<Alert>(&publish.payload) else {
                    continue;
                };
                if alert.run != run {
                    continue; // an alert of an earlier run, still queued somewhere
                }
                let for_this_topic = publish.topic == format!("cars/{}/alerts", alert.car);
                if for_this_topic && mine.contains(&alert.car) {
                    let latency = now_ms().saturating_sub(alert.sent_at_ms);
                    stats.alerts.record(&alert.car, alert.seq, latency);
                } else {
                    stats.wrong_car.inc();
                }
            }
            Ok(_) => {}
            Err(error) => {
                eprintln!("fleet connection error (reconnecting): {error}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
