//! The protocol under loom: `RUSTFLAGS="--cfg loom" cargo test -p
//! shm-runtime --lib --release loom` (`.ci/concurrency.sh` runs it).
//!
//! Loom runs each test body under every interleaving of its threads with
//! at most a bounded number of preemptions and, for every relaxed or
//! acquire load, under every store the C++20 memory model lets that load
//! read (stale ones included), so it checks the ordering argument of the
//! protocol module, not only the behaviour of the machine it runs on. The
//! shared memory is [`Model`]: the [`Buffers`] that
//! [`Mapped`](super::Mapped) implements, over loom's atomics; the
//! algorithms (`write`, `try_read`, `try_read_with`, `recover`) run on it
//! unchanged.
//!
//! The bounds keep the whole run to seconds on two cores; set
//! `LOOM_MAX_PREEMPTIONS` to override them.

use super::{Buffers, Repair, Replica, begin, recover, try_read, try_read_with, version_of, write};
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

    /// What a writer killed while writing value `v` leaves behind: the
    /// target's counter odd and the first word of `v` stored.
    fn die_while_writing(&self, v: u64) {
        let (target, _) = begin(self);
        self.words[target as usize][0].store(v, Ordering::Relaxed);
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
            // SAFETY: `dst` holds two words (`read`).
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

/// Access to the words of a model, for projections.
trait Words: Buffers {
    fn word(&self, b: Replica, i: usize) -> u64;
}

impl Words for Model {
    fn word(&self, b: Replica, i: usize) -> u64 {
        self.words[b as usize][i].load(Ordering::Relaxed)
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

/// One attempt at a projection: the two words read in place by the
/// closure, which may see a mix in a run that is thrown away.
fn project<M: Words>(m: &M) -> Option<(u64, u64)> {
    let (out, s) = try_read_with(m, &mut |c| [m.word(c, 0), m.word(c, 1)])?;
    Some((version_of(s), check(out)))
}

/// The value of a snapshot, which must be whole.
fn check(out: [u64; 2]) -> u64 {
    assert_eq!(out[0], !out[1], "torn snapshot {out:?}");
    out[0]
}

/// A reader thread taking `n` snapshots (or projections), starting at
/// version `from`: each must be whole, one of the `allowed` (version,
/// value) pairs, and no older than the one before.
fn reader<M: Words + Send + Sync + 'static>(
    m: &Arc<M>,
    n: usize,
    from: u64,
    projection: bool,
    allowed: &'static [(u64, u64)],
) -> loom::thread::JoinHandle<()> {
    let m = m.clone();
    loom::thread::spawn(move || {
        let mut last = from;
        for _ in 0..n {
            let got = if projection { project(&*m) } else { read(&*m) };
            if let Some((version, value)) = got {
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

/// Three writes (into the backup, the primary, the backup again) under
/// a reader taking two snapshots: every snapshot is a whole write whose
/// version is its number, in order.
#[test]
fn loom_readers_see_whole_writes_in_order() {
    model(3, || {
        let m = Arc::new(Model::new());
        let r = reader(&m, 2, 0, false, &[(0, 0), (1, 1), (2, 2), (3, 3)]);
        write_value(&*m, 1);
        write_value(&*m, 2);
        write_value(&*m, 3);
        r.join().unwrap();
        assert_eq!(read(&*m), Some((3, 3)));
    });
}

/// The same with projections: the closure reads the words in place.
#[test]
fn loom_projections_see_whole_writes_in_order() {
    model(3, || {
        let m = Arc::new(Model::new());
        let r = reader(&m, 2, 0, true, &[(0, 0), (1, 1), (2, 2), (3, 3)]);
        write_value(&*m, 1);
        write_value(&*m, 2);
        write_value(&*m, 3);
        r.join().unwrap();
        assert_eq!(project(&*m), Some((3, 3)));
    });
}

/// A reader that started at version 1 never gets an older snapshot
/// while the next writes rewrite the copy it would have read. Write 2 is
/// made by another writer (one that then died or gave up write access;
/// joining it stands for the claim), so nothing orders write 3's first
/// counter store for the reader but that store's own release: the case it
/// is for.
#[test]
fn loom_versions_never_go_back() {
    model(3, || versions_never_go_back(Model::new()));
}

fn versions_never_go_back<M: Words + Send + Sync + 'static>(m: M) {
    let m = Arc::new(m);
    write_value(&*m, 1);
    let r = reader(&m, 1, 1, false, &[(0, 0), (1, 1), (2, 2), (3, 3)]);
    let previous = {
        let m = m.clone();
        loom::thread::spawn(move || write_value(&*m, 2))
    };
    previous.join().unwrap();
    write_value(&*m, 3);
    r.join().unwrap();
}

/// A writer killed mid-write: readers read the latest complete copy
/// meanwhile and after; `recover` puts it into the torn copy as the
/// next version.
#[test]
fn loom_a_writer_dying_leaves_a_readable_value() {
    model(3, || {
        let m = Arc::new(Model::new());
        write_value(&*m, 1);
        let dying = {
            let m = m.clone();
            loom::thread::spawn(move || m.die_while_writing(2))
        };
        if let Some(got) = read(&*m) {
            assert_eq!(got, (1, 1));
        }
        dying.join().unwrap();
        assert_eq!(read(&*m), Some((1, 1)));
        // SAFETY: now the only writer.
        assert_eq!(unsafe { recover(&*m) }, Repair::RestoredTorn);
        assert_eq!(read(&*m), Some((2, 1)));
        // SAFETY: as above.
        assert_eq!(unsafe { recover(&*m) }, Repair::Clean);
    });
}

/// The next writer's `recover` (after a death) and its first write,
/// under a reader: the reader sees write 1, the repair (version 2,
/// write 1's value) and write 3, each whole, in order.
#[test]
fn loom_recovery_and_the_next_write_under_a_reader() {
    model(3, || {
        let m = Arc::new(Model::new());
        write_value(&*m, 1);
        m.die_while_writing(2);
        let r = reader(&m, 2, 1, false, &[(1, 1), (2, 1), (3, 3)]);
        // SAFETY: the new writer, the only one.
        assert_eq!(unsafe { recover(&*m) }, Repair::RestoredTorn);
        write_value(&*m, 3);
        r.join().unwrap();
    });
}

/// [`Model`] with one ordering left out: every fence (`NO_FENCES`), or
/// the release of the odd counter stores (`!NO_FENCES`: those relaxed,
/// fences kept).
struct Broken<const NO_FENCES: bool>(Model);

impl<const NO_FENCES: bool> Buffers for Broken<NO_FENCES> {
    fn seq_load(&self, b: Replica, order: Ordering) -> u64 {
        self.0.seq_load(b, order)
    }
    fn seq_store(&self, b: Replica, value: u64, order: Ordering) {
        let order = if NO_FENCES || value & 1 == 0 {
            order
        } else {
            Ordering::Relaxed
        };
        self.0.seq_store(b, value, order)
    }
    fn fence(order: Ordering) {
        if !NO_FENCES {
            Model::fence(order)
        }
    }
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

impl<const NO_FENCES: bool> Words for Broken<NO_FENCES> {
    fn word(&self, b: Replica, i: usize) -> u64 {
        self.0.word(b, i)
    }
}

/// The model has teeth: without the fences the protocol is wrong, and
/// loom finds a torn snapshot (a machine with strong ordering, such as
/// x86, would not show it).
#[test]
#[should_panic(expected = "torn snapshot")]
fn loom_finds_the_torn_read_when_the_fences_are_left_out() {
    model(2, || {
        let m = Arc::new(Broken::<true>(Model::new()));
        write_value(&*m, 1);
        let r = reader(&m, 1, 1, false, &[(1, 1), (2, 2), (3, 3)]);
        write_value(&*m, 2);
        write_value(&*m, 3);
        r.join().unwrap();
    });
}

/// And without the release on the odd counter store (after a change of
/// writer), a reader takes a stale counter of the other copy for a
/// consistent one: its version goes back.
#[test]
#[should_panic(expected = "went back")]
fn loom_finds_the_version_going_back_without_the_release() {
    model(3, || versions_never_go_back(Broken::<false>(Model::new())));
}
