//! Typed, validated shared memory.
#![doc = include_str!("../README.md")]

pub mod field;
pub mod layout;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use field::{Access, Field, ReadOnly, ReadWrite, Scalar};
pub use layout::{FieldDesc, LayoutDesc, Prim, SharedLayout, ShmSafe, TypeDesc};
pub use shm_derive::SharedLayout;
