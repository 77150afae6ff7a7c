//! The schema types beyond numbers: [`Utf16`] (a UTF-16 code unit, C#'s
//! `char`), [`FixedStr<N>`] (UTF-8 text of at most `N` bytes), and shared
//! enums ([`SharedEnum`], implemented by `#[derive(SharedEnum)]`). `bool`
//! and `char` are implemented with the numbers, in `field.rs`.

use core::fmt;

use crate::field::{Access, Field, ReadWrite, Scalar, ShmSafe, sealed};
use crate::invalid::Invalid;
use crate::layout::{Prim, TypeDesc};
use crate::words::{load_bytes, store_bytes};

/// A UTF-16 code unit: C#'s `char`, Win32's `WCHAR`, Java's `char`.
///
/// Every `u16` is one (a lone surrogate is a valid C# `char`), so reading
/// it needs no check. [`Utf16::to_char`] gives the `char` when the unit is
/// a Unicode scalar value on its own (not a surrogate); tools show it as
/// that character (`'X'`), and a surrogate as `\u{d800}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Utf16(pub u16);

impl Utf16 {
    /// The code unit of `c`, or `None` if `c` needs two (outside the Basic
    /// Multilingual Plane, e.g. an emoji).
    pub const fn from_char(c: char) -> Option<Utf16> {
        let v = c as u32;
        if v <= 0xffff {
            Some(Utf16(v as u16))
        } else {
            None
        }
    }

    /// The character, if the unit is not a surrogate.
    pub fn to_char(self) -> Option<char> {
        char::from_u32(u32::from(self.0))
    }
}

impl TryFrom<char> for Utf16 {
    type Error = char;
    /// The unit of `c`; `Err(c)` if it needs two units.
    fn try_from(c: char) -> Result<Utf16, char> {
        Utf16::from_char(c).ok_or(c)
    }
}

impl From<u16> for Utf16 {
    fn from(v: u16) -> Utf16 {
        Utf16(v)
    }
}

impl fmt::Display for Utf16 {
    /// The character, or `\u{d800}` for a surrogate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_char() {
            Some(c) => write!(f, "{c}"),
            None => write!(f, "\\u{{{:04x}}}", self.0),
        }
    }
}

// SAFETY: `repr(transparent)` over `u16`: two bytes, every bit pattern
// valid, no pointers, aligned to 2 everywhere.
unsafe impl ShmSafe for Utf16 {
    const TYPE: TypeDesc = TypeDesc::Prim(Prim::Utf16);
}

impl sealed::Sealed for Utf16 {}
impl Scalar for Utf16 {
    type Out = Utf16;
    #[inline]
    unsafe fn load(p: *mut Self) -> Utf16 {
        // SAFETY: the caller's contract, for the unit as a `u16`.
        Utf16(unsafe { u16::load(p.cast()) })
    }
    #[inline]
    unsafe fn store(p: *mut Self, v: Self) {
        // SAFETY: the caller's contract, for the unit as a `u16`.
        unsafe { u16::store(p.cast(), v.0) }
    }
}

/// A fieldless enum that can live in shared memory: implemented by
/// `#[derive(SharedEnum)]` on an enum with `#[repr(u8)]` (or `u16`, `u32`,
/// `u64`, `i8`..`i64`) and an explicit discriminant on every variant.
///
/// Another process may write any integer into the field; every read checks
/// that it is one of the discriminants ([`Invalid`] names the bad value
/// otherwise).
///
/// # Safety
///
/// Implement only through `#[derive(SharedEnum)]`: `Self` must be a
/// fieldless enum with `#[repr(Repr)]`, `from_repr` must return `Some`
/// exactly for the discriminants, and `ShmSafe::check` accept exactly them.
pub unsafe trait SharedEnum: ShmSafe + Copy {
    /// The `repr` integer.
    type Repr: Scalar<Out = Self::Repr>;
    /// The variant with discriminant `v`, if there is one.
    fn from_repr(v: Self::Repr) -> Option<Self>;
    /// The discriminant.
    fn to_repr(self) -> Self::Repr;
}

impl<E: SharedEnum> sealed::Sealed for E {}
impl<E: SharedEnum> Scalar for E {
    type Out = Result<E, Invalid>;
    #[inline]
    unsafe fn load(p: *mut Self) -> Self::Out {
        // SAFETY: the caller's contract; `E` is `repr(E::Repr)`.
        let v = unsafe { E::Repr::load(p.cast()) };
        match E::from_repr(v) {
            Some(e) => Ok(e),
            None => {
                let mut bytes = [0u8; 8];
                // SAFETY: `v` is an integer of `size_of::<E::Repr>() <= 8`
                // bytes, all initialised.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        (&raw const v).cast::<u8>(),
                        bytes.as_mut_ptr(),
                        size_of::<E::Repr>(),
                    )
                };
                Err(bad_enum(&E::TYPE, &bytes))
            }
        }
    }
    #[inline]
    unsafe fn store(p: *mut Self, v: Self) {
        // SAFETY: the caller's contract; `E` is `repr(E::Repr)`.
        unsafe { E::Repr::store(p.cast(), v.to_repr()) }
    }
}

/// The error for an enum field whose bytes (at least the repr's size) are
/// no discriminant of `ty` (a [`TypeDesc::Enum`]).
pub fn bad_enum(ty: &TypeDesc, bytes: &[u8]) -> Invalid {
    let TypeDesc::Enum(e) = ty else {
        return Invalid::new("not an enum");
    };
    let v = crate::layout::repr_value(e.repr, bytes);
    let mut known = String::new();
    for (i, var) in e.variants.iter().enumerate() {
        if i > 0 {
            known.push_str(", ");
        }
        known.push_str(&format!(
            "{} = {}",
            var.name,
            crate::layout::repr_display(e.repr, var.value)
        ));
    }
    Invalid::new(format!(
        "{} is not a variant of enum `{}` ({known})",
        crate::layout::repr_display(e.repr, v),
        e.name
    ))
}

/// A string of at most `N` bytes of UTF-8, stored inline: a `u16` length
/// (two bytes, little-endian), then `N` bytes of which the first `length`
/// are the text (the rest are zero when written by this crate).
///
/// `N` is 1 to 65535 (checked at compile time); the layout is `N + 2`
/// bytes with alignment 1, so it never adds padding. Every read checks
/// that the length is at most `N` and the text is UTF-8; writing a longer
/// text is an error ([`TooLong`]), never a silent cut.
///
/// ```
/// use shm_runtime::FixedStr;
///
/// let name = FixedStr::<16>::new("left-arm")?;
/// assert_eq!(name.as_str(), "left-arm");
/// assert!(FixedStr::<4>::new("too long").is_err());
/// # Ok::<(), shm_runtime::TooLong>(())
/// ```
#[derive(Clone, Copy)]
#[repr(C)]
pub struct FixedStr<const N: usize> {
    len: [u8; 2],
    bytes: [u8; N],
}

/// A text longer than the capacity of the [`FixedStr`] it was meant for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the text is {len} bytes of UTF-8, more than the capacity of {cap} bytes")]
pub struct TooLong {
    /// The text's length in bytes.
    pub len: usize,
    /// The capacity.
    pub cap: usize,
}

impl<const N: usize> FixedStr<N> {
    /// Fails to compile for a capacity the layout cannot hold.
    const VALID: () = assert!(
        N >= 1 && N <= 65535,
        "FixedStr<N> needs a capacity N from 1 to 65535 bytes (the length is stored in a u16), e.g. `FixedStr<32>`"
    );

    /// The capacity in bytes, `N`.
    pub const CAPACITY: usize = N;

    /// The empty string.
    pub const fn empty() -> Self {
        let () = Self::VALID;
        FixedStr {
            len: [0; 2],
            bytes: [0; N],
        }
    }

    /// `s`, or [`TooLong`] if it is longer than `N` bytes.
    pub const fn new(s: &str) -> Result<Self, TooLong> {
        let () = Self::VALID;
        let b = s.as_bytes();
        if b.len() > N {
            return Err(TooLong {
                len: b.len(),
                cap: N,
            });
        }
        let mut out = Self::empty();
        let mut i = 0;
        while i < b.len() {
            out.bytes[i] = b[i];
            i += 1;
        }
        out.len = (b.len() as u16).to_le_bytes();
        Ok(out)
    }

    /// The length in bytes.
    pub const fn len(&self) -> usize {
        u16::from_le_bytes(self.len) as usize
    }

    /// Whether the string is empty.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Every `FixedStr` holds valid UTF-8 within its capacity: `new`
        // makes it so, and every read from shared memory is checked
        // (`ShmSafe::check`) before a value is handed out. Checked again
        // here rather than trusted, so that no path can ever reach UB.
        match self.bytes.get(..self.len()).map(core::str::from_utf8) {
            Some(Ok(s)) => s,
            _ => unreachable!("a FixedStr holds UTF-8 within its capacity"),
        }
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<const N: usize> TryFrom<&str> for FixedStr<N> {
    type Error = TooLong;
    fn try_from(s: &str) -> Result<Self, TooLong> {
        Self::new(s)
    }
}

impl<const N: usize> core::ops::Deref for FixedStr<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> PartialEq for FixedStr<N> {
    /// Compares the texts (not the unused bytes after them).
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<const N: usize> Eq for FixedStr<N> {}

impl<const N: usize> core::hash::Hash for FixedStr<N> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl<const N: usize> PartialEq<str> for FixedStr<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for FixedStr<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Checks the bytes of a `FixedStr<cap>` (at least `cap + 2` of them).
pub fn check_str(cap: usize, bytes: &[u8]) -> Result<(), Invalid> {
    let len = usize::from(u16::from_le_bytes([bytes[0], bytes[1]]));
    if len > cap {
        return Err(Invalid::new(format!(
            "string length {len} exceeds its capacity {cap}"
        )));
    }
    match core::str::from_utf8(&bytes[2..2 + len]) {
        Ok(_) => Ok(()),
        Err(e) => {
            let at = e.valid_up_to();
            Err(Invalid::new(format!(
                "string of length {len} is not UTF-8: byte {at} is {:#04x}",
                bytes[2 + at]
            )))
        }
    }
}

// SAFETY: `repr(C)` of two byte arrays: `N + 2` bytes, alignment 1, no
// padding, no pointers, the same everywhere; every bit pattern is a valid
// value of the struct (its fields are bytes), and `check` accepts exactly
// those that keep the invariant `as_str` relies on (it checks again).
unsafe impl<const N: usize> ShmSafe for FixedStr<N> {
    // Not `VALID` here: the derive checks the capacity of every field and
    // reports a bad one at the field's type (`field_type_error`).
    const TYPE: TypeDesc = TypeDesc::Str { cap: N };
    const CHECKED: bool = true;
    fn check(bytes: &[u8]) -> Result<(), Invalid> {
        check_str(N, bytes)
    }
}

impl<const N: usize, A: Access> Field<'_, FixedStr<N>, A> {
    /// Reads the string (whole-word atomic loads of the words holding it,
    /// so another process's write may be seen half done: use
    /// `Shared::read` for a consistent value), checked: the error names a
    /// length over the capacity or bytes that are not UTF-8.
    pub fn get(self) -> Result<FixedStr<N>, Invalid> {
        let mut out = FixedStr::<N>::empty();
        // SAFETY: `from_raw`'s contract: the words overlapping the field
        // are valid and only accessed as whole atomic words; `out` is a
        // private value of the field's size.
        unsafe {
            load_bytes(
                self.as_ptr().cast_const().cast(),
                (&raw mut out).cast(),
                size_of::<FixedStr<N>>(),
            )
        };
        // SAFETY: `out` is initialised and private.
        let bytes = unsafe {
            core::slice::from_raw_parts((&raw const out).cast::<u8>(), size_of::<FixedStr<N>>())
        };
        check_str(N, bytes)?;
        Ok(out)
    }
}

impl<const N: usize> Field<'_, FixedStr<N>, ReadWrite> {
    /// Writes `value` (the bytes after its text are stored as zero).
    pub fn set(self, value: FixedStr<N>) {
        // SAFETY: `from_raw`'s contract for `ReadWrite`: the words are
        // valid, writable, accessed as whole words, and nobody else stores
        // to them meanwhile; `value` is private and of the field's size.
        unsafe {
            store_bytes(
                self.as_ptr().cast(),
                (&raw const value).cast(),
                size_of::<FixedStr<N>>(),
            )
        };
    }

    /// Writes the text `s`; [`TooLong`] (and nothing written) if it is
    /// longer than `N` bytes.
    pub fn set_str(self, s: &str) -> Result<(), TooLong> {
        self.set(FixedStr::new(s)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_str_checks_length_and_utf8() {
        let s = FixedStr::<8>::new("héllo").unwrap();
        assert_eq!(s.as_str(), "héllo");
        assert_eq!(s.len(), 6);
        assert_eq!(FixedStr::<2>::new("abc"), Err(TooLong { len: 3, cap: 2 }));
        let mut b = [0u8; 10];
        b[0] = 9;
        let e = check_str(8, &b).unwrap_err();
        assert!(e.what().contains("length 9 exceeds its capacity 8"), "{e}");
        b[0] = 2;
        b[2] = 0xff;
        let e = check_str(8, &b).unwrap_err();
        assert!(e.what().contains("byte 0 is 0xff"), "{e}");
        b[2] = b'o';
        b[3] = b'k';
        check_str(8, &b).unwrap();
    }

    #[test]
    fn utf16_shows_characters_and_surrogates() {
        assert_eq!(Utf16::from_char('X'), Some(Utf16(88)));
        assert_eq!(Utf16::from_char('\u{1f600}'), None);
        assert_eq!(Utf16(88).to_string(), "X");
        assert_eq!(Utf16(0xd800).to_string(), "\\u{d800}");
    }
}
