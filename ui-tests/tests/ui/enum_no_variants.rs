use shm_runtime::SharedEnum;

#[derive(SharedEnum, Clone, Copy)]
#[repr(u8)]
pub enum Never {}

fn main() {}
