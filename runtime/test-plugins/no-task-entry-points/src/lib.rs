//! Test fixture: a descriptor of the current ABI, written by hand, that declares a source connector
//! but leaves the source task table null. The worker must refuse the library, calling nothing in
//! it.

use ferry_api::abi::{FfiHost, FfiSlice, PluginDescriptor, ABI_VERSION, PLUGIN_KIND_SOURCE};

const fn text(s: &'static str) -> FfiSlice {
    FfiSlice {
        ptr: s.as_ptr(),
        len: s.len(),
    }
}

extern "C" fn init(_: *const FfiHost) {}

static DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    abi_version: ABI_VERSION,
    struct_size: std::mem::size_of::<PluginDescriptor>(),
    kind: PLUGIN_KIND_SOURCE,
    class_name: text("ferry.test.NoTaskEntryPointsConnector"),
    aliases: text("NoTaskEntryPointsConnector,NoTaskEntryPoints"),
    version: text("0.0.1"),
    config_schema: text("{}"),
    init,
    connector: std::ptr::null(),
    source_task: std::ptr::null(),
    sink_task: std::ptr::null(),
    transform: std::ptr::null(),
};

/// The current ABI version.
// Deliberately hand-written: this is the plugin boundary, faked.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn ferry_plugin_abi_version() -> u32 {
    ABI_VERSION
}

/// The descriptor without task entry points.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn ferry_plugin_descriptor_v3() -> *const PluginDescriptor {
    &DESCRIPTOR
}
