//! An example of bindings generated at build time: `build.rs` calls
//! `shm_codegen::write_bindings_for` for the schema of [`schema`] and
//! writes `telemetry.h` (C) and `telemetry.py` (Python) into `OUT_DIR`;
//! the tests compile the header with `gcc` and import the module with
//! `python3`. A project in another language would copy them from
//! [`BINDINGS_DIR`] (or generate them with `shm codegen --descriptor`).

pub mod schema;

pub use schema::{Telemetry, Vec3};

/// Where `build.rs` wrote the bindings (this build's `OUT_DIR`).
pub const BINDINGS_DIR: &str = env!("OUT_DIR");

/// The generated C header.
pub const C_HEADER: &str = include_str!(concat!(env!("OUT_DIR"), "/telemetry.h"));

/// The generated Python module.
pub const PYTHON_MODULE: &str = include_str!(concat!(env!("OUT_DIR"), "/telemetry.py"));
