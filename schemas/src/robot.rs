//! A schema that uses every schema type beyond numbers: `bool`, shared
//! enums, `char`, [`Utf16`], [`FixedStr`], arrays of them and a nested
//! struct. The tests of the runtime, the `shm` tool and the bindings share
//! it.

use shm_runtime::{FixedStr, SharedEnum, SharedLayout, Utf16};

/// What a joint is doing.
#[derive(SharedEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Not moving.
    Idle = 0,
    /// Moving.
    Running = 1,
    /// Stopped by a fault.
    Fault = 7,
}

/// A direction, with a signed `repr`.
#[derive(SharedEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i16)]
pub enum Axis {
    /// Backwards.
    Minus = -1,
    /// Still.
    Zero = 0,
    /// Forwards.
    Plus = 1,
}

/// One joint of a [`Robot`].
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 20, align = 4)]
pub struct Joint {
    /// Its position.
    pub position: f32,
    /// What it does.
    pub mode: Mode,
    /// Whether it may move.
    pub enabled: bool,
    /// Its direction.
    pub axis: Axis,
    /// Its name.
    pub name: FixedStr<8>,
    /// Explicit padding, always zero.
    pub _pad0: [u8; 2],
}

/// A robot: every schema type once, and in arrays.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 112, align = 8)]
pub struct Robot {
    /// A counter.
    pub seq: u64,
    /// A Unicode scalar value.
    pub initial: char,
    /// A UTF-16 code unit (C#'s `char`).
    pub letter: Utf16,
    /// A flag.
    pub armed: bool,
    /// An enum.
    pub mode: Mode,
    /// A string of at most 14 bytes.
    pub label: FixedStr<14>,
    /// Four flags.
    pub flags: [bool; 4],
    /// Three nested structs.
    pub joints: [Joint; 3],
    /// Two short strings.
    pub names: [FixedStr<6>; 2],
}

impl Robot {
    /// A value with something other than zero in every field.
    pub fn sample() -> Robot {
        let joint = |i: u8, mode, axis, name: &str| Joint {
            position: f32::from(i) * 1.5,
            mode,
            enabled: i % 2 == 1,
            axis,
            name: FixedStr::new(name).expect("fits"),
            _pad0: [0; 2],
        };
        Robot {
            seq: 42,
            initial: 'é',
            letter: Utf16(u16::from(b'X')),
            armed: true,
            mode: Mode::Running,
            label: FixedStr::new("left-arm").expect("fits"),
            flags: [true, false, true, true],
            joints: [
                joint(0, Mode::Idle, Axis::Minus, "base"),
                joint(1, Mode::Running, Axis::Plus, "elbow"),
                joint(2, Mode::Fault, Axis::Zero, "wrist"),
            ],
            names: [
                FixedStr::new("ünï").expect("fits"),
                FixedStr::new("").expect("fits"),
            ],
        }
    }
}
