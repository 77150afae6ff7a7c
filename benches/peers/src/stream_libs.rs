//! The stream libraries behind one small interface ([`StreamLib`]): our
//! `Ring<M, N>`, iceoryx2's publish-subscribe, and a hand-written
//! single-producer seqlock ring over a raw mapping; and the messages
//! ([`Msg`]: 64 B and 4 KiB).

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use shm_runtime::{Options, Publisher, ReadOnly, Ring, Shared, SharedLayout, Subscriber};

use crate::payload::word;
use crate::sys::{RawMap, Res, unlink};

/// Messages a consumer takes per poll (ours: `recv_batch` into a buffer of
/// this many; iceoryx2: `receive()` up to this many times; the raw ring:
/// one `head` load for up to this many).
pub const BATCH: usize = 32;

/// A message: `w[0]` its sequence number, `w[1]` a timestamp (or 0),
/// every other word `word(w[0] ^ w[1], i)`, so a message that mixes two
/// (a torn read) fails [`Msg::check`].
pub trait Msg: SharedLayout + Copy + Send + Sync + Debug + ZeroCopySend + 'static {
    /// Bytes.
    const SIZE: usize;
    /// The ring capacity used with it.
    const N: usize;
    /// The segment schema holding a `Ring<Self, N>` for ours.
    type Seg: SharedLayout;
    /// The schema's initial value.
    fn seg() -> Self::Seg;
    /// Our publisher of the schema's ring.
    fn publisher(s: &Shared<Self::Seg>) -> shm_runtime::Result<Publisher<'_, Self::Seg, Self>>;
    /// Our subscriber of the schema's ring.
    fn subscribe(s: &Shared<Self::Seg, ReadOnly>) -> shm_runtime::Result<Subscriber<'_, Self>>;
    /// An all-zero message.
    fn zeroed() -> Self {
        // SAFETY: `#[repr(C)]` of `u64`s only: all-zero bytes are valid.
        unsafe { std::mem::zeroed() }
    }
    /// Its words.
    fn words(&self) -> &[u64] {
        // SAFETY: `#[repr(C)]` of `SIZE / 8` `u64`s, no padding.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast(), Self::SIZE / 8) }
    }
    /// The sequence number.
    #[inline]
    fn seq(&self) -> u64 {
        self.words()[0]
    }
    /// The timestamp.
    #[inline]
    fn ts(&self) -> u64 {
        self.words()[1]
    }
    /// Whether every word matches the first two.
    #[inline]
    fn check(&self) -> bool {
        let w = self.words();
        let c = w[0] ^ w[1];
        w[2..]
            .iter()
            .enumerate()
            .fold(true, |ok, (i, &x)| ok & (x == word(c, i + 2)))
    }
}

/// Writes the message `seq`, `ts` at `p`.
///
/// # Safety
///
/// `p` is valid for writes of an `M` (8-aligned).
#[inline]
pub unsafe fn fill<M: Msg>(p: *mut M, seq: u64, ts: u64) {
    let p = p.cast::<u64>();
    let c = seq ^ ts;
    // SAFETY: `M` is `SIZE / 8` words (caller: valid for writes).
    unsafe {
        p.write(seq);
        p.add(1).write(ts);
        for i in 2..M::SIZE / 8 {
            p.add(i).write(word(c, i));
        }
    }
}

macro_rules! message {
    ($(#[$doc:meta])* $name:ident, $seg:ident, $size:literal, $cap:literal) => {
        $(#[$doc])*
        #[derive(SharedLayout, Clone, Copy, Debug)]
        #[repr(C)]
        pub struct $name {
            /// The words (see [`Msg`]).
            pub w: [u64; $size / 8],
        }

        // SAFETY: `#[repr(C)]`, integers only, no pointers.
        unsafe impl ZeroCopySend for $name {}

        /// The schema of our segment for this message: a ring beside a word
        /// of state.
        #[derive(SharedLayout)]
        #[repr(C)]
        pub struct $seg {
            /// Unused state.
            pub state: u64,
            /// The stream.
            pub ring: Ring<$name, $cap>,
        }

        impl Msg for $name {
            const SIZE: usize = $size;
            const N: usize = $cap;
            type Seg = $seg;
            fn seg() -> $seg {
                $seg { state: 0, ring: Ring::new() }
            }
            fn publisher(s: &Shared<$seg>) -> shm_runtime::Result<Publisher<'_, $seg, Self>> {
                s.publisher(|f| f.ring())
            }
            fn subscribe(s: &Shared<$seg, ReadOnly>) -> shm_runtime::Result<Subscriber<'_, Self>> {
                s.subscribe(|f| f.ring())
            }
        }

        const _: () = assert!(std::mem::size_of::<$name>() == $size);
    };
}

message!(
    /// 64 bytes, in a ring of 1024.
    M64, Seg64, 64, 1024
);
message!(
    /// 4 KiB, in a ring of 256.
    M4K, Seg4K, 4096, 256
);

/// What a poll delivered.
pub enum Got<'a, M> {
    /// A message (in place or in a private copy).
    Msg(&'a M),
    /// This many messages lost (reported by the library).
    Lost(u64),
}

/// One stream library: a producer side and a consumer side of messages `M`
/// in a named segment (or service).
pub trait StreamLib<M: Msg> {
    /// The producer's handle.
    type Tx;
    /// The consumer's handle.
    type Rx;
    /// Whether it reports losses (else they are only seen as gaps).
    const REPORTS_LOSSES: bool;
    /// Whether `send` itself waits while the consumer's buffer is full
    /// (the library's own backpressure: the `lossless` rows then use no
    /// window of the bench's).
    const OWN_BACKPRESSURE: bool = false;
    /// Creates the stream named `name`.
    fn create(name: &str) -> Res<Self::Tx>;
    /// Opens the existing stream `name` and subscribes, from the next new
    /// message (an error if it is not there yet: the caller retries).
    fn open(name: &str) -> Res<Self::Rx>;
    /// After the consumer subscribed: makes sure the producer sees it.
    fn connect(_tx: &mut Self::Tx) -> Res<()> {
        Ok(())
    }
    /// Publishes message `seq`, `ts` (`scratch`: a private message to
    /// build it in, for the libraries that copy one in).
    fn send(tx: &mut Self::Tx, scratch: &mut M, seq: u64, ts: u64) -> Res<()>;
    /// Takes what is there (up to [`BATCH`] messages), calling `f` on each
    /// message and loss in order; returns how many calls (0: nothing new).
    fn poll<F: FnMut(Got<'_, M>)>(rx: &mut Self::Rx, f: &mut F) -> Res<usize>;
    /// Removes the stream (errors ignored: clean-up).
    fn remove(name: &str);
}

/// Ours: `Shared::publisher` / `Shared::subscribe` on a POSIX segment;
/// `publish(&msg)`, `recv_batch`.
pub struct Ours;

/// The consumer side of [`Ours`].
pub struct OursRx<M: 'static> {
    sub: Subscriber<'static, M>,
    buf: Box<[M]>,
}

impl<M: Msg> StreamLib<M> for Ours {
    // The handles are leaked (a few per run): a publisher borrows its
    // segment handle.
    type Tx = Publisher<'static, M::Seg, M>;
    type Rx = OursRx<M>;
    const REPORTS_LOSSES: bool = true;
    fn create(name: &str) -> Res<Self::Tx> {
        let seg = Options::posix(name).create_new().open_with(&M::seg())?;
        Ok(M::publisher(Box::leak(Box::new(seg)))?)
    }
    fn open(name: &str) -> Res<Self::Rx> {
        let seg = Options::posix(name)
            .open_existing()
            .open_read_only::<M::Seg>()?;
        Ok(OursRx {
            sub: M::subscribe(Box::leak(Box::new(seg)))?,
            buf: vec![M::zeroed(); BATCH].into_boxed_slice(),
        })
    }
    #[inline]
    fn send(tx: &mut Self::Tx, scratch: &mut M, seq: u64, ts: u64) -> Res<()> {
        // SAFETY: `scratch` is a whole private `M`.
        unsafe { fill(scratch, seq, ts) };
        tx.publish(scratch)?;
        Ok(())
    }
    #[inline]
    fn poll<F: FnMut(Got<'_, M>)>(rx: &mut Self::Rx, f: &mut F) -> Res<usize> {
        let (n, lost) = rx.sub.recv_batch(&mut rx.buf)?;
        if lost > 0 {
            f(Got::Lost(lost));
        }
        for m in &rx.buf[..n] {
            f(Got::Msg(m));
        }
        Ok(n + usize::from(lost > 0))
    }
    fn remove(name: &str) {
        let _ = Options::posix(name).remove();
    }
}

/// iceoryx2 publish-subscribe: safe overflow on (the oldest sample is
/// overwritten, as in a ring), subscriber buffer and history of `N`, one
/// publisher, one subscriber. The producer loans a sample and builds the
/// message in place (`loan_uninit`, zero-copy: its fastest API); the
/// consumer checks the sample in place (`receive()`).
pub type Ice = IceWith<false>;

/// iceoryx2 publish-subscribe with its own backpressure instead: safe
/// overflow off, the publisher's `BackpressureStrategy::RetryUntilDelivered`
/// (`send` waits while the subscriber's buffer of `N` is full); otherwise
/// as [`Ice`].
pub type IceBackpressure = IceWith<true>;

/// iceoryx2 publish-subscribe, with its own backpressure or not.
pub struct IceWith<const BACKPRESSURE: bool>;

/// The producer side of [`Ice`] (fields drop in this order).
pub struct IceTx<M: Msg> {
    publisher: iceoryx2::port::publisher::Publisher<ipc::Service, M, ()>,
    _service: iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, M, ()>,
    _node: Node<ipc::Service>,
}

/// The consumer side of [`Ice`].
pub struct IceRx<M: Msg> {
    subscriber: iceoryx2::port::subscriber::Subscriber<ipc::Service, M, ()>,
    _service: iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, M, ()>,
    _node: Node<ipc::Service>,
}

fn ice_name(name: &str) -> Res<ServiceName> {
    Ok(ServiceName::new(&format!("peer-bench/{name}"))?)
}

impl<M: Msg, const BACKPRESSURE: bool> StreamLib<M> for IceWith<BACKPRESSURE> {
    type Tx = IceTx<M>;
    type Rx = IceRx<M>;
    const REPORTS_LOSSES: bool = false;
    const OWN_BACKPRESSURE: bool = BACKPRESSURE;
    fn create(name: &str) -> Res<Self::Tx> {
        let node = NodeBuilder::new().create::<ipc::Service>()?;
        let service = node
            .service_builder(&ice_name(name)?)
            .publish_subscribe::<M>()
            .enable_safe_overflow(!BACKPRESSURE)
            .subscriber_max_buffer_size(M::N)
            .history_size(M::N)
            .max_publishers(1)
            .max_subscribers(1)
            .create()?;
        let strategy = if BACKPRESSURE {
            BackpressureStrategy::RetryUntilDelivered
        } else {
            BackpressureStrategy::DiscardData
        };
        let publisher = service
            .publisher_builder()
            .backpressure_strategy(strategy)
            .create()?;
        Ok(IceTx {
            publisher,
            _service: service,
            _node: node,
        })
    }
    fn open(name: &str) -> Res<Self::Rx> {
        let node = NodeBuilder::new().create::<ipc::Service>()?;
        let service = node
            .service_builder(&ice_name(name)?)
            .publish_subscribe::<M>()
            .open()?;
        let subscriber = service.subscriber_builder().buffer_size(M::N).create()?;
        Ok(IceRx {
            subscriber,
            _service: service,
            _node: node,
        })
    }
    fn connect(tx: &mut Self::Tx) -> Res<()> {
        tx.publisher.update_connections()?;
        Ok(())
    }
    #[inline]
    fn send(tx: &mut Self::Tx, _scratch: &mut M, seq: u64, ts: u64) -> Res<()> {
        let mut s = tx.publisher.loan_uninit()?;
        // SAFETY: the loaned payload is a whole `M`, 8-aligned.
        unsafe { fill(s.payload_mut().as_mut_ptr(), seq, ts) };
        // SAFETY: `fill` wrote every word.
        unsafe { s.assume_init() }.send()?;
        Ok(())
    }
    #[inline]
    fn poll<F: FnMut(Got<'_, M>)>(rx: &mut Self::Rx, f: &mut F) -> Res<usize> {
        let mut k = 0;
        while k < BATCH {
            match rx.subscriber.receive()? {
                Some(s) => f(Got::Msg(s.payload())),
                None => break,
            }
            k += 1;
        }
        Ok(k)
    }
    fn remove(_name: &str) {
        // Dropping the last handle removes the service.
    }
}

/// The floor: a hand-written single-producer seqlock ring over a raw
/// mapping, the same layout as ours (`head` on its own cache line, then
/// `N` slots of a sequence word and the message) and the same algorithm,
/// without the checks of a segment that may lie, with plain `memcpy`s in
/// and out (formally a data race, as in the usual hand-written seqlock:
/// this is the peer being measured), and one `head` load per batch.
pub struct RawRing;

/// The producer side of [`RawRing`].
pub struct RawTx {
    map: RawMap,
    head: u64,
}

/// The consumer side of [`RawRing`].
pub struct RawRx<M> {
    map: RawMap,
    next: u64,
    buf: Box<M>,
}

fn raw_len<M: Msg>() -> usize {
    64 + M::N * (8 + M::SIZE)
}

fn raw_word(m: &RawMap, at: usize) -> &AtomicU64 {
    // SAFETY: callers pass an 8-aligned offset inside the mapping (`head`
    // or a slot's sequence word), only ever accessed atomically.
    unsafe { AtomicU64::from_ptr(m.ptr().add(at).cast()) }
}

fn raw_slot<M: Msg>(i: u64) -> usize {
    64 + (i as usize & (M::N - 1)) * (8 + M::SIZE)
}

impl<M: Msg> StreamLib<M> for RawRing {
    type Tx = RawTx;
    type Rx = RawRx<M>;
    const REPORTS_LOSSES: bool = true;
    fn create(name: &str) -> Res<Self::Tx> {
        Ok(RawTx {
            map: RawMap::create(name, raw_len::<M>())?,
            head: 0,
        })
    }
    fn open(name: &str) -> Res<Self::Rx> {
        let map = RawMap::open(name, raw_len::<M>(), false)?;
        let next = raw_word(&map, 0).load(Ordering::Acquire);
        Ok(RawRx {
            map,
            next,
            buf: Box::new(M::zeroed()),
        })
    }
    #[inline]
    fn send(tx: &mut Self::Tx, scratch: &mut M, seq: u64, ts: u64) -> Res<()> {
        // SAFETY: `scratch` is a whole private `M`.
        unsafe { fill(scratch, seq, ts) };
        let (h, at) = (tx.head, raw_slot::<M>(tx.head));
        let s = raw_word(&tx.map, at);
        s.store(2 * h + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        // SAFETY: the slot's message bytes lie inside the mapping; the
        // race with readers is the seqlock's (see the type).
        unsafe {
            std::ptr::copy_nonoverlapping(
                (scratch as *const M).cast::<u8>(),
                tx.map.ptr().add(at + 8),
                M::SIZE,
            )
        };
        s.store(2 * h + 2, Ordering::Release);
        tx.head = h + 1;
        raw_word(&tx.map, 0).store(h + 1, Ordering::Release);
        Ok(())
    }
    #[inline]
    fn poll<F: FnMut(Got<'_, M>)>(rx: &mut Self::Rx, f: &mut F) -> Res<usize> {
        let n = M::N as u64;
        let h = raw_word(&rx.map, 0).load(Ordering::Acquire);
        let mut k = 0;
        if h - rx.next > n {
            f(Got::Lost(h - n - rx.next));
            rx.next = h - n;
            k += 1;
        }
        while rx.next < h && k < BATCH {
            let at = raw_slot::<M>(rx.next);
            let s = raw_word(&rx.map, at);
            let expect = 2 * rx.next + 2;
            let s1 = s.load(Ordering::Acquire);
            let mut now = s1;
            if s1 == expect {
                // SAFETY: as in `send`; a torn copy is thrown away below
                // (integers only: any bytes are a valid `M`).
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        rx.map.ptr().add(at + 8),
                        (&mut *rx.buf as *mut M).cast::<u8>(),
                        M::SIZE,
                    )
                };
                fence(Ordering::Acquire);
                now = s.load(Ordering::Relaxed);
                if now == s1 {
                    f(Got::Msg(&rx.buf));
                    rx.next += 1;
                    k += 1;
                    continue;
                }
            }
            // Overwritten by message `m`: `next ..= m - N` are gone.
            let m = (now - 1) / 2;
            f(Got::Lost(m + 1 - n - rx.next));
            rx.next = m + 1 - n;
            k += 1;
        }
        Ok(k)
    }
    fn remove(name: &str) {
        unlink(name);
    }
}
