//! librdkafka clients: an idempotent `acks=all` producer that counts delivery reports (the
//! guarantees Ferry's own source producer gives), and a consumer that starts at the end of a
//! topic and counts what arrives.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::Producer as _;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use crate::arrivals::{Arrivals, Progress};

/// Where Kafka is.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka brokers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap_servers: String,
    /// Partitions of a topic this benchmark creates (an existing topic is left as it is).
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// The producer's linger.ms; 5 as in the bench worker, so baseline and Ferry batch alike.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u32,
}

/// Creates `topic` unless it exists.
pub async fn ensure_topic(args: &KafkaArgs, topic: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .create()?;
    let new_topic = NewTopic::new(topic, args.partitions, TopicReplication::Fixed(1));
    for result in admin
        .create_topics([&new_topic], &AdminOptions::new())
        .await?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => bail!("cannot create topic {topic}: {code}"),
        }
    }
    Ok(())
}

/// Deletes every topic whose name starts with `prefix` (a benchmark's own topics, named after
/// its run); returns their names. An empty prefix is refused: it would mean every topic.
pub async fn delete_topics(args: &KafkaArgs, prefix: &str) -> anyhow::Result<Vec<String>> {
    if prefix.is_empty() {
        bail!("refusing to delete topics without a prefix");
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap_servers)
        .create()?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))?;
    let names: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|name| name.starts_with(prefix))
        .collect();
    if names.is_empty() {
        return Ok(names);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    for result in admin.delete_topics(&refs, &AdminOptions::new()).await? {
        if let Err((topic, code)) = result {
            eprintln!("cannot delete topic {topic}: {code}");
        }
    }
    Ok(names)
}

/// Counts delivery reports; with an `Arrivals`, also times each message from its stamp to its
/// acknowledgement (the raw Kafka baseline).
pub struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
    arrivals: Mutex<Option<Arrivals>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
                if let (Some(arrivals), Some(payload)) = (arrivals.as_mut(), message.payload()) {
                    arrivals.record(payload);
                }
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// An idempotent `acks=all` producer; its own thread polls for delivery reports.
pub struct Producer {
    inner: ThreadedProducer<Deliveries>,
    progress: Option<Arc<Progress>>,
}

impl Producer {
    /// Creates the producer; `arrivals` records each delivered message when given.
    pub fn new(args: &KafkaArgs, arrivals: Option<Arrivals>) -> anyhow::Result<Self> {
        let progress = arrivals.as_ref().map(Arrivals::progress);
        let context = Deliveries {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            arrivals: Mutex::new(arrivals),
        };
        let inner = ClientConfig::new()
            .set("bootstrap.servers", &args.bootstrap_servers)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", args.linger_ms.to_string())
            .create_with_context(context)
            .context("cannot create the Kafka producer")?;
        Ok(Producer { inner, progress })
    }

    /// Enqueues one record; waits while librdkafka's queue is full.
    pub async fn send(&self, topic: &str, key: Option<&str>, payload: &[u8]) -> anyhow::Result<()> {
        loop {
            let mut record = BaseRecord::to(topic).payload(payload);
            if let Some(key) = key {
                record = record.key(key);
            }
            match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((error, _)) => return Err(error).context("cannot produce"),
            }
        }
    }

    /// Delivery reports so far: (acknowledged, failed).
    pub fn delivered(&self) -> (u64, u64) {
        let context = self.inner.context();
        (
            context.ok.load(Ordering::Relaxed),
            context.failed.load(Ordering::Relaxed),
        )
    }

    /// Waits (at most `max`) until `count` messages have a delivery report.
    pub async fn settle(&self, count: u64, max: Duration) -> (u64, u64) {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let (ok, failed) = self.delivered();
            if ok + failed >= count || tokio::time::Instant::now() >= deadline {
                return (ok, failed);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The tally of delivered messages, when one was given.
    pub fn take_arrivals(&self) -> Option<Arrivals> {
        self.inner
            .context()
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The progress atomics of the delivery tally, when one was given.
    pub fn progress(&self) -> Option<Arc<Progress>> {
        self.progress.clone()
    }
}

/// A consumer thread counting what arrives on a topic from its current end.
pub struct Reader {
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Arrivals>,
}

impl Reader {
    /// Assigns every partition of `topic` at its high watermark (nothing older is read, and
    /// no group rebalance delays the start), then counts on a thread.
    pub fn start(args: &KafkaArgs, topic: &str, mut arrivals: Arrivals) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &args.bootstrap_servers)
            .set("group.id", format!("ferry-bench-{}", std::process::id()))
            .set("enable.auto.commit", "false")
            // The broker answers a fetch as soon as one byte is there; this only bounds the
            // wait when nothing is.
            .set("fetch.wait.max.ms", "100")
            .create()?;
        let assignment = end_offsets(&consumer, topic)?;
        consumer.assign(&assignment)?;
        let progress = arrivals.progress();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match consumer.poll(Duration::from_millis(50)) {
                        Some(Ok(message)) => arrivals.record(message.payload().unwrap_or(&[])),
                        Some(Err(error)) => eprintln!("consumer error: {error}"),
                        None => {}
                    }
                }
                arrivals
            })
        };
        Ok(Reader {
            progress,
            stop,
            thread,
        })
    }

    /// What the sender watches.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Stops the thread and hands the tally back.
    pub fn finish(self) -> anyhow::Result<Arrivals> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the consumer thread panicked"))
    }
}

/// Every partition of `topic` at its high watermark. A topic created a moment ago may not have
/// leaders yet: retried for up to 30 s.
fn end_offsets(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<TopicPartitionList> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = || -> anyhow::Result<TopicPartitionList> {
            let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(5))?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if partitions.is_empty() {
                bail!("topic {topic} has no partitions yet");
            }
            let mut assignment = TopicPartitionList::new();
            for partition in partitions {
                let (_, high) =
                    consumer.fetch_watermarks(topic, partition, Duration::from_secs(5))?;
                assignment.add_partition_offset(topic, partition, Offset::Offset(high))?;
            }
            Ok(assignment)
        };
        match attempt() {
            Ok(assignment) => return Ok(assignment),
            Err(error) if Instant::now() < deadline => {
                eprintln!("waiting for topic {topic}: {error}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(error) => return Err(error),
        }
    }
}
