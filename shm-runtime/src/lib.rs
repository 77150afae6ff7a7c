//! Typed, validated shared memory.
#![doc = include_str!("../README.md")]

// The derive names items through `::shm_runtime::...`, also inside this crate
// (the segment header is a `#[derive(SharedLayout)]` struct).
extern crate self as shm_runtime;

mod backend;
pub mod descriptor;
pub mod error;
pub mod evolution;
pub mod field;
pub mod header;
pub mod layout;
pub mod name;
mod notify;
pub mod protocol;
mod segment;
pub mod status;
pub mod writer;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use backend::Disposition;
pub use error::{Error, Result};
pub use evolution::Compat;
pub use field::{Access, Field, ReadOnly, ReadWrite, Scalar};
pub use layout::{FieldDesc, LayoutDesc, Prim, SharedLayout, ShmSafe, TypeDesc};
pub use name::SegmentId;
pub use segment::{
    DEFAULT_MODE, DEFAULT_OPEN_TIMEOUT, DEFAULT_READ_TIMEOUT, Options, RawSegment, Shared,
};
pub use segment::{open_image, segment_image, validate_bytes, validate_bytes_untyped};
pub use shm_derive::SharedLayout;
pub use status::{HeaderStatus, Status};
pub use writer::TakeOver;
