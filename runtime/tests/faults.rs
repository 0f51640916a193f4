//! Faults of a real three-node Kafka cluster (dev/kafka-cluster: replication 3,
//! min.insync.replicas 2) while one worker bridges both ways under steady load: MQTT → Kafka
//! through the MQTT source at QoS 1, Kafka → MQTT through the MQTT sink, 1,500 msg/s each.
//! Every test counts every message (lost = 0, duplicates printed), polls the REST API all
//! along, and ends with every task RUNNING.
//!
//! Run by `dev/test --faults` (also part of a full `dev/test`), which starts the cluster and
//! points `FERRY_KAFKA_BOOTSTRAP` at it:
//!
//!   dev/kafka-cluster up && eval "$(dev/kafka-cluster env)" &&
//!   FERRY_KAFKA_BOOTSTRAP=$FERRY_KAFKA_CLUSTER_BOOTSTRAP cargo test --test faults -- --ignored --test-threads=1

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use serde_json::{json, Value};
use support::http::try_request;
use support::kafka::producer;
use support::mqtt::{numbers_of, publish_numbered, Subscriber};
use support::proxy::FaultProxy;
use support::unique;
use support::worker::{read_topic, Worker, WorkerSetup};

const PLUGINS: &[&str] = &["ferry_mqtt_source", "ferry_mqtt_sink"];
/// Messages a second, each way.
const RATE: u64 = 1_500;
const WAIT: Duration = Duration::from_secs(120);

/// Runs `dev/kafka-cluster` with `args`; its standard output.
fn cluster(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../dev/kafka-cluster");
    let output = std::process::Command::new(script)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("dev/kafka-cluster runs");
    assert!(output.status.success(), "dev/kafka-cluster {args:?} failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The node leading partition 0 of `topic`.
fn leader_of(topic: &str) -> i32 {
    let client: BaseConsumer = rdkafka::ClientConfig::new()
        .set(
            "bootstrap.servers",
            support::Services::from_env().kafka_bootstrap,
        )
        .create()
        .unwrap();
    let metadata = client
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .unwrap();
    metadata.topics()[0]
        .partitions()
        .iter()
        .find(|p| p.id() == 0)
        .map(|p| p.leader())
        .unwrap_or_else(|| panic!("no partition 0 of {topic}"))
}

/// Creates the topics with three partitions and three replicas, so that their leaders are
/// known before the first record.
async fn create_topics(topics: &[&str]) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set(
            "bootstrap.servers",
            support::Services::from_env().kafka_bootstrap,
        )
        .create()
        .unwrap();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, 3, TopicReplication::Fixed(3)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&new, &options).await.unwrap() {
        result.unwrap_or_else(|(topic, code)| panic!("cannot create {topic}: {code}"));
    }
}

/// A worker running an MQTT source and an MQTT sink against the cluster.
struct Bridge {
    setups: Vec<Arc<WorkerSetup>>,
    /// `None` once a test killed it.
    workers: Vec<Option<Worker>>,
    /// The worker the REST API is polled on and the statuses read from.
    main: usize,
    prefix: String,
    /// Where the source writes.
    source_topic: String,
    /// What the sink reads.
    sink_topic: String,
    run: String,
    subscriber: Subscriber,
}

impl Bridge {
    fn worker(&self) -> &Worker {
        self.workers[self.main]
            .as_ref()
            .expect("the main worker runs")
    }

    fn port(&self) -> u16 {
        self.setups[self.main].port
    }
}

async fn bridge() -> Bridge {
    bridge_of(None, 1).await
}

/// A bridge of `workers` workers (a distributed cluster when more than one) that reach Kafka
/// through `bootstrap` (a proxy) when given.
async fn bridge_of(bootstrap: Option<String>, workers: usize) -> Bridge {
    let services = support::Services::from_env();
    let expected = std::env::var("FERRY_KAFKA_CLUSTER_BOOTSTRAP").unwrap_or_default();
    assert!(
        !expected.is_empty() && services.kafka_bootstrap == expected,
        "the fault tests run against dev/kafka-cluster: dev/kafka-cluster up && eval \
         \"$(dev/kafka-cluster env)\" and FERRY_KAFKA_BOOTSTRAP=$FERRY_KAFKA_CLUSTER_BOOTSTRAP \
         (dev/test --faults does it)"
    );
    tokio::task::spawn_blocking(|| cluster(&["up"]))
        .await
        .unwrap();
    let prefix = unique("faults");
    let source_topic = unique("faults-cars");
    let sink_topic = unique("faults-alerts");
    create_topics(&[&source_topic, &sink_topic]).await;
    let subscriber = Subscriber::start(&format!("{prefix}/alerts/#"), true).await;
    let (setups, started) = tokio::task::spawn_blocking(move || {
        let group = unique("faults-group");
        let offsets = unique("faults-offsets");
        let setups: Vec<Arc<WorkerSetup>> = (0..workers)
            .map(|_| {
                let setup = if workers == 1 {
                    WorkerSetup::new(PLUGINS, "replication.factor: 3\n")
                } else {
                    let config = format!(
                        "replication.factor: 3\ngroup.id: {group}\nconfig.storage.topic: {group}-configs\n\
                         status.storage.topic: {group}-status\nsession.timeout.ms: 6000\n\
                         heartbeat.interval.ms: 1000\n"
                    );
                    WorkerSetup::cluster_member(PLUGINS, &config, &offsets)
                };
                Arc::new(WorkerSetup {
                    kafka_bootstrap: bootstrap.clone(),
                    ..setup
                })
            })
            .collect();
        let started: Vec<Option<Worker>> = setups.iter().map(|s| Some(s.start())).collect();
        (setups, started)
    })
    .await
    .unwrap();
    let worker = started[0].as_ref().unwrap();
    let mqtt = format!("tcp://127.0.0.1:{}", services.mqtt_port);
    let source = json!({"name": "cars", "config": {
        "connector.class": "MqttSource",
        "tasks.max": "1",
        "mqtt.server.uri": mqtt,
        "mqtt.topics": format!("{prefix}/cars/+"),
        "mqtt.qos": "1",
        "kafka.topic": source_topic,
    }});
    let sink = json!({"name": "alerts", "config": {
        "connector.class": "MqttSink",
        "topics": sink_topic,
        "mqtt.server.uri": mqtt,
        "mqtt.topic": format!("{prefix}/alerts/{{key}}"),
        "mqtt.qos": "1",
    }});
    for body in [source, sink] {
        let created = worker.call("POST", "/connectors", Some(&body));
        assert_eq!(created.status, 201, "{}", created.body);
    }
    for name in ["cars", "alerts"] {
        all_running(worker, name, Duration::from_secs(60));
    }
    Bridge {
        setups,
        workers: started,
        main: 0,
        prefix,
        source_topic,
        sink_topic,
        run: unique("run"),
        subscriber,
    }
}

fn all_running(worker: &Worker, name: &str, timeout: Duration) {
    worker.wait_for(&format!("/connectors/{name}/status"), timeout, |s| {
        s["connector"]["state"] == "RUNNING"
            && s["tasks"]
                .as_array()
                .is_some_and(|t| !t.is_empty() && t.iter().all(|t| t["state"] == "RUNNING"))
    });
}

/// Produces `count` records `"<run>:<n>"` at `RATE` a second and returns how many Kafka
/// acknowledged (the idempotent producer retries through the faults on its own).
async fn produce_numbered(topic: &str, run: &str, count: u64) -> u64 {
    let producer = producer();
    let spacing = Duration::from_secs_f64(1.0 / RATE as f64);
    let start = tokio::time::Instant::now();
    let mut pending = Vec::with_capacity(count as usize);
    for n in 0..count {
        tokio::time::sleep_until(start + spacing * n as u32).await;
        let key = format!("car-{}", n % 20);
        let value = format!("{run}:{n}");
        let record = FutureRecord::to(topic).key(&key).payload(&value);
        pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
    }
    let mut acknowledged = 0;
    for delivery in pending {
        if matches!(delivery.await, Ok(Ok(_))) {
            acknowledged += 1;
        }
    }
    acknowledged
}

/// Polls the worker's REST API every 200 ms until stopped; counts what went unanswered.
struct RestProbe {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    answered: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RestProbe {
    fn start(port: u16) -> RestProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, failures, answered) = (stop.clone(), failures.clone(), answered.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    match try_request(port, "GET", "/connectors?expand=status", None) {
                        Ok(response) if response.status == 200 => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            eprintln!("REST probe: {:?}", other.map(|r| (r.status, r.body)));
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        });
        RestProbe {
            stop,
            failures,
            answered,
            thread,
        }
    }

    /// (answered, unanswered).
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        (
            self.answered.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }
}

/// Runs `seconds` of load both ways with `fault` started 3 s in (on a blocking thread), then
/// counts both directions and checks the worker came through.
async fn under_load(
    bridge: &Bridge,
    label: &str,
    seconds: u64,
    fault: impl FnOnce() + Send + 'static,
) {
    let count = RATE * seconds;
    let probe = RestProbe::start(bridge.port());
    let publisher = tokio::spawn({
        let (run, prefix) = (bridge.run.clone(), bridge.prefix.clone());
        async move {
            publish_numbered(&run, 0, count, RATE, |n| {
                format!("{prefix}/cars/car-{}", n % 20)
            })
            .await
        }
    });
    let producer = tokio::spawn({
        let (topic, run) = (bridge.sink_topic.clone(), bridge.run.clone());
        async move { produce_numbered(&topic, &run, count).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    tokio::task::spawn_blocking(fault).await.unwrap();
    println!(
        "{label}: fault over after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let published = publisher.await.unwrap();
    let produced = producer.await.unwrap();

    let (source_topic, run) = (bridge.source_topic.clone(), bridge.run.clone());
    let (in_kafka, kafka_total) = tokio::task::spawn_blocking(move || {
        let values = |records: &[support::worker::TopicRecord]| {
            numbers_of(&run, records.iter().filter_map(|r| r.value.clone()))
        };
        read_topic(&source_topic, WAIT, |r| {
            values(r).0.len() as u64 >= published
        });
        // Read again from the start, a little longer, to count duplicates too.
        let records = read_topic(&source_topic, Duration::from_secs(5), |_| false);
        let (distinct, total) = values(&records);
        (distinct.len() as u64, total as u64)
    })
    .await
    .unwrap();
    let run = bridge.run.clone();
    let distinct = |received: &[support::mqtt::Received]| {
        numbers_of(&run, received.iter().map(|m| m.payload.clone()))
            .0
            .len() as u64
    };
    let received = bridge
        .subscriber
        .wait_for(WAIT, |r| distinct(r) >= produced)
        .await;
    let at_subscriber = distinct(&received);
    let (answered, unanswered) = probe.finish();
    println!(
        "{label}: MQTT → Kafka published {published}, in Kafka {in_kafka} distinct, duplicates {}, \
         lost {}; Kafka → MQTT produced {produced}, received {at_subscriber} distinct, duplicates \
         {}, lost {}; REST answered {answered}, unanswered {unanswered}",
        kafka_total - in_kafka,
        published - in_kafka.min(published),
        received.len() as u64 - at_subscriber,
        produced - at_subscriber.min(produced),
    );
    assert_eq!(
        produced, count,
        "{label}: Kafka refused some of the test's own records"
    );
    assert_eq!(in_kafka, published, "{label}: MQTT → Kafka lost messages");
    assert_eq!(
        at_subscriber, produced,
        "{label}: Kafka → MQTT lost records"
    );
    assert_eq!(
        unanswered, 0,
        "{label}: the REST API went unanswered during the fault"
    );
    for name in ["cars", "alerts"] {
        all_running(bridge.worker(), name, Duration::from_secs(60));
    }
    let status: Value = bridge
        .worker()
        .call("GET", "/connectors?expand=status", None)
        .json();
    println!("{label}: statuses after the fault: {status}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs dev/kafka-cluster; run by dev/test --faults"]
async fn kill_9_of_the_leader_of_the_data_topic_then_its_return() {
    let bridge = bridge().await;
    let leader = leader_of(&bridge.source_topic);
    under_load(&bridge, "leader kill -9", 20, move || {
        let node = leader.to_string();
        cluster(&["kill", &node]);
        println!("node {node}, the leader of the source's topic, killed with -9");
        std::thread::sleep(Duration::from_secs(10));
        cluster(&["start", &node]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs dev/kafka-cluster; run by dev/test --faults"]
async fn kill_9_of_the_active_controller_then_its_return() {
    let bridge = bridge().await;
    under_load(&bridge, "controller kill -9", 20, || {
        let node = cluster(&["controller"]);
        cluster(&["kill", &node]);
        println!("node {node}, the active controller, killed with -9");
        std::thread::sleep(Duration::from_secs(10));
        cluster(&["start", &node]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs dev/kafka-cluster; run by dev/test --faults"]
async fn a_broker_hung_for_30_s_then_resumed() {
    let bridge = bridge().await;
    let leader = leader_of(&bridge.sink_topic);
    under_load(&bridge, "broker SIGSTOP 30 s", 40, move || {
        let node = leader.to_string();
        cluster(&["stop", &node]);
        println!("node {node}, the leader of the sink's topic, stopped (SIGSTOP)");
        std::thread::sleep(Duration::from_secs(30));
        cluster(&["cont", &node]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs dev/kafka-cluster; run by dev/test --faults"]
async fn a_rolling_restart_of_all_three_brokers() {
    let bridge = bridge().await;
    under_load(&bridge, "rolling restart", 45, || {
        for node in ["1", "2", "3"] {
            cluster(&["restart", node]);
            println!("node {node} restarted");
        }
    })
    .await;
}

/// Each task's `warning` in the status and its `ferry_task_waiting_for_kafka` gauge, by
/// connector name: (warning, gauge).
fn waiting(port: u16) -> Vec<(String, Option<String>, f64)> {
    let Ok(status) = try_request(port, "GET", "/connectors?expand=status", None) else {
        return Vec::new();
    };
    let Ok(metrics) = try_request(port, "GET", "/metrics", None) else {
        return Vec::new();
    };
    let status = status.json();
    ["cars", "alerts"]
        .iter()
        .map(|name| {
            let warning = status[name]["status"]["tasks"][0]["warning"]
                .as_str()
                .map(str::to_string);
            let prefix =
                format!("ferry_task_waiting_for_kafka{{connector=\"{name}\",task=\"0\"}} ");
            let gauge = metrics
                .body
                .lines()
                .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.trim().parse().ok()))
                .unwrap_or(-1.0);
            (name.to_string(), warning, gauge)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs dev/kafka-cluster; run by dev/test --faults"]
async fn a_slow_then_cut_network_between_the_worker_and_kafka() {
    // The worker reaches every broker only through the proxy: its bootstrap is the proxy, and
    // the brokers' PROXIED listener advertises the proxy's ports.
    let node_port = |node: u32, what: &str| -> u16 {
        let name = format!("FERRY_KAFKA_CLUSTER_NODE_{node}_{what}");
        std::env::var(&name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} is not set: eval \"$(dev/kafka-cluster env)\""))
    };
    let routes: Vec<(u16, u16)> = (1..=3)
        .map(|n| (node_port(n, "PROXY_PORT"), node_port(n, "PROXIED_PORT")))
        .collect();
    let proxy = Arc::new(FaultProxy::start(&routes).await);
    let bootstrap = routes
        .iter()
        .map(|(listen, _)| format!("127.0.0.1:{listen}"))
        .collect::<Vec<_>>()
        .join(",");
    let bridge = bridge_of(Some(bootstrap), 1).await;
    let port = bridge.port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let fault = {
        let (proxy, seen) = (proxy.clone(), seen.clone());
        move || {
            proxy.set_delay(Duration::from_millis(200));
            println!("network: 200 ms added to every chunk each way for 10 s");
            std::thread::sleep(Duration::from_secs(10));
            proxy.set_delay(Duration::ZERO);
            proxy.set_cut(true);
            println!("network: cut for 20 s");
            let cut = Instant::now();
            // While it is cut, both tasks must say they wait for Kafka, in status and metrics.
            let mut told = false;
            while cut.elapsed() < Duration::from_secs(20) {
                let now = waiting(port);
                if !told && now.len() == 2 && now.iter().all(|(_, w, g)| w.is_some() && *g == 1.0) {
                    told = true;
                    println!(
                        "after {:.1} s of the cut: {now:?}",
                        cut.elapsed().as_secs_f64()
                    );
                    seen.lock().unwrap().extend(now);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            proxy.set_cut(false);
            println!("network: back");
        }
    };
    let worker_port = bridge.port();
    under_load(&bridge, "slow, then cut network", 45, fault).await;
    assert!(
        !seen.lock().unwrap().is_empty(),
        "during the 20 s cut, the status and metrics of both tasks never said they wait for Kafka"
    );
    // Once Kafka answers again, the warnings go.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = waiting(worker_port);
        if now.len() == 2 && now.iter().all(|(_, w, g)| w.is_none() && *g == 0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tasks still say they wait for Kafka 60 s after the network came back: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(proxy);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs dev/kafka-cluster; run by dev/test --faults"]
async fn a_worker_and_a_broker_killed_at_once_in_a_three_worker_cluster() {
    let mut bridge = bridge_of(None, 3).await;
    // The victim runs the source's task; another worker answers REST meanwhile.
    let status = bridge
        .worker()
        .call("GET", "/connectors/cars/status", None)
        .json();
    let owner = status["tasks"][0]["worker_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let victim = bridge
        .setups
        .iter()
        .position(|s| s.worker_id() == owner)
        .unwrap_or_else(|| panic!("no worker runs the source's task: {status}"));
    bridge.main = (victim + 1) % bridge.setups.len();
    let worker = bridge.workers[victim].take().unwrap();
    let leader = leader_of(&bridge.source_topic);
    let killed = owner.clone();
    under_load(&bridge, "worker and broker kill -9", 25, move || {
        let node = leader.to_string();
        std::thread::scope(|both| {
            both.spawn(|| worker.kill9());
            both.spawn(|| cluster(&["kill", &node]));
        });
        println!("worker {killed} (running the source's task) and node {node} (the leader of its topic) killed with -9");
        std::thread::sleep(Duration::from_secs(10));
        cluster(&["start", &node]);
    })
    .await;
    let status = bridge
        .worker()
        .call("GET", "/connectors/cars/status", None)
        .json();
    assert_ne!(
        status["tasks"][0]["worker_id"].as_str(),
        Some(owner.as_str()),
        "the source's task moved off the killed worker: {status}"
    );
}
