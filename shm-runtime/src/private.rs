//! Items used by code that `#[derive(SharedLayout)]` generates. Not a public
//! API: paths and signatures may change in any release.

pub use crate::field::{Access, Field, ReadOnly, ReadWrite};
pub use crate::layout::{FieldDesc, LayoutDesc, ShmSafe, SharedLayout, TypeDesc};
pub use core::convert::From;
pub use core::marker::PhantomData;
pub use core::mem::{align_of, offset_of, size_of};
