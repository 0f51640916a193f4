//! Mosquitto down for 20 s while the MQTT sink delivers: the task reconnects and nothing is
//! lost. Its own test binary, because it stops the shared Mosquitto: cargo runs test binaries
//! one after another, so nothing else is running.

mod support;

use std::time::Duration;

use serde_json::json;
use support::kafka::{produce, Outgoing};
use support::mqtt::{numbers_of, Subscriber};
use support::worker::start_worker;
use support::{dev_services as services, unique};

#[tokio::test(flavor = "multi_thread")]
async fn mosquitto_down_for_20_s_during_delivery_loses_nothing() {
    let prefix = unique("outage");
    let topic = unique("sink-outage");
    let run = unique("run");
    // A persistent subscriber: the broker queues for it while it reconnects.
    let subscriber = Subscriber::start(&format!("{prefix}/#"), true).await;
    let (_setup, worker) = start_worker(&["ferry_mqtt_sink"], "").await;
    let body = json!({"name": "outage", "config": {
        "connector.class": "MqttSink",
        "topics": topic,
        "mqtt.server.uri": format!("tcp://127.0.0.1:{}", support::Services::from_env().mqtt_port),
        "mqtt.topic": format!("{prefix}/{{key}}"),
        "mqtt.qos": "1",
        "mqtt.reconnect.backoff.max.ms": "1000",
    }});
    let created = worker.call("POST", "/connectors", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);

    let total: u32 = 20_000;
    let producer = tokio::spawn({
        let (topic, run) = (topic.clone(), run.clone());
        async move {
            for second in 0..20 {
                let batch = (second * 1_000..(second + 1) * 1_000)
                    .map(|n| Outgoing::keyed(format!("k{}", n % 10), format!("{run}:{n}")))
                    .collect();
                produce(&topic, batch).await;
                tokio::time::sleep(Duration::from_millis(900)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::spawn_blocking(|| services(&["down", "mosquitto"]))
        .await
        .unwrap();
    println!("mosquitto stopped");
    tokio::time::sleep(Duration::from_secs(20)).await;
    tokio::task::spawn_blocking(|| services(&["up"]))
        .await
        .unwrap();
    println!("mosquitto restarted");
    producer.await.unwrap();

    let distinct = |received: &[support::mqtt::Received]| {
        numbers_of(&run, received.iter().map(|m| m.payload.clone())).0
    };
    let received = subscriber
        .wait_for(Duration::from_secs(120), |r| {
            distinct(r).len() as u64 >= total as u64
        })
        .await;
    let found = distinct(&received);
    println!(
        "sink, Mosquitto down 20 s: {total} records, received {} distinct, duplicates {}, lost {}",
        found.len(),
        received.len() - found.len(),
        total as usize - found.len()
    );
    let status = worker.call("GET", "/connectors/outage/status", None).json();
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
    assert_eq!(found.len() as u64, total as u64, "lost = 0");
}
