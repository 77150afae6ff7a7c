//! Opening segments ([`Options`]) and using them ([`Shared`]).

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::backend::{self, Backing, Disposition, Request};
use crate::descriptor;
use crate::error::{Error, Result};
use crate::field::{Access, Field, ReadOnly, ReadWrite};
use crate::header::{self, HEADER_SIZE, Header, Plan, STATE_READY, off};
use crate::layout::{SharedLayout, encode_descriptor};
use crate::name::{self, SegmentId};
use crate::notify;
use crate::protocol::{self, Buf, Buffers, Mapped, version_of};
use crate::status::{HeaderStatus, Status};

mod evolve;
mod raw;
mod reinit;
use crate::evolution::{self, Compat};
use crate::writer::{self, TakeOver};
pub use raw::RawSegment;
#[cfg(unix)]
pub(crate) use reinit::pid_alive;
#[cfg(target_os = "linux")]
pub(crate) use reinit::proc_stat_field;

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
    id: SegmentId,
    disposition: Disposition,
    mode: u32,
    open_timeout: Duration,
    read_timeout: Duration,
    reinit_abandoned: bool,
    reserve: bool,
    capacity: usize,
    upgrade: bool,
    claim_writer: bool,
    writer_wait: Duration,
}

impl Options {
    fn new(id: SegmentId) -> Options {
        Options {
            id,
            disposition: Disposition::OpenExisting,
            mode: DEFAULT_MODE,
            open_timeout: DEFAULT_OPEN_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            reinit_abandoned: false,
            reserve: false,
            capacity: 0,
            upgrade: false,
            claim_writer: true,
            writer_wait: Duration::ZERO,
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
        let path = path.as_ref();
        #[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
        return Ok(Options::sysv(backend::sysv::ftok(path, id)?));
        #[cfg(not(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd")))]
        return Err(Error::Unsupported {
            name: format!("sysv:ftok({}, {id})", path.display()),
            what: "System V shared memory".into(),
        });
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
    pub fn reserve(mut self, yes: bool) -> Options {
        self.reserve = yes;
        self
    }

    /// Room for the payload, in bytes, if this call creates the segment:
    /// the larger of this, the schema's `#[shm(reserve = N)]` and its size
    /// (rounded up to a multiple of 8 when more than the size). The room
    /// lets a newer, larger version of the schema upgrade the segment in
    /// place (see [`crate::evolution`]). It costs address space, not
    /// memory: untouched pages are never allocated (unless
    /// [`Options::reserve`] allocates them all). Ignored when the segment
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
    /// no-op, and the mapping goes when its last handle closes.
    pub fn remove(&self) -> Result<()> {
        let display = self.id.to_string();
        match &self.id {
            #[cfg(unix)]
            SegmentId::Posix(n) => backend::posix::remove(&name::posix(n)?, &display),
            #[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
            SegmentId::SysV(k) => backend::sysv::remove(name::sysv(*k)?, &display),
            #[cfg(unix)]
            SegmentId::File(p) => backend::file::remove(&name::file(p)?, &display),
            #[cfg(windows)]
            SegmentId::Windows(n) => backend::windows::remove(&name::windows(n)?, &display),
            // No name to remove: it goes with its last descriptor and mapping.
            SegmentId::Memory | SegmentId::Memfd(_) => Ok(()),
            _ => Err(Error::Unsupported {
                name: display,
                what: "this backend".into(),
            }),
        }
    }

    /// Creates or opens (as `req` says) and maps the object this names.
    fn open_backing(&self, req: &Request<'_>) -> Result<Box<dyn Backing>> {
        let display = req.display;
        Ok(match &self.id {
            #[cfg(unix)]
            SegmentId::Posix(n) => Box::new(backend::posix::open(&name::posix(n)?, req)?),
            #[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
            SegmentId::SysV(k) => Box::new(backend::sysv::open(name::sysv(*k)?, req)?),
            #[cfg(unix)]
            SegmentId::File(p) => Box::new(backend::file::open(&name::file(p)?, req)?),
            #[cfg(windows)]
            SegmentId::Windows(n) => Box::new(backend::windows::open(&name::windows(n)?, req)?),
            SegmentId::Memory => Box::new(backend::memory::open(display, req.size)?),
            #[cfg(target_os = "linux")]
            SegmentId::Memfd(n) if req.disposition != Disposition::OpenExisting => {
                Box::new(backend::memfd::create(&name::memfd(n)?, req)?)
            }
            SegmentId::Memfd(_) => {
                return Err(Error::Unsupported {
                    name: display.to_owned(),
                    what: "opening a memfd by name (it has none: open the creator's \
                           `Shared::share_path()`, /proc/<pid>/fd/<n>, with `Options::file`, \
                           or a passed descriptor's /proc/self/fd/<n>)"
                        .into(),
                });
            }
            _ => {
                return Err(Error::Unsupported {
                    name: display.to_owned(),
                    what: "this backend".into(),
                });
            }
        })
    }

    fn open_impl<T: SharedLayout, A: Access>(
        &self,
        read_only: bool,
        initial: Option<&T>,
    ) -> Result<Shared<T, A>> {
        let display = self.id.to_string();
        let descriptor = encode_descriptor(&T::LAYOUT);
        let plan = Plan::with_capacity(&T::LAYOUT, descriptor.len(), self.capacity.max(T::RESERVE));
        let req = Request {
            display: &display,
            disposition: self.disposition,
            mode: self.mode,
            size: plan.segment_size,
            read_only,
            deadline: Instant::now() + self.open_timeout,
        };
        let access = || evolve::Access {
            read_only,
            upgrade: self.upgrade,
            initial,
            writer_wait: self.writer_wait,
        };
        let may_reinit =
            self.reinit_abandoned && self.disposition == Disposition::CreateOrOpen && !read_only;
        let (backing, abandoned) = match self.open_backing(&req) {
            // Still empty after the wait: its creator never sized it.
            Err(e @ Error::NotInitialized { .. }) if may_reinit => {
                (self.open_abandoned_backing(&req, true).ok_or(e)??, true)
            }
            r => (r?, false),
        };
        let (backing, (header, compat)) = if backing.created() {
            if self.reserve
                && let Err(e) = backing.reserve()
            {
                // Not published yet: remove the half-made segment.
                drop(backing);
                let _ = self.remove();
                return Err(e);
            }
            let header = initialise::<T>(&*backing, &plan, &descriptor, initial);
            (backing, (header, Compat::Exact))
        } else {
            let attached = if abandoned {
                Err(Error::NotInitialized {
                    name: display.clone(),
                    waited: self.open_timeout,
                })
            } else {
                evolve::attach::<T>(
                    &*backing,
                    &display,
                    req.deadline,
                    self.open_timeout,
                    access(),
                )
            };
            match attached {
                Ok(header) => (backing, header),
                Err(e @ Error::NotInitialized { .. }) if may_reinit => {
                    // Re-initialising writes: reopen without following a
                    // symbolic link someone may have planted (POSIX, file).
                    let backing = match (abandoned, self.open_abandoned_backing(&req, false)) {
                        (false, Some(reopened)) => {
                            let reopened = reopened?;
                            // Replaced under the name meanwhile: not the
                            // object that was seen abandoned.
                            if reopened.identity() != backing.identity() {
                                return Err(e);
                            }
                            reopened
                        }
                        _ => backing,
                    };
                    let r = reinit::reinit::<T>(&*backing, &plan, &descriptor, initial, &display)?;
                    let header = match r {
                        Some(h) => (h, Compat::Exact),
                        // Its creator lives, or another process
                        // re-initialises it: wait once more for it.
                        None => evolve::attach::<T>(
                            &*backing,
                            &display,
                            Instant::now() + self.open_timeout,
                            self.open_timeout,
                            access(),
                        )?,
                    };
                    (backing, header)
                }
                Err(e) => return Err(e),
            }
        };
        let shared = Shared::from_backing(
            backing,
            display,
            self.id.clone(),
            header,
            compat,
            self.read_timeout,
        )?;
        if !read_only && self.claim_writer {
            shared.claim(self.writer_wait)?;
        }
        Ok(shared)
    }

    /// Opens an abandoned object (its creator died before publishing it)
    /// read-write for [`reinit::reinit`], without following symbolic links,
    /// sizing it if it is still `empty`: then only if it was last changed
    /// at least half the open timeout ago, i.e. it is the object that was
    /// seen empty for the whole timeout, not a new one created in its
    /// place meanwhile. `None` for backends whose objects cannot be empty
    /// or replaced by a link (System V).
    fn open_abandoned_backing(
        &self,
        req: &Request<'_>,
        empty: bool,
    ) -> Option<Result<Box<dyn Backing>>> {
        #[cfg(unix)]
        {
            let min_age = if empty {
                self.open_timeout / 2
            } else {
                Duration::ZERO
            };
            match &self.id {
                SegmentId::Posix(n) => {
                    return Some(name::posix(n).and_then(|n| {
                        Ok(Box::new(backend::posix::open_abandoned(&n, req, min_age)?)
                            as Box<dyn Backing>)
                    }));
                }
                SegmentId::File(p) => {
                    return Some(name::file(p).and_then(|p| {
                        Ok(Box::new(backend::file::open_abandoned(&p, req, min_age)?)
                            as Box<dyn Backing>)
                    }));
                }
                _ => {}
            }
        }
        let _ = (req, empty);
        None
    }
}

/// Validates `bytes` as if they were a mapped segment holding a `T`, with
/// exactly the checks [`Options::open`] makes on a real mapping (the same
/// code): size, magic, header version, state, flags, schema name, every
/// offset and size against `bytes.len()`, the schema (name, version,
/// fingerprint, size, alignment) and the descriptor, accepting what
/// [`Options::open_read_only`] accepts (a newer version of `T`'s schema of
/// which `T` is a prefix, too). Returns the header.
///
/// It never waits: a header whose `state` is still 0 gives
/// [`Error::NotInitialized`]. It never panics and allocates at most a
/// copy of the descriptor (bounded by `bytes.len()` and
/// [`header::MAX_DESCRIPTOR_LEN`]), whatever the bytes say.
pub fn validate_bytes<T: SharedLayout>(bytes: &[u8]) -> Result<Header> {
    let (header, found) =
        check_image::<T>(IMAGE_NAME, bytes.len() as u64, &mut slice_reader(bytes))?;
    evolution::admit(IMAGE_NAME, &header, found, &T::LAYOUT, true, false)?;
    Ok(header)
}

/// Like [`validate_bytes`] without a Rust type, as [`RawSegment::open`]
/// checks a segment: the header, then the descriptor (decoded, strictly
/// validated, hashed against the header's fingerprint). Returns both.
pub fn validate_bytes_untyped(bytes: &[u8]) -> Result<(Header, descriptor::Schema)> {
    let mut read = slice_reader(bytes);
    let header = check_header(IMAGE_NAME, bytes.len() as u64, &mut read)?;
    let desc = descriptor::copy_out(&header, bytes.len() as u64, &mut read)
        .map_err(|e| e.into_error(IMAGE_NAME))?;
    let schema = descriptor::from_segment(&header, &desc).map_err(|e| e.into_error(IMAGE_NAME))?;
    Ok((header, schema))
}

/// Opens a private copy of `bytes` as a read-only segment holding a `T`,
/// through the same open path as a real segment (validation, payload
/// placement, the snapshot protocol), so that [`Shared::read`] gives the
/// snapshot a real opener would get. For tests, fuzzing, and checking a
/// saved image. Nobody writes the copy, so a write recorded as in progress
/// in the image never finishes: `read` then fails at once with
/// [`Error::Timeout`] rather than waiting.
pub fn open_image<T: SharedLayout>(bytes: &[u8]) -> Result<Shared<T, ReadOnly>> {
    // Reject before copying, so only a plausible segment is copied.
    validate_bytes::<T>(bytes)?;
    let backing: Box<dyn Backing> = Box::new(backend::memory::image(IMAGE_NAME, bytes)?);
    let (header, compat) = evolve::attach::<T>(
        &*backing,
        IMAGE_NAME,
        Instant::now(),
        Duration::ZERO,
        evolve::Access {
            read_only: true,
            upgrade: false,
            initial: None,
            writer_wait: Duration::ZERO,
        },
    )?;
    Shared::from_backing(
        backing,
        IMAGE_NAME.to_owned(),
        SegmentId::Memory,
        header,
        compat,
        Duration::ZERO,
    )
}

/// The bytes a creator leaves in a new segment holding `value`, once it is
/// initialised: header (state ready, this process as creator), descriptor
/// and payload, laid out exactly as [`Options::open_with`] lays them out.
/// For tests and fuzzing: a valid image to mutate, check with
/// [`validate_bytes`] and open with [`open_image`].
pub fn segment_image<T: SharedLayout>(value: &T) -> Vec<u8> {
    let descriptor = encode_descriptor(&T::LAYOUT);
    let plan = Plan::with_capacity(&T::LAYOUT, descriptor.len(), T::RESERVE);
    let header = Header {
        state: STATE_READY,
        ..new_header::<T>(&plan)
    };
    let mut out = vec![0u8; plan.segment_size];
    out[..HEADER_SIZE].copy_from_slice(&header.encode());
    out[plan.descriptor_offset..][..descriptor.len()].copy_from_slice(&descriptor);
    for at in [plan.payload_offset, plan.backup_offset] {
        // SAFETY: `T: ShmSafe` has no padding, so all `size_of::<T>()` bytes
        // of `*value` are initialised; `out` has room for them at both
        // copies' offsets.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (value as *const T).cast::<u8>(),
                out.as_mut_ptr().add(at),
                plan.payload_size,
            );
        }
    }
    out
}

/// The display name of segments checked by [`validate_bytes`] and [`open_image`].
const IMAGE_NAME: &str = "memory:<image>";

/// Reads `at..at + dst.len()` of `bytes` for [`check_image`].
fn slice_reader(bytes: &[u8]) -> impl FnMut(usize, &mut [u8]) -> bool + '_ {
    move |at, dst| match at.checked_add(dst.len()).and_then(|end| bytes.get(at..end)) {
        Some(src) => {
            dst.copy_from_slice(src);
            true
        }
        None => false,
    }
}

/// Reads `at..at + dst.len()` of a live mapping for [`check_image`], with
/// atomic loads (another process may be writing it).
fn mapping_reader(backing: &dyn Backing) -> impl FnMut(usize, &mut [u8]) -> bool + '_ {
    let base = backing.base().as_ptr();
    let len = backing.len();
    move |at, dst| {
        if at.checked_add(dst.len()).is_none_or(|end| end > len) {
            return false;
        }
        // SAFETY: `at..at + dst.len()` lies inside the mapping (checked just
        // above), so the 8-byte words holding it lie inside the mapping
        // rounded up to a word, which every backend keeps valid (mappings
        // are whole pages; process memory is allocated in whole words); the
        // shared bytes are read with atomic word loads only, into private
        // memory.
        unsafe { protocol::load_bytes(base.add(at), dst.as_mut_ptr(), dst.len()) };
        true
    }
}

/// Writes the header, descriptor and initial payload of a segment this
/// process just created, then publishes it with a release store of `state`.
fn initialise<T: SharedLayout>(
    backing: &dyn Backing,
    plan: &Plan,
    descriptor: &[u8],
    initial: Option<&T>,
) -> Header {
    let header = new_header::<T>(plan);
    let base = backing.base().as_ptr();
    let bytes = header.encode();
    // SAFETY: the mapping is `plan.segment_size` bytes (the backend sized it
    // so), which covers the header, the descriptor and the payload; other
    // processes may already have it mapped, so every store is atomic.
    unsafe {
        protocol::store_bytes(base, bytes.as_ptr(), HEADER_SIZE);
        protocol::store_bytes(
            base.add(plan.descriptor_offset),
            descriptor.as_ptr(),
            descriptor.len(),
        );
        if let Some(v) = initial {
            for at in [plan.payload_offset, plan.backup_offset] {
                protocol::store_words(
                    base.add(at),
                    (v as *const T).cast::<u8>(),
                    plan.payload_size,
                );
            }
        }
    }
    // Publish: the word holding `state` (header version, size, state),
    // with release, so that an opener that sees state 1 sees all of the
    // above.
    let at = off::STATE & !7;
    let word = u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    word64(backing, at).store(with_half(word, off::STATE, STATE_READY), Ordering::Release);
    Header {
        state: STATE_READY,
        ..header
    }
}

/// The header a creator in this process writes now (state initialising).
fn new_header<T: SharedLayout>(plan: &Plan) -> Header {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    Header {
        flags: if T::OLDER_WRITERS {
            header::FLAG_OLDER_WRITERS
        } else {
            0
        },
        ..Header::new(&T::LAYOUT, T::FINGERPRINT, plan, std::process::id(), now)
    }
}

/// The header's `state` (offset 12), loaded with acquire as part of the
/// 8-byte word at 8 (every Rust access to the header is a whole word).
fn load_state(backing: &dyn Backing) -> u32 {
    half_of(
        word64(backing, off::STATE & !7).load(Ordering::Acquire),
        off::STATE,
    )
}

/// The status of a mapped segment (shared by [`Shared::status`] and
/// [`RawSegment::status`]).
fn segment_status(
    backing: &dyn Backing,
    id: &SegmentId,
    display: &str,
    h: &Header,
) -> Result<Status> {
    let writer = word64(backing, off::WRITER).load(Ordering::Relaxed);
    let mut st = Status {
        name: display.to_owned(),
        backend: match id {
            SegmentId::Posix(_) => "posix",
            SegmentId::SysV(_) => "sysv",
            SegmentId::Windows(_) => "windows",
            SegmentId::File(_) => "file",
            SegmentId::Memfd(_) => "memfd",
            SegmentId::Memory => "memory",
        },
        header: Some(HeaderStatus {
            schema_name: h.schema_name().unwrap_or_default().to_owned(),
            schema_version: h.schema_version,
            fingerprint: h.fingerprint,
            payload_offset: h.payload_offset,
            payload_size: h.payload_size,
            creator_pid: h.creator_pid,
            created: UNIX_EPOCH.checked_add(Duration::from_nanos(h.created_nanos)),
            seq: seq_word(backing).load(Ordering::Relaxed),
            writer_pid: (writer != 0).then_some(writer::pid_of(writer)),
            writer_alive: writer != 0 && !writer::owner_dead(writer),
        }),
        ..Status::default()
    };
    backing.os_status(&mut st)?;
    Ok(st)
}

/// The sequence counter (of the primary copy) of a mapped segment.
fn seq_word(backing: &dyn Backing) -> &AtomicU64 {
    word64(backing, off::SEQ)
}

/// After a write (or a repair or upgrade, which count as writes): wakes
/// the processes waiting for a change, if any.
fn wake(backing: &dyn Backing) {
    notify::wake(word32(backing, off::NOTIFY), word32(backing, off::WAITERS));
}

/// The 8-byte header word at `at` (a multiple of 8 below
/// [`HEADER_SIZE`]) of a mapped segment.
fn word64(backing: &dyn Backing, at: usize) -> &AtomicU64 {
    assert!(at.is_multiple_of(8) && at + 8 <= HEADER_SIZE);
    // SAFETY: every backend maps at least HEADER_SIZE bytes, page-aligned,
    // so the word is in bounds and aligned; header words are only ever
    // accessed atomically.
    unsafe { AtomicU64::from_ptr(backing.base().as_ptr().add(at).cast()) }
}

/// The 4-byte header word at 248 (`waiters`) or 252 (`notify`): the only
/// header bytes accessed as 4-byte atomics (see [`crate::notify`]); header
/// copies skip them ([`read_header_bytes`]).
fn word32(backing: &dyn Backing, at: usize) -> &AtomicU32 {
    assert!(at == off::WAITERS || at == off::NOTIFY);
    // SAFETY: inside the header of every mapping, 4-aligned in a
    // page-aligned mapping, and only ever accessed as a 4-byte atomic.
    unsafe { AtomicU32::from_ptr(backing.base().as_ptr().add(at).cast()) }
}

/// Copies the header out with `read` (see [`check_header`]), skipping the
/// word at 248 (`waiters`, `notify`: 4-byte atomics that live writers and
/// waiters change, which a copy in 8-byte words would race with); those
/// bytes read as zero. `false` if the header is not inside the object.
fn read_header_bytes(
    read: &mut dyn FnMut(usize, &mut [u8]) -> bool,
    bytes: &mut [u8; HEADER_SIZE],
) -> bool {
    let (a, rest) = bytes.split_at_mut(off::WAITERS);
    let (skipped, b) = rest.split_at_mut(8);
    skipped.fill(0);
    read(0, a) && read(off::WAITERS + 8, b)
}

/// The `u32` at byte `at % 8` of a header word, as a value of the word.
fn half_of(word: u64, at: usize) -> u32 {
    let b = word.to_ne_bytes();
    let i = at % 8;
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// `word` with the `u32` at byte `at % 8` replaced by `v`.
fn with_half(word: u64, at: usize, v: u32) -> u64 {
    let mut b = word.to_ne_bytes();
    let i = at % 8;
    b[i..i + 4].copy_from_slice(&v.to_ne_bytes());
    u64::from_ne_bytes(b)
}

/// The schema-independent part of [`evolve::attach`]: wait for the header
/// to be published, copy it and the descriptor out (consistently, should an
/// upgrade rewrite them meanwhile), validate the header against the
/// object's real size and copy the descriptor out.
fn attach_header(
    backing: &dyn Backing,
    display: &str,
    deadline: Instant,
    waited: Duration,
) -> Result<(Header, Vec<u8>)> {
    wait_ready(backing, display, deadline, waited)?;
    let len = backing.len() as u64;
    evolve::consistent(backing, display, deadline, &mut |read| {
        let header = check_header(display, len, read)?;
        let desc = descriptor::copy_out(&header, len, read).map_err(|e| e.into_error(display))?;
        Ok((header, desc))
    })
}

/// Waits while the creator is still writing the header (`state` 0), at
/// most until `deadline` ([`Error::NotInitialized`] then). A foreign magic
/// is reported at once. Any other `state` ends the wait: [`check_header`]
/// then judges the header exactly as [`validate_bytes`] does.
fn wait_ready(
    backing: &dyn Backing,
    display: &str,
    deadline: Instant,
    waited: Duration,
) -> Result<()> {
    let start = Instant::now();
    let mut first = [0u8; 8];
    // SAFETY: the mapping has at least HEADER_SIZE bytes; atomic loads only.
    unsafe { protocol::load_bytes(backing.base().as_ptr(), first.as_mut_ptr(), 8) };
    // A foreign object is reported at once, not after the wait.
    if first != header::MAGIC && first != [0; 8] {
        return Err(Error::NotASegment {
            name: display.to_owned(),
            expected: header::MAGIC,
            found: first,
        });
    }
    while load_state(backing) == header::STATE_INITIALIZING {
        if Instant::now() >= deadline {
            return Err(Error::NotInitialized {
                name: display.to_owned(),
                waited,
            });
        }
        backend::pause(start);
    }
    Ok(())
}

/// The one validation of a segment's header, shared by every opener: a
/// live mapping ([`evolve::attach`], [`attach_header`]) and a byte buffer
/// ([`validate_bytes`], [`open_image`]).
///
/// `len` is the object's real size; `read(at, dst)` copies the bytes at
/// `at..at + dst.len()` into `dst` and returns `false` (copying nothing) if
/// they are not all inside the object. Everything is validated on private
/// copies, so another process changing the bytes meanwhile can only make
/// the result an error or a stale-but-valid header. The header returned is
/// the one in force ([`Header::effective`]: the staged schema fields while
/// an upgrade is switching to them).
fn check_header(
    display: &str,
    len: u64,
    read: &mut dyn FnMut(usize, &mut [u8]) -> bool,
) -> Result<Header> {
    let mut bytes = [0u8; HEADER_SIZE];
    if len < HEADER_SIZE as u64 || !read_header_bytes(read, &mut bytes) {
        return Err(Error::TooSmall {
            name: display.to_owned(),
            needed: HEADER_SIZE as u64,
            actual: len,
            what: "the segment header",
        });
    }
    let header = Header::decode(&bytes).effective();
    header.validate(display, len)?;
    Ok(header)
}

/// [`check_header`], then the schema: the header's and the descriptor's
/// are `T`'s, or another version of it (see [`evolution::classify`]; a
/// mismatch names the first difference).
fn check_image<T: SharedLayout>(
    display: &str,
    len: u64,
    read: &mut dyn FnMut(usize, &mut [u8]) -> bool,
) -> Result<(Header, evolution::Found)> {
    let header = check_header(display, len, read)?;
    let desc = descriptor::copy_out(&header, len, read).map_err(|e| e.into_error(display))?;
    let found = evolution::classify(display, &header, &desc, &T::LAYOUT, T::FINGERPRINT)?;
    Ok((header, found))
}

fn payload_ptr<T: SharedLayout>(
    backing: &dyn Backing,
    header: &Header,
    display: &str,
) -> Result<NonNull<T>> {
    // `validate` proved payload_offset + size_of::<T>() <= segment_size <=
    // len; checked again here so that this function is safe on its own.
    let offset = usize::try_from(header.payload_offset)
        .ok()
        .filter(|o| {
            o.checked_add(size_of::<T>())
                .is_some_and(|end| end <= backing.len())
        })
        .ok_or_else(|| Error::TooSmall {
            name: display.to_owned(),
            needed: header.payload_offset.saturating_add(size_of::<T>() as u64),
            actual: backing.len() as u64,
            what: "the payload",
        })?;
    // SAFETY: `offset + size_of::<T>() <= len` (checked just above), so the
    // result is inside the mapping.
    let p = unsafe { backing.base().byte_add(offset) }.cast::<T>();
    if !p.as_ptr().is_aligned() {
        return Err(Error::Corrupt {
            name: display.to_owned(),
            what: format!(
                "payload at offset {offset} is not aligned to {}",
                align_of::<T>()
            ),
        });
    }
    Ok(p)
}

/// Claims write access to a mapped segment (see [`crate::writer`]), then
/// repairs what a writer that died left unfinished ([`protocol::recover`])
/// in the value the segment holds now: `header` is its validated header,
/// possibly older (another upgrade may have finished since; with write
/// access ours, none is under way), and the value is at least `min_len`
/// bytes (the caller's type), within the capacity. Both copies marked as
/// being written is [`Error::Corrupt`], and write access is given back.
/// The caller wakes waiters if the repair changed anything.
fn claim_and_repair(
    backing: &dyn Backing,
    header: &Header,
    display: &str,
    wait: Duration,
    min_len: u64,
) -> Result<(writer::Claimed, protocol::Repair)> {
    let owner = word64(backing, off::WRITER);
    let claimed = writer::claim(owner, word64(backing, off::WRITER_SINCE), display, wait)?;
    let now = check_header(display, backing.len() as u64, &mut mapping_reader(backing))
        .map_or(header.payload_size, |h| h.payload_size);
    let len = now.max(min_len).min(header.capacity()) as usize;
    // SAFETY: `len` is at most the capacity validated against the mapping.
    let whole = unsafe { buffers(backing, header, len) };
    // SAFETY: write access is ours (just claimed).
    let repair = unsafe { protocol::recover(&whole) };
    if repair == protocol::Repair::BothTorn {
        writer::release(owner);
        return Err(Error::Corrupt {
            name: display.to_owned(),
            what: "both copies of the payload are marked as being written (`seq` and \
                   `backup_seq` odd), which no writer leaves; write access was not taken \
                   (remove and re-create the segment)"
                .into(),
        });
    }
    Ok((claimed, repair))
}

/// The retry loop around [`protocol::try_read`], shared by [`Shared::read`]
/// and [`RawSegment::read_bytes`]: copies the payload of `m` into `dst`
/// until a copy is consistent (the primary copy, or the backup while the
/// primary is being written), for at most `timeout`. Returns the counter
/// value of the copy. Only a segment damaged by someone else (both copies
/// marked as being written for the whole timeout) makes it fail:
/// [`Error::WriterDied`] if the recorded writer is dead, else
/// [`Error::Timeout`].
///
/// # Safety
///
/// `m`'s copies are mapped and `dst` is valid for writes of `m.len()`
/// bytes ([`protocol::Buffers::copy_out`]).
#[inline]
unsafe fn read_snapshot(
    backing: &dyn Backing,
    m: &Mapped,
    dst: *mut u8,
    display: &str,
    timeout: Duration,
) -> Result<u64> {
    // SAFETY: forwarded from the caller. (The first attempt, without
    // reading the clock: it almost always succeeds.)
    if let Some(s) = unsafe { protocol::try_read(m, dst) } {
        return Ok(s);
    }
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        // SAFETY: forwarded from the caller.
        if let Some(s) = unsafe { protocol::try_read(m, dst) } {
            return Ok(s);
        }
        spins += 1;
        if spins < 100 {
            std::hint::spin_loop();
        } else if start.elapsed() > timeout {
            let owner = word64(backing, off::WRITER).load(Ordering::Acquire);
            if owner != 0 && writer::owner_dead(owner) {
                return Err(Error::WriterDied {
                    name: display.to_owned(),
                    pid: writer::pid_of(owner),
                });
            }
            return Err(Error::Timeout {
                name: display.to_owned(),
                what: "a complete copy of the value (both copies stayed marked as being written)",
                waited: timeout,
            });
        } else {
            std::thread::yield_now();
        }
    }
}

/// The two payload copies of a mapped segment, `len` bytes each.
///
/// # Safety
///
/// `header` is the validated header of `backing`'s segment and `len` is at
/// most its payload capacity, so both copies lie inside the mapping.
unsafe fn buffers(backing: &dyn Backing, header: &Header, len: usize) -> Mapped {
    let base = backing.base().as_ptr();
    // SAFETY: the counters are 8-aligned words of the header; `validate`
    // proved payload_offset + capacity <= backup_offset and backup_offset +
    // capacity <= segment_size <= the mapping's length (caller), so the
    // copies are in bounds and disjoint; everything is accessed atomically.
    unsafe {
        Mapped::new(
            base.add(off::SEQ),
            base.add(off::BACKUP_SEQ),
            base.add(header.payload_offset as usize),
            base.add(header.backup_offset as usize),
            len,
        )
    }
}

/// A typed segment holding one `T`, mapped in this process.
///
/// `A` is [`ReadWrite`] or [`ReadOnly`]; a read-only handle has no write
/// methods and its mapping is read-only. A read-write handle writes only
/// while it holds *write access* (one writer at a time across processes:
/// see [`Shared::claim_writer`]). Dropping the handle releases write
/// access and unmaps the segment; it never removes it (POSIX and System V
/// segments persist until removed or the machine restarts; a Win32
/// mapping goes when its last handle, in any process, closes).
pub struct Shared<T: SharedLayout, A: Access = ReadWrite> {
    backing: Box<dyn Backing>,
    display: String,
    id: SegmentId,
    header: Header,
    compat: Compat,
    payload: NonNull<T>,
    buffers: Mapped,
    read_timeout: Duration,
    writer: WriterState,
    _marker: PhantomData<(fn() -> T, A)>,
}

/// A read-write handle's side of write access.
#[derive(Default)]
struct WriterState {
    /// Whether this handle holds write access.
    held: AtomicBool,
    /// Serialises writes through this handle (threads of this process).
    lock: Mutex<()>,
    /// What the claim that gave this handle write access found.
    take_over: Mutex<Option<TakeOver>>,
}

// SAFETY: every access to the mapping through `Shared` is atomic (the
// snapshot protocol, `Field`s, the header words), the backing is
// `Send + Sync`, and the raw pointers in `payload`/`buffers` point into
// that mapping, which lives as long as the handle.
unsafe impl<T: SharedLayout, A: Access> Send for Shared<T, A> {}
// SAFETY: as above; writes through one handle are serialised by its lock.
unsafe impl<T: SharedLayout, A: Access> Sync for Shared<T, A> {}

impl<T: SharedLayout, A: Access> std::fmt::Debug for Shared<T, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("segment", &self.display)
            .field("schema", &T::LAYOUT.name)
            .field("writer", &self.writer.held.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: SharedLayout, A: Access> Drop for Shared<T, A> {
    fn drop(&mut self) {
        // Releasing stores to the header: not if someone truncated the
        // object under the mapping (touching it would be SIGBUS).
        if *self.writer.held.get_mut()
            && self
                .backing
                .current_size()
                .is_ok_and(|size| size >= HEADER_SIZE as u64)
        {
            writer::release(word64(&*self.backing, off::WRITER));
        }
    }
}

impl<T: SharedLayout, A: Access> Shared<T, A> {
    /// Wraps a mapping whose header was just written or validated.
    fn from_backing(
        backing: Box<dyn Backing>,
        display: String,
        id: SegmentId,
        header: Header,
        compat: Compat,
        read_timeout: Duration,
    ) -> Result<Shared<T, A>> {
        let payload = payload_ptr::<T>(&*backing, &header, &display)?;
        // `payload_ptr` checked the primary copy; `validate` placed the
        // backup after the capacity, which `T` fits in (an exact schema, a
        // prefix of the segment's, or the one an upgrade grew it to).
        if (size_of::<T>() as u64) > header.capacity() {
            return Err(Error::TooSmall {
                name: display,
                needed: size_of::<T>() as u64,
                actual: header.capacity(),
                what: "the payload's room",
            });
        }
        // SAFETY: `header` is validated against this mapping and
        // `size_of::<T>()` is at most its capacity (just checked).
        let buffers = unsafe { buffers(&*backing, &header, size_of::<T>()) };
        Ok(Shared {
            backing,
            display,
            id,
            header,
            compat,
            payload,
            buffers,
            read_timeout,
            writer: WriterState::default(),
            _marker: PhantomData,
        })
    }

    /// The segment's display name, e.g. `posix:/MyShare`.
    pub fn name(&self) -> &str {
        &self.display
    }

    /// The segment's identity.
    pub fn id(&self) -> &SegmentId {
        &self.id
    }

    /// The validated header copied at open (after the upgrade, if this open
    /// upgraded the segment).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// How the segment's schema related to `T` when it was opened: exactly
    /// `T`, a newer version read (and maybe written) as its prefix `T`, or
    /// an older version that this open upgraded (see [`crate::evolution`]).
    pub fn compat(&self) -> Compat {
        self.compat
    }

    /// A consistent snapshot: a value that one complete write produced,
    /// never a mix of two. It never waits for a writer: while a write is in
    /// progress (or was interrupted by the writer's death) it returns the
    /// value of the write before. It fails only on a segment damaged by
    /// someone else, after the read timeout.
    #[inline]
    pub fn read(&self) -> Result<T> {
        Ok(self.read_with_version()?.0)
    }

    /// [`Shared::read`], and the version of the value: the number of the
    /// write that produced it (see [`Shared::version`]).
    #[inline]
    pub fn read_with_version(&self) -> Result<(T, u64)> {
        let mut out = std::mem::MaybeUninit::<T>::uninit();
        // SAFETY: `out` is private and `size_of::<T>()` bytes.
        let version = unsafe { self.read_to(out.as_mut_ptr())? };
        // SAFETY: every byte of `out` was written, and `T: ShmSafe` accepts
        // every bit pattern.
        Ok((unsafe { out.assume_init() }, version))
    }

    /// [`Shared::read_with_version`] into `out`, without moving a `T`
    /// around (for large values); returns the version.
    pub fn read_into(&self, out: &mut T) -> Result<u64> {
        // SAFETY: `out` is exclusively ours; every bit pattern is a valid
        // `T` (`ShmSafe`), so overwriting it byte by byte is fine.
        unsafe { self.read_to(out) }
    }

    /// A snapshot into `out`; its version.
    ///
    /// # Safety
    ///
    /// `out` is valid for writes of `size_of::<T>()` bytes and private.
    #[inline]
    unsafe fn read_to(&self, out: *mut T) -> Result<u64> {
        // SAFETY: `buffers` covers `size_of::<T>()` bytes of each copy
        // (`from_backing`); `out` is as large (caller).
        let s = unsafe {
            read_snapshot(
                &*self.backing,
                &self.buffers,
                out.cast(),
                &self.display,
                self.read_timeout,
            )?
        };
        Ok(version_of(s))
    }

    /// The number of writes completed so far (a take-over's repair counts
    /// as one). Cheap: one atomic load.
    pub fn version(&self) -> u64 {
        version_of(word64(&*self.backing, off::SEQ).load(Ordering::Acquire))
    }

    /// Waits until the version is no longer `since` (a write completed
    /// after the one `since` names), at most `timeout`. Returns the new
    /// version, or `None` if nothing changed in time.
    ///
    /// On Linux a read-write handle sleeps on a shared futex and is woken
    /// by the writer; a read-only handle (which cannot register as a
    /// waiter) and other systems poll, with 0.1 to 1 ms between looks.
    ///
    /// ```no_run
    /// # use shm_runtime::{Options, SharedLayout};
    /// # use std::time::Duration;
    /// # #[derive(SharedLayout)] #[repr(C)] struct Counter { n: u64 }
    /// let seg = Options::posix("MyCounter").claim_writer(false).open::<Counter>()?;
    /// let (mut value, mut version) = seg.read_with_version()?;
    /// while let Some(_) = seg.wait_for_change(version, Duration::from_secs(1)) {
    ///     (value, version) = seg.read_with_version()?;
    ///     println!("n = {}", value.n);
    /// }
    /// # Ok::<(), shm_runtime::Error>(())
    /// ```
    pub fn wait_for_change(&self, since: u64, timeout: Duration) -> Option<u64> {
        notify::wait(
            &notify::Words {
                seq: word64(&*self.backing, off::SEQ),
                notify: word32(&*self.backing, off::NOTIFY),
                waiters: word32(&*self.backing, off::WAITERS),
                writable: !A::READ_ONLY,
            },
            since,
            timeout,
        )
    }

    /// Typed accessors to the live fields, each read with one atomic load
    /// (for a consistent view of several fields, use [`Shared::read`]).
    /// They read the primary copy, so while a write is in progress (or
    /// after a writer died in one, until a new writer takes over) a field
    /// may hold the new value or a partly written one.
    pub fn fields(&self) -> T::Fields<'_, ReadOnly> {
        // SAFETY: the payload starts at a multiple of 64 (`validate`) of a
        // page-aligned mapping; said so that a field's place in its word is
        // a constant and a get is one load.
        unsafe { std::hint::assert_unchecked(self.payload.as_ptr().addr().is_multiple_of(8)) };
        // SAFETY: the payload is a `T` inside the mapping, aligned (checked
        // at open), mapped while `self` lives, and only accessed atomically.
        T::Fields::from(unsafe { Field::from_raw(self.payload) })
    }

    /// The operating-system status and the header facts.
    pub fn status(&self) -> Result<Status> {
        segment_status(&*self.backing, &self.id, &self.display, &self.header)
    }

    /// Locks the segment's pages in RAM, so they are never swapped: `mlock`
    /// of this mapping (POSIX, file), `shmctl(SHM_LOCK)` of the whole
    /// segment for every process (System V on Linux), `VirtualLock`
    /// (Win32). Without the privilege or the memlock limit it fails with
    /// [`Error::PermissionDenied`].
    pub fn lock_in_ram(&self) -> Result<()> {
        self.backing.lock_in_ram(true)
    }

    /// Undoes [`Shared::lock_in_ram`].
    pub fn unlock_in_ram(&self) -> Result<()> {
        self.backing.lock_in_ram(false)
    }

    /// Writes dirty pages back to the backing file (`msync`); a no-op for
    /// memory-only backends.
    pub fn flush(&self) -> Result<()> {
        self.backing.flush()
    }

    /// Checks that the object is still as large as its header says: another
    /// process may have truncated it.
    ///
    /// Any process allowed to write a POSIX or file segment can `ftruncate`
    /// it while others have it mapped. The kernel keeps the mapping, but a
    /// process that then touches a page past the new end gets SIGBUS, which
    /// ends it (a signal, not an error this crate could return). Call this
    /// before reading after anything that might have happened (it is one
    /// `fstat`), and prefer a backend that cannot shrink: System V and
    /// Win32 segments have a fixed size, and [`Options::sealed_memfd`] is
    /// sealed against resizing ([`Shared::is_size_sealed`]). A check can
    /// only narrow the window, not close it: the object can shrink right
    /// after it.
    pub fn check_size(&self) -> Result<()> {
        let actual = self.backing.current_size()?;
        if actual < self.header.segment_size {
            return Err(Error::TooSmall {
                name: self.display.clone(),
                needed: self.header.segment_size,
                actual,
                what: "the segment size recorded in its header (the object was truncated)",
            });
        }
        Ok(())
    }

    /// Whether the object is sealed against changing size (a sealed memfd:
    /// [`Options::sealed_memfd`], also when opened by its path), so that no
    /// process can truncate it under this mapping.
    pub fn is_size_sealed(&self) -> bool {
        self.backing.sealed_size()
    }

    /// A path other processes of this user can open the segment by with
    /// [`Options::file`], for a segment without a name: a sealed memfd's
    /// `/proc/<pid>/fd/<n>` (valid while this handle lives). `None` for
    /// named segments.
    pub fn share_path(&self) -> Option<std::path::PathBuf> {
        self.backing.share_path()
    }

    /// Removes the segment's name (see [`Options::remove`]); this handle
    /// stays usable until dropped.
    pub fn unlink(&self) -> Result<()> {
        Options::new(self.id.clone()).remove()
    }
}

impl<T: SharedLayout, A: Access> Shared<T, A> {
    /// [`Shared::claim_writer`] (`open_impl` is generic over the access).
    fn claim(&self, wait: Duration) -> Result<Option<TakeOver>> {
        let _lock = self
            .writer
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.writer.held.load(Ordering::Relaxed) {
            return Ok(*self.take_over_slot());
        }
        let (claimed, repair) = claim_and_repair(
            &*self.backing,
            &self.header,
            &self.display,
            wait,
            size_of::<T>() as u64,
        )?;
        if repair != protocol::Repair::Clean {
            self.wake();
        }
        let take_over = match (claimed, repair) {
            (writer::Claimed::Free, protocol::Repair::Clean) => None,
            (claimed, repair) => Some(TakeOver {
                previous_pid: match claimed {
                    writer::Claimed::FromDead(pid) => Some(pid),
                    writer::Claimed::Free => None,
                },
                last_write_complete: repair != protocol::Repair::RestoredPrimary,
                version: self.version(),
            }),
        };
        *self.take_over_slot() = take_over;
        self.writer.held.store(true, Ordering::Relaxed);
        Ok(take_over)
    }

    fn take_over_slot(&self) -> std::sync::MutexGuard<'_, Option<TakeOver>> {
        self.writer
            .take_over
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// After a write: wakes processes waiting for a change, if any.
    fn wake(&self) {
        wake(&*self.backing);
    }
}

/// A private copy of a `T`, aligned to 8 and a whole number of 8-byte
/// words long, so that [`Field`]s (which access whole aligned words) can
/// work on it.
#[repr(C, align(8))]
struct WordAligned<T>(std::mem::MaybeUninit<T>);

impl<T: SharedLayout> Shared<T, ReadWrite> {
    /// Claims write access: records this process as the segment's one
    /// writer, waiting at most `wait` for a live writer to release it
    /// ([`Error::WriterBusy`] then).
    ///
    /// A writer that died (killed at any instant, even in the middle of a
    /// write) is taken over at once: the payload is repaired and the
    /// returned [`TakeOver`] says whether its last write completed (if
    /// not, that write is lost and the segment holds the value before it).
    /// `Ok(None)`: write access was free and nothing needed repair. If this
    /// handle holds write access already, returns what its claim found.
    /// [`Options::open`] claims by default; see [`crate::writer`] for how
    /// death is detected and the limits.
    pub fn claim_writer(&self, wait: Duration) -> Result<Option<TakeOver>> {
        self.claim(wait)
    }

    /// Gives up write access (also done on drop); another process may then
    /// claim it. Does nothing if this handle does not hold it.
    pub fn release_writer(&self) {
        let _lock = self
            .writer
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.writer.held.swap(false, Ordering::Relaxed) {
            writer::release(word64(&*self.backing, off::WRITER));
        }
    }

    /// Whether this handle holds write access.
    pub fn is_writer(&self) -> bool {
        self.writer.held.load(Ordering::Relaxed)
    }

    /// What the claim that gave this handle write access found: `Some` if
    /// it took over from a dead writer or repaired an unfinished write.
    pub fn take_over(&self) -> Option<TakeOver> {
        *self.take_over_slot()
    }

    /// Takes this handle's write lock, if it holds write access.
    fn write_access(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        let lock = self
            .writer
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !self.writer.held.load(Ordering::Relaxed) {
            return Err(Error::NotWriter {
                name: self.display.clone(),
            });
        }
        Ok(lock)
    }

    /// Replaces the whole value, atomically for snapshot readers.
    pub fn write(&self, value: &T) -> Result<()> {
        let _lock = self.write_access()?;
        // SAFETY: this handle holds write access and its lock; `value` is a
        // private `T` of the payload's length.
        unsafe { protocol::write(&self.buffers, (value as *const T).cast()) };
        self.wake();
        Ok(())
    }

    /// Changes fields through the typed accessors, as one write: snapshot
    /// readers see all of the changes or none (if `f` panics, none: nothing
    /// is written). `f` works on a private copy of the current value, which
    /// is then written whole (so the field accessors, and the `atomic()` of
    /// atomic fields, never touch shared memory). Writes through one handle
    /// are serialised by a lock, so `f` must not call this handle's `write`,
    /// `update` or `modify` (that would wait for itself forever).
    pub fn update<R>(&self, f: impl FnOnce(T::Fields<'_, ReadWrite>) -> R) -> Result<R> {
        let _lock = self.write_access()?;
        // A setter of a field in the last word loads and stores all of it,
        // bytes after the `T` included: so `at` has the provenance of the
        // whole `WordAligned`, and all of it is zeroed in place (`zeroed()`
        // would return it by value, which need not keep those bytes).
        let mut copy = std::mem::MaybeUninit::<WordAligned<T>>::uninit();
        // SAFETY: writes zero bytes over `copy`, which is private.
        unsafe { copy.as_mut_ptr().write_bytes(0, 1) };
        let at = copy.as_mut_ptr().cast::<T>();
        // SAFETY: we hold write access, so the primary is complete and
        // nobody else changes it; `copy` is private and `size_of::<T>()`
        // bytes long.
        unsafe { self.buffers.copy_out(Buf::Primary, at.cast()) };
        // SAFETY: `copy` is private, initialised (just copied), aligned to
        // 8 and a whole number of words (`WordAligned`), lives until the
        // fields are gone (they do not escape `f`), and is only accessed
        // through them.
        let fields = T::Fields::from(unsafe { Field::from_raw(NonNull::new_unchecked(at)) });
        let r = f(fields);
        // SAFETY: this handle holds write access and its lock; `copy` holds
        // a whole `T`.
        unsafe { protocol::write(&self.buffers, at.cast_const().cast()) };
        self.wake();
        Ok(r)
    }

    /// Reads the value, lets `f` change the copy, and writes it back as one
    /// write.
    pub fn modify<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R> {
        let _lock = self.write_access()?;
        let mut v = std::mem::MaybeUninit::<T>::uninit();
        // SAFETY: we hold write access, so nobody else changes the payload
        // and the primary is complete (repaired when access was claimed);
        // atomic loads of `size_of::<T>()` mapped bytes into `v`.
        let mut v = unsafe {
            self.buffers.copy_out(Buf::Primary, v.as_mut_ptr().cast());
            v.assume_init()
        };
        let r = f(&mut v);
        // SAFETY: as in `write`.
        unsafe { protocol::write(&self.buffers, (&v as *const T).cast()) };
        self.wake();
        Ok(r)
    }
}
