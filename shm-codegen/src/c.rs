//! The C header (C11 and C++17): the structs, a validating reader, and on
//! Linux a waiter and a writer. Its schema-independent C lives in `c/`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use shm_runtime::Prim;
use shm_runtime::descriptor::{EnumInfo, Schema, TypeInfo};
use shm_runtime::header::{self, HEADER_SIZE};
use shm_runtime::ident::{self as rule, MAX_IDENT_LEN};

use super::{
    Error, Member, Scope, c_comment, c_string, field_names, header_schema, members, snake,
    target_name,
};

mod names;
mod streams;

use names::{enum_type_name, field_reserved, type_name};

fn prim(p: Prim) -> &'static str {
    use Prim::*;
    match p {
        U8 | AtomicU8 => "uint8_t",
        I8 | AtomicI8 => "int8_t",
        U16 | AtomicU16 => "uint16_t",
        I16 | AtomicI16 => "int16_t",
        U32 | AtomicU32 => "uint32_t",
        I32 | AtomicI32 => "int32_t",
        U64 | AtomicU64 => "uint64_t",
        I64 | AtomicI64 => "int64_t",
        F32 => "float",
        F64 => "double",
        // The storage; every read validates (`shm_check_bool`,
        // `shm_check_char`): a C `bool` holding 2 would be undefined.
        Bool => "uint8_t",
        Char => "uint32_t",
        Utf16 => "uint16_t",
    }
}

fn is_atomic(p: Prim) -> bool {
    p.rust_name().starts_with("Atomic")
}

/// The innermost element of nested arrays and the lengths, outermost
/// first (enums and strings kept: C has types for them here).
fn strip_arrays(t: &TypeInfo) -> (&TypeInfo, Vec<u64>) {
    let mut lens = Vec::new();
    let mut t = t;
    while let TypeInfo::Array { elem, len } = t {
        lens.push(*len);
        t = elem;
    }
    (t, lens)
}

/// The C names of the types a schema uses: its structs and enums.
struct Names<'a> {
    derived: &'a [String],
    enums: &'a [(&'a EnumInfo, String)],
}

impl Names<'_> {
    fn enum_name(&self, e: &EnumInfo) -> &str {
        self.enums
            .iter()
            .find(|(x, _)| x.name == e.name)
            .map(|(_, n)| n.as_str())
            .unwrap_or("uint8_t")
    }

    /// The C type of a non-array type.
    fn base(&self, t: &TypeInfo) -> String {
        match t {
            TypeInfo::Prim(p) => prim(*p).to_owned(),
            TypeInfo::Struct(s) => type_name(&s.name, self.derived),
            TypeInfo::Enum(e) => self.enum_name(e).to_owned(),
            TypeInfo::Str { cap } => format!("shm_str{cap}"),
            // A ring's placeholder word (the ring is in the stream area).
            TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => "uint64_t".to_owned(),
            TypeInfo::Array { .. } => unreachable!("strip_arrays strips arrays"),
        }
    }
}

/// `int32_t value`, `float numbers[50]`, `Inner pair[2]`, `shm_str8 name`.
fn decl(t: &TypeInfo, name: &str, owner: &str, names: &Names) -> Result<String, Error> {
    let (base, lens) = strip_arrays(t);
    let mut d = format!("{} {name}", names.base(base));
    for l in lens {
        if l == 0 {
            return Err(Error(format!(
                "struct `{owner}`, field `{name}`: C has no zero-length arrays"
            )));
        }
        let _ = write!(d, "[{l}]");
    }
    Ok(d)
}

/// What a field's type holds for a reader to validate.
fn needs_check(t: &TypeInfo) -> bool {
    match t {
        TypeInfo::Prim(p) => matches!(p, Prim::Bool | Prim::Char),
        TypeInfo::Array { elem, .. } => needs_check(elem),
        TypeInfo::Struct(s) => s.fields.iter().any(|f| needs_check(&f.ty)),
        TypeInfo::Enum(_) | TypeInfo::Str { .. } => true,
        TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => false,
    }
}

/// The statements that check the value `expr` of type `t`, whose path is
/// the first `at` bytes of `path`.
fn emit_check(out: &mut String, t: &TypeInfo, expr: &str, at: &str, depth: usize, names: &Names) {
    let pad = "    ".repeat(depth + 1);
    let call = |out: &mut String, c: String| {
        let _ = writeln!(out, "{pad}if ((r = {c}) != SHM_OK)\n{pad}    return r;");
    };
    match t {
        TypeInfo::Prim(Prim::Bool) => {
            call(out, format!("shm_check_bool({expr}, path, msg, msg_cap)"))
        }
        TypeInfo::Prim(Prim::Char) => {
            call(out, format!("shm_check_char({expr}, path, msg, msg_cap)"))
        }
        TypeInfo::Prim(_) | TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => {}
        TypeInfo::Enum(e) => call(
            out,
            format!(
                "shm_check_enum_{}({expr}, path, msg, msg_cap)",
                names.enum_name(e)
            ),
        ),
        TypeInfo::Str { cap } => call(
            out,
            format!("shm_check_str(&{expr}, {cap}u, NULL, path, msg, msg_cap)"),
        ),
        TypeInfo::Struct(s) => call(
            out,
            format!(
                "shm_validate_{}(&{expr}, path, {at}, msg, msg_cap)",
                type_name(&s.name, names.derived)
            ),
        ),
        TypeInfo::Array { elem, len } => {
            let i = format!("shm_i{depth}");
            let n = format!("shm_n{depth}");
            let _ = writeln!(out, "{pad}{{\n{pad}    size_t {i};");
            let _ = writeln!(out, "{pad}    for ({i} = 0; {i} < {len}u; {i}++) {{");
            let _ = writeln!(
                out,
                "{pad}        size_t {n} = shm_path_index(path, {at}, {i});\n{pad}        (void){n};"
            );
            emit_check(out, elem, &format!("{expr}[{i}]"), &n, depth + 2, names);
            let _ = writeln!(out, "{pad}    }}\n{pad}}}");
        }
    }
}

/// `shm_validate_NAME`: checks every field of a `c_name` value as the
/// Rust reader does, naming the field path.
fn emit_validator(out: &mut String, s: &Schema, c_name: &str, fields: &[String], names: &Names) {
    let _ = writeln!(
        out,
        "/* Checks a `{c_name}` value (a private copy) as the Rust reader does; `path`\n * (SHM_PATH_CAP bytes) holds its field path, `at` bytes long. */"
    );
    let _ = writeln!(
        out,
        "static inline int shm_validate_{c_name}(const {c_name} *v, char *path, size_t at, char *msg,\n{}size_t msg_cap)\n{{",
        " ".repeat(29 + c_name.len())
    );
    let checked: Vec<_> = s
        .fields
        .iter()
        .zip(fields)
        .filter(|(f, _)| needs_check(&f.ty))
        .collect();
    if checked.is_empty() {
        out.push_str("    (void)v;\n    (void)path;\n    (void)at;\n    (void)msg;\n    (void)msg_cap;\n    return SHM_OK;\n}\n\n");
        return;
    }
    out.push_str("    int r;\n    size_t n;\n");
    for (f, cname) in checked {
        let _ = writeln!(
            out,
            "    n = shm_path_field(path, at, \"{}\");",
            c_string(&f.name)
        );
        emit_check(out, &f.ty, &format!("v->{cname}"), "n", 0, names);
    }
    out.push_str("    (void)n;\n    return SHM_OK;\n}\n\n");
}

fn emit_struct(
    out: &mut String,
    s: &Schema,
    c_name: &str,
    macro_prefix: &str,
    names: &Names,
) -> Result<Vec<String>, Error> {
    let derived = names.derived;
    if s.size == 0 {
        return Err(Error(format!(
            "struct `{}` is empty, which C does not allow",
            s.name
        )));
    }
    let mut scope = Scope::new("C", format!("struct `{}`", s.name));
    let fields = field_names(
        s,
        |n| target_name(n, |n| field_reserved(n, derived)),
        &mut scope,
    )?;
    for (at, _) in s.gaps() {
        scope.declare(
            &format!("_shm_gap_{at}"),
            format!("the padding at offset {at}"),
        )?;
    }
    let natural = s.fields.iter().map(|f| f.ty.align()).max().unwrap_or(1);
    let _ = writeln!(
        out,
        "/* `{}` v{}: {} bytes, alignment {}. */",
        c_comment(&s.name),
        s.version,
        s.size,
        s.align
    );
    let _ = writeln!(out, "typedef struct {c_name} {{");
    let mut first = true;
    for m in members(s, &fields) {
        let align = if first && s.align > natural {
            format!("SHM_ALIGNAS({}) ", s.align)
        } else {
            String::new()
        };
        first = false;
        match m {
            Member::Field(f, n) => {
                let note = match strip_arrays(&f.ty).0 {
                    TypeInfo::Prim(p) if is_atomic(*p) => {
                        ", atomic: access with __atomic builtins".to_owned()
                    }
                    TypeInfo::Prim(Prim::Bool) => ", bool: 0 or 1".to_owned(),
                    TypeInfo::Prim(Prim::Char) => ", char: a Unicode scalar value".to_owned(),
                    TypeInfo::Prim(Prim::Utf16) => ", a UTF-16 code unit".to_owned(),
                    TypeInfo::Enum(e) => format!(", enum `{}`", c_comment(&e.name)),
                    TypeInfo::Str { cap } => format!(", a string of at most {cap} bytes"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "    {align}{}; /* offset {}, size {}{note} */",
                    decl(&f.ty, n, &s.name, names)?,
                    f.offset,
                    f.size
                );
            }
            Member::Gap(at, len) => {
                let _ = writeln!(
                    out,
                    "    {align}uint8_t _shm_gap_{at}[{len}]; /* offset {at}: padding, not in the Rust struct */"
                );
            }
        }
    }
    let _ = writeln!(out, "}} {c_name};");
    let _ = writeln!(
        out,
        "SHM_STATIC_ASSERT(sizeof({c_name}) == {}, \"{c_name}: size must be {}\");",
        s.size, s.size
    );
    let _ = writeln!(
        out,
        "SHM_STATIC_ASSERT(SHM_ALIGNOF({c_name}) == {}, \"{c_name}: alignment must be {}\");",
        s.align, s.align
    );
    for (f, n) in s.fields.iter().zip(&fields) {
        let _ = writeln!(
            out,
            "SHM_STATIC_ASSERT(offsetof({c_name}, {n}) == {}, \"{c_name}.{n}: offset must be {}\");",
            f.offset, f.offset
        );
    }
    if !macro_prefix.is_empty() {
        let _ = writeln!(out, "#define {macro_prefix}_SIZE {}u", s.size);
    }
    out.push('\n');
    Ok(fields)
}

/// The C preamble: feature-test macro and includes.
const PRELUDE: &str = include_str!("c/prelude.h");
/// The macros of the common part: static assertions, atomics, error codes.
const COMMON: &str = include_str!("c/macros.h");
/// The schema-independent part, emitted once with the segment header: the
/// private header copy, the view a check fills, the snapshot read of
/// `docs/FORMAT.md` ("Concurrency protocol"), the value checks, and on
/// Linux the waiter and the writer.
const RUNTIME: &str = include_str!("c/runtime.h");
/// Its Linux part, right after it: the waiter and the writer.
const RUNTIME_LINUX: &str = include_str!("c/linux.h");

/// Every enum and every string capacity `s` uses, nested structs included.
fn collect<'a>(
    s: &'a Schema,
    enums: &mut Vec<&'a EnumInfo>,
    caps: &mut BTreeSet<u64>,
) -> Result<(), Error> {
    for f in &s.fields {
        // The message types of rings and queues too.
        let mut t = strip_arrays(&f.ty).0;
        while let TypeInfo::Ring { elem, .. } | TypeInfo::Queue { elem, .. } = t {
            t = strip_arrays(elem).0;
        }
        match t {
            TypeInfo::Enum(e) => match enums.iter().find(|x| x.name == e.name) {
                Some(x) if **x == **e => {}
                Some(_) => {
                    return Err(Error(format!("two different enums are named `{}`", e.name)));
                }
                None => enums.push(e),
            },
            TypeInfo::Str { cap } => {
                caps.insert(*cap);
            }
            TypeInfo::Struct(inner) => collect(inner, enums, caps)?,
            _ => {}
        }
    }
    Ok(())
}

/// FNV-1a 64 of `bytes` (a guard name's tag).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A variant's value as a C constant of the enum's type `t`.
fn enum_value(repr: Prim, v: u64, t: &str) -> String {
    if repr.is_signed() {
        let v = v as i64;
        if v == i64::MIN {
            format!("(({t})(INT64_C(-9223372036854775807) - 1))")
        } else {
            format!("(({t})INT64_C({v}))")
        }
    } else {
        format!("(({t})UINT64_C({v}))")
    }
}

/// The constant names of enum `e` (C name `t`), one per variant.
fn variant_macros(e: &EnumInfo, t: &str) -> Vec<String> {
    let prefix = snake(t).to_ascii_uppercase();
    e.variants
        .iter()
        .map(|(v, _)| format!("{prefix}_{}", snake(v).to_ascii_uppercase()))
        .collect()
}

fn emit_enum(out: &mut String, e: &EnumInfo, t: &str) {
    let guard = format!(
        "SHM_ENUM_{t}_{:016x}_DEFINED",
        fnv(format!("{e:?}").as_bytes())
    );
    let repr = prim(e.repr);
    let _ = writeln!(out, "#ifndef {guard}\n#define {guard}");
    let _ = writeln!(
        out,
        "/* Enum `{}`, stored as its {repr}: one of the constants below; the\n * readers refuse any other value. */",
        c_comment(&e.name)
    );
    let _ = writeln!(out, "typedef {repr} {t};");
    let macros = variant_macros(e, t);
    for ((_, v), m) in e.variants.iter().zip(&macros) {
        let _ = writeln!(out, "#define {m} {}", enum_value(e.repr, *v, t));
    }
    let _ = writeln!(
        out,
        "\n/* The name of variant `v`, or NULL if it is none (an invalid value). */"
    );
    let _ = writeln!(out, "static inline const char *{t}_name({t} v)\n{{");
    for ((name, _), m) in e.variants.iter().zip(&macros) {
        let _ = writeln!(
            out,
            "    if (v == {m})\n        return \"{}\";",
            c_string(name)
        );
    }
    out.push_str("    return NULL;\n}\n\n");
    let known: Vec<String> = e
        .variants
        .iter()
        .map(|(n, v)| format!("{n} = {}", shm_runtime::layout::repr_display(e.repr, *v)))
        .collect();
    let known = known.join(", ");
    let (fmt, cast) = if e.repr.is_signed() {
        ("%lld", "long long")
    } else {
        ("%llu", "unsigned long long")
    };
    let _ = writeln!(
        out,
        "/* SHM_OK if `v` is a variant of `{}`, else SHM_ERR_INVALID naming the\n * field path and the value. */",
        c_comment(&e.name)
    );
    let _ = writeln!(
        out,
        "static inline int shm_check_enum_{t}({t} v, const char *path, char *msg, size_t msg_cap)\n{{"
    );
    let _ = writeln!(out, "    char what[{}];", known.len() + e.name.len() + 80);
    let _ = writeln!(out, "    if ({t}_name(v) != NULL)\n        return SHM_OK;");
    let _ = writeln!(
        out,
        "    snprintf(what, sizeof what, \"{fmt} is not a variant of enum `%s` (%s)\", ({cast})v,\n             \"{}\", \"{}\");",
        c_string(&e.name),
        c_string(&known)
    );
    out.push_str("    return shm_invalid(msg, msg_cap, path, what);\n}\n#endif\n\n");
}

fn emit_str(out: &mut String, cap: u64) {
    let t = format!("shm_str{cap}");
    let _ = write!(
        out,
        r#"#ifndef SHM_STR{cap}_DEFINED
#define SHM_STR{cap}_DEFINED
/* FixedStr<{cap}>: a little-endian u16 length (len[0] the low byte), then
 * {cap} bytes of which the first `length` are UTF-8 (no terminating NUL);
 * alignment 1. */
typedef struct {t} {{
    uint8_t len[2];
    char bytes[{cap}];
}} {t};
SHM_STATIC_ASSERT(sizeof({t}) == {size} && SHM_ALIGNOF({t}) == 1, "{t}: {size} bytes, alignment 1");

/* The text of *s, checked as the Rust reader does: SHM_OK, its bytes in
 * *text (not NUL-terminated) and their number in *len; or SHM_ERR_INVALID
 * and what is wrong in msg. */
static inline int {t}_get(const {t} *s, const char **text, size_t *len, char *msg,
{pad}size_t msg_cap)
{{
    size_t n = 0;
    int r = shm_check_str(s, {cap}u, &n, "", msg, msg_cap);
    if (r != SHM_OK)
        return r;
    *text = s->bytes;
    *len = n;
    return SHM_OK;
}}

/* Sets *s to the `len` bytes of UTF-8 at `text` (the rest zeroed): SHM_OK,
 * or SHM_ERR_INVALID (*s unchanged) if they are more than {cap} or not UTF-8. */
static inline int {t}_set({t} *s, const char *text, size_t len)
{{
    return shm_set_str(s, {cap}u, text, len);
}}
#endif

"#,
        size = cap + 2,
        pad = " ".repeat(22 + t.len()),
    );
}

pub(crate) fn generate(schema: &Schema, nested: &[&Schema], source: &str) -> Result<String, Error> {
    let name = type_name(&schema.name, &[]);
    let lower = snake(&name);
    let upper = lower.to_ascii_uppercase();
    let mut enums = Vec::new();
    let mut caps = BTreeSet::new();
    collect(schema, &mut enums, &mut caps)?;
    // What the file declares at file scope from the root schema's name.
    let mut derived: Vec<String> = [
        format!("{lower}_check"),
        format!("{lower}_payload"),
        format!("{lower}_read"),
        format!("{lower}_read_with_version"),
        format!("{lower}_validate"),
        format!("{lower}_claim"),
        format!("{lower}_write"),
        format!("{upper}_SCHEMA_NAME"),
        format!("{upper}_SCHEMA_VERSION"),
        format!("{upper}_FINGERPRINT"),
        format!("{upper}_SIZE"),
    ]
    .into();
    let mut file = Scope::new("C", "the header's file scope");
    for d in &derived {
        file.declare(d, format!("the generated `{d}`"))?;
    }
    for (d, what) in streams::declared(schema, &lower, &upper) {
        file.declare(&d, what)?;
        derived.push(d);
    }
    file.declare(&name, format!("struct `{}`", schema.name))?;
    // Enums: a type, a constant per variant (macros, so field names must
    // avoid them), `_name` and `shm_check_enum_`.
    let mut enum_names = Vec::new();
    for e in &enums {
        for n in std::iter::once(&e.name).chain(e.variants.iter().map(|(n, _)| n)) {
            if let Err(why) = rule::check(n, MAX_IDENT_LEN) {
                return Err(Error(format!(
                    "enum `{}`: the name \"{}\" {why}: names must be identifiers in every target language",
                    rule::escaped(&e.name),
                    rule::escaped(n)
                )));
            }
        }
        let t = enum_type_name(&e.name, &derived);
        file.declare(&t, format!("enum `{}`", e.name))?;
        file.declare(
            &format!("{t}_name"),
            format!("the name function of enum `{}`", e.name),
        )?;
        for ((v, _), m) in e.variants.iter().zip(variant_macros(e, &t)) {
            file.declare(&m, format!("variant `{v}` of enum `{}`", e.name))?;
            derived.push(m);
        }
        enum_names.push((*e, t));
    }
    let names = Names {
        derived: &derived,
        enums: &enum_names,
    };
    let fp = schema.fingerprint();
    let has_streams = schema.streams().is_some_and(|s| !s.is_empty());
    let mut out = String::new();
    let _ = write!(
        out,
        r#"/* {file}: C and C++ bindings for the shared-memory schema `{schema_name}` v{version}.
 *
 * Generated by `shm codegen --lang c` from {source}.
 * Do not edit: regenerate instead. The segment format is documented in
 * docs/FORMAT.md; every size and offset below is checked by a static
 * assertion. The header compiles as C11 and as C++17.
 *
 * Reading a segment: shm_open(name, O_RDONLY) + fstat + mmap(PROT_READ) of
 * the whole object, then {lower}_check(base, size, &view) once and
 * {lower}_read(&view, &value, tries, msg, sizeof msg) as often as needed.
 * The check keeps a private copy of the header in `view`; reads use only
 * that copy, so no later change to the segment can make them leave the
 * mapping. A read never waits for a writer, never stores to the segment,
 * and validates every value as the Rust reader does (bool, char, enums,
 * strings), naming the field path and the bad value in `msg`.
 *
 * Waiting (Linux): shm_wait_for_change(&view, since, timeout_ms, how, &v).
 * Writing (Linux): shm_open(name, O_RDWR) + mmap(PROT_READ | PROT_WRITE),
 * {lower}_claim(&w, fd, base, size, wait_ms, &take, msg, sizeof msg), then
 * {lower}_write(&w, &value, msg, sizeof msg), and shm_writer_release(&w):
 * the claim protocol (claim word, writer lock, take-over from a dead
 * owner, repair) and the write protocol of the Rust runtime.{streams_note}
 */
#ifndef SHM_{upper}_H
#define SHM_{upper}_H

"#,
        file = super::file_name(super::Lang::C, schema),
        schema_name = c_comment(&schema.name),
        version = schema.version,
        source = c_comment(source),
        streams_note = if has_streams {
            format!(
                "\n *\n * Rings and queues: the `{lower}_<field>_...` functions at the end\n \
                 * (subscribe, try_recv, recv_timeout, publish; consumer_claim, peek,\n \
                 * ack, try_send)."
            )
        } else {
            String::new()
        },
    );
    out.push_str(PRELUDE);
    out.push_str("\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    // The header is the same in every generated file: guard it separately.
    out.push_str("#ifndef SHM_SEGMENT_HEADER_DEFINED\n#define SHM_SEGMENT_HEADER_DEFINED\n\n");
    out.push_str(COMMON);
    let _ = writeln!(
        out,
        "\n#define SHM_MAGIC \"SHMTYPE\" /* 8 bytes, with the terminating NUL */"
    );
    let _ = writeln!(
        out,
        "#define SHM_HEADER_VERSION {}u",
        header::HEADER_VERSION
    );
    let _ = writeln!(out, "#define SHM_HEADER_SIZE {HEADER_SIZE}u");
    let _ = writeln!(out, "#define SHM_STATE_READY {}u\n", header::STATE_READY);
    out.push_str("/* The 256-byte header at offset 0 of every segment (native byte order). */\n");
    let plain = Names {
        derived: &[],
        enums: &[],
    };
    emit_struct(&mut out, &header_schema(), "shm_segment_header", "", &plain)?;
    out.push_str(RUNTIME);
    out.push_str(RUNTIME_LINUX);
    out.push_str("#endif /* SHM_SEGMENT_HEADER_DEFINED */\n\n");
    if has_streams {
        out.push_str(streams::RUNTIME);
        out.push('\n');
    }

    for (e, t) in &enum_names {
        emit_enum(&mut out, e, t);
    }
    for cap in &caps {
        emit_str(&mut out, *cap);
    }
    for s in nested {
        let n = type_name(&s.name, &derived);
        file.declare(&n, format!("struct `{}`", s.name))?;
        // Guarded by name and layout: another header that declares the same
        // struct skips it, one with a different struct of that name fails
        // to compile instead of silently using one layout for both.
        let guard = format!("SHM_STRUCT_{n}_{:016x}_DEFINED", s.fingerprint());
        let _ = writeln!(out, "#ifndef {guard}\n#define {guard}");
        let fields = emit_struct(&mut out, s, &n, "", &names)?;
        emit_validator(&mut out, s, &n, &fields, &names);
        let _ = writeln!(out, "#endif\n");
    }

    let _ = writeln!(
        out,
        "#define {upper}_SCHEMA_NAME \"{}\"",
        c_string(&schema.name)
    );
    let _ = writeln!(out, "#define {upper}_SCHEMA_VERSION {}u", schema.version);
    let _ = writeln!(
        out,
        "/* FNV-1a 64 of the schema descriptor; equals the header's fingerprint. */"
    );
    let _ = writeln!(out, "#define {upper}_FINGERPRINT UINT64_C(0x{fp:016x})");
    let fields = emit_struct(&mut out, schema, &name, &upper, &names)?;
    emit_validator(&mut out, schema, &name, &fields, &names);

    let _ = write!(
        out,
        r#"/* Checks once that the `len` bytes at `base` (a mapping of a whole
 * segment, 8-byte aligned) hold a ready segment of schema `{schema_name}`,
 * on a private copy of its header, and fills *view with what it checked.
 * Returns NULL if they do, otherwise a message saying what is wrong. */
static inline const char *{lower}_check(const void *base, size_t len, shm_view *view)
{{
    const char *err = shm_view_open(base, len, view);
    if (err == NULL)
        err = shm_check_view(view, {upper}_FINGERPRINT, sizeof({name}), SHM_ALIGNOF({name}));
    if (err != NULL)
        memset(view, 0, sizeof(*view));
    return err;
}}

/* A pointer to the live payload's primary copy, at the checked offset
 * (NULL if the view was not checked). Writes alternate between the two
 * copies, so this one holds the latest value or the one before, and other
 * processes may write it at any time (a writer that died in the middle of
 * a write may leave it torn until the next writer repairs it): prefer
 * {lower}_read for a consistent, validated copy, and access it only with
 * atomic loads of whole aligned 8-byte words. */
static inline const {name} *{lower}_payload(const shm_view *view)
{{
    if (view->base == NULL)
        return NULL;
    return (const {name} *)(const void *)(view->base + view->header.payload_offset);
}}

/* Checks the value *value as the Rust runtime does on every read and
 * write: every bool 0 or 1, every char a Unicode scalar value, every enum
 * one of its variants, every string at most its capacity and UTF-8.
 * SHM_OK, or SHM_ERR_INVALID and in msg (unless NULL) "field `PATH` holds
 * an invalid value: WHAT" (numbers only, never the segment's bytes). */
static inline int {lower}_validate(const {name} *value, char *msg, size_t msg_cap)
{{
    char path[SHM_PATH_CAP];
    path[0] = '\0';
    return shm_validate_{name}(value, path, 0, msg, msg_cap);
}}

/* {lower}_read, and the version of the value: the number of the write that
 * produced it (the copy's counter / 2). */
static inline int {lower}_read_with_version(const shm_view *view, {name} *out,
                                            unsigned long max_tries, uint64_t *version,
                                            char *msg, size_t msg_cap)
{{
    int r = shm_read_snapshot(view, out, sizeof(*out), max_tries, version);
    if (r != SHM_OK)
        return shm_fail(msg, msg_cap, r, "no complete copy of the payload (a damaged segment)");
    return {lower}_validate(out, msg, msg_cap);
}}

/* Copies a consistent snapshot of the payload into *out (shm_read_snapshot:
 * the latest of the two copies; it never waits for a writer, dead or
 * alive) and validates it ({lower}_validate). SHM_OK; SHM_ERR_NO_COPY if
 * no complete copy could be read in `max_tries` attempts (the copy
 * rewritten under every attempt, or a damaged segment) or the view was
 * not checked; SHM_ERR_INVALID. A message in msg unless it is NULL. */
static inline int {lower}_read(const shm_view *view, {name} *out, unsigned long max_tries,
                               char *msg, size_t msg_cap)
{{
    return {lower}_read_with_version(view, out, max_tries, NULL, msg, msg_cap);
}}

#if defined(__linux__)
/* Claims write access (shm_writer_claim) to a segment of schema
 * `{schema_name}` mapped read-write at `base` (`len` bytes, `fd` its
 * object opened O_RDWR), waiting up to `wait_ms` for a live owner. */
static inline int {lower}_claim(shm_writer *w, int fd, void *base, size_t len, uint64_t wait_ms,
                                shm_takeover *take, char *msg, size_t msg_cap)
{{
    return shm_writer_claim(w, fd, base, len, {upper}_FINGERPRINT, sizeof({name}),
                            SHM_ALIGNOF({name}), wait_ms, take, msg, msg_cap);
}}

/* Validates *value ({lower}_validate), then writes it (shm_writer_write). */
static inline int {lower}_write(shm_writer *w, const {name} *value, char *msg, size_t msg_cap)
{{
    int r = {lower}_validate(value, msg, msg_cap);
    if (r != SHM_OK)
        return r;
    return shm_writer_write(w, value, sizeof(*value), msg, msg_cap);
}}
#endif /* __linux__ */

"#,
        schema_name = c_comment(&schema.name),
    );
    if has_streams {
        streams::emit(&mut out, schema, &name, &lower, &upper, &names)?;
    }
    let _ = write!(
        out,
        "#ifdef __cplusplus\n}}\n#endif\n\n#endif /* SHM_{upper}_H */\n"
    );
    Ok(out)
}
