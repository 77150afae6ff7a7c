use shm_runtime::SharedLayout;

pub struct Celsius(pub f32);

#[derive(SharedLayout)]
#[repr(C)]
pub struct Reading {
    pub sequence: u32,
    pub temperature: Celsius,
}

fn main() {}
