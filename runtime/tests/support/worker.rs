//! Runs the real `ferry` binary as a standalone worker for a test, on its own port, state
//! directory and offsets topic, against the services of `dev/services up`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::http::{request, try_request, Response};
use super::{plugin_dir, unique, Services};

/// Everything that survives a worker restart: plugins, state directory, port, offsets topic.
pub struct WorkerSetup {
    pub dir: tempfile::TempDir,
    pub plugins: tempfile::TempDir,
    pub port: u16,
    pub offsets_topic: String,
    pub extra_config: String,
    /// `standalone` or `distributed`.
    pub mode: &'static str,
    /// `http` or `https` (then `extra_config` names the keystore).
    pub scheme: &'static str,
    /// Listener URLs served besides the test's own port.
    pub more_listeners: Vec<String>,
    /// The worker's `RUST_LOG`.
    pub log_filter: &'static str,
    /// `bootstrap.servers` other than the services' Kafka (a proxy in front of it, say).
    pub kafka_bootstrap: Option<String>,
}

impl WorkerSetup {
    /// A fresh setup with the given connector libraries and extra worker settings (YAML lines).
    pub fn new(libraries: &[&str], extra_config: &str) -> WorkerSetup {
        WorkerSetup {
            dir: tempfile::tempdir().unwrap(),
            plugins: plugin_dir(libraries),
            port: free_port(),
            offsets_topic: unique("offsets"),
            extra_config: extra_config.to_string(),
            mode: "standalone",
            scheme: "http",
            more_listeners: Vec::new(),
            log_filter: "info",
            kafka_bootstrap: None,
        }
    }

    /// A member of a distributed cluster: `cluster_config` holds group.id and the topics, and
    /// all members share `offsets_topic`.
    pub fn cluster_member(libraries: &[&str], cluster_config: &str, offsets_topic: &str) -> Self {
        WorkerSetup {
            offsets_topic: offsets_topic.to_string(),
            mode: "distributed",
            ..WorkerSetup::new(libraries, cluster_config)
        }
    }

    /// The worker id statuses carry.
    pub fn worker_id(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn config_path(&self) -> PathBuf {
        let path = self.dir.path().join("worker.yaml");
        let yaml = format!(
            "bootstrap.servers: {}\nplugin.path: {}\nlisteners: {}://127.0.0.1:{}{}\noffset.storage.topic: {}\noffset.storage.partitions: 3\nstate.dir: {}\noffset.flush.interval.ms: 500\ntask.shutdown.graceful.timeout.ms: 5000\n{}\n",
            self.kafka_bootstrap
                .clone()
                .unwrap_or_else(|| Services::from_env().kafka_bootstrap),
            self.plugins.path().display(),
            self.scheme,
            self.port,
            self.more_listeners
                .iter()
                .map(|url| format!(",{url}"))
                .collect::<String>(),
            self.offsets_topic,
            self.dir.path().join("state").display(),
            self.extra_config,
        );
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// Runs a worker that must refuse to start; returns its exit code and log.
    pub fn start_expecting_failure(&self) -> (Option<i32>, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg(self.mode)
            .arg(self.config_path())
            .stdin(Stdio::null())
            .output()
            .expect("the ferry binary starts");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Starts a worker and waits until its REST API answers.
    pub fn start(&self) -> Worker {
        self.start_with_probe(&[])
    }

    /// As [`WorkerSetup::start`], probing an HTTPS listener with these extra curl arguments
    /// (a client certificate).
    pub fn start_with_probe(&self, probe: &[&str]) -> Worker {
        let log = self
            .dir
            .path()
            .join(format!("worker-{}.log", unique("run")));
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg(self.mode)
            .arg(self.config_path())
            .env("RUST_LOG", self.log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the ferry binary starts");
        let mut worker = Worker {
            child,
            port: self.port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = if self.scheme == "https" {
                super::http::curl_status(self.port, probe)
            } else {
                try_request(self.port, "GET", "/", None).map_or(0, |r| r.status)
            };
            // 401: serving, with authentication on.
            if status == 200 || status == 401 {
                return worker;
            }
            if let Ok(Some(status)) = worker.child.try_wait() {
                panic!(
                    "the worker exited with {status} before serving:\n{}",
                    worker.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the worker did not serve within 60 s:\n{}",
                worker.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// From async tests: `rounds` times, waits `every`, kills the worker with -9, waits a second
/// and starts it again from the same setup; returns the last worker.
pub async fn kill9_and_restart(
    setup: std::sync::Arc<WorkerSetup>,
    mut worker: Worker,
    rounds: u32,
    every: Duration,
) -> Worker {
    for round in 1..=rounds {
        tokio::time::sleep(every).await;
        tokio::task::spawn_blocking(move || worker.kill9())
            .await
            .unwrap();
        println!("round {round}: worker killed with -9");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let setup = setup.clone();
        worker = tokio::task::spawn_blocking(move || setup.start())
            .await
            .unwrap();
    }
    worker
}

/// From async tests: a fresh setup and its started worker (the start blocks, so off the runtime).
pub async fn start_worker(
    libraries: &'static [&'static str],
    extra_config: &'static str,
) -> (WorkerSetup, Worker) {
    tokio::task::spawn_blocking(move || {
        let setup = WorkerSetup::new(libraries, extra_config);
        let worker = setup.start();
        (setup, worker)
    })
    .await
    .expect("the worker starts")
}

/// A running worker process.
pub struct Worker {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Worker {
    /// A REST call.
    pub fn call(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Response {
        request(self.port, method, path, body)
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit 30 s after SIGTERM:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the worker with SIGKILL: no shutdown code runs.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last lines of the worker's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// The log without librdkafka's repeated broker-down lines (an outage writes thousands),
    /// at most the last `lines` of what is left: what explains a failure.
    pub fn log_excerpt(&self, lines: usize) -> String {
        let text = self.log();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("AllBrokersDown") && !l.contains("Disconnected (after"))
            .collect();
        kept[kept.len().saturating_sub(lines)..].join("\n")
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `GET path` until `check` accepts the JSON body, or panics after `timeout`.
    pub fn wait_for(
        &self,
        path: &str,
        timeout: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let response = self.call("GET", path, None);
            if response.status == 200 && check(&response.json()) {
                return response.json();
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} never satisfied the check; last: {} {}\n{}",
                response.status,
                response.body,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- worker log ---\n{}", self.log_tail());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The records of a topic, read from the beginning.
#[derive(Debug, Clone)]
pub struct TopicRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Reads `topic` from the beginning until `done` accepts what was read or `timeout` passes.
pub fn read_topic(
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[TopicRecord]) -> bool,
) -> Vec<TopicRecord> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Headers;
    use rdkafka::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", Services::from_env().kafka_bootstrap)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    // `done` may be costly: check it after each burst of messages, not after each message.
    while Instant::now() < deadline && !done(&records) {
        let mut burst = 0;
        while burst < 5000 && Instant::now() < deadline {
            let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
                break;
            };
            burst += 1;
            records.push(TopicRecord {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers: message
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
    }
    records
}

/// The example sequence connector's numbers per task (`{"task": T, "seq": N}` values), in the
/// order Kafka holds them.
pub fn sequences(records: &[TopicRecord]) -> std::collections::BTreeMap<u64, Vec<u64>> {
    let mut by_task: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    for record in records {
        let value: serde_json::Value =
            serde_json::from_slice(record.value.as_deref().unwrap()).unwrap();
        by_task
            .entry(value["task"].as_u64().unwrap())
            .or_default()
            .push(value["seq"].as_u64().unwrap());
    }
    by_task
}

/// Path helper for connector files in tests.
pub fn write_json(dir: &Path, name: &str, value: &serde_json::Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path
}
