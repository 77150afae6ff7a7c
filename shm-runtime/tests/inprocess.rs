//! The typed API over the in-process backing (`Options::memory()`: heap
//! memory with the same header, protocol and API as a real segment), with
//! threads in place of processes, so that the whole runtime path (not only
//! the protocol's algorithms) also runs under Miri:
//!
//! ```text
//! cargo test -p shm-runtime --test inprocess
//! MIRIFLAGS=-Zmiri-disable-isolation cargo +nightly miri test -p shm-runtime --test inprocess
//! ```
//!
//! (`.ci/concurrency.sh` runs both. Isolation is disabled because opening a
//! segment reads the clock for its header and claiming write access reads
//! `/proc/<pid>/stat` for the process's start time.)
//!
//! Miri checks every access of these tests against the Rust memory model:
//! a non-atomic access racing with another access, or two racing atomic
//! accesses of different sizes to the same bytes, is reported as undefined
//! behaviour. The loops are short under Miri, which is slow and explores
//! interleavings by its own scheduler rather than by volume.
//!
//! Every access to a payload copy is a whole aligned 8-byte word, fields
//! included (`fields()` loads the word holding the field; `update` works on
//! a private copy written back whole), so racing accesses are always of the
//! same size: the last tests check that with fields narrower than a word.

#![allow(missing_docs)]

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use shm_runtime::{Error, Options, ReadWrite, Shared, SharedLayout};

/// A value whose words all follow from `n`, so that a mix of two writes
/// (a torn snapshot) is seen at once.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Snap {
    pub n: u64,
    pub words: [u64; 5],
    pub check: u64,
}

impl Snap {
    fn of(n: u64) -> Snap {
        let w = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Snap {
            n,
            words: [w, w ^ 1, w ^ 2, w ^ 3, w ^ 4],
            check: !n,
        }
    }

    fn assert_whole(&self) {
        assert_eq!(*self, Snap::of(self.n), "torn snapshot");
    }
}

/// How many times the loops below go round: few under Miri.
fn rounds(normal: u64, miri: u64) -> u64 {
    if cfg!(miri) { miri } else { normal }
}

/// A new in-process segment holding `Snap::of(0)` at version 0.
fn fresh() -> Shared<Snap, ReadWrite> {
    Options::memory().open_with(&Snap::of(0)).unwrap()
}

#[test]
fn a_new_segment_is_zero() {
    let seg = Options::memory().open::<Snap>().unwrap();
    let zero = Snap {
        n: 0,
        words: [0; 5],
        check: 0,
    };
    assert_eq!(seg.read_with_version().unwrap(), (zero, 0));
    assert_eq!(seg.version(), 0);
}

#[test]
fn write_read_update_modify() {
    let seg = fresh();
    assert!(seg.is_writer(), "open() claims write access by default");
    assert_eq!(seg.take_over(), None);
    assert_eq!(seg.read_with_version().unwrap(), (Snap::of(0), 0));

    seg.write(&Snap::of(1)).unwrap();
    assert_eq!(seg.read_with_version().unwrap(), (Snap::of(1), 1));

    let r = seg
        .update(|f| {
            let n = f.n().get() + 1;
            let s = Snap::of(n);
            f.n().set(n);
            f.words().set_all(&s.words);
            f.check().set(s.check);
            n
        })
        .unwrap();
    assert_eq!(r, 2);
    assert_eq!(seg.read_with_version().unwrap(), (Snap::of(2), 2));
    assert_eq!(seg.fields().n().get(), 2);
    assert_eq!(seg.fields().words().get(4), Some(Snap::of(2).words[4]));

    let r = seg
        .modify(|v| {
            *v = Snap::of(v.n * 10);
            v.n
        })
        .unwrap();
    assert_eq!(r, 20);
    assert_eq!(seg.read().unwrap(), Snap::of(20));
    assert_eq!(seg.version(), 3, "one write each: write, update, modify");

    // An update that changes nothing is still one write.
    seg.update(|_| ()).unwrap();
    assert_eq!(seg.read_with_version().unwrap(), (Snap::of(20), 4));
}

#[test]
fn write_access_is_claimed_and_released() {
    let seg = Options::memory()
        .claim_writer(false)
        .open_with(&Snap::of(0))
        .unwrap();
    assert!(!seg.is_writer());
    let not_writer = |e: Error| matches!(e, Error::NotWriter { .. });
    assert!(not_writer(seg.write(&Snap::of(1)).unwrap_err()));
    assert!(not_writer(seg.update(|f| f.n().set(1)).unwrap_err()));
    assert!(not_writer(seg.modify(|v| v.n = 1).unwrap_err()));
    assert_eq!(seg.version(), 0, "refused writes change nothing");
    // Reading and waiting need no write access.
    assert_eq!(seg.read().unwrap().n, 0);
    assert_eq!(seg.wait_for_change(0, Duration::ZERO), None);

    assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);
    assert!(seg.is_writer());
    seg.write(&Snap::of(1)).unwrap();
    // Claiming again while holding it: no change, what the claim found.
    assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);

    seg.release_writer().unwrap();
    assert!(!seg.is_writer());
    assert!(not_writer(seg.write(&Snap::of(2)).unwrap_err()));
    seg.release_writer().unwrap(); // nothing to release: no effect
    assert_eq!(seg.claim_writer(Duration::from_millis(1)).unwrap(), None);
    seg.write(&Snap::of(2)).unwrap();
    assert_eq!(seg.read_with_version().unwrap(), (Snap::of(2), 2));
}

#[test]
fn each_segment_has_its_own_writer() {
    // Write access is per segment: one process may be the writer of two.
    let a = fresh();
    let b = fresh();
    assert!(a.is_writer() && b.is_writer());
    a.write(&Snap::of(1)).unwrap();
    b.write(&Snap::of(2)).unwrap();
    assert_eq!(a.read().unwrap(), Snap::of(1));
    assert_eq!(b.read().unwrap(), Snap::of(2));
}

/// Takes snapshots until the writer has written `last`: each must be
/// whole, carry its own version (the test writes value `k` as write `k`)
/// and be no older than the one before. Returns how many it checked.
fn check_snapshots(seg: &Shared<Snap, ReadWrite>, last: u64) -> u64 {
    let mut seen = 0;
    let mut checked = 0;
    while seen < last {
        let (v, version) = seg.read_with_version().unwrap();
        v.assert_whole();
        assert_eq!(v.n, version, "the value of write {version}");
        assert!(version >= seen, "went back from {seen} to {version}");
        seen = version;
        checked += 1;
        std::thread::yield_now();
    }
    checked
}

/// As [`check_snapshots`], with projections: `read_with` reads `n`, one
/// word of `words` and `check` in place; they must be of one write.
fn check_projections(seg: &Shared<Snap, ReadWrite>, last: u64) -> u64 {
    let mut seen = 0;
    let mut checked = 0;
    while seen < last {
        let (n, w3, check) = seg
            .read_with(|f| (f.n().get(), f.words().get(3), f.check().get()))
            .unwrap();
        let want = Snap::of(n);
        assert_eq!(
            (w3, check),
            (Some(want.words[3]), want.check),
            "mixed projection"
        );
        assert!(n >= seen, "went back from {seen} to {n}");
        seen = n;
        checked += 1;
        std::thread::yield_now();
    }
    checked
}

#[test]
fn readers_on_threads_never_see_a_torn_value() {
    let seg = fresh();
    let writes = rounds(5_000, 12);
    let checked = std::thread::scope(|s| {
        let readers: Vec<_> = (0..3)
            .map(|i| {
                if i == 2 {
                    s.spawn(|| check_projections(&seg, writes))
                } else {
                    s.spawn(|| check_snapshots(&seg, writes))
                }
            })
            .collect();
        s.spawn(|| {
            for k in 1..=writes {
                // Every way of writing: whole, in place, read-modify-write.
                match k % 3 {
                    0 => seg.write(&Snap::of(k)).unwrap(),
                    1 => seg
                        .update(|f| {
                            let s = Snap::of(k);
                            f.words().set_all(&s.words);
                            f.check().set(s.check);
                            f.n().set(k);
                        })
                        .unwrap(),
                    _ => seg.modify(|v| *v = Snap::of(v.n + 1)).unwrap(),
                }
            }
        });
        readers.into_iter().map(|r| r.join().unwrap()).sum::<u64>()
    });
    assert!(checked >= 3);
    assert_eq!(seg.read_with_version().unwrap(), (Snap::of(writes), writes));
}

/// An `update` whose closure panics half-way: it changed a private copy
/// only, so nothing is written.
fn abandoned_update(seg: &Shared<Snap, ReadWrite>, n: u64) {
    let r = catch_unwind(AssertUnwindSafe(|| {
        seg.update(|f| {
            f.n().set(n);
            f.words().set(0, 0xdead).expect("index in range");
            // `resume_unwind` unwinds as a panic does, without printing.
            resume_unwind(Box::new("the closure gave up"));
        })
    }));
    assert!(r.is_err(), "the panic goes on to the caller");
}

#[test]
fn a_panicking_update_leaves_the_previous_value() {
    let seg = fresh();
    seg.write(&Snap::of(5)).unwrap();
    abandoned_update(&seg, 6);
    // Still the writer, still usable; the value is the one before.
    assert!(seg.is_writer());
    assert_eq!(seg.read_with_version().unwrap(), (Snap::of(5), 1));
    assert_eq!(seg.fields().n().get(), 5, "the shared copy was not touched");
    assert_eq!(seg.fields().words().get(0), Some(Snap::of(5).words[0]));
    assert_eq!(seg.version(), 1, "nothing was written");
    seg.write(&Snap::of(7)).unwrap();
    assert_eq!(seg.read_with_version().unwrap(), (Snap::of(7), 2));
}

#[test]
fn readers_never_see_half_of_an_abandoned_update() {
    let seg = fresh();
    let rounds = rounds(2_000, 8);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut last = 0;
                    while last < rounds {
                        let (v, version) = seg.read_with_version().unwrap();
                        v.assert_whole();
                        // Only the whole writes are ever seen (write `k`
                        // wrote `2k - 1`), never the even numbers the
                        // abandoned updates set.
                        assert_eq!(v.n, (2 * version).saturating_sub(1), "saw {v:?}");
                        assert!(version >= last);
                        last = version;
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        for k in 0..rounds {
            seg.write(&Snap::of(2 * k + 1)).unwrap();
            abandoned_update(&seg, 2 * k + 2);
        }
        for r in readers {
            r.join().unwrap();
        }
    });
    assert_eq!(seg.read().unwrap(), Snap::of(2 * rounds - 1));
    assert_eq!(seg.version(), rounds, "the abandoned updates wrote nothing");
}

#[test]
fn wait_for_change_wakes_on_a_write_from_another_thread() {
    // A read-write handle: on Linux the waiters sleep on the futex.
    let seg = fresh();
    let changes = rounds(200, 4);
    std::thread::scope(|s| {
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut seen = 0;
                    let mut woken = 0;
                    while seen < changes {
                        // Long enough never to time out.
                        let v = seg.wait_for_change(seen, Duration::from_secs(60));
                        let v = v.expect("a write wakes the waiter");
                        assert!(v > seen);
                        seen = v;
                        woken += 1;
                    }
                    woken
                })
            })
            .collect();
        for k in 1..=changes {
            // Give the waiters time to go to sleep before some writes.
            if k % 2 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            seg.write(&Snap::of(k)).unwrap();
        }
        for w in waiters {
            assert!(w.join().unwrap() >= 1);
        }
    });
}

#[test]
fn wait_for_change_times_out_when_nobody_writes() {
    let seg = fresh();
    seg.write(&Snap::of(1)).unwrap();
    assert_eq!(seg.wait_for_change(1, Duration::from_millis(20)), None);
    assert_eq!(seg.wait_for_change(1, Duration::ZERO), None);
    // A version other than the current one returns at once.
    assert_eq!(seg.wait_for_change(0, Duration::from_secs(60)), Some(1));
    seg.write(&Snap::of(2)).unwrap();
    assert_eq!(seg.wait_for_change(1, Duration::from_secs(60)), Some(2));
}

#[test]
fn a_read_only_image_waits_by_polling() {
    // A read-only handle cannot register as a waiter: it polls.
    let bytes = shm_runtime::tools::segment_image(&Snap::of(3));
    let ro = shm_runtime::tools::open_image::<Snap>(&bytes).unwrap();
    assert_eq!(ro.read_with_version().unwrap(), (Snap::of(3), 0));
    assert_eq!(ro.wait_for_change(0, Duration::from_millis(5)), None);
    assert_eq!(ro.wait_for_change(9, Duration::from_secs(60)), Some(0));
}

/// A schema with fields narrower than a word.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Narrow {
    pub a: u32,
    pub b: u16,
    pub c: u16,
    pub d: u8,
    pub e: [u8; 3],
}

impl Narrow {
    fn of(k: u64) -> Narrow {
        Narrow {
            a: k as u32,
            b: k as u16,
            c: !(k as u16),
            d: k as u8,
            e: [k as u8, !(k as u8), k as u8],
        }
    }
}

/// `update` of narrow fields and `read` racing (under Miri: racing atomic
/// accesses of different sizes would be reported as undefined behaviour).
/// The payload is 12 bytes: its second word is partial.
#[test]
fn update_of_narrow_fields_under_a_reader() {
    let seg = Options::memory().open_with(&Narrow::of(0)).unwrap();
    let writes = rounds(5_000, 10);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut version = 0;
            while version < writes {
                let (v, at) = seg.read_with_version().unwrap();
                assert_eq!(v, Narrow::of(at));
                version = at;
                std::thread::yield_now();
            }
        });
        for k in 1..=writes {
            seg.update(|f| {
                let n = Narrow::of(k);
                f.a().set(n.a);
                f.b().set(n.b);
                f.c().set(n.c);
                f.d().set(n.d);
                f.e().set_all(&n.e);
            })
            .unwrap();
        }
    });
}

/// `fields()` getters of narrow fields racing with whole writes (each
/// getter is its own load: every field is some write's value, but two
/// fields may come from different writes). `fields()` is called for each
/// look: the accessors read the copy that was the latest at the call, and
/// writes alternate between the two copies, so kept accessors would see
/// every second write only. The loop ends when a consistent projection
/// (`read_with`) sees the last write.
#[test]
fn field_getters_under_a_writer() {
    let seg = Options::memory().open_with(&Narrow::of(0)).unwrap();
    let writes = rounds(5_000, 10);
    std::thread::scope(|s| {
        s.spawn(|| {
            while seg.read_with(|f| u64::from(f.a().get())).unwrap() < writes {
                let f = seg.fields();
                // Fewer than 2^16 writes: none of these wraps.
                let now = [
                    u64::from(f.a().get()),
                    u64::from(f.b().get()),
                    u64::from(!f.c().get()),
                ];
                assert!(now.iter().all(|&is| is <= writes), "{now:?}");
                std::thread::yield_now();
            }
        });
        for k in 1..=writes {
            seg.write(&Narrow::of(k)).unwrap();
        }
    });
}
