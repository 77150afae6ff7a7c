//! Message queues: [`Queue<M, N>`], a schema field type for a lossless
//! stream with one consumer.
//!
//! # Layout (in the stream area, like a ring: see `crate::ring`)
//!
//! ```text
//! +0    tail: u64, messages sent (only the producer, the writer, stores it)
//! +64   head: u64, messages taken (only the consumer stores it)
//! +72   consumer: u64, the consumer's claim word (pid | start token << 32; 0: none)
//! +128  slot × N: the message in whole 8-byte words
//! ```
//!
//! # Protocol
//!
//! Message `i` goes to slot `i % N`. The producer stores message `tail`
//! only while `tail - head < N` (else the queue is full), then stores
//! `tail + 1` with release; the consumer copies message `head` only while
//! `head < tail` (loaded with acquire), then stores `head + 1` with
//! release. The producer loads `head` with acquire before it reuses a
//! slot, so a slot is never written while it is read: the consumer's loads
//! of message `i` happen before its store of `head = i + 1`, which happens
//! before the producer's stores of message `i + N`. (Every access is a whole
//! atomic word anyway, so a process that breaks the protocol can garble
//! messages, not cause undefined behaviour.)
//!
//! # Delivery across crashes
//!
//! - A producer killed in the middle of a send leaves `tail` as it was:
//!   the half-written message is invisible, and the next writer's first
//!   send rewrites the slot.
//! - One consumer at a time claims the queue (the claim word, taken over
//!   from a dead consumer like write access). The consumer's position is
//!   `head`, in the segment, so the next consumer goes on where the last
//!   one stopped.
//! - [`Consumer::try_recv`] acknowledges (stores `head + 1`) before it
//!   returns: *at most once*. A consumer killed inside it, after the
//!   acknowledgement, loses that message; one killed before it leaves the
//!   message to the next consumer.
//! - [`Consumer::peek`] returns the next message without acknowledging it,
//!   [`Consumer::ack`] acknowledges it: *at least once*. A consumer killed
//!   between the two leaves the message to the next consumer, which
//!   receives it again (at most one message is received twice per
//!   consumer crash, the one being handled).
//! - *Exactly once* needs the consumer's help: every message has a number
//!   ([`Consumer::position`] before it is received); a consumer that
//!   records the number of the last message it handled together with the
//!   effect of handling it (in one write of its own state) can skip a
//!   redelivered one. Nothing is ever lost or duplicated by the queue
//!   itself while consumers do not die.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicU64, Ordering};
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::field::{Field, ReadOnly, ReadWrite, SharedLayout, ShmSafe, check_copy};
use crate::layout::TypeDesc;
use crate::notify;
use crate::shared::Shared;
use crate::streams::{QUEUE_HEADER, queue_region_size};
use crate::writer;

/// A lossless queue of up to `N` messages of type `M` in a schema, sent by
/// the holder of write access ([`Producer`]) and taken by one
/// [`Consumer`] at a time. `N` is a power of two from 1 to 2^24 (checked
/// at compile time). In the payload, the field is an 8-byte placeholder;
/// the queue lives in the segment's stream area.
#[repr(C, align(8))]
pub struct Queue<M, const N: usize> {
    placeholder: u64,
    _message: PhantomData<fn() -> M>,
}

impl<M, const N: usize> Queue<M, N> {
    /// The placeholder (for a value of the schema struct written whole:
    /// the field's value means nothing, the queue is elsewhere).
    pub const fn new() -> Self {
        Queue {
            placeholder: 0,
            _message: PhantomData,
        }
    }
}

impl<M, const N: usize> Default for Queue<M, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M, const N: usize> Clone for Queue<M, N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M, const N: usize> Copy for Queue<M, N> {}

impl<M, const N: usize> core::fmt::Debug for Queue<M, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Queue<{}, {N}>", core::any::type_name::<M>())
    }
}

// SAFETY: as for `Ring`: one `u64`, aligned to 8 on every target, every
// bit pattern valid, no pointers; `TYPE` describes exactly that.
unsafe impl<M: ShmSafe, const N: usize> ShmSafe for Queue<M, N> {
    const TYPE: TypeDesc = TypeDesc::Queue {
        elem: &M::TYPE,
        cap: N,
    };
}

/// A queue in a mapping.
struct Region {
    base: *mut u8,
    cap: u64,
    size: usize,
}

// SAFETY: a pointer into a mapping its owner keeps alive; every access is
// a whole-word atomic.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    fn word(&self, at: usize) -> &AtomicU64 {
        // SAFETY: `at` is a header word of the region, which is mapped,
        // 8-aligned and only accessed atomically (`queue_region`).
        unsafe { AtomicU64::from_ptr(self.base.add(at).cast()) }
    }
    fn claim(&self) -> &AtomicU64 {
        self.word(72)
    }
    fn slot(&self, i: u64) -> *mut u8 {
        let k = (i & (self.cap - 1)) as usize;
        // SAFETY: slot `k < cap` is inside the region (`queue_region`).
        unsafe {
            self.base
                .add(QUEUE_HEADER + k * self.size.next_multiple_of(8))
        }
    }
}

impl QueueMem for Region {
    fn cap(&self) -> u64 {
        self.cap
    }
    fn tail(&self, order: Ordering) -> u64 {
        self.word(0).load(order)
    }
    fn set_tail(&self, v: u64, order: Ordering) {
        self.word(0).store(v, order)
    }
    fn head(&self, order: Ordering) -> u64 {
        self.word(64).load(order)
    }
    fn set_head(&self, v: u64, order: Ordering) {
        self.word(64).store(v, order)
    }
    fn fence(order: Ordering) {
        core::sync::atomic::fence(order)
    }
    unsafe fn load_msg(&self, i: u64, dst: *mut u8) {
        // SAFETY: the slot is inside the region, 8-aligned and atomically
        // accessed; `dst` has room (caller).
        unsafe { crate::words::load_words(self.slot(i), dst, self.size) }
    }
    unsafe fn store_msg(&self, i: u64, src: *const u8) {
        // SAFETY: as in `load_msg`; the caller is the one producer.
        unsafe { crate::words::store_words(self.slot(i), src, self.size) }
    }
}

/// The shared words of one queue, as the algorithms see them: a mapping's
/// (`Region`) or a loom model's.
pub(crate) trait QueueMem {
    /// The number of slots, a power of two.
    fn cap(&self) -> u64;
    /// Loads `tail`.
    fn tail(&self, order: Ordering) -> u64;
    /// Stores `tail` (the producer only).
    fn set_tail(&self, v: u64, order: Ordering);
    /// Loads `head`.
    fn head(&self, order: Ordering) -> u64;
    /// Stores `head` (the consumer only).
    fn set_head(&self, v: u64, order: Ordering);
    /// A fence of the kind the atomics obey.
    fn fence(order: Ordering);
    /// Copies message `i`'s slot into `dst` with relaxed whole-word loads.
    ///
    /// # Safety
    ///
    /// `dst` is private and has room for a message.
    unsafe fn load_msg(&self, i: u64, dst: *mut u8);
    /// Stores the private message at `src` into message `i`'s slot.
    ///
    /// # Safety
    ///
    /// `src` holds a message; the caller is the one producer and the
    /// consumer has taken the message the slot held.
    unsafe fn store_msg(&self, i: u64, src: *const u8);
}

/// `(head, tail)` checked: `head <= tail <= head + cap`.
fn counts<Q: QueueMem>(
    q: &Q,
    head: Ordering,
    tail: Ordering,
) -> core::result::Result<(u64, u64), String> {
    let (h, t) = (q.head(head), q.tail(tail));
    if h > t || t - h > q.cap() {
        return Err(format!(
            "queue counts taken {h} and sent {t} are not within its capacity {}",
            q.cap()
        ));
    }
    Ok((h, t))
}

/// Why a send did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotSent {
    /// No free slot.
    Full,
    /// The counters cannot be right.
    Bad(String),
}

/// Sends the message at `src`; returns its number.
///
/// # Safety
///
/// The caller is the one producer; `src` holds a message.
pub(crate) unsafe fn send<Q: QueueMem>(
    q: &Q,
    src: *const u8,
) -> core::result::Result<u64, NotSent> {
    let (h, t) = counts(q, Ordering::Acquire, Ordering::Relaxed).map_err(NotSent::Bad)?;
    if t - h == q.cap() {
        return Err(NotSent::Full);
    }
    let next = t
        .checked_add(1)
        .ok_or_else(|| NotSent::Bad(format!("queue sent count {t} is at the end of its range")))?;
    // For readers that do not take (`shm watch`): one that copied any word
    // of this message, then fences with acquire, sees `head > t - cap`
    // (the consumer's store of it happens before this fence), so it can
    // tell that message `t - cap` was taken before it finished the copy.
    Q::fence(Ordering::Release);
    // SAFETY: the consumer has taken the message the slot held (`t - h <
    // cap`, `head` loaded with acquire); the caller's contract.
    unsafe { q.store_msg(t, src) };
    q.set_tail(next, Ordering::Release);
    Ok(t)
}

/// Copies the next message into `dst` without taking it; returns its
/// number, or `None` if the queue is empty.
///
/// # Safety
///
/// `dst` is private and has room for a message.
pub(crate) unsafe fn peek<Q: QueueMem>(
    q: &Q,
    dst: *mut u8,
) -> core::result::Result<Option<u64>, String> {
    let (h, t) = counts(q, Ordering::Acquire, Ordering::Acquire)?;
    if h == t {
        return Ok(None);
    }
    // SAFETY: message `h < t` is complete (`tail` loaded with acquire);
    // the caller's contract.
    unsafe { q.load_msg(h, dst) };
    Ok(Some(h))
}

/// Takes the next message (after [`peek`]); `false` if the queue was empty.
pub(crate) fn take<Q: QueueMem>(q: &Q) -> core::result::Result<bool, String> {
    let (h, t) = counts(q, Ordering::Relaxed, Ordering::Acquire)?;
    if h == t {
        return Ok(false);
    }
    // `h < t`: no overflow.
    q.set_head(h + 1, Ordering::Release);
    Ok(true)
}

impl<S: SharedLayout> Shared<S, ReadWrite> {
    /// The region of the queue `pick` chooses, checked.
    fn queue_region<'s, M: ShmSafe, const N: usize>(
        &'s self,
        pick: impl FnOnce(S::Fields<'s, ReadOnly>) -> Field<'s, Queue<M, N>, ReadOnly>,
    ) -> Result<Region> {
        if !N.is_power_of_two() || N > crate::layout::RING_CAP_MAX {
            // Only a schema that implements the traits by hand can get here.
            return Err(Error::Unsupported {
                name: self.name().to_owned(),
                what: format!("a queue of {N} slots (a power of two up to 2^24)"),
            });
        }
        let start =
            self.stream_start::<Queue<M, N>>("queue", queue_region_size(size_of::<M>(), N), pick)?;
        let (map, _) = self.parts();
        Ok(Region {
            // SAFETY: `start + len` is inside the mapping (checked).
            base: unsafe { map.backing().base().as_ptr().add(start) },
            cap: N as u64,
            size: size_of::<M>(),
        })
    }

    /// The producer of the queue `pick` chooses, e.g.
    /// `seg.producer(|f| f.commands())`. Each send needs write access
    /// ([`Error::NotWriter`] otherwise).
    pub fn producer<'s, M: ShmSafe, const N: usize>(
        &'s self,
        pick: impl FnOnce(S::Fields<'s, ReadOnly>) -> Field<'s, Queue<M, N>, ReadOnly>,
    ) -> Result<Producer<'s, S, M>> {
        Ok(Producer {
            q: self.queue_region(pick)?,
            seg: self,
            _m: PhantomData,
        })
    }

    /// Claims the queue `pick` chooses as its one consumer, waiting at
    /// most `wait` for a live consumer to let go ([`Error::ConsumerBusy`]
    /// then); a dead consumer is taken over at once
    /// ([`Consumer::took_over_from`]), and the new one goes on where it
    /// stopped. Needs a read-write handle (the consumer stores its
    /// position), not write access. Dropping the consumer lets go. The
    /// consumer belongs to the process that made it: in a child made by
    /// `fork`, its calls are [`Error::ConsumerBusy`] naming the parent,
    /// and dropping it leaves the parent's claim.
    pub fn consumer<'s, M: ShmSafe, const N: usize>(
        &'s self,
        pick: impl FnOnce(S::Fields<'s, ReadOnly>) -> Field<'s, Queue<M, N>, ReadOnly>,
        wait: Duration,
    ) -> Result<Consumer<'s, S, M>> {
        let q = self.queue_region(pick)?;
        let me = writer::own_word();
        let deadline = Instant::now().checked_add(wait);
        let took_over_from = loop {
            let w = q.claim().load(Ordering::Acquire);
            // (If the swap fails, someone else changed the word meanwhile:
            // look again, within the wait.)
            if (w == 0 || (w != me && writer::owner_dead(w)))
                && q.claim()
                    .compare_exchange(w, me, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                break (w != 0).then_some(writer::pid_of(w));
            }
            if w == me || deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::ConsumerBusy {
                    name: self.name().to_owned(),
                    pid: writer::pid_of(w),
                    this_process: w == me,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let (map, _) = self.parts();
        Ok(Consumer {
            q,
            seg: self,
            me,
            took_over_from,
            peeked: false,
            failed: None,
            words: map.notify_words(true),
            _m: PhantomData,
        })
    }
}

/// Sends messages into one queue of a segment; see [`Queue`].
pub struct Producer<'a, S: SharedLayout, M> {
    q: Region,
    seg: &'a Shared<S, ReadWrite>,
    _m: PhantomData<fn(M)>,
}

impl<S: SharedLayout, M> std::fmt::Debug for Producer<'_, S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("segment", &self.seg.name())
            .field("capacity", &self.q.cap)
            .finish_non_exhaustive()
    }
}

impl<S: SharedLayout, M: ShmSafe> Producer<'_, S, M> {
    /// Sends `msg` if the queue has room and returns its number;
    /// [`Error::QueueFull`] at once if not. Wakes a waiting consumer.
    pub fn try_send(&self, msg: &M) -> Result<u64> {
        let name = self.seg.name();
        self.seg
            .with_write_access("send", || {
                // SAFETY: write access and the handle's lock are held (one
                // producer); `msg` is a private `M`.
                unsafe { send(&self.q, (msg as *const M).cast()) }
            })?
            .map_err(|e| match e {
                NotSent::Full => Error::QueueFull {
                    name: name.to_owned(),
                    capacity: self.q.cap,
                },
                NotSent::Bad(what) => Error::Corrupt {
                    name: name.to_owned(),
                    what,
                },
            })
    }

    /// [`Producer::try_send`], waiting at most `timeout` for room (woken
    /// by the consumer taking a message); [`Error::QueueFull`] after it.
    pub fn send_timeout(&self, msg: &M, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now().checked_add(timeout);
        let (map, _) = self.seg.parts();
        let words = map.notify_words(true);
        loop {
            match self.try_send(msg) {
                Err(Error::QueueFull { .. }) => {}
                r => return r,
            }
            let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
            let q = &self.q;
            let room = notify::wait_until(&words, left, || {
                counts(q, Ordering::Acquire, Ordering::Acquire)
                    .map_or(Some(()), |(h, t)| (t - h < q.cap).then_some(()))
            });
            if room.is_none() || left.is_zero() {
                return self.try_send(msg);
            }
        }
    }

    /// The number of messages sent so far.
    pub fn sent(&self) -> u64 {
        self.q.tail(Ordering::Relaxed)
    }
}

/// The one consumer of a queue; see [`Queue`] for what it guarantees
/// across crashes. Lets go of the queue when dropped.
pub struct Consumer<'a, S: SharedLayout, M> {
    q: Region,
    seg: &'a Shared<S, ReadWrite>,
    me: u64,
    took_over_from: Option<u32>,
    peeked: bool,
    /// An invalid message found by `recv_batch` after messages (taken),
    /// reported by the next call.
    failed: Option<Error>,
    words: notify::Words<'a>,
    _m: PhantomData<fn() -> M>,
}

impl<S: SharedLayout, M> std::fmt::Debug for Consumer<'_, S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("segment", &self.seg.name())
            .field("capacity", &self.q.cap)
            .finish_non_exhaustive()
    }
}

impl<S: SharedLayout, M> Drop for Consumer<'_, S, M> {
    fn drop(&mut self) {
        // A child made by `fork` drops its copy of its parent's consumer:
        // the claim is the parent's, and stays.
        if writer::pid_of(self.me) != crate::process::current_pid() {
            return;
        }
        let _ = self
            .q
            .claim()
            .compare_exchange(self.me, 0, Ordering::AcqRel, Ordering::Relaxed);
    }
}

impl<S: SharedLayout, M: ShmSafe> Consumer<'_, S, M> {
    /// The process id of the dead consumer this one took over from, if any.
    pub fn took_over_from(&self) -> Option<u32> {
        self.took_over_from
    }

    /// The number of the next message (numbered from 0 in sending order).
    pub fn position(&self) -> u64 {
        self.q.head(Ordering::Relaxed)
    }

    /// The next message, not yet acknowledged: the next `peek` or
    /// `try_recv` returns it again until [`Consumer::ack`]. `None` if the
    /// queue is empty.
    pub fn peek(&mut self) -> Result<Option<M>> {
        let mut out = MaybeUninit::<M>::uninit();
        // SAFETY: `out` is private and has room for an `M`.
        Ok(unsafe { self.peek_into(out.as_mut_ptr()) }?.then(|| {
            // SAFETY: written whole and accepted by `M` (every bit
            // pattern, or it passed the check).
            unsafe { out.assume_init() }
        }))
    }

    /// [`Consumer::peek`] into `*out`: `true` if a message was copied
    /// there (and checked).
    ///
    /// # Safety
    ///
    /// `out` is private and has room for an `M`.
    unsafe fn peek_into(&mut self, out: *mut M) -> Result<bool> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.own()?;
        // SAFETY: the caller's contract.
        let got = unsafe { peek(&self.q, out.cast()) };
        if got.map_err(|what| self.corrupt(what))?.is_none() {
            return Ok(false);
        }
        self.peeked = true;
        // SAFETY: `out` was written whole.
        if let Err(e) = unsafe { check_copy(self.seg.name(), out.cast_const()) } {
            // A bad message is taken, so that the queue goes on.
            self.ack()?;
            return Err(e);
        }
        Ok(true)
    }

    /// Acknowledges the message the last [`Consumer::peek`] returned (the
    /// producer may then reuse its slot); does nothing if there is none.
    pub fn ack(&mut self) -> Result<()> {
        self.own()?;
        if !core::mem::take(&mut self.peeked) {
            return Ok(());
        }
        if take(&self.q).map_err(|what| self.corrupt(what))? {
            let (map, _) = self.seg.parts();
            map.wake();
        }
        Ok(())
    }

    /// The next message, acknowledged before it is returned (at most once
    /// across a crash: see [`Queue`]); `None` if the queue is empty. A
    /// message of a checked type that fails its check is
    /// [`Error::InvalidValue`], and is taken (the next call goes on).
    pub fn try_recv(&mut self) -> Result<Option<M>> {
        let m = self.peek()?;
        if m.is_some() {
            self.ack()?;
        }
        Ok(m)
    }

    /// [`Consumer::try_recv`], waiting at most `timeout` for a message
    /// (woken by a send); `Ok(None)` after it.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<M>> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if let Some(m) = self.try_recv()? {
                return Ok(Some(m));
            }
            let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
            let q = &self.q;
            let ready = notify::wait_until(&self.words, left, || {
                counts(q, Ordering::Acquire, Ordering::Acquire)
                    .map_or(Some(()), |(h, t)| (t != h).then_some(()))
            });
            if ready.is_none() || left.is_zero() {
                return self.try_recv();
            }
        }
    }

    /// Takes up to `out.len()` messages without waiting; returns how many
    /// were stored at the start of `out`. Each message goes through a
    /// private buffer (on the heap over 16 KiB), so messages larger than
    /// the thread's stack work too. An error after some messages ends the
    /// batch, which returns them (they were taken); an invalid message
    /// (taken too) is the next call's error.
    pub fn recv_batch(&mut self, out: &mut [M]) -> Result<usize> {
        crate::scratch::with_buffer::<M, _>(|buf| {
            let mut n = 0;
            while n < out.len() {
                // SAFETY: `buf` is private and has room for an `M`.
                match unsafe { self.peek_into(buf.as_ptr()) } {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) if n > 0 => {
                        if matches!(e, Error::InvalidValue { .. }) {
                            self.failed = Some(e);
                        }
                        break;
                    }
                    Err(e) => return Err(e),
                }
                match self.ack() {
                    Ok(()) => {}
                    // Not taken: the error (corrupt counters, a lost
                    // claim) repeats at the next call.
                    Err(_) if n > 0 => break,
                    Err(e) => return Err(e),
                }
                // SAFETY: `buf` holds a message `M` accepts; `M: ShmSafe`
                // has no drop glue.
                unsafe { crate::scratch::copy_into(&mut out[n], buf) };
                n += 1;
            }
            Ok(n)
        })
    }

    /// An iterator taking the messages there are now; it ends when the
    /// queue is empty, or after an error.
    pub fn iter(&mut self) -> impl Iterator<Item = Result<M>> + '_ {
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            match self.try_recv() {
                Ok(Some(m)) => Some(Ok(m)),
                Ok(None) => None,
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        })
    }

    fn corrupt(&self, what: String) -> Error {
        Error::Corrupt {
            name: self.seg.name().to_owned(),
            what,
        }
    }

    /// Whether this consumer still holds the queue: [`Error::ConsumerBusy`]
    /// naming the parent in a child made by `fork` (the claim belongs to
    /// the process that made the consumer, not to a copy of it), or naming
    /// the process whose word the claim word now holds (someone stored
    /// there: a process with write permission, or a consumer that judged
    /// this one dead); [`Error::Corrupt`] if it was zeroed. Two loads (the
    /// claim word is on `head`'s cache line), so that a consumer never
    /// goes on beside another one.
    fn own(&self) -> Result<()> {
        let pid = writer::pid_of(self.me);
        if pid != crate::process::current_pid() {
            return Err(Error::ConsumerBusy {
                name: self.seg.name().to_owned(),
                pid,
                this_process: false,
            });
        }
        match self.q.claim().load(Ordering::Acquire) {
            w if w == self.me => Ok(()),
            0 => Err(self.corrupt(
                "queue consumer claim word is 0 while this consumer holds the queue".to_owned(),
            )),
            w => Err(Error::ConsumerBusy {
                name: self.seg.name().to_owned(),
                pid: writer::pid_of(w),
                this_process: false,
            }),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_model;
