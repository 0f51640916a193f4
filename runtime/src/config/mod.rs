//! Configuration: the worker's YAML file and the config providers shared with connector configs.

pub mod chain;
pub mod connector;
mod providers;
pub mod topic_creation;
mod worker;

use std::path::{Path, PathBuf};

pub use connector::ConnectorKeys;
pub use providers::{resolve_config, resolve_providers, with_references};
pub use worker::{
    is_client_secret, listener_address, ClientAuth, ClientSettings, ClusterConfig, HttpsConfig,
    RestAuthConfig, SecretsKey, WorkerConfig,
};

/// A config map from pairs, for unit tests.
#[cfg(test)]
pub(crate) fn config(pairs: &[(&str, &str)]) -> ferry_api::ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Why a configuration was rejected. Each variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Not valid YAML.
    #[error("not valid YAML: {0}")]
    Syntax(String),
    /// A setting has a bad value.
    #[error("`{key}`: {message}")]
    Invalid {
        /// The setting.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Any of the above, in a file.
    #[error("{path}: {source}")]
    InFile {
        /// The file.
        path: PathBuf,
        /// The problem.
        source: Box<ConfigError>,
    },
}

impl ConfigError {
    fn in_file(self, path: &Path) -> ConfigError {
        ConfigError::InFile {
            path: path.to_path_buf(),
            source: Box::new(self),
        }
    }
}
