//! What the fuzz targets share: the invariants every accepted segment must
//! satisfy, checked with `assert!` (a failure is a bug the fuzzer reports).

use shm_runtime::header::{HEADER_SIZE, Header, PAYLOAD_ALIGN_MIN};
use shm_runtime::{Error, FixedStr, SharedEnum, SharedLayout, Utf16};

/// The schema the targets open segments as: the layout of the examples'
/// `MySharedData` (208 bytes, C#-compatible).
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 208, align = 4, name = "MySharedData")]
pub struct Schema {
    /// An integer value.
    pub value: i32,
    /// A UTF-16 code unit.
    pub letter: u16,
    /// Explicit padding.
    pub _pad: [u8; 2],
    /// Fifty floats.
    pub numbers: [f32; 50],
}

impl Schema {
    /// The value the writer example writes.
    pub fn example() -> Schema {
        let mut v = Schema {
            value: 123,
            letter: 'X' as u16,
            _pad: [0; 2],
            numbers: [0.0; 50],
        };
        v.numbers[10] = 1.45;
        v
    }
}

/// Facts that must hold for any header `validate` accepted against an
/// object of `object_size` bytes.
pub fn assert_header_invariants(h: &Header, object_size: u64) {
    let end = h
        .payload_offset
        .checked_add(h.payload_size)
        .expect("no overflow");
    assert!(end <= h.segment_size && h.segment_size <= object_size);
    assert!(h.payload_offset >= HEADER_SIZE as u64);
    assert!(u64::from(h.payload_align) >= PAYLOAD_ALIGN_MIN as u64);
    assert_eq!(h.payload_offset % u64::from(h.payload_align), 0);
    let desc_end = u64::from(h.descriptor_offset) + u64::from(h.descriptor_len);
    assert!(u64::from(h.descriptor_offset) >= HEADER_SIZE as u64 && desc_end <= h.payload_offset);
    assert!(h.schema_name().is_some_and(|n| !n.is_empty()));
}

/// Validates `bytes` as a segment of [`Schema`] and, if they pass, opens a
/// copy and reads a snapshot: every step must give a value or an error.
/// The untyped path (as the `shm` tool opens segments) is checked too.
pub fn check_segment(bytes: &[u8]) {
    let typed = shm_runtime::tools::validate_bytes::<Schema>(bytes);
    if let Ok((h, schema)) = shm_runtime::tools::validate_bytes_untyped(bytes) {
        assert_header_invariants(&h, bytes.len() as u64);
        assert_eq!(schema.size, h.payload_size);
        let at = h.payload_offset as usize;
        let payload = &bytes[at..at + h.payload_size as usize];
        let v = schema.decode_value(payload).expect("payload decodes");
        let _ = v.to_string();
    } else {
        assert!(
            typed.is_err(),
            "the typed check accepted what the untyped one refused"
        );
    }
    let Ok(h) = typed else {
        return;
    };
    assert_header_invariants(&h, bytes.len() as u64);
    assert_eq!(h.fingerprint, Schema::FINGERPRINT);
    assert_eq!(h.payload_size, size_of::<Schema>() as u64);
    // What validate_bytes accepted, the real open path accepts too.
    let seg = shm_runtime::tools::open_image::<Schema>(bytes).expect("validated image opens");
    match seg.read() {
        Ok(v) => {
            // With both counters stable (even) the snapshot is exactly the
            // bytes of the latest copy: the one whose counter is larger in
            // serial-number order (the primary on a tie). (With an odd one,
            // a write was recorded as in progress: the protocol decides.)
            let word = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap());
            let (seq, backup_seq) = (word(128), word(240));
            if (seq | backup_seq) & 1 == 0 {
                let backup_later = (backup_seq.wrapping_sub(seq) as i64) > 0;
                let at = if backup_later {
                    h.backup_offset
                } else {
                    h.payload_offset
                } as usize;
                let raw = &bytes[at..at + size_of::<Schema>()];
                assert_eq!(v.value.to_ne_bytes(), raw[..4]);
                assert_eq!(v.numbers[49].to_bits().to_ne_bytes(), raw[204..208]);
            }
        }
        Err(Error::Timeout { .. } | Error::WriterDied { .. }) => {
            // A write recorded as in progress in the image.
        }
        Err(e) => panic!("unexpected read error on a validated image: {e}"),
    }
    let _ = seg.status();
}

/// An enum for [`Checked`].
#[derive(SharedEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i8)]
pub enum Mode {
    /// -1.
    Back = -1,
    /// 0.
    Stop = 0,
    /// 5.
    Go = 5,
}

/// A nested struct of checked fields.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Part {
    /// A flag.
    pub on: bool,
    /// An enum.
    pub mode: Mode,
    /// A short string.
    pub name: FixedStr<6>,
}

/// A schema with every type whose bit patterns are not all valid.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Checked {
    /// A scalar value.
    pub c: char,
    /// A UTF-16 unit.
    pub u: Utf16,
    /// Flags.
    pub flags: [bool; 2],
    /// A string.
    pub label: FixedStr<12>,
    /// Nested structs.
    pub parts: [Part; 2],
    /// Explicit padding.
    pub _pad0: [u8; 2],
}

/// Reads a segment of [`Checked`] whose payload is `payload` (cut or
/// zero-extended to its size): the typed read succeeds exactly when the
/// untyped decoder finds no invalid value, an error names a field, and
/// `read_into` leaves its target unchanged on an error.
pub fn check_checked_payload(payload: &[u8]) {
    let size = size_of::<Checked>();
    let mut p = payload.to_vec();
    p.resize(size, 0);
    let zero = Checked {
        c: 'a',
        u: Utf16(0),
        flags: [false; 2],
        label: FixedStr::empty(),
        parts: [Part {
            on: false,
            mode: Mode::Stop,
            name: FixedStr::empty(),
        }; 2],
        _pad0: [0; 2],
    };
    let mut image = shm_runtime::tools::segment_image(&zero);
    let mut h = [0u8; HEADER_SIZE];
    h.copy_from_slice(&image[..HEADER_SIZE]);
    let h = Header::decode(&h);
    for at in [h.payload_offset as usize, h.backup_offset as usize] {
        image[at..at + size].copy_from_slice(&p);
    }
    let seg = shm_runtime::tools::open_image::<Checked>(&image).expect("a valid image");
    let schema = shm_runtime::descriptor::Schema::from_layout(&Checked::LAYOUT);
    let shown = schema.view(&p).expect("long enough").to_string();
    let invalid = shown.contains("<invalid ");
    let mut out = zero;
    match seg.read_into(&mut out) {
        Ok(_) => assert!(!invalid, "{shown}"),
        Err(Error::InvalidValue { path, .. }) => {
            assert!(invalid, "{shown}");
            assert!(!path.is_empty());
            assert_eq!(out, zero, "read_into changed its target");
        }
        Err(e) => panic!("unexpected error {e}"),
    }
    let f = seg.fields();
    let _ = (f.c().get(), f.flags().get(1), f.label().get());
    let _ = f.parts().at(1).map(|p| (p.mode().get(), p.name().get()));
}

/// A message of the streams target: checked fields next to plain ones.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Note {
    /// A number.
    pub n: u64,
    /// A validated field.
    pub on: bool,
    /// Explicit padding.
    pub _pad: [u8; 7],
}

/// The schema of the streams target: a state and two rings.
#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
pub struct Streams {
    /// A state word.
    pub state: u64,
    /// A ring of structs with a checked field.
    pub notes: shm_runtime::Ring<Note, 4>,
    /// A ring of a checked type.
    pub flags: shm_runtime::Ring<bool, 2>,
}

/// Any bytes in the stream area of a valid segment: every subscriber call
/// returns (a message, a loss, nothing, `Corrupt` or `InvalidValue`),
/// positions never go back; never a panic or UB.
pub fn check_streams(data: &[u8]) {
    use shm_runtime::Recv;
    let mut image = shm_runtime::tools::segment_image(&Streams {
        state: 0,
        notes: shm_runtime::Ring::new(),
        flags: shm_runtime::Ring::new(),
    });
    let h = Header::decode(image[..HEADER_SIZE].try_into().expect("a header"));
    let start = (h.backup_offset + h.capacity().next_multiple_of(8)).next_multiple_of(64) as usize;
    let n = data.len().min(image.len() - start);
    image[start..start + n].copy_from_slice(&data[..n]);
    let seg = shm_runtime::tools::open_image::<Streams>(&image).expect("only the rings changed");
    let mut a = seg.subscribe(|f| f.notes()).expect("the ring fits");
    let mut b = seg.subscribe(|f| f.flags()).expect("the ring fits");
    for (i, oldest) in [false, true].into_iter().enumerate() {
        if oldest {
            a.start_oldest();
            b.start_oldest();
        }
        let (mut pa, mut pb) = (a.position(), b.position());
        for _ in 0..16 + i {
            match a.try_recv() {
                Ok(Some(Recv::Lost(k))) => assert!(k > 0),
                Ok(_) | Err(Error::Corrupt { .. } | Error::InvalidValue { .. }) => {}
                Err(e) => panic!("unexpected error {e}"),
            }
            match b.try_recv() {
                Ok(Some(Recv::Lost(k))) => assert!(k > 0),
                Ok(_) | Err(Error::Corrupt { .. } | Error::InvalidValue { .. }) => {}
                Err(e) => panic!("unexpected error {e}"),
            }
            assert!(a.position() >= pa && b.position() >= pb);
            (pa, pb) = (a.position(), b.position());
        }
    }
}

