use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct Buffer<T> {
    pub data: [T; 16],
}

fn main() {}
