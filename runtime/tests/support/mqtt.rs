//! Publishing numbered messages through the real Mosquitto, counting the broker's acks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use super::{unique, Services};

/// Publishes `count` QoS 1 messages with payload `"<run>:<n>"` for n in `from..from + count` to
/// the topic `topic(n)`, at most `per_second` a second, and returns when the broker has
/// acknowledged them all (reconnecting if the broker goes away meanwhile).
pub async fn publish_numbered(
    run: &str,
    from: u64,
    count: u64,
    per_second: u64,
    topic: impl Fn(u64) -> String,
) -> u64 {
    publish_numbered_as(from, count, per_second, topic, |n| format!("{run}:{n}")).await
}

/// As [`publish_numbered`], with the payload of message n from `payload(n)`.
pub async fn publish_numbered_as(
    from: u64,
    count: u64,
    per_second: u64,
    topic: impl Fn(u64) -> String,
    payload: impl Fn(u64) -> String,
) -> u64 {
    publish_numbered_at(QoS::AtLeastOnce, from, count, per_second, topic, payload).await
}

/// As [`publish_numbered_as`], at `qos` (1 or 2; a message counts once PUBACK or PUBCOMP came).
pub async fn publish_numbered_at(
    qos: QoS,
    from: u64,
    count: u64,
    per_second: u64,
    topic: impl Fn(u64) -> String,
    payload: impl Fn(u64) -> String,
) -> u64 {
    let services = Services::from_env();
    let mut options =
        MqttOptions::new(unique("publisher"), &services.mqtt_host, services.mqtt_port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_clean_session(false);
    options.set_inflight(200);
    let (client, mut events) = AsyncClient::new(options, 1000);
    let acked = Arc::new(AtomicU64::new(0));
    let counter = acked.clone();
    let driver = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_))) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    let spacing = Duration::from_secs_f64(1.0 / per_second.max(1) as f64);
    let start = tokio::time::Instant::now();
    for (i, n) in (from..from + count).enumerate() {
        tokio::time::sleep_until(start + spacing * i as u32).await;
        client
            .publish(topic(n), qos, false, payload(n))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while acked.load(Ordering::Relaxed) < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the broker acknowledged only {} of {count}",
            acked.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = client.disconnect().await;
    driver.abort();
    count
}

/// The numbers of `run` found in record values `"<run>:<n>"`: (distinct, total).
pub fn numbers_of(
    run: &str,
    values: impl Iterator<Item = Vec<u8>>,
) -> (std::collections::BTreeSet<u64>, usize) {
    let prefix = format!("{run}:");
    let mut distinct = std::collections::BTreeSet::new();
    let mut total = 0;
    for value in values {
        let text = String::from_utf8_lossy(&value);
        if let Some(n) = text.strip_prefix(&prefix).and_then(|n| n.parse().ok()) {
            distinct.insert(n);
            total += 1;
        }
    }
    (distinct, total)
}

/// One message a subscriber received.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
}

/// A real MQTT subscriber collecting what it receives, in the background.
pub struct Subscriber {
    received: Arc<std::sync::Mutex<Vec<Received>>>,
    client: AsyncClient,
    driver: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Subscribes to `filter` at QoS 1 on the plain listener and returns once the broker
    /// confirmed. `persistent` keeps the session (and queued messages) across reconnects.
    pub async fn start(filter: &str, persistent: bool) -> Subscriber {
        let services = Services::from_env();
        let mut options = MqttOptions::new(
            unique("subscriber"),
            &services.mqtt_host,
            services.mqtt_port,
        );
        options.set_keep_alive(Duration::from_secs(5));
        options.set_clean_session(!persistent);
        let (client, mut events) = AsyncClient::new(options, 1000);
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = received.clone();
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        let driver = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        sink.lock().unwrap().push(Received {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            qos: p.qos,
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), subscribed_rx)
            .await
            .expect("SUBACK within 20 s")
            .unwrap();
        Subscriber {
            received,
            client,
            driver,
        }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `done` accepts what was received, or `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if done(&received) || tokio::time::Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.try_disconnect();
        self.driver.abort();
    }
}
