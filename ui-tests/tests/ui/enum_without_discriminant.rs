use shm_runtime::SharedEnum;

#[derive(SharedEnum, Clone, Copy)]
#[repr(u8)]
pub enum Mode {
    Idle = 0,
    Running,
}

fn main() {}
