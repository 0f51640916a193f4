//! Membership through Kafka's group coordinator. Every worker joins the cluster's consumer
//! group, subscribed to the one-partition config topic: the coordinator detects failures
//! (`session.timeout.ms`) and runs a rebalance on every join and departure, and the one member
//! given partition 0 is the leader. Its client id is the worker id, so the leader learns the
//! members from the group's description. Security settings (TLS, SASL) are the worker's
//! `kafka.*` ones, as for every other client.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientConfig, ClientContext};

use super::Event;

struct MembershipContext {
    events: Sender<Event>,
    leader: Arc<AtomicBool>,
    rebalanced: AtomicBool,
}

impl ClientContext for MembershipContext {}

impl ConsumerContext for MembershipContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                self.leader.store(partitions.count() > 0, Ordering::SeqCst);
                self.rebalanced.store(true, Ordering::SeqCst);
            }
            Rebalance::Revoke(_) => {
                // Stop acting as leader at once: a new one may be chosen in this rebalance.
                self.leader.store(false, Ordering::SeqCst);
                self.rebalanced.store(true, Ordering::SeqCst);
            }
            Rebalance::Error(error) => {
                tracing::warn!(%error, "group rebalance failed");
                self.leader.store(false, Ordering::SeqCst);
            }
        }
    }
}

/// This worker's membership in the cluster's group.
pub struct Membership {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Membership {
    /// Joins the group; when a rebalance starts and when it ends, sends `Event::Rebalanced`,
    /// with the members (worker ids) when this worker is the leader.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        client: &ClientConfig,
        group: &str,
        worker_id: &str,
        config_topic: &str,
        session_timeout: Duration,
        heartbeat_interval: Duration,
        events: Sender<Event>,
    ) -> Result<Membership, String> {
        let leader = Arc::new(AtomicBool::new(false));
        let context = MembershipContext {
            events: events.clone(),
            leader: leader.clone(),
            rebalanced: AtomicBool::new(false),
        };
        let mut config = client.clone();
        config
            .set("group.id", group)
            .set("client.id", worker_id)
            .set(
                "session.timeout.ms",
                session_timeout.as_millis().to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                heartbeat_interval.as_millis().to_string(),
            )
            .set("partition.assignment.strategy", "range")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "latest");
        let consumer: BaseConsumer<MembershipContext> = config
            .create_with_context(context)
            .map_err(|e| format!("cannot join group {group} (group.id): {e}"))?;
        consumer
            .subscribe(&[config_topic])
            .map_err(|e| format!("cannot join group {group} (group.id): {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let group = group.to_string();
        let thread = std::thread::Builder::new()
            .name("membership".into())
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    // Messages are not wanted here (the config log reader has them all); polling
                    // serves the group protocol.
                    let _ = consumer.poll(Duration::from_millis(100));
                    if consumer.context().rebalanced.swap(false, Ordering::SeqCst) {
                        let is_leader = leader.load(Ordering::SeqCst);
                        let members = if is_leader {
                            group_members(&consumer, &group)
                        } else {
                            Vec::new()
                        };
                        let _ = consumer.context().events.send(Event::Rebalanced {
                            leader: is_leader,
                            members,
                        });
                    }
                }
                // Leaving the group now starts the rebalance that hands this worker's work to
                // the others, instead of waiting for the session to time out.
                consumer.unsubscribe();
                drop(consumer);
            })
            .map_err(|e| e.to_string())?;
        Ok(Membership {
            stop,
            thread: Some(thread),
        })
    }

    /// Leaves the group.
    pub fn leave(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The worker ids of the group's members, sorted.
fn group_members(consumer: &BaseConsumer<MembershipContext>, group: &str) -> Vec<String> {
    for _ in 0..20 {
        match consumer.fetch_group_list(Some(group), Duration::from_secs(5)) {
            Ok(list) => {
                let mut members: Vec<String> = list
                    .groups()
                    .iter()
                    .filter(|g| g.name() == group)
                    .flat_map(|g| g.members())
                    .map(|m| m.client_id().to_string())
                    .collect();
                if !members.is_empty() {
                    members.sort();
                    members.dedup();
                    return members;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot describe the worker group"),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Vec::new()
}
