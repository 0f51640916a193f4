//! A connector's `tracing` events reach the worker's log inside the task's span.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_runtime::plugins::{PluginRegistry, SourceTaskInstance};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn plugin_events_are_logged_with_connector_and_task() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let dir = support::plugin_dir(&["sequence_connector"]);
    let (registry, _) = PluginRegistry::scan(&[dir.path().to_path_buf()]);
    let plugin = registry.find("SequenceSource").unwrap();
    let config = [("kafka.topic", "n")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

    let span = tracing::info_span!("task", connector = "numbers", task = 2);
    let mut task = span
        .in_scope(|| SourceTaskInstance::start(plugin, "numbers", 2, &config, &[]))
        .unwrap();
    task.poll(Duration::from_millis(1)).unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("sequence task resumes"))
        .unwrap_or_else(|| panic!("the plugin's event is missing from the log:\n{log}"));
    assert!(
        line.contains("task{connector=\"numbers\" task=2}"),
        "{line}"
    );
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("next=0"), "{line}");
}
