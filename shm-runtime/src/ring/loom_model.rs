//! The ring protocol under loom: `RUSTFLAGS="--cfg loom" cargo test -p
//! shm-runtime --lib --release loom_ring` (`.ci/concurrency.sh` runs every
//! `loom` test). [`Model`] is a ring of two slots of two-word messages
//! (a message `v` is `[v, !v]`, so a torn one fails the check) over
//! loom's atomics; `publish` and `try_next` run on it unchanged.

use super::{RingMem, Step, publish, try_next, try_next_cached};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};

fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(preemptions));
    builder.check(f);
}

/// Two slots of two words, their `seq`s and `head`.
struct Model {
    head: AtomicU64,
    seq: [AtomicU64; 2],
    words: [[AtomicU64; 2]; 2],
}

impl Model {
    fn new() -> Self {
        let w = || [AtomicU64::new(0), AtomicU64::new(0)];
        Model {
            head: AtomicU64::new(0),
            seq: [AtomicU64::new(0), AtomicU64::new(0)],
            words: [w(), w()],
        }
    }
}

impl RingMem for Model {
    fn cap(&self) -> u64 {
        2
    }
    fn head(&self, order: Ordering) -> u64 {
        self.head.load(order)
    }
    fn set_head(&self, v: u64, order: Ordering) {
        self.head.store(v, order)
    }
    fn seq(&self, slot: usize, order: Ordering) -> u64 {
        self.seq[slot].load(order)
    }
    fn set_seq(&self, slot: usize, v: u64, order: Ordering) {
        self.seq[slot].store(v, order)
    }
    fn fence(order: Ordering) {
        loom::sync::atomic::fence(order)
    }
    unsafe fn load_msg(&self, slot: usize, dst: *mut u8) {
        for (i, w) in self.words[slot].iter().enumerate() {
            // SAFETY: `dst` holds two words (`recv`).
            unsafe {
                dst.cast::<u64>()
                    .add(i)
                    .write_unaligned(w.load(Ordering::Relaxed))
            };
        }
    }
    unsafe fn store_msg(&self, slot: usize, src: *const u8) {
        for (i, w) in self.words[slot].iter().enumerate() {
            // SAFETY: `src` holds two words (`send`).
            let v = unsafe { src.cast::<u64>().add(i).read_unaligned() };
            w.store(v, Ordering::Relaxed);
        }
    }
}

/// [`Model`] without the fences (the negative control).
struct NoFences(Model);

impl RingMem for NoFences {
    fn cap(&self) -> u64 {
        self.0.cap()
    }
    fn head(&self, order: Ordering) -> u64 {
        self.0.head(order)
    }
    fn set_head(&self, v: u64, order: Ordering) {
        self.0.set_head(v, order)
    }
    fn seq(&self, slot: usize, order: Ordering) -> u64 {
        self.0.seq(slot, order)
    }
    fn set_seq(&self, slot: usize, v: u64, order: Ordering) {
        self.0.set_seq(slot, v, order)
    }
    fn fence(_: Ordering) {}
    unsafe fn load_msg(&self, slot: usize, dst: *mut u8) {
        // SAFETY: forwarded.
        unsafe { self.0.load_msg(slot, dst) }
    }
    unsafe fn store_msg(&self, slot: usize, src: *const u8) {
        // SAFETY: forwarded.
        unsafe { self.0.store_msg(slot, src) }
    }
}

/// Publishes message `v` (the caller is the one publisher).
fn send<R: RingMem>(r: &R, v: u64) {
    let src: [u64; 2] = [v, !v];
    // SAFETY: `src` is two words, a message.
    unsafe { publish(r, src.as_ptr().cast()) }.unwrap();
}

/// A reader that reads until it has accounted for `total` messages,
/// checking that each is whole, is the message its number says (message
/// `i` is `i + 1`), and that messages plus losses count every one once.
/// `cached`: with the `head` it loaded last, as subscribers do
/// (`try_next_cached`), else a fresh `head` each step (`try_next`).
fn reader<R: RingMem + Send + Sync + 'static>(
    r: &Arc<R>,
    total: u64,
    cached: bool,
) -> loom::thread::JoinHandle<()> {
    let r = r.clone();
    loom::thread::spawn(move || {
        let mut next = 0;
        let mut seen = 0;
        let mut counted = 0;
        while counted < total {
            let mut out = [0u64; 2];
            let dst = out.as_mut_ptr().cast();
            // SAFETY: `out` is two words; `seen` is 0 or a loaded `head`.
            let step = unsafe {
                if cached {
                    try_next_cached(&*r, &mut seen, &mut next, dst)
                } else {
                    try_next(&*r, &mut next, dst)
                }
            };
            match step.unwrap() {
                Step::Empty => loom::thread::yield_now(),
                Step::Msg(i) => {
                    assert_eq!(out[0], !out[1], "torn message {out:?}");
                    assert_eq!(out[0], i + 1, "message {i} is not the one published");
                    assert_eq!(i, counted, "message out of order or twice");
                    counted += 1;
                }
                Step::Lost(k) => counted += k,
            }
            assert_eq!(next, counted);
        }
    })
}

/// Three messages into two slots, one reader: every message arrives whole
/// and in order, or is counted lost exactly once.
#[test]
fn loom_ring_readers_see_whole_messages_or_exact_losses() {
    model(2, || {
        let m = Arc::new(Model::new());
        let r = reader(&m, 3, false);
        for v in 1..=3 {
            send(&*m, v);
        }
        r.join().unwrap();
    });
}

/// The same with the reader remembering the `head` it loaded last (a
/// subscriber's `try_recv`).
#[test]
fn loom_ring_readers_with_a_remembered_head_see_whole_messages_or_exact_losses() {
    model(2, || {
        let m = Arc::new(Model::new());
        let r = reader(&m, 3, true);
        for v in 1..=3 {
            send(&*m, v);
        }
        r.join().unwrap();
    });
}

/// The model has teeth: without the fences a reader copies a message
/// while it is overwritten and takes it for whole.
#[test]
#[should_panic(expected = "torn message")]
fn loom_ring_finds_the_torn_message_when_the_fences_are_left_out() {
    model(2, || {
        let m = Arc::new(NoFences(Model::new()));
        let r = reader(&m, 3, true);
        for v in 1..=3 {
            send(&*m, v);
        }
        r.join().unwrap();
    });
}
