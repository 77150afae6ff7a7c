use shm_runtime::{FixedStr, SharedLayout};

#[derive(SharedLayout)]
#[repr(C)]
pub struct Label {
    pub text: FixedStr<65536>,
}

fn main() {}
