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
    "seq_p",
    "seq_b",
    "p",
    "q",
    "backup",
    "v",
    "s",
    "s1",
    "t",
    "i",
    "w",
    "out",
    "max_tries",
    "version",
    "view",
    "err",
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
        // Validated in Rust; here the storage.
        Bool => "uint8_t",
        Char => "uint32_t",
        Utf16 => "uint16_t",
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
        TypeInfo::Array { .. } | TypeInfo::Enum(_) | TypeInfo::Str { .. } => {
            unreachable!("dims strips arrays and lowers enums and strings")
        }
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

/// The schema-independent part of the reader, emitted once with the
/// segment header: the loads, the private header copy, the view a check
/// fills, and the snapshot read of `docs/FORMAT.md`, "Concurrency protocol".
const SNAPSHOT_READ: &str = r#"
/* Every access to the segment is a whole, aligned 8-byte atomic load, the
 * size of the writers' stores (docs/FORMAT.md): GCC/Clang builtins, else
 * C11 atomics. */
#if defined(__GNUC__) || defined(__clang__)
#define SHM_LOAD_RELAXED(p) __atomic_load_n((const uint64_t *)(p), __ATOMIC_RELAXED)
#define SHM_LOAD_ACQUIRE(p) __atomic_load_n((const uint64_t *)(p), __ATOMIC_ACQUIRE)
#define SHM_FENCE_ACQUIRE() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
#define SHM_LOAD_RELAXED(p) atomic_load_explicit((const _Atomic uint64_t *)(const void *)(p), memory_order_relaxed)
#define SHM_LOAD_ACQUIRE(p) atomic_load_explicit((const _Atomic uint64_t *)(const void *)(p), memory_order_acquire)
#define SHM_FENCE_ACQUIRE() atomic_thread_fence(memory_order_acquire)
#else
#error "reading a segment needs GCC/Clang atomic builtins or C11 <stdatomic.h>"
#endif

/* What a check validated, kept private: a copy of the header and the
 * mapping it describes. Reads use only these offsets, never the live
 * header again: whatever any process writes into the segment after the
 * check, a read stays inside base..base+len. */
typedef struct shm_view {
    shm_segment_header header; /* private copy, as checked */
    const unsigned char *base; /* the mapping */
    size_t len;                /* its length */
} shm_view;

/* Copies the header at `base` (at least SHM_HEADER_SIZE bytes mapped) into
 * *out, one relaxed atomic 8-byte load per word; the last word (`waiters`
 * and `notify`, 4-byte futex words) is left zero. */
static inline void shm_copy_header(const void *base, shm_segment_header *out)
{
    const unsigned char *b = (const unsigned char *)base;
    unsigned char *dst = (unsigned char *)out;
    size_t i;
    for (i = 0; i + 8 < SHM_HEADER_SIZE; i += 8) {
        uint64_t w = SHM_LOAD_RELAXED(b + i);
        memcpy(dst + i, &w, 8);
    }
    memset(dst + i, 0, SHM_HEADER_SIZE - i);
}

/* The header checks every schema shares, on the private copy in `v`
 * (filled by the caller) of a `len`-byte mapping: NULL, or what is wrong.
 * `size` and `align` are the schema's. Both copies of the payload must lie
 * after the header, 8-aligned, with room for `size` bytes rounded up to
 * whole 8-byte words (reads load whole words), inside the mapping. */
static inline const char *shm_check_view(const shm_view *v, uint64_t fingerprint,
                                         size_t size, size_t align)
{
    const shm_segment_header *h = &v->header;
    uint64_t room = ((uint64_t)size + 7u) & ~(uint64_t)7u;
    uint64_t len = (uint64_t)v->len;
    if (memcmp(h->magic, SHM_MAGIC, 8) != 0)
        return "not a typed shared-memory segment (wrong magic)";
    if (h->header_version != SHM_HEADER_VERSION || h->header_size != SHM_HEADER_SIZE)
        return "unsupported segment header version";
    if (h->state != SHM_STATE_READY)
        return "the segment is not initialised";
    if (h->fingerprint != fingerprint)
        return "the segment holds another schema (its fingerprint differs)";
    if (h->payload_size != size || h->payload_offset % align != 0 || h->payload_offset % 8 != 0
        || h->payload_offset < SHM_HEADER_SIZE)
        return "the segment's payload is not laid out as this schema's";
    if (h->payload_offset > len || len - h->payload_offset < room)
        return "the segment's payload lies outside the object";
    if (h->backup_offset % align != 0 || h->backup_offset % 8 != 0
        || h->backup_offset < h->payload_offset || h->backup_offset - h->payload_offset < room
        || h->backup_offset > len || len - h->backup_offset < room)
        return "the backup copy of the segment's payload is misplaced or lies outside the object";
    return NULL;
}

/* Fills *v from the `len`-byte mapping at `base`: the state is loaded
 * (acquire) before the header is copied, so a published header is copied
 * whole. NULL, or what is wrong. */
static inline const char *shm_view_open(const void *base, size_t len, shm_view *v)
{
    memset(v, 0, sizeof(*v));
    if (base == NULL || len < SHM_HEADER_SIZE)
        return "the object is smaller than the 256-byte segment header";
    if ((uintptr_t)base % 8 != 0)
        return "the mapping is not 8-byte aligned";
    /* The word at offset 8 holds header_version, header_size and state:
     * loaded with acquire first, and that very value is the copy's, so a
     * copy whose state says ready was published before any of it was
     * loaded. */
    uint64_t word8 = SHM_LOAD_ACQUIRE((const unsigned char *)base + 8);
    shm_copy_header(base, &v->header);
    memcpy((unsigned char *)&v->header + 8, &word8, 8);
    v->base = (const unsigned char *)base;
    v->len = len;
    return NULL;
}

/* One attempt at a consistent copy of the payload. Writes alternate
 * between the two copies, each with its counter (odd while it is being
 * written): the latest copy is the one whose counter is even and larger
 * (equal: the primary; if the larger is odd, the other; "larger" in
 * serial-number order, q - p wrapping and positive as a signed number, for
 * a damaged segment with counters next to the end). Both counters are
 * loaded with acquire, the latest copy's bytes as whole aligned 8-byte
 * words with relaxed atomic loads (the last word whole too, of which only
 * the first bytes are kept: the check made room for it), then an acquire
 * fence and a second load of its counter: equal means `dst` holds one
 * write's value. Returns 1 and stores the counter in *seq_out then, else
 * 0. */
static inline int shm_try_copy(const unsigned char *b, const shm_view *v, unsigned char *dst,
                               size_t len, uint64_t *seq_out)
{
    const unsigned char *seq_p = b + offsetof(shm_segment_header, seq);
    const unsigned char *seq_b = b + offsetof(shm_segment_header, backup_seq);
    uint64_t p = SHM_LOAD_ACQUIRE(seq_p);
    uint64_t q = SHM_LOAD_ACQUIRE(seq_b);
    int backup = (q & 1u) == 0 && ((p & 1u) != 0 || (int64_t)(q - p) > 0);
    const unsigned char *seq = backup ? seq_b : seq_p;
    const unsigned char *src = b + (backup ? v->header.backup_offset : v->header.payload_offset);
    uint64_t s1 = backup ? q : p;
    size_t i = 0;
    if (s1 & 1u)
        return 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = SHM_LOAD_RELAXED(src + i);
        memcpy(dst + i, &w, 8);
    }
    if (i < len) {
        uint64_t w = SHM_LOAD_RELAXED(src + i);
        memcpy(dst + i, &w, len - i);
    }
    SHM_FENCE_ACQUIRE();
    if (SHM_LOAD_RELAXED(seq) != s1)
        return 0;
    *seq_out = s1;
    return 1;
}

/* A consistent snapshot of the `len`-byte payload of the checked view `v`
 * into `out`: the latest of the two copies (shm_try_copy). The offsets are
 * the view's, as checked. It never waits for a writer, and a writer killed
 * in the middle of a write leaves the latest complete value behind, in the
 * copy it was not writing. Another attempt is made only when the copy read
 * was rewritten during one, at most `max_tries` attempts. Returns 0, and
 * the version (the copy's counter / 2: the number of the write that
 * produced the value) in *version unless it is NULL; -1 if every attempt
 * failed or `len` is not the checked payload size. Never stores to the
 * segment. */
static inline int shm_read_snapshot(const shm_view *v, void *out, size_t len,
                                    unsigned long max_tries, uint64_t *version)
{
    const unsigned char *b = v->base;
    unsigned char *dst = (unsigned char *)out;
    uint64_t s = 0;
    if (b == NULL || len != v->header.payload_size)
        return -1;
    for (unsigned long t = 0; t < max_tries; t++) {
        if (shm_try_copy(b, v, dst, len, &s)) {
            if (version != NULL)
                *version = s / 2;
            return 0;
        }
    }
    return -1;
}

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
 * the whole object, then {lower}_check(base, size, &view) once and
 * {lower}_read(&view, &value, tries) as often as needed. The check keeps a
 * private copy of the header in `view`; reads use only that copy, so no
 * later change to the segment can make them leave the mapping. Reading
 * never waits for a writer and never stores to the segment.
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
        r#"/* Checks once that the `len` bytes at `base` (a mapping of a whole
 * segment, 8-byte aligned) hold a ready segment of schema `{schema_name}`,
 * on a private copy of its header, and fills *view with what it checked.
 * Returns NULL if they do, otherwise a message saying what is wrong. */
static inline const char *{lower}_check(const void *base, size_t len, shm_view *view)
{{
    const char *err = shm_view_open(base, len, view);
    if (err == NULL)
        err = shm_check_view(view, {upper}_FINGERPRINT, sizeof({name}), _Alignof({name}));
    if (err != NULL)
        memset(view, 0, sizeof(*view));
    return err;
}}

/* A pointer to the live payload's primary copy, at the checked offset
 * (NULL if the view was not checked). Writes alternate between the two
 * copies, so this one holds the latest value or the one before, and other
 * processes may write it at any time (a writer that died in the middle of
 * a write may leave it torn until the next writer repairs it): prefer
 * {lower}_read for a consistent copy, and access it only with atomic loads
 * of whole aligned 8-byte words. */
static inline const {name} *{lower}_payload(const shm_view *view)
{{
    if (view->base == NULL)
        return NULL;
    return (const {name} *)(const void *)(view->base + view->header.payload_offset);
}}

/* Copies a consistent snapshot of the payload into *out (shm_read_snapshot:
 * the latest of the two copies; it never waits for a writer, dead or
 * alive). Returns 0, or -1 if no complete copy could be read in
 * `max_tries` attempts (the copy rewritten under every attempt, or a
 * damaged segment) or the view was not checked. */
static inline int {lower}_read(const shm_view *view, {name} *out, unsigned long max_tries)
{{
    return shm_read_snapshot(view, out, sizeof(*out), max_tries, NULL);
}}

/* {lower}_read, and the version of the value: the number of the write that
 * produced it (the copy's counter / 2). */
static inline int {lower}_read_with_version(const shm_view *view, {name} *out,
                                            unsigned long max_tries, uint64_t *version)
{{
    return shm_read_snapshot(view, out, sizeof(*out), max_tries, version);
}}

#endif /* SHM_{upper}_H */
"#,
        schema_name = c_comment(&schema.name),
    );
    Ok(out)
}
