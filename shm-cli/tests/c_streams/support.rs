//! What the tests of `c_streams.rs` share: the `Plant` schema of the
//! `schemas` crate (a ring of `Event`s and a queue of `Command`s, of
//! checked types), `streams.c` built against its checked-in header
//! (`bindings/c/plant.h`) or against a small copy's, and running and
//! reading the C programs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub(crate) use crate::common::{Lines, finish, finish_wait, read_u32, ro_waiters, wait_until};
use crate::common::{Name, root};
use shm_codegen::{Lang, generate, rust_source};
use shm_runtime::descriptor::Schema;
use shm_runtime::{Options, Queue, RawSegment, Ring, SharedLayout};

pub use schemas::plant::{COMMAND_SLOTS, EVENTS_KEPT};
pub use schemas::{Event, Plant, PlantState};

/// `Plant` with a ring of 8 and a queue of 4, under the same name, so
/// that its generated header has the same functions and `streams.c` builds
/// against it: for the stress test, whose publisher must lap its
/// subscribers again and again (it rarely laps a ring of 1024).
#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "Plant")]
pub struct SmallPlant {
    /// As in `Plant`.
    pub state: PlantState,
    /// As in `Plant`, 8 events.
    pub events: Ring<Event, 8>,
    /// As in `Plant`, 4 commands.
    pub commands: Queue<schemas::Command, 4>,
}

/// Event number `i`, as `streams.c` makes and expects it.
pub(crate) fn event(i: u64) -> Event {
    Event::numbered(i)
}

/// Command number `i`, as `streams.c` makes and expects it.
pub(crate) fn command(i: u64) -> schemas::Command {
    schemas::Command::numbered(i)
}

/// The ring's capacity, as a message count.
pub(crate) const KEPT: u64 = EVENTS_KEPT as u64;

/// The bytes of one ring slot: its sequence word, then the event.
pub(crate) const SLOT: u64 = 8 + size_of::<Event>() as u64;

/// `streams.c`, compiled with `bindings/c/plant.h` as C (GCC) or C++
/// (G++), once per process; `None` (and a message) if the compiler is
/// missing.
pub(crate) fn program(cpp: bool) -> Option<PathBuf> {
    build(cpp, false)
}

/// [`program`] for [`SmallPlant`] segments (built against its generated
/// header).
pub(crate) fn small_program(cpp: bool) -> Option<PathBuf> {
    build(cpp, true)
}

fn build(cpp: bool, small: bool) -> Option<PathBuf> {
    static BUILT: OnceLock<std::sync::Mutex<Vec<(bool, bool, PathBuf)>>> = OnceLock::new();
    let (cc, lang): (&str, &[&str]) = if cpp {
        ("g++", &["-std=c++17", "-pedantic", "-x", "c++"])
    } else {
        ("gcc", &["-std=c11", "-pedantic"])
    };
    if !Command::new(cc)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("{cc} is not installed: skipped");
        return None;
    }
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some((_, _, exe)) = built.iter().find(|(c, s, _)| (*c, *s) == (cpp, small)) {
        return Some(exe.clone());
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-streams");
    let include = if small {
        let include = dir.join("small");
        std::fs::create_dir_all(&include).unwrap();
        let schema = Schema::from_layout(&SmallPlant::LAYOUT);
        let text = generate(Lang::C, &schema, &rust_source(&schema)).unwrap();
        std::fs::write(include.join("plant.h"), text).unwrap();
        include
    } else {
        std::fs::create_dir_all(&dir).unwrap();
        root().join("bindings/c")
    };
    let exe = dir.join(format!(
        "streams-{}{}",
        if cpp { "cpp" } else { "c" },
        if small { "-small" } else { "" }
    ));
    let out = Command::new(cc)
        .args(["-Wall", "-Wextra", "-Werror", "-O1"])
        .args(lang)
        .arg("-I")
        .arg(&include)
        .arg(root().join("bindings/c/tests/streams.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-lrt")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cc} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    built.push((cpp, small, exe.clone()));
    Some(exe)
}

/// Runs `exe` with `args`; its stdout and exit code.
pub(crate) fn run(exe: &Path, args: &[&str]) -> (String, Option<i32>) {
    let o = finish(
        Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    (String::from_utf8(o.stdout).unwrap(), o.status.code())
}

/// A new `Plant` segment whose write access is free.
pub(crate) fn segment(name: &Name) -> shm_runtime::Shared<Plant> {
    Options::posix(name.as_str())
        .create_new()
        .claim_writer(false)
        .open::<Plant>()
        .unwrap()
}

/// A new [`SmallPlant`] segment whose write access is free.
pub(crate) fn small_segment(name: &Name) -> shm_runtime::Shared<SmallPlant> {
    Options::posix(name.as_str())
        .create_new()
        .claim_writer(false)
        .open::<SmallPlant>()
        .unwrap()
}

/// Where stream `i` (0: the ring, 1: the queue) starts in the object.
pub(crate) fn region(name: &Name, i: usize) -> u64 {
    let raw = RawSegment::open(&Options::posix(name.as_str())).unwrap();
    let streams = raw.schema().streams().unwrap();
    raw.header().streams_offset().unwrap() + streams[i].region_offset
}

pub(crate) fn file(name: &Name) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm/{}", name.as_str()))
        .unwrap()
}

/// Messages for the stress runs below: `SHM_C_STREAM_MESSAGES`, default
/// 100 000.
pub(crate) fn stress_messages() -> u64 {
    std::env::var("SHM_C_STREAM_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}
