use shm_runtime::SharedLayout;

pub struct NotASchema {
    pub count: u32,
}

#[derive(SharedLayout)]
#[repr(C)]
#[shm(version = 2, extends = NotASchema)]
pub struct SensorV2 {
    pub count: u32,
}

fn main() {}
