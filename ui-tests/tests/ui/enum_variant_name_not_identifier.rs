use shm_runtime::SharedEnum;

#[derive(SharedEnum, Clone, Copy)]
#[repr(u8)]
pub enum Mode {
    Idle__Now = 0,
}

fn main() {}
