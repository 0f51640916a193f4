//! The worker's own configuration, read from YAML.
//!
//! Keys are Kafka Connect's worker property names (`bootstrap.servers`, `plugin.path`, ...), so a
//! `connect-standalone.properties` translates line by line. Values may reference secrets and the
//! environment with config providers: `${env:NAME}` and `${file:/path/to/secrets.properties:key}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::providers::resolve_providers;
use super::ConfigError;

/// Everything the worker needs to run.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Kafka brokers, `host:port,...`.
    pub bootstrap_servers: String,
    /// Directories scanned for connector libraries.
    pub plugin_path: Vec<PathBuf>,
    /// REST listeners, every one served; the first is advertised (the worker id).
    pub listeners: Vec<String>,
    /// `admin.listeners`: `None` serves `/admin/*` on `listeners`, empty turns it off, otherwise
    /// only these serve it (and nothing else).
    pub admin_listeners: Option<Vec<String>>,
    /// Compacted topic holding source offsets.
    pub offset_storage_topic: String,
    /// Partitions when the worker creates the offsets topic.
    pub offset_storage_partitions: i32,
    /// Replication factor when the worker creates the offsets topic (-1: the broker's default).
    pub offset_storage_replication_factor: i32,
    /// Where standalone mode keeps connector configs across restarts.
    pub state_dir: PathBuf,
    /// How often acknowledged source offsets are written to Kafka.
    pub offset_flush_interval: Duration,
    /// How long a stopping task may take to deliver what it has and commit.
    pub task_shutdown_graceful_timeout: Duration,
    /// Restart FAILED tasks automatically (Kafka Connect never does).
    pub task_restart_enabled: bool,
    /// First delay before an automatic restart; doubles each time up to the maximum.
    pub task_restart_backoff_initial: Duration,
    /// Longest delay between automatic restarts.
    pub task_restart_backoff_max: Duration,
    /// How long a connector's own `start`, `task_configs` or `stop` may take before the worker
    /// gives up on it (marks it FAILED) and goes on with its other work. Both modes.
    pub connector_call_timeout: Duration,
    /// librdkafka settings for every producer (`producer.` prefix removed).
    pub producer_overrides: ClientSettings,
    /// librdkafka settings for every consumer (`consumer.` prefix removed).
    pub consumer_overrides: ClientSettings,
    /// librdkafka settings for every client (`kafka.` prefix removed), e.g. TLS or SASL.
    pub client_overrides: ClientSettings,
    /// Distributed mode: the cluster's group, and where it keeps configs and statuses.
    pub cluster: ClusterConfig,
    /// REST authentication, when `rest.auth.users.file` is set.
    pub rest_auth: Option<RestAuthConfig>,
    /// TLS of the `https://` entries of `listeners`.
    pub https: Option<HttpsConfig>,
    /// TLS of the `https://` entries of `admin.listeners`.
    pub admin_https: Option<HttpsConfig>,
}

/// librdkafka properties whose values are secrets, wherever they are set: worker-wide
/// (`kafka.sasl.password`) or per connector (`producer.override.ssl.key.password`).
const CLIENT_SECRETS: &[&str] = &[
    "sasl.password",
    "sasl.jaas.config",
    "sasl.oauthbearer.client.secret",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.truststore.password",
    "ssl.key.pem",
    "ssl_key",
];

/// Whether `key` (bare or prefixed) names a Kafka client secret.
pub fn is_client_secret(key: &str) -> bool {
    CLIENT_SECRETS.iter().any(|secret| {
        key == *secret
            || key
                .strip_suffix(secret)
                .is_some_and(|prefix| prefix.ends_with('.'))
    })
}

/// librdkafka settings, printed with their secrets hidden.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientSettings(pub BTreeMap<String, String>);

impl std::ops::Deref for ClientSettings {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'a> IntoIterator for &'a ClientSettings {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(key, value)| {
                let shown = if is_client_secret(key) {
                    "[hidden]"
                } else {
                    value.as_str()
                };
                (key, shown)
            }))
            .finish()
    }
}

/// `listeners.https.ssl.*`: the HTTPS listener's PEM files and client certificates.
#[derive(Debug, Clone)]
pub struct HttpsConfig {
    /// `listeners.https.ssl.keystore.location`: private key and certificate chain, PEM.
    pub keystore: PathBuf,
    /// `listeners.https.ssl.truststore.location`: CA certificates clients are checked against.
    pub truststore: Option<PathBuf>,
    /// `listeners.https.ssl.client.auth`.
    pub client_auth: ClientAuth,
}

/// Kafka's `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// One is asked for and checked when sent.
    Requested,
    /// A connection without a valid one is refused.
    Required,
}

/// `rest.auth.*`: who may call the REST API (see `rest::auth`).
#[derive(Debug, Clone)]
pub struct RestAuthConfig {
    /// `rest.auth.users.file`: users with roles and argon2 password hashes, tokens as SHA-256.
    pub users_file: PathBuf,
    /// `rest.auth.health.open` (default true): `GET /health` needs no credential.
    pub health_open: bool,
}

/// The settings only `ferry distributed` reads (Kafka Connect's names and defaults, except the
/// shorter failure detection).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The workers' group; workers with the same id form one cluster.
    pub group_id: Option<String>,
    /// Compacted, one-partition topic: connector configs, task configs, target states.
    pub config_storage_topic: String,
    /// Compacted topic with every connector's and task's status.
    pub status_storage_topic: String,
    /// Partitions when the worker creates the status topic.
    pub status_storage_partitions: i32,
    /// Replication factor when the worker creates the config topic (-1: the broker's default).
    pub config_storage_replication_factor: i32,
    /// Replication factor when the worker creates the status topic (-1: the broker's default).
    pub status_storage_replication_factor: i32,
    /// How long the group coordinator waits for a silent worker before its work moves.
    pub session_timeout: Duration,
    /// How often a worker tells the coordinator it is alive.
    pub heartbeat_interval: Duration,
    /// `config.storage.secrets.key`: seals connectors' secrets in the config topic.
    pub secrets_key: Option<SecretsKey>,
}

/// A 32-byte AES-256 key, never printed.
#[derive(Clone)]
pub struct SecretsKey(pub [u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey([hidden])")
    }
}

impl SecretsKey {
    fn parse(text: &str) -> Result<SecretsKey, ConfigError> {
        use base64::Engine as _;
        let invalid = || {
            ConfigError::Invalid {
            key: "config.storage.secrets.key".into(),
            message: "must be 32 random bytes in base64, e.g. from `openssl rand -base64 32`; keep it out of the file with ${file:...} or ${env:...}".into(),
        }
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| invalid())?;
        Ok(SecretsKey(bytes.try_into().map_err(|_| invalid())?))
    }
}

const KNOWN_KEYS: &[&str] = &[
    "bootstrap.servers",
    "plugin.path",
    "listeners",
    "offset.storage.topic",
    "offset.storage.partitions",
    "replication.factor",
    "offset.storage.replication.factor",
    "config.storage.replication.factor",
    "status.storage.replication.factor",
    "state.dir",
    "offset.flush.interval.ms",
    "task.shutdown.graceful.timeout.ms",
    "task.restart.enabled",
    "task.restart.backoff.initial.ms",
    "task.restart.backoff.max.ms",
    "group.id",
    "config.storage.topic",
    "status.storage.topic",
    "status.storage.partitions",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "config.storage.secrets.key",
    "connector.call.timeout.ms",
    "rest.auth.users.file",
    "rest.auth.health.open",
    "listeners.https.ssl.keystore.location",
    "listeners.https.ssl.keystore.type",
    "listeners.https.ssl.truststore.location",
    "listeners.https.ssl.truststore.type",
    "listeners.https.ssl.client.auth",
    "admin.listeners",
    "admin.listeners.https.ssl.keystore.location",
    "admin.listeners.https.ssl.keystore.type",
    "admin.listeners.https.ssl.truststore.location",
    "admin.listeners.https.ssl.truststore.type",
    "admin.listeners.https.ssl.client.auth",
];

impl WorkerConfig {
    /// Reads a worker config file; relative paths in it are relative to the file's directory.
    pub fn load(path: &Path) -> Result<WorkerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| e.in_file(path))
    }

    /// Parses YAML text; `base` anchors relative paths.
    pub fn parse(text: &str, base: &Path) -> Result<WorkerConfig, ConfigError> {
        let raw: BTreeMap<String, serde_yaml::Value> =
            serde_yaml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let mut values = BTreeMap::new();
        for (key, value) in raw {
            values.insert(
                key.clone(),
                resolve_providers(&key, &scalar_or_list(&key, value)?)?,
            );
        }
        Self::from_map(values, base)
    }

    fn from_map(mut map: BTreeMap<String, String>, base: &Path) -> Result<Self, ConfigError> {
        let prefixed = |map: &mut BTreeMap<String, String>, prefix: &str| {
            let keys: Vec<String> = map
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            keys.into_iter()
                .map(|k| {
                    let v = map.remove(&k).unwrap_or_default();
                    (k[prefix.len()..].to_string(), v)
                })
                .collect::<BTreeMap<_, _>>()
        };
        let producer_overrides = ClientSettings(prefixed(&mut map, "producer."));
        let consumer_overrides = ClientSettings(prefixed(&mut map, "consumer."));
        let client_overrides = ClientSettings(prefixed(&mut map, "kafka."));
        if let Some(unknown) = map.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(ConfigError::Invalid {
                key: unknown.clone(),
                message: format!(
                    "unknown worker setting; known ones are {}, and producer.*, consumer.*, kafka.* for librdkafka",
                    KNOWN_KEYS.join(", ")
                ),
            });
        }
        let text = |key: &str, default: &str| map.get(key).cloned().unwrap_or(default.to_string());
        let millis = |key: &str, default: u64| -> Result<Duration, ConfigError> {
            number(&map, key, default).map(Duration::from_millis)
        };
        let path = |p: &str| {
            let p = PathBuf::from(p.trim());
            if p.is_absolute() {
                p
            } else {
                base.join(p)
            }
        };
        let bootstrap_servers =
            map.get("bootstrap.servers")
                .cloned()
                .ok_or_else(|| ConfigError::Invalid {
                    key: "bootstrap.servers".into(),
                    message: "missing; set it to your Kafka brokers, e.g. 127.0.0.1:9092".into(),
                })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        let listeners = listener_urls("listeners", &text("listeners", "http://127.0.0.1:8083"))?;
        if listeners.is_empty() {
            return Err(invalid(
                "listeners",
                "empty: the worker needs a REST listener, e.g. http://127.0.0.1:8083".into(),
            ));
        }
        let admin_listeners = match map.get("admin.listeners") {
            Some(urls) => Some(listener_urls("admin.listeners", urls)?),
            None => None,
        };
        let https = https_config(&map, "listeners.https.ssl.", &listeners, &path)?;
        // As in Kafka Connect, admin listeners have their own TLS keys.
        let admin_https = https_config(
            &map,
            "admin.listeners.https.ssl.",
            admin_listeners.as_deref().unwrap_or_default(),
            &path,
        )?;
        Ok(WorkerConfig {
            bootstrap_servers,
            plugin_path: list(&text("plugin.path", ""))
                .iter()
                .map(|p| path(p))
                .collect(),
            listeners,
            offset_storage_topic: text("offset.storage.topic", "connect-offsets"),
            offset_storage_partitions: number(&map, "offset.storage.partitions", 25)? as i32,
            offset_storage_replication_factor: replication(
                &map,
                "offset.storage.replication.factor",
            )?,
            state_dir: path(&text("state.dir", "ferry-state")),
            offset_flush_interval: millis("offset.flush.interval.ms", 10_000)?,
            task_shutdown_graceful_timeout: millis("task.shutdown.graceful.timeout.ms", 5_000)?,
            task_restart_enabled: boolean(&map, "task.restart.enabled", true)?,
            task_restart_backoff_initial: millis("task.restart.backoff.initial.ms", 1_000)?,
            task_restart_backoff_max: millis("task.restart.backoff.max.ms", 60_000)?,
            connector_call_timeout: millis("connector.call.timeout.ms", 30_000)?,
            producer_overrides,
            consumer_overrides,
            client_overrides,
            https,
            admin_listeners,
            admin_https,
            rest_auth: match map.get("rest.auth.users.file") {
                Some(file) => Some(RestAuthConfig {
                    users_file: path(file),
                    health_open: boolean(&map, "rest.auth.health.open", true)?,
                }),
                None => None,
            },
            cluster: ClusterConfig {
                group_id: map.get("group.id").map(|g| g.trim().to_string()),
                config_storage_topic: text("config.storage.topic", "connect-configs"),
                status_storage_topic: text("status.storage.topic", "connect-status"),
                status_storage_partitions: number(&map, "status.storage.partitions", 5)? as i32,
                config_storage_replication_factor: replication(
                    &map,
                    "config.storage.replication.factor",
                )?,
                status_storage_replication_factor: replication(
                    &map,
                    "status.storage.replication.factor",
                )?,
                // The broker's smallest allowed session (group.min.session.timeout.ms).
                session_timeout: millis("session.timeout.ms", 6_000)?,
                heartbeat_interval: millis("heartbeat.interval.ms", 1_000)?,
                secrets_key: map
                    .get("config.storage.secrets.key")
                    .map(|k| SecretsKey::parse(k))
                    .transpose()?,
            },
        })
    }

    /// The advertised `host:port` of the REST listener: the worker id in statuses.
    pub fn worker_id(&self) -> String {
        listener_address(&self.listeners[0])
    }

    /// librdkafka settings common to every client: brokers, then `kafka.*` overrides.
    pub fn kafka_client(&self) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in &self.client_overrides {
            config.set(k, v);
        }
        config
    }
}

/// YAML scalars become strings; sequences become comma-separated lists.
fn scalar_or_list(key: &str, value: serde_yaml::Value) -> Result<String, ConfigError> {
    use serde_yaml::Value;
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match &value {
        Value::Sequence(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()
            .map(|items| items.join(",")),
        other => scalar(other),
    }
    .ok_or_else(|| ConfigError::Invalid {
        key: key.to_string(),
        message: "expected a string, number, boolean or a list of them".into(),
    })
}

/// The `host:port` a listener URL binds.
pub fn listener_address(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

/// A listener list: each entry an `http://` or `https://` URL.
fn listener_urls(key: &str, text: &str) -> Result<Vec<String>, ConfigError> {
    let urls = list(text);
    for url in &urls {
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(ConfigError::Invalid {
                key: key.into(),
                message: format!(
                    "`{url}` is not an http:// or https:// URL, e.g. http://127.0.0.1:8083"
                ),
            });
        }
    }
    Ok(urls)
}

/// The `<prefix>*` TLS keys (PEM) of the https:// entries of `urls`; `None` without one, and
/// an error for keys set with no https:// listener to take them.
fn https_config(
    map: &BTreeMap<String, String>,
    prefix: &str,
    urls: &[String],
    path: &dyn Fn(&str) -> PathBuf,
) -> Result<Option<HttpsConfig>, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: key.to_string(),
        message,
    };
    let key = |name: &str| format!("{prefix}{name}");
    for name in ["keystore.type", "truststore.type"] {
        if let Some(kind) = map
            .get(&key(name))
            .filter(|t| !t.trim().eq_ignore_ascii_case("PEM"))
        {
            return Err(invalid(&key(name), format!("`{kind}` is not supported: only PEM files are; convert the store with openssl or keytool")));
        }
    }
    if !urls.iter().any(|u| u.starts_with("https://")) {
        if let Some(set) = map.keys().find(|k| k.starts_with(prefix)) {
            return Err(invalid(set, "set for listeners none of which is https://; remove it or make a listener https://".into()));
        }
        return Ok(None);
    }
    let keystore = map.get(&key("keystore.location")).ok_or_else(|| {
        invalid(
            &key("keystore.location"),
            "an https:// listener needs a PEM file with its private key and certificate chain"
                .into(),
        )
    })?;
    let client_auth = match map
        .get(&key("client.auth"))
        .map(|v| v.trim())
        .unwrap_or("none")
    {
        "none" => ClientAuth::None,
        "requested" => ClientAuth::Requested,
        "required" => ClientAuth::Required,
        other => {
            return Err(invalid(
                &key("client.auth"),
                format!("must be none, requested or required, got `{other}`"),
            ))
        }
    };
    Ok(Some(HttpsConfig {
        keystore: path(keystore),
        truststore: map.get(&key("truststore.location")).map(|p| path(p)),
        client_auth,
    }))
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn number(map: &BTreeMap<String, String>, key: &str, default: u64) -> Result<u64, ConfigError> {
    map.get(key).map_or(Ok(default), |v| {
        v.trim().parse().map_err(|_| ConfigError::Invalid {
            key: key.to_string(),
            message: format!("expected a whole number, got `{v}`"),
        })
    })
}

/// An internal topic's replication factor: its own Kafka Connect key, else Ferry's
/// `replication.factor` for all three, else 1 (the single development broker). -1 takes the
/// broker's `default.replication.factor` (KIP-464).
fn replication(map: &BTreeMap<String, String>, key: &str) -> Result<i32, ConfigError> {
    let (key, value) = match map.get(key) {
        Some(value) => (key, value),
        None => match map.get("replication.factor") {
            Some(value) => ("replication.factor", value),
            None => return Ok(1),
        },
    };
    match value.trim().parse::<i32>() {
        Ok(factor) if factor == -1 || factor >= 1 => Ok(factor),
        _ => Err(ConfigError::Invalid {
            key: key.to_string(),
            message: format!(
                "expected -1 (the broker's default.replication.factor) or a replica count of at \
                 least 1, got `{value}`"
            ),
        }),
    }
}

fn boolean(map: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool, ConfigError> {
    map.get(key).map_or(Ok(default), |v| match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::Invalid {
            key: key.to_string(),
            message: format!("expected true or false, got `{v}`"),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kafka_connect_style_keys_with_defaults() {
        let config = WorkerConfig::parse(
            "bootstrap.servers: 127.0.0.1:9092\nplugin.path: [plugins, /opt/ferry]\nproducer.linger.ms: 5\n",
            Path::new("/etc/ferry"),
        )
        .unwrap();
        assert_eq!(config.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(
            config.plugin_path,
            [
                PathBuf::from("/etc/ferry/plugins"),
                PathBuf::from("/opt/ferry")
            ]
        );
        assert_eq!(config.worker_id(), "127.0.0.1:8083");
        assert_eq!(config.offset_storage_topic, "connect-offsets");
        assert_eq!(config.producer_overrides["linger.ms"], "5");
        assert!(config.task_restart_enabled);
    }

    #[test]
    fn each_internal_topic_has_its_replication_factor() {
        let parse = |yaml: &str| {
            WorkerConfig::parse(&format!("bootstrap.servers: x\n{yaml}"), Path::new("."))
        };
        let factors = |c: &WorkerConfig| {
            (
                c.offset_storage_replication_factor,
                c.cluster.config_storage_replication_factor,
                c.cluster.status_storage_replication_factor,
            )
        };
        assert_eq!(factors(&parse("").unwrap()), (1, 1, 1));
        assert_eq!(factors(&parse("replication.factor: 3").unwrap()), (3, 3, 3));
        let own = parse(
            "replication.factor: 3\noffset.storage.replication.factor: -1\nstatus.storage.replication.factor: 2",
        )
        .unwrap();
        assert_eq!(factors(&own), (-1, 3, 2));
        for (yaml, key) in [
            (
                "config.storage.replication.factor: 0",
                "config.storage.replication.factor",
            ),
            ("replication.factor: -2", "replication.factor"),
            (
                "status.storage.replication.factor: three",
                "status.storage.replication.factor",
            ),
        ] {
            let error = parse(yaml).unwrap_err().to_string();
            assert!(
                error.contains(key) && error.contains("-1"),
                "{yaml}: {error}"
            );
        }
    }

    #[test]
    fn client_secrets_are_hidden_when_the_config_is_printed() {
        let config = WorkerConfig::parse(
            "bootstrap.servers: x\nkafka.sasl.password: planted-1\nproducer.ssl.key.password: planted-2\nkafka.sasl.username: ferry\nconfig.storage.secrets.key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
            Path::new("."),
        )
        .unwrap();
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("planted") && !printed.contains("AAAAAAAA"),
            "{printed}"
        );
        assert!(printed.contains("ferry"), "{printed}");
        assert_eq!(config.client_overrides["sasl.password"], "planted-1");
        assert!(is_client_secret("producer.override.sasl.jaas.config"));
        assert!(!is_client_secret("mqtt.password") && !is_client_secret("xsasl.password"));
    }

    #[test]
    fn listeners_and_admin_listeners() {
        let parse = |yaml: &str| {
            WorkerConfig::parse(
                &format!("bootstrap.servers: x\n{yaml}"),
                Path::new("/etc/ferry"),
            )
        };
        let config = parse("listeners: [http://127.0.0.1:8083, https://127.0.0.1:8443]\nlisteners.https.ssl.keystore.location: k.pem\nadmin.listeners: \"\"\n").unwrap();
        assert_eq!(config.listeners.len(), 2);
        assert_eq!(
            config.https.unwrap().keystore,
            PathBuf::from("/etc/ferry/k.pem")
        );
        assert_eq!(config.admin_listeners, Some(vec![]));
        assert!(parse("").unwrap().admin_listeners.is_none());
        let key_of = |yaml: &str| match parse(yaml).unwrap_err() {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("{other}"),
        };
        assert_eq!(key_of("listeners: \"\"\n"), "listeners");
        assert_eq!(key_of("admin.listeners: ftp://x:1\n"), "admin.listeners");
        assert_eq!(
            key_of("admin.listeners: https://127.0.0.1:9443\n"),
            "admin.listeners.https.ssl.keystore.location"
        );
        assert_eq!(
            key_of("listeners.https.ssl.client.auth: required\n"),
            "listeners.https.ssl.client.auth"
        );
    }

    #[test]
    fn names_the_offending_key() {
        let error = WorkerConfig::parse(
            "bootstrap.servers: x\noffset.flush.interval.ms: soon\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("offset.flush.interval.ms"),
            "{error}"
        );
        let error = WorkerConfig::parse("bootstrap.server: x\n", Path::new(".")).unwrap_err();
        assert!(error.to_string().contains("bootstrap.server"), "{error}");
        let error = WorkerConfig::parse("plugin.path: x\n", Path::new(".")).unwrap_err();
        assert!(error.to_string().contains("bootstrap.servers"), "{error}");
    }
}
