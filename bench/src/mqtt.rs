//! Minimal rumqttc clients: one connection that publishes, one that subscribes and counts.
//! Nothing but the client library between the benchmark and Mosquitto, so the raw figures are
//! the broker's and the client's, and the same clients feed and read Ferry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::arrivals::{Arrivals, Progress};

/// Where Mosquitto is.
#[derive(Debug, Clone, Args)]
pub struct MqttArgs {
    /// MQTT broker host.
    #[arg(long, default_value = "127.0.0.1")]
    pub mqtt_host: String,
    /// MQTT broker port.
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
}

/// Packets a client may have unacknowledged; Mosquitto's `max_inflight_messages` in
/// dev/services is the same, so neither side is the narrower window.
const INFLIGHT: u16 = 1000;

/// QoS from its number (2 is refused: the benchmarks measure 0 and 1, as the issue asks).
pub fn qos(level: u8) -> anyhow::Result<QoS> {
    match level {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        other => bail!("--qos must be 0 or 1, got {other}"),
    }
}

fn options(args: &MqttArgs, client_id: &str) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, &args.mqtt_host, args.port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(true);
    options.set_inflight(INFLIGHT);
    options.set_max_packet_size(1 << 20, 1 << 20);
    options
}

/// Polls until the broker accepted the connection (bounded: 10 s).
async fn connected(events: &mut EventLoop) -> anyhow::Result<()> {
    let wait = async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(anyhow::Error::new(error)),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .context("no CONNACK within 10 s")?
        .context("cannot connect to the MQTT broker")
}

/// A publishing connection; its event loop runs on its own task and counts acknowledgements.
pub struct Publisher {
    client: AsyncClient,
    qos: QoS,
    acknowledged: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    driver: JoinHandle<()>,
}

impl Publisher {
    /// Connects.
    pub async fn connect(args: &MqttArgs, client_id: &str, qos: QoS) -> anyhow::Result<Self> {
        // A channel as deep as the in-flight window: publish() waits when both are full, which
        // is the back-pressure a real publisher feels.
        let (client, mut events) = AsyncClient::new(options(args, client_id), INFLIGHT as usize);
        connected(&mut events).await?;
        let acknowledged = Arc::new(AtomicU64::new(0));
        let (stop, mut stopped) = watch::channel(false);
        let driver = {
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                loop {
                    let event = tokio::select! {
                        event = events.poll() => event,
                        _ = stopped.changed() => return,
                    };
                    match event {
                        Ok(Event::Incoming(Packet::PubAck(_))) if qos == QoS::AtLeastOnce => {
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Event::Outgoing(Outgoing::Publish(_))) if qos == QoS::AtMostOnce => {
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                        }
                        // Our own DISCONNECT (close): the broker hangs up next, not an error.
                        Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                        Ok(_) => {}
                        Err(error) => {
                            eprintln!("publisher connection error (reconnecting): {error}");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            })
        };
        Ok(Publisher {
            client,
            qos,
            acknowledged,
            stop,
            driver,
        })
    }

    /// Hands one message to the client (waits while the in-flight window and channel are full).
    pub async fn publish(&self, topic: String, payload: Vec<u8>) -> anyhow::Result<()> {
        self.client
            .publish(topic, self.qos, false, payload)
            .await
            .context("the MQTT client stopped")
    }

    /// PUBACKs received (QoS 1) or publishes written (QoS 0).
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::Relaxed)
    }

    /// Waits (at most `max`) until `count` messages are acknowledged, then disconnects.
    pub async fn close(self, count: u64, max: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + max;
        while self.acknowledged() < count && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let acknowledged = self.acknowledged();
        let _ = self.client.try_disconnect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = self.stop.send(true);
        let _ = self.driver.await;
        acknowledged
    }
}

/// A subscribing connection that counts what arrives into an `Arrivals`.
pub struct Subscription {
    progress: Arc<Progress>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Arrivals>,
}

impl Subscription {
    /// Connects, subscribes to `filter` and returns once the broker granted it.
    pub async fn start(
        args: &MqttArgs,
        client_id: &str,
        filter: &str,
        qos: QoS,
        mut arrivals: Arrivals,
    ) -> anyhow::Result<Self> {
        let (client, mut events) = AsyncClient::new(options(args, client_id), 64);
        connected(&mut events).await?;
        client.subscribe(filter, qos).await?;
        let granted = async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(error) => return Err(anyhow::Error::new(error)),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), granted)
            .await
            .context("no SUBACK within 10 s")??;
        let progress = arrivals.progress();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            // The client must outlive the loop: dropping it ends the event loop's requests.
            let _client = client;
            loop {
                let event = tokio::select! {
                    event = events.poll() => event,
                    _ = stopped.changed() => return arrivals,
                };
                match event {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        arrivals.record(&publish.payload)
                    }
                    Ok(_) => {}
                    Err(error) => {
                        eprintln!("subscriber connection error (reconnecting): {error}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        Ok(Subscription {
            progress,
            stop,
            task,
        })
    }

    /// What the sender watches.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Stops counting and hands the tally back.
    pub async fn finish(self) -> anyhow::Result<Arrivals> {
        let _ = self.stop.send(true);
        Ok(self.task.await?)
    }
}

/// Ends the persistent sessions of `client_ids` (connectors deleted by a benchmark): connecting
/// with a clean session makes the broker discard the stored one, so Mosquitto stops keeping
/// subscriptions, and queueing messages, for clients that will never come back.
pub async fn clear_sessions(args: &MqttArgs, client_ids: &[String]) -> anyhow::Result<()> {
    for id in client_ids {
        let (client, mut events) = AsyncClient::new(options(args, id), 8);
        connected(&mut events).await?;
        client.disconnect().await?;
        let sent = async {
            while !matches!(
                events.poll().await,
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_)
            ) {}
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), sent).await;
    }
    Ok(())
}
