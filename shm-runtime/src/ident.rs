//! The identifier rule for schema, struct and field names.
//!
//! Names travel from a segment's descriptor into source code that other
//! programs compile (`shm codegen`), so they are restricted by construction
//! to what is an identifier in every target language (C, C++, C#, Python,
//! Rust): an ASCII letter or `_` first, then ASCII letters, digits and `_`,
//! at most [`MAX_IDENT_LEN`] bytes, not `_` alone, no `__` anywhere
//! (reserved in C and C++, name-mangled in Python classes) and no `_`
//! followed by an upper-case letter at the start (reserved in C, where
//! `_Bool` or `_Atomic` are keywords). Such a name has no character that a
//! comment, a string literal or a terminal treats specially. Keywords of
//! the target languages are allowed here: the code generators map them to
//! other identifiers (injectively).
//!
//! `shm-derive` enforces the same rule at compile time; descriptor
//! validation and header validation enforce it on untrusted bytes.

/// Longest field name, in bytes. (Schema and struct names are bounded by
/// the header's 48 bytes.)
pub const MAX_IDENT_LEN: usize = 63;

/// Checks `name` against the rule; `Err` says what is wrong (without
/// repeating the name).
pub fn check(name: &str, max_len: usize) -> Result<(), String> {
    let b = name.as_bytes();
    let Some(&first) = b.first() else {
        return Err("is empty".into());
    };
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(format!(
            "contains {}, but only ASCII letters, digits and `_` are allowed",
            describe(c)
        ));
    }
    if first.is_ascii_digit() {
        return Err("starts with a digit".into());
    }
    if b.len() > max_len {
        return Err(format!(
            "is {} bytes long, at most {max_len} are allowed",
            b.len()
        ));
    }
    if name == "_" {
        return Err("is `_` alone".into());
    }
    if name.contains("__") {
        return Err("contains `__`, which C and C++ reserve".into());
    }
    if first == b'_' && b.get(1).is_some_and(u8::is_ascii_uppercase) {
        return Err("starts with `_` and an upper-case letter, which C reserves".into());
    }
    Ok(())
}

/// Whether `name` follows the rule with at most `max_len` bytes.
pub fn is_valid(name: &str, max_len: usize) -> bool {
    check(name, max_len).is_ok()
}

/// A character named for an error message: `'-'` for printable ASCII,
/// `U+202E` otherwise.
fn describe(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("`{c}`")
    } else {
        format!("U+{:04X}", u32::from(c))
    }
}

/// `name` made safe to print: printable ASCII as is (`\` doubled), every
/// other character as `\u{XXXX}`. For names that failed [`check`].
pub fn escaped(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c => out.push_str(&format!("\\u{{{:04x}}}", u32::from(c))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        for ok in ["a", "A", "_pad", "type_", "x1", "MySharedData", "a_b_c"] {
            assert_eq!(check(ok, 63), Ok(()), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "_",
            "1a",
            "a-b",
            "a.b",
            "a b",
            "größe",
            "a\u{202e}",
            "a\u{2028}",
            "a\u{85}",
            "a??/",
            "a*/",
            "\u{1f600}",
            "a__b",
            "__x",
            "_Bool",
            long.as_str(),
        ] {
            assert!(check(bad, 63).is_err(), "{bad:?}");
        }
        assert!(check("abc", 2).is_err());
    }

    #[test]
    fn escaping() {
        assert_eq!(escaped("a\u{202e}b\\\n"), "a\\u{202e}b\\\\\\u{000a}");
        assert_eq!(escaped("\u{1f600}"), "\\u{1f600}");
    }
}
