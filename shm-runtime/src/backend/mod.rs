//! The kinds of segment, each in its own file with the same item names
//! (`open`, `remove`, a `Backing` implementation), in the manner of memmap2.
//!
//! A backend creates or opens the named object, sizes it, maps it, and
//! reports its operating-system status. Everything above the mapping (the
//! header, validation, the snapshot protocol) is shared in `segment.rs`.

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::status::Status;

#[cfg(unix)]
pub(crate) mod file;
#[cfg(target_os = "linux")]
pub(crate) mod memfd;
pub(crate) mod memory;
#[cfg(unix)]
pub(crate) mod posix;
#[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
pub(crate) mod sysv;
#[cfg(windows)]
pub(crate) mod windows;

/// What to do when the segment does or does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
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
}

/// A mapped segment: the bytes plus what the backend knows about them.
///
/// Implementations unmap (and close) in `Drop`; they never remove the
/// named object unless asked through the backend's `remove`.
pub(crate) trait Backing: Send + Sync {
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
    /// page later cannot fail (see `Options::reserve`). The default: nothing
    /// to do, because the backend commits memory when it creates the
    /// segment or has no file system that could run out (System V, Win32,
    /// process memory).
    fn reserve(&self) -> Result<()> {
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
}

/// Sleeps a little; used in bounded waits for another process.
pub(crate) fn pause(start: Instant) {
    let spent = start.elapsed();
    std::thread::sleep(if spent < Duration::from_millis(10) {
        Duration::from_micros(100)
    } else {
        Duration::from_millis(1)
    });
}
