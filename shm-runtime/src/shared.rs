//! [`Shared<T, A>`]: a typed segment holding one `T`, mapped in this
//! process: snapshots, field accessors, writes under write access, waiting
//! for changes.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::evolution::Compat;
use crate::field::{Access, Field, ReadOnly, ReadWrite, SharedLayout};
use crate::handle_lock::{HandleLock, WriteLock, this_thread};
use crate::header::{HEADER_SIZE, Header};
use crate::mapping::Mapping;
use crate::name::SegmentId;
use crate::notify;
use crate::process;
use crate::protocol::{self, Buffers, Mapped, Replica, version_of};
use crate::scratch;
use crate::status::Status;
use crate::writer::{self, TakeOver};

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
    map: Mapping,
    header: Header,
    compat: Compat,
    /// The two copies of the payload as `T`s (primary, backup), for the
    /// field accessors.
    copies: [NonNull<T>; 2],
    buffers: Mapped,
    read_timeout: Duration,
    writer: WriterState,
    _marker: PhantomData<(fn() -> T, A)>,
}

/// A read-write handle's side of write access.
///
/// Write access belongs to the process that claimed it: a child made by
/// `fork` inherits the handle, but not write access (its writes are
/// [`Error::NotWriter`], dropping the handle releases nothing, and it may
/// claim for itself). So the handle records *which process* holds write
/// access through it, and every write compares that with this process's
/// id ([`process::current_pid`]: one load, right after a fork).
#[derive(Default)]
struct WriterState {
    /// The process that holds write access through this handle (0: none).
    holder: AtomicU32,
    /// Serialises writes through this handle (threads of this process);
    /// knows the thread holding it, so that a call that would take it on
    /// that thread (inside `update`) is an error instead of a deadlock.
    lock: HandleLock,
    /// What the claim that gave this handle write access found.
    take_over: Mutex<Option<TakeOver>>,
}

impl WriterState {
    /// Whether this handle holds write access in this process.
    #[inline]
    fn held(&self) -> bool {
        let holder = self.holder.load(Ordering::Relaxed);
        holder != 0 && holder == process::current_pid()
    }
}

// SAFETY: every access to the mapping through `Shared` is atomic (the
// snapshot protocol, `Field`s, the header words), the backing is
// `Send + Sync`, and the raw pointers in `copies`/`buffers` point into
// that mapping, which lives as long as the handle.
unsafe impl<T: SharedLayout, A: Access> Send for Shared<T, A> {}
// SAFETY: as above; writes through one handle are serialised by its lock.
unsafe impl<T: SharedLayout, A: Access> Sync for Shared<T, A> {}

impl<T: SharedLayout, A: Access> std::fmt::Debug for Shared<T, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("segment", &self.map.display())
            .field("schema", &T::LAYOUT.name)
            .field("writer", &self.writer.held())
            .finish_non_exhaustive()
    }
}

impl<T: SharedLayout, A: Access> Drop for Shared<T, A> {
    fn drop(&mut self) {
        // Releasing stores to the header: not if someone truncated the
        // object under the mapping (touching it would be SIGBUS).
        if self.writer.held()
            && self
                .map
                .backing()
                .current_size()
                .is_ok_and(|size| size >= HEADER_SIZE as u64)
        {
            self.map.release_writer();
        }
    }
}

impl<T: SharedLayout, A: Access> Shared<T, A> {
    /// Wraps a mapping whose header was just written or validated.
    pub(crate) fn from_mapping(
        map: Mapping,
        header: Header,
        compat: Compat,
        read_timeout: Duration,
    ) -> Result<Shared<T, A>> {
        let payload = map.payload::<T>(&header)?;
        // `payload_ptr` checked the primary copy; `validate` placed the
        // backup after the capacity, which `T` fits in (an exact schema, a
        // prefix of the segment's, or the one an upgrade grew it to).
        if (size_of::<T>() as u64) > header.capacity() {
            return Err(Error::TooSmall {
                name: map.display().to_owned(),
                needed: size_of::<T>() as u64,
                actual: header.capacity(),
                what: "the payload's room",
            });
        }
        let buffers = map.copies(&header, size_of::<T>())?;
        // The backup as a `T`: inside the mapping (`copies` checked its
        // words), aligned like the primary (`validate`; checked again).
        let backup = NonNull::new(buffers.ptr(Replica::Backup).cast::<T>())
            .filter(|b| b.as_ptr().is_aligned())
            .ok_or_else(|| Error::Corrupt {
                name: map.display().to_owned(),
                what: format!(
                    "backup copy at offset {} is not aligned to {}",
                    header.backup_offset,
                    align_of::<T>()
                ),
            })?;
        Ok(Shared {
            map,
            header,
            compat,
            copies: [payload, backup],
            buffers,
            read_timeout,
            writer: WriterState::default(),
            _marker: PhantomData,
        })
    }

    /// The segment's display name, e.g. `posix:/MyShare`.
    pub fn name(&self) -> &str {
        self.map.display()
    }

    /// The segment's identity.
    pub fn id(&self) -> &SegmentId {
        self.map.id()
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
    ///
    /// The value is returned by value, so it passes through the caller's
    /// stack: for large schemas (more than a few hundred KiB, or less on a
    /// thread with a small stack) use [`Shared::read_boxed`], or
    /// [`Shared::read_into`] to refresh a value you keep. To read a few
    /// fields of a large value consistently, [`Shared::read_with`] costs
    /// only what it reads.
    ///
    /// A value of a type with invalid bit patterns (`bool`, enums, `char`,
    /// `FixedStr`) is checked on the private copy first: a bad one is
    /// [`Error::InvalidValue`], naming the field path and the raw value.
    #[inline(always)]
    pub fn read(&self) -> Result<T> {
        // Straight into the returned value, without a `(T, u64)` to move it
        // out of (which cost a store-forwarding stall).
        let mut out = std::mem::MaybeUninit::<T>::uninit();
        // SAFETY: `out` is private and `size_of::<T>()` bytes.
        unsafe { self.read_to(out.as_mut_ptr())? };
        // SAFETY: every byte of `out` was written; it is private.
        unsafe { crate::field::check_copy(self.name(), out.as_ptr())? };
        // SAFETY: every byte of `out` was written, and `T: ShmSafe` accepts
        // it: every bit pattern, or (`T::CHECKED`) it passed `T::check`.
        Ok(unsafe { out.assume_init() })
    }

    /// A consistent *projection*: runs `f` over the live fields of the copy
    /// holding the latest complete value, then checks that no write
    /// touched that copy meanwhile, and returns what `f` returned; else it
    /// runs `f` again. So the fields `f` reads all come from one complete
    /// write, as with [`Shared::read`], but only those are loaded (one
    /// atomic load each): the cost grows with what `f` reads, not with the
    /// size of the value. It never waits for a writer, and fails only on a
    /// segment damaged by someone else, after the read timeout.
    ///
    /// `f` may run more than once, and a run whose result is thrown away
    /// may have seen fields of different writes (say, two fields the
    /// writer always keeps equal, differing): it must not panic or loop
    /// on values it does not expect, and its side effects happen once per
    /// run. Nothing it sees is ever unsound: every load is an atomic load
    /// of a valid field. Keep `f` short: a run that outlasts a write period
    /// is retried.
    ///
    /// ```no_run
    /// # use shm_runtime::{Options, SharedLayout};
    /// # #[derive(SharedLayout)] #[repr(C)] struct Pose { x: f64, y: f64, samples: [f64; 4096] }
    /// let seg = Options::posix("Pose").claim_writer(false).open::<Pose>()?;
    /// // x and y from the same write, without copying the 32 KiB of samples.
    /// let (x, y) = seg.read_with(|p| (p.x().get(), p.y().get()))?;
    /// # let _ = (x, y);
    /// # Ok::<(), shm_runtime::Error>(())
    /// ```
    #[inline]
    pub fn read_with<R>(&self, mut f: impl FnMut(T::Fields<'_, ReadOnly>) -> R) -> Result<R> {
        let (r, _) = self.map.read_consistent(
            &self.buffers,
            &mut |c| f(self.fields_of(c)),
            self.read_timeout,
        )?;
        Ok(r)
    }

    /// The field accessors over copy `c` (they only load, atomically;
    /// whether what they load is consistent is for the caller to check).
    #[inline(always)]
    fn fields_of(&self, c: Replica) -> T::Fields<'_, ReadOnly> {
        let at = self.copies[c as usize];
        // SAFETY: both copies start at a multiple of 64 (`validate`) of a
        // page-aligned mapping; said so that a field's place in its word is
        // a constant and a get is one load.
        unsafe { std::hint::assert_unchecked(at.as_ptr().addr().is_multiple_of(8)) };
        // SAFETY: the copy is a `T` inside the mapping, aligned (checked
        // at open), mapped while `self` lives, and only accessed atomically.
        T::Fields::from(unsafe { Field::from_raw(at) })
    }

    /// [`Shared::read`], and the version of the value: the number of the
    /// write that produced it (see [`Shared::version`]).
    #[inline]
    pub fn read_with_version(&self) -> Result<(T, u64)> {
        let mut out = std::mem::MaybeUninit::<T>::uninit();
        // SAFETY: `out` is private and `size_of::<T>()` bytes.
        let version = unsafe { self.read_to(out.as_mut_ptr())? };
        // SAFETY: every byte of `out` was written; it is private.
        unsafe { crate::field::check_copy(self.name(), out.as_ptr())? };
        // SAFETY: every byte of `out` was written, and `T: ShmSafe` accepts
        // it: every bit pattern, or (`T::CHECKED`) it passed `T::check`.
        Ok((unsafe { out.assume_init() }, version))
    }

    /// [`Shared::read_with_version`] into `out`, without moving a `T`
    /// around (for large values); returns the version.
    /// A value that fails the check leaves `out` as it was.
    pub fn read_into(&self, out: &mut T) -> Result<u64> {
        if T::CHECKED {
            // Checked on a private copy first, so that `out` never holds
            // an invalid `T`.
            return scratch::with_buffer::<T, _>(|at| {
                // SAFETY: `at` is private and `size_of::<T>()` bytes.
                let version = unsafe { self.read_to(at.as_ptr())? };
                // SAFETY: `at` was written whole; it is private.
                unsafe { crate::field::check_copy(self.name(), at.as_ptr())? };
                // SAFETY: `at` holds a `T` that passed `T::check`, and does
                // not overlap `out`.
                unsafe { core::ptr::copy_nonoverlapping(at.as_ptr(), out, 1) };
                Ok(version)
            });
        }
        // SAFETY: `out` is exclusively ours; every bit pattern is a valid
        // `T` (`ShmSafe`, not `CHECKED`), so overwriting it byte by byte is
        // fine.
        unsafe { self.read_to(out) }
    }

    /// [`Shared::read`] into a new box, never through the stack: for
    /// values of any size, on any thread.
    pub fn read_boxed(&self) -> Result<Box<T>> {
        let mut out = Box::<T>::new_uninit();
        // SAFETY: `out` is private and `size_of::<T>()` bytes.
        unsafe { self.read_to(out.as_mut_ptr())? };
        // SAFETY: every byte of `out` was written; it is private.
        unsafe { crate::field::check_copy(self.name(), out.as_ptr())? };
        // SAFETY: every byte of `out` was written, and `T: ShmSafe` accepts
        // it: every bit pattern, or (`T::CHECKED`) it passed `T::check`.
        Ok(unsafe { out.assume_init() })
    }

    /// A snapshot into `out`; its version.
    ///
    /// # Safety
    ///
    /// `out` is valid for writes of `size_of::<T>()` bytes and private.
    #[inline(always)]
    unsafe fn read_to(&self, out: *mut T) -> Result<u64> {
        let mut copy = |c| {
            // SAFETY: `buffers` came from `copies` of this mapping and
            // covers `size_of::<T>()` bytes (whole words) of each copy,
            // 8-aligned (`from_mapping`); `out` is as large and private
            // (caller). The length is a constant here, so the copy unrolls.
            unsafe { crate::words::load_words(self.buffers.ptr(c), out.cast(), size_of::<T>()) }
        };
        let ((), s) = self
            .map
            .read_consistent(&self.buffers, &mut copy, self.read_timeout)?;
        Ok(version_of(s))
    }

    /// The number of writes completed so far (a take-over's repair counts
    /// as one). Cheap: one atomic load.
    pub fn version(&self) -> u64 {
        self.map.version()
    }

    /// Waits until the version is no longer `since` (a write completed
    /// after the one `since` names), at most `timeout`. Returns the new
    /// version, or `None` if nothing changed in time.
    ///
    /// On Linux it sleeps on a shared futex and is woken by the writer,
    /// and looks at the version again at least every 50 ms (read-only
    /// handles: 100 ms) whatever happens to the futex (any process that can
    /// map the segment can steal its wake-ups). A read-write handle counts
    /// itself as a waiter in the segment's header; a read-only one in the
    /// segment's doorbell, which its first wait looks for (see
    /// `docs/FORMAT.md`). A read-only handle without a doorbell (none made,
    /// one another user made, memfd and Win32 segments) and every handle on
    /// other systems poll, with 0.1 to 1 ms between looks.
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
        notify::wait(&self.map.notify_words(!A::READ_ONLY), since, timeout)
    }

    /// Typed accessors to the live fields, each read with one atomic load,
    /// unchecked (for a consistent view of several fields, use
    /// [`Shared::read_with`] or [`Shared::read`]).
    ///
    /// They read the copy that held the latest complete value when
    /// `fields` was called. Writes alternate between the two copies, so
    /// that copy keeps its value through the next write and is rewritten
    /// by the one after: call `fields` again for each look rather than
    /// keeping the accessors. While that copy is being rewritten, a field
    /// may hold the new value or a partly written one.
    pub fn fields(&self) -> T::Fields<'_, ReadOnly> {
        let c = protocol::latest(
            self.buffers.seq_load(Replica::Primary, Ordering::Acquire),
            self.buffers.seq_load(Replica::Backup, Ordering::Acquire),
        );
        self.fields_of(c)
    }

    /// The operating-system status and the header facts.
    pub fn status(&self) -> Result<Status> {
        self.map.status(&self.header)
    }

    /// Locks the segment's pages in RAM, so they are never swapped: `mlock`
    /// of this mapping (POSIX, file), `shmctl(SHM_LOCK)` of the whole
    /// segment for every process (System V on Linux), `VirtualLock`
    /// (Win32). Without the privilege or the memlock limit it fails with
    /// [`Error::PermissionDenied`].
    pub fn lock_in_ram(&self) -> Result<()> {
        self.map.backing().lock_in_ram(true)
    }

    /// Undoes [`Shared::lock_in_ram`].
    pub fn unlock_in_ram(&self) -> Result<()> {
        self.map.backing().lock_in_ram(false)
    }

    /// Writes dirty pages back to the backing file (`msync`); a no-op for
    /// memory-only backends.
    pub fn flush(&self) -> Result<()> {
        self.map.backing().flush()
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
    /// Win32 segments have a fixed size, and [`Options::sealed_memfd`](crate::Options::sealed_memfd) is
    /// sealed against resizing ([`Shared::is_size_sealed`]). A check can
    /// only narrow the window, not close it: the object can shrink right
    /// after it.
    pub fn check_size(&self) -> Result<()> {
        let actual = self.map.backing().current_size()?;
        if actual < self.header.segment_size {
            return Err(Error::TooSmall {
                name: self.map.display().to_owned(),
                needed: self.header.segment_size,
                actual,
                what: "the segment size recorded in its header (the object was truncated)",
            });
        }
        Ok(())
    }

    /// Whether the object is sealed against changing size (a sealed memfd:
    /// [`Options::sealed_memfd`](crate::Options::sealed_memfd), also when opened by its path), so that no
    /// process can truncate it under this mapping.
    pub fn is_size_sealed(&self) -> bool {
        self.map.backing().sealed_size()
    }

    /// A path other processes of this user can open the segment by with
    /// [`Options::file`](crate::Options::file), for a segment without a name: a sealed memfd's
    /// `/proc/<pid>/fd/<n>` (valid while this handle lives). `None` for
    /// named segments.
    pub fn share_path(&self) -> Option<std::path::PathBuf> {
        self.map.backing().share_path()
    }

    /// Removes the segment's name, if it still names the segment this
    /// handle has open; this handle stays usable until dropped.
    ///
    /// Unlike [`Options::remove`](crate::Options::remove) (which removes
    /// whatever has the name now), this never removes another segment
    /// created under the name since (say by a restarted program):
    /// then nothing is removed and the result is [`Error::Replaced`](crate::Error::Replaced).
    /// POSIX and file segments compare the device and inode of the name now
    /// (without following links) with the open object's, then unlink the
    /// name: a replacement made in the two system calls between is still
    /// removed (`shm_unlink`/`unlink` cannot name an inode). System V
    /// removes by the identifier this handle attached (`IPC_RMID`), which
    /// has no such window. A name that names nothing is
    /// [`Error::NotFound`](crate::Error::NotFound). A sealed memfd has no
    /// name: nothing to remove (`Ok`). A segment opened through a
    /// descriptor's link ([`Shared::share_path`]) is
    /// [`Error::Unsupported`](crate::Error::Unsupported): the link is not
    /// its name.
    pub fn remove(&self) -> Result<()> {
        self.map.backing().remove_own()?;
        // The read-only waiters' doorbell goes with its segment (Linux).
        crate::doorbell::remove(self.map.id());
        Ok(())
    }
}

impl<T: SharedLayout, A: Access> Shared<T, A> {
    /// [`Shared::claim_writer`] (opening is generic over the access).
    pub(crate) fn claim(&self, wait: Duration) -> Result<Option<TakeOver>> {
        let _lock = self.lock_writer("claim_writer")?;
        if self.writer.held() {
            return Ok(*self.take_over_slot());
        }
        let (claimed, repair) =
            self.map
                .claim_and_repair(&self.header, wait, size_of::<T>() as u64)?;
        let take_over = match (claimed, repair) {
            (writer::Claimed::Free, protocol::Repair::Clean) => None,
            (claimed, repair) => Some(TakeOver {
                previous_pid: match claimed {
                    writer::Claimed::FromDead(pid) => Some(pid),
                    writer::Claimed::Free => None,
                },
                last_write_complete: repair != protocol::Repair::RestoredTorn,
                version: self.version(),
            }),
        };
        *self.take_over_slot() = take_over;
        self.writer
            .holder
            .store(process::current_pid(), Ordering::Relaxed);
        Ok(take_over)
    }

    /// Takes this handle's write lock for `op`, or [`Error::Reentrant`] if
    /// this thread holds it already (a call inside `update` or `modify`).
    /// Uncontended: one thread-local read and one compare-exchange.
    #[inline]
    fn lock_writer(&self, op: &'static str) -> Result<WriteLock<'_>> {
        let me = this_thread();
        if let Err(now) = self.writer.lock.try_take(me) {
            self.lock_contended(op, me, now)?;
        }
        Ok(WriteLock(&self.writer.lock))
    }

    /// [`Shared::lock_writer`] when the lock was taken (by `now`): the
    /// errors, or waiting (spinning a little, then yielding) until it is
    /// free.
    #[cold]
    #[inline(never)]
    fn lock_contended(&self, op: &'static str, me: u64, now: u64) -> Result<()> {
        // Only this thread ever stores `me`, and it stores 0 before
        // anything else can: so reading `me` means this thread holds it.
        if now == me {
            return Err(Error::Reentrant {
                name: self.map.display().to_owned(),
                op,
            });
        }
        let holder = self.writer.holder.load(Ordering::Relaxed);
        if holder != 0 && holder != process::current_pid() {
            // A handle inherited across `fork`: if a thread of the parent
            // was inside `update` then, this copy of the lock stays taken
            // for ever. Not waiting for it: write access is the parent's.
            return Err(Error::WriterBusy {
                name: self.map.display().to_owned(),
                pid: holder,
                this_process: false,
                waited: Duration::ZERO,
            });
        }
        self.writer.lock.wait(me, now);
        Ok(())
    }

    fn take_over_slot(&self) -> std::sync::MutexGuard<'_, Option<TakeOver>> {
        self.writer
            .take_over
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// After a write: wakes processes waiting for a change, if any.
    fn wake(&self) {
        self.map.wake();
    }

    /// The mapping and the primary copy (for rings: `crate::ring`).
    pub(crate) fn parts(&self) -> (&Mapping, NonNull<T>) {
        (&self.map, self.copies[Replica::Primary as usize])
    }
}

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
    /// [`Options::open`](crate::Options::open) claims by default; see "Concurrency: guarantees and limits" in the README for how
    /// death is detected and the limits.
    ///
    /// Write access belongs to the process that claimed it. In a child
    /// made by `fork`, an inherited handle does not hold it: its writes are
    /// [`Error::NotWriter`] and dropping it releases nothing; the child may
    /// claim through it for itself ([`Error::WriterBusy`] while the parent
    /// holds write access).
    pub fn claim_writer(&self, wait: Duration) -> Result<Option<TakeOver>> {
        self.claim(wait)
    }

    /// Gives up write access (also done on drop); another process may then
    /// claim it. Does nothing if this handle does not hold it.
    /// [`Error::Reentrant`] inside this handle's `update` or `modify`.
    pub fn release_writer(&self) -> Result<()> {
        let holder = self.writer.holder.load(Ordering::Relaxed);
        if holder != 0 && holder != process::current_pid() {
            // Inherited across `fork` (see `lock_writer`): nothing to give
            // up but a copy of the parent's writer lock.
            self.map.drop_inherited_lock();
            return Ok(());
        }
        let _lock = self.lock_writer("release_writer")?;
        if self.writer.held() {
            self.writer.holder.store(0, Ordering::Relaxed);
            self.map.release_writer();
        } else {
            // A forked child's copy of its parent's lock, if any.
            self.map.drop_inherited_lock();
        }
        Ok(())
    }

    /// Whether this handle holds write access.
    pub fn is_writer(&self) -> bool {
        self.writer.held()
    }

    /// What the claim that gave this handle write access found: `Some` if
    /// it took over from a dead writer or repaired an unfinished write.
    pub fn take_over(&self) -> Option<TakeOver> {
        *self.take_over_slot()
    }

    /// One write of the private `T` at `src` (a constant length: the copy
    /// unrolls).
    ///
    /// # Safety
    ///
    /// This handle holds write access and its lock; `src` is a private,
    /// readable `T`.
    #[inline(always)]
    unsafe fn write_raw(&self, src: *const T) {
        // SAFETY: write access and the lock held (caller); the target
        // copy's `size_of::<T>()` bytes are whole words inside the mapping
        // (`from_mapping`), and `src` has as many.
        unsafe {
            protocol::write_with(&self.buffers, |target| {
                crate::words::store_words(self.buffers.ptr(target), src.cast(), size_of::<T>())
            })
        }
    }

    /// Copies the latest copy into the private `dst`.
    ///
    /// # Safety
    ///
    /// This handle holds write access (so the latest copy is complete and
    /// nobody else changes it); `dst` is private and writable for
    /// `size_of::<T>()` bytes.
    #[inline(always)]
    unsafe fn copy_latest_out(&self, dst: *mut T) {
        let c = protocol::latest_for_writer(&self.buffers);
        // SAFETY: the copy's `size_of::<T>()` bytes are whole words inside
        // the mapping (`from_mapping`); `dst` has room (caller).
        unsafe { crate::words::load_words(self.buffers.ptr(c), dst.cast(), size_of::<T>()) }
    }

    /// Runs `f` holding write access and this handle's write lock (a ring
    /// publish), then wakes waiters.
    #[inline]
    pub(crate) fn with_write_access<R>(
        &self,
        op: &'static str,
        f: impl FnOnce() -> R,
    ) -> Result<R> {
        let _lock = self.write_access(op)?;
        let r = f();
        self.wake();
        Ok(r)
    }

    /// Takes this handle's write lock for `op`, if it holds write access.
    #[inline]
    fn write_access(&self, op: &'static str) -> Result<WriteLock<'_>> {
        let not_writer = || Error::NotWriter {
            name: self.map.display().to_owned(),
        };
        // `WriterState::held`, with this process's id looked up once.
        let pid = process::current_pid();
        let held = || {
            let holder = self.writer.holder.load(Ordering::Relaxed);
            holder != 0 && holder == pid
        };
        // First without the lock: in a child made by `fork` while another
        // thread of the parent was writing, the child's copy of the lock
        // stays locked for ever; the child is not the writer anyway.
        if !held() {
            return Err(not_writer());
        }
        let lock = self.lock_writer(op)?;
        if !held() {
            return Err(not_writer());
        }
        Ok(lock)
    }

    /// Replaces the whole value, atomically for snapshot readers.
    pub fn write(&self, value: &T) -> Result<()> {
        let _lock = self.write_access("write")?;
        // SAFETY: this handle holds write access and its lock; `value` is a
        // private `T`.
        unsafe { self.write_raw(value) };
        self.wake();
        Ok(())
    }

    /// Changes fields through the typed accessors, as one write: snapshot
    /// readers see all of the changes or none (if `f` panics, none: nothing
    /// is written). `f` works on a private copy of the current value, which
    /// is then written whole (so the field accessors, and the operations of
    /// atomic fields, never touch shared memory). The accessors stay on
    /// this thread (they are neither `Send` nor `Sync`).
    ///
    /// Writes through one handle are serialised by a lock that `update`
    /// holds until it returns: inside `f`, this handle's `write`, `update`,
    /// `modify`, `claim_writer` and `release_writer` fail with
    /// [`Error::Reentrant`] (they would otherwise wait for themselves).
    ///
    /// The copy is on the stack for values up to 16 KiB, on the heap (one
    /// allocation per call) above, so any size works on any thread.
    ///
    /// If the current value holds an invalid value of a checked type
    /// (`bool`, enum, `char`, `FixedStr`), the result is
    /// [`Error::InvalidValue`] and `f` does not run (replace the value with
    /// [`Shared::write`]).
    pub fn update<R>(&self, f: impl FnOnce(T::Fields<'_, ReadWrite>) -> R) -> Result<R> {
        let _lock = self.write_access("update")?;
        scratch::with_buffer::<T, Result<R>>(|at| {
            // SAFETY: we hold write access; `at` is private and
            // `size_of::<T>()` bytes long.
            unsafe { self.copy_latest_out(at.as_ptr()) };
            // SAFETY: `at` was written whole; it is private.
            unsafe { crate::field::check_copy(self.name(), at.as_ptr())? };
            // SAFETY: `at` is private, initialised (zeroed, then copied),
            // aligned to 8 and a whole number of words (`with_buffer`),
            // lives until the fields are gone (they do not escape `f`: their
            // lifetime is the closure's, and they are not `Send`), and is
            // only accessed through them.
            let fields = T::Fields::from(unsafe { Field::from_raw(at) });
            let r = f(fields);
            // SAFETY: this handle holds write access and its lock; `at`
            // holds a whole `T`.
            unsafe { self.write_raw(at.as_ptr()) };
            self.wake();
            Ok(r)
        })
    }

    /// `test_util::begin_torn_write`: a write of `next`, stopped after its
    /// first `len` bytes (its target copy's counter left odd).
    #[cfg(feature = "test-util")]
    pub(crate) fn begin_torn_write(&self, next: &T, len: usize) -> Result<()> {
        let _lock = self.write_access("write")?;
        let (target, _) = protocol::begin(&self.buffers);
        // SAFETY: this handle holds write access and its lock, and the
        // target's counter is now odd; at most `size_of::<T>()` bytes of
        // the private `next` are stored into the target copy, whose words
        // are inside the mapping (`from_mapping`).
        unsafe {
            crate::words::store_words(
                self.buffers.ptr(target),
                (next as *const T).cast(),
                len.min(size_of::<T>()),
            )
        };
        Ok(())
    }

    /// Reads the value, lets `f` change the copy, and writes it back as one
    /// write. Like [`Shared::update`], the copy is on the heap for values
    /// over 16 KiB, and this handle's write methods fail with
    /// [`Error::Reentrant`] inside `f`. A current value that fails its
    /// check is [`Error::InvalidValue`], and `f` does not run.
    pub fn modify<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R> {
        let _lock = self.write_access("modify")?;
        scratch::with_buffer::<T, Result<R>>(|at| {
            // SAFETY: we hold write access, so nobody else changes the
            // payload and the latest copy is complete; atomic loads of
            // `size_of::<T>()` mapped bytes into the private buffer `at`,
            // aligned for `T`.
            unsafe { self.copy_latest_out(at.as_ptr()) };
            // SAFETY: `at` was written whole; it is private.
            unsafe { crate::field::check_copy(self.name(), at.as_ptr())? };
            // SAFETY: `at` holds a valid `T` (every bit pattern, or it
            // passed `T::check`), and nothing else refers to it.
            let r = f(unsafe { &mut *at.as_ptr() });
            // SAFETY: as in `write`; `at` holds a whole `T`.
            unsafe { self.write_raw(at.as_ptr()) };
            self.wake();
            Ok(r)
        })
    }
}
