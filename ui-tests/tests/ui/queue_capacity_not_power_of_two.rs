use shm_runtime::{Queue, SharedLayout};

#[derive(SharedLayout)]
#[repr(C)]
pub struct Robot {
    pub state: u64,
    pub commands: Queue<u64, 100>,
}

fn main() {}
