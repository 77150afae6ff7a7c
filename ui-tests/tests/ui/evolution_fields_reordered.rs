use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "Sensor")]
pub struct SensorV1 {
    pub count: u32,
    pub letter: u16,
    pub _pad: [u8; 2],
    pub temperature: f64,
}

#[derive(SharedLayout)]
#[repr(C)]
#[shm(version = 2, extends = SensorV1)]
pub struct SensorV2 {
    pub letter: u16,
    pub _pad: [u8; 2],
    pub count: u32,
    pub temperature: f64,
}

fn main() {}
