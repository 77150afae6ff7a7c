//! Reading a segment's schema descriptor: decoding and strict validation of
//! untrusted bytes into an owned [`Schema`], comparison with the program's
//! [`LayoutDesc`], and decoding payload bytes into [`Value`]s by field name.
//!
//! The descriptor is written by [`crate::layout::Encoder`] at create time,
//! right after the header; its FNV-1a hash is the fingerprint stored in the
//! header. `docs/FORMAT.md` ("Schema descriptor") documents every byte.
//!
//! Every byte comes from another process and is validated before use:
//! lengths stay within the buffer, arithmetic never overflows, nesting is
//! limited to [`MAX_DEPTH`], counts are checked against the bytes that are
//! left (so nothing is ever allocated in proportion to a number read from
//! the segment, only to the bytes actually there), offsets and sizes lie
//! within their struct, fields are sorted and do not overlap, names are
//! UTF-8 identifiers, and type codes are known. [`decode`] is a pure
//! function of its input, for fuzzing.
//!
//! This module holds the model ([`Schema`], [`FieldInfo`], [`TypeInfo`]) and
//! its encoding back to bytes; decoding untrusted bytes, naming differences
//! between schemas and decoding payload values live in the submodules and
//! are re-exported here. With the `serde` feature, the model and [`Value`]
//! implement `Serialize`.

use std::fmt;

#[cfg(feature = "serde")]
use serde::ser::SerializeMap;
#[cfg(feature = "serde")]
use serde::{Serialize, Serializer};

use crate::layout::{
    DESCRIPTOR_MAGIC, DESCRIPTOR_VERSION, TYPE_TAG_ARRAY, TYPE_TAG_ENUM, TYPE_TAG_QUEUE,
    TYPE_TAG_RING, TYPE_TAG_STR, TYPE_TAG_STRUCT, fnv1a,
};
use crate::{LayoutDesc, Prim, TypeDesc};

mod decode;
mod diff;
mod streams;
mod value;

pub use decode::{DescriptorError, decode, from_segment};
pub(crate) use decode::{check_open, copy_out};
pub use diff::{diff_schemas, first_difference, prefix_difference};
pub use streams::StreamInfo;
pub use value::{InvalidValue, Value, ValueView};

/// Largest payload [`Schema::decode_value`] decodes by field name (16 MiB).
pub const MAX_DECODE_BYTES: u64 = 16 << 20;
/// Deepest nesting of arrays and structs accepted (the root struct is depth 0).
pub const MAX_DEPTH: usize = 32;
/// Longest schema or field name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Largest struct alignment accepted (the header's payload alignment bound).
pub const MAX_ALIGN: u64 = 1 << 16;

/// A schema struct as a segment describes it (owned, validated).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Schema {
    /// Stable schema name.
    pub name: String,
    /// Schema version.
    pub version: u32,
    /// Size of the struct in bytes.
    pub size: u64,
    /// Alignment of the struct in bytes (a power of two).
    pub align: u64,
    /// The fields, sorted by offset.
    pub fields: Vec<FieldInfo>,
}

/// One field of a [`Schema`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct FieldInfo {
    /// The field's name.
    pub name: String,
    /// Byte offset from the start of its struct.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// The field's type.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub ty: TypeInfo,
}

/// The type of a field.
///
/// With the `serde` feature, serialises as the primitive's Rust name
/// (`"u16"`, `"bool"`, `"char"`, `"Utf16"`), as
/// `{"array": {"len": N, "elem": ...}}`, `{"struct": Schema}`,
/// `{"enum": EnumInfo}`, `{"str": {"cap": N}}` or
/// `{"ring": {"cap": N, "elem": ...}}` or `{"queue": {"cap": N, "elem": ...}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeInfo {
    /// A fixed-width integer, float or atomic.
    Prim(Prim),
    /// `[elem; len]`.
    Array {
        /// The element type.
        elem: Box<TypeInfo>,
        /// The number of elements.
        len: u64,
    },
    /// A nested schema struct.
    Struct(Box<Schema>),
    /// A shared enum.
    Enum(Box<EnumInfo>),
    /// A `FixedStr<cap>`: a little-endian `u16` length, then `cap` bytes.
    Str {
        /// The capacity in bytes (1 to 65535).
        cap: u64,
    },
    /// A `Ring<elem, cap>`: an 8-byte placeholder in the payload; the ring
    /// lives in the segment's stream area.
    Ring {
        /// The message type.
        elem: Box<TypeInfo>,
        /// The number of slots (a power of two up to 2^24).
        cap: u64,
    },
    /// A `Queue<elem, cap>`: like a ring (a placeholder in the payload,
    /// the queue in the stream area), lossless with one consumer.
    Queue {
        /// The message type.
        elem: Box<TypeInfo>,
        /// The number of slots (a power of two up to 2^24).
        cap: u64,
    },
}

/// A shared enum as a descriptor describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct EnumInfo {
    /// The enum's name.
    pub name: String,
    /// Its `repr` integer kind.
    #[cfg_attr(feature = "serde", serde(serialize_with = "prim_name"))]
    pub repr: Prim,
    /// The variants in order: name and value (sign- or zero-extended to
    /// 64 bits, as [`crate::VariantDesc::value`]).
    pub variants: Vec<(String, u64)>,
}

#[cfg(feature = "serde")]
fn prim_name<S: Serializer>(p: &Prim, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(p.rust_name())
}

impl EnumInfo {
    /// The name of the variant with value `v`, if any.
    pub fn variant(&self, v: u64) -> Option<&str> {
        self.variants
            .iter()
            .find(|(_, x)| *x == v)
            .map(|(n, _)| n.as_str())
    }
}

impl TypeInfo {
    /// Size in bytes (saturating; a validated descriptor never saturates).
    pub fn size(&self) -> u64 {
        match self {
            TypeInfo::Prim(p) => p.size() as u64,
            TypeInfo::Array { elem, len } => elem.size().saturating_mul(*len),
            TypeInfo::Struct(s) => s.size,
            TypeInfo::Enum(e) => e.repr.size() as u64,
            TypeInfo::Str { cap } => cap.saturating_add(2),
            TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => 8,
        }
    }

    /// Alignment in bytes.
    pub fn align(&self) -> u64 {
        match self {
            TypeInfo::Prim(p) => p.size() as u64,
            TypeInfo::Array { elem, .. } => elem.align(),
            TypeInfo::Struct(s) => s.align,
            TypeInfo::Enum(e) => e.repr.size() as u64,
            TypeInfo::Str { .. } => 1,
            TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => 8,
        }
    }

    /// The owned description of a compile-time type.
    pub fn from_desc(t: &TypeDesc) -> TypeInfo {
        match t {
            TypeDesc::Prim(p) => TypeInfo::Prim(*p),
            TypeDesc::Array { elem, len } => TypeInfo::Array {
                elem: Box::new(TypeInfo::from_desc(elem)),
                len: *len as u64,
            },
            TypeDesc::Struct(l) => TypeInfo::Struct(Box::new(Schema::from_layout(l))),
            TypeDesc::Enum(e) => TypeInfo::Enum(Box::new(EnumInfo {
                name: e.name.to_owned(),
                repr: e.repr,
                variants: e
                    .variants
                    .iter()
                    .map(|v| (v.name.to_owned(), v.value))
                    .collect(),
            })),
            TypeDesc::Str { cap } => TypeInfo::Str { cap: *cap as u64 },
            TypeDesc::Ring { elem, cap } => TypeInfo::Ring {
                elem: Box::new(TypeInfo::from_desc(elem)),
                cap: *cap as u64,
            },
            TypeDesc::Queue { elem, cap } => TypeInfo::Queue {
                elem: Box::new(TypeInfo::from_desc(elem)),
                cap: *cap as u64,
            },
        }
    }
}

impl fmt::Display for TypeInfo {
    /// The Rust spelling: `u16`, `[f32; 50]`, `Inner`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeInfo::Prim(p) => f.write_str(p.rust_name()),
            TypeInfo::Array { elem, len } => write!(f, "[{elem}; {len}]"),
            TypeInfo::Struct(s) => f.write_str(&s.name),
            TypeInfo::Enum(e) => write!(f, "{}({})", e.name, e.repr.rust_name()),
            TypeInfo::Str { cap } => write!(f, "FixedStr<{cap}>"),
            TypeInfo::Ring { elem, cap } => write!(f, "Ring<{elem}, {cap}>"),
            TypeInfo::Queue { elem, cap } => write!(f, "Queue<{elem}, {cap}>"),
        }
    }
}

#[cfg(feature = "serde")]
impl Serialize for TypeInfo {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            TypeInfo::Prim(p) => s.serialize_str(p.rust_name()),
            TypeInfo::Array { elem, len } => {
                #[derive(Serialize)]
                struct Arr<'a> {
                    len: u64,
                    elem: &'a TypeInfo,
                }
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("array", &Arr { len: *len, elem })?;
                m.end()
            }
            TypeInfo::Struct(schema) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("struct", schema)?;
                m.end()
            }
            TypeInfo::Enum(e) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("enum", e)?;
                m.end()
            }
            TypeInfo::Str { cap } => {
                #[derive(Serialize)]
                struct Str {
                    cap: u64,
                }
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("str", &Str { cap: *cap })?;
                m.end()
            }
            TypeInfo::Ring { elem, cap } | TypeInfo::Queue { elem, cap } => {
                #[derive(Serialize)]
                struct Stream<'a> {
                    cap: u64,
                    elem: &'a TypeInfo,
                }
                let key = if matches!(self, TypeInfo::Ring { .. }) {
                    "ring"
                } else {
                    "queue"
                };
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(key, &Stream { cap: *cap, elem })?;
                m.end()
            }
        }
    }
}

impl Schema {
    /// The owned description of a compile-time layout.
    pub fn from_layout(l: &LayoutDesc) -> Schema {
        Schema {
            name: l.name.to_owned(),
            version: l.version,
            size: l.size as u64,
            align: l.align as u64,
            fields: l
                .fields
                .iter()
                .map(|f| FieldInfo {
                    name: f.name.to_owned(),
                    offset: f.offset as u64,
                    size: f.size as u64,
                    ty: TypeInfo::from_desc(&f.ty),
                })
                .collect(),
        }
    }

    /// The descriptor encoding of this schema, byte for byte what
    /// [`crate::layout::Encoder`] writes for the same layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&DESCRIPTOR_MAGIC);
        out.extend_from_slice(&DESCRIPTOR_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        encode_schema(self, &mut out);
        out
    }

    /// The fingerprint of this schema (FNV-1a of [`Schema::encode`]).
    pub fn fingerprint(&self) -> u64 {
        fnv1a(&self.encode())
    }

    /// The gaps not covered by any field (padding), as `(offset, len)`,
    /// including trailing padding.
    pub fn gaps(&self) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut at = 0u64;
        for f in &self.fields {
            if f.offset > at {
                gaps.push((at, f.offset - at));
            }
            at = at.max(f.offset.saturating_add(f.size));
        }
        if self.size > at {
            gaps.push((at, self.size - at));
        }
        gaps
    }
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_schema(s: &Schema, out: &mut Vec<u8>) {
    encode_str(&s.name, out);
    out.extend_from_slice(&s.version.to_le_bytes());
    out.extend_from_slice(&s.size.to_le_bytes());
    out.extend_from_slice(&(s.align as u32).to_le_bytes());
    out.extend_from_slice(&(s.fields.len() as u32).to_le_bytes());
    for f in &s.fields {
        encode_str(&f.name, out);
        out.extend_from_slice(&f.offset.to_le_bytes());
        out.extend_from_slice(&f.size.to_le_bytes());
        encode_type(&f.ty, out);
    }
}

fn encode_type(t: &TypeInfo, out: &mut Vec<u8>) {
    match t {
        TypeInfo::Prim(p) => out.push(p.code()),
        TypeInfo::Array { elem, len } => {
            out.push(TYPE_TAG_ARRAY);
            out.extend_from_slice(&len.to_le_bytes());
            encode_type(elem, out);
        }
        TypeInfo::Struct(s) => {
            out.push(TYPE_TAG_STRUCT);
            encode_schema(s, out);
        }
        TypeInfo::Enum(e) => {
            out.push(TYPE_TAG_ENUM);
            encode_str(&e.name, out);
            out.push(e.repr.code());
            out.extend_from_slice(&(e.variants.len() as u32).to_le_bytes());
            for (name, value) in &e.variants {
                encode_str(name, out);
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        TypeInfo::Str { cap } => {
            out.push(TYPE_TAG_STR);
            out.extend_from_slice(&(*cap as u32).to_le_bytes());
        }
        TypeInfo::Ring { elem, cap } | TypeInfo::Queue { elem, cap } => {
            out.push(if matches!(t, TypeInfo::Ring { .. }) {
                TYPE_TAG_RING
            } else {
                TYPE_TAG_QUEUE
            });
            out.extend_from_slice(&(*cap as u32).to_le_bytes());
            encode_type(elem, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldDesc;
    use crate::layout::encode_descriptor;

    pub(super) static INNER: LayoutDesc = LayoutDesc {
        name: "Inner",
        version: 1,
        size: 8,
        align: 4,
        fields: &[
            FieldDesc {
                name: "a",
                offset: 0,
                size: 4,
                ty: TypeDesc::Prim(Prim::U32),
            },
            FieldDesc {
                name: "b",
                offset: 4,
                size: 4,
                ty: TypeDesc::Prim(Prim::F32),
            },
        ],
    };

    pub(super) static F32: TypeDesc = TypeDesc::Prim(Prim::F32);
    pub(super) static INNER_T: TypeDesc = TypeDesc::Struct(&INNER);

    pub(super) static DATA: LayoutDesc = LayoutDesc {
        name: "MySharedData",
        version: 1,
        size: 232,
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
                name: "_pad",
                offset: 6,
                size: 2,
                ty: TypeDesc::Array {
                    elem: &TypeDesc::Prim(Prim::U8),
                    len: 2,
                },
            },
            FieldDesc {
                name: "numbers",
                offset: 8,
                size: 200,
                ty: TypeDesc::Array {
                    elem: &F32,
                    len: 50,
                },
            },
            FieldDesc {
                name: "inner",
                offset: 208,
                size: 8,
                ty: TypeDesc::Struct(&INNER),
            },
            FieldDesc {
                name: "pair",
                offset: 216,
                size: 16,
                ty: TypeDesc::Array {
                    elem: &INNER_T,
                    len: 2,
                },
            },
        ],
    };

    pub(super) fn bytes() -> Vec<u8> {
        encode_descriptor(&DATA)
    }

    #[test]
    fn round_trip_matches_the_encoder_and_the_fingerprint() {
        let b = bytes();
        let s = decode(&b).unwrap();
        assert_eq!(s, Schema::from_layout(&DATA));
        assert_eq!(s.encode(), b);
        assert_eq!(s.fingerprint(), crate::layout::fingerprint(&DATA));
        assert_eq!(first_difference(&DATA, &s), None);
        assert_eq!(s.fields[3].ty.to_string(), "[f32; 50]");
        assert_eq!(s.fields[5].ty.to_string(), "[Inner; 2]");
    }
}
