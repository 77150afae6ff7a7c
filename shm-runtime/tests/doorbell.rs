//! Read-only waiters sleep on the futex, counted in the segment's doorbell
//! (a System V segment every reader may write: see `src/doorbell.rs`),
//! and what readers can do to the doorbell, with real processes and, for
//! the attacks, a real other user (`nobody`, through `setpriv`):
//!
//! - `FUTEX_WAIT` works on a read-only mapping, and a wake through another
//!   (read-write) mapping of the same object reaches it;
//! - a read-only waiter counts itself in the doorbell while it sleeps, and
//!   the doorbell goes with the segment;
//! - attacks by a reader: zeroing the count in a loop, raising it, trying to
//!   remove, re-mode, resize or overwrite the doorbell, making one first
//!   (a perfect copy, as another user); an unrelated segment under the
//!   doorbell's key; a stale count left by a killed waiter.
//!
//! The tests that change user need root and `setpriv`; without them they
//! print why they skip.

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use schemas::MySharedData;
use shm_runtime::tools::doorbell_key;
use shm_runtime::{Options, SegmentId, Shared};
use test_support::{Cleanup, child_command, unique};

/// Selects a child role: `role:name:arg`.
const ROLE_ENV: &str = "SHM_DOORBELL_CHILD";
/// The doorbell's layout (`src/doorbell.rs`).
const SIZE: usize = 64;
const MAGIC: u32 = u32::from_le_bytes(*b"shmD");
const RO_WAITERS: usize = 16;

fn key(name: &str) -> i32 {
    doorbell_key(&SegmentId::Posix(name.to_owned())).unwrap()
}

/// The doorbell's name hash, computed as `src/doorbell.rs` does (FNV-1a),
/// so that a squatter can make a perfect copy.
fn hash(name: &str) -> u64 {
    let mut bytes = b"shm-runtime doorbell 1\0posix:/".to_vec();
    bytes.extend_from_slice(name.as_bytes());
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The System V record under the doorbell key of `name`, if any.
fn record(name: &str) -> Option<(i32, libc::shmid_ds)> {
    // SAFETY: shmget and shmctl get valid arguments; `ds` is zeroed, then
    // kernel-filled.
    unsafe {
        let id = libc::shmget(key(name), 0, 0);
        if id < 0 {
            return None;
        }
        let mut ds: libc::shmid_ds = std::mem::zeroed();
        assert_eq!(libc::shmctl(id, libc::IPC_STAT, &mut ds), 0);
        Some((id, ds))
    }
}

/// An attachment of a System V segment, detached when dropped.
struct Attached(NonNull<u8>);

impl Attached {
    fn new(id: i32, read_only: bool) -> std::io::Result<Attached> {
        let flags = if read_only { libc::SHM_RDONLY } else { 0 };
        // SAFETY: a null address lets the kernel choose a free range.
        let p = unsafe { libc::shmat(id, std::ptr::null(), flags) };
        if p as isize == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Attached(NonNull::new(p.cast()).unwrap()))
    }
    fn word(&self, at: usize) -> &AtomicU32 {
        assert!(at + 4 <= SIZE);
        // SAFETY: inside the 64-byte attachment (callers attach doorbells
        // and 64-byte look-alikes only), 4-aligned, only accessed as a
        // 4-byte atomic.
        unsafe { AtomicU32::from_ptr(self.0.as_ptr().add(at).cast()) }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        // SAFETY: our own attachment, not used after this.
        unsafe { libc::shmdt(self.0.as_ptr().cast()) };
    }
}

/// The doorbell's `ro_waiters` now.
fn ro_waiters(name: &str) -> u32 {
    let (id, _) = record(name).expect("a doorbell");
    Attached::new(id, true)
        .unwrap()
        .word(RO_WAITERS)
        .load(Ordering::SeqCst)
}

/// Waits (a bounded number of looks) until the doorbell counts `n`.
fn until_ro_waiters(name: &str, n: u32) {
    for _ in 0..20_000 {
        if ro_waiters(name) == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!(
        "the doorbell of {name} never counted {n} (it has {})",
        ro_waiters(name)
    );
}

fn errno_of(r: libc::c_int) -> String {
    if r < 0 {
        format!("{:?}", std::io::Error::last_os_error().kind())
    } else {
        "ok".into()
    }
}

/// The child roles of this test binary; nothing in a normal test run.
#[test]
fn child_role() {
    let Ok(spec) = std::env::var(ROLE_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, ':');
    let (role, name, arg) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap_or(""),
    );
    let stdin_closed = || {
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    };
    match role {
        // A read-only waiter: waits `arg` ms for a change.
        "wait" => {
            let seg = Options::posix(name)
                .open_read_only::<MySharedData>()
                .unwrap();
            let since = seg.version();
            println!("waiting since={since}");
            match seg.wait_for_change(since, Duration::from_millis(arg.parse().unwrap())) {
                Some(v) => println!("woke version={v}"),
                None => println!("timeout"),
            }
        }
        // Zeroes the count in a loop until stdin closes.
        "zero" => {
            let (id, _) = record(name).unwrap();
            let bell = Attached::new(id, false).unwrap();
            println!("zeroing");
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s = stop.clone();
            std::thread::spawn(move || {
                stdin_closed();
                s.store(true, Ordering::Relaxed);
            });
            while !stop.load(Ordering::Relaxed) {
                bell.word(RO_WAITERS).store(0, Ordering::SeqCst);
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        // Raises the count and leaves.
        "inflate" => {
            let (id, _) = record(name).unwrap();
            let bell = Attached::new(id, false).unwrap();
            bell.word(RO_WAITERS).store(1 << 30, Ordering::SeqCst);
            println!("inflated");
        }
        // Tries to remove, re-mode, resize and overwrite the doorbell.
        "vandal" => {
            let (id, mut ds) = record(name).unwrap();
            // SAFETY: valid arguments; `ds` is the kernel's own record.
            // (Each errno read right after its call.)
            let (rmid, set, grow) = unsafe {
                let rmid = errno_of(libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()));
                ds.shm_perm.mode = 0o777;
                let set = errno_of(libc::shmctl(id, libc::IPC_SET, &mut ds));
                let grow = errno_of(libc::shmget(key(name), 1 << 20, 0));
                (rmid, set, grow)
            };
            println!("rmid={rmid} set={set} grow={grow}");
            let bell = Attached::new(id, false).unwrap();
            bell.word(0).store(0, Ordering::SeqCst);
            println!("scribbled");
        }
        // Makes a perfect doorbell first, as another user.
        "squat" => {
            let flags = libc::IPC_CREAT | libc::IPC_EXCL | 0o666;
            // SAFETY: shmget takes no pointers.
            let id = unsafe { libc::shmget(key(name), SIZE, flags) };
            assert!(id >= 0, "{}", std::io::Error::last_os_error());
            let bell = Attached::new(id, false).unwrap();
            let h = hash(name);
            bell.word(4).store(1, Ordering::SeqCst);
            bell.word(8).store(h as u32, Ordering::SeqCst);
            bell.word(12).store((h >> 32) as u32, Ordering::SeqCst);
            bell.word(0).store(MAGIC, Ordering::SeqCst);
            println!("squatted");
        }
        _ => panic!("unknown role {role}"),
    }
}

/// A child in a role, as this user or (`setpriv`) as `user`.
struct Kid {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Kid {
    fn start(user: Option<&str>, role: &str, name: &str, arg: &str) -> Kid {
        let inner = child_command("child_role", ROLE_ENV, format!("{role}:{name}:{arg}"));
        let mut cmd = match user {
            None => inner,
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.args([
                    &format!("--reuid={user}"),
                    &format!(
                        "--regid={}",
                        if user == "nobody" { "nogroup" } else { user }
                    ),
                    "--clear-groups",
                    "--",
                ])
                .arg(inner.get_program())
                .args(inner.get_args())
                .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))));
                c
            }
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Kid { child, out }
    }

    /// The line holding `token`, from it on.
    fn expect(&mut self, token: &str) -> String {
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(n > 0, "the child ended without printing {token:?}:\n{seen}");
            seen.push_str(&line);
            if let Some(at) = line.find(token) {
                return line[at..].trim_end().to_owned();
            }
        }
    }

    fn finish(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether this process may run children as `nobody`; prints why not.
fn can_switch_users(test: &str) -> bool {
    if !rustix::process::geteuid().is_root() {
        println!("{test}: skipped, not running as root (cannot switch users)");
        return false;
    }
    let ok = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(std::env::current_exe().unwrap())
        .arg("--list")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("{test}: skipped, `nobody` cannot run this test binary through setpriv");
    }
    ok
}

/// A fresh POSIX segment, mode 0644, with a writer holding write access
/// (so its doorbell is made).
fn fresh(tag: &str) -> (String, Cleanup, Shared<MySharedData>) {
    let name = unique(tag);
    let c = Cleanup::posix(&name);
    let seg = Options::posix(&name)
        .create_new()
        .mode(0o644)
        .open::<MySharedData>()
        .unwrap();
    (name, c, seg)
}

/// A read-only waiter child (as `user`) that sleeps `ms` at most; returns
/// it and the version it waits after.
fn waiter(user: Option<&str>, name: &str, ms: u32) -> (Kid, u64) {
    let mut w = Kid::start(user, "wait", name, &ms.to_string());
    let line = w.expect("waiting since=");
    let since = line["waiting since=".len()..].parse().unwrap();
    (w, since)
}

fn woke(w: &mut Kid) -> u64 {
    let line = w.expect("woke version=");
    line["woke version=".len()..].parse().unwrap()
}

#[test]
fn futex_wait_works_on_a_read_only_mapping_and_is_woken_through_another() {
    let name = unique("rofutex");
    let _c = Cleanup::posix(&name);
    let path = format!("/dev/shm/{name}");
    let rw = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    rw.set_len(4096).unwrap();
    let map = |fd: &std::fs::File, prot| {
        // SAFETY: a fresh shared mapping of a 4096-byte object.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                prot,
                libc::MAP_SHARED,
                std::os::fd::AsRawFd::as_raw_fd(fd),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        // SAFETY: page-aligned, inside the mapping (never unmapped: the
        // test process ends), only accessed atomically.
        unsafe { AtomicU32::from_ptr(p.cast()) }
    };
    let ro = std::fs::File::open(&path).unwrap();
    let ro_word = map(&ro, libc::PROT_READ);
    let rw_word = map(&rw, libc::PROT_READ | libc::PROT_WRITE);
    let futex = |word: &AtomicU32, op: libc::c_int, val: u32, secs: libc::time_t| {
        let ts = libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        };
        // SAFETY: a valid futex word and timespec.
        let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), op, val, &ts) };
        if r < 0 {
            Err(std::io::Error::last_os_error().raw_os_error())
        } else {
            Ok(r)
        }
    };
    // The kernel accepts the read-only word (not EFAULT): a mismatch is
    // EAGAIN.
    assert_eq!(
        futex(ro_word, libc::FUTEX_WAIT, 1, 0),
        Err(Some(libc::EAGAIN))
    );
    // A sleeper on the read-only word is woken (return 0, not ETIMEDOUT)
    // by FUTEX_WAKE on the read-write mapping of the same page.
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = tx.send(futex(ro_word, libc::FUTEX_WAIT, 0, 60));
        });
        loop {
            // Wakes nobody until the sleeper sleeps; then exactly it.
            if futex(rw_word, libc::FUTEX_WAKE, 1, 0) == Ok(1) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(rx.recv().unwrap(), Ok(0));
    });
}

#[test]
fn a_read_only_waiter_is_counted_in_the_doorbell_and_woken() {
    let (name, _c, seg) = fresh("rowait");
    let (_, ds) = record(&name).expect("the writer made the doorbell");
    let me = rustix::process::geteuid().as_raw();
    assert_eq!((ds.shm_perm.uid, ds.shm_perm.cuid), (me, me));
    assert_eq!(
        ds.shm_perm.mode & 0o777,
        0o666,
        "each read bit grants write"
    );
    assert_eq!(ds.shm_segsz, SIZE);
    assert_eq!(ro_waiters(&name), 0);

    let (mut w, since) = waiter(None, &name, 30_000);
    // Asleep on the futex once it is counted (bounded look).
    until_ro_waiters(&name, 1);
    seg.update(|f| f.value().set(7)).unwrap();
    assert!(woke(&mut w) > since);
    w.finish();
    assert_eq!(ro_waiters(&name), 0, "the waiter took itself off");

    // The doorbell goes with the segment.
    seg.remove().unwrap();
    assert!(record(&name).is_none(), "Shared::remove left the doorbell");
}

#[test]
fn system_v_and_file_segments_have_doorbells_too() {
    let dir = std::env::temp_dir();
    let file = dir.join(unique("bellfile"));
    let sysv_key = 0x2d00_0000 | (std::process::id() as i32 & 0xff_ffff);
    for opts in [Options::file(&file), Options::sysv(sysv_key)] {
        let _c = Cleanup(opts.clone());
        let seg = opts
            .clone()
            .create_new()
            .mode(0o644)
            .open::<MySharedData>()
            .unwrap();
        let id = opts.id().clone();
        let key = doorbell_key(&id).unwrap();
        let count = || {
            // SAFETY: shmget takes no pointers.
            let bell = unsafe { libc::shmget(key, 0, 0) };
            assert!(bell >= 0, "{id}: no doorbell");
            Attached::new(bell, true)
                .unwrap()
                .word(RO_WAITERS)
                .load(Ordering::SeqCst)
        };
        let reader = opts.open_read_only::<MySharedData>().unwrap();
        let since = reader.version();
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let _ = tx.send(reader.wait_for_change(since, Duration::from_secs(30)));
            });
            for _ in 0..20_000 {
                if count() == 1 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(count(), 1, "{id}: the read-only waiter is not counted");
            seg.update(|f| f.value().set(2)).unwrap();
            let got = rx.recv_timeout(Duration::from_secs(20)).unwrap();
            assert!(got.is_some_and(|v| v > since), "{id}: {got:?}");
        });
        assert_eq!(count(), 0, "{id}");
        seg.remove().unwrap();
        // SAFETY: shmget takes no pointers.
        let left = unsafe { libc::shmget(key, 0, 0) };
        assert!(left < 0, "{id}: doorbell left");
    }
}

#[test]
fn options_remove_and_a_re_created_segment_handle_a_stale_doorbell() {
    let (name, _c, seg) = fresh("stale");
    let (mut w, _) = waiter(None, &name, 60_000);
    until_ro_waiters(&name, 1);
    // Killed in its sleep: it stays counted.
    w.child.kill().unwrap();
    w.child.wait().unwrap();
    assert_eq!(ro_waiters(&name), 1);
    // The segment's name goes behind the runtime's back, and a new
    // segment is made under it while the old writer still holds its handle:
    // the doorbell stays, with its stale count, until the new creator's
    // claim resets it.
    std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    let seg2 = Options::posix(&name)
        .create_new()
        .mode(0o644)
        .open::<MySharedData>()
        .unwrap();
    assert_eq!(ro_waiters(&name), 0, "the creator reset the stale count");
    // The old writer goes; the name names a segment: the doorbell stays.
    drop(seg);
    assert!(
        record(&name).is_some(),
        "the old writer removed the doorbell"
    );
    let (mut w, since) = waiter(None, &name, 30_000);
    until_ro_waiters(&name, 1);
    seg2.update(|f| f.value().set(1)).unwrap();
    assert!(woke(&mut w) > since);
    w.finish();
    // `Options::remove` (as `shm rm` does) removes both.
    Options::posix(&name).remove().unwrap();
    assert!(record(&name).is_none(), "Options::remove left the doorbell");
    drop(seg2);

    // A writer whose segment's name was removed behind the runtime's back
    // removes the doorbell when it goes.
    let seg = Options::posix(&name)
        .create_new()
        .mode(0o644)
        .open::<MySharedData>()
        .unwrap();
    assert!(record(&name).is_some());
    std::fs::remove_file(format!("/dev/shm/{name}")).unwrap();
    drop(seg);
    assert!(
        record(&name).is_none(),
        "the writer left the doorbell behind"
    );
}

#[test]
fn an_unrelated_segment_under_the_doorbell_key_is_never_used_or_removed() {
    let name = unique("collide");
    let _c = Cleanup::posix(&name);
    // A segment of this crate happens to have the doorbell's key.
    let other_opts = Options::sysv(key(&name));
    let _o = Cleanup(other_opts.clone());
    let other = other_opts
        .clone()
        .create_new()
        .mode(0o644)
        .open::<MySharedData>()
        .unwrap();
    other.update(|f| f.value().set(99)).unwrap();
    let seg = Options::posix(&name)
        .create_new()
        .mode(0o644)
        .open::<MySharedData>()
        .unwrap();
    // No doorbell: the read-only waiter polls, and still wakes.
    let (mut w, since) = waiter(None, &name, 30_000);
    seg.update(|f| f.value().set(1)).unwrap();
    assert!(woke(&mut w) > since);
    w.finish();
    seg.remove().unwrap();
    // The other segment is intact and still there.
    let again = other_opts.open_read_only::<MySharedData>().unwrap();
    assert_eq!(again.read().unwrap().value, 99);
    assert_eq!(again.version(), other.version());
}

#[test]
fn a_reader_zeroing_the_count_delays_read_only_waiters_but_never_stops_them() {
    if !can_switch_users("zeroing") {
        return;
    }
    let (name, _c, seg) = fresh("zero");
    let mut thief = Kid::start(Some("nobody"), "zero", &name, "");
    thief.expect("zeroing");
    // A read-only waiter (nobody too), alone: its count is zeroed as soon
    // as it is made, so the writer sees nobody waiting and makes no wake
    // call; the waiter finds the write at its next re-check.
    let (mut w, since) = waiter(Some("nobody"), &name, 40_000);
    seg.update(|f| f.value().set(3)).unwrap();
    assert!(woke(&mut w) > since, "the read-only waiter never woke");
    w.finish();
    // A read-write waiter counts itself in the segment, which the reader
    // cannot write: woken by the write.
    let rw = Options::posix(&name)
        .claim_writer(false)
        .open::<MySharedData>()
        .unwrap();
    let since = rw.version();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = tx.send(rw.wait_for_change(since, Duration::from_secs(40)));
        });
        seg.update(|f| f.value().set(4)).unwrap();
        assert!(
            rx.recv_timeout(Duration::from_secs(20))
                .unwrap()
                .is_some_and(|v| v > since),
            "the read-write waiter never woke"
        );
    });
    thief.finish();
}

#[test]
fn a_reader_raising_the_count_costs_a_wake_call_per_write_and_nothing_else() {
    if !can_switch_users("inflate") {
        return;
    }
    let (name, _c, seg) = fresh("inflate");
    Kid::start(Some("nobody"), "inflate", &name, "").finish();
    assert_eq!(ro_waiters(&name), 1 << 30);
    for i in 0..1000 {
        seg.update(|f| f.value().set(i)).unwrap();
    }
    let (mut w, since) = waiter(Some("nobody"), &name, 30_000);
    until_ro_waiters(&name, (1 << 30) + 1);
    seg.update(|f| f.value().set(-1)).unwrap();
    assert!(woke(&mut w) > since);
    w.finish();
    assert_eq!(seg.read().unwrap().value, -1);
}

#[test]
fn a_reader_cannot_remove_remode_or_resize_the_doorbell_and_overwriting_it_only_costs_polling() {
    if !can_switch_users("vandal") {
        return;
    }
    let (name, _c, seg) = fresh("vandal");
    let mut v = Kid::start(Some("nobody"), "vandal", &name, "");
    let line = v.expect("rmid=");
    assert_eq!(
        line, "rmid=PermissionDenied set=PermissionDenied grow=InvalidInput",
        "a reader changed the doorbell's record"
    );
    v.expect("scribbled");
    v.finish();
    let (_, ds) = record(&name).expect("the doorbell is still there");
    assert_eq!((ds.shm_perm.mode & 0o777, ds.shm_segsz), (0o666, SIZE));
    // Its magic is gone: a new read-only waiter does not use it (polls)
    // and still wakes; the writer, attached before, writes as always.
    let (mut w, since) = waiter(Some("nobody"), &name, 30_000);
    seg.update(|f| f.value().set(5)).unwrap();
    assert!(woke(&mut w) > since);
    w.finish();
    assert_eq!(
        ro_waiters(&name),
        0,
        "a waiter counted itself in a broken doorbell"
    );
    // The owner's next claim writes it again: read-only waiters sleep on
    // the futex again.
    seg.release_writer().unwrap();
    seg.claim_writer(Duration::ZERO).unwrap();
    let (mut w, since) = waiter(Some("nobody"), &name, 30_000);
    until_ro_waiters(&name, 1);
    seg.update(|f| f.value().set(6)).unwrap();
    assert!(woke(&mut w) > since);
    w.finish();
}

#[test]
fn a_doorbell_another_user_made_first_is_ignored() {
    if !can_switch_users("squat") {
        return;
    }
    let name = unique("squatbell");
    let _c = Cleanup::posix(&name);
    // Before the segment exists: a perfect doorbell, owned by nobody.
    Kid::start(Some("nobody"), "squat", &name, "").finish();
    let (id, ds) = record(&name).unwrap();
    assert_ne!(ds.shm_perm.uid, 0);
    let seg = Options::posix(&name)
        .create_new()
        .mode(0o644)
        .open::<MySharedData>()
        .unwrap();
    // Read-only waiters of root and of nobody ignore it (they poll), and
    // wake; the writer neither uses nor minds it.
    for user in [None, Some("nobody")] {
        let (mut w, since) = waiter(user, &name, 30_000);
        std::thread::sleep(Duration::from_millis(20));
        seg.update(|f| f.value().set(8)).unwrap();
        assert!(woke(&mut w) > since, "{user:?}");
        w.finish();
        let squat = Attached::new(id, true).unwrap();
        assert_eq!(squat.word(RO_WAITERS).load(Ordering::SeqCst), 0, "{user:?}");
    }
    // (Root's remove takes the look-alike with it: it says it is this
    // name's doorbell.)
    seg.remove().unwrap();
    let _ = std::io::stdout().flush();
}
