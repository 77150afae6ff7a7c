//! Rings and queues of the pure-Python package `typed_shm` against the
//! Rust runtime, with a real `python3` process on one side and this test
//! process on the other: a Rust publisher read by a Python subscriber
//! (exact loss counts for a subscriber that fell behind, and a live one
//! whose received + lost counts add up exactly), a Python publisher read
//! by a Rust subscriber, queues both ways (lossless, in order, the
//! producer waiting for room), a killed consumer of either language taken
//! over by the other (the unacknowledged message received again), a ring
//! or queue whose words were scribbled on giving a clear exception, the
//! Python and Rust readers agreeing call by call on scribbled words,
//! damaged copies of the segment giving `typed_shm` errors only, and the
//! generated module (checked in, and made from a segment) opening the
//! streams. The schema is `schemas::Plant` (`bindings/python/plant.py`);
//! `bindings/python/tests/streams_client.py` is the Python side.
#![cfg(target_os = "linux")]

mod common;
#[path = "python_streams/support.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use shm_runtime::{Error, Options, ReadWrite, Recv, Shared};
use support::*;
use test_support::Name;

/// Selects the Rust consumer role in a child process: the segment's name.
const CONSUMER_ENV: &str = "SHM_PY_STREAMS_CONSUMER";

/// The Rust consumer in a child process: claims the queue of the segment
/// `SHM_PY_STREAMS_CONSUMER` names, peeks the next command without
/// acknowledging it, prints `holding ID` and waits for a line on stdin.
/// Does nothing in a normal test run.
#[test]
fn child_role() {
    let Ok(name) = std::env::var(CONSUMER_ENV) else {
        return;
    };
    let seg = Options::posix(&name)
        .claim_writer(false)
        .open::<Plant>()
        .unwrap();
    let mut c = seg
        .consumer(|f| f.commands(), Duration::from_secs(10))
        .unwrap();
    let m = c.peek().unwrap().expect("a command in the queue");
    println!("holding {}", m.id);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

#[test]
fn a_rust_publisher_and_a_python_subscriber_that_fell_behind_count_losses_exactly() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-ring-behind");
    let seg = segment(&name, true);
    let events = seg.publisher(|f| f.events()).unwrap();
    let mut py = Py::start(&["drain", &name.0, "new"]);
    assert_eq!(py.line(), "subscribed 0");
    let n = KEPT + 12;
    for i in 0..n {
        events.publish(&event(i)).unwrap();
    }
    py.go();
    let mut want = vec!["lost 12".to_owned()];
    want.extend((12..n).map(|i| format!("msg {i}")));
    want.push(format!("end {n}"));
    assert_eq!(py.rest(), want);
    // From the oldest kept: the last KEPT, no loss.
    let mut py = Py::start(&["drain", &name.0, "oldest"]);
    assert_eq!(py.line(), "subscribed 12");
    py.go();
    let mut want: Vec<String> = (12..n).map(|i| format!("msg {i}")).collect();
    want.push(format!("end {n}"));
    assert_eq!(py.rest(), want);
}

/// `recv_batch`: batches of consecutive messages, a loss reported before
/// the batch it ends (found first) or by the next call (found after
/// messages), an invalid message ending a batch and raised by the next
/// call; `publish_all`.
#[test]
fn python_batches_are_consecutive_and_losses_and_errors_end_them() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-ring-batch");
    let seg = segment(&name, true);
    let events = seg.publisher(|f| f.events()).unwrap();
    // KEPT + 12 published after it subscribed: the loss first, then full
    // batches of 5, one cut short (KEPT is not a multiple of 5), an empty
    // one.
    let mut py = Py::start(&["batch", &name.0, "5"]);
    assert_eq!(py.line(), "subscribed 0");
    for i in 0..KEPT + 12 {
        events.publish(&event(i)).unwrap();
    }
    py.go();
    let mut want = Vec::new();
    let (mut left, mut lost) = (KEPT, 12);
    while left > 0 {
        let n = left.min(5);
        want.push(format!("batch {n} lost {lost}"));
        (left, lost) = (left - n, 0);
    }
    want.push("batch 0 lost 0".to_owned());
    want.push("bad 0".to_owned());
    assert!(!KEPT.is_multiple_of(5));
    assert_eq!(py.rest(), want);
    // Message 2 of 5 invalid (`ok` 7): the batch ends before it, the next
    // call raises, the one after goes on.
    let name = Name::new("py-ring-batch-invalid");
    let seg = segment(&name, true);
    let events = seg.publisher(|f| f.events()).unwrap();
    for i in 0..5 {
        events.publish(&event(i)).unwrap();
    }
    let ok = std::mem::offset_of!(Event, ok) as u64;
    poke(&name, streams(&seg) + EVENTS + 64 + 2 * SLOT + 8 + ok, &[7]);
    assert_eq!(
        Py::start(&["batches", &name.0, "10"]).rest(),
        [
            "batch [0, 1] lost 0 position 2",
            "invalid",
            "batch [3, 4] lost 0 position 5"
        ]
    );
    // A publisher that laps the subscriber after two messages of a batch:
    // the batch ends with them, the next one starts with the loss.
    let name = Name::new("py-ring-lapped");
    let seg = segment(&name, false);
    assert_eq!(
        Py::start(&["lapped", &name.0]).rest(),
        [
            "publish_all None 2",
            "batch [0, 1] lost 0 position 2",
            "batch [3, 4, 5, 6, 7] lost 1 position 8"
        ]
    );
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    sub.start_oldest();
    assert_eq!(sub.position(), 3);
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(event(3))));
}

#[test]
fn a_live_python_subscriber_receives_or_counts_every_message_of_a_rust_publisher() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-ring-live");
    let seg = small_segment(&name);
    let events = seg.publisher(|f| f.events()).unwrap();
    let count = 3000u64;
    let mut py = Py::start(&["follow", &name.0, &count.to_string()]);
    assert_eq!(py.line(), "subscribed 0");
    for i in 0..count {
        events.publish(&event(i)).unwrap();
        if i % 8 == 7 {
            std::thread::yield_now();
        }
    }
    let out = py.rest();
    let nums: Vec<u64> = out[0].split(' ').filter_map(|w| w.parse().ok()).collect();
    eprintln!("python follower: {}", out[0]);
    assert_eq!(nums.len(), 3, "{out:?}");
    assert_eq!(nums[0] + nums[1], count, "received + lost: {out:?}");
    assert_eq!(nums[2], 0, "out of order or damaged: {out:?}");
    assert!(nums[0] >= 8, "at least the last 8 arrive: {out:?}");
}

#[test]
fn a_python_publisher_is_read_by_a_rust_subscriber() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-ring-pub");
    let seg = segment(&name, false);
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    assert_eq!(
        Py::start(&["publish", &name.0, "5"]).rest(),
        ["published 5"]
    );
    for i in 0..5 {
        assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(event(i))));
    }
    assert_eq!(sub.try_recv().unwrap(), None);
    // KEPT + 12 more (ids from 0 again, numbers from 5): the first 12 are
    // lost.
    assert_eq!(
        Py::start(&["publish", &name.0, &(KEPT + 12).to_string()]).rest(),
        [format!("published {}", KEPT + 17)]
    );
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Lost(12)));
    for i in 12..KEPT + 12 {
        assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(event(i))));
    }
    assert_eq!(sub.try_recv().unwrap(), None);
    assert_eq!(sub.position(), KEPT + 17);
}

#[test]
fn a_rust_producer_and_a_python_consumer_lose_nothing() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-queue-in");
    let seg = segment(&name, true);
    let producer = seg.producer(|f| f.commands()).unwrap();
    let count = 500u64;
    let mut py = Py::start(&["consume", &name.0, &count.to_string()]);
    assert_eq!(py.line(), "consuming took_over=None");
    let t = std::time::Instant::now();
    for i in 0..count {
        producer
            .send_timeout(&command(i), Duration::from_secs(20))
            .unwrap();
    }
    assert_eq!(py.rest(), [format!("consumed {count} bad 0")]);
    eprintln!(
        "{count} messages Rust -> Python through {COMMAND_SLOTS} slots in {:?}",
        t.elapsed()
    );
    assert_eq!(producer.sent(), count);
    // The Python consumer let go: a Rust one claims at once.
    let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    assert_eq!((c.took_over_from(), c.position()), (None, count));
    assert_eq!(c.try_recv().unwrap(), None);
}

#[test]
fn a_python_producer_and_a_rust_consumer_lose_nothing() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-queue-out");
    let seg = segment(&name, false);
    let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    let count = 500u64;
    let py = Py::start(&["produce", &name.0, &count.to_string()]);
    let got = c.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(got, Some(command(0)));
    let t = std::time::Instant::now();
    for i in 1..count {
        let got = c.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(got, Some(command(i)));
    }
    eprintln!(
        "{count} messages Python -> Rust through {COMMAND_SLOTS} slots in {:?}",
        t.elapsed()
    );
    assert_eq!(py.rest(), [format!("sent {count}")]);
    assert_eq!(c.try_recv().unwrap(), None);
}

#[test]
fn a_killed_python_consumer_is_taken_over_and_its_message_received_again() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-queue-kill");
    let seg = segment(&name, true);
    let producer = seg.producer(|f| f.commands()).unwrap();
    for i in 0..3 {
        producer.try_send(&command(i)).unwrap();
    }
    let mut py = Py::start(&["hold", &name.0]);
    let line = py.line();
    let pid: u32 = line
        .strip_prefix("peeked 0 pid ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    match seg.consumer(|f| f.commands(), Duration::ZERO) {
        Err(Error::ConsumerBusy { pid: p, .. }) => assert_eq!(p, pid),
        other => panic!("{other:?}"),
    }
    py.child.kill().unwrap();
    py.child.wait().unwrap();
    let mut c = seg
        .consumer(|f| f.commands(), Duration::from_secs(5))
        .unwrap();
    assert_eq!(c.took_over_from(), Some(pid));
    for i in 0..3 {
        assert_eq!(c.try_recv().unwrap(), Some(command(i)));
    }
    // A Python consumer claims the queue the Rust one let go, and goes on
    // at its position.
    drop(c);
    producer.try_send(&command(0)).unwrap();
    let py = Py::start(&["consume", &name.0, "1"]);
    assert_eq!(py.rest(), ["consuming took_over=None", "consumed 1 bad 0"]);
}

#[test]
fn a_killed_rust_consumer_is_taken_over_by_python() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-queue-kill-rust");
    let seg = segment(&name, true);
    let producer = seg.producer(|f| f.commands()).unwrap();
    producer.try_send(&command(0)).unwrap();
    producer.try_send(&command(1)).unwrap();
    let mut rust = test_support::ChildRole::start("child_role", CONSUMER_ENV, &name.0);
    assert_eq!(rust.expect("holding"), "holding 0");
    let pid = rust.pid();
    // Alive: the Python consumer is refused, naming it.
    let err = client_fails(&["consume", &name.0, "2", "0"]);
    assert!(
        err.contains(&format!(
            "has a live consumer, process {pid} (pid {pid}, this process False)"
        )),
        "{err}"
    );
    rust.kill();
    // Dead: taken over at once; the command it peeked is received again.
    let o = client(&["consume", &name.0, "2", "0"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("consuming took_over={pid}\nconsumed 2 bad 0\n"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn bad_messages_and_corrupt_counters_are_clear_exceptions_in_python() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-ring-corrupt");
    let seg = segment(&name, true);
    let s = streams(&seg);
    let events = seg.publisher(|f| f.events()).unwrap();
    let mut py = Py::start(&["corrupt", &name.0]);
    assert_eq!(py.line(), "subscribed 0");
    events.publish(&event(0)).unwrap();
    events.publish(&event(1)).unwrap();
    // Message 1's `ok` (slot 1) becomes 7; the published count says 5, but
    // slots 2..4 were never written.
    let ok = std::mem::offset_of!(Event, ok) as u64;
    poke(&name, s + EVENTS + 64 + SLOT + 8 + ok, &[7]);
    poke(&name, s + EVENTS, &5u64.to_ne_bytes());
    py.go();
    let out = py.rest();
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(
        out[0] == "got Event(id=0, value=0.0, kind=<EventKind.Started: 0>, ok=False, tag='ev')",
        "{out:?}"
    );
    assert!(
        out[1].starts_with("invalid: ") && out[1].contains("invalid bool (not 0 or 1): 7"),
        "{out:?}"
    );
    assert!(
        out[2].ends_with(
            "ring slot 2 has sequence 0, which is not message 2 or a later one of that slot up \
             to the published count 5 (field `events`)"
        ),
        "{out:?}"
    );
    // A queue whose sent count is past its capacity.
    poke(&name, s + COMMANDS, &100u64.to_ne_bytes());
    let err = client_fails(&["consume", &name.0, "1"]);
    assert!(
        err.contains(
            "queue counts taken 0 and sent 100 are not within its capacity 64 (field `commands`)"
        ),
        "{err}"
    );
    // The Rust subscriber says the same.
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    sub.start_oldest();
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(event(0))));
    assert!(matches!(sub.try_recv(), Err(Error::InvalidValue { .. })));
    let e = sub.try_recv().unwrap_err().to_string();
    assert!(e.contains("slot 2 has sequence 0"), "{e}");
}

#[test]
fn the_generated_module_lists_the_streams_and_opens_them_through_the_package() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-gen-streams");
    let seg = segment(&name, true);
    let events = seg.publisher(|f| f.events()).unwrap();
    let producer = seg.producer(|f| f.commands()).unwrap();
    let dir = std::env::temp_dir().join(test_support::unique("py-gen-streams"));
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("py_streams_gen.py");
    let made = Command::new(env!("CARGO_BIN_EXE_shm"))
        .args(["codegen", "--lang", "python", "--segment", &name.0, "-o"])
        .arg(&module)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // The module made from the segment, then the checked-in one.
    for (round, module) in ["py_streams_gen", "plant"].into_iter().enumerate() {
        let at = 3 * round as u64;
        for i in at..at + 3 {
            events.publish(&event(i)).unwrap();
            producer.try_send(&command(i)).unwrap();
        }
        let script = format!(
            "import {module} as m\n\
             print(m.RINGS, m.QUEUES)\n\
             with m.open_typed('{0}', write=True, claim=False) as seg:\n\
             \x20   sub = seg.subscribe('events', start='oldest')\n\
             \x20   print([e.id for e in sub], sub.position)\n\
             \x20   with seg.consumer('commands') as c:\n\
             \x20       print([c.id for c in c], c.position)\n\
             other = m.open_typed('{0}', write=True, claim=False)\n\
             c = other.consumer('commands')\n\
             other.close()  # lets go of its consumer\n\
             with m.open_typed('{0}', write=True, claim=False) as seg:\n\
             \x20   print(seg.consumer('commands').took_over_from)\n",
            name.0
        );
        let out = Command::new(python())
            .args(["-c", &script])
            .env(
                "PYTHONPATH",
                std::env::join_paths([dir.clone(), root().join("bindings/python")]).unwrap(),
            )
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap();
        let ids = |from: u64| format!("{:?}", (from..at + 3).collect::<Vec<_>>());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "{{'events': ('Event', {KEPT})}} {{'commands': ('Command', {COMMAND_SLOTS})}}\n\
                 {} {}\n{} {}\nNone\n",
                ids(0),
                at + 3,
                ids(at),
                at + 3
            ),
            "{module}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's Python stream example (section "Python"), as written,
/// against a `Plant` segment holding an event.
#[test]
fn the_readme_python_stream_example_runs() {
    if python_missing() {
        return;
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme.split("\n## Python\n").nth(1).unwrap();
    let block = section
        .split("```python\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains("subscribe("))
        .expect("a stream example");
    // The block is indented under a list item.
    let code: String = block
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    let name = Name::new("py-readme");
    let seg = segment(&name, false);
    seg.claim_writer(Duration::ZERO).unwrap();
    seg.publisher(|f| f.events())
        .unwrap()
        .publish(&event(0))
        .unwrap();
    seg.release_writer().unwrap();
    let code = code.replace("\"plant\"", &format!("{:?}", name.0));
    let out = python_command()
        .args(["-c", &format!("import typed_shm\n{code}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{code}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    sub.start_oldest();
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(event(0))));
    let Some(Recv::Msg(e)) = sub.try_recv().unwrap() else {
        panic!("the event the example published")
    };
    assert_eq!((e.id, e.value, e.tag.as_str()), (1, 0.5, "boiler"));
    // The example's consumer took the command it sent.
    let c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    assert_eq!(c.position(), 1);
}

/// A segment of version 1 upgraded in place to version 2: the rings and
/// queues version 2 added have no room (an upgrade does not grow the
/// stream area), which Python reports as `Unsupported`, as Rust does (the
/// handle that upgraded, and any later one), and the old ring goes on.
#[test]
fn streams_an_upgrade_added_are_unsupported_in_python_as_in_rust() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-upgraded");
    let v1 = Options::posix(&name.0)
        .create_new()
        .open::<ArmV1>()
        .unwrap();
    v1.publisher(|f| f.log()).unwrap().publish(&7).unwrap();
    drop(v1);
    let v2 = Options::posix(&name.0)
        .upgrade(true)
        .open::<ArmV2>()
        .unwrap();
    let e = v2.subscribe(|f| f.alarms()).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    let rust_says = e.to_string();
    drop(v2);
    let v2 = Options::posix(&name.0)
        .claim_writer(false)
        .open::<ArmV2>()
        .unwrap();
    let e = v2.subscribe(|f| f.alarms()).unwrap_err();
    assert_eq!(e.to_string(), rust_says);
    let Err(Error::Unsupported { .. }) = v2.consumer(|f| f.orders(), Duration::ZERO) else {
        panic!("the queue an upgrade added")
    };
    let script = format!(
        "import typed_shm\n\
         with typed_shm.open('{0}', write=True, claim=False) as seg:\n\
         \x20   print(list(seg.subscribe('log', start='oldest')))\n\
         \x20   for what in (lambda: seg.subscribe('alarms'), lambda: seg.consumer('orders')):\n\
         \x20       try:\n\
         \x20           what()\n\
         \x20       except typed_shm.Unsupported as e:\n\
         \x20           print(e)\n",
        name.0
    );
    let out = python_command().args(["-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines[0], "[7]");
    assert_eq!(lines[1], rust_says);
    assert!(
        lines[2].contains("this queue (stream offset") && lines[2].contains("older version"),
        "{text}"
    );
}

/// What the Rust subscriber makes of the ring, from the oldest message:
/// the Python client's `outcomes` lines.
fn ring_outcomes(seg: &Shared<Plant, ReadWrite>, k: usize) -> Vec<String> {
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    sub.start_oldest();
    let mut out = vec![format!("start {}", sub.position())];
    for _ in 0..k {
        out.push(match sub.try_recv() {
            Ok(None) => "none".to_owned(),
            Ok(Some(Recv::Lost(n))) => format!("lost {n}"),
            Ok(Some(Recv::Msg(m))) => format!("msg {} {} {}", m.id, m.kind as u8, u8::from(m.ok)),
            Err(Error::InvalidValue { .. }) => "invalid".to_owned(),
            Err(Error::Corrupt { what, .. }) => format!("corrupt: {what}"),
            Err(e) => panic!("{e}"),
        });
    }
    out.push(format!("done {}", sub.position()));
    out
}

#[test]
fn python_and_rust_subscribers_agree_on_any_ring_words() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-ring-scribble");
    let seg = segment(&name, false);
    let s = streams(&seg) + EVENTS;
    let k = 12;
    let mut py = Py::start(&["outcomes", &name.0, &k.to_string()]);
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut corrupt, mut lost, mut msgs, mut invalid) = (0, 0, 0, 0);
    for round in 0..300 {
        let head = scribbled_count(&mut r, KEPT);
        poke(&name, s, &head.to_ne_bytes());
        // Every slot, written at once.
        let mut slots = Vec::with_capacity((KEPT * SLOT) as usize);
        for slot in 0..KEPT {
            // The slot's latest message below `head` (mostly), a lap
            // before or after, being written, or anything.
            let latest = head.wrapping_sub(1 + (head.wrapping_sub(1 + slot) & (KEPT - 1)));
            let seq = match r.below(32) {
                0 => 0,
                1 => r.next(),
                2 => latest.wrapping_mul(2).wrapping_add(1),
                3 => u64::MAX - r.below(4),
                4 => latest.wrapping_add(KEPT).wrapping_mul(2).wrapping_add(2),
                5 => latest.wrapping_add(KEPT).wrapping_mul(2).wrapping_add(1),
                6 => latest.wrapping_sub(KEPT).wrapping_mul(2).wrapping_add(2),
                _ => latest.wrapping_mul(2).wrapping_add(2),
            };
            slots.extend_from_slice(&seq.to_ne_bytes());
            slots.extend_from_slice(&scribbled_event(&mut r));
        }
        poke(&name, s + 64, &slots);
        py.go();
        let got = py.lines_to_done();
        let want = ring_outcomes(&seg, k);
        assert_eq!(got, want, "round {round}, head {head}");
        corrupt += want.iter().filter(|l| l.starts_with("corrupt")).count();
        lost += want.iter().filter(|l| l.starts_with("lost")).count();
        msgs += want.iter().filter(|l| l.starts_with("msg")).count();
        invalid += want.iter().filter(|l| l.starts_with("invalid")).count();
    }
    eprintln!("300 rounds: {msgs} messages, {invalid} invalid, {lost} losses, {corrupt} corrupt");
    assert!(corrupt > 0 && lost > 0 && msgs > 0 && invalid > 0);
}

#[test]
fn python_and_rust_consumers_agree_on_any_queue_words() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-queue-scribble");
    let seg = segment(&name, false);
    let q = streams(&seg) + COMMANDS;
    let k = 6;
    let mut py = Py::start(&["queue-outcomes", &name.0, &k.to_string()]);
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let (mut corrupt, mut msgs) = (0, 0);
    for round in 0..200 {
        let head = scribbled_count(&mut r, COMMAND_SLOTS as u64);
        let tail = match r.below(6) {
            0 => head.wrapping_sub(1),
            1 => r.next(),
            _ => head.wrapping_add(r.below(6)),
        };
        let mut slots = Vec::new();
        for _ in 0..COMMAND_SLOTS {
            slots.extend_from_slice(&scribbled_command(&mut r));
        }
        // The consumer takes messages (stores `head`): each side starts
        // from the same words.
        let scribble = || {
            poke(&name, q, &tail.to_ne_bytes());
            poke(&name, q + 64, &head.to_ne_bytes());
            poke(&name, q + 128, &slots);
        };
        scribble();
        py.go();
        let got = py.lines_to_done();
        scribble();
        let mut c = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
        let mut want = Vec::new();
        for _ in 0..k {
            want.push(match c.try_recv() {
                Ok(None) => "none".to_owned(),
                Ok(Some(m)) => format!("msg {}", m.id),
                Err(Error::InvalidValue { .. }) => "invalid".to_owned(),
                Err(Error::Corrupt { what, .. }) => format!("corrupt: {what}"),
                Err(e) => panic!("{e}"),
            });
        }
        want.push(format!("done {}", c.position()));
        drop(c);
        assert_eq!(got, want, "round {round}, head {head}, tail {tail}");
        corrupt += want.iter().filter(|l| l.starts_with("corrupt")).count();
        msgs += want.iter().filter(|l| l.starts_with("msg")).count();
    }
    eprintln!("200 rounds: {msgs} messages, {corrupt} corrupt");
    assert!(corrupt > 0 && msgs > 0);
}

#[test]
fn damaged_copies_of_a_segment_with_streams_give_typed_shm_errors_only() {
    if python_missing() {
        return;
    }
    let name = Name::new("py-streams-fuzz");
    let seg = small_segment(&name);
    let events = seg.publisher(|f| f.events()).unwrap();
    for i in 0..11 {
        events.publish(&event(i)).unwrap();
    }
    let producer = seg.producer(|f| f.commands()).unwrap();
    for i in 0..3 {
        producer.try_send(&command(i)).unwrap();
    }
    python_fuzz(&name);
}
