//! The schema structs shared by the examples, the `shm` tool and the
//! generated bindings.
//!
//! Each struct is declared once here; `#[derive(SharedLayout)]` proves its
//! layout at compile time and the bindings for C, C# and Python are
//! generated from the same description.

use shm_runtime::{LayoutDesc, SharedLayout, Utf16};

pub mod evolution;
pub mod plant;
pub mod robot;
pub use evolution::{SensorIncompatible, SensorV1, SensorV2, SensorV3};
pub use plant::{Action, Command, Event, EventKind, Plant, PlantState};
pub use robot::{Axis, Joint, Mode, Robot};

/// The record of the writer/reader examples, laid out exactly like the C#
/// `[StructLayout(LayoutKind.Explicit, Size = 208)]` struct the project
/// started from.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 208, align = 4)]
pub struct MySharedData {
    /// An integer value.
    #[shm(offset = 0)]
    pub value: i32,
    /// A UTF-16 code unit (C#'s `char`).
    #[shm(offset = 4)]
    pub letter: Utf16,
    /// Explicit padding, always zero.
    pub _pad: [u8; 2],
    /// Fifty floats.
    #[shm(offset = 8)]
    pub numbers: [f32; 50],
}

/// 1024 bytes of text, for the alphabet example.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 1024)]
pub struct Alphabet {
    /// The bytes.
    pub bytes: [u8; 1024],
}

/// Every schema of this crate, for the `shm` tool and the binding generator.
pub static ALL: [&LayoutDesc; 3] = [&MySharedData::LAYOUT, &Alphabet::LAYOUT, &Plant::LAYOUT];

/// The schema called `name`, if this crate has it.
pub fn by_name(name: &str) -> Option<&'static LayoutDesc> {
    ALL.iter().copied().find(|l| l.name == name)
}
