//! Standalone mode's connector configs and target states in the local state directory, so that
//! connectors created over REST come back after a restart (Kafka Connect standalone forgets them).

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use ferry_api::ConfigMap;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// One connector as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredConnector {
    /// The configuration as submitted (config provider references unresolved).
    pub config: ConfigMap,
    /// RUNNING, PAUSED or STOPPED.
    pub target_state: String,
}

/// Where standalone mode keeps its connectors: a file, or memory in tests.
pub trait ConnectorStore: Send + Sync {
    /// Every stored connector.
    fn load(&self) -> Result<BTreeMap<String, StoredConnector>, StoreError>;
    /// Replaces the stored set; an error means nothing changed.
    fn save(&self, connectors: &BTreeMap<String, StoredConnector>) -> Result<(), StoreError>;
}

/// `connectors.json` in the state directory, rewritten atomically on each change.
#[derive(Debug, Clone)]
pub struct ConnectorFileStore {
    path: PathBuf,
}

impl ConnectorFileStore {
    /// Uses (and creates) `state_dir`.
    pub fn open(state_dir: &std::path::Path) -> Result<Self, StoreError> {
        // Configs hold secrets: a directory the worker creates is its user's alone.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(|e| {
                StoreError::Local(format!(
                    "cannot create state.dir {}: {e}; set state.dir to a writable directory",
                    state_dir.display()
                ))
            })?;
        Ok(ConnectorFileStore {
            path: state_dir.join("connectors.json"),
        })
    }
}

impl ConnectorStore for ConnectorFileStore {
    fn load(&self) -> Result<BTreeMap<String, StoredConnector>, StoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Local(format!(
                    "{} is not readable ({e}); fix or remove it",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(StoreError::Local(format!(
                "cannot read {}: {e}",
                self.path.display()
            ))),
        }
    }

    fn save(&self, connectors: &BTreeMap<String, StoredConnector>) -> Result<(), StoreError> {
        let text = serde_json::to_vec_pretty(connectors).expect("configs serialize");
        let temporary = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            // 0600: the configs hold secrets (connector passwords), for the worker's user only.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&temporary)?;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)
        };
        write().map_err(|e| StoreError::Local(format!("cannot write {}: {e}", self.path.display())))
    }
}

/// Connectors kept in memory, for tests; `fail_saves` makes every save fail.
#[derive(Debug, Default)]
pub struct MemoryConnectorStore {
    connectors: std::sync::Mutex<BTreeMap<String, StoredConnector>>,
    /// When set, `save` fails as a full disk would.
    pub fail_saves: std::sync::atomic::AtomicBool,
}

impl ConnectorStore for MemoryConnectorStore {
    fn load(&self) -> Result<BTreeMap<String, StoredConnector>, StoreError> {
        Ok(self
            .connectors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }

    fn save(&self, connectors: &BTreeMap<String, StoredConnector>) -> Result<(), StoreError> {
        if self.fail_saves.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Local("the test store refuses writes".into()));
        }
        *self.connectors.lock().unwrap_or_else(|e| e.into_inner()) = connectors.clone();
        Ok(())
    }
}
