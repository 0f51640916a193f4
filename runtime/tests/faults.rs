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
use support::unique;
use support::worker::{read_topic, start_worker, Worker, WorkerSetup};

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
    setup: Arc<WorkerSetup>,
    worker: Worker,
    prefix: String,
    /// Where the source writes.
    source_topic: String,
    /// What the sink reads.
    sink_topic: String,
    run: String,
    subscriber: Subscriber,
}

async fn bridge() -> Bridge {
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
    let (setup, worker) = start_worker(PLUGINS, "replication.factor: 3\n").await;
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
        all_running(&worker, name, Duration::from_secs(60));
    }
    Bridge {
        setup: Arc::new(setup),
        worker,
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
    bridge: Bridge,
    label: &str,
    seconds: u64,
    fault: impl FnOnce() + Send + 'static,
) {
    let count = RATE * seconds;
    let probe = RestProbe::start(bridge.setup.port);
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
        all_running(&bridge.worker, name, Duration::from_secs(60));
    }
    let status: Value = bridge
        .worker
        .call("GET", "/connectors?expand=status", None)
        .json();
    println!("{label}: statuses after the fault: {status}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs dev/kafka-cluster; run by dev/test --faults"]
async fn kill_9_of_the_leader_of_the_data_topic_then_its_return() {
    let bridge = bridge().await;
    let leader = leader_of(&bridge.source_topic);
    under_load(bridge, "leader kill -9", 20, move || {
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
    under_load(bridge, "controller kill -9", 20, || {
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
    under_load(bridge, "broker SIGSTOP 30 s", 40, move || {
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
    under_load(bridge, "rolling restart", 45, || {
        for node in ["1", "2", "3"] {
            cluster(&["restart", node]);
            println!("node {node} restarted");
        }
    })
    .await;
}
