use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct MySharedData {
    pub value: i32,
    pub letter: u16,
    pub numbers: [f32; 50],
}

fn main() {}
