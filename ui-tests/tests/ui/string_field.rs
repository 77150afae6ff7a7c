use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct Config {
    pub name: String,
}

fn main() {}
