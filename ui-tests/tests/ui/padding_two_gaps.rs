use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct Sample {
    pub _pad0: [u8; 2],
    pub a: u16,
    pub b: u8,
    pub c: u32,
    pub d: u16,
    pub e: u64,
}

fn main() {}
