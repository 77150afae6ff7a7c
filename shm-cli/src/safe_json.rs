//! JSON output that is safe on a terminal: serde_json escapes `"`, `\` and
//! the C0 controls, but writes every other character as it is, C1
//! controls (`U+009B` starts an escape sequence on many terminals),
//! bidirectional overrides and zero-width characters included. These
//! formatters write every character that is not printable (the runtime's
//! escaping rules, `shm_runtime::tools::is_plain`) as `\uXXXX` instead:
//! the same JSON value, and byte for byte the same output for printable
//! text.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

/// A formatter that escapes non-printable characters in strings.
struct Escaping<F>(F);

impl<F: Formatter> Formatter for Escaping<F> {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        if s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return w.write_all(s.as_bytes());
        }
        let mut buf = [0u8; 4];
        for c in s.chars() {
            let one = c.encode_utf8(&mut buf);
            if shm_runtime::tools::is_plain(one) || c == '\\' {
                w.write_all(one.as_bytes())?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn write_with<F: Formatter>(out: &mut impl Write, f: F, v: &impl Serialize) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, Escaping(f));
    v.serialize(&mut ser).map_err(io::Error::other)?;
    writeln!(out)
}

/// Writes `v` as indented JSON and a newline, streaming (nothing is built
/// in memory first).
pub(crate) fn pretty(out: &mut impl Write, v: &impl Serialize) -> io::Result<()> {
    write_with(out, PrettyFormatter::new(), v)
}

/// Writes `v` as JSON on one line, and a newline.
pub(crate) fn line(out: &mut impl Write, v: &impl Serialize) -> io::Result<()> {
    write_with(out, CompactFormatter, v)
}
