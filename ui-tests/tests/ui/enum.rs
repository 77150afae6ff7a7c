use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub enum Mode {
    Idle,
    Running,
}

fn main() {}
