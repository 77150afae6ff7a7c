//! Decoding payload bytes by field name, as a schema describes them: a
//! [`ValueView`] reads the bytes in place (printing or serialising it
//! allocates nothing), and a [`Value`] is a decoded tree that borrows its
//! field names from the schema.
//!
//! Memory is bounded by what is printed, never by the names times the
//! elements: no name is copied per element (an array of a million small
//! structs with 200-byte field names would otherwise hold 200 MB of copies
//! of the same names).

use std::fmt;

#[cfg(feature = "serde")]
use serde::ser::{SerializeMap, SerializeSeq};
#[cfg(feature = "serde")]
use serde::{Serialize, Serializer};

use super::{EnumInfo, MAX_DECODE_BYTES, Schema, TypeInfo};
use crate::Prim;
use crate::escape::Escaped;
use crate::layout::repr_value;

impl Schema {
    /// Decodes the payload bytes of a value of this schema into a [`Value`]
    /// by field name. `None` if `bytes` is shorter than [`Schema::size`] or
    /// the schema is larger than [`MAX_DECODE_BYTES`] (a decoded value takes
    /// tens of times the memory of its bytes, and a segment's size is chosen
    /// by whoever wrote it; [`Schema::view`] has no such bound).
    pub fn decode_value<'s>(&'s self, bytes: &[u8]) -> Option<Value<'s>> {
        if self.size > MAX_DECODE_BYTES {
            return None;
        }
        let size = usize::try_from(self.size).ok()?;
        (bytes.len() >= size).then(|| decode_struct(self, bytes))
    }

    /// The payload bytes of a value of this schema, read by field name in
    /// place: printing ([`fmt::Display`]) or serialising a view decodes as
    /// it goes and allocates nothing. `None` if `bytes` is shorter than
    /// [`Schema::size`].
    pub fn view<'a>(&'a self, bytes: &'a [u8]) -> Option<ValueView<'a>> {
        let size = usize::try_from(self.size).ok()?;
        let bytes = bytes.get(..size)?;
        Some(ValueView {
            ty: Ty::Struct(self),
            bytes,
        })
    }
}

impl TypeInfo {
    /// Bytes of a value of this type (e.g. a ring's message copied out of
    /// the segment), read in place as [`Schema::view`] reads a payload.
    /// `None` if `bytes` is shorter than [`TypeInfo::size`].
    pub fn view<'a>(&'a self, bytes: &'a [u8]) -> Option<ValueView<'a>> {
        let size = usize::try_from(self.size()).ok()?;
        let bytes = bytes.get(..size)?;
        Some(ValueView {
            ty: Ty::Type(self),
            bytes,
        })
    }
}

/// A value decoded from payload bytes by the descriptor. Field names are
/// borrowed from the [`Schema`] it was decoded with.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'s> {
    /// An unsigned integer (or unsigned atomic).
    U(u64),
    /// A signed integer (or signed atomic).
    I(i64),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// A `bool`.
    Bool(bool),
    /// A `char`.
    Char(char),
    /// A UTF-16 code unit (shown as its character unless it is a
    /// surrogate).
    Utf16(u16),
    /// A variant of an enum, by name (borrowed from the schema).
    Enum(&'s str),
    /// The text of a `FixedStr`.
    Str(String),
    /// A value that is not valid for its type (a `bool` other than 0 or 1,
    /// a `char` that is no scalar value, an enum value that names no
    /// variant, a string too long or not UTF-8): the type and the raw bits.
    /// (Boxed: it is rare, and keeps every `Value` 32 bytes.)
    Invalid(Box<InvalidValue>),
    /// An array's elements.
    Array(Vec<Value<'s>>),
    /// A struct's fields, in order.
    Struct(Vec<(&'s str, Value<'s>)>),
}

/// A value that is not valid for its type ([`Value::Invalid`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidValue {
    /// The type, e.g. `bool`, `enum Mode`, `FixedStr<16>`.
    pub ty: String,
    /// The raw bits: the integer (hex for `bool` and `char`), or for a
    /// string its length and bytes in hex.
    pub raw: String,
}

/// A value of a schema type read in place from payload bytes (see
/// [`Schema::view`]). Prints and serialises exactly as the [`Value`] it
/// decodes to ([`ValueView::to_value`]).
#[derive(Clone, Copy, Debug)]
pub struct ValueView<'a> {
    ty: Ty<'a>,
    bytes: &'a [u8],
}

#[derive(Clone, Copy, Debug)]
enum Ty<'a> {
    Type(&'a TypeInfo),
    Struct(&'a Schema),
}

impl<'a> ValueView<'a> {
    /// Decodes the whole value (field names borrowed from the schema).
    pub fn to_value(&self) -> Value<'a> {
        match self.ty {
            Ty::Type(t) => decode_type(t, self.bytes),
            Ty::Struct(s) => decode_struct(s, self.bytes),
        }
    }

    /// The value, if it is a scalar (a primitive, an enum, a string, or a
    /// ring's or queue's placeholder word).
    pub fn scalar(&self) -> Option<Value<'a>> {
        match self.ty {
            Ty::Type(TypeInfo::Prim(p)) => Some(decode_prim(*p, self.bytes)),
            Ty::Type(TypeInfo::Enum(e)) => Some(decode_enum(e, self.bytes)),
            Ty::Type(TypeInfo::Str { cap }) => Some(decode_str(*cap, self.bytes)),
            // A ring's or queue's placeholder word, as `to_value` decodes it.
            Ty::Type(TypeInfo::Ring { .. } | TypeInfo::Queue { .. }) => {
                Some(decode_prim(Prim::U64, self.bytes))
            }
            _ => None,
        }
    }

    /// The fields, by name and in order, if it is a struct.
    pub fn fields(&self) -> Option<impl ExactSizeIterator<Item = (&'a str, ValueView<'a>)> + 'a> {
        let s = match self.ty {
            Ty::Struct(s) => s,
            Ty::Type(TypeInfo::Struct(s)) => s,
            Ty::Type(_) => return None,
        };
        let bytes = self.bytes;
        Some(s.fields.iter().map(move |f| {
            (
                f.name.as_str(),
                ValueView {
                    ty: Ty::Type(&f.ty),
                    bytes: &bytes[f.offset as usize..],
                },
            )
        }))
    }

    /// The elements, in order, if it is an array.
    pub fn elements(&self) -> Option<impl ExactSizeIterator<Item = ValueView<'a>> + 'a> {
        let Ty::Type(TypeInfo::Array { elem, len }) = self.ty else {
            return None;
        };
        let es = elem.size() as usize;
        let bytes = self.bytes;
        Some((0..*len as usize).map(move |i| ValueView {
            ty: Ty::Type(elem),
            bytes: &bytes[i * es..],
        }))
    }

    /// The bytes of the value (its type's size).
    pub fn bytes(&self) -> &'a [u8] {
        let size = match self.ty {
            Ty::Type(t) => t.size(),
            Ty::Struct(s) => s.size,
        };
        &self.bytes[..size as usize]
    }
}

#[cfg(feature = "serde")]
impl Serialize for Value<'_> {
    /// Numbers as JSON numbers (non-finite floats as `null`), arrays as
    /// arrays, structs as objects with the fields in order.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Value::U(v) => s.serialize_u64(*v),
            Value::I(v) => s.serialize_i64(*v),
            Value::F32(v) => s.serialize_f32(*v),
            Value::F64(v) => s.serialize_f64(*v),
            Value::Bool(v) => s.serialize_bool(*v),
            Value::Char(c) => s.serialize_char(*c),
            Value::Utf16(u) => match char::from_u32(u32::from(*u)) {
                Some(c) => s.serialize_char(c),
                // A lone surrogate has no JSON string: its number.
                None => {
                    let mut m = s.serialize_map(Some(1))?;
                    m.serialize_entry("utf16", u)?;
                    m.end()
                }
            },
            Value::Enum(name) => s.serialize_str(name),
            Value::Str(text) => s.serialize_str(text),
            Value::Invalid(bad) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("invalid", &bad.ty)?;
                m.serialize_entry("raw", &bad.raw)?;
                m.end()
            }
            Value::Array(vs) => {
                let mut seq = s.serialize_seq(Some(vs.len()))?;
                for v in vs {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Struct(fs) => {
                let mut m = s.serialize_map(Some(fs.len()))?;
                for (k, v) in fs {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

#[cfg(feature = "serde")]
impl Serialize for ValueView<'_> {
    /// As the [`Value`] it decodes to.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if let Some(v) = self.scalar() {
            return v.serialize(s);
        }
        if let Some(es) = self.elements() {
            let mut seq = s.serialize_seq(Some(es.len()))?;
            for v in es {
                seq.serialize_element(&v)?;
            }
            return seq.end();
        }
        let Some(fields) = self.fields() else {
            return s.serialize_unit();
        };
        let mut m = s.serialize_map(Some(fields.len()))?;
        for (k, v) in fields {
            m.serialize_entry(k, &v)?;
        }
        m.end()
    }
}

impl fmt::Display for Value<'_> {
    /// `123`, `1.45`, `[1, 2]`, `{ a: 1, b: [2, 3] }` (names escaped as
    /// untrusted text).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U(v) => write!(f, "{v}"),
            Value::I(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Char(c) => quoted(f, '\'', &c.to_string()),
            Value::Utf16(u) => match char::from_u32(u32::from(*u)) {
                Some(c) => quoted(f, '\'', &c.to_string()),
                None => write!(f, "'\\u{{{u:04x}}}'"),
            },
            Value::Enum(name) => write!(f, "{}", Escaped(name)),
            Value::Str(text) => quoted(f, '"', text),
            Value::Invalid(bad) => write!(f, "<invalid {}: {}>", Escaped(&bad.ty), bad.raw),
            Value::Array(vs) => list(f, vs.iter()),
            Value::Struct(fs) => record(f, fs.iter().map(|(k, v)| (*k, v))),
        }
    }
}

impl fmt::Display for ValueView<'_> {
    /// As the [`Value`] it decodes to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = self.scalar() {
            return write!(f, "{v}");
        }
        if let Some(es) = self.elements() {
            return list(f, es);
        }
        record(f, self.fields().into_iter().flatten())
    }
}

/// `text` between `q`s, with `q` and `\` escaped and every non-printable
/// character escaped (see `crate::escape`).
fn quoted(f: &mut fmt::Formatter<'_>, q: char, text: &str) -> fmt::Result {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        if c == q || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    write!(f, "{q}{}{q}", Escaped(&s))
}

fn list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, vs: impl Iterator<Item = T>) -> fmt::Result {
    f.write_str("[")?;
    for (i, v) in vs.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str("]")
}

fn record<'n, T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    fs: impl Iterator<Item = (&'n str, T)>,
) -> fmt::Result {
    f.write_str("{ ")?;
    for (i, (k, v)) in fs.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{}: {v}", Escaped(k))?;
    }
    f.write_str(" }")
}

fn ne<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// Decodes a primitive from the start of `b` (at least its size long).
fn decode_prim(p: Prim, b: &[u8]) -> Value<'static> {
    use Prim::*;
    match p {
        U8 | AtomicU8 => Value::U(b[0].into()),
        I8 | AtomicI8 => Value::I((b[0] as i8).into()),
        U16 | AtomicU16 => Value::U(u16::from_ne_bytes(ne(b)).into()),
        I16 | AtomicI16 => Value::I(i16::from_ne_bytes(ne(b)).into()),
        U32 | AtomicU32 => Value::U(u32::from_ne_bytes(ne(b)).into()),
        I32 | AtomicI32 => Value::I(i32::from_ne_bytes(ne(b)).into()),
        U64 | AtomicU64 => Value::U(u64::from_ne_bytes(ne(b))),
        I64 | AtomicI64 => Value::I(i64::from_ne_bytes(ne(b))),
        F32 => Value::F32(f32::from_ne_bytes(ne(b))),
        F64 => Value::F64(f64::from_ne_bytes(ne(b))),
        Bool => match b[0] {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            x => invalid("bool".to_owned(), format!("{x:#04x}")),
        },
        Char => {
            let v = u32::from_ne_bytes(ne(b));
            match char::from_u32(v) {
                Some(c) => Value::Char(c),
                None => invalid("char".to_owned(), format!("{v:#x}")),
            }
        }
        Utf16 => Value::Utf16(u16::from_ne_bytes(ne(b))),
    }
}

/// A [`Value::Invalid`].
fn invalid(ty: String, raw: String) -> Value<'static> {
    Value::Invalid(Box::new(InvalidValue { ty, raw }))
}

/// Decodes an enum value from the start of `b`: its variant's name, or
/// invalid with the raw value.
fn decode_enum<'s>(e: &'s EnumInfo, b: &[u8]) -> Value<'s> {
    let v = repr_value(e.repr, b);
    match e.variant(v) {
        Some(name) => Value::Enum(name),
        None => invalid(
            format!("enum {}", e.name),
            crate::layout::repr_display(e.repr, v),
        ),
    }
}

/// Decodes a `FixedStr<cap>` from the start of `b` (at least `cap + 2`
/// bytes): its text, or invalid with the length and the bytes in hex.
fn decode_str(cap: u64, b: &[u8]) -> Value<'static> {
    let cap = cap as usize;
    match crate::types::check_str(cap, b) {
        Ok(()) => {
            let len = usize::from(u16::from_le_bytes([b[0], b[1]]));
            Value::Str(String::from_utf8_lossy(&b[2..2 + len]).into_owned())
        }
        Err(_) => {
            let len = u16::from_le_bytes([b[0], b[1]]);
            let shown = usize::from(len).min(cap).min(64);
            let hex: String = b[2..2 + shown].iter().map(|x| format!("{x:02x}")).collect();
            let more = if usize::from(len).min(cap) > shown {
                "..."
            } else {
                ""
            };
            invalid(
                format!("FixedStr<{cap}>"),
                format!("length {len}, bytes {hex}{more}"),
            )
        }
    }
}

/// Decodes one value of type `t` from the start of `b`, which a validated
/// schema guarantees is at least `t.size()` bytes long.
fn decode_type<'s>(t: &'s TypeInfo, b: &[u8]) -> Value<'s> {
    match t {
        TypeInfo::Prim(p) => decode_prim(*p, b),
        TypeInfo::Array { elem, len } => {
            let es = elem.size() as usize;
            Value::Array(
                (0..*len as usize)
                    .map(|i| decode_type(elem, &b[i * es..]))
                    .collect(),
            )
        }
        TypeInfo::Struct(s) => decode_struct(s, b),
        TypeInfo::Enum(e) => decode_enum(e, b),
        TypeInfo::Str { cap } => decode_str(*cap, b),
        // The placeholder word (the ring is in the stream area).
        TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => decode_prim(Prim::U64, b),
    }
}

/// Decodes a struct; its field names are borrowed, never copied.
fn decode_struct<'s>(s: &'s Schema, b: &[u8]) -> Value<'s> {
    Value::Struct(
        s.fields
            .iter()
            .map(|f| (f.name.as_str(), decode_type(&f.ty, &b[f.offset as usize..])))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::tests::DATA;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_value_stays_small() {
        // Decoding memory is bounded per element (tests/decode_memory.rs).
        assert_eq!(size_of::<Value<'_>>(), 32);
    }

    #[test]
    fn values_decode_by_field() {
        let s = Schema::from_layout(&DATA);
        let mut p = vec![0u8; 232];
        p[0..4].copy_from_slice(&123i32.to_ne_bytes());
        p[4..6].copy_from_slice(&(b'X' as u16).to_ne_bytes());
        p[8 + 40..8 + 44].copy_from_slice(&1.45f32.to_ne_bytes());
        p[216..220].copy_from_slice(&7u32.to_ne_bytes());
        let v = s.decode_value(&p).unwrap();
        let Value::Struct(fs) = &v else { panic!() };
        assert_eq!(fs[0], ("value", Value::I(123)));
        assert_eq!(fs[1], ("letter", Value::U(88)));
        let Value::Array(ns) = &fs[3].1 else { panic!() };
        assert_eq!(ns.len(), 50);
        assert_eq!(ns[10], Value::F32(1.45));
        assert!(s.decode_value(&p[..231]).is_none());
        assert_eq!(s.gaps(), vec![]);
    }
}
