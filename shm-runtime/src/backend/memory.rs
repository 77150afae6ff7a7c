//! Process-private backing: heap memory with the same header and typed API
//! as a real segment, so the protocol can be tested under Miri and loom.

use std::alloc::Layout;
use std::ptr::NonNull;

use super::Backing;
use crate::error::{Error, Result};
use crate::status::Status;

/// Alignment of the allocation (a page, as a real mapping would be).
const ALIGN: usize = 4096;

pub(crate) struct Memory {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the allocation is owned by this value and only accessed through
// atomics by the segment layer, so it may be sent and shared across threads.
unsafe impl Send for Memory {}
// SAFETY: as above.
unsafe impl Sync for Memory {}

/// Allocates `size` zeroed bytes.
pub(crate) fn open(display: &str, size: usize) -> Result<Memory> {
    let layout = Layout::from_size_align(size.max(1), ALIGN).map_err(|_| Error::NoSpace {
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
    Ok(Memory { ptr, layout })
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: allocated in `open` with exactly this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

impl Backing for Memory {
    fn base(&self) -> NonNull<u8> {
        self.ptr
    }
    fn len(&self) -> usize {
        self.layout.size()
    }
    fn created(&self) -> bool {
        true
    }
    fn os_status(&self, status: &mut Status) -> Result<()> {
        status.size = self.layout.size() as u64;
        Ok(())
    }
    fn lock_in_ram(&self, _lock: bool) -> Result<()> {
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn current_size(&self) -> Result<u64> {
        Ok(self.layout.size() as u64)
    }
}
