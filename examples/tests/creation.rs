//! Creation races and abandoned segments, with real processes.
//!
//! A creator that dies before publishing its segment is simulated exactly:
//! a child process (this test binary in a child role) creates the object
//! with `O_CREAT|O_EXCL` (or `IPC_CREAT|IPC_EXCL`), maybe sizes it, maybe
//! writes the first `K` bytes of a real header (with `state` still 0), and
//! then kills itself with SIGKILL, or stays alive. Later openers must report
//! `NotInitialized` clearly (never hang, never see a half-written header),
//! and create-or-open with `reinit_abandoned(true)` must re-initialise it
//! exactly once, only when that is safe (see `segment/reinit.rs` for the
//! rule).

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemas::MySharedData;
use shm_runtime::header::{HEADER_SIZE, off};
use shm_runtime::{Error, Options};
use test_support::{Cleanup, child_command, unique};

const TIMEOUT: Duration = Duration::from_millis(300);

fn initial() -> MySharedData {
    let mut numbers = [0.0; 50];
    numbers[10] = 1.45;
    MySharedData {
        value: 77,
        letter: shm_runtime::Utf16(u16::from(b'R')),
        _pad: [0; 2],
        numbers,
    }
}

/// The bytes a creator writes, with `state` still 0.
fn unpublished_image() -> Vec<u8> {
    let mut image = shm_runtime::tools::segment_image(&initial());
    image[off::STATE..off::STATE + 4].copy_from_slice(&0u32.to_ne_bytes());
    image
}

fn opts(kind: &str, name: &str) -> Options {
    let o = match kind {
        "posix" => Options::posix(name),
        "sysv" => Options::sysv(name.parse().unwrap()),
        "file" => Options::file(name),
        _ => panic!("unknown backend {kind}"),
    };
    o.open_timeout(TIMEOUT).read_timeout(TIMEOUT)
}

/// Environment variable that selects a child role: `role:kind:name[:arg]`.
const ROLE_ENV: &str = "SHM_CREATION_CHILD";

fn spawn(role: &str, kind: &str, name: &str, arg: &str) -> Child {
    child_command(
        "child_role",
        ROLE_ENV,
        format!("{role}:{kind}:{name}:{arg}"),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

/// Runs a child role to completion (or to its death) and returns its stdout.
fn run(role: &str, kind: &str, name: &str, arg: &str) -> String {
    let out = spawn(role, kind, name, arg).wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates the object exclusively with the raw system calls, as a creator
/// does before it writes anything; returns a writable mapping of `size`
/// bytes (none if `size` is 0).
fn raw_create(kind: &str, name: &str, size: usize) -> *mut u8 {
    match kind {
        "posix" | "file" => {
            let fd = if kind == "posix" {
                rustix::shm::open(
                    name,
                    rustix::shm::OFlags::CREATE
                        | rustix::shm::OFlags::EXCL
                        | rustix::shm::OFlags::RDWR,
                    rustix::fs::Mode::from_raw_mode(0o600),
                )
            } else {
                rustix::fs::open(
                    name,
                    rustix::fs::OFlags::CREATE
                        | rustix::fs::OFlags::EXCL
                        | rustix::fs::OFlags::RDWR,
                    rustix::fs::Mode::from_raw_mode(0o600),
                )
            }
            .unwrap();
            if size == 0 {
                return std::ptr::null_mut();
            }
            rustix::fs::ftruncate(&fd, size as u64).unwrap();
            // SAFETY: a fresh shared mapping of the object just sized.
            unsafe {
                rustix::mm::mmap(
                    std::ptr::null_mut(),
                    size,
                    rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                    rustix::mm::MapFlags::SHARED,
                    &fd,
                    0,
                )
            }
            .unwrap()
            .cast()
        }
        "sysv" => {
            let key: i32 = name.parse().unwrap();
            // SAFETY: plain system calls without Rust-visible pointers.
            unsafe {
                let id = libc::shmget(key, size, libc::IPC_CREAT | libc::IPC_EXCL | 0o600);
                assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
                let p = libc::shmat(id, std::ptr::null(), 0);
                assert_ne!(p as isize, -1);
                p.cast()
            }
        }
        _ => unreachable!(),
    }
}

/// The child roles. Does nothing as a normal test.
///
/// - `partial:KIND:NAME:K`: creates the object, sizes it (unless `K` is
///   `empty`), writes the first `K` bytes of the unpublished image, and
///   SIGKILLs itself.
/// - `hold:KIND:NAME:K`: the same, then stays alive until killed.
/// - `racer:KIND:NAME:START,INDEX`: waits until `START` (ns since the epoch),
///   then create-or-open with `reinit_abandoned(true)`; prints whether it
///   (re)initialised the segment and whether it sees `initial()`.
/// - `race-new:KIND:NAME:START,INDEX`: as `racer` on a fresh name; the
///   even-numbered ones with create-new.
#[test]
fn child_role() {
    let Ok(spec) = std::env::var(ROLE_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.splitn(4, ':').collect();
    let (role, kind, name, arg) = (parts[0], parts[1], parts[2], parts[3]);
    match role {
        "partial" | "hold" => {
            let image = unpublished_image();
            let p = if arg == "empty" {
                raw_create(kind, name, 0)
            } else {
                let k: usize = arg.parse().unwrap();
                let p = raw_create(kind, name, image.len());
                // SAFETY: `p` maps `image.len()` writable bytes, `k` <= that.
                unsafe { std::ptr::copy_nonoverlapping(image.as_ptr(), p, k.min(image.len())) };
                p
            };
            let _ = p;
            println!("created");
            if role == "partial" {
                // Die at once, before publishing: no unwinding, no cleanup.
                let _ = rustix::process::kill_process(
                    rustix::process::getpid(),
                    rustix::process::Signal::KILL,
                );
            }
            std::thread::sleep(Duration::from_secs(600));
        }
        "racer" | "race-new" => {
            let (start, index) = arg.split_once(',').unwrap();
            let start: u128 = start.parse().unwrap();
            let index: u32 = index.parse().unwrap();
            while SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                < start
            {
                std::hint::spin_loop();
            }
            let me = std::process::id();
            let create_new = role == "race-new" && index.is_multiple_of(2);
            // Re-initialisers wait this long before judging a segment
            // abandoned; first-time racers never wait that long.
            let timeout = match role {
                "racer" => Duration::from_millis(600),
                _ => Duration::from_secs(10),
            };
            // Racers only read what they opened: no write access needed.
            let o = opts(kind, name).open_timeout(timeout).claim_writer(false);
            let o = if create_new {
                o.create_new()
            } else {
                o.create_or_open().reinit_abandoned(true)
            };
            match o.open_with(&initial()) {
                Ok(seg) => {
                    let v = seg.read().unwrap();
                    println!(
                        "opened created={} same={}",
                        seg.header().creator_pid == me,
                        v == initial()
                    );
                }
                Err(Error::AlreadyExists { .. }) if create_new => println!("already-exists"),
                Err(e) => println!("error {e}"),
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// Starts `n` racer processes that all begin at the same instant and
/// returns what each printed.
fn race(role: &str, kind: &str, name: &str, n: usize) -> Vec<String> {
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_millis(400);
    let children: Vec<Child> = (0..n)
        .map(|i| spawn(role, kind, name, &format!("{},{i}", start.as_nanos())))
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let s = String::from_utf8_lossy(&out.stdout);
            // libtest may print `test child_role ... ` before the line.
            ["opened ", "already-exists", "error "]
                .iter()
                .find_map(|tok| {
                    s.find(tok)
                        .map(|at| s[at..].lines().next().unwrap().to_owned())
                })
                .unwrap_or_else(|| format!("no output: {s}"))
        })
        .collect()
}

/// The checks every abandoned segment must pass before re-initialisation:
/// a clear `NotInitialized` for every kind of opener, `AlreadyExists` for
/// create-new, and the `reader` example says so in one line.
fn assert_reported_not_initialized(kind: &str, name: &str, with_reader: bool) {
    // Four openers at once (each waits the open timeout).
    let results: Vec<Result<(), Error>> = std::thread::scope(|s| {
        let rw = s.spawn(|| opts(kind, name).open::<MySharedData>().map(|_| ()));
        let ro = s.spawn(|| {
            opts(kind, name)
                .open_read_only::<MySharedData>()
                .map(|_| ())
        });
        let coo = s.spawn(|| {
            opts(kind, name)
                .create_or_open()
                .open::<MySharedData>()
                .map(|_| ())
        });
        // Read-only opens never re-initialise.
        let ro_reinit = s.spawn(|| {
            opts(kind, name)
                .create_or_open()
                .reinit_abandoned(true)
                .open_read_only::<MySharedData>()
                .map(|_| ())
        });
        [rw, ro, coo, ro_reinit]
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    });
    for r in results {
        match r {
            Err(e @ Error::NotInitialized { .. }) => {
                assert!(e.to_string().contains("reinit_abandoned"), "{e}")
            }
            other => panic!("{kind} {name}: expected NotInitialized, got {other:?}"),
        }
    }
    let err = opts(kind, name)
        .create_new()
        .open::<MySharedData>()
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    if !with_reader {
        return;
    }
    // (The reader waits its default open timeout, 2 s.)
    let (flag, target) = match kind {
        "sysv" => ("--key", name),
        _ => ("--name", name),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_reader"))
        .args(["--backend", kind, flag, target])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not initialised"), "{stderr}");
}

/// Re-initialisation by 6 racing processes: exactly one re-initialises,
/// all see the same published contents.
fn assert_reinit_race(kind: &str, name: &str) {
    let lines = race("racer", kind, name, 6);
    let created = lines.iter().filter(|l| l.contains("created=true")).count();
    assert_eq!(created, 1, "exactly one re-initialises: {lines:?}");
    assert!(lines.iter().all(|l| l.contains("same=true")), "{lines:?}");
    // And the result is an ordinary, valid segment.
    let seg = opts(kind, name).open_read_only::<MySharedData>().unwrap();
    assert_eq!(seg.read().unwrap(), initial());
}

fn sysv_key(n: u32) -> String {
    (0x4000_0000 | ((std::process::id() as i32 & 0x00ff_ffff) << 4) | n as i32).to_string()
}

/// Every point at which a POSIX creator can die before publishing: before
/// sizing, after sizing, after the magic, in the middle of the header, after
/// `creator_pid`, after the whole header, after everything but `state`.
#[test]
fn killed_posix_creators_are_reported_then_reinitialised_once() {
    let image_len = unpublished_image().len();
    for k in [
        "empty",
        "0",
        "8",
        "64",
        "116",
        "256",
        &image_len.to_string(),
    ] {
        let name = unique("abandoned");
        let _c = Cleanup(Options::posix(&name));
        let out = run("partial", "posix", &name, k);
        assert!(out.contains("created"), "{out}");
        assert_reported_not_initialized("posix", &name, k == "256");
        assert_reinit_race("posix", &name);
    }
}

/// The same over System V (the kernel records the creator pid, `shm_cpid`)
/// and file-backed segments.
#[test]
fn killed_sysv_and_file_creators_are_reported_then_reinitialised_once() {
    for (i, k) in ["0", "116", "256"].into_iter().enumerate() {
        let key = sysv_key(i as u32 + 1);
        let _c = Cleanup(Options::sysv(key.parse().unwrap()));
        let _ = Options::sysv(key.parse().unwrap()).remove();
        run("partial", "sysv", &key, k);
        assert_reported_not_initialized("sysv", &key, i == 0);
        assert_reinit_race("sysv", &key);
    }
    for (i, k) in ["empty", "8", "256"].into_iter().enumerate() {
        let path = std::env::temp_dir().join(unique("abandoned-file"));
        let path = path.to_str().unwrap().to_owned();
        let _c = Cleanup(Options::file(&path));
        run("partial", "file", &path, k);
        assert_reported_not_initialized("file", &path, i == 0);
        assert_reinit_race("file", &path);
    }
}

/// A creator that is still alive (stalled after writing its header with
/// `state` 0) is never overwritten; once it is dead (a zombie not yet
/// reaped counts as dead) the segment can be re-initialised.
#[test]
fn a_live_creator_is_left_alone() {
    let name = unique("alive");
    let _c = Cleanup(Options::posix(&name));
    let mut child = spawn("hold", "posix", &name, &HEADER_SIZE.to_string());
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("created") {
        line.clear();
        assert_ne!(
            out.read_line(&mut line).unwrap(),
            0,
            "the child ended early"
        );
    }
    let err = opts("posix", &name)
        .create_or_open()
        .reinit_abandoned(true)
        .open::<MySharedData>()
        .unwrap_err();
    assert!(matches!(err, Error::NotInitialized { .. }), "{err}");
    // Untouched: still the live creator's unpublished header.
    let bytes = std::fs::read(format!("/dev/shm/{name}")).unwrap();
    assert_eq!(bytes[off::STATE..off::STATE + 4], [0; 4]);
    assert_eq!(
        bytes[off::CREATOR_PID..off::CREATOR_PID + 4],
        child.id().to_ne_bytes()
    );
    // Killed but not yet reaped: a zombie cannot write any more.
    child.kill().unwrap();
    while std::fs::read_to_string(format!("/proc/{}/stat", child.id()))
        .is_ok_and(|s| !s.contains(") Z"))
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let seg = opts("posix", &name)
        .create_or_open()
        .reinit_abandoned(true)
        .open_with(&initial())
        .unwrap();
    assert_eq!(seg.header().creator_pid, std::process::id());
    assert_eq!(seg.read().unwrap(), initial());
    child.wait().unwrap();
}

/// Re-initialisation never writes to something that is not ours: a foreign
/// object (its first bytes are not the magic), another user's object, a
/// symbolic link planted at a file segment's path.
#[test]
fn reinit_never_writes_to_foreign_objects() {
    // Foreign: not our magic. Reported at once, not waited for.
    let name = unique("foreign");
    let _c = Cleanup(Options::posix(&name));
    let mut foreign = vec![0u8; 4096];
    foreign[..8].copy_from_slice(b"ELF\x7fxyz!");
    std::fs::write(format!("/dev/shm/{name}"), &foreign).unwrap();
    let err = opts("posix", &name)
        .create_or_open()
        .reinit_abandoned(true)
        .open::<MySharedData>()
        .unwrap_err();
    // (Mode 0644 from `fs::write`: create-or-open refuses it as wider
    // than asked for, before looking at its bytes.)
    assert!(
        matches!(err, Error::NotASegment { .. } | Error::Foreign { .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(format!("/dev/shm/{name}")).unwrap(), foreign);

    // A symbolic link at a file segment's path, to an all-zero file (which
    // would look like an abandoned segment): refused, the target untouched.
    let dir = std::env::temp_dir();
    let target = dir.join(unique("victim"));
    let link = dir.join(unique("link"));
    std::fs::write(&target, vec![0u8; 8192]).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = Options::file(&link)
        .open_timeout(TIMEOUT)
        .create_or_open()
        .reinit_abandoned(true)
        .open::<MySharedData>()
        .unwrap_err();
    assert!(!matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), vec![0u8; 8192]);
    let _ = std::fs::remove_file(&link);
    let _ = std::fs::remove_file(&target);

    // Another user's abandoned object.
    if !rustix::process::geteuid().is_root() {
        println!("skipped the other-user case: not running as root, cannot chown");
        return;
    }
    let name = unique("others");
    let _c = Cleanup(Options::posix(&name));
    run("partial", "posix", &name, "256");
    let path = format!("/dev/shm/{name}");
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = opts("posix", &name)
        .create_or_open()
        .reinit_abandoned(true)
        .open::<MySharedData>()
        .unwrap_err();
    // Refused as another user's object before re-initialisation is
    // considered (`Foreign`; re-initialisation itself says
    // `PermissionDenied`).
    assert!(
        matches!(err, Error::PermissionDenied { .. } | Error::Foreign { .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Many processes race create-new and create-or-open on one fresh name:
/// exactly one creates, create-new losers get `AlreadyExists`, every opener
/// sees the published contents (never a half-initialised header). Several
/// rounds, over POSIX, System V and file segments.
#[test]
fn racing_create_or_open_processes_agree() {
    for round in 0..3 {
        for kind in ["posix", "sysv", "file"] {
            let name = match kind {
                "posix" => unique("race"),
                "sysv" => sysv_key(8 + round),
                _ => std::env::temp_dir()
                    .join(unique("race"))
                    .to_str()
                    .unwrap()
                    .to_owned(),
            };
            let _ = opts(kind, &name).remove();
            let _c = Cleanup(opts(kind, &name));
            let lines = race("race-new", kind, &name, 10);
            let created = lines.iter().filter(|l| l.contains("created=true")).count();
            assert_eq!(created, 1, "{kind}: exactly one creates: {lines:?}");
            for l in &lines {
                assert!(
                    l == "already-exists" || l.ends_with("same=true"),
                    "{kind}: {lines:?}"
                );
            }
        }
    }
}
