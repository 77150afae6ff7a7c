//! The one validation of a segment's header and schema, shared by every
//! opener: a live mapping (`Mapping`) and a byte buffer (`image.rs`).
//!
//! Everything is read through a *reader*, `read(at, dst) -> bool`, which
//! copies the bytes at `at..at + dst.len()` of the object into private
//! memory (`false`, copying nothing, if they are not all inside it), and is
//! validated on that private copy: another process changing the bytes
//! meanwhile can only make the result an error or a stale-but-valid
//! header.

use crate::descriptor;
use crate::error::{Error, Result};
use crate::evolution;
use crate::field::SharedLayout;
use crate::header::{HEADER_SIZE, Header, off};

/// Copies `at..at + dst.len()` of an object into `dst` (`false` if outside).
pub(crate) type ReadAt<'a> = dyn FnMut(usize, &mut [u8]) -> bool + 'a;

/// A reader over a byte buffer.
pub(crate) fn slice_reader(bytes: &[u8]) -> impl FnMut(usize, &mut [u8]) -> bool + '_ {
    move |at, dst| match at.checked_add(dst.len()).and_then(|end| bytes.get(at..end)) {
        Some(src) => {
            dst.copy_from_slice(src);
            true
        }
        None => false,
    }
}

/// Copies the header out with `read`, skipping the word at 248 (`waiters`,
/// `notify`: 4-byte atomics that live writers and waiters change, which a
/// copy in 8-byte words would race with); those bytes read as zero.
/// `false` if the header is not inside the object.
pub(crate) fn read_header_bytes(read: &mut ReadAt<'_>, bytes: &mut [u8; HEADER_SIZE]) -> bool {
    let (a, rest) = bytes.split_at_mut(off::WAITERS);
    let (skipped, b) = rest.split_at_mut(8);
    skipped.fill(0);
    read(0, a) && read(off::WAITERS + 8, b)
}

/// Validates the header of an object of `len` bytes (its real size). The
/// header returned is the one in force ([`Header::effective`]: the staged
/// schema fields while an upgrade is switching to them).
pub(crate) fn header(display: &str, len: u64, read: &mut ReadAt<'_>) -> Result<Header> {
    let mut bytes = [0u8; HEADER_SIZE];
    if len < HEADER_SIZE as u64 || !read_header_bytes(read, &mut bytes) {
        return Err(Error::TooSmall {
            name: display.to_owned(),
            needed: HEADER_SIZE as u64,
            actual: len,
            what: "the segment header",
        });
    }
    let header = Header::decode(&bytes).effective();
    header.validate(display, len)?;
    Ok(header)
}

/// [`header`], then the descriptor's bytes (bounded by the object and
/// [`crate::header::MAX_DESCRIPTOR_LEN`]).
pub(crate) fn header_and_descriptor(
    display: &str,
    len: u64,
    read: &mut ReadAt<'_>,
) -> Result<(Header, Vec<u8>)> {
    let header = header(display, len, read)?;
    let desc = descriptor::copy_out(&header, len, read).map_err(|e| e.into_error(display))?;
    Ok((header, desc))
}

/// [`header_and_descriptor`], then the schema: the header's and the
/// descriptor's are `T`'s, or another version of it (see
/// [`evolution::classify`]; a mismatch names the first difference).
pub(crate) fn image<T: SharedLayout>(
    display: &str,
    len: u64,
    read: &mut ReadAt<'_>,
) -> Result<(Header, evolution::Found)> {
    let (header, desc) = header_and_descriptor(display, len, read)?;
    let found = evolution::classify(display, &header, &desc, &T::LAYOUT, T::FINGERPRINT)?;
    Ok((header, found))
}
