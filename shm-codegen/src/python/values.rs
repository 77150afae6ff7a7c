//! The Python module's checks of values (as the Rust reader's, with its
//! messages), its `IntEnum`s and the `NAME_value` properties.

use std::fmt::Write as _;

use shm_runtime::Prim;
use shm_runtime::descriptor::{EnumInfo, Schema, TypeInfo};

use super::{KEYWORDS, class_name};
use crate::{py_string, target_name};

/// The innermost element of nested arrays and how many arrays hold it.
pub(super) fn leaf(t: &TypeInfo) -> (&TypeInfo, usize) {
    let mut t = t;
    let mut depth = 0;
    while let TypeInfo::Array { elem, .. } = t {
        t = elem;
        depth += 1;
    }
    (t, depth)
}

/// Whether a value of `t` can be invalid (the Rust reader checks it).
pub(super) fn needs_check(t: &TypeInfo) -> bool {
    match leaf(t).0 {
        TypeInfo::Prim(p) => matches!(p, Prim::Bool | Prim::Char),
        TypeInfo::Enum(_) | TypeInfo::Str { .. } => true,
        TypeInfo::Struct(s) => s.fields.iter().any(|f| needs_check(&f.ty)),
        TypeInfo::Array { .. } | TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => false,
    }
}

/// Whether a field whose innermost element is `t` gets a `NAME_value`
/// property with a natural Python value.
pub(super) fn natural(t: &TypeInfo) -> bool {
    matches!(
        t,
        TypeInfo::Prim(Prim::Bool | Prim::Char | Prim::Utf16)
            | TypeInfo::Enum(_)
            | TypeInfo::Str { .. }
    )
}

/// The natural value of the `t` (see [`natural`]) held in expression `v`.
pub(super) fn natural_expr(t: &TypeInfo, v: &str) -> String {
    match t {
        TypeInfo::Prim(Prim::Bool) => format!("bool({v})"),
        TypeInfo::Enum(e) => format!("{}({v})", class_name(&e.name)),
        TypeInfo::Str { .. } => format!("_shm_str_value({v})"),
        _ => format!("chr({v})"),
    }
}

pub(super) fn natural_doc(t: &TypeInfo, depth: usize) -> String {
    let one = match t {
        TypeInfo::Prim(Prim::Bool) => "a bool".to_owned(),
        TypeInfo::Prim(Prim::Char) => "a one-character str".to_owned(),
        TypeInfo::Prim(_) => "a one-character str (one UTF-16 code unit)".to_owned(),
        TypeInfo::Enum(e) => format!("the enum `{}`", class_name(&e.name)),
        _ => "a str".to_owned(),
    };
    if depth == 0 {
        one
    } else {
        format!("nested lists ({depth} deep) of {one}")
    }
}

/// `_shm_check(self, path)`: the first field of `s` (in order, arrays
/// element by element) that holds a value the Rust reader refuses, as
/// `(path, what)` with Rust's messages, or `None`.
pub(super) fn emit_check(out: &mut String, s: &Schema, names: &[String]) {
    let _ = writeln!(
        out,
        "\n    def _shm_check(self, path):\n        \"\"\"The first invalid field (path prefix `path`) as (path, what), as\n        the Rust reader names it, or None.\"\"\""
    );
    for (f, n) in s.fields.iter().zip(names) {
        if !needs_check(&f.ty) {
            continue;
        }
        let (elem, depth) = leaf(&f.ty);
        let mut ind = "        ".to_owned();
        let mut at = format!("path + \"{}\"", py_string(&f.name));
        let mut over = format!("self.{n}");
        for d in 1..=depth {
            let _ = writeln!(out, "{ind}for i{d}, x{d} in enumerate({over}):");
            ind.push_str("    ");
            at = format!("{at} + \"[\" + str(i{d}) + \"]\"");
            over = format!("x{d}");
        }
        let x = over;
        match elem {
            TypeInfo::Prim(Prim::Bool) => {
                let _ = writeln!(
                    out,
                    "{ind}if {x} > 1:\n{ind}    return {at}, \"byte \" + format({x}, \"#04x\") + \" is not a bool (0 = false, 1 = true)\""
                );
            }
            TypeInfo::Prim(_) => {
                let _ = writeln!(
                    out,
                    "{ind}if {x} > 0x10FFFF or 0xD800 <= {x} <= 0xDFFF:\n{ind}    return {at}, format({x}, \"#x\") + \" is not a Unicode scalar value (a char: 0 to 0x10ffff, not 0xd800 to 0xdfff)\""
                );
            }
            TypeInfo::Enum(e) => {
                let values: Vec<String> =
                    e.variants.iter().map(|(_, v)| enum_value(e, *v)).collect();
                let known: Vec<String> = e
                    .variants
                    .iter()
                    .map(|(n, v)| format!("{n} = {}", enum_value(e, *v)))
                    .collect();
                let _ = writeln!(
                    out,
                    "{ind}if {x} not in ({}):\n{ind}    return {at}, str({x}) + \" is not a variant of enum `{}` ({})\"",
                    if values.len() == 1 {
                        format!("{},", values[0])
                    } else {
                        values.join(", ")
                    },
                    py_string(&e.name),
                    py_string(&known.join(", "))
                );
            }
            TypeInfo::Str { cap } => {
                let _ = writeln!(
                    out,
                    "{ind}what = _shm_str_error({x}, {cap})\n{ind}if what is not None:\n{ind}    return {at}, what"
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{ind}bad = {x}._shm_check({at} + \".\")\n{ind}if bad is not None:\n{ind}    return bad"
                );
            }
        }
    }
    let _ = writeln!(out, "        return None");
}

/// A variant's value as Rust prints it (signed for a signed `repr`).
pub(super) fn enum_value(e: &EnumInfo, v: u64) -> String {
    shm_runtime::layout::repr_display(e.repr, v)
}

/// The `IntEnum` of a shared enum.
pub(super) fn emit_enum(out: &mut String, e: &EnumInfo) {
    let _ = writeln!(
        out,
        "class {}(enum.IntEnum):\n    \"\"\"The shared enum `{}` (`repr({})`): `NAME_value` properties give it.\"\"\"\n",
        class_name(&e.name),
        py_string(&e.name),
        e.repr.rust_name()
    );
    for (v, value) in &e.variants {
        let n = target_name(v, |n| {
            KEYWORDS.contains(&n) || n == "name" || n == "value" || n == "mro"
        });
        let _ = writeln!(out, "    {n} = {}", enum_value(e, *value));
    }
    if e.variants.is_empty() {
        let _ = writeln!(out, "    pass");
    }
    let _ = writeln!(out, "\n");
}

/// The shared enums used by `root` and its nested structs, once each.
pub(super) fn enums(root: &Schema) -> Vec<&EnumInfo> {
    fn visit<'a>(s: &'a Schema, out: &mut Vec<&'a EnumInfo>) {
        for f in &s.fields {
            match leaf(&f.ty).0 {
                TypeInfo::Enum(e) if !out.iter().any(|o| o.name == e.name) => out.push(e),
                TypeInfo::Struct(inner) => visit(inner, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    visit(root, &mut out);
    out
}

/// Whether `root` or a nested struct has a `FixedStr` field.
pub(super) fn has_str(s: &Schema) -> bool {
    s.fields.iter().any(|f| match leaf(&f.ty).0 {
        TypeInfo::Str { .. } => true,
        TypeInfo::Struct(inner) => has_str(inner),
        _ => false,
    })
}

pub(super) const CHECKING_DOC: &str = r#"
Every value read is checked as the Rust reader checks it (each bool 0 or
1, each enum one of its variants, each char a Unicode scalar value, each
string within its capacity and UTF-8); a bad one raises InvalidValue,
naming the segment, the field path and the value as Rust does.
"#;

pub(super) const NATURAL_DOC: &str = r#"
The struct fields stay the raw ctypes storage; each bool, char, Utf16,
enum and string field NAME also has a property NAME_value with its
natural value (bool, one-character str, the generated IntEnum, str; lists
for arrays), e.g. value.mode_value == Mode.Running.
"#;

/// Whether `s` or a nested struct has a field with a `NAME_value` property.
pub(super) fn has_natural(s: &Schema) -> bool {
    s.fields.iter().any(|f| match leaf(&f.ty).0 {
        TypeInfo::Struct(inner) => has_natural(inner),
        t => natural(t),
    })
}

pub(super) const INVALID: &str = r#"def _shm_escape(s):
    """`s` with every character that is not printable escaped, as the
    Rust runtime prints names and values in errors."""
    import unicodedata

    out = []
    for c in s:
        if " " <= c <= "~" or (c > "\x7f" and c.isprintable() and not unicodedata.combining(c)):
            out.append(c)
        else:
            out.append({"\0": "\\0", "\t": "\\t", "\r": "\\r", "\n": "\\n"}.get(c, f"\\u{{{ord(c):x}}}"))
    return "".join(out)


class InvalidValue(SegmentError):
    """A field holds a value its type does not allow (the Rust reader's
    Error::InvalidValue, with the same message): `segment`, `path` (e.g.
    "joints[1].mode") and `what` (the value; never the segment's text)."""

    def __init__(self, segment, path, what):
        self.segment, self.path, self.what = segment, path, what
        super().__init__(
            f"{_shm_escape(segment)}: field `{_shm_escape(path)}` holds an invalid value: {_shm_escape(what)}"
        )


"#;

pub(super) const STR_HELPERS: &str = r#"def _shm_str_error(raw, cap):
    """What is wrong with the FixedStr bytes `raw` (a little-endian u16
    length, then `cap` bytes), as the Rust reader says it, or None."""
    raw = bytes(raw)
    n = raw[0] | raw[1] << 8
    if n > cap:
        return f"string length {n} exceeds its capacity {cap}"
    try:
        raw[2:2 + n].decode("utf-8")
    except UnicodeDecodeError as e:
        return f"string of length {n} is not UTF-8: byte {e.start} is {raw[2 + e.start]:#04x}"
    return None


def _shm_str_value(raw):
    """The text of the FixedStr bytes `raw` (checked by read())."""
    raw = bytes(raw)
    return raw[2:2 + (raw[0] | raw[1] << 8)].decode("utf-8")


"#;
