//! The `stress` example in quick mode (a hundredth of the messages, a
//! tenth of the kills; `.ci/stress.sh` runs the full one in a release
//! build): rings and queues across processes at 64 B and 4 KiB, producers
//! and consumers SIGKILLed at random instants. It checks every message
//! itself and fails (exit 1) on any torn, duplicated, reordered or
//! uncounted one; this test checks that every run passed.

#![cfg(unix)]
#![allow(missing_docs)]

use std::process::Command;

use test_support::{Cleanup, unique};

#[test]
fn stress_quick_every_run_passes() {
    let prefix = unique("stress");
    // The segments the runs make (each removes its own, even on failure;
    // these guards also cover a crash of the whole binary).
    let _cleanup: Vec<Cleanup> = [
        "ring-64",
        "queue-64",
        "ring-4096",
        "queue-4096",
        "ring-kill-64",
        "queue-kill-64",
        "ring-kill-4096",
        "queue-kill-4096",
        "consumer-kill-ack-64",
        "consumer-kill-recv-64",
    ]
    .iter()
    .map(|s| Cleanup::posix(&format!("{prefix}-{s}")))
    .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_stress"))
        .args(["--prefix", &prefix, "all", "--quick"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok: ")).count(), 10);
    for needle in [
        "ring, 64 B: 100000 published",
        "queue, 64 B: 100000 published; received 100000 whole",
        "queue, 4096 B: 10000 published; received 10000 whole",
        "ring, 64 B, 20 producers SIGKILLed",
        "ring, 4096 B, 10 producers SIGKILLed",
        "queue, 64 B, 20 producers SIGKILLed",
        "queue, 4096 B, 10 producers SIGKILLed",
        "consumers SIGKILLed (peek, record, ack)",
        "consumers SIGKILLed (try_recv, record)",
        "stress: all passed",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?}");
    }
}
