//! A planted secret, followed everywhere a distributed cluster could show it: every REST
//! answer, `/metrics`, the workers' debug logs, their state directories and the raw config
//! topic. With `config.storage.secrets.key` it is in none of them, yet the connector
//! authenticates with it against Mosquitto's password listener, through a GET → edit → PUT,
//! on either worker; a worker without the key refuses to start, saying why.

mod support;

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use support::mqtt::{numbers_of, publish_numbered};
use support::worker::{read_topic, Worker, WorkerSetup};
use support::{unique, Services};

const LIBRARIES: &[&str] = &["ferry_mqtt_source"];

fn running(worker: &Worker, name: &str) {
    worker.wait_for(
        &format!("/connectors/{name}/status"),
        Duration::from_secs(60),
        |s| {
            s["tasks"]
                .as_array()
                .is_some_and(|t| t.len() == 1 && t[0]["state"] == "RUNNING")
        },
    );
}

/// Waits until `count` messages of `run` are in `topic`.
fn count_in_kafka(topic: &str, run: &str, count: usize) -> usize {
    let records = read_topic(topic, Duration::from_secs(60), |records| {
        numbers_of(run, records.iter().filter_map(|r| r.value.clone()))
            .0
            .len()
            >= count
    });
    numbers_of(run, records.into_iter().filter_map(|r| r.value))
        .0
        .len()
}

/// Publishes `count` numbered messages under `prefix` and counts how many reached `topic`.
async fn publish_and_count(prefix: &str, topic: &str, count: u64) -> usize {
    let run = unique("run");
    publish_numbered(&run, 0, count, 500, |n| format!("{prefix}/car-{n}")).await;
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || count_in_kafka(&topic, &run, count as usize))
        .await
        .unwrap()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(needle))
        {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_planted_secret_shows_nowhere_and_a_worker_without_the_key_refuses_to_start() {
    let services = Services::from_env();
    let secret = services.mqtt_password.clone();
    let group = unique("sealed");
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("cluster-secrets.properties");
    let key: [u8; 32] =
        std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ unique("k").len() as u8);
    std::fs::write(
        &key_file,
        format!(
            "secrets.key={}\n",
            base64::engine::general_purpose::STANDARD.encode(key)
        ),
    )
    .unwrap();
    let cluster = format!(
        "group.id: {group}\nconfig.storage.topic: {group}-configs\nstatus.storage.topic: {group}-status\nconfig.storage.secrets.key: ${{file:{}:secrets.key}}\n",
        key_file.display()
    );
    let offsets = unique("sealed-offsets");
    let mut setups: Vec<WorkerSetup> = (0..2)
        .map(|_| WorkerSetup::cluster_member(LIBRARIES, &cluster, &offsets))
        .collect();
    for setup in &mut setups {
        setup.log_filter = "debug";
    }
    let (setups, a, b) = tokio::task::spawn_blocking(move || {
        let a = setups[0].start();
        let b = setups[1].start();
        (setups, a, b)
    })
    .await
    .unwrap();

    let prefix = unique("sealed");
    let topic = unique("sealed-out");
    let body = json!({"name": "guarded", "config": {
        "connector.class": "MqttSource",
        "mqtt.server.uri": format!("tcp://127.0.0.1:{}", services.mqtt_auth_port),
        "mqtt.topics": format!("{prefix}/#"),
        "mqtt.qos": "1",
        "mqtt.username": services.mqtt_username,
        "mqtt.password": secret,
        "kafka.topic": topic,
    }});
    let created = a.call("POST", "/connectors", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    let (a, b) = tokio::task::spawn_blocking(move || {
        running(&a, "guarded");
        (a, b)
    })
    .await
    .unwrap();
    let counted = publish_and_count(&prefix, &topic, 100).await;
    assert_eq!(counted, 100, "the connector did not authenticate");

    // GET → edit → PUT on the other worker keeps the sealed secret working.
    let mut config = b.call("GET", "/connectors/guarded/config", None).json();
    assert_eq!(config["mqtt.password"], "[hidden]");
    config["mqtt.keepalive.interval.seconds"] = json!("20");
    let updated = b.call("PUT", "/connectors/guarded/config", Some(&config));
    assert_eq!(updated.status, 200, "{}", updated.body);
    let (a, b) = tokio::task::spawn_blocking(move || {
        a.wait_for("/connectors/guarded/config", Duration::from_secs(30), |c| {
            c["mqtt.keepalive.interval.seconds"] == "20"
        });
        running(&a, "guarded");
        (a, b)
    })
    .await
    .unwrap();
    let counted = publish_and_count(&prefix, &topic, 100).await;
    assert_eq!(
        counted, 100,
        "the connector lost its password in the round trip"
    );

    // Every answer either worker gives about it.
    let paths = [
        "/connectors",
        "/connectors?expand=info&expand=status",
        "/connectors/guarded",
        "/connectors/guarded/config",
        "/connectors/guarded/status",
        "/connectors/guarded/tasks",
        "/connectors/guarded/tasks/0/status",
        "/connectors/guarded/offsets",
        "/connectors/guarded/topics",
        "/connector-plugins/MqttSource/config",
        "/metrics",
        "/admin/loggers",
        "/",
    ];
    for worker in [&a, &b] {
        for path in paths {
            let answer = worker.call("GET", path, None);
            assert!(
                !answer.body.contains(&secret),
                "GET {path} shows the secret: {}",
                answer.body
            );
        }
        let validated = worker.call(
            "PUT",
            "/connector-plugins/MqttSource/config/validate",
            Some(&body["config"]),
        );
        assert_eq!(validated.status, 200, "{}", validated.body);
        assert!(!validated.body.contains(&secret), "{}", validated.body);
    }
    for answer in [&created, &updated] {
        assert!(!answer.body.contains(&secret), "{}", answer.body);
    }

    // Logs at debug level and state directories.
    for (worker, setup) in [(&a, &setups[0]), (&b, &setups[1])] {
        let log = worker.log();
        assert!(log.contains("DEBUG"), "the log is not at debug level");
        assert!(!log.contains(&secret), "the log shows the secret");
        let leaked = files_containing(&setup.dir.path().join("state"), &secret);
        assert!(leaked.is_empty(), "the secret is in {leaked:?}");
    }

    // The raw config topic holds ciphertext only.
    let configs = format!("{group}-configs");
    let records = tokio::task::spawn_blocking(move || {
        read_topic(&configs, Duration::from_secs(10), |records| {
            records.iter().any(|r| {
                r.value
                    .as_deref()
                    .is_some_and(|v| String::from_utf8_lossy(v).contains("keepalive"))
            })
        })
    })
    .await
    .unwrap();
    let values: Vec<String> = records
        .iter()
        .filter_map(|r| r.value.as_deref())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        values.iter().all(|v| !v.contains(&secret)),
        "the config topic holds the secret"
    );
    let sealed: Vec<&String> = values
        .iter()
        .filter(|v| v.contains("ferry:sealed:v1:"))
        .collect();
    assert!(
        sealed.len() >= 2,
        "the connector and task configs are not sealed: {values:?}"
    );
    let connector_record: Value = serde_json::from_str(sealed[0]).unwrap();
    assert!(
        connector_record["properties"]["mqtt.password"]
            .as_str()
            .is_some_and(|p| p.starts_with("ferry:sealed:v1:")),
        "{connector_record}"
    );

    // A third worker without the key cannot read the cluster's secrets and does not start.
    let cluster_without_key = cluster
        .lines()
        .filter(|line| !line.starts_with("config.storage.secrets.key"))
        .collect::<Vec<_>>()
        .join("\n");
    let keyless = WorkerSetup::cluster_member(LIBRARIES, &cluster_without_key, &offsets);
    let (code, log) = tokio::task::spawn_blocking(move || keyless.start_expecting_failure())
        .await
        .unwrap();
    assert_ne!(code, Some(0), "{log}");
    assert!(
        log.contains("config.storage.secrets.key") && log.contains("mqtt.password"),
        "the refusal does not say which key is missing: {log}"
    );
    drop((a, b, setups));
}
