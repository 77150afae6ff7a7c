//! Schema evolution over real segments (POSIX, or Win32 mappings on
//! Windows), in one process: the open-time
//! rules for older and newer segments, upgrades in place (with readers of
//! both versions attached, and with openers racing the upgrade), and an
//! upgrade interrupted half-way. The same rules across real processes are
//! tested in `examples/tests/evolution.rs`.

#![allow(missing_docs)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use shm_runtime::header::HEADER_SIZE;
use shm_runtime::{Compat, Error, Options, RawSegment, SharedLayout};
use test_support::{Cleanup, unique};

#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(name = "Gauge", capacity = 512)]
pub struct GaugeV1 {
    pub reading: f64,
    pub count: u32,
    pub _pad: [u8; 4],
}

#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(version = 2, extends = GaugeV1, capacity = 512, older_writers)]
pub struct GaugeV2 {
    pub reading: f64,
    pub count: u32,
    pub _pad: [u8; 4],
    pub unit: [u8; 8],
    pub scale: f64,
}

#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(version = 3, extends = GaugeV2)]
pub struct GaugeV3 {
    pub reading: f64,
    pub count: u32,
    pub _pad: [u8; 4],
    pub unit: [u8; 8],
    pub scale: f64,
    pub history: [f32; 32],
}

/// Version 1 without room to grow.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(name = "Gauge")]
pub struct TightV1 {
    pub reading: f64,
    pub count: u32,
    pub _pad: [u8; 4],
}

/// Claims to be version 4 of `Gauge`, but `count` changed type: not an
/// extension (and so it cannot say `extends`).
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(name = "Gauge", version = 4)]
pub struct BrokenV4 {
    pub reading: f64,
    pub count: u64,
}

/// A fresh segment of this operating system's usual kind; removed when
/// dropped.
struct Seg(Cleanup);
impl Seg {
    fn new(tag: &str) -> Seg {
        Seg(Cleanup(Options::default_for_os(&unique(&format!(
            "evo-{tag}"
        )))))
    }
    fn opts(&self) -> Options {
        self.0.0.clone()
    }
}

fn v1(reading: f64, count: u32) -> GaugeV1 {
    GaugeV1 {
        reading,
        count,
        _pad: [0; 4],
    }
}

#[test]
fn a_newer_program_is_told_the_segment_is_older_unless_it_upgrades() {
    let seg = Seg::new("older");
    let w1 = seg.opts().create_new().open_with(&v1(1.5, 7)).unwrap();
    assert_eq!(w1.compat(), Compat::Exact);
    assert_eq!(w1.header().capacity(), 512);

    let e = seg.opts().open_read_only::<GaugeV2>().unwrap_err();
    assert!(
        matches!(&e, Error::OlderSchema { schema, segment_version: 1, program_version: 2, .. } if schema == "Gauge"),
        "{e}"
    );
    assert!(
        e.to_string().contains("read-only handle does not upgrade"),
        "{e}"
    );
    let e = seg.opts().open::<GaugeV2>().unwrap_err();
    assert!(e.to_string().contains("Options::upgrade(true)"), "{e}");
    // Nothing changed.
    assert_eq!(w1.header().schema_version, 1);
    assert_eq!(
        seg.opts().open_read_only::<GaugeV1>().unwrap().compat(),
        Compat::Exact
    );
}

#[test]
fn an_upgrade_keeps_old_values_and_old_readers() {
    let seg = Seg::new("upgrade");
    let w1 = seg.opts().create_new().open_with(&v1(1.5, 7)).unwrap();
    let r1 = seg.opts().open_read_only::<GaugeV1>().unwrap();

    // An upgrade needs write access: the version-1 writer gives it up.
    w1.release_writer().unwrap();
    let w2 = seg.opts().upgrade(true).open::<GaugeV2>().unwrap();
    assert_eq!(w2.compat(), Compat::Upgraded { from_version: 1 });
    assert_eq!(w2.header().schema_version, 2);
    assert_eq!(w2.header().fingerprint, GaugeV2::FINGERPRINT);
    let v = w2.read().unwrap();
    assert_eq!((v.reading, v.count, v.unit, v.scale), (1.5, 7, [0; 8], 0.0));

    // The reader of version 1 attached before the upgrade still reads, and
    // sees what the version-2 writer writes to the fields it knows.
    w2.update(|f| {
        f.reading().set(2.5);
        f.scale().set(10.0);
    })
    .unwrap();
    assert_eq!(r1.read().unwrap(), v1(2.5, 7));
    // So does one that opens now: it reads its prefix of version 2.
    let r1b = seg.opts().open_read_only::<GaugeV1>().unwrap();
    assert_eq!(r1b.compat(), Compat::Prefix { segment_version: 2 });
    assert_eq!(r1b.read().unwrap(), v1(2.5, 7));
    // Version 2 allows older writers: the old handle and a new one write
    // their prefix and leave the new fields alone.
    w2.release_writer().unwrap();
    assert_eq!(w1.claim_writer(Duration::ZERO).unwrap(), None);
    w1.write(&v1(3.5, 8)).unwrap();
    w1.release_writer().unwrap();
    let w1b = seg.opts().open::<GaugeV1>().unwrap();
    assert_eq!(w1b.compat(), Compat::Prefix { segment_version: 2 });
    w1b.update(|f| f.count().set(9)).unwrap();
    let v = w2.read().unwrap();
    assert_eq!((v.reading, v.count, v.scale), (3.5, 9, 10.0));
    // A second upgrader finds the work done.
    w1b.release_writer().unwrap();
    let again = seg.opts().upgrade(true).open::<GaugeV2>().unwrap();
    assert_eq!(again.compat(), Compat::Exact);
    // The tool sees version 2.
    let raw = RawSegment::open(&seg.opts()).unwrap();
    assert_eq!(raw.schema().version, 2);
    assert_eq!(raw.schema().fields.len(), 5);
}

#[test]
fn upgrade_defaults_come_from_open_with() {
    let seg = Seg::new("defaults");
    // An upgrade needs write access: the creator gives it up (and keeps
    // its handle: a Win32 mapping goes with its last handle).
    let w1 = seg.opts().create_new().open_with(&v1(1.5, 7)).unwrap();
    w1.release_writer().unwrap();
    let initial = GaugeV2 {
        reading: -1.0,
        count: 0,
        _pad: [0; 4],
        unit: *b"celsius\0",
        scale: 1.0,
    };
    let w2 = seg.opts().upgrade(true).open_with(&initial).unwrap();
    assert_eq!(w2.compat(), Compat::Upgraded { from_version: 1 });
    let v = w2.read().unwrap();
    // Old fields from the segment, new ones from `initial`.
    assert_eq!(
        (v.reading, v.count, v.unit, v.scale),
        (1.5, 7, *b"celsius\0", 1.0)
    );
}

#[test]
fn two_upgrades_in_a_row_and_the_older_writer_rule() {
    let seg = Seg::new("twice");
    // An upgrade needs write access: the creator gives it up (and keeps
    // its handle: a Win32 mapping goes with its last handle).
    let w1 = seg.opts().create_new().open_with(&v1(1.5, 7)).unwrap();
    w1.release_writer().unwrap();
    let w2 = seg.opts().upgrade(true).open::<GaugeV2>().unwrap();
    let d2 = w2.header().descriptor_offset;
    w2.update(|f| f.scale().set(2.0)).unwrap();
    w2.release_writer().unwrap();
    let w3 = seg.opts().upgrade(true).open::<GaugeV3>().unwrap();
    assert_eq!(w3.compat(), Compat::Upgraded { from_version: 2 });
    // The descriptors alternate between the ends of the descriptor area.
    assert_ne!(w3.header().descriptor_offset, d2);
    assert_eq!(w3.header().descriptor_offset as usize, HEADER_SIZE);
    let v = w3.read().unwrap();
    assert_eq!(
        (v.reading, v.count, v.scale, v.history),
        (1.5, 7, 2.0, [0.0; 32])
    );
    // Version 3 does not allow older writers: version 1 and 2 programs may
    // only read.
    for e in [
        seg.opts().open::<GaugeV1>().unwrap_err(),
        seg.opts().open::<GaugeV2>().map(|_| ()).unwrap_err(),
    ] {
        assert!(
            matches!(
                e,
                Error::NewerSchema {
                    segment_version: 3,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("open it read-only"), "{e}");
    }
    assert_eq!(
        seg.opts()
            .open_read_only::<GaugeV1>()
            .unwrap()
            .read()
            .unwrap(),
        v1(1.5, 7)
    );
    assert_eq!(
        seg.opts()
            .open_read_only::<GaugeV2>()
            .unwrap()
            .read()
            .unwrap()
            .scale,
        2.0
    );
}

#[test]
fn no_room_no_upgrade() {
    let seg = Seg::new("tight");
    let _w = seg
        .opts()
        .create_new()
        .open_with(&TightV1 {
            reading: 1.0,
            count: 1,
            _pad: [0; 4],
        })
        .unwrap();
    let e = seg.opts().upgrade(true).open::<GaugeV2>().unwrap_err();
    assert!(matches!(e, Error::OlderSchema { .. }), "{e}");
    assert!(
        e.to_string().contains("room for 16 bytes and v2 needs 32"),
        "{e}"
    );
    // `Options::capacity` gives the room instead of the attribute.
    let seg2 = Seg::new("reserved");
    let w = seg2
        .opts()
        .create_new()
        .capacity(100)
        .open::<TightV1>()
        .unwrap();
    // An upgrade needs write access: a live writer is in the way.
    let busy = seg2.opts().upgrade(true).open::<GaugeV2>().unwrap_err();
    assert!(matches!(busy, Error::WriterBusy { .. }), "{busy}");
    w.release_writer().unwrap();
    let w2 = seg2.opts().upgrade(true).open::<GaugeV2>().unwrap();
    assert_eq!(w2.header().capacity(), 104);
    assert_eq!(w2.compat(), Compat::Upgraded { from_version: 1 });
}

#[test]
fn incompatible_versions_name_the_first_difference() {
    let seg = Seg::new("broken");
    let _w = seg.opts().create_new().open_with(&v1(1.5, 7)).unwrap();
    for e in [
        seg.opts().upgrade(true).open::<BrokenV4>().unwrap_err(),
        seg.opts().open_read_only::<BrokenV4>().unwrap_err(),
    ] {
        assert!(matches!(e, Error::LayoutMismatch { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(
                "field `count`: this program expects u64 at offset 8, the segment has u32 at offset 8"
            ),
            "{text}"
        );
        assert!(text.contains("not an extension of v1"), "{text}");
    }
    // And the other way round: a version-1 program on a broken "newer" segment.
    let seg = Seg::new("broken-newer");
    let _w = seg.opts().create_new().open::<BrokenV4>().unwrap();
    let e = seg.opts().open_read_only::<GaugeV1>().unwrap_err();
    assert!(e.to_string().contains("field `count`"), "{e}");
}

/// Openers racing an upgrade see the old schema or the new one, never a mix
/// (the schema counter protocol), and a reader of version 1 keeps reading
/// consistent snapshots throughout.
#[test]
fn openers_racing_upgrades_never_see_a_mix() {
    for round in 0..20 {
        let seg = Seg::new("race");
        let w1 = seg.opts().create_new().open_with(&v1(7.5, 7)).unwrap();
        let stop = AtomicBool::new(false);
        let opened = AtomicU32::new(0);
        std::thread::scope(|s| {
            for t in 0..3 {
                let (seg, stop, opened) = (&seg, &stop, &opened);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if t == 0 {
                            let raw = RawSegment::open(&seg.opts()).expect("raw open");
                            assert!(matches!(raw.schema().version, 1..=3));
                        } else {
                            let r = seg.opts().open_read_only::<GaugeV1>().expect("v1 open");
                            let v = r.read().expect("v1 read");
                            assert_eq!(v.reading, f64::from(v.count) + 0.5, "torn read");
                        }
                        opened.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            for i in 8..40 {
                w1.write(&v1(f64::from(i) + 0.5, i)).unwrap();
            }
            // An upgrade needs write access: the v1 writer gives it up.
            w1.release_writer().unwrap();
            let w2 = seg.opts().upgrade(true).open::<GaugeV2>().unwrap();
            w2.modify(|v| {
                v.count = 100;
                v.reading = 100.5;
            })
            .unwrap();
            w2.release_writer().unwrap();
            let _w3 = seg.opts().upgrade(true).open::<GaugeV3>().unwrap();
            while opened.load(Ordering::Relaxed) < 30 {
                std::thread::yield_now();
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert!(opened.load(Ordering::Relaxed) >= 30, "round {round}");
    }
}

/// An upgrader that died after switching the schema counter to odd: the
/// staged fields are in force for every opener, and the next upgrader
/// finishes the switch before its own. (A file-backed segment, so the test
/// can plant the bytes: Unix only.)
#[cfg(unix)]
#[test]
fn an_interrupted_upgrade_is_finished_by_the_next() {
    use shm_runtime::header::{self, Header, SchemaFields};

    // Build what an upgrader leaves when it dies in the middle: a version-1
    // image with room, the version-2 descriptor in the spare area, the
    // staged fields for it, the counter odd, the header words still v1's.
    let mut image = shm_runtime::tools::segment_image(&v1(1.5, 7));
    let h = Header::decode(image[..HEADER_SIZE].try_into().unwrap());
    let d2 = shm_runtime::layout::encode_descriptor(&GaugeV2::LAYOUT);
    let slot = h.payload_offset as usize - d2.len();
    image[slot..slot + d2.len()].copy_from_slice(&d2);
    let staged = SchemaFields {
        fingerprint: GaugeV2::FINGERPRINT,
        schema_version: 2,
        flags: header::FLAG_OLDER_WRITERS,
        payload_size: size_of::<GaugeV2>() as u64,
        descriptor_offset: slot as u32,
        descriptor_len: d2.len() as u32,
    };
    let half = Header {
        schema_seq: 1,
        staged,
        ..h.clone()
    };
    image[..HEADER_SIZE].copy_from_slice(&half.encode());

    // Every opener sees version 2.
    let seen = shm_runtime::tools::validate_bytes::<GaugeV2>(&image).unwrap();
    assert_eq!(seen.schema_version, 2);
    assert_eq!(
        shm_runtime::tools::open_image::<GaugeV1>(&image)
            .unwrap()
            .compat(),
        Compat::Prefix { segment_version: 2 }
    );
    let (uh, schema) = shm_runtime::tools::validate_bytes_untyped(&image).unwrap();
    assert_eq!((uh.schema_version, schema.version), (2, 2));
    // With the counter even again the header words (still v1's) are in force.
    let rolled_back = Header {
        schema_seq: 2,
        ..half.clone()
    };
    image[..HEADER_SIZE].copy_from_slice(&rolled_back.encode());
    assert_eq!(
        shm_runtime::tools::validate_bytes::<GaugeV1>(&image)
            .unwrap()
            .schema_version,
        1
    );
    image[..HEADER_SIZE].copy_from_slice(&half.encode());

    // As a real segment: the next upgrader finishes the switch, then upgrades.
    let path = std::env::temp_dir().join(unique("evo-interrupted"));
    std::fs::write(&path, &image).unwrap();
    let opts = Options::file(&path);
    let w3 = opts.clone().upgrade(true).open::<GaugeV3>().unwrap();
    assert_eq!(w3.compat(), Compat::Upgraded { from_version: 2 });
    let bytes = std::fs::read(&path).unwrap();
    let after = Header::decode(bytes[..HEADER_SIZE].try_into().unwrap());
    assert_eq!(after.schema_seq % 2, 0);
    assert_eq!(after.schema_version, 3);
    assert_eq!(after, after.effective());
    let v = w3.read().unwrap();
    assert_eq!((v.reading, v.count, v.scale), (1.5, 7, 0.0));
    drop(w3);
    let _ = opts.remove();
}
