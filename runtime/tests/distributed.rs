//! A three-worker `ferry distributed` cluster on loopback, against the real Kafka and Mosquitto:
//! shared view, balanced scaling, kill -9 failover, rejoin, rolling restart, all under MQTT load
//! with every message counted in Kafka, while a REST client hammers the workers.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::http::try_request;
use support::mqtt::{numbers_of, publish_numbered};
use support::worker::{read_topic, sequences, Worker, WorkerSetup};
use support::{unique, Services};

const LIBRARIES: &[&str] = &["ferry_mqtt_source"];

/// Settings shared by the members of a fresh cluster; every cluster here seals its secrets.
fn cluster_config(group: &str) -> String {
    format!(
        "group.id: {group}\nconfig.storage.topic: {group}-configs\nstatus.storage.topic: {group}-status\nsession.timeout.ms: 6000\nheartbeat.interval.ms: 1000\nconfig.storage.secrets.key: 3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=\n"
    )
}

fn status(port: u16, name: &str) -> Option<Value> {
    let response = try_request(port, "GET", &format!("/connectors/{name}/status"), None).ok()?;
    (response.status == 200).then(|| response.json())
}

/// Worker id → RUNNING tasks it holds, when every one of `tasks` tasks runs.
fn running_tasks(status: &Value, tasks: usize) -> Option<BTreeMap<String, usize>> {
    let list = status["tasks"].as_array()?;
    if list.len() != tasks || list.iter().any(|t| t["state"] != "RUNNING") {
        return None;
    }
    let mut per_worker = BTreeMap::new();
    for task in list {
        *per_worker
            .entry(task["worker_id"].as_str()?.to_string())
            .or_insert(0) += 1;
    }
    Some(per_worker)
}

/// Polls worker `port` until `check` accepts the connector's status; returns the wait.
fn wait_status(
    port: u16,
    name: &str,
    timeout: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let last = status(port, name);
        if last.as_ref().is_some_and(&check) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "{what}: not within {timeout:?}; last status from {port}: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each of `workers` runs exactly one of the three tasks.
fn one_task_each(workers: &[String]) -> impl Fn(&Value) -> bool + '_ {
    move |status| {
        running_tasks(status, 3).is_some_and(|per_worker| {
            per_worker.len() == workers.len()
                && workers.iter().all(|w| per_worker.get(w) == Some(&1))
        })
    }
}

/// The worker that wrote the latest assignment to the cluster's config topic.
fn current_leader(group: &str) -> String {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let topic = format!("{group}-configs");
    let client: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", Services::from_env().kafka_bootstrap)
        .create()
        .unwrap();
    let (_, end) = client
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .unwrap();
    // The last offset may be a transaction marker, never delivered: the timeout ends that read.
    let records = read_topic(&topic, Duration::from_secs(3), |r| {
        r.last().is_some_and(|r| r.offset >= end - 1)
    });
    let latest = records
        .iter()
        .rev()
        .find(|r| r.key.as_deref() == Some(b"ferry-assignment".as_slice()))
        .expect("an assignment in the config topic");
    let value: Value = serde_json::from_slice(latest.value.as_deref().unwrap()).unwrap();
    value["leader"].as_str().unwrap().to_string()
}

/// A REST client calling whichever workers are up, counting every answer by status.
struct Hammer {
    stop: Arc<AtomicBool>,
    ports: Arc<Mutex<Vec<u16>>>,
    answers: Arc<Mutex<BTreeMap<u16, u64>>>,
    unreachable: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Hammer {
    fn start(ports: Vec<u16>, name: &str, config: Value) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let ports = Arc::new(Mutex::new(ports));
        let answers = Arc::new(Mutex::new(BTreeMap::new()));
        let unreachable = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, ports, answers, unreachable) = (
                stop.clone(),
                ports.clone(),
                answers.clone(),
                unreachable.clone(),
            );
            let name = name.to_string();
            move || {
                let mut round = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    let live = ports.lock().unwrap().clone();
                    let Some(&port) = live.get(round % live.len().max(1)) else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    let (method, path, body) = match round % 8 {
                        0 | 4 => (
                            "GET",
                            "/connectors?expand=status&expand=info".to_string(),
                            None,
                        ),
                        1 | 5 => ("GET", format!("/connectors/{name}/status"), None),
                        2 | 6 => ("GET", format!("/connectors/{name}/tasks"), None),
                        // The same config again: validated, then nothing to change.
                        3 => ("PUT", format!("/connectors/{name}/config"), Some(&config)),
                        // A write to the config log: the connector instance (not its tasks)
                        // restarts wherever it runs.
                        _ => ("POST", format!("/connectors/{name}/restart"), None),
                    };
                    match try_request(port, method, &path, body) {
                        Ok(response) => {
                            *answers.lock().unwrap().entry(response.status).or_insert(0) += 1;
                            if response.status == 409 || response.status >= 500 {
                                eprintln!(
                                    "{method} {path} on {port}: {} {}",
                                    response.status, response.body
                                );
                            }
                        }
                        Err(_) => {
                            unreachable.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        Hammer {
            stop,
            ports,
            answers,
            unreachable,
            thread,
        }
    }

    fn set_up(&self, port: u16, up: bool) {
        let mut ports = self.ports.lock().unwrap();
        ports.retain(|p| *p != port);
        if up {
            ports.push(port);
        }
    }

    fn finish(self) -> (BTreeMap<u16, u64>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let answers = self.answers.lock().unwrap().clone();
        (answers, self.unreachable.load(Ordering::Relaxed))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_share_balance_fail_over_and_restart_without_loss() {
    let group = unique("cluster");
    let offsets = unique("cluster-offsets");
    let prefix = unique("fleet");
    let topic = unique("fleet-out");
    let run = unique("run");
    let config = json!({
        "connector.class": "MqttSource",
        "tasks.max": "1",
        "mqtt.server.uri": format!("tcp://127.0.0.1:{}", Services::from_env().mqtt_port),
        // One shared subscription ($share/fleet/...) across the tasks, in persistent sessions
        // that a task's next worker resumes (same client id), with what Mosquitto queued
        // for it meanwhile.
        "mqtt.topics": format!("{prefix}/+/+"),
        "mqtt.qos": "1",
        "mqtt.clean.session.enabled": "false",
        "mqtt.reconnect.backoff.max.ms": "1000",
        "kafka.topic": topic,
    });

    let (setups, mut workers) = tokio::task::spawn_blocking({
        let (group, offsets) = (group.clone(), offsets.clone());
        move || {
            let setups: Vec<WorkerSetup> = (0..3)
                .map(|_| WorkerSetup::cluster_member(LIBRARIES, &cluster_config(&group), &offsets))
                .collect();
            let workers: Vec<Option<Worker>> = setups.iter().map(|s| Some(s.start())).collect();
            (setups, workers)
        }
    })
    .await
    .unwrap();
    let ids: Vec<String> = setups.iter().map(WorkerSetup::worker_id).collect();
    let ports: Vec<u16> = setups.iter().map(|s| s.port).collect();

    // Created on A, visible with the same status on B and C.
    let created = workers[0].as_ref().unwrap().call(
        "POST",
        "/connectors",
        Some(&json!({"name": "fleet", "config": config})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let ports_for_check = ports.clone();
    tokio::task::spawn_blocking(move || {
        wait_status(
            ports_for_check[0],
            "fleet",
            Duration::from_secs(60),
            "one task running",
            |s| s["connector"]["state"] == "RUNNING" && running_tasks(s, 1).is_some(),
        );
        let on_a = status(ports_for_check[0], "fleet").unwrap();
        for port in &ports_for_check[1..] {
            wait_status(
                *port,
                "fleet",
                Duration::from_secs(10),
                "same status everywhere",
                |s| *s == on_a,
            );
        }
    })
    .await
    .unwrap();

    // Scaled from B: one task on each worker.
    let mut scaled = config.clone();
    scaled["tasks.max"] = json!("3");
    let response =
        workers[1]
            .as_ref()
            .unwrap()
            .call("PUT", "/connectors/fleet/config", Some(&scaled));
    assert_eq!(response.status, 200, "{}", response.body);
    let balanced = tokio::task::spawn_blocking({
        let (ports, ids) = (ports.clone(), ids.clone());
        move || {
            let took = wait_status(
                ports[2],
                "fleet",
                Duration::from_secs(60),
                "tasks spread",
                one_task_each(&ids),
            );
            let on_c = status(ports[2], "fleet").unwrap();
            for port in &ports[..2] {
                wait_status(
                    *port,
                    "fleet",
                    Duration::from_secs(10),
                    "same spread everywhere",
                    |s| *s == on_c,
                );
            }
            took
        }
    })
    .await
    .unwrap();
    println!("scaled to 3 tasks from B: one on each worker after {balanced:.1?}");

    // Load and REST traffic from here to the end.
    let publishing = Arc::new(AtomicBool::new(true));
    let publisher = tokio::spawn({
        let (run, prefix, publishing) = (run.clone(), prefix.clone(), publishing.clone());
        async move {
            let mut published = 0;
            while publishing.load(Ordering::Relaxed) {
                published += publish_numbered(&run, published, 400, 400, |n| {
                    format!("{prefix}/{}/{}", ["a", "b", "c"][(n % 3) as usize], n % 10)
                })
                .await;
            }
            published
        }
    });
    let hammer = Hammer::start(ports.clone(), "fleet", scaled.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (workers_back, hammer, setups) = tokio::task::spawn_blocking({
        let (ports, ids, group) = (ports.clone(), ids.clone(), group.clone());
        move || {
            // kill -9 the leader (the worst case: the group must also elect a new one); its
            // task runs on the others again.
            let leader = ids
                .iter()
                .position(|id| *id == current_leader(&group))
                .expect("the leader is one of the workers");
            let survivor = ports[(leader + 1) % 3];
            hammer.set_up(ports[leader], false);
            workers[leader].take().unwrap().kill9();
            let killed = Instant::now();
            let dead = ids[leader].clone();
            wait_status(survivor, "fleet", Duration::from_secs(30), "failover", |s| {
                running_tasks(s, 3).is_some_and(|per_worker| !per_worker.contains_key(&dead))
            });
            let recovery = killed.elapsed();
            println!(
                "failover: all 3 tasks running on the survivors {recovery:.1?} after kill -9 of the leader"
            );
            assert!(
                recovery < Duration::from_secs(15),
                "failover took {recovery:?}"
            );

            // It comes back: one task each again.
            workers[leader] = Some(setups[leader].start());
            hammer.set_up(ports[leader], true);
            let back = Instant::now();
            wait_status(
                survivor,
                "fleet",
                Duration::from_secs(60),
                "rebalance onto the restarted worker",
                one_task_each(&ids),
            );
            println!(
                "rejoin: one task on each worker again {:.1?} after the killed worker restarted",
                back.elapsed()
            );

            // Rolling restart of A, B, C.
            for i in 0..3 {
                let restarting = Instant::now();
                hammer.set_up(ports[i], false);
                let exit = workers[i].take().unwrap().terminate();
                assert!(exit.success(), "worker {i} exited with {exit}");
                workers[i] = Some(setups[i].start());
                hammer.set_up(ports[i], true);
                let other = ports[(i + 1) % 3];
                wait_status(
                    other,
                    "fleet",
                    Duration::from_secs(60),
                    "rolling restart",
                    one_task_each(&ids),
                );
println!(
                    "rolling restart: worker {i} stopped, restarted, balanced again in {:.1?}",
                    restarting.elapsed()
                );
            }
            (workers, hammer, setups)
        }
    })
    .await
    .unwrap();

    tokio::time::sleep(Duration::from_secs(2)).await;
    publishing.store(false, Ordering::Relaxed);
    let published = publisher.await.unwrap();
    let (answers, unreachable) = tokio::task::spawn_blocking(move || hammer.finish())
        .await
        .unwrap();

    let (distinct, total) = tokio::task::spawn_blocking({
        let (topic, run) = (topic.clone(), run.clone());
        move || {
            let records = read_topic(&topic, Duration::from_secs(90), |r| {
                numbers_of(&run, r.iter().filter_map(|r| r.value.clone()))
                    .0
                    .len() as u64
                    >= published
            });
            numbers_of(&run, records.iter().filter_map(|r| r.value.clone()))
        }
    })
    .await
    .unwrap();
    let lost = published - distinct.len() as u64;
    println!(
        "cluster under load: published {published} (acknowledged by Mosquitto), in Kafka {} distinct, duplicates {}, lost {lost}",
        distinct.len(),
        total - distinct.len()
    );
    println!("REST during rebalances: answers by status {answers:?}, refused connections to stopping workers {unreachable}");
    assert_eq!(lost, 0, "messages lost");
    let bad: u64 = answers
        .iter()
        .filter(|(status, _)| **status == 409 || **status >= 500)
        .map(|(_, count)| count)
        .sum();
    assert_eq!(bad, 0, "409 or 5xx answers: {answers:?}");
    assert!(
        answers.values().sum::<u64>() > 200,
        "the hammer barely ran: {answers:?}"
    );
    drop(workers_back);
    drop(setups);
}

#[test]
fn a_distributed_worker_without_group_id_says_what_to_set() {
    let setup = WorkerSetup {
        mode: "distributed",
        ..WorkerSetup::new(LIBRARIES, "")
    };
    let (code, log) = setup.start_expecting_failure();
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("group.id is missing"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_leader_fences_the_older_one() {
    use ferry_runtime::distributed::config_log::{ConfigLog, ConfigRecord};
    let topic = unique("fencing-configs");
    let group = unique("fencing");
    let mut client = rdkafka::ClientConfig::new();
    client.set("bootstrap.servers", Services::from_env().kafka_bootstrap);
    ferry_runtime::store::ensure_compacted_topic(&client, &topic, 1, 1, "config.storage.topic")
        .await
        .unwrap();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let sealer = ferry_runtime::distributed::config_log::Sealer::new(None, Box::new(|_, _| false));
        let log = ConfigLog::open(&client, &topic, runtime, sealer, || {}).unwrap();
        let assignment = |generation: u64| {
            let value = json!({"generation": generation, "leader": "x", "members": [], "connectors": {}, "tasks": {}});
            vec![ConfigRecord::Assignment(serde_json::from_value(value).unwrap())]
        };
        let old_leader = log.leader_writer(&group).unwrap();
        log.append_as_leader(&old_leader, assignment(1)).unwrap();
        assert_eq!(log.view().assignment.generation, 1);
        let new_leader = log.leader_writer(&group).unwrap();
        let refused = log.append_as_leader(&old_leader, assignment(7));
        assert!(refused.is_err(), "the fenced leader could still write");
        log.append_as_leader(&new_leader, assignment(2)).unwrap();
        assert_eq!(log.view().assignment.generation, 2);
    })
    .await
    .unwrap();
}

#[test]
fn lifecycle_requests_work_from_any_worker_and_moved_tasks_resume_from_their_offsets() {
    const PER_TASK: u64 = 1500;
    let group = unique("lifecycle");
    let offsets = unique("lifecycle-offsets");
    let topic = unique("lifecycle-out");
    let setups: Vec<WorkerSetup> = (0..2)
        .map(|_| {
            WorkerSetup::cluster_member(&["sequence_connector"], &cluster_config(&group), &offsets)
        })
        .collect();
    let mut workers: Vec<Option<Worker>> = setups.iter().map(|s| Some(s.start())).collect();
    let ids: Vec<String> = setups.iter().map(WorkerSetup::worker_id).collect();
    let (a, b) = (setups[0].port, setups[1].port);
    let call = |port: u16, method: &str, path: &str, body: Option<&Value>| {
        try_request(port, method, path, body).unwrap()
    };
    let body = json!({"name": "seq", "config": {
        "connector.class": "SequenceSource",
        "tasks.max": "2",
        "kafka.topic": topic,
        "rate.per.second": "100",
        "max.records": PER_TASK.to_string(),
    }});
    assert_eq!(call(a, "POST", "/connectors", Some(&body)).status, 201);
    assert_eq!(call(b, "POST", "/connectors", Some(&body)).status, 409);
    let spread = |s: &Value| {
        running_tasks(s, 2)
            .is_some_and(|w| w.len() == 2 && ids.iter().all(|id| w.get(id) == Some(&1)))
    };
    wait_status(b, "seq", Duration::from_secs(60), "one task each", spread);

    // A leaves and comes back: its task runs on B meanwhile, then returns.
    std::thread::sleep(Duration::from_secs(3));
    let exit = workers[0].take().unwrap().terminate();
    assert!(exit.success());
    wait_status(b, "seq", Duration::from_secs(30), "both on B", |s| {
        running_tasks(s, 2).is_some_and(|w| w.get(&ids[1]) == Some(&2))
    });
    std::thread::sleep(Duration::from_secs(2));
    workers[0] = Some(setups[0].start());
    wait_status(
        b,
        "seq",
        Duration::from_secs(60),
        "one task each again",
        spread,
    );

    // Metrics count each worker's own tasks, and exactly one worker leads.
    let metric = |port: u16, name: &str| -> u64 {
        let body = call(port, "GET", "/metrics", None).body;
        body.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("no {name} in\n{body}"))
    };
    for port in [a, b] {
        assert_eq!(metric(port, "ferry_worker_tasks{state=\"running\"}"), 1);
        assert_eq!(metric(port, "ferry_cluster_members "), 2);
    }
    assert_eq!(
        metric(a, "ferry_cluster_leader ") + metric(b, "ferry_cluster_leader "),
        1
    );

    // Activity is cluster-wide: either worker gives both tasks' figures, each from the worker
    // its status names (the other worker's arrive through the status topic).
    for port in [a, b] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = call(port, "GET", "/connectors/seq/status", None).json();
            let activity = call(port, "GET", "/connectors/seq/activity", None).json();
            let matches = |task: &Value| {
                activity["tasks"].as_array().is_some_and(|figures| {
                    figures.iter().any(|f| {
                        f["id"] == task["id"]
                            && f["worker_id"] == task["worker_id"]
                            && f["records_out"].as_u64() > Some(0)
                    })
                })
            };
            let tasks = status["tasks"].as_array().cloned().unwrap_or_default();
            if tasks.len() == 2 && tasks.iter().all(matches) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "worker on port {port} did not give both tasks' figures within 30 s:\n\
                 status {status}\nactivity {activity}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    // Pause on A, seen on B; resume on B, seen on A.
    assert_eq!(call(a, "PUT", "/connectors/seq/pause", None).status, 202);
    wait_status(b, "seq", Duration::from_secs(30), "paused", |s| {
        s["connector"]["state"] == "PAUSED"
            && s["tasks"]
                .as_array()
                .is_some_and(|t| t.len() == 2 && t.iter().all(|t| t["state"] == "PAUSED"))
    });
    assert_eq!(call(b, "PUT", "/connectors/seq/resume", None).status, 202);
    wait_status(a, "seq", Duration::from_secs(30), "resumed", spread);

    // Every number of every task, none twice: moves resumed from the committed offsets.
    let records = read_topic(&topic, Duration::from_secs(60), |r| {
        r.len() as u64 >= 2 * PER_TASK
    });
    let by_task = sequences(&records);
    for (task, seqs) in &by_task {
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..PER_TASK).collect::<Vec<_>>(),
            "task {task}: gaps or repeats"
        );
    }
    assert_eq!(by_task.len(), 2);
    println!(
        "moved sequence tasks: {} records, each number once",
        records.len()
    );

    // The topics the connector used, known to both workers; reset on B, forgotten on A.
    let used = json!({"seq": {"topics": [topic]}});
    for port in [a, b] {
        assert_eq!(
            call(port, "GET", "/connectors/seq/topics", None).json(),
            used
        );
    }
    assert_eq!(
        call(b, "PUT", "/connectors/seq/topics/reset", None).status,
        202
    );
    let start = Instant::now();
    while call(a, "GET", "/connectors/seq/topics", None).json() != json!({"seq": {"topics": []}}) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "topics not reset on A"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Stop on B: no tasks anywhere; the offsets are readable from A.
    assert_eq!(call(b, "PUT", "/connectors/seq/stop", None).status, 204);
    wait_status(a, "seq", Duration::from_secs(30), "stopped", |s| {
        s["connector"]["state"] == "STOPPED" && s["tasks"].as_array().is_some_and(Vec::is_empty)
    });
    let offsets = call(a, "GET", "/connectors/seq/offsets", None).json();
    assert_eq!(
        offsets["offsets"].as_array().map(Vec::len),
        Some(2),
        "{offsets}"
    );
    let reset = call(b, "DELETE", "/connectors/seq/offsets", None);
    assert_eq!(reset.status, 200, "{}", reset.body);
    let offsets = call(a, "GET", "/connectors/seq/offsets", None).json();
    assert_eq!(offsets, json!({"offsets": []}));
    assert_eq!(call(a, "PUT", "/connectors/seq/resume", None).status, 202);
    wait_status(
        b,
        "seq",
        Duration::from_secs(30),
        "running after stop",
        spread,
    );

    // Restart from A with tasks: the plan says RESTARTING, then everything runs again.
    let restart = call(a, "POST", "/connectors/seq/restart?includeTasks=true", None);
    assert_eq!(restart.status, 202, "{}", restart.body);
    assert_eq!(restart.json()["connector"]["state"], "RESTARTING");
    wait_status(
        b,
        "seq",
        Duration::from_secs(30),
        "running after restart",
        spread,
    );

    // Scaled down from B: one task left, its status seen on A.
    let patched = call(
        b,
        "PATCH",
        "/connectors/seq/config",
        Some(&json!({"tasks.max": "1"})),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    wait_status(a, "seq", Duration::from_secs(30), "scaled down", |s| {
        running_tasks(s, 1).is_some()
    });

    // Deleted on B: gone from A too.
    assert_eq!(call(b, "DELETE", "/connectors/seq", None).status, 204);
    assert_eq!(call(a, "GET", "/connectors/seq", None).status, 404);
    assert_eq!(call(a, "GET", "/connectors", None).json(), json!([]));
}

#[tokio::test]
async fn a_config_topic_with_several_partitions_is_refused() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let group = unique("partitioned");
    let setup = WorkerSetup::cluster_member(LIBRARIES, &cluster_config(&group), &unique("offsets"));
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", Services::from_env().kafka_bootstrap)
        .create()
        .unwrap();
    let topic = format!("{group}-configs");
    let partitioned =
        NewTopic::new(&topic, 3, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    admin
        .create_topics([&partitioned], &AdminOptions::new())
        .await
        .unwrap();
    let (code, log) = tokio::task::spawn_blocking(move || setup.start_expecting_failure())
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{log}");
    let line = log
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("has 3 partitions"), "{line}");
    assert!(line.contains("config.storage.topic"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_task_moved_by_kill_9_delivers_every_record() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use support::kafka::{produce, Outgoing};
    use support::mqtt::Subscriber;
    const RECORDS: u64 = 6000;
    let group = unique("sinks");
    let offsets = unique("sinks-offsets");
    let topic = unique("alerts");
    let prefix = unique("cars");
    let run = unique("run");
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", Services::from_env().kafka_bootstrap)
        .create()
        .unwrap();
    admin
        .create_topics(
            [&NewTopic::new(&topic, 4, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let subscriber = Subscriber::start(&format!("{prefix}/#"), false).await;
    let (setups, mut workers) = tokio::task::spawn_blocking({
        let group = group.clone();
        move || {
            let setups: Vec<WorkerSetup> = (0..2)
                .map(|_| {
                    WorkerSetup::cluster_member(
                        &["ferry_mqtt_sink"],
                        &cluster_config(&group),
                        &offsets,
                    )
                })
                .collect();
            let workers: Vec<Option<Worker>> = setups.iter().map(|s| Some(s.start())).collect();
            (setups, workers)
        }
    })
    .await
    .unwrap();
    let ids: Vec<String> = setups.iter().map(WorkerSetup::worker_id).collect();
    let ports: Vec<u16> = setups.iter().map(|s| s.port).collect();
    let body = json!({"name": "alerts", "config": {
        "connector.class": "MqttSink",
        "tasks.max": "2",
        "topics": topic,
        "mqtt.server.uri": format!("tcp://127.0.0.1:{}", Services::from_env().mqtt_port),
        "mqtt.topic": format!("{prefix}/alerts"),
        "mqtt.qos": "1",
    }});
    let created = workers[0]
        .as_ref()
        .unwrap()
        .call("POST", "/connectors", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    tokio::task::spawn_blocking({
        let (ports, ids) = (ports.clone(), ids.clone());
        move || {
            wait_status(
                ports[1],
                "alerts",
                Duration::from_secs(60),
                "one sink task each",
                |s| running_tasks(s, 2).is_some_and(|w| ids.iter().all(|id| w.get(id) == Some(&1))),
            )
        }
    })
    .await
    .unwrap();

    let producer = tokio::spawn({
        let (topic, run) = (topic.clone(), run.clone());
        async move {
            for chunk in 0..RECORDS / 200 {
                let records = (chunk * 200..(chunk + 1) * 200)
                    .map(|n| Outgoing::keyed(format!("car-{}", n % 16), format!("{run}:{n}")))
                    .collect();
                produce(&topic, records).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let recovery = tokio::task::spawn_blocking({
        let ids = ids.clone();
        let killed_worker = workers[1].take().unwrap();
        let survivor = ports[0];
        move || {
            killed_worker.kill9();
            let killed = Instant::now();
            wait_status(
                survivor,
                "alerts",
                Duration::from_secs(30),
                "sink failover",
                |s| running_tasks(s, 2).is_some_and(|w| w.get(&ids[0]) == Some(&2)),
            );
            killed.elapsed()
        }
    })
    .await
    .unwrap();
    println!("sink failover: both tasks on the survivor {recovery:.1?} after kill -9");
    assert!(
        recovery < Duration::from_secs(15),
        "failover took {recovery:?}"
    );
    producer.await.unwrap();

    let received = subscriber
        .wait_for(Duration::from_secs(60), |r| {
            numbers_of(&run, r.iter().map(|m| m.payload.clone()))
                .0
                .len() as u64
                >= RECORDS
        })
        .await;
    let (distinct, total) = numbers_of(&run, received.iter().map(|m| m.payload.clone()));
    let lost = RECORDS - distinct.len() as u64;
    println!(
        "sink under kill -9: produced {RECORDS}, received by the MQTT subscriber {} distinct, duplicates {}, lost {lost}",
        distinct.len(),
        total - distinct.len()
    );
    assert_eq!(lost, 0);
    drop(workers);
}

#[test]
fn a_connector_hanging_in_start_is_failed_and_holds_nothing_else_up() {
    let group = unique("hanging");
    let config = format!(
        "{}connector.call.timeout.ms: 2000\n",
        cluster_config(&group)
    );
    let setup = WorkerSetup::cluster_member(
        &["sequence_connector", "ferry_test_panicking_source"],
        &config,
        &unique("offsets"),
    );
    let worker = setup.start();
    let topic = unique("hanging-out");
    let stuck = json!({"name": "stuck", "config": {
        "connector.class": "PanickingSource",
        "kafka.topic": topic,
        "hang.in.start.ms": "60000",
    }});
    assert_eq!(worker.call("POST", "/connectors", Some(&stuck)).status, 201);
    let healthy = json!({"name": "healthy", "config": {
        "connector.class": "SequenceSource",
        "kafka.topic": topic,
        "rate.per.second": "10",
    }});
    assert_eq!(
        worker.call("POST", "/connectors", Some(&healthy)).status,
        201
    );
    // The healthy connector runs although the other one's start never returns.
    wait_status(
        setup.port,
        "healthy",
        Duration::from_secs(20),
        "healthy running",
        |s| s["connector"]["state"] == "RUNNING" && running_tasks(s, 1).is_some(),
    );
    let status = worker.wait_for("/connectors/stuck/status", Duration::from_secs(20), |s| {
        s["connector"]["state"] == "FAILED"
    });
    let trace = status["connector"]["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains("connector start did not return")
            && trace.contains("connector.call.timeout.ms"),
        "{trace}"
    );
}
