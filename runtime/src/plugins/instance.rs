//! Safe handles on connector and task instances living inside a plugin.
//!
//! Each call lends the plugin borrowed slices and an [`FfiOutput`] whose callbacks copy whatever
//! the plugin hands back before the call returns; the plugin frees its own memory, the worker its
//! own. Instances are `Send` but not `Sync`: each is driven by one thread at a time (`&mut self`),
//! as the ABI requires.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

use ferry_api::abi::{
    FfiHeader, FfiOutput, FfiRecordMetadata, FfiSinkRecord, FfiSlice, FfiSourceRecord,
    FfiTopicPartitionOffset, SinkTaskVTable, SourceTaskVTable, STATUS_DATA, STATUS_OK,
    STATUS_RETRIABLE,
};
use ferry_api::config::ConfigIssue;
use ferry_api::{
    ConfigMap, ConnectError, Header, JsonMap, RecordMetadata, SinkRecord, SourceOffset,
    SourceRecord, TopicPartition, TopicPartitionOffset,
};

use super::context::Registration;
use super::{Plugin, TaskEntryPoints};

/// What a running connector may tell the worker at any time, from any thread. Calls the connector
/// makes after its [`ConnectorInstance`] was stopped or dropped do not reach it.
pub trait ConnectorEvents: Send + Sync {
    /// The connector wants `task_configs` called again.
    fn request_task_reconfiguration(&self);
    /// The connector hit an error outside a worker call.
    fn raise_error(&self, message: String);
}

/// A record returned by `poll`, with the number to quote back in `commit_record`.
#[derive(Debug, Clone)]
pub struct PolledRecord {
    /// The plugin's number for this record.
    pub sequence: u64,
    /// The record (its `commit_token` is the plugin's business and reads 0 here).
    pub record: SourceRecord,
}

/// Collects what one plugin call hands back.
#[derive(Default)]
pub(super) struct CallOutput {
    error: Option<String>,
    json: Option<Vec<u8>>,
    records: Vec<PolledRecord>,
    offsets: Vec<TopicPartitionOffset>,
    errant: Vec<(TopicPartitionOffset, String)>,
}

impl CallOutput {
    pub(super) fn ffi(&mut self) -> FfiOutput {
        FfiOutput {
            ctx: self as *mut CallOutput as *mut c_void,
            error: on_error,
            json: on_json,
            source_record: on_source_record,
            offset: on_offset,
            errant_record: on_errant_record,
        }
    }

    /// Turns a status into a result, with the plugin's message.
    pub(super) fn result(&mut self, status: i32) -> Result<(), ConnectError> {
        if status == STATUS_OK {
            return Ok(());
        }
        let message = self
            .error
            .take()
            .unwrap_or_else(|| format!("connector call failed with status {status}"));
        Err(match status {
            STATUS_RETRIABLE => ConnectError::Retriable(message),
            STATUS_DATA => ConnectError::Data(message),
            // Config errors and panics carry their explanation in the message.
            _ => ConnectError::Fatal(message),
        })
    }

    /// The raw JSON bytes the call wrote, if any.
    pub(super) fn take_json(&mut self) -> Option<Vec<u8>> {
        self.json.take()
    }

    pub(super) fn json<T: serde::de::DeserializeOwned>(
        &mut self,
        what: &str,
    ) -> Result<T, ConnectError> {
        let bytes = self.json.take().unwrap_or_default();
        serde_json::from_slice(&bytes)
            .map_err(|e| ConnectError::fatal(format!("connector returned unreadable {what}: {e}")))
    }
}

/// # Safety
/// `ctx` must be the `CallOutput` of the current call.
unsafe fn output<'a>(ctx: *mut c_void) -> &'a mut CallOutput {
    // SAFETY: guaranteed by the caller; CallOutput::ffi set ctx to a live CallOutput.
    unsafe { &mut *(ctx as *mut CallOutput) }
}

unsafe extern "C" fn on_error(ctx: *mut c_void, message: FfiSlice) {
    // SAFETY: ctx is the current call's output; the message is valid for the call and copied.
    unsafe { output(ctx).error = Some(message.to_string_lossy()) };
}

unsafe extern "C" fn on_json(ctx: *mut c_void, json: FfiSlice) {
    // SAFETY: ctx is the current call's output; the bytes are valid for the call and copied.
    unsafe { output(ctx).json = Some(json.as_bytes().to_vec()) };
}

unsafe extern "C" fn on_source_record(ctx: *mut c_void, record: *const FfiSourceRecord) {
    // SAFETY: the plugin passes a record valid for the call; everything is copied.
    let Some(record) = (unsafe { record.as_ref() }) else {
        return;
    };
    // SAFETY: as above.
    let polled = unsafe { copy_source_record(record) };
    // SAFETY: ctx is the current call's output.
    unsafe { output(ctx).records.push(polled) };
}

unsafe extern "C" fn on_offset(ctx: *mut c_void, offset: *const FfiTopicPartitionOffset) {
    // SAFETY: the plugin passes an offset valid for the call; it is copied.
    if let Some(offset) = unsafe { offset.as_ref() } {
        let tpo = TopicPartitionOffset {
            // SAFETY: as above.
            topic: unsafe { offset.topic.to_string_lossy() },
            partition: offset.partition,
            offset: offset.offset,
        };
        // SAFETY: ctx is the current call's output.
        unsafe { output(ctx).offsets.push(tpo) };
    }
}

unsafe extern "C" fn on_errant_record(
    ctx: *mut c_void,
    record: *const FfiTopicPartitionOffset,
    reason: FfiSlice,
) {
    // SAFETY: the plugin passes a position and reason valid for the call; both are copied.
    if let Some(record) = unsafe { record.as_ref() } {
        let position = TopicPartitionOffset {
            // SAFETY: as above.
            topic: unsafe { record.topic.to_string_lossy() },
            partition: record.partition,
            offset: record.offset,
        };
        // SAFETY: as above; ctx is the current call's output.
        unsafe {
            output(ctx)
                .errant
                .push((position, reason.to_string_lossy()))
        };
    }
}

/// # Safety
/// Every slice in `record` must be valid for the call.
unsafe fn copy_source_record(record: &FfiSourceRecord) -> PolledRecord {
    let json_map = |slice: FfiSlice| -> JsonMap {
        // SAFETY: guaranteed by the caller.
        let bytes = unsafe { slice.as_bytes() };
        if bytes.is_empty() {
            JsonMap::new()
        } else {
            serde_json::from_slice(bytes).unwrap_or_default()
        }
    };
    // SAFETY: guaranteed by the caller.
    let headers = unsafe { borrowed(record.headers, record.headers_len) };
    PolledRecord {
        sequence: record.sequence,
        record: SourceRecord {
            source_partition: json_map(record.source_partition),
            source_offset: json_map(record.source_offset),
            // SAFETY: guaranteed by the caller; all bytes below are copied.
            topic: unsafe { record.topic.to_string_lossy() },
            partition: (record.partition >= 0).then_some(record.partition),
            // SAFETY: as above.
            key: unsafe { record.key.as_option() }.map(<[u8]>::to_vec),
            // SAFETY: as above.
            value: unsafe { record.value.as_option() }.map(<[u8]>::to_vec),
            headers: headers
                .iter()
                .map(|h| Header {
                    // SAFETY: as above.
                    name: unsafe { h.name.to_string_lossy() },
                    // SAFETY: as above.
                    value: unsafe { h.value.as_bytes() }.to_vec(),
                })
                .collect(),
            timestamp_ms: (record.timestamp_ms >= 0).then_some(record.timestamp_ms),
            key_format: ferry_api::abi::format_of(record.key_format),
            value_format: ferry_api::abi::format_of(record.value_format),
            commit_token: 0,
        },
    }
}

/// # Safety
/// `items` must be null or point to `len` valid entries for the call.
unsafe fn borrowed<'a, T>(items: *const T, len: usize) -> &'a [T] {
    if items.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(items, len) }
    }
}

pub(super) fn config_json(config: &ConfigMap) -> Vec<u8> {
    serde_json::to_vec(config).expect("a string map serializes")
}

impl Plugin {
    /// Runs the plugin's own validation on a configuration.
    pub fn validate(&self, config: &ConfigMap) -> Result<Vec<ConfigIssue>, ConnectError> {
        let json = config_json(config);
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: the config bytes and `ffi` live for the whole call.
        let status = unsafe { (self.connector.validate)(FfiSlice::new(&json), &ffi) };
        out.result(status)?;
        let issues: Vec<serde_json::Value> = out.json("validation result")?;
        Ok(issues
            .iter()
            .map(|i| {
                let text = |k: &str| i.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                ConfigIssue::new(text("field"), text("message"))
            })
            .collect())
    }
}

/// A connector instance inside a plugin.
pub struct ConnectorInstance {
    plugin: Arc<Plugin>,
    instance: *mut c_void,
    /// What the plugin's copies of the connector context reach, while it is registered.
    context: Registration,
}

// SAFETY: the instance is used through `&mut self` only, one thread at a time, as the ABI allows;
// the registration is Send on its own.
unsafe impl Send for ConnectorInstance {}

impl ConnectorInstance {
    /// Creates an idle connector named `name` in `plugin`.
    pub fn new(
        plugin: Arc<Plugin>,
        name: &str,
        events: Arc<dyn ConnectorEvents>,
    ) -> Result<Self, ConnectError> {
        let context = Registration::new(events);
        // SAFETY: the name is valid for the call; the context holds no pointer, so it may outlive
        // anything.
        let instance = unsafe {
            (plugin.connector.new)(FfiSlice::new(name.as_bytes()), context.host_context())
        };
        if instance.is_null() {
            return Err(ConnectError::fatal(format!(
                "connector {} panicked while being created",
                plugin.class_name
            )));
        }
        Ok(ConnectorInstance {
            plugin,
            instance,
            context,
        })
    }

    /// The plugin this connector comes from.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// Starts the connector; its context is valid from now on until `stop`.
    pub fn start(&mut self, config: &ConfigMap) -> Result<(), ConnectError> {
        self.context.activate();
        let json = config_json(config);
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance, bytes and output valid for the call.
        let status =
            unsafe { (self.plugin.connector.start)(self.instance, FfiSlice::new(&json), &ffi) };
        out.result(status)
    }

    /// Asks for at most `max_tasks` task configurations.
    pub fn task_configs(&mut self, max_tasks: u32) -> Result<Vec<ConfigMap>, ConnectError> {
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance and output valid for the call.
        let status =
            unsafe { (self.plugin.connector.task_configs)(self.instance, max_tasks, &ffi) };
        out.result(status)?;
        out.json("task configs")
    }

    /// Stops the connector. Its context is revoked first: a background thread of the connector
    /// that still calls it gets an error from then on, and can see that it should end.
    pub fn stop(&mut self) -> Result<(), ConnectError> {
        self.context.revoke();
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance and output valid for the call.
        let status = unsafe { (self.plugin.connector.stop)(self.instance, &ffi) };
        out.result(status)
    }
}

impl Drop for ConnectorInstance {
    fn drop(&mut self) {
        self.context.revoke();
        // SAFETY: the instance came from `new` and is freed once.
        unsafe { (self.plugin.connector.free)(self.instance) };
    }
}

/// A source task inside a plugin.
pub struct SourceTaskInstance {
    plugin: Arc<Plugin>,
    vtable: &'static SourceTaskVTable,
    instance: *mut c_void,
}

// SAFETY: used through `&mut self` only, one thread at a time, as the ABI allows.
unsafe impl Send for SourceTaskInstance {}

impl SourceTaskInstance {
    /// Starts task `task` of `connector` with its configuration and committed offsets.
    pub fn start(
        plugin: Arc<Plugin>,
        connector: &str,
        task: u32,
        config: &ConfigMap,
        offsets: &[SourceOffset],
    ) -> Result<Self, ConnectError> {
        let TaskEntryPoints::Source(vtable) = plugin.tasks else {
            return Err(ConnectError::fatal(format!(
                "{} is not a source",
                plugin.class_name
            )));
        };
        let config = config_json(config);
        let offsets = serde_json::to_vec(
            &offsets
                .iter()
                .map(|o| serde_json::json!({"partition": o.partition, "offset": o.offset}))
                .collect::<Vec<_>>(),
        )
        .expect("offsets serialize");
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: all bytes and the output are valid for the call.
        let instance = unsafe {
            (vtable.start)(
                FfiSlice::new(connector.as_bytes()),
                task,
                FfiSlice::new(&config),
                FfiSlice::new(&offsets),
                &ffi,
            )
        };
        if instance.is_null() {
            out.result(-1)?;
        }
        Ok(SourceTaskInstance {
            plugin,
            vtable,
            instance,
        })
    }

    /// Polls for records, waiting at most `timeout`.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<PolledRecord>, ConnectError> {
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        // SAFETY: live instance and output valid for the call.
        let status = unsafe { (self.vtable.poll)(self.instance, timeout_ms, &ffi) };
        out.result(status)?;
        Ok(out.records)
    }

    /// Tells the task Kafka acknowledged the record numbered `sequence`.
    pub fn commit_record(
        &mut self,
        sequence: u64,
        metadata: &RecordMetadata,
    ) -> Result<(), ConnectError> {
        let ffi_metadata = FfiRecordMetadata {
            topic: FfiSlice::new(metadata.topic.as_bytes()),
            partition: metadata.partition,
            offset: metadata.offset,
            timestamp_ms: metadata.timestamp_ms.unwrap_or(-1),
        };
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance; metadata and output valid for the call.
        let status =
            unsafe { (self.vtable.commit_record)(self.instance, sequence, &ffi_metadata, &ffi) };
        out.result(status)
    }

    /// Tells the task offsets were committed.
    pub fn commit(&mut self) -> Result<(), ConnectError> {
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance and output valid for the call.
        let status = unsafe { (self.vtable.commit)(self.instance, &ffi) };
        out.result(status)
    }

    /// Stops the task.
    pub fn stop(&mut self) -> Result<(), ConnectError> {
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance and output valid for the call.
        let status = unsafe { (self.vtable.stop)(self.instance, &ffi) };
        out.result(status)
    }

    /// The plugin this task comes from.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }
}

impl Drop for SourceTaskInstance {
    fn drop(&mut self) {
        // SAFETY: the instance came from `start` and is freed once.
        unsafe { (self.vtable.free)(self.instance) };
    }
}

/// A sink task inside a plugin.
pub struct SinkTaskInstance {
    plugin: Arc<Plugin>,
    vtable: &'static SinkTaskVTable,
    instance: *mut c_void,
}

// SAFETY: used through `&mut self` only, one thread at a time, as the ABI allows.
unsafe impl Send for SinkTaskInstance {}

fn ffi_partitions(partitions: &[TopicPartitionOffset]) -> Vec<FfiTopicPartitionOffset> {
    partitions
        .iter()
        .map(|p| FfiTopicPartitionOffset {
            topic: FfiSlice::new(p.topic.as_bytes()),
            partition: p.partition,
            offset: p.offset,
        })
        .collect()
}

fn with_offset(partitions: &[TopicPartition]) -> Vec<TopicPartitionOffset> {
    partitions
        .iter()
        .map(|p| TopicPartitionOffset {
            topic: p.topic.clone(),
            partition: p.partition,
            offset: -1,
        })
        .collect()
}

impl SinkTaskInstance {
    /// Starts task `task` of `connector` with its configuration.
    pub fn start(
        plugin: Arc<Plugin>,
        connector: &str,
        task: u32,
        config: &ConfigMap,
    ) -> Result<Self, ConnectError> {
        let TaskEntryPoints::Sink(vtable) = plugin.tasks else {
            return Err(ConnectError::fatal(format!(
                "{} is not a sink",
                plugin.class_name
            )));
        };
        let config = config_json(config);
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: all bytes and the output are valid for the call.
        let instance = unsafe {
            (vtable.start)(
                FfiSlice::new(connector.as_bytes()),
                task,
                FfiSlice::new(&config),
                &ffi,
            )
        };
        if instance.is_null() {
            out.result(-1)?;
        }
        Ok(SinkTaskInstance {
            plugin,
            vtable,
            instance,
        })
    }

    /// Partitions were assigned.
    pub fn open(&mut self, partitions: &[TopicPartition]) -> Result<(), ConnectError> {
        let ffi_partitions = ffi_partitions(&with_offset(partitions));
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance; the array and output are valid for the call.
        let status = unsafe {
            (self.vtable.open)(
                self.instance,
                ffi_partitions.as_ptr(),
                ffi_partitions.len(),
                &ffi,
            )
        };
        out.result(status)
    }

    /// Partitions were revoked.
    pub fn close(&mut self, partitions: &[TopicPartition]) -> Result<(), ConnectError> {
        let ffi_partitions = ffi_partitions(&with_offset(partitions));
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance; the array and output are valid for the call.
        let status = unsafe {
            (self.vtable.close)(
                self.instance,
                ffi_partitions.as_ptr(),
                ffi_partitions.len(),
                &ffi,
            )
        };
        out.result(status)
    }

    /// Delivers records; returns those the task reported as impossible to write, with reasons.
    pub fn put(
        &mut self,
        records: &[SinkRecord],
    ) -> Result<Vec<(TopicPartitionOffset, String)>, ConnectError> {
        let headers: Vec<Vec<FfiHeader>> = records
            .iter()
            .map(|r| {
                r.headers
                    .iter()
                    .map(|h| FfiHeader {
                        name: FfiSlice::new(h.name.as_bytes()),
                        value: FfiSlice::new(&h.value),
                    })
                    .collect()
            })
            .collect();
        let ffi_records: Vec<FfiSinkRecord> = records
            .iter()
            .zip(&headers)
            .map(|(r, h)| FfiSinkRecord {
                topic: FfiSlice::new(r.topic.as_bytes()),
                partition: r.partition,
                offset: r.offset,
                key: FfiSlice::optional(r.key.as_deref()),
                value: FfiSlice::optional(r.value.as_deref()),
                headers: h.as_ptr(),
                headers_len: h.len(),
                timestamp_ms: r.timestamp_ms.unwrap_or(-1),
                original_topic: FfiSlice::optional(r.original.as_ref().map(|o| o.topic.as_bytes())),
                original_partition: r.original.as_ref().map_or(-1, |o| o.partition),
            })
            .collect();
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance; records, their headers and the output are valid for the call.
        let status = unsafe {
            (self.vtable.put)(self.instance, ffi_records.as_ptr(), ffi_records.len(), &ffi)
        };
        out.result(status)?;
        Ok(out.errant)
    }

    /// Given consumed positions, returns those safe to commit.
    pub fn pre_commit(
        &mut self,
        offsets: &[TopicPartitionOffset],
    ) -> Result<Vec<TopicPartitionOffset>, ConnectError> {
        let ffi_offsets = ffi_partitions(offsets);
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance; the array and output are valid for the call.
        let status = unsafe {
            (self.vtable.pre_commit)(self.instance, ffi_offsets.as_ptr(), ffi_offsets.len(), &ffi)
        };
        out.result(status)?;
        Ok(out.offsets)
    }

    /// Stops the task.
    pub fn stop(&mut self) -> Result<(), ConnectError> {
        let mut out = CallOutput::default();
        let ffi = out.ffi();
        // SAFETY: live instance and output valid for the call.
        let status = unsafe { (self.vtable.stop)(self.instance, &ffi) };
        out.result(status)
    }

    /// The plugin this task comes from.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }
}

impl Drop for SinkTaskInstance {
    fn drop(&mut self) {
        // SAFETY: the instance came from `start` and is freed once.
        unsafe { (self.vtable.free)(self.instance) };
    }
}
