//! The doorbell: how a process with only read access to a segment tells
//! the writer that it sleeps in `wait_for_change`, so that it can sleep on
//! the futex like a read-write waiter instead of polling (see
//! [`crate::notify`]).
//!
//! A read-only process cannot store to the segment, so it cannot count
//! itself in the header's `waiters`. Its count lives in a small separate
//! object, one per segment name: a 64-byte System V segment (Linux only)
//! that every user who may read the segment may write, holding
//!
//! | offset | size | what |
//! |---:|---:|---|
//! | 0 | 4 | magic `shmD` |
//! | 4 | 4 | version, 1 |
//! | 8 | 8 | the name's hash (two 4-byte words, low first) |
//! | 16 | 4 | `ro_waiters`: read-only processes sleeping on `notify` |
//! | 20 | 4 | the kind of name: 1 POSIX, 2 System V, 3 file (0: unknown) |
//! | 24 | 4 | System V: the segment's key |
//!
//! all accessed as 4-byte atomics only.
//!
//! Why System V and not a POSIX object next to the segment: the doorbell
//! must be writable by every reader, and anyone who may write a POSIX or
//! file object may `ftruncate` it; a writer touching a truncated mapping
//! dies of SIGBUS. A System V segment has a fixed size, and only its owner,
//! its creator or root may remove it or change its record (`IPC_RMID`,
//! `IPC_SET`), so a reader can change the count and nothing else.
//!
//! The key is a hash of the segment's kind and name (`posix:/N`,
//! `sysv:K`, `file:<absolute path>`), so every process finds the same
//! doorbell without a system call beyond `shmget` and `shmat`, once per
//! handle. Keys can collide and can be taken first by anyone, so an object
//! under the key is used only if it is a doorbell for this very name (size,
//! magic, version, hash) and its owner and creator are the segment's
//! owner; otherwise there is no doorbell, and a read-only waiter polls as
//! on other systems. A doorbell is never trusted beyond that: its count may
//! be any value at any time (too low: read-only waiters wake by their
//! re-check interval, later but never lost; too high: one `FUTEX_WAKE` per
//! write that wakes nobody).
//!
//! Who makes it: a writer that owns the segment, when it claims write
//! access (one `shmget`, and `shmat`; never a system call per write), with
//! the segment's mode mirrored so that each read permission also grants
//! write (`0644` gives `0666`, `0640` gives `0660`); it sets the mode again
//! at each claim if the segment's changed. A claim by the process that
//! created the segment resets a stale count (left by killed waiters of an
//! earlier segment of the same name) to zero. `Shared::remove` and
//! `Options::remove` (`shm rm`) remove it (`IPC_RMID`) with the segment.
//! A writer that is not the segment's owner does not create one. A
//! doorbell of the segment's owner whose words a reader overwrote is
//! ignored by waiters (they poll) until the owner's next claim writes them
//! again.
//!
//! Orphans: a doorbell outlives its segment when the name is removed by
//! other means (`rm /dev/shm/N`, `shm_unlink` or `IPC_RMID` by another
//! program) while no writer of the owner has it open (all exited, or were
//! killed). A writer that makes a doorbell first removes this user's
//! orphans ([`sweep`]): 64-byte doorbells of this user (owner and
//! creator), attached by nobody (so their counts are stale: a sleeping
//! waiter is attached), whose words name a POSIX segment no entry of
//! `/dev/shm` hashes to or a System V key with no segment. A file
//! segment's doorbell cannot be told orphaned (its path is not stored,
//! and files cannot be listed): it goes with `Options::remove`, `shm rm`,
//! or `ipcrm`.
//!
//! Limits: a segment opened through a descriptor's link (`/proc/...`,
//! `/dev/fd/...`: a memfd's `share_path`) has no doorbell. A file
//! segment's doorbell is found by its absolute path, so
//! processes that name the file by different paths (links) do not share
//! one (their read-only waiters poll, or wait out their re-check).
//! Processes in different IPC namespaces (containers sharing `/dev/shm`
//! or a file but not System V) do not share one either: a read-only waiter
//! there finds none and polls, or finds one no writer watches and wakes by
//! its re-check. So does a read-only waiter whose writer does not look at
//! the doorbell (an older version of this crate, a program in another
//! language that does not: docs/FORMAT.md). Each doorbell is one more
//! System V segment (`kernel.shmmni`); when it cannot be made, there is
//! none.

use std::sync::atomic::AtomicU32;
#[cfg(target_os = "linux")]
use std::sync::{Mutex, OnceLock, PoisonError};
#[cfg(target_os = "linux")]
use std::time::{Duration, Instant};

use crate::backend::Backing;
use crate::name::SegmentId;

/// How often a read-only waiter looks for a doorbell again while there is
/// none (a writer may make one later).
#[cfg(target_os = "linux")]
const RETRY: Duration = Duration::from_secs(1);

/// One mapping's doorbell, attached at most once (Linux; elsewhere there
/// is none).
#[derive(Default)]
pub(crate) struct Slot {
    #[cfg(target_os = "linux")]
    bell: OnceLock<imp::Bell>,
    /// When a waiter last looked for the doorbell and found none.
    #[cfg(target_os = "linux")]
    last_try: Mutex<Option<Instant>>,
}

impl Slot {
    /// The count of read-only waiters a writer looks at after each write,
    /// if this mapping has the doorbell attached.
    #[inline]
    pub(crate) fn ro_waiters(&self) -> Option<&AtomicU32> {
        #[cfg(target_os = "linux")]
        return self.bell.get().map(imp::Bell::ro_waiters);
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// At a claim of write access: attaches the doorbell of `id`, making
    /// it if it is missing and this process's user owns the segment.
    pub(crate) fn attach_writer(&self, id: &SegmentId, backing: &dyn Backing) {
        #[cfg(target_os = "linux")]
        match self.bell.get() {
            Some(b) => b.restore(),
            None => {
                if let Some(b) = imp::open(id, backing, true) {
                    let _ = self.bell.set(b);
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (id, backing);
    }

    /// For a read-only waiter: the count to register in, attaching the
    /// doorbell at the first call (and again at most once a second while
    /// there is none).
    pub(crate) fn waiter(&self, id: &SegmentId, backing: &dyn Backing) -> Option<&AtomicU32> {
        #[cfg(target_os = "linux")]
        {
            if let Some(w) = self.ro_waiters() {
                return Some(w);
            }
            {
                let mut last = self.last_try.lock().unwrap_or_else(PoisonError::into_inner);
                if last.is_some_and(|t| t.elapsed() < RETRY) {
                    return None;
                }
                *last = Some(Instant::now());
            }
            if let Some(b) = imp::open(id, backing, false) {
                let _ = self.bell.set(b);
            }
            self.ro_waiters()
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (id, backing);
            None
        }
    }
}

/// Removes the doorbell of `id` if there is one (a 64-byte object under
/// its key that says it is this name's doorbell, or that this user made),
/// best effort: what this user may not remove stays. (`Options::remove`
/// does this; for tools: `shm rm` of a name already gone.)
pub fn remove(id: &SegmentId) {
    #[cfg(target_os = "linux")]
    imp::remove(id);
    #[cfg(not(target_os = "linux"))]
    let _ = id;
}

/// Removes this user's orphaned doorbells: those attached by nobody whose
/// POSIX or System V segment's name is gone (see the module's
/// documentation); returns how many. Best effort, Linux only (elsewhere
/// 0). A writer runs it before it makes a doorbell.
pub fn sweep() -> usize {
    #[cfg(target_os = "linux")]
    return imp::sweep();
    #[cfg(not(target_os = "linux"))]
    0
}

/// What [`classify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// One of this user's orphaned doorbells ([`sweep`] removes it).
    Orphan,
    /// Another doorbell (live, attached, another user's, a file
    /// segment's, or made by an older version).
    Doorbell {
        /// The kind of segment its words name: `POSIX`, `System V`,
        /// `file` or `unknown`.
        kind: &'static str,
    },
}

/// For tools (`shm ls`): whether the System V segment `shmid` under `key`
/// is a doorbell (64 bytes, its words say so; `None` if not, or it cannot
/// be read), and whether it is an orphan. Linux only (elsewhere `None`).
pub fn classify(key: i32, shmid: i32) -> Option<Found> {
    #[cfg(target_os = "linux")]
    return imp::classify(key, shmid);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (key, shmid);
        None
    }
}

/// The System V key of `id`'s doorbell, for tools and tests (`None` for
/// kinds without one; on systems without doorbells, the key one would
/// have).
pub fn key_of(id: &SegmentId) -> Option<i32> {
    identity(id).map(|(k, _)| k)
}

/// FNV-1a, 64-bit: a hash every build computes alike (std's hashers may
/// change between releases, and processes built by different ones must
/// agree on the key).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The key and hash of the doorbell of `id`: kinds with a name others
/// open the segment by (POSIX, System V, file) only.
fn identity(id: &SegmentId) -> Option<(i32, u64)> {
    let mut name = b"shm-runtime doorbell 1\0".to_vec();
    match id {
        SegmentId::Posix(n) => {
            name.extend_from_slice(b"posix:");
            name.extend_from_slice(crate::name::posix(n).ok()?.as_bytes());
        }
        SegmentId::SysV(k) => name.extend_from_slice(format!("sysv:{k}").as_bytes()),
        #[cfg(unix)]
        SegmentId::File(p) => {
            use std::os::unix::ffi::OsStrExt;
            let path = std::path::absolute(p).ok()?;
            // A descriptor's link (`Shared::share_path`: a memfd, or a file
            // passed on) names an open file of one process, not a segment:
            // no doorbell.
            if path.starts_with("/proc") || path.starts_with("/dev/fd") {
                return None;
            }
            name.extend_from_slice(b"file:");
            name.extend_from_slice(path.as_os_str().as_bytes());
        }
        _ => return None,
    }
    let h = fnv1a(&name);
    Some((key_for(h), h))
}

/// The key of the doorbell whose name hashes to `h`: never 0
/// (`IPC_PRIVATE`).
fn key_for(h: u64) -> i32 {
    ((h >> 32) as u32 & 0x7fff_ffff).max(1) as i32
}

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::HashSet;
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicU32, Ordering};

    use crate::backend::Backing;
    use crate::backend::sysv;
    use crate::name::SegmentId;
    use crate::status::Status;

    /// The doorbell's size.
    const SIZE: usize = 64;
    const MAGIC: u32 = u32::from_le_bytes(*b"shmD");
    const VERSION: u32 = 1;
    const OFF_MAGIC: usize = 0;
    const OFF_VERSION: usize = 4;
    const OFF_HASH: usize = 8;
    const OFF_RO_WAITERS: usize = 16;
    const OFF_KIND: usize = 20;
    const OFF_KEY: usize = 24;
    const KIND_POSIX: u32 = 1;
    const KIND_SYSV: u32 = 2;
    const KIND_FILE: u32 = 3;

    /// An attached doorbell (read-write: waiters and the writer both store
    /// to it).
    pub(super) struct Bell {
        ptr: NonNull<u8>,
        /// The name's hash.
        hash: u64,
        /// Attached by a writer that owns the segment (and the doorbell).
        mine: bool,
        /// For `mine`: its identifier and the segment's name, to remove it
        /// when this goes and the segment's name is gone.
        owned: Option<(libc::c_int, SegmentId)>,
    }

    /// The kind word of `id`'s doorbell and its key word (System V).
    fn kind_of(id: &SegmentId) -> (u32, u32) {
        match id {
            SegmentId::Posix(_) => (KIND_POSIX, 0),
            SegmentId::SysV(k) => (KIND_SYSV, *k as u32),
            SegmentId::File(_) => (KIND_FILE, 0),
            _ => (0, 0),
        }
    }

    // SAFETY: the attachment is owned by this value and only accessed
    // through 4-byte atomics, so it may be sent and shared across threads.
    unsafe impl Send for Bell {}
    // SAFETY: as above.
    unsafe impl Sync for Bell {}

    impl Bell {
        #[inline]
        fn word(&self, at: usize) -> &AtomicU32 {
            assert!(at.is_multiple_of(4) && at + 4 <= SIZE);
            // SAFETY: `ptr` is a page-aligned attachment of a System V
            // segment of exactly SIZE bytes (checked before attaching; its
            // size cannot change), kept until `Drop`, read-write except in
            // `remove` and `words`, which only load; its words are only
            // ever accessed as 4-byte atomics.
            unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(at).cast()) }
        }

        #[inline]
        pub(super) fn ro_waiters(&self) -> &AtomicU32 {
            self.word(OFF_RO_WAITERS)
        }

        /// Its owner's writer: writes its words again if a reader
        /// overwrote them.
        pub(super) fn restore(&self) {
            if self.mine && !self.is_for(self.hash) {
                self.write_words();
            }
        }

        /// Its owner's writer: the kind of name and the key (System V),
        /// for [`sweep`] (a doorbell made by an older version has none).
        fn write_kind(&self, id: &SegmentId) {
            let (kind, key) = kind_of(id);
            self.word(OFF_KIND).store(kind, Ordering::Relaxed);
            self.word(OFF_KEY).store(key, Ordering::Relaxed);
        }

        fn write_words(&self) {
            let hash = self.hash;
            self.word(OFF_VERSION).store(VERSION, Ordering::Relaxed);
            self.word(OFF_HASH).store(hash as u32, Ordering::Relaxed);
            self.word(OFF_HASH + 4)
                .store((hash >> 32) as u32, Ordering::Relaxed);
            self.word(OFF_MAGIC).store(MAGIC, Ordering::Release);
        }

        /// Whether it says it is the doorbell of the name hashed `hash`.
        fn is_for(&self, hash: u64) -> bool {
            self.word(OFF_MAGIC).load(Ordering::Acquire) == MAGIC
                && self.word(OFF_VERSION).load(Ordering::Relaxed) == VERSION
                && self.word(OFF_HASH).load(Ordering::Relaxed) == hash as u32
                && self.word(OFF_HASH + 4).load(Ordering::Relaxed) == (hash >> 32) as u32
        }
    }

    impl Drop for Bell {
        fn drop(&mut self) {
            // The segment's name was removed by other means than
            // `Shared::remove`/`Options::remove` (e.g. `rm /dev/shm/N`):
            // the doorbell goes too, so that it does not outlive it. While
            // attached, its identifier names this very segment (a removed
            // one included), so the removal cannot hit another.
            if let Some((shmid, id)) = &self.owned
                && !name_exists(id)
            {
                let _ = sysv::shmctl_noarg(*shmid, libc::IPC_RMID);
            }
            // SAFETY: `ptr` is this value's own attachment; the references
            // `word` hands out borrow `self`, so none outlives it.
            let _ = unsafe { sysv::shmdt(self.ptr) };
        }
    }

    /// Whether `id`'s name still names something (what it names is not
    /// looked at; errors other than "not found" count as yes).
    fn name_exists(id: &SegmentId) -> bool {
        let found = |r: std::io::Result<std::fs::Metadata>| {
            !r.is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        };
        match id {
            SegmentId::Posix(n) => crate::name::posix(n)
                .is_ok_and(|n| found(std::fs::symlink_metadata(format!("/dev/shm{n}")))),
            SegmentId::File(p) => found(std::fs::symlink_metadata(p)),
            SegmentId::SysV(k) => match sysv::shmget(*k, 0, 0) {
                Ok(_) => true,
                Err(e) => e.raw_os_error() != Some(libc::ENOENT),
            },
            _ => true,
        }
    }

    /// The doorbell's mode for a segment of mode `seg`: the owner reads
    /// and writes; each read permission of the segment also grants write.
    fn mode_for(seg: u32) -> u32 {
        0o600 | (seg & 0o044) | ((seg & 0o044) >> 1)
    }

    /// Attaches (a `writer` that owns the segment: makes) the doorbell of
    /// `id`; `None` if there is none this process may use.
    pub(super) fn open(id: &SegmentId, backing: &dyn Backing, writer: bool) -> Option<Bell> {
        let (key, hash) = super::identity(id)?;
        let mut st = Status::default();
        backing.os_status(&mut st).ok()?;
        let owner = st.owner_user?;
        let seg_mode = st.mode.unwrap_or(0o600);
        let me = rustix::process::geteuid().as_raw();
        let mine = writer && me == owner;
        let created_now;
        let shmid = match sysv::shmget(key, 0, 0) {
            Ok(shmid) => {
                created_now = false;
                shmid
            }
            Err(e) if mine && e.raw_os_error() == Some(libc::ENOENT) => {
                // One more doorbell: first those of this user that
                // outlived their segments go.
                sweep();
                // System V modes ignore the umask.
                let flags = libc::IPC_CREAT | libc::IPC_EXCL | mode_for(seg_mode) as libc::c_int;
                created_now = true;
                sysv::shmget(key, SIZE, flags).ok()?
            }
            Err(_) => return None,
        };
        let ds = sysv::ipc_stat(shmid).ok()?;
        if ds.shm_perm.uid != owner || ds.shm_perm.cuid != owner || ds.shm_segsz != SIZE {
            return None;
        }
        if mine && u32::from(ds.shm_perm.mode) & 0o777 != mode_for(seg_mode) {
            let _ = sysv::set_mode(shmid, mode_for(seg_mode));
        }
        let bell = Bell {
            ptr: sysv::shmat(shmid, false).ok()?,
            hash,
            mine,
            owned: mine.then(|| (shmid, id.clone())),
        };
        // A new one, or one of this owner whose words a reader overwrote
        // (it is 64 bytes, its owner and creator the segment's: this
        // owner made it under this key): (re)written by its owner.
        if created_now || (mine && !bell.is_for(hash)) {
            bell.write_words();
        }
        if mine {
            bell.write_kind(id);
        }
        if !bell.is_for(hash) {
            return None;
        }
        if mine && backing.created() {
            // A new segment: nobody waits on it yet; a count left by an
            // earlier one of this name is stale.
            bell.ro_waiters().store(0, Ordering::SeqCst);
        }
        Some(bell)
    }

    pub(super) fn remove(id: &SegmentId) {
        let Some((key, hash)) = super::identity(id) else {
            return;
        };
        let Ok(shmid) = sysv::shmget(key, 0, 0) else {
            return;
        };
        let me = rustix::process::geteuid().as_raw();
        let Ok(ds) = sysv::ipc_stat(shmid) else {
            return;
        };
        // A doorbell for this name, or one this user made under its key
        // whose words a reader overwrote.
        let ours = ds.shm_segsz == SIZE
            && ((ds.shm_perm.uid == me && ds.shm_perm.cuid == me)
                || sysv::shmat(shmid, true).is_ok_and(|ptr| {
                    Bell {
                        ptr,
                        hash,
                        mine: false,
                        owned: None,
                    }
                    .is_for(hash)
                }));
        if ours {
            let _ = sysv::shmctl_noarg(shmid, libc::IPC_RMID);
        }
    }

    /// Removes this user's orphaned doorbells (see the module's
    /// documentation): returns how many.
    pub(super) fn sweep() -> usize {
        let Ok(list) = std::fs::read_to_string("/proc/sysvipc/shm") else {
            return 0;
        };
        let me = i64::from(rustix::process::geteuid().as_raw());
        let mut live: Option<Option<HashSet<u64>>> = None;
        let mut removed = 0;
        for line in list.lines().skip(1) {
            // key shmid perms size cpid lpid nattch uid gid cuid cgid ...
            let f: Vec<i64> = line
                .split_whitespace()
                .take(10)
                .map_while(|w| w.parse().ok())
                .collect();
            let &[key, shmid, _, size, _, _, nattch, uid, _, cuid] = f.as_slice() else {
                continue;
            };
            if size != SIZE as i64 || nattch != 0 || uid != me || cuid != me {
                continue;
            }
            let (Ok(key), Ok(shmid)) = (i32::try_from(key), libc::c_int::try_from(shmid)) else {
                continue;
            };
            if orphan(key, shmid, me, &mut live) && idle(shmid, me) {
                removed += usize::from(sysv::shmctl_noarg(shmid, libc::IPC_RMID).is_ok());
            }
        }
        removed
    }

    /// Whether `shmid` is still a 64-byte object of this user attached by
    /// nobody.
    fn idle(shmid: libc::c_int, me: i64) -> bool {
        sysv::ipc_stat(shmid).is_ok_and(|ds| {
            ds.shm_segsz == SIZE
                && ds.shm_nattch == 0
                && i64::from(ds.shm_perm.uid) == me
                && i64::from(ds.shm_perm.cuid) == me
        })
    }

    /// The words of the object `shmid` under `key` if they say it is a
    /// doorbell (magic, version, and a hash that gives `key`): (hash,
    /// kind, key word).
    fn words(key: i32, shmid: libc::c_int) -> Option<(u64, u32, i32)> {
        if sysv::ipc_stat(shmid).ok()?.shm_segsz != SIZE {
            return None;
        }
        let bell = Bell {
            ptr: sysv::shmat(shmid, true).ok()?,
            hash: 0,
            mine: false,
            owned: None,
        };
        let load = |at| bell.word(at).load(Ordering::Relaxed);
        let hash = u64::from(load(OFF_HASH)) | (u64::from(load(OFF_HASH + 4)) << 32);
        let ok = bell.word(OFF_MAGIC).load(Ordering::Acquire) == MAGIC
            && load(OFF_VERSION) == VERSION
            && super::key_for(hash) == key;
        ok.then(|| (hash, load(OFF_KIND), load(OFF_KEY) as i32))
    }

    /// Whether the object `shmid` under `key` is a doorbell of this user,
    /// attached by nobody, whose segment's name is gone. `live`: the
    /// hashes of the names in `/dev/shm`, read once (`None` inside if it
    /// cannot be read: then no POSIX doorbell is orphaned).
    fn orphan(
        key: i32,
        shmid: libc::c_int,
        me: i64,
        live: &mut Option<Option<HashSet<u64>>>,
    ) -> bool {
        if !idle(shmid, me) {
            return false;
        }
        let Some((hash, kind, sysv_key)) = words(key, shmid) else {
            return false;
        };
        match kind {
            KIND_POSIX => live
                .get_or_insert_with(posix_hashes)
                .as_ref()
                .is_some_and(|names| !names.contains(&hash)),
            KIND_SYSV => {
                super::identity(&SegmentId::SysV(sysv_key)).is_some_and(|(_, h)| h == hash)
                    && sysv::shmget(sysv_key, 0, 0)
                        .is_err_and(|e| e.raw_os_error() == Some(libc::ENOENT))
            }
            // A file's path is not stored; an older doorbell's kind is
            // unknown.
            _ => false,
        }
    }

    /// See [`super::classify`].
    pub(super) fn classify(key: i32, shmid: libc::c_int) -> Option<super::Found> {
        let (_, kind, _) = words(key, shmid)?;
        let me = i64::from(rustix::process::geteuid().as_raw());
        Some(if orphan(key, shmid, me, &mut None) {
            super::Found::Orphan
        } else {
            super::Found::Doorbell {
                kind: match kind {
                    KIND_POSIX => "POSIX",
                    KIND_SYSV => "System V",
                    KIND_FILE => "file",
                    _ => "unknown",
                },
            }
        })
    }

    /// The doorbell hashes of the names in `/dev/shm` (every entry, as
    /// `posix:/ENTRY`), or `None` if it cannot be read whole.
    fn posix_hashes() -> Option<HashSet<u64>> {
        use std::os::unix::ffi::OsStrExt;
        let mut names = HashSet::new();
        for entry in std::fs::read_dir("/dev/shm").ok()? {
            let entry = entry.ok()?;
            let mut name = b"shm-runtime doorbell 1\0posix:/".to_vec();
            name.extend_from_slice(entry.file_name().as_bytes());
            names.insert(super::fnv1a(&name));
        }
        Some(names)
    }
}
