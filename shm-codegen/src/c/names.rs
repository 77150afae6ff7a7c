//! The names the generated C header must not use: keywords of C and C++,
//! library macros and declarations, and the names the generated code
//! derives; and the mapping of schema names around them.

use crate::{snake, target_name};

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
    // C++ (the header compiles as C++ too).
    "and",
    "and_eq",
    "bitand",
    "bitor",
    "catch",
    "char8_t",
    "char16_t",
    "char32_t",
    "class",
    "co_await",
    "co_return",
    "co_yield",
    "compl",
    "concept",
    "consteval",
    "constinit",
    "const_cast",
    "decltype",
    "delete",
    "dynamic_cast",
    "explicit",
    "export",
    "friend",
    "mutable",
    "namespace",
    "new",
    "noexcept",
    "not",
    "not_eq",
    "operator",
    "or",
    "or_eq",
    "private",
    "protected",
    "public",
    "reinterpret_cast",
    "requires",
    "static_cast",
    "template",
    "this",
    "throw",
    "try",
    "typeid",
    "typename",
    "using",
    "virtual",
    "wchar_t",
    "xor",
    "xor_eq",
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
    "r",
    "n",
    "at",
    "path",
    "msg",
    "msg_cap",
    "what",
    "value",
    "fd",
    "wait_ms",
    "take",
    "text",
];

/// The macros that the system headers the generated header includes
/// (`c/prelude.h`: `<stdio.h>`, and on Linux `<unistd.h>`, `<fcntl.h>`,
/// `<signal.h>` and the like) define without a reserved prefix, one per
/// line: a field so named would be replaced by the preprocessor. Made
/// with `gcc -dM -E` of the prelude as C11, C11 with `_GNU_SOURCE`, and
/// C++17 (glibc).
const SYSTEM_MACROS: &str = include_str!("reserved_macros.txt");

/// The identifiers those headers declare, one per line (every token of
/// their preprocessed text without a leading `_`: functions, types,
/// variables, members; more than needed is harmless): a struct or enum
/// type so named would clash with them.
const SYSTEM_IDENTS: &str = include_str!("reserved_idents.txt");

/// Whether `n` is a line of `list` (lines starting with `#` are comments).
fn listed(list: &str, n: &str) -> bool {
    list.lines().any(|l| l == n)
}

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
pub(super) fn field_reserved(n: &str, macros: &[String]) -> bool {
    KEYWORDS.contains(&n)
        || MACROS.contains(&n)
        || listed(SYSTEM_MACROS, n)
        || stdint_name(n)
        || n.starts_with("SHM_")
        || n.starts_with("_shm_")
        || macros.iter().any(|m| m == n)
}

/// Whether a struct type name must be mapped in C: a reserved field name,
/// a library or generated name at file scope (`shm_...`, the functions
/// derived from the root schema's name, in `derived`).
pub(super) fn type_reserved(n: &str, derived: &[String]) -> bool {
    field_reserved(n, derived)
        || FILE_SCOPE.contains(&n)
        || listed(SYSTEM_IDENTS, n)
        || n.to_ascii_lowercase().starts_with("shm_")
}

/// The C type name of a struct named `n`.
pub(super) fn type_name(n: &str, derived: &[String]) -> String {
    target_name(n, |n| type_reserved(n, derived))
}

/// The C type name of an enum named `n`: as a struct's, and never one
/// whose constants would start with the runtime's `SHM_`.
pub(super) fn enum_type_name(n: &str, derived: &[String]) -> String {
    target_name(n, |n| {
        type_reserved(n, derived) || snake(n).eq_ignore_ascii_case("shm")
    })
}
