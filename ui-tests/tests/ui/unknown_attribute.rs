use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
#[shm(sise = 4)]
pub struct Counter {
    pub count: u32,
}

fn main() {}
