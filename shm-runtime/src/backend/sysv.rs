//! System V shared-memory segments, identified by a numeric key:
//! [`shmget(2)`], [`shmat(2)`], [`shmdt(2)`], [`shmctl(2)`], through libc
//! (rustix has no System V API).
//!
//! Lifetime: a segment has kernel persistence. It outlives every process
//! that attaches it until [`remove`] (`shmctl(IPC_RMID)`) marks it for
//! destruction, and then it goes away when the last process detaches (at
//! once if none is attached), or at reboot. After `IPC_RMID` the key is free
//! at once: a new segment may be created under it while old attachments still
//! see the old one. (On Linux, `kernel.shm_rmid_forced = 1` also destroys
//! segments that no process has attached when their last user exits.)
//! `ipcs -m` lists the segments; `ipcrm -M KEY` removes one.
//!
//! System V segments ignore the umask: the permission bits given to
//! `shmget` are the segment's mode. Only the nine `rwx` bits exist.
//!
//! [`shmget(2)`]: https://man7.org/linux/man-pages/man2/shmget.2.html
//! [`shmat(2)`]: https://man7.org/linux/man-pages/man2/shmat.2.html
//! [`shmdt(2)`]: https://man7.org/linux/man-pages/man2/shmdt.2.html
//! [`shmctl(2)`]: https://man7.org/linux/man-pages/man2/shmctl.2.html

use std::io;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Instant;

use super::{Backing, Disposition, Request};
use crate::error::{Error, Result};
use crate::header::HEADER_SIZE;
use crate::status::{Status, epoch_time};

/// The permission bits a System V segment has.
const PERM_BITS: u32 = 0o777;

/// An attached System V segment.
pub(crate) struct SysV {
    shmid: libc::c_int,
    key: i32,
    ptr: NonNull<u8>,
    len: usize,
    created: bool,
    display: String,
}

// SAFETY: the attachment is owned by this value; the segment layer accesses
// it only atomically, so sending or sharing it across threads is sound.
unsafe impl Send for SysV {}
// SAFETY: as above.
unsafe impl Sync for SysV {}

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

fn io_err(display: &str, op: &'static str, e: io::Error) -> Error {
    Error::from_io(display, op, e)
}

/// `shmget(key, size, flags)`: the identifier of the segment with `key`.
///
/// [`shmget(2)`](https://man7.org/linux/man-pages/man2/shmget.2.html).
pub(crate) fn shmget(key: i32, size: usize, flags: libc::c_int) -> io::Result<libc::c_int> {
    // SAFETY: shmget takes no pointers; any arguments are memory-safe.
    let id = unsafe { libc::shmget(key as libc::key_t, size, flags) };
    if id < 0 { Err(last_error()) } else { Ok(id) }
}

/// `shmctl(shmid, IPC_STAT, &ds)`: the segment's kernel record.
///
/// [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html).
pub(crate) fn ipc_stat(shmid: libc::c_int) -> io::Result<libc::shmid_ds> {
    let mut ds = std::mem::MaybeUninit::<libc::shmid_ds>::zeroed();
    // SAFETY: `ds` is a writable `shmid_ds`, as IPC_STAT requires.
    let r = unsafe { libc::shmctl(shmid, libc::IPC_STAT, ds.as_mut_ptr()) };
    if r < 0 {
        return Err(last_error());
    }
    // SAFETY: it was zeroed (a valid `shmid_ds`: integers only) and then
    // filled in by the kernel.
    Ok(unsafe { ds.assume_init() })
}

/// `shmctl(shmid, cmd, NULL)` for the commands without an argument
/// (`IPC_RMID`, `SHM_LOCK`, `SHM_UNLOCK`).
///
/// [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html).
pub(crate) fn shmctl_noarg(shmid: libc::c_int, cmd: libc::c_int) -> io::Result<()> {
    // SAFETY: these commands do not read or write through the pointer.
    let r = unsafe { libc::shmctl(shmid, cmd, std::ptr::null_mut()) };
    if r < 0 { Err(last_error()) } else { Ok(()) }
}

/// `shmctl(shmid, IPC_SET, &ds)` with the segment's current record and the
/// permission bits `mode`.
///
/// [`shmctl(2)`](https://man7.org/linux/man-pages/man2/shmctl.2.html).
pub(crate) fn set_mode(shmid: libc::c_int, mode: u32) -> io::Result<()> {
    let mut ds = ipc_stat(shmid)?;
    ds.shm_perm.mode = ((u32::from(ds.shm_perm.mode) & !PERM_BITS) | (mode & PERM_BITS)) as _;
    // SAFETY: `ds` is a valid `shmid_ds`; IPC_SET only reads it.
    let r = unsafe { libc::shmctl(shmid, libc::IPC_SET, &mut ds) };
    if r < 0 { Err(last_error()) } else { Ok(()) }
}

/// `shmat(shmid, NULL, read_only ? SHM_RDONLY : 0)`: attaches the segment
/// at the first address the kernel finds free.
///
/// [`shmat(2)`](https://man7.org/linux/man-pages/man2/shmat.2.html).
pub(crate) fn shmat(shmid: libc::c_int, read_only: bool) -> io::Result<NonNull<u8>> {
    let flags = if read_only { libc::SHM_RDONLY } else { 0 };
    // SAFETY: with a null address the kernel picks a free range, so the
    // attachment cannot overlap any Rust object.
    let p = unsafe { libc::shmat(shmid, std::ptr::null(), flags) };
    if p as isize == -1 {
        return Err(last_error());
    }
    NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("shmat returned a null pointer"))
}

/// `shmdt(ptr)`: detaches an attachment made by [`shmat`].
///
/// [`shmdt(2)`](https://man7.org/linux/man-pages/man2/shmdt.2.html).
///
/// # Safety
///
/// `ptr` must be the address `shmat` returned, not yet detached, and no
/// reference or pointer into the attachment may be used afterwards.
pub(crate) unsafe fn shmdt(ptr: NonNull<u8>) -> io::Result<()> {
    // SAFETY: the caller guarantees `ptr` is a live attachment nobody uses.
    let r = unsafe { libc::shmdt(ptr.as_ptr().cast()) };
    if r < 0 { Err(last_error()) } else { Ok(()) }
}

/// `ftok(3)`: derives a System V key from an existing file's inode and device
/// numbers and the low 8 bits of `id`, so that unrelated programs can agree
/// on a key through a path.
///
/// [`ftok(3)`](https://man7.org/linux/man-pages/man3/ftok.3.html). The key
/// is the same as long as the file is not deleted and recreated. `id` must
/// not be 0 (POSIX leaves that case unspecified).
pub fn ftok(path: &Path, id: u8) -> Result<i32> {
    let display = format!("sysv:ftok({}, {id})", path.display());
    if id == 0 {
        return Err(Error::InvalidName {
            name: display,
            reason: "the ftok project id must not be 0".into(),
        });
    }
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
        Error::InvalidName {
            name: display.clone(),
            reason: "the path contains a NUL byte".into(),
        }
    })?;
    // stat(2) first, so that a missing file is a clear error rather than a
    // key of -1.
    rustix::fs::stat(path).map_err(|e| Error::Io {
        name: display.clone(),
        op: "ftok (stat the path)",
        source: e.into(),
    })?;
    // SAFETY: `c_path` is a valid NUL-terminated string for the call.
    let key = unsafe { libc::ftok(c_path.as_ptr(), libc::c_int::from(id)) };
    Ok(key as i32)
}

/// Creates or opens the segment with `key` as `req` says and attaches it.
pub(crate) fn open(key: i32, req: &Request<'_>) -> Result<SysV> {
    let d = req.display;
    loop {
        if req.disposition != Disposition::OpenExisting {
            // IPC_CREAT|IPC_EXCL: exactly one racer creates. The creator
            // needs read and write access to initialise the segment, so it
            // asks for them and sets the exact mode afterwards.
            let flags =
                libc::IPC_CREAT | libc::IPC_EXCL | ((req.mode | 0o600) & PERM_BITS) as libc::c_int;
            match shmget(key, req.size, flags) {
                Ok(shmid) => {
                    // A half-made segment must not be left behind under the key.
                    return create(shmid, key, req).inspect_err(|_| {
                        let _ = shmctl_noarg(shmid, libc::IPC_RMID);
                    });
                }
                Err(e)
                    if e.raw_os_error() == Some(libc::EEXIST)
                        && req.disposition == Disposition::CreateOrOpen => {}
                Err(e) => return Err(create_error(d, req.size, e)),
            }
        }
        match shmget(key, 0, 0) {
            Ok(shmid) => return attach_existing(shmid, key, req),
            // Removed between our create and open attempts: create again.
            Err(e)
                if e.raw_os_error() == Some(libc::ENOENT)
                    && req.disposition == Disposition::CreateOrOpen
                    && Instant::now() <= req.deadline => {}
            Err(e) => return Err(io_err(d, "shmget", e)),
        }
    }
}

fn create_error(d: &str, size: usize, e: io::Error) -> Error {
    match e.raw_os_error() {
        // EINVAL: size outside SHMMIN..SHMMAX; ENOSPC: SHMMNI or SHMALL
        // reached; ENOMEM: no memory for the segment.
        Some(libc::EINVAL | libc::ENOSPC | libc::ENOMEM) => Error::NoSpace {
            name: d.to_owned(),
            size: size as u64,
            reason: format!("shmget: {e} (see the SHMMAX, SHMALL and SHMMNI limits)"),
        },
        _ => io_err(d, "shmget (create)", e),
    }
}

/// Attaches a segment this process just created and gives it its mode.
fn create(shmid: libc::c_int, req_key: i32, req: &Request<'_>) -> Result<SysV> {
    let d = req.display;
    let ptr = shmat(shmid, false).map_err(|e| io_err(d, "shmat", e))?;
    let seg = SysV {
        shmid,
        key: req_key,
        ptr,
        len: req.size,
        created: true,
        display: d.to_owned(),
    };
    if req.mode & PERM_BITS != (req.mode | 0o600) & PERM_BITS {
        set_mode(shmid, req.mode).map_err(|e| io_err(d, "shmctl (IPC_SET mode)", e))?;
    }
    Ok(seg)
}

/// Attaches an existing segment after checking with `IPC_STAT` that it is
/// at least a header long, so a short or foreign segment is reported,
/// never touched past its end.
fn attach_existing(shmid: libc::c_int, req_key: i32, req: &Request<'_>) -> Result<SysV> {
    let d = req.display;
    let ds = ipc_stat(shmid).map_err(|e| io_err(d, "shmctl (IPC_STAT)", e))?;
    // The creator too: an owner may hand a segment to another user id
    // (IPC_SET), so the owner alone does not say who made it.
    super::check_adopt(
        req,
        &[ds.shm_perm.uid, ds.shm_perm.cuid],
        u32::from(ds.shm_perm.mode) & PERM_BITS,
    )?;
    let size = ds.shm_segsz as u64;
    if size < HEADER_SIZE as u64 {
        return Err(Error::TooSmall {
            name: d.to_owned(),
            needed: HEADER_SIZE as u64,
            actual: size,
            what: "the segment header",
        });
    }
    let ptr = shmat(shmid, req.read_only).map_err(|e| io_err(d, "shmat", e))?;
    Ok(SysV {
        shmid,
        key: req_key,
        ptr,
        len: ds.shm_segsz as usize,
        created: false,
        display: d.to_owned(),
    })
}

/// Marks the segment with `key` for removal (`shmctl(IPC_RMID)`): the key
/// is free at once, and the memory goes when the last process detaches.
pub(crate) fn remove(key: i32, display: &str) -> Result<()> {
    let shmid = shmget(key, 0, 0).map_err(|e| io_err(display, "shmget", e))?;
    shmctl_noarg(shmid, libc::IPC_RMID).map_err(|e| io_err(display, "shmctl (IPC_RMID)", e))
}

impl Drop for SysV {
    fn drop(&mut self) {
        // SAFETY: `ptr` is this value's own attachment, and no `Field` or
        // reference into it outlives the owning segment handle.
        let _ = unsafe { shmdt(self.ptr) };
    }
}

/// The key recorded in a segment's kernel record.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn record_key(ds: &libc::shmid_ds) -> i32 {
    ds.shm_perm.__key
}
#[cfg(target_vendor = "apple")]
fn record_key(ds: &libc::shmid_ds) -> i32 {
    ds.shm_perm._key
}
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn record_key(ds: &libc::shmid_ds) -> i32 {
    ds.shm_perm.key as i32
}

// SAFETY: `shmat` attaches the whole segment (at least HEADER_SIZE bytes,
// checked at open) page-aligned until `shmdt` in `Drop`; whole pages, so
// the word holding the last byte is mapped; read-only exactly when
// `req.read_only` asked; this type never touches the mapped bytes itself.
unsafe impl Backing for SysV {
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
        let ds = ipc_stat(self.shmid).map_err(|e| io_err(&self.display, "shmctl (IPC_STAT)", e))?;
        // time_t is i32 on some 32-bit targets.
        #[allow(clippy::useless_conversion)]
        let time = |t: libc::time_t| epoch_time(i64::from(t), 0);
        status.size = ds.shm_segsz as u64;
        status.number_attached = Some(ds.shm_nattch as u64);
        status.creator_process = Some(ds.shm_cpid as u32);
        status.last_op_process = Some(ds.shm_lpid as u32);
        status.last_attach_time = time(ds.shm_atime);
        status.last_detach_time = time(ds.shm_dtime);
        status.last_change_time = time(ds.shm_ctime);
        status.creator_user = Some(ds.shm_perm.cuid);
        status.creator_group = Some(ds.shm_perm.cgid);
        status.owner_user = Some(ds.shm_perm.uid);
        status.owner_group = Some(ds.shm_perm.gid);
        status.mode = Some(u32::from(ds.shm_perm.mode) & PERM_BITS);
        status.key = Some(record_key(&ds));
        Ok(())
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn lock_in_ram(&self, lock: bool) -> Result<()> {
        // shmctl(SHM_LOCK / SHM_UNLOCK): locks the whole segment, for every
        // process that attaches it, until unlocked or removed.
        let cmd = if lock {
            libc::SHM_LOCK
        } else {
            libc::SHM_UNLOCK
        };
        shmctl_noarg(self.shmid, cmd).map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM | libc::ENOMEM | libc::EACCES) => Error::PermissionDenied {
                name: self.display.clone(),
                op: if lock {
                    "lock the segment in RAM (shmctl SHM_LOCK; needs CAP_IPC_LOCK, or ownership and a large enough RLIMIT_MEMLOCK)"
                } else {
                    "unlock the segment (shmctl SHM_UNLOCK; needs CAP_IPC_LOCK or ownership)"
                },
            },
            _ => io_err(&self.display, if lock { "shmctl (SHM_LOCK)" } else { "shmctl (SHM_UNLOCK)" }, e),
        })
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn lock_in_ram(&self, lock: bool) -> Result<()> {
        // No SHM_LOCK here: mlock(2)/munlock(2) this process's attachment.
        // SAFETY: the range is exactly our own live attachment; mlock and
        // munlock do not change its contents.
        let r = unsafe {
            if lock {
                rustix::mm::mlock(self.ptr.as_ptr().cast(), self.len)
            } else {
                rustix::mm::munlock(self.ptr.as_ptr().cast(), self.len)
            }
        };
        r.map_err(|e| match e {
            rustix::io::Errno::PERM | rustix::io::Errno::NOMEM | rustix::io::Errno::AGAIN
                if lock =>
            {
                Error::PermissionDenied {
                    name: self.display.clone(),
                    op: "lock the segment in RAM (mlock; raise RLIMIT_MEMLOCK)",
                }
            }
            e => io_err(
                &self.display,
                if lock { "mlock" } else { "munlock" },
                e.into(),
            ),
        })
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn current_size(&self) -> Result<u64> {
        let ds = ipc_stat(self.shmid).map_err(|e| io_err(&self.display, "shmctl (IPC_STAT)", e))?;
        Ok(ds.shm_segsz as u64)
    }
    fn remove_own(&self) -> Result<()> {
        // IPC_RMID by the identifier this handle attached, never by a key
        // lookup: a segment created under the key since is not touched.
        // Already marked for removal (its key is then free, maybe taken by
        // another segment): nothing to do here.
        let ds = ipc_stat(self.shmid).map_err(|e| io_err(&self.display, "shmctl (IPC_STAT)", e))?;
        if marked_for_removal(&ds) {
            return Err(match shmget(self.key, 0, 0) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Error::NotFound {
                    name: self.display.clone(),
                },
                _ => Error::Replaced {
                    name: self.display.clone(),
                },
            });
        }
        shmctl_noarg(self.shmid, libc::IPC_RMID)
            .map_err(|e| io_err(&self.display, "shmctl (IPC_RMID)", e))
    }
}

/// Whether the segment is marked for removal (`IPC_RMID`): Linux's
/// `SHM_DEST` flag (0o1000) in `shm_perm.mode`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn marked_for_removal(ds: &libc::shmid_ds) -> bool {
    u32::from(ds.shm_perm.mode) & 0o1000 != 0
}
/// (Other systems do not report it: `IPC_RMID` again is harmless there.)
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn marked_for_removal(_ds: &libc::shmid_ds) -> bool {
    false
}
