//! Outages of the real services under load, with the MQTT source in a real worker: Kafka stopped
//! for 20 s, then Mosquitto restarted. Its own test binary with one test, because it stops the
//! shared services: cargo runs test binaries one after another, so nothing else is running.

mod support;

use std::time::Duration;

use serde_json::json;
use support::mqtt::{numbers_of, publish_numbered};
use support::worker::{read_topic, start_worker};
use support::{dev_services as services, unique};

fn topic_of(prefix: &str, n: u64) -> String {
    let side = if n % 2 == 0 { "even" } else { "odd" };
    format!("{prefix}/{side}/{}", n % 20)
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_down_for_20_s_then_mosquitto_restarted_loses_nothing() {
    let prefix = unique("outage");
    let topic = unique("outage-out");
    let run = unique("run");
    let (setup, worker) = start_worker(&["ferry_mqtt_source"], "").await;
    let body = json!({"name": "outage", "config": {
        "connector.class": "MqttSource",
        "tasks.max": "2",
        "mqtt.server.uri": format!("tcp://127.0.0.1:{}", support::Services::from_env().mqtt_port),
        // Two filters split across the two tasks: plain persistent subscriptions, which
        // Mosquitto keeps across its restart (it drops shared ones; see the README).
        "mqtt.topics": format!("{prefix}/even/+,{prefix}/odd/+"),
        "mqtt.tasks.split": "filters",
        "mqtt.qos": "1",
        "mqtt.reconnect.backoff.max.ms": "1000",
        "kafka.topic": topic,
    }});
    let created = worker.call("POST", "/connectors", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    worker.wait_for("/connectors/outage/status", Duration::from_secs(60), |s| {
        s["tasks"]
            .as_array()
            .is_some_and(|t| t.len() == 2 && t.iter().all(|t| t["state"] == "RUNNING"))
    });

    // Phase 1: 20 s of load at 1,000 msg/s; Kafka goes away for 20 s in the middle.
    let publisher = tokio::spawn({
        let (run, prefix) = (run.clone(), prefix.clone());
        async move { publish_numbered(&run, 0, 20_000, 1_000, |n| topic_of(&prefix, n)).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::spawn_blocking(|| services(&["down", "kafka"]))
        .await
        .unwrap();
    println!("kafka stopped");
    tokio::time::sleep(Duration::from_secs(20)).await;
    tokio::task::spawn_blocking(|| services(&["up"]))
        .await
        .unwrap();
    println!("kafka restarted");
    let phase_one = publisher.await.unwrap();

    // Phase 2: Mosquitto restarts while messages flow.
    let publisher = tokio::spawn({
        let (run, prefix) = (run.clone(), prefix.clone());
        async move { publish_numbered(&run, phase_one, 5_000, 1_000, |n| topic_of(&prefix, n)).await }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::spawn_blocking(|| {
        services(&["down", "mosquitto"]);
        services(&["up"]);
    })
    .await
    .unwrap();
    println!("mosquitto restarted");
    let phase_two = publisher.await.unwrap();
    let published = phase_one + phase_two;

    let (distinct, total) = tokio::task::spawn_blocking({
        let (topic, run) = (topic.clone(), run.clone());
        move || {
            let wanted = published as usize;
            let records = read_topic(&topic, Duration::from_secs(120), |r| {
                numbers_of(&run, r.iter().filter_map(|r| r.value.clone()))
                    .0
                    .len()
                    >= wanted
            });
            numbers_of(&run, records.iter().filter_map(|r| r.value.clone()))
        }
    })
    .await
    .unwrap();
    println!(
        "outages: published {published} (acknowledged by Mosquitto), in Kafka {} distinct, duplicates {}, lost {}",
        distinct.len(),
        total - distinct.len(),
        published as usize - distinct.len()
    );
    let status = worker.call("GET", "/connectors/outage/status", None).json();
    if distinct.len() as u64 != published {
        // Say where the missing records stopped: never polled (MQTT side) or polled but never
        // acknowledged by Kafka (producer side), and what the worker logged.
        let metrics = worker.call("GET", "/metrics", None).body;
        let ours: Vec<&str> = metrics
            .lines()
            .filter(|l| l.contains("connector=\"outage\""))
            .collect();
        println!("status: {status}\nmetrics:\n{}", ours.join("\n"));
        println!(
            "--- worker log (broker-down lines left out) ---\n{}",
            worker.log_excerpt(400)
        );
    }
    assert!(
        status["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "RUNNING"),
        "tasks recovered: {status}"
    );
    assert_eq!(
        distinct.len() as u64,
        published,
        "lost = 0; missing: {:?}",
        missing_ranges(&distinct, published)
    );
    drop(worker);
    drop(setup);
}

/// The numbers below `count` that are missing, as inclusive ranges.
fn missing_ranges(found: &std::collections::BTreeSet<u64>, count: u64) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for n in (0..count).filter(|n| !found.contains(n)) {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == n => *end = n,
            _ => ranges.push((n, n)),
        }
    }
    ranges
}
