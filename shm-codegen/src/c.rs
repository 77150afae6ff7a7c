//! The C11 header.

use std::fmt::Write as _;

use shm_runtime::Prim;
use shm_runtime::descriptor::{Schema, TypeInfo};
use shm_runtime::header::{self, HEADER_SIZE};

use super::{
    Error, Member, Scope, c_comment, c_string, dims, field_names, header_schema, members, snake,
    target_name,
};

const KEYWORDS: &[&str] = &[
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    "bool",
    "true",
    "false",
    "alignas",
    "alignof",
    "static_assert",
    "thread_local",
    "nullptr",
    "constexpr",
    "typeof",
    "typeof_unqual",
    "asm",
];

/// Object-like and function-like macros of `<stddef.h>`, `<stdint.h>` and
/// `<string.h>` (ISO C and GNU modes), and macros compilers predefine
/// without a reserved prefix (`linux`, `unix` in GNU modes, `i386` on
/// x86-32): a field so named would be replaced by the preprocessor.
const MACROS: &[&str] = &[
    "NULL",
    "offsetof",
    "linux",
    "unix",
    "i386",
    "SIZE_MAX",
    "PTRDIFF_MIN",
    "PTRDIFF_MAX",
    "SIG_ATOMIC_MIN",
    "SIG_ATOMIC_MAX",
    "WCHAR_MIN",
    "WCHAR_MAX",
    "WINT_MIN",
    "WINT_MAX",
    "INTPTR_MIN",
    "INTPTR_MAX",
    "UINTPTR_MAX",
    "INTMAX_MIN",
    "INTMAX_MAX",
    "UINTMAX_MAX",
    "INTMAX_C",
    "UINTMAX_C",
];

/// Typedefs and functions `<stddef.h>`, `<stdint.h>` and `<string.h>`
/// declare (ISO C, POSIX and GNU), and the parameter and local variable
/// names of the generated functions: a struct type so named would clash
/// with them, or be shadowed where the generated code names it.
const FILE_SCOPE: &[&str] = &[
    "size_t",
    "ptrdiff_t",
    "wchar_t",
    "max_align_t",
    "intptr_t",
    "uintptr_t",
    "intmax_t",
    "uintmax_t",
    "locale_t",
    "bcmp",
    "bcopy",
    "bzero",
    "explicit_bzero",
    "ffs",
    "ffsl",
    "ffsll",
    "index",
    "memccpy",
    "memchr",
    "memcmp",
    "memcpy",
    "memmove",
    "memset",
    "rindex",
    "stpcpy",
    "stpncpy",
    "strcasecmp",
    "strcasecmp_l",
    "strcat",
    "strchr",
    "strcmp",
    "strcoll",
    "strcoll_l",
    "strcpy",
    "strcspn",
    "strdup",
    "strerror",
    "strerror_l",
    "strerror_r",
    "strlen",
    "strncasecmp",
    "strncasecmp_l",
    "strncat",
    "strncmp",
    "strncpy",
    "strndup",
    "strnlen",
    "strpbrk",
    "strrchr",
    "strsep",
    "strsignal",
    "strspn",
    "strstr",
    "strtok",
    "strtok_r",
    "strxfrm",
    "strxfrm_l",
    "strdupa",
    "strndupa",
    "memrchr",
    "rawmemchr",
    "strchrnul",
    "strcasestr",
    "memmem",
    "mempcpy",
    "strverscmp",
    "strfry",
    "memfrob",
    "basename",
    "sigabbrev_np",
    "sigdescr_np",
    "strerrordesc_np",
    "strerrorname_np",
    "strlcpy",
    "strlcat",
    // Parameters and locals of the generated functions.
    "base",
    "len",
    "h",
    "b",
    "dst",
    "src",
    "seq",
    "seq_out",
    "s",
    "s1",
    "t",
    "i",
    "w",
    "out",
    "max_tries",
    "version",
];

/// Whether a name is one of the `<stdint.h>` integer typedefs or macros
/// (`int8_t`, `uint_least16_t`, `INT32_MAX`, `UINT64_C`, ...).
fn stdint_name(n: &str) -> bool {
    let lower = n.to_ascii_lowercase();
    let rest = lower.strip_prefix('u').unwrap_or(&lower);
    let Some(rest) = rest.strip_prefix("int") else {
        return false;
    };
    let rest = rest
        .strip_prefix("_least")
        .or_else(|| rest.strip_prefix("_fast"))
        .unwrap_or(rest);
    let digits = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    digits.len() < rest.len() && ["_t", "_max", "_min", "_c"].contains(&digits)
}

/// Whether a field name must be mapped in C: a keyword, a library macro,
/// or a name of the `SHM_`/`_shm_` families the generated code uses
/// (`macros` are the ones derived from the root schema's name).
fn field_reserved(n: &str, macros: &[String]) -> bool {
    KEYWORDS.contains(&n)
        || MACROS.contains(&n)
        || stdint_name(n)
        || n.starts_with("SHM_")
        || n.starts_with("_shm_")
        || macros.iter().any(|m| m == n)
}

/// Whether a struct type name must be mapped in C: a reserved field name,
/// a library or generated name at file scope (`shm_...`, the functions
/// derived from the root schema's name, in `derived`).
fn type_reserved(n: &str, derived: &[String]) -> bool {
    field_reserved(n, derived)
        || FILE_SCOPE.contains(&n)
        || n.to_ascii_lowercase().starts_with("shm_")
}

/// The C type name of a struct named `n`.
fn type_name(n: &str, derived: &[String]) -> String {
    target_name(n, |n| type_reserved(n, derived))
}

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
    }
}

fn is_atomic(p: Prim) -> bool {
    p.rust_name().starts_with("Atomic")
}

/// `int32_t value`, `float numbers[50]`, `Inner pair[2]`.
fn decl(t: &TypeInfo, name: &str, owner: &str, derived: &[String]) -> Result<String, Error> {
    let (base, lens) = dims(t);
    let base = match base {
        TypeInfo::Prim(p) => prim(*p).to_owned(),
        TypeInfo::Struct(s) => type_name(&s.name, derived),
        TypeInfo::Array { .. } => unreachable!("dims strips arrays"),
    };
    let mut d = format!("{base} {name}");
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

fn emit_struct(
    out: &mut String,
    s: &Schema,
    c_name: &str,
    macro_prefix: &str,
    derived: &[String],
) -> Result<(), Error> {
    if s.size == 0 {
        return Err(Error(format!(
            "struct `{}` is empty, which C does not allow",
            s.name
        )));
    }
    let mut scope = Scope::new("C", format!("struct `{}`", s.name));
    let names = field_names(
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
    for m in members(s, &names) {
        let align = if first && s.align > natural {
            format!("_Alignas({}) ", s.align)
        } else {
            String::new()
        };
        first = false;
        match m {
            Member::Field(f, n) => {
                let atomic = match dims(&f.ty).0 {
                    TypeInfo::Prim(p) if is_atomic(*p) => ", atomic: access with __atomic builtins",
                    _ => "",
                };
                let _ = writeln!(
                    out,
                    "    {align}{}; /* offset {}, size {}{atomic} */",
                    decl(&f.ty, n, &s.name, derived)?,
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
        "_Static_assert(sizeof({c_name}) == {}, \"{c_name}: size must be {}\");",
        s.size, s.size
    );
    let _ = writeln!(
        out,
        "_Static_assert(_Alignof({c_name}) == {}, \"{c_name}: alignment must be {}\");",
        s.align, s.align
    );
    for (f, n) in s.fields.iter().zip(&names) {
        let _ = writeln!(
            out,
            "_Static_assert(offsetof({c_name}, {n}) == {}, \"{c_name}.{n}: offset must be {}\");",
            f.offset, f.offset
        );
    }
    if !macro_prefix.is_empty() {
        let _ = writeln!(out, "#define {macro_prefix}_SIZE {}u", s.size);
    }
    out.push('\n');
    Ok(())
}

/// The schema-independent snapshot read of `docs/FORMAT.md`, "Concurrency
/// protocol", emitted once with the segment header.
const SNAPSHOT_READ: &str = r#"
#if defined(__GNUC__) || defined(__clang__)
/* One attempt at a consistent copy of one copy of the payload: `seq` is its
 * counter (odd while it is being written), `src` the copy, 8-byte aligned
 * (it starts at a multiple of payload_align, at least 64, in a page-aligned
 * mapping). The bytes are loaded with relaxed atomic loads, 8 at a time,
 * between an acquire load of the counter and an acquire fence followed by a
 * second load: equal even counters mean `dst` holds one write's value.
 * Returns 1 and stores the counter in *seq_out then, else 0. */
static inline int shm_try_copy(const uint64_t *seq, const unsigned char *src,
                               unsigned char *dst, size_t len, uint64_t *seq_out)
{
    uint64_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    size_t i = 0;
    if (s1 & 1u)
        return 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = __atomic_load_n((const uint64_t *)(const void *)(src + i), __ATOMIC_RELAXED);
        memcpy(dst + i, &w, 8);
    }
    for (; i < len; i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(seq, __ATOMIC_RELAXED) != s1)
        return 0;
    *seq_out = s1;
    return 1;
}

/* A consistent snapshot of the `len`-byte payload of the (checked) segment
 * at `base` into `out`: the primary copy (`seq`, payload_offset) if it is
 * not being written, else the backup copy (`backup_seq`, backup_offset),
 * which holds the previous write's value while the primary is written. So
 * it never waits for a writer, and a writer killed in the middle of a write
 * leaves a complete value behind. Another attempt is made only when both
 * copies changed during one, at most `max_tries` attempts. Returns 0, and
 * the version (the copy's counter / 2: the number of the write that
 * produced the value) in *version unless it is NULL; -1 if every attempt
 * failed. Never stores to the segment. */
static inline int shm_read_snapshot(const void *base, void *out, size_t len,
                                    unsigned long max_tries, uint64_t *version)
{
    const shm_segment_header *h = (const shm_segment_header *)base;
    const unsigned char *b = (const unsigned char *)base;
    unsigned char *dst = (unsigned char *)out;
    uint64_t s = 0;
    for (unsigned long t = 0; t < max_tries; t++) {
        if (shm_try_copy(&h->seq, b + h->payload_offset, dst, len, &s)
            || shm_try_copy(&h->backup_seq, b + h->backup_offset, dst, len, &s)) {
            if (version != NULL)
                *version = s / 2;
            return 0;
        }
    }
    return -1;
}
#endif

"#;

pub(crate) fn generate(schema: &Schema, nested: &[&Schema], source: &str) -> Result<String, Error> {
    let name = type_name(&schema.name, &[]);
    let lower = snake(&name);
    let upper = lower.to_ascii_uppercase();
    // What the file declares at file scope from the root schema's name.
    let derived: Vec<String> = [
        format!("{lower}_check"),
        format!("{lower}_payload"),
        format!("{lower}_read"),
        format!("{lower}_read_with_version"),
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
    file.declare(&name, format!("struct `{}`", schema.name))?;
    let fp = schema.fingerprint();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"/* {file}: C bindings for the shared-memory schema `{schema_name}` v{version}.
 *
 * Generated by `shm codegen --lang c` from {source}.
 * Do not edit: regenerate instead. The segment format is documented in
 * docs/FORMAT.md; every size and offset below is checked by _Static_assert.
 *
 * Reading a segment: shm_open(name, O_RDONLY) + fstat + mmap(PROT_READ) of
 * the whole object, then {lower}_check(base, size) and {lower}_read(base, &value).
 * Reading never waits for a writer and never stores to the segment.
 */
#ifndef SHM_{upper}_H
#define SHM_{upper}_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE 754 float and double");

"#,
        file = super::file_name(super::Lang::C, schema),
        schema_name = c_comment(&schema.name),
        version = schema.version,
        source = c_comment(source),
    );
    // The header is the same in every generated file: guard it separately.
    out.push_str("#ifndef SHM_SEGMENT_HEADER_DEFINED\n#define SHM_SEGMENT_HEADER_DEFINED\n\n");
    let _ = writeln!(
        out,
        "#define SHM_MAGIC \"SHMTYPE\" /* 8 bytes, with the terminating NUL */"
    );
    let _ = writeln!(
        out,
        "#define SHM_HEADER_VERSION {}u",
        header::HEADER_VERSION
    );
    let _ = writeln!(out, "#define SHM_HEADER_SIZE {HEADER_SIZE}u");
    let _ = writeln!(out, "#define SHM_STATE_READY {}u\n", header::STATE_READY);
    out.push_str("/* The 256-byte header at offset 0 of every segment (native byte order). */\n");
    emit_struct(&mut out, &header_schema(), "shm_segment_header", "", &[])?;
    out.push_str(SNAPSHOT_READ);
    out.push_str("#endif /* SHM_SEGMENT_HEADER_DEFINED */\n\n");

    for s in nested {
        let n = type_name(&s.name, &derived);
        file.declare(&n, format!("struct `{}`", s.name))?;
        // Guarded by name and layout: another header that declares the same
        // struct skips it, one with a different struct of that name fails
        // to compile instead of silently using one layout for both.
        let guard = format!("SHM_STRUCT_{n}_{:016x}_DEFINED", s.fingerprint());
        let _ = writeln!(out, "#ifndef {guard}\n#define {guard}");
        emit_struct(&mut out, s, &n, "", &derived)?;
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
    emit_struct(&mut out, schema, &name, &upper, &derived)?;

    let _ = write!(
        out,
        r#"/* Checks that the `len` bytes at `base` (a mapping of a whole segment)
 * hold a ready segment of schema `{schema_name}`. Returns NULL if they do,
 * otherwise a message saying what is wrong. */
static inline const char *{lower}_check(const void *base, size_t len)
{{
    const shm_segment_header *h = (const shm_segment_header *)base;
    if (len < sizeof(shm_segment_header))
        return "the object is smaller than the 256-byte segment header";
    if (memcmp(h->magic, SHM_MAGIC, 8) != 0)
        return "not a typed shared-memory segment (wrong magic)";
    if (h->header_version != SHM_HEADER_VERSION || h->header_size != SHM_HEADER_SIZE)
        return "unsupported segment header version";
#if defined(__GNUC__) || defined(__clang__)
    if (__atomic_load_n(&h->state, __ATOMIC_ACQUIRE) != SHM_STATE_READY)
        return "the segment is not initialised";
#else
    if (h->state != SHM_STATE_READY)
        return "the segment is not initialised";
#endif
    if (h->fingerprint != {upper}_FINGERPRINT)
        return "the segment holds another schema (its fingerprint differs)";
    if (h->payload_size != sizeof({name}) || h->payload_offset % _Alignof({name}) != 0
        || h->payload_offset % 8 != 0)
        return "the segment's payload is not laid out as this schema's";
    if (h->payload_offset > len || len - h->payload_offset < sizeof({name}))
        return "the segment's payload lies outside the object";
    if (h->backup_offset % _Alignof({name}) != 0 || h->backup_offset % 8 != 0
        || h->backup_offset < h->payload_offset + sizeof({name})
        || h->backup_offset > len || len - h->backup_offset < sizeof({name}))
        return "the backup copy of the segment's payload is misplaced or lies outside the object";
    return NULL;
}}

/* A pointer to the live payload: its primary copy (after {lower}_check).
 * Other processes may write it at any time, and a writer that died in the
 * middle of a write leaves it torn until the next writer repairs it: prefer
 * {lower}_read for a consistent copy. */
static inline const {name} *{lower}_payload(const void *base)
{{
    const shm_segment_header *h = (const shm_segment_header *)base;
    return (const {name} *)((const unsigned char *)base + h->payload_offset);
}}

#if defined(__GNUC__) || defined(__clang__)
/* Copies a consistent snapshot of the payload into *out (shm_read_snapshot:
 * the primary copy, else the backup copy; it never waits for a writer, dead
 * or alive). Returns 0, or -1 if no complete copy could be read in
 * `max_tries` attempts (both copies changing under every attempt, or a
 * damaged segment). Call {lower}_check first. */
static inline int {lower}_read(const void *base, {name} *out, unsigned long max_tries)
{{
    return shm_read_snapshot(base, out, sizeof(*out), max_tries, NULL);
}}

/* {lower}_read, and the version of the value: the number of the write that
 * produced it (the copy's counter / 2). */
static inline int {lower}_read_with_version(const void *base, {name} *out,
                                            unsigned long max_tries, uint64_t *version)
{{
    return shm_read_snapshot(base, out, sizeof(*out), max_tries, version);
}}
#endif

#endif /* SHM_{upper}_H */
"#,
        schema_name = c_comment(&schema.name),
    );
    Ok(out)
}
