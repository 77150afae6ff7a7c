//! Untrusted bytes to a [`Schema`]: decoding and strict validation of a
//! descriptor, checking it against the segment's header, and copying it out
//! of a segment.

use std::collections::HashSet;
use std::fmt;

use super::{
    EnumInfo, FieldInfo, MAX_ALIGN, MAX_DEPTH, MAX_NAME_LEN, Schema, TypeInfo, first_difference,
};
use crate::header::{Header, NAME_CAPACITY};
use crate::ident::{self, MAX_IDENT_LEN};
use crate::layout::{
    DESCRIPTOR_MAGIC, DESCRIPTOR_VERSION, RING_CAP_MAX, TYPE_TAG_ARRAY, TYPE_TAG_ENUM,
    TYPE_TAG_QUEUE, TYPE_TAG_RING, TYPE_TAG_STR, TYPE_TAG_STRUCT, encode_descriptor, fnv1a,
};
use crate::{Error, LayoutDesc, Prim, Result};

/// The fewest bytes one field can take in a descriptor: name length (2),
/// offset (8), size (8), type code (1).
const MIN_FIELD_LEN: usize = 2 + 8 + 8 + 1;
/// The fewest bytes one enum variant takes: name length (2), a one-byte
/// name, value (8).
const MIN_VARIANT_LEN: usize = 2 + 1 + 8;
/// The largest capacity of a fixed string (its length is a `u16`).
const MAX_STR_CAP: u32 = 65535;

/// Why a descriptor was rejected, and at which byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescriptorError {
    /// Byte offset in the descriptor where the problem was found.
    pub at: usize,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::escape::escape(&self.message()))
    }
}

impl std::error::Error for DescriptorError {}

impl DescriptorError {
    /// The runtime error for segment `name`.
    pub fn into_error(self, name: &str) -> Error {
        Error::Corrupt {
            name: name.to_owned(),
            // Raw: `Error`'s Display escapes it.
            what: self.message(),
        }
    }

    /// The message, unescaped.
    fn message(&self) -> String {
        format!("schema descriptor, byte {}: {}", self.at, self.what)
    }
}

type DResult<T> = std::result::Result<T, DescriptorError>;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err<T>(&self, at: usize, what: impl Into<String>) -> DResult<T> {
        Err(DescriptorError {
            at,
            what: what.into(),
        })
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> DResult<&'a [u8]> {
        if n > self.remaining() {
            return self.err(
                self.pos,
                format!("{what} needs {n} bytes, only {} are left", self.remaining()),
            );
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> DResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> DResult<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> DResult<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> DResult<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> DResult<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A length-prefixed UTF-8 string of at most [`MAX_NAME_LEN`] bytes.
    fn str(&mut self, what: &str) -> DResult<(usize, &'a str)> {
        let at = self.pos;
        let len = usize::from(self.u16(what)?);
        if len == 0 {
            return self.err(at, format!("{what} is empty"));
        }
        if len > MAX_NAME_LEN {
            return self.err(
                at,
                format!("{what} is {len} bytes, at most {MAX_NAME_LEN} are allowed"),
            );
        }
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok((at, s)),
            Err(_) => self.err(at + 2, format!("{what} is not UTF-8")),
        }
    }

    /// A struct; `path` is where it is used (`inner.pair`, empty for the
    /// root), for error messages.
    fn schema(&mut self, depth: usize, path: &str) -> DResult<Schema> {
        if depth > MAX_DEPTH {
            return self.err(
                self.pos,
                format!("types nest deeper than {MAX_DEPTH} levels"),
            );
        }
        let (at, name) = self.str("schema name")?;
        if let Err(why) = ident::check(name, NAME_CAPACITY) {
            let place = if path.is_empty() {
                "the schema name".to_owned()
            } else {
                format!("the struct name of field `{path}`")
            };
            return self.err(
                at,
                format!(
                    "{place} \"{}\" {why}: names must be identifiers in every target language",
                    ident::escaped(name)
                ),
            );
        }
        let version = self.u32("schema version")?;
        let size_at = self.pos;
        let size = self.u64("struct size")?;
        let align_at = self.pos;
        let align = u64::from(self.u32("struct alignment")?);
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return self.err(
                align_at,
                format!(
                    "struct `{name}`: alignment {align} is not a power of two up to {MAX_ALIGN}"
                ),
            );
        }
        if !size.is_multiple_of(align) {
            return self.err(
                size_at,
                format!("struct `{name}`: size {size} is not a multiple of its alignment {align}"),
            );
        }
        let count_at = self.pos;
        let count = self.u32("field count")? as usize;
        // Bound the count by the bytes that are left before doing any work
        // proportional to it.
        if count > self.remaining() / MIN_FIELD_LEN {
            return self.err(
                count_at,
                format!(
                    "struct `{name}`: {count} fields cannot fit in the {} bytes left",
                    self.remaining()
                ),
            );
        }
        // No `with_capacity(count)`: what is allocated grows with the fields
        // actually decoded, each of which consumed at least MIN_FIELD_LEN bytes.
        let mut fields: Vec<FieldInfo> = Vec::new();
        let mut names: HashSet<&str> = HashSet::new();
        let mut end = 0u64; // end of the previous field
        let mut max_align = 1u64;
        for _ in 0..count {
            let (name_at, fname) = self.str("field name")?;
            if let Err(why) = ident::check(fname, MAX_IDENT_LEN) {
                let at_path = if path.is_empty() {
                    String::new()
                } else {
                    format!(" (in field `{path}`)")
                };
                return self.err(
                    name_at,
                    format!(
                        "struct `{name}`{at_path}: field name \"{}\" {why}: names must be identifiers in every target language",
                        ident::escaped(fname)
                    ),
                );
            }
            if !names.insert(fname) {
                return self.err(
                    name_at,
                    format!("struct `{name}`: field `{fname}` appears twice"),
                );
            }
            let off_at = self.pos;
            let offset = self.u64("field offset")?;
            let fsize_at = self.pos;
            let fsize = self.u64("field size")?;
            let fpath = if path.is_empty() {
                fname.to_owned()
            } else {
                format!("{path}.{fname}")
            };
            let ty = self.ty(depth + 1, &fpath)?;
            let what = |w: String| format!("struct `{name}`, field `{fname}`: {w}");
            let tsize = type_size(&ty).ok_or_else(|| DescriptorError {
                at: fsize_at,
                what: what(format!("the size of {ty} overflows")),
            })?;
            if tsize != fsize {
                return self.err(
                    fsize_at,
                    what(format!("size {fsize} is not the size of {ty} ({tsize})")),
                );
            }
            let fend = match offset.checked_add(fsize) {
                Some(e) if e <= size => e,
                _ => {
                    return self.err(
                        off_at,
                        what(format!(
                            "offset {offset} + size {fsize} lies outside the struct ({size} bytes)"
                        )),
                    );
                }
            };
            if offset < end {
                return self.err(
                    off_at,
                    what(format!(
                        "offset {offset} overlaps the previous field or is out of order (it ends at {end})"
                    )),
                );
            }
            let falign = ty.align();
            if !offset.is_multiple_of(falign) {
                return self.err(
                    off_at,
                    what(format!("offset {offset} is not aligned to {falign}")),
                );
            }
            max_align = max_align.max(falign);
            end = fend;
            fields.push(FieldInfo {
                name: fname.to_owned(),
                offset,
                size: fsize,
                ty,
            });
        }
        if max_align > align {
            return self.err(
                align_at,
                format!(
                    "struct `{name}`: alignment {align} is less than its fields' ({max_align})"
                ),
            );
        }
        Ok(Schema {
            name: name.to_owned(),
            version,
            size,
            align,
            fields,
        })
    }

    fn ty(&mut self, depth: usize, path: &str) -> DResult<TypeInfo> {
        if depth > MAX_DEPTH {
            return self.err(
                self.pos,
                format!("types nest deeper than {MAX_DEPTH} levels"),
            );
        }
        let at = self.pos;
        let code = self.u8("type code")?;
        if let Some(p) = Prim::from_code(code) {
            return Ok(TypeInfo::Prim(p));
        }
        match code {
            TYPE_TAG_ARRAY => {
                let len = self.u64("array length")?;
                let elem = self.ty(depth + 1, path)?;
                if len > 0 && type_size(&elem) == Some(0) {
                    return self.err(at, format!("array of {len} zero-sized elements"));
                }
                Ok(TypeInfo::Array {
                    elem: Box::new(elem),
                    len,
                })
            }
            TYPE_TAG_STRUCT => Ok(TypeInfo::Struct(Box::new(self.schema(depth + 1, path)?))),
            TYPE_TAG_ENUM => Ok(TypeInfo::Enum(Box::new(self.enumeration(path)?))),
            TYPE_TAG_STR => {
                let cap_at = self.pos;
                let cap = self.u32("string capacity")?;
                if cap == 0 || cap > MAX_STR_CAP {
                    return self.err(
                        cap_at,
                        format!("string capacity {cap} is not 1 to {MAX_STR_CAP}"),
                    );
                }
                Ok(TypeInfo::Str {
                    cap: u64::from(cap),
                })
            }
            TYPE_TAG_RING | TYPE_TAG_QUEUE => {
                let cap_at = self.pos;
                let cap = self.u32("ring capacity")?;
                if !cap.is_power_of_two() || cap as usize > RING_CAP_MAX {
                    return self.err(
                        cap_at,
                        format!("ring capacity {cap} is not a power of two up to {RING_CAP_MAX}"),
                    );
                }
                let elem_at = self.pos;
                let elem = self.ty(depth + 1, path)?;
                if type_size(&elem) == Some(0) || holds_ring(&elem) {
                    return self.err(
                        elem_at,
                        "a ring's message type is zero-sized or holds a ring".to_owned(),
                    );
                }
                let (elem, cap) = (Box::new(elem), u64::from(cap));
                Ok(if code == TYPE_TAG_RING {
                    TypeInfo::Ring { elem, cap }
                } else {
                    TypeInfo::Queue { elem, cap }
                })
            }
            c => self.err(at, format!("unknown type code {c:#04x}")),
        }
    }
}

impl Reader<'_> {
    /// An enum: its name, `repr`, and variants (unique identifiers with
    /// unique values that fit the `repr`, at least one).
    fn enumeration(&mut self, path: &str) -> DResult<EnumInfo> {
        let (at, name) = self.str("enum name")?;
        let place = if path.is_empty() {
            String::new()
        } else {
            format!(" (field `{path}`)")
        };
        if let Err(why) = ident::check(name, MAX_IDENT_LEN) {
            return self.err(
                at,
                format!(
                    "enum name \"{}\"{place} {why}: names must be identifiers in every target language",
                    ident::escaped(name)
                ),
            );
        }
        let repr_at = self.pos;
        let code = self.u8("enum repr")?;
        let repr = match Prim::from_code(code) {
            Some(p) if p.is_enum_repr() => p,
            _ => {
                return self.err(
                    repr_at,
                    format!("enum `{name}`{place}: repr code {code:#04x} is not an integer type (u8..u64, i8..i64)"),
                );
            }
        };
        let count_at = self.pos;
        let count = self.u32("variant count")? as usize;
        if count == 0 {
            return self.err(count_at, format!("enum `{name}`{place} has no variants"));
        }
        if count > self.remaining() / MIN_VARIANT_LEN {
            return self.err(
                count_at,
                format!(
                    "enum `{name}`{place}: {count} variants cannot fit in the {} bytes left",
                    self.remaining()
                ),
            );
        }
        let mut variants: Vec<(String, u64)> = Vec::new();
        let mut names: HashSet<&str> = HashSet::new();
        let mut values: HashSet<u64> = HashSet::new();
        for _ in 0..count {
            let (vat, vname) = self.str("variant name")?;
            if let Err(why) = ident::check(vname, MAX_IDENT_LEN) {
                return self.err(
                    vat,
                    format!(
                        "enum `{name}`{place}: variant name \"{}\" {why}: names must be identifiers in every target language",
                        ident::escaped(vname)
                    ),
                );
            }
            if !names.insert(vname) {
                return self.err(
                    vat,
                    format!("enum `{name}`: variant `{vname}` appears twice"),
                );
            }
            let value_at = self.pos;
            let value = self.u64("variant value")?;
            let bits = 8 * repr.size() as u32;
            let fits = if bits == 64 {
                true
            } else if repr.is_signed() {
                let v = value as i64;
                v >= -(1i64 << (bits - 1)) && v < (1i64 << (bits - 1))
            } else {
                value < (1u64 << bits)
            };
            if !fits {
                return self.err(
                    value_at,
                    format!(
                        "enum `{name}`, variant `{vname}`: value {value:#x} does not fit its repr {}",
                        repr.rust_name()
                    ),
                );
            }
            if !values.insert(value) {
                return self.err(
                    value_at,
                    format!(
                        "enum `{name}`, variant `{vname}`: value {} is another variant's too",
                        crate::layout::repr_display(repr, value)
                    ),
                );
            }
            variants.push((vname.to_owned(), value));
        }
        Ok(EnumInfo {
            name: name.to_owned(),
            repr,
            variants,
        })
    }
}

/// The size of a type, `None` on overflow.
fn type_size(t: &TypeInfo) -> Option<u64> {
    match t {
        TypeInfo::Prim(p) => Some(p.size() as u64),
        TypeInfo::Array { elem, len } => type_size(elem)?.checked_mul(*len),
        TypeInfo::Struct(s) => Some(s.size),
        TypeInfo::Enum(e) => Some(e.repr.size() as u64),
        TypeInfo::Str { cap } => cap.checked_add(2),
        TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => Some(8),
    }
}

/// Whether `t` is or holds a ring.
fn holds_ring(t: &TypeInfo) -> bool {
    match t {
        TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => true,
        TypeInfo::Array { elem, .. } => holds_ring(elem),
        TypeInfo::Struct(s) => s.fields.iter().any(|f| holds_ring(&f.ty)),
        _ => false,
    }
}

/// Decodes and validates a descriptor on its own (no header): the entry
/// point for fuzzing. Never panics, and allocates at most in proportion to
/// `bytes.len()`.
pub fn decode(bytes: &[u8]) -> std::result::Result<Schema, DescriptorError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let magic = r.array::<4>("magic")?;
    if magic != DESCRIPTOR_MAGIC {
        return r.err(
            0,
            format!("magic is {magic:02x?}, expected {DESCRIPTOR_MAGIC:02x?} (\"SHMD\")"),
        );
    }
    let version = r.u16("descriptor version")?;
    if version != DESCRIPTOR_VERSION {
        return r.err(
            4,
            format!("descriptor version {version} is not supported (this program reads {DESCRIPTOR_VERSION})"),
        );
    }
    let reserved = r.u16("reserved")?;
    if reserved != 0 {
        return r.err(6, format!("reserved field is {reserved}, expected 0"));
    }
    let schema = r.schema(0, "")?;
    if r.remaining() != 0 {
        return r.err(
            r.pos,
            format!("{} bytes follow the end of the descriptor", r.remaining()),
        );
    }
    Ok(schema)
}

/// Decodes a segment's descriptor and checks it against the segment's
/// (already validated) header: its hash is the header's fingerprint, and
/// the root struct has the header's schema name, version and payload size,
/// and an alignment the payload satisfies.
pub fn from_segment(header: &Header, bytes: &[u8]) -> std::result::Result<Schema, DescriptorError> {
    let hash = fnv1a(bytes);
    if hash != header.fingerprint {
        return Err(DescriptorError {
            at: 0,
            what: format!(
                "its hash {hash:016x} is not the fingerprint in the header ({:016x})",
                header.fingerprint
            ),
        });
    }
    let s = decode(bytes)?;
    let bad = |what: String| Err(DescriptorError { at: 8, what });
    if header.schema_name() != Some(crate::header::stored_name(&s.name)) {
        return bad(format!(
            "root schema `{}` is not the header's schema `{}`",
            s.name,
            header.schema_name().unwrap_or("<invalid name>")
        ));
    }
    if s.version != header.schema_version {
        return bad(format!(
            "schema version {} is not the header's {}",
            s.version, header.schema_version
        ));
    }
    if s.size != header.payload_size {
        return bad(format!(
            "struct size {} is not the header's payload size {}",
            s.size, header.payload_size
        ));
    }
    if s.align > u64::from(header.payload_align) {
        return bad(format!(
            "struct alignment {} exceeds the header's payload alignment {}",
            s.align, header.payload_align
        ));
    }
    Ok(s)
}

/// Copies a segment's descriptor out of an object of `len` bytes, where
/// `read(at, dst)` copies `at..at + dst.len()` (returning `false` if that
/// is not inside the object). The copy is at most
/// [`MAX_DESCRIPTOR_LEN`](crate::header::MAX_DESCRIPTOR_LEN) bytes and never
/// larger than the object.
pub(crate) fn copy_out(
    header: &Header,
    len: u64,
    read: &mut dyn FnMut(usize, &mut [u8]) -> bool,
) -> std::result::Result<Vec<u8>, DescriptorError> {
    let off = u64::from(header.descriptor_offset);
    let n = header.descriptor_len;
    let outside = || DescriptorError {
        at: 0,
        what: format!("{n} bytes at offset {off} lie outside the {len}-byte object"),
    };
    if off + u64::from(n) > len || n > crate::header::MAX_DESCRIPTOR_LEN {
        return Err(outside());
    }
    let mut out = vec![0u8; n as usize];
    if !read(off as usize, &mut out) {
        return Err(outside());
    }
    Ok(out)
}

/// Checks at open that the segment holds exactly the schema `layout`:
/// the header first ([`Header::check_schema`]); on a mismatch, the
/// segment's descriptor is decoded and the error's `detail` names the first
/// difference; on a match, the descriptor must be byte for byte this
/// program's.
pub(crate) fn check_open(
    display: &str,
    header: &Header,
    descriptor: &[u8],
    layout: &LayoutDesc,
    fingerprint: u64,
) -> Result<()> {
    match header.check_schema(display, layout, fingerprint) {
        Ok(()) => {
            if descriptor != encode_descriptor(layout).as_slice() {
                let what = if fnv1a(descriptor) != header.fingerprint {
                    "the schema descriptor does not hash to the fingerprint in the header"
                        .to_owned()
                } else {
                    "the schema descriptor differs from this program's although the fingerprints agree"
                        .to_owned()
                };
                return Err(Error::Corrupt {
                    name: display.to_owned(),
                    what,
                });
            }
            Ok(())
        }
        Err(Error::LayoutMismatch {
            name,
            expected,
            found,
            ..
        }) => {
            let schema = from_segment(header, descriptor).map_err(|e| e.into_error(display))?;
            Err(Error::LayoutMismatch {
                name,
                expected,
                found,
                detail: first_difference(layout, &schema),
            })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::tests::bytes;

    #[test]
    fn every_truncation_is_an_error() {
        let b = bytes();
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "{n}");
        }
        let mut long = b.clone();
        long.push(0);
        let e = decode(&long).unwrap_err();
        assert!(e.what.contains("follow"), "{e}");
    }

    /// Offset of the first byte of field `i`'s offset in the root struct.
    fn field_off(b: &[u8], i: usize) -> usize {
        // magic 4, version 2, reserved 2, name 2+12, version 4, size 8, align 4, count 4
        let mut at = 8 + 2 + 12 + 4 + 8 + 4 + 4;
        for _ in 0..i {
            let n = u16::from_le_bytes([b[at], b[at + 1]]) as usize;
            at += 2 + n + 16;
            // skip the type
            at += type_len(&b[at..]);
        }
        let n = u16::from_le_bytes([b[at], b[at + 1]]) as usize;
        at + 2 + n
    }

    fn type_len(b: &[u8]) -> usize {
        match b[0] {
            TYPE_TAG_ARRAY => 9 + type_len(&b[9..]),
            TYPE_TAG_STRUCT => {
                let mut r = Reader {
                    buf: &b[1..],
                    pos: 0,
                };
                r.schema(1, "x").unwrap();
                1 + r.pos
            }
            _ => 1,
        }
    }

    fn put_u64(b: &mut [u8], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn each_bad_field_is_reported() {
        let b = bytes();
        let letter = field_off(&b, 1);
        let numbers = field_off(&b, 3);
        let inner = field_off(&b, 4);
        type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|b| b[0] = b'X'), "magic"),
            (Box::new(|b| b[4] = 2), "version 2"),
            (Box::new(|b| b[6] = 1), "reserved"),
            (Box::new(|b| b[10] = 0xff), "UTF-8"),
            (Box::new(|b| b[10] = 0x07), "U+0007"),
            (Box::new(|b| b[8] = 0), "empty"),
            (Box::new(|b| b[9] = 0xff), "at most"),
            (Box::new(|b| b[8 + 2 + 12 + 4 + 8] = 3), "power of two"),
            (Box::new(|b| b[8 + 2 + 12 + 4] = 233), "multiple"),
            (
                Box::new(|b| b[8 + 2 + 12 + 4 + 8 + 4 + 3] = 0x10),
                "cannot fit",
            ),
            (Box::new(move |b| put_u64(b, letter, 5)), "aligned"),
            (Box::new(move |b| put_u64(b, letter, 2)), "overlaps"),
            (
                Box::new(move |b| put_u64(b, letter, u64::MAX - 1)),
                "outside",
            ),
            (
                Box::new(move |b| put_u64(b, letter + 8, 4)),
                "size 4 is not the size of u16",
            ),
            (Box::new(move |b| b[letter + 16] = 99), "unknown type code"),
            (Box::new(move |b| b[letter + 16] = 0), "unknown type code"),
            (
                Box::new(move |b| put_u64(b, numbers + 17, u64::MAX / 2)),
                "overflows",
            ),
            (Box::new(move |b| b[letter - 1] = b'-'), "identifier"),
            (
                Box::new(move |b| b[inner - 5..inner].copy_from_slice(b"value")),
                "twice",
            ),
        ];
        for (mutate, needle) in cases {
            let mut b = bytes();
            mutate(&mut b);
            let err = decode(&b).unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
    }

    #[test]
    fn deep_nesting_is_bounded() {
        // [[[...u8; 1]; 1]; 1] nested far deeper than MAX_DEPTH.
        let mut b = bytes()[..8].to_vec();
        b.extend_from_slice(&1u16.to_le_bytes());
        b.push(b'S');
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.push(b'f');
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        for _ in 0..10_000 {
            b.push(TYPE_TAG_ARRAY);
            b.extend_from_slice(&1u64.to_le_bytes());
        }
        b.push(Prim::U8.code());
        let e = decode(&b).unwrap_err();
        assert!(e.what.contains("deeper"), "{e}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every single-byte change of a valid
        // descriptor, and pseudo-random buffers.
        let b = bytes();
        for i in 0..b.len() {
            for v in [0u8, 1, 0x20, 0x30, 0x7f, 0x80, 0xff] {
                let mut m = b.clone();
                m[i] = v;
                let _ = decode(&m);
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..300 {
            let mut m = b"SHMD\x01\0\0\0".to_vec();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                m.push(x as u8);
            }
            let _ = decode(&m);
        }
    }
}
