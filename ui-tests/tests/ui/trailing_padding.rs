use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct Sample {
    pub timestamp: u64,
    pub x: u16,
}

fn main() {}
