//! `#[derive(SharedLayout)]`: compile-time checked layouts for structs that
//! live in shared memory.
//!
//! Use it through `shm_runtime`, which re-exports it:
//!
//! ```ignore
//! use shm_runtime::SharedLayout;
//!
//! #[derive(SharedLayout)]
//! #[repr(C)]
//! #[shm(size = 208, align = 4, version = 1, name = "MySharedData")]
//! pub struct MySharedData {
//!     pub value: i32,
//!     pub letter: u16,
//!     _pad: [u8; 2],
//!     pub numbers: [f32; 50],
//! }
//! ```
//!
//! # What the derive checks
//!
//! A layout that two processes agree on must not depend on the compiler's
//! choices, must not contain padding (padding bytes carry uninitialised
//! memory from one process to another) and must consist only of types for
//! which every bit pattern is valid. The derive proves this in two stages.
//!
//! **Syntactic checks**, done by the macro; every mistake in the struct is
//! reported by one compile, each at the offending token:
//!
//! - the item is a struct with named fields (not an enum, union, tuple or
//!   unit struct), without generic or lifetime parameters;
//! - it has `#[repr(C)]`, optionally with `align(N)`; `repr(Rust)`,
//!   `repr(packed)` and `repr(transparent)` are rejected;
//! - the `#[shm(...)]` attributes are known, given once and well-formed;
//! - the schema name fits the 48 bytes the segment header has for it;
//! - no field has a type that can never be shared: `bool`, `char`,
//!   `usize`/`isize`, `u128`/`i128`, `String`, `Vec`, `Box`, `Option`,
//!   references and pointers are reported with what to use instead;
//! - no field has `#[cfg]`.
//!
//! If any of these fails, the derive emits the errors and a stub
//! implementation, so the mistake does not cause further errors elsewhere.
//!
//! **Type-level checks**, done by rustc on the generated code, each spanned
//! at the token it concerns:
//!
//! - every field's type implements `ShmSafe` (the error, with the trait's
//!   `on_unimplemented` advice, points at the field's type);
//! - there is no implicit padding between two consecutive fields, nor after
//!   the last one: the message says how many bytes and which `_pad` field
//!   to add. With no padding at all on a 64-bit target, the layout is also
//!   the same on 32-bit targets;
//! - the layout assertions written as attributes hold;
//! - with `extends`, the older version's layout is a prefix of this one.
//!
//! # Attributes
//!
//! On the struct, in `#[shm(...)]`:
//!
//! - `size = N`, `align = N`: assert `size_of` / `align_of` of the struct;
//! - `version = N`: schema version (a `u32`; default 1);
//! - `name = "..."`: stable schema name (default: the type name; non-empty,
//!   at most 48 bytes of UTF-8).
//!
//! - `extends = OlderVersion`: this struct is a newer version of the schema
//!   `OlderVersion` (another `#[derive(SharedLayout)]` struct). rustc checks
//!   that the older layout is a prefix of this one: every field of
//!   `OlderVersion`, in order, with the same name, type and offset, and the
//!   new fields after them; and that `version` is higher. Removing,
//!   renaming, retyping or reordering an old field, or inserting a new one
//!   before it, is a compile error at the `extends` path that names the
//!   field. The schema name defaults to `OlderVersion`'s (a different
//!   `name` is an error). Needs an explicit `version`;
//! - `reserve = N`: segments created with this schema have room for a
//!   payload of `N` bytes (at least `size_of`, checked), so that a newer,
//!   larger version can upgrade them in place;
//! - `older_writers` (with `extends`): programs built with an older version
//!   may open a segment holding this version for writing (they write their
//!   prefix fields and keep the new ones); without it they may only read.
//!
//! The README ("Schema evolution") has the rules for segments at run time.
//!
//! On a field: `#[shm(offset = N)]` asserts the field's offset.
//!
//! # What is generated
//!
//! - `unsafe impl ShmSafe` and `unsafe impl SharedLayout` for the struct
//!   (with `LAYOUT` describing every field; `FINGERPRINT` comes from the
//!   trait);
//! - `{Name}Fields<'a, A = ReadOnly>`, with the struct's visibility: one
//!   method per field (named after it, with the field's visibility and
//!   docs) returning a typed `Field` handle. Fields whose name starts with
//!   `_` are explicit padding and get no method.
//!
//! Everything generated is named through `::shm_runtime::__private`.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod fallback;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `shm_runtime::SharedLayout` (and `ShmSafe`) for a `#[repr(C)]`
/// struct with named fields, after checking that its layout can be shared
/// between processes. See the crate documentation for the checks and the
/// `#[shm(...)]` attributes.
#[proc_macro_derive(SharedLayout, attributes(shm))]
pub fn derive_shared_layout(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}

#[cfg(test)]
mod tests;
