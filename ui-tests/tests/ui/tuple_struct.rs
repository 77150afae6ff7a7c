use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct Pair(pub u32, pub u32);

fn main() {}
