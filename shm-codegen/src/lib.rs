//! Bindings for other languages, generated from a schema's layout: a C
//! header, a C# struct and a Python `ctypes` module.
//!
//! The input is a [`Schema`]: from a Rust schema's compile-time layout
//! ([`Schema::from_layout`]) or from a live segment's descriptor
//! ([`shm_runtime::RawSegment::schema`]), so a program in another language
//! can read a segment whose Rust source it never saw. Every generated file
//! checks the layout it declares against the facts it was generated from
//! (`_Static_assert` in C, a check at import in Python), carries the
//! schema's fingerprint, and includes the 256-byte segment header of
//! `docs/FORMAT.md`. The output is deterministic (no dates), so generated
//! files can be kept under version control and compared.

use std::collections::HashSet;
use std::fmt::{self, Write as _};

use shm_runtime::Prim;
use shm_runtime::descriptor::{FieldInfo, Schema, TypeInfo};
use shm_runtime::header::{self, HEADER_SIZE, NAME_CAPACITY, off};

/// A target language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// A C11 header.
    C,
    /// A C# source file.
    CSharp,
    /// A Python 3 module using `ctypes`.
    Python,
}

impl Lang {
    /// Every language.
    pub const ALL: [Lang; 3] = [Lang::C, Lang::CSharp, Lang::Python];

    /// The name used on the command line and for the `bindings/` folder.
    pub fn name(self) -> &'static str {
        match self {
            Lang::C => "c",
            Lang::CSharp => "csharp",
            Lang::Python => "python",
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = Error;
    fn from_str(s: &str) -> Result<Lang, Error> {
        match s {
            "c" => Ok(Lang::C),
            "csharp" | "cs" | "c#" => Ok(Lang::CSharp),
            "python" | "py" => Ok(Lang::Python),
            _ => Err(Error(format!(
                "unknown language `{s}` (use c, csharp or python)"
            ))),
        }
    }
}

/// Why a schema cannot be expressed in a language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The conventional file name of the bindings for `schema`:
/// `my_shared_data.h`, `MySharedData.cs`, `my_shared_data.py`.
pub fn file_name(lang: Lang, schema: &Schema) -> String {
    let base = ident(&schema.name);
    match lang {
        Lang::C => format!("{}.h", snake(&base)),
        Lang::CSharp => format!("{base}.cs"),
        Lang::Python => format!("{}.py", snake(&base)),
    }
}

/// Generates the bindings for `schema` in `lang`. `source` says what the
/// schema was taken from (it goes into the file's opening comment).
pub fn generate(lang: Lang, schema: &Schema, source: &str) -> Result<String, Error> {
    let structs = nested_structs(schema)?;
    match lang {
        Lang::C => c::generate(schema, &structs, source),
        Lang::CSharp => csharp::generate(schema, &structs, source),
        Lang::Python => python::generate(schema, &structs, source),
    }
}

/// The `source` note for a schema taken from the Rust crate `schemas`
/// (what the checked-in files under `bindings/` say).
pub fn rust_source(schema: &Schema) -> String {
    format!("the Rust schema `{}` (crate `schemas`)", schema.name)
}

/// The 256-byte segment header as a schema (field names as in
/// `docs/FORMAT.md`), so each language emits it like any other struct.
pub fn header_schema() -> Schema {
    fn f(name: &str, offset: usize, ty: TypeInfo) -> FieldInfo {
        FieldInfo {
            name: name.into(),
            offset: offset as u64,
            size: ty.size(),
            ty,
        }
    }
    let p = TypeInfo::Prim;
    let bytes = |n: u64| TypeInfo::Array {
        elem: Box::new(TypeInfo::Prim(Prim::U8)),
        len: n,
    };
    let mut fields = vec![
        f("magic", off::MAGIC, bytes(8)),
        f("header_version", off::HEADER_VERSION, p(Prim::U16)),
        f("header_size", off::HEADER_SIZE, p(Prim::U16)),
        f("state", off::STATE, p(Prim::AtomicU32)),
        f("fingerprint", off::FINGERPRINT, p(Prim::U64)),
        f("schema_version", off::SCHEMA_VERSION, p(Prim::U32)),
        f("payload_align", off::PAYLOAD_ALIGN, p(Prim::U32)),
        f("payload_offset", off::PAYLOAD_OFFSET, p(Prim::U64)),
        f("payload_size", off::PAYLOAD_SIZE, p(Prim::U64)),
        f("segment_size", off::SEGMENT_SIZE, p(Prim::U64)),
        f("descriptor_offset", off::DESCRIPTOR_OFFSET, p(Prim::U32)),
        f("descriptor_len", off::DESCRIPTOR_LEN, p(Prim::U32)),
        f("schema_name", off::SCHEMA_NAME, bytes(NAME_CAPACITY as u64)),
        f("creator_pid", off::CREATOR_PID, p(Prim::U32)),
        f("flags", off::FLAGS, p(Prim::U32)),
        f("created_nanos", off::CREATED_NANOS, p(Prim::U64)),
        f("seq", off::SEQ, p(Prim::AtomicU64)),
        f("reserved_136", off::SEQ + 8, bytes(8)),
        f("writer", off::WRITER, p(Prim::AtomicU64)),
        f("writer_since", off::WRITER_SINCE, p(Prim::AtomicU64)),
        f("reserved_160", off::WRITER_SINCE + 8, bytes(8)),
        f("backup_offset", off::BACKUP_OFFSET, p(Prim::U64)),
        f("reserved_line2", off::BACKUP_OFFSET + 8, bytes(16)),
        f("payload_capacity", off::PAYLOAD_CAPACITY, p(Prim::U64)),
        f("schema_seq", off::SCHEMA_SEQ, p(Prim::AtomicU64)),
        f("staged_fingerprint", off::STAGED_FINGERPRINT, p(Prim::U64)),
        f(
            "staged_schema_version",
            off::STAGED_SCHEMA_VERSION,
            p(Prim::U32),
        ),
        f("staged_flags", off::STAGED_FLAGS, p(Prim::U32)),
        f(
            "staged_payload_size",
            off::STAGED_PAYLOAD_SIZE,
            p(Prim::U64),
        ),
        f(
            "staged_descriptor_offset",
            off::STAGED_DESCRIPTOR_OFFSET,
            p(Prim::U32),
        ),
        f(
            "staged_descriptor_len",
            off::STAGED_DESCRIPTOR_LEN,
            p(Prim::U32),
        ),
        f("backup_seq", off::BACKUP_SEQ, p(Prim::AtomicU64)),
        f("waiters", off::WAITERS, p(Prim::AtomicU32)),
        f("notify", off::NOTIFY, p(Prim::AtomicU32)),
    ];
    let end = fields.last().map_or(0, |f| f.offset + f.size);
    if end < HEADER_SIZE as u64 {
        fields.push(f("reserved", end as usize, bytes(HEADER_SIZE as u64 - end)));
    }
    Schema {
        name: "SegmentHeader".into(),
        version: u32::from(header::HEADER_VERSION),
        size: HEADER_SIZE as u64,
        align: 8,
        fields,
    }
}

/// The structs used inside `root` (not `root` itself), each once, in an
/// order where every struct comes after the structs it uses.
fn nested_structs(root: &Schema) -> Result<Vec<&Schema>, Error> {
    fn visit<'a>(s: &'a Schema, out: &mut Vec<&'a Schema>) -> Result<(), Error> {
        for f in &s.fields {
            let mut t = &f.ty;
            while let TypeInfo::Array { elem, .. } = t {
                t = elem;
            }
            if let TypeInfo::Struct(inner) = t {
                visit(inner, out)?;
                match out.iter().find(|o| o.name == inner.name) {
                    Some(o) if **o == **inner => {}
                    Some(_) => {
                        return Err(Error(format!(
                            "two different structs are named `{}`",
                            inner.name
                        )));
                    }
                    None => out.push(inner),
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    visit(root, &mut out)?;
    if out.iter().any(|s| s.name == root.name) {
        return Err(Error(format!(
            "struct `{}` contains a different struct of the same name",
            root.name
        )));
    }
    Ok(out)
}

/// A name made into an ASCII identifier: other characters become `_`, and
/// a leading digit gets a `_` before it.
pub fn ident(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// `MySharedData` -> `my_shared_data`.
pub fn snake(name: &str) -> String {
    let cs: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in cs.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| cs[j]);
            let next = cs.get(i + 1);
            let boundary = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(|n| n.is_ascii_lowercase()));
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Field names of one struct in a language: keywords get a suffix or
/// prefix, non-ASCII names are refused where the language needs ASCII, and
/// two fields may not end up with the same name.
fn field_names(
    s: &Schema,
    keywords: &[&str],
    escape: impl Fn(&str) -> String,
    ascii_only: bool,
    lang: &str,
) -> Result<Vec<String>, Error> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for f in &s.fields {
        if ascii_only && !f.name.is_ascii() {
            return Err(Error(format!(
                "struct `{}`: field name `{}` is not ASCII, which {lang} identifiers must be",
                s.name, f.name
            )));
        }
        let n = if keywords.contains(&f.name.as_str()) {
            escape(&f.name)
        } else {
            f.name.clone()
        };
        if !seen.insert(n.clone()) {
            return Err(Error(format!(
                "struct `{}`: two fields would both be called `{n}` in {lang}",
                s.name
            )));
        }
        out.push(n);
    }
    Ok(out)
}

/// A gap (padding) not covered by a field: `(offset, len)`, in order with
/// the fields.
enum Member<'a> {
    Field(&'a FieldInfo, &'a str),
    Gap(u64, u64),
}

fn members<'a>(s: &'a Schema, names: &'a [String]) -> Vec<Member<'a>> {
    let gaps = s.gaps();
    let mut out = Vec::new();
    let mut g = gaps.iter().peekable();
    for (f, n) in s.fields.iter().zip(names) {
        while let Some(&&(at, len)) = g.peek() {
            if at >= f.offset {
                break;
            }
            out.push(Member::Gap(at, len));
            g.next();
        }
        out.push(Member::Field(f, n));
    }
    out.extend(g.map(|&(at, len)| Member::Gap(at, len)));
    out
}

/// The innermost element of nested arrays and the lengths, outermost first.
fn dims(t: &TypeInfo) -> (&TypeInfo, Vec<u64>) {
    let mut lens = Vec::new();
    let mut t = t;
    while let TypeInfo::Array { elem, len } = t {
        lens.push(*len);
        t = elem;
    }
    (t, lens)
}

/// A string literal's contents, escaped for C, C# and Python alike
/// (printable ASCII as is, everything else as `\xNN`-free escapes).
fn escape_str(s: &str, unicode_escape: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c => {
                for u in c.encode_utf16(&mut [0; 2]) {
                    let _ = write!(out, "{unicode_escape}{u:04x}");
                }
            }
        }
    }
    out
}

/// Text safe inside a comment of every target language.
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace("*/", "* /")
}

mod c;
mod csharp;
mod python;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(snake("MySharedData"), "my_shared_data");
        assert_eq!(snake("HTTPServer2"), "http_server2");
        assert_eq!(snake("Alphabet"), "alphabet");
        assert_eq!(ident("my-app v2"), "my_app_v2");
        assert_eq!(ident("2d"), "_2d");
        assert_eq!(escape_str("a\"b\\c\u{e9}", "\\u"), "a\\\"b\\\\c\\u00e9");
    }

    #[test]
    fn header_schema_covers_256_bytes_without_gaps() {
        let h = header_schema();
        assert_eq!(h.gaps(), vec![]);
        assert_eq!(h.fields.iter().map(|f| f.size).sum::<u64>(), 256);
        let enc = h.encode();
        assert!(shm_runtime::descriptor::decode(&enc).is_ok());
    }
}
