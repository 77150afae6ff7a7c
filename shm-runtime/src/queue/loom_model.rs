//! The queue protocol under loom: `RUSTFLAGS="--cfg loom" cargo test -p
//! shm-runtime --lib --release loom_queue`. [`Model`] is a queue of two
//! slots of two-word messages (message `v` is `[v, !v]`, so a torn one
//! fails the check) over loom's atomics; `send`, `peek` and `take` run on
//! it unchanged. [`watcher`] is the reader that does not take (what `shm
//! watch` does in `shm-cli/src/watch_streams.rs`, written again here over
//! the model's words).

use super::{NotSent, QueueMem, peek, send, take};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};

fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(preemptions));
    builder.check(f);
}

/// `tail`, `head` and two slots of two words; `RELAXED_TAIL` stores
/// `tail` without release, `NO_FENCE` leaves out the producer's release
/// fence (the negative controls).
struct Model<const RELAXED_TAIL: bool, const NO_FENCE: bool = false> {
    tail: AtomicU64,
    head: AtomicU64,
    words: [[AtomicU64; 2]; 2],
}

impl<const RELAXED_TAIL: bool, const NO_FENCE: bool> Model<RELAXED_TAIL, NO_FENCE> {
    fn new() -> Self {
        let w = || [AtomicU64::new(0), AtomicU64::new(0)];
        Model {
            tail: AtomicU64::new(0),
            head: AtomicU64::new(0),
            words: [w(), w()],
        }
    }
}

impl<const RELAXED_TAIL: bool, const NO_FENCE: bool> QueueMem for Model<RELAXED_TAIL, NO_FENCE> {
    fn cap(&self) -> u64 {
        2
    }
    fn tail(&self, order: Ordering) -> u64 {
        self.tail.load(order)
    }
    fn set_tail(&self, v: u64, order: Ordering) {
        let order = if RELAXED_TAIL {
            Ordering::Relaxed
        } else {
            order
        };
        self.tail.store(v, order)
    }
    fn head(&self, order: Ordering) -> u64 {
        self.head.load(order)
    }
    fn set_head(&self, v: u64, order: Ordering) {
        self.head.store(v, order)
    }
    fn fence(order: Ordering) {
        if !(NO_FENCE && order == Ordering::Release) {
            loom::sync::atomic::fence(order)
        }
    }
    unsafe fn load_msg(&self, i: u64, dst: *mut u8) {
        for (k, w) in self.words[(i % 2) as usize].iter().enumerate() {
            // SAFETY: `dst` holds two words (`consumer`).
            unsafe {
                dst.cast::<u64>()
                    .add(k)
                    .write_unaligned(w.load(Ordering::Relaxed))
            };
        }
    }
    unsafe fn store_msg(&self, i: u64, src: *const u8) {
        for (k, w) in self.words[(i % 2) as usize].iter().enumerate() {
            // SAFETY: `src` holds two words (`producer`).
            let v = unsafe { src.cast::<u64>().add(k).read_unaligned() };
            w.store(v, Ordering::Relaxed);
        }
    }
}

/// Sends messages 1..=n (message `i` is `i + 1`), waiting while full.
fn producer<Q: QueueMem>(q: &Q, n: u64) {
    for v in 1..=n {
        let src: [u64; 2] = [v, !v];
        loop {
            // SAFETY: `src` is two words, a message.
            match unsafe { send(q, src.as_ptr().cast()) } {
                Ok(i) => {
                    assert_eq!(i + 1, v);
                    break;
                }
                Err(NotSent::Full) => loom::thread::yield_now(),
                Err(NotSent::Bad(e)) => panic!("{e}"),
            }
        }
    }
}

/// Takes `n` messages: each whole, each the next one, once.
fn consumer<Q: QueueMem + Send + Sync + 'static>(
    q: &Arc<Q>,
    n: u64,
) -> loom::thread::JoinHandle<()> {
    let q = q.clone();
    loom::thread::spawn(move || {
        let mut expect = 0;
        while expect < n {
            let mut out = [0u64; 2];
            // SAFETY: `out` is two words.
            match unsafe { peek(&*q, out.as_mut_ptr().cast()) }.unwrap() {
                None => loom::thread::yield_now(),
                Some(i) => {
                    assert_eq!(out[0], !out[1], "torn message {out:?}");
                    assert_eq!(i, expect, "out of order or twice");
                    assert_eq!(out[0], i + 1, "message {i} is not the one sent");
                    assert!(take(&*q).unwrap());
                    expect += 1;
                }
            }
        }
    })
}

/// Three messages through two slots: every one whole, in order, once,
/// though the producer reuses slots the consumer has just read.
#[test]
fn loom_queue_delivers_every_message_whole_in_order_once() {
    model(2, || {
        let q = Arc::new(Model::<false>::new());
        let c = consumer(&q, 3);
        producer(&*q, 3);
        c.join().unwrap();
    });
}

/// The model has teeth: without the release on `tail`, the consumer can
/// see the count before the message it counts.
#[test]
#[should_panic(expected = "torn message")]
fn loom_queue_finds_the_torn_message_without_the_release_on_tail() {
    model(2, || {
        let q = Arc::new(Model::<true>::new());
        let c = consumer(&q, 1);
        producer(&*q, 1);
        c.join().unwrap();
    });
}

/// A reader that never stores (`shm watch`): `polls` times, it loads
/// `head`, `tail`, `head`; skips to `head` if the consumer took messages
/// before it saw them (and polls again); else copies message `next < tail`, fences with acquire and keeps the
/// copy only if `head` is still at most `next`. A kept copy must be whole
/// and the message its number says.
fn watcher<Q: QueueMem + Send + Sync + 'static>(
    q: &Arc<Q>,
    polls: usize,
) -> loom::thread::JoinHandle<()> {
    let q = q.clone();
    loom::thread::spawn(move || {
        let mut next = 0;
        for _ in 0..polls {
            let h1 = q.head(Ordering::Acquire);
            let t = q.tail(Ordering::Acquire);
            let h2 = q.head(Ordering::Acquire);
            assert!(h1 <= t && h1 <= h2 && t <= h2 + q.cap(), "{h1} {t} {h2}");
            assert!(next <= t, "sent count {t} below the position {next}");
            if h2 > next {
                // Taken before the watcher saw them; `tail` may be older
                // than `h2`: look again at the next poll.
                next = h2;
                continue;
            }
            if next == t {
                loom::thread::yield_now();
                continue;
            }
            let mut out = [0u64; 2];
            // SAFETY: `out` is two words.
            unsafe { q.load_msg(next, out.as_mut_ptr().cast()) };
            Q::fence(Ordering::Acquire);
            if q.head(Ordering::Acquire) <= next {
                assert_eq!(out[0], !out[1], "torn message {out:?}");
                assert_eq!(out[0], next + 1, "message {next} is not the one sent");
                next += 1;
            }
        }
    })
}

/// Three messages through two slots, taken by the consumer while a
/// watcher looks: every copy the watcher keeps is whole, though the
/// producer rewrites the slot of a message as soon as it is taken.
#[test]
fn loom_queue_watcher_keeps_only_whole_messages() {
    model(2, || {
        let q = Arc::new(Model::<false>::new());
        let c = consumer(&q, 3);
        let w = watcher(&q, 2);
        producer(&*q, 3);
        c.join().unwrap();
        w.join().unwrap();
    });
}

/// The watcher's model has teeth: without the producer's release fence,
/// the watcher can copy part of message 2 and still see `head` 0.
#[test]
#[should_panic(expected = "torn message")]
fn loom_queue_watcher_finds_the_torn_message_without_the_producer_fence() {
    model(2, || {
        let q = Arc::new(Model::<false, true>::new());
        let c = consumer(&q, 3);
        let w = watcher(&q, 2);
        producer(&*q, 3);
        c.join().unwrap();
        w.join().unwrap();
    });
}
