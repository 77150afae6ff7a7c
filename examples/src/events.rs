//! The `producer` and `consumer` examples: a stream of events in a ring
//! (`Ring<Event, 256>`) beside a little state, published by one process and
//! received, in order and with every loss counted, by another.

use std::io::BufRead;
use std::time::{Duration, Instant};

use shm_runtime::{Error, Options, Recv, Ring, SharedLayout};

/// One event.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Event {
    /// Its number, from 0.
    pub id: u64,
    /// A value derived from it (`id * 3`), to check it arrived whole.
    pub value: u64,
}

/// The schema of the examples' segment.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Telemetry {
    /// Some state (the number of events the producer means to publish).
    pub planned: u64,
    /// The last 256 events.
    pub events: Ring<Event, 256>,
}

/// `producer`: creates (or opens) the segment, prints `ready`, waits for a
/// line on standard input if `wait` is set, then publishes `count` events
/// and prints `published N`.
pub fn run_producer(name: &str, count: u64, wait: bool) -> Result<(), Error> {
    let seg = Options::posix(name).create_or_open().open::<Telemetry>()?;
    seg.update(|f| f.planned().set(count))?;
    let events = seg.publisher(|f| f.events())?;
    println!("ready");
    if wait {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
    for id in 0..count {
        events.publish(&Event { id, value: id * 3 })?;
    }
    println!("published {}", events.published());
    Ok(())
}

/// What a consumer saw.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Messages received.
    pub received: u64,
    /// Messages reported lost.
    pub lost: u64,
    /// Messages out of order or damaged (0 for a correct ring).
    pub bad: u64,
}

/// `consumer`: opens the segment read-only (waiting up to `timeout` for it
/// to exist), subscribes from the oldest kept event, prints `subscribed`,
/// and receives until `count` events are received or reported lost (or
/// `timeout` passes without a new event); prints `received R lost L bad B`.
pub fn run_consumer(name: &str, count: u64, timeout: Duration) -> Result<Seen, Error> {
    let seg = Options::posix(name)
        .open_timeout(timeout)
        .open_read_only::<Telemetry>()?;
    let mut sub = seg.subscribe(|f| f.events())?;
    sub.start_oldest();
    println!("subscribed at {}", sub.position());
    let mut seen = Seen::default();
    let mut next = sub.position();
    let mut last = Instant::now();
    while seen.received + seen.lost < count && last.elapsed() < timeout {
        match sub.recv_timeout(Duration::from_millis(100))? {
            Some(Recv::Msg(e)) => {
                if e.id != next || e.value != e.id * 3 {
                    seen.bad += 1;
                }
                seen.received += 1;
                next = e.id + 1;
                last = Instant::now();
            }
            Some(Recv::Lost(n)) => {
                seen.lost += n;
                next += n;
                last = Instant::now();
            }
            None => {}
        }
    }
    println!(
        "received {} lost {} bad {}",
        seen.received, seen.lost, seen.bad
    );
    Ok(seen)
}
