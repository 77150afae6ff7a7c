//! `shm inspect`, `shm dump` and `shm watch` on a segment with a ring and a
//! queue: the counters and kept messages are shown; `watch` prints messages
//! as they are published or sent, with exact losses, without consuming a
//! queue's messages; counters scribbled on show the numbers found or a
//! `corrupt` line, and the tool exits cleanly.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::shm_ok;
use rustix::process::{Pid, Signal};
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

/// Stores the words `(offset in the stream area, value)` into the segment
/// `name` through its file, as another program scribbling on it would.
/// The ring's region is 64 + 4 slots of 16 bytes = 128 bytes: its head is
/// at 0, the queue's tail at 128, head at 192, consumer at 200.
fn scribble(name: &Name, words: &[(u64, u64)]) {
    let at = RawSegment::open(&Options::posix(name.as_str()))
        .unwrap()
        .header()
        .streams_offset()
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{}", name.as_str()))
        .unwrap();
    for &(off, v) in words {
        f.seek(SeekFrom::Start(at + off)).unwrap();
        f.write_all(&v.to_ne_bytes()).unwrap();
    }
}

#[test]
fn garbage_counters_show_numbers_and_exit_cleanly() {
    let name = Name::new("streams-garbage");
    let seg = filled(&name);
    drop(seg);
    scribble(
        &name,
        &[(0, u64::MAX - 1), (128, 3), (192, 99), (200, u64::MAX)],
    );
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

#[test]
fn dump_json_has_the_streams() {
    let name = Name::new("streams-dump-json");
    let _seg = filled(&name);
    let v: serde_json::Value =
        serde_json::from_str(&shm_ok(&["dump", "--json", name.as_str()])).unwrap();
    assert_eq!(v["state"], 0);
    let ev = &v["events"];
    assert_eq!(ev["kind"], "ring", "{v}");
    assert_eq!(ev["published"], 6);
    assert_eq!(ev["capacity"], 4);
    let msgs = ev["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4, "{v}");
    for (k, m) in msgs.iter().enumerate() {
        let i = k as u64 + 2;
        assert_eq!(m["seq"], i, "{v}");
        assert_eq!(m["message"]["id"], i, "{v}");
        assert_eq!(m["message"]["value"], 0.5, "{v}");
    }
    let c = &v["commands"];
    assert_eq!(c["kind"], "queue");
    assert_eq!((&c["sent"], &c["acknowledged"]), (&2.into(), &0.into()));
    assert_eq!(c["consumer_pid"], serde_json::Value::Null);
    let msgs = c["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["message"], 7, "{v}");
    assert_eq!(msgs[1]["message"], 8, "{v}");
    // --messages limits the kept messages shown.
    let v: serde_json::Value = serde_json::from_str(&shm_ok(&[
        "dump",
        "--json",
        "--messages",
        "1",
        name.as_str(),
    ]))
    .unwrap();
    assert_eq!(v["events"]["older_not_shown"], 3, "{v}");
    assert_eq!(v["events"]["messages"][0]["seq"], 5, "{v}");
    // Scribbled counters: numbers and `corrupt`, never a failure.
    scribble(&name, &[(0, u64::MAX - 1), (128, 3), (192, 99)]);
    let v: serde_json::Value =
        serde_json::from_str(&shm_ok(&["dump", "--json", name.as_str()])).unwrap();
    assert_eq!(v["events"]["published"], u64::MAX - 1);
    let missing = v["events"]["messages"][0]["missing"].as_str().unwrap();
    assert!(missing.contains("overwritten or missing"), "{v}");
    assert!(
        v["commands"]["corrupt"]
            .as_str()
            .unwrap()
            .contains("inconsistent"),
        "{v}"
    );
}

/// How long a test waits for a line of `shm watch` before it fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running `shm watch`, its stdout read line by line on a thread; killed
/// on drop.
struct Watch {
    child: Child,
    lines: Receiver<String>,
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shm"))
            .arg("watch")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("run shm watch");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    /// The next line (`None` at the end of the output).
    fn line(&self) -> Option<String> {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(l) => Some(l),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            Err(e) => panic!("shm watch printed nothing for {PATIENCE:?}: {e}"),
        }
    }

    /// The next line, as JSON.
    fn json(&self) -> serde_json::Value {
        let l = self.line().expect("shm watch ended");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))
    }

    /// Skips JSON lines until one about `stream` (values lines have none).
    fn next_of(&self, stream: &str) -> serde_json::Value {
        loop {
            let v = self.json();
            if v["stream"] == stream {
                return v;
            }
        }
    }

    /// Sends `sig` to the process (not yet reaped: it is reaped in
    /// `wait` or on drop, so its pid is still its own).
    fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, sig).unwrap();
    }

    /// Waits for the process to end by itself (it must, within the
    /// patience); its exit status.
    fn wait(mut self) -> std::process::ExitStatus {
        let end = Instant::now() + PATIENCE;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < end, "shm watch did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A segment with nothing published or sent yet.
fn empty(name: &Name) -> shm_runtime::Shared<Streams> {
    Options::posix(name.as_str())
        .create_or_open()
        .open::<Streams>()
        .unwrap()
}

#[test]
fn watch_prints_ring_messages_and_exact_losses() {
    let name = Name::new("streams-watch-ring");
    let seg = empty(&name);
    let p = seg.publisher(|f| f.events()).unwrap();
    p.publish(&Ev { id: 0, value: 0.5 }).unwrap();
    let w = Watch::start(&["--json", "--interval-ms", "1", name.as_str()]);
    let first = w.json();
    assert_eq!(first["values"]["state"], 0, "{first}");
    let start = w.next_of("events");
    assert_eq!(start["from"], 1, "{start}");
    assert_eq!(start["capacity"], 4, "{start}");
    let start = w.next_of("commands");
    assert_eq!(start["from"], 0, "{start}");
    for id in 1..4 {
        p.publish(&Ev { id, value: 1.5 }).unwrap();
    }
    for id in 1..4u64 {
        let m = w.next_of("events");
        assert_eq!(m["kind"], "ring", "{m}");
        assert_eq!(m["seq"], id, "{m}");
        assert_eq!(m["message"]["id"], id, "{m}");
        assert_eq!(m["message"]["value"], 1.5, "{m}");
    }
    // Value changes are printed beside the messages.
    seg.update(|f| f.state().set(9)).unwrap();
    let change = loop {
        let v = w.json();
        if v.get("changed").is_some() {
            break v;
        }
    };
    assert_eq!(change["changed"]["state"], 9, "{change}");
    // Stopped, the watcher falls 10 behind a ring of 4: exactly 6 lost,
    // then the 4 kept, in order.
    w.signal(Signal::STOP);
    for id in 4..14 {
        p.publish(&Ev { id, value: 2.5 }).unwrap();
    }
    w.signal(Signal::CONT);
    let lost = w.next_of("events");
    assert_eq!(lost["lost"], 6, "{lost}");
    for id in 10..14u64 {
        let m = w.next_of("events");
        assert_eq!((&m["seq"], &m["message"]["id"]), (&id.into(), &id.into()));
    }
}

#[test]
fn watch_count_counts_messages_and_from_oldest_starts_at_the_oldest() {
    let name = Name::new("streams-watch-count");
    let seg = empty(&name);
    let p = seg.publisher(|f| f.events()).unwrap();
    for id in 0..6 {
        p.publish(&Ev { id, value: 0.5 }).unwrap();
    }
    // The 4 kept messages count, then it stops: text, and no hang.
    let o = Command::new(env!("CARGO_BIN_EXE_shm"))
        .args(["watch", "--from-oldest", "--count", "4", name.as_str()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("events Ring<Ev, 4>: watching from message 2"),
        "{text}"
    );
    assert!(
        text.contains("events #2: { id: 2, value: 0.5 }") && text.contains("events #5: "),
        "{text}"
    );
    assert!(!text.contains("#6"), "{text}");
    // Too few within the timeout: an error that counts both.
    let o = Command::new(env!("CARGO_BIN_EXE_shm"))
        .args(["watch", "--count", "9", "--timeout", "0.2", name.as_str()])
        .output()
        .unwrap();
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("0 of 9 changes and messages"), "{err}");
}

#[test]
fn watch_shows_queue_messages_without_consuming_them() {
    let name = Name::new("streams-watch-queue");
    let seg = empty(&name);
    let q = seg.producer(|f| f.commands()).unwrap();
    q.try_send(&1).unwrap();
    let w = Watch::start(&["--json", "--from-oldest", name.as_str()]);
    let start = w.next_of("commands");
    assert_eq!(
        (&start["kind"], &start["from"]),
        (&"queue".into(), &0.into())
    );
    for v in 2..4 {
        q.try_send(&v).unwrap();
    }
    for i in 0..3u64 {
        let m = w.next_of("commands");
        assert_eq!(m["kind"], "queue", "{m}");
        assert_eq!((&m["seq"], &m["message"]), (&i.into(), &(i + 1).into()));
    }
    // Nothing was taken: the consumer receives all three.
    let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    for v in 1..4 {
        assert_eq!(c.try_recv().unwrap(), Some(v));
    }
    assert_eq!(c.try_recv().unwrap(), None);
    // Taken while the watcher was stopped: counted as unseen, exactly.
    w.signal(Signal::STOP);
    q.try_send(&4).unwrap();
    q.try_send(&5).unwrap();
    assert_eq!(c.try_recv().unwrap(), Some(4));
    assert_eq!(c.try_recv().unwrap(), Some(5));
    q.try_send(&6).unwrap();
    w.signal(Signal::CONT);
    let unseen = w.next_of("commands");
    assert_eq!(unseen["unseen"], 2, "{unseen}");
    let m = w.next_of("commands");
    assert_eq!((&m["seq"], &m["message"]), (&5.into(), &6.into()));
    assert_eq!(c.try_recv().unwrap(), Some(6));
}

#[test]
fn watch_reports_scribbled_counters_and_ends() {
    let name = Name::new("streams-watch-corrupt");
    let seg = filled(&name);
    let w = Watch::start(&["--json", "--count", "2", "--timeout", "60", name.as_str()]);
    assert_eq!(w.next_of("events")["from"], 6);
    assert_eq!(w.next_of("commands")["from"], 2);
    // The ring's head jumps far ahead: its slots do not hold those
    // messages.
    scribble(&name, &[(0, 1000)]);
    let mut v = w.next_of("events");
    if v.get("lost").is_some() {
        v = w.next_of("events");
    }
    let what = v["corrupt"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert!(what.contains("slot 0 has sequence"), "{what}");
    assert!(what.ends_with("going on from message 1000"), "{what}");
    // It goes on: the next publish (message 1000) is read.
    let p = seg.publisher(|f| f.events()).unwrap();
    p.publish(&Ev { id: 77, value: 1.0 }).unwrap();
    let m = w.next_of("events");
    assert_eq!((&m["seq"], &m["message"]["id"]), (&1000.into(), &77.into()));
    // The head goes back; the queue's counts become impossible (taken
    // first: every state in between is impossible the same way).
    scribble(&name, &[(0, 3), (192, 99), (128, 1)]);
    let v = w.next_of("events");
    assert!(
        v["corrupt"]
            .as_str()
            .is_some_and(|c| c.contains("published count 3 is below")),
        "{v}"
    );
    let v = w.next_of("commands");
    assert!(
        v["corrupt"]
            .as_str()
            .is_some_and(|c| c.contains("not within its capacity")),
        "{v}"
    );
    // The publisher goes on from the scribbled head (message 3): the
    // watcher reads it, which is its second message, and ends cleanly,
    // with no other line about the same corruption.
    p.publish(&Ev { id: 78, value: 1.0 }).unwrap();
    let m = w.json();
    assert_eq!((&m["seq"], &m["message"]["id"]), (&3.into(), &78.into()));
    assert_eq!(w.line(), None);
    assert!(w.wait().success());
}

#[test]
fn watch_prints_losses_and_corruption_as_text() {
    let name = Name::new("streams-watch-text");
    let seg = empty(&name);
    let p = seg.publisher(|f| f.events()).unwrap();
    let w = Watch::start(&["--interval-ms", "1", name.as_str()]);
    while !w
        .line()
        .unwrap()
        .starts_with("commands Queue<u32, 4>: watching")
    {}
    w.signal(Signal::STOP);
    for id in 0..7 {
        p.publish(&Ev { id, value: 0.25 }).unwrap();
    }
    w.signal(Signal::CONT);
    assert_eq!(
        w.line().unwrap(),
        "events: 3 messages lost (overwritten before watch read them)"
    );
    for id in 3..7 {
        assert_eq!(
            w.line().unwrap(),
            format!("events #{id}: {{ id: {id}, value: 0.25 }}")
        );
    }
    scribble(&name, &[(0, 2)]);
    assert_eq!(
        w.line().unwrap(),
        "events: corrupt: published count 2 is below the watcher's position 7; going on from \
         message 2"
    );
}

/// A small xorshift generator: the test needs varied words, not good
/// randomness.
fn words(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    match *seed % 6 {
        0 => *seed % 8,
        1 => u64::MAX - *seed % 16,
        2 => 2 * (*seed % 40) + *seed % 2,
        3 => *seed % 40,
        _ => *seed,
    }
}

#[test]
fn hostile_stream_words_never_stop_watch_or_dump() {
    let name = Name::new("streams-watch-hostile");
    let seg = filled(&name);
    // The whole stream area: the ring (128 bytes), the queue (128 + 4 × 8,
    // rounded up to 192).
    let area = 128 + 192;
    let w = Watch::start(&[
        "--json",
        "--from-oldest",
        "--interval-ms",
        "1",
        "--timeout",
        "3",
        name.as_str(),
    ]);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..200 {
        let list: Vec<(u64, u64)> = (0..4)
            .map(|_| ((words(&mut seed) % (area / 8)) * 8, words(&mut seed)))
            .collect();
        scribble(&name, &list);
        if round % 20 == 0 {
            let v: serde_json::Value =
                serde_json::from_str(&shm_ok(&["dump", "--json", name.as_str()])).unwrap();
            assert!(v["events"].is_object() && v["commands"].is_object(), "{v}");
        }
    }
    // Publishes and sends keep going (or fail with `Corrupt`) meanwhile.
    let p = seg.publisher(|f| f.events()).unwrap();
    let _ = p.publish(&Ev { id: 1, value: 1.0 });
    let mut kinds = std::collections::BTreeMap::<&str, u64>::new();
    while let Some(l) = w.line() {
        let v: serde_json::Value =
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
        let kind = [
            "message", "lost", "unseen", "corrupt", "from", "changed", "values",
        ]
        .into_iter()
        .find(|k| v.get(k).is_some())
        .unwrap_or_else(|| panic!("unknown line {l}"));
        *kinds.entry(kind).or_default() += 1;
    }
    eprintln!("lines of shm watch: {kinds:?}");
    assert_eq!(kinds.get("values"), Some(&1), "{kinds:?}");
    assert!(w.wait().success());
}

#[test]
fn a_stream_area_cut_short_by_the_header_is_not_read() {
    let name = Name::new("streams-cut-short");
    let seg = filled(&name);
    let at = RawSegment::open(&Options::posix(name.as_str()))
        .unwrap()
        .header()
        .streams_offset()
        .unwrap();
    drop(seg);
    // The header's `segment_size` (offset 48) says the segment ends after
    // the ring's first line: its slots and the whole queue are outside.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{}", name.as_str()))
        .unwrap();
    f.seek(SeekFrom::Start(48)).unwrap();
    f.write_all(&(at + 64).to_ne_bytes()).unwrap();
    drop(f);
    let text = shm_ok(&["dump", name.as_str()]);
    assert!(text.contains("published 6"), "{text}");
    assert!(
        text.contains("(region outside the segment: no messages shown)"),
        "{text}"
    );
    assert!(text.contains("sent (outside the segment)"), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&shm_ok(&["dump", "--json", name.as_str()])).unwrap();
    assert_eq!(v["events"]["corrupt"], "outside the segment", "{v}");
    let o = Command::new(env!("CARGO_BIN_EXE_shm"))
        .args(["watch", "--json", "--timeout", "0", name.as_str()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8(o.stdout).unwrap();
    let notes: Vec<serde_json::Value> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(notes.len(), 2, "{text}");
    for n in notes {
        assert!(
            n["corrupt"].as_str().unwrap().starts_with("not watched"),
            "{text}"
        );
    }
}
