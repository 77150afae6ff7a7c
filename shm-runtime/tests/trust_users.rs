//! Other users get nothing they were not given, and nothing is lost
//! (issue 13, classes 4 and 7), with real processes and real users:
//!
//! - squatting: another user (`nobody`, through `setpriv`) creates the
//!   object first under the name a victim (root, or the non-root user
//!   `daemon`) then creates-or-opens: POSIX, System V (also with the owner
//!   handed to the victim by `IPC_SET`), a file, a symbolic link planted at
//!   a file segment's path, and a mode wider than asked for;
//! - stolen wake-ups: a process with a read-only mapping moves every
//!   sleeping waiter off the futex word with `FUTEX_CMP_REQUEUE`;
//! - `Shared::remove` after the name was removed and re-created.
//!
//! The tests that change user need root and `setpriv`; without them they
//! print why they skip.

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use schemas::{Alphabet, MySharedData};
use shm_runtime::{Error, Options};
use test_support::{ChildRole, Cleanup, child_command, unique};

/// Selects a child role: `role:kind:name`.
const ROLE_ENV: &str = "SHM_TRUST_USERS_CHILD";

fn opts(kind: &str, name: &str) -> Options {
    match kind {
        "posix" => Options::posix(name),
        "sysv" => Options::sysv(name.parse().unwrap()),
        "file" => Options::file(name),
        _ => panic!("unknown backend {kind}"),
    }
}

/// The child roles of this test binary; nothing in a normal test run.
#[test]
fn child_role() {
    let Ok(spec) = std::env::var(ROLE_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, ':');
    let (role, kind, name) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    match role {
        // The squatter: creates a real segment, open to everybody.
        "squat" => {
            let seg = opts(kind, name)
                .create_new()
                .mode(0o666)
                .open::<MySharedData>()
                .unwrap();
            if kind == "sysv" {
                give_sysv_segment_to_root(name.parse().unwrap());
            }
            drop(seg);
            println!("squatted");
        }
        // The victim: creates-or-opens, as a program that means to make
        // its own segment.
        "victim" => {
            let r = opts(kind, name).create_or_open().open::<MySharedData>();
            match r {
                Ok(_) => println!("victim: adopted"),
                Err(Error::Foreign { owner, .. }) => println!("victim: refused, owner {owner}"),
                Err(e) => println!("victim: other error: {e}"),
            }
        }
        // The thief: maps the segment read-only and keeps moving every
        // sleeper off the futex word (`notify`, offset 252) onto a private
        // word of its own, until its stdin closes.
        "requeue" => requeue_forever(name),
        // A process with read access only: opens the object read-only and
        // read-locks every byte (`ofd`: `F_OFD_SETLK`; `classic`:
        // `F_SETLK`, which conflicts with OFD locks too), until its stdin
        // closes.
        "readlock-ofd" | "readlock-classic" => {
            read_lock_forever(name, kind == "file", role == "readlock-ofd")
        }
        _ => panic!("unknown role {role}"),
    }
}

/// `IPC_SET` the owner of the System V segment `key` to root (uid 0): an
/// owner may give its segment away; its creator stays recorded.
fn give_sysv_segment_to_root(key: i32) {
    // SAFETY: shmget and shmctl get valid arguments; `ds` is a zeroed,
    // then kernel-filled `shmid_ds`.
    unsafe {
        let id = libc::shmget(key, 0, 0);
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
        let mut ds: libc::shmid_ds = std::mem::zeroed();
        assert_eq!(libc::shmctl(id, libc::IPC_STAT, &mut ds), 0);
        ds.shm_perm.uid = 0;
        assert_eq!(
            libc::shmctl(id, libc::IPC_SET, &mut ds),
            0,
            "IPC_SET: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn requeue_forever(name: &str) {
    use std::io::Read;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let path = format!("/dev/shm/{}", name.trim_start_matches('/'));
    let file = std::fs::File::open(&path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    // SAFETY: a fresh read-only shared mapping of the whole object at an
    // address the kernel picks.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    // SAFETY: offset 252 is in the mapped header, 4-aligned, and only ever
    // accessed as a 4-byte atomic (the futex word).
    let notify = unsafe { AtomicU32::from_ptr(base.cast::<u8>().add(252).cast::<u32>()) };
    let private = AtomicU32::new(0);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        s.store(true, Ordering::Relaxed);
    });
    let mut moved = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let expected = notify.load(Ordering::SeqCst);
        // SAFETY: FUTEX_CMP_REQUEUE on two valid 4-byte words: wakes none,
        // moves every sleeper of `notify` to `private`.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                notify.as_ptr(),
                libc::FUTEX_CMP_REQUEUE,
                0,
                i32::MAX as libc::c_long,
                private.as_ptr(),
                expected,
            )
        };
        if r > 0 {
            moved += r as u64;
            println!("requeued {moved}");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn read_lock_forever(name: &str, file: bool, ofd: bool) {
    use std::io::Read;
    let path = if file {
        name.to_owned()
    } else {
        format!("/dev/shm/{}", name.trim_start_matches('/'))
    };
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: `flock` is plain data; all zero is a valid value.
    let mut f: libc::flock = unsafe { std::mem::zeroed() };
    f.l_type = libc::F_RDLCK as libc::c_short;
    f.l_whence = libc::SEEK_SET as libc::c_short;
    // l_start 0, l_len 0: every byte, to the end and beyond.
    let cmd = if ofd {
        libc::F_OFD_SETLK
    } else {
        libc::F_SETLK
    };
    // SAFETY: an open descriptor and a valid `struct flock`.
    let r = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&file), cmd, &mut f) };
    assert_eq!(r, 0, "read lock: {}", std::io::Error::last_os_error());
    println!("locked");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// `setpriv` running this test binary's `child_role` as `user`, or why
/// that is not possible here.
fn as_user(user: &str, role: &str, kind: &str, name: &str) -> Result<Output, String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not running as root, cannot switch users".into());
    }
    let group = if user == "nobody" { "nogroup" } else { user };
    let child = child_command("child_role", ROLE_ENV, format!("{role}:{kind}:{name}"));
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            &format!("--regid={group}"),
            "--clear-groups",
            "--",
        ])
        .arg(child.get_program())
        .args(child.get_args())
        .envs(child.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .map_err(|e| format!("setpriv is not available: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{user} cannot run this test binary (is the target directory readable by others?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out)
}

/// A file path and a System V key unique to this test, removed on drop
/// (also when owned by another user: we are root).
struct Names {
    posix: String,
    key: i32,
    file: String,
}

impl Names {
    fn new(tag: &str) -> Names {
        let posix = unique(tag);
        let h = posix.bytes().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        let n = Names {
            key: ((h & 0x0fff_ffff) | 0x3000_0000) as i32,
            file: std::env::temp_dir()
                .join(format!("{posix}.seg"))
                .display()
                .to_string(),
            posix,
        };
        n.clean();
        n
    }

    fn of(&self, kind: &str) -> String {
        match kind {
            "posix" => self.posix.clone(),
            "sysv" => self.key.to_string(),
            _ => self.file.clone(),
        }
    }

    fn clean(&self) {
        for kind in ["posix", "sysv", "file"] {
            let _ = opts(kind, &self.of(kind)).remove();
        }
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        self.clean();
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn create_or_open_refuses_an_object_another_user_created_first() {
    let names = Names::new("squat");
    for kind in ["posix", "sysv", "file"] {
        let name = names.of(kind);
        match as_user("nobody", "squat", kind, &name) {
            Err(why) => {
                println!("skipped: {why}");
                return;
            }
            Ok(o) => assert!(text(&o).contains("squatted"), "{}", text(&o)),
        }
        // Root, the victim: refused, naming the owner (System V: given to
        // root by IPC_SET, but created by nobody).
        let err = opts(kind, &name)
            .create_or_open()
            .open::<MySharedData>()
            .unwrap_err();
        let Error::Foreign {
            owner, ref reason, ..
        } = err
        else {
            panic!("{kind}: {err:?}");
        };
        let msg = err.to_string();
        assert!(msg.contains("65534"), "{kind}: {msg}");
        if kind == "sysv" {
            assert_eq!(owner, 0, "{msg}");
        } else {
            assert_eq!(owner, 65534, "{msg}");
        }
        assert!(reason.contains("user id 65534"), "{reason}");
        // A non-root victim (`daemon`) too.
        let o = as_user("daemon", "victim", kind, &name).unwrap();
        assert!(
            text(&o).contains("victim: refused, owner"),
            "{kind}: {}",
            text(&o)
        );
        // Explicitly allowed: adopted.
        opts(kind, &name)
            .create_or_open()
            .allow_foreign(true)
            .open::<MySharedData>()
            .unwrap();
        // Opening an existing segment by name is trusting its maker.
        opts(kind, &name).open_read_only::<MySharedData>().unwrap();
        let _ = opts(kind, &name).remove();
    }
}

#[test]
fn create_or_open_refuses_a_mode_wider_than_asked_for() {
    for (kind, wide) in [
        ("posix", 0o644),
        ("sysv", 0o644),
        ("file", 0o644),
        ("posix", 0o666),
        ("sysv", 0o666),
        ("file", 0o666),
    ] {
        let names = Names::new("wide");
        let name = names.of(kind);
        let _seg = opts(kind, &name)
            .create_new()
            .mode(wide)
            .claim_writer(false)
            .open::<MySharedData>()
            .unwrap();
        let err = opts(kind, &name)
            .create_or_open()
            .claim_writer(false)
            .open::<MySharedData>()
            .unwrap_err();
        assert!(
            matches!(&err, Error::Foreign { mode, reason, .. } if *mode == wide && reason.contains("more than the mode 600")),
            "{kind}: {err:?}"
        );
        // Asking for that mode, or allowing it, opens it; so does a
        // narrower one than asked for.
        for o in [
            opts(kind, &name).mode(wide),
            opts(kind, &name).mode(0o666),
            opts(kind, &name).allow_foreign(true),
        ] {
            o.create_or_open()
                .claim_writer(false)
                .open::<MySharedData>()
                .unwrap();
        }
    }
}

#[test]
fn file_segments_do_not_follow_a_planted_symbolic_link() {
    let names = Names::new("link");
    // The victim's real segment, elsewhere.
    let target = Options::file(format!("{}.target", names.file));
    let _t = target.clone().create_new().open::<MySharedData>().unwrap();
    std::os::unix::fs::symlink(format!("{}.target", names.file), &names.file).unwrap();
    for r in [
        Options::file(&names.file)
            .create_or_open()
            .claim_writer(false)
            .open::<MySharedData>()
            .map(|_| ()),
        Options::file(&names.file)
            .claim_writer(false)
            .open::<MySharedData>()
            .map(|_| ()),
        Options::file(&names.file)
            .open_read_only::<MySharedData>()
            .map(|_| ()),
    ] {
        assert!(
            matches!(&r, Err(Error::InvalidName { reason, .. }) if reason.contains("symbolic link")),
            "{r:?}"
        );
    }
    let _ = std::fs::remove_file(&names.file);
    let _ = target.remove();
}

#[test]
fn a_waiter_whose_wake_ups_are_stolen_still_sees_the_change() {
    let name = unique("requeue");
    let _c = Cleanup::posix(&name);
    let writer = Options::posix(&name)
        .create_new()
        .mode(0o644)
        .open::<Alphabet>()
        .unwrap();
    let waiter = Options::posix(&name)
        .claim_writer(false)
        .open::<Alphabet>()
        .unwrap();
    let since = waiter.version();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            // Far longer than the bound below: without the re-check the
            // wake-up is only found when this timeout ends.
            let _ = tx.send(waiter.wait_for_change(since, Duration::from_secs(40)));
        });
        let mut thief = ChildRole::start("child_role", ROLE_ENV, format!("requeue:posix:{name}"));
        // The waiter sleeps and was moved off the futex word at least once.
        thief.expect("requeued");
        writer
            .update(|f| f.bytes().set(0, b'z').expect("index in range"))
            .unwrap();
        let got = rx.recv_timeout(Duration::from_secs(20));
        drop(thief);
        assert_eq!(
            got,
            Ok(Some(since + 1)),
            "the waiter did not see the write while its wake-ups were stolen"
        );
    });
}

#[test]
fn shared_remove_leaves_a_segment_created_under_the_name_since() {
    let names = Names::new("rm");
    for kind in ["posix", "sysv", "file"] {
        let name = names.of(kind);
        let old = opts(kind, &name)
            .create_new()
            .open::<MySharedData>()
            .unwrap();
        // Another program removes the name and creates its own segment.
        opts(kind, &name).remove().unwrap();
        let new = opts(kind, &name)
            .create_new()
            .open::<MySharedData>()
            .unwrap();
        new.update(|f| f.value().set(2)).unwrap();
        let err = old.remove().unwrap_err();
        assert!(matches!(err, Error::Replaced { .. }), "{kind}: {err:?}");
        // The new segment is still there, and its own handle removes it.
        let v = opts(kind, &name).open_read_only::<MySharedData>().unwrap();
        assert_eq!(v.read().unwrap().value, 2, "{kind}");
        new.remove().unwrap();
        // Nothing under the name: NotFound, for both.
        for h in [&old, &new] {
            let err = h.remove().unwrap_err();
            assert!(matches!(err, Error::NotFound { .. }), "{kind}: {err:?}");
        }
    }
}

#[test]
fn shared_remove_does_not_follow_a_link_put_in_place_of_a_file_segment() {
    let names = Names::new("rmlink");
    let seg = Options::file(&names.file)
        .create_new()
        .open::<MySharedData>()
        .unwrap();
    // The file is moved away and a link to it put in its place: the name
    // is a link now, not the segment.
    let moved = format!("{}.moved", names.file);
    std::fs::rename(&names.file, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &names.file).unwrap();
    let err = seg.remove().unwrap_err();
    assert!(matches!(err, Error::Replaced { .. }), "{err:?}");
    assert!(std::fs::symlink_metadata(&names.file).is_ok());
    let _ = std::fs::remove_file(&moved);
}

/// A process with read access only cannot keep writers out by read-locking
/// the claim word's bytes (the writer lock's range): a claimer then falls
/// back to the claim word and the process checks, and one writer at a
/// time still holds once the read lock goes.
#[test]
fn a_read_lock_does_not_keep_writers_out() {
    let dir = std::env::temp_dir();
    for (kind, role) in [
        ("posix", "readlock-ofd"),
        ("posix", "readlock-classic"),
        ("file", "readlock-ofd"),
        ("file", "readlock-classic"),
    ] {
        let name = unique("rdlock");
        let _c = Cleanup::posix(&name);
        let path = dir.join(&name);
        let _f = Cleanup(Options::file(&path));
        let opts = || match kind {
            "file" => Options::file(&path),
            _ => Options::posix(&name),
        };
        let target = match kind {
            "file" => path.to_str().unwrap().to_owned(),
            _ => name.clone(),
        };
        let role = &format!("{kind} {role}");
        drop(opts().create_new().mode(0o644).open::<Alphabet>().unwrap());
        let mut locker = ChildRole::start(
            "child_role",
            ROLE_ENV,
            format!("{}:{kind}:{target}", &role[kind.len() + 1..]),
        );
        locker.expect("locked");
        let first = opts()
            .writer_wait(Duration::from_secs(2))
            .open::<Alphabet>()
            .unwrap_or_else(|e| panic!("{role}: a read lock kept the writer out: {e}"));
        assert!(first.is_writer(), "{role}");
        first
            .update(|f| f.bytes().set(0, b'a').expect("index in range"))
            .unwrap();
        assert!(
            first.status().unwrap().header.unwrap().writer_alive,
            "{role}"
        );
        let second = opts().claim_writer(false).open::<Alphabet>().unwrap();
        let busy = |r: shm_runtime::Result<_>| {
            assert!(
                matches!(
                    r,
                    Err(Error::WriterBusy {
                        this_process: true,
                        ..
                    })
                ),
                "{role}: {r:?}"
            )
        };
        busy(second.claim_writer(Duration::ZERO));
        // The read lock goes: the writer lock is free, but the first
        // writer still writes.
        drop(locker);
        busy(second.claim_writer(Duration::ZERO));
        first
            .update(|f| f.bytes().set(0, b'b').expect("index in range"))
            .unwrap();
        drop(first);
        assert!(second.claim_writer(Duration::ZERO).is_ok(), "{role}");
        second
            .update(|f| f.bytes().set(0, b'c').expect("index in range"))
            .unwrap();
    }
}

/// A hard link planted at a file segment's path (or a POSIX name) to
/// another file of the victim, mode 0600: to a valid segment of the same
/// schema, and to a zero-filled file (which a re-initialiser would take for
/// an abandoned segment and overwrite). `create_or_open` refuses an object
/// with more than one link ([`Error::Foreign`]) and writes nothing;
/// `open_existing` (the name chosen on purpose) and `allow_foreign(true)`
/// still open the valid segment.
#[test]
fn create_or_open_refuses_a_hard_link_to_another_file_of_this_user() {
    use std::os::unix::fs::PermissionsExt;
    let names = Names::new("hardlink");
    for kind in ["posix", "file"] {
        let name = names.of(kind);
        let path = if kind == "posix" {
            format!("/dev/shm/{name}")
        } else {
            name.clone()
        };
        let other = format!("{path}.other");
        let _c = Cleanup(Options::file(other.clone()));
        // A valid segment of the same schema, elsewhere, then linked.
        let _seg = Options::file(&other)
            .create_new()
            .mode(0o600)
            .claim_writer(false)
            .open::<MySharedData>()
            .unwrap();
        std::fs::hard_link(&other, &path).unwrap();
        let err = opts(kind, &name)
            .create_or_open()
            .mode(0o600)
            .claim_writer(false)
            .open::<MySharedData>()
            .unwrap_err();
        assert!(
            matches!(&err, Error::Foreign { reason, .. } if reason.contains("2 hard links")),
            "{kind}: {err:?}"
        );
        for o in [
            opts(kind, &name),
            opts(kind, &name).create_or_open().allow_foreign(true),
        ] {
            o.claim_writer(false).open::<MySharedData>().unwrap();
        }
        std::fs::remove_file(&path).unwrap();
        drop(_seg);
        std::fs::remove_file(&other).unwrap();
        // The victim's zero-filled file (a disk image, say), linked.
        std::fs::write(&other, vec![0u8; 8192]).unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::hard_link(&other, &path).unwrap();
        let err = opts(kind, &name)
            .create_or_open()
            .mode(0o600)
            .reinit_abandoned(true)
            .open_timeout(Duration::from_millis(50))
            .open::<MySharedData>()
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(&err, Error::Foreign { reason, .. } if reason.contains("2 hard links")),
            "{kind}: {err:?}"
        );
        assert!(
            std::fs::read(&other).unwrap().iter().all(|&b| b == 0),
            "{kind}: the victim's other file was written"
        );
        std::fs::remove_file(&path).unwrap();
    }
}

/// `Shared::remove` on segments without a name of their own: a sealed
/// memfd (nothing to remove: `Ok`, the segment stays), and a segment
/// opened through a descriptor's link (`share_path`, `/proc/<pid>/fd/<n>`,
/// of a memfd and of a file segment on disk): a clear `Unsupported`, and
/// nothing removed (not the file the descriptor names either).
/// `Options::remove` of a file segment path that is a symbolic link
/// removes the link, never its target.
#[test]
fn remove_of_memfd_descriptor_links_and_symbolic_links() {
    use std::os::fd::AsRawFd;
    let names = Names::new("rmfd");
    let memfd = Options::sealed_memfd("rmfd")
        .open::<MySharedData>()
        .unwrap();
    let link = memfd.share_path().unwrap();
    let via = Options::file(link.to_str().unwrap())
        .claim_writer(false)
        .open::<MySharedData>()
        .unwrap();
    let err = via.remove().unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { what, .. } if what.contains("descriptor")),
        "{err:?}"
    );
    memfd.remove().unwrap();
    memfd.read().unwrap();
    via.read().unwrap();

    // A file segment on disk, opened through a descriptor's link.
    let _seg = Options::file(&names.file)
        .create_new()
        .claim_writer(false)
        .open::<MySharedData>()
        .unwrap();
    let fd = std::fs::File::open(&names.file).unwrap();
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let via = Options::file(&link)
        .claim_writer(false)
        .open::<MySharedData>()
        .unwrap();
    let err = via.remove().unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { what, .. } if what.contains("descriptor")),
        "{err:?}"
    );
    let err = Options::file(&link).remove().unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { what, .. } if what.contains("descriptor")),
        "{err:?}"
    );
    assert!(std::path::Path::new(&names.file).exists());

    // Options::remove of a symbolic link: the link goes, the target stays.
    let sym = format!("{}.sym", names.file);
    std::os::unix::fs::symlink(&names.file, &sym).unwrap();
    Options::file(&sym).remove().unwrap();
    assert!(std::fs::symlink_metadata(&sym).is_err());
    assert!(std::path::Path::new(&names.file).exists());
    Options::file(&names.file).remove().unwrap();
}
