//! Message rings: [`Ring<M, N>`], a schema field type for a stream of
//! messages beside the snapshot state.
//!
//! # Where a ring lives
//!
//! A `Ring<M, N>` field is an 8-byte placeholder in the payload (its value
//! means nothing, and snapshot reads and writes copy it like any word).
//! The ring itself is in the segment's *stream area*, after the backup
//! copy (on the first cache line after its room, see
//! [`crate::header::Header::streams_offset`]): one region per ring, in the order of
//! the schema's fields (depth first, arrays element by element), each on a
//! cache line:
//!
//! ```text
//! +0   head: u64, the number of messages published (only the publisher stores it)
//! +8   56 bytes, zero
//! +64  slot 0: seq u64, then the message in whole 8-byte words
//!      slot 1 ...                        (slot stride = 8 + size_of::<M>() rounded up to 8)
//! ```
//!
//! So the snapshot protocol never touches a ring, and a ring never
//! touches the snapshot copies.
//!
//! # The protocol
//!
//! Message number `i` (from 0) goes to slot `i % N`. Its slot's `seq` is
//! `2i + 1` while it is being written and `2i + 2` once it is complete: the
//! value says which message (which lap) a slot holds. `head` is the number
//! of messages published; it is stored after the slot is complete.
//!
//! ```text
//! publisher (holds write access)              reader (private cursor `next`)
//! h = head (relaxed: its own store)           h = head.load(Acquire)
//! seq[h % N].store(2h + 1, Release)           next == h: nothing new
//! fence(Release)                              h - next > N: lost h - N - next, next = h - N
//! store the message, relaxed whole words      s1 = seq[next % N].load(Acquire)
//! seq[h % N].store(2h + 2, Release)           s1 == 2 next + 2: copy (relaxed), fence(Acquire),
//! head.store(h + 1, Release)                     s2 = seq.load(Acquire); s2 == s1: message `next`
//!                                             s1 or s2 > 2 next + 2: overwritten by message
//!                                                m = (s - 1) / 2: lost m + 1 - N - next
//! ```
//!
//! A reader may take these steps with a `head` it loaded earlier while
//! `next` is below it (`try_next_cached`, what subscribers do): one load
//! of the publisher's hottest word per batch, not per message.
//!
//! *Never torn.* This is the snapshot protocol's seqlock, one slot at a
//! time (see `protocol.rs`): if the reader's copy saw any store of a later
//! message into the slot, its acquire fence synchronises with that
//! message's release fence, which follows the store of the larger odd
//! `seq`, so `s2 != s1` and the copy is thrown away. If `s1 == 2 next + 2`,
//! the release store of it made every store of message `next` visible.
//!
//! *Exact losses, in order, no duplicates.* The cursor only grows, by one
//! per message returned and by the count of a reported loss, so every
//! message number is either returned once or counted lost once. A loss is
//! only reported for messages whose slots a later message has begun to
//! overwrite: message `m` overwrites `m - N`, so `m >= next + N` means
//! `next ..= m - N` are gone; `m + 1 - N` may still be complete (if not,
//! the next call reports the next loss).
//!
//! *Readers never store*, so a read-only handle can read, and any number
//! of readers neither slow each other nor the publisher; publishing never
//! waits.
//!
//! *A publisher killed at any instant* leaves at most one slot odd (or
//! complete but beyond `head`); `head` still counts the messages complete
//! before it, readers see nothing past `head`, and the next writer's first
//! publish rewrites that slot as message `head`: the sequence goes on.
//!
//! *Never trusting the segment.* The reader checks what a correct
//! publisher guarantees: `head` never goes back below its cursor, a slot
//! below `head` holds its message or a later one of the same slot, and a
//! later one is not past `head`. Anything else is [`Error::Corrupt`]
//! (counters that would overflow too). Each call does a bounded amount of
//! work: no loop waits for the segment.
//!
//! [`Error::Corrupt`]: crate::Error::Corrupt

use core::marker::PhantomData;
use core::sync::atomic::{AtomicU64, Ordering, fence};

use crate::field::ShmSafe;
use crate::layout::TypeDesc;
use crate::streams::RING_HEADER;

mod handle;

pub use handle::{Iter, Publisher, Recv, Subscriber};

/// A ring of `N` messages of type `M` in a schema: a broadcast stream,
/// lossy, published by the holder of write access and read by any
/// number of [`Subscriber`]s with private cursors (read-only handles too).
///
/// `N` must be a power of two from 1 to 2^24 (checked at compile time).
/// In the payload, the field is an 8-byte placeholder; the ring lives in
/// the segment's stream area (see "Streams: rings" in the README).
///
/// ```
/// use shm_runtime::{Ring, SharedLayout};
///
/// #[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
/// #[repr(C)]
/// pub struct Event { pub id: u32, pub value: f32 }
///
/// #[derive(SharedLayout)]
/// #[repr(C)]
/// pub struct Robot { pub state: u64, pub events: Ring<Event, 1024> }
/// ```
#[repr(C, align(8))]
pub struct Ring<M, const N: usize> {
    placeholder: u64,
    _message: PhantomData<fn() -> M>,
}

impl<M, const N: usize> Ring<M, N> {
    /// The placeholder (for a value of the schema struct written whole:
    /// the field's value means nothing, the ring is elsewhere).
    pub const fn new() -> Self {
        Ring {
            placeholder: 0,
            _message: PhantomData,
        }
    }
}

impl<M, const N: usize> Default for Ring<M, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M, const N: usize> Clone for Ring<M, N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M, const N: usize> Copy for Ring<M, N> {}

impl<M, const N: usize> core::fmt::Debug for Ring<M, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Ring<{}, {N}>", core::any::type_name::<M>())
    }
}

// SAFETY: one `u64` (every bit pattern valid, no padding, 8 bytes aligned
// to 8 on every target: `align(8)`), no pointers (`PhantomData` of a
// function type is zero-sized); `TYPE` describes exactly that (a ring's
// size and alignment are 8).
unsafe impl<M: ShmSafe, const N: usize> ShmSafe for Ring<M, N> {
    const TYPE: TypeDesc = TypeDesc::Ring {
        elem: &M::TYPE,
        cap: N,
    };
}

/// The shared words of one ring, as the algorithms see them: a mapping's
/// ([`Region`]) or a loom model's.
pub(crate) trait RingMem {
    /// The number of slots, a power of two.
    fn cap(&self) -> u64;
    /// Loads `head`.
    fn head(&self, order: Ordering) -> u64;
    /// Stores `head` (the publisher only).
    fn set_head(&self, v: u64, order: Ordering);
    /// Loads the `seq` of slot `slot < cap`.
    fn seq(&self, slot: usize, order: Ordering) -> u64;
    /// Stores the `seq` of slot `slot < cap` (the publisher only).
    fn set_seq(&self, slot: usize, v: u64, order: Ordering);
    /// A fence of the kind the atomics obey.
    fn fence(order: Ordering);
    /// Copies slot `slot`'s message into `dst` with relaxed whole-word loads.
    ///
    /// # Safety
    ///
    /// `slot < cap`; `dst` is private and has room for a message.
    unsafe fn load_msg(&self, slot: usize, dst: *mut u8);
    /// Stores the private message at `src` into slot `slot` with relaxed
    /// whole-word stores.
    ///
    /// # Safety
    ///
    /// `slot < cap`; `src` holds a message; the caller is the publisher and
    /// has made the slot's `seq` odd.
    unsafe fn store_msg(&self, slot: usize, src: *const u8);
}

/// What a ring's counters say that cannot be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// `head` is below the reader's cursor (it never goes back).
    HeadBack { head: u64, next: u64 },
    /// A counter would overflow.
    Overflow { at: u64 },
    /// Slot `slot` holds `seq`, which is no later lap of message `next`
    /// (or one past `head`).
    Slot {
        slot: usize,
        seq: u64,
        next: u64,
        head: u64,
    },
}

impl Bad {
    /// The description for [`crate::Error::Corrupt`].
    pub(crate) fn what(self) -> String {
        match self {
            Bad::HeadBack { head, next } => format!(
                "ring published count {head} is below this reader's position {next} (it never \
                 goes back)"
            ),
            Bad::Overflow { at } => format!("ring message number {at} overflows its counters"),
            Bad::Slot {
                slot,
                seq,
                next,
                head,
            } => format!(
                "ring slot {slot} has sequence {seq}, which is not message {next} or a later one \
                 of that slot up to the published count {head}"
            ),
        }
    }
}

/// What one step of a reader found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing new.
    Empty,
    /// The message numbered `.0` was copied out; the cursor moved past it.
    Msg(u64),
    /// `.0` messages were overwritten before this reader got to them; the
    /// cursor moved past them.
    Lost(u64),
}

/// Publishes the message at `src` and returns its number.
///
/// # Safety
///
/// The caller is the ring's one publisher (holds write access and the
/// handle's write lock); `src` holds a message.
pub(crate) unsafe fn publish<R: RingMem>(r: &R, src: *const u8) -> Result<u64, Bad> {
    let h = r.head(Ordering::Relaxed);
    let (odd, even) = match h.checked_mul(2).and_then(|d| d.checked_add(2)) {
        Some(even) => (even - 1, even),
        None => return Err(Bad::Overflow { at: h }),
    };
    let slot = (h & (r.cap() - 1)) as usize;
    r.set_seq(slot, odd, Ordering::Release);
    R::fence(Ordering::Release);
    // SAFETY: `slot < cap`; the seq is odd; the caller's contract.
    unsafe { r.store_msg(slot, src) };
    r.set_seq(slot, even, Ordering::Release);
    r.set_head(h + 1, Ordering::Release);
    Ok(h)
}

/// One step of a reader at `next`: copies message `next` into `dst`, or
/// reports a loss, or nothing new. Bounded work, whatever the segment holds.
/// (Subscribers use [`try_next_cached`]; the loom model checks both.)
///
/// # Safety
///
/// `dst` is private and has room for a message.
#[cfg(loom)]
pub(crate) unsafe fn try_next<R: RingMem>(
    r: &R,
    next: &mut u64,
    dst: *mut u8,
) -> Result<Step, Bad> {
    let h = r.head(Ordering::Acquire);
    // SAFETY: the caller's contract.
    unsafe { try_next_at(r, h, next, dst) }
}

/// [`try_next`] for a reader that remembers `seen`, the `head` it loaded
/// last: it loads `head` again only once its cursor has reached `seen`
/// (so a reader behind a busy publisher loads the publisher's hottest
/// word once per batch, not once per message). Reading message `next <
/// seen` is as safe as with a fresh `head`: `seen` was loaded with acquire
/// after message `next` was complete, and the slot's `seq` tells whether
/// it was overwritten since (a loss found from a stale `seen` is a loss
/// still: those messages' slots were already being reused then).
///
/// # Safety
///
/// As [`try_next`]; `seen` is 0 or a value of `head` this reader loaded
/// with acquire.
#[inline]
pub(crate) unsafe fn try_next_cached<R: RingMem>(
    r: &R,
    seen: &mut u64,
    next: &mut u64,
    dst: *mut u8,
) -> Result<Step, Bad> {
    if *next >= *seen {
        *seen = r.head(Ordering::Acquire);
    }
    // SAFETY: the caller's contract; `seen` is an acquire load of `head`.
    unsafe { try_next_at(r, *seen, next, dst) }
}

/// [`try_next`] with `h`, a value of `head` loaded with acquire.
///
/// # Safety
///
/// As [`try_next`].
#[inline]
unsafe fn try_next_at<R: RingMem>(
    r: &R,
    h: u64,
    next: &mut u64,
    dst: *mut u8,
) -> Result<Step, Bad> {
    let n = r.cap();
    if h < *next {
        return Err(Bad::HeadBack {
            head: h,
            next: *next,
        });
    }
    if h == *next {
        return Ok(Step::Empty);
    }
    if h - *next > n {
        let lost = h - n - *next;
        *next = h - n;
        return Ok(Step::Lost(lost));
    }
    let expect = next
        .checked_mul(2)
        .and_then(|d| d.checked_add(2))
        .ok_or(Bad::Overflow { at: *next })?;
    let slot = (*next & (n - 1)) as usize;
    let s1 = r.seq(slot, Ordering::Acquire);
    let s = if s1 == expect {
        // SAFETY: `slot < cap`; `dst` as the caller says.
        unsafe { r.load_msg(slot, dst) };
        R::fence(Ordering::Acquire);
        let s2 = r.seq(slot, Ordering::Acquire);
        if s2 == s1 {
            let at = *next;
            *next += 1;
            return Ok(Step::Msg(at));
        }
        s2
    } else {
        s1
    };
    let bad = |head| Bad::Slot {
        slot,
        seq: s,
        next: *next,
        head,
    };
    if s < expect {
        return Err(bad(h));
    }
    // Overwritten by (or being overwritten with) message `m`.
    let m = (s - 1) / 2;
    let h2 = r.head(Ordering::Acquire);
    if m & (n - 1) != slot as u64 || m < *next + n || m > h2 {
        return Err(bad(h2));
    }
    let oldest = m + 1 - n;
    let lost = oldest - *next;
    *next = oldest;
    Ok(Step::Lost(lost))
}

/// A ring in a mapping.
pub(crate) struct Region {
    /// The region's first byte (the `head` word), 64-aligned.
    base: *mut u8,
    cap: usize,
    /// Bytes of a message.
    size: usize,
    stride: usize,
}

impl Region {
    /// The ring whose region starts at `base`.
    ///
    /// # Safety
    ///
    /// `base` is 8-aligned, and the [`region_size`]`(size, cap)` bytes at
    /// it are mapped while the `Region` is used and only accessed as whole
    /// atomic words; `cap` is a power of two.
    pub(crate) unsafe fn new(base: *mut u8, size: usize, cap: usize) -> Region {
        Region {
            base,
            cap,
            size,
            // `region_size` did not overflow (caller), so neither does this.
            stride: size.next_multiple_of(8) + 8,
        }
    }

    #[inline]
    fn word(&self, at: usize) -> &AtomicU64 {
        // SAFETY: callers pass the offset of a word inside the region,
        // which is mapped, 8-aligned and atomically accessed (`new`).
        unsafe { AtomicU64::from_ptr(self.base.add(at).cast()) }
    }

    #[inline]
    fn slot(&self, slot: usize) -> usize {
        RING_HEADER + slot * self.stride
    }
}

// SAFETY: a `Region` is a pointer into a mapping that its owner keeps
// alive, and every access through it is a whole-word atomic; the only
// stores (`set_head`, `set_seq`, `store_msg`) are made by the publisher
// under the handle's write lock.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl RingMem for Region {
    #[inline]
    fn cap(&self) -> u64 {
        self.cap as u64
    }
    #[inline]
    fn head(&self, order: Ordering) -> u64 {
        self.word(0).load(order)
    }
    #[inline]
    fn set_head(&self, v: u64, order: Ordering) {
        self.word(0).store(v, order)
    }
    #[inline]
    fn seq(&self, slot: usize, order: Ordering) -> u64 {
        self.word(self.slot(slot)).load(order)
    }
    #[inline]
    fn set_seq(&self, slot: usize, v: u64, order: Ordering) {
        self.word(self.slot(slot)).store(v, order)
    }
    #[inline]
    fn fence(order: Ordering) {
        fence(order)
    }
    #[inline]
    unsafe fn load_msg(&self, slot: usize, dst: *mut u8) {
        // SAFETY: the slot's message words are inside the region (`slot <
        // cap`), 8-aligned, atomically accessed; `dst` has room (caller).
        unsafe {
            crate::words::load_words(self.base.add(self.slot(slot) + 8), dst, self.size);
        }
    }
    #[inline]
    unsafe fn store_msg(&self, slot: usize, src: *const u8) {
        // SAFETY: as in `load_msg`; the caller is the one publisher.
        unsafe {
            crate::words::store_words(self.base.add(self.slot(slot) + 8), src, self.size);
        }
    }
}

#[cfg(all(test, loom))]
mod loom_model;
