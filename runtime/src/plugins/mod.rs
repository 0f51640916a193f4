//! Finds connector libraries on `plugin.path` and loads them.
//!
//! Each directory of `plugin.path` is scanned (with one level of sub-directories, so a plugin may
//! sit in a folder of its own) for shared libraries. A library is read in two steps: first the
//! unversioned `ferry_plugin_abi_version` symbol, and only when it names the ABI this worker
//! speaks, the versioned descriptor. Anything else is skipped with one line that says why and what
//! to do; the worker goes on with the libraries that loaded. What the descriptor declares (its
//! kind, its task entry points) is checked before it is trusted. Libraries are never unloaded: a
//! plugin's threads may still run its code, and upgrading a plugin means restarting the worker.
//!
//! Loading a library runs its initialisers: plugins are trusted code, as jars are in Kafka Connect.

mod context;
mod instance;
mod library_transform;
mod loader;
mod transforms;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_api::abi::{ConnectorVTable, SinkTaskVTable, SourceTaskVTable};

pub use instance::{
    ConnectorEvents, ConnectorInstance, PolledRecord, SinkTaskInstance, SourceTaskInstance,
};

pub use transforms::TransformPlugin;

pub use crate::config::connector::ConnectorType;

/// A loaded connector library.
pub struct Plugin {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// Full class name, as in `connector.class`.
    pub class_name: String,
    /// Short names accepted in `connector.class`.
    pub aliases: Vec<String>,
    /// The connector's version.
    pub version: String,
    /// Source or sink.
    pub kind: ConnectorType,
    /// JSON Schema of its configuration.
    pub config_schema: serde_json::Value,
    /// The connector entry points, checked at load.
    pub(crate) connector: &'static ConnectorVTable,
    /// The task entry points of its kind, checked at load.
    pub(crate) tasks: TaskEntryPoints,
}

/// The task entry points of a plugin, as the loader found them in its descriptor.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TaskEntryPoints {
    Source(&'static SourceTaskVTable),
    Sink(&'static SinkTaskVTable),
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("class_name", &self.class_name)
            .field("aliases", &self.aliases)
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("path", &self.path)
            .finish()
    }
}

impl Plugin {
    /// Whether the plugin's config definition marks `key` as a secret (JSON Schema `writeOnly`,
    /// shown as type `PASSWORD`).
    pub fn is_secret_key(&self, key: &str) -> bool {
        self.config_schema["properties"][key]["writeOnly"] == serde_json::Value::Bool(true)
    }

    /// True when `name` is this plugin's class name or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        self.class_name == name || self.aliases.iter().any(|a| a == name)
    }
}

/// Why a file on `plugin.path` was not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The dynamic loader refused the file.
    #[error("skipping {path}: cannot load it as a shared library ({reason}); remove it from plugin.path or rebuild it for this platform")]
    NotLoadable {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// A shared library without Ferry's entry symbol.
    #[error("skipping {path}: not a Ferry plugin (no `{symbol}` symbol); remove it from plugin.path, or export the connector with ferry_api::export_source!/export_sink!")]
    NotAPlugin {
        /// The file.
        path: PathBuf,
        /// The missing symbol.
        symbol: &'static str,
    },
    /// A Ferry plugin built against another ABI.
    #[error("skipping {path}: built against Ferry plugin ABI {found}, this worker supports ABI {supported}; rebuild the connector against ferry-api {api_version}")]
    IncompatibleAbi {
        /// The file.
        path: PathBuf,
        /// The ABI the library was built against.
        found: u32,
        /// The ABI this worker speaks.
        supported: u32,
        /// The API crate version to rebuild against.
        api_version: &'static str,
    },
    /// The library's descriptor is unusable.
    #[error("skipping {path}: {reason}; rebuild the connector against ferry-api {api_version}")]
    BadDescriptor {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// The API crate version to rebuild against.
        api_version: &'static str,
    },
    /// The descriptor declares a kind of connector this worker does not know.
    #[error("skipping {path}: it declares connector kind {kind}, but this worker knows only {} (source) and {} (sink); rebuild the connector against ferry-api {api_version}", ferry_api::abi::PLUGIN_KIND_SOURCE, ferry_api::abi::PLUGIN_KIND_SINK)]
    UnknownKind {
        /// The file.
        path: PathBuf,
        /// The kind it declares.
        kind: u32,
        /// The API crate version to rebuild against.
        api_version: &'static str,
    },
    /// The descriptor declares a kind but lacks that kind's task entry points.
    #[error("skipping {path}: it declares a {kind} connector but has no {kind} task entry points; rebuild the connector against ferry-api {api_version}")]
    MissingTaskEntryPoints {
        /// The file.
        path: PathBuf,
        /// `source` or `sink`.
        kind: &'static str,
        /// The API crate version to rebuild against.
        api_version: &'static str,
    },
    /// Another library already provides this class.
    #[error("skipping {path}: class {class_name} is already provided by {first}; keep one of them on plugin.path")]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The class both provide.
        class_name: String,
        /// The file that was loaded first.
        first: PathBuf,
    },
}

/// The connector plugins this worker can run, and the transformations and predicates their
/// chains may name (the built-ins first, then those on `plugin.path`).
#[derive(Debug, Clone)]
pub struct PluginRegistry {
    plugins: Vec<Arc<Plugin>>,
    transforms: Vec<Arc<TransformPlugin>>,
}

impl Default for PluginRegistry {
    fn default() -> Self {
        PluginRegistry {
            plugins: Vec::new(),
            transforms: ferry_transforms::built_ins()
                .into_iter()
                .map(|b| Arc::new(TransformPlugin::built_in(b)))
                .collect(),
        }
    }
}

impl PluginRegistry {
    /// Scans `plugin_path` and loads every Ferry plugin found; the failures come back too, so the
    /// caller can log them. Files are visited in name order, so the outcome is reproducible.
    pub fn scan(plugin_path: &[PathBuf]) -> (PluginRegistry, Vec<LoadError>) {
        let mut registry = PluginRegistry::default();
        let mut failures = Vec::new();
        for file in plugin_path.iter().flat_map(|dir| library_files(dir)) {
            match loader::load(&file) {
                Ok(loader::Loaded::Transform(library)) => {
                    let library = TransformPlugin::library(library);
                    if let Some(first) = registry.transform(&library.class_name) {
                        failures.push(LoadError::Duplicate {
                            path: file,
                            class_name: library.class_name.clone(),
                            first: first.path().unwrap_or_else(|| "Ferry's built-ins".into()),
                        });
                    } else {
                        registry.transforms.push(Arc::new(library));
                    }
                }
                Ok(loader::Loaded::Connector(plugin)) => {
                    if let Some(first) = registry.find(&plugin.class_name) {
                        failures.push(LoadError::Duplicate {
                            path: file,
                            class_name: plugin.class_name.clone(),
                            first: first.path.clone(),
                        });
                    } else {
                        registry.plugins.push(Arc::new(plugin));
                    }
                }
                Err(e) => failures.push(e),
            }
        }
        (registry, failures)
    }

    /// The plugin for a class name or alias.
    pub fn find(&self, class_or_alias: &str) -> Option<Arc<Plugin>> {
        self.plugins
            .iter()
            .find(|p| p.class_name == class_or_alias)
            .or_else(|| self.plugins.iter().find(|p| p.answers_to(class_or_alias)))
            .cloned()
    }

    /// All loaded plugins, in load order.
    pub fn plugins(&self) -> &[Arc<Plugin>] {
        &self.plugins
    }

    /// The transformation or predicate for a class name or alias.
    pub fn transform(&self, class_or_alias: &str) -> Option<Arc<TransformPlugin>> {
        self.transforms
            .iter()
            .find(|t| t.class_name == class_or_alias)
            .or_else(|| {
                self.transforms
                    .iter()
                    .find(|t| t.answers_to(class_or_alias))
            })
            .cloned()
    }

    /// Every transformation and predicate, built-ins first.
    pub fn transforms(&self) -> &[Arc<TransformPlugin>] {
        &self.transforms
    }
}

/// Shared libraries in `dir` and its immediate sub-directories, sorted by path.
fn library_files(dir: &Path) -> Vec<PathBuf> {
    let is_library = |p: &Path| {
        p.is_file()
            && p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
    };
    let entries = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };
    let mut found = Vec::new();
    if is_library(dir) {
        found.push(dir.to_path_buf());
    }
    for entry in entries(dir) {
        if entry.is_dir() {
            found.extend(entries(&entry).into_iter().filter(|p| is_library(p)));
        } else if is_library(&entry) {
            found.push(entry);
        }
    }
    found.sort();
    found
}
