use shm_runtime::{Ring, SharedLayout};

#[derive(SharedLayout)]
#[repr(C)]
pub struct Robot {
    pub state: u64,
    pub events: Ring<u32, 1000>,
}

fn main() {}
