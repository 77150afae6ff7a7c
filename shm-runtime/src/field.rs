//! Typed access to single fields of a mapped value.
//!
//! A [`Field`] is a pointer into a mapping together with the type of what it
//! points to. It never creates `&T` or `&mut T` to the shared bytes. Every
//! access is a relaxed atomic load or store of the whole aligned 8-byte
//! *word* that holds the field (a field of at most 8 bytes, aligned to its
//! size, never straddles two words), the same size and place as the
//! snapshot protocol's copies use. So all racing accesses to shared memory
//! are same-sized atomics (the Rust memory model forbids racing atomics
//! of different sizes on the same bytes), and a field that another process
//! writes at the same time is read as either the old or the new value,
//! never as undefined behaviour.
//!
//! This module also holds the two traits that make a type shareable,
//! [`ShmSafe`] (any field type) and [`SharedLayout`] (a schema struct,
//! implemented by `#[derive(SharedLayout)]`): they and [`Field`] refer to
//! each other.
//!
//! `A` is the access mode: [`ReadOnly`] handles have getters only, and
//! [`ReadWrite`] handles (handed out inside a write, see
//! `Shared::update`) add setters.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering,
};

use crate::invalid::{Invalid, bad_bool, bad_char};
use crate::layout::{LayoutDesc, Prim, TypeDesc, fingerprint};
use crate::words::{load_in_word, store_in_word};

/// Marker for types that may live in memory shared with other processes.
///
/// For most of them (the numbers, atomics, [`Utf16`](crate::Utf16),
/// [`FixedStr`](crate::FixedStr), and arrays and structs of those) every
/// bit pattern is a valid value: [`ShmSafe::CHECKED`] is `false` and
/// reading them costs no check. For `bool`, `char` and shared enums
/// (`#[derive(SharedEnum)]`) some bit patterns are invalid, and every read
/// runs [`ShmSafe::check`] on a private copy first (like zerocopy's
/// `TryFromBytes`), which names the field and the bad value.
///
/// # Safety
///
/// Implementors guarantee that
/// - if [`ShmSafe::CHECKED`] is `false`, every bit pattern of
///   `size_of::<Self>()` bytes is a valid `Self` (so bytes written by any
///   other process can be read as `Self`); if it is `true`, every bit
///   pattern for which [`ShmSafe::check`] returns `Ok` is;
/// - `Self` contains no pointers or references and has no drop glue;
/// - `Self` has no padding bytes (padding would carry uninitialised memory
///   from one process to another);
/// - `Self` has the same size, alignment and field offsets on 32- and 64-bit
///   targets, and [`ShmSafe::TYPE`] describes it exactly.
///
/// Use `#[derive(SharedLayout)]` for structs; primitives, atomics and arrays
/// of them are implemented here.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be placed in shared memory",
    label = "`{Self}` is not a shared-memory-safe type",
    note = "shared memory holds only types with no pointers and the same layout in 32- and 64-bit processes, whose every bit pattern is valid or is checked on every read",
    note = "use u8..u64, i8..i64, f32, f64, bool, char, `shm_runtime::Utf16`, `shm_runtime::FixedStr<N>`, `[T; N]` of those, `AtomicU8`..`AtomicI64`, an enum with `#[derive(SharedEnum)]`, or a struct with `#[derive(SharedLayout)]`; instead of `usize`/`isize` use `u64`/`i64`, instead of `String` use `FixedStr<N>`, instead of `Vec`/`Box`/pointers use a fixed-size array `[T; N]` plus a length field"
)]
pub unsafe trait ShmSafe: Sized + 'static {
    /// The description of this type written into the schema descriptor.
    const TYPE: TypeDesc;
    /// Whether some bit patterns are invalid, so that reads must run
    /// [`ShmSafe::check`]. `false` (the default): every bit pattern is a
    /// valid `Self`, and readers skip the check at compile time.
    const CHECKED: bool = false;
    /// Checks that `bytes`, a private copy of `size_of::<Self>()` bytes
    /// (any alignment), hold a valid `Self`; the error names the field
    /// path inside `Self` and the bad value. Always `Ok` when
    /// [`ShmSafe::CHECKED`] is `false`.
    ///
    /// # Panics
    ///
    /// If `bytes` is shorter than `size_of::<Self>()`.
    #[inline]
    fn check(bytes: &[u8]) -> Result<(), Invalid> {
        let _ = bytes;
        Ok(())
    }
}

macro_rules! prim_impls {
    ($($t:ty => $p:ident),* $(,)?) => {$(
        // SAFETY: fixed-width integers, floats and the fixed-width atomics
        // accept every bit pattern, hold no pointers, have no drop glue or
        // padding, and are the same size on every supported target; `Prim`
        // names exactly this type.
        unsafe impl ShmSafe for $t {
            const TYPE: TypeDesc = TypeDesc::Prim(Prim::$p);
        }
    )*};
}

prim_impls! {
    u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32,
    u64 => U64, i64 => I64, f32 => F32, f64 => F64,
    core::sync::atomic::AtomicU8 => AtomicU8,
    core::sync::atomic::AtomicI8 => AtomicI8,
    core::sync::atomic::AtomicU16 => AtomicU16,
    core::sync::atomic::AtomicI16 => AtomicI16,
    core::sync::atomic::AtomicU32 => AtomicU32,
    core::sync::atomic::AtomicI32 => AtomicI32,
    core::sync::atomic::AtomicU64 => AtomicU64,
    core::sync::atomic::AtomicI64 => AtomicI64,
}

// SAFETY: one byte, no pointers; `check` accepts exactly 0 and 1, the
// valid `bool`s.
unsafe impl ShmSafe for bool {
    const TYPE: TypeDesc = TypeDesc::Prim(Prim::Bool);
    const CHECKED: bool = true;
    #[inline]
    fn check(bytes: &[u8]) -> Result<(), Invalid> {
        match bytes[0] {
            0 | 1 => Ok(()),
            b => Err(bad_bool(b)),
        }
    }
}

// SAFETY: four bytes, aligned to 4 on every target, no pointers; `check`
// accepts exactly the Unicode scalar values, the valid `char`s.
unsafe impl ShmSafe for char {
    const TYPE: TypeDesc = TypeDesc::Prim(Prim::Char);
    const CHECKED: bool = true;
    #[inline]
    fn check(bytes: &[u8]) -> Result<(), Invalid> {
        let v = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        match char::from_u32(v) {
            Some(_) => Ok(()),
            None => Err(bad_char(v)),
        }
    }
}

// SAFETY: an array of `ShmSafe` elements has no padding between elements
// (size is a multiple of alignment), accepts every bit pattern if each
// element does (`CHECKED` is the element's), else exactly those whose
// every element passes the element's check, and has the same layout
// everywhere because `T` does.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {
    const TYPE: TypeDesc = TypeDesc::Array {
        elem: &T::TYPE,
        len: N,
    };
    const CHECKED: bool = T::CHECKED;
    fn check(bytes: &[u8]) -> Result<(), Invalid> {
        if T::CHECKED {
            let size = size_of::<T>();
            for i in 0..N {
                T::check(&bytes[i * size..(i + 1) * size]).map_err(|e| e.at_index(i))?;
            }
        }
        Ok(())
    }
}

/// Checks a private copy of a `T` read from segment `name`.
///
/// # Safety
///
/// `value` points to `size_of::<T>()` initialised, private bytes.
pub(crate) unsafe fn check_copy<T: ShmSafe>(
    name: &str,
    value: *const T,
) -> crate::error::Result<()> {
    if !T::CHECKED {
        return Ok(());
    }
    // SAFETY: the caller's contract: initialised and private; `T` has no
    // padding (`ShmSafe`), so every byte is initialised.
    let bytes = unsafe { core::slice::from_raw_parts(value.cast::<u8>(), size_of::<T>()) };
    T::check(bytes).map_err(|e| e.into_error(name))
}

/// A `#[repr(C)]` struct whose layout has been checked by
/// `#[derive(SharedLayout)]` and that can be mapped over a segment.
///
/// # Safety
///
/// Implement only through `#[derive(SharedLayout)]`, which proves that
/// [`SharedLayout::LAYOUT`] describes `Self` exactly (size, alignment and
/// every field's offset, size and type) and that `Self` is [`ShmSafe`],
/// and makes [`SharedLayout::Fields`] a `#[repr(transparent)]` wrapper of
/// a `Field<'a, Self, A>` (which `Field`'s `Deref` relies on).
pub unsafe trait SharedLayout: ShmSafe {
    /// The layout of this struct.
    const LAYOUT: LayoutDesc;
    /// 64-bit fingerprint of the layout: FNV-1a over the schema descriptor.
    const FINGERPRINT: u64 = fingerprint(&Self::LAYOUT);
    /// Room for the payload, in bytes, that a segment created with this
    /// schema reserves so that newer, larger versions of the schema can
    /// take it over (`#[shm(capacity = N)]`; at least `size_of::<Self>()`
    /// when given). `0`: no room beyond the struct. See
    /// "Schema evolution" in the README.
    const CAPACITY: usize = 0;
    /// Whether programs built with an older version of this schema may open
    /// a segment that holds this version for writing (`#[shm(older_writers)]`,
    /// with `extends`). Without it they may only read it. See
    /// "Schema evolution" in the README.
    const OLDER_WRITERS: bool = false;
    /// The generated typed field accessors over a mapped value.
    type Fields<'a, A: Access>: From<Field<'a, Self, A>>;
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Access mode of a [`Field`]: [`ReadOnly`] or [`ReadWrite`].
pub trait Access: sealed::Sealed + Copy + 'static {
    /// Whether the mapping behind handles of this kind is read-only.
    const READ_ONLY: bool;
}

/// Getters only.
#[derive(Clone, Copy, Debug)]
pub struct ReadOnly;
/// Getters and setters.
#[derive(Clone, Copy, Debug)]
pub struct ReadWrite;
impl sealed::Sealed for ReadOnly {}
impl sealed::Sealed for ReadWrite {}
impl Access for ReadOnly {
    const READ_ONLY: bool = true;
}
impl Access for ReadWrite {
    const READ_ONLY: bool = false;
}

/// A typed pointer to a `T` inside a mapping that lives for `'a`.
pub struct Field<'a, T, A> {
    ptr: NonNull<T>,
    _life: PhantomData<(&'a T, A)>,
}

impl<T, A> Clone for Field<'_, T, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, A> Copy for Field<'_, T, A> {}

impl<T, A> core::fmt::Debug for Field<'_, T, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Field")
            .field("type", &core::any::type_name::<T>())
            .field("ptr", &self.ptr)
            .finish()
    }
}

// Only read-only handles cross threads. A read-only handle performs whole
// aligned 8-byte atomic loads only, the same size as every other access to
// the words it reads (the protocol's copies, setters), so sharing it cannot
// cause a data race or a mixed-size race. A read-write handle is neither
// `Send` nor `Sync` (the `NonNull` makes it so): a setter is a load and a
// store of the whole word, and two threads setting neighbouring fields of
// one word would lose one of the stores; inside `Shared::update` the
// handles, and every accessor generated from them, stay on the thread that
// called it (ui-tests: `field_read_write_not_send`).

// SAFETY: a read-only `Field` only performs whole-word atomic loads of the
// memory it points to (see above).
unsafe impl<T> Send for Field<'_, T, ReadOnly> {}
// SAFETY: as above; every access through `&Field<_, _, ReadOnly>` is a
// whole-word atomic load.
unsafe impl<T> Sync for Field<'_, T, ReadOnly> {}

impl<'a, T: ShmSafe, A: Access> Field<'a, T, A> {
    /// Wraps a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be aligned for `T` (and at least to `T`'s size for
    /// primitive fields) and point into memory that stays mapped for `'a`,
    /// in which every aligned 8-byte word overlapping `size_of::<T>()`
    /// bytes at `ptr` is valid, and only accessed as whole atomic words by
    /// Rust code while a `Field` to them exists. If `A` is [`ReadWrite`] the
    /// words must be writable and nobody else may store to them meanwhile
    /// (a store rewrites the whole word holding the field).
    pub const unsafe fn from_raw(ptr: NonNull<T>) -> Self {
        Field {
            ptr,
            _life: PhantomData,
        }
    }

    /// The raw pointer to the field.
    pub const fn as_ptr(self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// A handle to the field of type `F` at `offset` bytes into this value.
    ///
    /// # Safety
    ///
    /// There must be a field of type `F` at `offset` within `T` (as
    /// `core::mem::offset_of!` reports it).
    pub unsafe fn project<F: ShmSafe>(self, offset: usize) -> Field<'a, F, A> {
        // SAFETY: the caller guarantees a field of type `F` at `offset`
        // inside the `T` this handle points to, so the result is in bounds,
        // non-null and aligned for `F`; it lives in the same mapping for 'a.
        unsafe { Field::from_raw(self.ptr.byte_add(offset).cast::<F>()) }
    }

    /// The same field with getters only.
    pub const fn read_only(self) -> Field<'a, T, ReadOnly> {
        Field {
            ptr: self.ptr,
            _life: PhantomData,
        }
    }
}

/// Scalar field types, read and written through the aligned 8-byte word
/// that holds them: the numbers, `bool`, `char`,
/// [`Utf16`](crate::Utf16) and shared enums.
pub trait Scalar: ShmSafe + Copy + sealed::Sealed {
    /// What a getter returns: the value for types whose every bit pattern
    /// is valid (numbers, [`Utf16`](crate::Utf16)), `Result<Self, Invalid>`
    /// for validated ones (`bool`, `char`, enums).
    type Out;
    #[doc(hidden)]
    /// # Safety
    /// `p` is aligned to `size_of::<Self>()`, and the aligned 8-byte word
    /// holding it is valid and only accessed as a whole atomic word.
    unsafe fn load(p: *mut Self) -> Self::Out;
    #[doc(hidden)]
    /// # Safety
    /// As for `load`, the word is writable, and nobody else stores to it
    /// meanwhile.
    unsafe fn store(p: *mut Self, v: Self);
}

macro_rules! scalar {
    ($($t:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Scalar for $t {
            type Out = $t;
            #[inline]
            unsafe fn load(p: *mut Self) -> Self {
                let mut b = [0u8; size_of::<$t>()];
                // SAFETY: the caller's contract (`Scalar::load`).
                unsafe { load_in_word(p.cast(), &mut b, Ordering::Relaxed) };
                <$t>::from_ne_bytes(b)
            }
            #[inline]
            unsafe fn store(p: *mut Self, v: Self) {
                // SAFETY: the caller's contract (`Scalar::store`).
                unsafe { store_in_word(p.cast(), &v.to_ne_bytes()) }
            }
        }
    )*};
}

scalar!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

impl sealed::Sealed for bool {}
impl Scalar for bool {
    type Out = Result<bool, Invalid>;
    #[inline]
    unsafe fn load(p: *mut Self) -> Self::Out {
        // SAFETY: the caller's contract, for the byte as a `u8`.
        match unsafe { u8::load(p.cast()) } {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(bad_bool(b)),
        }
    }
    #[inline]
    unsafe fn store(p: *mut Self, v: Self) {
        // SAFETY: the caller's contract, for the byte as a `u8`.
        unsafe { u8::store(p.cast(), u8::from(v)) }
    }
}

impl sealed::Sealed for char {}
impl Scalar for char {
    type Out = Result<char, Invalid>;
    #[inline]
    unsafe fn load(p: *mut Self) -> Self::Out {
        // SAFETY: the caller's contract, for the value as a `u32`.
        let v = unsafe { u32::load(p.cast()) };
        char::from_u32(v).ok_or_else(|| bad_char(v))
    }
    #[inline]
    unsafe fn store(p: *mut Self, v: Self) {
        // SAFETY: the caller's contract, for the value as a `u32`.
        unsafe { u32::store(p.cast(), u32::from(v)) }
    }
}

impl<T: Scalar, A: Access> Field<'_, T, A> {
    /// Reads the field (one relaxed atomic load of the word holding it).
    /// For validated types (`bool`, `char`, enums) the result is a
    /// `Result` whose error names the bad value.
    pub fn get(self) -> T::Out {
        // SAFETY: `from_raw`'s contract: valid, aligned, atomically accessed.
        unsafe { T::load(self.ptr.as_ptr()) }
    }
}

impl<T: Scalar> Field<'_, T, ReadWrite> {
    /// Writes the field (a relaxed atomic load and store of the word
    /// holding it).
    pub fn set(self, v: T) {
        // SAFETY: `from_raw`'s contract for `ReadWrite`: valid, aligned,
        // writable, atomically accessed, inside the write protocol.
        unsafe { T::store(self.ptr.as_ptr(), v) }
    }
}

impl<'a, T: ShmSafe, const N: usize, A: Access> Field<'a, [T; N], A> {
    /// The number of elements, `N`.
    pub const fn len(self) -> usize {
        N
    }

    /// Whether the array has no elements.
    pub const fn is_empty(self) -> bool {
        N == 0
    }

    /// A handle to element `i`, or `None` if `i >= N`. Every indexed
    /// accessor of an array field (`at`, `get`, `set`) returns `None` for
    /// an index out of range, and none of them panics.
    pub fn at(self, i: usize) -> Option<Field<'a, T, A>> {
        if i < N {
            // SAFETY: element `i < N` of a `[T; N]` is a `T` at offset
            // `i * size_of::<T>()`.
            Some(unsafe { self.project::<T>(i * core::mem::size_of::<T>()) })
        } else {
            None
        }
    }
}

impl<T: Scalar, const N: usize, A: Access> Field<'_, [T; N], A> {
    /// Element `i`, or `None` if `i >= N`.
    pub fn get(self, i: usize) -> Option<T::Out> {
        self.at(i).map(|f| f.get())
    }

    /// Every element, each read with its own atomic load (not a snapshot of
    /// the array as a whole: use `Shared::read` for that).
    pub fn to_array(self) -> [T::Out; N] {
        core::array::from_fn(|i| match self.at(i) {
            Some(f) => f.get(),
            None => unreachable!("i < N"),
        })
    }
}

impl<T: Scalar, const N: usize> Field<'_, [T; N], ReadWrite> {
    /// Sets element `i`: `Some(())`, or `None` (and nothing is written) if
    /// `i >= N`, as [`get`](Field::get) returns `None` then.
    #[must_use = "an index out of range writes nothing and returns `None`"]
    pub fn set(self, i: usize, v: T) -> Option<()> {
        self.at(i).map(|f| f.set(v))
    }

    /// Sets every element from `values`.
    pub fn set_all(self, values: &[T; N]) {
        for (i, v) in values.iter().enumerate() {
            if let Some(f) = self.at(i) {
                f.set(*v);
            }
        }
    }
}

impl<'a, T: SharedLayout, A: Access> Field<'a, T, A> {
    /// The generated accessors of a nested schema struct. The handle
    /// dereferences to them too, so `f.joints().at(2)?.position()` needs no
    /// `.fields()` (except for a field named like a method of `Field`:
    /// `as_ptr`, `fields`, `project`, `read_only`).
    pub fn fields(self) -> T::Fields<'a, A> {
        T::Fields::from(self)
    }
}

impl<'a, T: SharedLayout, A: Access> core::ops::Deref for Field<'a, T, A> {
    type Target = T::Fields<'a, A>;
    fn deref(&self) -> &T::Fields<'a, A> {
        // SAFETY: `T::Fields<'a, A>` is a `#[repr(transparent)]` wrapper of
        // a `Field<'a, T, A>` (`SharedLayout`'s contract), so a reference to
        // one is a valid reference to the other, for as long as `self`.
        unsafe { &*(self as *const Self).cast::<T::Fields<'a, A>>() }
    }
}

macro_rules! atomic_field {
    ($($atomic:ident => $int:ty),* $(,)?) => {$(
        impl<'a, A: Access> Field<'a, $atomic, A> {
            /// Atomically loads the value with the given ordering (a load
            /// of the aligned word holding it).
            pub fn load(self, order: Ordering) -> $int {
                let mut b = [0u8; size_of::<$int>()];
                // SAFETY: `from_raw` guarantees the word holding the field
                // is valid and only accessed as a whole atomic word.
                unsafe { load_in_word(self.ptr.as_ptr().cast(), &mut b, order) };
                <$int>::from_ne_bytes(b)
            }
        }

        impl<'a> Field<'a, $atomic, ReadWrite> {
            /// Stores `v`. Read-write handles exist only inside
            /// `Shared::update`, on this thread's private copy of the value,
            /// which is then written whole and published at once: so the
            /// operations of read-write atomic fields need no ordering, and
            /// are each a load and a store of the word holding the field
            /// (the size of every other access to it: there is no
            /// `&Atomic*` to the copy, whose single-byte operations would
            /// race with a neighbour's whole-word setter).
            pub fn store(self, v: $int) {
                // SAFETY: `from_raw`'s contract for `ReadWrite`: valid,
                // aligned, writable, accessed as whole words, stored to by
                // this handle's thread only (it is not `Send`).
                unsafe { store_in_word(self.ptr.as_ptr().cast(), &v.to_ne_bytes()) }
            }

            /// Replaces the value with `f(old)`, returns the old value.
            pub fn update_with(self, f: impl FnOnce($int) -> $int) -> $int {
                let old = self.load(Ordering::Relaxed);
                self.store(f(old));
                old
            }

            /// Stores `v`, returns the old value.
            pub fn swap(self, v: $int) -> $int {
                self.update_with(|_| v)
            }

            /// Adds `v` (wrapping on overflow), returns the old value.
            pub fn fetch_add(self, v: $int) -> $int {
                self.update_with(|x| x.wrapping_add(v))
            }

            /// Subtracts `v` (wrapping on overflow), returns the old value.
            pub fn fetch_sub(self, v: $int) -> $int {
                self.update_with(|x| x.wrapping_sub(v))
            }

            /// Bitwise and with `v`, returns the old value.
            pub fn fetch_and(self, v: $int) -> $int {
                self.update_with(|x| x & v)
            }

            /// Bitwise or with `v`, returns the old value.
            pub fn fetch_or(self, v: $int) -> $int {
                self.update_with(|x| x | v)
            }

            /// Bitwise xor with `v`, returns the old value.
            pub fn fetch_xor(self, v: $int) -> $int {
                self.update_with(|x| x ^ v)
            }

            /// The maximum of the value and `v`, returns the old value.
            pub fn fetch_max(self, v: $int) -> $int {
                self.update_with(|x| x.max(v))
            }

            /// The minimum of the value and `v`, returns the old value.
            pub fn fetch_min(self, v: $int) -> $int {
                self.update_with(|x| x.min(v))
            }

            /// Stores `new` if the value is `current`; `Ok(old)` if it was
            /// stored, `Err(actual)` otherwise.
            pub fn compare_exchange(self, current: $int, new: $int) -> Result<$int, $int> {
                let old = self.load(Ordering::Relaxed);
                if old == current {
                    self.store(new);
                    Ok(old)
                } else {
                    Err(old)
                }
            }
        }
    )*};
}

atomic_field! {
    AtomicU8 => u8, AtomicI8 => i8, AtomicU16 => u16, AtomicI16 => i16,
    AtomicU32 => u32, AtomicI32 => i32, AtomicU64 => u64, AtomicI64 => i64,
}
