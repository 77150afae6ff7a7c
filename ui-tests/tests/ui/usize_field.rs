use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct Counter {
    pub count: usize,
}

fn main() {}
