use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct Flags {
    pub ready: bool,
}

fn main() {}
