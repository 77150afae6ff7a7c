//! A mapped segment and everything done to it below the typed API: its
//! live header words, the reader openers validate through, the consistent
//! copy of header and descriptor, the payload copies and the snapshot
//! retry loop, claiming write access with the repair after a dead writer,
//! status, and waking waiters. [`crate::Shared`] and [`crate::RawSegment`]
//! are built on it.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::backend::{Backing, WriterLock};
use crate::doorbell;
use crate::error::{Error, Result};
use crate::header::{self, HEADER_SIZE, Header, off};
use crate::name::SegmentId;
use crate::notify;
use crate::process;
use crate::protocol::{self, Mapped, Repair};
use crate::status::{HeaderStatus, Status};
use crate::validate::{self, ReadAt};
use crate::words;
use crate::writer;

/// A mapped segment: the backing and the name errors give it.
pub(crate) struct Mapping {
    backing: Box<dyn Backing>,
    /// `backing.base()`, kept: the header words are reached without a
    /// virtual call (a write's wake-up reads two of them).
    base: NonNull<u8>,
    /// e.g. `posix:/MyShare`: used in every error.
    display: String,
    id: SegmentId,
    /// The writer lock while this mapping's handle holds write access (or a
    /// forked child's copy of its parent's: see `backend/lock.rs`).
    lock: std::sync::Mutex<Option<WriterLock>>,
    /// This mapping's handle holds write access (counted by `writer`).
    claimed: std::sync::atomic::AtomicBool,
    /// The doorbell read-only waiters count themselves in (see
    /// [`crate::doorbell`]).
    doorbell: doorbell::Slot,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl Mapping {
    pub(crate) fn new(backing: Box<dyn Backing>, display: String, id: SegmentId) -> Mapping {
        Mapping {
            base: backing.base(),
            backing,
            display,
            id,
            lock: std::sync::Mutex::new(None),
            claimed: std::sync::atomic::AtomicBool::new(false),
            doorbell: doorbell::Slot::default(),
        }
    }

    /// The display name, e.g. `posix:/MyShare`.
    pub(crate) fn display(&self) -> &str {
        &self.display
    }

    /// The segment's identity.
    pub(crate) fn id(&self) -> &SegmentId {
        &self.id
    }

    /// The mapping's length (the object's size when it was mapped).
    pub(crate) fn len(&self) -> usize {
        self.backing.len()
    }

    /// The backend, for what only it knows (status, locking, sizes).
    pub(crate) fn backing(&self) -> &dyn Backing {
        &*self.backing
    }

    /// The 8-byte header word at `at` (a multiple of 8 below
    /// [`HEADER_SIZE`]).
    pub(crate) fn word64(&self, at: usize) -> &AtomicU64 {
        assert!(at.is_multiple_of(8) && at + 8 <= HEADER_SIZE);
        // SAFETY: every backing maps at least HEADER_SIZE bytes, page-aligned
        // (`Backing`'s contract), so the word is in bounds and aligned;
        // header words are only ever accessed as whole atomic words.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(at).cast()) }
    }

    /// The 4-byte header word at 248 (`waiters`) or 252 (`notify`): the
    /// only header bytes accessed as 4-byte atomics (see [`crate::notify`]);
    /// header copies skip them ([`validate::read_header_bytes`]).
    #[inline]
    pub(crate) fn word32(&self, at: usize) -> &AtomicU32 {
        assert!(at == off::WAITERS || at == off::NOTIFY);
        // SAFETY: inside the header of every mapping, 4-aligned in a
        // page-aligned mapping, and only ever accessed as a 4-byte atomic.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(at).cast()) }
    }

    /// The claim word (see [`crate::writer`]).
    pub(crate) fn writer_word(&self) -> &AtomicU64 {
        self.word64(off::WRITER)
    }

    /// The primary copy's sequence counter.
    pub(crate) fn seq(&self) -> &AtomicU64 {
        self.word64(off::SEQ)
    }

    /// The backup copy's sequence counter.
    pub(crate) fn backup_seq(&self) -> &AtomicU64 {
        self.word64(off::BACKUP_SEQ)
    }

    /// The number of writes completed so far: the larger counter, halved.
    pub(crate) fn version(&self) -> u64 {
        protocol::version_of_pair(
            self.seq().load(Ordering::Acquire),
            self.backup_seq().load(Ordering::Acquire),
        )
    }

    /// The header's `state` (offset 12), loaded with acquire as part of
    /// the 8-byte word at 8.
    pub(crate) fn state(&self) -> u32 {
        words::half_of(
            self.word64(off::STATE & !7).load(Ordering::Acquire),
            off::STATE,
        )
    }

    /// A reader (see [`crate::validate`]) over the live mapping: atomic
    /// word loads into private memory.
    pub(crate) fn reader(&self) -> impl FnMut(usize, &mut [u8]) -> bool + '_ {
        let base = self.backing.base().as_ptr();
        let len = self.backing.len();
        move |at, dst| {
            if at.checked_add(dst.len()).is_none_or(|end| end > len) {
                return false;
            }
            // SAFETY: `at..at + dst.len()` lies inside the mapping (checked
            // just above), so the 8-byte words holding it lie inside the
            // mapping rounded up to a word, which `Backing` keeps valid;
            // the shared bytes are read with atomic word loads only, into
            // private memory.
            unsafe { words::load_bytes(base.add(at), dst.as_mut_ptr(), dst.len()) };
            true
        }
    }

    /// The header as it is now, validated against the mapping's length.
    pub(crate) fn header_now(&self) -> Result<Header> {
        validate::header(&self.display, self.len() as u64, &mut self.reader())
    }

    /// Waits while the creator is still writing the header (`state` 0), at
    /// most until `deadline` ([`Error::NotInitialized`] then). A foreign
    /// magic is reported at once. Any other `state` ends the wait: the
    /// validation then judges the header exactly as `validate_bytes` does.
    pub(crate) fn wait_ready(&self, deadline: Instant, waited: Duration) -> Result<()> {
        let start = Instant::now();
        let mut first = [0u8; 8];
        let _ = self.reader()(0, &mut first);
        // A foreign object is reported at once, not after the wait.
        if first != header::MAGIC && first != [0; 8] {
            return Err(Error::NotASegment {
                name: self.display.clone(),
                expected: header::MAGIC,
                found: first,
            });
        }
        while self.state() == header::STATE_INITIALIZING {
            if Instant::now() >= deadline {
                return Err(Error::NotInitialized {
                    name: self.display.clone(),
                    waited,
                });
            }
            process::pause(start);
        }
        Ok(())
    }

    /// Runs `check` over the live mapping until it ran on a consistent copy
    /// of the header and descriptor: the schema counter was the same before
    /// and after (see `upgrade.rs`). Retries while an upgrade is under way,
    /// until `deadline` (but at least a few times, so a zero timeout still
    /// sees a finished upgrade).
    pub(crate) fn consistent<R>(
        &self,
        deadline: Instant,
        check: &mut dyn FnMut(&mut ReadAt<'_>) -> Result<R>,
    ) -> Result<R> {
        let start = Instant::now();
        let counter = self.word64(off::SCHEMA_SEQ);
        let mut tries = 0u32;
        loop {
            let g1 = counter.load(Ordering::Acquire);
            let result = check(&mut self.reader());
            fence(Ordering::Acquire);
            if counter.load(Ordering::Relaxed) == g1 {
                return result;
            }
            tries += 1;
            if tries >= 3 && Instant::now() >= deadline {
                return Err(Error::Timeout {
                    name: self.display.clone(),
                    what: "a schema upgrade of the segment to finish",
                    waited: start.elapsed(),
                });
            }
            std::thread::yield_now();
        }
    }

    /// Waits for the header to be published, then copies it and the
    /// descriptor out consistently and validates the header against the
    /// object's real size (no schema: for tools).
    pub(crate) fn attach_header(
        &self,
        deadline: Instant,
        waited: Duration,
    ) -> Result<(Header, Vec<u8>)> {
        self.wait_ready(deadline, waited)?;
        let len = self.len() as u64;
        self.consistent(deadline, &mut |read| {
            validate::header_and_descriptor(&self.display, len, read)
        })
    }

    /// The two payload copies, `len` bytes each, of the segment whose
    /// validated header is `header`. Checked again here (cheaply) so that
    /// this is safe on its own: both copies and their whole last words lie
    /// inside the mapping, are 8-aligned and do not overlap.
    pub(crate) fn copies(&self, header: &Header, len: usize) -> Result<Mapped> {
        let words = len.next_multiple_of(8) as u64;
        let map_len = self.len() as u64;
        let (p, b) = (header.payload_offset, header.backup_offset);
        let fits =
            |at: u64| at.is_multiple_of(8) && at.checked_add(words).is_some_and(|e| e <= map_len);
        if !(fits(p) && fits(b) && (p + words <= b || b + words <= p)) {
            return Err(Error::Corrupt {
                name: self.display.clone(),
                what: format!(
                    "payload copies at {p} and {b} of {len} bytes do not fit the {map_len}-byte \
                     mapping"
                ),
            });
        }
        let base = self.backing.base().as_ptr();
        // SAFETY: the counters are 8-aligned header words; both copies, in
        // whole words, are inside the mapping, 8-aligned and disjoint
        // (checked above), valid while `self` lives (`Backing`), and every
        // access through `Mapped` is a whole atomic word.
        Ok(unsafe {
            Mapped::new(
                base.add(off::SEQ),
                base.add(off::BACKUP_SEQ),
                base.add(p as usize),
                base.add(b as usize),
                len,
            )
        })
    }

    /// The primary copy as a `T`, checked to lie inside the mapping and to
    /// be aligned for `T`.
    pub(crate) fn payload<T>(&self, header: &Header) -> Result<NonNull<T>> {
        let offset = usize::try_from(header.payload_offset)
            .ok()
            .filter(|o| {
                o.checked_add(size_of::<T>())
                    .is_some_and(|end| end <= self.len())
            })
            .ok_or_else(|| Error::TooSmall {
                name: self.display.clone(),
                needed: header.payload_offset.saturating_add(size_of::<T>() as u64),
                actual: self.len() as u64,
                what: "the payload",
            })?;
        // SAFETY: `offset + size_of::<T>() <= len` (checked just above), so
        // the result is inside the mapping.
        let p = unsafe { self.backing.base().byte_add(offset) }.cast::<T>();
        if !p.as_ptr().is_aligned() {
            return Err(Error::Corrupt {
                name: self.display.clone(),
                what: format!(
                    "payload at offset {offset} is not aligned to {}",
                    align_of::<T>()
                ),
            });
        }
        Ok(p)
    }

    /// The retry loop around [`protocol::try_read_with`], shared by
    /// `Shared::read`, `Shared::read_with` and `RawSegment::read_bytes`:
    /// runs `f` over the copy of `m` holding the latest complete value
    /// until a run saw one write, for at most `timeout`. Returns the last
    /// run's result and the counter value of the copy. Only a segment
    /// damaged by someone else (both copies marked as being written for the
    /// whole timeout) makes it fail: [`Error::WriterDied`] if the recorded
    /// writer is dead, else [`Error::Timeout`].
    ///
    /// `m` came from [`Mapping::copies`] of this mapping; `f` only loads
    /// from the copy it is given, with relaxed atomic loads.
    ///
    /// All of it is inlined into the caller but the cold end: so a private
    /// copy that `f` writes into never has its address passed to a call,
    /// and the compiler may build it straight where the caller wants it
    /// (`Shared::read` returning it by value costs no extra move).
    #[inline(always)]
    pub(crate) fn read_consistent<R>(
        &self,
        m: &Mapped,
        f: &mut impl FnMut(protocol::Replica) -> R,
        timeout: Duration,
    ) -> Result<(R, u64)> {
        // The clock is read only after a first attempt failed: it almost
        // always succeeds.
        let mut start = None;
        let mut spins = 0u32;
        loop {
            if let Some(got) = protocol::try_read_with(m, f) {
                return Ok(got);
            }
            let since = *start.get_or_insert_with(Instant::now);
            spins += 1;
            if spins < 100 {
                std::hint::spin_loop();
                continue;
            }
            if let Some(e) = self.read_failed(since, timeout) {
                return Err(e);
            }
            std::thread::yield_now();
        }
    }

    /// The cold end of [`Mapping::read_consistent`]: the error, once
    /// `timeout` has passed since `start`.
    #[inline(never)]
    #[cold]
    fn read_failed(&self, start: Instant, timeout: Duration) -> Option<Error> {
        if start.elapsed() <= timeout {
            return None;
        }
        let owner = self.writer_word().load(Ordering::Acquire);
        if owner != 0 && self.owner_dead(owner) {
            return Some(Error::WriterDied {
                name: self.display.clone(),
                pid: writer::pid_of(owner),
            });
        }
        Some(Error::Timeout {
            name: self.display.clone(),
            what: "a complete copy of the value (both copies stayed marked as being written, \
                   or were rewritten during every read)",
            waited: timeout,
        })
    }

    /// A snapshot of `m` into `dst` ([`Mapping::read_consistent`] with a
    /// copy of the whole value); returns the counter value of the copy.
    ///
    /// # Safety
    ///
    /// `m` came from [`Mapping::copies`] of this mapping and `dst` is valid
    /// for writes of `m.len()` bytes and private.
    #[inline(always)]
    pub(crate) unsafe fn read_snapshot(
        &self,
        m: &Mapped,
        dst: *mut u8,
        timeout: Duration,
    ) -> Result<u64> {
        let mut copy = |c| {
            // SAFETY: `dst` has `m.len()` private bytes (caller).
            unsafe { protocol::Buffers::copy_out(m, c, dst) }
        };
        Ok(self.read_consistent(m, &mut copy, timeout)?.1)
    }

    /// Claims write access (see [`crate::writer`]), then repairs what a
    /// writer that died left unfinished ([`protocol::recover`]) in the value
    /// the segment holds now: `header` is its validated header, possibly
    /// older (another upgrade may have finished since; with write access
    /// ours, none is under way), and the value is at least `min_len` bytes
    /// (the caller's type), within the capacity. Both copies marked as
    /// being written is [`Error::Corrupt`], and write access is given back.
    /// Waiters are woken if the repair changed anything.
    pub(crate) fn claim_and_repair(
        &self,
        header: &Header,
        wait: Duration,
        min_len: u64,
    ) -> Result<(writer::Claimed, Repair)> {
        let owner = self.writer_word();
        // A forked child's copy of its parent's lock is not its own: close
        // it (the parent's lock stays held while the parent keeps it).
        self.drop_inherited_lock();
        let (claimed, lock) = writer::claim(
            owner,
            self.word64(off::WRITER_SINCE),
            &self.display,
            wait,
            || match self.backing.writer_lock() {
                None => Ok(writer::Lock::None),
                // Refused: by a writer's lock, or by a read lock (anyone
                // who can read the object can take one; no writer does).
                Some(Ok(None)) => Ok(match self.backing.writer_lock_held() {
                    Some(true) => writer::Lock::Busy,
                    _ => writer::Lock::ReadLocked,
                }),
                Some(Ok(Some(lock))) => Ok(writer::Lock::Taken(lock)),
                Some(Err(e)) => Err(e),
            },
            WriterLock::release,
        )?;
        *self.lock_slot() = lock;
        self.claimed.store(true, Ordering::Relaxed);
        self.doorbell.attach_writer(&self.id, &*self.backing);
        let now = self
            .header_now()
            .map_or(header.payload_size, |h| h.payload_size);
        let len = now.max(min_len).min(header.capacity()) as usize;
        let whole = match self.copies(header, len) {
            Ok(m) => m,
            Err(e) => {
                self.release_writer();
                return Err(e);
            }
        };
        // SAFETY: write access is ours (just claimed).
        let repair = unsafe { protocol::recover(&whole) };
        if repair == Repair::BothTorn {
            self.release_writer();
            return Err(Error::Corrupt {
                name: self.display.clone(),
                what: "both copies of the payload are marked as being written (`seq` and \
                       `backup_seq` odd), which no writer leaves; write access was not taken \
                       (remove and re-create the segment)"
                    .into(),
            });
        }
        if repair != Repair::Clean {
            self.wake();
        }
        Ok((claimed, repair))
    }

    /// Gives up write access if this process holds it: the claim word back
    /// to 0, then the writer lock. (The caller knows this process claimed
    /// through this mapping; a forked child never calls it.)
    pub(crate) fn release_writer(&self) {
        writer::release(self.writer_word());
        if self.claimed.swap(false, Ordering::Relaxed) {
            writer::release_claim();
        }
        if let Some(lock) = self.lock_slot().take() {
            lock.release();
        }
    }

    /// Closes a forked child's copy of its parent's writer lock, if this
    /// mapping has one (it does not unlock it: the parent holds it).
    pub(crate) fn drop_inherited_lock(&self) {
        let mut slot = self.lock_slot();
        if slot.as_ref().is_some_and(|l| !l.ours()) {
            *slot = None;
        }
    }

    fn lock_slot(&self) -> std::sync::MutexGuard<'_, Option<WriterLock>> {
        self.lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the owner the claim word `word` names is certainly gone:
    /// for a segment with the writer lock, nobody holds the lock (a fact
    /// the kernel keeps, see `backend/lock.rs`) and the process checks
    /// agree (a writer that claimed while a read lock kept the lock from
    /// it holds none); otherwise judged from its process id and start
    /// token ([`writer::owner_dead`]).
    pub(crate) fn owner_dead(&self, word: u64) -> bool {
        match self.backing.writer_lock_held() {
            Some(true) => false,
            _ => writer::owner_dead(word),
        }
    }

    /// After a write (or a repair or upgrade, which count as writes): wakes
    /// the processes waiting for a change, if any.
    #[inline]
    pub(crate) fn wake(&self) {
        notify::wake(
            self.word32(off::NOTIFY),
            self.word32(off::WAITERS),
            self.doorbell.ro_waiters(),
        );
    }

    /// The words a wait for a change uses.
    pub(crate) fn notify_words(&self, writable: bool) -> notify::Words<'_> {
        notify::Words {
            seq: [self.seq(), self.backup_seq()],
            notify: self.word32(off::NOTIFY),
            waiters: self.word32(off::WAITERS),
            writable,
            ro_waiters: (!writable)
                .then(|| self.doorbell.waiter(&self.id, &*self.backing))
                .flatten(),
        }
    }

    /// The operating-system status and the facts of `h`, the validated
    /// header.
    pub(crate) fn status(&self, h: &Header) -> Result<Status> {
        let writer = self.writer_word().load(Ordering::Relaxed);
        let mut st = Status {
            name: self.display.clone(),
            backend: self.id.kind(),
            header: Some(HeaderStatus {
                schema_name: h.schema_name().unwrap_or_default().to_owned(),
                schema_version: h.schema_version,
                fingerprint: h.fingerprint,
                payload_offset: h.payload_offset,
                payload_size: h.payload_size,
                creator_pid: h.creator_pid,
                created: UNIX_EPOCH.checked_add(Duration::from_nanos(h.created_nanos)),
                seq: protocol::max_seq(
                    self.seq().load(Ordering::Relaxed),
                    self.backup_seq().load(Ordering::Relaxed),
                ),
                writer_pid: (writer != 0).then_some(writer::pid_of(writer)),
                writer_alive: writer != 0 && !self.owner_dead(writer),
            }),
            ..Status::default()
        };
        self.backing.os_status(&mut st)?;
        Ok(st)
    }
}
