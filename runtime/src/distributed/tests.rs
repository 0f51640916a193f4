//! The distributed herder over an in-memory config log: the records each request writes, and
//! what reads answer from the log. The cluster itself runs in `runtime/tests/distributed.rs`.

use std::sync::Arc;

use crate::config::config;

use super::assignment::{Assignment, TaskRef};
use super::config_log::{ConfigLogAccess, ConfigRecord, MemoryConfigLog};
use super::DistributedHerder;
use crate::herder::{Herder, HerderError, RestartPlan};
use crate::plugins::ConnectorType;
use crate::status::{State, TargetState};
use crate::worker::Worker;

struct Fixture {
    herder: DistributedHerder<MemoryConfigLog>,
    log: Arc<MemoryConfigLog>,
    _runtime: tokio::runtime::Runtime,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let log = Arc::new(MemoryConfigLog::default());
    let herder =
        DistributedHerder::detached(Worker::for_tests(runtime.handle().clone()), log.clone());
    Fixture {
        herder,
        log,
        _runtime: runtime,
    }
}

/// A fixture whose log holds connector `c`, RUNNING, with `tasks` committed task configs.
fn fixture_with_connector(tasks: usize) -> Fixture {
    let f = fixture();
    f.herder
        .write_new("c", config(&[("name", "c")]), TargetState::Running)
        .unwrap();
    f.log
        .append(ConfigRecord::task_set("c", &vec![config(&[]); tasks]))
        .unwrap();
    f
}

fn keys(records: &[ConfigRecord]) -> Vec<String> {
    records.iter().map(ConfigRecord::key).collect()
}

#[test]
fn creating_writes_the_target_before_the_config_and_refuses_a_second() {
    let f = fixture();
    let c = config(&[("name", "c"), ("connector.class", "Missing")]);
    f.herder
        .write_new("c", c.clone(), TargetState::Paused)
        .unwrap();
    assert_eq!(keys(&f.log.written()), ["target-state-c", "connector-c"]);
    assert_eq!(f.herder.target("c").unwrap(), TargetState::Paused);
    let info = f.herder.info("c").unwrap();
    assert_eq!((info.kind, info.tasks.len()), (ConnectorType::Unknown, 0));
    let again = f.herder.write_new("c", c, TargetState::Running);
    assert!(matches!(again, Err(HerderError::Conflict(_))), "{again:?}");
    assert_eq!(f.log.written().len(), 2, "a refused create writes nothing");
}

#[test]
fn an_unchanged_config_writes_nothing_and_a_new_one_creates() {
    let f = fixture();
    let c = config(&[("name", "c"), ("k", "1")]);
    assert!(f.herder.write_config("c", c.clone()).unwrap());
    assert_eq!(keys(&f.log.written()), ["target-state-c", "connector-c"]);
    assert!(!f.herder.write_config("c", c).unwrap());
    assert_eq!(f.log.written().len(), 2);
    let changed = config(&[("name", "c"), ("k", "2")]);
    assert!(!f.herder.write_config("c", changed).unwrap());
    assert_eq!(keys(&f.log.written()[2..]), ["connector-c"]);
    assert_eq!(f.herder.config("c").unwrap()["k"], "2");
}

#[test]
fn stopping_empties_the_task_set_and_delete_leaves_tombstones() {
    let f = fixture();
    f.herder
        .write_new("c", config(&[("name", "c")]), TargetState::Running)
        .unwrap();
    let tasks = [config(&[("t", "0")]), config(&[("t", "1")])];
    f.log.append(ConfigRecord::task_set("c", &tasks)).unwrap();
    assert_eq!(f.herder.tasks("c").unwrap().len(), 2);

    f.herder.set_target("c", TargetState::Stopped).unwrap();
    assert_eq!(f.herder.target("c").unwrap(), TargetState::Stopped);
    assert!(f.herder.tasks("c").unwrap().is_empty());

    f.log.append(ConfigRecord::task_set("c", &tasks)).unwrap();
    let before = f.log.written().len();
    f.herder.delete("c").unwrap();
    let deletion = &f.log.written()[before..];
    assert_eq!(
        keys(deletion),
        [
            "connector-c",
            "target-state-c",
            "task-c-0",
            "task-c-1",
            "commit-c"
        ]
    );
    assert!(deletion.iter().all(|r| r.value().is_none()), "{deletion:?}");
    assert!(f.herder.connectors().is_empty());
    assert!(matches!(
        f.herder.delete("c"),
        Err(HerderError::NotFound(_))
    ));
}

#[test]
fn restarts_are_requests_in_the_log_for_existing_tasks_only() {
    let f = fixture_with_connector(1);
    let missing = f.herder.request_task_restart("c", 1);
    assert!(
        matches!(missing, Err(HerderError::NotFound(_))),
        "{missing:?}"
    );
    f.herder.request_task_restart("c", 0).unwrap();
    let plan = RestartPlan {
        connector: true,
        tasks: vec![0],
        include_tasks: true,
        only_failed: false,
    };
    f.herder.request_restart("c", &plan).unwrap();
    let written = f.log.written();
    assert_eq!(
        written[written.len() - 2..],
        [
            ConfigRecord::RestartTask {
                name: "c".into(),
                task: 0
            },
            ConfigRecord::RestartConnector {
                name: "c".into(),
                include_tasks: true,
                only_failed: false
            }
        ]
    );
}

#[test]
fn status_names_the_assigned_worker_until_it_reports() {
    let f = fixture_with_connector(1);
    let assignment = Assignment {
        generation: 3,
        leader: "a:1".into(),
        members: vec!["a:1".into(), "b:2".into()],
        connectors: [("a:1".to_string(), vec!["c".to_string()])].into(),
        tasks: [(
            "b:2".to_string(),
            vec![TaskRef {
                connector: "c".into(),
                task: 0,
            }],
        )]
        .into(),
    };
    f.log
        .append(vec![ConfigRecord::Assignment(assignment)])
        .unwrap();
    let status = f.herder.status("c").unwrap();
    assert_eq!(status.connector.state, State::Unassigned);
    assert_eq!(status.connector.worker_id, "a:1");
    assert_eq!(status.tasks[0].status.state, State::Unassigned);
    assert_eq!(status.tasks[0].status.worker_id, "b:2");
    assert!(matches!(
        f.herder.status("nope"),
        Err(HerderError::NotFound(_))
    ));
}
