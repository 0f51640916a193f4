//! Test fixture: an ordinary shared library that happens to sit on plugin.path.

/// Something a C library might export.
// An ordinary C export, to make this a real shared library with a symbol table.
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn answer() -> u32 {
    42
}
