//! The MQTT sink connector in a real worker, from the real Kafka to real MQTT subscribers:
//! per-record routing, kill -9 twice during delivery, and records that cannot be routed.

mod support;

use std::time::Duration;

use rumqttc::QoS;
use serde_json::{json, Value};
use support::kafka::{produce, Outgoing};
use support::mqtt::{numbers_of, Subscriber};
use support::unique;
use support::worker::{read_topic, start_worker, Worker};

const WAIT: Duration = Duration::from_secs(60);
const PLUGINS: &[&str] = &["ferry_mqtt_sink"];

fn sink(name: &str, topic: &str, template: &str) -> Value {
    json!({"name": name, "config": {
        "connector.class": "MqttSink",
        "topics": topic,
        "mqtt.server.uri": format!("tcp://127.0.0.1:{}", support::Services::from_env().mqtt_port),
        "mqtt.topic": template,
        "mqtt.qos": "1",
    }})
}

fn create(worker: &Worker, body: &Value) {
    let created = worker.call("POST", "/connectors", Some(body));
    assert_eq!(created.status, 201, "{}", created.body);
}

fn alert(car: u32, n: u32) -> Outgoing {
    let mut record = Outgoing::keyed(
        format!("car-{car}"),
        json!({"car": format!("car-{car}"), "n": n, "vehicle": {"id": format!("veh-{car}")}})
            .to_string(),
    );
    record
        .headers
        .push(("car".to_string(), format!("car-{car}")));
    record
}

fn payload(received: &support::mqtt::Received) -> Value {
    serde_json::from_slice(&received.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_reach_exactly_their_car_by_key_header_or_json_field() {
    let prefix = unique("fleet");
    let topic = unique("car-alerts");
    let mut records: Vec<Outgoing> = (0..5)
        .flat_map(|car| (0..4).map(move |n| alert(car, n)))
        .collect();
    let mut retained = alert(0, 99);
    retained
        .headers
        .push(("mqtt.retain".to_string(), "true".to_string()));
    records.push(retained);
    produce(&topic, records).await;

    let mut cars = Vec::new();
    for car in 0..5 {
        cars.push(Subscriber::start(&format!("{prefix}/cars/car-{car}/alerts"), false).await);
    }
    let by_header = Subscriber::start(&format!("{prefix}/by-header/#"), false).await;
    let by_field = Subscriber::start(&format!("{prefix}/by-vehicle/#"), false).await;

    let (_setup, worker) = start_worker(PLUGINS, "").await;
    create(
        &worker,
        &sink("keyed", &topic, &format!("{prefix}/cars/{{key}}/alerts")),
    );
    create(
        &worker,
        &sink(
            "headers",
            &topic,
            &format!("{prefix}/by-header/{{header.car}}"),
        ),
    );
    create(
        &worker,
        &sink(
            "fields",
            &topic,
            &format!("{prefix}/by-vehicle/{{value.vehicle.id}}"),
        ),
    );

    for (car, subscriber) in cars.iter().enumerate() {
        let expected = if car == 0 { 5 } else { 4 };
        let received = subscriber.wait_for(WAIT, |r| r.len() >= expected).await;
        assert_eq!(received.len(), expected, "car-{car} got {received:?}");
        for message in &received {
            assert_eq!(
                payload(message)["car"],
                format!("car-{car}"),
                "car-{car} got another car's alert"
            );
            assert_eq!(message.topic, format!("{prefix}/cars/car-{car}/alerts"));
            assert_eq!(message.qos, QoS::AtLeastOnce);
        }
        let numbers: Vec<u64> = received
            .iter()
            .map(|m| payload(m)["n"].as_u64().unwrap())
            .collect();
        let mut in_order = numbers.clone();
        in_order.sort_unstable();
        assert_eq!(numbers, in_order, "order kept per MQTT topic");
    }
    // The record with the retain header was published retained: a newcomer gets it at once.
    let newcomer = Subscriber::start(&format!("{prefix}/cars/car-0/alerts"), false).await;
    let late = newcomer.wait_for(WAIT, |r| !r.is_empty()).await;
    assert!(late[0].retain, "{late:?}");
    assert_eq!(payload(&late[0])["n"], 99);

    for (subscriber, level, name) in [
        (&by_header, "by-header", "car"),
        (&by_field, "by-vehicle", "veh"),
    ] {
        let received = subscriber.wait_for(WAIT, |r| r.len() >= 21).await;
        assert_eq!(received.len(), 21, "{level}");
        for message in &received {
            let car = payload(message)["car"]
                .as_str()
                .unwrap()
                .trim_start_matches("car-")
                .to_string();
            assert_eq!(message.topic, format!("{prefix}/{level}/{name}-{car}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_twice_during_50000_records_every_record_reaches_the_subscriber() {
    let prefix = unique("crash");
    let topic = unique("sink-crash");
    let run = unique("run");
    let subscriber = Subscriber::start(&format!("{prefix}/#"), false).await;
    let (setup, worker) = start_worker(PLUGINS, "").await;
    create(
        &worker,
        &sink("crash", &topic, &format!("{prefix}/{{key}}")),
    );

    let total: u32 = 50_000;
    let producer = tokio::spawn({
        let (topic, run) = (topic.clone(), run.clone());
        async move {
            // 5,000 records a second for 10 s, while the worker is killed twice.
            for second in 0..10 {
                let batch = (second * 5_000..(second + 1) * 5_000)
                    .map(|n| Outgoing::keyed(format!("k{}", n % 20), format!("{run}:{n}")))
                    .collect();
                produce(&topic, batch).await;
                tokio::time::sleep(Duration::from_millis(800)).await;
            }
        }
    });
    let setup = std::sync::Arc::new(setup);
    let mut worker = Some(worker);
    for round in 1..=2 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let victim = worker.take().unwrap();
        tokio::task::spawn_blocking(move || victim.kill9())
            .await
            .unwrap();
        println!("round {round}: worker killed with -9");
        let restarted = tokio::task::spawn_blocking({
            let setup = setup.clone();
            move || setup.start()
        })
        .await
        .unwrap();
        worker = Some(restarted);
    }
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
        "sink kill -9 twice: {total} records, received {} distinct, duplicates {}, lost {}",
        found.len(),
        received.len() - found.len(),
        total as usize - found.len()
    );
    assert_eq!(found.len() as u64, total as u64, "lost = 0");
    drop(worker);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_that_cannot_be_routed_is_dead_lettered_or_fails_the_task() {
    let prefix = unique("bad");
    let topic = unique("bad-alerts");
    let dead_letters = unique("bad-dlq");
    let mut records = vec![alert(1, 0), alert(2, 0)];
    records.insert(
        1,
        Outgoing {
            key: None,
            value: "{\"car\":\"nobody\"}".to_string(),
            headers: Vec::new(),
        },
    );
    produce(&topic, records).await;
    let subscriber = Subscriber::start(&format!("{prefix}/#"), false).await;
    let (_setup, worker) = start_worker(PLUGINS, "task.restart.enabled: false").await;

    let mut tolerant = sink("tolerant", &topic, &format!("{prefix}/all/{{key}}"));
    tolerant["config"]["errors.tolerance"] = json!("all");
    tolerant["config"]["errors.deadletterqueue.topic.name"] = json!(dead_letters);
    create(&worker, &tolerant);
    let received = subscriber.wait_for(WAIT, |r| r.len() >= 2).await;
    let topics: Vec<&str> = received.iter().map(|m| m.topic.as_str()).collect();
    assert_eq!(
        topics,
        [format!("{prefix}/all/car-1"), format!("{prefix}/all/car-2")]
    );
    let dead =
        tokio::task::spawn_blocking(move || read_topic(&dead_letters, WAIT, |r| !r.is_empty()))
            .await
            .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value.as_deref(), Some(&b"{\"car\":\"nobody\"}"[..]));
    let reason = dead[0]
        .headers
        .iter()
        .find(|(k, _)| k == "__connect.errors.exception.message")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap();
    assert!(reason.contains("key"), "{reason}");

    create(
        &worker,
        &sink("strict", &topic, &format!("{prefix}/none/{{key}}")),
    );
    let failed = worker.wait_for("/connectors/strict/tasks/0/status", WAIT, |t| {
        t["state"] == "FAILED"
    });
    let trace = failed["trace"].as_str().unwrap();
    assert!(
        trace.contains("cannot be written") && trace.contains("key"),
        "{trace}"
    );
    assert!(trace.contains("errors.tolerance"), "{trace}");
}
