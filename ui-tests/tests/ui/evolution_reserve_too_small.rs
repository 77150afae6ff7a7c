use shm_runtime::SharedLayout;

// `reserve` is the room for the whole payload, not extra room.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(reserve = 16)]
pub struct Sensor {
    pub count: u64,
    pub samples: [f32; 8],
}

fn main() {}
