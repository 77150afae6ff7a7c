use shm_runtime::SharedEnum;

#[derive(SharedEnum, Clone, Copy)]
#[repr(u8)]
pub enum Reading {
    Nothing = 0,
    Celsius(f32) = 1,
    Named { id: u32 } = 2,
}

fn main() {}
