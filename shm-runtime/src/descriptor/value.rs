//! Decoding payload bytes into [`Value`]s by field name, as a schema
//! describes them.

use std::fmt;

#[cfg(feature = "serde")]
use serde::ser::{SerializeMap, SerializeSeq};
#[cfg(feature = "serde")]
use serde::{Serialize, Serializer};

use super::{MAX_DECODE_BYTES, Schema, TypeInfo};
use crate::Prim;

impl Schema {
    /// Decodes the payload bytes of a value of this schema into a [`Value`]
    /// by field name. `None` if `bytes` is shorter than [`Schema::size`] or
    /// the schema is larger than [`MAX_DECODE_BYTES`] (a decoded value takes
    /// tens of times the memory of its bytes, and a segment's size is chosen
    /// by whoever wrote it).
    pub fn decode_value(&self, bytes: &[u8]) -> Option<Value> {
        if self.size > MAX_DECODE_BYTES {
            return None;
        }
        let size = usize::try_from(self.size).ok()?;
        (bytes.len() >= size).then(|| decode_struct(self, bytes))
    }
}

/// A value decoded from payload bytes by the descriptor.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An unsigned integer (or unsigned atomic).
    U(u64),
    /// A signed integer (or signed atomic).
    I(i64),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// An array's elements.
    Array(Vec<Value>),
    /// A struct's fields, in order.
    Struct(Vec<(String, Value)>),
}

#[cfg(feature = "serde")]
impl Serialize for Value {
    /// Numbers as JSON numbers (non-finite floats as `null`), arrays as
    /// arrays, structs as objects with the fields in order.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Value::U(v) => s.serialize_u64(*v),
            Value::I(v) => s.serialize_i64(*v),
            Value::F32(v) => s.serialize_f32(*v),
            Value::F64(v) => s.serialize_f64(*v),
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

impl fmt::Display for Value {
    /// `123`, `1.45`, `[1, 2]`, `{ a: 1, b: [2, 3] }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U(v) => write!(f, "{v}"),
            Value::I(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Array(vs) => {
                f.write_str("[")?;
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Struct(fs) => {
                f.write_str("{ ")?;
                for (i, (k, v)) in fs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str(" }")
            }
        }
    }
}

fn ne<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

fn decode_prim(p: Prim, b: &[u8]) -> Value {
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
    }
}

/// Decodes one value of type `t` from the start of `b`, which a validated
/// schema guarantees is at least `t.size()` bytes long.
fn decode_type(t: &TypeInfo, b: &[u8]) -> Value {
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
    }
}

fn decode_struct(s: &Schema, b: &[u8]) -> Value {
    Value::Struct(
        s.fields
            .iter()
            .map(|f| (f.name.clone(), decode_type(&f.ty, &b[f.offset as usize..])))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::tests::DATA;

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
        assert_eq!(fs[0], ("value".into(), Value::I(123)));
        assert_eq!(fs[1], ("letter".into(), Value::U(88)));
        let Value::Array(ns) = &fs[3].1 else { panic!() };
        assert_eq!(ns.len(), 50);
        assert_eq!(ns[10], Value::F32(1.45));
        assert!(s.decode_value(&p[..231]).is_none());
        assert_eq!(s.gaps(), vec![]);
    }
}
