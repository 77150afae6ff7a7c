//! Unit tests of the header: encoding, validation, plans.

use super::*;

static LAYOUT: LayoutDesc = LayoutDesc {
    name: "Test",
    version: 3,
    size: 208,
    align: 4,
    fields: &[],
};

fn ready() -> Header {
    let plan = Plan::new(&LAYOUT, 40).unwrap();
    let mut h = Header::new(&LAYOUT, 0xfeed, &plan, 42, 7);
    h.state = STATE_READY;
    h
}

#[test]
fn plan_puts_payload_on_a_cache_line_after_the_descriptor() {
    let plan = Plan::new(&LAYOUT, 40).unwrap();
    assert_eq!(plan.descriptor_offset, 256);
    assert_eq!(plan.payload_offset, 320);
    assert_eq!(plan.backup_offset, 576);
    assert_eq!(plan.segment_size, 784);
}

#[test]
fn encode_decode_round_trip() {
    let h = ready();
    let b = h.encode();
    assert_eq!(&b[..8], b"SHMTYPE\0");
    assert_eq!(Header::decode(&b), h);
    assert_eq!(h.schema_name(), Some("Test"));
    // Each field at its offset, in native byte order; the concurrency
    // words of a new header are zero, except the backup offset.
    assert_eq!(b[off::STATE..][..4], h.state.to_ne_bytes());
    assert_eq!(b[off::PAYLOAD_SIZE..][..8], h.payload_size.to_ne_bytes());
    assert_eq!(b[off::SCHEMA_NAME..][..NAME_CAPACITY], h.schema_name);
    assert_eq!(b[off::BACKUP_OFFSET..][..8], 576u64.to_ne_bytes());
    assert!(b[off::SEQ..off::BACKUP_OFFSET].iter().all(|&x| x == 0));
    assert!(b[off::SCHEMA_SEQ..].iter().all(|&x| x == 0));
    let staged = Header {
        staged: SchemaFields {
            payload_size: 9,
            descriptor_len: 5,
            ..SchemaFields::default()
        },
        ..h
    }
    .encode();
    assert_eq!(staged[off::STAGED_PAYLOAD_SIZE..][..8], 9u64.to_ne_bytes());
    assert_eq!(
        staged[off::STAGED_DESCRIPTOR_LEN..][..4],
        5u32.to_ne_bytes()
    );
}

#[test]
fn valid_header_passes() {
    let h = ready();
    h.validate("t", 784).unwrap();
    h.check_schema("t", &LAYOUT, 0xfeed).unwrap();
}

#[test]
fn each_bad_field_is_reported() {
    type Mutation = fn(&mut Header);
    let cases: Vec<(Mutation, &str)> = vec![
        (|h| h.magic = *b"NOTOURS!", "not a typed"),
        (|h| h.header_version = 9, "version 9"),
        // Version 1 wrote both copies on every write: its readers would
        // misread this protocol's segments, and this one theirs.
        (|h| h.header_version = 1, "version 1"),
        (|h| h.header_size = 100, "header size"),
        (|h| h.state = 0, "not initialised"),
        (|h| h.state = 7, "state is 7"),
        (|h| h.flags = 0x80, "unknown flags"),
        (|h| h.schema_name[10] = b'x', "NUL-padded"),
        (|h| h.descriptor_offset = 8, "descriptor"),
        (|h| h.payload_align = 1 << 20, "alignment"),
        (|h| h.payload_align = 0, "alignment"),
        (|h| h.schema_name = [0xff; NAME_CAPACITY], "identifier"),
        // Names that are not identifiers in every target language of the
        // generated bindings: terminal escapes, a C# line terminator, a
        // right-to-left override, a trigraph, a character outside the BMP.
        (
            |h| h.schema_name[..4].copy_from_slice(b"\x1b[2J"),
            "identifier",
        ),
        (
            |h| h.schema_name[..3].copy_from_slice("\u{2028}".as_bytes()),
            "identifier",
        ),
        (
            |h| h.schema_name[..3].copy_from_slice("\u{202e}".as_bytes()),
            "identifier",
        ),
        (|h| h.schema_name[..3].copy_from_slice(b"??/"), "identifier"),
        (
            |h| h.schema_name[..4].copy_from_slice("\u{1f600}".as_bytes()),
            "identifier",
        ),
        (
            |h| h.schema_name[..4].copy_from_slice(b"a.b-"),
            "identifier",
        ),
        (|h| h.schema_name[..2].copy_from_slice(b"1a"), "identifier"),
        (|h| h.payload_align = 48, "alignment"),
        (|h| h.payload_offset = 328, "multiple"),
        (|h| h.descriptor_len = 1000, "descriptor"),
        (|h| h.payload_size = u64::MAX, "overflows"),
        (|h| h.segment_size = 4096, "4096 bytes"),
        (|h| h.payload_capacity = 100, "less than the payload size"),
        (|h| h.payload_capacity = 256, "backup copy"),
        (|h| h.payload_capacity = 500, "runs past"),
        (|h| h.backup_offset = 0, "backup copy"),
        (|h| h.backup_offset = 512, "backup copy"),
        (|h| h.backup_offset = 577, "backup copy"),
        (|h| h.backup_offset = u64::MAX - 63, "backup copy"),
        (|h| h.payload_capacity = u64::MAX, "runs past"),
    ];
    for (mutate, needle) in cases {
        let mut h = ready();
        mutate(&mut h);
        let err = h.validate("t", 784).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
}

#[test]
fn capacity_and_staged_fields() {
    let plan = Plan::with_capacity(&LAYOUT, 40, 1000).unwrap();
    assert_eq!(plan.payload_capacity, 1000);
    // Spare descriptor room: 40 + 4096 bytes after the header.
    assert_eq!(
        plan.payload_offset,
        (256 + 40 + DESCRIPTOR_SPARE_MIN).next_multiple_of(64)
    );
    assert_eq!(
        plan.backup_offset,
        (plan.payload_offset + 1000).next_multiple_of(64)
    );
    assert_eq!(plan.segment_size, plan.backup_offset + 1000);
    assert_eq!(
        Plan::with_capacity(&LAYOUT, 40, 100).unwrap(),
        Plan::new(&LAYOUT, 40).unwrap()
    );
    assert_eq!(
        Plan::with_capacity(&LAYOUT, 40, 209)
            .unwrap()
            .payload_capacity,
        216
    );
    let mut h = Header::new(&LAYOUT, 1, &plan, 1, 1);
    h.state = STATE_READY;
    assert_eq!(h.capacity(), 1000);
    h.validate("t", plan.segment_size as u64).unwrap();
    // A header from before the field: capacity 0 means the payload size.
    let old = Header {
        payload_capacity: 0,
        ..ready()
    };
    assert_eq!(old.capacity(), 208);
    old.validate("t", 784).unwrap();
    // While the schema counter is odd, the staged fields are in force.
    let staged = SchemaFields {
        fingerprint: 9,
        schema_version: 4,
        flags: FLAG_OLDER_WRITERS,
        payload_size: 300,
        descriptor_offset: 2000,
        descriptor_len: 50,
    };
    let up = Header {
        schema_seq: 3,
        staged,
        ..h.clone()
    };
    assert_eq!(up.effective().schema_fields(), staged);
    assert_eq!(Header::decode(&up.encode()), up);
    up.effective()
        .validate("t", plan.segment_size as u64)
        .unwrap();
    // Empty staged fields in force are refused like any bad header.
    let empty = Header {
        schema_seq: 1,
        ..ready()
    };
    let err = empty.effective().validate("t", 784).unwrap_err();
    assert!(err.to_string().contains("descriptor"), "{err}");
    let done = Header {
        schema_seq: 4,
        ..up
    };
    assert_eq!(done.effective(), done);
    assert_eq!(done.effective().fingerprint, 1);
}

#[test]
fn long_names_are_cut_and_still_match() {
    // A layout built by hand (the derive refuses names over 48 bytes).
    let long = LayoutDesc {
        name: "x1234567890123456789012345678901234567890123456789012345",
        ..LAYOUT
    };
    assert_eq!(stored_name(long.name).len(), 48);
    assert_eq!(stored_name("short"), "short");
    let plan = Plan::new(&long, 40).unwrap();
    let mut h = Header::new(&long, 1, &plan, 1, 1);
    h.state = STATE_READY;
    h.validate("t", 784).unwrap();
    h.check_schema("t", &long, 1).unwrap();
}

#[test]
fn other_schema_is_a_layout_mismatch() {
    let h = ready();
    let err = h.check_schema("t", &LAYOUT, 0xbeef).unwrap_err();
    assert!(matches!(err, Error::LayoutMismatch { .. }), "{err}");
    let other = LayoutDesc {
        version: 4,
        ..LAYOUT
    };
    assert!(h.check_schema("t", &other, 0xfeed).is_err());
}

#[test]
fn plans_that_do_not_fit_are_errors() {
    for capacity in [usize::MAX, usize::MAX - 7, isize::MAX as usize] {
        assert_eq!(Plan::with_capacity(&LAYOUT, 40, capacity), None);
        let e = Plan::for_segment("memory:t", &LAYOUT, 40, capacity).unwrap_err();
        assert!(matches!(e, Error::NoSpace { .. }), "{e}");
    }
    let huge_descriptor = MAX_DESCRIPTOR_LEN as usize + 1;
    let e = Plan::for_segment("memory:t", &LAYOUT, huge_descriptor, 0).unwrap_err();
    assert!(e.to_string().contains("descriptor"), "{e}");
    let aligned = LayoutDesc {
        align: 8192,
        ..LAYOUT
    };
    let e = Plan::for_segment("memory:t", &aligned, 40, 0).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(
        Plan::with_capacity(
            &LayoutDesc {
                align: 4096,
                ..LAYOUT
            },
            40,
            0
        )
        .is_some()
    );
}
