//! Shared by the integration tests: the connector library loaded through the worker's plugin
//! loader, the development services, and a few MQTT helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ferry_api::{ConfigMap, ConnectError, RecordMetadata};
use ferry_runtime::plugins::{Plugin, PluginRegistry, PolledRecord, SourceTaskInstance};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

/// The connector's cdylib, built once per test binary so `cargo test` alone is enough. `--tests`
/// gives the build the same dependency features as `cargo test -p ferry-mqtt-source`, so the two
/// do not keep rebuilding each other's dependencies.
pub fn library() -> PathBuf {
    static LOGGING: OnceLock<()> = OnceLock::new();
    ferry_testkit::cargo_build(&["-p", "ferry-mqtt-source", "--lib", "--tests"]);
    LOGGING.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(|| CapturedLog)
            .with_ansi(false)
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_string()))
            .try_init();
    });
    ferry_testkit::library("ferry_mqtt_source")
}

/// Everything logged in this test process (also written to stderr), so tests can check what an
/// operator would read.
static LOGGED: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

struct CapturedLog;

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGGED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_str(&String::from_utf8_lossy(bytes));
        std::io::stderr().write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Waits until a line containing every one of `parts` was logged; panics after `timeout`,
/// saying what it waited for.
pub fn wait_for_log_line(parts: &[&str], timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let found = LOGGED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lines()
            .find(|line| parts.iter().all(|p| line.contains(p)))
            .map(str::to_string);
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no log line containing {parts:?} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The connector, loaded by the worker's plugin loader.
pub fn plugin() -> Arc<Plugin> {
    let (registry, failures) = PluginRegistry::scan(&[library()]);
    assert!(failures.is_empty(), "{failures:?}");
    registry.find("MqttSource").expect("the MQTT source loads")
}

pub use ferry_testkit::{config, unique, Services};

/// Starts task `task` of connector `connector`.
pub fn start(connector: &str, task: u32, config: &ConfigMap) -> SourceTaskInstance {
    SourceTaskInstance::start(plugin(), connector, task, config, &[])
        .unwrap_or_else(|e| panic!("task {connector}-{task} failed to start: {e}"))
}

/// What Kafka would answer for a record; the connector ignores the values.
pub fn metadata() -> RecordMetadata {
    RecordMetadata {
        topic: "t".into(),
        partition: 0,
        offset: 0,
        timestamp_ms: None,
    }
}

/// Tells the task Kafka acknowledged each record.
pub fn commit(task: &mut SourceTaskInstance, records: &[PolledRecord]) {
    for record in records {
        task.commit_record(record.sequence, &metadata()).unwrap();
    }
}

/// Polls until `count` records arrived; panics after `within`.
pub fn poll_records(
    task: &mut SourceTaskInstance,
    count: usize,
    within: Duration,
) -> Vec<PolledRecord> {
    let deadline = Instant::now() + within;
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records within {within:?}",
            records.len()
        );
        records.extend(task.poll(Duration::from_millis(200)).unwrap());
    }
    records
}

/// Polls until the task reports an error; panics after `within`.
pub fn poll_error(task: &mut SourceTaskInstance, within: Duration) -> ConnectError {
    let deadline = Instant::now() + within;
    loop {
        assert!(Instant::now() < deadline, "no error within {within:?}");
        if let Err(e) = task.poll(Duration::from_millis(200)) {
            return e;
        }
    }
}

/// Until every task received a message on `probe_topic` (so its subscription is in place),
/// publishes probes; the probes are committed and dropped.
pub fn wait_until_subscribed(
    services: &Services,
    tasks: &mut [&mut SourceTaskInstance],
    probe_topic: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ready = vec![false; tasks.len()];
    while ready.iter().any(|r| !r) {
        assert!(
            Instant::now() < deadline,
            "subscriptions not in place within 30 s: {ready:?}"
        );
        publish(services, services.mqtt_port, &[(probe_topic, b"probe", 1)]);
        for (task, ready) in tasks.iter_mut().zip(ready.iter_mut()) {
            let records = task.poll(Duration::from_millis(100)).unwrap();
            assert!(
                records
                    .iter()
                    .all(|r| r.record.topic_header() == probe_topic),
                "unexpected records while probing"
            );
            *ready |= !records.is_empty();
            commit(task, &records);
        }
    }
}

/// The MQTT topic a record came from.
pub trait RecordExt {
    fn topic_header(&self) -> String;
    fn header(&self, name: &str) -> Option<String>;
}

impl RecordExt for ferry_api::SourceRecord {
    fn topic_header(&self) -> String {
        self.header("mqtt.topic").unwrap_or_default()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| String::from_utf8_lossy(&h.value).into_owned())
    }
}

fn qos(n: u8) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// Publishes `(topic, payload, qos)` messages with MQTT 3.1.1 on the plain listener `port` and
/// returns once the broker acknowledged every QoS 1 and 2 message.
pub fn publish(services: &Services, port: u16, messages: &[(&str, &[u8], u8)]) {
    publish_with(services, port, messages, false);
}

/// Publishes retained messages (an empty payload clears the topic's retained message).
pub fn publish_retained(services: &Services, messages: &[(&str, &[u8], u8)]) {
    publish_with(services, services.mqtt_port, messages, true);
}

fn publish_with(services: &Services, port: u16, messages: &[(&str, &[u8], u8)], retain: bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut options = MqttOptions::new(unique("publisher"), &services.mqtt_host, port);
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(options, messages.len() + 10);
        for (topic, payload, q) in messages {
            client
                .publish(*topic, qos(*q), retain, payload.to_vec())
                .await
                .unwrap();
        }
        let expected = messages.iter().filter(|m| m.2 > 0).count();
        let mut acknowledged = 0;
        let mut published = 0;
        let mut disconnecting = false;
        let mut errors = 0;
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                // A busy broker may drop a connection now and then: rumqttc reconnects on the
                // next poll and resends what was not acknowledged.
                let event = match events.poll().await {
                    Ok(event) => event,
                    Err(error) => {
                        errors += 1;
                        assert!(errors < 20, "publisher connection keeps failing: {error}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                match event {
                    Event::Incoming(Packet::PubAck(_) | Packet::PubComp(_)) => acknowledged += 1,
                    Event::Outgoing(Outgoing::Publish(_)) => published += 1,
                    Event::Outgoing(Outgoing::Disconnect) => break,
                    _ => {}
                }
                if !disconnecting && published == messages.len() && acknowledged == expected {
                    disconnecting = true;
                    client.disconnect().await.unwrap();
                }
            }
        })
        .await
        .expect("publishing finishes within 60 s");
    });
}

/// Publishes one MQTT 5 message with publish properties.
pub fn publish_v5(
    services: &Services,
    topic: &str,
    payload: &[u8],
    properties: rumqttc::v5::mqttbytes::v5::PublishProperties,
) {
    use rumqttc::v5::mqttbytes::v5::Packet as Packet5;
    use rumqttc::v5::{AsyncClient as Client5, Event as Event5, MqttOptions as Options5};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let options = Options5::new(
            unique("publisher5"),
            &services.mqtt_host,
            services.mqtt_port,
        );
        let (client, mut events) = Client5::new(options, 10);
        client
            .publish_with_properties(
                topic,
                rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                false,
                payload.to_vec(),
                properties,
            )
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match events.poll().await.expect("publisher connection") {
                    Event5::Incoming(Packet5::PubAck(_)) => {
                        client.disconnect().await.unwrap();
                    }
                    Event5::Outgoing(Outgoing::Disconnect) => break,
                    _ => {}
                }
            }
        })
        .await
        .expect("publishing finishes within 30 s");
    });
}

/// Connects with `client_id` and a persistent session, as a second worker would, which makes
/// the broker drop the task's connection (session takeover); then vanishes without
/// acknowledging anything the broker sent it.
pub fn take_over_session(services: &Services, client_id: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut options = MqttOptions::new(client_id, &services.mqtt_host, services.mqtt_port);
        options.set_clean_session(false).set_manual_acks(true);
        let (_client, mut events) = AsyncClient::new(options, 10);
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Event::Incoming(Packet::ConnAck(_)) =
                    events.poll().await.expect("intruder connects")
                {
                    break;
                }
            }
        })
        .await
        .expect("the intruder connects within 10 s");
    });
}

/// Like [`take_over_session`], but receives one redelivered QoS 2 message, answers PUBREC and
/// vanishes before the broker's PUBREL: the next connection of the session gets that PUBREL.
pub fn take_over_session_mid_qos2(services: &Services, client_id: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut options = MqttOptions::new(client_id, &services.mqtt_host, services.mqtt_port);
        options.set_clean_session(false).set_manual_acks(true);
        let (client, mut events) = AsyncClient::new(options, 10);
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.poll().await.expect("intruder connection") {
                    Event::Incoming(Packet::Publish(publish)) => {
                        client.ack(&publish).await.unwrap();
                    }
                    Event::Outgoing(Outgoing::PubRec(_)) => break,
                    _ => {}
                }
            }
        })
        .await
        .expect("the intruder receives and PUBRECs a message within 10 s");
    });
}
