//! `shm inspect` and `shm dump` on a segment with a ring and a queue: the
//! counters and kept messages are shown; a ring whose counters were
//! scribbled on shows the numbers found and exits cleanly.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Seek, SeekFrom, Write};

use common::shm_ok;
use shm_runtime::{Options, Queue, RawSegment, Ring, SharedLayout};
use test_support::Name;

/// A message.
#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
pub struct Ev {
    /// Its number.
    pub id: u32,
    /// A value.
    pub value: f32,
}

/// A schema with state, a ring and a queue.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Streams {
    /// Some state.
    pub state: u64,
    /// A ring of the last 4 events.
    pub events: Ring<Ev, 4>,
    /// A queue of up to 4 commands.
    pub commands: Queue<u32, 4>,
}

/// The child processes of the common helpers. Does nothing as a test.
#[test]
fn child_role() {
    common::child_role();
}

fn filled(name: &Name) -> shm_runtime::Shared<Streams> {
    let seg = Options::posix(name.as_str())
        .create_or_open()
        .open::<Streams>()
        .unwrap();
    let p = seg.publisher(|f| f.events()).unwrap();
    for id in 0..6 {
        p.publish(&Ev { id, value: 0.5 }).unwrap();
    }
    let q = seg.producer(|f| f.commands()).unwrap();
    q.try_send(&7).unwrap();
    q.try_send(&8).unwrap();
    seg
}

#[test]
fn inspect_and_dump_show_counters_and_messages() {
    let name = Name::new("streams-show");
    let _seg = filled(&name);
    let text = shm_ok(&["inspect", name.as_str()]);
    assert!(text.contains("events Ring<Ev, 4>: published 6"), "{text}");
    assert!(text.contains("published 6"), "{text}");
    assert!(
        text.contains("sent 2, acknowledged 0, consumer none"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&shm_ok(&["inspect", "--json", name.as_str()])).unwrap();
    let s = &json["streams"];
    assert_eq!(s[0]["path"], "events");
    assert_eq!(s[0]["published"], 6);
    assert_eq!(s[0]["capacity"], 4);
    assert_eq!(s[1]["kind"], "queue");
    assert_eq!(s[1]["sent"], 2);
    assert_eq!(s[1]["acknowledged"], 0);

    let text = shm_ok(&["dump", name.as_str(), "--messages", "3"]);
    // Messages 2..6 are kept; the last 3 are shown, in order.
    assert!(text.contains("(1 older kept messages not shown)"), "{text}");
    let shown: Vec<&str> = text.lines().filter(|l| l.trim().starts_with('#')).collect();
    assert_eq!(shown.len(), 5, "{text}");
    assert!(
        shown[0].contains("#3 ") && shown[0].contains("id: 3"),
        "{text}"
    );
    assert!(
        shown[2].contains("#5 ") && shown[2].contains("id: 5"),
        "{text}"
    );
    assert!(
        shown[3].contains("#0 7") && shown[4].contains("#1 8"),
        "{text}"
    );
}

#[test]
fn garbage_counters_show_numbers_and_exit_cleanly() {
    let name = Name::new("streams-garbage");
    let seg = filled(&name);
    let at = RawSegment::open(&Options::posix(name.as_str()))
        .unwrap()
        .header()
        .streams_offset()
        .unwrap();
    drop(seg);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{}", name.as_str()))
        .unwrap();
    // The ring's head, then the queue's tail, head and consumer (the
    // ring's region: 64 + 4 slots of 16 bytes = 128 bytes).
    for (off, v) in [(0, u64::MAX - 1), (128, 3), (192, 99), (200, u64::MAX)] {
        f.seek(SeekFrom::Start(at + off)).unwrap();
        f.write_all(&v.to_ne_bytes()).unwrap();
    }
    drop(f);
    let text = shm_ok(&["inspect", name.as_str()]);
    assert!(
        text.contains(&format!("published {}", u64::MAX - 1)),
        "{text}"
    );
    assert!(text.contains("sent 3, acknowledged 99"), "{text}");
    let text = shm_ok(&["dump", name.as_str()]);
    assert!(text.contains("(overwritten or missing"), "{text}");
    assert!(text.contains("counters inconsistent"), "{text}");
    shm_ok(&["inspect", "--json", name.as_str()]);
}
