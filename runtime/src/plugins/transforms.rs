//! The transformations and predicates a connector's chain may name: Kafka Connect's built-ins
//! (`ferry-transforms`) and those loaded from libraries on `plugin.path`.

use ferry_api::config::ConfigIssue;
use ferry_api::ConfigMap;
use ferry_transforms::{Built, BuiltIn, PluginType};

use super::library_transform::LibraryTransform;

/// One transformation or predicate class.
pub struct TransformPlugin {
    /// Full class name.
    pub class_name: String,
    /// Short names accepted instead.
    pub aliases: Vec<String>,
    /// Transformation or predicate.
    pub plugin_type: PluginType,
    /// Its version.
    pub version: String,
    /// JSON Schema of its own keys.
    pub config_schema: serde_json::Value,
    origin: Origin,
}

enum Origin {
    BuiltIn(BuiltIn),
    Library(LibraryTransform),
}

impl std::fmt::Debug for TransformPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformPlugin")
            .field("class_name", &self.class_name)
            .field("plugin_type", &self.plugin_type)
            .finish()
    }
}

impl TransformPlugin {
    pub(crate) fn built_in(built_in: BuiltIn) -> TransformPlugin {
        TransformPlugin {
            class_name: built_in.class.clone(),
            aliases: built_in.aliases(),
            plugin_type: built_in.plugin_type,
            version: env!("CARGO_PKG_VERSION").to_string(),
            config_schema: serde_json::from_str(&(built_in.config_schema)())
                .unwrap_or(serde_json::Value::Null),
            origin: Origin::BuiltIn(built_in),
        }
    }

    pub(crate) fn library(library: LibraryTransform) -> TransformPlugin {
        TransformPlugin {
            class_name: library.class_name.clone(),
            aliases: library.aliases.clone(),
            plugin_type: library.plugin_type,
            version: library.version.clone(),
            config_schema: library.config_schema.clone(),
            origin: Origin::Library(library),
        }
    }

    /// The library it was loaded from; `None` for a built-in.
    pub fn path(&self) -> Option<std::path::PathBuf> {
        match &self.origin {
            Origin::BuiltIn(_) => None,
            Origin::Library(library) => Some(library.path.clone()),
        }
    }

    /// True when `name` is the class name or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        self.class_name == name || self.aliases.iter().any(|a| a == name)
    }

    /// A configured instance from its own keys; every offending key is reported, by its own name.
    pub fn build(&self, config: &ConfigMap) -> Result<Built, Vec<ConfigIssue>> {
        match &self.origin {
            Origin::BuiltIn(built_in) => built_in.build(config),
            Origin::Library(library) => library.build(config),
        }
    }
}
