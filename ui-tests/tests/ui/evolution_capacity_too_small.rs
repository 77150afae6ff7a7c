use shm_runtime::SharedLayout;

// `capacity` is the room for the whole payload, not extra room.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(capacity = 16)]
pub struct Sensor {
    pub count: u64,
    pub samples: [f32; 8],
}

fn main() {}
