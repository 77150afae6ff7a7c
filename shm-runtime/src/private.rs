//! Items used by code that `#[derive(SharedLayout)]` generates. Not a public
//! API: paths and signatures may change in any release.
//!
//! Generated code names everything through `::shm_runtime::__private::...`,
//! so it never depends on what the user has imported.

pub use crate::field::{Access, Field, ReadOnly, ReadWrite};
pub use crate::layout::{FieldDesc, LayoutDesc, SharedLayout, ShmSafe, TypeDesc};
pub use core::clone::Clone;
pub use core::convert::From;
pub use core::fmt::{Debug, Formatter, Result as FmtResult};
pub use core::marker::{Copy, PhantomData};
pub use core::mem::{align_of, offset_of, size_of};
pub use core::panic;

/// The `I`-th field (in declaration order) of a schema struct.
///
/// The derive implements this once per field. Everything that needs the
/// field's type to be [`ShmSafe`] (its [`FieldDesc`], its accessor) goes
/// through this trait, so a field of a type that is not `ShmSafe` fails in
/// exactly one place, the `type Ty = ...;` of its impl, which carries the
/// span of the field's type: one mistake, one error, pointing at the field.
///
/// # Safety
///
/// `Self` must have a field named [`NAME`](Self::NAME) of type
/// [`Ty`](Self::Ty) at byte offset [`OFFSET`](Self::OFFSET).
pub unsafe trait HasField<const I: usize>: ShmSafe {
    /// The field's type.
    type Ty: ShmSafe;
    /// `offset_of!(Self, field)`.
    const OFFSET: usize;
    /// The field's name as written (without `r#`).
    const NAME: &'static str;
}

/// The description of field `I` of `S`.
pub const fn field_desc<S: HasField<I>, const I: usize>() -> FieldDesc {
    FieldDesc {
        name: S::NAME,
        offset: S::OFFSET,
        size: size_of::<S::Ty>(),
        ty: <S::Ty as ShmSafe>::TYPE,
    }
}

/// A handle to field `I` of the `S` that `field` points to.
#[inline]
pub fn project_field<'a, S: HasField<I>, A: Access, const I: usize>(
    field: Field<'a, S, A>,
) -> Field<'a, S::Ty, A> {
    // SAFETY: `HasField`'s contract: `S` has a field of type `S::Ty` at
    // offset `S::OFFSET`.
    unsafe { field.project::<S::Ty>(S::OFFSET) }
}

/// Capacity of a [`Msg`] in bytes; longer messages are truncated.
const MSG_CAP: usize = 512;

/// A message assembled at compile time, so that a failed layout assertion
/// can say which number it found: the derive emits
/// `panic!("{}", Msg::new().str("...").num(size_of::<S>()).str("...").as_str())`
/// in a `const` item, and rustc reports `evaluation panicked: <message>`.
#[derive(Clone, Copy)]
pub struct Msg {
    buf: [u8; MSG_CAP],
    len: usize,
}

impl Msg {
    /// An empty message.
    pub const fn new() -> Msg {
        Msg {
            buf: [0; MSG_CAP],
            len: 0,
        }
    }

    /// Appends `s`, truncated at a character boundary if it does not fit.
    pub const fn str(mut self, s: &str) -> Msg {
        let bytes = s.as_bytes();
        let mut n = bytes.len();
        if n > MSG_CAP - self.len {
            n = MSG_CAP - self.len;
            // Back up to the start of a UTF-8 sequence.
            while n > 0 && bytes[n] & 0xC0 == 0x80 {
                n -= 1;
            }
        }
        let mut i = 0;
        while i < n {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends `n` in decimal.
    pub const fn num(self, mut n: usize) -> Msg {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = digits.split_at(start).1;
        match core::str::from_utf8(digits) {
            Ok(s) => self.str(s),
            Err(_) => self,
        }
    }

    /// The message so far.
    pub const fn as_str(&self) -> &str {
        match core::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(_) => "<invalid message>",
        }
    }
}

impl Default for Msg {
    fn default() -> Self {
        Msg::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Msg;

    #[test]
    fn msg_formats_numbers_and_truncates() {
        const M: Msg = Msg::new().str("size ").num(208).str(", zero ").num(0);
        assert_eq!(M.as_str(), "size 208, zero 0");
        assert_eq!(Msg::new().num(usize::MAX).as_str(), usize::MAX.to_string());
        let long = "é".repeat(400);
        let m = Msg::new().str("x").str(&long);
        assert!(m.as_str().len() <= 512);
        assert!(m.as_str().starts_with("xé"));
    }
}
