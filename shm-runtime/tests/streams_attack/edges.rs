//! Edge shapes and races of `streams_attack.rs`: capacities 1 and 2^24,
//! publishes racing snapshot writes, a name re-created under a
//! subscriber, and the handles' thread traits.

use super::*;

/// The handles' thread traits: every handle may move to another thread
/// (a subscriber or consumer handed to a worker); the publisher and the
/// producer may be shared (their calls take the handle's write lock).
#[test]
fn handles_are_send_and_the_writing_ones_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<shm_runtime::Subscriber<'static, u64>>();
    send::<shm_runtime::Publisher<'static, Target, u64>>();
    sync::<shm_runtime::Publisher<'static, Target, u64>>();
    send::<shm_runtime::Producer<'static, Target, u64>>();
    sync::<shm_runtime::Producer<'static, Target, u64>>();
    send::<shm_runtime::Consumer<'static, Target, u64>>();
}

/// Edge shapes: capacity 1, one-byte messages, and capacities of 2^24.
/// (Zero-sized messages do not compile, and the descriptor decoders of
/// Rust and Python refuse them.)
#[derive(SharedLayout)]
#[repr(C)]
pub struct Edges {
    pub state: u64,
    pub one: Ring<u64, 1>,
    pub byte: Ring<u8, 2>,
    pub q_one: Queue<u64, 1>,
    pub big: Ring<u8, { 1 << 24 }>,
    pub big_q: Queue<u8, { 1 << 24 }>,
}

/// Region offsets in the stream area: `one` 64 + 16 = 128 bytes, `byte`
/// 64 + 2 × 16 = 128, `q_one` 128 + 8 = 192, then `big`.
const BIG: u64 = 128 + 128 + 192;
const BIG_Q: u64 = BIG + 64 + (1 << 24) * 16;

#[test]
fn capacity_one_small_messages_and_the_largest_capacity_work() {
    let name = unique("attack-edges");
    let _c = Cleanup::posix(&name);
    let seg = Options::posix(&name).create_new().open::<Edges>().unwrap();
    let seg2 = Options::posix(&name)
        .claim_writer(false)
        .open::<Edges>()
        .unwrap();
    // Capacity 1: every publish overwrites the one slot; losses exact.
    let p = seg.publisher(|f| f.one()).unwrap();
    let mut sub = seg.subscribe(|f| f.one()).unwrap();
    for i in 0..5 {
        p.publish(&i).unwrap();
    }
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Lost(4)));
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(4)));
    assert_eq!(sub.try_recv().unwrap(), None);
    assert_eq!(sub.position(), 5);
    let p = seg.publisher(|f| f.byte()).unwrap();
    let mut sub = seg.subscribe(|f| f.byte()).unwrap();
    for i in 0..3 {
        p.publish(&i).unwrap();
    }
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Lost(1)));
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(1)));
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(2)));
    assert_eq!(sub.try_recv().unwrap(), None);
    // A queue of one.
    let q = seg.producer(|f| f.q_one()).unwrap();
    let mut c = seg2.consumer(|f| f.q_one(), Duration::ZERO).unwrap();
    q.try_send(&1).unwrap();
    assert!(matches!(
        q.try_send(&2),
        Err(Error::QueueFull { capacity: 1, .. })
    ));
    assert_eq!(c.try_recv().unwrap(), Some(1));
    q.try_send(&2).unwrap();
    assert_eq!(c.try_recv().unwrap(), Some(2));
    // 2^24 slots: the counters set (as by 2^24 - 1 earlier messages) so
    // that the next messages use the last slot, then wrap to slot 0.
    let s = seg.header().streams_offset().unwrap();
    let raw = Raw::map(&name);
    let n = 1u64 << 24;
    raw.word(s + BIG).store(n - 1, Ordering::Release);
    let p = seg.publisher(|f| f.big()).unwrap();
    let mut sub = seg.subscribe(|f| f.big()).unwrap();
    assert_eq!(sub.position(), n - 1);
    p.publish(&1).unwrap();
    p.publish(&2).unwrap();
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(1)));
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(2)));
    sub.start_oldest();
    // Slots 0 .. 2^24 - 2 hold no message of this lap: not complete, and
    // not a later lap either (the counters were set by hand).
    assert!(matches!(sub.try_recv(), Err(Error::Corrupt { .. })));
    raw.word(s + BIG_Q).store(n - 1, Ordering::Release);
    raw.word(s + BIG_Q + 64).store(n - 1, Ordering::Release);
    let q = seg.producer(|f| f.big_q()).unwrap();
    let mut c = seg2.consumer(|f| f.big_q(), Duration::ZERO).unwrap();
    q.try_send(&1).unwrap();
    q.try_send(&2).unwrap();
    assert_eq!(c.try_recv().unwrap(), Some(1));
    assert_eq!(c.try_recv().unwrap(), Some(2));
    assert_eq!(c.position(), n + 1);
    let len = std::fs::metadata(format!("/dev/shm/{name}")).unwrap().len();
    assert!(len >= s + BIG_Q + 128 + n * 8, "{len}");
}

/// A publisher thread and a writer thread of the same handle: the
/// snapshot and the ring do not disturb each other.
#[test]
fn publishes_and_snapshot_writes_racing_through_one_handle() {
    let (name, _c, seg) = fresh("attack-write-race");
    let ro = Options::posix(&name).open_read_only::<Target>().unwrap();
    let mut sub = ro.subscribe(|f| f.events()).unwrap();
    let n = 5_000u64;
    let (mut got, mut lost) = (0u64, 0u64);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let p = seg.publisher(|f| f.events()).unwrap();
            for i in 0..n {
                p.publish(&i).unwrap();
            }
        });
        sc.spawn(|| {
            for i in 0..n {
                seg.write(&Target {
                    state: i,
                    events: Ring::new(),
                    commands: Queue::new(),
                })
                .unwrap();
            }
        });
        while got + lost < n {
            match sub.recv_timeout(Duration::from_secs(30)).unwrap() {
                Some(Recv::Msg(m)) => {
                    assert_eq!(m, got + lost, "in order, once");
                    got += 1;
                }
                Some(Recv::Lost(k)) => lost += k,
                None => panic!("no message for 30 s"),
            }
            let v = ro.read().unwrap();
            assert!(v.state < n);
        }
    });
    assert_eq!(got + lost, n);
    assert_eq!(seg.read().unwrap().state, n - 1);
}

/// The name removed and re-created while a subscriber holds the old
/// segment: the subscriber keeps its (unlinked) object, sees nothing of
/// the new one and never errs or hangs; a new open sees the new ring.
#[test]
fn a_segment_re_created_under_the_name_leaves_old_subscribers_on_the_old_one() {
    let (name, _c, seg) = fresh("attack-recreate");
    let ro = Options::posix(&name).open_read_only::<Target>().unwrap();
    let mut sub = ro.subscribe(|f| f.events()).unwrap();
    seg.publisher(|f| f.events()).unwrap().publish(&1).unwrap();
    Options::posix(&name).remove().unwrap();
    drop(seg);
    let new = Options::posix(&name).create_new().open::<Target>().unwrap();
    new.publisher(|f| f.events()).unwrap().publish(&2).unwrap();
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(1)));
    assert_eq!(sub.recv_timeout(Duration::from_millis(200)).unwrap(), None);
    let ro2 = Options::posix(&name).open_read_only::<Target>().unwrap();
    let mut sub2 = ro2.subscribe(|f| f.events()).unwrap();
    sub2.start_oldest();
    assert_eq!(sub2.try_recv().unwrap(), Some(Recv::Msg(2)));
}

/// Version 1 with a ring, room to grow.
#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
#[shm(name = "Limb", capacity = 256)]
pub struct LimbV1 {
    pub state: u64,
    pub log: Ring<u64, 4>,
}

/// Version 2 appends a field and a ring.
#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
#[shm(version = 2, extends = LimbV1, capacity = 256)]
pub struct LimbV2 {
    pub state: u64,
    pub log: Ring<u64, 4>,
    pub speed: u64,
    pub alarms: Ring<u32, 2>,
}

/// A segment upgraded in place by one program, then opened by others as
/// the newer version (read-write and read-only): the ring the upgrade
/// could not make room for is refused as the README says
/// (`Unsupported`), for every later opener, not only for the upgrader;
/// the old ring goes on.
#[test]
fn a_ring_added_by_an_upgrade_is_unsupported_for_every_later_opener() {
    let name = unique("attack-upgrade");
    let _c = Cleanup::posix(&name);
    let v1 = Options::posix(&name).create_new().open::<LimbV1>().unwrap();
    v1.publisher(|f| f.log()).unwrap().publish(&7).unwrap();
    drop(v1);
    drop(
        Options::posix(&name)
            .upgrade(true)
            .open::<LimbV2>()
            .unwrap(),
    );
    let rw = Options::posix(&name).open::<LimbV2>().unwrap();
    let ro = Options::posix(&name).open_read_only::<LimbV2>().unwrap();
    let e = rw.publisher(|f| f.alarms()).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    let e = ro.subscribe(|f| f.alarms()).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    let mut s = ro.subscribe(|f| f.log()).unwrap();
    s.start_oldest();
    assert_eq!(s.try_recv().unwrap(), Some(Recv::Msg(7)));
    rw.publisher(|f| f.log()).unwrap().publish(&8).unwrap();
    assert_eq!(s.try_recv().unwrap(), Some(Recv::Msg(8)));
}

/// A message of 256 KiB.
#[derive(SharedLayout, Clone, Copy)]
#[repr(C)]
pub struct Big {
    pub words: [u64; 32768],
}

#[derive(SharedLayout)]
#[repr(C)]
pub struct BigStream {
    pub state: u64,
    pub events: Ring<Big, 2>,
    pub commands: Queue<Big, 2>,
}

/// Messages larger than a thread's stack, received into the heap with
/// `recv_batch` on a thread of 512 KiB stack (as the snapshot API does
/// values larger than the stack).
#[test]
fn messages_larger_than_the_stack_are_received_into_the_heap() {
    let name = unique("attack-big");
    let _c = Cleanup::posix(&name);
    let seg = Options::posix(&name)
        .create_new()
        .open::<BigStream>()
        .unwrap();
    let seg2 = Options::posix(&name)
        .claim_writer(false)
        .open::<BigStream>()
        .unwrap();
    // SAFETY: as below.
    let mut m: Box<Big> = unsafe { Box::new_zeroed().assume_init() };
    for (i, w) in m.words.iter_mut().enumerate() {
        *w = i as u64;
    }
    seg.publisher(|f| f.events()).unwrap().publish(&m).unwrap();
    seg.producer(|f| f.commands())
        .unwrap()
        .try_send(&m)
        .unwrap();
    std::thread::scope(|sc| {
        std::thread::Builder::new()
            .stack_size(512 << 10)
            .spawn_scoped(sc, || {
                let mut sub = seg2.subscribe(|f| f.events()).unwrap();
                sub.start_oldest();
                // SAFETY: a `Big` is words, for which zero bytes are valid.
                let mut out: Box<[Big]> = unsafe { Box::new_zeroed_slice(1).assume_init() };
                assert_eq!(sub.recv_batch(&mut out).unwrap(), (1, 0));
                assert_eq!(out[0].words[32767], 32767);
                let mut c = seg2.consumer(|f| f.commands(), Duration::ZERO).unwrap();
                assert_eq!(c.recv_batch(&mut out).unwrap(), 1);
                assert_eq!(out[0].words[32767], 32767);
            })
            .unwrap();
    });
}

#[derive(SharedLayout)]
#[repr(C)]
pub struct Flags {
    pub state: u64,
    pub flags: Ring<bool, 8>,
    pub orders: Queue<bool, 4>,
}

/// A bad message in the middle of a batch: the messages before it are
/// returned (not dropped with the error: a queue's were acknowledged
/// already), the error comes at the next call, and nothing is lost
/// uncounted.
#[test]
fn a_bad_message_in_a_batch_does_not_swallow_the_ones_before_it() {
    let name = unique("attack-batch");
    let _c = Cleanup::posix(&name);
    let seg = Options::posix(&name).create_new().open::<Flags>().unwrap();
    let seg2 = Options::posix(&name)
        .claim_writer(false)
        .open::<Flags>()
        .unwrap();
    let s = seg.header().streams_offset().unwrap();
    let raw = Raw::map(&name);
    // Ring: 4 messages, the third made 7 (slot 2: 64 + 2 × 16 + 8).
    let p = seg.publisher(|f| f.flags()).unwrap();
    let mut sub = seg.subscribe(|f| f.flags()).unwrap();
    for b in [true, false, true, true] {
        p.publish(&b).unwrap();
    }
    raw.word(s + 64 + 2 * 16 + 8).store(7, Ordering::Relaxed);
    let mut out = [false; 8];
    assert_eq!(sub.recv_batch(&mut out).unwrap(), (2, 0));
    assert_eq!(out[..2], [true, false]);
    let e = sub.recv_batch(&mut out).unwrap_err();
    assert!(matches!(e, Error::InvalidValue { .. }), "{e}");
    assert_eq!(sub.recv_batch(&mut out).unwrap(), (1, 0));
    assert_eq!(sub.position(), 4);
    // Queue (region after the ring's 64 + 8 × 16 = 192 bytes): the same.
    let q = seg.producer(|f| f.orders()).unwrap();
    let mut c = seg2.consumer(|f| f.orders(), Duration::ZERO).unwrap();
    for b in [true, false, true, true] {
        q.try_send(&b).unwrap();
    }
    raw.word(s + 192 + 128 + 2 * 8).store(7, Ordering::Relaxed);
    assert_eq!(c.recv_batch(&mut out).unwrap(), 2);
    assert_eq!(out[..2], [true, false]);
    let e = c.recv_batch(&mut out).unwrap_err();
    assert!(matches!(e, Error::InvalidValue { .. }), "{e}");
    assert_eq!(c.recv_batch(&mut out).unwrap(), 1);
    assert_eq!(c.position(), 4);
}

#[derive(SharedLayout)]
#[repr(C)]
pub struct Chase {
    pub state: u64,
    pub pages: Ring<[u64; 512], 2>,
}

/// A publisher that keeps overtaking a subscriber (4 KiB messages in 2
/// slots, published in a tight loop): `recv_batch` must return while the
/// publisher is still publishing (bounded work per call, as in C: at most
/// 64 losses in a row), not chase it for as long as it publishes.
#[test]
fn recv_batch_returns_while_a_publisher_keeps_overtaking() {
    let name = unique("attack-chase");
    let _c = Cleanup::posix(&name);
    let seg = Options::posix(&name).create_new().open::<Chase>().unwrap();
    let ro = Options::posix(&name).open_read_only::<Chase>().unwrap();
    let stop = AtomicBool::new(false);
    let published = AtomicU64::new(0);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let p = seg.publisher(|f| f.pages()).unwrap();
            let page = [7u64; 512];
            // At most 10^8 messages: ends the test if the subscriber hangs.
            for i in 0..100_000_000u64 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                p.publish(&page).unwrap();
                published.store(i + 1, Ordering::Relaxed);
            }
        });
        let mut sub = ro.subscribe(|f| f.pages()).unwrap();
        let mut out = vec![[0u64; 512]; 4];
        let (mut most, mut calls) = (0u64, 0);
        while published.load(Ordering::Relaxed) < 1000 {
            std::thread::yield_now();
        }
        sub.start_new();
        for _ in 0..200 {
            let (_, lost) = sub.recv_batch(&mut out).unwrap();
            most = most.max(lost);
            calls += 1;
        }
        stop.store(true, Ordering::Relaxed);
        eprintln!("{calls} calls, at most {most} lost in one");
    });
}

/// A process with write permission raising the ring's published count in
/// a tight loop (by more than the capacity each time): every step of a
/// subscriber finds a new loss. `recv_batch` must still return (after at
/// most 64 losses in a row, as in C) while the attacker goes on, not loop
/// until the attacker stops (here: after 20 s, a hang detector).
#[test]
fn recv_batch_returns_while_an_attacker_keeps_raising_the_count() {
    let (name, _c, seg) = super::fresh("attack-raise");
    let s = seg.header().streams_offset().unwrap();
    let raw = Raw::map(&name);
    let running = AtomicBool::new(true);
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let head = raw.word(s + EVENTS);
            let end = Instant::now() + Duration::from_secs(20);
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                for _ in 0..1000 {
                    head.fetch_add(5, Ordering::Release);
                }
            }
            running.store(false, Ordering::Relaxed);
        });
        let ro = Options::posix(&name).open_read_only::<Target>().unwrap();
        let mut sub = ro.subscribe(|f| f.events()).unwrap();
        let mut out = [0u64; 4];
        for _ in 0..50 {
            match sub.recv_batch(&mut out) {
                Ok(_) | Err(Error::Corrupt { .. }) => {}
                Err(e) => panic!("{e}"),
            }
            assert!(
                running.load(Ordering::Relaxed),
                "recv_batch returned only once the attacker stopped"
            );
            sub.start_new();
        }
        stop.store(true, Ordering::Relaxed);
    });
}

/// Rings and queues on every backend (System V, whose object size the
/// kernel rounds to pages; a file; the in-process backing): publish,
/// subscribe (read-only too), send, consume, a second consumer refused.
#[test]
fn streams_work_on_every_backend() {
    let mut h: u32 = 0x811c_9dc5;
    for b in unique("attack-backends").bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let key = ((h & 0x7fff_ffff) | 0x4000_0000) as i32;
    let dir = std::env::temp_dir().join(unique("attack-backends"));
    for opts in [Options::sysv(key), Options::file(&dir), Options::memory()] {
        let _c = Cleanup(opts.clone());
        let seg = opts.clone().create_new().open::<Target>().unwrap();
        let p = seg.publisher(|f| f.events()).unwrap();
        let mut sub = seg.subscribe(|f| f.events()).unwrap();
        for i in 0..6 {
            p.publish(&i).unwrap();
        }
        assert_eq!(sub.try_recv().unwrap(), Some(Recv::Lost(2)));
        assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(2)));
        let q = seg.producer(|f| f.commands()).unwrap();
        q.try_send(&1).unwrap();
        let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
        assert_eq!(c.try_recv().unwrap(), Some(1));
        if !matches!(opts.id(), shm_runtime::SegmentId::Memory) {
            let ro = opts.open_read_only::<Target>().unwrap();
            let mut sub = ro.subscribe(|f| f.events()).unwrap();
            sub.start_oldest();
            assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(2)));
            let rw = opts.clone().claim_writer(false).open::<Target>().unwrap();
            let e = rw
                .consumer(|f| f.commands(), Duration::ZERO)
                .map(|_| ())
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::ConsumerBusy {
                        this_process: true,
                        ..
                    }
                ),
                "{e}"
            );
        }
    }
}
