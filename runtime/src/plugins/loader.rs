//! Opens one library and reads its descriptor, after checking its ABI version.
#![allow(unsafe_code)]

use std::path::Path;

use ferry_api::abi::{
    FfiHost, FfiSlice, PluginDescriptor, ABI_VERSION, ABI_VERSION_SYMBOL, DESCRIPTOR_SYMBOL,
    PLUGIN_KIND_PREDICATE, PLUGIN_KIND_SINK, PLUGIN_KIND_SOURCE, PLUGIN_KIND_TRANSFORMATION,
};
use ferry_transforms::PluginType;
use libloading::Library;

use super::library_transform::LibraryTransform;
use super::{ConnectorType, LoadError, Plugin, TaskEntryPoints};

/// What a library provides.
pub(super) enum Loaded {
    Connector(Plugin),
    Transform(LibraryTransform),
}

const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Loads the plugin in `path`, or says why not.
pub(super) fn load(path: &Path) -> Result<Loaded, LoadError> {
    // SAFETY: loading runs the library's initialisers; plugins on plugin.path are trusted code,
    // as documented for operators.
    let library = unsafe { Library::new(path) }.map_err(|e| LoadError::NotLoadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;

    // SAFETY: every ABI version declares this symbol as `extern "C" fn() -> u32`.
    let abi_version =
        unsafe { library.get::<extern "C" fn() -> u32>(ABI_VERSION_SYMBOL.as_bytes()) }.map_err(
            |_| LoadError::NotAPlugin {
                path: path.to_path_buf(),
                symbol: ABI_VERSION_SYMBOL,
            },
        )?;
    let found = abi_version();
    if found != ABI_VERSION {
        return Err(LoadError::IncompatibleAbi {
            path: path.to_path_buf(),
            found,
            supported: ABI_VERSION,
            api_version: API_VERSION,
        });
    }
    let bad = |reason: String| LoadError::BadDescriptor {
        path: path.to_path_buf(),
        reason,
        api_version: API_VERSION,
    };

    // SAFETY: the library speaks this worker's ABI, which declares the descriptor symbol with
    // exactly this signature.
    let entry = unsafe {
        library.get::<extern "C" fn() -> *const PluginDescriptor>(DESCRIPTOR_SYMBOL.as_bytes())
    }
    .map_err(|_| bad(format!("the `{DESCRIPTOR_SYMBOL}` symbol is missing")))?;
    // SAFETY: the descriptor is leaked by the plugin and lives as long as the library, which is
    // never unloaded (leaked below). Its kind and task tables are an integer and nullable
    // pointers, valid whatever the library put there, and checked below; its entry points are
    // trusted like the rest of the library's code.
    let descriptor: &'static PluginDescriptor = unsafe { entry().as_ref() }
        .ok_or_else(|| bad("its descriptor could not be built".to_string()))?;
    if descriptor.abi_version != ABI_VERSION
        || descriptor.struct_size != std::mem::size_of::<PluginDescriptor>()
    {
        return Err(bad(format!(
            "its descriptor has ABI {} and size {} (expected {ABI_VERSION} and {})",
            descriptor.abi_version,
            descriptor.struct_size,
            std::mem::size_of::<PluginDescriptor>()
        )));
    }

    let text = |slice: FfiSlice| {
        // SAFETY: descriptor strings are 'static in the plugin (literals or leaked).
        unsafe { slice.to_string_lossy() }
    };
    let missing = |kind: &'static str| LoadError::MissingTaskEntryPoints {
        path: path.to_path_buf(),
        kind,
        api_version: API_VERSION,
    };
    let transform_type = match descriptor.kind {
        PLUGIN_KIND_TRANSFORMATION => Some(PluginType::Transformation),
        PLUGIN_KIND_PREDICATE => Some(PluginType::Predicate),
        _ => None,
    };
    let connector = match descriptor.kind {
        PLUGIN_KIND_SOURCE => {
            // SAFETY: a non-null table pointer points to a table the plugin leaked, alive as long
            // as the library, which is never unloaded.
            let tasks =
                unsafe { descriptor.source_task.as_ref() }.ok_or_else(|| missing("source"))?;
            Some((ConnectorType::Source, TaskEntryPoints::Source(tasks)))
        }
        PLUGIN_KIND_SINK => {
            // SAFETY: as for the source table.
            let tasks = unsafe { descriptor.sink_task.as_ref() }.ok_or_else(|| missing("sink"))?;
            Some((ConnectorType::Sink, TaskEntryPoints::Sink(tasks)))
        }
        _ if transform_type.is_some() => None,
        kind => {
            return Err(LoadError::UnknownKind {
                path: path.to_path_buf(),
                kind,
                api_version: API_VERSION,
            })
        }
    };
    let config_schema = serde_json::from_str(&text(descriptor.config_schema))
        .map_err(|e| bad(format!("its config schema is not JSON ({e})")))?;
    let loaded = match (connector, transform_type) {
        (Some((kind, tasks)), _) => {
            // SAFETY: as for the task tables.
            let table = unsafe { descriptor.connector.as_ref() }
                .ok_or_else(|| bad("it has no connector entry points".to_string()))?;
            Loaded::Connector(Plugin {
                path: path.to_path_buf(),
                class_name: text(descriptor.class_name),
                aliases: aliases(text(descriptor.aliases)),
                version: text(descriptor.version),
                kind,
                config_schema,
                connector: table,
                tasks,
            })
        }
        (None, Some(plugin_type)) => {
            // SAFETY: as for the task tables.
            let table = unsafe { descriptor.transform.as_ref() }.ok_or_else(|| {
                bad(format!(
                    "it declares a {} but has no entry points for one",
                    plugin_type.rest_name()
                ))
            })?;
            Loaded::Transform(LibraryTransform {
                path: path.to_path_buf(),
                class_name: text(descriptor.class_name),
                aliases: aliases(text(descriptor.aliases)),
                plugin_type,
                version: text(descriptor.version),
                config_schema,
                table,
            })
        }
        (None, None) => unreachable!("unknown kinds were refused above"),
    };

    // SAFETY: `init` is called once, before any other entry point, with a host that lives forever.
    unsafe { (descriptor.init)(&HOST) };
    // Never unload: the plugin's threads may outlive any handle we hold.
    std::mem::forget(library);
    Ok(loaded)
}

fn aliases(list: String) -> Vec<String> {
    list.split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
}

static HOST: FfiHost = FfiHost {
    max_level: 5,
    log: plugin_log,
};

/// Re-emits a plugin's log line in the worker's log, inside the calling thread's span (the task
/// thread's span names the connector and task).
///
/// # Safety
/// Both slices must be valid for the call.
unsafe extern "C" fn plugin_log(level: u8, target: FfiSlice, message: FfiSlice) {
    // SAFETY: guaranteed by the caller (the plugin); the bytes are copied here.
    let (target, message) = unsafe { (target.to_string_lossy(), message.to_string_lossy()) };
    match level {
        1 => tracing::error!(target: "ferry::plugin", plugin = %target, "{message}"),
        2 => tracing::warn!(target: "ferry::plugin", plugin = %target, "{message}"),
        3 => tracing::info!(target: "ferry::plugin", plugin = %target, "{message}"),
        4 => tracing::debug!(target: "ferry::plugin", plugin = %target, "{message}"),
        _ => tracing::trace!(target: "ferry::plugin", plugin = %target, "{message}"),
    }
}
