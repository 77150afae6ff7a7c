//! The payloads: `#[repr(C)]` values of 208 B, 4 KiB and 1 MiB, one type
//! each, usable by every library (our `SharedLayout`, iceoryx2's
//! `ZeroCopySend`, rkyv's `Archive` for mmap-sync, plain bytes for the
//! seqlock). Every word is derived from the first one, `counter`, so a read
//! that mixes two writes (a torn read) is detected by [`Payload::check`].

use iceoryx2::prelude::ZeroCopySend;
use rkyv::ser::serializers::AllocSerializer;
use rkyv::validation::validators::DefaultValidator;
use rkyv::{Archive, CheckBytes, Serialize};
use shm_runtime::SharedLayout;

/// The scratch space of mmap-sync's serializer (its default).
pub const SCRATCH: usize = 1024;

/// The value of word `i` (1-based after `counter`) of the value written
/// with `counter`.
#[inline(always)]
pub fn word(counter: u64, i: usize) -> u64 {
    counter ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A benchmark payload.
pub trait Payload:
    SharedLayout
    + Copy
    + Send
    + Sync
    + 'static
    + ZeroCopySend
    + Archive<Archived: for<'b> CheckBytes<DefaultValidator<'b>>>
    + Serialize<AllocSerializer<SCRATCH>>
{
    /// Its size in bytes.
    const SIZE: usize;
    /// Its size for the tables (`208B`, `4KiB`, `1MiB`).
    const LABEL: &'static str;
    /// The counter it was written with.
    fn counter(&self) -> u64;
    /// Makes it the value of `counter`.
    fn fill(&mut self, counter: u64);
    /// Whether every word matches `counter` (false: a torn read).
    fn check(&self) -> bool;
    /// The counter of an archived (mmap-sync) value, read in place.
    fn archived_counter(a: &Self::Archived) -> u64;
    /// Copies an archived (mmap-sync) value out.
    fn copy_archived(a: &Self::Archived, out: &mut Self);
    /// A zeroed value on the heap (the 1 MiB one does not fit a stack).
    fn boxed() -> Box<Self> {
        let layout = std::alloc::Layout::new::<Self>();
        // SAFETY: the payloads have a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: allocated with `Self`'s layout; all-zero bytes are a valid
        // payload (integers only).
        unsafe { Box::from_raw(p.cast::<Self>()) }
    }
    /// The value of `counter`, on the heap.
    fn boxed_with(counter: u64) -> Box<Self> {
        let mut b = Self::boxed();
        b.fill(counter);
        b
    }
}

macro_rules! payload {
    ($(#[$doc:meta])* $name:ident, $size:literal, $words:literal, $label:literal) => {
        $(#[$doc])*
        #[derive(SharedLayout, Clone, Copy, Archive, Serialize)]
        #[archive(check_bytes)]
        #[repr(C)]
        #[shm(size = $size)]
        pub struct $name {
            /// The counter of the write that made it.
            pub counter: u64,
            /// `word(counter, i + 1)` each.
            pub words: [u64; $words],
        }

        // SAFETY: `#[repr(C)]`, integers only, no pointers: valid in any
        // process's address space.
        unsafe impl ZeroCopySend for $name {}

        impl Payload for $name {
            const SIZE: usize = $size;
            const LABEL: &'static str = $label;
            #[inline]
            fn counter(&self) -> u64 {
                self.counter
            }
            fn fill(&mut self, counter: u64) {
                self.counter = counter;
                for (i, w) in self.words.iter_mut().enumerate() {
                    *w = word(counter, i + 1);
                }
            }
            fn check(&self) -> bool {
                let c = self.counter;
                self.words
                    .iter()
                    .enumerate()
                    .fold(true, |ok, (i, &w)| ok & (w == word(c, i + 1)))
            }
            #[inline]
            fn archived_counter(a: &Self::Archived) -> u64 {
                a.counter
            }
            #[inline]
            fn copy_archived(a: &Self::Archived, out: &mut Self) {
                out.counter = a.counter;
                out.words.copy_from_slice(&a.words);
            }
        }

        const _: () = assert!(std::mem::size_of::<$name>() == $size);
    };
}

payload!(
    /// 208 bytes.
    P208, 208, 25, "208B"
);
payload!(
    /// 4 KiB.
    P4K, 4096, 511, "4KiB"
);
payload!(
    /// 1 MiB.
    P1M, 1048576, 131071, "1MiB"
);
