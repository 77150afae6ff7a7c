//! The schema, in one module that both the crate (`src/lib.rs`) and its
//! build script (`build.rs`, through `#[path]`) compile: the bindings the
//! build script generates always describe the struct the crate uses.

use shm_runtime::{FixedStr, SharedLayout};

/// A point in space.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Vec3 {
    /// East.
    pub x: f64,
    /// North.
    pub y: f64,
    /// Up.
    pub z: f64,
}

/// What a vehicle publishes, many times a second.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 72, align = 8)]
pub struct Telemetry {
    /// A counter.
    pub seq: u64,
    /// Where it is.
    pub position: Vec3,
    /// Four temperatures, in degrees Celsius.
    pub temperatures: [f32; 4],
    /// Whether the motors may run.
    pub armed: bool,
    /// A label of at most 14 bytes of UTF-8.
    pub label: FixedStr<14>,
    /// Explicit padding, always zero.
    pub _pad0: [u8; 7],
}
