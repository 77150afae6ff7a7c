//! [`Options`]: how to create or open a segment, and the orchestration of
//! an open: map the object, then create it, attach to it (validating it
//! against the schema and applying the rules of [`crate::evolution`],
//! upgrading it if allowed), or re-initialise an abandoned one; finally
//! claim write access.

use std::time::{Duration, Instant};

use crate::backend::{self, Backing, Disposition, Request};
use crate::error::{Error, Result};
use crate::evolution::{self, Admit, Compat};
use crate::field::{Access, ReadOnly, ReadWrite, SharedLayout};
use crate::header::{Header, Plan};
use crate::init;
use crate::layout::encode_descriptor;
use crate::mapping::Mapping;
use crate::name::SegmentId;
use crate::process;
use crate::shared::Shared;
use crate::upgrade;
use crate::validate;

/// Default permission bits of a new segment (owner read/write only).
pub const DEFAULT_MODE: u32 = 0o600;
/// Default bound on waiting for a racing creator to finish initialising.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(2);
/// Default bound on waiting for a write in progress during `read`.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// How to create or open a segment, in the spirit of `std::fs::OpenOptions`.
///
/// # Backends and lifetimes
///
/// | Constructor | Segment | Lives until |
/// |---|---|---|
/// | [`Options::posix`] | POSIX object (`shm_open`; `/dev/shm` on Linux) | [`Options::remove`] (`shm_unlink`) or reboot |
/// | [`Options::sysv`], [`Options::sysv_ftok`] | System V segment (`shmget`), by key | [`Options::remove`] (`IPC_RMID`) *and* the last detach, or reboot |
/// | [`Options::windows`] | Win32 named file mapping (paging file) | the last handle to it, in any process, closes; [`Options::remove`] does nothing |
/// | [`Options::file`] | mapping over a regular file | the file is deleted: survives reboot |
/// | [`Options::sealed_memfd`] | sealed anonymous memory file (Linux `memfd_create`) | its last descriptor and mapping are gone |
/// | [`Options::memory`] | process-private heap memory (tests) | the handle is dropped |
///
/// Dropping a [`Shared`] handle unmaps (or detaches) the segment but never
/// removes it. [`Options::default_for_os`] picks POSIX on Unix and Win32 on
/// Windows.
///
/// ```no_run
/// # use shm_runtime::{Options, SharedLayout};
/// # #[derive(SharedLayout)] #[repr(C)] struct Counter { n: u64 }
/// let seg = Options::posix("MyCounter").create_or_open().mode(0o640).open::<Counter>()?;
/// seg.update(|f| f.n().set(f.n().get() + 1))?;
/// # Ok::<(), shm_runtime::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) id: SegmentId,
    disposition: Disposition,
    pub(crate) mode: u32,
    pub(crate) open_timeout: Duration,
    pub(crate) read_timeout: Duration,
    reinit_abandoned: bool,
    preallocate: bool,
    capacity: usize,
    upgrade: bool,
    claim_writer: bool,
    writer_wait: Duration,
    allow_foreign: bool,
}

impl Options {
    pub(crate) fn new(id: SegmentId) -> Options {
        Options {
            id,
            disposition: Disposition::OpenExisting,
            mode: DEFAULT_MODE,
            open_timeout: DEFAULT_OPEN_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            reinit_abandoned: false,
            preallocate: false,
            capacity: 0,
            upgrade: false,
            claim_writer: true,
            writer_wait: Duration::ZERO,
            allow_foreign: false,
        }
    }

    /// A POSIX shared-memory object (`shm_open`); `name` with or without
    /// its leading `/`.
    pub fn posix(name: &str) -> Options {
        Options::new(SegmentId::Posix(name.to_owned()))
    }

    /// A System V segment identified by `key` (`shmget`); key 0
    /// (`IPC_PRIVATE`) is rejected. See [`Options::sysv_ftok`] to derive a
    /// key from a path. Available on Linux, macOS and FreeBSD.
    pub fn sysv(key: i32) -> Options {
        Options::new(SegmentId::SysV(key))
    }

    /// A System V segment whose key is `ftok(path, id)`: programs that agree
    /// on an existing file and a non-zero `id` find the same segment. Fails
    /// if the file does not exist or `id` is 0.
    pub fn sysv_ftok(path: impl AsRef<std::path::Path>, id: u8) -> Result<Options> {
        Ok(Options::sysv(backend::sysv_key(path.as_ref(), id)?))
    }

    /// A mapping over the regular file at `path` (created with the mode, like
    /// any other segment). The file survives a reboot.
    pub fn file(path: impl Into<std::path::PathBuf>) -> Options {
        Options::new(SegmentId::File(path.into()))
    }

    /// This operating system's usual kind of named segment: a POSIX object
    /// on Unix, a Win32 named file mapping on Windows.
    pub fn default_for_os(name: &str) -> Options {
        #[cfg(windows)]
        return Options::windows(name);
        #[cfg(not(windows))]
        return Options::posix(name);
    }

    /// A Win32 named file mapping backed by the paging file
    /// (`CreateFileMappingW`), e.g. `Local\MyShare` or `Global\MyShare`; a
    /// name without a namespace prefix is in `Local\`. Opening one gives
    /// [`Error::Unsupported`] on other platforms.
    ///
    /// Lifetime differs from POSIX and System V: the mapping disappears when
    /// its last handle closes, i.e. when every process that opened it has
    /// dropped its [`Shared`] (or exited). [`Options::remove`] is a no-op
    /// here. Win32 has no permission bits, so [`Options::mode`] is ignored:
    /// the creator's default security descriptor applies.
    pub fn windows(name: &str) -> Options {
        Options::new(SegmentId::Windows(name.to_owned()))
    }

    /// A new sealed anonymous memory file (Linux `memfd_create`, sealed with
    /// `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`): no process, not even
    /// this one, can truncate or grow it, so a reader can never get SIGBUS
    /// because the object shrank under its mapping (which can happen to
    /// POSIX and file segments: see [`Shared::check_size`]). Always
    /// creates; `name` is only a label. Other processes open it through a
    /// passed descriptor, or, for the same user, through
    /// [`Shared::share_path`] (`/proc/<pid>/fd/<n>`) with [`Options::file`];
    /// it lives until the last descriptor and mapping are gone.
    /// [`Error::Unsupported`] on other systems.
    pub fn sealed_memfd(name: &str) -> Options {
        Options {
            disposition: Disposition::CreateNew,
            ..Options::new(SegmentId::Memfd(name.to_owned()))
        }
    }

    /// Process-private memory with the same header and API (for tests).
    /// Always creates.
    pub fn memory() -> Options {
        Options {
            disposition: Disposition::CreateNew,
            ..Options::new(SegmentId::Memory)
        }
    }

    /// The segment this describes.
    pub fn id(&self) -> &SegmentId {
        &self.id
    }

    /// Create the segment; fail with [`Error::AlreadyExists`] if it exists.
    pub fn create_new(mut self) -> Options {
        self.disposition = Disposition::CreateNew;
        self
    }

    /// Create the segment if it does not exist, otherwise open it. Safe
    /// when several processes race: exactly one creates and initialises it,
    /// the others wait (bounded) for the initialisation and then open it.
    ///
    /// An existing object is only adopted if other users do not control
    /// it: it must belong to this process's user (System V: be owned and
    /// created by it) and grant group and others nothing beyond
    /// [`Options::mode`]; otherwise [`Error::Foreign`] names its owner and
    /// mode (someone may have created it first to read or forge what this
    /// program writes). [`Options::allow_foreign`] accepts it anyway.
    pub fn create_or_open(mut self) -> Options {
        self.disposition = Disposition::CreateOrOpen;
        self
    }

    /// Open an existing segment; fail with [`Error::NotFound`] otherwise
    /// (the default).
    pub fn open_existing(mut self) -> Options {
        self.disposition = Disposition::OpenExisting;
        self
    }

    /// With [`Options::create_or_open`], accept an existing object that
    /// belongs to another user or grants group or others more than
    /// [`Options::mode`] (default `false`: [`Error::Foreign`]). For
    /// programs of several users that share one segment on purpose.
    /// [`Options::open_existing`] never checks the owner: naming an
    /// existing segment is trusting whoever made it.
    pub fn allow_foreign(mut self, yes: bool) -> Options {
        self.allow_foreign = yes;
        self
    }

    /// Permission bits for a new segment (default `0o600`), applied exactly,
    /// regardless of the process's umask. Ignored for Win32 mappings, which
    /// have no permission bits (the creator's default security applies).
    pub fn mode(mut self, mode: u32) -> Options {
        self.mode = mode & 0o7777;
        self
    }

    /// How long an opener waits for a racing creator (default 2 s).
    pub fn open_timeout(mut self, t: Duration) -> Options {
        self.open_timeout = t;
        self
    }

    /// How long [`Shared::read`] keeps retrying when it cannot get a
    /// complete copy (default 1 s). Reads never wait for a writer: this
    /// only bounds retries against writes back to back faster than a copy,
    /// or a segment whose both copies someone left marked as being written.
    pub fn read_timeout(mut self, t: Duration) -> Options {
        self.read_timeout = t;
        self
    }

    /// With create-or-open, re-initialise a segment whose creator died
    /// before publishing it (default `false`: such a segment gives
    /// [`Error::NotInitialized`] after the open timeout, and stays as it is).
    ///
    /// The segment is only re-initialised if it stayed unpublished for this
    /// process's whole open timeout, is owned by this user, carries this
    /// crate's magic or none (never a foreign object), its creator is known
    /// to be dead where a creator pid is recorded (the header's
    /// `creator_pid`, System V's `shm_cpid`), and this process wins a
    /// compare-and-swap of `creator_pid`, so exactly one of several racing
    /// processes re-initialises it; the others open what it publishes. The
    /// full rule and its limits (a creator frozen rather than dead) are in
    /// `RELIABILITY.md`.
    pub fn reinit_abandoned(mut self, yes: bool) -> Options {
        self.reinit_abandoned = yes;
        self
    }

    /// When this call creates the segment, allocate all of its memory now
    /// (`fallocate`), so that a full file system gives [`Error::NoSpace`]
    /// here instead of SIGBUS at the first touch of a page later (default
    /// `false`).
    ///
    /// Without it, creating checks the file system's free space first
    /// (`fstatvfs`) and refuses a segment that cannot fit, but the pages are
    /// only allocated when first touched, so creating is cheap at any size
    /// (a 1 GiB segment costs what a 4 KiB one does) and another process
    /// filling `/dev/shm` later can still make a first touch fail. With it,
    /// creating costs time and memory in proportion to the size (tmpfs
    /// zeroes every page). POSIX and file segments only; System V and Win32
    /// commit their memory at creation anyway, and it is a no-op there.
    pub fn preallocate(mut self, yes: bool) -> Options {
        self.preallocate = yes;
        self
    }

    /// Room for the payload, in bytes, if this call creates the segment:
    /// the larger of this, the schema's `#[shm(capacity = N)]` and its size
    /// (rounded up to a multiple of 8 when more than the size). The room
    /// lets a newer, larger version of the schema upgrade the segment in
    /// place (see [`crate::evolution`]). It costs address space, not
    /// memory: untouched pages are never allocated (unless
    /// [`Options::preallocate`] allocates them all). Ignored when the segment
    /// exists.
    pub fn capacity(mut self, bytes: usize) -> Options {
        self.capacity = bytes;
        self
    }

    /// Whether a read-write open may upgrade a segment that holds an older
    /// version of the schema in place (default `false`: such a segment is
    /// [`Error::OlderSchema`]). The new fields start as zero bytes, or as
    /// in the value given to [`Options::open_with`]. See
    /// [`crate::evolution`] for the conditions.
    pub fn upgrade(mut self, allow: bool) -> Options {
        self.upgrade = allow;
        self
    }

    /// Whether [`Options::open`] claims write access (default `true`):
    /// the handle is then the segment's one writer, and opening fails with
    /// [`Error::WriterBusy`] while another live process (or handle) holds
    /// it. With `false` the handle reads (and can wait for changes) without
    /// claiming; [`Shared::claim_writer`] claims later.
    pub fn claim_writer(mut self, claim: bool) -> Options {
        self.claim_writer = claim;
        self
    }

    /// How long [`Options::open`] waits for a live writer to release write
    /// access before failing with [`Error::WriterBusy`] (default zero: it
    /// fails at once). A dead writer is taken over without waiting.
    pub fn writer_wait(mut self, wait: Duration) -> Options {
        self.writer_wait = wait;
        self
    }

    /// Opens (or creates, as set) the segment for reading and writing. A
    /// new segment's payload is all zeroes. If the segment holds a newer
    /// version of `T`'s schema, `T` is its prefix and the newer version
    /// allows older writers, this handle reads and writes that prefix; an
    /// older version is upgraded if [`Options::upgrade`] allows it (see
    /// [`crate::evolution`]).
    pub fn open<T: SharedLayout>(&self) -> Result<Shared<T, ReadWrite>> {
        self.open_impl(false, None)
    }

    /// Like [`Options::open`], but if this call creates the segment its
    /// payload starts as `initial`, before any other process can see it;
    /// if it upgrades the segment, the fields new in `T` start as in
    /// `initial` (the others keep the segment's values).
    pub fn open_with<T: SharedLayout>(&self, initial: &T) -> Result<Shared<T, ReadWrite>> {
        self.open_impl(false, Some(initial))
    }

    /// Opens an existing segment read-only: the mapping is read-only and
    /// the returned handle has no write methods. A segment holding a newer
    /// version of `T`'s schema, of which `T` is a prefix, opens too: the
    /// handle reads `T`'s fields.
    ///
    /// ```compile_fail,E0599
    /// # use shm_runtime::{Options, SharedLayout};
    /// # #[derive(SharedLayout)] #[repr(C)] struct Counter { n: u64 }
    /// let seg = Options::posix("MyCounter").open_read_only::<Counter>()?;
    /// seg.write(&Counter { n: 1 })?; // no method `write` on a read-only handle
    /// # Ok::<(), shm_runtime::Error>(())
    /// ```
    ///
    /// ```compile_fail,E0599
    /// # use shm_runtime::{Options, SharedLayout};
    /// # #[derive(SharedLayout)] #[repr(C)] struct Counter { n: u64 }
    /// let seg = Options::posix("MyCounter").open_read_only::<Counter>()?;
    /// seg.fields().n().set(1); // nor `set` on its fields
    /// # Ok::<(), shm_runtime::Error>(())
    /// ```
    pub fn open_read_only<T: SharedLayout>(&self) -> Result<Shared<T, ReadOnly>> {
        let opts = Options {
            disposition: Disposition::OpenExisting,
            ..self.clone()
        };
        opts.open_impl(true, None)
    }

    /// Removes the named segment. Processes that have it open keep using it;
    /// the name is free at once and the memory goes when the last one
    /// closes it: `shm_unlink` (POSIX), `shmctl(IPC_RMID)` (System V),
    /// `unlink` (file). A Win32 mapping has no name to remove: this is a
    /// no-op, and the mapping goes when its last handle closes. The
    /// segment's doorbell (Linux: the System V segment read-only waiters
    /// count themselves in) is removed with it, also when the name names
    /// nothing any more.
    pub fn remove(&self) -> Result<()> {
        let removed = backend::remove(&self.id);
        if matches!(removed, Ok(()) | Err(Error::NotFound { .. })) {
            crate::doorbell::remove(&self.id);
        }
        removed
    }
}

/// How a typed open may use the segment.
pub(crate) struct OpenMode<'a, T> {
    /// The handle will be read-only.
    pub read_only: bool,
    /// [`Options::upgrade`].
    pub upgrade: bool,
    /// The initial value ([`Options::open_with`]): of a new segment, or of
    /// the fields an upgrade adds.
    pub initial: Option<&'a T>,
    /// How long to wait for a live writer to release write access.
    pub writer_wait: Duration,
}

impl Options {
    fn open_impl<T: SharedLayout, A: Access>(
        &self,
        read_only: bool,
        initial: Option<&T>,
    ) -> Result<Shared<T, A>> {
        let display = self.id.to_string();
        let descriptor = encode_descriptor(&T::LAYOUT);
        // Laid out before anything is created: a size that overflows is
        // an error here, never a short segment written past its end.
        let plan = Plan::for_segment(
            &display,
            &T::LAYOUT,
            descriptor.len(),
            self.capacity.max(T::CAPACITY),
        )?;
        let req = Request {
            display: &display,
            disposition: self.disposition,
            mode: self.mode,
            size: plan.segment_size,
            read_only,
            deadline: process::deadline(Instant::now(), self.open_timeout),
            allow_foreign: self.allow_foreign,
        };
        let mode = OpenMode {
            read_only,
            upgrade: self.upgrade,
            initial,
            writer_wait: self.writer_wait,
        };
        let (map, header, compat) = self.map_and_attach(&req, &plan, &descriptor, &mode)?;
        let shared = Shared::from_mapping(map, header, compat, self.read_timeout)?;
        if !read_only && self.claim_writer {
            shared.claim(self.writer_wait)?;
        }
        Ok(shared)
    }

    /// Maps the object, then creates it (this call made it), attaches to
    /// it, or re-initialises it if it was abandoned and that is allowed.
    fn map_and_attach<T: SharedLayout>(
        &self,
        req: &Request<'_>,
        plan: &Plan,
        descriptor: &[u8],
        mode: &OpenMode<'_, T>,
    ) -> Result<(Mapping, Header, Compat)> {
        let mapping =
            |b: Box<dyn Backing>| Mapping::new(b, req.display.to_owned(), self.id.clone());
        let may_reinit = self.reinit_abandoned
            && self.disposition == Disposition::CreateOrOpen
            && !mode.read_only;
        let map = match backend::open(&self.id, req) {
            // Still empty after the wait: its creator never sized it.
            Err(e @ Error::NotInitialized { .. }) if may_reinit => {
                let map = mapping(self.open_abandoned(req, true).ok_or(e)??);
                return self.reinit(map, plan, descriptor, mode);
            }
            Err(e) => return Err(e),
            Ok(b) if b.created() => return self.create(mapping(b), plan, descriptor, mode.initial),
            Ok(b) => mapping(b),
        };
        match attach::<T>(&map, req.deadline, self.open_timeout, mode) {
            Ok((header, compat)) => Ok((map, header, compat)),
            Err(e @ Error::NotInitialized { .. }) if may_reinit => {
                // Re-initialising writes: reopen without following a
                // symbolic link someone may have planted (POSIX, file).
                let map = match self.open_abandoned(req, false) {
                    Some(reopened) => {
                        let reopened = reopened?;
                        // Replaced under the name meanwhile: not the object
                        // that was seen abandoned.
                        if reopened.identity() != map.backing().identity() {
                            return Err(e);
                        }
                        mapping(reopened)
                    }
                    None => map,
                };
                self.reinit(map, plan, descriptor, mode)
            }
            Err(e) => Err(e),
        }
    }

    /// Initialises a segment this call created (allocating its memory first
    /// if [`Options::preallocate`] asks; on failure the half-made,
    /// unpublished segment is removed).
    fn create<T: SharedLayout>(
        &self,
        map: Mapping,
        plan: &Plan,
        descriptor: &[u8],
        initial: Option<&T>,
    ) -> Result<(Mapping, Header, Compat)> {
        if self.preallocate
            && let Err(e) = map.backing().preallocate()
        {
            drop(map);
            let _ = self.remove();
            return Err(e);
        }
        let header = init::initialise::<T>(&map, plan, descriptor, initial)?;
        Ok((map, header, Compat::Exact))
    }

    /// Re-initialises an abandoned segment ([`init::reinit`]), or, if its
    /// creator lives or another process re-initialises it, waits once more
    /// for it to be published.
    fn reinit<T: SharedLayout>(
        &self,
        map: Mapping,
        plan: &Plan,
        descriptor: &[u8],
        mode: &OpenMode<'_, T>,
    ) -> Result<(Mapping, Header, Compat)> {
        let (header, compat) = match init::reinit::<T>(&map, plan, descriptor, mode.initial)? {
            Some(h) => (h, Compat::Exact),
            None => attach::<T>(
                &map,
                process::deadline(Instant::now(), self.open_timeout),
                self.open_timeout,
                mode,
            )?,
        };
        Ok((map, header, compat))
    }

    /// Opens an abandoned object for [`init::reinit`] (see
    /// [`backend::open_abandoned`]): if it is still `empty`, only if it was
    /// last changed at least half the open timeout ago.
    fn open_abandoned(&self, req: &Request<'_>, empty: bool) -> Option<Result<Box<dyn Backing>>> {
        let min_age = if empty {
            self.open_timeout / 2
        } else {
            Duration::ZERO
        };
        backend::open_abandoned(&self.id, req, min_age)
    }
}

/// Waits (bounded) for the creator to publish the header, then validates
/// the segment against the object's real size (the mapping's length, taken
/// from `fstat` or its equivalent before mapping) and the schema `T`, and
/// applies the open-time rules of [`crate::evolution`]: the header in force
/// and how the segment's schema relates to `T`, upgrading it if allowed.
pub(crate) fn attach<T: SharedLayout>(
    map: &Mapping,
    deadline: Instant,
    waited: Duration,
    mode: &OpenMode<'_, T>,
) -> Result<(Header, Compat)> {
    map.wait_ready(deadline, waited)?;
    let len = map.len() as u64;
    let display = map.display();
    let (header, admit) = map.consistent(deadline, &mut |read| {
        let (header, found) = validate::image::<T>(display, len, read)?;
        let admit = evolution::admit(
            display,
            &header,
            found,
            &T::LAYOUT,
            mode.read_only,
            mode.upgrade,
        )?;
        Ok((header, admit))
    })?;
    match admit {
        Admit::Open(compat) => Ok((header, compat)),
        Admit::Upgrade(_) => upgrade::upgrade::<T>(map, mode.initial, mode.writer_wait),
    }
}
