//! Transformations and predicates in libraries on `plugin.path`: each call crosses the boundary
//! with the record in its JSON wire form (`ferry_api::transform::wire`), which keeps the ABI
//! small and owned on both sides at the cost of one encode and decode per record and plugin.
#![allow(unsafe_code)]

use std::ffi::c_void;

use ferry_api::abi::{FfiSlice, TransformVTable};
use ferry_api::config::ConfigIssue;
use ferry_api::transform::{wire, ConnectRecord};
use ferry_api::{ConfigMap, ConnectError};
use ferry_transforms::{Built, DynPredicate, DynTransformation, PluginType};

use super::instance::{config_json, CallOutput};

/// A transformation or predicate class a library provides.
#[derive(Debug)]
pub(crate) struct LibraryTransform {
    pub path: std::path::PathBuf,
    pub class_name: String,
    pub aliases: Vec<String>,
    pub plugin_type: PluginType,
    pub version: String,
    pub config_schema: serde_json::Value,
    pub table: &'static TransformVTable,
}

impl LibraryTransform {
    /// Validates the keys with the library's own check, then builds an instance.
    pub fn build(&self, config: &ConfigMap) -> Result<Built, Vec<ConfigIssue>> {
        let json = config_json(config);
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: the config bytes and `ffi` live for the whole call.
        let status = unsafe { (self.table.validate)(FfiSlice::new(&json), &ffi) };
        let general = |e: ConnectError| vec![ConfigIssue::new("type", e.to_string())];
        out.result(status).map_err(general)?;
        let issues: Vec<serde_json::Value> = out.json("validation result").map_err(general)?;
        if !issues.is_empty() {
            return Err(issues
                .iter()
                .map(|i| {
                    let text = |k: &str| i[k].as_str().unwrap_or_default().to_string();
                    ConfigIssue::new(text("field"), text("message"))
                })
                .collect());
        }
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: as above; a non-null result is an instance the library owns until `free`.
        let instance = unsafe { (self.table.new)(FfiSlice::new(&json), &ffi) };
        if instance.is_null() {
            return Err(general(out.result(-1).err().unwrap_or_else(|| {
                ConnectError::fatal("the library could not build an instance")
            })));
        }
        let instance = LibraryInstance {
            table: self.table,
            instance,
        };
        Ok(match self.plugin_type {
            PluginType::Transformation => Built::Transformation(Box::new(instance)),
            PluginType::Predicate => Built::Predicate(Box::new(instance)),
        })
    }
}

/// One instance inside a library, freed on drop.
struct LibraryInstance {
    table: &'static TransformVTable,
    instance: *mut c_void,
}

// SAFETY: an instance is driven through `&mut self`, by one thread at a time, as the ABI allows.
unsafe impl Send for LibraryInstance {}

impl LibraryInstance {
    fn call(&mut self, record: &ConnectRecord) -> ferry_api::Result<Vec<u8>> {
        let json = wire::encode(record)?;
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance; the record bytes and `ffi` are valid for the call.
        let status =
            unsafe { (self.table.call)(self.instance, FfiSlice::new(json.as_bytes()), &ffi) };
        out.result(status)?;
        out.take_json()
            .ok_or_else(|| ConnectError::fatal("the library answered nothing"))
    }
}

impl DynTransformation for LibraryInstance {
    fn apply(&mut self, record: ConnectRecord) -> ferry_api::Result<Option<ConnectRecord>> {
        let answer = self.call(&record)?;
        wire::decode_outcome(&answer)
    }
}

impl DynPredicate for LibraryInstance {
    fn test(&mut self, record: &ConnectRecord) -> ferry_api::Result<bool> {
        match self.call(record)?.as_slice() {
            b"true" => Ok(true),
            b"false" => Ok(false),
            other => Err(ConnectError::fatal(format!(
                "the predicate answered {:?}, not true or false",
                String::from_utf8_lossy(other)
            ))),
        }
    }
}

impl Drop for LibraryInstance {
    fn drop(&mut self) {
        // SAFETY: the instance came from this table's `new` and is freed once.
        unsafe { (self.table.free)(self.instance) };
    }
}
