//! What Ferry's integration tests share: building the workspace's connector libraries from a
//! test, finding the services `dev/services up` started, names no other run uses, and the
//! strict Prometheus exposition check ([`promcheck`]).

pub mod promcheck;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit sits in the workspace")
        .to_path_buf()
}

/// The build output directory of the dev profile.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("debug")
}

/// Runs `cargo build <args> --quiet` once per distinct `args` in this test process, so that
/// `cargo test` alone is enough to get the cdylibs the tests load.
pub fn cargo_build(args: &[&str]) {
    static BUILT: Mutex<Option<HashSet<Vec<String>>>> = Mutex::new(None);
    let key: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.get_or_insert_with(HashSet::new).insert(key) {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut build = std::process::Command::new(cargo);
    build
        .arg("build")
        .args(args)
        .arg("--quiet")
        .current_dir(workspace());
    // The variables cargo sets for the running test binary would reach build scripts that watch
    // them (ring's watches CARGO_MANIFEST_DIR) and force a rebuild on every run.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        let per_binary = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
            ]
            .contains(&name.as_str());
        if per_binary {
            build.env_remove(&name);
        }
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "cargo build {args:?} failed");
}

/// The path of a workspace cdylib built by [`cargo_build`], e.g. `library("ferry_mqtt_sink")`.
pub fn library(crate_name: &str) -> PathBuf {
    let path = target_dir().join(format!(
        "{}{crate_name}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    ));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Where the services started by `dev/services up` listen (`eval "$(dev/services env)"`), with
/// the script's defaults when a variable is unset.
#[derive(Debug, Clone)]
pub struct Services {
    pub kafka_bootstrap: String,
    pub mqtt_host: String,
    pub mqtt_port: u16,
    pub mqtts_port: u16,
    pub mqtt_auth_port: u16,
    pub mqtt_mtls_port: u16,
    pub mqtt_username: String,
    pub mqtt_password: String,
    pub tls_ca: PathBuf,
    pub tls_client_cert: PathBuf,
    pub tls_client_key: PathBuf,
}

/// Writes every panic's message straight to the process's stderr as well. The test harness
/// captures a test's output and loses it when the process aborts, which a second panic during
/// unwinding (in a destructor) makes it do: the first message would be gone, and with it the
/// reason the test failed.
pub fn report_panics_uncaptured() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            use std::io::Write as _;
            let thread = std::thread::current();
            let _ = writeln!(
                std::io::stderr().lock(),
                "[uncaptured] thread '{}' {info}",
                thread.name().unwrap_or("?")
            );
            previous(info);
        }));
    });
}

impl Services {
    /// Reads the environment (and makes panics visible even if the test process aborts).
    pub fn from_env() -> Services {
        report_panics_uncaptured();
        let var = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_string());
        let port = |name: &str, default: u16| {
            std::env::var(name)
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(default)
        };
        let state = std::env::var_os("FERRY_SERVICES_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join(".services"));
        let cert = |name: &str, file: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .unwrap_or_else(|| state.join("certs").join(file))
        };
        Services {
            kafka_bootstrap: var("FERRY_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            mqtt_host: var("FERRY_MQTT_HOST", "127.0.0.1"),
            mqtt_port: port("FERRY_MQTT_PORT", 1883),
            mqtts_port: port("FERRY_MQTTS_PORT", 8883),
            mqtt_auth_port: port("FERRY_MQTT_AUTH_PORT", 1884),
            mqtt_mtls_port: port("FERRY_MQTT_MTLS_PORT", 8884),
            mqtt_username: var("FERRY_MQTT_USERNAME", "ferry"),
            mqtt_password: var("FERRY_MQTT_PASSWORD", "ferry-secret"),
            tls_ca: cert("FERRY_TLS_CA", "ca.pem"),
            tls_client_cert: cert("FERRY_TLS_CLIENT_CERT", "client.pem"),
            tls_client_key: cert("FERRY_TLS_CLIENT_KEY", "client-key.pem"),
        }
    }

    /// `scheme://host:port`.
    pub fn uri(&self, scheme: &str, port: u16) -> String {
        format!("{scheme}://{}:{port}", self.mqtt_host)
    }

    /// The plain MQTT listener as `host:port`.
    pub fn plain_address(&self) -> String {
        format!("{}:{}", self.mqtt_host, self.mqtt_port)
    }
}

/// A name no earlier test run used, for topics and client ids.
pub fn unique(prefix: &str) -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A connector configuration from key/value pairs.
pub fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
