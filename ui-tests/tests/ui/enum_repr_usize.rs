use shm_runtime::SharedEnum;

#[derive(SharedEnum, Clone, Copy)]
#[repr(usize)]
pub enum Mode {
    Idle = 0,
}

fn main() {}
