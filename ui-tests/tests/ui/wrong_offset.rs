use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct MySharedData {
    pub value: i32,
    pub letter: u16,
    pub _pad: [u8; 2],
    #[shm(offset = 6)]
    pub numbers: [f32; 50],
}

fn main() {}
