//! Test fixture: a library that speaks a Ferry plugin ABI from the future. The worker must refuse
//! it with a clear message, without touching anything but the version symbol.

/// Claims ABI 999.
// Deliberately hand-written: this is the plugin boundary, faked.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn ferry_plugin_abi_version() -> u32 {
    999
}
