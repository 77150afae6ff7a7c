//! The schema descriptor in real POSIX segments: mismatches name the first
//! difference, a corrupt descriptor is refused, and `RawSegment` reads a
//! segment without its Rust type.
//!
//! Linux only: the corrupt-descriptor test edits the object through
//! `/dev/shm`. (The descriptor checks themselves are platform-neutral and
//! have unit tests in `src/descriptor.rs`, which also run under Wine.)
#![cfg(target_os = "linux")]

use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU32, Ordering};

use shm_runtime::Field;
use shm_runtime::descriptor::{TypeInfo, Value};
use shm_runtime::{
    Access, Error, FieldDesc, LayoutDesc, Options, Prim, RawSegment, SharedLayout, ShmSafe,
    TypeDesc,
};

/// Two hand-written schemas with the same name and size that differ in one
/// field's type (the derive writes such impls; these keep this test
/// independent of it).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Wide {
    value: i32,
    letter: u16,
    pad: [u8; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Narrow {
    value: i32,
    letter: u8,
    pad: [u8; 3],
}

static U8: TypeDesc = TypeDesc::Prim(Prim::U8);

// SAFETY: `Wide` is repr(C) of i32, u16, [u8; 2]: no padding, every bit
// pattern valid, same layout everywhere; `LAYOUT` describes it exactly.
unsafe impl ShmSafe for Wide {
    const TYPE: TypeDesc = TypeDesc::Struct(&<Wide as SharedLayout>::LAYOUT);
}
// SAFETY: as above.
unsafe impl SharedLayout for Wide {
    const LAYOUT: LayoutDesc = LayoutDesc {
        name: "Probe",
        version: 1,
        size: 8,
        align: 4,
        fields: &[
            FieldDesc {
                name: "value",
                offset: 0,
                size: 4,
                ty: TypeDesc::Prim(Prim::I32),
            },
            FieldDesc {
                name: "letter",
                offset: 4,
                size: 2,
                ty: TypeDesc::Prim(Prim::U16),
            },
            FieldDesc {
                name: "pad",
                offset: 6,
                size: 2,
                ty: TypeDesc::Array { elem: &U8, len: 2 },
            },
        ],
    };
    type Fields<'a, A: Access> = Field<'a, Wide, A>;
}
// SAFETY: `Narrow` is repr(C) of i32, u8, [u8; 3]: as for `Wide`.
unsafe impl ShmSafe for Narrow {
    const TYPE: TypeDesc = TypeDesc::Struct(&<Narrow as SharedLayout>::LAYOUT);
}
// SAFETY: as above.
unsafe impl SharedLayout for Narrow {
    const LAYOUT: LayoutDesc = LayoutDesc {
        name: "Probe",
        version: 1,
        size: 8,
        align: 4,
        fields: &[
            FieldDesc {
                name: "value",
                offset: 0,
                size: 4,
                ty: TypeDesc::Prim(Prim::I32),
            },
            FieldDesc {
                name: "letter",
                offset: 4,
                size: 1,
                ty: TypeDesc::Prim(Prim::U8),
            },
            FieldDesc {
                name: "pad",
                offset: 5,
                size: 3,
                ty: TypeDesc::Array { elem: &U8, len: 3 },
            },
        ],
    };
    type Fields<'a, A: Access> = Field<'a, Narrow, A>;
}

/// A unique segment name, removed again on drop.
struct Name(String);
impl Name {
    fn new(tag: &str) -> Name {
        static N: AtomicU32 = AtomicU32::new(0);
        Name(format!(
            "shm-desc-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }
}
impl Drop for Name {
    fn drop(&mut self) {
        let _ = Options::posix(&self.0).remove();
    }
}

#[test]
fn mismatch_names_the_first_difference() {
    let n = Name::new("mismatch");
    let _w = Options::posix(&n.0).create_new().open::<Wide>().unwrap();
    let err = Options::posix(&n.0).open::<Narrow>().unwrap_err();
    let Error::LayoutMismatch { detail, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        detail.as_deref(),
        Some(
            "field `letter`: this program expects u8 at offset 4, the segment has u16 at offset 4"
        )
    );
    assert!(err.to_string().contains("field `letter`"), "{err}");
}

#[test]
fn raw_segment_reads_without_the_type() {
    let n = Name::new("raw");
    let w = Options::posix(&n.0).create_new().open::<Wide>().unwrap();
    w.write(&Wide {
        value: -5,
        letter: 88,
        pad: [0; 2],
    })
    .unwrap();
    let raw = RawSegment::open(&Options::posix(&n.0)).unwrap();
    assert_eq!(raw.schema().name, "Probe");
    assert_eq!(raw.schema().fields[1].ty, TypeInfo::Prim(Prim::U16));
    assert_eq!(raw.header().fingerprint, Wide::FINGERPRINT);
    assert_eq!(raw.read_bytes().unwrap().len(), 8);
    let v = raw.read_value().unwrap();
    assert_eq!(
        v,
        Value::Struct(vec![
            ("value".into(), Value::I(-5)),
            ("letter".into(), Value::U(88)),
            ("pad".into(), Value::Array(vec![Value::U(0), Value::U(0)])),
        ])
    );
    let version = raw.version();
    w.write(&Wide {
        value: 1,
        letter: 1,
        pad: [0; 2],
    })
    .unwrap();
    assert_eq!(raw.version(), version + 1);
    assert_eq!(raw.status().unwrap().header.unwrap().schema_name, "Probe");
}

fn dev_shm(name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm/{name}"))
        .unwrap()
}

#[test]
fn corrupt_descriptor_is_refused() {
    let n = Name::new("corrupt");
    drop(Options::posix(&n.0).create_new().open::<Wide>().unwrap());
    // Flip one byte inside the descriptor (after the header).
    let mut f = dev_shm(&n.0);
    f.seek(SeekFrom::Start(256 + 4)).unwrap();
    f.write_all(&[9]).unwrap();
    for err in [
        Options::posix(&n.0).open::<Wide>().unwrap_err(),
        Options::posix(&n.0).open::<Narrow>().unwrap_err(),
        RawSegment::open(&Options::posix(&n.0)).unwrap_err(),
    ] {
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("descriptor"), "{err}");
    }
}

#[test]
fn foreign_and_short_objects_are_refused() {
    let n = Name::new("foreign");
    let mut f = std::fs::File::create_new(format!("/dev/shm/{}", n.0)).unwrap();
    f.write_all(&[0x42; 4096]).unwrap();
    let err = RawSegment::open(&Options::posix(&n.0)).unwrap_err();
    assert!(matches!(err, Error::NotASegment { .. }), "{err}");
    f.set_len(100).unwrap();
    let err = RawSegment::open(&Options::posix(&n.0)).unwrap_err();
    assert!(matches!(err, Error::TooSmall { .. }), "{err}");
}
