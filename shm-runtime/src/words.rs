//! Every access to shared memory: whole, aligned 8-byte words.
//!
//! Another process may write a segment at any time, so Rust code never
//! touches it through `&T`/`&mut T` or plain loads and stores. Every access
//! is a relaxed (or explicitly ordered) atomic load or store of a whole
//! aligned `u64`: racing atomic accesses are then always of the same size
//! and place, as the Rust (C++20) memory model requires, and a byte range
//! that is not a whole number of words is reached through the words that
//! hold it (loaded whole; for a store, loaded, merged and stored whole).
//! The only exceptions are `waiters` and `notify` (header offsets 248 and
//! 252), 4-byte atomics because `notify` is a futex word; header copies
//! skip them (see `crate::notify`).
//!
//! This module owns those primitives: byte ranges through words
//! ([`load_bytes`], [`store_bytes`]), whole-word copies of payload copies
//! ([`load_words`], [`store_words`], [`copy_shared`]), one field inside its
//! word ([`load_in_word`], [`store_in_word`]), and the `u32` halves of a
//! header word ([`half_of`], [`with_half`]). Callers state, in their
//! `SAFETY` comments, that the words they name are mapped and only ever
//! accessed this way.
//!
//! On x86-64 processors with AVX, payload copies of 256 bytes or more move
//! 16 aligned bytes per access (`words/x86_64.rs`): one atomic access on
//! those processors, which the Rust abstract machine sees as two relaxed
//! atomic loads (stores) of the two words, so every access is still a
//! whole aligned 8-byte word as far as Rust is concerned.

use core::sync::atomic::{AtomicU64, Ordering};

#[cfg(all(target_arch = "x86_64", not(any(miri, loom))))]
mod x86_64;

/// Copies `len` bytes from shared memory at `src` (any alignment) into
/// private memory at `dst` with relaxed atomic loads of the whole aligned
/// 8-byte words that hold them: every Rust access to shared memory is such
/// a word, so racing atomic accesses are always of the same size.
///
/// # Safety
///
/// Every aligned 8-byte word overlapping `src..src+len` is valid for reads
/// and only accessed as a whole atomic word by Rust code (other processes
/// may write it); `dst..dst+len` is valid for writes and does not overlap.
pub(crate) unsafe fn load_bytes(src: *const u8, dst: *mut u8, len: usize) {
    let mut done = 0;
    if !(src as usize).is_multiple_of(8) {
        let at = src as usize % 8;
        let n = (8 - at).min(len);
        // SAFETY: the word holding `src` overlaps the range (caller); `dst`
        // has room for its first `n <= len` bytes.
        unsafe {
            let w = AtomicU64::from_ptr(src.sub(at).cast::<u64>().cast_mut())
                .load(Ordering::Relaxed)
                .to_ne_bytes();
            core::ptr::copy_nonoverlapping(w.as_ptr().add(at), dst, n);
        }
        done = n;
    }
    // SAFETY: `src + done` is 8-aligned (or `done == len`); the words
    // overlapping the rest are valid (caller); `dst + done` has room.
    unsafe { load_words(src.add(done), dst.add(done), len - done) };
}

/// Copies `len` bytes from private memory at `src` into shared memory at
/// `dst` (any alignment) with relaxed atomic stores of the whole aligned
/// 8-byte words that hold them; a word only partly in the range is loaded,
/// merged and stored whole.
///
/// # Safety
///
/// Every aligned 8-byte word overlapping `dst..dst+len` is valid for
/// writes, only accessed as a whole atomic word by Rust code, and nobody
/// else stores to it meanwhile; `src..src+len` is valid for reads and does
/// not overlap.
pub(crate) unsafe fn store_bytes(dst: *mut u8, src: *const u8, len: usize) {
    let mut done = 0;
    if !(dst as usize).is_multiple_of(8) {
        let at = dst as usize % 8;
        let n = (8 - at).min(len);
        // SAFETY: as in `load_bytes`; only this caller stores to the word.
        unsafe {
            let word = AtomicU64::from_ptr(dst.sub(at).cast::<u64>());
            let mut b = word.load(Ordering::Relaxed).to_ne_bytes();
            core::ptr::copy_nonoverlapping(src, b.as_mut_ptr().add(at), n);
            word.store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
        done = n;
    }
    // SAFETY: as in `load_bytes`, with the roles swapped.
    unsafe { store_words(dst.add(done), src.add(done), len - done) };
}

/// Copies `len` bytes of a payload copy at `src` into private memory at
/// `dst` with relaxed atomic loads of whole aligned 8-byte words (the last
/// word, if `len` is not a multiple of 8, is loaded whole and only its
/// first bytes are kept). Every access to a payload copy is such a word, so
/// racing accesses are always the same size.
///
/// # Safety
///
/// `src` is 8-aligned; the `len.div_ceil(8)` words at `src` are valid for
/// reads and only accessed as whole atomic words by Rust code;
/// `dst..dst+len` is valid for writes and does not overlap them.
#[inline(always)]
pub(crate) unsafe fn load_words(src: *const u8, dst: *mut u8, len: usize) {
    #[cfg(all(target_arch = "x86_64", not(any(miri, loom))))]
    if len >= WIDE_MIN && x86_64::wide() {
        // One word first if `src` is 8 but not 16 mod 16, so that the
        // wide loads are aligned; the rest after them, word by word.
        let head = src as usize % 16;
        let blocks = (len - head) / 16;
        let done = head + 16 * blocks;
        // SAFETY: `len >= WIDE_MIN > 8`, so the head word and the blocks
        // are inside the caller's words; `src + head` is 16-aligned (`src`
        // is 8-aligned); `wide()` held; `dst` has room for all of them.
        unsafe {
            load_words_narrow(src, dst, head);
            x86_64::load(src.add(head), dst.add(head), blocks);
            load_words_narrow(src.add(done), dst.add(done), len - done);
        }
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { load_words_narrow(src, dst, len) }
}

/// Payload copies at least this long take the 16-byte path on x86-64
/// (shorter ones are cheaper unrolled word by word: measured, BENCHMARKS.md).
#[cfg(all(target_arch = "x86_64", not(any(miri, loom))))]
const WIDE_MIN: usize = 256;

/// [`load_words`] one 8-byte word at a time (the portable path).
///
/// # Safety
///
/// As for [`load_words`].
#[inline]
unsafe fn load_words_narrow(src: *const u8, dst: *mut u8, len: usize) {
    let full = len / 8;
    for k in 0..full {
        // SAFETY: word `k < full` is in bounds (caller); `dst` has room for
        // its 8 bytes, maybe unaligned.
        unsafe {
            let w = AtomicU64::from_ptr(src.add(8 * k).cast::<u64>().cast_mut())
                .load(Ordering::Relaxed);
            dst.add(8 * k).cast::<u64>().write_unaligned(w);
        }
    }
    let rest = len % 8;
    if rest != 0 {
        // SAFETY: the last, partial word is one of the `len.div_ceil(8)`
        // valid words; `dst` has `rest` bytes left.
        unsafe {
            let w = AtomicU64::from_ptr(src.add(8 * full).cast::<u64>().cast_mut())
                .load(Ordering::Relaxed);
            core::ptr::copy_nonoverlapping(w.to_ne_bytes().as_ptr(), dst.add(8 * full), rest);
        }
    }
}

/// Copies `len` bytes from private memory at `src` into a payload copy at
/// `dst` with relaxed atomic stores of whole aligned 8-byte words (the last
/// word, if `len` is not a multiple of 8, is loaded, merged and stored
/// whole).
///
/// # Safety
///
/// As for [`load_words`] with the roles swapped; the words are writable
/// and nobody else stores to them meanwhile (the caller holds write
/// access).
#[inline(always)]
pub(crate) unsafe fn store_words(dst: *mut u8, src: *const u8, len: usize) {
    #[cfg(all(target_arch = "x86_64", not(any(miri, loom))))]
    if len >= WIDE_MIN && x86_64::wide() {
        let head = dst as usize % 16;
        let blocks = (len - head) / 16;
        let done = head + 16 * blocks;
        // SAFETY: as in `load_words`, with the roles swapped; write access
        // held (caller).
        unsafe {
            store_words_narrow(dst, src, head);
            x86_64::store(dst.add(head), src.add(head), blocks);
            store_words_narrow(dst.add(done), src.add(done), len - done);
        }
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { store_words_narrow(dst, src, len) }
}

/// [`store_words`] one 8-byte word at a time (the portable path).
///
/// # Safety
///
/// As for [`store_words`].
#[inline]
unsafe fn store_words_narrow(dst: *mut u8, src: *const u8, len: usize) {
    let full = len / 8;
    for k in 0..full {
        // SAFETY: as in `load_words`, with the roles swapped.
        unsafe {
            let w = src.add(8 * k).cast::<u64>().read_unaligned();
            AtomicU64::from_ptr(dst.add(8 * k).cast::<u64>()).store(w, Ordering::Relaxed);
        }
    }
    let rest = len % 8;
    if rest != 0 {
        // SAFETY: as in `load_words`; only the writer stores to the word.
        unsafe {
            let word = AtomicU64::from_ptr(dst.add(8 * full).cast::<u64>());
            let mut b = word.load(Ordering::Relaxed).to_ne_bytes();
            core::ptr::copy_nonoverlapping(src.add(8 * full), b.as_mut_ptr(), rest);
            word.store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
    }
}

/// Copies `len` bytes from one payload copy to another, both accessed as
/// whole atomic words, through a small private buffer.
///
/// # Safety
///
/// As for [`load_words`] on `src` and [`store_words`] on `dst`; the two
/// ranges do not overlap.
pub(crate) unsafe fn copy_shared(src: *const u8, dst: *mut u8, len: usize) {
    let mut chunk = [0u8; 512];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len());
        // SAFETY: `done + n <= len` and `done` is a multiple of 8 (the
        // chunk's size), so the words are in bounds of both ranges and
        // aligned (caller's contract); `chunk` is private, `n` bytes at least.
        unsafe {
            load_words(src.add(done), chunk.as_mut_ptr(), n);
            store_words(dst.add(done), chunk.as_ptr(), n);
        }
        done += n;
    }
}

/// Loads the aligned word holding the `out.len()` bytes at `p` and copies
/// those bytes out.
///
/// # Safety
///
/// `p..p + out.len()` lies inside one aligned 8-byte word that is valid
/// for reads and only accessed as a whole atomic word.
#[inline]
pub(crate) unsafe fn load_in_word(p: *const u8, out: &mut [u8], order: Ordering) {
    let at = p as usize % 8;
    debug_assert!(at + out.len() <= 8);
    // SAFETY: the word holding `p` is valid, aligned and atomic (caller).
    let w = unsafe { AtomicU64::from_ptr(p.sub(at).cast::<u64>().cast_mut()) }.load(order);
    // Move the bytes to the start of the word (in memory order) with a shift.
    let w = if cfg!(target_endian = "little") {
        w >> (8 * at)
    } else {
        w << (8 * at)
    };
    out.copy_from_slice(&w.to_ne_bytes()[..out.len()]);
}

/// Replaces the `bytes.len()` bytes at `p` in the aligned word holding them
/// (a load and a store of the whole word).
///
/// # Safety
///
/// As for [`load_in_word`], the word is writable, and nobody else stores
/// to it meanwhile.
#[inline]
pub(crate) unsafe fn store_in_word(p: *mut u8, bytes: &[u8]) {
    let at = p as usize % 8;
    debug_assert!(at + bytes.len() <= 8);
    // SAFETY: as for `load_in_word`.
    let word = unsafe { AtomicU64::from_ptr(p.sub(at).cast::<u64>()) };
    let mut v = [0u8; 8];
    v[..bytes.len()].copy_from_slice(bytes);
    let mut m = [0u8; 8];
    m[..bytes.len()].fill(0xff);
    let (v, m) = (u64::from_ne_bytes(v), u64::from_ne_bytes(m));
    let (v, m) = if cfg!(target_endian = "little") {
        (v << (8 * at), m << (8 * at))
    } else {
        (v >> (8 * at), m >> (8 * at))
    };
    let w = word.load(Ordering::Relaxed);
    word.store((w & !m) | v, Ordering::Relaxed);
}

/// The `u32` at byte `at % 8` of a header word, as a value of the word.
pub(crate) fn half_of(word: u64, at: usize) -> u32 {
    let b = word.to_ne_bytes();
    let i = at % 8;
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// `word` with the `u32` at byte `at % 8` replaced by `v`.
pub(crate) fn with_half(word: u64, at: usize, v: u32) -> u64 {
    let mut b = word.to_ne_bytes();
    let i = at % 8;
    b[i..i + 4].copy_from_slice(&v.to_ne_bytes());
    u64::from_ne_bytes(b)
}
