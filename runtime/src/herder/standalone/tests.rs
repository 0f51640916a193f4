//! The standalone herder over in-memory stores and no plugins: what it answers and what it
//! persists, without Kafka. Connectors that run are covered end to end in
//! `runtime/tests/standalone.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ferry_api::ConfigMap;

use crate::config::config;

use super::StandaloneHerder;
use crate::herder::{Herder, HerderError};
use crate::plugins::ConnectorType;
use crate::status::{State, TargetState};
use crate::store::{ConnectorStore, MemoryConnectorStore, StoredConnector};
use crate::worker::Worker;

struct Fixture {
    herder: StandaloneHerder,
    store: Arc<MemoryConnectorStore>,
    _runtime: tokio::runtime::Runtime,
}

/// Lets the herder own a store the test can still reach.
struct Shared(Arc<MemoryConnectorStore>);

impl ConnectorStore for Shared {
    fn load(&self) -> Result<BTreeMap<String, StoredConnector>, crate::store::StoreError> {
        self.0.load()
    }

    fn save(
        &self,
        connectors: &BTreeMap<String, StoredConnector>,
    ) -> Result<(), crate::store::StoreError> {
        self.0.save(connectors)
    }
}

/// A herder whose store already holds `stored` (connectors whose plugins are not loaded).
fn fixture(stored: &[(&str, &str)]) -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let worker = Worker::for_tests(runtime.handle().clone());
    let store = Arc::new(MemoryConnectorStore::default());
    let initial = stored
        .iter()
        .map(|(name, target)| {
            let stored = StoredConnector {
                config: config(&[("name", name), ("connector.class", "MissingSink")]),
                target_state: target.to_string(),
            };
            (name.to_string(), stored)
        })
        .collect();
    store.save(&initial).unwrap();
    let herder = StandaloneHerder::new(worker, Box::new(Shared(store.clone())));
    assert!(herder.start_connectors(Vec::new()).is_empty());
    Fixture {
        herder,
        store,
        _runtime: runtime,
    }
}

#[test]
fn a_stored_connector_whose_plugin_is_missing_is_failed_of_unknown_type() {
    let f = fixture(&[("orphan", "PAUSED")]);
    assert_eq!(f.herder.connectors(), ["orphan"]);
    assert_eq!(f.herder.target("orphan").unwrap(), TargetState::Paused);
    let info = f.herder.info("orphan").unwrap();
    assert_eq!(info.kind, ConnectorType::Unknown);
    assert_eq!(serde_json::to_value(&info).unwrap()["type"], "unknown");
    let status = f.herder.status("orphan").unwrap();
    assert_eq!(status.connector.state, State::Failed);
    let trace = status.connector.trace.unwrap_or_default();
    assert!(
        trace.contains("MissingSink") && trace.contains("plugin.path"),
        "{trace}"
    );
    // It cannot run here, so a restart is refused rather than silently dropped.
    assert!(matches!(
        f.herder.restart("orphan", false, false),
        Err(HerderError::Conflict(_))
    ));
}

#[test]
fn writes_are_refused_with_the_key_to_fix() {
    let f = fixture(&[]);
    let missing_class = f
        .herder
        .create("c", config(&[("tasks.max", "1")]), TargetState::Running);
    assert!(
        matches!(&missing_class, Err(HerderError::BadRequest(m)) if m.contains("connector.class")),
        "{missing_class:?}"
    );
    let unknown_class = f.herder.create(
        "c",
        config(&[("connector.class", "Nope")]),
        TargetState::Running,
    );
    assert!(
        matches!(&unknown_class, Err(HerderError::BadRequest(m)) if m.contains("Nope")),
        "{unknown_class:?}"
    );
    let other_name = f.herder.put_config("c", config(&[("name", "d")]));
    assert!(matches!(other_name, Err(HerderError::BadRequest(_))));
    let empty_name = f
        .herder
        .create("  ", ConfigMap::new(), TargetState::Running);
    assert!(matches!(empty_name, Err(HerderError::BadRequest(_))));
    assert!(f.store.load().unwrap().is_empty(), "nothing was stored");
}

#[test]
fn unknown_connectors_and_tasks_are_404() {
    let f = fixture(&[("orphan", "RUNNING")]);
    for outcome in [
        f.herder.delete("nope").err(),
        f.herder.config("nope").err(),
        f.herder.set_target("nope", TargetState::Paused).err(),
        f.herder.restart_task("orphan", 3).err(),
    ] {
        assert!(
            matches!(outcome, Some(HerderError::NotFound(_))),
            "{outcome:?}"
        );
    }
}

#[test]
fn a_write_that_cannot_be_persisted_changes_nothing() {
    let f = fixture(&[("orphan", "RUNNING")]);
    f.store.fail_saves.store(true, Ordering::Relaxed);
    assert!(matches!(
        f.herder.set_target("orphan", TargetState::Stopped),
        Err(HerderError::Store(_))
    ));
    assert_eq!(f.herder.target("orphan").unwrap(), TargetState::Running);
    assert!(matches!(
        f.herder.delete("orphan"),
        Err(HerderError::Store(_))
    ));
    assert_eq!(f.herder.connectors(), ["orphan"]);

    f.store.fail_saves.store(false, Ordering::Relaxed);
    f.herder.set_target("orphan", TargetState::Stopped).unwrap();
    assert_eq!(f.store.load().unwrap()["orphan"].target_state, "STOPPED");
    f.herder.delete("orphan").unwrap();
    assert!(f.store.load().unwrap().is_empty());
    assert!(f.herder.status("orphan").is_err());
}
