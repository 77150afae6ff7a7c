use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "com.example.telemetry.engine-controller.primary-sensors")]
pub struct Telemetry {
    pub count: u32,
}

fn main() {}
