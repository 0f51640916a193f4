//! ferry-bench: the load generators and meters behind Ferry's benchmarks. Each subcommand runs
//! one case and prints one JSON line of results on stdout (progress and errors on stderr);
//! `bench/run` drives them all against a real worker and writes BENCHMARKS.md.
//!
//!     dev/services up && cargo build -p ferry-bench --release
//!     target/release/ferry-bench raw-mqtt --qos 1 --messages 100000 --size 600 --port 1883
//!     target/release/ferry-bench raw-kafka --messages 100000 --size 600
//!     target/release/ferry-bench mqtt-to-kafka --qos 1 --mqtt-topic bench/x --kafka-topic bench-x --rate 10000 --seconds 10
//!     target/release/ferry-bench kafka-to-mqtt --kafka-topic bench-y --mqtt-filter 'bench/+' --keys 100 --messages 100000
//!     target/release/ferry-bench rss --pid 1234
//!
//! The mqtt-to-kafka and kafka-to-mqtt cases need a running worker with a connector mapping
//! those topics (see bench/run). Benchmarks measure; they assert nothing.

mod arrivals;
mod kafka;
mod kafka_to_mqtt;
mod load;
mod mqtt;
mod mqtt_to_kafka;
mod payload;
mod process;
mod profile;
mod raw_kafka;
mod raw_mqtt;
mod sentinel;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(about = "Load generators and meters for Ferry's benchmarks; one JSON line per run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Raw Mosquitto: rumqttc publisher → Mosquitto → rumqttc subscriber.
    RawMqtt(raw_mqtt::RawMqttArgs),
    /// Raw Kafka: librdkafka producer, acks=all, idempotent.
    RawKafka(raw_kafka::RawKafkaArgs),
    /// MQTT → Kafka through a running Ferry MQTT source connector.
    MqttToKafka(mqtt_to_kafka::MqttToKafkaArgs),
    /// Kafka → MQTT through a running Ferry MQTT sink connector.
    KafkaToMqtt(kafka_to_mqtt::KafkaToMqttArgs),
    /// Creates a Kafka topic unless it exists (before a connector uses it).
    CreateTopic {
        #[command(flatten)]
        kafka: kafka::KafkaArgs,
        #[arg(long)]
        topic: String,
    },
    /// Deletes the Kafka topics whose names start with --prefix (a run's own topics).
    DeleteTopics {
        #[command(flatten)]
        kafka: kafka::KafkaArgs,
        #[arg(long)]
        prefix: String,
    },
    /// Discards the broker's persistent sessions of these MQTT client ids (deleted connectors').
    ClearSessions {
        #[command(flatten)]
        mqtt: mqtt::MqttArgs,
        /// A client id (repeatable), e.g. `<connector>-<task>`.
        #[arg(long = "client-id", required = true)]
        client_ids: Vec<String>,
    },
    /// Resident memory of a process (VmRSS).
    Rss {
        #[arg(long)]
        pid: u32,
    },
    /// CPU seconds a process used so far (utime + stime).
    Cpu {
        #[arg(long)]
        pid: u32,
    },
    /// CPU seconds and peak RSS of --pid for --seconds, or while --while-pid runs (at most
    /// --seconds).
    Watch {
        #[arg(long)]
        pid: u32,
        #[arg(long)]
        while_pid: Option<u32>,
        #[arg(long, default_value_t = 3600.0)]
        seconds: f64,
    },
    /// Turns `perf script` output into a flame graph (SVG).
    Flamegraph {
        /// The text `perf script` printed for a `perf record -g` profile.
        #[arg(long)]
        perf_script: PathBuf,
        /// The SVG to write.
        #[arg(long)]
        svg: PathBuf,
        /// The graph's title.
        #[arg(long, default_value = "Ferry worker")]
        title: String,
    },
    /// Spawns `<ferry> standalone <config>` (or the command after `--`, another worker such as
    /// Kafka Connect) and times it until `GET <url>` answers 200.
    ColdStart {
        /// The worker binary.
        #[arg(long, default_value = "target/release/ferry")]
        ferry: PathBuf,
        /// Its worker config (environment is passed through, for ${env:...} values).
        #[arg(long, required_unless_present = "command")]
        config: Option<PathBuf>,
        /// The URL polled until it answers 200.
        #[arg(long, default_value = "http://127.0.0.1:8083/")]
        url: String,
        /// Where the worker's output goes.
        #[arg(long, default_value = "/dev/null")]
        log: PathBuf,
        /// How many starts; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
        /// Longest wait for one start, in seconds.
        #[arg(long, default_value_t = 60.0)]
        timeout_s: f64,
        /// Another worker to start instead: its program and arguments.
        #[arg(last = true)]
        command: Vec<OsString>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let line = match cli.command {
        Command::RawMqtt(args) => serde_json::to_string(&raw_mqtt::run(args).await?)?,
        Command::RawKafka(args) => serde_json::to_string(&raw_kafka::run(args).await?)?,
        Command::MqttToKafka(args) => serde_json::to_string(&mqtt_to_kafka::run(args).await?)?,
        Command::KafkaToMqtt(args) => serde_json::to_string(&kafka_to_mqtt::run(args).await?)?,
        Command::CreateTopic { kafka, topic } => {
            kafka::ensure_topic(&kafka, &topic).await?;
            json!({"topic": topic, "partitions": kafka.partitions}).to_string()
        }
        Command::DeleteTopics { kafka, prefix } => {
            json!({"deleted": kafka::delete_topics(&kafka, &prefix).await?}).to_string()
        }
        Command::ClearSessions { mqtt, client_ids } => {
            mqtt::clear_sessions(&mqtt, &client_ids).await?;
            json!({"cleared": client_ids}).to_string()
        }
        Command::Rss { pid } => json!({"pid": pid, "rss_kb": process::rss_kb(pid)?}).to_string(),
        Command::Cpu { pid } => {
            json!({"pid": pid, "cpu_s": process::round3(process::cpu_seconds(pid)?)}).to_string()
        }
        Command::Watch {
            pid,
            while_pid,
            seconds,
        } => {
            let max = Duration::from_secs_f64(seconds);
            let cost =
                tokio::task::spawn_blocking(move || process::watch_while(pid, while_pid, max))
                    .await??;
            serde_json::to_string(&cost)?
        }
        Command::Flamegraph {
            perf_script,
            svg,
            title,
        } => {
            let stacks = profile::flamegraph(&perf_script, &svg, &title)?;
            json!({"svg": svg, "stacks": stacks}).to_string()
        }
        Command::ColdStart {
            ferry,
            config,
            url,
            log,
            repeat,
            timeout_s,
            command,
        } => {
            let timeout = Duration::from_secs_f64(timeout_s);
            let command = match config {
                Some(config) if command.is_empty() => {
                    vec![
                        ferry.into_os_string(),
                        "standalone".into(),
                        config.into_os_string(),
                    ]
                }
                _ => command,
            };
            let starts = tokio::task::spawn_blocking(move || {
                (0..repeat.max(1))
                    .map(|_| process::cold_start(&command, &url, &log, timeout))
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .await??;
            let mut ready_ms: Vec<f64> = starts.iter().map(|s| s.ready_ms).collect();
            let rss_kb: Vec<u64> = starts.iter().map(|s| s.rss_kb_at_ready).collect();
            let runs = ready_ms.clone();
            ready_ms.sort_by(f64::total_cmp);
            json!({
                "runs_ms": runs,
                "median_ms": ready_ms[ready_ms.len() / 2],
                "rss_kb_at_ready": rss_kb,
            })
            .to_string()
        }
    };
    println!("{line}");
    Ok(())
}
