//! Message rings across real processes: a publisher process and
//! subscriber processes over a POSIX segment, every message checksummed
//! (a torn, reordered or duplicated message is seen at once), and the
//! publisher killed with SIGKILL at random points and taken over by the
//! next one, which continues the sequence.
//!
//! `SHM_RING_MESSAGES=N` raises the number of messages (at least 10^7 for
//! the stress runs of RELIABILITY.md: `cargo test --release -p shm-runtime
//! --test ring_processes`). The child processes are this test binary in a
//! role (see [`child_role`]), selected by an environment variable.

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shm_runtime::{Options, Recv, Ring, SharedLayout};
use test_support::{ChildRole, Cleanup, unique};

const ROLE_ENV: &str = "SHM_RING_CHILD";

/// A message whose words all follow from its number `n`.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Msg {
    pub n: u64,
    pub words: [u64; 6],
    pub check: u64,
}

impl Msg {
    fn of(n: u64) -> Msg {
        let w = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Msg {
            n,
            words: [w, w ^ 1, w ^ 2, w ^ 3, w.rotate_left(7), w.rotate_left(13)],
            check: !n,
        }
    }
}

#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
pub struct Stream {
    pub state: u64,
    pub events: Ring<Msg, 256>,
}

/// A count from the environment, at least `default`.
fn count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(default, |n: u64| n.max(default))
}

fn spawn(role: &str, name: &str, arg: u64) -> ChildRole {
    ChildRole::start("child_role", ROLE_ENV, format!("{role}:{name}:{arg}"))
}

fn num(line: &str, key: &str) -> u64 {
    let pat = format!("{key}=");
    let at = line
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        + pat.len();
    line[at..]
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{key} in {line:?}"))
}

/// The child roles. Does nothing as a normal test.
///
/// - `publisher:NAME:UNTIL` opens the segment (taking write access over
///   from a dead publisher), prints `ready next=N`, and publishes message
///   `Msg::of(i)` as message number `i` until `UNTIL` are published;
/// - `subscriber:NAME:TOTAL` opens it read-only, reads from the oldest
///   message until messages and losses add up to `TOTAL`, checking each,
///   and prints `checked msgs=.. lost=.. bad=..`.
#[test]
fn child_role() {
    let Ok(spec) = std::env::var(ROLE_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, ':');
    let (role, name, arg) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap().parse::<u64>().unwrap(),
    );
    match role {
        "publisher" => {
            let seg = Options::posix(name)
                .open_existing()
                .writer_wait(Duration::from_secs(30))
                .open::<Stream>()
                .unwrap();
            let publisher = seg.publisher(|f| f.events()).unwrap();
            println!("ready next={}", publisher.published());
            while publisher.published() < arg {
                let n = publisher.published();
                assert_eq!(publisher.publish(&Msg::of(n)).unwrap(), n);
            }
            println!("done");
        }
        "subscriber" => {
            let seg = Options::posix(name)
                .open_existing()
                .open_read_only::<Stream>()
                .unwrap();
            let mut sub = seg.subscribe(|f| f.events()).unwrap();
            sub.start_oldest();
            println!("ready");
            let (mut msgs, mut lost, mut bad) = (0u64, 0u64, 0u64);
            let mut last_progress = Instant::now();
            let mut batch = [Msg::of(0); 64];
            while msgs + lost < arg {
                let before = sub.position();
                let (n, l) = sub.recv_batch(&mut batch).unwrap();
                lost += l;
                for (i, m) in batch[..n].iter().enumerate() {
                    // The messages of a batch are the last `n` numbers it
                    // moved past, in order.
                    let number = sub.position() - (n - i) as u64;
                    if *m != Msg::of(number) {
                        bad += 1;
                    }
                }
                msgs += n as u64;
                assert_eq!(sub.position(), msgs + lost, "every number counted once");
                if sub.position() != before {
                    last_progress = Instant::now();
                } else {
                    assert!(
                        last_progress.elapsed() < Duration::from_secs(120),
                        "no message for two minutes"
                    );
                    let _ = sub
                        .recv_timeout(Duration::from_millis(100))
                        .map(|r| match r {
                            Some(Recv::Msg(m)) => {
                                msgs += 1;
                                if m != Msg::of(sub.position() - 1) {
                                    bad += 1;
                                }
                            }
                            Some(Recv::Lost(k)) => lost += k,
                            None => {}
                        });
                }
            }
            println!("checked msgs={msgs} lost={lost} bad={bad}");
        }
        "waiter" => {
            // Read-only: sleeps in `recv_timeout` (futex, counted in the
            // doorbell) until the test publishes, `arg` times.
            let seg = Options::posix(name)
                .open_existing()
                .open_read_only::<Stream>()
                .unwrap();
            let mut sub = seg.subscribe(|f| f.events()).unwrap();
            println!("ready");
            for _ in 0..arg {
                match sub.recv_timeout(Duration::from_secs(60)).unwrap() {
                    Some(Recv::Msg(m)) => println!("got {}", m.n),
                    other => panic!("{other:?}"),
                }
            }
        }
        r => panic!("unknown role {r}"),
    }
}

/// A new segment and its cleanup.
fn fresh(tag: &str) -> (String, Cleanup) {
    let name = unique(&format!("ring-{tag}"));
    let cleanup = Cleanup::posix(&name);
    Options::posix(&name)
        .create_new()
        .claim_writer(false)
        .open::<Stream>()
        .unwrap();
    (name, cleanup)
}

/// Waits for every subscriber's report and checks it: no bad message,
/// and messages plus losses add up to `total`.
fn check_subscribers(subs: Vec<ChildRole>, total: u64) -> (u64, u64) {
    let (mut msgs, mut lost) = (0, 0);
    for mut s in subs {
        let line = s.expect("checked");
        assert_eq!(num(&line, "bad"), 0, "{line}");
        assert_eq!(num(&line, "msgs") + num(&line, "lost"), total, "{line}");
        msgs += num(&line, "msgs");
        lost += num(&line, "lost");
        s.finish();
    }
    (msgs, lost)
}

#[test]
fn subscriber_processes_get_every_message_whole_or_counted_lost() {
    let (name, _c) = fresh("stress");
    let total = count("SHM_RING_MESSAGES", 200_000);
    let subs: Vec<ChildRole> = (0..2)
        .map(|_| {
            let mut s = spawn("subscriber", &name, total);
            s.expect("ready");
            s
        })
        .collect();
    let mut publisher = spawn("publisher", &name, total);
    publisher.expect("ready next=0");
    publisher.expect("done");
    publisher.finish();
    let (msgs, lost) = check_subscribers(subs, total);
    eprintln!("{total} messages x 2 subscribers: {msgs} received whole, {lost} counted lost");
    assert!(msgs > 0);
}

#[test]
fn a_publisher_killed_anywhere_is_taken_over_and_the_sequence_goes_on() {
    let (name, _c) = fresh("kill");
    let trials = count("SHM_RING_KILLS", 20);
    let total = count("SHM_RING_MESSAGES", 200_000);
    let subs: Vec<ChildRole> = (0..2)
        .map(|_| {
            let mut s = spawn("subscriber", &name, total);
            s.expect("ready");
            s
        })
        .collect();
    // The test's own view of the published count.
    let seg = Options::posix(&name)
        .open_existing()
        .open_read_only::<Stream>()
        .unwrap();
    let mut probe = seg.subscribe(|f| f.events()).unwrap();
    let mut published = || {
        probe.start_new();
        probe.position()
    };
    let mut rng = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let step = total / (trials + 1);
    let mut at_kill = 0;
    for t in 0..trials {
        let mut publisher = spawn("publisher", &name, total);
        let line = publisher.expect("ready next=");
        let start = num(&line, "next");
        assert_eq!(start, at_kill, "the next publisher continues the sequence");
        // Kill it somewhere in the middle of the next `step` messages.
        let target = (t + 1) * step - next() % (step / 2).max(1);
        let deadline = Instant::now() + Duration::from_secs(120);
        while published() < target.max(start + 1) {
            assert!(
                Instant::now() < deadline,
                "the publisher stopped publishing"
            );
            std::hint::spin_loop();
        }
        publisher.kill();
        at_kill = published();
    }
    let mut last = spawn("publisher", &name, total);
    let line = last.expect("ready next=");
    assert_eq!(num(&line, "next"), at_kill);
    last.expect("done");
    last.finish();
    assert_eq!(published(), total);
    let (msgs, lost) = check_subscribers(subs, total);
    eprintln!(
        "{trials} publishers killed, {total} messages x 2 subscribers: {msgs} whole, {lost} lost"
    );
}

#[test]
fn a_subscriber_process_asleep_in_recv_timeout_wakes_on_each_publish() {
    let (name, _c) = fresh("wake");
    let seg = Options::posix(&name)
        .open_existing()
        .open::<Stream>()
        .unwrap();
    let publisher = seg.publisher(|f| f.events()).unwrap();
    let mut waiter = spawn("waiter", &name, 3);
    waiter.expect("ready");
    for n in 0..3 {
        // Whether it is asleep yet or not, the message reaches it.
        publisher.publish(&Msg::of(n)).unwrap();
        assert_eq!(waiter.expect("got "), format!("got {n}"));
    }
    waiter.finish();
}
