use shm_runtime::SharedEnum;

#[derive(SharedEnum)]
#[repr(u8)]
pub enum Mode {
    Idle = 0,
}

fn main() {}
