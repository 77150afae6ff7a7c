use shm_runtime::{Ring, SharedLayout};

#[derive(SharedLayout, Clone, Copy)]
#[repr(C)]
pub struct Inner {
    pub more: Ring<u32, 4>,
}

#[derive(SharedLayout)]
#[repr(C)]
pub struct Outer {
    pub events: Ring<Inner, 8>,
}

fn main() {}
