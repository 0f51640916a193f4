//! The C boundary between the worker and a connector library, and its version.
//!
//! Rust has no stable ABI, so only `repr(C)` data and `extern "C"` functions cross: borrowed byte
//! slices, never owned Rust types. Memory is freed by the side that allocated it: whatever a call
//! hands over is borrowed for the duration of that call and copied by the receiver. Results travel
//! back through the host-owned [`FfiOutput`] callbacks. Every plugin entry point catches panics and
//! returns [`STATUS_PANIC`] instead of unwinding into the worker.
//!
//! The handshake: a library exports [`ABI_VERSION_SYMBOL`] (a function returning the ABI version it
//! was built against, the same symbol in every version) and [`DESCRIPTOR_SYMBOL`] (the versioned,
//! prefixed entry point). The worker reads the version first and touches nothing else unless it
//! matches [`ABI_VERSION`].
//!
//! Where the worker must check what a foreign library declares, the field's type accepts any bit
//! pattern, so reading it is never undefined behaviour: the plugin kind is a plain `u32`
//! ([`PLUGIN_KIND_SOURCE`], [`PLUGIN_KIND_SINK`]) and the task tables are nullable pointers. The
//! worker refuses a library whose kind is unknown or whose table for that kind is null.
//!
//! A running connector reaches the worker through a [`HostConnectorContext`]: an opaque handle and
//! callbacks that look it up, so a copy kept past the connector's life (say, by a background
//! thread) gets [`STATUS_STOPPED`] instead of touching freed memory.
//!
//! ABI 2 changed the descriptor (kind as an integer, task tables behind pointers) and the
//! connector context (a handle instead of a pointer); a library built for ABI 1 is refused.
//! ABI 3 added transformation and predicate libraries (the connector table behind a pointer too,
//! and a transform table), payload formats on source records and the original topic and
//! partition on sink records that a transformation renamed.
//!
//! Connector authors never use this module directly: [`crate::export_source!`] and
//! [`crate::export_sink!`] generate the exports. This is the only module of the API with `unsafe`.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::time::Duration;

use serde_json::Value;

use crate::config::{ConfigIssue, ConnectorConfig};
use crate::data::PayloadFormat;
use crate::transform::{Predicate, Transformation};
use crate::{
    ConfigMap, ConnectError, Connector, ConnectorContext, Header, OffsetReader, RecordMetadata,
    SinkConnector, SinkRecord, SinkTask, SourceConnector, SourceOffset, SourceRecord, SourceTask,
    TaskContext, TopicPartition, TopicPartitionOffset,
};

/// The ABI this crate speaks. Bump it on any change to a `repr(C)` type or entry point below.
pub const ABI_VERSION: u32 = 3;
/// Unversioned symbol: `extern "C" fn() -> u32` returning the library's ABI version.
pub const ABI_VERSION_SYMBOL: &str = "ferry_plugin_abi_version";
/// Versioned entry symbol: `extern "C" fn() -> *const PluginDescriptor`.
pub const DESCRIPTOR_SYMBOL: &str = "ferry_plugin_descriptor_v3";

/// The call succeeded.
pub const STATUS_OK: i32 = 0;
/// A configuration value is wrong.
pub const STATUS_CONFIG: i32 = 1;
/// A transient failure.
pub const STATUS_RETRIABLE: i32 = 2;
/// A permanent failure.
pub const STATUS_FATAL: i32 = 3;
/// The connector panicked; the panic was caught at the boundary.
pub const STATUS_PANIC: i32 = 4;
/// A [`HostConnectorContext`] callback named a connector the worker has stopped or freed.
pub const STATUS_STOPPED: i32 = 5;
/// One record's data cannot be handled ([`ConnectError::Data`]).
pub const STATUS_DATA: i32 = 6;

/// Borrowed bytes. A null `ptr` means "absent" (a null key or value), distinct from empty.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FfiSlice {
    /// Start of the bytes, or null when absent.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl FfiSlice {
    /// Borrows `bytes` for the duration of a call.
    pub fn new(bytes: &[u8]) -> Self {
        FfiSlice {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// Borrows optional bytes; `None` becomes a null slice.
    pub fn optional(bytes: Option<&[u8]>) -> Self {
        bytes.map_or(Self::absent(), Self::new)
    }

    /// The absent value.
    pub const fn absent() -> Self {
        FfiSlice {
            ptr: ptr::null(),
            len: 0,
        }
    }

    /// The bytes, or `None` when absent.
    ///
    /// # Safety
    /// `ptr` must be null or point to `len` readable bytes that outlive `'a`.
    pub unsafe fn as_option<'a>(&self) -> Option<&'a [u8]> {
        if self.ptr.is_null() {
            None
        } else {
            // SAFETY: the caller guarantees ptr..ptr+len is readable for 'a.
            Some(unsafe { std::slice::from_raw_parts(self.ptr, self.len) })
        }
    }

    /// The bytes; absent reads as empty.
    ///
    /// # Safety
    /// As for [`FfiSlice::as_option`].
    pub unsafe fn as_bytes<'a>(&self) -> &'a [u8] {
        // SAFETY: forwarded to the caller's guarantee.
        unsafe { self.as_option() }.unwrap_or_default()
    }

    /// The bytes as text, invalid UTF-8 replaced.
    ///
    /// # Safety
    /// As for [`FfiSlice::as_option`].
    pub unsafe fn to_string_lossy(&self) -> String {
        // SAFETY: forwarded to the caller's guarantee.
        String::from_utf8_lossy(unsafe { self.as_bytes() }).into_owned()
    }
}

/// One header, borrowed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FfiHeader {
    /// UTF-8 name.
    pub name: FfiSlice,
    /// Value bytes.
    pub value: FfiSlice,
}

/// A source record, borrowed for the duration of [`FfiOutput::source_record`].
#[repr(C)]
#[derive(Debug)]
pub struct FfiSourceRecord {
    /// Source partition as a JSON object; empty bytes mean `{}`.
    pub source_partition: FfiSlice,
    /// Source offset as a JSON object; empty bytes mean `{}`.
    pub source_offset: FfiSlice,
    /// Destination topic, UTF-8.
    pub topic: FfiSlice,
    /// Destination partition, or -1 for the partitioner's choice.
    pub partition: i32,
    /// Key, null when absent.
    pub key: FfiSlice,
    /// Value, null when absent.
    pub value: FfiSlice,
    /// Headers array.
    pub headers: *const FfiHeader,
    /// Number of headers.
    pub headers_len: usize,
    /// Timestamp in ms, or -1 to let Kafka stamp it.
    pub timestamp_ms: i64,
    /// The number the worker quotes back in `commit_record`.
    pub sequence: u64,
    /// How to read the key: [`PAYLOAD_BYTES`] or [`PAYLOAD_JSON`].
    pub key_format: u32,
    /// How to read the value: [`PAYLOAD_BYTES`] or [`PAYLOAD_JSON`].
    pub value_format: u32,
}

/// Opaque bytes.
pub const PAYLOAD_BYTES: u32 = 0;
/// JSON text.
pub const PAYLOAD_JSON: u32 = 1;

/// The format code of a [`PayloadFormat`].
pub fn format_code(format: PayloadFormat) -> u32 {
    match format {
        PayloadFormat::Bytes => PAYLOAD_BYTES,
        PayloadFormat::Json => PAYLOAD_JSON,
    }
}

/// The [`PayloadFormat`] of a code; unknown codes are bytes, which every consumer can take.
pub fn format_of(code: u32) -> PayloadFormat {
    match code {
        PAYLOAD_JSON => PayloadFormat::Json,
        _ => PayloadFormat::Bytes,
    }
}

/// A sink record, borrowed for the duration of `put`.
#[repr(C)]
#[derive(Debug)]
pub struct FfiSinkRecord {
    /// Kafka topic, UTF-8.
    pub topic: FfiSlice,
    /// Kafka partition.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
    /// Key, null when absent.
    pub key: FfiSlice,
    /// Value, null when absent.
    pub value: FfiSlice,
    /// Headers array.
    pub headers: *const FfiHeader,
    /// Number of headers.
    pub headers_len: usize,
    /// Timestamp in ms, or -1 when Kafka had none.
    pub timestamp_ms: i64,
    /// The topic the record was read from when a transformation renamed it; null otherwise.
    pub original_topic: FfiSlice,
    /// The partition it was read from when `original_topic` is set.
    pub original_partition: i32,
}

/// Where Kafka stored a source record.
#[repr(C)]
#[derive(Debug)]
pub struct FfiRecordMetadata {
    /// Kafka topic, UTF-8.
    pub topic: FfiSlice,
    /// Kafka partition.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
    /// Timestamp in ms, or -1 when unknown.
    pub timestamp_ms: i64,
}

/// A topic, partition and offset (offset ignored where only partitions matter).
#[repr(C)]
#[derive(Debug)]
pub struct FfiTopicPartitionOffset {
    /// Kafka topic, UTF-8.
    pub topic: FfiSlice,
    /// Partition.
    pub partition: i32,
    /// Offset of the next record to read.
    pub offset: i64,
}

/// Host-owned callbacks through which a plugin call returns its results. Valid during the call.
#[repr(C)]
#[derive(Debug)]
pub struct FfiOutput {
    /// Host state handed back to every callback.
    pub ctx: *mut c_void,
    /// The error message of a failed call (UTF-8).
    pub error: unsafe extern "C" fn(ctx: *mut c_void, message: FfiSlice),
    /// A JSON document answering the call (task configs, validation issues).
    pub json: unsafe extern "C" fn(ctx: *mut c_void, json: FfiSlice),
    /// One record from `poll`.
    pub source_record: unsafe extern "C" fn(ctx: *mut c_void, record: *const FfiSourceRecord),
    /// One offset from `pre_commit`.
    pub offset: unsafe extern "C" fn(ctx: *mut c_void, offset: *const FfiTopicPartitionOffset),
    /// A record `put` could not write: its position and the reason (UTF-8).
    pub errant_record: unsafe extern "C" fn(
        ctx: *mut c_void,
        record: *const FfiTopicPartitionOffset,
        reason: FfiSlice,
    ),
}

/// Services the worker offers every plugin, given once at load.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FfiHost {
    /// Most verbose level the worker will print: 1 error .. 5 trace.
    pub max_level: u8,
    /// Writes one log line: level 1 error .. 5 trace, target and message as UTF-8, valid for the
    /// call.
    pub log: unsafe extern "C" fn(level: u8, target: FfiSlice, message: FfiSlice),
}

/// Callbacks a connector may call at any time, from any thread, for as long as it likes.
///
/// `handle` is opaque: the worker looks it up on every call. While the connector runs, the calls
/// reach it; once the worker has stopped or freed the connector they return [`STATUS_STOPPED`].
/// So a copy that outlives the connector is harmless, and the context holds no pointer at all.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HostConnectorContext {
    /// Names the connector instance to the worker.
    pub handle: u64,
    /// Asks for `task_configs` to be called again; returns a status.
    pub request_task_reconfiguration: extern "C" fn(handle: u64) -> i32,
    /// Reports an error found outside a call (UTF-8, valid for the call); returns a status.
    pub raise_error: unsafe extern "C" fn(handle: u64, message: FfiSlice) -> i32,
}

impl HostConnectorContext {
    pub(crate) fn request_task_reconfiguration(&self) -> i32 {
        (self.request_task_reconfiguration)(self.handle)
    }

    pub(crate) fn raise_error(&self, message: &str) -> i32 {
        // SAFETY: the message is borrowed for the call; the worker copies it.
        unsafe { (self.raise_error)(self.handle, FfiSlice::new(message.as_bytes())) }
    }
}

/// [`PluginDescriptor::kind`] of a source connector.
pub const PLUGIN_KIND_SOURCE: u32 = 1;
/// [`PluginDescriptor::kind`] of a sink connector.
pub const PLUGIN_KIND_SINK: u32 = 2;
/// [`PluginDescriptor::kind`] of a transformation library.
pub const PLUGIN_KIND_TRANSFORMATION: u32 = 3;
/// [`PluginDescriptor::kind`] of a predicate library.
pub const PLUGIN_KIND_PREDICATE: u32 = 4;

/// Entry points of the connector itself.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ConnectorVTable {
    /// Creates an idle connector; null if construction panicked.
    pub new: unsafe extern "C" fn(name: FfiSlice, context: HostConnectorContext) -> *mut c_void,
    /// Frees a connector made by `new`.
    pub free: unsafe extern "C" fn(connector: *mut c_void),
    /// Starts it with a JSON object of string values.
    pub start: unsafe extern "C" fn(
        connector: *mut c_void,
        config_json: FfiSlice,
        out: *const FfiOutput,
    ) -> i32,
    /// Writes a JSON array of task config objects through `out.json`.
    pub task_configs:
        unsafe extern "C" fn(connector: *mut c_void, max_tasks: u32, out: *const FfiOutput) -> i32,
    /// Stops it.
    pub stop: unsafe extern "C" fn(connector: *mut c_void, out: *const FfiOutput) -> i32,
    /// Writes a JSON array of `{field, message}` issues through `out.json`.
    pub validate: unsafe extern "C" fn(config_json: FfiSlice, out: *const FfiOutput) -> i32,
}

/// Entry points of a source task.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SourceTaskVTable {
    /// Starts a task; null on failure, with the error written to `out`.
    pub start: unsafe extern "C" fn(
        connector: FfiSlice,
        task: u32,
        config_json: FfiSlice,
        offsets_json: FfiSlice,
        out: *const FfiOutput,
    ) -> *mut c_void,
    /// Frees a task made by `start`.
    pub free: unsafe extern "C" fn(task: *mut c_void),
    /// Writes available records through `out.source_record`.
    pub poll:
        unsafe extern "C" fn(task: *mut c_void, timeout_ms: u64, out: *const FfiOutput) -> i32,
    /// Kafka acknowledged the record numbered `sequence`.
    pub commit_record: unsafe extern "C" fn(
        task: *mut c_void,
        sequence: u64,
        metadata: *const FfiRecordMetadata,
        out: *const FfiOutput,
    ) -> i32,
    /// Offsets were committed.
    pub commit: unsafe extern "C" fn(task: *mut c_void, out: *const FfiOutput) -> i32,
    /// Stops the task.
    pub stop: unsafe extern "C" fn(task: *mut c_void, out: *const FfiOutput) -> i32,
}

/// Entry points of a sink task.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SinkTaskVTable {
    /// Starts a task; null on failure, with the error written to `out`.
    pub start: unsafe extern "C" fn(
        connector: FfiSlice,
        task: u32,
        config_json: FfiSlice,
        out: *const FfiOutput,
    ) -> *mut c_void,
    /// Frees a task made by `start`.
    pub free: unsafe extern "C" fn(task: *mut c_void),
    /// Partitions assigned.
    pub open: unsafe extern "C" fn(
        task: *mut c_void,
        partitions: *const FfiTopicPartitionOffset,
        len: usize,
        out: *const FfiOutput,
    ) -> i32,
    /// Partitions revoked.
    pub close: unsafe extern "C" fn(
        task: *mut c_void,
        partitions: *const FfiTopicPartitionOffset,
        len: usize,
        out: *const FfiOutput,
    ) -> i32,
    /// Records to deliver.
    pub put: unsafe extern "C" fn(
        task: *mut c_void,
        records: *const FfiSinkRecord,
        len: usize,
        out: *const FfiOutput,
    ) -> i32,
    /// Writes the offsets safe to commit through `out.offset`.
    pub pre_commit: unsafe extern "C" fn(
        task: *mut c_void,
        offsets: *const FfiTopicPartitionOffset,
        len: usize,
        out: *const FfiOutput,
    ) -> i32,
    /// Stops the task.
    pub stop: unsafe extern "C" fn(task: *mut c_void, out: *const FfiOutput) -> i32,
}

/// Entry points of a transformation or predicate library.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TransformVTable {
    /// Builds an instance from a JSON object of string values; null on failure, with the error
    /// written to `out`.
    pub new: unsafe extern "C" fn(config_json: FfiSlice, out: *const FfiOutput) -> *mut c_void,
    /// Frees an instance made by `new`.
    pub free: unsafe extern "C" fn(instance: *mut c_void),
    /// Runs on one record in the JSON form of [`crate::transform::wire`]. A transformation
    /// writes the resulting record, or `null` to drop it, through `out.json`; a predicate writes
    /// `true` or `false`.
    pub call: unsafe extern "C" fn(
        instance: *mut c_void,
        record_json: FfiSlice,
        out: *const FfiOutput,
    ) -> i32,
    /// Writes a JSON array of `{field, message}` issues through `out.json`.
    pub validate: unsafe extern "C" fn(config_json: FfiSlice, out: *const FfiOutput) -> i32,
}

/// What a connector library describes about itself. Lives as long as the library (forever).
#[repr(C)]
#[derive(Debug)]
pub struct PluginDescriptor {
    /// Must equal [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<PluginDescriptor>()` in the plugin, checked by the host.
    pub struct_size: usize,
    /// [`PLUGIN_KIND_SOURCE`], [`PLUGIN_KIND_SINK`], [`PLUGIN_KIND_TRANSFORMATION`] or
    /// [`PLUGIN_KIND_PREDICATE`]; an integer, since a foreign library may
    /// hold any value here and the worker must be able to read it to refuse it.
    pub kind: u32,
    /// Full class name, e.g. `ferry.mqtt.MqttSourceConnector`.
    pub class_name: FfiSlice,
    /// Short names, comma-separated, e.g. `MqttSourceConnector,MqttSource`.
    pub aliases: FfiSlice,
    /// The connector's version.
    pub version: FfiSlice,
    /// JSON Schema of the connector's configuration.
    pub config_schema: FfiSlice,
    /// Called once after loading, before anything else.
    pub init: unsafe extern "C" fn(host: *const FfiHost),
    /// Connector entry points, 'static; non-null for source and sink libraries.
    pub connector: *const ConnectorVTable,
    /// Source task entry points, 'static; non-null when `kind` is [`PLUGIN_KIND_SOURCE`].
    pub source_task: *const SourceTaskVTable,
    /// Sink task entry points, 'static; non-null when `kind` is [`PLUGIN_KIND_SINK`].
    pub sink_task: *const SinkTaskVTable,
    /// Transformation or predicate entry points, 'static; non-null when `kind` is
    /// [`PLUGIN_KIND_TRANSFORMATION`] or [`PLUGIN_KIND_PREDICATE`].
    pub transform: *const TransformVTable,
}

/// Never called. rustc checks FFI safety only of what an `extern "C"` signature takes or returns
/// by value, not of what a pointer points to; taking every boundary type by value here makes it
/// check them all (an `Option` of a table, as in ABI 1, would fail the build).
#[deny(improper_ctypes_definitions)]
#[allow(dead_code)]
extern "C" fn every_boundary_type_is_ffi_safe(
    _: PluginDescriptor,
    _: SourceTaskVTable,
    _: SinkTaskVTable,
    _: TransformVTable,
    _: FfiHost,
    _: FfiOutput,
    _: FfiSourceRecord,
    _: FfiSinkRecord,
    _: FfiRecordMetadata,
) {
}

// SAFETY: a descriptor is built once, leaked, never mutated, and points only to 'static data
// (strings, leaked task tables) and to entry points that may be called from any thread (one
// thread per instance at a time).
unsafe impl Send for PluginDescriptor {}
// SAFETY: as above.
unsafe impl Sync for PluginDescriptor {}

/// A descriptor pointer that may sit in a `static`: descriptors are immutable once built.
#[derive(Debug, Clone, Copy)]
pub struct DescriptorPtr(pub *const PluginDescriptor);
// SAFETY: the descriptor is leaked, never mutated after construction, and only read.
unsafe impl Send for DescriptorPtr {}
// SAFETY: as above.
unsafe impl Sync for DescriptorPtr {}

// ---------------------------------------------------------------------------------------------
// Plugin side: generic glue monomorphised inside each connector library by the export macros.
// ---------------------------------------------------------------------------------------------

/// Builds the descriptor of a source connector; called once by the exported entry symbol.
pub fn source_descriptor<C: SourceConnector>(class_name: &'static str) -> DescriptorPtr {
    let tasks = SourceTaskVTable {
        start: source_task_start::<C::Task>,
        free: task_free::<SourceTaskState<C::Task>>,
        poll: source_task_poll::<C::Task>,
        commit_record: source_task_commit_record::<C::Task>,
        commit: source_task_commit::<C::Task>,
        stop: source_task_stop::<C::Task>,
    };
    descriptor::<C>(
        class_name,
        PLUGIN_KIND_SOURCE,
        Box::leak(Box::new(tasks)),
        ptr::null(),
    )
}

/// Builds the descriptor of a sink connector; called once by the exported entry symbol.
pub fn sink_descriptor<C: SinkConnector>(class_name: &'static str) -> DescriptorPtr {
    let tasks = SinkTaskVTable {
        start: sink_task_start::<C::Task>,
        free: task_free::<C::Task>,
        open: sink_task_open::<C::Task>,
        close: sink_task_close::<C::Task>,
        put: sink_task_put::<C::Task>,
        pre_commit: sink_task_pre_commit::<C::Task>,
        stop: sink_task_stop::<C::Task>,
    };
    descriptor::<C>(
        class_name,
        PLUGIN_KIND_SINK,
        ptr::null(),
        Box::leak(Box::new(tasks)),
    )
}

fn descriptor<C: Connector>(
    class_name: &'static str,
    kind: u32,
    source_task: *const SourceTaskVTable,
    sink_task: *const SinkTaskVTable,
) -> DescriptorPtr {
    let connector = ConnectorVTable {
        new: connector_new::<C>,
        free: connector_free::<C>,
        start: connector_start::<C>,
        task_configs: connector_task_configs::<C>,
        stop: connector_stop::<C>,
        validate: connector_validate::<C>,
    };
    leak_descriptor(PluginDescriptor {
        abi_version: ABI_VERSION,
        struct_size: std::mem::size_of::<PluginDescriptor>(),
        kind,
        class_name: FfiSlice::new(class_name.as_bytes()),
        aliases: leak_text(aliases_of(class_name).join(",")),
        version: FfiSlice::new(C::version().as_bytes()),
        config_schema: leak_text(crate::config::schema_json::<C::Config>()),
        init: crate::logging::init,
        connector: Box::leak(Box::new(connector)),
        source_task,
        sink_task,
        transform: ptr::null(),
    })
}

fn leak_text(text: String) -> FfiSlice {
    FfiSlice::new(Box::leak(text.into_boxed_str()).as_bytes())
}

fn leak_descriptor(descriptor: PluginDescriptor) -> DescriptorPtr {
    DescriptorPtr(Box::leak(Box::new(descriptor)))
}

/// Builds the descriptor of a transformation; called once by the exported entry symbol.
pub fn transformation_descriptor<T: Transformation>(class_name: &'static str) -> DescriptorPtr {
    let table = TransformVTable {
        new: transform_new::<T>,
        free: task_free::<T>,
        call: transformation_call::<T>,
        validate: transform_validate::<T::Config>,
    };
    transform_descriptor(
        class_name,
        PLUGIN_KIND_TRANSFORMATION,
        T::version(),
        crate::config::schema_json::<T::Config>(),
        table,
    )
}

/// Builds the descriptor of a predicate; called once by the exported entry symbol.
pub fn predicate_descriptor<P: Predicate>(class_name: &'static str) -> DescriptorPtr {
    let table = TransformVTable {
        new: predicate_new::<P>,
        free: task_free::<P>,
        call: predicate_call::<P>,
        validate: transform_validate::<P::Config>,
    };
    transform_descriptor(
        class_name,
        PLUGIN_KIND_PREDICATE,
        P::version(),
        crate::config::schema_json::<P::Config>(),
        table,
    )
}

fn transform_descriptor(
    class_name: &'static str,
    kind: u32,
    version: &'static str,
    config_schema: String,
    table: TransformVTable,
) -> DescriptorPtr {
    let simple = class_name.rsplit('.').next().unwrap_or(class_name);
    leak_descriptor(PluginDescriptor {
        abi_version: ABI_VERSION,
        struct_size: std::mem::size_of::<PluginDescriptor>(),
        kind,
        class_name: FfiSlice::new(class_name.as_bytes()),
        aliases: leak_text(simple.to_string()),
        version: FfiSlice::new(version.as_bytes()),
        config_schema: leak_text(config_schema),
        init: crate::logging::init,
        connector: ptr::null(),
        source_task: ptr::null(),
        sink_task: ptr::null(),
        transform: Box::leak(Box::new(table)),
    })
}

/// Kafka Connect's aliases: the simple class name, and without its `Connector` suffix.
pub fn aliases_of(class_name: &str) -> Vec<String> {
    let simple = class_name.rsplit('.').next().unwrap_or(class_name);
    let mut aliases = vec![simple.to_string()];
    if let Some(short) = simple.strip_suffix("Connector").filter(|s| !s.is_empty()) {
        aliases.push(short.to_string());
    }
    aliases
}

/// Runs an entry point's body, turning errors and panics into a status and a message in `out`.
fn guarded(out: *const FfiOutput, body: impl FnOnce() -> crate::Result<()>) -> i32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => STATUS_OK,
        Ok(Err(error)) => {
            report(out, &error.to_string());
            match error {
                ConnectError::Config { .. } => STATUS_CONFIG,
                ConnectError::Retriable(_) => STATUS_RETRIABLE,
                ConnectError::Fatal(_) => STATUS_FATAL,
                ConnectError::Data(_) => STATUS_DATA,
            }
        }
        Err(panic) => {
            report(
                out,
                &format!("connector panicked: {}", panic_message(&*panic)),
            );
            STATUS_PANIC
        }
    }
}

fn report(out: *const FfiOutput, message: &str) {
    // SAFETY: the host passes a valid FfiOutput for the whole call (or null, checked here).
    if let Some(out) = unsafe { out.as_ref() } {
        // SAFETY: the callback copies the borrowed message before returning.
        unsafe { (out.error)(out.ctx, FfiSlice::new(message.as_bytes())) };
    }
}

fn write_json(out: *const FfiOutput, value: &Value) {
    let text = value.to_string();
    // SAFETY: the host passes a valid FfiOutput for the whole call.
    if let Some(out) = unsafe { out.as_ref() } {
        // SAFETY: the callback copies the borrowed bytes before returning.
        unsafe { (out.json)(out.ctx, FfiSlice::new(text.as_bytes())) };
    }
}

/// The text of a caught panic payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_string())
}

/// Reads a JSON object of string values (numbers and booleans are stringified).
fn config_from(json: FfiSlice) -> crate::Result<ConfigMap> {
    // SAFETY: the host passes bytes valid for the call.
    let bytes = unsafe { json.as_bytes() };
    let value: serde_json::Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|e| ConnectError::fatal(format!("worker sent an unreadable config: {e}")))?;
    Ok(value
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect())
}

/// # Safety
/// `ptr` must come from `Box::<T>::into_raw` and not be used afterwards.
unsafe fn free_box<T>(ptr: *mut c_void) {
    if !ptr.is_null() {
        // SAFETY: guaranteed by the caller; a panic in Drop is contained.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(ptr as *mut T) })
        }));
    }
}

/// # Safety
/// `ptr` must come from `Box::<T>::into_raw` and be used by one thread at a time.
unsafe fn borrow_mut<'a, T>(ptr: *mut c_void) -> crate::Result<&'a mut T> {
    // SAFETY: guaranteed by the caller.
    unsafe { (ptr as *mut T).as_mut() }
        .ok_or_else(|| ConnectError::fatal("worker passed a null instance"))
}

unsafe extern "C" fn connector_new<C: Connector>(
    name: FfiSlice,
    context: HostConnectorContext,
) -> *mut c_void {
    catch_unwind(|| {
        // SAFETY: the host passes a name valid for the call; it is copied.
        let name = unsafe { name.to_string_lossy() };
        let connector = ConnectorState::<C> {
            connector: C::new(),
            context: ConnectorContext::from_host(name, context),
        };
        Box::into_raw(Box::new(connector)) as *mut c_void
    })
    .unwrap_or(ptr::null_mut())
}

struct ConnectorState<C> {
    connector: C,
    context: ConnectorContext,
}

unsafe extern "C" fn connector_free<C: Connector>(connector: *mut c_void) {
    // SAFETY: the host frees each instance it got from `new` once.
    unsafe { free_box::<ConnectorState<C>>(connector) }
}

unsafe extern "C" fn connector_start<C: Connector>(
    connector: *mut c_void,
    config_json: FfiSlice,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let state = unsafe { borrow_mut::<ConnectorState<C>>(connector) }?;
        let config = config_from(config_json)?;
        let context = state.context.clone();
        state.connector.start(context, &config)
    })
}

unsafe extern "C" fn connector_task_configs<C: Connector>(
    connector: *mut c_void,
    max_tasks: u32,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let state = unsafe { borrow_mut::<ConnectorState<C>>(connector) }?;
        let configs = state.connector.task_configs(max_tasks.max(1) as usize)?;
        let json = serde_json::to_value(&configs).unwrap_or(Value::Null);
        write_json(out, &json);
        Ok(())
    })
}

unsafe extern "C" fn connector_stop<C: Connector>(
    connector: *mut c_void,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let state = unsafe { borrow_mut::<ConnectorState<C>>(connector) }?;
        state.connector.stop();
        Ok(())
    })
}

unsafe extern "C" fn connector_validate<C: Connector>(
    config_json: FfiSlice,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        let config = config_from(config_json)?;
        let issues: Vec<Value> = C::validate(&config)
            .into_iter()
            .map(|ConfigIssue { field, message }| {
                serde_json::json!({"field": field, "message": message})
            })
            .collect();
        write_json(out, &Value::Array(issues));
        Ok(())
    })
}

unsafe extern "C" fn task_free<T>(task: *mut c_void) {
    // SAFETY: the host frees each instance it got from `start` once.
    unsafe { free_box::<T>(task) }
}

/// A source task and the records Kafka has not acknowledged yet, by sequence number.
struct SourceTaskState<T> {
    task: T,
    next_sequence: u64,
    unacknowledged: HashMap<u64, SourceRecord>,
}

fn task_context(connector: FfiSlice, task: u32) -> TaskContext {
    TaskContext {
        // SAFETY: the host passes a name valid for the call; it is copied.
        connector: unsafe { connector.to_string_lossy() },
        task,
    }
}

fn offsets_from(json: FfiSlice) -> crate::Result<OffsetReader> {
    // SAFETY: the host passes bytes valid for the call.
    let bytes = unsafe { json.as_bytes() };
    if bytes.is_empty() {
        return Ok(OffsetReader::default());
    }
    let entries: Vec<Value> = serde_json::from_slice(bytes)
        .map_err(|e| ConnectError::fatal(format!("worker sent unreadable offsets: {e}")))?;
    let object = |v: Option<&Value>| v.and_then(Value::as_object).cloned().unwrap_or_default();
    Ok(OffsetReader::new(entries.iter().map(|e| SourceOffset {
        partition: object(e.get("partition")),
        offset: object(e.get("offset")),
    })))
}

unsafe extern "C" fn source_task_start<T: SourceTask>(
    connector: FfiSlice,
    task: u32,
    config_json: FfiSlice,
    offsets_json: FfiSlice,
    out: *const FfiOutput,
) -> *mut c_void {
    let mut instance = ptr::null_mut();
    guarded(out, || {
        let context = task_context(connector, task);
        let config = config_from(config_json)?;
        let offsets = offsets_from(offsets_json)?;
        let state = SourceTaskState {
            task: T::start(context, &config, &offsets)?,
            next_sequence: 0,
            unacknowledged: HashMap::new(),
        };
        instance = Box::into_raw(Box::new(state)) as *mut c_void;
        Ok(())
    });
    instance
}

fn json_object_bytes(map: &crate::JsonMap) -> Vec<u8> {
    if map.is_empty() {
        Vec::new()
    } else {
        serde_json::to_vec(map).unwrap_or_default()
    }
}

unsafe extern "C" fn source_task_poll<T: SourceTask>(
    task: *mut c_void,
    timeout_ms: u64,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let state = unsafe { borrow_mut::<SourceTaskState<T>>(task) }?;
        // SAFETY: the host passes a valid FfiOutput for the whole call.
        let out = unsafe { out.as_ref() }
            .ok_or_else(|| ConnectError::fatal("worker passed no output"))?;
        for record in state.task.poll(Duration::from_millis(timeout_ms))? {
            let sequence = state.next_sequence;
            state.next_sequence += 1;
            let partition = json_object_bytes(&record.source_partition);
            let offset = json_object_bytes(&record.source_offset);
            let headers: Vec<FfiHeader> = record
                .headers
                .iter()
                .map(|h| FfiHeader {
                    name: FfiSlice::new(h.name.as_bytes()),
                    value: FfiSlice::new(&h.value),
                })
                .collect();
            let ffi = FfiSourceRecord {
                source_partition: FfiSlice::new(&partition),
                source_offset: FfiSlice::new(&offset),
                topic: FfiSlice::new(record.topic.as_bytes()),
                partition: record.partition.unwrap_or(-1),
                key: FfiSlice::optional(record.key.as_deref()),
                value: FfiSlice::optional(record.value.as_deref()),
                headers: headers.as_ptr(),
                headers_len: headers.len(),
                timestamp_ms: record.timestamp_ms.unwrap_or(-1),
                sequence,
                key_format: format_code(record.key_format),
                value_format: format_code(record.value_format),
            };
            // SAFETY: `ffi` and everything it borrows live until the host's copy returns.
            unsafe { (out.source_record)(out.ctx, &ffi) };
            state.unacknowledged.insert(sequence, record);
        }
        Ok(())
    })
}

unsafe extern "C" fn source_task_commit_record<T: SourceTask>(
    task: *mut c_void,
    sequence: u64,
    metadata: *const FfiRecordMetadata,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let state = unsafe { borrow_mut::<SourceTaskState<T>>(task) }?;
        // SAFETY: the host passes valid metadata for the call.
        let metadata = unsafe { metadata.as_ref() }
            .ok_or_else(|| ConnectError::fatal("worker passed no record metadata"))?;
        let metadata = RecordMetadata {
            // SAFETY: the topic bytes are valid for the call; they are copied.
            topic: unsafe { metadata.topic.to_string_lossy() },
            partition: metadata.partition,
            offset: metadata.offset,
            timestamp_ms: (metadata.timestamp_ms >= 0).then_some(metadata.timestamp_ms),
        };
        match state.unacknowledged.remove(&sequence) {
            Some(record) => state.task.commit_record(record, &metadata),
            None => Err(ConnectError::fatal(format!(
                "worker acknowledged unknown record sequence {sequence}"
            ))),
        }
    })
}

unsafe extern "C" fn source_task_commit<T: SourceTask>(
    task: *mut c_void,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let state = unsafe { borrow_mut::<SourceTaskState<T>>(task) }?;
        state.task.commit()
    })
}

unsafe extern "C" fn source_task_stop<T: SourceTask>(
    task: *mut c_void,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let state = unsafe { borrow_mut::<SourceTaskState<T>>(task) }?;
        state.task.stop();
        Ok(())
    })
}

unsafe extern "C" fn sink_task_start<T: SinkTask>(
    connector: FfiSlice,
    task: u32,
    config_json: FfiSlice,
    out: *const FfiOutput,
) -> *mut c_void {
    let mut instance = ptr::null_mut();
    guarded(out, || {
        let context = task_context(connector, task);
        let config = config_from(config_json)?;
        instance = Box::into_raw(Box::new(T::start(context, &config)?)) as *mut c_void;
        Ok(())
    });
    instance
}

/// # Safety
/// `items` must point to `len` valid entries for the call (or be null with `len` 0).
unsafe fn slice_of<'a, T>(items: *const T, len: usize) -> &'a [T] {
    if items.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(items, len) }
    }
}

fn topic_partition_offsets(
    items: *const FfiTopicPartitionOffset,
    len: usize,
) -> Vec<TopicPartitionOffset> {
    // SAFETY: the host passes `len` entries valid for the call; they are copied.
    unsafe { slice_of(items, len) }
        .iter()
        .map(|tpo| TopicPartitionOffset {
            // SAFETY: as above.
            topic: unsafe { tpo.topic.to_string_lossy() },
            partition: tpo.partition,
            offset: tpo.offset,
        })
        .collect()
}

fn topic_partitions(items: *const FfiTopicPartitionOffset, len: usize) -> Vec<TopicPartition> {
    topic_partition_offsets(items, len)
        .into_iter()
        .map(|tpo| TopicPartition {
            topic: tpo.topic,
            partition: tpo.partition,
        })
        .collect()
}

unsafe extern "C" fn sink_task_open<T: SinkTask>(
    task: *mut c_void,
    partitions: *const FfiTopicPartitionOffset,
    len: usize,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let task = unsafe { borrow_mut::<T>(task) }?;
        task.open(&topic_partitions(partitions, len))
    })
}

unsafe extern "C" fn sink_task_close<T: SinkTask>(
    task: *mut c_void,
    partitions: *const FfiTopicPartitionOffset,
    len: usize,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let task = unsafe { borrow_mut::<T>(task) }?;
        task.close(&topic_partitions(partitions, len))
    })
}

unsafe extern "C" fn sink_task_put<T: SinkTask>(
    task: *mut c_void,
    records: *const FfiSinkRecord,
    len: usize,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let task = unsafe { borrow_mut::<T>(task) }?;
        // SAFETY: the host passes `len` records valid for the call; they are copied.
        let records = unsafe { slice_of(records, len) }
            .iter()
            // SAFETY: as above.
            .map(|r| unsafe { sink_record_from(r) })
            .collect();
        let mut errant = crate::ErrantRecords::default();
        let result = task.put(records, &mut errant);
        // SAFETY: the host passes a valid FfiOutput for the whole call.
        if let Some(out) = unsafe { out.as_ref() } {
            for (position, reason) in errant.reports() {
                let ffi = FfiTopicPartitionOffset {
                    topic: FfiSlice::new(position.topic.as_bytes()),
                    partition: position.partition,
                    offset: position.offset,
                };
                // SAFETY: `ffi` and the reason live until the host's copy returns.
                unsafe { (out.errant_record)(out.ctx, &ffi, FfiSlice::new(reason.as_bytes())) };
            }
        }
        result
    })
}

/// # Safety
/// Every slice in `record` must be valid for the call.
unsafe fn sink_record_from(record: &FfiSinkRecord) -> SinkRecord {
    // SAFETY: guaranteed by the caller.
    let headers = unsafe { slice_of(record.headers, record.headers_len) };
    SinkRecord {
        // SAFETY: guaranteed by the caller; everything is copied.
        topic: unsafe { record.topic.to_string_lossy() },
        partition: record.partition,
        offset: record.offset,
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
        // SAFETY: as above.
        original: unsafe { record.original_topic.as_option() }.map(|topic| TopicPartition {
            topic: String::from_utf8_lossy(topic).into_owned(),
            partition: record.original_partition,
        }),
    }
}

unsafe extern "C" fn sink_task_pre_commit<T: SinkTask>(
    task: *mut c_void,
    offsets: *const FfiTopicPartitionOffset,
    len: usize,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let task = unsafe { borrow_mut::<T>(task) }?;
        let safe = task.pre_commit(&topic_partition_offsets(offsets, len))?;
        // SAFETY: the host passes a valid FfiOutput for the whole call.
        let out = unsafe { out.as_ref() }
            .ok_or_else(|| ConnectError::fatal("worker passed no output"))?;
        for tpo in &safe {
            let ffi = FfiTopicPartitionOffset {
                topic: FfiSlice::new(tpo.topic.as_bytes()),
                partition: tpo.partition,
                offset: tpo.offset,
            };
            // SAFETY: `ffi` borrows `safe`, alive until the host's copy returns.
            unsafe { (out.offset)(out.ctx, &ffi) };
        }
        Ok(())
    })
}

unsafe extern "C" fn sink_task_stop<T: SinkTask>(task: *mut c_void, out: *const FfiOutput) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let task = unsafe { borrow_mut::<T>(task) }?;
        task.stop();
        Ok(())
    })
}

unsafe extern "C" fn transform_validate<C: ConnectorConfig>(
    config_json: FfiSlice,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        let config = config_from(config_json)?;
        let issues: Vec<Value> = crate::config::parse_own::<C>(&config)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|ConfigIssue { field, message }| {
                serde_json::json!({"field": field, "message": message})
            })
            .collect();
        write_json(out, &Value::Array(issues));
        Ok(())
    })
}

/// Parses a transformation's or predicate's config; a bad key becomes a config error naming it.
fn parse_transform_config<C: ConnectorConfig>(config_json: FfiSlice) -> crate::Result<C> {
    crate::config::parse_own::<C>(&config_from(config_json)?).map_err(|issues| {
        let issue = issues.into_iter().next();
        let (field, message) = issue.map_or(("config".into(), "invalid".into()), |i| {
            (i.field, i.message)
        });
        ConnectError::config(field, message)
    })
}

/// Builds an instance from its config with `build`, boxed for the host; null on failure, with
/// the error written to `out`. One body for transformations and predicates.
fn boxed_instance<C: ConnectorConfig, T>(
    config_json: FfiSlice,
    out: *const FfiOutput,
    build: fn(C) -> crate::Result<T>,
) -> *mut c_void {
    let mut instance = ptr::null_mut();
    guarded(out, || {
        let built = build(parse_transform_config::<C>(config_json)?)?;
        instance = Box::into_raw(Box::new(built)) as *mut c_void;
        Ok(())
    });
    instance
}

unsafe extern "C" fn transform_new<T: Transformation>(
    config_json: FfiSlice,
    out: *const FfiOutput,
) -> *mut c_void {
    boxed_instance::<T::Config, T>(config_json, out, T::new)
}

unsafe extern "C" fn predicate_new<P: Predicate>(
    config_json: FfiSlice,
    out: *const FfiOutput,
) -> *mut c_void {
    boxed_instance::<P::Config, P>(config_json, out, P::new)
}

fn record_from(record_json: FfiSlice) -> crate::Result<crate::transform::ConnectRecord> {
    // SAFETY: the host passes bytes valid for the call.
    crate::transform::wire::decode(unsafe { record_json.as_bytes() })
}

fn write_text(out: *const FfiOutput, text: &str) {
    // SAFETY: the host passes a valid FfiOutput for the whole call.
    if let Some(out) = unsafe { out.as_ref() } {
        // SAFETY: the callback copies the borrowed bytes before returning.
        unsafe { (out.json)(out.ctx, FfiSlice::new(text.as_bytes())) };
    }
}

unsafe extern "C" fn transformation_call<T: Transformation>(
    instance: *mut c_void,
    record_json: FfiSlice,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let transformation = unsafe { borrow_mut::<T>(instance) }?;
        let outcome = transformation.apply(record_from(record_json)?)?;
        write_text(
            out,
            &crate::transform::wire::encode_outcome(outcome.as_ref())?,
        );
        Ok(())
    })
}

unsafe extern "C" fn predicate_call<P: Predicate>(
    instance: *mut c_void,
    record_json: FfiSlice,
    out: *const FfiOutput,
) -> i32 {
    guarded(out, || {
        // SAFETY: the host calls one instance from one thread at a time.
        let predicate = unsafe { borrow_mut::<P>(instance) }?;
        let matched = predicate.test(&record_from(record_json)?)?;
        write_text(out, if matched { "true" } else { "false" });
        Ok(())
    })
}
