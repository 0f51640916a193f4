//! Test fixture: a descriptor of the current ABI, written by hand, that declares connector kind 7.
//! The worker must read the kind as an integer and refuse the library, calling nothing in it.

use std::ffi::c_void;

use ferry_api::abi::{
    ConnectorVTable, FfiHost, FfiOutput, FfiSlice, HostConnectorContext, PluginDescriptor,
    ABI_VERSION, STATUS_FATAL,
};

const fn text(s: &'static str) -> FfiSlice {
    FfiSlice {
        ptr: s.as_ptr(),
        len: s.len(),
    }
}

// Entry points that must never be called: the worker refuses the library before.
extern "C" fn init(_: *const FfiHost) {}
extern "C" fn new(_: FfiSlice, _: HostConnectorContext) -> *mut c_void {
    std::ptr::null_mut()
}
extern "C" fn free(_: *mut c_void) {}
extern "C" fn start(_: *mut c_void, _: FfiSlice, _: *const FfiOutput) -> i32 {
    STATUS_FATAL
}
extern "C" fn task_configs(_: *mut c_void, _: u32, _: *const FfiOutput) -> i32 {
    STATUS_FATAL
}
extern "C" fn stop(_: *mut c_void, _: *const FfiOutput) -> i32 {
    STATUS_FATAL
}
extern "C" fn validate(_: FfiSlice, _: *const FfiOutput) -> i32 {
    STATUS_FATAL
}

static DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    abi_version: ABI_VERSION,
    struct_size: std::mem::size_of::<PluginDescriptor>(),
    kind: 7,
    class_name: text("ferry.test.BadKindConnector"),
    aliases: text("BadKindConnector,BadKind"),
    version: text("0.0.1"),
    config_schema: text("{}"),
    init,
    connector: ConnectorVTable {
        new,
        free,
        start,
        task_configs,
        stop,
        validate,
    },
    source_task: std::ptr::null(),
    sink_task: std::ptr::null(),
};

/// The current ABI version.
// Deliberately hand-written: this is the plugin boundary, faked.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn ferry_plugin_abi_version() -> u32 {
    ABI_VERSION
}

/// The descriptor with the impossible kind.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn ferry_plugin_descriptor_v2() -> *const PluginDescriptor {
    &DESCRIPTOR
}
