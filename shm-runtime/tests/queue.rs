//! Message queues (`Queue<M, N>` fields) over the in-process backing, with
//! threads in place of processes (Miri runs these too), and across real
//! processes with the consumer SIGKILLed (Linux).

#![allow(missing_docs)]

use std::time::Duration;

use shm_runtime::{Error, Options, Queue, ReadWrite, Shared, SharedLayout};

#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Cmd {
    pub n: u64,
    pub check: u64,
}

impl Cmd {
    fn of(n: u64) -> Cmd {
        Cmd { n, check: !n }
    }
}

#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
pub struct Robot {
    pub state: u64,
    pub commands: Queue<Cmd, 4>,
}

fn fresh() -> Shared<Robot, ReadWrite> {
    Options::memory().open::<Robot>().unwrap()
}

#[test]
fn messages_arrive_in_order_and_a_full_queue_says_so() {
    let seg = fresh();
    let p = seg.producer(|f| f.commands()).unwrap();
    let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    assert_eq!(c.took_over_from(), None);
    assert_eq!(c.try_recv().unwrap(), None);
    for n in 0..4 {
        assert_eq!(p.try_send(&Cmd::of(n)).unwrap(), n);
    }
    let e = p.try_send(&Cmd::of(4)).unwrap_err();
    assert!(matches!(e, Error::QueueFull { capacity: 4, .. }), "{e}");
    let e = p
        .send_timeout(&Cmd::of(4), Duration::from_millis(1))
        .unwrap_err();
    assert!(matches!(e, Error::QueueFull { .. }), "{e}");
    assert_eq!(c.try_recv().unwrap(), Some(Cmd::of(0)));
    assert_eq!(p.try_send(&Cmd::of(4)).unwrap(), 4);
    let mut out = [Cmd::default(); 8];
    assert_eq!(c.recv_batch(&mut out).unwrap(), 4);
    assert_eq!(
        out[..4].iter().map(|m| m.n).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(c.position(), 5);
    assert_eq!(p.sent(), 5);
}

#[test]
fn peek_without_ack_is_received_again() {
    let seg = fresh();
    let p = seg.producer(|f| f.commands()).unwrap();
    p.try_send(&Cmd::of(0)).unwrap();
    p.try_send(&Cmd::of(1)).unwrap();
    {
        let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
        assert_eq!(c.peek().unwrap(), Some(Cmd::of(0)));
        assert_eq!(c.peek().unwrap(), Some(Cmd::of(0)), "not acknowledged");
    }
    let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    assert_eq!(
        c.peek().unwrap(),
        Some(Cmd::of(0)),
        "the next consumer gets it"
    );
    c.ack().unwrap();
    c.ack().unwrap();
    assert_eq!(c.iter().map(|r| r.unwrap().n).collect::<Vec<_>>(), [1]);
}

#[test]
fn one_consumer_at_a_time_and_producing_needs_write_access() {
    let seg = Options::memory()
        .claim_writer(false)
        .open::<Robot>()
        .unwrap();
    let c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    let e = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap_err();
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
    drop(c);
    let _c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    let p = seg.producer(|f| f.commands()).unwrap();
    assert!(matches!(
        p.try_send(&Cmd::of(0)).unwrap_err(),
        Error::NotWriter { .. }
    ));
}

#[test]
fn a_blocked_producer_and_consumer_wake_each_other() {
    let seg = fresh();
    let total = if cfg!(miri) { 20 } else { 20_000 };
    std::thread::scope(|s| {
        let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
        let consumer = s.spawn(move || {
            for n in 0..total {
                let m = c.recv_timeout(Duration::from_secs(60)).unwrap();
                assert_eq!(m, Some(Cmd::of(n)), "every message once, in order");
            }
        });
        let p = seg.producer(|f| f.commands()).unwrap();
        for n in 0..total {
            assert_eq!(
                p.send_timeout(&Cmd::of(n), Duration::from_secs(60))
                    .unwrap(),
                n
            );
        }
        consumer.join().unwrap();
    });
}

#[cfg(all(target_os = "linux", not(miri)))]
mod processes {
    use super::*;
    use std::io::Write;
    use std::time::Instant;
    use test_support::{ChildRole, Cleanup, unique};

    const ROLE_ENV: &str = "SHM_QUEUE_CHILD";

    /// The child role: `NAME:LOG` claims the queue, prints `claimed
    /// from=PID|none`, then for each message peeks it, appends `N\n` to the
    /// file LOG (one `write`), and acknowledges it (at least once), until
    /// it is killed.
    #[test]
    fn child_role() {
        let Ok(spec) = std::env::var(ROLE_ENV) else {
            return;
        };
        let (name, log) = spec.split_once(':').unwrap();
        let mut log = std::fs::OpenOptions::new().append(true).open(log).unwrap();
        let seg = Options::posix(name)
            .open_existing()
            .claim_writer(false)
            .open::<Robot>()
            .unwrap();
        let mut c = seg
            .consumer(|f| f.commands(), Duration::from_secs(30))
            .unwrap();
        println!(
            "claimed from={}",
            c.took_over_from()
                .map_or("none".to_owned(), |p| p.to_string())
        );
        loop {
            match c.peek().unwrap() {
                Some(m) => {
                    assert_eq!(m, Cmd::of(m.n), "whole");
                    log.write_all(format!("{}\n", m.n).as_bytes()).unwrap();
                    c.ack().unwrap();
                }
                None => std::thread::yield_now(),
            }
        }
    }

    fn logged(path: &std::path::Path) -> Vec<u64> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    }

    /// Consumers killed while taking messages (peek, handle, ack): every
    /// message is handled, in order; the only repeats are of the message
    /// a killed consumer was handling, by the next consumer.
    #[test]
    fn a_killed_consumer_is_taken_over_and_nothing_is_lost() {
        let name = unique("queue-kill");
        let _c = Cleanup::posix(&name);
        let log = std::env::temp_dir().join(format!("{name}.log"));
        std::fs::write(&log, "").unwrap();
        let seg = Options::posix(&name).create_new().open::<Robot>().unwrap();
        let total = 20_000u64;
        let kills = 10u64;
        std::thread::scope(|s| {
            // The producer sends all the time, waiting while the queue is full.
            s.spawn(|| {
                let p = seg.producer(|f| f.commands()).unwrap();
                for n in 0..total {
                    assert_eq!(
                        p.send_timeout(&Cmd::of(n), Duration::from_secs(60))
                            .unwrap(),
                        n
                    );
                }
            });
            for k in 0..=kills {
                let mut child = ChildRole::start(
                    "processes::child_role",
                    ROLE_ENV,
                    format!("{name}:{}", log.display()),
                );
                let line = child.expect("claimed from=");
                if k > 0 {
                    assert_ne!(line, "claimed from=none", "took over from the killed one");
                }
                // Kill it once it has handled past this round's share,
                // wherever it is then (most likely in the middle of one).
                let until = if k == kills {
                    total - 1
                } else {
                    total * (k + 1) / (kills + 1)
                };
                let deadline = Instant::now() + Duration::from_secs(60);
                while logged(&log).last().is_none_or(|&n| n < until) {
                    assert!(Instant::now() < deadline, "the consumer stopped");
                    std::thread::yield_now();
                }
                child.kill();
            }
        });
        let got = logged(&log);
        let _ = std::fs::remove_file(&log);
        // In order; every number present; repeats only of the one before.
        let mut expect = 0;
        let mut repeats = 0;
        for &n in &got {
            if n + 1 == expect {
                repeats += 1;
                continue;
            }
            assert_eq!(n, expect, "lost or reordered");
            expect += 1;
        }
        assert_eq!(expect, total);
        assert!(repeats <= kills, "{repeats} repeats for {kills} kills");
        eprintln!("{total} messages, {kills} consumers killed, {repeats} handled twice");
    }
}

/// Queues whose counters someone else scribbled on: every call returns a
/// message, nothing, `QueueFull` or `Corrupt`, never a panic or a hang.
#[cfg(all(target_os = "linux", not(miri)))]
mod hostile {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::fs::FileExt;
    use test_support::{Cleanup, unique};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn any_queue_counters_give_messages_full_or_errors(
            head in prop_oneof![any::<u64>(), 0u64..12, (u64::MAX - 8)..=u64::MAX],
            tail in prop_oneof![any::<u64>(), 0u64..12, (u64::MAX - 8)..=u64::MAX],
            claim in prop_oneof![Just(0u64), any::<u64>()],
        ) {
            let name = unique("queue-hostile");
            let _c = Cleanup::posix(&name);
            let seg = Options::posix(&name).create_new().open::<Robot>().unwrap();
            let h = seg.header();
            let streams = (h.backup_offset + h.capacity().next_multiple_of(8)).next_multiple_of(64);
            let f = std::fs::OpenOptions::new().write(true).open(format!("/dev/shm/{name}")).unwrap();
            f.write_all_at(&tail.to_ne_bytes(), streams).unwrap();
            f.write_all_at(&head.to_ne_bytes(), streams + 64).unwrap();
            f.write_all_at(&claim.to_ne_bytes(), streams + 72).unwrap();
            let p = seg.producer(|f| f.commands()).unwrap();
            match seg.consumer(|f| f.commands(), Duration::ZERO) {
                Ok(mut c) => {
                    for k in 0..6 {
                        match p.try_send(&Cmd::of(k)) {
                            Ok(_) | Err(Error::QueueFull { .. } | Error::Corrupt { .. }) => {}
                            Err(e) => prop_assert!(false, "{e}"),
                        }
                        match c.try_recv() {
                            Ok(_) | Err(Error::Corrupt { .. }) => {}
                            Err(e) => prop_assert!(false, "{e}"),
                        }
                    }
                }
                // A claim word naming a live process (this one, or another).
                Err(Error::ConsumerBusy { .. }) => {}
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
