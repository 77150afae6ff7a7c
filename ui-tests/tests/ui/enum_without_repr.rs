use shm_runtime::SharedEnum;

#[derive(SharedEnum, Clone, Copy)]
pub enum Mode {
    Idle = 0,
    Running = 1,
}

fn main() {}
