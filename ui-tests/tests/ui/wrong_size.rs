use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
#[shm(size = 200)]
pub struct MySharedData {
    pub value: i32,
    pub letter: u16,
    pub _pad: [u8; 2],
    pub numbers: [f32; 50],
}

fn main() {}
