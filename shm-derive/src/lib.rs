//! `#[derive(SharedLayout)]`: compile-time checked layouts for structs that
//! live in shared memory.
//!
//! Use it through `shm_runtime`, which re-exports it as
//! `shm_runtime::SharedLayout` (next to the trait of the same name): the
//! code it generates names `::shm_runtime::__private`. The derive's own
//! documentation is the reference for users: what it checks, every
//! `#[shm(...)]` attribute with an example, and what it generates. Its
//! examples are doctests of this crate (with `shm-runtime` as a
//! dev-dependency), and rustdoc shows them on `shm_runtime`'s re-export.
//!
//! The macro works in passes, each in its own module: `attr` and `ast`
//! parse the struct and its attributes, `check` reports every syntactic
//! mistake (all of them, in one compile, collected by `ctxt`), and
//! `expand` generates the implementation together with the type-level
//! checks that rustc evaluates (field types, padding, the asserted
//! layout, `extends`). When a syntactic check fails, `fallback` emits a
//! stub implementation so that the mistake causes no further errors.

mod ast;
mod attr;
mod check;
// The identifier rule, shared with the runtime (one source file).
mod ctxt;
mod enums;
mod expand;
mod fallback;
#[allow(dead_code)]
#[path = "../../shm-runtime/src/ident.rs"]
mod ident;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `shm_runtime::SharedLayout` (and `ShmSafe`) for a `#[repr(C)]`
/// struct with named fields, after checking that its layout can be shared
/// between processes.
///
/// ```
/// use shm_runtime::{Options, SharedLayout};
///
/// #[derive(SharedLayout, Clone, Copy, Debug)]
/// #[repr(C)]
/// #[shm(size = 208, align = 4, name = "MySharedData", version = 1)]
/// pub struct MySharedData {
///     pub value: i32,
///     pub letter: u16,
///     pub _pad: [u8; 2],
///     #[shm(offset = 8)]
///     pub numbers: [f32; 50],
/// }
///
/// let seg = Options::memory().open::<MySharedData>()?;
/// seg.update(|f| f.numbers().set(10, 1.45).expect("index in range"))?;
/// assert_eq!(seg.fields().numbers().get(10), Some(1.45));
/// # Ok::<(), shm_runtime::Error>(())
/// ```
///
/// # What the derive checks
///
/// A layout that two processes agree on must not depend on the compiler's
/// choices, must not contain padding (padding bytes carry uninitialised
/// memory from one process to another) and must consist only of types for
/// which every bit pattern is valid. The derive proves this in two stages.
///
/// **Syntactic checks**, done by the macro; every mistake in the struct is
/// reported by one compile, each at the offending token:
///
/// - the item is a struct with named fields (not an enum, union, tuple or
///   unit struct), without generic or lifetime parameters;
/// - it has `#[repr(C)]`, optionally with `align(N)`; `repr(Rust)`,
///   `repr(packed)` and `repr(transparent)` are rejected;
/// - the `#[shm(...)]` attributes are known, given once and well-formed
///   (a misspelt one is reported with the closest known name);
/// - the schema name fits the 48 bytes the segment header has for it;
/// - the schema name and every field name are identifiers in every target
///   language of the generated bindings (C, C++, C#, Python): ASCII
///   letters, digits and `_`, not starting with a digit, no `__`, not `_`
///   followed by an upper-case letter at the start, field names at most 63
///   bytes (non-ASCII Rust identifiers are refused, with a suggestion);
/// - no field has a type that can never be shared: `usize`/`isize`, `u128`/`i128`, `String`, `Vec`, `Box`, `Option`,
///   references and pointers are reported with what to use instead;
/// - no field has `#[cfg]`.
///
/// If any of these fails, the derive emits the errors and a stub
/// implementation, so the mistake does not cause further errors elsewhere.
///
/// **Type-level checks**, done by rustc on the generated code, each spanned
/// at the token it concerns:
///
/// - every field's type implements `ShmSafe` (the error, with the trait's
///   `on_unimplemented` advice, points at the field's type): the integers
///   and floats of 8 to 64 bits, their atomics, `bool`, `char`,
///   `Utf16`, `FixedStr<N>`, `#[derive(SharedEnum)]` enums, arrays of
///   them, and other `#[derive(SharedLayout)]` structs;
/// - there is no implicit padding between two consecutive fields, nor after
///   the last one: the message says how many bytes and which `_pad` field
///   to add. With no padding at all on a 64-bit target, the layout is also
///   the same on 32-bit targets;
/// - the layout assertions written as attributes hold;
/// - with `extends`, the older version's layout is a prefix of this one.
///
/// ```compile_fail,E0080
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// pub struct Reading {
///     pub kind: u16,
///     pub value: f32, // error: implicit padding: 2 byte(s) between `kind` and `value`; add `_pad: [u8; 2]` after `kind`
/// }
/// ```
///
/// ```compile_fail,E0277
/// use shm_runtime::SharedLayout;
///
/// pub struct Celsius(pub f32); // no derive: not known to be shareable
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// pub struct Reading {
///     pub sequence: u32,
///     pub temperature: Celsius, // error: `Celsius` cannot be placed in shared memory
/// }
/// ```
///
/// # Attributes of the struct
///
/// Written in one or more `#[shm(...)]` above the struct, separated by
/// commas; each may be given once.
///
/// ## `size = N` and `align = N`
///
/// Assert `size_of` and `align_of` of the struct, so that a change of layout
/// (a field added, a type changed) is a compile error at the attribute
/// rather than a `LayoutMismatch` at run time. `align` must be a power of
/// two. A larger alignment comes from `#[repr(C, align(N))]`, whose trailing
/// padding must then be an explicit field too.
///
/// ```
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C, align(64))]                  // one cache line
/// #[shm(size = 64, align = 64)]
/// pub struct Counter {
///     pub count: u64,
///     pub _pad: [u8; 56],
/// }
///
/// assert_eq!((Counter::LAYOUT.size, Counter::LAYOUT.align), (64, 64));
/// ```
///
/// ```compile_fail,E0080
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(size = 12)] // error: `#[shm(size = 12)]` but `Pair` is 16 bytes
/// pub struct Pair {
///     pub a: u64,
///     pub b: f64,
/// }
/// ```
///
/// ## `name = "..."`
///
/// The schema's stable name, recorded in every segment created with it and
/// checked by every opener: two programs share a segment only if their
/// structs have the same name (and version and layout). Default: the type
/// name. It must be an identifier in every target language of the
/// generated bindings (ASCII letters, digits and `_`, not starting with a
/// digit, no `__`, not `_` and an upper-case letter first) of at most 48
/// bytes. Renaming the Rust type does not change a schema that has a
/// `name`.
///
/// ```
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(name = "Telemetry")]
/// pub struct TelemetryRecord {
///     pub seq: u64,
/// }
///
/// assert_eq!(TelemetryRecord::LAYOUT.name, "Telemetry");
/// ```
///
/// ```compile_fail
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(name = "")] // error: the schema name must not be empty
/// pub struct Telemetry {
///     pub seq: u64,
/// }
/// ```
///
/// ```compile_fail
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(name = "com.example.telemetry")] // error: contains `.`; write `name = "com_example_telemetry"`
/// pub struct Telemetry {
///     pub seq: u64,
/// }
/// ```
///
/// ## `version = N`
///
/// The schema's version, a `u32` (default 1), recorded and checked like the
/// name. A newer version of a schema is a new struct with a higher
/// version; with `extends` (below) it can share segments with the older one.
///
/// ```
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(name = "Telemetry", version = 3)]
/// pub struct TelemetryV3 {
///     pub seq: u64,
/// }
///
/// assert_eq!(TelemetryV3::LAYOUT.version, 3);
/// ```
///
/// ## `extends = OlderVersion`
///
/// This struct is a newer version of the schema `OlderVersion` (another
/// `#[derive(SharedLayout)]` struct, named by its path). rustc checks that
/// the older layout is a prefix of this one: every field of `OlderVersion`,
/// in order, with the same name, type and offset, and the new fields after
/// them; and that `version` (required) is higher. Removing, renaming,
/// retyping or reordering an old field, or inserting a new one before it, is
/// a compile error at the `extends` path that names the field. The schema
/// name defaults to `OlderVersion`'s (a different `name` is an error).
///
/// A program built with the older version can then read segments that hold
/// this one (it sees its prefix), and this program can upgrade segments that
/// hold the older one in place, if they have room (`capacity`). The rules at
/// run time are in `shm_runtime::evolution`.
///
/// ```
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(name = "Sensor")]
/// pub struct SensorV1 {
///     pub seq: u64,
///     pub temperature: f64,
/// }
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(version = 2, extends = SensorV1)]
/// pub struct SensorV2 {
///     pub seq: u64,
///     pub temperature: f64,
///     pub humidity: f64, // new fields go after the old ones
/// }
///
/// assert_eq!(SensorV2::LAYOUT.name, "Sensor");
/// assert_eq!(SensorV2::LAYOUT.version, 2);
/// ```
///
/// ```compile_fail,E0080
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(name = "Sensor")]
/// pub struct SensorV1 {
///     pub seq: u64,
///     pub temperature: f64,
/// }
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(version = 2, extends = SensorV1)] // error: `SensorV2` cannot extend `SensorV1`: field `temperature` changed type from f64 to f32; ...
/// pub struct SensorV2 {
///     pub seq: u64,
///     pub temperature: f32,
///     pub _pad: [u8; 4],
/// }
/// ```
///
/// ## `capacity = N`
///
/// Segments created with this schema have room for a payload of `N` bytes
/// (at least `size_of` of the struct, checked at compile time), so that a
/// newer, larger version can upgrade them in place: the payload cannot move,
/// so it can only grow into room reserved when the segment was created. The
/// room costs address space, not memory, until it is used.
/// `Options::capacity(N)` gives the same room to one segment at its creation;
/// the larger of the two applies. The value is the trait's `CAPACITY`
/// constant.
///
/// ```
/// use shm_runtime::{Options, SharedLayout};
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(name = "Sensor", capacity = 1024)] // room for versions up to 1024 bytes
/// pub struct SensorV1 {
///     pub seq: u64,
///     pub temperature: f64,
/// }
///
/// let seg = Options::memory().open::<SensorV1>()?;
/// assert_eq!(seg.header().capacity(), 1024);
/// # Ok::<(), shm_runtime::Error>(())
/// ```
///
/// ```compile_fail,E0080
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(capacity = 8)] // error: `#[shm(capacity = 8)]` is less than the size of `Sensor` (16 bytes): ...
/// pub struct Sensor {
///     pub seq: u64,
///     pub temperature: f64,
/// }
/// ```
///
/// ## `older_writers`
///
/// Only with `extends`, and without a value. Programs built with an older
/// version of the schema may open a segment that holds this version for
/// writing: they write their prefix of the fields (with the snapshot protocol
/// as usual) and the new fields keep their values. Without it, older programs
/// may only read such a segment (`Error::NewerSchema` for a read-write
/// open). It is opt-in because a new field may depend on old ones (a
/// checksum over all fields would go stale when an older writer changes
/// them). The value is the trait's `OLDER_WRITERS` constant.
///
/// ```
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(name = "Sensor", capacity = 1024)]
/// pub struct SensorV1 {
///     pub seq: u64,
///     pub temperature: f64,
/// }
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(version = 2, extends = SensorV1, capacity = 1024, older_writers)]
/// pub struct SensorV2 {
///     pub seq: u64,
///     pub temperature: f64,
///     pub humidity: f64,
/// }
///
/// assert!(SensorV2::OLDER_WRITERS && !SensorV1::OLDER_WRITERS);
/// ```
///
/// ```compile_fail
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// #[shm(older_writers)] // error: `older_writers` ... needs `extends = OlderVersion`
/// pub struct Sensor {
///     pub seq: u64,
/// }
/// ```
///
/// # Attributes of a field
///
/// ## `offset = N`
///
/// Asserts the field's offset from the start of the struct (`offset_of`),
/// for layouts that must match a C or C# declaration byte for byte.
///
/// ```
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// pub struct Header {
///     #[shm(offset = 0)]
///     pub magic: u32,
///     #[shm(offset = 4)]
///     pub flags: u32,
///     #[shm(offset = 8)]
///     pub length: u64,
/// }
///
/// assert_eq!(Header::LAYOUT.fields[2].offset, 8);
/// ```
///
/// ```compile_fail,E0080
/// use shm_runtime::SharedLayout;
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// pub struct Header {
///     pub magic: u32,
///     pub flags: u32,
///     #[shm(offset = 4)] // error: `#[shm(offset = 4)]` but `length` is at offset 8
///     pub length: u64,
/// }
/// ```
///
/// A struct attribute on a field, or `offset` on the struct, is an error that
/// says where it belongs.
///
/// # What is generated
///
/// - `unsafe impl ShmSafe` and `unsafe impl SharedLayout` for the struct
///   (with `LAYOUT` describing every field; `FINGERPRINT` comes from the
///   trait; `CAPACITY` and `OLDER_WRITERS` from `capacity` and
///   `older_writers`);
/// - a check that every read runs on a private copy of the value when
///   some field has invalid bit patterns (`bool`, `char`, enums,
///   `FixedStr`), naming the field path and the bad value; for structs of
///   numbers only, `ShmSafe::CHECKED` is `false` and reads check nothing;
/// - `{Name}Fields<'a, A = ReadOnly>`, with the struct's visibility: one
///   method per field (named after it, with the field's visibility and
///   docs) returning a typed `Field` handle, which `Shared::fields()` and
///   `Shared::update` hand out. Fields whose name starts with `_` are
///   explicit padding and get no method.
///
/// Everything generated is named through `::shm_runtime::__private`, so the
/// struct's module needs no imports besides the derive.
#[proc_macro_derive(SharedLayout, attributes(shm))]
pub fn derive_shared_layout(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}

/// Derives `shm_runtime::SharedEnum` (and `ShmSafe`) for a fieldless enum
/// with an integer `#[repr]` and an explicit discriminant on every variant,
/// so that it can be a field of a schema struct.
///
/// Another process may write any integer into the field: every read
/// (`Shared::read`, `read_into`, `read_boxed`, the field getter, `shm
/// dump`) checks that it is one of the discriminants, and names the field
/// and the bad value otherwise. The descriptor records the enum's name,
/// `repr` and every variant's name and value; a newer version of a schema
/// may add variants at the end (`extends`).
///
/// ```
/// use shm_runtime::{Options, SharedEnum, SharedLayout};
///
/// #[derive(SharedEnum, Clone, Copy, Debug, PartialEq)]
/// #[repr(u8)]
/// pub enum Mode {
///     Idle = 0,
///     Running = 1,
///     Failed = 9,
/// }
///
/// #[derive(SharedLayout, Clone, Copy)]
/// #[repr(C)]
/// pub struct Machine {
///     pub mode: Mode,
///     pub on: bool,
///     pub _pad: [u8; 2],
///     pub speed: f32,
/// }
///
/// let seg = Options::memory().open::<Machine>()?;
/// seg.update(|f| {
///     f.mode().set(Mode::Running);
///     f.on().set(true);
/// })?;
/// assert_eq!(seg.fields().mode().get(), Ok(Mode::Running));
/// assert_eq!(seg.read()?.mode, Mode::Running);
/// # Ok::<(), shm_runtime::Error>(())
/// ```
///
/// The enum must be `Copy`, have `#[repr(u8)]` (or `u16`, `u32`, `u64`,
/// `i8`, `i16`, `i32`, `i64`: not `C`, `usize` or `isize`, whose size
/// varies), at least one variant, no data in any variant, and an explicit
/// `= N` on every variant (the values are the format other processes
/// read, so reordering the variants must not change them). A new segment
/// is all zeros: give the enum a variant `= 0` (or write a value before
/// anyone reads), else reads are `Error::InvalidValue` until a write.
///
/// ```compile_fail
/// use shm_runtime::SharedEnum;
///
/// #[derive(SharedEnum, Clone, Copy)]
/// #[repr(u8)]
/// pub enum Mode {
///     Idle,    // error: variant `Idle` needs an explicit discriminant, e.g. `Idle = 0`
///     Running,
/// }
/// ```
#[proc_macro_derive(SharedEnum, attributes(shm))]
pub fn derive_shared_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    enums::derive(&input).into()
}

#[cfg(test)]
mod tests;
