//! Process-private backing: heap memory with the same header and typed API
//! as a real segment, so the protocol can be tested under Miri and loom.

use std::alloc::Layout;
use std::ptr::NonNull;

use super::Backing;
use crate::error::{Error, Result};
use crate::header::HEADER_SIZE;
use crate::status::Status;

/// Alignment of the allocation (a page, as a real mapping would be).
const ALIGN: usize = 4096;

pub(crate) struct Memory {
    ptr: NonNull<u8>,
    layout: Layout,
    /// The object's size (the allocation is rounded up to whole 8-byte
    /// words, as a page-granular mapping is to pages, so that a word
    /// holding the last bytes is always valid).
    len: usize,
    created: bool,
}

// SAFETY: the allocation is owned by this value and only accessed through
// atomics by the segment layer, so it may be sent and shared across threads.
unsafe impl Send for Memory {}
// SAFETY: as above.
unsafe impl Sync for Memory {}

/// Allocates `size` zeroed bytes (rounded up to whole 8-byte words).
pub(crate) fn open(display: &str, size: usize) -> Result<Memory> {
    if size < HEADER_SIZE {
        return Err(Error::TooSmall {
            name: display.to_owned(),
            needed: HEADER_SIZE as u64,
            actual: size as u64,
            what: "the segment header",
        });
    }
    let rounded = size
        .max(1)
        .checked_next_multiple_of(8)
        .unwrap_or(usize::MAX);
    let layout = Layout::from_size_align(rounded, ALIGN).map_err(|_| Error::NoSpace {
        name: display.to_owned(),
        size: size as u64,
        reason: "size overflows the address space".into(),
    })?;
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    let ptr = NonNull::new(ptr).ok_or_else(|| Error::NoSpace {
        name: display.to_owned(),
        size: size as u64,
        reason: "the allocator refused".into(),
    })?;
    Ok(Memory {
        ptr,
        layout,
        len: size,
        created: true,
    })
}

/// A page-aligned private copy of `bytes`, as an existing segment to be
/// validated and opened (`open_image`).
pub(crate) fn image(display: &str, bytes: &[u8]) -> Result<Memory> {
    let mut m = open(display, bytes.len())?;
    m.created = false;
    // SAFETY: the allocation has at least `bytes.len()` bytes, is owned by
    // `m` and not yet shared with anyone; `bytes` cannot overlap it.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), m.ptr.as_ptr(), bytes.len()) };
    Ok(m)
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: allocated in `open` with exactly this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

// SAFETY: a heap allocation aligned to 4096, of at least HEADER_SIZE bytes
// (checked in `open`) rounded up to whole 8-byte words, owned by this value
// and freed only in `Drop`; it is written only through atomic words once
// shared (the copy in `image` happens before anyone sees it).
unsafe impl Backing for Memory {
    fn base(&self) -> NonNull<u8> {
        self.ptr
    }
    fn len(&self) -> usize {
        self.len
    }
    fn created(&self) -> bool {
        self.created
    }
    fn os_status(&self, status: &mut Status) -> Result<()> {
        status.size = self.len as u64;
        Ok(())
    }
    fn lock_in_ram(&self, _lock: bool) -> Result<()> {
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn current_size(&self) -> Result<u64> {
        Ok(self.len as u64)
    }
}
