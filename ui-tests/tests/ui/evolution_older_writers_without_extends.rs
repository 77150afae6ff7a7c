use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
#[shm(version = 2, older_writers)]
pub struct Sensor {
    pub count: u64,
}

fn main() {}
