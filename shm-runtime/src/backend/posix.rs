//! POSIX shared-memory objects: [`shm_open(3)`], [`ftruncate(2)`],
//! [`mmap(2)`], through rustix.
//!
//! Objects have kernel persistence: they outlive every process that maps
//! them until [`remove`] ([`shm_unlink(3)`]) or a reboot. On Linux they are
//! files in `/dev/shm` (a tmpfs), which is why `ls -la /dev/shm` shows them.
//!
//! [`shm_open(3)`]: https://man7.org/linux/man-pages/man3/shm_open.3.html
//! [`shm_unlink(3)`]: https://man7.org/linux/man-pages/man3/shm_unlink.3.html
//! [`ftruncate(2)`]: https://man7.org/linux/man-pages/man2/ftruncate.2.html
//! [`mmap(2)`]: https://man7.org/linux/man-pages/man2/mmap.2.html

use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{Mode, RawMode};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm::OFlags;

use super::{Backing, Disposition, Request};
use crate::error::{Error, Result};
use crate::header::HEADER_SIZE;
use crate::process::pause;
use crate::status::{Status, epoch_time};

pub(crate) struct Posix {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
    created: bool,
    display: String,
    /// The `shm_open` name this object was opened by (for
    /// [`Backing::remove_own`]); `None` for other users of this type.
    shm_name: Option<String>,
}

// SAFETY: the mapping is owned by this value; the segment layer accesses it
// only atomically, so sending or sharing it across threads is sound.
unsafe impl Send for Posix {}
// SAFETY: as above.
unsafe impl Sync for Posix {}

fn io(display: &str, op: &'static str, e: rustix::io::Errno) -> Error {
    Error::from_io(display, op, e.into())
}

/// Creates or opens `/name` as `req` says and maps it.
pub(crate) fn open(name: &str, req: &Request<'_>) -> Result<Posix> {
    let d = req.display;
    let access = if req.read_only {
        OFlags::RDONLY
    } else {
        OFlags::RDWR
    };
    loop {
        if req.disposition != Disposition::OpenExisting {
            // shm_open(3) with O_CREAT|O_EXCL: exactly one racer creates.
            match rustix::shm::open(
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | hardening(),
                Mode::from_bits_truncate(req.mode as RawMode),
            ) {
                Ok(fd) => {
                    // A half-made object must not be left behind under the name.
                    return create(fd, req).map(|p| p.named(name)).inspect_err(|_| {
                        let _ = rustix::shm::unlink(name);
                    });
                }
                Err(rustix::io::Errno::EXIST) if req.disposition == Disposition::CreateOrOpen => {}
                Err(e) => return Err(open_error(d, "shm_open (create)", e)),
            }
        }
        match rustix::shm::open(name, access | hardening(), Mode::empty()) {
            Ok(fd) => return map_existing(fd, req).map(|p| p.named(name)),
            // The object was removed between our create and open attempts:
            // try to create it again.
            Err(rustix::io::Errno::NOENT) if req.disposition == Disposition::CreateOrOpen => {
                if Instant::now() > req.deadline {
                    return Err(io(d, "shm_open", rustix::io::Errno::NOENT));
                }
            }
            Err(e) => return Err(open_error(d, "shm_open", e)),
        }
    }
}

/// An error of `shm_open`; `ELOOP` means a symbolic link was planted under
/// the name (refused by `O_NOFOLLOW`).
fn open_error(d: &str, op: &'static str, e: rustix::io::Errno) -> Error {
    if e == rustix::io::Errno::LOOP {
        return Error::InvalidName {
            name: d.to_owned(),
            reason: "a symbolic link is under this name, not a shared-memory object".into(),
        };
    }
    io(d, op, e)
}

/// Extra `open(2)` flags for `shm_open` on Linux, where it opens a file in
/// `/dev/shm` (a world-writable directory anyone can plant things in):
/// `O_NOFOLLOW`, so a symbolic link planted under the name is refused
/// (`ELOOP`) rather than followed to some other file (glibc's `shm_open`
/// adds it too), and `O_NONBLOCK`, so a FIFO planted under the name is
/// opened at once (and then refused as not a regular file) instead of
/// blocking forever. Elsewhere the C library's `shm_open` takes no other
/// flags.
fn hardening() -> OFlags {
    #[cfg(target_os = "linux")]
    return OFlags::from_bits_retain(
        (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits(),
    );
    #[cfg(not(target_os = "linux"))]
    return OFlags::empty();
}

/// Sizes a freshly created object and maps it (also used by the file
/// backend).
pub(super) fn create(fd: OwnedFd, req: &Request<'_>) -> Result<Posix> {
    let d = req.display;
    // fchmod(2): the mode asked for, whatever the umask took away.
    rustix::fs::fchmod(&fd, Mode::from_bits_truncate(req.mode as RawMode))
        .map_err(|e| io(d, "fchmod", e))?;
    check_free_space(&fd, req)?;
    // ftruncate(2): the pages are allocated lazily, on first touch.
    rustix::fs::ftruncate(&fd, req.size as u64).map_err(|e| match e {
        rustix::io::Errno::FBIG | rustix::io::Errno::NOSPC | rustix::io::Errno::INVAL => {
            Error::NoSpace {
                name: d.to_owned(),
                size: req.size as u64,
                reason: format!("ftruncate: {e}"),
            }
        }
        e => io(d, "ftruncate", e),
    })?;
    let ptr = map(&fd, req.size, false, d)?;
    Ok(Posix {
        fd,
        ptr,
        len: req.size,
        created: true,
        display: d.to_owned(),
        shm_name: None,
    })
}

/// Refuses, before sizing, a segment larger than its file system can hold
/// now ([`fstatvfs(3)`]: the space available to this user, and the file
/// system's total size), with [`Error::NoSpace`]. Without this, `ftruncate`
/// succeeds on tmpfs (`/dev/shm`) and on most disk file systems whatever
/// the size, and the first touch of a page that cannot be allocated raises
/// SIGBUS. It cannot foresee others filling the file system later; for a
/// guarantee, ask for [`Backing::preallocate`] (`Options::preallocate`).
///
/// [`fstatvfs(3)`]: https://man7.org/linux/man-pages/man3/fstatvfs.3.html
fn check_free_space(fd: &OwnedFd, req: &Request<'_>) -> Result<()> {
    let Ok(st) = rustix::fs::fstatvfs(fd) else {
        // No figures (some file systems): let ftruncate decide.
        return Ok(());
    };
    let unit = st.f_frsize.max(1);
    // A file system that reports no blocks has no size limit (tmpfs with
    // `size=0`).
    if st.f_blocks == 0 {
        return Ok(());
    }
    let size = req.size as u64;
    let total = st.f_blocks.saturating_mul(unit);
    let free = st.f_bavail.saturating_mul(unit);
    let reason = if size > total {
        format!("the file system holding it has {total} bytes in all (fstatvfs)")
    } else if size > free {
        format!("the file system holding it has {free} bytes free (fstatvfs)")
    } else {
        return Ok(());
    };
    Err(Error::NoSpace {
        name: req.display.to_owned(),
        size,
        reason,
    })
}

/// Opens the existing object `name` read-write to re-initialise it after
/// its creator died before sizing it (see `segment/reinit.rs`): an empty
/// object is sized here; any object is mapped as an existing one.
pub(crate) fn open_abandoned(name: &str, req: &Request<'_>, min_age: Duration) -> Result<Posix> {
    let fd = rustix::shm::open(name, OFlags::RDWR | hardening(), Mode::empty())
        .map_err(|e| open_error(req.display, "shm_open", e))?;
    size_abandoned(fd, req, min_age).map(|p| p.named(name))
}

/// Sizes an abandoned empty object (only a regular file owned by this
/// user, last changed at least `min_age` ago, so not one just created in
/// place of the one that was seen empty) to `req.size` with ftruncate(2),
/// then maps it as an existing one. (Also used by the file backend.)
pub(super) fn size_abandoned(fd: OwnedFd, req: &Request<'_>, min_age: Duration) -> Result<Posix> {
    let d = req.display;
    let st = rustix::fs::fstat(&fd).map_err(|e| io(d, "fstat", e))?;
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    if kind != rustix::fs::FileType::RegularFile {
        return Err(Error::InvalidName {
            name: d.to_owned(),
            reason: format!("the object is a {kind:?}, not a regular shared-memory object"),
        });
    }
    if st.st_uid != rustix::process::geteuid().as_raw() {
        return Err(Error::PermissionDenied {
            name: d.to_owned(),
            op: "re-initialise an abandoned segment owned by another user",
        });
    }
    // Before anything is written: not a link to another file of this user.
    super::check_links(req, st.st_uid, st.st_mode as u32, st.st_nlink)?;
    if st.st_size == 0 {
        let changed = epoch_time(st.st_ctime, st.st_ctime_nsec as i64);
        let age = changed.and_then(|t| SystemTime::now().duration_since(t).ok());
        if age.is_none_or(|a| a < min_age) {
            return Err(Error::NotInitialized {
                name: d.to_owned(),
                waited: min_age,
            });
        }
        // Several re-initialisers may size it at once: same size, no harm.
        rustix::fs::ftruncate(&fd, req.size as u64).map_err(|e| io(d, "ftruncate", e))?;
    }
    map_existing(fd, req)
}

/// Waits (bounded) until a racing creator has sized the object, then maps
/// all of it. The size comes from fstat(2) *before* mapping, so a short or
/// foreign object is reported, never touched past its end. With
/// `create_or_open`, an object other users control is refused first
/// ([`super::check_adopt`]). (Also used by the file backend.)
pub(super) fn map_existing(fd: OwnedFd, req: &Request<'_>) -> Result<Posix> {
    let d = req.display;
    let start = Instant::now();
    let size = loop {
        let st = rustix::fs::fstat(&fd).map_err(|e| io(d, "fstat", e))?;
        let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
        if kind != rustix::fs::FileType::RegularFile {
            return Err(Error::InvalidName {
                name: d.to_owned(),
                reason: format!("the object is a {kind:?}, not a regular shared-memory object"),
            });
        }
        // `mode_t` is u16 on macOS and FreeBSD.
        super::check_adopt(req, &[st.st_uid], st.st_mode as u32)?;
        super::check_links(req, st.st_uid, st.st_mode as u32, st.st_nlink)?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        if size > 0 || Instant::now() >= req.deadline {
            break size;
        }
        pause(start);
    };
    if size == 0 {
        // Still empty after the wait: its creator made it (O_EXCL) but never
        // sized it, and has most likely died.
        return Err(Error::NotInitialized {
            name: d.to_owned(),
            waited: start.elapsed(),
        });
    }
    if size < HEADER_SIZE as u64 {
        return Err(Error::TooSmall {
            name: d.to_owned(),
            needed: HEADER_SIZE as u64,
            actual: size,
            what: "the segment header",
        });
    }
    let len = usize::try_from(size).map_err(|_| Error::Corrupt {
        name: d.to_owned(),
        what: format!("object size {size} does not fit this process's address space"),
    })?;
    let ptr = map(&fd, len, req.read_only, d)?;
    Ok(Posix {
        fd,
        ptr,
        len,
        created: false,
        display: d.to_owned(),
        shm_name: None,
    })
}

fn map(fd: &OwnedFd, len: usize, read_only: bool, d: &str) -> Result<NonNull<u8>> {
    let prot = if read_only {
        ProtFlags::READ
    } else {
        ProtFlags::READ | ProtFlags::WRITE
    };
    // SAFETY: a fresh shared mapping at an address the kernel chooses cannot
    // overlap any Rust object; `len` is the object's size (checked by the
    // caller with fstat or set by ftruncate), so no page lies past its end.
    let p = unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, fd, 0) }
        .map_err(|e| match e {
        rustix::io::Errno::NOMEM => Error::NoSpace {
            name: d.to_owned(),
            size: len as u64,
            reason: "mmap: not enough address space or memory".into(),
        },
        e => io(d, "mmap", e),
    })?;
    NonNull::new(p.cast::<u8>()).ok_or_else(|| Error::Corrupt {
        name: d.to_owned(),
        what: "mmap returned a null pointer".into(),
    })
}

/// Removes the name (`shm_unlink(3)`); processes that have it mapped keep
/// their mapping until they unmap it.
pub(crate) fn remove(name: &str, display: &str) -> Result<()> {
    rustix::shm::unlink(name).map_err(|e| io(display, "shm_unlink", e))
}

/// The (device, inode) the POSIX name `name` has now, without following
/// a symbolic link: on Linux `lstat` of its file in `/dev/shm` (no
/// permission on the object needed), elsewhere `shm_open` read-only and
/// `fstat`.
fn identity_of(name: &str) -> rustix::io::Result<(u64, u64)> {
    #[cfg(target_os = "linux")]
    let st = rustix::fs::statat(
        rustix::fs::CWD,
        format!("/dev/shm{name}"),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )?;
    #[cfg(not(target_os = "linux"))]
    let st = rustix::fs::fstat(rustix::shm::open(name, OFlags::RDONLY, Mode::empty())?)?;
    Ok((st.st_dev as u64, st.st_ino as u64))
}

/// Removes `name` (`shm_unlink`) only if it names the object open as `fd`
/// (same device and inode), else [`Error::Replaced`]. The check and the
/// unlink are two steps (`shm_unlink` has no form that names the object):
/// a replacement made between them is removed; the window is two system
/// calls wide.
fn remove_if_same(name: &str, fd: &OwnedFd, display: &str) -> Result<()> {
    let st = rustix::fs::fstat(fd).map_err(|e| io(display, "fstat", e))?;
    let mine = (st.st_dev as u64, st.st_ino as u64);
    let now = identity_of(name).map_err(|e| io(display, "stat (the name now)", e))?;
    if now != mine {
        return Err(Error::Replaced {
            name: display.to_owned(),
        });
    }
    remove(name, display)
}

impl Posix {
    /// Records the `shm_open` name this object was opened by.
    fn named(mut self, name: &str) -> Posix {
        self.shm_name = Some(name.to_owned());
        self
    }

    /// The segment's display name, for errors.
    pub(super) fn display(&self) -> &str {
        &self.display
    }
}

impl Posix {
    /// The object's descriptor.
    #[cfg(target_os = "linux")]
    pub(super) fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

impl Drop for Posix {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `map`, and no
        // `Field` or reference into it outlives the owning segment handle.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

// SAFETY: `ptr`/`len` are a shared mapping made by `mmap` (page-aligned,
// never moved, unmapped only in `Drop`) of an object checked to be at least
// HEADER_SIZE bytes; the mapping covers whole pages, so the word holding
// the last byte is mapped; it is read-only exactly when `req.read_only`
// asked; this type never touches the mapped bytes itself.
unsafe impl Backing for Posix {
    fn base(&self) -> NonNull<u8> {
        self.ptr
    }
    fn len(&self) -> usize {
        self.len
    }
    fn created(&self) -> bool {
        self.created
    }
    fn os_status(&self, status: &mut Status) -> Result<()> {
        // fstat(2) on the object.
        let st = rustix::fs::fstat(&self.fd).map_err(|e| io(&self.display, "fstat", e))?;
        status.size = u64::try_from(st.st_size).unwrap_or(0);
        // `mode_t` is u16 on macOS and FreeBSD.
        status.mode = Some(st.st_mode as u32 & 0o7777);
        status.owner_user = Some(st.st_uid);
        status.owner_group = Some(st.st_gid);
        status.last_change_time = epoch_time(st.st_ctime, st.st_ctime_nsec as i64);
        Ok(())
    }
    fn lock_in_ram(&self, lock: bool) -> Result<()> {
        // SAFETY: the range is exactly our own live mapping; mlock/munlock do
        // not change its contents.
        let r = unsafe {
            if lock {
                rustix::mm::mlock(self.ptr.as_ptr().cast(), self.len)
            } else {
                rustix::mm::munlock(self.ptr.as_ptr().cast(), self.len)
            }
        };
        r.map_err(|e| match e {
            rustix::io::Errno::PERM | rustix::io::Errno::NOMEM if lock => Error::PermissionDenied {
                name: self.display.clone(),
                op: "lock the segment in RAM (mlock; raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK)",
            },
            e => io(&self.display, if lock { "mlock" } else { "munlock" }, e),
        })
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn current_size(&self) -> Result<u64> {
        let st = rustix::fs::fstat(&self.fd).map_err(|e| io(&self.display, "fstat", e))?;
        Ok(u64::try_from(st.st_size).unwrap_or(0))
    }
    fn preallocate(&self) -> Result<()> {
        // posix_fallocate semantics (mode 0): every block is allocated now,
        // or ENOSPC now, never SIGBUS later. On tmpfs this allocates and
        // zeroes every page: time and memory in proportion to the size.
        rustix::fs::fallocate(
            &self.fd,
            rustix::fs::FallocateFlags::empty(),
            0,
            self.len as u64,
        )
        .map_err(|e| match e {
            rustix::io::Errno::NOSPC | rustix::io::Errno::FBIG | rustix::io::Errno::NOMEM => {
                Error::NoSpace {
                    name: self.display.clone(),
                    size: self.len as u64,
                    reason: format!("fallocate (reserve): {e}"),
                }
            }
            rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS => Error::Unsupported {
                name: self.display.clone(),
                what: "reserving the segment's memory (fallocate) on this file system".into(),
            },
            e => io(&self.display, "fallocate", e),
        })
    }
    fn sealed_size(&self) -> bool {
        #[cfg(any(target_os = "linux", target_os = "freebsd"))]
        {
            // fcntl(F_GET_SEALS); EINVAL for files that cannot be sealed.
            let shrink = rustix::fs::SealFlags::SHRINK;
            rustix::fs::fcntl_get_seals(&self.fd).is_ok_and(|s| s.contains(shrink))
        }
        #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
        false
    }
    fn identity(&self) -> Option<(u64, u64)> {
        let st = rustix::fs::fstat(&self.fd).ok()?;
        Some((st.st_dev as u64, st.st_ino as u64))
    }
    fn remove_own(&self) -> Result<()> {
        match &self.shm_name {
            Some(name) => remove_if_same(name, &self.fd, &self.display),
            None => Ok(()),
        }
    }
    #[cfg(target_os = "linux")]
    fn writer_lock(&self) -> Option<Result<Option<super::WriterLock>>> {
        use std::os::fd::AsFd;
        Some(super::lock::try_lock(self.fd.as_fd(), &self.display))
    }
    #[cfg(target_os = "linux")]
    fn writer_lock_held(&self) -> Option<bool> {
        use std::os::fd::AsFd;
        super::lock::held(self.fd.as_fd())
    }
}
