//! The sequence-counter ("seqlock") protocol and atomic byte copies.
//!
//! # Why it is sound
//!
//! A reader copies the payload while a writer in another process may be
//! changing it. Plain or volatile reads racing with writes are undefined
//! behaviour in the Rust (C++20) memory model (Boehm, "Can Seqlocks Get
//! Along with Programming Language Memory Models?", 2012), so every byte of
//! the payload is read and written with *relaxed atomic* operations (a
//! `u64` at a time where aligned). Atomic accesses never race in the UB
//! sense; they may only observe a mix of old and new values, which the
//! counter detects:
//!
//! ```text
//! writer                                 reader
//! s = seq (even, we own write access)    s1 = seq.load(Acquire)   (retry if odd)
//! seq.store(s + 1, Relaxed)              copy payload, relaxed loads
//! fence(Release)                         fence(Acquire)
//! store payload, relaxed stores          s2 = seq.load(Relaxed)
//! seq.store(s + 2, Release)              s1 == s2  =>  the copy is one write's value
//! ```
//!
//! If the reader's copy saw any store of a write, its acquire fence
//! synchronises with that write's release fence, so the later load of
//! `seq` sees at least `s + 1` and `s1 != s2`. If `s1` is the even value
//! published by the release store of a write, every store of that write
//! happens-before the copy. Readers never store to shared memory, so any
//! number of them neither slow each other nor the writer.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering, fence};

/// Copies `len` bytes from shared memory at `src` into private memory at
/// `dst` with relaxed atomic loads, eight bytes at a time where `src` is
/// aligned.
///
/// # Safety
///
/// `src..src+len` must be valid for reads and only ever accessed atomically
/// by Rust code (other processes may write it); `dst..dst+len` must be valid
/// for writes and not overlap `src`.
pub unsafe fn load_bytes(src: *const u8, dst: *mut u8, len: usize) {
    let mut i = 0;
    while i < len && !(src as usize + i).is_multiple_of(8) {
        // SAFETY: `i < len`, so both pointers are in bounds (caller's contract).
        unsafe {
            dst.add(i)
                .write(AtomicU8::from_ptr(src.add(i).cast_mut()).load(Ordering::Relaxed))
        };
        i += 1;
    }
    while i + 8 <= len {
        // SAFETY: `src + i` is 8-aligned and `i + 8 <= len`, so the word is in
        // bounds; `dst` may be unaligned, hence `write_unaligned`.
        unsafe {
            let w =
                AtomicU64::from_ptr(src.add(i).cast::<u64>().cast_mut()).load(Ordering::Relaxed);
            dst.add(i).cast::<u64>().write_unaligned(w);
        }
        i += 8;
    }
    while i < len {
        // SAFETY: `i < len`, in bounds as above.
        unsafe {
            dst.add(i)
                .write(AtomicU8::from_ptr(src.add(i).cast_mut()).load(Ordering::Relaxed))
        };
        i += 1;
    }
}

/// Copies `len` bytes from private memory at `src` into shared memory at
/// `dst` with relaxed atomic stores, eight bytes at a time where `dst` is
/// aligned.
///
/// # Safety
///
/// `dst..dst+len` must be valid for writes and only ever accessed
/// atomically by Rust code; `src..src+len` must be valid for reads and not
/// overlap `dst`.
pub unsafe fn store_bytes(dst: *mut u8, src: *const u8, len: usize) {
    let mut i = 0;
    while i < len && !(dst as usize + i).is_multiple_of(8) {
        // SAFETY: `i < len`, in bounds (caller's contract).
        unsafe { AtomicU8::from_ptr(dst.add(i)).store(src.add(i).read(), Ordering::Relaxed) };
        i += 1;
    }
    while i + 8 <= len {
        // SAFETY: `dst + i` is 8-aligned and the word is in bounds; `src` may
        // be unaligned, hence `read_unaligned`.
        unsafe {
            let w = src.add(i).cast::<u64>().read_unaligned();
            AtomicU64::from_ptr(dst.add(i).cast::<u64>()).store(w, Ordering::Relaxed);
        }
        i += 8;
    }
    while i < len {
        // SAFETY: `i < len`, in bounds.
        unsafe { AtomicU8::from_ptr(dst.add(i)).store(src.add(i).read(), Ordering::Relaxed) };
        i += 1;
    }
}

/// One attempt at a consistent copy of `len` bytes at `src` guarded by the
/// counter `seq`. Returns the even counter value the copy belongs to, or
/// `None` if a write was in progress or overlapped the copy.
///
/// # Safety
///
/// As for [`load_bytes`]; `seq` must be the counter guarding `src`.
pub unsafe fn try_read(seq: &AtomicU64, src: *const u8, dst: *mut u8, len: usize) -> Option<u64> {
    let s1 = seq.load(Ordering::Acquire);
    if s1 & 1 == 1 {
        return None;
    }
    // SAFETY: forwarded from the caller.
    unsafe { load_bytes(src, dst, len) };
    fence(Ordering::Acquire);
    let s2 = seq.load(Ordering::Relaxed);
    (s1 == s2).then_some(s1)
}

/// Tries to start a write: moves `seq` from even `s` to odd `s + 1` with a
/// compare-and-swap (so two writers can never be inside a write at once)
/// and returns `s`; `None` if another write is in progress.
pub fn try_begin_write(seq: &AtomicU64) -> Option<u64> {
    let s = seq.load(Ordering::Relaxed);
    if s & 1 == 1 {
        return None;
    }
    seq.compare_exchange(s, s.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed)
        .ok()?;
    fence(Ordering::Release);
    Some(s)
}

/// Marks the end of a write begun at `s`: `seq` becomes `s + 2`, published
/// with release so readers that see it see every store of the write.
pub fn end_write(seq: &AtomicU64, s: u64) {
    seq.store(s.wrapping_add(2), Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_round_trip_at_every_alignment() {
        let src: Vec<u8> = (0..100u8).collect();
        for start in 0..9 {
            for len in [0, 1, 7, 8, 9, 33, 90] {
                let mut shared = vec![0u64; 16];
                let base = shared.as_mut_ptr().cast::<u8>();
                // SAFETY: `start + len <= 99 < 128` bytes of `shared`, private to this test.
                unsafe { store_bytes(base.add(start), src.as_ptr(), len) };
                let mut out = vec![0u8; len];
                // SAFETY: as above; `out` has `len` bytes.
                unsafe { load_bytes(base.add(start), out.as_mut_ptr(), len) };
                assert_eq!(out, src[..len]);
            }
        }
    }

    #[test]
    fn odd_or_changed_counter_fails_the_read() {
        let seq = AtomicU64::new(0);
        let data = [7u64; 2];
        let mut out = [0u8; 16];
        // SAFETY: `data` and `out` are 16 bytes each and private.
        let ok = unsafe { try_read(&seq, data.as_ptr().cast(), out.as_mut_ptr(), 16) };
        assert_eq!(ok, Some(0));
        let s = try_begin_write(&seq).unwrap();
        assert_eq!(try_begin_write(&seq), None);
        // SAFETY: as above.
        let busy = unsafe { try_read(&seq, data.as_ptr().cast(), out.as_mut_ptr(), 16) };
        assert_eq!(busy, None);
        end_write(&seq, s);
        assert_eq!(seq.load(Ordering::Relaxed), 2);
    }
}
