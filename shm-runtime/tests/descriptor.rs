//! The schema descriptor in real POSIX segments: mismatches name the first
//! difference, a corrupt descriptor is refused, and `RawSegment` reads a
//! segment without its Rust type.
//!
//! Linux only: the corrupt-descriptor test edits the object through
//! `/dev/shm`. (The descriptor checks themselves are platform-neutral and
//! have unit tests in `src/descriptor.rs`, which also run under Wine.)
#![cfg(target_os = "linux")]

use std::io::{Seek, SeekFrom, Write};

use shm_runtime::descriptor::{TypeInfo, Value};
use shm_runtime::{
    Error, FieldDesc, LayoutDesc, Options, Prim, RawSegment, SharedLayout, TypeDesc,
};
use test_support::Name;

/// Two schemas with the same name and size that differ in one field's
/// type.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(name = "Probe")]
struct Wide {
    value: i32,
    letter: u16,
    pad: [u8; 2],
}

#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(name = "Probe")]
struct Narrow {
    value: i32,
    letter: u8,
    pad: [u8; 3],
}

static U8: TypeDesc = TypeDesc::Prim(Prim::U8);

/// What the tests below take the derive to describe for [`Wide`].
const WIDE: LayoutDesc = LayoutDesc {
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

/// And for [`Narrow`].
const NARROW: LayoutDesc = LayoutDesc {
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

#[test]
fn the_derive_describes_both_schemas_exactly() {
    assert_eq!(Wide::LAYOUT, WIDE);
    assert_eq!(Narrow::LAYOUT, NARROW);
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
            ("value", Value::I(-5)),
            ("letter", Value::U(88)),
            ("pad", Value::Array(vec![Value::U(0), Value::U(0)])),
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
