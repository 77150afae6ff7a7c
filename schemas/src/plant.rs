//! A schema with streams beside its state: the latest readings of a
//! process plant, a [`Ring`] of the events it reports (broadcast to any
//! number of readers) and a [`Queue`] of the commands it takes (one
//! consumer, lossless). The C and Python stream tests and the README's
//! stream examples use it, and `bindings/` holds its generated bindings.

use shm_runtime::{FixedStr, Queue, Ring, SharedEnum, SharedLayout};

/// The number of events [`Plant::events`] keeps.
pub const EVENTS_KEPT: usize = 1024;
/// The number of commands [`Plant::commands`] holds.
pub const COMMAND_SLOTS: usize = 64;

/// What an [`Event`] reports.
#[derive(SharedEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    /// The plant started.
    Started = 0,
    /// A reading.
    Reading = 1,
    /// The plant stopped.
    Stopped = 2,
}

/// One event of the plant: a message of checked types (an enum, a `bool`,
/// a string).
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 32, align = 8)]
pub struct Event {
    /// Its number.
    pub id: u64,
    /// The value it reports.
    pub value: f64,
    /// What it reports.
    pub kind: EventKind,
    /// Whether the value is within limits.
    pub ok: bool,
    /// Where it comes from (at most 12 bytes).
    pub tag: FixedStr<12>,
}

impl Event {
    /// Event number `i` as the stream tests make and check it: value
    /// `3 i`, kind `i % 3`, ok for odd `i`, tag `"ev"`.
    pub fn numbered(i: u64) -> Event {
        Event {
            id: i,
            value: (3 * i) as f64,
            kind: [EventKind::Started, EventKind::Reading, EventKind::Stopped][(i % 3) as usize],
            ok: i % 2 == 1,
            tag: FixedStr::new("ev").expect("fits"),
        }
    }
}

/// What a [`Command`] asks for.
#[derive(SharedEnum, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Action {
    /// Keep going as is.
    Hold = 0,
    /// Move to the setpoint.
    Set = 1,
    /// Stop the plant.
    Shutdown = 2,
}

/// One command for the plant.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 24, align = 8)]
pub struct Command {
    /// Its number.
    pub id: u64,
    /// The value to move to.
    pub setpoint: f64,
    /// What to do.
    pub action: Action,
    /// Whether it goes before anything else.
    pub urgent: bool,
    /// Explicit padding, always zero.
    pub _pad: [u8; 6],
}

impl Command {
    /// Command number `i` as the stream tests make and check it: setpoint
    /// `i / 2`, action `i % 3`, urgent when `i` is a multiple of 3.
    pub fn numbered(i: u64) -> Command {
        Command {
            id: i,
            setpoint: i as f64 / 2.0,
            action: [Action::Hold, Action::Set, Action::Shutdown][(i % 3) as usize],
            urgent: i.is_multiple_of(3),
            _pad: [0; 6],
        }
    }
}

/// The latest readings: written and read whole, as any state.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 24, align = 8)]
pub struct PlantState {
    /// How many readings were taken.
    pub seq: u64,
    /// The temperature, in °C.
    pub temperature: f64,
    /// The pressure, in bar.
    pub pressure: f64,
}

/// A state and two streams: the events the plant reports (the last
/// [`EVENTS_KEPT`], for any number of subscribers) and the commands it
/// takes (up to [`COMMAND_SLOTS`], one consumer).
#[derive(SharedLayout)]
#[repr(C)]
#[shm(size = 40, align = 8)]
pub struct Plant {
    /// The latest readings.
    pub state: PlantState,
    /// Broadcast events; a subscriber that falls behind is told how many
    /// it lost.
    pub events: Ring<Event, EVENTS_KEPT>,
    /// Commands for the one consumer; the producer waits when it is full.
    pub commands: Queue<Command, COMMAND_SLOTS>,
}
