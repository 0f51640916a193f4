//! `GET /metrics` end to end: a real standalone worker runs a source connector named `a"b\c`
//! and a sink reading its topic, and Prometheus' own text-format parser and linter
//! (testkit/promcheck) must accept the exposition, read that name back unchanged, and find
//! for each connector only the series of its own type.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferry_testkit::promcheck;
use serde_json::json;
use support::http::Response;
use support::unique;
use support::worker::WorkerSetup;

const SOURCE: &str = "a\"b\\c";
const SINK: &str = "files";
const SOURCE_ONLY: [&str; 2] = [
    "ferry_source_records_polled_total",
    "ferry_source_records_written_total",
];
const SINK_ONLY: [&str; 4] = [
    "ferry_sink_records_read_total",
    "ferry_sink_records_put_total",
    "ferry_sink_records_lag",
    "ferry_dead_letter_records_total",
];
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, serde::Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a `/metrics` response, after the strict check of its body and Content-Type.
fn strict(response: &Response) -> Vec<Sample> {
    assert_eq!(response.status, 200, "{}", response.body);
    let content_type = response.header("content-type").unwrap_or_default();
    assert_eq!(content_type, CONTENT_TYPE);
    let samples = promcheck::check(content_type, &response.body).unwrap_or_else(|why| {
        panic!(
            "Prometheus' parser rejects GET /metrics: {why}\n{}",
            response.body
        )
    });
    serde_json::from_str(&samples).expect("promcheck prints JSON samples")
}

fn of<'a>(samples: &'a [Sample], connector: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
    samples
        .iter()
        .filter(move |s| s.labels.get("connector").map(String::as_str) == Some(connector))
}

fn total(samples: &[Sample], name: &str, connector: &str) -> f64 {
    of(samples, connector)
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

fn series(samples: &[Sample], connector: &str) -> BTreeSet<String> {
    of(samples, connector).map(|s| s.name.clone()).collect()
}

#[test]
fn the_parser_rejects_what_the_hand_written_text_made_of_such_names() {
    // What metrics.rs wrote before it rendered through the prometheus crate: names verbatim.
    let old = |name: &str| {
        format!(
            "# HELP ferry_task_restarts_total Automatic restarts of failed tasks.\n\
             # TYPE ferry_task_restarts_total counter\n\
             ferry_task_restarts_total{{connector=\"{name}\",task=\"0\"}} 0\n"
        )
    };
    assert!(promcheck::check(CONTENT_TYPE, &old("plain")).is_ok());
    for name in [SOURCE, "line\nbreak"] {
        let why = promcheck::check(CONTENT_TYPE, &old(name)).expect_err(&format!(
            "the parser accepted {name:?} unescaped: not strict enough to test with"
        ));
        assert!(why.contains("text format parsing error"), "{why}");
    }
    let openmetrics = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    assert!(promcheck::check(openmetrics, &old("plain")).is_err());
}

/// `GET /connectors/{name}/activity` (and `?expand=activity`) of the two running connectors,
/// then a requested restart of the sink's task.
fn activity_follows_the_counters(worker: &support::worker::Worker) {
    let source = worker.call("GET", "/connectors/a%22b%5Cc/activity", None);
    assert_eq!(source.status, 200, "{}", source.body);
    let source = source.json();
    assert_eq!(source["name"], SOURCE);
    assert_eq!(source["type"], "source");
    let plugins = worker.call("GET", "/connector-plugins", None).json();
    let sequence = plugins
        .as_array()
        .and_then(|p| p.iter().find(|p| p["class"] == source["plugin_class"]))
        .unwrap_or_else(|| panic!("{source} names a plugin of {plugins}"));
    assert_eq!(source["plugin_version"], sequence["version"], "{source}");
    let bounds = source["latency_bounds_ms"]
        .as_array()
        .expect("bounds")
        .len();
    let task = &source["tasks"][0];
    assert_eq!(task["id"], 0, "{source}");
    assert!(task["records_in"].as_u64() > Some(0), "{source}");
    assert!(task["records_out"].as_u64() > Some(0), "{source}");
    assert_eq!(task["restarts"], 0, "{source}");
    assert_eq!(
        task["lag"],
        serde_json::Value::Null,
        "a source has no lag: {source}"
    );
    let counts = task["latency_counts"].as_array().expect("latency counts");
    assert_eq!(counts.len(), bounds + 1, "{source}");
    assert!(counts[bounds].as_u64() > Some(0), "{source}");
    let started = task["started_at"].as_u64().expect("started_at");
    assert!(
        started <= task["at"].as_u64().unwrap_or_default(),
        "{source}"
    );

    let expanded = worker.call("GET", "/connectors?expand=activity", None);
    assert_eq!(expanded.status, 200, "{}", expanded.body);
    let sink = &expanded.json()[SINK]["activity"];
    assert_eq!(sink["type"], "sink", "{}", expanded.body);
    let task = &sink["tasks"][0];
    assert!(task["records_in"].as_u64() > Some(0), "{sink}");
    assert!(task["records_out"].as_u64() > Some(0), "{sink}");
    assert!(task["lag"].is_u64(), "the sink's lag is a count: {sink}");
    let sink_started = task["started_at"].as_u64().expect("started_at");

    let missing = worker.call("GET", "/connectors/nothing-here/activity", None);
    assert_eq!(missing.status, 404, "{}", missing.body);

    let restarted = worker.call("POST", &format!("/connectors/{SINK}/tasks/0/restart"), None);
    assert_eq!(restarted.status, 204, "{}", restarted.body);
    let deadline = Instant::now() + WAIT;
    loop {
        let body = worker
            .call("GET", &format!("/connectors/{SINK}/activity"), None)
            .json();
        let task = &body["tasks"][0];
        if task["restarts"] == 1 && task["started_at"].as_u64() > Some(sink_started) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sink's activity did not count the requested restart within {WAIT:?}: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn metrics_parse_strictly_and_each_connector_exports_only_its_own_series() {
    // Built first, so that a cold Go build does not eat into the deadline below.
    promcheck::binary();
    let setup = WorkerSetup::new(&["sequence_connector", "ferry_test_file_sink"], "");
    let worker = setup.start();
    let topic = unique("metrics");
    let output = setup.dir.path().join("sink.jsonl");

    let source = json!({"name": SOURCE, "config": {
        "connector.class": "SequenceSource",
        "tasks.max": "1",
        "kafka.topic": topic,
        "rate.per.second": "50",
    }});
    let created = worker.call("POST", "/connectors", Some(&source));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["name"], SOURCE);
    let sink = json!({"name": SINK, "config": {
        "connector.class": "FileSink",
        "topics": topic,
        "output.file": output.display().to_string(),
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
    }});
    let created = worker.call("POST", "/connectors", Some(&sink));
    assert_eq!(created.status, 201, "{}", created.body);

    let deadline = Instant::now() + WAIT;
    let (text, samples) = loop {
        let response = worker.call("GET", "/metrics", None);
        let samples = strict(&response);
        // The lag comes once the sink committed offsets and librdkafka reported them.
        if total(&samples, "ferry_source_records_written_total", SOURCE) > 0.0
            && total(&samples, "ferry_sink_records_put_total", SINK) > 0.0
            && of(&samples, SINK).any(|s| s.name == "ferry_sink_records_lag")
        {
            break (response.body, samples);
        }
        assert!(
            Instant::now() < deadline,
            "records did not flow from {SOURCE:?} through Kafka into {SINK:?} within {WAIT:?} \
             (ferry_source_records_written_total or ferry_sink_records_put_total stayed 0, or \
             ferry_sink_records_lag never came):\n{}",
            response.body
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        std::fs::metadata(&output).is_ok_and(|m| m.len() > 0),
        "the sink counted records but wrote none to {}",
        output.display()
    );

    // The text escapes the name, and the parser reads it back as created.
    assert!(text.contains(r#"connector="a\"b\\c""#), "{text}");
    let running = |connector: &str| {
        samples.iter().any(|s| {
            s.name == "ferry_task_state"
                && s.labels
                    == BTreeMap::from([
                        ("connector".to_string(), connector.to_string()),
                        ("task".to_string(), "0".to_string()),
                        ("state".to_string(), "RUNNING".to_string()),
                    ])
                && s.value == 1.0
        })
    };
    assert!(running(SOURCE) && running(SINK), "{text}");
    let connectors = samples
        .iter()
        .find(|s| s.name == "ferry_worker_connectors")
        .expect("ferry_worker_connectors");
    assert_eq!(connectors.value, 2.0);

    let source_series = series(&samples, SOURCE);
    let sink_series = series(&samples, SINK);
    for name in SOURCE_ONLY {
        assert!(source_series.contains(name), "{SOURCE:?} lacks {name}");
        assert!(!sink_series.contains(name), "the sink exports {name}");
    }
    for name in SINK_ONLY {
        assert!(sink_series.contains(name), "{SINK:?} lacks {name}");
        assert!(!source_series.contains(name), "{SOURCE:?} exports {name}");
    }
    for name in [
        "ferry_offset_commits_total",
        "ferry_task_restarts_total",
        "ferry_task_start_time_seconds",
        "ferry_record_latency_seconds",
    ] {
        assert!(source_series.contains(name) && sink_series.contains(name));
    }
    assert!(
        total(&samples, "ferry_record_latency_seconds", SOURCE) > 0.0,
        "no latency counted for records Kafka acknowledged: {text}"
    );

    activity_follows_the_counters(&worker);

    // A deleted connector's series go, whatever its name holds.
    let deleted = worker.call("DELETE", "/connectors/a%22b%5Cc", None);
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let deadline = Instant::now() + WAIT;
    loop {
        let response = worker.call("GET", "/metrics", None);
        if of(&strict(&response), SOURCE).next().is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{SOURCE:?}'s series were still exported {WAIT:?} after its deletion:\n{}",
            response.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
