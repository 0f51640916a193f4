//! Transformation chains in a real worker, on the real Kafka and Mosquitto: a Kafka Connect
//! config that renames topics, an MQTT source chain with a negated predicate through kill -9, an
//! MQTT sink routing on a field of the value, a third-party transformation from `plugin.path`,
//! and the errors a bad chain gets.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::kafka::{produce, Outgoing};
use support::mqtt::{publish_numbered_as, Subscriber};
use support::unique;
use support::worker::{kill9_and_restart, read_topic, start_worker, TopicRecord, Worker};

const WAIT: Duration = Duration::from_secs(60);

fn running(worker: &Worker, name: &str, tasks: usize) {
    worker.wait_for(&format!("/connectors/{name}/status"), WAIT, |s| {
        s["connector"]["state"] == "RUNNING"
            && s["tasks"]
                .as_array()
                .is_some_and(|t| t.len() == tasks && t.iter().all(|t| t["state"] == "RUNNING"))
    });
}

fn mqtt_uri() -> String {
    format!(
        "tcp://127.0.0.1:{}",
        support::Services::from_env().mqtt_port
    )
}

fn json_values(records: &[TopicRecord]) -> Vec<Value> {
    records
        .iter()
        .filter_map(|r| serde_json::from_slice(r.value.as_deref()?).ok())
        .collect()
}

/// A metric of a connector's task 0, from `/metrics`.
fn metric(worker: &Worker, name: &str, connector: &str) -> u64 {
    let metrics = worker.call("GET", "/metrics", None).body;
    let prefix = format!("{name}{{connector=\"{connector}\",task=\"0\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kafka_connect_config_routes_to_the_renamed_topic_and_bad_chains_are_refused() {
    let topic = unique("i1");
    let (_setup, worker) = start_worker(&["sequence_connector"], "").await;
    // The config from the issue, copied from a Kafka Connect deployment.
    let copied = json!({"name": "routed", "config": {
        "connector.class": "SequenceSource",
        "kafka.topic": topic,
        "max.records": "20",
        "transforms": "route",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": "(.*)",
        "transforms.route.replacement": "$1-x",
    }});
    let created = worker.call("POST", "/connectors", Some(&copied));
    assert_eq!(created.status, 201, "{}", created.body);
    let routed = read_topic(&format!("{topic}-x"), WAIT, |r| r.len() >= 20);
    assert_eq!(routed.len(), 20, "records in {topic}-x");
    let original = read_topic(&topic, Duration::from_secs(3), |r| !r.is_empty());
    assert!(
        original.is_empty(),
        "{} records still went to {topic}",
        original.len()
    );

    let missing = json!({"name": "missing", "config": {
        "connector.class": "SequenceSource",
        "kafka.topic": topic,
        "transforms": "x",
        "transforms.x.type": "com.example.Missing",
    }});
    let refused = worker.call("POST", "/connectors", Some(&missing));
    assert_eq!(refused.status, 400, "{}", refused.body);
    let message = refused.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("transforms.x.type") && message.contains("RegexRouter"),
        "{message}"
    );

    // Validate reports each transformation's and predicate's keys in its own group.
    let chain = json!({
        "connector.class": "SequenceSource",
        "name": "v",
        "kafka.topic": "t",
        "transforms": "route,drop",
        "transforms.route.type": "RegexRouter",
        "transforms.route.regex": "(",
        "transforms.route.replacement": "x",
        "transforms.drop.type": "Filter",
        "transforms.drop.predicate": "undefined",
        "predicates": "tomb",
        "predicates.tomb.type": "RecordIsTombstone",
    });
    let validated = worker.call(
        "PUT",
        "/connector-plugins/SequenceSource/config/validate",
        Some(&chain),
    );
    assert_eq!(validated.status, 200, "{}", validated.body);
    let infos = validated.json();
    let groups: Vec<&str> = infos["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for group in ["Transforms: route", "Transforms: drop", "Predicates: tomb"] {
        assert!(groups.contains(&group), "{group} missing from {groups:?}");
    }
    let errors_of = |key: &str| -> (String, Vec<String>) {
        let config = infos["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["value"]["name"] == key)
            .unwrap_or_else(|| panic!("no entry for {key}"));
        let errors = config["value"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect();
        (
            config["definition"]["group"].as_str().unwrap().to_string(),
            errors,
        )
    };
    let (group, errors) = errors_of("transforms.route.regex");
    assert_eq!(group, "Transforms: route");
    assert!(errors[0].contains("regular expression"), "{errors:?}");
    let (_, errors) = errors_of("transforms.drop.predicate");
    assert!(
        errors[0].contains("`undefined` is not defined"),
        "{errors:?}"
    );

    // The built-ins are listed with Kafka Connect's plugin types and document their keys.
    let plugins = worker
        .call("GET", "/connector-plugins?connectorsOnly=false", None)
        .json();
    let listed = |class: &str, kind: &str| {
        plugins
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["class"] == class && p["type"] == kind)
    };
    assert!(listed(
        "org.apache.kafka.connect.transforms.InsertField$Value",
        "transformation"
    ));
    assert!(listed(
        "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        "predicate"
    ));
    let keys = worker
        .call(
            "GET",
            "/connector-plugins/org.apache.kafka.connect.transforms.RegexRouter/config",
            None,
        )
        .json();
    let names: BTreeSet<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["regex", "replacement"]));
}

/// The MQTT source with JSON payloads and the chain of the issue: drop what is not a car
/// (`Filter` negated on `TopicNameMatches`), rename the topic (`RegexRouter`), insert a static
/// field and the timestamp (`InsertField$Value`), with the worker killed twice meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn an_mqtt_source_chain_routes_inserts_and_filters_through_kill_9_losing_nothing() {
    let prefix = unique("chain");
    let base = unique("chain-out");
    let run = unique("run");
    let (setup, worker) = start_worker(&["ferry_mqtt_source"], "").await;
    let connector = json!({"name": "chain", "config": {
        "connector.class": "MqttSource",
        "mqtt.server.uri": mqtt_uri(),
        "mqtt.topics": format!("{prefix}/+/+"),
        "mqtt.qos": "1",
        "mqtt.payload.format": "json",
        "kafka.topic": format!("{base}-{{1}}"),
        "kafka.key": "level:2",
        "transforms": "onlyCars,route,stamp",
        "transforms.onlyCars.type": "org.apache.kafka.connect.transforms.Filter",
        "transforms.onlyCars.predicate": "isCar",
        "transforms.onlyCars.negate": "true",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": "(.*)-cars",
        "transforms.route.replacement": "$1-fleet",
        "transforms.stamp.type": "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.stamp.static.field": "origin",
        "transforms.stamp.static.value": "ferry",
        "transforms.stamp.timestamp.field": "received",
        "predicates": "isCar",
        "predicates.isCar.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        "predicates.isCar.pattern": ".*-cars",
    }});
    let created = worker.call("POST", "/connectors", Some(&connector));
    assert_eq!(created.status, 201, "{}", created.body);
    running(&worker, "chain", 1);

    // Every fourth message comes from a truck and must be filtered out.
    const COUNT: u64 = 8_000;
    let is_truck = |n: u64| n % 4 == 3;
    let publisher = tokio::spawn({
        let (run, prefix) = (run.clone(), prefix.clone());
        async move {
            publish_numbered_as(
                0,
                COUNT,
                2_000,
                |n| {
                    let kind = if is_truck(n) { "trucks" } else { "cars" };
                    format!("{prefix}/{kind}/v-{}", n % 20)
                },
                |n| json!({"run": run, "n": n}).to_string(),
            )
            .await
        }
    });
    let worker = kill9_and_restart(
        std::sync::Arc::new(setup),
        worker,
        2,
        Duration::from_millis(1500),
    )
    .await;
    let published = publisher.await.unwrap();
    let cars: BTreeSet<u64> = (0..published).filter(|n| !is_truck(*n)).collect();

    let fleet = format!("{base}-fleet");
    let records = tokio::task::spawn_blocking({
        let (fleet, run, wanted) = (fleet.clone(), run.clone(), cars.len());
        move || {
            let of_run = |records: &[TopicRecord]| {
                json_values(records)
                    .iter()
                    .filter(|v| v["run"] == run.as_str())
                    .filter_map(|v| v["n"].as_u64())
                    .collect::<BTreeSet<u64>>()
                    .len()
            };
            read_topic(&fleet, WAIT, |r| of_run(r) >= wanted)
        }
    })
    .await
    .unwrap();
    let values: Vec<Value> = json_values(&records)
        .into_iter()
        .filter(|v| v["run"] == run.as_str())
        .collect();
    let delivered: BTreeSet<u64> = values.iter().filter_map(|v| v["n"].as_u64()).collect();
    let lost: Vec<&u64> = cars.difference(&delivered).collect();
    let trucks_delivered = delivered.iter().filter(|n| is_truck(**n)).count();
    println!(
        "chain through kill -9 twice: {} cars published, {} delivered to {fleet}, duplicates {}, lost {}, trucks delivered {trucks_delivered}",
        cars.len(),
        delivered.len(),
        values.len() - delivered.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "lost {} cars, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(trucks_delivered, 0, "filtered records reached Kafka");
    for value in &values {
        assert_eq!(value["origin"], "ferry", "{value}");
        assert!(
            value["received"]
                .as_i64()
                .is_some_and(|t| t > 1_600_000_000_000),
            "{value}"
        );
    }
    for unrouted in [format!("{base}-cars"), format!("{base}-trucks")] {
        let stray = read_topic(&unrouted, Duration::from_secs(2), |r| !r.is_empty());
        assert!(stray.is_empty(), "{} records in {unrouted}", stray.len());
    }

    // The trucks were acknowledged to the broker, not left for redelivery: after the last
    // restart, nothing comes back and the filtered counter holds only this run's trucks.
    let polled_before = metric(&worker, "ferry_source_records_polled_total", "chain");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let polled_after = metric(&worker, "ferry_source_records_polled_total", "chain");
    assert_eq!(
        polled_before, polled_after,
        "messages were redelivered after the run"
    );
    let filtered = metric(&worker, "ferry_records_filtered_total", "chain");
    let written = metric(&worker, "ferry_source_records_written_total", "chain");
    assert_eq!(
        polled_after,
        filtered + written,
        "every polled record was filtered or written"
    );
}

/// The MQTT sink with `ValueToKey` + `ExtractField$Key`: `cars/{key}/alerts` routes on a field
/// of the value, for records produced without a key. One alert has no car: its key comes out
/// null, the sink cannot route it, and the dead-letter topic gets it as it was read.
#[tokio::test(flavor = "multi_thread")]
async fn an_mqtt_sink_chain_routes_each_alert_on_a_field_of_its_value() {
    let prefix = unique("alerts");
    let topic = unique("unkeyed-alerts");
    let records: Vec<Outgoing> = (0..4)
        .flat_map(|car| {
            (0..5).map(move |n| Outgoing {
                key: None,
                value: json!({"car": format!("car-{car}"), "n": n}).to_string(),
                headers: Vec::new(),
            })
        })
        .collect();
    let mut records = records;
    // Spaced as no serializer writes it: the dead letter must be these bytes, not a re-encoding.
    let unroutable = r#"{ "n" : 99,  "note": "no car" }"#;
    records.insert(
        7,
        Outgoing {
            key: None,
            value: unroutable.to_string(),
            headers: Vec::new(),
        },
    );
    produce(&topic, records).await;
    let dead_letters = unique("unroutable");
    let mut cars = Vec::new();
    for car in 0..4 {
        cars.push(Subscriber::start(&format!("{prefix}/cars/car-{car}/alerts"), false).await);
    }
    let (_setup, worker) = start_worker(&["ferry_mqtt_sink"], "").await;
    let sink = json!({"name": "keyed-by-field", "config": {
        "connector.class": "MqttSink",
        "topics": topic,
        "mqtt.server.uri": mqtt_uri(),
        "mqtt.topic": format!("{prefix}/cars/{{key}}/alerts"),
        "mqtt.qos": "1",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "transforms": "key,extract",
        "transforms.key.type": "org.apache.kafka.connect.transforms.ValueToKey",
        "transforms.key.fields": "car",
        "transforms.extract.type": "org.apache.kafka.connect.transforms.ExtractField$Key",
        "transforms.extract.field": "car",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": dead_letters,
    }});
    let created = worker.call("POST", "/connectors", Some(&sink));
    assert_eq!(created.status, 201, "{}", created.body);
    for (car, subscriber) in cars.iter().enumerate() {
        let received = subscriber.wait_for(WAIT, |r| r.len() >= 5).await;
        assert_eq!(received.len(), 5, "car-{car} got {received:?}");
        for message in &received {
            let value: Value = serde_json::from_slice(&message.payload).unwrap();
            assert_eq!(
                value["car"],
                format!("car-{car}"),
                "an alert reached the wrong car"
            );
        }
    }
    // Offsets follow the records the task acknowledged: the group is committed to the end.
    worker.wait_for("/connectors/keyed-by-field/offsets", WAIT, |o| {
        let committed: u64 = o["offsets"]
            .as_array()
            .map(|offsets| {
                offsets
                    .iter()
                    .filter_map(|p| p["offset"]["kafka_offset"].as_u64())
                    .sum()
            })
            .unwrap_or(0);
        committed == 21
    });
    let dead =
        tokio::task::spawn_blocking(move || read_topic(&dead_letters, WAIT, |r| !r.is_empty()))
            .await
            .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value.as_deref(), Some(unroutable.as_bytes()));
}

/// `examples/custom-transform`, built as a library and loaded from `plugin.path`.
#[tokio::test(flavor = "multi_thread")]
async fn a_third_party_transformation_from_the_plugin_path_changes_records() {
    let prefix = unique("shout");
    let topic = unique("shouted");
    let (_setup, worker) = start_worker(&["ferry_mqtt_source", "uppercase_transform"], "").await;
    let plugins = worker
        .call("GET", "/connector-plugins?connectorsOnly=false", None)
        .json();
    assert!(
        plugins.as_array().unwrap().iter().any(|p| {
            p["class"] == "com.example.transforms.UppercaseField"
                && p["type"] == "transformation"
                && p["version"] == "0.1.0"
        }),
        "{plugins}"
    );
    let connector = json!({"name": "shout", "config": {
        "connector.class": "MqttSource",
        "mqtt.server.uri": mqtt_uri(),
        "mqtt.topics": format!("{prefix}/+"),
        "mqtt.payload.format": "json",
        "kafka.topic": topic,
        "transforms": "shout",
        "transforms.shout.type": "UppercaseField",
        "transforms.shout.field": "status",
    }});
    let created = worker.call("POST", "/connectors", Some(&connector));
    assert_eq!(created.status, 201, "{}", created.body);
    running(&worker, "shout", 1);
    publish_numbered_as(
        0,
        10,
        100,
        |n| format!("{prefix}/{n}"),
        |n| json!({"n": n, "status": "overheating"}).to_string(),
    )
    .await;
    let records = read_topic(&topic, WAIT, |r| r.len() >= 10);
    let values = json_values(&records);
    assert_eq!(values.len(), 10);
    assert!(
        values.iter().all(|v| v["status"] == "OVERHEATING"),
        "{values:?}"
    );

    // Its own key check runs through the boundary, naming the key in full.
    let mut bad = connector.clone();
    bad["name"] = json!("shout-bad");
    bad["config"]["transforms.shout.colour"] = json!("red");
    let refused = worker.call("POST", "/connectors", Some(&bad));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains("transforms.shout.colour"),
        "{}",
        refused.body
    );
}
