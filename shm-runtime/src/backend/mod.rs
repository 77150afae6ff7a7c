//! The kinds of segment, each in its own file with the same item names
//! (`open`, `remove`, a `Backing` implementation), in the manner of memmap2.
//!
//! A backend creates or opens the named object, sizes it, maps it, and
//! reports its operating-system status. Everything above the mapping (the
//! header, validation, the snapshot protocol) is shared: see `mapping.rs`.
//!
//! This module also dispatches a [`SegmentId`] to its backend ([`open`],
//! [`remove`], [`open_abandoned`]) with exhaustive matches, the platform
//! `cfg` inside each arm: a new kind of segment does not compile until
//! every operation says what it does with it.
//!
//! | Kind | Segment | Lives until |
//! |---|---|---|
//! | `posix` | POSIX object (`shm_open`; `/dev/shm` on Linux) | removed (`shm_unlink`) or reboot |
//! | `sysv` | System V segment (`shmget`), by key | removed (`IPC_RMID`) *and* the last detach, or reboot |
//! | `windows` | Win32 named file mapping (paging file) | its last handle, in any process, closes |
//! | `file` | mapping over a regular file | the file is deleted: survives reboot |
//! | `memfd` | sealed anonymous memory file (Linux) | its last descriptor and mapping are gone |
//! | `memory` | process-private heap memory (tests, images) | the handle is dropped |

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::name::{self, SegmentId};
use crate::status::Status;

#[cfg(unix)]
pub(crate) mod file;
#[cfg(target_os = "linux")]
mod lock;
#[cfg(target_os = "linux")]
pub(crate) mod memfd;
pub(crate) mod memory;
#[cfg(unix)]
pub(crate) mod posix;
#[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
pub(crate) mod sysv;
#[cfg(windows)]
pub(crate) mod windows;

#[cfg(target_os = "linux")]
pub(crate) use lock::WriterLock;

/// The writer lock (`lock.rs`), which this platform does not have: the
/// claim word and the process checks decide (see `writer.rs`).
#[cfg(not(target_os = "linux"))]
pub(crate) enum WriterLock {}

#[cfg(not(target_os = "linux"))]
impl WriterLock {
    pub(crate) fn release(self) {
        match self {}
    }
    pub(crate) fn ours(&self) -> bool {
        match *self {}
    }
}

/// What to do when the segment does or does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Fail with `AlreadyExists` if it exists.
    CreateNew,
    /// Create it if missing, otherwise open it; safe when processes race.
    CreateOrOpen,
    /// Fail with `NotFound` if it is missing.
    OpenExisting,
}

/// What the generic layer asks of a backend.
#[derive(Clone, Debug)]
pub(crate) struct Request<'a> {
    /// The segment's display name, for errors.
    pub display: &'a str,
    pub disposition: Disposition,
    /// Permission bits for a new object (applied regardless of umask).
    /// Win32 has none and ignores them.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub mode: u32,
    /// Size of a new object.
    pub size: usize,
    /// Map read-only.
    pub read_only: bool,
    /// Until when an opener waits for a racing creator to size the object.
    pub deadline: Instant,
    /// With `CreateOrOpen`, accept an existing object that other users
    /// control (see [`check_adopt`]).
    #[cfg_attr(not(unix), allow(dead_code))]
    pub allow_foreign: bool,
}

/// With `create_or_open`, an existing object found under the name is only
/// adopted if this user controls it alone: every user id in `owners` (the
/// owner; for System V also the creator) is this process's effective user,
/// and `mode` grants group and others nothing that `req.mode` does not.
/// Otherwise [`Error::Foreign`], unless `req.allow_foreign`. Opening an
/// existing segment (`open_existing`) names someone's segment on purpose
/// and is not checked.
#[cfg(unix)]
pub(crate) fn check_adopt(req: &Request<'_>, owners: &[u32], mode: u32) -> Result<()> {
    if req.disposition != Disposition::CreateOrOpen || req.allow_foreign {
        return Ok(());
    }
    let me = rustix::process::geteuid().as_raw();
    let owner = owners.first().copied().unwrap_or(me);
    let mode = mode & 0o7777;
    let reason = if let Some(other) = owners.iter().find(|&&u| u != me) {
        format!("it belongs to user id {other}, not to this process's user id {me}")
    } else if mode & 0o077 & !(req.mode & 0o077) != 0 {
        format!(
            "its mode {mode:o} grants group or others more than the mode {:o} asked for",
            req.mode
        )
    } else {
        return Ok(());
    };
    Err(Error::Foreign {
        name: req.display.to_owned(),
        owner,
        mode,
        reason,
    })
}

/// With `create_or_open`, an existing object (POSIX, file) with more than
/// one hard link is refused like a foreign one ([`Error::Foreign`]), unless
/// `req.allow_foreign`: a link someone made in a shared directory (such as
/// `/tmp` or `/dev/shm`) to another file of this user would otherwise be
/// adopted, and written to (re-initialised, if it looks abandoned). A
/// segment this library creates has one link. `owner` and `mode` are the
/// object's, for the message.
#[cfg(unix)]
pub(crate) fn check_links(
    req: &Request<'_>,
    owner: u32,
    mode: u32,
    links: impl Into<u64>,
) -> Result<()> {
    let links = links.into();
    if req.disposition != Disposition::CreateOrOpen || req.allow_foreign || links <= 1 {
        return Ok(());
    }
    Err(Error::Foreign {
        name: req.display.to_owned(),
        owner,
        mode: mode & 0o7777,
        reason: format!(
            "it has {links} hard links, so other paths name the same file (a link planted in a \
             shared directory?)"
        ),
    })
}

/// A mapped segment: the bytes plus what the backend knows about them.
///
/// Implementations unmap (and close) in `Drop`; they never remove the
/// named object unless asked through the backend's `remove`.
///
/// # Safety
///
/// Code above the backends reads and writes the mapping through raw
/// pointers derived from [`Backing::base`], relying on these facts, which
/// an implementation must guarantee for as long as the value lives:
///
/// - `base()` is the same non-null pointer on every call, aligned to at
///   least 4096 (a page), and `len()` is the same value on every call, at
///   least `HEADER_SIZE` (256);
/// - every byte of `base()..base() + len()` rounded up to a whole 8-byte
///   word is valid for reads (atomic word loads), and also for writes
///   unless the segment was mapped read-only (`Request::read_only`); the
///   memory is never freed or moved while the value lives;
/// - the implementation itself never reads or writes the mapped bytes
///   except through whole aligned atomic words (it may zero-fill or copy a
///   private object before anyone else can see it);
/// - the value may be sent to and shared with other threads.
///
/// What the object holds is never trusted: other processes may write any
/// bytes at any time, and may truncate a file-backed object (touching a
/// page past its end is then SIGBUS, see `Shared::check_size`).
pub(crate) unsafe trait Backing: Send + Sync {
    /// Start of the mapping (page-aligned).
    fn base(&self) -> NonNull<u8>;
    /// Length of the mapping in bytes.
    fn len(&self) -> usize;
    /// Whether this process created the object (and must initialise it).
    fn created(&self) -> bool;
    /// Fills the operating-system facts of `status`.
    fn os_status(&self, status: &mut Status) -> Result<()>;
    /// Locks (`true`) or unlocks the mapping in RAM.
    fn lock_in_ram(&self, lock: bool) -> Result<()>;
    /// Writes dirty pages back to a file (a no-op for memory-only backends).
    fn flush(&self) -> Result<()>;
    /// The object's current size as the OS reports it now.
    fn current_size(&self) -> Result<u64>;
    /// Allocates the memory of the whole segment now, so that touching any
    /// page later cannot fail (see `Options::preallocate`). The default: nothing
    /// to do, because the backend commits memory when it creates the
    /// segment or has no file system that could run out (System V, Win32,
    /// process memory).
    fn preallocate(&self) -> Result<()> {
        Ok(())
    }
    /// Whether the object cannot change size (a memfd sealed with
    /// `F_SEAL_SHRINK | F_SEAL_GROW`), so no process can truncate it under
    /// a mapping.
    fn sealed_size(&self) -> bool {
        false
    }
    /// A path other processes of the same user can open the object by, for
    /// objects that have no name (a memfd: `/proc/<pid>/fd/<n>`).
    fn share_path(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// Which object this is (device and inode), where the OS has such an
    /// identity: lets a reopen check it reached the same object.
    fn identity(&self) -> Option<(u64, u64)> {
        None
    }
    /// Removes the object's name only if it still names this very object
    /// (`Shared::remove`): [`Error::Replaced`] if it names another one
    /// now, [`Error::NotFound`] if it names nothing. The default, for
    /// objects without a name: nothing to do.
    fn remove_own(&self) -> Result<()> {
        Ok(())
    }
    /// Takes the writer lock on a new open file description of the object
    /// (Linux, backends with a descriptor: see `lock.rs`): `Some(Ok(None))`
    /// if another open file description holds it. `None`: this backend has
    /// no lock (System V, Win32, process memory, other systems); the claim
    /// word and the process checks decide (`writer.rs`).
    fn writer_lock(&self) -> Option<Result<Option<WriterLock>>> {
        None
    }
    /// Whether an open file description holds the writer lock; `None` if
    /// this backend has no lock or the kernel cannot tell.
    fn writer_lock_held(&self) -> Option<bool> {
        None
    }
}

/// `Err(Unsupported)` for a kind of segment this platform does not have.
#[allow(dead_code)] // unused on platforms that have every kind
fn unsupported<T>(display: &str, what: &str) -> Result<T> {
    Err(Error::Unsupported {
        name: display.to_owned(),
        what: what.into(),
    })
}

/// Creates or opens (as `req` says) and maps the object `id` names.
pub(crate) fn open(id: &SegmentId, req: &Request<'_>) -> Result<Box<dyn Backing>> {
    let display = req.display;
    match id {
        SegmentId::Posix(n) => {
            #[cfg(unix)]
            return Ok(Box::new(posix::open(&name::posix(n)?, req)?));
            #[cfg(not(unix))]
            return name::posix(n)
                .and_then(|n| unsupported(display, &format!("POSIX shared memory ({n:?})")));
        }
        SegmentId::SysV(k) => {
            #[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
            return Ok(Box::new(sysv::open(name::sysv(*k)?, req)?));
            #[cfg(not(any(
                target_os = "linux",
                target_vendor = "apple",
                target_os = "freebsd"
            )))]
            return name::sysv(*k)
                .and_then(|k| unsupported(display, &format!("System V shared memory (key {k})")));
        }
        SegmentId::File(p) => {
            #[cfg(unix)]
            return Ok(Box::new(file::open(&name::file(p)?, req)?));
            #[cfg(not(unix))]
            return name::file(p)
                .and_then(|p| unsupported(display, &format!("file segments ({})", p.display())));
        }
        SegmentId::Windows(n) => {
            #[cfg(windows)]
            return Ok(Box::new(windows::open(&name::windows(n)?, req)?));
            #[cfg(not(windows))]
            return unsupported(display, &format!("Win32 named file mappings ({n:?})"));
        }
        SegmentId::Memory => Ok(Box::new(memory::open(display, req.size)?)),
        SegmentId::Memfd(n) => {
            if req.disposition == Disposition::OpenExisting {
                return unsupported(
                    display,
                    "opening a memfd by name (it has none: open the creator's \
                     `Shared::share_path()`, /proc/<pid>/fd/<n>, with `Options::file`, \
                     or a passed descriptor's /proc/self/fd/<n>)",
                );
            }
            #[cfg(target_os = "linux")]
            return Ok(Box::new(memfd::create(&name::memfd(n)?, req)?));
            #[cfg(not(target_os = "linux"))]
            return name::memfd(n)
                .and_then(|n| unsupported(display, &format!("sealed memfds ({n:?})")));
        }
    }
}

/// Removes the object `id` names: `shm_unlink` (POSIX), `shmctl(IPC_RMID)`
/// (System V), `unlink` (file). Objects without a name to remove (Win32
/// mappings, memfds, process memory) go with their last handle: a no-op.
pub(crate) fn remove(id: &SegmentId) -> Result<()> {
    let display = id.to_string();
    match id {
        SegmentId::Posix(n) => {
            #[cfg(unix)]
            return posix::remove(&name::posix(n)?, &display);
            #[cfg(not(unix))]
            return name::posix(n)
                .and_then(|n| unsupported(&display, &format!("POSIX shared memory ({n:?})")));
        }
        SegmentId::SysV(k) => {
            #[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
            return sysv::remove(name::sysv(*k)?, &display);
            #[cfg(not(any(
                target_os = "linux",
                target_vendor = "apple",
                target_os = "freebsd"
            )))]
            return name::sysv(*k)
                .and_then(|k| unsupported(&display, &format!("System V shared memory (key {k})")));
        }
        SegmentId::File(p) => {
            #[cfg(unix)]
            return file::remove(&name::file(p)?, &display);
            #[cfg(not(unix))]
            return name::file(p)
                .and_then(|p| unsupported(&display, &format!("file segments ({})", p.display())));
        }
        SegmentId::Windows(n) => {
            #[cfg(windows)]
            return windows::remove(&name::windows(n)?, &display);
            #[cfg(not(windows))]
            return unsupported(&display, &format!("Win32 named file mappings ({n:?})"));
        }
        SegmentId::Memory | SegmentId::Memfd(_) => Ok(()),
    }
}

/// Opens an abandoned object (its creator died before publishing it)
/// read-write for re-initialisation, without following symbolic links,
/// sizing it if it is still `empty`: then only if it was last changed at
/// least `min_age` ago, i.e. it is the object that was seen empty, not a
/// new one created in its place meanwhile. `None` for kinds whose objects
/// cannot be empty or replaced by a link (System V, Win32, memfd, memory).
pub(crate) fn open_abandoned(
    id: &SegmentId,
    req: &Request<'_>,
    min_age: Duration,
) -> Option<Result<Box<dyn Backing>>> {
    match id {
        SegmentId::Posix(n) => {
            #[cfg(unix)]
            return Some(name::posix(n).and_then(|n| {
                Ok(Box::new(posix::open_abandoned(&n, req, min_age)?) as Box<dyn Backing>)
            }));
            #[cfg(not(unix))]
            return {
                let _ = (n, req, min_age);
                None
            };
        }
        SegmentId::File(p) => {
            #[cfg(unix)]
            return Some(name::file(p).and_then(|p| {
                Ok(Box::new(file::open_abandoned(&p, req, min_age)?) as Box<dyn Backing>)
            }));
            #[cfg(not(unix))]
            return {
                let _ = (p, req, min_age);
                None
            };
        }
        SegmentId::SysV(_) | SegmentId::Windows(_) | SegmentId::Memfd(_) | SegmentId::Memory => {
            None
        }
    }
}

/// The System V key `ftok(path, id)` names (see `Options::sysv_ftok`).
pub(crate) fn sysv_key(path: &std::path::Path, id: u8) -> Result<i32> {
    #[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
    return sysv::ftok(path, id);
    #[cfg(not(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd")))]
    return unsupported(
        &format!("sysv:ftok({}, {id})", path.display()),
        "System V shared memory",
    );
}
