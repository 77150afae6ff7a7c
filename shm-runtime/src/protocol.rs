//! The snapshot protocol: a double-buffered sequence counter ("seqlock")
//! over atomic byte copies.
//!
//! # The two copies
//!
//! A segment holds the payload twice: the *primary* copy at
//! `payload_offset` and a *backup* copy at `backup_offset`, each guarded by
//! its own counter (`seq` at header offset 128, `backup_seq` at 240). A
//! counter is odd while its copy is being written. A write is two phases,
//! one after the other:
//!
//! 1. primary: `seq` odd, store the new value, `seq` even;
//! 2. backup: `backup_seq` odd, store the same value, `backup_seq` even.
//!
//! So at every instant at least one copy is complete: the primary outside
//! phase 1, the backup during it (it holds the value of the previous write,
//! whose phase 2 finished before this phase 1 began). A reader copies the
//! primary and, if that is being written, the backup. Readers therefore
//! never wait for a writer, and a writer killed at any instant leaves a
//! complete value behind: readers go on reading it, and the next writer
//! repairs the other copy ([`recover`]). Both counters advance by 2 per
//! write, so a copy's counter halved is the number of the write whose
//! value it holds (its *version*), whichever copy a reader read.
//!
//! # Why it is sound
//!
//! A reader copies a payload while a writer in another process may be
//! changing it. Plain or volatile reads racing with writes are undefined
//! behaviour in the Rust (C++20) memory model (Boehm, "Can Seqlocks Get
//! Along with Programming Language Memory Models?", 2012), so every byte of
//! the payload is read and written with *relaxed atomic* operations (a
//! `u64` at a time where aligned). Atomic accesses never race in the UB
//! sense; they may only observe a mix of old and new values, which the
//! counter detects. For one copy and its counter:
//!
//! ```text
//! writer (the only one: it holds write access)   reader
//! s = seq (even)                                 s1 = seq.load(Acquire)   (odd: try the other copy)
//! seq.store(s + 1, Relaxed)                      copy payload, relaxed loads
//! fence(Release)                                 fence(Acquire)
//! store payload, relaxed stores                  s2 = seq.load(Relaxed)
//! seq.store(s + 2, Release)                      s1 == s2  =>  the copy is one write's value
//! ```
//!
//! If the reader's copy saw any store of a write, its acquire fence
//! synchronises with that write's release fence (which follows the store of
//! `s + 1`), so the later load of `seq` sees at least `s + 1` and
//! `s1 != s2`. If `s1` is the even value published by the release store of
//! a write, every store of that write happens-before the copy. Readers
//! never store to shared memory, so any number of them neither slow each
//! other nor the writer. The same argument holds for each copy on its own;
//! the two-copy scheme only decides which copy to try.
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
pub(crate) fn version_of(seq: u64) -> u64 {
    seq / 2
}

/// One attempt at a consistent copy of copy `b` into `dst`. Returns the
/// copy's (even) counter, or `None` if it was being written.
///
/// # Safety
///
/// As for [`Buffers::copy_out`].
#[inline]
pub(crate) unsafe fn try_read_one<M: Buffers>(m: &M, b: Replica, dst: *mut u8) -> Option<u64> {
    let s1 = m.seq_load(b, Ordering::Acquire);
    if s1 & 1 == 1 {
        return None;
    }
    // SAFETY: forwarded from the caller.
    unsafe { m.copy_out(b, dst) };
    M::fence(Ordering::Acquire);
    let s2 = m.seq_load(b, Ordering::Relaxed);
    (s1 == s2).then_some(s1)
}

/// One attempt at a consistent snapshot: the primary copy, else the backup.
/// Returns the counter of the copy read (`version_of` it is the version), or
/// `None` if both were being written meanwhile (the caller retries).
///
/// # Safety
///
/// As for [`Buffers::copy_out`].
#[inline]
pub(crate) unsafe fn try_read<M: Buffers>(m: &M, dst: *mut u8) -> Option<u64> {
    // SAFETY: forwarded from the caller.
    unsafe {
        try_read_one(m, Replica::Primary, dst).or_else(|| try_read_one(m, Replica::Backup, dst))
    }
}

/// Makes copy `b`'s counter odd before its bytes are stored; returns the
/// even value it had (an odd value left by someone else is treated as the
/// even one below it). Only the holder of write access calls this.
#[inline]
pub(crate) fn begin<M: Buffers>(m: &M, b: Replica) -> u64 {
    let s = m.seq_load(b, Ordering::Relaxed) & !1;
    m.seq_store(b, s.wrapping_add(1), Ordering::Relaxed);
    M::fence(Ordering::Release);
    s
}

/// Publishes copy `b` after a write begun at `s`: its counter becomes
/// `s + 2` with release, so a reader that loads it sees every store.
#[inline]
pub(crate) fn end<M: Buffers>(m: &M, b: Replica, s: u64) {
    m.seq_store(b, s.wrapping_add(2), Ordering::Release);
}

/// A whole write of the private value at `src`: the primary copy, then the
/// backup copy.
///
/// # Safety
///
/// The caller holds write access (no other writer in any process or
/// thread); `src` is valid for reads of the payload's length.
#[inline]
pub(crate) unsafe fn write<M: Buffers>(m: &M, src: *const u8) {
    let s = begin(m, Replica::Primary);
    // SAFETY: write access held, the primary's counter is odd.
    unsafe { m.copy_in(Replica::Primary, src) };
    end(m, Replica::Primary, s);
    let t = begin(m, Replica::Backup);
    // SAFETY: as above, for the backup.
    unsafe { m.copy_in(Replica::Backup, src) };
    end(m, Replica::Backup, t);
}

/// Brings the backup copy in step with the primary (which is complete):
/// what [`recover`] does after a writer died in phase 2 of a write (the
/// primary holds that write's value), or when the counters differ.
///
/// # Safety
///
/// The caller holds write access and the primary copy is complete (its
/// counter even).
unsafe fn sync_backup<M: Buffers>(m: &M) {
    let t = begin(m, Replica::Backup);
    // SAFETY: write access held, the backup's counter is odd.
    unsafe { m.copy_across(Replica::Primary, Replica::Backup) };
    end(m, Replica::Backup, t);
}

/// Undoes a write that died in phase 1 (the primary's counter odd since
/// `s`): puts the backup's value (the last complete one) back into the
/// primary and publishes it, then bumps the backup's counter to match, as
/// if the lost write had written that value. Only [`recover`] calls it.
///
/// # Safety
///
/// The caller holds write access and the primary's counter is `s + 1`.
unsafe fn roll_back<M: Buffers>(m: &M, s: u64) {
    // SAFETY: write access held, the primary's counter is odd (since `s`).
    unsafe { m.copy_across(Replica::Backup, Replica::Primary) };
    end(m, Replica::Primary, s);
    let t = begin(m, Replica::Backup);
    end(m, Replica::Backup, t);
}

/// What [`recover`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repair {
    /// Both copies complete: nothing to do.
    Clean,
    /// A write was interrupted in phase 1: the primary was torn and now
    /// holds the backup's value again (the interrupted write is lost).
    RestoredPrimary,
    /// A write was interrupted in phase 2: its value was complete in the
    /// primary and is now in the backup too.
    RefreshedBackup,
    /// Both counters odd: no writer of this protocol leaves that, so the
    /// segment was damaged by someone else. Nothing was changed.
    BothTorn,
}

/// Repairs the copies after a writer died (or anyone left a counter odd),
/// so that both are complete and their counters equal again. Called by a
/// process that has just taken write access.
///
/// # Safety
///
/// The caller holds write access.
pub(crate) unsafe fn recover<M: Buffers>(m: &M) -> Repair {
    let p = m.seq_load(Replica::Primary, Ordering::Acquire);
    let b = m.seq_load(Replica::Backup, Ordering::Acquire);
    match (p & 1 == 1, b & 1 == 1) {
        (false, false) if p == b => Repair::Clean,
        // Equal counters are the invariant between writes; bring the backup
        // in step with the primary (which is complete) if they differ.
        (false, false) | (false, true) => {
            // SAFETY: write access held (caller), the primary is complete.
            unsafe { sync_backup(m) };
            if b & 1 == 1 {
                Repair::RefreshedBackup
            } else {
                Repair::Clean
            }
        }
        (true, false) => {
            // SAFETY: write access held; the primary's counter is odd.
            unsafe { roll_back(m, p & !1) };
            Repair::RestoredPrimary
        }
        (true, true) => Repair::BothTorn,
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
    fn a_write_in_phase_one_reads_the_backup() {
        let mut heap = Heap::<4>::new();
        let m = heap.mapped();
        let v1 = [1u64; 4];
        let mut out = [0u64; 4];
        // SAFETY: single-threaded; `v1`/`out` are 32 bytes, the payload length.
        unsafe { write(&m, v1.as_ptr().cast()) };
        assert_eq!(m.seq_load(Replica::Primary, Ordering::Relaxed), 2);
        let s = begin(&m, Replica::Primary);
        // SAFETY: as above; a half-written primary.
        unsafe { store_bytes(m.ptr(Replica::Primary), [9u8; 8].as_ptr(), 8) };
        // SAFETY: as above.
        let got = unsafe { try_read(&m, out.as_mut_ptr().cast()) };
        assert_eq!((got, out), (Some(2), v1));
        // The writer dies here; the next one repairs the primary.
        // SAFETY: as above.
        assert_eq!(unsafe { recover(&m) }, Repair::RestoredPrimary);
        assert_eq!(m.seq_load(Replica::Primary, Ordering::Relaxed), s + 2);
        assert_eq!(m.seq_load(Replica::Backup, Ordering::Relaxed), s + 2);
        // SAFETY: as above.
        let got = unsafe { try_read_one(&m, Replica::Primary, out.as_mut_ptr().cast()) };
        assert_eq!((got, out), (Some(4), v1));
    }

    #[test]
    fn a_write_in_phase_two_is_complete() {
        let mut heap = Heap::<2>::new();
        let m = heap.mapped();
        let v = [5u64, 6];
        let s = begin(&m, Replica::Primary);
        // SAFETY: single-threaded; 16-byte values.
        unsafe { m.copy_in(Replica::Primary, v.as_ptr().cast()) };
        end(&m, Replica::Primary, s);
        let _ = begin(&m, Replica::Backup);
        // Dies before finishing the backup.
        // SAFETY: as above.
        assert_eq!(unsafe { recover(&m) }, Repair::RefreshedBackup);
        let mut out = [0u64; 2];
        // SAFETY: as above.
        let got = unsafe { try_read_one(&m, Replica::Backup, out.as_mut_ptr().cast()) };
        assert_eq!((got, out), (Some(2), v));
        // SAFETY: as above.
        assert_eq!(unsafe { recover(&m) }, Repair::Clean);
        let _ = begin(&m, Replica::Primary);
        let _ = begin(&m, Replica::Backup);
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
            for _ in 0..2 {
                scope.spawn(move || {
                    let mut last = 0;
                    for _ in 0..writes {
                        let mut out = [0u64; N];
                        // SAFETY: `out` is the payload's length.
                        if let Some(s) = unsafe { try_read(&shared.0, out.as_mut_ptr().cast()) } {
                            assert!(out.iter().all(|&w| w == out[0]), "torn: {out:?}");
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

/// The protocol under loom: `RUSTFLAGS="--cfg loom" cargo test -p
/// shm-runtime --lib --release loom` (`.ci/concurrency.sh` runs it).
///
/// Loom runs each test body under every interleaving of its threads with
/// at most a bounded number of preemptions and, for every relaxed or
/// acquire load, under every store the C++20 memory model lets that load
/// read (stale ones included), so it checks the ordering argument above,
/// not only the behaviour of the machine it runs on. The shared memory is
/// [`Model`]: the [`Buffers`] that [`Mapped`] implements, over loom's
/// atomics; the algorithms (`write`, `try_read`, `recover`, `roll_back`)
/// run on it unchanged.
///
/// The bounds keep the whole run near a minute on two cores; set
/// `LOOM_MAX_PREEMPTIONS` to override them (3 for every test takes about
/// two and a half minutes, 4 more than ten).
#[cfg(all(test, loom))]
mod loom_model {
    use super::{
        Buffers, Repair, Replica, begin, end, recover, try_read, try_read_one, version_of, write,
    };
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, Ordering};

    /// Runs `f` under loom, exploring every interleaving with at most
    /// `preemptions` preemptions (or `LOOM_MAX_PREEMPTIONS`, if set).
    fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = builder.preemption_bound.or(Some(preemptions));
        builder.check(f);
    }

    /// Two copies of two words (a value `v` is stored as `[v, !v]`, so a
    /// torn copy fails the check) and their counters, in loom atomics.
    struct Model {
        seq: [AtomicU64; 2],
        words: [[AtomicU64; 2]; 2],
    }

    impl Model {
        /// Both copies hold value 0 at version 0, as in a new segment.
        fn new() -> Self {
            let w = || [AtomicU64::new(0), AtomicU64::new(!0)];
            Model {
                seq: [AtomicU64::new(0), AtomicU64::new(0)],
                words: [w(), w()],
            }
        }

        /// What a writer killed while storing copy `b` leaves behind: its
        /// counter odd and the first word of the new value `v` stored.
        fn die_while_writing(&self, b: Replica, v: u64) {
            let _ = begin(self, b);
            self.words[b as usize][0].store(v, Ordering::Relaxed);
        }
    }

    impl Buffers for Model {
        fn seq_load(&self, b: Replica, order: Ordering) -> u64 {
            self.seq[b as usize].load(order)
        }
        fn seq_store(&self, b: Replica, value: u64, order: Ordering) {
            self.seq[b as usize].store(value, order)
        }
        fn fence(order: Ordering) {
            loom::sync::atomic::fence(order)
        }
        unsafe fn copy_out(&self, b: Replica, dst: *mut u8) {
            for (i, w) in self.words[b as usize].iter().enumerate() {
                // SAFETY: `dst` holds two words (`read`, `read_one`).
                unsafe {
                    dst.cast::<u64>()
                        .add(i)
                        .write_unaligned(w.load(Ordering::Relaxed))
                };
            }
        }
        unsafe fn copy_in(&self, b: Replica, src: *const u8) {
            for (i, w) in self.words[b as usize].iter().enumerate() {
                // SAFETY: `src` holds two words (`write_value`).
                let v = unsafe { src.cast::<u64>().add(i).read_unaligned() };
                w.store(v, Ordering::Relaxed);
            }
        }
        unsafe fn copy_across(&self, from: Replica, to: Replica) {
            for i in 0..2 {
                let v = self.words[from as usize][i].load(Ordering::Relaxed);
                self.words[to as usize][i].store(v, Ordering::Relaxed);
            }
        }
    }

    /// A whole write of value `v` (the caller is the one writer).
    fn write_value<M: Buffers>(m: &M, v: u64) {
        let src: [u64; 2] = [v, !v];
        // SAFETY: `src` is two words, the payload's length.
        unsafe { write(m, src.as_ptr().cast()) };
    }

    /// One attempt at a snapshot: `(version, value)`, checked whole.
    fn read<M: Buffers>(m: &M) -> Option<(u64, u64)> {
        let mut out = [0u64; 2];
        // SAFETY: `out` is two words.
        let s = unsafe { try_read(m, out.as_mut_ptr().cast()) }?;
        Some((version_of(s), check(out)))
    }

    /// One attempt at a snapshot of copy `b` alone.
    fn read_one<M: Buffers>(m: &M, b: Replica) -> Option<(u64, u64)> {
        let mut out = [0u64; 2];
        // SAFETY: `out` is two words.
        let s = unsafe { try_read_one(m, b, out.as_mut_ptr().cast()) }?;
        Some((version_of(s), check(out)))
    }

    /// The value of a snapshot, which must be whole.
    fn check(out: [u64; 2]) -> u64 {
        assert_eq!(out[0], !out[1], "torn snapshot {out:?}");
        out[0]
    }

    /// A reader thread taking `n` snapshots: each must be whole, one of the
    /// `allowed` (version, value) pairs, and no older than the one before.
    fn reader<M: Buffers + Send + Sync + 'static>(
        m: &Arc<M>,
        n: usize,
        allowed: &'static [(u64, u64)],
    ) -> loom::thread::JoinHandle<()> {
        let m = m.clone();
        loom::thread::spawn(move || {
            let mut last = 0;
            for _ in 0..n {
                if let Some((version, value)) = read(&*m) {
                    assert!(
                        allowed.contains(&(version, value)),
                        "snapshot of value {value} at version {version}: not one of {allowed:?}"
                    );
                    assert!(
                        version >= last,
                        "went back from version {last} to {version}"
                    );
                    last = version;
                }
            }
        })
    }

    /// Two writes under a reader taking two snapshots: every snapshot is a
    /// whole write whose version is its number, in order. (The costliest
    /// test: about 45 s with 2 preemptions, two minutes with 3.)
    #[test]
    fn loom_readers_see_whole_writes_in_order() {
        model(2, || {
            let m = Arc::new(Model::new());
            let r = reader(&m, 2, &[(0, 0), (1, 1), (2, 2)]);
            write_value(&*m, 1);
            write_value(&*m, 2);
            r.join().unwrap();
            assert_eq!(read(&*m), Some((2, 2)));
        });
    }

    /// A writer killed in phase 1 (the primary half written): readers read
    /// the backup meanwhile and after; `recover` puts it back in the
    /// primary as the next version.
    #[test]
    fn loom_a_writer_dying_in_phase_one_leaves_a_readable_value() {
        model(3, || {
            let m = Arc::new(Model::new());
            write_value(&*m, 1);
            let dying = {
                let m = m.clone();
                loom::thread::spawn(move || m.die_while_writing(Replica::Primary, 2))
            };
            if let Some(got) = read(&*m) {
                assert_eq!(got, (1, 1));
            }
            dying.join().unwrap();
            // The dead writer left the primary odd: the backup still reads.
            assert_eq!(read(&*m), Some((1, 1)));
            // A new writer puts the backup's value back, as write 2.
            // SAFETY: now the only writer.
            assert_eq!(unsafe { recover(&*m) }, Repair::RestoredPrimary);
            assert_eq!(read_one(&*m, Replica::Primary), Some((2, 1)));
            assert_eq!(read_one(&*m, Replica::Backup), Some((2, 1)));
        });
    }

    /// A writer killed in phase 2 (its value complete in the primary, the
    /// backup half written): readers see the old value or the new one,
    /// whole; `recover` completes the backup.
    #[test]
    fn loom_a_writer_dying_in_phase_two_leaves_its_value() {
        model(3, || {
            let m = Arc::new(Model::new());
            write_value(&*m, 1);
            let dying = {
                let m = m.clone();
                loom::thread::spawn(move || {
                    let s = begin(&*m, Replica::Primary);
                    let src: [u64; 2] = [2, !2];
                    // SAFETY: the only writer; the primary's counter is odd.
                    unsafe { m.copy_in(Replica::Primary, src.as_ptr().cast()) };
                    end(&*m, Replica::Primary, s);
                    m.die_while_writing(Replica::Backup, 2);
                })
            };
            if let Some(got) = read(&*m) {
                assert!(got == (1, 1) || got == (2, 2), "{got:?}");
            }
            dying.join().unwrap();
            assert_eq!(read(&*m), Some((2, 2)));
            // SAFETY: now the only writer.
            assert_eq!(unsafe { recover(&*m) }, Repair::RefreshedBackup);
            assert_eq!(read_one(&*m, Replica::Backup), Some((2, 2)));
            // SAFETY: as above.
            assert_eq!(unsafe { recover(&*m) }, Repair::Clean);
        });
    }

    /// The next writer's `recover` (after a death in phase 1) and its
    /// first write, under a reader: the reader sees write 1, the repair
    /// (version 2, write 1's value) and write 3, each whole, in order.
    #[test]
    fn loom_recovery_and_the_next_write_under_a_reader() {
        model(3, || {
            let m = Arc::new(Model::new());
            write_value(&*m, 1);
            m.die_while_writing(Replica::Primary, 2);
            let r = reader(&m, 2, &[(1, 1), (2, 1), (3, 3)]);
            // SAFETY: the new writer, the only one.
            assert_eq!(unsafe { recover(&*m) }, Repair::RestoredPrimary);
            write_value(&*m, 3);
            r.join().unwrap();
        });
    }

    /// [`Model`] with every fence left out, as a seqlock written with plain
    /// counters would be.
    struct NoFences(Model);

    impl Buffers for NoFences {
        fn seq_load(&self, b: Replica, order: Ordering) -> u64 {
            self.0.seq_load(b, order)
        }
        fn seq_store(&self, b: Replica, value: u64, order: Ordering) {
            self.0.seq_store(b, value, order)
        }
        fn fence(_order: Ordering) {}
        unsafe fn copy_out(&self, b: Replica, dst: *mut u8) {
            // SAFETY: forwarded.
            unsafe { self.0.copy_out(b, dst) }
        }
        unsafe fn copy_in(&self, b: Replica, src: *const u8) {
            // SAFETY: forwarded.
            unsafe { self.0.copy_in(b, src) }
        }
        unsafe fn copy_across(&self, from: Replica, to: Replica) {
            // SAFETY: forwarded.
            unsafe { self.0.copy_across(from, to) }
        }
    }

    /// The model has teeth: without the fences the protocol is wrong, and
    /// loom finds a torn snapshot (a machine with strong ordering, such as
    /// x86, would not show it).
    #[test]
    #[should_panic(expected = "torn snapshot")]
    fn loom_finds_the_torn_read_when_the_fences_are_left_out() {
        model(2, || {
            let m = Arc::new(NoFences(Model::new()));
            let r = reader(&m, 1, &[(0, 0), (1, 1)]);
            write_value(&*m, 1);
            r.join().unwrap();
        });
    }
}
