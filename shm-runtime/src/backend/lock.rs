//! The writer lock (Linux): an open-file-description lock, `fcntl(2)`
//! `F_OFD_SETLK` with `F_WRLCK`, on the bytes of the claim word (header
//! offsets 144..152), taken by the process that holds write access on a
//! descriptor of the segment's object opened for that purpose.
//!
//! The kernel releases such a lock exactly when the last descriptor of its
//! open file description is closed: when its owner releases it, or dies in
//! any way (SIGKILL included). It does not depend on process ids, so it is
//! immune to their reuse and to PID namespaces, and it is held whatever
//! the owner's threads do (a main thread that has exited while others
//! write). So for a segment with a descriptor (POSIX, file, memfd), "the
//! writer is alive" is a fact the kernel keeps: the lock is held.
//!
//! The lock is taken on a *new* open file description (the object reopened
//! through `/proc/self/fd/<n>`, with `O_CLOEXEC`), never on the mapping's
//! own descriptor: another handle in this process has its own, and a
//! process made by `fork` shares its parent's descriptors and their locks.
//! Such a child inherits the descriptor of its parent's lock: while the
//! child keeps it (until it drops the inherited handle, claims through it,
//! or exits), the lock stays held even if the parent has died, so nobody
//! takes over (the child itself cannot write through the inherited handle:
//! see `Shared`'s write access). Only the process that took the lock
//! unlocks it (`F_UNLCK`, which acts for every descriptor of the open file
//! description); a child merely closes its copy.
//!
//! Locks of this kind are invisible to `flock(2)`, but conflict with
//! classic POSIX record locks (`F_SETLK`): every writer must use
//! `F_OFD_SETLK` on these bytes (see docs/FORMAT.md, "The claim word").
//!
//! Any process that can open the object for reading can put a *read* lock
//! on these bytes (OFD or classic), which keeps the writer lock from
//! everybody while it lasts. No writer takes one, so a claimer refused by
//! a read lock falls back to the claim word and the process checks (as
//! for System V), and one that later gets the lock does not take over from
//! an owner the word names that the process checks find alive
//! (`writer.rs`): a reader cannot keep writers out, nor let two in.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::error::{Error, Result};
use crate::header::off;
use crate::process;

/// The lock: its open file description, and the process that took it.
pub(crate) struct WriterLock {
    fd: OwnedFd,
    pid: u32,
}

/// A `struct flock` for the claim word's bytes.
fn claim_word_range(kind: libc::c_short) -> libc::flock {
    // SAFETY: `flock` is plain data; all zero is a valid value.
    let mut f: libc::flock = unsafe { std::mem::zeroed() };
    f.l_type = kind;
    f.l_whence = libc::SEEK_SET as libc::c_short;
    f.l_start = off::WRITER as libc::off_t;
    f.l_len = 8;
    // OFD locks require `l_pid` 0.
    f.l_pid = 0;
    f
}

/// `fcntl(fd, cmd, &mut f)`; rustix has no `F_OFD_GETLK` nor byte ranges.
fn fcntl(fd: BorrowedFd<'_>, cmd: libc::c_int, f: &mut libc::flock) -> rustix::io::Result<()> {
    // SAFETY: `fd` is an open descriptor for the duration of the call and
    // `f` a valid, exclusively borrowed `struct flock`.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, f as *mut libc::flock) };
    if r == -1 {
        return Err(rustix::io::Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    Ok(())
}

/// Takes the lock on a new open file description of the object `object`
/// (a descriptor of it opened read-write): `Ok(None)` if another open file
/// description holds it.
pub(crate) fn try_lock(object: BorrowedFd<'_>, display: &str) -> Result<Option<WriterLock>> {
    let path = format!("/proc/self/fd/{}", object.as_raw_fd());
    let fd = rustix::fs::open(
        &path,
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NOCTTY,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| {
        Error::from_io(
            display,
            "open /proc/self/fd/<n> (a descriptor for the writer lock)",
            e.into(),
        )
    })?;
    let mut f = claim_word_range(libc::F_WRLCK as libc::c_short);
    match fcntl(rustix::fd::AsFd::as_fd(&fd), libc::F_OFD_SETLK, &mut f) {
        Ok(()) => Ok(Some(WriterLock {
            fd,
            pid: process::current_pid(),
        })),
        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::ACCESS) => Ok(None),
        Err(e) => Err(Error::from_io(
            display,
            "fcntl (F_OFD_SETLK, the writer lock)",
            e.into(),
        )),
    }
}

/// Whether an open file description other than `object`'s holds the lock
/// (`F_OFD_GETLK`); `None` if the kernel cannot tell. A *read* lock on
/// these bytes is not the writer lock (no writer takes one; any process
/// that can open the object for reading can): `false`, though it keeps
/// the writer lock from everybody while it lasts (`writer::Lock::ReadLocked`).
pub(crate) fn held(object: BorrowedFd<'_>) -> Option<bool> {
    let mut f = claim_word_range(libc::F_WRLCK as libc::c_short);
    fcntl(object, libc::F_OFD_GETLK, &mut f).ok()?;
    Some(f.l_type == libc::F_WRLCK as libc::c_short)
}

impl WriterLock {
    /// Gives the lock up: unlocks it if this process took it (for every
    /// descriptor of its open file description, forked children's copies
    /// included), then closes this descriptor. In a forked child, only
    /// closes the child's copy.
    pub(crate) fn release(self) {
        if self.pid == process::current_pid() {
            let mut f = claim_word_range(libc::F_UNLCK as libc::c_short);
            let _ = fcntl(rustix::fd::AsFd::as_fd(&self.fd), libc::F_OFD_SETLK, &mut f);
        }
    }

    /// Whether this process took the lock (not a forked child's copy).
    pub(crate) fn ours(&self) -> bool {
        self.pid == process::current_pid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn the_lock_is_seen_from_other_descriptors_and_released() {
        let path = std::env::temp_dir().join(format!("shm-lock-test-{}", std::process::id()));
        let f = std::fs::File::create(&path).unwrap();
        let ro = std::fs::File::open(&path).unwrap();
        assert_eq!(held(ro.as_fd()), Some(false));
        let lock = try_lock(f.as_fd(), "t").unwrap().expect("free");
        assert!(lock.ours());
        // Seen from another descriptor, a read-only one included.
        assert_eq!(held(ro.as_fd()), Some(true));
        assert_eq!(held(f.as_fd()), Some(true));
        // A second taker (another open file description) is refused.
        assert!(try_lock(f.as_fd(), "t").unwrap().is_none());
        lock.release();
        assert_eq!(held(ro.as_fd()), Some(false));
        let lock = try_lock(f.as_fd(), "t").unwrap().expect("free again");
        // Dropping (closing the only descriptor) releases it too.
        drop(lock);
        assert_eq!(held(ro.as_fd()), Some(false));
        let _ = std::fs::remove_file(&path);
    }
}
