use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct Sample {
    pub kind: u8,
    pub time: u64,
    pub flag: bool,
    pub tag: [u8; 6],
}

fn main() {}
