//! A private buffer for one value of a schema, for the writes that work on
//! a copy (`Shared::update`, `Shared::modify`): aligned to the value and to
//! 8 and a whole number of 8-byte words long, so that `Field`s (which
//! access whole aligned words) can work on it; zero-filled.
//!
//! A small value lives on the stack (no allocation per write), a large one
//! on the heap: a schema of megabytes must work on any thread, whose stack
//! may be 2 MiB (spawned threads) or less. The two cases are separate,
//! non-inlined functions, so that a large value's frame never holds a
//! stack copy (unoptimised builds reserve room for every local of a
//! function, used or not).

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// Values up to this many bytes are copied on the stack.
pub(crate) const STACK_MAX: usize = 16 * 1024;

/// A `T`, aligned to 8 and a whole number of 8-byte words long.
#[repr(C, align(8))]
struct WordAligned<T>(MaybeUninit<T>);

/// Runs `f` with a pointer to private, zeroed memory for one `T`: aligned
/// to `align_of::<T>().max(8)`, `size_of::<T>()` rounded up to a multiple
/// of 8 bytes long, valid until `f` returns (or unwinds) and used by
/// nothing else.
pub(crate) fn with_buffer<T, R>(f: impl FnOnce(NonNull<T>) -> R) -> R {
    if size_of::<T>() <= STACK_MAX {
        on_stack(f)
    } else {
        on_heap(f)
    }
}

#[inline(never)]
fn on_stack<T, R>(f: impl FnOnce(NonNull<T>) -> R) -> R {
    // The bytes after the `T` are part of the buffer: a setter of a field
    // in the last word loads and stores all of it. So the pointer has the
    // provenance of the whole `WordAligned`, zeroed in place (`zeroed()`
    // would return it by value, which need not keep those bytes).
    let mut copy = MaybeUninit::<WordAligned<T>>::uninit();
    // SAFETY: writes zero bytes over `copy`, which is private.
    unsafe { copy.as_mut_ptr().write_bytes(0, 1) };
    // SAFETY: a pointer to a local is not null.
    f(unsafe { NonNull::new_unchecked(copy.as_mut_ptr().cast::<T>()) })
}

/// Frees the heap buffer when dropped, also if `f` panics.
struct Heap(NonNull<u8>, Layout);

impl Drop for Heap {
    fn drop(&mut self) {
        // SAFETY: allocated in `on_heap` with this layout, freed once.
        unsafe { dealloc(self.0.as_ptr(), self.1) }
    }
}

#[inline(never)]
fn on_heap<T, R>(f: impl FnOnce(NonNull<T>) -> R) -> R {
    let layout = Layout::from_size_align(
        size_of::<T>().next_multiple_of(8).max(8),
        align_of::<T>().max(8),
    )
    .expect("the size of a type, rounded up to 8, is a valid layout");
    // SAFETY: `layout` has a non-zero size.
    let Some(ptr) = NonNull::new(unsafe { alloc_zeroed(layout) }) else {
        handle_alloc_error(layout)
    };
    let heap = Heap(ptr, layout);
    f(heap.0.cast::<T>())
}

/// Copies the `T` at `src` over `*dst` (a message from a buffer of
/// [`with_buffer`] into the caller's slice), with no copy of the value on
/// the stack.
///
/// # Safety
///
/// `src` holds a valid `T`, and `T` has no drop glue (a [`ShmSafe`] type).
///
/// [`ShmSafe`]: crate::ShmSafe
pub(crate) unsafe fn copy_into<T>(dst: &mut T, src: NonNull<T>) {
    // SAFETY: `src` is a valid `T` (the caller's contract) in a private
    // buffer, so it does not overlap `dst`; overwriting `*dst` drops
    // nothing (no drop glue).
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst, 1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_zeroed_whole_words() {
        fn check<T>() {
            with_buffer::<T, ()>(|p| {
                let p = p.as_ptr().cast::<u8>();
                assert!(p.addr().is_multiple_of(align_of::<T>().max(8)));
                let len = size_of::<T>().next_multiple_of(8);
                // SAFETY: the buffer is `len` bytes, private and zeroed.
                let bytes = unsafe { std::slice::from_raw_parts(p, len) };
                assert!(bytes.iter().all(|&b| b == 0));
            });
        }
        check::<[u8; 3]>();
        check::<[u64; 5]>();
        check::<[u8; STACK_MAX + 1]>();
        check::<[u8; STACK_MAX + 5]>();
    }
}
