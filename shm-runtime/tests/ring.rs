//! Message rings (`Ring<M, N>` fields) over the in-process backing, with
//! threads in place of processes, so that Miri checks them too:
//!
//! ```text
//! cargo test -p shm-runtime --test ring
//! MIRIFLAGS=-Zmiri-disable-isolation cargo +nightly miri test -p shm-runtime --test ring
//! ```

#![allow(missing_docs)]

use std::time::Duration;

use shm_runtime::{Error, Options, ReadWrite, Recv, Ring, Shared, SharedLayout};

/// A message whose words all follow from `n`: a torn one is seen at once.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Msg {
    pub n: u64,
    pub words: [u64; 3],
    pub check: u64,
}

impl Msg {
    fn of(n: u64) -> Msg {
        let w = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Msg {
            n,
            words: [w, w ^ 1, w ^ 2],
            check: !n,
        }
    }

    fn assert_whole(&self) {
        assert_eq!(*self, Msg::of(self.n), "torn message");
    }
}

#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
pub struct Robot {
    pub state: u64,
    pub events: Ring<Msg, 4>,
    pub flags: Ring<bool, 2>,
}

fn rounds(normal: u64, miri: u64) -> u64 {
    if cfg!(miri) { miri } else { normal }
}

fn fresh() -> Shared<Robot, ReadWrite> {
    Options::memory().open::<Robot>().unwrap()
}

#[test]
fn messages_arrive_in_order_beside_the_state() {
    let seg = fresh();
    let publisher = seg.publisher(|f| f.events()).unwrap();
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    assert!(sub.try_recv().unwrap().is_none());
    assert_eq!(publisher.publish(&Msg::of(0)).unwrap(), 0);
    seg.write(&Robot {
        state: 7,
        events: Ring::new(),
        flags: Ring::default(),
    })
    .unwrap();
    assert_eq!(publisher.publish(&Msg::of(1)).unwrap(), 1);
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(Msg::of(0))));
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(Msg::of(1))));
    assert_eq!(sub.try_recv().unwrap(), None);
    assert_eq!(
        seg.read().unwrap().state,
        7,
        "snapshot writes leave rings alone"
    );
    assert_eq!(publisher.published(), 2);
    assert_eq!(sub.position(), 2);

    // A second ring is separate.
    let flags = seg.publisher(|f| f.flags()).unwrap();
    let mut fsub = seg.subscribe(|f| f.flags()).unwrap();
    flags.publish(&true).unwrap();
    assert_eq!(fsub.try_recv().unwrap(), Some(Recv::Msg(true)));
    assert_eq!(sub.try_recv().unwrap(), None);
}

#[test]
fn start_new_and_start_oldest() {
    let seg = fresh();
    let publisher = seg.publisher(|f| f.events()).unwrap();
    for n in 0..6 {
        publisher.publish(&Msg::of(n)).unwrap();
    }
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    assert_eq!(
        sub.position(),
        6,
        "a new subscriber starts at the next message"
    );
    assert_eq!(sub.try_recv().unwrap(), None);
    sub.start_oldest();
    assert_eq!(sub.position(), 2, "the ring keeps the last 4");
    let got: Vec<u64> = sub
        .iter()
        .map(|r| match r.unwrap() {
            Recv::Msg(m) => m.n,
            Recv::Lost(k) => panic!("lost {k}"),
        })
        .collect();
    assert_eq!(got, [2, 3, 4, 5]);
}

#[test]
fn a_slow_subscriber_is_told_exactly_what_it_lost() {
    let seg = fresh();
    let publisher = seg.publisher(|f| f.events()).unwrap();
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    for n in 0..10 {
        publisher.publish(&Msg::of(n)).unwrap();
    }
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Lost(6)));
    let mut out = [Msg::default(); 8];
    assert_eq!(sub.recv_batch(&mut out).unwrap(), (4, 0));
    assert_eq!(
        out[..4].iter().map(|m| m.n).collect::<Vec<_>>(),
        [6, 7, 8, 9]
    );
    // Lost in the middle of a batch: added up.
    for n in 10..20 {
        publisher.publish(&Msg::of(n)).unwrap();
    }
    assert_eq!(
        sub.recv_batch(&mut out[..1]).unwrap(),
        (1, 6),
        "14 and 15 lost"
    );
    assert_eq!(out[0].n, 16);
    for n in 20..23 {
        publisher.publish(&Msg::of(n)).unwrap();
    }
    // 17 to 22: 17 and 18 overwritten, just before the batch.
    assert_eq!(sub.position(), 17);
    assert_eq!(sub.recv_batch(&mut out).unwrap(), (4, 2));
    assert_eq!(sub.position(), 23);
    assert_eq!(
        out[..4].iter().map(|m| m.n).collect::<Vec<_>>(),
        [19, 20, 21, 22]
    );
}

#[test]
fn publishing_needs_write_access_and_reading_does_not() {
    let seg = Options::memory()
        .claim_writer(false)
        .open::<Robot>()
        .unwrap();
    let publisher = seg.publisher(|f| f.events()).unwrap();
    assert!(matches!(
        publisher.publish(&Msg::of(0)).unwrap_err(),
        Error::NotWriter { .. }
    ));
    seg.claim_writer(Duration::ZERO).unwrap();
    publisher.publish(&Msg::of(0)).unwrap();
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    sub.start_oldest();
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(Msg::of(0))));
}

#[test]
fn a_ring_of_another_segment_is_refused() {
    let a = fresh();
    let b = fresh();
    let e = a.subscribe(|_| b.fields().events()).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn recv_timeout_wakes_on_publish_and_times_out() {
    let seg = fresh();
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    assert_eq!(sub.recv_timeout(Duration::from_millis(1)).unwrap(), None);
    std::thread::scope(|s| {
        s.spawn(|| {
            let publisher = seg.publisher(|f| f.events()).unwrap();
            publisher.publish(&Msg::of(0)).unwrap();
        });
        let got = sub.recv_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(got, Some(Recv::Msg(Msg::of(0))));
    });
}

#[test]
fn concurrent_readers_see_whole_messages_and_count_every_one() {
    let seg = fresh();
    let total = rounds(20_000, 60);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut sub = seg.subscribe(|f| f.events()).unwrap();
                sub.start_oldest();
                s.spawn(move || {
                    let (mut seen, mut lost, mut last) = (0u64, 0u64, None);
                    while seen + lost < total {
                        match sub.recv_timeout(Duration::from_secs(60)).unwrap() {
                            Some(Recv::Msg(m)) => {
                                m.assert_whole();
                                assert!(last.is_none_or(|l| m.n > l), "in order, once");
                                assert_eq!(m.n, seen + lost, "the cursor counts every one");
                                last = Some(m.n);
                                seen += 1;
                            }
                            Some(Recv::Lost(k)) => lost += k,
                            None => panic!("no message for a minute"),
                        }
                    }
                    assert_eq!(seen + lost, total);
                })
            })
            .collect();
        let publisher = seg.publisher(|f| f.events()).unwrap();
        for n in 0..total {
            publisher.publish(&Msg::of(n)).unwrap();
        }
        for r in readers {
            r.join().unwrap();
        }
    });
}

#[test]
fn a_batch_of_a_checked_type_goes_through_a_private_copy() {
    // `bool` is checked: each message is copied to a private buffer,
    // checked there, then moved into the slice (Miri runs this file).
    let seg = fresh();
    let publisher = seg.publisher(|f| f.flags()).unwrap();
    let mut sub = seg.subscribe(|f| f.flags()).unwrap();
    for b in [true, false, true] {
        publisher.publish(&b).unwrap();
    }
    let mut out = [false; 4];
    assert_eq!(sub.recv_batch(&mut out).unwrap(), (2, 1), "message 0 lost");
    assert_eq!(out[..2], [false, true]);
    assert_eq!(sub.recv_batch(&mut out).unwrap(), (0, 0));
    assert_eq!(sub.position(), 3);
}
