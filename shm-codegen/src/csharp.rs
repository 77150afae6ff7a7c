//! The C# struct, `[StructLayout(LayoutKind.Explicit)]` with a
//! `[FieldOffset]` on every field.

use std::fmt::Write as _;

use shm_runtime::Prim;
use shm_runtime::descriptor::Schema;
use shm_runtime::descriptor::TypeInfo;
use shm_runtime::header::{self, HEADER_SIZE};

use super::{Error, Scope, cs_comment, cs_string, dims, field_names, header_schema, target_name};

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
    "Header",
    "Load",
    "Check",
    "TryCopy",
    "TryRead",
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
        // Validated in Rust; here the storage.
        Bool => "byte",
        Char => "uint",
        Utf16 => "char",
    }
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
        if matches!(base, TypeInfo::Struct(_)) && !lens.is_empty() && total <= MAX_UNROLLED {
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
            (TypeInfo::Struct(inner), false) if total <= MAX_UNROLLED => {
                let es = inner.size;
                for i in 0..total {
                    let _ = writeln!(
                        out,
                        "{indent}    [FieldOffset({})] public {} {n}_{i};{}",
                        f.offset + i * es,
                        type_name(&inner.name),
                        if i == 0 {
                            format!(" // {} ({})", f.name, f.ty)
                        } else {
                            String::new()
                        }
                    );
                }
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
    let mut out = String::new();
    let _ = write!(
        out,
        r#"// <auto-generated>
// {file}: C# bindings for the shared-memory schema `{schema_name}` v{version}.
// Generated by `shm codegen --lang csharp` from {source}.
// Do not edit: regenerate instead. The segment format is documented in
// docs/FORMAT.md. Compile with unsafe code enabled (fixed-size buffers).
// Map the whole segment read-only (MemoryMappedFile), then
// {name}.Reader.Check(pointer, length, out reader) once: it checks a private
// copy of the SegmentHeader and keeps it; reader.TryRead(out value, ...)
// copies the payload with the two-copy protocol of docs/FORMAT.md
// ("Concurrency protocol") at the offsets it checked, never the live
// header's (bindings/csharp/tests/ReadMySharedData.cs shows how). It never
// waits for a writer and never stores to the segment.
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
    );
    let mut inner = String::new();
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
