use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
#[shm(align = 8)]
pub struct MySharedData {
    pub value: i32,
    pub numbers: [f32; 3],
}

fn main() {}
