//! File-backed segments: a shared mapping over a regular file, with
//! [`open(2)`], [`ftruncate(2)`], [`mmap(2)`] and [`msync(2)`], through rustix.
//!
//! Lifetime: the file is the segment. It outlives every process that maps
//! it and, unlike POSIX and System V segments, survives a reboot when it is
//! on a disk (not on a tmpfs such as `/tmp` on some systems or `/dev/shm`).
//! [`remove`] unlinks the path; processes that have it mapped keep their
//! mapping until they unmap it. Changes reach the file when the kernel writes
//! the dirty pages back, or at once with `Shared::flush` (`msync(MS_SYNC)`).
//! Note that a header written before a reboot may name a writer process
//! that no longer exists.
//!
//! [`open(2)`]: https://man7.org/linux/man-pages/man2/open.2.html
//! [`ftruncate(2)`]: https://man7.org/linux/man-pages/man2/ftruncate.2.html
//! [`mmap(2)`]: https://man7.org/linux/man-pages/man2/mmap.2.html
//! [`msync(2)`]: https://man7.org/linux/man-pages/man2/msync.2.html

use std::os::fd::OwnedFd;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Instant;

use rustix::fs::{FileType, Mode, OFlags};

use super::posix::{self, Posix};
use super::{Backing, Disposition, Request};
use crate::error::{Error, Result};
use crate::status::Status;

/// A mapped regular file: the POSIX mapping code over a file descriptor,
/// plus `msync` for [`Backing::flush`], and the path it was opened by (for
/// [`Backing::remove_own`]).
pub(crate) struct File(Posix, std::path::PathBuf);

fn io(display: &str, op: &'static str, e: rustix::io::Errno) -> Error {
    Error::from_io(display, op, e.into())
}

/// `open(path, flags, mode)` with `O_CLOEXEC|O_NOCTTY` added.
///
/// [`open(2)`](https://man7.org/linux/man-pages/man2/open.2.html).
fn open_file(path: &Path, flags: OFlags, mode: u32) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        flags | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::from_raw_mode(mode as rustix::fs::RawMode),
    )
}

/// Whether `path` is a descriptor's link in `/proc` (`/proc/<pid>/fd/<n>`,
/// `/proc/self/fd/<n>`, `/dev/fd/<n>`): a "magic" link the kernel makes
/// for an open descriptor, in a directory nobody can write to.
fn is_fd_link(path: &Path) -> bool {
    let in_fd_dir = path
        .parent()
        .is_some_and(|p| p.file_name().is_some_and(|n| n == "fd"));
    let digits = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    in_fd_dir && digits && (path.starts_with("/proc/") || path.starts_with("/dev/fd/"))
}

/// Removing through a descriptor's link: it is no name of the file (the
/// descriptor may be a memfd, which has none), and unlinking it cannot work.
fn fd_link_unsupported(display: &str) -> Error {
    Error::Unsupported {
        name: display.to_owned(),
        what: "removing a segment opened through a descriptor's link (/proc/<pid>/fd/<n>), \
               which is not a name of it (remove it by its own name, or close every descriptor)"
            .into(),
    }
}

/// Creates or opens the file at `path` as `req` says and maps it.
pub(crate) fn open(path: &Path, req: &Request<'_>) -> Result<File> {
    let d = req.display;
    let access = if req.read_only {
        OFlags::RDONLY
    } else {
        OFlags::RDWR
    };
    loop {
        if req.disposition != Disposition::OpenExisting {
            // O_CREAT|O_EXCL: exactly one racer creates.
            match open_file(path, OFlags::CREATE | OFlags::EXCL | OFlags::RDWR, req.mode) {
                Ok(fd) => {
                    // A half-made file must not be left behind at the path.
                    return posix::create(fd, req)
                        .map(|p| File(p, path.to_owned()))
                        .inspect_err(|_| {
                            let _ = rustix::fs::unlink(path);
                        });
                }
                Err(rustix::io::Errno::EXIST) if req.disposition == Disposition::CreateOrOpen => {}
                Err(rustix::io::Errno::NOENT) => {
                    return Err(io(
                        d,
                        "open (O_CREAT): the directory does not exist",
                        rustix::io::Errno::NOENT,
                    ));
                }
                Err(e) => return Err(io(d, "open (O_CREAT)", e)),
            }
        }
        // O_NONBLOCK: opening a FIFO at the path must not hang; it has no
        // effect on regular files. O_NOFOLLOW: a symbolic link planted at
        // the path (in a shared directory such as /tmp) is refused, not
        // followed to a file someone else chose; the directories of the
        // path are followed and must be trusted. The one exception is a
        // descriptor's own link (`/proc/<pid>/fd/<n>`, how a sealed memfd
        // is shared), which nobody can plant.
        let nofollow = if is_fd_link(path) {
            OFlags::empty()
        } else {
            OFlags::NOFOLLOW
        };
        match open_file(path, access | OFlags::NONBLOCK | nofollow, 0) {
            Ok(fd) => {
                let st = rustix::fs::fstat(&fd).map_err(|e| io(d, "fstat", e))?;
                let kind = FileType::from_raw_mode(st.st_mode);
                if kind != FileType::RegularFile {
                    return Err(Error::InvalidName {
                        name: d.to_owned(),
                        reason: format!("the path is a {kind:?}, not a regular file"),
                    });
                }
                return posix::map_existing(fd, req).map(|p| File(p, path.to_owned()));
            }
            Err(rustix::io::Errno::LOOP) => {
                return Err(Error::InvalidName {
                    name: d.to_owned(),
                    reason: "the path is a symbolic link (not followed), not a regular file".into(),
                });
            }
            // Removed between our create and open attempts: create again.
            Err(rustix::io::Errno::NOENT)
                if req.disposition == Disposition::CreateOrOpen
                    && Instant::now() <= req.deadline => {}
            Err(e) => return Err(io(d, "open", e)),
        }
    }
}

/// Opens the existing file at `path` read-write to re-initialise it after
/// its creator died before sizing it (see `segment/reinit.rs`). A symbolic
/// link is not followed here (`O_NOFOLLOW`): re-initialising writes, and
/// must not write through a link someone planted to another file.
pub(crate) fn open_abandoned(
    path: &Path,
    req: &Request<'_>,
    min_age: std::time::Duration,
) -> Result<File> {
    let fd = open_file(path, OFlags::RDWR | OFlags::NONBLOCK | OFlags::NOFOLLOW, 0)
        .map_err(|e| io(req.display, "open (O_NOFOLLOW)", e))?;
    posix::size_abandoned(fd, req, min_age).map(|p| File(p, path.to_owned()))
}

/// Removes the file (`unlink(2)`, which removes a symbolic link itself,
/// never its target); processes that have it mapped keep their mapping
/// until they unmap it. A descriptor's link (`/proc/<pid>/fd/<n>`) names
/// no file that could be removed: [`Error::Unsupported`].
pub(crate) fn remove(path: &Path, display: &str) -> Result<()> {
    if is_fd_link(path) {
        return Err(fd_link_unsupported(display));
    }
    rustix::fs::unlink(path).map_err(|e| io(display, "unlink", e))
}

// SAFETY: the POSIX mapping code's guarantees (see `Posix`'s impl), over
// a regular file.
unsafe impl Backing for File {
    fn base(&self) -> NonNull<u8> {
        self.0.base()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn created(&self) -> bool {
        self.0.created()
    }
    fn os_status(&self, status: &mut Status) -> Result<()> {
        self.0.os_status(status)
    }
    fn lock_in_ram(&self, lock: bool) -> Result<()> {
        self.0.lock_in_ram(lock)
    }
    fn flush(&self) -> Result<()> {
        // msync(2) with MS_SYNC: returns once the pages are written to the file.
        // SAFETY: the range is exactly this value's own live mapping; msync
        // does not change its contents.
        unsafe {
            rustix::mm::msync(
                self.base().as_ptr().cast(),
                self.len(),
                rustix::mm::MsyncFlags::SYNC,
            )
        }
        .map_err(|e| io(self.0.display(), "msync", e))
    }
    fn current_size(&self) -> Result<u64> {
        self.0.current_size()
    }
    fn preallocate(&self) -> Result<()> {
        self.0.preallocate()
    }
    fn identity(&self) -> Option<(u64, u64)> {
        self.0.identity()
    }
    fn remove_own(&self) -> Result<()> {
        if is_fd_link(&self.1) {
            return Err(fd_link_unsupported(self.0.display()));
        }
        // lstat(2) the path now (a link is another object), compare with
        // the open file; the window between the check and the unlink is
        // two system calls wide (unlink(2) cannot name the inode).
        let d = self.0.display();
        let mine = self.0.identity();
        let st = rustix::fs::statat(
            rustix::fs::CWD,
            &self.1,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io(d, "stat (the path now)", e))?;
        if mine != Some((st.st_dev as u64, st.st_ino as u64)) {
            return Err(Error::Replaced { name: d.to_owned() });
        }
        remove(&self.1, d)
    }
    fn sealed_size(&self) -> bool {
        self.0.sealed_size()
    }
    fn writer_lock(&self) -> Option<Result<Option<super::WriterLock>>> {
        self.0.writer_lock()
    }
    fn writer_lock_held(&self) -> Option<bool> {
        self.0.writer_lock_held()
    }
}
