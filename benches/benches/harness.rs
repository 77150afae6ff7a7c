//! The project's own cross-process harness (issue 7, pair 4, and the page
//! counts of pair 6). Run it with
//!
//! ```text
//! cargo bench -p benches --bench harness            # full run (~1 min)
//! cargo bench -p benches --bench harness -- --quick # a few hundred samples (CI)
//! ```
//!
//! **Latency.** Two processes, pinned to two different CPUs where the
//! machine allows (`sched_setaffinity`), play ping-pong: the parent writes
//! a number, the child sees it and writes it back, the parent sees that.
//! The parent times each round trip with `Instant`; one-way latency is half
//! of it. Variants, all in the same run:
//! - `raw_spin`: two `AtomicU64`s (on separate cache lines) in a raw
//!   `shm_open` + `mmap` mapping, both sides spinning on an acquire load:
//!   the hardware's floor.
//! - `ours_spin`: two typed segments of the 64-byte `Bytes64` schema (one
//!   per direction); each side writes with `Shared::write` and spins on
//!   `Shared::read` until the number appears.
//! - `ours_seq`: like `ours_spin`, but the reader spins on
//!   `Shared::version()` (the sequence counter alone) and reads only when it
//!   changes.
//! - `raw_futex`: like `raw_spin` with 32-bit words, but each side sleeps
//!   in `futex(FUTEX_WAIT)` and the other wakes it (Linux only).
//! - `ours_wait`: like `ours_spin`, but each side sleeps in
//!   `Shared::wait_for_change` instead of spinning.
//!
//! **Creating 1 GiB.** Creates a segment with a 4 KiB and one with a 1 GiB
//! payload and records the minor page faults (`getrusage`) and the memory
//! the object really holds (`st_blocks`): creating must not touch the
//! payload's pages.
//!
//! Results: a table on stdout and `target/shm-bench/harness.json` (quick
//! runs write `harness.quick.json`), which `bench-report` reads.

#[cfg(unix)]
mod unix {
    use std::process::{Child, Command};
    #[cfg(target_os = "linux")]
    use std::sync::atomic::AtomicU32;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use benches::{
        Bytes1G, Bytes4K, Bytes64, RawMap, allocated_bytes, allowed_cpus, minor_faults, pin_to_cpu,
        quick_mode, raw_unlink, results_dir, unique_name,
    };
    use serde_json::{Value, json};
    use shm_runtime::{Options, Shared, SharedLayout};

    type Res<T> = Result<T, Box<dyn std::error::Error>>;

    /// The environment variable that turns this executable into the child.
    const CHILD: &str = "SHM_BENCH_CHILD";
    /// The bound on any wait: a partner that died ends the run with an
    /// error, never a hang.
    const DEADLINE: Duration = Duration::from_secs(20);
    /// The number that tells the child to stop.
    const STOP: u64 = u64::MAX;

    /// Spins once; yields instead where both processes share one CPU.
    fn relax(one_cpu: bool) {
        if one_cpu {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }

    /// Spins until `done()`, for at most [`DEADLINE`].
    fn spin_until(one_cpu: bool, mut done: impl FnMut() -> Res<bool>) -> Res<()> {
        let mut spins = 0u32;
        let mut start = None;
        while !done()? {
            relax(one_cpu);
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) {
                let t = *start.get_or_insert_with(Instant::now);
                if t.elapsed() > DEADLINE {
                    return Err("the other process stopped answering".into());
                }
            }
        }
        Ok(())
    }

    fn msg(i: u64) -> Bytes64 {
        Bytes64 { words: [i; 8] }
    }

    /// Opens a segment the other process creates, waiting for it to exist.
    fn open_when_there<T: SharedLayout>(name: &str) -> Res<Shared<T>> {
        let start = Instant::now();
        loop {
            // Read-write (a read-only handle cannot sleep on the futex) but
            // without claiming write access: the other process writes it.
            match Options::posix(name).claim_writer(false).open::<T>() {
                Ok(s) => return Ok(s),
                Err(shm_runtime::Error::NotFound { .. }) if start.elapsed() < DEADLINE => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The words of the raw variants: `ping` at offset 0, `pong` at 128
    /// (separate cache lines, also for adjacent-line prefetch).
    fn raw_words(m: &RawMap) -> (&AtomicU64, &AtomicU64) {
        assert!(m.len() >= 256);
        // SAFETY: both offsets are 8-aligned and inside the page-aligned
        // mapping, which lives as long as `m`; the words are only ever
        // accessed atomically, by both processes.
        unsafe {
            (
                AtomicU64::from_ptr(m.ptr().cast()),
                AtomicU64::from_ptr(m.ptr().add(128).cast()),
            )
        }
    }

    #[cfg(target_os = "linux")]
    fn raw_words32(m: &RawMap) -> (&AtomicU32, &AtomicU32) {
        assert!(m.len() >= 256);
        // SAFETY: as in `raw_words`, 4-aligned.
        unsafe {
            (
                AtomicU32::from_ptr(m.ptr().cast()),
                AtomicU32::from_ptr(m.ptr().add(128).cast()),
            )
        }
    }

    #[cfg(target_os = "linux")]
    fn futex_wait(w: &AtomicU32, cur: u32) {
        use rustix::thread::futex;
        let ts = futex::Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        // EAGAIN (changed already), EINTR, ETIMEDOUT: the caller looks again.
        let _ = futex::wait(w, futex::Flags::empty(), cur, Some(&ts));
    }

    #[cfg(target_os = "linux")]
    fn futex_wake(w: &AtomicU32) {
        use rustix::thread::futex;
        let _ = futex::wake(w, futex::Flags::empty(), 1);
    }

    /// Sleeps on `w` (futex) until it is `want`, for at most [`DEADLINE`].
    #[cfg(target_os = "linux")]
    fn futex_until(w: &AtomicU32, want: u32) -> Res<()> {
        let start = Instant::now();
        loop {
            let cur = w.load(Ordering::Acquire);
            if cur == want {
                return Ok(());
            }
            if start.elapsed() > DEADLINE {
                return Err("the other process stopped answering".into());
            }
            futex_wait(w, cur);
        }
    }

    /// The child's side of one variant: answer every number until [`STOP`].
    fn child(variant: &str, a: &str, b: &str, cpu: Option<usize>, one_cpu: bool) -> Res<()> {
        if let Some(c) = cpu {
            pin_to_cpu(c);
        }
        match variant {
            "raw_spin" => {
                let m = RawMap::open(a)?;
                let (ping, pong) = raw_words(&m);
                let mut last = 0;
                loop {
                    let mut v = last;
                    spin_until(one_cpu, || {
                        v = ping.load(Ordering::Acquire);
                        Ok(v != last)
                    })?;
                    pong.store(v, Ordering::Release);
                    last = v;
                    if v == STOP {
                        return Ok(());
                    }
                }
            }
            #[cfg(target_os = "linux")]
            "raw_futex" => {
                let m = RawMap::open(a)?;
                let (ping, pong) = raw_words32(&m);
                let mut last = 0;
                loop {
                    let start = Instant::now();
                    let v = loop {
                        let v = ping.load(Ordering::Acquire);
                        if v != last {
                            break v;
                        }
                        if start.elapsed() > DEADLINE {
                            return Err("the parent stopped".into());
                        }
                        futex_wait(ping, v);
                    };
                    pong.store(v, Ordering::Release);
                    futex_wake(pong);
                    last = v;
                    if v == u32::MAX {
                        return Ok(());
                    }
                }
            }
            "ours_spin" | "ours_wait" | "ours_seq" => {
                let wait = Mode::of(variant);
                let ab = open_when_there::<Bytes64>(a)?;
                let ba = Options::posix(b).create_new().open::<Bytes64>()?;
                let mut last = 0;
                loop {
                    let mut v = last;
                    see(&ab, wait, one_cpu, |x| {
                        v = x;
                        x != last
                    })?;
                    ba.write(&msg(v))?;
                    last = v;
                    if v == STOP {
                        return Ok(());
                    }
                }
            }
            _ => Err(format!("unknown variant {variant}").into()),
        }
    }

    /// How a reader of ours waits for the next value.
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        /// Spin on `read()`.
        Read,
        /// Spin on `version()` (the counter only), then `read()`.
        Version,
        /// Sleep in `wait_for_change`, then `read()`.
        Wait,
    }

    impl Mode {
        fn of(variant: &str) -> Mode {
            match variant {
                "ours_wait" => Mode::Wait,
                "ours_seq" => Mode::Version,
                _ => Mode::Read,
            }
        }
    }

    /// Waits until `done(words[0])` of a consistent snapshot of `seg`.
    fn see(
        seg: &Shared<Bytes64>,
        mode: Mode,
        one_cpu: bool,
        mut done: impl FnMut(u64) -> bool,
    ) -> Res<()> {
        match mode {
            Mode::Wait => wait_see(seg, done),
            Mode::Read => spin_until(one_cpu, || Ok(done(seg.read()?.words[0]))),
            Mode::Version => {
                let mut seen = u64::MAX;
                spin_until(one_cpu, || {
                    let v = seg.version();
                    if v == seen {
                        return Ok(false);
                    }
                    seen = v;
                    Ok(done(seg.read()?.words[0]))
                })
            }
        }
    }

    /// The waiting reader: reads, and if the value is not there yet sleeps
    /// in `wait_for_change` (a futex wait on Linux) until the next write.
    fn wait_see(seg: &Shared<Bytes64>, mut done: impl FnMut(u64) -> bool) -> Res<()> {
        let start = Instant::now();
        loop {
            let (v, version) = seg.read_with_version()?;
            if done(v.words[0]) {
                return Ok(());
            }
            if start.elapsed() > DEADLINE {
                return Err("the other process stopped answering".into());
            }
            seg.wait_for_change(version, Duration::from_secs(1));
        }
    }

    /// Percentiles of round trips, halved (one way), in nanoseconds.
    fn summary(mut rtt: Vec<u64>, baseline: Option<&str>) -> Value {
        rtt.sort_unstable();
        let pct = |p: f64| {
            let i = ((rtt.len() as f64 * p).ceil() as usize).clamp(1, rtt.len()) - 1;
            rtt[i] as f64 / 2.0
        };
        json!({
            "samples": rtt.len(),
            "p50_ns": pct(0.50),
            "p99_ns": pct(0.99),
            "p999_ns": pct(0.999),
            "max_ns": *rtt.last().unwrap_or(&0) as f64 / 2.0,
            "baseline": baseline,
        })
    }

    /// Starts this executable again as the child of `variant`.
    fn spawn(variant: &str, a: &str, b: &str, cpu: Option<usize>, one_cpu: bool) -> Res<Child> {
        let exe = std::env::current_exe()?;
        let cpu = cpu.map_or("-".into(), |c| c.to_string());
        let spec = format!("{variant}:{a}:{b}:{cpu}:{}", one_cpu as u8);
        Ok(Command::new(exe).env(CHILD, spec).spawn()?)
    }

    /// Kills and reaps the child when dropped (if it is still running).
    struct Reap(Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            if self.0.try_wait().ok().flatten().is_none() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }

    /// One latency variant: returns the round-trip times in nanoseconds.
    fn latency(variant: &str, samples: usize, warmup: usize, cpus: &[usize]) -> Res<Vec<u64>> {
        let one_cpu = cpus.len() < 2;
        let (pcpu, ccpu) = if one_cpu {
            (None, None)
        } else {
            (Some(cpus[0]), Some(cpus[1]))
        };
        if let Some(c) = pcpu {
            pin_to_cpu(c);
        }
        let a = unique_name("ab");
        let b = unique_name("ba");
        let cleanup = |a: &str, b: &str| {
            raw_unlink(a);
            raw_unlink(b);
        };
        let mut rtt = Vec::with_capacity(samples);
        let total = (warmup + samples) as u64;
        let result = (|| -> Res<()> {
            match variant {
                "raw_spin" => {
                    let m = RawMap::create(&a, 4096)?;
                    let (ping, pong) = raw_words(&m);
                    let mut kid = Reap(spawn(variant, &a, &b, ccpu, one_cpu)?);
                    for i in 1..=total {
                        let t = Instant::now();
                        ping.store(i, Ordering::Release);
                        spin_until(one_cpu, || Ok(pong.load(Ordering::Acquire) == i))?;
                        let d = t.elapsed().as_nanos() as u64;
                        if i > warmup as u64 {
                            rtt.push(d);
                        }
                    }
                    ping.store(STOP, Ordering::Release);
                    kid.0.wait()?;
                }
                #[cfg(target_os = "linux")]
                "raw_futex" => {
                    let m = RawMap::create(&a, 4096)?;
                    let (ping, pong) = raw_words32(&m);
                    let mut kid = Reap(spawn(variant, &a, &b, ccpu, one_cpu)?);
                    for i in 1..=total as u32 {
                        let t = Instant::now();
                        ping.store(i, Ordering::Release);
                        futex_wake(ping);
                        futex_until(pong, i)?;
                        let d = t.elapsed().as_nanos() as u64;
                        if i > warmup as u32 {
                            rtt.push(d);
                        }
                    }
                    ping.store(u32::MAX, Ordering::Release);
                    futex_wake(ping);
                    kid.0.wait()?;
                }
                "ours_spin" | "ours_wait" | "ours_seq" => {
                    let wait = Mode::of(variant);
                    let ab = Options::posix(&a).create_new().open::<Bytes64>()?;
                    let mut kid = Reap(spawn(variant, &a, &b, ccpu, one_cpu)?);
                    let ba = open_when_there::<Bytes64>(&b)?;
                    for i in 1..=total {
                        let t = Instant::now();
                        ab.write(&msg(i))?;
                        see(&ba, wait, one_cpu, |x| x == i)?;
                        let d = t.elapsed().as_nanos() as u64;
                        if i > warmup as u64 {
                            rtt.push(d);
                        }
                    }
                    ab.write(&msg(STOP))?;
                    kid.0.wait()?;
                }
                _ => return Err(format!("unknown variant {variant}").into()),
            }
            Ok(())
        })();
        cleanup(&a, &b);
        result.map(|()| rtt)
    }

    /// Minor faults and allocated bytes of creating a `T` segment.
    fn create_facts<T: SharedLayout>(tag: &str) -> Res<Value> {
        let name = unique_name(tag);
        let f0 = minor_faults();
        let t = Instant::now();
        let seg = Options::posix(&name).create_new().open::<T>()?;
        let ns = t.elapsed().as_nanos() as u64;
        let faults = minor_faults() - f0;
        let allocated = allocated_bytes(&name).unwrap_or(0);
        let size = seg.status()?.size;
        drop(seg);
        Options::posix(&name).remove()?;
        Ok(json!({
            "payload_bytes": std::mem::size_of::<T>(),
            "segment_bytes": size,
            "allocated_bytes": allocated,
            "minor_faults": faults,
            "create_ns": ns,
        }))
    }

    pub fn main() -> Res<()> {
        if let Ok(spec) = std::env::var(CHILD) {
            let parts: Vec<&str> = spec.split(':').collect();
            let [variant, a, b, cpu, one] = parts[..] else {
                return Err(format!("bad {CHILD}={spec}").into());
            };
            return child(variant, a, b, cpu.parse().ok(), one == "1");
        }
        let quick = quick_mode();
        let (samples, warmup, futex_samples) = if quick {
            (300, 50, 100)
        } else {
            (200_000, 20_000, 50_000)
        };
        #[cfg(not(target_os = "linux"))]
        let _ = futex_samples; // the futex variants are Linux-only
        let cpus = allowed_cpus();
        let (ncpu, model) = benches::machine();
        println!(
            "harness: {} mode, {ncpu} CPUs ({model}), pinned to {:?}",
            if quick { "quick" } else { "full" },
            &cpus[..cpus.len().min(2)]
        );

        let mut lat = serde_json::Map::new();
        let variants: &[(&str, Option<&str>, usize)] = &[
            ("raw_spin", None, samples),
            ("ours_spin", Some("raw_spin"), samples),
            ("ours_seq", Some("raw_spin"), samples),
            #[cfg(target_os = "linux")]
            ("raw_futex", None, futex_samples),
            #[cfg(target_os = "linux")]
            ("ours_wait", Some("raw_futex"), futex_samples),
        ];
        println!(
            "{:<10} {:>8} {:>10} {:>10} {:>10}  one-way latency (round trip / 2)",
            "variant", "samples", "p50", "p99", "p99.9"
        );
        for &(variant, base, n) in variants {
            match latency(variant, n, warmup.min(n / 4), &cpus) {
                Ok(rtt) => {
                    let s = summary(rtt, base);
                    let ratio = base
                        .and_then(|b| lat.get(b))
                        .and_then(|b| Some(s["p50_ns"].as_f64()? / b["p50_ns"].as_f64()?))
                        .map_or(String::new(), |r| {
                            format!("  {r:.2}× {} (p50)", base.unwrap_or_default())
                        });
                    let f = |k: &str| s[k].as_f64().unwrap_or(0.0);
                    println!(
                        "{variant:<10} {:>8} {:>8.0}ns {:>8.0}ns {:>8.0}ns{ratio}",
                        s["samples"],
                        f("p50_ns"),
                        f("p99_ns"),
                        f("p999_ns")
                    );
                    lat.insert(variant.into(), s);
                }
                Err(e) => println!("{variant:<10} skipped: {e}"),
            }
        }

        let small = create_facts::<Bytes4K>("create4k")?;
        let big = create_facts::<Bytes1G>("create1g")?;
        for (what, v) in [("4 KiB", &small), ("1 GiB", &big)] {
            println!(
                "create {what} payload: {} minor faults, {} bytes allocated of {}, {} ns",
                v["minor_faults"], v["allocated_bytes"], v["segment_bytes"], v["create_ns"]
            );
        }

        let out = json!({
            "quick": quick,
            "unix_time": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            "cpus": ncpu,
            "cpu_model": model,
            "latency": lat,
            "create_4kib": small,
            "create_1gib": big,
        });
        let dir = results_dir();
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(if quick {
            "harness.quick.json"
        } else {
            "harness.json"
        });
        std::fs::write(&file, serde_json::to_string_pretty(&out)?)?;
        println!("wrote {}", file.display());
        Ok(())
    }
}

#[cfg(unix)]
fn main() {
    if let Err(e) = unix::main() {
        eprintln!("harness: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the harness needs POSIX shared memory");
}
