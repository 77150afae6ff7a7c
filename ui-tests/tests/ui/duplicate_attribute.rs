use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
#[shm(version = 2, version = 3)]
pub struct Counter {
    pub count: u32,
}

fn main() {}
