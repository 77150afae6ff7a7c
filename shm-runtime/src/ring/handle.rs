//! The handles of a ring: [`Publisher`] and [`Subscriber`], made from a
//! segment handle with [`Shared::publisher`] and [`Shared::subscribe`].

use core::marker::PhantomData;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use super::{Bad, Region, Ring, Step, publish, try_next_cached};
use crate::error::{Error, Result};
use crate::field::{Access, Field, ReadOnly, ReadWrite, SharedLayout, ShmSafe, check_copy};
use crate::notify;
use crate::shared::Shared;
use crate::streams::region_size;

/// What a [`Subscriber`] received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recv<M> {
    /// The next message.
    Msg(M),
    /// This many messages were overwritten before this subscriber read
    /// them (it fell more than the ring's capacity behind); it goes on with
    /// the oldest message still in the ring.
    Lost(u64),
}

impl<S: SharedLayout, A: Access> Shared<S, A> {
    /// The region of the ring whose placeholder `pick` returns, after
    /// checking that it is a `Ring<M, N>` of this schema and that its
    /// region lies inside the mapping.
    fn ring_region<'s, M: ShmSafe, const N: usize>(
        &'s self,
        pick: impl FnOnce(S::Fields<'s, ReadOnly>) -> Field<'s, Ring<M, N>, ReadOnly>,
    ) -> Result<Region> {
        let unsupported = |what: String| Error::Unsupported {
            name: self.name().to_owned(),
            what,
        };
        if !N.is_power_of_two() || N > crate::layout::RING_CAP_MAX {
            // Only a schema that implements the traits by hand can get here.
            return Err(unsupported(format!(
                "a ring of {N} slots (a power of two up to 2^24)"
            )));
        }
        let start =
            self.stream_start::<Ring<M, N>>("ring", region_size(size_of::<M>(), N), pick)?;
        let (map, _) = self.parts();
        // SAFETY: `start..start + len` is inside the mapping (checked),
        // 8-aligned (a page-aligned mapping, `start` a multiple of 8), and
        // every access to it is a whole atomic word (`Region`); `N` is a
        // power of two (checked above).
        Ok(unsafe { Region::new(map.backing().base().as_ptr().add(start), size_of::<M>(), N) })
    }

    /// A subscriber to the ring that `pick` chooses among the fields,
    /// e.g. `seg.subscribe(|f| f.events())`, starting at the next new
    /// message (see [`Subscriber::start_oldest`]). Read-only handles may
    /// subscribe: subscribers never store to the segment.
    ///
    /// [`Error::Unsupported`] if `pick` returns a field that is not a ring
    /// of this schema; [`Error::Corrupt`] if the segment has no room for
    /// the ring.
    pub fn subscribe<'s, M: ShmSafe, const N: usize>(
        &'s self,
        pick: impl FnOnce(S::Fields<'s, ReadOnly>) -> Field<'s, Ring<M, N>, ReadOnly>,
    ) -> Result<Subscriber<'s, M>> {
        let ring = self.ring_region(pick)?;
        let (map, _) = self.parts();
        let mut s = Subscriber {
            ring,
            next: 0,
            seen: 0,
            pending: 0,
            failed: None,
            name: self.name(),
            words: map.notify_words(!A::READ_ONLY),
            _m: PhantomData,
        };
        s.start_new();
        Ok(s)
    }
}

impl<S: SharedLayout> Shared<S, ReadWrite> {
    /// The publisher of the ring that `pick` chooses among the fields,
    /// e.g. `seg.publisher(|f| f.events())`. Each publish needs write
    /// access ([`Error::NotWriter`] otherwise).
    pub fn publisher<'s, M: ShmSafe, const N: usize>(
        &'s self,
        pick: impl FnOnce(S::Fields<'s, ReadOnly>) -> Field<'s, Ring<M, N>, ReadOnly>,
    ) -> Result<Publisher<'s, S, M>> {
        Ok(Publisher {
            ring: self.ring_region(pick)?,
            seg: self,
            _m: PhantomData,
        })
    }
}

/// Publishes messages into one ring of a segment; see [`Ring`].
pub struct Publisher<'a, S: SharedLayout, M> {
    ring: Region,
    seg: &'a Shared<S, ReadWrite>,
    _m: PhantomData<fn(M)>,
}

impl<S: SharedLayout, M> std::fmt::Debug for Publisher<'_, S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("segment", &self.seg.name())
            .field("capacity", &self.ring.cap)
            .finish_non_exhaustive()
    }
}

impl<S: SharedLayout, M: ShmSafe> Publisher<'_, S, M> {
    /// Publishes `msg`, overwriting the oldest message if the ring is
    /// full (subscribers that had not read it are told they lost it), and
    /// returns its number (0 for the ring's first message). Never waits for
    /// subscribers; wakes those waiting in [`Subscriber::recv_timeout`].
    ///
    /// [`Error::NotWriter`] without write access, [`Error::Reentrant`]
    /// inside this handle's `update`, [`Error::Corrupt`] if the ring's
    /// published count is at the end of its range.
    pub fn publish(&self, msg: &M) -> Result<u64> {
        self.seg
            .with_write_access("publish", || {
                // SAFETY: write access and the handle's lock are held (one
                // publisher); `msg` is a private `M`.
                unsafe { publish(&self.ring, (msg as *const M).cast()) }
            })?
            .map_err(|b| self.corrupt(b))
    }

    /// Publishes every message of `msgs` in order (one write lock, one
    /// wake-up); returns the number of the last one, if any.
    pub fn publish_all(&self, msgs: &[M]) -> Result<Option<u64>> {
        self.seg
            .with_write_access("publish", || {
                let mut last = None;
                for m in msgs {
                    // SAFETY: as in `publish`.
                    last = Some(unsafe { publish(&self.ring, (m as *const M).cast()) }?);
                }
                Ok(last)
            })?
            .map_err(|b| self.corrupt(b))
    }

    /// The number of messages published so far.
    pub fn published(&self) -> u64 {
        super::RingMem::head(&self.ring, core::sync::atomic::Ordering::Relaxed)
    }

    fn corrupt(&self, b: Bad) -> Error {
        Error::Corrupt {
            name: self.seg.name().to_owned(),
            what: b.what(),
        }
    }
}

/// A reader of one ring with its own cursor; see [`Ring`]. Never stores
/// to the segment.
pub struct Subscriber<'a, M> {
    ring: Region,
    /// The number of the next message to read.
    next: u64,
    /// The `head` this subscriber loaded last (see `try_next_cached`).
    seen: u64,
    /// A loss found by `recv_batch` after messages, reported next.
    pending: u64,
    /// An error found by `recv_batch` after messages or a loss, returned
    /// next.
    failed: Option<Error>,
    name: &'a str,
    words: notify::Words<'a>,
    _m: PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for Subscriber<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("segment", &self.name)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<'a, M: ShmSafe> Subscriber<'a, M> {
    /// Moves the cursor to the oldest message the ring still holds.
    pub fn start_oldest(&mut self) {
        self.pending = 0;
        self.failed = None;
        let h = super::RingMem::head(&self.ring, core::sync::atomic::Ordering::Acquire);
        self.seen = h;
        self.next = h.saturating_sub(self.ring.cap as u64);
    }

    /// Moves the cursor past every message published so far: the next
    /// message received is the next one published.
    pub fn start_new(&mut self) {
        self.pending = 0;
        self.failed = None;
        self.next = super::RingMem::head(&self.ring, core::sync::atomic::Ordering::Acquire);
        self.seen = self.next;
    }

    /// The number of the next message this subscriber will receive or
    /// report lost (messages are numbered from 0 in publishing order).
    pub fn position(&self) -> u64 {
        self.next - self.pending
    }

    /// The next message or loss, or `None` if nothing new was published.
    /// Never waits. A message of a checked type (`bool`, `char`, enums,
    /// strings) that fails its check is [`Error::InvalidValue`], and the
    /// subscriber moves past it. A ring whose counters cannot be right is
    /// [`Error::Corrupt`] (the cursor stays, so the error repeats).
    pub fn try_recv(&mut self) -> Result<Option<Recv<M>>> {
        let mut out = MaybeUninit::<M>::uninit();
        // SAFETY: `out` is private and has room for an `M`.
        Ok(match unsafe { self.step(out.as_mut_ptr()) }? {
            None => None,
            Some(Recv::Lost(n)) => Some(Recv::Lost(n)),
            // SAFETY: `step` copied a whole message that `M` accepts.
            Some(Recv::Msg(())) => Some(Recv::Msg(unsafe { out.assume_init() })),
        })
    }

    /// One step of [`Subscriber::try_recv`], the message (`Msg(())`)
    /// copied into `*out` and checked.
    ///
    /// # Safety
    ///
    /// `out` is private and has room for an `M`.
    unsafe fn step(&mut self, out: *mut M) -> Result<Option<Recv<()>>> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.pending != 0 {
            return Ok(Some(Recv::Lost(core::mem::take(&mut self.pending))));
        }
        let (ring, seen, next) = (&self.ring, &mut self.seen, &mut self.next);
        // SAFETY: the caller's contract; `seen` is 0 or an acquire load of
        // `head`.
        let step = unsafe { try_next_cached(ring, seen, next, out.cast()) };
        match step.map_err(|b| self.corrupt(b))? {
            Step::Empty => Ok(None),
            Step::Lost(n) => Ok(Some(Recv::Lost(n))),
            Step::Msg(_) => {
                // SAFETY: `try_next_cached` copied a whole message into `out`.
                unsafe { check_copy(self.name, out.cast_const())? };
                Ok(Some(Recv::Msg(())))
            }
        }
    }

    /// [`Subscriber::try_recv`], waiting at most `timeout` for a message
    /// or a loss (`Ok(None)` then). Sleeps on the segment's change
    /// notification (a futex on Linux): each publish wakes it.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Recv<M>>> {
        if let Some(r) = self.try_recv()? {
            return Ok(Some(r));
        }
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
            let ring = &self.ring;
            let next = self.next;
            let ready = notify::wait_until(&self.words, left, || {
                (super::RingMem::head(ring, core::sync::atomic::Ordering::Acquire) != next)
                    .then_some(())
            });
            // A changed head may still say nothing new only if it went back
            // (corrupt: `try_recv` says so).
            if let Some(r) = self.try_recv()? {
                return Ok(Some(r));
            }
            if ready.is_none() || left.is_zero() {
                return Ok(None);
            }
        }
    }

    /// Receives up to `out.len()` messages without waiting: returns how
    /// many were stored at the start of `out`, and how many were lost just
    /// before the first of them. The messages of a batch are consecutive:
    /// a loss found after some messages ends the batch and is reported
    /// first by the next call (so they are the numbers `position() - n ..
    /// position()`). So does an error found after some messages or a loss:
    /// the next call returns it (an invalid message was moved past; a
    /// corrupt ring's cursor stays, so that error repeats after). Bounded
    /// work: a call ends after 64 losses in a row (a publisher that keeps
    /// overtaking this subscriber) with the messages and losses so far.
    ///
    /// A message of a type that takes every bit pattern is copied straight
    /// into its place in `out`; one of a checked type goes to a private
    /// buffer first (on the heap for messages over 16 KiB, so messages
    /// larger than the thread's stack work too), is checked there, then
    /// moved into `out`.
    pub fn recv_batch(&mut self, out: &mut [M]) -> Result<(usize, u64)> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let len = out.len();
        let (n, lost, err) = if M::CHECKED {
            crate::scratch::with_buffer::<M, _>(|buf| {
                self.batch(len, |sub, n| {
                    // SAFETY: `buf` is private and has room for an `M`.
                    let r = unsafe { sub.step(buf.as_ptr()) };
                    if let Ok(Some(Recv::Msg(()))) = r {
                        // SAFETY: `buf` holds a message `M` accepts (it
                        // passed its check); `M: ShmSafe` has no drop glue.
                        unsafe { crate::scratch::copy_into(&mut out[n], buf) };
                    }
                    r
                })
            })
        } else {
            self.batch(len, |sub, n| {
                let dst: *mut M = &mut out[n];
                // SAFETY: `dst` is a private `M` with room for one; `M` is
                // not `CHECKED`, so every bit pattern (whatever a torn copy
                // thrown away leaves there) is a valid `M`.
                unsafe { sub.step(dst) }
            })
        };
        match err {
            Some(e) if n == 0 && lost == 0 => Err(e),
            Some(e) => {
                self.failed = Some(e);
                Ok((n, lost))
            }
            None => Ok((n, lost)),
        }
    }

    /// The loop of [`Subscriber::recv_batch`]: `one(self, n)` receives the
    /// next message into `out[n]` (or a loss, or nothing). Returns the
    /// messages, the loss before them and the error that ended the batch.
    fn batch(
        &mut self,
        len: usize,
        mut one: impl FnMut(&mut Self, usize) -> Result<Option<Recv<()>>>,
    ) -> (usize, u64, Option<Error>) {
        let (mut n, mut lost, mut losses) = (0, 0u64, 0u32);
        // Losses in a row need a publisher that keeps overtaking this
        // subscriber: at most 64 of them per call (as in C), so that a
        // call never chases a publisher for as long as it publishes.
        while n < len && losses < 64 {
            match one(self, n) {
                Err(e) => return (n, lost, Some(e)),
                Ok(None) => break,
                Ok(Some(Recv::Lost(k))) if n > 0 => {
                    self.pending = k;
                    break;
                }
                Ok(Some(Recv::Lost(k))) => {
                    lost = lost.saturating_add(k);
                    losses += 1;
                }
                Ok(Some(Recv::Msg(()))) => n += 1,
            }
        }
        (n, lost, None)
    }

    /// An iterator over what is there now (messages and losses); it ends
    /// when nothing new is left, or after an error.
    pub fn iter(&mut self) -> Iter<'_, 'a, M> {
        Iter {
            sub: self,
            done: false,
        }
    }

    fn corrupt(&self, b: Bad) -> Error {
        Error::Corrupt {
            name: self.name.to_owned(),
            what: b.what(),
        }
    }
}

/// The iterator of [`Subscriber::iter`].
#[derive(Debug)]
pub struct Iter<'s, 'a, M> {
    sub: &'s mut Subscriber<'a, M>,
    done: bool,
}

impl<M: ShmSafe> Iterator for Iter<'_, '_, M> {
    type Item = Result<Recv<M>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.sub.try_recv() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
