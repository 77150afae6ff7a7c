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
//!
//! Without a live segment: [`generate_for`] and [`write_bindings_for`]
//! take a Rust schema's compile-time layout (`T::LAYOUT`), for a `build.rs`
//! script or a test (`examples/codegen-build` generates its C header and
//! Python module at build time this way); [`read_descriptor_file`] reads
//! a descriptor file written by `shm describe NAME > x.shmschema`, validated
//! like a segment's descriptor.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use shm_runtime::descriptor::{FieldInfo, TypeInfo};
use shm_runtime::header::{self, Header, NAME_CAPACITY};
use shm_runtime::ident::{self as rule, MAX_IDENT_LEN};
use shm_runtime::{Prim, SharedLayout};

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
/// `my_shared_data.h`, `MySharedData.cs`, `my_shared_data.py`. Safe as a
/// file name whatever the schema's name (see [`ident`]).
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
///
/// Every name in `schema` must follow the identifier rule of
/// [`shm_runtime::ident`] (descriptors read from segments do; a [`Schema`]
/// built by hand is checked here). Names that a language reserves
/// (keywords, names the generated code or its libraries use) are mapped
/// injectively: a `_` is appended to every reserved name and to every name
/// that already ends with `_`, so two different names never become the
/// same identifier. Any collision that remains (for example with names the
/// generated code derives from others) is an error. `source` goes into
/// comments only, escaped for each language.
pub fn generate(lang: Lang, schema: &Schema, source: &str) -> Result<String, Error> {
    check_names(schema, "")?;
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

/// The 256-byte segment header as a schema, so each language emits it like
/// any other struct. It is taken from the layout of
/// [`shm_runtime::header::Header`] (the one declaration of the header):
/// nested structs flattened (`staged.fingerprint` becomes
/// `staged_fingerprint`), reserved fields without their leading `_`, and
/// the fields of [`header::ATOMIC_FIELDS`] as atomics.
pub fn header_schema() -> Schema {
    fn flatten(prefix: &str, base: u64, fields: Vec<FieldInfo>, out: &mut Vec<FieldInfo>) {
        for f in fields {
            let name = format!("{prefix}{}", f.name.strip_prefix('_').unwrap_or(&f.name));
            let offset = base + f.offset;
            match f.ty {
                TypeInfo::Struct(inner) => {
                    flatten(&format!("{name}_"), offset, inner.fields, out);
                }
                ty => {
                    let ty = match ty {
                        TypeInfo::Prim(p) if header::ATOMIC_FIELDS.contains(&(offset as usize)) => {
                            TypeInfo::Prim(atomic(p))
                        }
                        ty => ty,
                    };
                    out.push(FieldInfo {
                        name,
                        offset,
                        size: f.size,
                        ty,
                    });
                }
            }
        }
    }
    let layout = from_layout(&<Header as SharedLayout>::LAYOUT);
    let mut fields = Vec::new();
    flatten("", 0, layout.fields, &mut fields);
    Schema { fields, ..layout }
}

/// The atomic counterpart of an integer kind.
fn atomic(p: Prim) -> Prim {
    match p {
        Prim::U8 => Prim::AtomicU8,
        Prim::I8 => Prim::AtomicI8,
        Prim::U16 => Prim::AtomicU16,
        Prim::I16 => Prim::AtomicI16,
        Prim::U32 => Prim::AtomicU32,
        Prim::I32 => Prim::AtomicI32,
        Prim::U64 => Prim::AtomicU64,
        Prim::I64 => Prim::AtomicI64,
        other => other,
    }
}

/// The structs used inside `root` (not `root` itself), each once, in an
/// order where every struct comes after the structs it uses.
fn nested_structs(root: &Schema) -> Result<Vec<&Schema>, Error> {
    fn visit<'a>(s: &'a Schema, out: &mut Vec<&'a Schema>) -> Result<(), Error> {
        for f in &s.fields {
            let mut t = &f.ty;
            // Through arrays, and rings and queues to their message type.
            while let TypeInfo::Array { elem, .. }
            | TypeInfo::Ring { elem, .. }
            | TypeInfo::Queue { elem, .. } = t
            {
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

/// Checks every struct and field name of `s` (used at `path`) against the
/// identifier rule of [`shm_runtime::ident`].
fn check_names(s: &Schema, path: &str) -> Result<(), Error> {
    if let Err(why) = rule::check(&s.name, NAME_CAPACITY) {
        let place = if path.is_empty() {
            "the schema name".to_owned()
        } else {
            format!("the struct name of field `{path}`")
        };
        return Err(Error(format!(
            "{place} \"{}\" {why}: names must be identifiers in every target language",
            rule::escaped(&s.name)
        )));
    }
    for f in &s.fields {
        if let Err(why) = rule::check(&f.name, MAX_IDENT_LEN) {
            return Err(Error(format!(
                "struct `{}`: field name \"{}\" {why}: names must be identifiers in every target language",
                s.name,
                rule::escaped(&f.name)
            )));
        }
        let fpath = if path.is_empty() {
            f.name.clone()
        } else {
            format!("{path}.{}", f.name)
        };
        let mut t = dims(&f.ty).0;
        while let TypeInfo::Ring { elem, .. } | TypeInfo::Queue { elem, .. } = t {
            t = dims(elem).0;
        }
        if let TypeInfo::Struct(inner) = t {
            check_names(inner, &fpath)?;
        }
    }
    Ok(())
}

/// A (valid) name as an identifier of a language that reserves the names
/// for which `reserved` is true: a `_` is appended to a reserved name and
/// to a name that ends with `_`. Injective: a result that ends with `_`
/// comes from exactly one name (drop the `_`), and one that does not was
/// not changed; so two names never map to the same identifier, whatever
/// `reserved` says for each.
fn target_name(name: &str, reserved: impl Fn(&str) -> bool) -> String {
    if name.ends_with('_') || reserved(name) {
        format!("{name}_")
    } else {
        name.to_owned()
    }
}

/// The identifiers declared in one scope of a generated file, with what
/// each stands for: a second declaration of one identifier is an error
/// naming both.
struct Scope<'a> {
    lang: &'a str,
    place: String,
    seen: HashMap<String, String>,
}

impl<'a> Scope<'a> {
    fn new(lang: &'a str, place: impl Into<String>) -> Self {
        Scope {
            lang,
            place: place.into(),
            seen: HashMap::new(),
        }
    }

    fn declare(&mut self, ident: &str, what: impl Into<String>) -> Result<(), Error> {
        let what = what.into();
        match self.seen.get(ident) {
            Some(first) => Err(Error(format!(
                "{}: {first} and {what} would both be called `{ident}` in {}",
                self.place, self.lang
            ))),
            None => {
                self.seen.insert(ident.to_owned(), what);
                Ok(())
            }
        }
    }
}

/// A name made into an ASCII identifier: other characters become `_`, and
/// a leading digit gets a `_` before it. Lossy (not injective): used for
/// file names only, which it keeps free of `/`, `.` and the like.
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

/// Field names of one struct in a language, through [`target_name`]
/// (`map`), each declared in `scope` (which may hold names declared
/// before, such as generated members).
fn field_names(
    s: &Schema,
    map: impl Fn(&str) -> String,
    scope: &mut Scope,
) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for f in &s.fields {
        let n = map(&f.name);
        scope.declare(&n, format!("field `{}`", f.name))?;
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
    // The types whose storage is an integer or bytes: an enum is its
    // `repr`; a `FixedStr<N>` is `N + 2` bytes (a little-endian `u16`
    // length, then the text).
    match t {
        TypeInfo::Enum(e) => (prim_type(e.repr), lens),
        TypeInfo::Str { cap } => {
            lens.push(cap + 2);
            (prim_type(Prim::U8), lens)
        }
        t => (t, lens),
    }
}

/// A `'static` `TypeInfo::Prim(p)`.
fn prim_type(p: Prim) -> &'static TypeInfo {
    macro_rules! all {
        ($($p:ident),*) => { [$(TypeInfo::Prim(Prim::$p)),*] };
    }
    static ALL: [TypeInfo; 21] = all!(
        U8, I8, U16, I16, U32, I32, U64, I64, F32, F64, AtomicU8, AtomicI8, AtomicU16, AtomicI16,
        AtomicU32, AtomicI32, AtomicU64, AtomicI64, Bool, Char, Utf16
    );
    &ALL[usize::from(p.code()) - 1]
}

/// The contents of a C (and C++) string literal: printable ASCII as is
/// but `"`, `\\` and `?` (no trigraph can form) escaped, every other byte
/// of the UTF-8 encoding as a three-digit octal escape (valid for any
/// value, and never continued by a following digit).
fn c_string(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'"' | b'\\' | b'?' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b' '..=b'~' => out.push(char::from(b)),
            b => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out
}

/// The contents of a C# regular string literal: printable ASCII as is but
/// `"` and `\\` escaped, every other UTF-16 unit as `\\uXXXX` (so no line
/// terminator, U+0085, U+2028 or U+2029 included, can end the literal).
fn cs_string(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c => {
                for u in c.encode_utf16(&mut [0; 2]) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out
}

/// The contents of a Python string literal (also a docstring's): printable
/// ASCII as is but `"` and `\\` escaped, every other character as
/// `\\uXXXX` or, outside the BMP, `\\UXXXXXXXX` (one escape per character,
/// never a surrogate).
fn py_string(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out
}

/// Text for a comment: printable ASCII as is, every other character as
/// `\\u{XXXX}` (no line terminator of any language, no bidirectional
/// override, nothing outside ASCII).
fn plain_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            ' '..='~' => out.push(c),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    out
}

/// Text safe inside a C (and C++) `/* */` comment: [`plain_text`] without
/// `*/`, `/*` (which `-Wcomment` reports), `//` or `??` (a trigraph such as
/// `??/` is replaced under `-std=c11`).
fn c_comment(s: &str) -> String {
    let mut out = plain_text(s);
    for (from, to) in [("*/", "* /"), ("/*", "/ *"), ("//", "/ /"), ("??", "? ?")] {
        while out.contains(from) {
            out = out.replace(from, to);
        }
    }
    out
}

/// Text safe inside a C# `//` comment or XML doc comment: [`plain_text`]
/// with `<`, `>` and `&` replaced.
fn cs_comment(s: &str) -> String {
    plain_text(s).replace(['<', '>', '&'], "_")
}

mod api;
mod c;
mod csharp;
mod python;

pub use api::{
    DESCRIPTOR_FILE_EXTENSION, descriptor_source, from_descriptor, from_layout, generate_for,
    layout_source, read_descriptor, read_descriptor_file, write_bindings, write_bindings_for,
};
/// The schema model the generators take (re-exported from
/// [`shm_runtime::descriptor`]).
pub use shm_runtime::descriptor::Schema;

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
        assert_eq!(
            py_string("a\"b\\c\u{e9}\u{1f600}"),
            "a\\\"b\\\\c\\u00e9\\U0001f600"
        );
        assert_eq!(
            cs_string("a\u{2028}\u{85}\u{1f600}"),
            "a\\u2028\\u0085\\ud83d\\ude00"
        );
        assert_eq!(c_string("a??/\u{e9}\n"), "a\\?\\?/\\303\\251\\012");
        assert_eq!(c_comment("x*/y/*z??/ ???/"), "x* /y/ *z? ?/ ? ? ?/");
        assert_eq!(cs_comment("<a>\u{202e}\u{2029}"), "_a_\\u{202e}\\u{2029}");
    }

    #[test]
    fn header_schema_covers_256_bytes_without_gaps() {
        let h = header_schema();
        assert_eq!(h.gaps(), vec![]);
        assert_eq!(h.fields.iter().map(|f| f.size).sum::<u64>(), 256);
        let enc = h.encode();
        assert!(shm_runtime::descriptor::decode(&enc).is_ok());
        // The atomic words, and only they, are atomics.
        for f in &h.fields {
            let is_atomic =
                matches!(&f.ty, TypeInfo::Prim(p) if p.rust_name().starts_with("Atomic"));
            assert_eq!(
                is_atomic,
                header::ATOMIC_FIELDS.contains(&(f.offset as usize)),
                "{}",
                f.name
            );
        }
        assert_eq!(h.name, "SegmentHeader");
        assert_eq!(h.version, u32::from(header::HEADER_VERSION));
    }
}
