//! The snapshot protocol: two copies of the payload written in turn, each
//! guarded by a sequence counter ("seqlock"), over atomic word copies.
//!
//! # Alternating copies
//!
//! A segment holds the payload twice: the *primary* copy at
//! `payload_offset` and the *backup* copy at `backup_offset`, each guarded
//! by its own counter (`seq` at header offset 128, `backup_seq` at 240). A
//! counter is odd while its copy is being written, and even when the copy
//! holds the value of one complete write.
//!
//! The *latest* copy is the one whose counter is even and larger (on a tie,
//! the primary; if the larger counter is odd, the other copy). Each write
//! stores ONE copy: the one that is not the latest.
//!
//! 1. `s = max(seq, backup_seq)` rounded down to even;
//! 2. the target's counter becomes `s + 1` (a release store);
//! 3. the new value is stored into the target;
//! 4. the target's counter becomes `s + 2` (a release store).
//!
//! So the larger counter halved is the number of completed writes (the
//! *version*), and a copy's even counter halved is the version of the value
//! it holds. The latest copy is never written: it stays stable for a whole
//! write period, until the write after next. A reader copies the latest
//! copy, and only retries if the writer completed a whole write into the
//! other copy and began the one after (into this copy) meanwhile. Readers
//! never wait for a writer, and a writer killed at any instant leaves the
//! latest complete value behind, in the copy it was not writing: readers go
//! on reading it, and the next writer repairs the other copy ([`recover`]).
//!
//! # Why it is sound
//!
//! A reader copies a payload while a writer in another process may be
//! changing it. Plain or volatile reads racing with writes are undefined
//! behaviour in the Rust (C++20) memory model (Boehm, "Can Seqlocks Get
//! Along with Programming Language Memory Models?", 2012), so every byte of
//! the payload is read and written with *relaxed atomic* operations (a
//! whole aligned `u64` at a time). Atomic accesses never race in the UB
//! sense; they may only observe a mix of old and new values, which the
//! counters detect.
//!
//! ```text
//! writer (the only one: it holds write access)   reader
//! p, b = the counters (relaxed: its own stores)  p = seq.load(Acquire)
//! t = not the latest of (p, b)                   b = backup_seq.load(Acquire)
//! s = max(p, b) & !1                             c = latest of (p, b); s1 = its counter
//! t.seq.store(s + 1, Release)                    copy c (or run f over c), relaxed loads
//! fence(Release)                                 fence(Acquire)
//! store t's payload, relaxed stores              s2 = c.seq.load(Relaxed)
//! t.seq.store(s + 2, Release)                    s1 == s2 (even) => c is one write's value
//! ```
//!
//! *Whole values.* If the reader's copy of `c` saw any store of a write
//! into `c` that began after the one that published `s1`, its acquire fence
//! synchronises with that write's release fence, which follows the store of
//! an odd counter larger than `s1`; so `s2 != s1` and the copy is thrown
//! away. If `s1` is even, it was published by a release store at the end of
//! a write, so every store of that write (and of all before it) happens
//! before the copy, which therefore sees them or later ones, and later ones
//! are caught as just said. The same argument holds for each copy on its
//! own; choosing the copy only decides which copy to try.
//!
//! *Versions never go back* for one reader. Let a snapshot return copy `X`
//! at counter `s`; a later snapshot of the same reader loads both counters
//! again. Each counter only grows, so by read-read coherence it reads
//! `X`'s counter as at least `s`. If that is even, the chosen copy's
//! counter is at least it. If it is odd, some writer began a write into
//! `X`, so the other copy `Y` was the latest, with an even counter `t > s`
//! stored (with release) before `X`'s odd one; that odd store is a release
//! store and the reader's load of it an acquire, so the recheck of `Y`'s
//! counter (after that load in program order) reads at least `t`, and a
//! snapshot of `Y` is only returned if its counter was the same before and
//! after the copy. Either way the new version is at least the old one.
//! (Without the release on the odd store, a reader could take a stale
//! `Y` counter for a consistent one: the loom model's negative control.)
//!
//! *Projections* ([`try_read_with`] with a closure that reads a few fields
//! instead of copying the whole value) follow the same argument: only the
//! loads between the counter's load and the fence are different, and they
//! are relaxed atomic loads of whole words of the copy.
//!
//! Readers never store to shared memory, so any number of them neither
//! slow each other nor the writer.
//!
//! The algorithms are written once, over the [`Buffers`] trait: [`Mapped`]
//! implements it over a mapping, and a `cfg(loom)` model over loom's
//! atomics checks them under every interleaving loom explores.

use core::sync::atomic::{AtomicU64, Ordering, fence};

use crate::words::{copy_shared, load_words, store_words};

/// Which copy of the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replica {
    /// The primary copy (`payload_offset`, counter `seq`).
    Primary,
    /// The backup copy (`backup_offset`, counter `backup_seq`).
    Backup,
}

impl Replica {
    /// The other copy.
    #[inline]
    pub(crate) fn other(self) -> Replica {
        match self {
            Replica::Primary => Replica::Backup,
            Replica::Backup => Replica::Primary,
        }
    }
}

/// The shared memory the protocol works on: two copies of a payload of a
/// fixed length, and a counter for each.
pub(crate) trait Buffers {
    /// Loads the counter of copy `b`.
    fn seq_load(&self, b: Replica, order: Ordering) -> u64;
    /// Stores the counter of copy `b` (only the holder of write access).
    fn seq_store(&self, b: Replica, value: u64, order: Ordering);
    /// A memory fence, of the kind the implementation's atomics obey.
    fn fence(order: Ordering);
    /// Copies copy `b` into `dst` with relaxed atomic loads.
    ///
    /// # Safety
    ///
    /// `dst` is valid for writes of the payload's length and private.
    unsafe fn copy_out(&self, b: Replica, dst: *mut u8);
    /// Stores the private bytes at `src` into copy `b` with relaxed atomic
    /// stores.
    ///
    /// # Safety
    ///
    /// `src` is valid for reads of the payload's length; the caller holds
    /// write access and has made `b`'s counter odd.
    unsafe fn copy_in(&self, b: Replica, src: *const u8);
    /// Copies copy `from` into copy `to` (all relaxed atomics).
    ///
    /// # Safety
    ///
    /// The caller holds write access and has made `to`'s counter odd.
    unsafe fn copy_across(&self, from: Replica, to: Replica);
}

/// The version (number of the write) a counter value stands for.
#[inline]
pub(crate) fn version_of(seq: u64) -> u64 {
    seq / 2
}

/// Whether counter `a` is later than `b`: `a - b`, wrapping, is positive
/// as an `i64` (serial-number order). The same as `a > b` for any counter
/// a writer reaches (2^62 writes); it keeps writes alternating should a
/// damaged segment put a counter next to `u64::MAX`.
#[inline]
pub(crate) fn later(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) > 0
}

/// The later of the two counters ([`later`]).
#[inline]
pub(crate) fn max_seq(primary: u64, backup: u64) -> u64 {
    if later(backup, primary) {
        backup
    } else {
        primary
    }
}

/// The number of completed writes, from the two counters: the larger one
/// halved (an odd counter, of a write under way, rounds down).
#[inline]
pub(crate) fn version_of_pair(primary: u64, backup: u64) -> u64 {
    version_of(max_seq(primary, backup))
}

/// The copy holding the latest complete value, given the counters: the one
/// whose counter is even and larger ([`later`]; a tie: the primary); if the
/// larger is odd (being written), the other. Both odd (no writer leaves
/// that): the primary, which a reader then finds being written.
#[inline]
pub(crate) fn latest(primary: u64, backup: u64) -> Replica {
    let (pe, be) = (primary & 1 == 0, backup & 1 == 0);
    if be && (!pe || later(backup, primary)) {
        Replica::Backup
    } else {
        Replica::Primary
    }
}

/// One attempt at a consistent read: runs `f` over the latest complete
/// copy (`f` loads from it with relaxed atomics only), then checks that the
/// copy's counter did not move meanwhile. Returns `f`'s result and the
/// copy's (even) counter, or `None` if the copy changed or both were being
/// written (the caller retries; `f`'s result is then dropped).
#[inline(always)]
pub(crate) fn try_read_with<M: Buffers, R>(
    m: &M,
    f: &mut impl FnMut(Replica) -> R,
) -> Option<(R, u64)> {
    let p = m.seq_load(Replica::Primary, Ordering::Acquire);
    let b = m.seq_load(Replica::Backup, Ordering::Acquire);
    let c = latest(p, b);
    let s1 = if c == Replica::Primary { p } else { b };
    if s1 & 1 == 1 {
        return None;
    }
    let r = f(c);
    M::fence(Ordering::Acquire);
    let s2 = m.seq_load(c, Ordering::Relaxed);
    (s1 == s2).then_some((r, s1))
}

/// One attempt at a consistent snapshot into `dst`. Returns the counter of
/// the copy read (`version_of` it is the version), or `None` (the caller
/// retries).
///
/// # Safety
///
/// As for [`Buffers::copy_out`].
#[cfg(test)]
#[inline(always)]
pub(crate) unsafe fn try_read<M: Buffers>(m: &M, dst: *mut u8) -> Option<u64> {
    // SAFETY: forwarded from the caller.
    try_read_with(m, &mut |c| unsafe { m.copy_out(c, dst) }).map(|((), s)| s)
}

/// The copy holding the latest complete value, for the holder of write
/// access (nobody else changes the counters, so relaxed loads see its own
/// stores).
#[inline]
pub(crate) fn latest_for_writer<M: Buffers>(m: &M) -> Replica {
    latest(
        m.seq_load(Replica::Primary, Ordering::Relaxed),
        m.seq_load(Replica::Backup, Ordering::Relaxed),
    )
}

/// Begins a write: makes the counter of the copy that is not the latest
/// odd (`s + 1`, with release, then a release fence) before its bytes are
/// stored. Returns that copy and `s`, the larger counter rounded down to
/// even. Only the holder of write access calls this.
#[inline]
pub(crate) fn begin<M: Buffers>(m: &M) -> (Replica, u64) {
    let p = m.seq_load(Replica::Primary, Ordering::Relaxed);
    let b = m.seq_load(Replica::Backup, Ordering::Relaxed);
    let target = latest(p, b).other();
    let s = max_seq(p, b) & !1;
    // Release: a reader that sees this odd value sees the other copy's
    // final counter too (versions never go back, see the module doc).
    m.seq_store(target, s.wrapping_add(1), Ordering::Release);
    // Orders the payload stores after the odd counter for readers whose
    // acquire fence sees one of them.
    M::fence(Ordering::Release);
    (target, s)
}

/// Publishes copy `b` after a write begun at `s`: its counter becomes
/// `s + 2` with release, so a reader that loads it sees every store.
#[inline]
pub(crate) fn end<M: Buffers>(m: &M, b: Replica, s: u64) {
    m.seq_store(b, s.wrapping_add(2), Ordering::Release);
}

/// A whole write of the private value at `src` into the copy that is not
/// the latest.
///
/// # Safety
///
/// The caller holds write access (no other writer in any process or
/// thread); `src` is valid for reads of the payload's length.
#[inline]
pub(crate) unsafe fn write<M: Buffers>(m: &M, src: *const u8) {
    // SAFETY: write access held (caller), the target's counter is odd.
    unsafe { write_with(m, |target| m.copy_in(target, src)) }
}

/// A whole write whose stores `store` makes into the copy it is given (the
/// target: its counter odd).
///
/// # Safety
///
/// The caller holds write access; `store` only stores into the copy it is
/// given, with relaxed atomic stores of whole words.
#[inline(always)]
pub(crate) unsafe fn write_with<M: Buffers>(m: &M, store: impl FnOnce(Replica)) {
    let (target, s) = begin(m);
    store(target);
    end(m, target, s);
}

/// What [`recover`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repair {
    /// Both copies complete: nothing to do.
    Clean,
    /// A write was interrupted (one counter odd): it is lost. The torn copy
    /// now holds the latest complete value again, published as a new write.
    RestoredTorn,
    /// Both counters odd: no writer of this protocol leaves that, so the
    /// segment was damaged by someone else. Nothing was changed.
    BothTorn,
}

/// Repairs the copies after a writer died (or anyone left a counter odd):
/// the torn copy gets the latest complete value, as a new write (so the
/// version moves on by one, and both copies are complete). Called by a
/// process that has just taken write access.
///
/// # Safety
///
/// The caller holds write access.
pub(crate) unsafe fn recover<M: Buffers>(m: &M) -> Repair {
    let p = m.seq_load(Replica::Primary, Ordering::Acquire);
    let b = m.seq_load(Replica::Backup, Ordering::Acquire);
    match (p & 1 == 1, b & 1 == 1) {
        (false, false) => Repair::Clean,
        (true, true) => Repair::BothTorn,
        _ => {
            // The torn copy is the one `begin` picks: not the latest.
            let (torn, s) = begin(m);
            // SAFETY: write access held (caller); `torn`'s counter is odd
            // and the latest copy is complete (its counter even).
            unsafe { m.copy_across(torn.other(), torn) };
            end(m, torn, s);
            Repair::RestoredTorn
        }
    }
}

/// [`Buffers`] over two copies in a mapping, with counters in its header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mapped {
    seq: [*mut u8; 2],
    copy: [*mut u8; 2],
    len: usize,
}

impl Mapped {
    /// The copies at `primary` and `backup`, `len` bytes each, guarded by
    /// the counters at `seq_primary` and `seq_backup`.
    ///
    /// # Safety
    ///
    /// The counters and the copies are 8-aligned; the counters and the
    /// `len.div_ceil(8)` words of each copy are valid for reads (and, if any
    /// method that stores is called, writes) as long as this value is used,
    /// do not overlap, and are only ever accessed as whole atomic words by
    /// Rust code.
    pub(crate) unsafe fn new(
        seq_primary: *mut u8,
        seq_backup: *mut u8,
        primary: *mut u8,
        backup: *mut u8,
        len: usize,
    ) -> Mapped {
        Mapped {
            seq: [seq_primary, seq_backup],
            copy: [primary, backup],
            len,
        }
    }

    fn counter(&self, b: Replica) -> &AtomicU64 {
        // SAFETY: an aligned counter valid while `self` is (`new`'s contract).
        unsafe { AtomicU64::from_ptr(self.seq[b as usize].cast()) }
    }

    /// Where copy `b` starts.
    pub(crate) fn ptr(&self, b: Replica) -> *mut u8 {
        self.copy[b as usize]
    }
}

impl Buffers for Mapped {
    #[inline]
    fn seq_load(&self, b: Replica, order: Ordering) -> u64 {
        self.counter(b).load(order)
    }
    #[inline]
    fn seq_store(&self, b: Replica, value: u64, order: Ordering) {
        self.counter(b).store(value, order)
    }
    #[inline]
    fn fence(order: Ordering) {
        fence(order)
    }
    #[inline]
    unsafe fn copy_out(&self, b: Replica, dst: *mut u8) {
        // SAFETY: the copy's words are readable (`new`), `dst` has `len`
        // bytes (caller).
        unsafe { load_words(self.ptr(b), dst, self.len) }
    }
    #[inline]
    unsafe fn copy_in(&self, b: Replica, src: *const u8) {
        // SAFETY: the copy's words are writable (`new`), `src` has `len`
        // bytes, and the caller holds write access.
        unsafe { store_words(self.ptr(b), src, self.len) }
    }
    unsafe fn copy_across(&self, from: Replica, to: Replica) {
        // SAFETY: both copies' words are valid and do not overlap (`new`);
        // the caller holds write access.
        unsafe { copy_shared(self.ptr(from), self.ptr(to), self.len) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::words::{load_bytes, store_bytes};

    /// Two copies of `N` words and their counters in private memory.
    struct Heap<const N: usize> {
        seqs: Box<[u64; 2]>,
        words: Box<[[u64; N]; 2]>,
    }

    impl<const N: usize> Heap<N> {
        fn new() -> Self {
            Heap {
                seqs: Box::new([0; 2]),
                words: Box::new([[0; N]; 2]),
            }
        }
        fn mapped(&mut self) -> Mapped {
            let s = self.seqs.as_mut_ptr().cast::<u8>();
            let w = self.words.as_mut_ptr().cast::<u8>();
            // SAFETY: the boxes outlive every use in the tests, the ranges
            // are disjoint, aligned, and only accessed through `Mapped`.
            unsafe { Mapped::new(s, s.add(8), w, w.add(8 * N), 8 * N) }
        }
    }

    fn counters(m: &Mapped) -> (u64, u64) {
        (
            m.seq_load(Replica::Primary, Ordering::Relaxed),
            m.seq_load(Replica::Backup, Ordering::Relaxed),
        )
    }

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
    fn the_latest_copy_is_the_larger_even_counter() {
        assert_eq!(latest(0, 0), Replica::Primary);
        assert_eq!(latest(0, 2), Replica::Backup);
        assert_eq!(latest(4, 2), Replica::Primary);
        assert_eq!(latest(4, 5), Replica::Primary);
        assert_eq!(latest(7, 6), Replica::Backup);
        assert_eq!(latest(7, 9), Replica::Primary);
        assert_eq!(version_of_pair(7, 6), 3);
        assert_eq!(version_of_pair(8, 6), 4);
        // Next to the end of the counters (only a damaged segment): still
        // alternating.
        assert_eq!(latest(u64::MAX - 1, 0), Replica::Backup);
        assert_eq!(latest(u64::MAX - 1, u64::MAX - 3), Replica::Primary);
    }

    #[test]
    fn writes_alternate_and_count() {
        let mut heap = Heap::<2>::new();
        let m = heap.mapped();
        let mut out = [0u64; 2];
        for (i, want) in [(1u64, (0, 2)), (2, (4, 2)), (3, (4, 6)), (4, (8, 6))] {
            let v = [i, !i];
            // SAFETY: single-threaded; 16-byte values.
            unsafe { write(&m, v.as_ptr().cast()) };
            assert_eq!(counters(&m), want);
            // SAFETY: as above.
            let got = unsafe { try_read(&m, out.as_mut_ptr().cast()) };
            assert_eq!((got.map(version_of), out), (Some(i), v));
        }
    }

    #[test]
    fn a_torn_write_reads_the_latest_and_is_restored() {
        let mut heap = Heap::<4>::new();
        let m = heap.mapped();
        let v1 = [1u64; 4];
        let mut out = [0u64; 4];
        // SAFETY: single-threaded; `v1`/`out` are 32 bytes, the payload length.
        unsafe { write(&m, v1.as_ptr().cast()) };
        let (torn, s) = begin(&m);
        assert_eq!((torn, s), (Replica::Primary, 2));
        // SAFETY: as above; a half-written primary.
        unsafe { store_bytes(m.ptr(torn), [9u8; 8].as_ptr(), 8) };
        // SAFETY: as above.
        let got = unsafe { try_read(&m, out.as_mut_ptr().cast()) };
        assert_eq!((got, out), (Some(2), v1));
        // The writer dies here; the next one repairs the torn copy.
        // SAFETY: as above.
        assert_eq!(unsafe { recover(&m) }, Repair::RestoredTorn);
        assert_eq!(counters(&m), (4, 2));
        out = [0; 4];
        // SAFETY: as above.
        let got = unsafe { try_read(&m, out.as_mut_ptr().cast()) };
        assert_eq!((got, out), (Some(4), v1));
        // SAFETY: as above.
        assert_eq!(unsafe { recover(&m) }, Repair::Clean);
        let _ = begin(&m);
        m.seq_store(Replica::Primary, 5, Ordering::Relaxed);
        // SAFETY: as above.
        assert_eq!(unsafe { recover(&m) }, Repair::BothTorn);
        // SAFETY: as above.
        assert_eq!(unsafe { try_read(&m, out.as_mut_ptr().cast()) }, None);
    }

    #[test]
    fn readers_on_threads_never_see_a_torn_value() {
        // Each value is N equal words; a torn copy would mix two of them.
        const N: usize = 16;
        let mut heap = Heap::<N>::new();
        let m = heap.mapped();
        struct SendMapped(Mapped);
        // SAFETY: `Mapped` only does atomic accesses to memory that
        // outlives the scope below.
        unsafe impl Sync for SendMapped {}
        let shared = SendMapped(m);
        let writes = if cfg!(miri) { 20 } else { 20_000 };
        std::thread::scope(|scope| {
            let shared = &shared;
            for project in [false, true] {
                scope.spawn(move || {
                    let mut last = 0;
                    for _ in 0..writes {
                        let mut out = [0u64; N];
                        let got = if project {
                            // Two words of the copy, read in place.
                            let got = try_read_with(&shared.0, &mut |c| {
                                let at = shared.0.ptr(c);
                                let mut two = [0u64; 2];
                                // SAFETY: words 3 and 9 of the copy, whole
                                // aligned atomics; `two` is private.
                                unsafe {
                                    load_words(at.add(24), two.as_mut_ptr().cast(), 8);
                                    load_words(at.add(72), two.as_mut_ptr().add(1).cast(), 8);
                                }
                                two
                            });
                            got.map(|(two, s)| {
                                out = [two[0]; N];
                                out[1] = two[1];
                                s
                            })
                        } else {
                            // SAFETY: `out` is the payload's length.
                            unsafe { try_read(&shared.0, out.as_mut_ptr().cast()) }
                        };
                        if let Some(s) = got {
                            assert!(out.iter().all(|&w| w == out[0]), "torn: {out:?}");
                            assert_eq!(out[0], version_of(s), "value of another write");
                            assert!(s >= last, "went back from {last} to {s}");
                            last = s;
                        }
                    }
                });
            }
            for i in 1..=writes as u64 {
                let v = [i; N];
                // SAFETY: the only writer; `v` is the payload's length.
                unsafe { write(&shared.0, v.as_ptr().cast()) };
            }
        });
    }
}

#[cfg(all(test, loom))]
mod loom_model;
