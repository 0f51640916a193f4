//! The standalone worker end to end: the real `ferry` binary, real HTTP, real Kafka, and the
//! example sequence connector loaded as a plugin.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::unique;
use support::worker::{read_topic, sequences, TopicRecord, Worker, WorkerSetup};

const SEQUENCE: &str = "sequence_connector";

fn sequence_connector(name: &str, topic: &str, tasks: u32, rate: u32, max_records: u64) -> Value {
    json!({
        "name": name,
        "config": {
            "connector.class": "SequenceSource",
            "tasks.max": tasks.to_string(),
            "kafka.topic": topic,
            "rate.per.second": rate.to_string(),
            "max.records": max_records.to_string(),
        }
    })
}

/// Asserts each task's numbers cover 0..=max without a gap; returns the duplicates.
fn assert_no_gaps(by_task: &BTreeMap<u64, Vec<u64>>) -> usize {
    let mut duplicates = 0;
    for (task, seqs) in by_task {
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        let total = sorted.len();
        sorted.dedup();
        duplicates += total - sorted.len();
        let max = *sorted.last().unwrap();
        assert_eq!(
            sorted.len() as u64,
            max + 1,
            "task {task}: {} distinct numbers up to {max}: records were lost",
            sorted.len()
        );
    }
    duplicates
}

fn running(status: &Value, tasks: usize) -> bool {
    status["connector"]["state"] == "RUNNING"
        && status["tasks"]
            .as_array()
            .is_some_and(|t| t.len() == tasks && t.iter().all(|t| t["state"] == "RUNNING"))
}

fn metric(worker: &Worker, name: &str, connector: &str) -> u64 {
    let text = worker.call("GET", "/metrics", None).body;
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(&format!("connector=\"{connector}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn rest_lifecycle_matches_kafka_connect() {
    let setup = WorkerSetup::new(&[SEQUENCE], "");
    let worker = setup.start();
    let topic = unique("numbers");

    let created = worker.call(
        "POST",
        "/connectors",
        Some(&sequence_connector("seq", &topic, 2, 200, 0)),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("location"), Some("/connectors/seq"));
    let info = created.json();
    assert_eq!(info["name"], "seq");
    assert_eq!(info["type"], "source");
    assert_eq!(info["config"]["name"], "seq");

    let again = worker.call(
        "POST",
        "/connectors",
        Some(&sequence_connector("seq", &topic, 2, 200, 0)),
    );
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error_code"], 409);
    assert!(again.json()["message"]
        .as_str()
        .unwrap()
        .contains("already exists"));

    assert_eq!(
        worker.call("GET", "/connectors", None).json(),
        json!(["seq"])
    );
    worker.wait_for("/connectors/seq/status", WAIT, |s| running(s, 2));
    let tasks = worker.call("GET", "/connectors/seq/tasks", None).json();
    assert_eq!(tasks.as_array().unwrap().len(), 2);
    assert_eq!(tasks[1]["id"], json!({"connector": "seq", "task": 1}));
    assert_eq!(tasks[1]["config"]["kafka.topic"], topic.as_str());
    let task = worker
        .call("GET", "/connectors/seq/tasks/1/status", None)
        .json();
    assert_eq!(task["id"], 1);
    assert_eq!(task["state"], "RUNNING");
    assert_eq!(task["worker_id"], format!("127.0.0.1:{}", worker.port));
    let expanded = worker
        .call("GET", "/connectors?expand=status&expand=info", None)
        .json();
    assert_eq!(expanded["seq"]["status"]["connector"]["state"], "RUNNING");
    assert_eq!(expanded["seq"]["info"]["type"], "source");

    for (path, status) in [
        ("/connectors/nope", 404),
        ("/connectors/nope/status", 404),
        ("/connectors/seq/tasks/7/status", 404),
        ("/no/such/route", 404),
    ] {
        let response = worker.call("GET", path, None);
        assert_eq!(response.status, status, "{path}: {}", response.body);
        assert_eq!(response.json()["error_code"], status);
    }

    // Pause: nothing flows.
    assert_eq!(
        worker.call("PUT", "/connectors/seq/pause", None).status,
        202
    );
    worker.wait_for("/connectors/seq/status", WAIT, |s| {
        s["connector"]["state"] == "PAUSED"
            && s["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["state"] == "PAUSED")
    });
    let paused_at = metric(&worker, "ferry_source_records_written_total", "seq");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        metric(&worker, "ferry_source_records_written_total", "seq"),
        paused_at,
        "records flowed while paused"
    );

    assert_eq!(
        worker.call("PUT", "/connectors/seq/resume", None).status,
        202
    );
    worker.wait_for("/connectors/seq/status", WAIT, |s| running(s, 2));
    let deadline = Instant::now() + WAIT;
    while metric(&worker, "ferry_source_records_written_total", "seq") <= paused_at {
        assert!(
            Instant::now() < deadline,
            "records did not flow after resume"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Stop keeps the config but no tasks; resume brings them back.
    assert_eq!(worker.call("PUT", "/connectors/seq/stop", None).status, 204);
    worker.wait_for("/connectors/seq/status", WAIT, |s| {
        s["connector"]["state"] == "STOPPED" && s["tasks"] == json!([])
    });
    assert_eq!(
        worker.call("GET", "/connectors/seq", None).json()["tasks"],
        json!([])
    );
    assert_eq!(
        worker.call("PUT", "/connectors/seq/resume", None).status,
        202
    );
    worker.wait_for("/connectors/seq/status", WAIT, |s| running(s, 2));

    // Restarts.
    assert_eq!(
        worker.call("POST", "/connectors/seq/restart", None).status,
        204
    );
    let restarting = worker.call(
        "POST",
        "/connectors/seq/restart?includeTasks=true&onlyFailed=false",
        None,
    );
    assert_eq!(restarting.status, 202, "{}", restarting.body);
    let body = restarting.json();
    assert_eq!(body["connector"]["state"], "RESTARTING");
    assert!(body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["state"] == "RESTARTING"));
    worker.wait_for("/connectors/seq/status", WAIT, |s| running(s, 2));
    let only_failed = worker.call(
        "POST",
        "/connectors/seq/restart?includeTasks=true&onlyFailed=true",
        None,
    );
    assert_eq!(only_failed.status, 202);
    assert_eq!(
        only_failed.json()["connector"]["state"],
        "RUNNING",
        "nothing failed, nothing restarts"
    );
    assert_eq!(
        worker
            .call("POST", "/connectors/seq/tasks/0/restart", None)
            .status,
        204
    );
    assert_eq!(
        worker
            .call("POST", "/connectors/seq/tasks/9/restart", None)
            .status,
        404
    );
    worker.wait_for("/connectors/seq/status", WAIT, |s| running(s, 2));

    // Config: PUT updates (200) or creates (201); PATCH merges and removes with null.
    let mut config = worker.call("GET", "/connectors/seq/config", None).json();
    config["rate.per.second"] = json!("300");
    let updated = worker.call("PUT", "/connectors/seq/config", Some(&config));
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        worker.call("GET", "/connectors/seq/config", None).json()["rate.per.second"],
        "300"
    );
    let second = json!({"connector.class": "com.example.SequenceSourceConnector", "kafka.topic": topic, "max.records": "5"});
    let created = worker.call("PUT", "/connectors/seq2/config", Some(&second));
    assert_eq!(created.status, 201, "{}", created.body);
    let patched = worker.call(
        "PATCH",
        "/connectors/seq2/config",
        Some(&json!({"rate.per.second": "50", "max.records": null})),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    let config = patched.json()["config"].clone();
    assert_eq!(config["rate.per.second"], "50");
    assert!(config.get("max.records").is_none());

    // Bad requests name the problem.
    let invalid = worker.call(
        "POST",
        "/connectors",
        Some(&json!({"name": "bad", "config": {"connector.class": "SequenceSource", "rate.per.second": "fast"}})),
    );
    assert_eq!(invalid.status, 400);
    let message = invalid.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("contains the following 2 error(s)"),
        "{message}"
    );
    assert!(
        message.contains("rate.per.second") && message.contains("kafka.topic"),
        "{message}"
    );
    let unknown = worker.call(
        "POST",
        "/connectors",
        Some(&json!({"name": "x", "config": {"connector.class": "Nope"}})),
    );
    assert_eq!(unknown.status, 400);
    assert!(unknown.json()["message"]
        .as_str()
        .unwrap()
        .contains("com.example.SequenceSourceConnector"));
    let garbage = support::http::request(
        worker.port,
        "POST",
        "/connectors",
        Some(&json!("not an object")),
    );
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.json()["error_code"], 400);

    // Delete.
    assert_eq!(worker.call("DELETE", "/connectors/seq", None).status, 204);
    assert_eq!(worker.call("GET", "/connectors/seq", None).status, 404);
    assert_eq!(worker.call("DELETE", "/connectors/seq", None).status, 404);
    assert_eq!(
        worker.call("GET", "/connectors", None).json(),
        json!(["seq2"])
    );

    // Plugins, server, health, metrics, loggers.
    let plugins = worker.call("GET", "/connector-plugins", None).json();
    assert_eq!(
        plugins,
        json!([{"class": "com.example.SequenceSourceConnector", "type": "source", "version": "0.1.0"}])
    );
    let definitions = worker
        .call("GET", "/connector-plugins/SequenceSource/config", None)
        .json();
    let topic_key = definitions
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "kafka.topic")
        .unwrap();
    assert_eq!(topic_key["required"], true);
    assert_eq!(topic_key["type"], "STRING");
    assert_eq!(
        topic_key["documentation"],
        "Kafka topic the numbered records are written to."
    );
    let root = worker.call("GET", "/", None).json();
    assert_eq!(root["version"], "0.1.0");
    assert!(!root["kafka_cluster_id"].as_str().unwrap().is_empty());
    assert_eq!(
        worker.call("GET", "/health", None).json()["status"],
        "healthy"
    );
    worker.wait_for("/connectors/seq2/status", WAIT, |s| running(s, 1));
    let deadline = Instant::now() + WAIT;
    while metric(&worker, "ferry_source_records_written_total", "seq2") == 0 {
        assert!(Instant::now() < deadline, "no metrics for seq2");
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = worker.call("GET", "/metrics", None);
    assert!(metrics
        .body
        .contains("ferry_task_state{connector=\"seq2\",task=\"0\",state=\"RUNNING\"} 1"));
    assert!(metrics.body.contains("ferry_worker_connectors 1"));
    assert!(worker.call("GET", "/admin/loggers", None).json()["root"]["level"].is_string());
    let set = worker.call(
        "PUT",
        "/admin/loggers/ferry_runtime",
        Some(&json!({"level": "DEBUG"})),
    );
    assert_eq!(set.status, 200);
    assert_eq!(set.json(), json!(["ferry_runtime"]));
    assert_eq!(
        worker
            .call("GET", "/admin/loggers/ferry_runtime", None)
            .json()["level"],
        "DEBUG"
    );
    let topics = worker.call("GET", "/connectors/seq2/topics", None).json();
    assert_eq!(topics["seq2"]["topics"], json!([topic]));
}

#[test]
fn validation_reports_one_error_per_field() {
    let setup = WorkerSetup::new(&[SEQUENCE], "");
    let worker = setup.start();
    let response = worker.call(
        "PUT",
        "/connector-plugins/SequenceSource/config/validate",
        Some(&json!({
            "connector.class": "SequenceSource",
            "name": "v",
            "rate.per.second": "fast",
            "max.recrods": "3",
        })),
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let infos = response.json();
    assert_eq!(infos["name"], "com.example.SequenceSourceConnector");
    assert_eq!(infos["error_count"], 3, "{infos:#}");
    let errors = |name: &str| -> Vec<String> {
        infos["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["value"]["name"] == name)
            .unwrap_or_else(|| panic!("no entry for {name}"))["value"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect()
    };
    assert!(errors("rate.per.second")[0].contains("expected an integer"));
    assert!(errors("kafka.topic")[0].contains("missing required"));
    assert!(errors("max.recrods")[0].contains("did you mean `max.records`"));
    assert!(errors("tasks.max").is_empty());
    let definition = &infos["configs"][0]["definition"];
    for key in [
        "name",
        "type",
        "required",
        "default_value",
        "importance",
        "documentation",
        "group",
        "order",
        "width",
        "display_name",
        "dependents",
    ] {
        assert!(definition.get(key).is_some(), "definition lacks {key}");
    }

    let mismatch = worker.call(
        "PUT",
        "/connector-plugins/SequenceSource/config/validate",
        Some(&json!({"connector.class": "Other"})),
    );
    assert_eq!(mismatch.status, 400);
}

#[test]
fn sigterm_commits_offsets_and_a_restart_resumes_without_gap() {
    let setup = WorkerSetup::new(&[SEQUENCE], "");
    let topic = unique("numbers");
    let worker = setup.start();
    let created = worker.call(
        "POST",
        "/connectors",
        Some(&sequence_connector("seq", &topic, 2, 500, 0)),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    read_topic(&topic, WAIT, |r| r.len() >= 1000);
    let status = worker.terminate();
    assert!(status.success(), "SIGTERM exit: {status}");

    let first = read_topic(&topic, Duration::from_secs(3), |_| false);
    let first_run = sequences(&first);
    assert_eq!(
        assert_no_gaps(&first_run),
        0,
        "a clean stop leaves no duplicates"
    );

    // The connector comes back from the state directory and resumes after its last record.
    let worker = setup.start();
    assert_eq!(
        worker.call("GET", "/connectors", None).json(),
        json!(["seq"])
    );
    let target = first.len() + 1000;
    read_topic(&topic, WAIT, |r| r.len() >= target);

    // Offsets can only be changed when STOPPED.
    let patch = json!({"offsets": [{"partition": {"task": 0}, "offset": {"next": 1_000_000}}]});
    let refused = worker.call("PATCH", "/connectors/seq/offsets", Some(&patch));
    assert_eq!(refused.status, 400);
    assert!(refused.json()["message"]
        .as_str()
        .unwrap()
        .contains("STOPPED"));
    assert_eq!(worker.call("PUT", "/connectors/seq/stop", None).status, 204);
    worker.wait_for("/connectors/seq/status", WAIT, |s| {
        s["connector"]["state"] == "STOPPED" && s["tasks"] == json!([])
    });

    let records = read_topic(&topic, Duration::from_secs(3), |_| false);
    let by_task = sequences(&records);
    let duplicates = assert_no_gaps(&by_task);
    println!(
        "records: {}, duplicates across the restart: {duplicates}",
        records.len()
    );
    assert_eq!(
        duplicates, 0,
        "a graceful stop commits every acknowledged offset"
    );
    for (task, seqs) in &by_task {
        assert!(
            seqs.len() > first_run[task].len(),
            "task {task} did not resume"
        );
    }

    // GET offsets shows Kafka Connect's shape; the offsets topic holds Kafka Connect's layout.
    let offsets = worker.call("GET", "/connectors/seq/offsets", None).json();
    let entries = offsets["offsets"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for entry in entries {
        let task = entry["partition"]["task"].as_u64().unwrap();
        let next = entry["offset"]["next"].as_u64().unwrap();
        assert_eq!(next, *by_task[&task].iter().max().unwrap() + 1);
    }
    let stored = read_topic(&setup.offsets_topic, Duration::from_secs(3), |_| false);
    let last = stored.last().expect("the offsets topic has records");
    let key: Value = serde_json::from_slice(last.key.as_deref().unwrap()).unwrap();
    assert_eq!(key[0], "seq");
    assert!(
        key[1]["task"].is_u64(),
        "key is [\"seq\", {{\"task\": n}}]: {key}"
    );
    let value: Value = serde_json::from_slice(last.value.as_deref().unwrap()).unwrap();
    assert!(value["next"].is_u64());

    // PATCH moves task 0 far ahead; after resume its numbers continue from there.
    let altered = worker.call("PATCH", "/connectors/seq/offsets", Some(&patch));
    assert_eq!(altered.status, 200, "{}", altered.body);
    assert!(altered.json()["message"]
        .as_str()
        .unwrap()
        .contains("altered successfully"));
    let offsets = worker.call("GET", "/connectors/seq/offsets", None).json();
    assert!(offsets["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["offset"]["next"] == 1_000_000));
    assert_eq!(
        worker.call("PUT", "/connectors/seq/resume", None).status,
        202
    );
    let jumped = read_topic(&topic, WAIT, |r| {
        sequences(r)
            .get(&0)
            .is_some_and(|s| s.iter().any(|n| *n >= 1_000_000))
    });
    assert!(sequences(&jumped)[&0].contains(&1_000_000));

    // DELETE resets them.
    assert_eq!(worker.call("PUT", "/connectors/seq/stop", None).status, 204);
    worker.wait_for("/connectors/seq/status", WAIT, |s| s["tasks"] == json!([]));
    let reset = worker.call("DELETE", "/connectors/seq/offsets", None);
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(
        worker.call("GET", "/connectors/seq/offsets", None).json(),
        json!({"offsets": []})
    );
}

#[test]
fn kill_9_loses_nothing_the_connector_produced() {
    let setup = WorkerSetup::new(&[SEQUENCE], "");
    let topic = unique("numbers");
    let per_task = 4000;
    let worker = setup.start();
    let created = worker.call(
        "POST",
        "/connectors",
        Some(&sequence_connector("seq", &topic, 2, 1000, per_task)),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    read_topic(&topic, WAIT, |r| r.len() >= 1500);
    worker.kill9();

    let worker = setup.start();
    let complete = |r: &[TopicRecord]| {
        let by_task = sequences(r);
        by_task.len() == 2
            && by_task.values().all(|s| {
                let mut distinct = s.clone();
                distinct.sort_unstable();
                distinct.dedup();
                distinct.len() as u64 == per_task
            })
    };
    let records = read_topic(&topic, Duration::from_secs(60), complete);
    let by_task = sequences(&records);
    let duplicates = assert_no_gaps(&by_task);
    for (task, seqs) in &by_task {
        assert_eq!(
            seqs.iter().max(),
            Some(&(per_task - 1)),
            "task {task} did not finish"
        );
    }
    println!(
        "kill -9: {} records for {} produced, lost = 0, duplicates = {duplicates}",
        records.len(),
        2 * per_task
    );
    drop(worker);
}

#[test]
fn scaling_tasks_up_and_down_accounts_for_every_record() {
    let setup = WorkerSetup::new(&[SEQUENCE], "");
    let topic = unique("numbers");
    let worker = setup.start();
    let created = worker.call(
        "POST",
        "/connectors",
        Some(&sequence_connector("seq", &topic, 1, 300, 0)),
    );
    assert_eq!(created.status, 201);
    read_topic(&topic, WAIT, |r| r.len() >= 200);

    let scaled = worker.call(
        "PATCH",
        "/connectors/seq/config",
        Some(&json!({"tasks.max": "3"})),
    );
    assert_eq!(scaled.status, 200, "{}", scaled.body);
    worker.wait_for("/connectors/seq/status", WAIT, |s| running(s, 3));
    read_topic(&topic, WAIT, |r| {
        sequences(r).get(&2).is_some_and(|s| s.len() >= 100)
    });

    let scaled = worker.call(
        "PATCH",
        "/connectors/seq/config",
        Some(&json!({"tasks.max": "1"})),
    );
    assert_eq!(scaled.status, 200);
    worker.wait_for("/connectors/seq/status", WAIT, |s| running(s, 1));
    let before = read_topic(&topic, Duration::from_secs(2), |_| false).len();
    read_topic(&topic, WAIT, |r| r.len() >= before + 200);
    assert_eq!(worker.call("PUT", "/connectors/seq/stop", None).status, 204);
    worker.wait_for("/connectors/seq/status", WAIT, |s| s["tasks"] == json!([]));

    let records = read_topic(&topic, Duration::from_secs(3), |_| false);
    let by_task = sequences(&records);
    assert_eq!(by_task.len(), 3, "three tasks produced");
    let duplicates = assert_no_gaps(&by_task);
    println!(
        "scaling 1 → 3 → 1: {} records, lost = 0, duplicates = {duplicates}",
        records.len()
    );
    assert_eq!(duplicates, 0, "tasks stopped gracefully on reconfiguration");
}

#[test]
fn a_panicking_task_fails_restarts_with_backoff_and_the_api_stays_responsive() {
    let setup = WorkerSetup::new(
        &[SEQUENCE, "ferry_test_panicking_source"],
        "task.restart.backoff.initial.ms: 200\ntask.restart.backoff.max.ms: 800",
    );
    let worker = setup.start();
    let topic = unique("panics");
    let body = json!({"name": "p", "config": {"connector.class": "PanickingSource", "kafka.topic": topic, "panic.after": "3"}});
    assert_eq!(worker.call("POST", "/connectors", Some(&body)).status, 201);
    let healthy_topic = unique("numbers");
    let healthy = sequence_connector("seq", &healthy_topic, 1, 100, 0);
    assert_eq!(
        worker.call("POST", "/connectors", Some(&healthy)).status,
        201
    );

    let failed = worker.wait_for("/connectors/p/tasks/0/status", WAIT, |t| {
        t["state"] == "FAILED"
    });
    let trace = failed["trace"].as_str().unwrap();
    assert!(
        trace.contains("connector panicked: boom: the panicking source gave up"),
        "{trace}"
    );

    let deadline = Instant::now() + WAIT;
    while metric(&worker, "ferry_task_restarts_total", "p") < 3 {
        let started = Instant::now();
        let status = worker.call("GET", "/connectors/p/status", None);
        assert_eq!(status.status, 200);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "the API stalled: {:?}",
            started.elapsed()
        );
        assert!(
            Instant::now() < deadline,
            "the task was not restarted three times"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Each run wrote its 3 records before panicking: the restarts really ran the task.
    let records = read_topic(&topic, WAIT, |r| r.len() >= 9);
    assert!(records.len() >= 9);
    worker.wait_for("/connectors/seq/status", WAIT, |s| running(s, 1));
    assert!(worker
        .log()
        .contains("restarting the failed task after a backoff"));
}

#[tokio::test]
async fn a_non_compacted_offsets_topic_is_refused_with_the_fix() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let setup = WorkerSetup::new(&[SEQUENCE], "");
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set(
            "bootstrap.servers",
            support::Services::from_env().kafka_bootstrap,
        )
        .create()
        .unwrap();
    let topic = NewTopic::new(&setup.offsets_topic, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "delete");
    admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap();
    let (code, log) = tokio::task::spawn_blocking(move || setup.start_expecting_failure())
        .await
        .unwrap();
    assert_eq!(code, Some(1));
    let line = log
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("cleanup.policy=delete"), "{line}");
    assert!(
        line.contains("--add-config cleanup.policy=compact"),
        "{line}"
    );
}

#[test]
fn a_bad_worker_config_names_the_key() {
    let setup = WorkerSetup::new(&[SEQUENCE], "offset.flush.interval.ms: soon");
    let (code, log) = setup.start_expecting_failure();
    assert_eq!(code, Some(1));
    assert!(
        log.contains("`offset.flush.interval.ms`: expected a whole number, got `soon`"),
        "{log}"
    );
}

#[test]
fn a_secrets_key_is_refused_in_standalone_mode_rather_than_ignored() {
    let setup = WorkerSetup::new(
        &[SEQUENCE],
        "config.storage.secrets.key: 3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=",
    );
    let (code, log) = setup.start_expecting_failure();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("config.storage.secrets.key") && log.contains("0600"),
        "{log}"
    );
    assert!(!log.contains("3q2+7w"), "the key is printed: {log}");
}

#[test]
fn a_connector_hanging_in_start_is_failed_in_time_and_delete_answers() {
    const CALL_TIMEOUT: Duration = Duration::from_secs(2);
    let setup = WorkerSetup::new(
        &[SEQUENCE, "ferry_test_panicking_source"],
        "connector.call.timeout.ms: 2000",
    );
    let worker = setup.start();
    let topic = unique("hanging");
    let stuck = |name: &str| {
        json!({"name": name, "config": {
            "connector.class": "PanickingSource",
            "kafka.topic": topic,
            "hang.in.start.ms": "60000",
        }})
    };
    let created = Instant::now();
    assert_eq!(
        worker
            .call("POST", "/connectors", Some(&stuck("stuck")))
            .status,
        201
    );
    let status = worker.wait_for("/connectors/stuck/status", WAIT, |s| {
        s["connector"]["state"] == "FAILED"
    });
    let failed_after = created.elapsed();
    assert!(
        failed_after <= CALL_TIMEOUT + Duration::from_secs(2),
        "FAILED only after {failed_after:?}"
    );
    let trace = status["connector"]["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains("connector start did not return")
            && trace.contains("connector.call.timeout.ms"),
        "{trace}"
    );
    let deleted = Instant::now();
    assert_eq!(worker.call("DELETE", "/connectors/stuck", None).status, 204);
    assert!(
        deleted.elapsed() < Duration::from_secs(2),
        "{:?}",
        deleted.elapsed()
    );

    // A DELETE that arrives while `start` still hangs waits for the bound, not for the plugin.
    assert_eq!(
        worker
            .call("POST", "/connectors", Some(&stuck("stuck-2")))
            .status,
        201
    );
    std::thread::sleep(Duration::from_millis(300));
    let deleted = Instant::now();
    assert_eq!(
        worker.call("DELETE", "/connectors/stuck-2", None).status,
        204
    );
    assert!(
        deleted.elapsed() <= CALL_TIMEOUT + Duration::from_secs(2),
        "DELETE took {:?}",
        deleted.elapsed()
    );
    assert_eq!(worker.call("GET", "/connectors", None).json(), json!([]));

    // A start that returns after the bound is not left running: the worker stops it.
    let mut late = stuck("late");
    late["config"]["hang.in.start.ms"] = json!("3500");
    assert_eq!(worker.call("POST", "/connectors", Some(&late)).status, 201);
    worker.wait_for("/connectors/late/status", WAIT, |s| {
        s["connector"]["state"] == "FAILED"
    });
    let deadline = Instant::now() + WAIT;
    while !worker
        .log()
        .contains("stopped a connector that was abandoned")
    {
        assert!(
            Instant::now() < deadline,
            "the late start was never stopped:\n{}",
            worker.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(worker.call("DELETE", "/connectors/late", None).status, 204);

    // The worker goes on: a healthy connector runs.
    let healthy = sequence_connector("healthy", &unique("numbers"), 1, 10, 0);
    assert_eq!(
        worker.call("POST", "/connectors", Some(&healthy)).status,
        201
    );
    worker.wait_for("/connectors/healthy/status", WAIT, |s| running(s, 1));
}

#[test]
fn a_write_that_cannot_be_persisted_is_refused_and_changes_nothing() {
    let setup = WorkerSetup::new(&[SEQUENCE], "");
    let worker = setup.start();
    let topic = unique("numbers");
    let first = sequence_connector("kept", &topic, 1, 10, 0);
    assert_eq!(worker.call("POST", "/connectors", Some(&first)).status, 201);
    // The state file is replaced through connectors.json.tmp; a directory there makes every
    // write fail, as a full or read-only disk would (root ignores permission bits).
    std::fs::create_dir(setup.dir.path().join("state").join("connectors.json.tmp")).unwrap();

    let refused = worker.call(
        "POST",
        "/connectors",
        Some(&sequence_connector("lost", &topic, 1, 10, 0)),
    );
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert_eq!(refused.json()["error_code"], 500);
    assert!(
        refused.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("connectors.json")),
        "{}",
        refused.body
    );
    assert_eq!(worker.call("GET", "/connectors/lost", None).status, 404);
    let paused = worker.call("PUT", "/connectors/kept/pause", None);
    assert_eq!(paused.status, 500, "{}", paused.body);
    let deleted = worker.call("DELETE", "/connectors/kept", None);
    assert_eq!(deleted.status, 500, "{}", deleted.body);
    worker.wait_for("/connectors/kept/status", WAIT, |s| running(s, 1));
    assert_eq!(
        worker.call("GET", "/connectors", None).json(),
        json!(["kept"])
    );
}

#[test]
fn kafka_connect_keys_ferry_does_not_implement_are_refused_not_ignored() {
    let setup = WorkerSetup::new(&[SEQUENCE], "");
    let worker = setup.start();
    let topic = unique("eos");
    // Copied from a Kafka Connect deployment that asks for exactly-once: accepting it would
    // promise what Ferry does not do, without a word.
    let copied = json!({"name": "eos", "config": {
        "connector.class": "SequenceSource", "kafka.topic": topic,
        "exactly.once.support": "required",
        "transaction.boundary": "poll",
        "errors.retry.timeout": "60000"}});
    let refused = worker.call("POST", "/connectors", Some(&copied));
    assert_eq!(refused.status, 400, "{}", refused.body);
    let message = refused.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("exactly.once.support") && message.contains("not supported by Ferry"),
        "{message}"
    );
    assert_eq!(worker.call("GET", "/connectors", None).json(), json!([]));
    let mut named = copied["config"].clone();
    named["name"] = json!("eos");
    let validated = worker.call(
        "PUT",
        "/connector-plugins/SequenceSource/config/validate",
        Some(&named),
    );
    assert_eq!(validated.status, 200);
    let infos = validated.json();
    assert_eq!(infos["error_count"].as_u64(), Some(3), "{infos}");
    let errors_of = |key: &str| {
        infos["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["value"]["name"] == key)
            .map(|c| c["value"]["errors"].clone())
    };
    assert!(
        errors_of("errors.retry.timeout")
            .is_some_and(|e| e[0].as_str().unwrap().contains("not implemented")),
        "{infos}"
    );
}
