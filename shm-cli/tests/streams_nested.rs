//! Attacks on streams in nested places (issue 16, red team): rings inside
//! an array of structs, a queue inside a nested struct, a ring of strings
//! holding terminal escapes and bidirectional overrides. The Rust runtime,
//! `shm dump`, `shm watch` and the Python package (which places the
//! regions from the segment's descriptor, not from a compiled type) must
//! agree on which region is whose, and no tool may print the attacker's
//! bytes raw.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{python_command, python_missing, shm_ok};
use shm_runtime::{FixedStr, Options, Queue, Recv, Ring, SharedLayout};
use test_support::Name;

/// An arm with its own ring.
#[derive(SharedLayout, Clone, Copy)]
#[repr(C)]
pub struct Arm {
    /// Its number.
    pub id: u64,
    /// Its events.
    pub events: Ring<u64, 2>,
}

/// A struct holding a queue.
#[derive(SharedLayout, Clone, Copy)]
#[repr(C)]
pub struct Inner {
    /// Some state.
    pub x: u64,
    /// A queue of one.
    pub cmds: Queue<u32, 1>,
}

/// Rings in an array of structs, a ring of strings, a queue in a struct.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Nested {
    /// Some state.
    pub state: u64,
    /// Three arms, three rings.
    pub arms: [Arm; 3],
    /// A ring of strings.
    pub names: Ring<FixedStr<16>, 2>,
    /// A struct with a queue.
    pub inner: Inner,
}

/// The child processes of the common helpers. Does nothing as a test.
#[test]
fn child_role() {
    common::child_role();
}

/// What an attacker writes: an escape sequence that would colour the
/// terminal, a bidirectional override and a NUL.
const EVIL: &str = "\u{1b}[31mx\u{202e}y\0";

fn filled(name: &Name) -> shm_runtime::Shared<Nested> {
    let seg = Options::posix(name.as_str())
        .create_or_open()
        .open::<Nested>()
        .unwrap();
    for i in 0..3 {
        let p = seg
            .publisher(|f| f.arms().at(i).unwrap().fields().events())
            .unwrap();
        for k in 0..=i as u64 {
            p.publish(&(100 * i as u64 + k)).unwrap();
        }
    }
    let p = seg.publisher(|f| f.names()).unwrap();
    p.publish(&FixedStr::new(EVIL).unwrap()).unwrap();
    let q = seg.producer(|f| f.inner().fields().cmds()).unwrap();
    q.try_send(&7).unwrap();
    seg
}

#[test]
fn rings_in_an_array_of_structs_are_each_their_own() {
    let name = Name::new("nested-rings");
    let seg = filled(&name);
    for i in 0..3 {
        let mut sub = seg
            .subscribe(|f| f.arms().at(i).unwrap().fields().events())
            .unwrap();
        sub.start_oldest();
        let got: Vec<u64> = sub
            .iter()
            .map(|r| match r.unwrap() {
                Recv::Msg(m) => m,
                Recv::Lost(n) => panic!("lost {n}"),
            })
            .collect();
        // Arm `i` got `i + 1` messages into 2 slots: the last (up to) 2.
        let want: Vec<u64> = (0..=i as u64)
            .map(|k| 100 * i as u64 + k)
            .skip(i.saturating_sub(1))
            .collect();
        assert_eq!(got, want, "arm {i}");
    }
    let mut names = seg.subscribe(|f| f.names()).unwrap();
    names.start_oldest();
    match names.try_recv().unwrap() {
        Some(Recv::Msg(s)) => assert_eq!(s.as_str(), EVIL),
        other => panic!("{other:?}"),
    }
    let mut c = seg
        .consumer(|f| f.inner().fields().cmds(), Duration::ZERO)
        .unwrap();
    assert_eq!(c.try_recv().unwrap(), Some(7));
    // The tools see the same messages in the same places.
    let json = shm_ok(&["dump", name.as_str(), "--json"]);
    for (i, want) in [
        "\"messages\": [{\"seq\": 0, \"message\": 0}]",
        "\"messages\": [{\"seq\": 0, \"message\": 100}, {\"seq\": 1, \"message\": 101}]",
        "\"messages\": [{\"seq\": 1, \"message\": 201}, {\"seq\": 2, \"message\": 202}]",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            json.replace(['\n', ' '], "")
                .contains(&want.replace([' '], "")),
            "arm {i}: {want} not in {json}"
        );
    }
    let text = shm_ok(&["dump", name.as_str()]);
    for out in [&json, &text] {
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{202e}') && !out.contains('\0'),
            "raw attacker bytes in {out:?}"
        );
    }
    assert!(text.contains("\\u{1b}[31mx\\u{202e}y\\0"), "{text}");
    assert!(json.contains("\\u001b[31mx\\u202ey\\u0000"), "{json}");
}

#[test]
fn watch_escapes_strings_in_messages() {
    let name = Name::new("nested-watch");
    let seg = filled(&name);
    // From the oldest kept message: 1 + 2 + 2 arm messages, the name, the
    // command.
    let _ = &seg;
    for json in [false, true] {
        let mut args = vec![
            "watch",
            name.as_str(),
            "--from-oldest",
            "--count",
            "7",
            "--timeout",
            "60",
        ];
        if json {
            args.push("--json");
        }
        let all = shm_ok(&args);
        assert!(
            !all.contains('\u{1b}') && !all.contains('\u{202e}') && !all.contains('\0'),
            "raw attacker bytes in {all:?}"
        );
        let want = if json {
            "\\u001b[31mx\\u202ey\\u0000"
        } else {
            "\\u{1b}[31mx\\u{202e}y\\0"
        };
        assert!(all.contains(want), "{want} not in {all}");
        for m in ["101", "202", "7"] {
            assert!(all.contains(m), "{m} not in {all}");
        }
    }
}

/// Runs the Python `script` with the segment's name as its argument; its
/// stdout, after it succeeded.
fn python_ok(script: &str, name: &Name) -> String {
    let out = python_command()
        .args(["-c", script, name.as_str()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The Python package finds each region from the descriptor: the same
/// messages as the Rust runtime, for every nested ring and the queue.
#[test]
fn python_places_nested_rings_as_rust_does() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("nested-python");
    let _seg = filled(&name);
    let script = r#"
import sys, typed_shm
with typed_shm.open(sys.argv[1], write=True, claim=False) as seg:
    for i in range(3):
        sub = seg.subscribe(f"arms[{i}].events", start="oldest")
        print(f"arm{i}=" + ",".join(str(m) for m in sub))
    sub = seg.subscribe("names", start="oldest")
    print("names=" + ascii([m for m in sub]))
    with seg.consumer("inner.cmds") as c:
        print(f"cmds={c.try_recv()}")
"#;
    let text = python_ok(script, &name);
    assert!(text.contains("arm0=0\n"), "{text}");
    assert!(text.contains("arm1=100,101\n"), "{text}");
    assert!(text.contains("arm2=201,202\n"), "{text}");
    assert!(text.contains("names=['\\x1b[31mx\\u202ey\\x00']"), "{text}");
    assert!(text.contains("cmds=7"), "{text}");
}

/// Attack (red team): the claim word of a live Python consumer overwritten
/// with another live process's word: the Python consumer stops at its next
/// call with `ConsumerBusy` naming that process, as the Rust runtime and
/// the C header do; zeroed, it is `Corrupt`.
#[test]
fn a_python_consumer_whose_claim_word_was_overwritten_stops() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::FileExt;
    if python_missing(false) {
        return;
    }
    let name = Name::new("nested-py-steal");
    let seg = filled(&name);
    let raw = shm_runtime::RawSegment::open(&Options::posix(name.as_str())).unwrap();
    let streams = raw.schema().streams().unwrap();
    let q = raw.header().streams_offset().unwrap() + streams.last().unwrap().region_offset;
    let script = r#"
import sys, typed_shm
with typed_shm.open(sys.argv[1], write=True, claim=False) as seg:
    c = seg.consumer("inner.cmds")
    print(f"claimed {c.try_recv()}", flush=True)
    for _ in range(2):
        sys.stdin.readline()
        try:
            print(f"got {c.try_recv()}", flush=True)
        except typed_shm.Error as e:
            print(f"{type(e).__name__}: {e}", flush=True)
"#;
    let mut child = python_command()
        .args(["-c", script, name.as_str()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut next = |line: &mut String| {
        line.clear();
        out.read_line(line).unwrap();
        line.trim_end().to_owned()
    };
    assert_eq!(next(&mut line), "claimed 7");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{}", name.as_str()))
        .unwrap();
    let me = u64::from(std::process::id());
    f.write_all_at(&me.to_ne_bytes(), q + 72).unwrap();
    seg.producer(|f| f.inner().fields().cmds())
        .unwrap()
        .try_send(&8)
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin).unwrap();
    let l = next(&mut line);
    assert!(
        l.starts_with("ConsumerBusy:") && l.contains(&format!("process {me}")),
        "{l}"
    );
    f.write_all_at(&0u64.to_ne_bytes(), q + 72).unwrap();
    writeln!(stdin).unwrap();
    let l = next(&mut line);
    assert!(
        l.starts_with("Corrupt:")
            && l.contains("queue consumer claim word is 0 while this consumer holds the queue"),
        "{l}"
    );
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// Version 1 with a ring, room to grow.
#[derive(SharedLayout, Clone, Copy)]
#[repr(C)]
#[shm(name = "Limb", capacity = 256)]
pub struct LimbV1 {
    /// Some state.
    pub state: u64,
    /// A ring.
    pub log: Ring<u64, 4>,
}

/// Version 2 appends a field and a ring.
#[derive(SharedLayout, Clone, Copy)]
#[repr(C)]
#[shm(version = 2, extends = LimbV1, capacity = 256)]
pub struct LimbV2 {
    /// Some state.
    pub state: u64,
    /// A ring.
    pub log: Ring<u64, 4>,
    /// New.
    pub speed: u64,
    /// New, without room in an upgraded segment.
    pub alarms: Ring<u32, 2>,
}

/// Attack (red team): a segment upgraded in place, opened afterwards by
/// Python (which places regions from the now newer descriptor): the ring
/// the upgrade had no room for is `Unsupported`, as in Rust (it was a
/// false `Corrupt` in both before), and the old ring reads.
#[test]
fn a_ring_added_by_an_upgrade_is_unsupported_in_python_too() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("nested-upgrade");
    let v1 = Options::posix(name.as_str())
        .create_new()
        .open::<LimbV1>()
        .unwrap();
    v1.publisher(|f| f.log()).unwrap().publish(&7).unwrap();
    drop(v1);
    drop(
        Options::posix(name.as_str())
            .upgrade(true)
            .open::<LimbV2>()
            .unwrap(),
    );
    let script = r#"
import sys, typed_shm
with typed_shm.open(sys.argv[1]) as seg:
    print("log=" + ",".join(str(m) for m in seg.subscribe("log", start="oldest")))
    try:
        seg.subscribe("alarms")
    except typed_shm.Error as e:
        print(f"{type(e).__name__}: {e}")
"#;
    let text = python_ok(script, &name);
    assert!(text.contains("log=7\n"), "{text}");
    assert!(
        text.contains("Unsupported:") && text.contains("older version of schema `Limb`"),
        "{text}"
    );
}

/// Attack (red team): two Python threads publishing through one ring
/// publisher, and two sending through one producer, at once (the GIL is
/// released in every `ctypes` call, and the switch interval is made tiny):
/// every publish and send must get its own number, as in Rust (whose
/// handle serialises them with its write lock), and the counts must add
/// up; two threads taking from one consumer must never get one message
/// twice.
#[test]
fn python_threads_sharing_a_publisher_producer_or_consumer_get_distinct_numbers() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("nested-py-threads");
    let seg = filled(&name);
    seg.release_writer().unwrap();
    let script = r#"
import sys, threading, typed_shm
sys.setswitchinterval(1e-6)
N = 5000
def both(f):
    out = [[], []]
    def run(k):
        for i in range(N):
            r = f(k * N + i)
            if r is not None:
                out[k].append(r)
    ts = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
    return out[0] + out[1]
with typed_shm.open(sys.argv[1], write=True, writer_wait=10) as seg:
    pub = seg.publisher("arms[0].events")
    before = pub.published
    a = both(pub.publish)
    print(f"publish dups={len(a) - len(set(a))} added={pub.published - before} calls={len(a)}")
    prod = seg.producer("inner.cmds")
    with seg.consumer("inner.cmds") as c:
        c.try_recv()
        stop = []
        got = []
        def take():
            while not stop:
                m = c.try_recv()
                if m is not None:
                    got.append(m)
        takers = [threading.Thread(target=take) for _ in range(2)]
        for t in takers: t.start()
        def send(i):
            return prod.send(i, timeout=10)
        s = both(send)
        while len(got) < len(s) and c.position < prod.sent:
            pass
        stop.append(1)
        for t in takers: t.join()
        print(f"send dups={len(s) - len(set(s))} sent={len(s)} got={len(got)} got_dups={len(got) - len(set(got))}")
"#;
    let text = python_ok(script, &name);
    assert!(
        text.contains("publish dups=0 added=10000 calls=10000"),
        "{text}"
    );
    assert!(
        text.contains("send dups=0 sent=10000 got=10000 got_dups=0"),
        "{text}"
    );
    assert!(text.contains("got_dups=0"), "{text}");
}

/// Attack (red team): a Python consumer inherited by `os.fork`: the child's
/// calls are `ConsumerBusy` naming the parent (as in Rust), its close
/// leaves the parent's claim, and the parent goes on.
#[test]
fn a_python_consumer_inherited_by_fork_is_the_parents() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("nested-py-fork");
    let _seg = filled(&name);
    let script = r#"
import os, sys, typed_shm
with typed_shm.open(sys.argv[1], write=True, claim=False) as seg:
    c = seg.consumer("inner.cmds")
    pid = os.fork()
    if pid == 0:
        try:
            c.try_recv()
            print("child got", flush=True)
        except typed_shm.ConsumerBusy as e:
            print(f"child busy pid={e.pid} parent={e.pid == os.getppid()}", flush=True)
        c.close()
        os._exit(0)
    os.waitpid(pid, 0)
    print(f"parent got={c.try_recv()}", flush=True)
"#;
    let text = python_ok(script, &name);
    assert!(text.contains("parent=True"), "{text}");
    assert!(text.contains("parent got=7"), "{text}");
}
