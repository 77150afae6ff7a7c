use shm_runtime::{Field, ReadOnly, SharedLayout};

#[derive(SharedLayout)]
#[repr(C)]
pub struct Flags {
    pub ready: usize,
}

// Code that uses `Flags` as a schema adds no errors of its own.
pub const FINGERPRINT: u64 = <Flags as SharedLayout>::FINGERPRINT;

pub fn fields(field: Field<'_, Flags, ReadOnly>) -> FlagsFields<'_> {
    field.fields()
}

fn main() {}
