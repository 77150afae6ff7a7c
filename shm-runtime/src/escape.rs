//! Escaping untrusted text for human-readable output: the one place that
//! decides which characters may reach a terminal as they are.
//!
//! Names of segments and schemas, and everything built from a segment's
//! bytes, may come from another user or a crafted object. Printed raw, an
//! escape sequence would drive the reader's terminal, a newline would forge
//! a line of output, and a bidirectional override would reorder what is
//! shown. [`Escaped`] prints such text with every character that is not
//! printable as a Rust escape (`char::escape_debug`): control characters
//! (`\n`, `\t`, `\u{1b}`, C1 controls such as `\u{9b}`), format characters
//! (bidirectional overrides and isolates `\u{202e}`, zero-width characters,
//! `\u{feff}`), line and paragraph separators, spaces other than U+0020,
//! private-use, unassigned and combining characters. Printable text,
//! non-ASCII letters included, is unchanged, so ordinary names print as
//! they are; so does a backslash, so that Win32 names (`Local\MyShare`) and
//! Windows paths read naturally in errors. (Text that spells an escape,
//! such as a literal `\u{1b}`, then looks like one: it can mislead a
//! reader, but it cannot drive a terminal.)
//! Bytes that are not UTF-8 ([`EscapedBytes`]) print as `\xNN`.
//!
//! `Error`'s `Display` uses it for every field that can hold such text, and
//! so do the `shm` tool and `Status`'s `Display`.

use std::fmt::{self, Write};

/// Displays a string with every non-printable character escaped (see the
/// module documentation).
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a str);

/// Displays bytes as [`Escaped`] text, with bytes that are not UTF-8 as
/// `\xNN` (for file names, which need not be UTF-8).
#[derive(Clone, Copy, Debug)]
pub struct EscapedBytes<'a>(pub &'a [u8]);

/// Whether `c` is printed as it is.
#[inline]
fn plain(c: char) -> bool {
    if c.is_ascii() {
        return c == ' ' || c.is_ascii_graphic();
    }
    match c {
        // `escape_debug` escapes quotes, which are printable.
        '\'' | '"' | ' ' => true,
        c => c.escape_debug().len() == 1,
    }
}

fn escape_into(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    // The common case: nothing to escape.
    if s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return f.write_str(s);
    }
    let mut rest = s;
    while let Some(i) = rest.find(|c: char| !plain(c)) {
        f.write_str(&rest[..i])?;
        let c = rest[i..].chars().next().unwrap_or_default();
        for e in c.escape_debug() {
            f.write_char(e)?;
        }
        rest = &rest[i + c.len_utf8()..];
    }
    f.write_str(rest)
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape_into(self.0, f)
    }
}

impl fmt::Display for EscapedBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            escape_into(chunk.valid(), f)?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// `s` escaped, as a `String`.
pub fn escape(s: &str) -> String {
    Escaped(s).to_string()
}

/// Whether `s` prints as it is (no character needs escaping).
pub fn is_plain(s: &str) -> bool {
    s.chars().all(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_unchanged() {
        for s in [
            "MySharedData",
            "a b",
            "é中文 ü",
            "it's \"quoted\"",
            "x-y.z/1",
            "Local\\MyShare",
        ] {
            assert_eq!(escape(s), s);
            assert!(is_plain(s));
        }
    }

    #[test]
    fn non_printing_characters_are_escaped() {
        let cases = [
            ("a\nb", "a\\nb"),
            ("\r\t\0", "\\r\\t\\0"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("\u{7f}", "\\u{7f}"),
            ("ab\u{202e}cd", "ab\\u{202e}cd"),
            (
                "\u{2066}\u{2069}\u{200f}\u{61c}",
                "\\u{2066}\\u{2069}\\u{200f}\\u{61c}",
            ),
            (
                "\u{200b}\u{feff}\u{2028}\u{2029}\u{a0}",
                "\\u{200b}\\u{feff}\\u{2028}\\u{2029}\\u{a0}",
            ),
            ("\u{e000}\u{10ffff}", "\\u{e000}\\u{10ffff}"),
        ];
        for (s, want) in cases {
            assert_eq!(escape(s), want, "{s:?}");
            assert!(!is_plain(s));
            // Nothing the terminal interprets is left.
            assert!(escape(s).chars().all(|c| c == ' ' || c.is_ascii_graphic()));
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_hex() {
        let b = b"ok\xff\xfe\n\xc3\xa9";
        assert_eq!(EscapedBytes(b).to_string(), "ok\\xff\\xfe\\n\u{e9}");
    }

    /// Every variant of `Error`, with hostile text in every string field.
    fn every_error(h: &str) -> Vec<crate::Error> {
        use crate::Error::*;
        use std::time::Duration;
        let n = || h.to_owned();
        vec![
            NotFound { name: n() },
            AlreadyExists { name: n() },
            PermissionDenied {
                name: n(),
                op: "open",
            },
            InvalidName {
                name: n(),
                reason: n(),
            },
            NotASegment {
                name: n(),
                expected: *b"SHMTYPED",
                found: *b"\x1b[2J\n\0\0\0",
            },
            UnsupportedVersion {
                name: n(),
                expected: 1,
                found: 2,
            },
            LayoutMismatch {
                name: n(),
                expected: n(),
                found: n(),
                detail: Some(n()),
            },
            OlderSchema {
                name: n(),
                schema: n(),
                segment_version: 1,
                program_version: 2,
                reason: n(),
            },
            NewerSchema {
                name: n(),
                schema: n(),
                segment_version: 2,
                program_version: 1,
            },
            TooSmall {
                name: n(),
                needed: 2,
                actual: 1,
                what: "x",
            },
            NotInitialized {
                name: n(),
                waited: Duration::ZERO,
            },
            Corrupt {
                name: n(),
                what: n(),
            },
            WriterBusy {
                name: n(),
                pid: 1,
                this_process: false,
                waited: Duration::ZERO,
            },
            NotWriter { name: n() },
            WriterDied { name: n(), pid: 1 },
            Timeout {
                name: n(),
                what: "x",
                waited: Duration::ZERO,
            },
            Unsupported {
                name: n(),
                what: n(),
            },
            NoSpace {
                name: n(),
                size: 1,
                reason: n(),
            },
            Io {
                name: n(),
                op: "open",
                source: std::io::Error::other("x"),
            },
            Foreign {
                name: n(),
                owner: 1,
                mode: 0o666,
                reason: n(),
            },
            Replaced { name: n() },
            Reentrant {
                name: n(),
                op: "write",
            },
            InvalidValue {
                name: n(),
                path: n(),
                what: n(),
            },
            QueueFull {
                name: n(),
                capacity: 1,
            },
            ConsumerBusy {
                name: n(),
                pid: 1,
                this_process: false,
            },
        ]
    }

    /// A new variant must be added to [`every_error`] (this match has no
    /// wildcard, so it does not compile until it is).
    fn covered(e: &crate::Error) -> usize {
        use crate::Error::*;
        match e {
            NotFound { .. } => 0,
            AlreadyExists { .. } => 1,
            PermissionDenied { .. } => 2,
            InvalidName { .. } => 3,
            NotASegment { .. } => 4,
            UnsupportedVersion { .. } => 5,
            LayoutMismatch { .. } => 6,
            OlderSchema { .. } => 7,
            NewerSchema { .. } => 8,
            TooSmall { .. } => 9,
            NotInitialized { .. } => 10,
            Corrupt { .. } => 11,
            WriterBusy { .. } => 12,
            NotWriter { .. } => 13,
            WriterDied { .. } => 14,
            Timeout { .. } => 15,
            Unsupported { .. } => 16,
            NoSpace { .. } => 17,
            Io { .. } => 18,
            Foreign { .. } => 19,
            Replaced { .. } => 20,
            Reentrant { .. } => 21,
            InvalidValue { .. } => 22,
            QueueFull { .. } => 23,
            ConsumerBusy { .. } => 24,
        }
    }

    #[test]
    fn every_error_message_escapes_every_untrusted_field() {
        let hostile = "evil\u{1b}]0;owned\u{7}\n\u{202e}row\u{9b}2J";
        let all = every_error(hostile);
        let mut seen: Vec<usize> = all.iter().map(covered).collect();
        seen.dedup();
        assert_eq!(seen.len(), all.len(), "every variant once");
        for e in &all {
            let text = e.to_string();
            assert!(
                text.chars().all(|c| c == ' ' || c.is_ascii_graphic()),
                "{text:?}"
            );
            assert!(
                text.contains("evil\\u{1b}]0;owned\\u{7}\\n\\u{202e}row"),
                "{text:?}"
            );
        }
    }
}
