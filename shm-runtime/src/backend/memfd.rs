//! Sealed anonymous memory files (Linux): [`memfd_create(2)`] sized with
//! [`ftruncate(2)`] and sealed with `F_SEAL_SHRINK | F_SEAL_GROW |
//! F_SEAL_SEAL` ([`fcntl(2)`], "File Sealing"), then mapped like a POSIX
//! object.
//!
//! Why: any process that can open a POSIX object or a file read-write can
//! `ftruncate` it while others have it mapped, and a reader that then
//! touches a page past the new end gets SIGBUS (the kernel's behaviour; it
//! cannot be caught safely). A sealed memfd cannot change size at all, for
//! anyone, including its creator, so that fault cannot happen.
//!
//! A memfd has no name in any namespace: it lives while a descriptor or a
//! mapping of it exists. Other processes reach it through a descriptor
//! passed to them (inherited, or sent over a Unix socket with
//! `SCM_RIGHTS`), or, for processes of the same user, through the path
//! `/proc/<pid>/fd/<n>` of the creator's descriptor
//! ([`crate::Shared::share_path`]), opened with `Options::file`.
//!
//! [`memfd_create(2)`]: https://man7.org/linux/man-pages/man2/memfd_create.2.html
//! [`ftruncate(2)`]: https://man7.org/linux/man-pages/man2/ftruncate.2.html
//! [`fcntl(2)`]: https://man7.org/linux/man-pages/man2/fcntl.2.html

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags};

use super::posix::{self, Posix};
use super::{Backing, Request};
use crate::error::{Error, Result};
use crate::status::Status;

/// A sealed memfd mapping: the POSIX mapping code over the memfd.
pub(crate) struct Memfd(Posix);

/// The seals every segment of this backend carries.
pub(crate) fn seals() -> SealFlags {
    SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL
}

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)`, then sizes, maps
/// and seals it. Always creates: a memfd cannot be found by name.
pub(crate) fn create(name: &str, req: &Request<'_>) -> Result<Memfd> {
    let d = req.display;
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
        .map_err(|e| Error::from_io(d, "memfd_create", e.into()))?;
    let p = posix::create(fd, req)?;
    // fcntl(F_ADD_SEALS): from now on nobody can shrink or grow it, and no
    // one can remove or add seals.
    rustix::fs::fcntl_add_seals(p.fd(), seals())
        .map_err(|e| Error::from_io(d, "fcntl (F_ADD_SEALS)", e.into()))?;
    Ok(Memfd(p))
}

// SAFETY: the POSIX mapping code's guarantees (see `Posix`'s impl), over
// a sealed memfd.
unsafe impl Backing for Memfd {
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
        Ok(())
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
    fn sealed_size(&self) -> bool {
        self.0.sealed_size()
    }
    fn writer_lock(&self) -> Option<Result<Option<super::WriterLock>>> {
        self.0.writer_lock()
    }
    fn writer_lock_held(&self) -> Option<bool> {
        self.0.writer_lock_held()
    }
    fn share_path(&self) -> Option<PathBuf> {
        Some(PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.0.fd().as_raw_fd()
        )))
    }
}
