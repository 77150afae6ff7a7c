//! The schema types beyond numbers (`bool`, enums, `char`, `Utf16`,
//! `FixedStr`): round trips, and hostile bytes for each type, which every
//! read turns into `Error::InvalidValue` naming the field path and the
//! value, never UB, a panic or a silent coercion.
//!
//! Everything but the two-process test works on plain memory (segment
//! images and `Options::memory`), so Miri runs it:
//! `cargo +nightly miri test -p shm-runtime --test schema_types`.

#![allow(missing_docs)]

use proptest::prelude::*;
use schemas::{Axis, Mode, Robot};
use shm_runtime::descriptor::{Schema, Value, decode};
use shm_runtime::layout::encode_descriptor;
use shm_runtime::tools::{open_image, segment_image};
use shm_runtime::{Error, FixedStr, Options, SharedLayout, TooLong, Utf16};

/// The payload offsets of both copies of the value in an image.
fn copies(image: &[u8]) -> [usize; 2] {
    let mut h = [0u8; shm_runtime::header::HEADER_SIZE];
    h.copy_from_slice(&image[..shm_runtime::header::HEADER_SIZE]);
    let h = shm_runtime::header::Header::decode(&h);
    [h.payload_offset as usize, h.backup_offset as usize]
}

/// An image of `Robot::sample()` with `patch` applied to both copies of
/// its payload.
fn hostile(patch: impl Fn(&mut [u8])) -> Vec<u8> {
    let mut image = segment_image(&Robot::sample());
    for at in copies(&image) {
        patch(&mut image[at..at + size_of::<Robot>()]);
    }
    image
}

fn offset(name: &str) -> usize {
    Robot::LAYOUT
        .fields
        .iter()
        .find(|f| f.name == name)
        .unwrap()
        .offset
}

/// `(patch, field path, words in the message)` for every invalid value of
/// every type.
type Case = (Box<dyn Fn(&mut [u8])>, &'static str, &'static str);

fn cases() -> Vec<Case> {
    let armed = offset("armed");
    let mode = offset("mode");
    let initial = offset("initial");
    let label = offset("label");
    let flags = offset("flags");
    let joints = offset("joints");
    let names = offset("names");
    vec![
        (
            Box::new(move |p| p[armed] = 2),
            "armed",
            "byte 0x02 is not a bool",
        ),
        (
            Box::new(move |p| p[mode] = 5),
            "mode",
            "5 is not a variant of enum `Mode` (Idle = 0, Running = 1, Fault = 7)",
        ),
        (
            Box::new(move |p| p[initial..initial + 4].copy_from_slice(&0xd800u32.to_ne_bytes())),
            "initial",
            "0xd800 is not a Unicode scalar value",
        ),
        (
            Box::new(move |p| p[initial..initial + 4].copy_from_slice(&0x11_0000u32.to_ne_bytes())),
            "initial",
            "0x110000 is not a Unicode scalar value",
        ),
        (
            Box::new(move |p| p[label] = 15),
            "label",
            "string length 15 exceeds its capacity 14",
        ),
        (
            Box::new(move |p| p[label + 3] = 0xff),
            "label",
            "is not UTF-8: byte 1 is 0xff",
        ),
        (
            Box::new(move |p| p[flags + 3] = 0x80),
            "flags[3]",
            "byte 0x80",
        ),
        (
            Box::new(move |p| p[joints + 2 * 20 + 4] = 9),
            "joints[2].mode",
            "9 is not a variant of enum `Mode`",
        ),
        (
            Box::new(move |p| p[joints + 20 + 5] = 0xff),
            "joints[1].enabled",
            "byte 0xff",
        ),
        (
            Box::new(move |p| p[joints + 6..joints + 8].copy_from_slice(&(-2i16).to_ne_bytes())),
            "joints[0].axis",
            "-2 is not a variant of enum `Axis` (Minus = -1, Zero = 0, Plus = 1)",
        ),
        (
            Box::new(move |p| p[joints + 20 + 8] = 9),
            "joints[1].name",
            "string length 9 exceeds its capacity 8",
        ),
        (
            // A UTF-8 sequence cut at the end of the length.
            Box::new(move |p| {
                p[names + 8] = 2;
                p[names + 10] = 0xc3;
                p[names + 11] = 0xa9;
                p[names + 8] = 1;
            }),
            "names[1]",
            "not UTF-8",
        ),
    ]
}

#[test]
fn values_round_trip_in_memory() {
    let seg = Options::memory().open::<Robot>().unwrap();
    // A new segment is zero: every type's zero is valid.
    let zero = seg.read().unwrap();
    assert_eq!(zero.mode, Mode::Idle);
    assert!(!zero.armed);
    assert_eq!(zero.initial, '\0');
    assert_eq!(zero.label.as_str(), "");

    let v = Robot::sample();
    seg.write(&v).unwrap();
    assert_eq!(seg.read().unwrap(), v);
    assert_eq!(*seg.read_boxed().unwrap(), v);
    let mut out = Robot::sample();
    out.seq = 0;
    seg.read_into(&mut out).unwrap();
    assert_eq!(out, v);

    let f = seg.fields();
    assert_eq!(f.armed().get(), Ok(true));
    assert_eq!(f.mode().get(), Ok(Mode::Running));
    assert_eq!(f.initial().get(), Ok('é'));
    assert_eq!(f.letter().get().to_char(), Some('X'));
    assert_eq!(f.label().get().unwrap(), "left-arm");
    assert_eq!(f.flags().get(1), Some(Ok(false)));
    assert_eq!(f.flags().get(4), None);
    // A nested struct's handle dereferences to its accessors.
    let j2 = f.joints().at(2).unwrap();
    assert_eq!(j2.mode().get(), Ok(Mode::Fault));
    assert_eq!(j2.name().get().unwrap(), "wrist");
    assert_eq!(
        f.joints().at(0).unwrap().fields().axis().get(),
        Ok(Axis::Minus)
    );
    assert_eq!(f.names().at(0).unwrap().get().unwrap(), "ünï");

    // Writing is as simple as for numbers; too long is an error, and
    // indexing out of range writes nothing, as reading gives nothing.
    let r = seg
        .update(|f| {
            f.armed().set(false);
            f.mode().set(Mode::Fault);
            f.initial().set('Z');
            f.letter().set(Utf16::from_char('Q').unwrap());
            f.label().set_str("right-arm").unwrap();
            let long = f.label().set_str("a label that is too long");
            f.flags().set(0, false).unwrap();
            let past = f.flags().set(4, true);
            let j = f.joints().at(1).unwrap();
            j.axis().set(Axis::Zero);
            j.name().set(FixedStr::new("knee").unwrap());
            (long, past)
        })
        .unwrap();
    assert_eq!(r, (Err(TooLong { len: 24, cap: 14 }), None));
    let after = seg.read().unwrap();
    assert!(!after.armed);
    assert_eq!(after.mode, Mode::Fault);
    assert_eq!(after.initial, 'Z');
    assert_eq!(after.letter, Utf16(u16::from(b'Q')));
    assert_eq!(after.label.as_str(), "right-arm");
    assert_eq!(after.flags, [false, false, true, true]);
    assert_eq!(after.joints[1].axis, Axis::Zero);
    assert_eq!(after.joints[1].name.as_str(), "knee");

    seg.modify(|v| v.joints[0].mode = Mode::Running).unwrap();
    assert_eq!(seg.read().unwrap().joints[0].mode, Mode::Running);
}

#[test]
fn every_invalid_value_is_a_named_error() {
    for (patch, path, words) in cases() {
        let image = hostile(&patch);
        let seg = open_image::<Robot>(&image).unwrap();
        let check = |e: Error| match &e {
            Error::InvalidValue { path: p, what, .. } => {
                assert_eq!(p, path, "{e}");
                assert!(what.contains(words), "{e} should say {words:?}");
                let text = e.to_string();
                assert!(text.contains("image") || text.contains(':'), "{text}");
            }
            e => panic!("{path}: expected InvalidValue, got {e}"),
        };
        check(seg.read().unwrap_err());
        check(seg.read_boxed().unwrap_err());
        check(seg.read_with_version().unwrap_err());
        // `read_into` leaves its target as it was.
        let mut out = Robot::sample();
        out.seq = 7;
        check(seg.read_into(&mut out).unwrap_err());
        assert_eq!(out.seq, 7);
        assert_eq!(out.label, Robot::sample().label);

        // The untyped decoder shows the value as invalid, never panics.
        let schema = Schema::from_layout(&Robot::LAYOUT);
        let at = copies(&image)[0];
        let payload = &image[at..at + size_of::<Robot>()];
        let shown = schema.view(payload).unwrap().to_string();
        assert!(shown.contains("<invalid "), "{path}: {shown}");
        assert!(
            has_invalid(&schema.decode_value(payload).unwrap()),
            "{path}"
        );
    }
}

#[test]
fn field_getters_name_the_bad_value() {
    let image = hostile(|p| {
        p[offset("armed")] = 3;
        p[offset("mode")] = 200;
        p[offset("label")] = 200;
    });
    let seg = open_image::<Robot>(&image).unwrap();
    let f = seg.fields();
    let e = f.armed().get().unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid value: byte 0x03 is not a bool (0 = false, 1 = true)"
    );
    assert!(
        f.mode()
            .get()
            .unwrap_err()
            .what()
            .contains("200 is not a variant of enum `Mode`")
    );
    assert!(f.label().get().unwrap_err().what().contains("length 200"));
    // The valid fields next to them still read.
    assert_eq!(f.seq().get(), 42);
    assert_eq!(f.initial().get(), Ok('é'));
}

fn has_invalid(v: &Value<'_>) -> bool {
    match v {
        Value::Invalid(_) => true,
        Value::Array(vs) => vs.iter().any(has_invalid),
        Value::Struct(fs) => fs.iter().any(|(_, v)| has_invalid(v)),
        _ => false,
    }
}

#[test]
fn the_untyped_decoder_shows_values_as_people_think_of_them() {
    let schema = Schema::from_layout(&Robot::LAYOUT);
    let image = segment_image(&Robot::sample());
    let at = copies(&image)[0];
    let text = schema
        .view(&image[at..at + size_of::<Robot>()])
        .unwrap()
        .to_string();
    for shown in [
        "initial: 'é'",
        "letter: 'X'",
        "armed: true",
        "mode: Running",
        "label: \"left-arm\"",
        "flags: [true, false, true, true]",
        "axis: Minus",
        "name: \"wrist\"",
        "names: [\"ünï\", \"\"]",
    ] {
        assert!(text.contains(shown), "{shown:?} not in {text}");
    }
}

#[test]
fn the_descriptor_records_the_types_strictly() {
    let bytes = encode_descriptor(&Robot::LAYOUT);
    let s = decode(&bytes).unwrap();
    assert_eq!(s, Schema::from_layout(&Robot::LAYOUT));
    assert_eq!(s.encode(), bytes);
    assert_eq!(s.fingerprint(), Robot::FINGERPRINT);
    let types: Vec<String> = s.fields.iter().map(|f| f.ty.to_string()).collect();
    assert_eq!(
        types,
        [
            "u64",
            "char",
            "Utf16",
            "bool",
            "Mode(u8)",
            "FixedStr<14>",
            "[bool; 4]",
            "[Joint; 3]",
            "[FixedStr<6>; 2]"
        ]
    );

    // Each new entry is validated: find the enum `Mode` and the label's
    // capacity in the bytes and break them.
    let find = |needle: &[u8]| {
        bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    };
    let mode = find(b"\x04\x00Mode") - 1; // the 0x40 tag
    assert_eq!(bytes[mode], 0x40);
    let repr = mode + 1 + 2 + 4;
    let count = repr + 1;
    let first = count + 4; // "Idle": len 4
    let idle_value = first + 2 + 4;
    let zero = find(b"\x04\x00Zero");
    let label_cap = find(b"\x05\x00label") + 2 + 5 + 16 + 1;
    assert_eq!(bytes[label_cap - 1], 0x50);
    type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(move |b| b[repr] = 9), "not an integer type"),
        (Box::new(move |b| b[repr] = 0x13), "not an integer type"),
        (
            Box::new(move |b| b[count..count + 4].copy_from_slice(&0u32.to_le_bytes())),
            "no variants",
        ),
        (
            Box::new(move |b| b[count..count + 4].copy_from_slice(&u32::MAX.to_le_bytes())),
            "cannot fit",
        ),
        (Box::new(move |b| b[idle_value] = 1), "another variant's"),
        (
            Box::new(move |b| b[idle_value + 1] = 1),
            "does not fit its repr u8",
        ),
        (
            Box::new(move |b| b[zero + 2..zero + 6].copy_from_slice(b"Plus")),
            "`Plus` appears twice",
        ),
        (Box::new(move |b| b[first + 2] = b'-'), "identifier"),
        (Box::new(move |b| b[mode + 3] = b'.'), "identifier"),
        (
            Box::new(move |b| b[label_cap..label_cap + 4].copy_from_slice(&0u32.to_le_bytes())),
            "capacity 0",
        ),
        (
            Box::new(move |b| b[label_cap..label_cap + 4].copy_from_slice(&65536u32.to_le_bytes())),
            "capacity 65536",
        ),
    ];
    for (mutate, needle) in cases {
        let mut b = bytes.clone();
        mutate(&mut b);
        let err = decode(&b).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
}

#[test]
// Thousands of decodes of plain safe code: slow under Miri, and the
// decoder's own tests run there.
#[cfg_attr(miri, ignore)]
fn every_truncation_and_byte_change_of_the_descriptor_is_handled() {
    let bytes = encode_descriptor(&Robot::LAYOUT);
    for n in 0..bytes.len() {
        assert!(decode(&bytes[..n]).is_err(), "{n}");
    }
    for i in 0..bytes.len() {
        for v in [0u8, 1, 0x13, 0x40, 0x50, 0x7f, 0xff] {
            let mut m = bytes.clone();
            m[i] = v;
            let _ = decode(&m);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        ..ProptestConfig::default()
    })]

    /// Any payload bytes: the typed read succeeds exactly when the untyped
    /// decoder finds no invalid value, and never panics.
    #[test]
    fn any_payload_reads_or_names_the_bad_value(
        payload in proptest::collection::vec(any::<u8>(), size_of::<Robot>()),
        bias in proptest::collection::vec((0usize..112, 0u8..3), 0..16),
    ) {
        // Random bytes are nearly always invalid; `bias` writes small
        // values (often valid) at random places to reach the valid side too.
        let mut payload = payload;
        for (at, v) in bias {
            payload[at] = v;
        }
        let image = hostile(|p| p.copy_from_slice(&payload));
        let seg = open_image::<Robot>(&image).unwrap();
        let schema = Schema::from_layout(&Robot::LAYOUT);
        let invalid = has_invalid(&schema.decode_value(&payload).unwrap());
        match seg.read() {
            Ok(v) => {
                prop_assert!(!invalid);
                // A valid value reads back to the same bytes.
                let again = segment_image(&v);
                let at = copies(&again)[0];
                let s = Schema::from_layout(&Robot::LAYOUT);
                prop_assert_eq!(
                    s.decode_value(&again[at..at + size_of::<Robot>()]),
                    s.decode_value(&payload)
                );
            }
            Err(Error::InvalidValue { .. }) => prop_assert!(invalid),
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
        let f = seg.fields();
        let _ = (f.armed().get(), f.mode().get(), f.initial().get(), f.label().get());
    }
}

/// The child of [`two_processes_share_every_type`]; does nothing as a
/// normal test.
#[cfg(all(unix, not(miri)))]
#[test]
fn robot_reader_child() {
    let Ok(name) = std::env::var("SHM_TEST_ROBOT_CHILD") else {
        return;
    };
    let seg = Options::posix(&name).open_read_only::<Robot>().unwrap();
    let v = seg.read().unwrap();
    assert_eq!(v, Robot::sample());
    println!(
        "child: read {} {} {:?} {} {}",
        v.label, v.letter, v.joints[2].mode, v.initial, v.armed
    );
    // Wait for the parent to break a value, then report what a read says.
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    match seg.read() {
        Err(e) => println!("child: error {e}"),
        Ok(_) => println!("child: no error"),
    }
}

#[cfg(all(unix, not(miri)))]
#[test]
fn two_processes_share_every_type() {
    let name = test_support::Name::new("robot");
    let _cleanup = test_support::Cleanup::posix(name.as_str());
    let seg = Options::posix(name.as_str())
        .create_new()
        .open::<Robot>()
        .unwrap();
    seg.write(&Robot::sample()).unwrap();
    let mut child =
        test_support::ChildRole::start("robot_reader_child", "SHM_TEST_ROBOT_CHILD", name.as_str());
    assert_eq!(
        child.expect("child: read"),
        "child: read left-arm X Fault é true"
    );
    // Another process that does not use these types writes a byte that
    // is no `bool` into the segment: modelled by an atomic store of the
    // word holding `armed` (the size and kind of every access to it).
    let p = seg.fields().armed().as_ptr().cast::<u8>();
    let at = p as usize % 8;
    // SAFETY: the aligned word holding `armed` lies inside the mapping,
    // which lives as long as `seg`, and is only accessed as a whole atomic
    // word (by this process and the child).
    unsafe {
        let w = std::sync::atomic::AtomicU64::from_ptr(p.sub(at).cast::<u64>());
        let mut b = w.load(std::sync::atomic::Ordering::Relaxed).to_ne_bytes();
        b[at] = 2;
        w.store(u64::from_ne_bytes(b), std::sync::atomic::Ordering::Relaxed);
    }
    child.poke();
    let said = child.expect("child:");
    assert!(
        said.contains("field `armed` holds an invalid value: byte 0x02 is not a bool"),
        "{said}"
    );
    assert!(said.contains(name.as_str()), "{said}");
    child.finish();
}

/// Version 1 of a schema with an enum.
#[derive(shm_runtime::SharedEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    Off = 0,
    On = 1,
}

mod v2 {
    /// Version 2 of [`super::State`]: a variant added at the end.
    #[derive(shm_runtime::SharedEnum, Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(u8)]
    pub enum State {
        Off = 0,
        On = 1,
        Broken = 2,
    }
}

#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
#[shm(name = "Lamp")]
pub struct LampV1 {
    pub state: State,
    pub lit: bool,
    pub _pad0: [u8; 6],
    pub hours: u64,
}

#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
#[shm(version = 2, extends = LampV1)]
pub struct LampV2 {
    pub state: v2::State,
    pub lit: bool,
    pub _pad0: [u8; 6],
    pub hours: u64,
    pub label: FixedStr<22>,
}

#[test]
fn a_new_variant_is_a_newer_version_and_older_readers_name_it_invalid() {
    let v2 = |state| LampV2 {
        state,
        lit: true,
        _pad0: [0; 6],
        hours: 12,
        label: FixedStr::new("hall").unwrap(),
    };
    // An older program reads a newer segment as its prefix...
    let image = segment_image(&v2(v2::State::On));
    let old = open_image::<LampV1>(&image).unwrap();
    let v = old.read().unwrap();
    assert_eq!((v.state, v.lit, v.hours), (State::On, true, 12));
    // ... and a variant it does not know as an invalid value.
    let image = segment_image(&v2(v2::State::Broken));
    let old = open_image::<LampV1>(&image).unwrap();
    match old.read().unwrap_err() {
        Error::InvalidValue { path, what, .. } => {
            assert_eq!(path, "state");
            assert_eq!(what, "2 is not a variant of enum `State` (Off = 0, On = 1)");
        }
        e => panic!("{e}"),
    }
    // The descriptors: v1 is a prefix of v2, not the other way round.
    let s1 = Schema::from_layout(&LampV1::LAYOUT);
    let s2 = Schema::from_layout(&LampV2::LAYOUT);
    assert_eq!(
        shm_runtime::descriptor::prefix_difference(&s1, &s2, true),
        None
    );
    let why = shm_runtime::descriptor::prefix_difference(&s2, &s1, true).unwrap();
    assert!(why.contains("enum `State`"), "{why}");
}
