use shm_runtime::{SharedEnum, SharedLayout};

#[derive(SharedEnum, Clone, Copy)]
#[repr(u8)]
pub enum Mode {
    Idle = 0,
    Running = 1,
}

mod v2 {
    use shm_runtime::SharedEnum;

    // `Running` is gone: a segment written by v1 may still hold it.
    #[derive(SharedEnum, Clone, Copy)]
    #[repr(u8)]
    pub enum Mode {
        Idle = 0,
        Fault = 2,
    }
}

#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "Machine")]
pub struct MachineV1 {
    pub mode: Mode,
}

#[derive(SharedLayout)]
#[repr(C)]
#[shm(version = 2, extends = MachineV1)]
pub struct MachineV2 {
    pub mode: v2::Mode,
}

fn main() {}
