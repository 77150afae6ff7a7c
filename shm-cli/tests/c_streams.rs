//! C and C++ programs with the ring and queue functions of the checked-in
//! header of `schemas::Plant` (`bindings/c/plant.h`, used by
//! `bindings/c/tests/streams.c`), against Rust publishers,
//! subscribers, producers and consumers on real segments: exact counts and
//! exact losses, lossless queues in order both ways, a C consumer killed
//! while holding a peeked message taken over by Rust (which receives that
//! message again), and damaged rings and messages reported as errors. A
//! missing compiler skips a test with a message.
#![cfg(target_os = "linux")]

mod common;
#[path = "c_streams/support.rs"]
mod support;

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Name, root};
use shm_runtime::{Error, Recv};
use support::*;

/// `plant.h` and `streams.c` compile cleanly with every compiler installed
/// (GCC, G++, Clang, Clang++), as is and under a strict POSIX
/// feature-test macro, alone and with another generated header.
#[test]
fn the_stream_header_compiles_as_c11_and_cpp17_with_every_compiler() {
    if program(false).is_none() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-streams");
    let both = dir.join("both.c");
    std::fs::write(
        &both,
        format!(
            "#include \"{}\"\n#include \"plant.h\"\nint main(void) {{ return 0; }}\n",
            root().join("bindings/c/my_shared_data.h").display()
        ),
    )
    .unwrap();
    let mut compiled = 0;
    for (cc, lang) in [
        ("gcc", &["-std=c11", "-pedantic"][..]),
        ("g++", &["-std=c++17", "-pedantic", "-x", "c++"][..]),
        ("clang", &["-std=c11", "-pedantic"][..]),
        ("clang++", &["-std=c++17", "-pedantic", "-x", "c++"][..]),
    ] {
        if !Command::new(cc)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            eprintln!("{cc} is not installed: skipped");
            continue;
        }
        for src in [root().join("bindings/c/tests/streams.c"), both.clone()] {
            for extra in [&[][..], &["-D_POSIX_C_SOURCE=200809L"][..]] {
                let out = Command::new(cc)
                    .args(["-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
                    .args(lang)
                    .args(extra)
                    .arg("-I")
                    .arg(root().join("bindings/c"))
                    .arg(&src)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{cc} {extra:?} {}:\n{}",
                    src.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                compiled += 1;
            }
        }
    }
    eprintln!("{compiled} compilations");
}

// ---------------------------------------------------------------------
// Rings.

/// The last line of a C subscriber of `total` messages, `received R lost
/// L bad B`: every message received or counted lost, none bad; R.
fn received_or_lost(last: &str, total: u64) -> u64 {
    let nums: Vec<u64> = last
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 3, "{last}");
    assert_eq!((nums[0] + nums[1], nums[2]), (total, 0), "{last}");
    nums[0]
}

#[test]
fn c_subscribers_receive_a_rust_publisher_with_exact_losses() {
    for cpp in [false, true] {
        let Some(exe) = program(cpp) else { continue };
        let name = Name::new("c-sub");
        let seg = segment(&name);
        seg.claim_writer(Duration::ZERO).unwrap();
        let p = seg.publisher(|f| f.events()).unwrap();
        // Three kept of 3: from the oldest, all of them, no loss.
        for i in 0..3 {
            p.publish(&event(i)).unwrap();
        }
        let (out, code) = run(&exe, &["sub", name.as_str(), "3", "oldest"]);
        assert_eq!(
            (out.as_str(), code),
            ("subscribed at 0\nreceived 3 lost 0 bad 0\n", Some(0))
        );
        // Subscribed at 3, then KEPT + 92 published: 92 lost, the last KEPT
        // received.
        let mut c = Lines::spawn(
            &exe,
            &[
                "sub",
                name.as_str(),
                &(KEPT + 92).to_string(),
                "new",
                "wait",
            ],
        );
        assert_eq!(c.line(), "subscribed at 3");
        let mut at = 3;
        for i in at..at + KEPT + 92 {
            p.publish(&event(i)).unwrap();
        }
        at += KEPT + 92;
        c.go();
        assert_eq!(
            c.done(),
            format!("received {KEPT} lost 92 bad 0\n"),
            "C++: {cpp}"
        );
        // In batches of 5 after KEPT + 12 more: the loss first, then full
        // batches, then one cut short (KEPT is not a multiple of 5).
        let mut c = Lines::spawn(&exe, &["batch", name.as_str(), "5"]);
        assert_eq!(c.line(), format!("subscribed at {at}"));
        for i in at..at + KEPT + 12 {
            p.publish(&event(i)).unwrap();
        }
        at += KEPT + 12;
        c.go();
        let mut want = String::new();
        let mut left = KEPT;
        let mut lost = 12;
        while left > 0 {
            let n = left.min(5);
            want += &format!("batch {n} lost {lost}\n");
            (left, lost) = (left - n, 0);
        }
        want += "batch 0 lost 0\nbad 0\n";
        assert!(!KEPT.is_multiple_of(5));
        assert_eq!(c.done(), want, "C++: {cpp}");
        // Live, with a subscriber slower than the publisher: every message
        // received in order or counted lost, exactly.
        let live = 3 * KEPT;
        let mut c = Lines::spawn(
            &exe,
            &["sub", name.as_str(), &live.to_string(), "new", "go", "50"],
        );
        assert_eq!(c.line(), format!("subscribed at {at}"));
        for i in at..at + live {
            p.publish(&event(i)).unwrap();
            if i % 64 == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        let last = c.done();
        assert!(received_or_lost(&last, live) >= KEPT, "{last}");
        at += live;
        eprintln!("C++ {cpp}: slow subscriber {last}");
        // Asleep on the futex, counted in the doorbell (which the Rust
        // writer made when it claimed): a publish wakes it.
        let mut c = Lines::spawn(
            &exe,
            &["sub", name.as_str(), "1", "new", "go", "0", "doorbell"],
        );
        assert_eq!(c.line(), format!("subscribed at {at}"));
        wait_until("the C subscriber never slept", || ro_waiters(&name) != 0);
        p.publish(&event(at)).unwrap();
        assert_eq!(c.done(), "received 1 lost 0 bad 0\n", "C++: {cpp}");
        assert_eq!(ro_waiters(&name), 0, "it unregistered");
    }
}

/// A Rust publisher in a tight loop and a C subscriber (and a C++ one)
/// reading as fast as they can, on a ring of 8 (`SmallPlant`: the
/// publisher laps them again and again): every message whole (each is
/// checked against its number) and in order, or counted lost.
#[test]
fn c_subscribers_of_a_fast_publisher_get_every_message_whole_or_counted_lost() {
    let n = stress_messages();
    let name = Name::new("c-stress");
    let seg = small_segment(&name);
    seg.claim_writer(Duration::ZERO).unwrap();
    let p = seg.publisher(|f| f.events()).unwrap();
    let count = n.to_string();
    let mut subs: Vec<Lines> = [false, true]
        .into_iter()
        .filter_map(small_program)
        .map(|exe| Lines::spawn(&exe, &["sub", name.as_str(), &count, "new", "wait"]))
        .collect();
    for c in &mut subs {
        assert_eq!(c.line(), "subscribed at 0");
        c.go();
    }
    for i in 0..n {
        p.publish(&event(i)).unwrap();
    }
    for c in subs {
        let last = c.done();
        received_or_lost(&last, n);
        eprintln!("{n} published: {last}");
    }
}

#[test]
fn a_rust_subscriber_receives_a_c_publisher() {
    for cpp in [false, true] {
        let Some(exe) = program(cpp) else { continue };
        let name = Name::new("c-pub");
        let seg = segment(&name);
        let mut sub = seg.subscribe(|f| f.events()).unwrap();
        let (out, code) = run(&exe, &["pub", name.as_str(), "5"]);
        assert_eq!((out.as_str(), code), ("claimed\npublished 5\n", Some(0)));
        for i in 0..5 {
            assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(event(i))));
        }
        assert_eq!(sub.try_recv().unwrap(), None);
        // Write access was given back; a Rust publisher goes on.
        assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);
        seg.publisher(|f| f.events())
            .unwrap()
            .publish(&event(5))
            .unwrap();
        assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(event(5))));
        seg.release_writer().unwrap();
        // A Rust subscriber (read-write handle: counted in `waiters`)
        // sleeping until C publishes.
        let mut c = Lines::spawn(&exe, &["pub", name.as_str(), "1", "wait"]);
        assert_eq!(c.line(), "claimed");
        std::thread::scope(|s| {
            let waiter = s.spawn(|| sub.recv_timeout(Duration::from_secs(600)).unwrap());
            wait_until("the Rust waiter never registered", || {
                read_u32(&name, 248) != 0
            });
            c.go();
            assert_eq!(waiter.join().unwrap(), Some(Recv::Msg(event(0))));
        });
        assert_eq!(c.done(), "published 1\n");
        // KEPT + 12 more into KEPT slots: 12 lost, exactly, then the last
        // KEPT.
        let (out, _) = run(&exe, &["pub", name.as_str(), &(KEPT + 12).to_string()]);
        assert_eq!(out, format!("claimed\npublished {}\n", KEPT + 12));
        assert_eq!(sub.try_recv().unwrap(), Some(Recv::Lost(12)));
        for i in 12..KEPT + 12 {
            assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(event(i))));
        }
        assert_eq!(sub.try_recv().unwrap(), None);
    }
}

/// A C publisher killed in the middle of a publish: its half-written
/// message is never seen (by Rust or C subscribers); Rust takes write
/// access over and the numbering goes on from the last complete message.
#[test]
fn a_c_publisher_killed_mid_publish_is_taken_over_and_the_sequence_goes_on() {
    let Some(exe) = program(false) else { return };
    let name = Name::new("c-pub-killed");
    let seg = segment(&name);
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    let mut c = Lines::spawn(&exe, &["pub", name.as_str(), "3", "torn"]);
    assert_eq!(c.line(), "claimed");
    assert_eq!(c.line(), "published 3");
    assert_eq!(c.line(), "torn at 3");
    for i in 0..3 {
        assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(event(i))));
    }
    assert_eq!(
        sub.try_recv().unwrap(),
        None,
        "the torn message is invisible"
    );
    let pid = c.child.id();
    match seg.claim_writer(Duration::ZERO) {
        Err(Error::WriterBusy { pid: p, .. }) => assert_eq!(p, pid),
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    let took = seg.claim_writer(Duration::ZERO).unwrap().unwrap();
    assert_eq!(took.previous_pid, Some(pid));
    let p = seg.publisher(|f| f.events()).unwrap();
    assert_eq!(p.publish(&event(3)).unwrap(), 3);
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(event(3))));
    assert_eq!(sub.try_recv().unwrap(), None);
    let (out, code) = run(&exe, &["sub", name.as_str(), "4", "oldest"]);
    assert_eq!(
        (out.as_str(), code),
        ("subscribed at 0\nreceived 4 lost 0 bad 0\n", Some(0))
    );
}

#[test]
fn a_damaged_ring_or_message_is_an_error_in_c() {
    let Some(exe) = program(false) else { return };
    let name = Name::new("c-bad");
    let seg = segment(&name);
    seg.claim_writer(Duration::ZERO).unwrap();
    let p = seg.publisher(|f| f.events()).unwrap();
    for i in 0..4 {
        p.publish(&event(i)).unwrap();
    }
    let f = file(&name);
    let ring = region(&name, 0);
    // Slot 1 says it is being written with message 0 (below message 1).
    let slot1 = ring + 64 + SLOT;
    f.write_at(&1u64.to_ne_bytes(), slot1).unwrap();
    let mut sub = seg.subscribe(|f| f.events()).unwrap();
    sub.start_oldest();
    let Ok(Some(Recv::Msg(_))) = sub.try_recv() else {
        panic!("message 0 is fine")
    };
    let Err(Error::Corrupt { what, .. }) = sub.try_recv() else {
        panic!("Rust takes a bad slot")
    };
    let (out, code) = run(&exe, &["sub", name.as_str(), "4", "oldest"]);
    assert_eq!(
        (out, code),
        (
            format!("subscribed at 0\nreceived 1 lost 0 bad 0\nerror -6: {what}\n"),
            Some(1)
        )
    );
    // `head` at the end of its range: the counters would overflow.
    f.write_at(&4u64.to_ne_bytes(), slot1).unwrap();
    f.write_at(&u64::MAX.to_ne_bytes(), ring).unwrap();
    let Err(Error::Corrupt { what, .. }) = ({
        let mut sub = seg.subscribe(|f| f.events()).unwrap();
        sub.start_oldest();
        sub.try_recv()
    }) else {
        panic!("Rust takes an overflowing ring")
    };
    let (out, code) = run(&exe, &["sub", name.as_str(), "4", "oldest"]);
    assert_eq!(
        (out, code),
        (
            format!(
                "subscribed at {}\nreceived 0 lost 0 bad 0\nerror -6: {what}\n",
                u64::MAX - KEPT
            ),
            Some(1)
        )
    );
    // An invalid message (bool 2 in `ok`): SHM_ERR_INVALID naming the
    // field, and the subscriber moves past it.
    f.write_at(&4u64.to_ne_bytes(), ring).unwrap();
    let ok = std::mem::offset_of!(Event, ok) as u64;
    f.write_at(&[2u8], slot1 + 8 + ok).unwrap();
    let Err(Error::InvalidValue { path, what, .. }) = ({
        let mut sub = seg.subscribe(|f| f.events()).unwrap();
        sub.start_oldest();
        sub.try_recv().unwrap();
        sub.try_recv()
    }) else {
        panic!("Rust reads bool 2")
    };
    let (out, code) = run(&exe, &["sub", name.as_str(), "4", "oldest"]);
    assert_eq!(
        (out, code),
        (
            format!(
                "subscribed at 0\nreceived 1 lost 0 bad 0\n\
                 error -2: field `{path}` holds an invalid value: {what}\n"
            ),
            Some(1)
        )
    );
}

/// Hostile ring and queue words (`head`, every slot's `seq`, the queue's
/// `tail`, `head` and claim word set to 0, small, huge or pseudo-random
/// values) under a C subscriber and consumer built with AddressSanitizer
/// and UndefinedBehaviorSanitizer: every call returns a message, a loss
/// (> 0), nothing or an error code, and nothing is touched outside the
/// regions.
#[test]
fn hostile_ring_and_queue_words_give_messages_losses_or_errors_in_c() {
    if program(false).is_none() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-streams");
    let exe = dir.join("streams-asan");
    let out = Command::new("gcc")
        .args([
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O1",
            "-g",
            "-std=c11",
            "-pedantic",
        ])
        .args(["-fsanitize=address,undefined", "-fno-sanitize-recover=all"])
        .arg("-I")
        .arg(root().join("bindings/c"))
        .arg(root().join("bindings/c/tests/streams.c"))
        .arg("-o")
        .arg(&exe)
        .arg("-lrt")
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "gcc cannot build with sanitizers here: skipped\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let name = Name::new("c-hostile");
    let seg = segment(&name);
    seg.claim_writer(Duration::ZERO).unwrap();
    let p = seg.publisher(|f| f.events()).unwrap();
    for i in 0..11 {
        p.publish(&event(i)).unwrap();
    }
    let q = seg.producer(|f| f.commands()).unwrap();
    q.try_send(&command(0)).unwrap();
    seg.release_writer().unwrap();
    let f = file(&name);
    let (ring, queue) = (region(&name, 0), region(&name, 1));
    // xorshift64*: a fixed sequence, so a failure can be replayed.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    // A word for the ring slot `slot` (its sequence word) or, for `None`,
    // a count.
    let mut pick = move |slot: Option<u64>| {
        let r = next();
        // Mostly plausible counts and sequence numbers (near the real
        // ones, in one of three laps: a slot's message numbers are its
        // index plus a multiple of KEPT), so that messages and losses come
        // out too.
        let m = match slot {
            Some(s) => s + KEPT * ((r >> 8) % 3),
            None => (r >> 8) % (3 * KEPT),
        };
        match r % 8 {
            0 => 0,
            1 => r % 8,
            2..=4 => 2 * m + 1 + (r >> 40) % 2,
            5 => u64::MAX - r % 16,
            6 => (u64::MAX / 2) - r % 16,
            _ => r,
        }
    };
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..64 {
        f.write_at(&(pick(None) / 2).to_ne_bytes(), ring).unwrap();
        for slot in 0..KEPT {
            f.write_at(&pick(Some(slot)).to_ne_bytes(), ring + 64 + slot * SLOT)
                .unwrap();
        }
        let head = pick(None) / 2;
        let tail = if round % 4 == 0 {
            pick(None)
        } else {
            head + pick(None) % 6
        };
        let claim = if round % 2 == 0 { 0 } else { pick(None) };
        for (at, v) in [(0, tail), (64, head), (72, claim)] {
            f.write_at(&v.to_ne_bytes(), queue + at).unwrap();
        }
        let (out, code) = run(&exe, &["scan", name.as_str(), "12"]);
        assert_eq!(code, Some(0), "round {round}: {out}");
        for line in out.lines() {
            let kind = line.split(' ').next().unwrap();
            match kind {
                "msg" | "empty" => {}
                "lost" => assert_ne!(line, "lost 0", "round {round}"),
                "error" => assert!(
                    ["error -6", "error -2"].contains(&line),
                    "round {round}: {line}"
                ),
                "claim" => assert_eq!(line, "claim -4", "round {round}"),
                _ => panic!("round {round}: {line}"),
            }
            *outcomes
                .entry(
                    line.split(' ')
                        .take(if kind == "error" { 2 } else { 1 })
                        .collect::<Vec<_>>()
                        .join(" "),
                )
                .or_default() += 1;
        }
    }
    eprintln!("outcomes: {outcomes:?}");
}

// ---------------------------------------------------------------------
// Queues.

#[test]
fn queues_are_lossless_and_in_order_between_rust_and_c() {
    for cpp in [false, true] {
        let Some(exe) = program(cpp) else { continue };
        let name = Name::new("c-queue");
        let seg = segment(&name);
        // Rust producer, C consumer: 500 through 64 slots (more with
        // SHM_C_STREAM_MESSAGES).
        let n = (stress_messages() / 200).max(500);
        let count = n.to_string();
        let mut c = Lines::spawn(&exe, &["consume", name.as_str(), &count]);
        assert_eq!(c.line(), "claimed took_over_from=0 position=0");
        seg.claim_writer(Duration::ZERO).unwrap();
        let q = seg.producer(|f| f.commands()).unwrap();
        for i in 0..n {
            q.send_timeout(&command(i), Duration::from_secs(60))
                .unwrap();
        }
        assert_eq!(c.done(), format!("consumed {n} bad 0\n"), "C++: {cpp}");
        seg.release_writer().unwrap();
        // C producer, Rust consumer: as many more (numbered from 0 by C,
        // at queue positions n..).
        let mut c = Lines::spawn(&exe, &["produce", name.as_str(), &count]);
        assert_eq!(c.line(), "claimed");
        let mut con = seg
            .consumer(|f| f.commands(), Duration::from_secs(60))
            .unwrap();
        assert_eq!(con.took_over_from(), None);
        for i in 0..n {
            let got = con.recv_timeout(Duration::from_secs(60)).unwrap();
            assert_eq!(got, Some(command(i)), "C++: {cpp}");
        }
        assert_eq!(c.done(), format!("sent {n}\n"));
        assert_eq!(con.try_recv().unwrap(), None);
        // The C consumer is refused while Rust consumes.
        let (out, code) = run(&exe, &["consume", name.as_str(), "1"]);
        assert_eq!(code, Some(1), "{out}");
        assert_eq!(
            out,
            format!(
                "error -4: another process (pid {}) consumes this queue; one consumer at a time\n",
                std::process::id()
            )
        );
    }
}

#[test]
fn a_killed_c_consumer_is_taken_over_and_its_peeked_message_delivered_again() {
    let Some(exe) = program(false) else { return };
    let name = Name::new("c-consumer-killed");
    let seg = segment(&name);
    seg.claim_writer(Duration::ZERO).unwrap();
    let q = seg.producer(|f| f.commands()).unwrap();
    for i in 0..4 {
        q.try_send(&command(i)).unwrap();
    }
    let mut c = Lines::spawn(&exe, &["consume", name.as_str(), "2", "hold"]);
    assert_eq!(c.line(), "claimed took_over_from=0 position=0");
    assert_eq!(c.line(), "consumed 2 bad 0");
    assert_eq!(c.line(), "peeked 2");
    // Alive: Rust is refused, naming it.
    let pid = c.child.id();
    match seg.consumer(|f| f.commands(), Duration::ZERO) {
        Err(Error::ConsumerBusy { pid: p, .. }) => assert_eq!(p, pid),
        other => panic!("expected ConsumerBusy, got {other:?}"),
    }
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    let mut con = seg.consumer(|f| f.commands(), Duration::ZERO).unwrap();
    assert_eq!(con.took_over_from(), Some(pid));
    // At least once: the peeked message again, then the rest.
    assert_eq!(con.try_recv().unwrap(), Some(command(2)));
    assert_eq!(con.try_recv().unwrap(), Some(command(3)));
    assert_eq!(con.try_recv().unwrap(), None);
    // And the reverse: a Rust consumer killed is taken over by C. (This
    // process is alive, so its claim word is made to name a dead one.)
    drop(con);
    q.try_send(&command(4)).unwrap();
    let claim = region(&name, 1) + 72;
    let dead = u64::from(i32::MAX as u32); // no process has this id
    file(&name).write_at(&dead.to_ne_bytes(), claim).unwrap();
    let (out, code) = run(&exe, &["consume", name.as_str(), "1"]);
    assert_eq!(
        (out.as_str(), code),
        (
            &*format!("claimed took_over_from={dead} position=4\nconsumed 1 bad 0\n"),
            Some(0)
        ),
        "{out}"
    );
}

#[test]
fn a_corrupt_queue_is_an_error_in_c() {
    let Some(exe) = program(false) else { return };
    let name = Name::new("c-queue-bad");
    let _seg = segment(&name);
    let q = region(&name, 1);
    // Sent COMMAND_SLOTS + 5 and none taken.
    let sent = COMMAND_SLOTS as u64 + 5;
    file(&name).write_at(&sent.to_ne_bytes(), q).unwrap();
    let (out, code) = run(&exe, &["consume", name.as_str(), "1"]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        out,
        format!(
            "claimed took_over_from=0 position=0\n\
             error -6: queue counts taken 0 and sent {sent} are not within its capacity \
             {COMMAND_SLOTS}\n"
        )
    );
}

/// Attack (red team): the claim word of a live C consumer overwritten with
/// another live process's word (as a process with write permission, or a
/// consumer that judged it dead, would): the C consumer stops at its next
/// call with `SHM_ERR_BUSY` naming that process, as the Rust runtime does,
/// instead of consuming beside it.
#[test]
fn a_c_consumer_whose_claim_word_was_overwritten_stops() {
    let Some(exe) = program(false) else { return };
    let name = Name::new("c-queue-steal");
    let seg = segment(&name);
    seg.claim_writer(Duration::ZERO).unwrap();
    let q = region(&name, 1);
    let p = seg.producer(|f| f.commands()).unwrap();
    p.try_send(&command(0)).unwrap();
    let mut c = Lines::spawn(&exe, &["consume", name.as_str(), "2"]);
    assert!(c.line().starts_with("claimed took_over_from=0"));
    // This live process's pid, start token 0 (alive while the pid is).
    let me = u64::from(std::process::id());
    file(&name).write_at(&me.to_ne_bytes(), q + 72).unwrap();
    p.try_send(&command(1)).unwrap();
    let st = support::finish_wait(&mut c.child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut c.out, &mut rest).unwrap();
    assert_eq!(st.code(), Some(1), "{rest}");
    assert!(
        rest.ends_with(&format!(
            "error -4: another process (pid {me}) consumes this queue; one consumer at a time\n"
        )),
        "{rest}"
    );
}
