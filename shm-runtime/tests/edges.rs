//! Edges of the safe API: sizes and durations at their limits, a handle's
//! write methods called inside its own `update`, values larger than a
//! thread's stack, names at the length limit. Every case here failed
//! before (undefined behaviour, a panic, a deadlock, a stack overflow, or
//! an `Io` error after validation passed).
//!
//! The tests over `Options::memory()` also run under Miri
//! (`.ci/concurrency.sh`): the capacity overflow wrote past the end of a
//! heap allocation there.

#![allow(missing_docs)]

use std::sync::mpsc;
use std::time::Duration;

use shm_runtime::{Error, Options, SharedLayout};

#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Small {
    pub a: u64,
    pub b: u32,
    pub c: u32,
}

const V: Small = Small { a: 7, b: 8, c: 9 };

fn assert_no_space<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) {
    match r {
        Err(Error::NoSpace { ref name, .. })
            if name.starts_with("memory:") || name.starts_with("posix:") => {}
        other => panic!("{what}: expected NoSpace, got {other:?}"),
    }
}

/// `capacity(usize::MAX - 7)` overflowed the layout arithmetic: in release
/// builds the initial value was then written past the end of a small heap
/// allocation. Every capacity that cannot be laid out is `NoSpace` now,
/// before anything is created.
#[test]
fn a_capacity_that_overflows_the_layout_is_no_space() {
    for capacity in [
        usize::MAX,
        usize::MAX - 7,
        usize::MAX - 4096,
        usize::MAX / 2,
        isize::MAX as usize,
        isize::MAX as usize / 2 + 1,
    ] {
        assert_no_space(
            Options::memory().capacity(capacity).open_with(&V),
            &format!("capacity {capacity}"),
        );
        assert_no_space(
            Options::memory().capacity(capacity).open::<Small>(),
            &format!("capacity {capacity}"),
        );
    }
    // A capacity that fits still works.
    let seg = Options::memory().capacity(4096).open_with(&V).unwrap();
    assert_eq!(seg.read().unwrap(), V);
    assert!(seg.header().capacity() >= 4096);
}

/// The POSIX case left a half-written object under the name (and then died
/// of SIGSEGV): now nothing is created.
#[cfg(all(unix, not(miri)))]
#[test]
fn a_posix_capacity_that_overflows_leaves_nothing() {
    let name = test_support::Name::new("edges-capacity");
    for capacity in [usize::MAX - 7, isize::MAX as usize] {
        let opts = Options::posix(name.as_str())
            .create_new()
            .capacity(capacity);
        assert_no_space(opts.open_with(&V), "posix");
        assert!(
            matches!(
                Options::posix(name.as_str()).open::<Small>(),
                Err(Error::NotFound { .. })
            ),
            "nothing may be left under the name"
        );
    }
}

/// `open_timeout(Duration::MAX)` panicked on `Instant` overflow; so did the
/// raw open. Every duration is a bound now, `Duration::MAX` none.
#[test]
fn duration_max_is_forever_not_a_panic() {
    let seg = Options::memory()
        .open_timeout(Duration::MAX)
        .read_timeout(Duration::MAX)
        .writer_wait(Duration::MAX)
        .open_with(&V)
        .unwrap();
    assert_eq!(seg.read().unwrap(), V);
    assert!(seg.claim_writer(Duration::MAX).is_ok());
    // A change that comes is returned; the wait itself has no end.
    let v0 = seg.version();
    std::thread::scope(|s| {
        s.spawn(|| seg.write(&Small { a: 1, ..V }).unwrap());
        assert!(seg.wait_for_change(v0, Duration::MAX).is_some());
    });
    for d in [
        Duration::MAX,
        Duration::new(u64::MAX, 0),
        Duration::from_secs(u64::MAX / 2),
    ] {
        let seg = Options::memory().open_timeout(d).open::<Small>().unwrap();
        assert_eq!(seg.read().unwrap().a, 0);
    }
}

#[cfg(all(unix, not(miri)))]
#[test]
fn duration_max_on_posix_and_raw_opens() {
    let name = test_support::Name::new("edges-forever");
    let opts = Options::posix(name.as_str())
        .create_or_open()
        .open_timeout(Duration::MAX)
        .read_timeout(Duration::MAX);
    let seg = opts.open_with(&V).unwrap();
    let again = opts.clone().claim_writer(false).open::<Small>().unwrap();
    assert_eq!(again.read().unwrap(), V);
    let ro = opts.open_read_only::<Small>().unwrap();
    assert_eq!(ro.read().unwrap(), V);
    let raw = shm_runtime::RawSegment::open(&opts).unwrap();
    assert_eq!(raw.header().payload_size, size_of::<Small>() as u64);
    drop(seg);
    // A missing name is still NotFound at once.
    let missing = test_support::Name::new("edges-missing");
    assert!(matches!(
        Options::posix(missing.as_str())
            .open_timeout(Duration::MAX)
            .open::<Small>(),
        Err(Error::NotFound { .. })
    ));
}

fn reentrant(r: Result<impl std::fmt::Debug, Error>, op: &str) {
    match r {
        Err(Error::Reentrant { op: o, ref name }) if o == op && name.starts_with("memory:") => {
            let text = r.unwrap_err().to_string();
            assert!(text.contains(op) && text.contains("inside"), "{text}");
        }
        other => panic!("{op} inside update: expected Reentrant, got {other:?}"),
    }
}

/// `write()` or `release_writer()` on the same handle inside `update()`
/// waited for the lock `update` holds: a deadlock. Every method that takes
/// the handle's write lock is `Reentrant` there now, and the handle works
/// normally afterwards.
#[test]
fn write_methods_inside_update_are_errors_not_deadlocks() {
    let seg = Options::memory().open_with(&V).unwrap();
    seg.update(|f| {
        f.a().set(100);
        reentrant(seg.write(&V), "write");
        reentrant(seg.release_writer(), "release_writer");
        reentrant(seg.claim_writer(Duration::ZERO), "claim_writer");
        reentrant(seg.update(|_| ()), "update");
        reentrant(seg.modify(|_| ()), "modify");
        // Reading is fine inside: the value before this write.
        assert_eq!(seg.read().unwrap(), V);
    })
    .unwrap();
    assert_eq!(seg.read().unwrap().a, 100);
    assert!(seg.is_writer());
    seg.modify(|v| {
        v.b = 200;
        reentrant(seg.write(&V), "write");
        reentrant(seg.update(|_| ()), "update");
        reentrant(seg.release_writer(), "release_writer");
    })
    .unwrap();
    assert_eq!(
        seg.read().unwrap(),
        Small {
            a: 100,
            b: 200,
            ..V
        }
    );
    // After a panic inside `update`, the lock is free again.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        seg.update(|_| panic!("inside update")).unwrap();
    }));
    assert!(caught.is_err());
    seg.write(&V).unwrap();
    seg.release_writer().unwrap();
    assert!(!seg.is_writer());
}

/// Another thread's write during an `update` waits for it, as before: it is
/// not mistaken for re-entrance.
#[test]
fn a_write_from_another_thread_during_update_waits() {
    let seg = Options::memory().open_with(&V).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            seg.update(|f| {
                tx.send(()).unwrap();
                f.c().set(1);
            })
            .unwrap()
        });
        rx.recv().unwrap();
        seg.write(&Small { b: 2, ..V }).unwrap();
    });
    let v = seg.read().unwrap();
    assert!(
        v == Small { b: 2, ..V } || v == Small { c: 1, ..V },
        "{v:?}"
    );
}

/// 16 MiB: more than a main thread's stack.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Huge {
    pub first: u64,
    pub bytes: [u8; (16 << 20) - 16],
    pub last: u64,
}

/// 3 MiB: more than a spawned thread's 2 MiB stack.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Large {
    pub first: u64,
    pub bytes: [u8; (3 << 20) - 16],
    pub last: u64,
}

/// `update` and `modify` copied the whole value onto the stack: a 16 MiB
/// schema aborted with a stack overflow on the main thread, and 1 to 3 MiB
/// on a spawned thread. On a thread with a 2 MiB stack now, 3 MiB and
/// 16 MiB schemas work with `update`, `modify`, `read_into` and
/// `read_boxed`.
#[cfg(not(miri))]
#[test]
fn values_larger_than_the_stack_work_on_a_small_stack() {
    fn exercise<T: SharedLayout>(
        first: impl Fn(&T) -> u64 + Send + 'static,
        set: impl Fn(&mut T, u64) + Send + 'static,
        fields: impl Fn(T::Fields<'_, shm_runtime::ReadWrite>, u64) + Send + 'static,
    ) {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let seg = Options::memory().open::<T>().unwrap();
                seg.update(|f| fields(f, 5)).unwrap();
                let boxed = seg.read_boxed().unwrap();
                assert_eq!(first(&boxed), 5);
                seg.modify(|v| set(v, 6)).unwrap();
                let mut boxed = boxed;
                seg.read_into(&mut boxed).unwrap();
                assert_eq!(first(&boxed), 6);
            })
            .unwrap()
            .join()
            .unwrap();
    }
    exercise::<Large>(
        |v| v.first + v.last + u64::from(v.bytes[1000]),
        |v, n| {
            v.first = n;
            v.last = 0;
            v.bytes[1000] = 0;
        },
        |f, n| {
            f.first().set(n - 3);
            f.last().set(2);
            f.bytes().set(1000, 1).expect("index in range");
        },
    );
    exercise::<Huge>(
        |v| v.first + v.last,
        |v, n| {
            v.first = n;
            v.last = 0;
        },
        |f, n| {
            f.first().set(n - 1);
            f.last().set(1);
        },
    );
}

/// POSIX names at the length limit: a 255-byte name passed validation and
/// then failed in `shm_open` with `Io` (ENAMETOOLONG). The limit is the
/// real one now: 254 bytes work, 255 and 256 are `InvalidName`.
#[cfg(all(target_os = "linux", not(miri)))]
#[test]
fn posix_names_at_the_length_limit() {
    use shm_runtime::tools::POSIX_NAME_MAX;
    assert_eq!(POSIX_NAME_MAX, 254);
    let base = test_support::unique("edges-name");
    let name = |len: usize| format!("{base}{}", "n".repeat(len - base.len()));
    let ok = test_support::Name(name(254));
    let seg = Options::posix(ok.as_str())
        .create_new()
        .open_with(&V)
        .unwrap();
    assert_eq!(
        Options::posix(&format!("/{}", ok.as_str()))
            .claim_writer(false)
            .open::<Small>()
            .unwrap()
            .read()
            .unwrap(),
        V
    );
    drop(seg);
    for len in [255, 256, 300] {
        let long = name(len);
        let r = Options::posix(&long).create_new().open_with(&V);
        assert!(matches!(r, Err(Error::InvalidName { .. })), "{len}: {r:?}");
        assert!(matches!(
            Options::posix(&long).remove(),
            Err(Error::InvalidName { .. })
        ));
    }
}

/// 8-byte fields, plain and nested and in arrays: 4-aligned on i686.
#[derive(SharedLayout, Clone, Copy)]
#[repr(C)]
pub struct Wide {
    pub flag: u32,
    pub _pad: [u8; 4],
    pub time: f64,
    pub inner: Inner,
    pub history: [i64; 3],
}

#[derive(SharedLayout, Clone, Copy)]
#[repr(C)]
pub struct Inner {
    pub count: u64,
    pub small: u16,
    pub _pad: [u8; 6],
}

/// 32- and 64-bit programs agree on every schema: on i686, `u64`, `i64`
/// and `f64` are 4-aligned, and the alignment (part of the fingerprint)
/// was recorded as 4 there and 8 on x86_64, so the two disagreed on every
/// schema with such fields. The derive records the 64-bit (natural)
/// alignment everywhere now. `.ci/i686.sh` runs this on i686; the
/// constants are the x86_64 values.
#[test]
fn layouts_are_the_same_on_32_and_64_bit_targets() {
    assert_eq!(Inner::LAYOUT.align, 8);
    assert_eq!(Inner::LAYOUT.size, 16);
    assert_eq!(Wide::LAYOUT.align, 8);
    assert_eq!(Wide::LAYOUT.size, 56);
    let offsets: Vec<usize> = Wide::LAYOUT.fields.iter().map(|f| f.offset).collect();
    assert_eq!(offsets, [0, 4, 8, 16, 32]);
    assert_eq!(Small::LAYOUT.align, 8);
    assert_eq!(Inner::FINGERPRINT, 0x5cdc_1fbf_2966_a9f6);
    assert_eq!(Wide::FINGERPRINT, 0x01ac_a8a4_76a0_789d);
    assert_eq!(Small::FINGERPRINT, 0xf622_f6ce_1cb9_e83c);
}

/// A second handle to the same segment, in the same process, used inside
/// the first handle's `update`: its claim is `WriterBusy` for this process
/// (not a deadlock, not write access), its write `NotWriter`.
#[cfg(all(target_os = "linux", not(miri)))]
#[test]
fn a_second_handle_inside_the_first_handles_update_is_busy() {
    let name = test_support::unique("edges-second");
    let _c = test_support::Cleanup::posix(&name);
    let first = Options::posix(&name).create_new().open_with(&V).unwrap();
    let second = Options::posix(&name)
        .claim_writer(false)
        .open::<Small>()
        .unwrap();
    first
        .update(|f| {
            f.a().set(1);
            match second.claim_writer(Duration::ZERO) {
                Err(Error::WriterBusy {
                    this_process: true,
                    pid,
                    ..
                }) => assert_eq!(pid, std::process::id()),
                other => panic!("expected WriterBusy, got {other:?}"),
            }
            assert!(matches!(second.write(&V), Err(Error::NotWriter { .. })));
            second.release_writer().unwrap();
        })
        .unwrap();
    assert_eq!(second.read().unwrap().a, 1);
    drop(first);
    second.claim_writer(Duration::ZERO).unwrap();
    second.write(&V).unwrap();
}

/// 1 MiB.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Mebi {
    pub first: u64,
    pub bytes: [u8; (1 << 20) - 16],
    pub last: u64,
}

/// A 1 MiB schema on a thread with a 64 KiB stack: `update`, `modify`,
/// `read_boxed`, `read_into`.
#[cfg(not(miri))]
#[test]
fn a_mebibyte_value_on_a_64_kib_stack() {
    std::thread::Builder::new()
        .stack_size(64 << 10)
        .spawn(|| {
            let seg = Options::memory().open::<Mebi>().unwrap();
            seg.update(|f| {
                f.first().set(3);
                f.bytes().set(1 << 19, 4).expect("index in range");
            })
            .unwrap();
            seg.modify(|v| v.last = v.first + u64::from(v.bytes[1 << 19]))
                .unwrap();
            let mut boxed = seg.read_boxed().unwrap();
            assert_eq!(boxed.last, 7);
            seg.update(|f| f.last().set(8)).unwrap();
            seg.read_into(&mut boxed).unwrap();
            assert_eq!(boxed.last, 8);
        })
        .unwrap()
        .join()
        .unwrap();
}

/// One byte.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Tiny {
    pub b: u8,
}

/// Aligned to exactly a page (the largest alignment allowed).
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(4096))]
pub struct Paged {
    pub a: u64,
    pub pad: [u8; 4088],
}

/// Every API over a schema at an edge of size or alignment: memory and
/// POSIX, typed, read-only and raw.
#[cfg(all(target_os = "linux", not(miri)))]
fn every_api<T: SharedLayout + Copy + PartialEq + std::fmt::Debug>(
    tag: &str,
    value: T,
    change: impl Fn(&mut T),
) {
    let mut changed = value;
    change(&mut changed);
    let name = test_support::unique(tag);
    let _c = test_support::Cleanup::posix(&name);
    for opts in [Options::memory(), Options::posix(&name).create_new()] {
        let seg = opts.open_with(&value).unwrap();
        assert_eq!(seg.read().unwrap(), value);
        seg.write(&value).unwrap();
        seg.update(|_| ()).unwrap();
        seg.modify(|v| change(v)).unwrap();
        let (v, version) = seg.read_with_version().unwrap();
        assert_eq!((v, version), (changed, 3));
        assert_eq!(*seg.read_boxed().unwrap(), changed);
        let mut out = value;
        assert_eq!(seg.read_into(&mut out).unwrap(), 3);
        assert_eq!(out, changed);
        assert_eq!(seg.wait_for_change(3, Duration::ZERO), None);
        assert_eq!(seg.wait_for_change(2, Duration::ZERO), Some(3));
        seg.status().unwrap();
        let _ = seg.fields();
        seg.release_writer().unwrap();
        seg.claim_writer(Duration::ZERO).unwrap();
    }
    let ro = Options::posix(&name).open_read_only::<T>().unwrap();
    assert_eq!(ro.read().unwrap(), changed);
    let raw = shm_runtime::RawSegment::open(&Options::posix(&name)).unwrap();
    assert_eq!(raw.read_bytes().unwrap().len(), size_of::<T>());
    raw.read_value().unwrap();
}

/// A 1-byte schema and a 4096-aligned schema through every API. (A schema
/// without fields does not compile: the derive says it needs one.)
#[cfg(all(target_os = "linux", not(miri)))]
#[test]
fn schemas_at_the_edges_of_size_and_alignment_work_everywhere() {
    every_api("edges-tiny", Tiny { b: 1 }, |v| v.b = 2);
    every_api(
        "edges-paged",
        Paged {
            a: 1,
            pad: [0; 4088],
        },
        |v| v.a = 2,
    );
}

/// Sizes and offsets from a segment near `u64::MAX` (and `u32::MAX` for
/// the 4-byte ones), written into a valid POSIX segment's header: every
/// opener (typed, read-only, `RawSegment` and its reads) gives an error or
/// a validated value, never a panic.
#[cfg(all(target_os = "linux", not(miri)))]
#[test]
fn sizes_near_the_maximum_from_a_segment_are_errors() {
    use shm_runtime::header::off;
    use std::os::unix::fs::FileExt;
    let wide = [
        off::PAYLOAD_OFFSET,
        off::PAYLOAD_SIZE,
        off::SEGMENT_SIZE,
        off::BACKUP_OFFSET,
    ];
    let narrow = [
        off::DESCRIPTOR_OFFSET,
        off::DESCRIPTOR_LEN,
        off::PAYLOAD_ALIGN,
    ];
    let values = [u64::MAX, u64::MAX - 7, u64::MAX - 4095, 1 << 63, 1 << 32];
    let mut cases = Vec::new();
    for at in wide {
        cases.extend(values.iter().map(|&v| (at, v.to_ne_bytes().to_vec())));
    }
    for at in narrow {
        for v in [u32::MAX, u32::MAX - 7, 1 << 31] {
            cases.push((at, v.to_ne_bytes().to_vec()));
        }
    }
    for (at, bytes) in cases {
        let name = test_support::unique("edges-sizes");
        let _c = test_support::Cleanup::posix(&name);
        drop(Options::posix(&name).create_new().open_with(&V).unwrap());
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/dev/shm/{name}"))
            .unwrap();
        f.write_all_at(&bytes, at as u64).unwrap();
        let opts = Options::posix(&name).open_timeout(Duration::ZERO);
        let what = format!("offset {at} = {bytes:02x?}");
        if let Ok(seg) = opts.clone().open::<Small>() {
            assert_eq!(seg.read().unwrap(), V, "{what}");
        }
        if let Ok(seg) = opts.open_read_only::<Small>() {
            assert_eq!(seg.read().unwrap(), V, "{what}");
        }
        if let Ok(raw) = shm_runtime::RawSegment::open(&opts) {
            if let Ok(bytes) = raw.read_bytes() {
                assert_eq!(bytes.len(), size_of::<Small>(), "{what}");
            }
            let _ = raw.read_value();
            let _ = raw.status();
        }
    }
}
