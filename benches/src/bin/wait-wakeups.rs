//! `cargo run --release -p benches --bin wait-wakeups [N [GAP_MS]]`: what
//! a process sleeping in `wait_for_change` costs while idle, and how soon
//! it wakes, for a read-write handle (registered in the segment's
//! `waiters`), a read-only one (registered in the doorbell), and a
//! read-only one after the doorbell was removed (polling, as on systems
//! without doorbells).
//!
//! For each kind of handle a child process (this binary again) opens the
//! segment, then:
//!
//! - idle: waits 2 s for a change nobody makes, and reports how many times
//!   its thread was switched out (voluntary and involuntary context
//!   switches of the thread, `/proc/thread-self/status`), per second;
//! - latency: the parent writes the wall-clock time (`CLOCK_REALTIME`, in
//!   ns) N times (default 500), GAP_MS apart (default 2); the child, woken,
//!   subtracts it from the time it woke, and reports the median, p90 and
//!   p99 (writes that come before the child sleeps again are counted
//!   once).
//!
//! It prints numbers and asserts nothing. Linux only (the context-switch
//! counters); elsewhere it says so.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shm_runtime::{Access, Options, Shared, SharedLayout};

/// What the parent writes: the wall-clock time of the write.
#[derive(SharedLayout)]
#[repr(C)]
struct Stamp {
    nanos: u64,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// This thread's voluntary plus involuntary context switches.
fn switches() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Removes the segment's doorbell (`IPC_RMID`; the writer keeps its
/// attachment), so that a read-only handle opened later finds none and
/// polls, as it does on other systems: the figures before doorbells.
fn remove_doorbell(name: &str) {
    #[cfg(target_os = "linux")]
    {
        let key = shm_runtime::tools::doorbell_key(&shm_runtime::SegmentId::Posix(name.into()));
        // SAFETY: shmget and shmctl(IPC_RMID) take no pointers to our memory.
        unsafe {
            let id = libc::shmget(key.unwrap_or(0), 0, 0);
            if id >= 0 {
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = name;
}

fn child(mode: &str, name: &str, n: usize) {
    let opts = Options::posix(name);
    if mode == "rw" {
        measure(&opts.claim_writer(false).open::<Stamp>().unwrap(), n);
    } else {
        measure(&opts.open_read_only::<Stamp>().unwrap(), n);
    }
}

fn measure<A: Access>(seg: &Shared<Stamp, A>, n: usize) {
    let version = || seg.version();
    let wait = |v, t| seg.wait_for_change(v, t);
    let read = || seg.read().unwrap().nanos;
    let mut v = version();
    // The first wait attaches the doorbell (one-time system calls): not
    // part of the idle figure.
    let _ = wait(v, Duration::from_millis(1));
    let idle = Duration::from_secs(2);
    let before = switches();
    let _ = wait(v, idle);
    let after = switches();
    println!("idle {:.1}", (after - before) as f64 / idle.as_secs_f64());
    println!("go");
    let mut lat = Vec::with_capacity(n);
    while lat.len() < n {
        match wait(v, Duration::from_secs(5)) {
            Some(nv) => {
                let woke = now_nanos();
                v = nv;
                lat.push(woke.saturating_sub(read()));
            }
            None => break,
        }
    }
    lat.sort_unstable();
    let q = |p: f64| lat.get(((lat.len() as f64 - 1.0) * p) as usize).copied();
    let us = |x: Option<u64>| x.map_or(f64::NAN, |x| x as f64 / 1000.0);
    println!(
        "latency n={} p50={:.1} p90={:.1} p99={:.1}",
        lat.len(),
        us(q(0.5)),
        us(q(0.9)),
        us(q(0.99))
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !cfg!(target_os = "linux") {
        println!("wait-wakeups: Linux only (context-switch counters from /proc)");
        return;
    }
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2], &args[3], args[4].parse().unwrap());
        return;
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let gap = Duration::from_millis(args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2));
    let name = format!("wait-wakeups-{}", std::process::id());
    let seg = Options::posix(&name)
        .create_new()
        .mode(0o600)
        .open::<Stamp>()
        .unwrap();
    for mode in ["rw", "ro", "ro-poll"] {
        if mode == "ro-poll" {
            remove_doorbell(&name);
        }
        let mut c = Command::new(std::env::current_exe().unwrap())
            .args(["child", mode, &name, &n.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(c.stdout.take().unwrap());
        let mut line = String::new();
        let mut next = |line: &mut String| {
            line.clear();
            out.read_line(line).unwrap();
            line.trim_end().to_owned()
        };
        let idle = next(&mut line);
        assert_eq!(next(&mut line), "go");
        for _ in 0..n {
            std::thread::sleep(gap);
            seg.write(&Stamp { nanos: now_nanos() }).unwrap();
        }
        let latency = next(&mut line);
        c.wait().unwrap();
        let who = match mode {
            "rw" => "read-write",
            "ro" => "read-only",
            _ => "read-only, no doorbell",
        };
        println!("{who}: {idle} wake-ups/s; {latency} (µs)");
    }
    let _ = seg.remove();
}
