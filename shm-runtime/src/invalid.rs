//! A value that is not valid for its type, found in bytes that came from a
//! segment: a `bool` that is neither 0 nor 1, an enum discriminant that
//! names no variant, a `char` that is not a Unicode scalar value, a
//! `FixedStr` whose length exceeds its capacity or whose
//! bytes are not UTF-8.
//!
//! Every check runs on a private copy of the bytes (never on shared
//! memory, which could change between the check and the use), and an
//! [`Invalid`] names the field path (`joints[2].mode`) and the raw value
//! (numbers only: no byte from the segment is ever printed as text).

use std::fmt;

use crate::error::Error;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Field(&'static str),
    Index(usize),
}

/// A value that is not valid for its type: where it is and what it holds.
///
/// Returned by the getters of validated fields (`bool`, `char`, enums,
/// `FixedStr`); `Shared::read` and friends turn it into
/// [`Error::InvalidValue`], which also names the segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// Outermost first.
    path: Vec<Step>,
    what: String,
}

impl Invalid {
    /// A bad value of the type at the place the check started: `what`
    /// names the type and the raw value, e.g. "byte 0x02 is not a bool
    /// (0 or 1)". It must not contain text from the segment.
    pub fn new(what: impl Into<String>) -> Invalid {
        Invalid {
            path: Vec::new(),
            what: what.into(),
        }
    }

    /// The same error, inside field `name` of a struct.
    pub fn in_field(mut self, name: &'static str) -> Invalid {
        self.path.insert(0, Step::Field(name));
        self
    }

    /// The same error, inside element `i` of an array.
    pub fn at_index(mut self, i: usize) -> Invalid {
        self.path.insert(0, Step::Index(i));
        self
    }

    /// The field path, e.g. `joints[2].mode` (empty: the value itself).
    pub fn path(&self) -> String {
        let mut out = String::new();
        for step in &self.path {
            match step {
                Step::Field(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// What is wrong, e.g. "byte 0x02 is not a bool (0 or 1)".
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The runtime error for segment `name`.
    pub fn into_error(self, name: &str) -> Error {
        Error::InvalidValue {
            name: name.to_owned(),
            path: self.path(),
            what: self.what,
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if path.is_empty() {
            write!(f, "invalid value: {}", self.what)
        } else {
            write!(f, "field `{path}` holds an invalid value: {}", self.what)
        }
    }
}

impl std::error::Error for Invalid {}

/// The message for a byte that is not a `bool`.
pub(crate) fn bad_bool(b: u8) -> Invalid {
    Invalid::new(format!("byte {b:#04x} is not a bool (0 = false, 1 = true)"))
}

/// The message for a `u32` that is not a `char`.
pub(crate) fn bad_char(v: u32) -> Invalid {
    Invalid::new(format!(
        "{v:#x} is not a Unicode scalar value (a char: 0 to 0x10ffff, not 0xd800 to 0xdfff)"
    ))
}
