use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(align(64))]
pub struct MySharedData {
    pub value: [u8; 64],
}

fn main() {}
