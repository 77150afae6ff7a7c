use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(Rust)]
pub struct MySharedData {
    pub value: i32,
}

fn main() {}
