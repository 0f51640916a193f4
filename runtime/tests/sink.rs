//! The sink path end to end: consumer group `connect-<name>`, `put`, commits of exactly what
//! `pre_commit` returns, errant records under both tolerances, the dead-letter topic, and the
//! offsets API for sinks. Uses a test sink that appends records to a file.

mod support;

use std::time::{Duration, Instant};

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use support::unique;
use support::worker::{read_topic, start_worker};

const WAIT: Duration = Duration::from_secs(30);

async fn produce(topic: &str, values: &[String]) {
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set(
            "bootstrap.servers",
            support::Services::from_env().kafka_bootstrap,
        )
        .create()
        .unwrap();
    for (i, value) in values.iter().enumerate() {
        let key = format!("k{i}");
        let headers = OwnedHeaders::new().insert(Header {
            key: "origin",
            value: Some("test"),
        });
        producer
            .send(
                FutureRecord::to(topic)
                    .key(&key)
                    .payload(value)
                    .headers(headers),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn wait_for_lines(path: &std::path::Path, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = lines(path);
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {count} lines arrived",
            found.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sink_commits_what_pre_commit_returns_and_dead_letters_errant_records() {
    let topic = unique("sink-in");
    let dead_letters = unique("sink-dlq");
    let mut values: Vec<String> = (0..50).map(|i| format!("v{i}")).collect();
    values[10] = "poison".to_string();
    produce(&topic, &values).await;

    let (setup, worker) = start_worker(&["ferry_test_file_sink"], "").await;
    let output = setup.dir.path().join("out.jsonl");
    let body = json!({"name": "files", "config": {
        "connector.class": "FileSink",
        "topics": topic,
        "output.file": output.display().to_string(),
        "errant.value": "poison",
        "commit.lag": "5",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": dead_letters,
    }});
    let created = worker.call("POST", "/connectors", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["type"], "sink");

    let written = wait_for_lines(&output, 49);
    assert_eq!(written.len(), 49);
    let offsets: Vec<i64> = written
        .iter()
        .map(|l| l["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(
        offsets,
        (0..50).filter(|o| *o != 10).collect::<Vec<_>>(),
        "in order, poison skipped"
    );
    assert_eq!(written[0]["value"], "v0");
    assert_eq!(written[0]["key"], "k0");
    assert_eq!(written[0]["headers"], json!([["origin", "test"]]));

    let dead = read_topic(&dead_letters, WAIT, |r| !r.is_empty());
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value.as_deref(), Some(&b"poison"[..]));
    let header = |name: &str| {
        dead[0]
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| panic!("dead letter lacks {name}"))
    };
    assert_eq!(header("__connect.errors.topic"), topic);
    assert_eq!(header("__connect.errors.offset"), "10");
    assert_eq!(header("__connect.errors.connector.name"), "files");
    assert!(header("__connect.errors.exception.message").contains("errant.value"));
    assert_eq!(header("origin"), "test", "original headers are kept");

    // Stopping commits; the committed offset is exactly what pre_commit returned (50 - lag 5).
    assert_eq!(
        worker.call("PUT", "/connectors/files/stop", None).status,
        204
    );
    worker.wait_for("/connectors/files/status", WAIT, |s| {
        s["tasks"] == json!([])
    });
    let committed = worker.call("GET", "/connectors/files/offsets", None).json();
    assert_eq!(
        committed,
        json!({"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 45}}]})
    );

    // Move the group back to offset 20: after resume, records from 20 on arrive again.
    let patch = json!({"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 20}}]});
    let altered = worker.call("PATCH", "/connectors/files/offsets", Some(&patch));
    assert_eq!(altered.status, 200, "{}", altered.body);
    assert_eq!(
        worker.call("GET", "/connectors/files/offsets", None).json()["offsets"][0]["offset"]
            ["kafka_offset"],
        20
    );
    assert_eq!(
        worker.call("PUT", "/connectors/files/resume", None).status,
        202
    );
    let again = wait_for_lines(&output, 49 + 30);
    assert_eq!(again[49]["offset"], 20);

    assert_eq!(
        worker.call("PUT", "/connectors/files/stop", None).status,
        204
    );
    worker.wait_for("/connectors/files/status", WAIT, |s| {
        s["tasks"] == json!([])
    });
    let reset = worker.call("DELETE", "/connectors/files/offsets", None);
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(
        worker.call("GET", "/connectors/files/offsets", None).json(),
        json!({"offsets": []})
    );
    drop(worker);
    drop(setup);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_errant_record_fails_the_task_when_tolerance_is_none() {
    let prefix = unique("strict");
    let topic = format!("{prefix}-in");
    let values: Vec<String> = ["a", "b", "c", "poison", "e"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    produce(&topic, &values).await;

    let (setup, worker) =
        start_worker(&["ferry_test_file_sink"], "task.restart.enabled: false").await;
    let output = setup.dir.path().join("out.jsonl");
    let body = json!({"name": "strict", "config": {
        "connector.class": "ferry.test.FileSinkConnector",
        "topics.regex": format!("{prefix}-.*"),
        "output.file": output.display().to_string(),
        "errant.value": "poison",
    }});
    assert_eq!(worker.call("POST", "/connectors", Some(&body)).status, 201);
    let failed = worker.wait_for("/connectors/strict/tasks/0/status", WAIT, |t| {
        t["state"] == "FAILED"
    });
    let trace = failed["trace"].as_str().unwrap();
    assert!(
        trace.contains(&format!("record {topic}-0@3 cannot be written")),
        "{trace}"
    );
    assert!(trace.contains("errors.tolerance=none"), "{trace}");
    // The task wrote the rest of its batch before the worker saw the report; none of it counts
    // as done: nothing past the errant record is committed, so it is all delivered again.
    let written: Vec<Value> = lines(&output).iter().map(|l| l["value"].clone()).collect();
    assert_eq!(written, [json!("a"), json!("b"), json!("c"), json!("e")]);
    let committed = worker
        .call("GET", "/connectors/strict/offsets", None)
        .json();
    let offset = committed["offsets"][0]["offset"]["kafka_offset"]
        .as_i64()
        .unwrap_or(0);
    assert!(
        offset <= 3,
        "never committed past the record that failed: {committed}"
    );
    drop(worker);
    drop(setup);
}

/// A sink may start before the topic it reads exists (its source creates it later): the
/// consumer waits for it, as Kafka Connect's does, instead of failing the task. Restarts are
/// off, so a failure would stay visible.
#[tokio::test(flavor = "multi_thread")]
async fn a_sink_waits_for_a_topic_that_does_not_exist_yet() {
    let topic = unique("sink-later");
    let (setup, worker) =
        start_worker(&["ferry_test_file_sink"], "task.restart.enabled: false\n").await;
    let output = setup.dir.path().join("later.jsonl");
    let body = json!({"name": "early", "config": {
        "connector.class": "FileSink",
        "topics": topic,
        "output.file": output.display().to_string(),
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    }});
    let created = worker.call("POST", "/connectors", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    let deadline = Instant::now() + WAIT;
    while !worker.log().contains("the consumer waits") {
        assert!(
            Instant::now() < deadline,
            "the consumer never reported the missing topic {topic} within {WAIT:?}:\n{}",
            worker.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = worker.call("GET", "/connectors/early/status", None).json();
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");

    let values: Vec<String> = (0..20).map(|i| format!("late{i}")).collect();
    produce(&topic, &values).await;
    let written = wait_for_lines(&output, 20);
    assert_eq!(written.len(), 20);
    let status = worker.call("GET", "/connectors/early/status", None).json();
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
}
