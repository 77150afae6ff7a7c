//! Compile-time layout descriptions (const data only): the types that
//! describe a schema struct ([`LayoutDesc`], [`FieldDesc`], [`TypeDesc`],
//! [`Prim`]), and the schema descriptor encoding that the fingerprint is
//! computed from. The traits that carry them, [`ShmSafe`](crate::ShmSafe)
//! and [`SharedLayout`](crate::SharedLayout), live with the field accessors
//! they refer to, in `field.rs`.
//!
//! Everything here is `const`-evaluable: the derive emits a [`LayoutDesc`]
//! as an associated constant and the fingerprint is computed by rustc.

/// The primitive kinds a field may have. The discriminant is the type code
/// written into a segment's schema descriptor (see `docs/FORMAT.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Prim {
    U8 = 1,
    I8 = 2,
    U16 = 3,
    I16 = 4,
    U32 = 5,
    I32 = 6,
    U64 = 7,
    I64 = 8,
    F32 = 9,
    F64 = 10,
    AtomicU8 = 11,
    AtomicI8 = 12,
    AtomicU16 = 13,
    AtomicI16 = 14,
    AtomicU32 = 15,
    AtomicI32 = 16,
    AtomicU64 = 17,
    AtomicI64 = 18,
    /// `bool`: one byte, 0 or 1 (validated on every read).
    Bool = 19,
    /// `char`: a `u32` that is a Unicode scalar value (validated).
    Char = 20,
    /// [`Utf16`](crate::Utf16): a UTF-16 code unit, C#'s `char` and Win32's
    /// `WCHAR` (every value is valid; a lone surrogate is one).
    Utf16 = 21,
}

impl Prim {
    /// Every primitive kind, in type-code order.
    pub const ALL: [Prim; 21] = [
        Prim::U8,
        Prim::I8,
        Prim::U16,
        Prim::I16,
        Prim::U32,
        Prim::I32,
        Prim::U64,
        Prim::I64,
        Prim::F32,
        Prim::F64,
        Prim::AtomicU8,
        Prim::AtomicI8,
        Prim::AtomicU16,
        Prim::AtomicI16,
        Prim::AtomicU32,
        Prim::AtomicI32,
        Prim::AtomicU64,
        Prim::AtomicI64,
        Prim::Bool,
        Prim::Char,
        Prim::Utf16,
    ];

    /// The type code of this kind in a descriptor.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind with type code `code`, if there is one.
    pub const fn from_code(code: u8) -> Option<Prim> {
        if code >= 1 && code as usize <= Prim::ALL.len() {
            Some(Prim::ALL[(code - 1) as usize])
        } else {
            None
        }
    }

    /// Size in bytes (also its alignment: every primitive is naturally aligned).
    pub const fn size(self) -> usize {
        match self {
            Prim::U8 | Prim::I8 | Prim::AtomicU8 | Prim::AtomicI8 | Prim::Bool => 1,
            Prim::U16 | Prim::I16 | Prim::AtomicU16 | Prim::AtomicI16 | Prim::Utf16 => 2,
            Prim::U32 | Prim::I32 | Prim::F32 | Prim::AtomicU32 | Prim::AtomicI32 | Prim::Char => 4,
            Prim::U64 | Prim::I64 | Prim::F64 | Prim::AtomicU64 | Prim::AtomicI64 => 8,
        }
    }

    /// The Rust spelling of the type, e.g. `u16` or `AtomicU32`.
    pub const fn rust_name(self) -> &'static str {
        match self {
            Prim::U8 => "u8",
            Prim::I8 => "i8",
            Prim::U16 => "u16",
            Prim::I16 => "i16",
            Prim::U32 => "u32",
            Prim::I32 => "i32",
            Prim::U64 => "u64",
            Prim::I64 => "i64",
            Prim::F32 => "f32",
            Prim::F64 => "f64",
            Prim::AtomicU8 => "AtomicU8",
            Prim::AtomicI8 => "AtomicI8",
            Prim::AtomicU16 => "AtomicU16",
            Prim::AtomicI16 => "AtomicI16",
            Prim::AtomicU32 => "AtomicU32",
            Prim::AtomicI32 => "AtomicI32",
            Prim::AtomicU64 => "AtomicU64",
            Prim::AtomicI64 => "AtomicI64",
            Prim::Bool => "bool",
            Prim::Char => "char",
            Prim::Utf16 => "Utf16",
        }
    }

    /// Whether some bit patterns of this kind are invalid (`bool`, `char`):
    /// readers check every value of it.
    pub const fn is_validated(self) -> bool {
        matches!(self, Prim::Bool | Prim::Char)
    }

    /// Whether this kind may be the `repr` of a shared enum: the integers
    /// `u8`..`u64` and `i8`..`i64` (not atomics, floats, `bool`, `char`).
    pub const fn is_enum_repr(self) -> bool {
        (self as u8) <= Prim::I64 as u8
    }

    /// Whether this kind is a signed integer.
    pub const fn is_signed(self) -> bool {
        matches!(
            self,
            Prim::I8
                | Prim::I16
                | Prim::I32
                | Prim::I64
                | Prim::AtomicI8
                | Prim::AtomicI16
                | Prim::AtomicI32
                | Prim::AtomicI64
        )
    }
}

/// A shared enum (`#[derive(SharedEnum)]`): a fieldless enum with an
/// integer `repr` and explicit discriminants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnumDesc {
    /// The enum's name.
    pub name: &'static str,
    /// Its `repr`, an integer kind ([`Prim::is_enum_repr`]).
    pub repr: Prim,
    /// The variants in declaration order.
    pub variants: &'static [VariantDesc],
}

/// One variant of a shared enum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VariantDesc {
    /// The variant's name.
    pub name: &'static str,
    /// Its discriminant, sign-extended (signed `repr`) or zero-extended
    /// (unsigned) to 64 bits: `Variant as i64 as u64`.
    pub value: u64,
}

/// The 64-bit value of the `repr` integer in `bytes` (native byte order),
/// sign- or zero-extended as [`VariantDesc::value`] is; `bytes` holds at
/// least `repr.size()` bytes.
pub const fn repr_value(repr: Prim, bytes: &[u8]) -> u64 {
    let n = repr.size();
    let mut b = [0u8; 8];
    let mut i = 0;
    while i < n {
        b[i] = bytes[i];
        i += 1;
    }
    let v = match n {
        1 => b[0] as u64,
        2 => u16::from_ne_bytes([b[0], b[1]]) as u64,
        4 => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as u64,
        _ => u64::from_ne_bytes(b),
    };
    if repr.is_signed() && n < 8 {
        let shift = 64 - 8 * n as u32;
        (((v << shift) as i64) >> shift) as u64
    } else {
        v
    }
}

/// `value` (as in [`VariantDesc::value`]) written as the `repr` type
/// would print it: `-1`, `255`.
pub fn repr_display(repr: Prim, value: u64) -> String {
    if repr.is_signed() {
        (value as i64).to_string()
    } else {
        value.to_string()
    }
}

/// The type of a field: a primitive, a fixed-length array, or a nested schema struct.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TypeDesc {
    /// A fixed-width integer, float or atomic.
    Prim(Prim),
    /// `[elem; len]`.
    Array {
        /// The element type.
        elem: &'static TypeDesc,
        /// The number of elements.
        len: usize,
    },
    /// A nested `#[derive(SharedLayout)]` struct.
    Struct(&'static LayoutDesc),
    /// A `#[derive(SharedEnum)]` enum.
    Enum(&'static EnumDesc),
    /// A [`FixedStr<cap>`](crate::FixedStr): a `u16` length in two
    /// little-endian bytes, then `cap` bytes of which the first `length`
    /// are UTF-8 (`cap + 2` bytes, alignment 1).
    Str {
        /// The capacity in bytes, 1 to 65535.
        cap: usize,
    },
    /// A [`Ring<T, N>`](crate::Ring): an 8-byte placeholder in the payload
    /// (its value means nothing); the ring itself lives in the segment's
    /// stream area (see "Streams" in `docs/FORMAT.md`).
    Ring {
        /// The message type.
        elem: &'static TypeDesc,
        /// The number of slots, a power of two up to [`RING_CAP_MAX`].
        cap: usize,
    },
    /// A [`Queue<T, N>`](crate::Queue): like a ring, an 8-byte
    /// placeholder in the payload and the queue in the stream area.
    Queue {
        /// The message type.
        elem: &'static TypeDesc,
        /// The number of slots, a power of two up to [`RING_CAP_MAX`].
        cap: usize,
    },
}

/// The largest number of slots a [`Ring`](crate::Ring) may have.
pub const RING_CAP_MAX: usize = 1 << 24;

impl TypeDesc {
    /// Size in bytes of a value of this type.
    pub const fn size(&self) -> usize {
        match self {
            TypeDesc::Prim(p) => p.size(),
            TypeDesc::Array { elem, len } => elem.size() * *len,
            TypeDesc::Struct(l) => l.size,
            TypeDesc::Enum(e) => e.repr.size(),
            TypeDesc::Str { cap } => *cap + 2,
            TypeDesc::Ring { .. } | TypeDesc::Queue { .. } => 8,
        }
    }

    /// The alignment this type has on 64-bit targets, the same on every
    /// target: a primitive's size, an array's element's, a struct's
    /// recorded [`LayoutDesc::align`]. (On i686, `u64`, `i64` and `f64` are
    /// only 4-aligned; the derive places fields by this alignment, so that
    /// 32- and 64-bit programs agree on every schema.)
    pub const fn natural_align(&self) -> usize {
        match self {
            TypeDesc::Prim(p) => p.size(),
            TypeDesc::Array { elem, .. } => elem.natural_align(),
            TypeDesc::Struct(l) => l.align,
            TypeDesc::Enum(e) => e.repr.size(),
            TypeDesc::Str { .. } => 1,
            TypeDesc::Ring { .. } | TypeDesc::Queue { .. } => 8,
        }
    }
}

/// One field of a schema struct.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FieldDesc {
    /// The field's name as written in the Rust source.
    pub name: &'static str,
    /// Byte offset from the start of the struct.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
    /// The field's type.
    pub ty: TypeDesc,
}

/// The compile-time description of a schema struct.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayoutDesc {
    /// Stable schema name (`#[shm(name = "...")]`, default: the type name).
    pub name: &'static str,
    /// Schema version (`#[shm(version = N)]`, default 1).
    pub version: u32,
    /// `size_of` the struct.
    pub size: usize,
    /// The struct's alignment on 64-bit targets, the same on every target:
    /// the largest [`TypeDesc::natural_align`] of its fields, or its
    /// `#[repr(align(N))]` if larger (`align_of` the struct on 64-bit
    /// targets).
    pub align: usize,
    /// The fields in declaration order.
    pub fields: &'static [FieldDesc],
}

/// Version of the schema descriptor encoding.
pub const DESCRIPTOR_VERSION: u16 = 1;
/// Magic at the start of a schema descriptor: `b"SHMD"`.
pub const DESCRIPTOR_MAGIC: [u8; 4] = *b"SHMD";

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Writes a descriptor, hashing every byte and (when given a buffer) storing it.
///
/// One encoder serves both the compile-time fingerprint (no buffer) and the
/// runtime encoding (a buffer sized by a first pass), so the two can never
/// disagree.
pub struct Encoder<'b> {
    hash: u64,
    len: usize,
    out: Option<&'b mut [u8]>,
}

impl<'b> Encoder<'b> {
    /// An encoder that only hashes and counts.
    pub const fn hashing() -> Encoder<'static> {
        Encoder {
            hash: FNV_OFFSET,
            len: 0,
            out: None,
        }
    }

    /// An encoder that writes into `out`, which must be at least as long as
    /// the encoding (bytes past its end are counted and hashed, not stored).
    pub const fn writing(out: &'b mut [u8]) -> Encoder<'b> {
        Encoder {
            hash: FNV_OFFSET,
            len: 0,
            out: Some(out),
        }
    }

    /// The FNV-1a hash of everything written so far.
    pub const fn hash(&self) -> u64 {
        self.hash
    }

    /// The number of bytes written so far.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    const fn byte(&mut self, b: u8) {
        self.hash = (self.hash ^ b as u64).wrapping_mul(FNV_PRIME);
        if let Some(out) = &mut self.out
            && self.len < out.len()
        {
            out[self.len] = b;
        }
        self.len += 1;
    }

    const fn bytes(&mut self, bs: &[u8]) {
        let mut i = 0;
        while i < bs.len() {
            self.byte(bs[i]);
            i += 1;
        }
    }

    const fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }

    const fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    const fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    const fn str(&mut self, s: &str) {
        self.u16(s.len() as u16);
        self.bytes(s.as_bytes());
    }

    const fn ty(&mut self, t: &TypeDesc) {
        match t {
            TypeDesc::Prim(p) => self.byte(p.code()),
            TypeDesc::Array { elem, len } => {
                self.byte(TYPE_TAG_ARRAY);
                self.u64(*len as u64);
                self.ty(elem);
            }
            TypeDesc::Struct(l) => {
                self.byte(TYPE_TAG_STRUCT);
                self.layout(l);
            }
            TypeDesc::Enum(e) => {
                self.byte(TYPE_TAG_ENUM);
                self.str(e.name);
                self.byte(e.repr.code());
                self.u32(e.variants.len() as u32);
                let mut i = 0;
                while i < e.variants.len() {
                    self.str(e.variants[i].name);
                    self.u64(e.variants[i].value);
                    i += 1;
                }
            }
            TypeDesc::Str { cap } => {
                self.byte(TYPE_TAG_STR);
                self.u32(*cap as u32);
            }
            TypeDesc::Ring { elem, cap } => {
                self.byte(TYPE_TAG_RING);
                self.u32(*cap as u32);
                self.ty(elem);
            }
            TypeDesc::Queue { elem, cap } => {
                self.byte(TYPE_TAG_QUEUE);
                self.u32(*cap as u32);
                self.ty(elem);
            }
        }
    }

    const fn layout(&mut self, l: &LayoutDesc) {
        self.str(l.name);
        self.u32(l.version);
        self.u64(l.size as u64);
        self.u32(l.align as u32);
        self.u32(l.fields.len() as u32);
        let mut i = 0;
        while i < l.fields.len() {
            let f = &l.fields[i];
            self.str(f.name);
            self.u64(f.offset as u64);
            self.u64(f.size as u64);
            self.ty(&f.ty);
            i += 1;
        }
    }

    /// Encodes a whole descriptor: magic, version, then the root struct.
    pub const fn descriptor(&mut self, l: &LayoutDesc) {
        self.bytes(&DESCRIPTOR_MAGIC);
        self.u16(DESCRIPTOR_VERSION);
        self.u16(0);
        self.layout(l);
    }
}

/// Type tag of an array in a descriptor.
pub const TYPE_TAG_ARRAY: u8 = 0x20;
/// Type tag of a nested struct in a descriptor.
pub const TYPE_TAG_STRUCT: u8 = 0x30;
/// Type tag of a shared enum in a descriptor.
pub const TYPE_TAG_ENUM: u8 = 0x40;
/// Type tag of a fixed-capacity string in a descriptor.
pub const TYPE_TAG_STR: u8 = 0x50;
/// Type tag of a message ring in a descriptor.
pub const TYPE_TAG_RING: u8 = 0x60;
/// Type tag of a message queue in a descriptor.
pub const TYPE_TAG_QUEUE: u8 = 0x70;

/// The 64-bit fingerprint of a layout: FNV-1a over its descriptor encoding.
pub const fn fingerprint(l: &LayoutDesc) -> u64 {
    let mut e = Encoder::hashing();
    e.descriptor(l);
    e.hash()
}

/// FNV-1a 64-bit hash of `bytes`: the fingerprint of a descriptor whose
/// encoding is `bytes` (the same hash [`Encoder`] computes as it writes).
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut e = Encoder::hashing();
    e.bytes(bytes);
    e.hash()
}

/// The descriptor encoding of a layout (see `docs/FORMAT.md`).
pub fn encode_descriptor(l: &LayoutDesc) -> Vec<u8> {
    let mut e = Encoder::hashing();
    e.descriptor(l);
    let mut out = vec![0u8; e.len()];
    let mut w = Encoder::writing(&mut out);
    w.descriptor(l);
    out
}
