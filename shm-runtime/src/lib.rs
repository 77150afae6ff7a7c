//! Typed, validated shared memory.
#![doc = include_str!("../README.md")]

// The derive names this crate `::shm_runtime`, also inside it (the header).
extern crate self as shm_runtime;

// The public API.
mod error;
mod field;
mod invalid;
mod name;
mod options;
mod raw;
mod shared;
mod status;
mod types;
mod writer;

pub mod descriptor;
pub mod evolution;
pub mod header;
pub mod ident;
pub mod layout;
pub mod queue;
pub mod ring;

pub use error::{Error, Result};
pub use evolution::Compat;
pub use field::{Access, Field, ReadOnly, ReadWrite, Scalar, SharedLayout, ShmSafe};
pub use invalid::Invalid;
pub use layout::{EnumDesc, FieldDesc, LayoutDesc, Prim, TypeDesc, VariantDesc};
pub use name::SegmentId;
pub use options::{DEFAULT_MODE, DEFAULT_OPEN_TIMEOUT, DEFAULT_READ_TIMEOUT, Options};
pub use queue::{Consumer, Producer, Queue};
pub use raw::RawSegment;
pub use ring::{Publisher, Recv, Ring, Subscriber};
pub use shared::Shared;
pub use shm_derive::{SharedEnum, SharedLayout};
pub use status::{HeaderStatus, Status};
pub use types::{FixedStr, SharedEnum, TooLong, Utf16};
pub use writer::TakeOver;

// Internals, each with one job (see the file map in the README).
mod backend;
mod doorbell;
mod escape;
mod handle_lock;
mod image;
mod init;
mod mapping;
mod notify;
mod process;
mod protocol;
mod scratch;
mod stream_region;
mod streams;
mod upgrade;
mod validate;
mod words;

/// For tools and tests: segments as byte images (validate, open a private
/// copy, make the image a creator leaves), name checks, and the escaping of
/// untrusted text for human-readable output.
#[doc(hidden)]
pub mod tools {
    pub use crate::doorbell::{
        Found as DoorbellFound, classify as classify_doorbell, key_of as doorbell_key,
        remove as remove_doorbell, sweep as remove_orphaned_doorbells,
    };
    pub use crate::escape::{Escaped, EscapedBytes, escape, is_plain};
    pub use crate::image::{open_image, segment_image, validate_bytes, validate_bytes_untyped};
    pub use crate::name::{POSIX_NAME_MAX, posix as check_posix_name};
}

/// Test hooks, for tests of readers and other languages' clients: they
/// let a test put a segment in states that only a crash produces.
#[cfg(feature = "test-util")]
pub mod test_util {
    use crate::{ReadWrite, Result, Shared, SharedLayout};

    /// Does what a writer does in the middle of a write, and stops there:
    /// marks the copy the write goes to (the one that does not hold the
    /// latest value: writes alternate, and the first write of a new segment
    /// goes to the backup) as being written and stores the first `len`
    /// bytes of `next` into it (whole 8-byte words, the last one merged).
    /// The write never finishes: readers go on reading the other copy, and
    /// a writer that takes over after this process dies restores the torn
    /// one (its `TakeOver` says the write was lost). The handle must hold
    /// write access ([`crate::Error::NotWriter`]).
    pub fn begin_torn_write<T: SharedLayout>(
        seg: &Shared<T, ReadWrite>,
        next: &T,
        len: usize,
    ) -> Result<()> {
        seg.begin_torn_write(next, len)
    }
}

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
