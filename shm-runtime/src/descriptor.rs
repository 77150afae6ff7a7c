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

use std::collections::HashSet;
use std::fmt;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::header::Header;
use crate::layout::{
    DESCRIPTOR_MAGIC, DESCRIPTOR_VERSION, LayoutDesc, Prim, TYPE_TAG_ARRAY, TYPE_TAG_STRUCT,
    TypeDesc, encode_descriptor, fnv1a,
};

/// Largest payload [`Schema::decode_value`] decodes by field name (16 MiB).
pub const MAX_DECODE_BYTES: u64 = 16 << 20;
/// Deepest nesting of arrays and structs accepted (the root struct is depth 0).
pub const MAX_DEPTH: usize = 32;
/// Longest schema or field name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Largest struct alignment accepted (the header's payload alignment bound).
pub const MAX_ALIGN: u64 = 1 << 16;
/// The fewest bytes one field can take in a descriptor: name length (2),
/// offset (8), size (8), type code (1).
const MIN_FIELD_LEN: usize = 2 + 8 + 8 + 1;

/// A schema struct as a segment describes it (owned, validated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldInfo {
    /// The field's name.
    pub name: String,
    /// Byte offset from the start of its struct.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// The field's type.
    #[serde(rename = "type")]
    pub ty: TypeInfo,
}

/// The type of a field.
///
/// Serialises as the primitive's Rust name (`"u16"`), as
/// `{"array": {"len": N, "elem": ...}}`, or as `{"struct": Schema}`.
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
}

impl TypeInfo {
    /// Size in bytes (saturating; a validated descriptor never saturates).
    pub fn size(&self) -> u64 {
        match self {
            TypeInfo::Prim(p) => p.size() as u64,
            TypeInfo::Array { elem, len } => elem.size().saturating_mul(*len),
            TypeInfo::Struct(s) => s.size,
        }
    }

    /// Alignment in bytes.
    pub fn align(&self) -> u64 {
        match self {
            TypeInfo::Prim(p) => p.size() as u64,
            TypeInfo::Array { elem, .. } => elem.align(),
            TypeInfo::Struct(s) => s.align,
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
        }
    }
}

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
    }
}

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
        write!(f, "schema descriptor, byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for DescriptorError {}

impl DescriptorError {
    /// The runtime error for segment `name`.
    pub fn into_error(self, name: &str) -> Error {
        Error::Corrupt {
            name: name.to_owned(),
            what: self.to_string(),
        }
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

    fn schema(&mut self, depth: usize) -> DResult<Schema> {
        if depth > MAX_DEPTH {
            return self.err(
                self.pos,
                format!("types nest deeper than {MAX_DEPTH} levels"),
            );
        }
        let (at, name) = self.str("schema name")?;
        if name.chars().any(char::is_control) {
            return self.err(
                at,
                format!("schema name {name:?} contains control characters"),
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
            if !is_identifier(fname) {
                return self.err(
                    name_at,
                    format!("struct `{name}`: field name {fname:?} is not an identifier"),
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
            let ty = self.ty(depth + 1)?;
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

    fn ty(&mut self, depth: usize) -> DResult<TypeInfo> {
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
                let elem = self.ty(depth + 1)?;
                if len > 0 && type_size(&elem) == Some(0) {
                    return self.err(at, format!("array of {len} zero-sized elements"));
                }
                Ok(TypeInfo::Array {
                    elem: Box::new(elem),
                    len,
                })
            }
            TYPE_TAG_STRUCT => Ok(TypeInfo::Struct(Box::new(self.schema(depth + 1)?))),
            c => self.err(at, format!("unknown type code {c:#04x}")),
        }
    }
}

/// The size of a type, `None` on overflow.
fn type_size(t: &TypeInfo) -> Option<u64> {
    match t {
        TypeInfo::Prim(p) => Some(p.size() as u64),
        TypeInfo::Array { elem, len } => type_size(elem)?.checked_mul(*len),
        TypeInfo::Struct(s) => Some(s.size),
    }
}

/// A Rust-style identifier: a letter or `_`, then letters, digits or `_`.
fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && cs.all(|c| c == '_' || c.is_alphanumeric())
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
    let schema = r.schema(0)?;
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
            header.schema_name().unwrap_or("<invalid UTF-8>")
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

/// Names the first difference between the schema this program was compiled
/// with and the one a segment describes, e.g. "field `letter`: this program
/// expects u16 at offset 4, the segment has u8 at offset 4". `None` if they
/// are the same.
pub fn first_difference(expected: &LayoutDesc, found: &Schema) -> Option<String> {
    diff_schemas(&Schema::from_layout(expected), found)
}

/// [`first_difference`] between two owned schemas (`a`: this program's).
pub fn diff_schemas(a: &Schema, b: &Schema) -> Option<String> {
    if a.name != b.name {
        return Some(format!(
            "schema: this program expects `{}`, the segment holds `{}`",
            a.name, b.name
        ));
    }
    diff_struct("", a, b)
}

/// The first reason why `old` is not a layout prefix of `new` (the rule of
/// `#[shm(extends)]`, checked again at open time on the segment's
/// descriptor), or `None` if it is one: the same schema name, and every
/// field of `old` at the same index of `new` with the same name, offset
/// and type. `program_is_old` says which of the two is this program's, for
/// the wording ("this program expects ..., the segment has ...").
pub fn prefix_difference(old: &Schema, new: &Schema, program_is_old: bool) -> Option<String> {
    if old.name != new.name {
        let (a, b) = if program_is_old {
            (old, new)
        } else {
            (new, old)
        };
        return diff_schemas(a, b);
    }
    let (pv, sv) = if program_is_old {
        (old.version, new.version)
    } else {
        (new.version, old.version)
    };
    let why = format!(
        " (v{} is not an extension of v{}: a newer version keeps every field of an older one, \
         in order, and adds fields after them)",
        pv.max(sv),
        pv.min(sv)
    );
    for (i, fo) in old.fields.iter().enumerate() {
        let fnew = new.fields.get(i);
        if fnew == Some(fo) {
            continue;
        }
        let (p, s) = if program_is_old {
            (Some(fo), fnew)
        } else {
            (fnew, Some(fo))
        };
        let at = |f: &FieldInfo| format!("{} at offset {}", describe(&f.ty), f.offset);
        let msg = match (p, s) {
            (Some(p), Some(s)) if p.name == s.name => {
                if p.offset == s.offset
                    && let Some(d) = diff_types(&p.name, &p.ty, &s.ty)
                {
                    d
                } else {
                    format!(
                        "field `{}`: this program expects {}, the segment has {}",
                        p.name,
                        at(p),
                        at(s)
                    )
                }
            }
            (Some(p), Some(s)) if program_is_old => format!(
                "field `{}`: this program expects {}, the segment (v{sv}) has `{}`: {} there",
                p.name,
                at(p),
                s.name,
                at(s)
            ),
            (Some(p), Some(s)) => format!(
                "field `{}`: the segment (v{sv}) has {}, this program has `{}`: {} there",
                s.name,
                at(s),
                p.name,
                at(p)
            ),
            (Some(p), None) => format!(
                "field `{}`: this program expects {}, the segment (v{sv}) has no such field",
                p.name,
                at(p)
            ),
            (None, Some(s)) => format!(
                "field `{}`: the segment (v{sv}) has {}, this program (v{pv}) has no such field",
                s.name,
                at(s)
            ),
            (None, None) => unreachable!("`old` has field {i}"),
        };
        return Some(msg + &why);
    }
    if old.size > new.size || old.align > new.align {
        return Some(format!(
            "size and alignment: v{} is {} bytes aligned to {}, v{} is {} bytes aligned to {}{why}",
            old.version, old.size, old.align, new.version, new.size, new.align
        ));
    }
    None
}

fn describe(t: &TypeInfo) -> String {
    match t {
        TypeInfo::Struct(s) => format!("struct `{}`", s.name),
        t => t.to_string(),
    }
}

fn diff_struct(path: &str, a: &Schema, b: &Schema) -> Option<String> {
    let what = |item: &str| {
        if path.is_empty() {
            item.to_owned()
        } else {
            format!("field `{path}` (struct `{}`): {item}", a.name)
        }
    };
    if a.name != b.name {
        return Some(format!(
            "field `{path}`: this program expects struct `{}`, the segment has struct `{}`",
            a.name, b.name
        ));
    }
    for fa in &a.fields {
        let p = if path.is_empty() {
            fa.name.clone()
        } else {
            format!("{path}.{}", fa.name)
        };
        let Some(fb) = b.fields.iter().find(|f| f.name == fa.name) else {
            let there = b
                .fields
                .iter()
                .find(|f| f.offset == fa.offset)
                .map(|f| {
                    format!(
                        " (it has `{}`: {} at offset {})",
                        f.name,
                        describe(&f.ty),
                        f.offset
                    )
                })
                .unwrap_or_default();
            return Some(format!(
                "field `{p}`: this program expects {} at offset {}, the segment has no such field{there}",
                describe(&fa.ty),
                fa.offset
            ));
        };
        if fa == fb {
            continue;
        }
        if fa.offset == fb.offset
            && let Some(d) = diff_types(&p, &fa.ty, &fb.ty)
        {
            return Some(d);
        }
        return Some(format!(
            "field `{p}`: this program expects {} at offset {}, the segment has {} at offset {}",
            describe(&fa.ty),
            fa.offset,
            describe(&fb.ty),
            fb.offset
        ));
    }
    if let Some(fb) = b
        .fields
        .iter()
        .find(|fb| !a.fields.iter().any(|fa| fa.name == fb.name))
    {
        let p = if path.is_empty() {
            fb.name.clone()
        } else {
            format!("{path}.{}", fb.name)
        };
        return Some(format!(
            "field `{p}`: the segment has {} at offset {}, this program has no such field",
            describe(&fb.ty),
            fb.offset
        ));
    }
    if a.size != b.size {
        return Some(what(&format!(
            "size: this program expects {} bytes, the segment has {} bytes",
            a.size, b.size
        )));
    }
    if a.align != b.align {
        return Some(what(&format!(
            "alignment: this program expects {}, the segment has {}",
            a.align, b.align
        )));
    }
    if a.version != b.version {
        return Some(what(&format!(
            "schema version: this program expects v{}, the segment has v{}",
            a.version, b.version
        )));
    }
    None
}

/// A difference inside two same-offset types that are both structs of one
/// name, or arrays of one length (then the difference is inside them).
fn diff_types(path: &str, a: &TypeInfo, b: &TypeInfo) -> Option<String> {
    match (a, b) {
        (TypeInfo::Struct(sa), TypeInfo::Struct(sb)) if sa.name == sb.name => {
            diff_struct(path, sa, sb)
        }
        (TypeInfo::Array { elem: ea, len: la }, TypeInfo::Array { elem: eb, len: lb })
            if la == lb =>
        {
            diff_types(&format!("{path}[]"), ea, eb)
        }
        _ => None,
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
    use crate::layout::FieldDesc;

    static INNER: LayoutDesc = LayoutDesc {
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

    static F32: TypeDesc = TypeDesc::Prim(Prim::F32);
    static INNER_T: TypeDesc = TypeDesc::Struct(&INNER);

    static DATA: LayoutDesc = LayoutDesc {
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

    fn bytes() -> Vec<u8> {
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
                r.schema(1).unwrap();
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
            (Box::new(|b| b[10] = 0x07), "control"),
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

    #[test]
    fn differences_are_named() {
        let found = |f: &dyn Fn(&mut Schema)| {
            let mut s = Schema::from_layout(&DATA);
            f(&mut s);
            diff_schemas(&Schema::from_layout(&DATA), &s).unwrap()
        };
        assert_eq!(
            found(&|s| {
                s.fields[1].ty = TypeInfo::Prim(Prim::U8);
                s.fields[1].size = 1;
            }),
            "field `letter`: this program expects u16 at offset 4, the segment has u8 at offset 4"
        );
        assert_eq!(
            found(&|s| s.fields[1].name = "character".into()),
            "field `letter`: this program expects u16 at offset 4, the segment has no such field \
             (it has `character`: u16 at offset 4)"
        );
        assert_eq!(
            found(&|s| s.fields[3].ty = TypeInfo::Array {
                elem: Box::new(TypeInfo::Prim(Prim::F32)),
                len: 49
            }),
            "field `numbers`: this program expects [f32; 50] at offset 8, the segment has [f32; 49] at offset 8"
        );
        let nested = found(&|s| {
            let TypeInfo::Struct(i) = &mut s.fields[4].ty else {
                unreachable!()
            };
            i.fields[1].ty = TypeInfo::Prim(Prim::I32);
        });
        assert_eq!(
            nested,
            "field `inner.b`: this program expects f32 at offset 4, the segment has i32 at offset 4"
        );
        let in_array = found(&|s| {
            let TypeInfo::Array { elem, .. } = &mut s.fields[5].ty else {
                unreachable!()
            };
            let TypeInfo::Struct(i) = &mut **elem else {
                unreachable!()
            };
            i.fields[0].name = "z".into();
        });
        assert!(in_array.starts_with("field `pair[].a`: "), "{in_array}");
        assert_eq!(
            found(&|s| s.name = "Alphabet".into()),
            "schema: this program expects `MySharedData`, the segment holds `Alphabet`"
        );
        assert_eq!(
            found(&|s| s.version = 2),
            "schema version: this program expects v1, the segment has v2"
        );
        assert_eq!(
            found(&|s| {
                s.fields.pop();
            }),
            "field `pair`: this program expects [Inner; 2] at offset 216, the segment has no such field"
        );
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
        assert_eq!(fs[0], ("value".into(), Value::I(123)));
        assert_eq!(fs[1], ("letter".into(), Value::U(88)));
        let Value::Array(ns) = &fs[3].1 else { panic!() };
        assert_eq!(ns.len(), 50);
        assert_eq!(ns[10], Value::F32(1.45));
        assert!(s.decode_value(&p[..231]).is_none());
        assert_eq!(s.gaps(), vec![]);
    }
}
