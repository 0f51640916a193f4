//! Loads real connector libraries built by the workspace through the plugin loader, including
//! libraries that break the ABI's rules, and runs one that misuses its context in a real worker.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_api::data::Payload;
use ferry_api::transform::ConnectRecord;
use ferry_api::{ConfigMap, ConnectError, RecordMetadata, SinkRecord, SourceOffset};
use ferry_runtime::plugins::{
    ConnectorEvents, ConnectorInstance, ConnectorType, LoadError, PluginRegistry, PolledRecord,
    SinkTaskInstance, SourceTaskInstance,
};
use ferry_transforms::{Built, PluginType};
use serde_json::json;
use support::worker::WorkerSetup;

fn config(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct NoEvents;
impl ConnectorEvents for NoEvents {
    fn request_task_reconfiguration(&self) {}
    fn raise_error(&self, _: String) {}
}

fn registry(crate_names: &[&str]) -> (PluginRegistry, Vec<LoadError>, tempfile::TempDir) {
    let dir = support::plugin_dir(crate_names);
    let (registry, failures) = PluginRegistry::scan(&[dir.path().to_path_buf()]);
    (registry, failures, dir)
}

/// The one failure of scanning a directory that holds only `crate_name`, as its log line.
fn only_failure(crate_name: &str) -> String {
    let (registry, failures, _dir) = registry(&[crate_name]);
    assert!(registry.plugins().is_empty(), "{:?}", registry.plugins());
    assert_eq!(failures.len(), 1, "{failures:?}");
    let line = failures[0].to_string();
    assert!(line.contains(&format!("lib{crate_name}.so")), "{line}");
    assert!(!line.contains('\n'), "{line}");
    line
}

/// Polls `task` until it has returned at least `count` records, failing after `timeout`.
fn poll_at_least(
    task: &mut SourceTaskInstance,
    count: usize,
    timeout: Duration,
) -> Vec<PolledRecord> {
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < count {
        assert!(
            Instant::now() < deadline,
            "expected {count} records within {timeout:?}, the task returned {}",
            records.len()
        );
        records.extend(task.poll(Duration::from_millis(100)).unwrap());
    }
    records
}

/// Waits until `path` holds text that `done` accepts, failing after `timeout` with `what`.
fn wait_for_file(
    path: &Path,
    timeout: Duration,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen in {} within {timeout:?}; it holds {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn reads_descriptor_schema_and_aliases_of_the_example_connector() {
    let (registry, failures, _dir) = registry(&["sequence_connector"]);
    assert!(failures.is_empty(), "{failures:?}");
    let plugin = registry
        .find("com.example.SequenceSourceConnector")
        .unwrap();
    assert_eq!(plugin.kind, ConnectorType::Source);
    assert_eq!(plugin.version, "0.1.0");
    assert_eq!(
        plugin.aliases,
        ["SequenceSourceConnector", "SequenceSource"]
    );
    for alias in ["SequenceSourceConnector", "SequenceSource"] {
        assert_eq!(registry.find(alias).unwrap().class_name, plugin.class_name);
    }
    assert!(registry.find("Sequence").is_none());

    let properties = &plugin.config_schema["properties"];
    assert_eq!(
        properties["kafka.topic"]["description"],
        "Kafka topic the numbered records are written to."
    );
    assert_eq!(properties["rate.per.second"]["default"], 10);
    assert_eq!(plugin.config_schema["required"], json!(["kafka.topic"]));
}

#[test]
fn refuses_foreign_abi_and_non_plugins_but_loads_the_rest() {
    let (registry, failures, dir) = registry(&[
        "ferry_test_foreign_abi",
        "ferry_test_not_a_plugin",
        "sequence_connector",
    ]);
    std::fs::write(dir.path().join("notes.so"), "not a library").unwrap();
    let (registry_again, failures_again) = PluginRegistry::scan(&[dir.path().to_path_buf()]);

    assert_eq!(registry.plugins().len(), 1);
    assert!(registry.find("SequenceSource").is_some());
    assert_eq!(registry_again.plugins().len(), 1);

    let foreign = failures
        .iter()
        .find(|f| matches!(f, LoadError::IncompatibleAbi { .. }))
        .expect("the foreign ABI library is reported");
    let line = foreign.to_string();
    assert!(line.contains("libferry_test_foreign_abi.so"), "{line}");
    assert!(
        line.contains("built against Ferry plugin ABI 999"),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "this worker supports ABI {}",
            ferry_api::abi::ABI_VERSION
        )),
        "{line}"
    );
    assert!(
        line.contains("rebuild the connector against ferry-api"),
        "{line}"
    );
    assert!(!line.contains('\n'));

    let not_plugin = failures
        .iter()
        .find(|f| matches!(f, LoadError::NotAPlugin { .. }))
        .expect("the library without Ferry symbols is reported");
    assert!(not_plugin.to_string().contains("not a Ferry plugin"));

    assert!(failures_again
        .iter()
        .any(|f| matches!(f, LoadError::NotLoadable { path, .. } if path.ends_with("notes.so"))));
}

#[test]
fn validation_names_each_offending_field() {
    let (registry, _, _dir) = registry(&["sequence_connector"]);
    let plugin = registry.find("SequenceSource").unwrap();
    let issues = plugin
        .validate(&config(&[
            ("name", "seq"),
            ("connector.class", "SequenceSource"),
            ("rate.per.second", "lots"),
            ("max.recrods", "5"),
        ]))
        .unwrap();
    let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(issues.len(), 3, "{issues:?}");
    assert!(fields.contains(&"rate.per.second"));
    assert!(fields.contains(&"kafka.topic"));
    let typo = issues.iter().find(|i| i.field == "max.recrods").unwrap();
    assert!(
        typo.message.contains("did you mean `max.records`"),
        "{typo:?}"
    );

    let good = config(&[("kafka.topic", "numbers"), ("rate.per.second", "100")]);
    assert!(plugin.validate(&good).unwrap().is_empty());
}

#[test]
fn source_tasks_resume_from_offsets_and_take_acknowledgements() {
    let (registry, _, _dir) = registry(&["sequence_connector"]);
    let plugin = registry.find("SequenceSource").unwrap();
    let settings = config(&[
        ("name", "seq"),
        ("connector.class", "SequenceSource"),
        ("kafka.topic", "numbers"),
        ("rate.per.second", "1000"),
    ]);
    let mut connector = ConnectorInstance::new(plugin.clone(), "seq", Arc::new(NoEvents)).unwrap();
    connector.start(&settings).unwrap();
    let task_configs = connector.task_configs(3).unwrap();
    assert_eq!(task_configs.len(), 3);
    connector.stop().unwrap();

    let committed = SourceOffset {
        partition: json!({"task": 1}).as_object().cloned().unwrap(),
        offset: json!({"next": 41}).as_object().cloned().unwrap(),
    };
    let mut task =
        SourceTaskInstance::start(plugin, "seq", 1, &task_configs[1], &[committed]).unwrap();
    let records = poll_at_least(&mut task, 5, Duration::from_secs(10));
    let first = &records[0].record;
    assert_eq!(first.topic, "numbers");
    assert_eq!(first.key.as_deref(), Some(&b"1"[..]));
    let value: serde_json::Value = serde_json::from_slice(first.value.as_deref().unwrap()).unwrap();
    assert_eq!(value, json!({"task": 1, "seq": 41}));
    assert_eq!(first.source_offset["next"], 42);
    assert_eq!(first.source_partition["task"], 1);

    let metadata = RecordMetadata {
        topic: "numbers".into(),
        partition: 0,
        offset: 7,
        timestamp_ms: None,
    };
    task.commit_record(records[0].sequence, &metadata).unwrap();
    let twice = task
        .commit_record(records[0].sequence, &metadata)
        .unwrap_err();
    assert!(
        twice.to_string().contains("unknown record sequence"),
        "{twice}"
    );
    task.commit().unwrap();
    task.stop().unwrap();
}

#[test]
fn a_panic_in_poll_or_put_is_an_error_for_that_task_only() {
    let (registry, failures, _dir) = registry(&[
        "ferry_test_panicking_source",
        "ferry_test_panicking_sink",
        "sequence_connector",
    ]);
    assert!(failures.is_empty(), "{failures:?}");

    let source = registry.find("PanickingSource").unwrap();
    let settings = config(&[("kafka.topic", "t"), ("panic.after", "2")]);
    let mut task = SourceTaskInstance::start(source, "p", 0, &settings, &[]).unwrap();
    assert_eq!(task.poll(Duration::from_millis(1)).unwrap().len(), 1);
    assert_eq!(task.poll(Duration::from_millis(1)).unwrap().len(), 1);
    let error = task.poll(Duration::from_millis(1)).unwrap_err();
    assert!(matches!(error, ConnectError::Fatal(_)));
    assert!(
        error
            .to_string()
            .contains("connector panicked: boom: the panicking source gave up"),
        "{error}"
    );
    // The same instance keeps answering (with the same panic) instead of taking the process down.
    assert!(task.poll(Duration::from_millis(1)).is_err());

    let sink = registry.find("PanickingSinkConnector").unwrap();
    assert_eq!(sink.kind, ConnectorType::Sink);
    let mut sink_task = SinkTaskInstance::start(sink, "s", 0, &ConfigMap::new()).unwrap();
    let record = SinkRecord {
        topic: "t".into(),
        value: Some(b"v".to_vec()),
        ..SinkRecord::default()
    };
    let error = sink_task.put(&[record.clone(), record]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the panicking sink refused 2 records"),
        "{error}"
    );

    // Other connectors in the same process are unaffected.
    let sequence = registry.find("SequenceSource").unwrap();
    let mut healthy = SourceTaskInstance::start(
        sequence,
        "seq",
        0,
        &config(&[("kafka.topic", "n"), ("rate.per.second", "1000")]),
        &[],
    )
    .unwrap();
    poll_at_least(&mut healthy, 1, Duration::from_secs(10));
}

#[test]
fn a_library_built_for_abi_1_is_refused_with_a_request_to_rebuild_it() {
    let line = only_failure("ferry_test_old_abi");
    assert!(line.contains("built against Ferry plugin ABI 1,"), "{line}");
    assert!(
        line.contains(&format!(
            "this worker supports ABI {}",
            ferry_api::abi::ABI_VERSION
        )),
        "{line}"
    );
    assert!(line.contains("rebuild"), "{line}");
}

#[test]
fn an_unknown_kind_is_refused_with_the_kind_named() {
    let line = only_failure("ferry_test_bad_kind");
    assert!(line.contains("declares connector kind 7"), "{line}");
    assert!(line.contains("only 1 (source) and 2 (sink)"), "{line}");

    // The operator sees the same line from `ferry plugins`.
    let dir = support::plugin_dir(&["ferry_test_bad_kind", "sequence_connector"]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("plugins")
        .arg(dir.path())
        .output()
        .expect("the ferry binary runs");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warning = stderr
        .lines()
        .find(|l| l.contains("libferry_test_bad_kind.so"))
        .unwrap_or_else(|| panic!("no line names the library:\n{stderr}"));
    assert!(warning.starts_with("warning: skipping"), "{warning}");
    assert!(warning.contains("declares connector kind 7"), "{warning}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("SequenceSource"));
}

#[test]
fn a_kind_without_its_task_entry_points_is_refused() {
    let line = only_failure("ferry_test_no_task_entry_points");
    assert!(
        line.contains("declares a source connector but has no source task entry points"),
        "{line}"
    );
}

fn keeper(name: &str, report: &Path) -> serde_json::Value {
    json!({
        "name": name,
        "config": {
            "connector.class": "ContextKeeper",
            "report.file": report.display().to_string(),
            "call.interval.ms": "100",
        }
    })
}

/// The successful calls a context keeper has reported so far (its report reads `ok <n>`).
fn successful_calls(report: &str) -> Option<u64> {
    report.strip_prefix("ok ")?.parse().ok()
}

#[test]
fn a_context_kept_after_delete_returns_an_error_and_the_worker_stays_up() {
    let setup = WorkerSetup::new(&["ferry_test_context_keeper"], "");
    let worker = setup.start();
    let wait = Duration::from_secs(30);
    let first = setup.dir.path().join("first.report");
    let second = setup.dir.path().join("second.report");

    for (name, report) in [("first", &first), ("second", &second)] {
        let created = worker.call("POST", "/connectors", Some(&keeper(name, report)));
        assert_eq!(created.status, 201, "{}", created.body);
        wait_for_file(
            report,
            wait,
            &format!("{name}'s first successful call"),
            |t| successful_calls(t).is_some(),
        );
    }

    // The first connector's thread keeps calling its context after the connector is freed.
    assert_eq!(worker.call("DELETE", "/connectors/first", None).status, 204);
    let error = wait_for_file(&first, wait, "an error from a call after delete", |t| {
        t.starts_with("error: ")
    });
    assert!(
        error.contains("connector first was stopped; this context is no longer valid"),
        "{error}"
    );

    // The worker is still up: it answers, and the other connector's context still reaches it.
    assert_eq!(worker.call("GET", "/", None).status, 200);
    assert_eq!(
        worker.call("GET", "/connectors", None).json(),
        json!(["second"])
    );
    worker.wait_for("/connectors/second/status", wait, |s| {
        s["connector"]["state"] == "RUNNING"
    });
    let before = successful_calls(&std::fs::read_to_string(&second).unwrap()).unwrap();
    wait_for_file(
        &second,
        wait,
        "more successful calls after the delete",
        |t| successful_calls(t).is_some_and(|n| n > before + 3),
    );
    let log = worker.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(worker.terminate().success());
}

fn with_value(value: Payload) -> ConnectRecord {
    let mut record = ConnectRecord::new("cars");
    record.value = Some(value);
    record
}

#[test]
fn a_transformation_library_transforms_across_the_boundary_and_reports_data_errors() {
    let (registry, failures, _dir) = registry(&["uppercase_transform"]);
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        registry.plugins().is_empty(),
        "a transformation is not a connector"
    );
    let plugin = registry
        .transform("UppercaseField")
        .expect("found by simple name");
    assert_eq!(plugin.class_name, "com.example.transforms.UppercaseField");
    assert_eq!(plugin.plugin_type, PluginType::Transformation);
    assert_eq!(
        plugin.config_schema["properties"]["field"]["type"],
        "string"
    );

    let issues = plugin.build(&config(&[("colour", "red")])).err().unwrap();
    let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
    assert!(
        fields.contains(&"colour") && fields.contains(&"field"),
        "{issues:?}"
    );

    let Ok(Built::Transformation(mut shout)) = plugin.build(&config(&[("field", "status")])) else {
        panic!("a transformation");
    };
    let out = shout
        .apply(with_value(Payload::JsonText(
            br#"{"status":"hot"}"#.to_vec(),
        )))
        .unwrap()
        .unwrap();
    assert_eq!(
        out.value,
        Some(Payload::schemaless(json!({"status": "HOT"})))
    );
    let error = shout
        .apply(with_value(Payload::Bytes(b"hot".to_vec())))
        .unwrap_err();
    assert!(matches!(error, ConnectError::Data(_)), "{error:?}");
}

#[test]
fn a_predicate_library_answers_and_its_panics_stay_in_the_library() {
    let (registry, failures, _dir) = registry(&["ferry_test_value_contains"]);
    assert!(failures.is_empty(), "{failures:?}");
    let plugin = registry.transform("ValueContains").unwrap();
    assert_eq!(plugin.plugin_type, PluginType::Predicate);
    let Ok(Built::Predicate(mut contains)) = plugin.build(&config(&[("text", "hot")])) else {
        panic!("a predicate");
    };
    assert!(contains
        .test(&with_value(Payload::Bytes(b"too hot".to_vec())))
        .unwrap());
    assert!(!contains
        .test(&with_value(Payload::Bytes(b"cold".to_vec())))
        .unwrap());
    let error = contains
        .test(&with_value(Payload::Bytes(b"panic".to_vec())))
        .unwrap_err();
    assert!(error.to_string().contains("asked to panic"), "{error}");
    // Still usable after the caught panic.
    assert!(contains
        .test(&with_value(Payload::Bytes(b"hot".to_vec())))
        .unwrap());
}
