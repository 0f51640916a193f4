//! The MQTT source connector in a real worker, between the real Mosquitto and the real Kafka:
//! scale-out with shared subscriptions, kill -9 twice, bad credentials, the example config.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::mqtt::{numbers_of, publish_numbered, publish_numbered_at};
use support::unique;
use support::worker::{kill9_and_restart, read_topic, start_worker, Worker, WorkerSetup};

const WAIT: Duration = Duration::from_secs(60);
const PLUGINS: &[&str] = &["ferry_mqtt_source"];

fn source(name: &str, filter: &str, topic: &str, tasks: u32) -> Value {
    source_at_qos(name, filter, topic, tasks, 1)
}

fn source_at_qos(name: &str, filter: &str, topic: &str, tasks: u32, qos: u8) -> Value {
    json!({"name": name, "config": {
        "connector.class": "MqttSource",
        "tasks.max": tasks.to_string(),
        "mqtt.server.uri": format!("tcp://127.0.0.1:{}", support::Services::from_env().mqtt_port),
        "mqtt.topics": filter,
        "mqtt.qos": qos.to_string(),
        "kafka.topic": topic,
        "kafka.key": "level:2",
    }})
}

fn running(worker: &Worker, name: &str, tasks: usize) {
    worker.wait_for(&format!("/connectors/{name}/status"), WAIT, |s| {
        s["connector"]["state"] == "RUNNING"
            && s["tasks"]
                .as_array()
                .is_some_and(|t| t.len() == tasks && t.iter().all(|t| t["state"] == "RUNNING"))
    });
}

/// Reads the topic until every number below `count` of `run` is there; returns (distinct, total).
fn count_in_kafka(topic: &str, run: &str, count: u64) -> (usize, usize) {
    let records = read_topic(topic, WAIT, |r| {
        numbers_of(run, r.iter().filter_map(|r| r.value.clone()))
            .0
            .len() as u64
            >= count
    });
    // Read on briefly to catch duplicates that arrive after the last new number.
    let records = if records.is_empty() {
        records
    } else {
        read_topic(topic, Duration::from_secs(2), |_| false)
    };
    let (distinct, total) = numbers_of(run, records.iter().filter_map(|r| r.value.clone()));
    (distinct.len(), total)
}

#[tokio::test(flavor = "multi_thread")]
async fn three_tasks_on_a_shared_subscription_deliver_30000_messages_exactly_once() {
    let prefix = unique("scale");
    let topic = unique("scale-out");
    let run = unique("run");
    let (setup, worker) = start_worker(PLUGINS, "").await;
    let created = worker.call(
        "POST",
        "/connectors",
        Some(&source("scale", &format!("{prefix}/devices/+"), &topic, 3)),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    running(&worker, "scale", 3);

    let published = publish_numbered(&run, 0, 30_000, 20_000, |n| {
        format!("{prefix}/devices/{}", n % 100)
    })
    .await;
    let (distinct, total) = tokio::task::spawn_blocking({
        let (topic, run) = (topic.clone(), run.clone());
        move || count_in_kafka(&topic, &run, published)
    })
    .await
    .unwrap();
    println!("shared subscription, 3 tasks: published {published}, in Kafka {distinct} distinct of {total}");
    assert_eq!(
        distinct as u64,
        published,
        "lost {}",
        published - distinct as u64
    );
    assert_eq!(total, distinct, "exactly once: no duplicates");
    let metrics = worker.call("GET", "/metrics", None).body;
    for task in 0..3 {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "ferry_source_records_written_total{{connector=\"scale\",task=\"{task}\"}}"
                ))
            })
            .unwrap();
        let written: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(written > 0, "task {task} took no share: {line}");
    }
    drop(worker);
    drop(setup);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_twice_during_50000_messages_loses_nothing() {
    kill_9_twice_during(1, 50_000, 5_000).await;
}

/// At QoS 2 a kill -9 also leaves flows the broker finishes after the restart: it resends PUBREL
/// for each message Ferry had sent PUBREC for, and the new session must answer PUBCOMP to each
/// (rumqttc alone treats those as a protocol error; see `EventLoop::expect_pubrel`), then carry on.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_twice_at_qos_2_loses_nothing_and_the_session_resumes() {
    kill_9_twice_during(2, 30_000, 3_000).await;
}

async fn kill_9_twice_during(qos: u8, messages: u64, per_second: u64) {
    let prefix = unique("crash");
    let topic = unique("crash-out");
    let run = unique("run");
    let (setup, worker) = start_worker(PLUGINS, "").await;
    // A name of its own: the connector's name is its MQTT client ids' prefix, and tests that run
    // at once would otherwise take over each other's sessions.
    let name = format!("crash-qos{qos}");
    let body = source_at_qos(&name, &format!("{prefix}/cars/+"), &topic, 2, qos);
    assert_eq!(worker.call("POST", "/connectors", Some(&body)).status, 201);
    running(&worker, &name, 2);

    let level = if qos == 2 {
        rumqttc::QoS::ExactlyOnce
    } else {
        rumqttc::QoS::AtLeastOnce
    };
    let publisher = tokio::spawn({
        let (run, prefix) = (run.clone(), prefix.clone());
        async move {
            publish_numbered_at(
                level,
                0,
                messages,
                per_second,
                |n| format!("{prefix}/cars/{}", n % 50),
                |n| format!("{run}:{n}"),
            )
            .await
        }
    });
    let worker = kill9_and_restart(
        std::sync::Arc::new(setup),
        worker,
        2,
        Duration::from_secs(3),
    )
    .await;
    let published = publisher.await.unwrap();
    let (distinct, total) = tokio::task::spawn_blocking({
        let (topic, run) = (topic.clone(), run.clone());
        move || count_in_kafka(&topic, &run, published)
    })
    .await
    .unwrap();
    println!(
        "kill -9 twice at QoS {qos}: published {published}, in Kafka {distinct} distinct, duplicates {}, lost {}",
        total - distinct,
        published - distinct as u64
    );
    assert_eq!(
        distinct as u64, published,
        "every acknowledged message reaches Kafka"
    );
    // The session carries on after the restarts: a message published now arrives too.
    let after = publish_numbered_at(
        level,
        messages,
        1,
        1,
        |_| format!("{prefix}/cars/0"),
        |n| format!("{run}:{n}"),
    )
    .await;
    let (distinct, _) = tokio::task::spawn_blocking({
        let (topic, run) = (topic.clone(), run.clone());
        move || count_in_kafka(&topic, &run, messages + after)
    })
    .await
    .unwrap();
    assert_eq!(
        distinct as u64,
        messages + after,
        "a message published after the restarts reaches Kafka"
    );
    running(&worker, &name, 2);
    drop(worker);
}

#[test]
fn a_wrong_password_fails_the_task_with_a_clear_trace() {
    let setup = WorkerSetup::new(PLUGINS, "task.restart.backoff.initial.ms: 60000");
    let worker = setup.start();
    let services = support::Services::from_env();
    let body = json!({"name": "auth", "config": {
        "connector.class": "ferry.mqtt.MqttSourceConnector",
        "mqtt.server.uri": format!("tcp://127.0.0.1:{}", services.mqtt_auth_port),
        "mqtt.topics": "secure/#",
        "mqtt.username": services.mqtt_username,
        "mqtt.password": "not-the-password",
        "kafka.topic": unique("auth"),
    }});
    assert_eq!(worker.call("POST", "/connectors", Some(&body)).status, 201);
    let failed = worker.wait_for("/connectors/auth/tasks/0/status", WAIT, |t| {
        t["state"] == "FAILED"
    });
    let trace = failed["trace"].as_str().unwrap();
    assert!(
        trace.contains("mqtt.password") || trace.contains("mqtt.username"),
        "{trace}"
    );
    // The secret never shows in REST answers other than the config it was given in.
    assert!(!worker
        .call("GET", "/connectors/auth/status", None)
        .body
        .contains("not-the-password"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_config_maps_car_telemetry_to_sensor_data_keyed_by_car() {
    let example: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/connectors/mqtt-source.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(example["config"]["kafka.topic"], "sensor-data");
    assert_eq!(example["config"]["mqtt.topics"], "vehicles/sensor/data/+");
    // The same config, moved to this test's own topics so parallel runs do not meet.
    let prefix = unique("fleet");
    let topic = unique("sensor-data");
    let mut body = example.clone();
    body["name"] = json!("cars");
    body["config"]["mqtt.topics"] = json!(format!("{prefix}/vehicles/sensor/data/+"));
    body["config"]["kafka.topic"] = json!(topic);
    body["config"]["kafka.key"] = json!("level:4");
    body["config"]["mqtt.shared.subscription.group"] = json!(unique("cars"));
    let (setup, worker) = start_worker(PLUGINS, "").await;
    let created = worker.call("POST", "/connectors", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    running(&worker, "cars", 2);
    let run = unique("run");
    publish_numbered(&run, 0, 10, 100, |n| {
        format!("{prefix}/vehicles/sensor/data/electric-vehicle-{n:05}")
    })
    .await;
    let records = tokio::task::spawn_blocking(move || read_topic(&topic, WAIT, |r| r.len() >= 10))
        .await
        .unwrap();
    assert_eq!(records.len(), 10);
    for record in &records {
        let value = String::from_utf8(record.value.clone().unwrap()).unwrap();
        let n: u64 = value.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(
            record.key.as_deref(),
            Some(format!("electric-vehicle-{n:05}").as_bytes())
        );
        let mqtt_topic = record
            .headers
            .iter()
            .find(|(k, _)| k == "mqtt.topic")
            .unwrap();
        assert_eq!(
            mqtt_topic.1,
            format!("{prefix}/vehicles/sensor/data/electric-vehicle-{n:05}").into_bytes()
        );
    }
    drop(worker);
    drop(setup);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_hidden_in_every_answer_and_survive_a_get_edit_put() {
    let services = support::Services::from_env();
    let secret = services.mqtt_password.clone();
    let (setup, worker) = start_worker(PLUGINS, "").await;
    let prefix = unique("secret");
    let topic = unique("secret-out");
    let body = json!({"name": "guarded", "config": {
        "connector.class": "MqttSource",
        "mqtt.server.uri": format!("tcp://127.0.0.1:{}", services.mqtt_auth_port),
        "mqtt.topics": format!("{prefix}/#"),
        "mqtt.qos": "1",
        "mqtt.username": services.mqtt_username,
        "mqtt.password": secret,
        "kafka.topic": topic,
    }});
    let created = worker.call("POST", "/connectors", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    running(&worker, "guarded", 1);

    // Every answer that carries the config shows the secret as [hidden], never the value.
    let answers = [
        created.clone(),
        worker.call("GET", "/connectors/guarded", None),
        worker.call("GET", "/connectors/guarded/config", None),
        worker.call("GET", "/connectors/guarded/tasks", None),
        worker.call("GET", "/connectors?expand=info&expand=status", None),
        worker.call(
            "PUT",
            "/connector-plugins/MqttSource/config/validate",
            Some(&body["config"]),
        ),
    ];
    for answer in &answers {
        assert!(
            !answer.body.contains(&secret),
            "the secret shows: {}",
            answer.body
        );
        assert!(answer.body.contains("[hidden]"), "{}", answer.body);
    }
    let definitions = worker
        .call("GET", "/connector-plugins/MqttSource/config", None)
        .json();
    let password = definitions
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "mqtt.password")
        .unwrap();
    assert_eq!(password["type"], "PASSWORD");

    // GET → edit → PUT: the stored secret is kept and the connector still authenticates.
    let mut config = worker
        .call("GET", "/connectors/guarded/config", None)
        .json();
    assert_eq!(config["mqtt.password"], "[hidden]");
    config["mqtt.keepalive.interval.seconds"] = json!("20");
    let updated = worker.call("PUT", "/connectors/guarded/config", Some(&config));
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert!(!updated.body.contains(&secret));
    running(&worker, "guarded", 1);
    let run = unique("run");
    publish_numbered(&run, 0, 200, 500, |n| format!("{prefix}/car-{n}")).await;
    let (distinct, _) = tokio::task::spawn_blocking(move || count_in_kafka(&topic, &run, 200))
        .await
        .unwrap();
    assert_eq!(
        distinct, 200,
        "the connector lost its password in the round trip"
    );

    // The state file holds the secret (the worker needs it after a restart), for its user only.
    use std::os::unix::fs::PermissionsExt;
    let state = setup.dir.path().join("state").join("connectors.json");
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is {mode:o}", state.display());
}

/// Partitions and `cleanup.policy` of a topic, from the broker.
async fn described(topic: &str) -> (usize, String) {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let bootstrap = support::Services::from_env().kafka_bootstrap;
    let mut client = rdkafka::ClientConfig::new();
    client.set("bootstrap.servers", &bootstrap);
    let consumer: BaseConsumer = client.create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len();
    let admin: AdminClient<DefaultClientContext> = client.create().unwrap();
    let configs = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    let policy = configs[0]
        .as_ref()
        .unwrap()
        .get("cleanup.policy")
        .and_then(|e| e.value.clone())
        .unwrap_or_default();
    (partitions, policy)
}

#[tokio::test(flavor = "multi_thread")]
async fn topic_creation_groups_create_each_topic_with_its_settings() {
    let prefix = unique("created");
    let base = unique("tc");
    let (setup, worker) = start_worker(PLUGINS, "").await;
    let mut body = source("tc", &format!("{prefix}/+/+"), &format!("{base}-{{1}}"), 1);
    let config = body["config"].as_object_mut().unwrap();
    for (key, value) in [
        ("topic.creation.groups", "compacted".to_string()),
        ("topic.creation.default.replication.factor", "1".to_string()),
        ("topic.creation.default.partitions", "3".to_string()),
        ("topic.creation.compacted.include", format!("{base}-state")),
        ("topic.creation.compacted.partitions", "1".to_string()),
        (
            "topic.creation.compacted.cleanup.policy",
            "compact".to_string(),
        ),
    ] {
        config.insert(key.to_string(), json!(value));
    }

    // A mistake is refused by name, before anything is created.
    let mut wrong = body.clone();
    wrong["config"]
        .as_object_mut()
        .unwrap()
        .remove("topic.creation.default.partitions");
    wrong["config"]["topic.creation.other.partitions"] = json!("2");
    let refused = worker.call("POST", "/connectors", Some(&wrong));
    assert_eq!(refused.status, 400, "{}", refused.body);
    let message = refused.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("topic.creation.default.partitions")
            && message.contains("topic.creation.other.partitions"),
        "{message}"
    );

    let created = worker.call("POST", "/connectors", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    running(&worker, "tc", 1);
    let run = unique("run");
    // Level 1 of the MQTT topic picks the Kafka topic; level 2 is the key (a compacted topic
    // refuses records without one).
    publish_numbered(&run, 0, 5, 100, |n| format!("{prefix}/state/car-{n}")).await;
    publish_numbered(&run, 5, 5, 100, |n| format!("{prefix}/raw/car-{n}")).await;
    for kind in ["state", "raw"] {
        let topic = format!("{base}-{kind}");
        let run = run.clone();
        let (distinct, _) = tokio::task::spawn_blocking(move || count_in_kafka(&topic, &run, 5))
            .await
            .unwrap();
        assert_eq!(distinct, 5, "{kind}");
    }
    assert_eq!(
        described(&format!("{base}-state")).await,
        (1, "compact".to_string())
    );
    assert_eq!(
        described(&format!("{base}-raw")).await,
        (3, "delete".to_string())
    );

    // A topic Kafka cannot create fails the task with a trace that names the keys to fix. Its
    // own MQTT and Kafka topics: the first connector must not see its message, or that one
    // would create the topic first.
    let elsewhere = unique("impossible");
    let bad_topic = unique("tc-bad");
    let mut impossible = source("tc-bad", &format!("{elsewhere}/+/+"), &bad_topic, 1);
    impossible["config"]["topic.creation.default.replication.factor"] = json!("5");
    impossible["config"]["topic.creation.default.partitions"] = json!("1");
    let created = worker.call("POST", "/connectors", Some(&impossible));
    assert_eq!(created.status, 201, "{}", created.body);
    running(&worker, "tc-bad", 1);
    publish_numbered(&run, 10, 1, 100, |_| format!("{elsewhere}/bad/car")).await;
    let status = worker.wait_for("/connectors/tc-bad/status", WAIT, |s| {
        s["tasks"][0]["state"] == "FAILED"
    });
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains(&format!("cannot create topic {bad_topic}"))
            && trace.contains("topic.creation.default"),
        "{trace}"
    );
    drop(worker);
    drop(setup);
}
