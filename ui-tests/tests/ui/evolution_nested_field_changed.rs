use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "Point")]
pub struct Point3 {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub _pad: [u8; 4],
}

#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "Track")]
pub struct TrackV1 {
    pub count: u32,
    pub _pad: [u8; 4],
    pub at: Point,
}

// A nested struct is part of the type: growing it moves everything after it.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(version = 2, extends = TrackV1)]
pub struct TrackV2 {
    pub count: u32,
    pub _pad: [u8; 4],
    pub at: Point3,
}

fn main() {}
