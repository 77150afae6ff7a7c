//! Streams: our message ring (`Ring<M, N>`) side by side with iceoryx2's
//! publish-subscribe and a hand-written single-producer seqlock ring over a
//! raw mapping (the floor), at 64 B and 4 KiB messages. One producer
//! process (this one) and one consumer process (spawned, pinned to the
//! other CPU); every received message is checked word by word, and its
//! sequence number tells losses, duplicates and reordering apart.
//!
//! Four measurements per library and size (see `BENCHMARKS.md`,
//! "Streams"):
//! - `lossless`: the producer publishes as fast as it can but never more
//!   than [`window`] messages ahead of what the consumer has taken (the
//!   consumer publishes its progress in a bench-only shared word after each
//!   batch; the same mechanism for every library), so nothing is lost and
//!   messages/s received is what the transport carries end to end;
//! - `throughput`: the producer publishes flat out (it laps its consumer:
//!   a faster producer makes its consumer receive *less*); the consumer
//!   spins on its batch receive; messages/s received;
//! - `latency`: the producer publishes one message every [`PERIOD_NS`]
//!   with a `CLOCK_MONOTONIC` timestamp in it; the consumer spins and
//!   records now − timestamp (one-way), p50 / p99;
//! - `loss`: the producer publishes flat out; the consumer spends
//!   [`SLOW_NS`] on each message; messages lost per second, and whether
//!   the losses add up exactly (received + lost = published, and the
//!   losses a ring reports = the gaps in the sequence numbers).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Args;
use crate::stream_libs::{Got, Ice, IceBackpressure, Msg, Ours, RawRing, StreamLib};
use crate::stream_libs::{M4K, M64};
use crate::sys::{self, DEADLINE, RawMap, Res, relax};

/// The libraries, in table order.
pub const LIBS: [&str; 3] = ["raw ring", "ours", "iceoryx2"];
/// iceoryx2 with its own backpressure (safe overflow off, `send` waits):
/// measured in the `lossless` rows only, beside the others.
pub const ICE_BP: &str = "iceoryx2 backpressure";

/// The libraries measured in `mode`.
pub fn libs(mode: &str) -> &'static [&'static str] {
    const LOSSLESS: [&str; 4] = ["raw ring", "ours", "iceoryx2", ICE_BP];
    if mode == "lossless" { &LOSSLESS } else { &LIBS }
}
/// The measurements.
pub const MODES: [&str; 4] = ["lossless", "throughput", "latency", "loss"];
/// The message sizes.
pub const SIZES: [usize; 2] = [64, 4096];

/// The timestamp of the last message: the consumer stops when it gets it.
pub const STOP: u64 = u64::MAX;
/// The publishing period of the latency rows (100 000 messages/s: the ring
/// never fills).
pub const PERIOD_NS: u64 = 10_000;
/// What the slow consumer of the loss rows spends on each message.
pub const SLOW_NS: u64 = 2_000;

/// Runs `$body` with `L` the library called `$lib` and `M` the message of
/// `$size` bytes.
macro_rules! dispatch {
    ($lib:expr, $size:expr, |$L:ident, $M:ident| $body:expr) => {{
        macro_rules! sized {
            ($l:ty) => {{
                #[allow(dead_code)]
                type $L = $l;
                match $size {
                    64 => {
                        type $M = M64;
                        $body
                    }
                    4096 => {
                        type $M = M4K;
                        $body
                    }
                    s => Err(format!("no message of {s} bytes").into()),
                }
            }};
        }
        match $lib {
            "raw ring" => sized!(RawRing),
            "ours" => sized!(Ours),
            "iceoryx2" => sized!(Ice),
            ICE_BP => sized!(IceBackpressure),
            l => Err(format!("no stream library {l:?}").into()),
        }
    }};
}

/// `CLOCK_MONOTONIC` in nanoseconds (the same clock in both processes).
#[inline]
pub fn mono_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// A segment name unique to this process and call.
fn unique() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "peerbench-{}-stream-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn ctl_name(name: &str) -> String {
    format!("{name}-ctl")
}

/// The consumer's "subscribed" flag: word 0 of a small raw mapping.
fn ready(m: &RawMap) -> &AtomicU64 {
    // SAFETY: offset 0 of a page-aligned mapping of 4 KiB that lives as
    // long as `m`; only accessed atomically, by both processes.
    unsafe { AtomicU64::from_ptr(m.ptr().cast()) }
}

/// The consumer's progress (the next sequence number it expects: every
/// message before it taken), word 8 of the control mapping (its own cache
/// line): the feedback of the `lossless` rows, written by the consumer
/// after each batch, read by the producer.
fn progress(m: &RawMap) -> &AtomicU64 {
    // SAFETY: offset 64 of a page-aligned mapping of 4 KiB that lives as
    // long as `m`; only accessed atomically, by both processes.
    unsafe { AtomicU64::from_ptr(m.ptr().add(64).cast()) }
}

/// How far (messages) the producer of a `lossless` row may run ahead of
/// its consumer's published progress: half the ring, so the slot it writes
/// is never one the consumer may still be reading.
pub fn window(cap: usize) -> u64 {
    cap as u64 / 2
}

/// What the stream rows share.
struct Ctx {
    /// Seconds of publishing (lossless, throughput and loss rows).
    secs: f64,
    /// Messages of a latency row.
    samples: u64,
    repeats: usize,
    other: Option<usize>,
}

/// Every stream row; the results as JSON (the `streams` group).
pub fn all(args: &Args, other: Option<usize>) -> Res<Value> {
    let ctx = Ctx {
        secs: if args.quick { 0.1 } else { args.secs },
        samples: if args.quick { 2_000 } else { 100_000 },
        repeats: if args.quick { 1 } else { args.repeats.max(1) },
        other,
    };
    let mut runs: Vec<Value> = vec![];
    for rep in 0..ctx.repeats {
        for size in SIZES {
            for mode in MODES {
                // Throughput and latency rows repeated (they move most
                // with the load); the loss rows once.
                if rep > 0 && mode == "loss" {
                    continue;
                }
                for &lib in libs(mode) {
                    let r: Res<Value> =
                        dispatch!(lib, size, |L, M| produce::<L, M>(&ctx, mode, lib));
                    let mut r = r.map_err(|e| format!("streams {mode} {lib} {size} B: {e}"))?;
                    r["mode"] = mode.into();
                    r["size"] = size.into();
                    r["lib"] = lib.into();
                    r["cap"] = cap(size).into();
                    runs.push(r);
                }
            }
            eprintln!("streams {size} B (run {}): done", rep + 1);
        }
    }
    // The median run of each row, by throughput or by p50 latency (the
    // others' figures are kept in `runs`).
    let mut rows = vec![];
    for size in SIZES {
        for mode in MODES {
            for &lib in libs(mode) {
                let mut mine: Vec<&Value> = runs
                    .iter()
                    .filter(|r| r["lib"] == lib && r["size"] == size && r["mode"] == mode)
                    .collect();
                let key = if mode == "latency" { "p50" } else { "per_s" };
                mine.sort_by(|a, b| {
                    let k = |v: &Value| v[key].as_f64().unwrap_or(0.0);
                    k(a).total_cmp(&k(b))
                });
                let mut row = mine[mine.len() / 2].clone();
                row["runs"] = mine.iter().map(|r| r[key].clone()).collect();
                // The lowest p50 of the runs: what a loaded machine
                // disturbs least.
                row["p50_best"] = mine
                    .iter()
                    .filter_map(|r| r["p50"].as_f64())
                    .reduce(f64::min)
                    .into();
                // Every run's losses (the `lossless` rows must have none).
                row["lost_total"] = mine
                    .iter()
                    .filter_map(|r| r["gaps"].as_u64())
                    .sum::<u64>()
                    .into();
                for k in ["torn", "dup", "reorder"] {
                    row[k] = mine
                        .iter()
                        .filter_map(|r| r[k].as_u64())
                        .sum::<u64>()
                        .into();
                }
                row["exact"] = mine.iter().all(|r| r["exact"] != false).into();
                rows.push(row);
            }
        }
    }
    Ok(rows.into())
}

/// The ring capacity of a message size.
pub fn cap(size: usize) -> usize {
    if size == 64 { M64::N } else { M4K::N }
}

/// Spawns the consumer of `mode` for `lib` on `name`.
fn spawn(ctx: &Ctx, mode: &str, lib: &str, size: usize, name: &str) -> Res<std::process::Child> {
    let mut c = std::process::Command::new(std::env::current_exe()?);
    c.args([
        "--role",
        &format!("stream-{mode}"),
        "--lib",
        lib,
        "--name",
        name,
    ])
    .args(["--size", &size.to_string()])
    .stdout(std::process::Stdio::piped());
    if let Some(cpu) = ctx.other {
        c.args(["--cpu", &cpu.to_string()]);
    }
    Ok(c.spawn()?)
}

/// The producer side of one row (this process).
fn produce<L: StreamLib<M>, M: Msg>(ctx: &Ctx, mode: &str, lib: &str) -> Res<Value> {
    let name = unique();
    let ctl = RawMap::create(&ctl_name(&name), 4096)?;
    let res = (|| {
        let mut tx = L::create(&name)?;
        let mut child = spawn(ctx, mode, lib, M::SIZE, &name)?;
        let sent = publish::<L, M>(ctx, mode, &ctl, &mut tx, &mut child);
        let (seq, secs, cpu) = match sent {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let mut r = crate::measure::child_result(child)?;
        drop(tx);
        let published = seq + 1;
        r["published"] = published.into();
        r["published_per_s"] = (seq as f64 / secs).into();
        // The share of a CPU the producer got (far below 1: the machine's
        // other load took its CPU).
        r["producer_cpu"] = cpu.into();
        // Every message published was received or lost, once: the consumer
        // saw the last one, and the gaps in the sequence numbers before it
        // are the losses. A ring that reports its losses (ours, the raw
        // ring) must report exactly those.
        let received = r["received"].as_u64().unwrap_or(0);
        let gaps = r["gaps"].as_u64().unwrap_or(0);
        let adds_up = received + gaps == published;
        let reported_ok = r["reported"].as_u64().is_none_or(|rep| rep == gaps);
        let lossless_ok = mode != "lossless" || gaps == 0;
        r["exact"] = (adds_up && reported_ok && lossless_ok).into();
        Ok(r)
    })();
    L::remove(&name);
    drop(ctl);
    sys::unlink(&ctl_name(&name));
    res
}

/// Waits for the consumer to subscribe, then publishes the row's messages
/// and the last one (timestamp [`STOP`]); returns the number published
/// before the last one and the seconds they took.
fn publish<L: StreamLib<M>, M: Msg>(
    ctx: &Ctx,
    mode: &str,
    ctl: &RawMap,
    tx: &mut L::Tx,
    child: &mut std::process::Child,
) -> Res<(u64, f64, f64)> {
    let t = Instant::now();
    while ready(ctl).load(Ordering::Acquire) == 0 {
        if child.try_wait()?.is_some() || t.elapsed() > DEADLINE {
            return Err("the consumer did not subscribe".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    L::connect(tx)?;
    let mut scratch = M::zeroed();
    let t = Instant::now();
    let cpu = sys::thread_cpu();
    let mut seq = 0u64;
    if mode == "latency" {
        let mut at = mono_ns();
        for _ in 0..ctx.samples {
            // Paced, never catching up: a producer that was descheduled
            // publishes the next message at once, then paces again (a burst
            // of the missed ones would queue up behind a slower consumer
            // and measure the burst, not the ring).
            at = (at + PERIOD_NS).max(mono_ns());
            while mono_ns() < at {
                std::hint::spin_loop();
            }
            L::send(tx, &mut scratch, seq, mono_ns())?;
            seq += 1;
        }
    } else if mode == "lossless" {
        // Flat out, but never `window` or more messages ahead of what the
        // consumer has taken (its progress word is read only when the
        // last value read says the window is full).
        // (A library with its own backpressure: no window of the bench's.)
        let window = if L::OWN_BACKPRESSURE {
            u64::MAX
        } else {
            window(M::N)
        };
        let dur = Duration::from_secs_f64(ctx.secs);
        let (prog, one_cpu) = (progress(ctl), ctx.other.is_none());
        let (mut taken, mut spins) = (0u64, 0u32);
        while t.elapsed() < dur {
            for _ in 0..64 {
                while seq - taken >= window {
                    taken = prog.load(Ordering::Acquire);
                    if seq - taken < window {
                        break;
                    }
                    relax(one_cpu);
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(4096)
                        && (t.elapsed() > dur + DEADLINE || child.try_wait()?.is_some())
                    {
                        return Err("the consumer stopped taking messages".into());
                    }
                }
                L::send(tx, &mut scratch, seq, 0)?;
                seq += 1;
            }
        }
    } else {
        let dur = Duration::from_secs_f64(ctx.secs);
        while t.elapsed() < dur {
            for _ in 0..64 {
                L::send(tx, &mut scratch, seq, 0)?;
                seq += 1;
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu = (sys::thread_cpu() - cpu).as_secs_f64() / secs;
    L::send(tx, &mut scratch, seq, STOP)?;
    Ok((seq, secs, cpu))
}

/// What a consumer counted.
#[derive(Default)]
struct Seen {
    received: u64,
    /// The losses the library reported (`Recv::Lost`).
    reported: u64,
    /// The gaps in the sequence numbers.
    gaps: u64,
    torn: u64,
    dup: u64,
    reorder: u64,
    /// The next sequence number expected.
    expect: u64,
    first: Option<Instant>,
    done: bool,
    lat: Vec<f64>,
}

impl Seen {
    #[inline]
    fn got<M: Msg>(&mut self, m: &M, latency: bool, slow: bool) {
        // Checked first, then timed: the latency ends once the consumer
        // has read the whole message (iceoryx2's in place, from the
        // producer's cache; the others' copy, which the copy read so).
        let whole = m.check();
        if latency {
            let now = mono_ns();
            let ts = m.ts();
            if ts != STOP {
                self.lat.push(now.wrapping_sub(ts) as f64);
            }
        }
        if self.first.is_none() {
            self.first = Some(Instant::now());
        }
        self.received += 1;
        if !whole {
            self.torn += 1;
            return;
        }
        let seq = m.seq();
        if seq < self.expect {
            if seq + 1 == self.expect {
                self.dup += 1;
            } else {
                self.reorder += 1;
            }
        } else {
            self.gaps += seq - self.expect;
            self.expect = seq + 1;
        }
        if m.ts() == STOP {
            self.done = true;
        }
        if slow {
            let until = mono_ns() + SLOW_NS;
            while mono_ns() < until {
                std::hint::spin_loop();
            }
        }
    }
}

/// The consumer side of one row (a spawned process).
pub fn child(mode: &str, args: &Args) -> Res<Value> {
    dispatch!(args.lib.as_str(), args.size, |L, M| consume::<L, M>(
        mode, args
    ))
}

fn consume<L: StreamLib<M>, M: Msg>(mode: &str, args: &Args) -> Res<Value> {
    let ctl = sys::retry("open control", || {
        RawMap::open(&ctl_name(&args.name), 4096, true)
    })?;
    let mut rx = sys::retry("subscribe", || L::open(&args.name))?;
    let (latency, slow) = (mode == "latency", mode == "loss");
    let feedback = (mode == "lossless").then(|| progress(&ctl));
    let mut seen = Seen {
        lat: Vec::with_capacity(if latency { 1 << 20 } else { 0 }),
        ..Seen::default()
    };
    let one_cpu = args.cpu.is_none();
    ready(&ctl).store(1, Ordering::Release);
    let start = Instant::now();
    let cpu = sys::thread_cpu();
    let mut spins = 0u32;
    while !seen.done {
        let k = L::poll(&mut rx, &mut |g: Got<'_, M>| match g {
            Got::Lost(n) => seen.reported += n,
            Got::Msg(m) => seen.got(m, latency, slow),
        })?;
        if let (Some(p), true) = (feedback, k > 0) {
            p.store(seen.expect, Ordering::Release);
        }
        if k == 0 {
            relax(one_cpu);
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) && start.elapsed() > DEADLINE {
                return Err("the producer stopped publishing".into());
            }
        }
    }
    let secs = seen.first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let cpu_secs = (sys::thread_cpu() - cpu).as_secs_f64();
    let cpu = cpu_secs / start.elapsed().as_secs_f64();
    seen.lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        (!seen.lat.is_empty()).then(|| seen.lat[((seen.lat.len() - 1) as f64 * p).round() as usize])
    };
    Ok(json!({
        "received": seen.received,
        "reported": L::REPORTS_LOSSES.then_some(seen.reported),
        "gaps": seen.gaps, "torn": seen.torn, "dup": seen.dup, "reorder": seen.reorder,
        "secs": secs, "consumer_cpu": cpu,
        "per_s": seen.received as f64 / secs.max(1e-9),
        // Per second of the consumer's CPU time: what a descheduled
        // consumer (a loaded machine) changes least.
        "per_cpu_s": seen.received as f64 / cpu_secs.max(1e-9),
        "lost_per_s": seen.gaps as f64 / secs.max(1e-9),
        "p50": pct(0.5), "p99": pct(0.99), "samples": seen.lat.len(),
    }))
}
