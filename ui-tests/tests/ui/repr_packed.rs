use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C, packed)]
pub struct MySharedData {
    pub value: i32,
    pub letter: u16,
}

fn main() {}
