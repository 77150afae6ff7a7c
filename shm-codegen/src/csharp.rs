//! The C# struct, `[StructLayout(LayoutKind.Explicit)]` with a
//! `[FieldOffset]` on every field.

use std::fmt::Write as _;

use shm_runtime::Prim;
use shm_runtime::descriptor::Schema;
use shm_runtime::descriptor::{EnumInfo, TypeInfo};
use shm_runtime::header::{self, HEADER_SIZE};

use super::{Error, Scope, cs_comment, cs_string, field_names, header_schema, target_name};

const KEYWORDS: &[&str] = &[
    "abstract",
    "as",
    "base",
    "bool",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "checked",
    "class",
    "const",
    "continue",
    "decimal",
    "default",
    "delegate",
    "do",
    "double",
    "else",
    "enum",
    "event",
    "explicit",
    "extern",
    "false",
    "finally",
    "fixed",
    "float",
    "for",
    "foreach",
    "goto",
    "if",
    "implicit",
    "in",
    "int",
    "interface",
    "internal",
    "is",
    "lock",
    "long",
    "namespace",
    "new",
    "null",
    "object",
    "operator",
    "out",
    "override",
    "params",
    "private",
    "protected",
    "public",
    "readonly",
    "ref",
    "return",
    "sbyte",
    "sealed",
    "short",
    "sizeof",
    "stackalloc",
    "static",
    "string",
    "struct",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "uint",
    "ulong",
    "unchecked",
    "unsafe",
    "ushort",
    "using",
    "virtual",
    "void",
    "volatile",
    "while",
];

/// Members the generated structs declare, and names the generated code
/// looks up from inside them (attributes, namespaces): no field or nested
/// struct may take them.
const MEMBERS: &[&str] = &[
    "SchemaName",
    "SchemaVersion",
    "Fingerprint",
    "Size",
    "SegmentHeader",
    "Magic",
    "Version",
    "HeaderSize",
    "StateReady",
    "StructLayout",
    "StructLayoutAttribute",
    "FieldOffset",
    "FieldOffsetAttribute",
    "LayoutKind",
    "System",
    "Runtime",
    "InteropServices",
    "Shm",
    "Schemas",
    "Reader",
    // What the reader uses from inside the root struct, where a nested
    // struct of the same name would be found first.
    "Volatile",
    "Threading",
    "Thread",
    "Interlocked",
    "Header",
    "Load",
    "Check",
    "TryCopy",
    "TryRead",
    // The rest of the generated runtime (Segment, validation, strings).
    "Segment",
    "ShmException",
    "TakeOver",
    "Native",
    "Win32",
    "Validate",
    "Bad",
    "StrError",
    "Utf8Invalid",
    "DecodeStr",
    "EncodeStr",
];

/// Arrays of structs up to this many elements become one field per element.
const MAX_UNROLLED: u64 = 64;

fn prim(p: Prim) -> &'static str {
    use Prim::*;
    match p {
        U8 | AtomicU8 => "byte",
        I8 | AtomicI8 => "sbyte",
        U16 | AtomicU16 => "ushort",
        I16 | AtomicI16 => "short",
        U32 | AtomicU32 => "uint",
        I32 | AtomicI32 => "int",
        U64 | AtomicU64 => "ulong",
        I64 | AtomicI64 => "long",
        F32 => "float",
        F64 => "double",
        // Checked by `Validate` (0 or 1) before a value is returned.
        Bool => "bool",
        // A Unicode scalar value (checked by `Validate`).
        Char => "uint",
        Utf16 => "char",
    }
}

/// The innermost element of nested arrays and the lengths, outermost
/// first. Unlike `super::dims`, enums and strings stay what they are: C#
/// has a type for each.
fn dims(t: &TypeInfo) -> (&TypeInfo, Vec<u64>) {
    let mut lens = Vec::new();
    let mut t = t;
    while let TypeInfo::Array { elem, len } = t {
        lens.push(*len);
        t = elem;
    }
    (t, lens)
}

/// The C# type of a `FixedStr<cap>`.
fn str_type(cap: u64) -> String {
    format!("FixedStr{cap}")
}

/// A struct's name in C#: keywords and [`MEMBERS`] mapped.
fn type_name(name: &str) -> String {
    target_name(name, |n| KEYWORDS.contains(&n) || MEMBERS.contains(&n))
}

fn emit_struct(
    out: &mut String,
    s: &Schema,
    name: &str,
    indent: &str,
    reserved: &[String],
    consts: &str,
    inner: &str,
) -> Result<(), Error> {
    // A member may not be named like its struct (CS0542), and the root's
    // members include the nested structs.
    let mut scope = Scope::new("C#", format!("struct `{}`", s.name));
    scope.declare(name, format!("struct `{}` itself", s.name))?;
    for r in reserved {
        if r != name {
            scope.declare(r, format!("the nested struct `{r}`"))?;
        }
    }
    let names = field_names(
        s,
        |n| {
            target_name(n, |n| {
                KEYWORDS.contains(&n)
                    || MEMBERS.contains(&n)
                    || n == name
                    || reserved.iter().any(|r| r == n)
            })
        },
        &mut scope,
    )?;
    // Arrays of structs become one field per element, `{field}_{i}`.
    for (f, n) in s.fields.iter().zip(&names) {
        let (base, lens) = dims(&f.ty);
        let total: u64 = lens.iter().product();
        if matches!(base, TypeInfo::Struct(_) | TypeInfo::Str { .. })
            && !lens.is_empty()
            && total <= MAX_UNROLLED
        {
            for i in 0..total {
                scope.declare(
                    &format!("{n}_{i}"),
                    format!("element {i} of field `{}`", f.name),
                )?;
            }
        }
    }
    let _ = writeln!(
        out,
        "{indent}/// <summary>`{}` v{}: {} bytes, alignment {} (native byte order).</summary>",
        cs_comment(&s.name),
        s.version,
        s.size,
        s.align
    );
    let _ = writeln!(
        out,
        "{indent}[StructLayout(LayoutKind.Explicit, Size = {})]",
        s.size
    );
    let _ = writeln!(out, "{indent}public unsafe struct {name}\n{indent}{{");
    for line in consts.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{indent}    {line}");
        }
    }
    for (f, n) in s.fields.iter().zip(&names) {
        let (base, lens) = dims(&f.ty);
        let total: u64 = lens.iter().product();
        let shape = if lens.len() > 1 {
            format!(" ({})", f.ty)
        } else {
            String::new()
        };
        let atomic = match base {
            TypeInfo::Prim(p) if p.rust_name().starts_with("Atomic") => {
                "atomic: use Interlocked/Volatile through a pointer"
            }
            _ => "",
        };
        let doc = match (shape.is_empty(), atomic.is_empty()) {
            (true, true) => String::new(),
            (true, false) => format!(" // {atomic}"),
            (false, true) => format!(" //{shape}"),
            (false, false) => format!(" //{shape}, {atomic}"),
        };
        match (base, lens.is_empty()) {
            (TypeInfo::Prim(p), true) => {
                let _ = writeln!(
                    out,
                    "{indent}    [FieldOffset({})] public {} {n};{doc}",
                    f.offset,
                    prim(*p)
                );
            }
            (TypeInfo::Struct(inner), true) => {
                let _ = writeln!(
                    out,
                    "{indent}    [FieldOffset({})] public {} {n};{doc}",
                    f.offset,
                    type_name(&inner.name)
                );
            }
            (TypeInfo::Enum(e), true) => {
                let _ = writeln!(
                    out,
                    "{indent}    [FieldOffset({})] public {} {n};",
                    f.offset,
                    type_name(&e.name)
                );
            }
            (TypeInfo::Str { cap }, true) => {
                let _ = writeln!(
                    out,
                    "{indent}    [FieldOffset({})] public {} {n}; // FixedStr<{cap}>: .Get(), .Set(s)",
                    f.offset,
                    str_type(*cap)
                );
            }
            (_, false) if total == 0 => {
                let _ = writeln!(
                    out,
                    "{indent}    // {n}: zero-length array at offset {}",
                    f.offset
                );
            }
            (TypeInfo::Prim(p), false) => {
                let _ = writeln!(
                    out,
                    "{indent}    [FieldOffset({})] public fixed {} {n}[{total}];{doc}",
                    f.offset,
                    prim(*p)
                );
            }
            (TypeInfo::Enum(e), false) => {
                let _ = writeln!(
                    out,
                    "{indent}    [FieldOffset({})] public fixed {} {n}[{total}]; // {} ({}): values of enum {}",
                    f.offset,
                    prim(e.repr),
                    f.name,
                    f.ty,
                    type_name(&e.name)
                );
            }
            (TypeInfo::Struct(_) | TypeInfo::Str { .. }, false) if total <= MAX_UNROLLED => {
                let es = f.size / total;
                let ty = match base {
                    TypeInfo::Struct(inner) => type_name(&inner.name),
                    TypeInfo::Str { cap } => str_type(*cap),
                    // Not reached: the arm matches structs and strings only.
                    _ => String::new(),
                };
                for i in 0..total {
                    let _ = writeln!(
                        out,
                        "{indent}    [FieldOffset({})] public {} {n}_{i};{}",
                        f.offset + i * es,
                        ty,
                        if i == 0 {
                            format!(" // {} ({})", f.name, f.ty)
                        } else {
                            String::new()
                        }
                    );
                }
            }
            (TypeInfo::Ring { .. } | TypeInfo::Queue { .. }, _) => {
                let _ = writeln!(
                    out,
                    "{indent}    [FieldOffset({})] public fixed byte {n}[{}]; // {} ({}): placeholder, no C# stream API yet",
                    f.offset, f.size, f.name, f.ty
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{indent}    [FieldOffset({})] public fixed byte {n}[{}]; // {} ({}): raw bytes",
                    f.offset, f.size, f.name, f.ty
                );
            }
        }
    }
    out.push_str(inner);
    let _ = writeln!(out, "{indent}}}");
    Ok(())
}

pub(crate) fn generate(schema: &Schema, nested: &[&Schema], source: &str) -> Result<String, Error> {
    let name = type_name(&schema.name);
    let fp = schema.fingerprint();
    let mut reserved: Vec<String> = nested.iter().map(|s| type_name(&s.name)).collect();
    reserved.push(name.clone());
    let (enums, caps) = enums_and_strings(schema);
    for e in &enums {
        reserved.push(type_name(&e.name));
    }
    for cap in &caps {
        reserved.push(str_type(*cap));
    }
    let mut out = String::new();
    let _ = write!(
        out,
        r#"// <auto-generated>
// {file}: C# bindings for the shared-memory schema `{schema_name}` v{version}.
// Generated by `shm codegen --lang csharp` from {source}.
// Do not edit: regenerate instead. The segment format is documented in
// docs/FORMAT.md. Compile with unsafe code enabled (fixed-size buffers).
// {name}.Segment.Open(name[, writable]) opens /dev/shm/NAME (Linux) or the
// Win32 named mapping NAME and checks a private copy of its header once;
// Read() copies the payload with the alternating-copies protocol of
// docs/FORMAT.md ("Concurrency protocol") at the offsets it checked and
// validates every bool, char, enum and string as the Rust reader does;
// WaitForChange(since, ms) waits for a write; Claim(), Write(value) and
// Release() write with the Rust claim protocol (docs/FORMAT.md "The claim
// word"). The lower-level {name}.Reader (Check, TryRead) never stores to
// the segment (bindings/csharp/tests/ReadMySharedData.cs shows it).{streams}
// </auto-generated>
using System.Runtime.InteropServices;
using System.Threading;

namespace Shm.Schemas
{{
"#,
        file = super::file_name(super::Lang::CSharp, schema),
        schema_name = cs_comment(&schema.name),
        version = schema.version,
        source = cs_comment(source),
        streams = if schema.streams().is_some_and(|s| !s.is_empty()) {
            "\n// Rings and queues are not supported in C# yet: their fields are 8-byte\n\
             // placeholders here; use the C, Python or Rust bindings for them."
        } else {
            ""
        },
    );
    let mut inner = String::new();
    for e in &enums {
        emit_enum(&mut inner, e);
    }
    for cap in &caps {
        inner.push_str(
            &FIXED_STR
                .replace("{cap}", &cap.to_string())
                .replace("{size}", &(cap + 2).to_string()),
        );
    }
    for s in nested {
        inner.push('\n');
        emit_struct(
            &mut inner,
            s,
            &type_name(&s.name),
            "        ",
            &reserved,
            "",
            "",
        )?;
    }
    inner.push('\n');
    let header_consts = format!(
        "public const string Magic = \"SHMTYPE\\0\";\npublic const ushort Version = {};\npublic const int HeaderSize = {HEADER_SIZE};\npublic const uint StateReady = {};\n\n",
        header::HEADER_VERSION,
        header::STATE_READY
    );
    emit_struct(
        &mut inner,
        &header_schema(),
        "SegmentHeader",
        "        ",
        &[],
        &header_consts,
        "",
    )?;
    let consts = format!(
        "public const string SchemaName = \"{}\";\npublic const uint SchemaVersion = {};\n/// <summary>FNV-1a 64 of the schema descriptor; equals the segment header's fingerprint.</summary>\npublic const ulong Fingerprint = 0x{fp:016x}UL;\npublic const int Size = {};\n\n",
        cs_string(&schema.name),
        schema.version,
        schema.size
    );
    inner.push_str(&READER.replace("{name}", &name));
    inner.push_str(&validate(schema));
    inner.push_str(&SEGMENT.replace("{name}", &name));
    emit_struct(&mut out, schema, &name, "    ", &reserved, &consts, &inner)?;
    out.push_str("}\n");
    Ok(out)
}

/// The reader class every generated struct holds (`{name}` is the struct).
const READER: &str = r#"
        /// <summary>A checked segment: Check validates a private copy of the
        /// header once and keeps it (Header); reads use only its offsets, so
        /// nothing written to the segment later can make them leave the
        /// mapping. Every load from the segment is a whole aligned 8-byte
        /// word (Volatile.Read), the size of the writers' stores.</summary>
        public sealed unsafe class Reader
        {
            readonly byte* basePtr;
            /// <summary>The header as checked (private copy).</summary>
            public readonly SegmentHeader Header;

            Reader(byte* p, SegmentHeader h) { basePtr = p; Header = h; }

            static ulong Load(byte* p) { return Volatile.Read(ref *(ulong*)p); }

            /// <summary>Checks the `len` bytes at `p` (a mapping of a whole
            /// segment, 8-byte aligned): null and a Reader if they hold a
            /// ready segment of this schema, else what is wrong.</summary>
            public static string Check(byte* p, long len, out Reader reader)
            {
                reader = null;
                if (p == null || len < SegmentHeader.HeaderSize)
                    return "the object is smaller than the 256-byte segment header";
                if (((ulong)p & 7) != 0)
                    return "the mapping is not 8-byte aligned";
                // The word holding `state` first (acquire), then the rest.
                ulong word8 = Load(p + 8);
                SegmentHeader h;
                byte* d = (byte*)&h;
                for (int i = 0; i + 8 < SegmentHeader.HeaderSize; i += 8)
                    *(ulong*)(d + i) = Load(p + i);
                *(ulong*)(d + 8) = word8;
                *(ulong*)(d + SegmentHeader.HeaderSize - 8) = 0; // waiters, notify
                for (int i = 0; i < 8; i++)
                    if (h.magic[i] != (byte)SegmentHeader.Magic[i])
                        return "not a typed shared-memory segment (wrong magic)";
                if (h.header_version != SegmentHeader.Version || h.header_size != SegmentHeader.HeaderSize)
                    return "unsupported segment header version";
                if (h.state != SegmentHeader.StateReady)
                    return "the segment is not initialised";
                if ((h.flags & ~1u) != 0)
                    return "the segment's flags have an unknown bit";
                if ((h.schema_seq & 1) != 0)
                    return "the segment's schema is being upgraded in place (open it again later)";
                if (h.fingerprint != Fingerprint)
                    return "the segment holds another schema (its fingerprint differs)";
                ulong room = ((ulong)Size + 7) & ~7UL, n = (ulong)len;
                if (h.payload_size != (ulong)Size || h.payload_offset % 8 != 0
                    || h.payload_offset < (ulong)SegmentHeader.HeaderSize
                    || h.payload_offset > n || n - h.payload_offset < room)
                    return "the segment's payload lies outside the object";
                if (h.backup_offset % 8 != 0 || h.backup_offset < h.payload_offset
                    || h.backup_offset - h.payload_offset < room
                    || h.backup_offset > n || n - h.backup_offset < room)
                    return "the backup copy of the segment's payload is misplaced or lies outside the object";
                reader = new Reader(p, h);
                return null;
            }

            // One attempt at a consistent copy of the payload. Writes
            // alternate between the two copies: the latest is the one whose
            // counter (odd while it is written) is even and larger (equal:
            // the primary; the larger odd: the other; "larger" wrapping, as
            // a signed difference). Its counter must be
            // unchanged around the copy (acquire reads of both counters
            // before it, a full fence and a second read after it).
            bool TryCopy(out {name} value, out ulong seq)
            {
                value = default({name});
                ulong p = Load(basePtr + 128);
                ulong q = Load(basePtr + 240);
                bool backup = (q & 1) == 0 && ((p & 1) != 0 || unchecked((long)(q - p)) > 0);
                int seqAt = backup ? 240 : 128;
                seq = backup ? q : p;
                if ((seq & 1) != 0) return false;
                byte* src = basePtr + (backup ? Header.backup_offset : Header.payload_offset);
                {name} copy;
                byte* dst = (byte*)&copy;
                int i = 0;
                for (; i + 8 <= Size; i += 8)
                    *(ulong*)(dst + i) = Load(src + i);
                if (i < Size)
                {
                    ulong w = Load(src + i);
                    byte* b = (byte*)&w;
                    for (int k = 0; i + k < Size; k++) dst[i + k] = b[k];
                }
                Thread.MemoryBarrier();
                value = copy;
                return Load(basePtr + seqAt) == seq;
            }

            /// <summary>A consistent copy of the payload and its version (the
            /// number of the write that produced it): the latest of the two
            /// copies, at most `maxTries` attempts. False if every attempt
            /// failed (a damaged segment, both copies marked as being
            /// written).</summary>
            public bool TryRead(out {name} value, out ulong version, long maxTries)
            {
                for (long t = 0; t < maxTries; t++)
                {
                    ulong s;
                    if (TryCopy(out value, out s))
                    {
                        version = s / 2;
                        return true;
                    }
                }
                value = default({name});
                version = 0;
                return false;
            }
        }
"#;

/// The segment class, its exception and helpers (`{name}` is the struct).
const SEGMENT: &str = include_str!("csharp_segment.cs");

/// The C# `FixedStr<N>` struct (`{cap}` is N, `{size}` N + 2).
const FIXED_STR: &str = r#"
        /// <summary>A `FixedStr<{cap}>`: a little-endian u16 length, then
        /// {cap} bytes of which the first `length` are UTF-8. Get() checks
        /// both (ShmException otherwise); Set(s) refuses a string longer
        /// than {cap} bytes of UTF-8.</summary>
        [StructLayout(LayoutKind.Explicit, Size = {size})]
        public unsafe struct FixedStr{cap}
        {
            public const int Capacity = {cap};
            [FieldOffset(0)] public fixed byte raw[{size}];
            public string Get() { fixed (byte* p = raw) return DecodeStr(p, Capacity); }
            public void Set(string s) { fixed (byte* p = raw) EncodeStr(p, Capacity, s); }
            public static FixedStr{cap} From(string s) { var f = default(FixedStr{cap}); f.Set(s); return f; }
            public override string ToString() { return Get(); }
        }
"#;

/// The enums and string capacities used anywhere in `root`, each once.
fn enums_and_strings(root: &Schema) -> (Vec<&EnumInfo>, Vec<u64>) {
    // (The message types of rings and queues too: their structs are
    // emitted, so the enums and strings they use must be.)
    fn visit<'a>(t: &'a TypeInfo, enums: &mut Vec<&'a EnumInfo>, caps: &mut Vec<u64>) {
        match dims(t).0 {
            TypeInfo::Enum(e) if !enums.iter().any(|o| o.name == e.name) => enums.push(e),
            TypeInfo::Str { cap } if !caps.contains(cap) => caps.push(*cap),
            TypeInfo::Struct(inner) => {
                for f in &inner.fields {
                    visit(&f.ty, enums, caps);
                }
            }
            TypeInfo::Ring { elem, .. } | TypeInfo::Queue { elem, .. } => visit(elem, enums, caps),
            _ => {}
        }
    }
    let (mut enums, mut caps) = (Vec::new(), Vec::new());
    for f in &root.fields {
        visit(&f.ty, &mut enums, &mut caps);
    }
    caps.sort_unstable();
    (enums, caps)
}

/// A C# literal of an enum value (`value` sign- or zero-extended to 64
/// bits, as the descriptor stores it).
fn enum_literal(repr: Prim, value: u64) -> String {
    if repr.is_signed() {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn emit_enum(out: &mut String, e: &EnumInfo) {
    let _ = writeln!(
        out,
        "\n        /// <summary>The shared enum `{}` (`repr({})`). A field of it holds one of\n        /// these values (Validate checks).</summary>\n        public enum {} : {}\n        {{",
        cs_comment(&e.name),
        e.repr.rust_name(),
        type_name(&e.name),
        prim(e.repr)
    );
    for (v, value) in &e.variants {
        let _ = writeln!(
            out,
            "            {} = {},",
            target_name(v, |n| KEYWORDS.contains(&n) || n == "value__"),
            enum_literal(e.repr, *value)
        );
    }
    out.push_str("        }\n");
}

/// `Validate(byte* v)`: checks every `bool`, `char`, enum and string of
/// the value at `v` as the Rust reader does; null, or the first bad field
/// with its path and value.
fn validate(schema: &Schema) -> String {
    let mut body = String::new();
    let mut n = 0;
    checks(&mut body, schema, "0", "\"\"", "", 3, &mut n);
    format!(
        r#"
        /// <summary>Checks the value at `v` (Size bytes) as the Rust reader
        /// does: every bool 0 or 1, every char a Unicode scalar value,
        /// every enum one of its variants, every string no longer than its
        /// capacity and UTF-8. Null, or what is wrong (the field's path and
        /// the bad value; never the segment's text).</summary>
        public static unsafe string Validate(byte* v)
        {{
{body}            return null;
        }}
"#
    )
}

/// Whether a value of `t` can be invalid.
fn needs_check(t: &TypeInfo) -> bool {
    match dims(t).0 {
        TypeInfo::Prim(p) => matches!(p, Prim::Bool | Prim::Char),
        TypeInfo::Enum(_) | TypeInfo::Str { .. } => true,
        TypeInfo::Struct(s) => s.fields.iter().any(|f| needs_check(&f.ty)),
        TypeInfo::Array { .. } | TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => false,
    }
}

/// The checks of the fields of `s` at byte offset `base` (a C#
/// expression), named `path` (a C# string expression) + `sep` + the
/// field's name.
fn checks(
    out: &mut String,
    s: &Schema,
    base: &str,
    path: &str,
    sep: &str,
    depth: usize,
    n: &mut usize,
) {
    for f in s.fields.iter().filter(|f| needs_check(&f.ty)) {
        let (elem, lens) = dims(&f.ty);
        let total: u64 = lens.iter().product();
        if total == 0 {
            continue;
        }
        let es = f.size / total;
        let mut ind = "    ".repeat(depth);
        let mut flat = String::from("0");
        let mut p = if path == "\"\"" {
            format!("\"{}\"", cs_string(&f.name))
        } else {
            format!("{path} + \"{sep}{}\"", cs_string(&f.name))
        };
        let opened = lens.len();
        for len in &lens {
            *n += 1;
            let i = format!("i{n}");
            let _ = writeln!(out, "{ind}for (long {i} = 0; {i} < {len}; {i}++)\n{ind}{{");
            ind.push_str("    ");
            flat = format!("({flat}) * {len} + {i}");
            p = format!("{p} + \"[\" + {i} + \"]\"");
        }
        *n += 1;
        let o = format!("o{n}");
        let at = if lens.is_empty() {
            format!("{base} + {}", f.offset)
        } else {
            format!("{base} + {} + ({flat}) * {es}", f.offset)
        };
        let _ = writeln!(out, "{ind}{{\n{ind}    long {o} = {at};");
        let inner = format!("{ind}    ");
        let bad = |what: &str| format!("return Bad({p}, {what});");
        match elem {
            TypeInfo::Prim(Prim::Bool) => {
                let _ = writeln!(
                    out,
                    "{inner}if (v[{o}] > 1) {}",
                    bad(&format!(
                        "\"byte 0x\" + v[{o}].ToString(\"x2\") + \" is not a bool (0 = false, 1 = true)\""
                    ))
                );
            }
            TypeInfo::Prim(_) => {
                let _ = writeln!(
                    out,
                    "{inner}uint c = *(uint*)(v + {o});\n{inner}if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {}",
                    bad(
                        "\"0x\" + c.ToString(\"x\") + \" is not a Unicode scalar value (a char: 0 to 0x10ffff, not 0xd800 to 0xdfff)\""
                    )
                );
            }
            TypeInfo::Enum(e) => {
                let wide = if e.repr.is_signed() { "long" } else { "ulong" };
                let cond = e
                    .variants
                    .iter()
                    .map(|(_, value)| format!("x != {}", enum_literal(e.repr, *value)))
                    .collect::<Vec<_>>();
                let cond = if cond.is_empty() {
                    "true".to_owned()
                } else {
                    cond.join(" && ")
                };
                let known = e
                    .variants
                    .iter()
                    .map(|(v, value)| format!("{} = {}", v, enum_literal(e.repr, *value)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = writeln!(
                    out,
                    "{inner}{wide} x = *({}*)(v + {o});\n{inner}if ({cond}) {}",
                    prim(e.repr),
                    bad(&format!(
                        "x + \" is not a variant of enum `{}` ({})\"",
                        cs_string(&e.name),
                        cs_string(&known)
                    ))
                );
            }
            TypeInfo::Str { cap } => {
                let _ = writeln!(
                    out,
                    "{inner}string e = StrError(v + {o}, {cap});\n{inner}if (e != null) {}",
                    bad("e")
                );
            }
            TypeInfo::Struct(inner_s) => {
                checks(out, inner_s, &o, &p, ".", depth + 1 + opened, n);
            }
            TypeInfo::Array { .. } | TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => {}
        }
        let _ = writeln!(out, "{ind}}}");
        for _ in 0..opened {
            ind.truncate(ind.len() - 4);
            let _ = writeln!(out, "{ind}}}");
        }
    }
}
