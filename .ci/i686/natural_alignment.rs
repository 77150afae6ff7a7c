// Compiled for i686 by .ci/i686.sh, which expects it to fail: on i686
// `u64` and `f64` are 4-aligned, so without the derive's natural-alignment
// checks these would compile there with layouts no 64-bit program has
// (`b` at offset 4; a 12-byte struct aligned to 4).
use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct FieldAt4 {
    pub a: u32,
    pub b: u64,
}

#[derive(SharedLayout)]
#[repr(C)]
pub struct Twelve {
    pub a: f64,
    pub b: u32,
}
