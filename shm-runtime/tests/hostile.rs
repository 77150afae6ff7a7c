//! Hostile and corrupt segments: property tests that mutate the bytes of a
//! valid segment (bit flips, byte writes, truncation, extension, huge counts
//! and sizes, random header fields) and check that every mutation either
//! opens with a valid snapshot or gives an error: never a panic, undefined
//! behaviour, a hang or SIGBUS (either would kill this test process).
//!
//! The same mutations run in memory ([`shm_runtime::tools::validate_bytes`] and
//! [`shm_runtime::tools::open_image`], many cases) and over real POSIX objects
//! written into `/dev/shm` and opened with `Options::posix(..)` (fewer
//! cases), where the result must agree with the in-memory check: the open
//! path and `validate_bytes` share one validation.
//!
//! `RELIABILITY.md` lists these tests with their case counts; the counts
//! can be raised with `SHM_PROPTEST_CASES` / `SHM_PROPTEST_POSIX_CASES`.

#![allow(missing_docs)]

#[cfg(target_os = "linux")]
use std::time::Duration;

use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use shm_runtime::header::{self, HEADER_SIZE, Header};
use shm_runtime::{Error, FieldDesc, SharedLayout, TypeDesc};

/// A nested struct, so the descriptor has depth.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Inner {
    pub a: u32,
    pub b: f32,
}

/// The schema under attack: `MySharedData`'s fields plus a nested struct
/// and an array of them.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 232, align = 4)]
pub struct Probe {
    pub value: i32,
    pub letter: u16,
    pub _pad: [u8; 2],
    pub numbers: [f32; 50],
    pub inner: Inner,
    pub pair: [Inner; 2],
}

fn sample() -> Probe {
    let mut numbers = [0.0; 50];
    numbers[10] = 1.45;
    Probe {
        value: 123,
        letter: u16::from(b'X'),
        _pad: [0; 2],
        numbers,
        inner: Inner { a: 7, b: 0.5 },
        pair: [Inner { a: 1, b: 2.0 }, Inner { a: 3, b: 4.0 }],
    }
}

fn valid_image() -> Vec<u8> {
    shm_runtime::tools::segment_image(&sample())
}

/// The payload bytes of an image as a `Probe` (what a snapshot must be).
fn payload_of(bytes: &[u8], h: &Header) -> Probe {
    copy_at(bytes, h.payload_offset as usize)
}

/// The copy of the payload a reader of this (static) image reads: the
/// latest, whose counter is even and larger (equal: the primary).
fn snapshot_of(bytes: &[u8], h: &Header) -> Probe {
    let (p, b) = (counter(bytes, 128), counter(bytes, header::off::BACKUP_SEQ));
    // "Larger" in serial-number order: `b - p`, wrapping, not positive.
    if p & 1 == 0 && (b & 1 == 1 || (b.wrapping_sub(p) as i64) <= 0) {
        payload_of(bytes, h)
    } else {
        copy_at(bytes, h.backup_offset as usize)
    }
}

/// The header word at `at`.
fn counter(bytes: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn copy_at(bytes: &[u8], at: usize) -> Probe {
    let raw = &bytes[at..at + size_of::<Probe>()];
    // SAFETY: `raw` has exactly `size_of::<Probe>()` bytes and `Probe` is
    // `ShmSafe` (every bit pattern valid); read_unaligned copies them out.
    unsafe { raw.as_ptr().cast::<Probe>().read_unaligned() }
}

/// Bitwise equality (NaNs compare equal to themselves).
fn same_bits(a: &Probe, b: &Probe) -> bool {
    let bytes = |p: &Probe| {
        // SAFETY: `Probe` has no padding, so every byte is initialised.
        unsafe { std::slice::from_raw_parts((p as *const Probe).cast::<u8>(), size_of::<Probe>()) }
            .to_vec()
    };
    bytes(a) == bytes(b)
}

/// One change to a segment's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flip one bit anywhere.
    FlipBit { at: usize, bit: u8 },
    /// Overwrite one byte anywhere.
    SetByte { at: usize, value: u8 },
    /// Cut the object to this length (maybe inside the header).
    Truncate(usize),
    /// Append zero bytes.
    Extend(usize),
    /// Overwrite a header field with a random, huge or boundary value.
    HeaderField { field: usize, value: u64 },
    /// Overwrite 4 or 8 bytes inside the descriptor with a huge value (field
    /// counts, array lengths, name lengths, offsets, sizes).
    DescriptorWord { at: usize, wide: bool, value: u64 },
}

/// `(offset, width)` of every header field an opener reads, from the
/// header's layout (nested structs flattened): every field but the
/// reserved ones (named `_...`) and `waiters` and `notify`, which header
/// copies skip. A field wider than 8 bytes (an array) gets its first 8.
static HEADER_FIELDS: LazyLock<Vec<(usize, usize)>> = LazyLock::new(|| {
    fn walk(base: usize, fields: &[FieldDesc], out: &mut Vec<(usize, usize)>) {
        for f in fields {
            if f.name.starts_with('_') || f.name == "waiters" || f.name == "notify" {
                continue;
            }
            match f.ty {
                TypeDesc::Struct(inner) => walk(base + f.offset, inner.fields, out),
                _ => out.push((base + f.offset, f.size.min(8))),
            }
        }
    }
    let mut out = Vec::new();
    walk(0, Header::LAYOUT.fields, &mut out);
    out
});

#[test]
fn header_fields_cover_the_header_words_openers_read() {
    let fields = &*HEADER_FIELDS;
    for at in [
        header::off::MAGIC,
        header::off::STATE,
        header::off::WRITER,
        header::off::WRITER_SINCE,
        header::off::BACKUP_OFFSET,
        header::off::STAGED_DESCRIPTOR_LEN,
        header::off::BACKUP_SEQ,
    ] {
        assert!(fields.iter().any(|&(o, _)| o == at), "{at} missing");
    }
    assert!(fields.iter().all(|&(o, w)| o + w <= header::off::WAITERS));
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(u64::from(u32::MAX)),
        Just(1 << 31),
        Just(1 << 63),
        0u64..4096,
    ]
}

fn mutation(len: usize, desc_len: usize) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (0..len, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        2 => (0..len, any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        1 => (0..len).prop_map(Mutation::Truncate),
        1 => prop_oneof![1usize..64, 4096usize..65536].prop_map(Mutation::Extend),
        3 => (0..HEADER_FIELDS.len(), interesting_u64())
            .prop_map(|(field, value)| Mutation::HeaderField { field, value }),
        2 => (0..desc_len, any::<bool>(), interesting_u64())
            .prop_map(|(at, wide, value)| Mutation::DescriptorWord { at, wide, value }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation, desc_off: usize) {
    let put = |bytes: &mut Vec<u8>, at: usize, width: usize, value: u64| {
        for (i, v) in value.to_ne_bytes().into_iter().take(width).enumerate() {
            if let Some(b) = bytes.get_mut(at + i) {
                *b = v;
            }
        }
    };
    match *m {
        Mutation::FlipBit { at, bit } => {
            if let Some(b) = bytes.get_mut(at) {
                *b ^= 1 << bit;
            }
        }
        Mutation::SetByte { at, value } => {
            if let Some(b) = bytes.get_mut(at) {
                *b = value;
            }
        }
        Mutation::Truncate(n) => bytes.truncate(n),
        Mutation::Extend(n) => bytes.resize(bytes.len() + n, 0),
        Mutation::HeaderField { field, value } => {
            let (at, width) = HEADER_FIELDS[field];
            put(bytes, at, width, value);
        }
        Mutation::DescriptorWord { at, wide, value } => {
            put(bytes, desc_off + at, if wide { 8 } else { 4 }, value);
        }
    }
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let image = valid_image();
    let h = Header::decode(image[..HEADER_SIZE].try_into().unwrap());
    proptest::collection::vec(mutation(image.len(), h.descriptor_len as usize), 1..6)
}

fn mutated(ms: &[Mutation]) -> Vec<u8> {
    let mut bytes = valid_image();
    let desc_off = Header::decode(bytes[..HEADER_SIZE].try_into().unwrap()).descriptor_offset;
    for m in ms {
        apply(&mut bytes, m, desc_off as usize);
    }
    bytes
}

/// What a mutated image gave, as a comparable kind.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Opened, and the snapshot is the payload bytes.
    Snapshot,
    /// Opened, but a write is recorded as in progress (odd counter): the
    /// read fails with a bounded wait.
    WriteInProgress,
    /// Refused with this error variant.
    Refused(&'static str),
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::NotASegment { .. } => "NotASegment",
        Error::UnsupportedVersion { .. } => "UnsupportedVersion",
        Error::LayoutMismatch { .. } => "LayoutMismatch",
        Error::TooSmall { .. } => "TooSmall",
        Error::NotInitialized { .. } => "NotInitialized",
        Error::Corrupt { .. } => "Corrupt",
        Error::Timeout { .. } => "Timeout",
        Error::WriterDied { .. } => "WriterDied",
        other => panic!("unexpected error for a corrupt segment: {other}"),
    }
}

/// The in-memory check: validate, open a copy, read a snapshot.
fn check_in_memory(bytes: &[u8]) -> Outcome {
    let typed = shm_runtime::tools::validate_bytes::<Probe>(bytes);
    // The untyped path (the `shm` tool's) never accepts less.
    if let Ok((h, schema)) = shm_runtime::tools::validate_bytes_untyped(bytes) {
        let at = h.payload_offset as usize;
        let payload = &bytes[at..at + h.payload_size as usize];
        assert!(schema.decode_value(payload).is_some());
    } else {
        assert!(typed.is_err(), "typed accepted what untyped refused");
    }
    let h = match typed {
        Ok(h) => h,
        Err(e) => return Outcome::Refused(kind(&e)),
    };
    // Accepted: the invariants every opener relies on hold.
    let end = h.payload_offset + h.payload_size;
    assert!(end <= h.segment_size && h.segment_size <= bytes.len() as u64);
    assert_eq!(h.fingerprint, Probe::FINGERPRINT);
    let seg = shm_runtime::tools::open_image::<Probe>(bytes).expect("a validated image opens");
    match seg.read() {
        Ok(v) => {
            assert!(
                same_bits(&v, &snapshot_of(bytes, &h)),
                "snapshot is not the complete copy of the payload"
            );
            Outcome::Snapshot
        }
        Err(e @ (Error::Timeout { .. } | Error::WriterDied { .. })) => {
            assert_eq!(
                counter(bytes, 128) & counter(bytes, header::off::BACKUP_SEQ) & 1,
                1,
                "read failed while a copy is complete: {e}"
            );
            Outcome::WriteInProgress
        }
        Err(e) => panic!("read of a validated image: {e}"),
    }
}

fn cases(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    })
}

#[test]
fn the_unmutated_image_opens_with_its_value() {
    let bytes = valid_image();
    assert_eq!(check_in_memory(&bytes), Outcome::Snapshot);
    let seg = shm_runtime::tools::open_image::<Probe>(&bytes).unwrap();
    assert_eq!(seg.read().unwrap(), sample());
    assert_eq!(seg.fields().numbers().get(10), Some(1.45));
}

/// Payload bytes are data, never validated: any change there opens and the
/// snapshot shows it.
#[test]
fn payload_changes_always_open_with_the_new_bytes() {
    let image = valid_image();
    let h = Header::decode(image[..HEADER_SIZE].try_into().unwrap());
    let start = h.payload_offset as usize;
    runner(cases("SHM_PROPTEST_CASES", 5000) / 4)
        .run(
            &proptest::collection::vec((start..start + size_of::<Probe>(), any::<u8>()), 1..32),
            |edits| {
                let mut bytes = image.clone();
                for (at, v) in edits {
                    bytes[at] = v;
                }
                prop_assert_eq!(check_in_memory(&bytes), Outcome::Snapshot);
                Ok(())
            },
        )
        .unwrap();
}

/// Every mutation of a valid image either opens with a valid snapshot or
/// gives an error; never a panic.
#[test]
fn mutated_images_open_or_fail_cleanly() {
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    runner(cases("SHM_PROPTEST_CASES", 5000))
        .run(&mutations(), |ms| {
            let bytes = mutated(&ms);
            let outcome = check_in_memory(&bytes);
            *seen.borrow_mut().entry(format!("{outcome:?}")).or_default() += 1;
            Ok(())
        })
        .unwrap();
    let seen = seen.into_inner();
    println!("in-memory outcomes: {seen:?}");
    // The mutations reach both sides of the validation.
    assert!(seen.contains_key("Snapshot"), "{seen:?}");
    assert!(
        seen.keys().filter(|k| k.starts_with("Refused")).count() >= 4,
        "{seen:?}"
    );
}

/// Random bytes, not derived from a segment (mostly NotASegment/TooSmall),
/// plus random bytes behind a valid magic.
#[test]
fn random_bytes_fail_cleanly() {
    runner(cases("SHM_PROPTEST_CASES", 5000) / 2)
        .run(
            &(
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..2048),
            ),
            |(magic, mut bytes)| {
                if magic && bytes.len() >= 8 {
                    bytes[..8].copy_from_slice(&header::MAGIC);
                }
                let _ = check_in_memory(&bytes);
                Ok(())
            },
        )
        .unwrap();
}

#[cfg(target_os = "linux")]
mod posix {
    use std::sync::atomic::{AtomicU32, Ordering};

    use shm_runtime::Options;

    use super::*;

    /// A fresh name, removed when dropped (also when the test fails).
    struct Object(String);

    impl Object {
        fn new() -> Object {
            static N: AtomicU32 = AtomicU32::new(0);
            Object(format!(
                "shmtest-hostile-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ))
        }
        fn path(&self) -> String {
            format!("/dev/shm/{}", self.0)
        }
        fn options(&self) -> Options {
            Options::posix(&self.0)
                .open_timeout(Duration::from_millis(30))
                .read_timeout(Duration::from_millis(10))
        }
    }

    impl Drop for Object {
        fn drop(&mut self) {
            // `Options::remove`: the doorbell a read-write open made goes too.
            let _ = self.options().remove();
            let _ = std::fs::remove_file(self.path());
        }
    }

    /// Opens the object read-only and read-write and reads a snapshot.
    fn check_posix(obj: &Object, bytes: &[u8]) -> Outcome {
        let ro = obj.options().open_read_only::<Probe>();
        // Validation alike: the read-write open without claiming write
        // access (the claim word is mutated too, and may name a live
        // process).
        let rw = obj.options().claim_writer(false).open::<Probe>();
        match (&ro, &rw) {
            (Ok(_), Ok(_)) => {}
            (Err(a), Err(b)) => assert_eq!(kind(a), kind(b), "{a} / {b}"),
            _ => panic!("read-only and read-write opens disagree: {ro:?} / {rw:?}"),
        }
        let seg = match ro {
            Ok(seg) => seg,
            // An empty object is waited for, then reported as abandoned by
            // its creator; in memory it is simply too small.
            Err(Error::NotInitialized { .. }) if bytes.is_empty() => {
                return Outcome::Refused("TooSmall");
            }
            Err(e) => return Outcome::Refused(kind(&e)),
        };
        match seg.read() {
            Ok(v) => {
                assert!(same_bits(&v, &snapshot_of(bytes, seg.header())));
                // The writable handle reads the same, and can write once it
                // has write access (unless the mutated claim word names a
                // live process).
                let rw = rw.unwrap();
                assert!(same_bits(&rw.read().unwrap(), &v));
                match rw.claim_writer(Duration::ZERO) {
                    Ok(_) => {
                        rw.update(|f| f.value().set(-1)).unwrap();
                        assert_eq!(seg.read().unwrap().value, -1);
                    }
                    Err(Error::WriterBusy { .. }) => {}
                    Err(e) => panic!("claim on a readable segment: {e}"),
                }
                Outcome::Snapshot
            }
            Err(Error::Timeout { .. } | Error::WriterDied { .. }) => Outcome::WriteInProgress,
            Err(e) => panic!("read of an opened segment: {e}"),
        }
    }

    /// The same mutations written into real POSIX objects: the real open
    /// path agrees with the in-memory check, case by case.
    #[test]
    fn mutated_posix_objects_open_or_fail_like_in_memory() {
        let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
        runner(cases("SHM_PROPTEST_POSIX_CASES", 500))
            .run(&mutations(), |ms| {
                let bytes = mutated(&ms);
                let obj = Object::new();
                std::fs::write(obj.path(), &bytes).unwrap();
                let posix = check_posix(&obj, &bytes);
                let memory = check_in_memory(&bytes);
                prop_assert_eq!(&posix, &memory, "mutations {:?}", ms);
                *seen.borrow_mut().entry(format!("{posix:?}")).or_default() += 1;
                Ok(())
            })
            .unwrap();
        let seen = seen.into_inner();
        println!("posix outcomes: {seen:?}");
        assert!(seen.contains_key("Snapshot"), "{seen:?}");
    }

    /// Things other than a shared-memory object planted under the name in
    /// `/dev/shm` (a world-writable directory): a FIFO (opening it used to
    /// block forever), a symbolic link to a valid segment elsewhere (never
    /// followed), a directory. Each is refused at once, whatever the
    /// disposition.
    #[test]
    fn planted_fifo_symlink_and_directory_are_refused_without_hanging() {
        let elsewhere = Object::new();
        std::fs::write(elsewhere.path(), valid_image()).unwrap();
        let fifo = Object::new();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            fifo.path(),
            rustix::fs::Mode::from_raw_mode(0o666),
        )
        .unwrap();
        let link = Object::new();
        std::os::unix::fs::symlink(elsewhere.path(), link.path()).unwrap();
        let dir = Object::new();
        std::fs::create_dir(dir.path()).unwrap();
        for (obj, what) in [(&fifo, "Fifo"), (&link, "symbolic link"), (&dir, "")] {
            let results = [
                obj.options().open_read_only::<Probe>().map(|_| ()),
                obj.options().open::<Probe>().map(|_| ()),
                obj.options().create_or_open().open::<Probe>().map(|_| ()),
                obj.options().create_new().open::<Probe>().map(|_| ()),
            ];
            for r in results {
                match r {
                    Err(Error::InvalidName { reason, .. }) => {
                        assert!(reason.contains(what), "{reason}")
                    }
                    Err(Error::AlreadyExists { .. } | Error::Io { .. }) => {}
                    other => panic!("{}: {other:?}", obj.path()),
                }
            }
        }
        let _ = std::fs::remove_dir(dir.path());
    }

    /// 512 GiB, described by a descriptor of a few dozen bytes (64-bit
    /// targets only: no 32-bit type is that large).
    #[cfg(target_pointer_width = "64")]
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Vast {
        pub bytes: [u8; 1 << 39],
    }

    /// A sparse 1 TiB object (tmpfs allows it whatever its size) with a
    /// valid header and descriptor claiming a 512 GiB payload: opening it
    /// without its type (as the `shm` tool does) works, and reading or
    /// decoding the payload is a clear error, not an allocation of the
    /// size the segment claims (which would abort the process).
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_huge_sparse_segment_is_not_copied_or_decoded_blindly() {
        let obj = Object::new();
        let descriptor = shm_runtime::layout::encode_descriptor(&Vast::LAYOUT);
        let plan = header::Plan::new(&Vast::LAYOUT, descriptor.len()).unwrap();
        let mut h = Header::new(&Vast::LAYOUT, Vast::FINGERPRINT, &plan, 1, 0);
        h.state = header::STATE_READY;
        let mut bytes = h.encode().to_vec();
        bytes.extend_from_slice(&descriptor);
        std::fs::write(obj.path(), &bytes).unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(obj.path())
            .unwrap();
        // The primary and the backup copy: a little over 1 TiB.
        f.set_len(plan.segment_size as u64).unwrap();
        let seg = shm_runtime::RawSegment::open(&obj.options()).unwrap();
        assert_eq!(seg.header().payload_size, 1 << 39);
        for err in [seg.read_value().unwrap_err(), seg.read_bytes().unwrap_err()] {
            assert!(matches!(err, Error::Unsupported { .. }), "{err}");
            assert!(err.to_string().contains("at most"), "{err}");
        }
        assert!(seg.decode(&[0u8; 64]).is_err());
    }

    /// An object that grows or shrinks *after* it was opened: `check_size`
    /// reports the shrink (touching the lost pages would be SIGBUS, so the
    /// test does not), growth is harmless.
    #[test]
    fn check_size_reports_a_shrunk_object() {
        let obj = Object::new();
        std::fs::write(obj.path(), valid_image()).unwrap();
        let seg = obj.options().open_read_only::<Probe>().unwrap();
        seg.check_size().unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(obj.path())
            .unwrap();
        f.set_len(1 << 20).unwrap();
        seg.check_size().unwrap();
        f.set_len(100).unwrap();
        let err = seg.check_size().unwrap_err();
        assert!(matches!(err, Error::TooSmall { actual: 100, .. }), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}

/// Shrinking under a reader: what happens to a POSIX segment (the kernel
/// raises SIGBUS on access past the new end; `check_size` reports it
/// before), and the protection that exists (a sealed memfd cannot shrink).
#[cfg(target_os = "linux")]
mod shrinking {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    use shm_runtime::Options;

    use super::*;

    const CHILD_ENV: &str = "SHM_TEST_SHRINK_CHILD";

    /// Child: opens `$SHM_TEST_SHRINK_CHILD` (`posix:NAME` or `file:PATH`),
    /// says so, waits for a line, then checks the size and reads.
    #[test]
    fn shrink_child() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        let no_core = rustix::process::Rlimit {
            current: Some(0),
            maximum: None,
        };
        let _ = rustix::process::setrlimit(rustix::process::Resource::Core, no_core);
        let (kind, name) = spec.split_once(':').unwrap();
        let opts = match kind {
            "posix" => Options::posix(name),
            _ => Options::file(name),
        };
        let seg = opts.open_read_only::<Probe>().unwrap();
        println!("opened sealed={}", seg.is_size_sealed());
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).unwrap();
        match seg.check_size() {
            Ok(()) => println!("check_size ok"),
            Err(e) => println!("check_size error: {e}"),
        }
        let v = seg.read().unwrap();
        println!("read value {}", v.value);
    }

    fn run_child(spec: &str, between: impl FnOnce()) -> (String, std::process::ExitStatus) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "shrinking::shrink_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        while !seen.contains("opened") {
            let mut line = String::new();
            assert_ne!(out.read_line(&mut line).unwrap(), 0, "child ended: {seen}");
            seen.push_str(&line);
        }
        between();
        writeln!(child.stdin.take().unwrap()).unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        (seen + &rest, child.wait().unwrap())
    }

    /// Kernel behaviour, shown for real: another process truncates a POSIX
    /// object under a reader's mapping; `check_size` reports it, and the
    /// reader's next access past the new end is killed by SIGBUS.
    #[test]
    fn truncating_a_posix_segment_under_a_reader_is_sigbus_after_check_size_warns() {
        let name = format!("shmtest-shrink-{}", std::process::id());
        let _ = Options::posix(&name).remove();
        let seg = Options::posix(&name)
            .create_new()
            .open_with(&sample())
            .unwrap();
        assert!(!seg.is_size_sealed());
        let (out, status) = run_child(&format!("posix:{name}"), || {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/dev/shm/{name}"))
                .unwrap();
            f.set_len(0).unwrap();
        });
        seg.remove().unwrap();
        assert!(out.contains("opened sealed=false"), "{out}");
        assert!(out.contains("check_size error"), "{out}");
        assert!(out.contains("truncated"), "{out}");
        assert!(!out.contains("read value"), "{out}");
        assert_eq!(
            status.signal(),
            Some(rustix::process::Signal::BUS.as_raw()),
            "{status:?}"
        );
    }

    /// The protection: a sealed memfd, shared by its `/proc/<pid>/fd/<n>`
    /// path, cannot be truncated by anyone (EPERM), so the reader reads on.
    #[test]
    fn a_sealed_memfd_cannot_be_truncated_under_a_reader() {
        let seg = Options::sealed_memfd("shmtest-sealed")
            .open_with(&sample())
            .unwrap();
        assert!(seg.is_size_sealed());
        let status = seg.status().unwrap();
        assert_eq!(status.backend, "memfd");
        assert_eq!(status.mode, Some(0o600));
        let path = seg.share_path().unwrap();
        // It has no name to open or remove.
        let err = Options::sealed_memfd("x")
            .open_read_only::<Probe>()
            .unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        let (out, status) = run_child(&format!("file:{}", path.display()), || {
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            let e = f.set_len(0).unwrap_err();
            assert_eq!(
                e.raw_os_error(),
                Some(rustix::io::Errno::PERM.raw_os_error()),
                "{e}"
            );
            let e = f.set_len(1 << 20).unwrap_err();
            assert_eq!(
                e.raw_os_error(),
                Some(rustix::io::Errno::PERM.raw_os_error()),
                "{e}"
            );
        });
        assert!(status.success(), "{out}");
        assert!(out.contains("opened sealed=true"), "{out}");
        assert!(out.contains("check_size ok"), "{out}");
        assert!(out.contains("read value 123"), "{out}");
        // Readers and writers share it like any segment.
        seg.release_writer().unwrap();
        let other = Options::file(&path).open::<Probe>().unwrap();
        other.update(|f| f.value().set(9)).unwrap();
        assert_eq!(seg.read().unwrap().value, 9);
        assert!(other.is_size_sealed());
    }
}
