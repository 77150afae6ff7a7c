//! Concurrency and crash safety with real processes (issue 3): one writer
//! and several reader processes over a POSIX segment, writers killed with
//! SIGKILL at random points, a second writer process, and change
//! notification across processes.
//!
//! Every snapshot is an [`Alphabet`] (1024 bytes) whose 128 native-endian
//! `u64` words are all derived from a counter (word 0) plus a checksum
//! (word 127): a snapshot mixing two writes (a torn read) fails
//! [`snapshot::verify`] (`snapshot.rs`). A writer writes the counter
//! `version + 1`, so a reader also checks the counter against the version
//! [`Shared::read_with_version`] reports: equal while no writer dies, at
//! most the version after a take-over (a lost write's repair counts as a
//! write).
//!
//! The child processes are this test binary in a child role (see
//! [`roles::run`], `roles.rs`), selected by an environment variable; they
//! talk to the test on stdout, one line per event, and stop when their
//! stdin closes (so none outlives a failing test).

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

mod roles;
mod snapshot;
mod trust;
mod trust_attack;
mod trust_roles;

use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemas::Alphabet;
use shm_runtime::header::off;
use shm_runtime::{Error, Options, Shared, TakeOver};
use test_support::{ChildRole, Cleanup, unique};

use roles::ROLE_ENV;
use snapshot::{WORDS, snapshot, verify};

/// Reader processes in the stress test, and the reads each checks at least
/// (`SHM_STRESS_READS=N` for more).
const STRESS_READERS: usize = 4;
const STRESS_READS_EACH: u64 = 80_000;
/// The floor on the reads checked in total.
const STRESS_FLOOR: u64 = 300_000;

/// Trials of the kill matrix (`SHM_KILL_TRIALS=N` for more).
const KILL_TRIALS: usize = 50;

/// A count from the environment, at least `default`.
fn count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(default, |n: u64| n.max(default))
}

#[test]
fn snapshots_detect_mixes() {
    let a = snapshot(41);
    let b = snapshot(42);
    assert_eq!(verify(&a), Ok(41));
    assert_eq!(verify(&b), Ok(42));
    // Any 8-byte word of another write is detected, wherever it is.
    for w in 0..WORDS {
        let mut m = a;
        m.bytes[w * 8..w * 8 + 8].copy_from_slice(&b.bytes[w * 8..w * 8 + 8]);
        assert!(verify(&m).is_err(), "word {w}");
    }
    // So is a single byte.
    let mut m = a;
    m.bytes[517] ^= 1;
    assert!(verify(&m).is_err());
}

// ---------------------------------------------------------------------------
// Child processes

/// Starts this test binary as a child in `role` on segment `name`.
fn spawn(role: &str, name: &str, arg: &str) -> ChildRole {
    ChildRole::start("child_role", ROLE_ENV, format!("{role}:{name}:{arg}"))
}

/// The value of `key=value` in a line printed by a child.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let pat = format!("{key}=");
    let at = line
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        + pat.len();
    line[at..].split_whitespace().next().unwrap_or("")
}

fn num(line: &str, key: &str) -> u64 {
    field(line, key)
        .parse()
        .unwrap_or_else(|_| panic!("{key} in {line:?}"))
}

/// Asserts a `checked ...` line reports no bad read; returns its reads.
fn assert_clean(line: &str) -> u64 {
    for key in ["torn", "backwards", "mismatched", "errors"] {
        assert_eq!(num(line, key), 0, "{key}: {line}");
    }
    num(line, "reads")
}

/// The child roles (see [`roles::run`]). Does nothing as a normal test.
#[test]
fn child_role() {
    roles::run();
}

/// A fresh segment holding `snapshot(0)` at version 0, and a read-write
/// handle to it that does not hold write access.
fn fresh(tag: &str) -> (String, Cleanup, Shared<Alphabet>) {
    let name = unique(&format!("cc-{tag}"));
    let cleanup = Cleanup::posix(&name);
    let seg = Options::posix(&name)
        .create_new()
        .claim_writer(false)
        .open_with(&snapshot(0))
        .unwrap();
    assert_eq!(seg.version(), 0);
    assert!(!seg.is_writer());
    (name, cleanup, seg)
}

// ---------------------------------------------------------------------------
// 1. Stress: one writer, four readers

#[test]
fn stress_one_writer_and_four_reader_processes_never_see_a_torn_snapshot() {
    let (name, _c, seg) = fresh("stress");
    let each = count("SHM_STRESS_READS", STRESS_READS_EACH);
    let mut writer = spawn("writer", &name, "");
    writer.expect("ready");
    let readers: Vec<ChildRole> = (0..STRESS_READERS)
        .map(|i| {
            let mode = if i % 2 == 0 { "ro" } else { "rw" };
            spawn("reader", &name, &format!("{mode},{each}"))
        })
        .collect();
    let mut total = 0;
    let mut versions = 0;
    for mut r in readers {
        let line = r.expect("checked");
        println!("reader {}: {line}", r.pid());
        total += assert_clean(&line);
        assert!(num(&line, "versions") >= 2, "{line}");
        versions += num(&line, "versions");
        r.finish();
    }
    // The control: reading the bytes while they are written, without the
    // protocol, does see mixes, so the check above is not vacuous.
    let control = spawn("raw", &name, "20000").finish();
    let control = &control[control.find("raw reads").expect("raw line")..];
    let control = control.lines().next().unwrap();
    println!("control without the protocol: {control}");
    assert_eq!(num(control, "torn"), 1, "{control}");
    let rest = writer.finish();
    let wrote = rest
        .lines()
        .find(|l| l.contains("wrote"))
        .unwrap_or_else(|| panic!("writer printed {rest:?}"))
        .to_owned();
    println!(
        "stress: {total} reads checked by {STRESS_READERS} reader processes, \
         {versions} version changes seen, writer: {wrote}"
    );
    assert!(total >= STRESS_FLOOR, "only {total} reads");
    // The segment ends verified, at the writer's last version.
    let (value, v) = seg.read_with_version().unwrap();
    assert_eq!(verify(&value), Ok(v));
    assert_eq!(v, num(&wrote, "version"));
}

/// Projections (`read_with`) of two fields the writer always keeps in step
/// (the snapshot's words 0 and 1), by a reader process under a writer
/// process writing flat out: never a pair from two writes (the stress
/// test's control, `raw`, shows that unchecked reads of these bytes do
/// see mixes).
#[test]
fn projections_of_two_fields_never_mix_two_writes() {
    let (name, _c, _seg) = fresh("project");
    let n = count("SHM_STRESS_READS", STRESS_READS_EACH);
    let mut writer = spawn("writer", &name, "");
    writer.expect("ready");
    let line = spawn("project", &name, &n.to_string()).expect("projected");
    println!("{line}");
    assert_eq!(num(&line, "mixed"), 0, "{line}");
    assert_eq!(num(&line, "reads"), n, "{line}");
    writer.finish();
}

// ---------------------------------------------------------------------------
// 2. Kill matrix

/// A small deterministic generator (xorshift64*), seeded per run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Who holds write access in the segment's header, if anyone.
fn owner(seg: &Shared<Alphabet>) -> Option<u32> {
    seg.status().unwrap().header.unwrap().writer_pid
}

#[test]
fn kill_matrix_writers_killed_at_random_points_are_taken_over() {
    let seed = std::env::var("SHM_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                ^ u64::from(std::process::id())
        })
        | 1;
    println!("kill matrix seed {seed} (SHM_KILL_SEED={seed} repeats it)");
    let mut rng = Rng(seed);
    let (name, _c, seg) = fresh("kill");
    // Two readers (a read-only and a read-write handle) read throughout.
    let mut watchers: Vec<ChildRole> = ["ro", "rw"]
        .iter()
        .map(|m| spawn("watch", &name, m))
        .collect();
    for w in &mut watchers {
        w.expect("watching");
    }
    let (mut complete, mut incomplete, mut early) = (0, 0, 0);
    // The dead owner the next writer must report (None: nobody claimed).
    let mut previous: Option<u32> = None;
    let mut last_version = 0;
    let trials = count("SHM_KILL_TRIALS", KILL_TRIALS as u64) as usize;
    for trial in 0..trials {
        let mut w = spawn("spin", &name, "");
        if rng.next().is_multiple_of(5) {
            // Early: anywhere from start-up through opening, claiming and
            // the repair of the previous writer's damage to the first
            // writes (the child needs a few milliseconds to get there).
            early += 1;
            std::thread::sleep(Duration::from_micros(rng.next() % 15_000));
        } else {
            let line = w.expect("claimed");
            let take_over = field(&line, "take_over").to_owned();
            match previous {
                None => assert_eq!(take_over, "none", "trial {trial}: {line}"),
                Some(pid) => {
                    // The new writer took over from the dead one at once
                    // (default options: no writer_wait) and was told so.
                    assert!(
                        take_over.starts_with(&format!("prev:{pid},")),
                        "trial {trial}: {pid} was killed, the new writer says {line}"
                    );
                    if take_over.contains("complete:true") {
                        complete += 1;
                    } else {
                        assert!(take_over.contains("complete:false"), "{line}");
                        incomplete += 1;
                    }
                    // What the new writer read after the repair verifies.
                    let v = num(&line, "version");
                    let c: u64 = field(&line, "counter")
                        .parse()
                        .unwrap_or_else(|_| panic!("trial {trial}: {line}"));
                    assert!(c <= v && v >= last_version, "trial {trial}: {line}");
                }
            }
            // A random point of the write loop: 0-20 ms, a quarter of the
            // trials under 0.5 ms.
            let delay = if rng.next().is_multiple_of(4) {
                rng.next() % 500
            } else {
                rng.next() % 20_000
            };
            std::thread::sleep(Duration::from_micros(delay));
        }
        w.kill();
        // The claim word names the killed writer if it got that far, else
        // still the one before.
        let now = owner(&seg);
        assert!(
            now == Some(w.pid()) || now == previous,
            "trial {trial}: owner {now:?}, killed {}, before {previous:?}",
            w.pid()
        );
        previous = now;
        // The status says the recorded writer is dead (`w.kill()` reaped it).
        let hs = seg.status().unwrap().header.unwrap();
        assert!(
            now.is_none() || !hs.writer_alive,
            "trial {trial}: status calls the killed writer alive"
        );
        // Right after the kill, before anyone repairs: a complete value.
        let (value, v) = seg
            .read_with_version()
            .unwrap_or_else(|e| panic!("trial {trial}: read after the kill: {e}"));
        let c = verify(&value).unwrap_or_else(|e| panic!("trial {trial}: {e}"));
        assert!(c <= v && v >= last_version, "trial {trial}: {c} at {v}");
        last_version = v;
    }
    // The test process takes over from the last one itself.
    let t = seg.claim_writer(Duration::ZERO).unwrap();
    match t {
        Some(t) => {
            assert_eq!(t.previous_pid, previous);
            if t.last_write_complete {
                complete += 1;
            } else {
                incomplete += 1;
            }
            let (value, v) = seg.read_with_version().unwrap();
            assert!(verify(&value).unwrap() <= v);
            assert_eq!(v, t.version);
        }
        None => assert_eq!(previous, None),
    }
    assert!(seg.is_writer());
    assert_eq!(seg.take_over(), t);
    let v = seg.version();
    seg.write(&snapshot(v + 1)).unwrap();
    assert_eq!(seg.read_with_version().unwrap(), (snapshot(v + 1), v + 1));
    seg.release_writer().unwrap();
    let mut reads = 0;
    for w in watchers {
        let rest = w.finish();
        let line = rest
            .lines()
            .find(|l| l.contains("checked"))
            .expect("checked line");
        let line = &line[line.find("checked").unwrap()..];
        println!("watcher: {line}");
        reads += assert_clean(line);
    }
    println!(
        "kill matrix: {trials} writer processes SIGKILLed ({early} early, possibly before \
         or while claiming or repairing), {} take-overs: last write complete {complete}, \
         incomplete (lost, repaired) {incomplete}; {reads} reads by 2 live reader processes \
         checked, none torn; final version {}",
        complete + incomplete,
        v + 1
    );
    assert!(complete + incomplete >= trials - early);
}

// ---------------------------------------------------------------------------
// 3. One writer at a time

#[test]
fn a_second_writer_process_is_busy_or_waits_and_dead_writers_are_taken_over() {
    let (name, _c, seg) = fresh("busy");
    let mut holder = spawn("hold", &name, "");
    let line = holder.expect("holding");
    assert_eq!(num(&line, "pid"), u64::from(holder.pid()));
    assert_eq!(field(&line, "take_over"), "none");

    // Another process with the default options: WriterBusy at once,
    // naming the holder.
    let mut busy = spawn("open", &name, "0");
    let line = busy.expect("busy");
    assert_eq!(num(&line, "pid"), u64::from(holder.pid()), "{line}");
    assert_eq!(field(&line, "this_process"), "false");
    busy.finish();
    // The same in this process; and a handle without write access cannot
    // write.
    match Options::posix(&name).open::<Alphabet>() {
        Err(Error::WriterBusy {
            pid, this_process, ..
        }) => {
            assert_eq!(pid, holder.pid());
            assert!(!this_process);
        }
        other => panic!("expected WriterBusy, got {:?}", other.map(|_| ())),
    }
    match seg.claim_writer(Duration::from_millis(100)) {
        Err(Error::WriterBusy { pid, waited, .. }) => {
            assert_eq!(pid, holder.pid());
            assert_eq!(waited, Duration::from_millis(100));
        }
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    assert!(matches!(
        seg.write(&snapshot(99)),
        Err(Error::NotWriter { .. })
    ));

    // With writer_wait, a second process waits, and gets write access once
    // the holder has written its last value and exited.
    let mut waiter = spawn("open", &name, "20000");
    waiter.expect("trying");
    holder.poke();
    let released = num(&holder.expect("released"), "version");
    holder.finish();
    let line = waiter.expect("opened");
    assert_eq!(field(&line, "take_over"), "none", "{line}");
    assert!(num(&line, "version") >= released, "{line}");
    let wrote = num(&waiter.expect("wrote"), "version");
    waiter.finish();

    // Owner exited normally (drop released): claiming is free.
    assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);
    assert_eq!(seg.read_with_version().unwrap(), (snapshot(wrote), wrote));
    seg.write(&snapshot(wrote + 1)).unwrap();
    seg.release_writer().unwrap();
    assert!(!seg.is_writer());

    // Owner SIGKILLed: another process takes over at once and is told.
    let mut holder = spawn("hold", &name, "");
    holder.expect("holding");
    holder.kill();
    let mut taker = spawn("open", &name, "0");
    let line = taker.expect("opened");
    assert!(
        field(&line, "take_over").starts_with(&format!("prev:{},complete:true", holder.pid())),
        "{line}"
    );
    taker.expect("wrote");
    taker.finish();

    // And this process takes over from a killed owner too.
    let mut holder = spawn("hold", &name, "");
    holder.expect("holding");
    holder.kill();
    let t = seg.claim_writer(Duration::ZERO).unwrap();
    let v = seg.version();
    assert_eq!(
        t,
        Some(TakeOver {
            previous_pid: Some(holder.pid()),
            last_write_complete: true,
            version: v,
        })
    );
    assert_eq!(seg.read_with_version().unwrap(), (snapshot(v), v));
    seg.write(&snapshot(v + 1)).unwrap();
}

// ---------------------------------------------------------------------------
// 4. Change notification

/// The `waiters` word of a POSIX segment, read with `pread` (the test
/// needs no mapping of its own for it).
fn waiters(name: &str) -> u32 {
    let f = std::fs::File::open(format!("/dev/shm/{name}")).unwrap();
    let mut b = [0u8; 4];
    f.read_exact_at(&mut b, off::WAITERS as u64).unwrap();
    u32::from_ne_bytes(b)
}

#[test]
fn a_reader_process_blocked_in_wait_for_change_wakes_on_a_write_by_another_process() {
    let (name, _c, seg) = fresh("notify");
    // A read-write handle that does not claim: sleeps on the shared futex.
    let mut rw = spawn("wait", &name, "rw,5000");
    let since = num(&rw.expect("waiting"), "since");
    // It is asleep once it has registered as a waiter (bounded look).
    until_waiters_above(&name, 0);
    // Another process writes.
    let mut w = spawn("open", &name, "0");
    let wrote = num(&w.expect("wrote"), "version");
    w.finish();
    let line = rw.expect("woke");
    println!("read-write waiter: {line} (after {since})");
    assert!(num(&line, "version") > since, "{line}");
    assert_eq!(num(&line, "version"), wrote, "{line}");
    assert_eq!(num(&line, "counter"), num(&line, "read"), "{line}");
    rw.finish();
    assert_eq!(waiters(&name), 0);

    // A read-only handle sleeps too (counted in the doorbell); it wakes on a write.
    let mut ro = spawn("wait", &name, "ro,5000");
    let since = num(&ro.expect("waiting"), "since");
    std::thread::sleep(Duration::from_millis(50));
    let mut w = spawn("open", &name, "0");
    w.expect("wrote");
    w.finish();
    let line = ro.expect("woke");
    println!("read-only waiter: {line} (after {since})");
    assert!(num(&line, "version") > since, "{line}");
    ro.finish();

    // This process's handle is woken by another process's write as well.
    let since = seg.version();
    let w = spawn("open", &name, "0");
    let woke = seg.wait_for_change(since, Duration::from_secs(5));
    w.finish();
    assert!(woke.is_some_and(|v| v > since), "{woke:?} after {since}");
}

/// Waits (a bounded number of looks) until the segment has more than
/// `n` registered waiters.
fn until_waiters_above(name: &str, n: u32) -> u32 {
    for _ in 0..10_000 {
        let w = waiters(name);
        if w > n {
            return w;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("no waiter registered beyond {n}");
}

#[test]
fn a_waiter_killed_in_its_sleep_does_not_stop_later_waiters_from_waking() {
    let (name, _c, _seg) = fresh("killwait");
    let mut doomed = spawn("wait", &name, "rw,60000");
    doomed.expect("waiting");
    until_waiters_above(&name, 0);
    doomed.kill();
    // The killed waiter could not unregister.
    let left = waiters(&name);
    println!("waiters after killing a sleeping waiter: {left}");
    let mut rw = spawn("wait", &name, "rw,5000");
    let since = num(&rw.expect("waiting"), "since");
    until_waiters_above(&name, left);
    let w = spawn("open", &name, "0");
    w.finish();
    let line = rw.expect("woke");
    assert!(num(&line, "version") > since, "{line}");
    rw.finish();
}

#[test]
fn wait_for_change_times_out_when_nobody_writes() {
    let (name, _c, seg) = fresh("quiet");
    for mode in ["rw", "ro"] {
        let p = spawn("wait", &name, &format!("{mode},200"));
        let rest = p.finish();
        assert!(rest.contains("timeout version=0"), "{mode}: {rest}");
    }
    assert_eq!(seg.wait_for_change(0, Duration::from_millis(200)), None);
    // A stale version is answered at once, without waiting.
    let mut w = spawn("open", &name, "0");
    w.expect("wrote");
    w.finish();
    assert_eq!(seg.wait_for_change(0, Duration::from_secs(5)), Some(1));
    assert_eq!(waiters(&name), 0);
}

// ---------------------------------------------------------------------------
// The documented errors, when both copies are damaged

/// Sets a header word of a POSIX segment with `pwrite`, as a foreign
/// program with write access could.
fn poke_word(name: &str, at: usize, value: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{name}"))
        .unwrap();
    f.write_all_at(&value.to_ne_bytes(), at as u64).unwrap();
}

fn read_word(name: &str, at: usize) -> u64 {
    let f = std::fs::File::open(format!("/dev/shm/{name}")).unwrap();
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, at as u64).unwrap();
    u64::from_ne_bytes(b)
}

/// No writer of the protocol leaves both copies marked as being written,
/// but another program can: readers then give the documented errors after
/// their read timeout, never a torn value and never an endless wait.
#[test]
fn both_copies_damaged_give_timeout_or_writer_died_within_the_bound() {
    let (name, _c, _seg) = fresh("damaged");
    let reader = Options::posix(&name)
        .read_timeout(Duration::from_millis(100))
        .open_read_only::<Alphabet>()
        .unwrap();
    let mut holder = spawn("hold", &name, "");
    holder.expect("holding");
    let odd = |name: &str| {
        for at in [off::SEQ, off::BACKUP_SEQ] {
            poke_word(name, at, read_word(name, at) | 1);
        }
    };
    // The writer lives: Timeout.
    odd(&name);
    match reader.read() {
        Err(Error::Timeout { waited, .. }) => assert_eq!(waited, Duration::from_millis(100)),
        other => panic!("expected Timeout, got {other:?}"),
    }
    // Its next write makes both copies whole again.
    holder.poke();
    let v = num(&holder.expect("released"), "version");
    holder.finish();
    assert_eq!(reader.read_with_version().unwrap(), (snapshot(v), v));

    // The writer is dead: WriterDied, naming it; a new writer refuses to
    // take over such a segment (Corrupt) and leaves it unclaimed.
    let mut holder = spawn("hold", &name, "");
    holder.expect("holding");
    holder.kill();
    odd(&name);
    match reader.read() {
        Err(Error::WriterDied { pid, .. }) => assert_eq!(pid, holder.pid()),
        other => panic!("expected WriterDied, got {other:?}"),
    }
    let err = Options::posix(&name).open::<Alphabet>().unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}
