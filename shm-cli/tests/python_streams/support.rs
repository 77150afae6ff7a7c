//! What the tests of `python_streams.rs` share: the `Plant` schema of the
//! `schemas` crate and the small copies and versions some tests need, the
//! Python client process, poking a segment's bytes, and the scribblers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::process::{Child, Command};

pub(crate) use schemas::plant::{COMMAND_SLOTS, EVENTS_KEPT};
pub(crate) use schemas::{Command as PlantCommand, Event, Plant, PlantState};
use shm_runtime::{Options, Queue, ReadWrite, Ring, Shared, SharedLayout};
use test_support::Name;

pub(crate) use crate::common::{python, python_command, python_fuzz, python_test_script, root};

/// The ring's capacity, as a message count.
pub(crate) const KEPT: u64 = EVENTS_KEPT as u64;

/// Event number `i`, as the Python client makes and checks it.
pub(crate) fn event(i: u64) -> Event {
    Event::numbered(i)
}

/// Command number `i`, as the Python client makes and checks it.
pub(crate) fn command(i: u64) -> PlantCommand {
    PlantCommand::numbered(i)
}

/// Offsets from the stream area (docs/FORMAT.md, "Streams"): the ring's
/// region (a 64-byte header, then KEPT slots of a sequence word and an
/// event), then the queue's (a 128-byte header, then its commands).
pub(crate) const EVENTS: u64 = 0;
pub(crate) const SLOT: u64 = 8 + size_of::<Event>() as u64;
pub(crate) const COMMANDS: u64 = 64 + KEPT * SLOT;

/// `Plant` with a ring of 8 and a queue of 4, for two tests: the fuzz
/// test changes every byte of the stream area four ways and drains every
/// ring and queue after each change, which a ring of 1024 events would
/// make take hours; the live subscriber must be lapped by the publisher
/// (it rarely is on a ring of 1024).
#[derive(SharedLayout)]
#[repr(C)]
pub struct SmallPlant {
    /// As in `Plant`.
    pub state: PlantState,
    /// As in `Plant`, 8 events.
    pub events: Ring<Event, 8>,
    /// As in `Plant`, 4 commands.
    pub commands: Queue<PlantCommand, 4>,
}

/// Skipped without python3 and libatomic, unless `CI` is set.
pub(crate) fn python_missing() -> bool {
    crate::common::python_missing(false)
}

pub(crate) fn client(args: &[&str]) -> Command {
    let mut c = python_test_script("streams_client.py");
    c.args(args);
    c
}

/// Runs the Python client with `args`, which must fail with status 1; its
/// stderr.
pub(crate) fn client_fails(args: &[&str]) -> String {
    let o = client(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    err
}

/// A Python client with piped stdin/stdout (killed on drop).
pub(crate) struct Py {
    pub(crate) child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Py {
    pub(crate) fn start(args: &[&str]) -> Py {
        let (child, out) = crate::common::spawn_piped(client(args));
        Py { child, out }
    }

    /// The next line (without its newline); panics with stderr at the end.
    pub(crate) fn line(&mut self) -> String {
        let mut line = String::new();
        if self.out.read_line(&mut line).unwrap() == 0 {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err);
            panic!("python ended early: {err}");
        }
        line.trim_end().to_owned()
    }

    /// The next lines, up to and with the one starting with `done`.
    pub(crate) fn lines_to_done(&mut self) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let line = self.line();
            let end = line.starts_with("done");
            got.push(line);
            if end {
                return got;
            }
        }
    }

    pub(crate) fn go(&mut self) {
        self.child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    }

    /// The remaining lines, after a successful exit.
    pub(crate) fn rest(mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            lines.push(line.trim_end().to_owned());
        }
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err);
        assert!(status.success(), "{status}: {err}");
        lines
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn segment(name: &Name, claim: bool) -> Shared<Plant, ReadWrite> {
    Options::posix(&name.0)
        .create_new()
        .claim_writer(claim)
        .open::<Plant>()
        .unwrap()
}

/// A new `SmallPlant` segment `name`, with write access.
pub(crate) fn small_segment(name: &Name) -> Shared<SmallPlant, ReadWrite> {
    Options::posix(&name.0)
        .create_new()
        .open::<SmallPlant>()
        .unwrap()
}

/// Where the stream area starts in `seg`.
pub(crate) fn streams(seg: &Shared<Plant, ReadWrite>) -> u64 {
    seg.header().streams_offset().unwrap()
}

pub(crate) fn poke(name: &Name, at: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{}", name.0))
        .unwrap();
    f.write_all_at(bytes, at).unwrap();
}

/// Version 1 of a schema with a ring, room to grow (the upgrade test
/// needs two versions of a schema: `schemas::Plant` has one).
#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
#[shm(name = "Arm", capacity = 256)]
pub struct ArmV1 {
    /// Some state.
    pub state: u64,
    /// A ring both versions have.
    pub log: Ring<u64, 4>,
}

/// Version 2 appends a field, a ring and a queue.
#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
#[shm(name = "Arm", version = 2, extends = ArmV1, capacity = 256)]
pub struct ArmV2 {
    /// As in version 1.
    pub state: u64,
    /// As in version 1.
    pub log: Ring<u64, 4>,
    /// New.
    pub speed: u64,
    /// A ring version 1 did not have.
    pub alarms: Ring<u32, 2>,
    /// A queue version 1 did not have.
    pub orders: Queue<u32, 2>,
}

/// A small deterministic generator (xorshift64*), for the scribbling tests.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A byte that is mostly one of the `valid` values from 0, else anything.
pub(crate) fn mostly_below(r: &mut Rng, valid: u64) -> u8 {
    if r.below(4) > 0 {
        r.below(valid) as u8
    } else {
        r.below(256) as u8
    }
}

/// An event's bytes for the scribbler: its id, value, `kind`, `ok` and
/// `tag` (the checked fields mostly valid).
pub(crate) fn scribbled_event(r: &mut Rng) -> [u8; size_of::<Event>()] {
    let mut b = [0u8; size_of::<Event>()];
    let id = r.below(1000);
    b[..8].copy_from_slice(&id.to_ne_bytes());
    b[8..16].copy_from_slice(&((3 * id) as f64).to_ne_bytes());
    b[16] = mostly_below(r, 3);
    b[17] = mostly_below(r, 2);
    // The tag: a length of 2 (or up to 15: over 12 is invalid), "ev".
    let len = if r.below(4) > 0 { 2 } else { r.below(16) };
    b[18..20].copy_from_slice(&(len as u16).to_le_bytes());
    b[20..22].copy_from_slice(b"ev");
    b
}

/// A command's bytes for the scribbler: its id, setpoint, `action` and
/// `urgent` (mostly valid), zero padding.
pub(crate) fn scribbled_command(r: &mut Rng) -> [u8; size_of::<PlantCommand>()] {
    let mut b = [0u8; size_of::<PlantCommand>()];
    let id = r.below(1000);
    b[..8].copy_from_slice(&id.to_ne_bytes());
    b[8..16].copy_from_slice(&(id as f64 / 2.0).to_ne_bytes());
    b[16] = mostly_below(r, 3);
    b[17] = mostly_below(r, 2);
    b
}

/// A counter below `8 * cap` (plausible), or one of the values that break
/// the protocol.
pub(crate) fn scribbled_count(r: &mut Rng, cap: u64) -> u64 {
    match r.below(8) {
        0 => u64::MAX - r.below(20),
        1 => r.next(),
        _ => r.below(8 * cap),
    }
}
