//! Segments as byte images: validating bytes exactly as an opener
//! validates a mapping ([`validate_bytes`], [`validate_bytes_untyped`]),
//! opening a private copy of them ([`open_image`]), and making the image a
//! creator leaves ([`segment_image`]). For tests, fuzzing, and checking a
//! saved image.

use std::time::{Duration, Instant};

use crate::backend;
use crate::descriptor;
use crate::error::Result;
use crate::evolution;
use crate::field::{ReadOnly, SharedLayout};
use crate::header::{HEADER_SIZE, Header, Plan, STATE_READY};
use crate::init;
use crate::layout::encode_descriptor;
use crate::mapping::Mapping;
use crate::name::SegmentId;
use crate::options::{self, OpenMode};
use crate::shared::Shared;
use crate::validate::{self, slice_reader};

/// Validates `bytes` as if they were a mapped segment holding a `T`, with
/// exactly the checks [`Options::open`](crate::Options::open) makes on a real mapping (the same
/// code): size, magic, header version, state, flags, schema name, every
/// offset and size against `bytes.len()`, the schema (name, version,
/// fingerprint, size, alignment) and the descriptor, accepting what
/// [`Options::open_read_only`](crate::Options::open_read_only) accepts (a newer version of `T`'s schema of
/// which `T` is a prefix, too). Returns the header.
///
/// It never waits: a header whose `state` is still 0 gives
/// [`Error::NotInitialized`](crate::Error::NotInitialized). It never panics and allocates at most a
/// copy of the descriptor (bounded by `bytes.len()` and
/// [`header::MAX_DESCRIPTOR_LEN`](crate::header::MAX_DESCRIPTOR_LEN)), whatever the bytes say.
pub fn validate_bytes<T: SharedLayout>(bytes: &[u8]) -> Result<Header> {
    let (header, found) =
        validate::image::<T>(IMAGE_NAME, bytes.len() as u64, &mut slice_reader(bytes))?;
    evolution::admit(IMAGE_NAME, &header, found, &T::LAYOUT, true, false)?;
    Ok(header)
}

/// Like [`validate_bytes`] without a Rust type, as [`RawSegment::open`](crate::RawSegment::open)
/// checks a segment: the header, then the descriptor (decoded, strictly
/// validated, hashed against the header's fingerprint). Returns both.
pub fn validate_bytes_untyped(bytes: &[u8]) -> Result<(Header, descriptor::Schema)> {
    let (header, desc) =
        validate::header_and_descriptor(IMAGE_NAME, bytes.len() as u64, &mut slice_reader(bytes))?;
    let schema = descriptor::from_segment(&header, &desc).map_err(|e| e.into_error(IMAGE_NAME))?;
    Ok((header, schema))
}

/// Opens a private copy of `bytes` as a read-only segment holding a `T`,
/// through the same open path as a real segment (validation, payload
/// placement, the snapshot protocol), so that [`Shared::read`] gives the
/// snapshot a real opener would get. For tests, fuzzing, and checking a
/// saved image. Nobody writes the copy, so a write recorded as in progress
/// in the image never finishes: `read` then fails at once with
/// [`Error::Timeout`](crate::Error::Timeout) rather than waiting.
pub fn open_image<T: SharedLayout>(bytes: &[u8]) -> Result<Shared<T, ReadOnly>> {
    // Reject before copying, so only a plausible segment is copied.
    validate_bytes::<T>(bytes)?;
    let map = Mapping::new(
        Box::new(backend::memory::image(IMAGE_NAME, bytes)?),
        IMAGE_NAME.to_owned(),
        SegmentId::Memory,
    );
    let mode = OpenMode {
        read_only: true,
        upgrade: false,
        initial: None,
        writer_wait: Duration::ZERO,
    };
    let (header, compat) = options::attach::<T>(&map, Instant::now(), Duration::ZERO, &mode)?;
    Shared::from_mapping(map, header, compat, Duration::ZERO)
}

/// The bytes a creator leaves in a new segment holding `value`, once it is
/// initialised: header (state ready, this process as creator), descriptor
/// and payload, laid out exactly as [`Options::open_with`](crate::Options::open_with) lays them out.
/// For tests and fuzzing: a valid image to mutate, check with
/// [`validate_bytes`] and open with [`open_image`].
///
/// # Panics
///
/// If `T`'s segment does not fit in the address space (`Options::open`
/// reports that as [`Error::NoSpace`](crate::Error::NoSpace)).
pub fn segment_image<T: SharedLayout>(value: &T) -> Vec<u8> {
    let descriptor = encode_descriptor(&T::LAYOUT);
    let plan = Plan::with_capacity(&T::LAYOUT, descriptor.len(), T::CAPACITY)
        .expect("the schema's segment fits in the address space");
    let header = Header {
        state: STATE_READY,
        ..init::new_header::<T>(&plan)
    };
    let mut out = vec![0u8; plan.segment_size];
    out[..HEADER_SIZE].copy_from_slice(&header.encode());
    out[plan.descriptor_offset..][..descriptor.len()].copy_from_slice(&descriptor);
    for at in [plan.payload_offset, plan.backup_offset] {
        // SAFETY: `T: ShmSafe` has no padding, so all `size_of::<T>()` bytes
        // of `*value` are initialised; `out` has room for them at both
        // copies' offsets.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (value as *const T).cast::<u8>(),
                out.as_mut_ptr().add(at),
                plan.payload_size,
            );
        }
    }
    out
}

/// The display name of segments checked by [`validate_bytes`] and [`open_image`].
const IMAGE_NAME: &str = "memory:<image>";
