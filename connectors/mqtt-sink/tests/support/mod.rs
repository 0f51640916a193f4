//! Shared by the integration tests: the connector library loaded through the worker's plugin
//! loader, the development services, real MQTT subscribers, and a TCP proxy that can hold back
//! the broker's acknowledgements or cut the connection.
#![allow(dead_code)]

pub mod proxy;

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ferry_api::{ConfigMap, ConnectError, Header, SinkRecord, TopicPartitionOffset};
use ferry_runtime::plugins::{Plugin, PluginRegistry, SinkTaskInstance};
use rumqttc::v5::mqttbytes::v5::{Filter, Packet};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

/// The connector's cdylib, built once per test binary so `cargo test` alone is enough. `--tests`
/// gives the build the same dependency features as `cargo test -p ferry-mqtt-sink`, so the two
/// do not keep rebuilding each other's dependencies.
pub fn library() -> PathBuf {
    static LOGGING: OnceLock<()> = OnceLock::new();
    ferry_testkit::cargo_build(&["-p", "ferry-mqtt-sink", "--lib", "--tests"]);
    LOGGING.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_string()))
            .try_init();
    });
    ferry_testkit::library("ferry_mqtt_sink")
}

/// The connector, loaded by the worker's plugin loader.
pub fn plugin() -> Arc<Plugin> {
    let (registry, failures) = PluginRegistry::scan(&[library()]);
    assert!(failures.is_empty(), "{failures:?}");
    registry.find("MqttSink").expect("the MQTT sink loads")
}

pub use ferry_testkit::{config, unique, Services};

/// Starts task 0 of `connector`.
pub fn start(connector: &str, config: &ConfigMap) -> SinkTaskInstance {
    SinkTaskInstance::start(plugin(), connector, 0, config)
        .unwrap_or_else(|e| panic!("task {connector}-0 failed to start: {e}"))
}

pub fn start_error(connector: &str, config: &ConfigMap) -> ConnectError {
    match SinkTaskInstance::start(plugin(), connector, 0, config) {
        Ok(_) => panic!("task {connector}-0 started"),
        Err(e) => e,
    }
}

/// A record of Kafka topic `topic`, partition 0.
pub fn record(
    topic: &str,
    offset: i64,
    key: Option<&str>,
    value: &str,
    headers: &[(&str, &str)],
) -> SinkRecord {
    SinkRecord {
        topic: topic.into(),
        partition: 0,
        offset,
        key: key.map(|k| k.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        headers: headers.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
        timestamp_ms: None,
        original: None,
    }
}

/// The worker's position after `records`: per partition, the offset after the last one.
pub fn positions(records: &[SinkRecord]) -> Vec<TopicPartitionOffset> {
    let mut positions: Vec<TopicPartitionOffset> = Vec::new();
    for r in records {
        match positions
            .iter_mut()
            .find(|p| p.topic == r.topic && p.partition == r.partition)
        {
            Some(p) => p.offset = p.offset.max(r.offset + 1),
            None => positions.push(TopicPartitionOffset {
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset + 1,
            }),
        }
    }
    positions
}

/// Calls `pre_commit` until it returns `consumed` (everything acknowledged); panics after
/// `within`. Every answer must stay within `consumed`.
pub fn commit_all(
    task: &mut SinkTaskInstance,
    consumed: &[TopicPartitionOffset],
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let committable = task.pre_commit(consumed).unwrap();
        for (c, p) in committable.iter().zip(consumed) {
            assert!(c.offset <= p.offset, "{c:?} is beyond the position {p:?}");
        }
        if committable == consumed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not all acknowledged within {within:?}: {committable:?}"
        );
    }
}

/// A message a subscriber received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub payload: String,
    pub qos: u8,
    pub retain: bool,
    pub user_properties: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub message_expiry_interval: Option<u32>,
}

type Inbox = Arc<(Mutex<Vec<Received>>, Condvar)>;

/// A real MQTT 5 subscriber on the plain listener: QoS 2 (so each message arrives with the QoS
/// it was published with) and Retain As Published (so it arrives with its retain flag).
pub struct Subscriber {
    inbox: Inbox,
    runtime: tokio::runtime::Runtime,
}

impl Subscriber {
    /// Subscribes to `filter`; returns once the broker confirmed the subscription.
    pub fn start(services: &Services, filter: &str) -> Subscriber {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let inbox: Inbox = Default::default();
        let (subscribed_tx, subscribed_rx) = std::sync::mpsc::channel();
        let mut options = MqttOptions::new(
            unique("subscriber"),
            &services.mqtt_host,
            services.mqtt_port,
        );
        options.set_max_packet_size(Some(1 << 20));
        let (client, mut events) = AsyncClient::new(options, 100);
        let filter = filter.to_string();
        let sink = inbox.clone();
        runtime.spawn(async move {
            let mut subscribed_tx = Some(subscribed_tx);
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let mut f = Filter::new(filter.clone(), QoS::ExactlyOnce);
                        f.preserve_retain = true;
                        client.subscribe_many([f]).await.unwrap();
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let properties = p.properties.unwrap_or_default();
                        let message = Received {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                            qos: p.qos as u8,
                            retain: p.retain,
                            user_properties: properties.user_properties,
                            content_type: properties.content_type,
                            message_expiry_interval: properties.message_expiry_interval,
                        };
                        let (list, changed) = &*sink;
                        list.lock().unwrap().push(message);
                        changed.notify_all();
                    }
                    Ok(_) => {}
                    Err(e) => panic!("subscriber connection failed: {e}"),
                }
            }
        });
        subscribed_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("subscribed within 10 s");
        Subscriber { inbox, runtime }
    }

    /// Waits until `ready` holds for the messages received so far; returns them. Panics with
    /// what arrived after `within`.
    pub fn wait_for(&self, within: Duration, ready: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + within;
        let (list, changed) = &*self.inbox;
        let mut received = list.lock().unwrap();
        while !ready(&received) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "not received within {within:?}: {received:#?}"
            );
            received = changed.wait_timeout(received, left).unwrap().0;
        }
        received.clone()
    }

    /// Waits for a message with `payload` and returns everything received up to it included.
    pub fn until_payload(&self, payload: &str, within: Duration) -> Vec<Received> {
        let received = self.wait_for(within, |r| r.iter().any(|m| m.payload == payload));
        let end = received.iter().position(|m| m.payload == payload).unwrap();
        received[..=end].to_vec()
    }

    /// Waits for `count` messages in all.
    pub fn count(&self, count: usize, within: Duration) -> Vec<Received> {
        self.wait_for(within, |r| r.len() >= count)
    }
}
