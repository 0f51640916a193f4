//! Test fixture: the entry symbols of a library built for Ferry plugin ABI 1, whose descriptor
//! held the plugin kind as a Rust enum and the task tables as `Option`s. The worker must refuse it
//! after reading the version, and tell the operator to rebuild it.

/// Claims ABI 1.
// Deliberately hand-written: this is the plugin boundary, faked.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn ferry_plugin_abi_version() -> u32 {
    1
}

/// ABI 1's descriptor symbol. The worker must never call it; it describes nothing.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn ferry_plugin_descriptor_v1() -> *const u8 {
    std::ptr::null()
}
