//! The measurements. Every library runs the same generic code
//! ([`crate::libs::Lib`]); each row is a real named segment, created,
//! measured and removed.

use std::hint::black_box;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use shm_runtime::{ReadOnly, Shared};

use crate::Args;
use crate::libs::{Ice, Lib, MmapSync, Ours, Raw, RawAtomic, SeqLock};
use crate::payload::{P1M, P4K, P208, Payload};
use crate::sys::{self, DEADLINE, RawMap, Res, relax};

/// The libraries, in table order, with the names used in results.
pub const LIBS: [&str; 5] = ["raw", "ours", "iceoryx2", "seqlock", "mmap-sync"];

/// The counter that tells an echoing child to stop.
const STOP: u64 = u64::MAX;

/// A segment name unique to this process and call.
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "peerbench-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `$body` with `L` the library called `$lib` and `P` the payload of
/// `$size` bytes.
macro_rules! dispatch {
    ($lib:expr, $size:expr, |$L:ident, $P:ident| $body:expr) => {{
        macro_rules! sized {
            ($l:ty) => {{
                #[allow(dead_code)]
                type $L = $l;
                match $size {
                    208 => {
                        type $P = P208;
                        $body
                    }
                    4096 => {
                        type $P = P4K;
                        $body
                    }
                    1048576 => {
                        type $P = P1M;
                        $body
                    }
                    s => Err(format!("no payload of {s} bytes").into()),
                }
            }};
        }
        match $lib {
            "raw" => sized!(Raw),
            "raw atomic" => sized!(RawAtomic),
            "ours" => sized!(Ours),
            "iceoryx2" => sized!(Ice),
            "seqlock" => sized!(SeqLock),
            "mmap-sync" => sized!(MmapSync),
            l => Err(format!("no library {l:?}").into()),
        }
    }};
}

/// Median nanoseconds per call of `f`: calibrated batches of about 10 ms
/// (1 ms in quick mode), 21 of them (3).
fn ns_per_op(quick: bool, mut f: impl FnMut() -> Res<()>) -> Res<f64> {
    f()?;
    let (warm, batch_ns, reps) = if quick {
        (Duration::from_millis(2), 1e6, 3)
    } else {
        (Duration::from_millis(30), 1e7, 21)
    };
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < warm {
        f()?;
        n += 1;
    }
    let per = t.elapsed().as_nanos() as f64 / n as f64;
    let batch = ((batch_ns / per) as u64).max(1);
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        for _ in 0..batch {
            f()?;
        }
        v.push(t.elapsed().as_nanos() as f64 / batch as f64);
    }
    Ok(median(&mut v))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Every measurement; the results as JSON.
pub fn all(args: &Args) -> Res<Value> {
    let _ = std::fs::create_dir_all("/tmp/iceoryx2");
    let cpus = sys::allowed_cpus();
    let (mine, other) = match cpus.as_slice() {
        [a, b, ..] => (Some(*a), Some(*b)),
        _ => (None, None),
    };
    sys::pin(mine);
    let ctx = Ctx {
        quick: args.quick,
        secs: if args.quick { 0.1 } else { args.secs },
        samples: if args.quick { 300 } else { args.samples },
        repeats: if args.quick { 1 } else { args.repeats.max(1) },
        other,
        one_cpu: other.is_none(),
    };
    let want = |g: &str| args.only.is_empty() || args.only.iter().any(|o| o == g);
    let load_start = sys::loadavg();
    let started = Instant::now();
    let mut out = json!({
        "meta": {
            "quick": args.quick,
            // What `nproc` prints (the CPUs this process may run on), and
            // what the standard library thinks it may use (also counting a
            // cgroup CPU quota).
            "nproc": cpus.len(),
            "available_parallelism": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "allowed_cpus": cpus,
            "pinned": other.is_some(),
            "cpu_model": sys::cpu_model(),
            "load_start": load_start,
            "unix_time": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            "versions": {"mmap-sync": "2.0.4", "iceoryx2": "0.10.0"},
            "commit": git_commit(),
            "updates_runs": ctx.repeats,
            "samples": ctx.samples,
            "reader_secs": ctx.secs,
        }
    });
    let sizes = [208usize, 4096, 1048576];
    if want("read") {
        let mut rows = vec![];
        for size in sizes {
            for lib in LIBS {
                let ns: Res<f64> = dispatch!(lib, size, |L, P| read_ns::<L, P>(&ctx));
                rows.push(json!({"size": size, "lib": lib, "ns": ns?}));
            }
            let ns: Res<f64> = dispatch!("ours", size, |L, P| ours_read_value_ns::<P>(&ctx));
            rows.push(json!({"size": size, "lib": "ours read()", "ns": ns?}));
            let ns: Res<f64> = dispatch!("raw atomic", size, |L, P| read_ns::<L, P>(&ctx));
            rows.push(json!({"size": size, "lib": "raw atomic", "ns": ns?}));
            eprintln!("read {size}: done");
        }
        out["read"] = rows.into();
    }
    if want("write") {
        let mut rows = vec![];
        for size in sizes {
            for lib in LIBS {
                let ns: Res<f64> = dispatch!(lib, size, |L, P| write_ns::<L, P>(&ctx));
                rows.push(json!({"size": size, "lib": lib, "ns": ns?}));
            }
            let ns: Res<f64> = dispatch!("raw atomic", size, |L, P| write_ns::<L, P>(&ctx));
            rows.push(json!({"size": size, "lib": "raw atomic", "ns": ns?}));
            eprintln!("write {size}: done");
        }
        out["write"] = rows.into();
    }
    if want("project") {
        let mut rows = vec![];
        for lib in LIBS {
            let ns: Res<Option<f64>> = dispatch!(lib, 1048576, |L, P| project_ns::<L, P>(&ctx));
            rows.push(json!({"size": 1048576, "lib": lib, "ns": ns?}));
        }
        eprintln!("project: done");
        out["project"] = rows.into();
    }
    if want("open") {
        let mut rows = vec![];
        for lib in LIBS {
            let ns: Res<f64> = dispatch!(lib, 208, |L, P| open_ns::<L, P>(&ctx));
            rows.push(json!({"size": 208, "lib": lib, "ns": ns?}));
        }
        rows.push(json!({"size": 208, "lib": "iceoryx2 node", "ns": ice_node_ns(&ctx)?}));
        eprintln!("open: done");
        out["open"] = rows.into();
    }
    if want("updates") {
        // Repeated, libraries interleaved, the median kept: the machine's
        // load drifts, and this row moves with it most.
        let mut runs: Vec<Value> = vec![];
        for rep in 0..ctx.repeats {
            for size in sizes {
                for lib in LIBS {
                    let r: Res<Value> = dispatch!(lib, size, |L, P| updates::<L, P>(&ctx, lib));
                    let mut r = r?;
                    r["size"] = size.into();
                    r["lib"] = lib.into();
                    r["rep"] = rep.into();
                    runs.push(r);
                }
                eprintln!("updates {size} (run {}): done", rep + 1);
            }
        }
        let mut rows = vec![];
        for size in sizes {
            for lib in LIBS {
                let mine: Vec<&Value> = runs
                    .iter()
                    .filter(|r| r["lib"] == lib && r["size"] == size)
                    .collect();
                let med = |k: &str| {
                    let mut v: Vec<f64> = mine.iter().filter_map(|r| r[k].as_f64()).collect();
                    median(&mut v)
                };
                let sum = |k: &str| mine.iter().filter_map(|r| r[k].as_f64()).sum::<f64>();
                rows.push(json!({
                    "size": size, "lib": lib,
                    "seen_per_s": med("seen_per_s"), "reads_per_s": med("reads_per_s"),
                    "writes_per_s": med("writes_per_s"),
                    "writer_cpu": med("writer_cpu"), "reader_cpu": med("reader_cpu"),
                    "torn": sum("torn"), "errors": sum("errors"), "reads": sum("reads"),
                    "runs": mine.iter().map(|r| r["seen_per_s"].clone()).collect::<Vec<_>>(),
                }));
            }
        }
        out["updates"] = rows.into();
    }
    if want("latency") {
        let mut rows = vec![];
        for size in [208usize, 4096] {
            let mut r = atomic_ping_pong(&ctx)?;
            r["size"] = size.into();
            r["lib"] = "raw".into();
            rows.push(r);
            for lib in &LIBS[1..] {
                let r: Res<Value> = dispatch!(*lib, size, |L, P| ping_pong::<L, P>(&ctx, lib));
                let mut r = r?;
                r["size"] = size.into();
                r["lib"] = (*lib).into();
                rows.push(r);
            }
            eprintln!("latency {size}: done");
        }
        out["latency"] = rows.into();
    }
    if want("streams") {
        out["streams"] = crate::streams::all(args, other)?;
    }
    out["meta"]["load_end"] = sys::loadavg().into();
    out["meta"]["seconds"] = started.elapsed().as_secs_f64().into();
    Ok(out)
}

/// The commit of the checkout this runs in (`git describe --always
/// --dirty`), or `?`.
fn git_commit() -> String {
    Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=10"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".into())
}

/// What the measurements share.
struct Ctx {
    quick: bool,
    secs: f64,
    samples: u64,
    /// Runs of the updates-seen rows.
    repeats: usize,
    /// The CPU of the other process (None: one CPU, no pinning).
    other: Option<usize>,
    one_cpu: bool,
}

/// A created segment, removed when dropped.
struct Named<L: Lib<P>, P: Payload> {
    name: String,
    w: Option<L::W>,
}

impl<L: Lib<P>, P: Payload> Named<L, P> {
    fn create(tag: &str, init: &P) -> Res<Self> {
        let name = unique(tag);
        let w = L::create(&name, init)?;
        Ok(Named { name, w: Some(w) })
    }
    fn w(&mut self) -> &mut L::W {
        self.w.as_mut().expect("present until dropped")
    }
}

impl<L: Lib<P>, P: Payload> Drop for Named<L, P> {
    fn drop(&mut self) {
        drop(self.w.take());
        L::remove(&self.name);
    }
}

/// Read: one process, no writer; `read_into` a buffer (ours:
/// `Shared::read_into`; iceoryx2: `get()`; mmap-sync: `read()` and a copy
/// out of the archived value; seqlock and raw: a copy out).
fn read_ns<L: Lib<P>, P: Payload>(ctx: &Ctx) -> Res<f64> {
    let seg = Named::<L, P>::create("read", &P::boxed_with(1))?;
    let mut r = L::open(&seg.name)?;
    let mut out = P::boxed();
    L::read_into(&mut r, &mut out)?;
    if out.counter() != 1 || !out.check() {
        return Err(format!("read {}: wrong value", P::LABEL).into());
    }
    ns_per_op(ctx.quick, || {
        L::read_into(black_box(&mut r), black_box(&mut *out))?;
        black_box(&out);
        Ok(())
    })
}

/// Ours, `Shared::read()` (the value returned by value).
fn ours_read_value_ns<P: Payload>(ctx: &Ctx) -> Res<f64>
where
    Ours: Lib<P, R = Shared<P, ReadOnly>>,
{
    let seg = Named::<Ours, P>::create("readv", &P::boxed_with(1))?;
    let r = <Ours as Lib<P>>::open(&seg.name)?;
    ns_per_op(ctx.quick, || {
        black_box(black_box(&r).read()?);
        Ok(())
    })
}

/// Write: one process, no reader, the same value each time.
fn write_ns<L: Lib<P>, P: Payload>(ctx: &Ctx) -> Res<f64> {
    let mut seg = Named::<L, P>::create("write", &P::boxed_with(1))?;
    let v = P::boxed_with(2);
    ns_per_op(ctx.quick, || L::write(black_box(seg.w()), black_box(&v)))
}

/// Projection: the `counter` field alone of the 1 MiB value.
fn project_ns<L: Lib<P>, P: Payload>(ctx: &Ctx) -> Res<Option<f64>> {
    let seg = Named::<L, P>::create("project", &P::boxed_with(7))?;
    let mut r = L::open(&seg.name)?;
    match L::project(&mut r) {
        None => Ok(None),
        Some(v) => {
            if v? != 7 {
                return Err("projection: wrong value".into());
            }
            let ns = ns_per_op(ctx.quick, || {
                black_box(L::project(black_box(&mut r)).transpose()?);
                Ok(())
            })?;
            Ok(Some(ns))
        }
    }
}

/// Open: open an existing segment (a new handle, as a second process
/// would) and read it once (mmap-sync maps its files at the first read);
/// closing is not timed.
fn open_ns<L: Lib<P>, P: Payload>(ctx: &Ctx) -> Res<f64> {
    let seg = Named::<L, P>::create("open", &P::boxed_with(1))?;
    let mut out = P::boxed();
    let reps = if ctx.quick { 5 } else { 201 };
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let mut r = L::open(&seg.name)?;
        L::read_into(&mut r, &mut out)?;
        v.push(t.elapsed().as_nanos() as f64);
        drop(r);
    }
    Ok(median(&mut v))
}

/// Creating an iceoryx2 node alone (part of iceoryx2's open row: every
/// opening process needs one).
fn ice_node_ns(ctx: &Ctx) -> Res<f64> {
    use iceoryx2::prelude::{NodeBuilder, ipc};
    let reps = if ctx.quick { 5 } else { 201 };
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let node = NodeBuilder::new().create::<ipc::Service>()?;
        v.push(t.elapsed().as_nanos() as f64);
        drop(node);
    }
    Ok(median(&mut v))
}

/// Spawns this executable in `role` for `lib` on segment `name`.
fn spawn(ctx: &Ctx, role: &str, lib: &str, size: usize, name: &str) -> Res<Child> {
    let mut c = Command::new(std::env::current_exe()?);
    c.args(["--role", role, "--lib", lib, "--name", name])
        .args(["--size", &size.to_string()])
        .args(["--secs", &ctx.secs.to_string()])
        .stdout(Stdio::piped());
    if let Some(cpu) = ctx.other {
        c.args(["--cpu", &cpu.to_string()]);
    }
    Ok(c.spawn()?)
}

/// The JSON line a child printed, once it has exited.
pub(crate) fn child_result(mut child: Child) -> Res<Value> {
    let status = child.wait()?;
    let mut s = String::new();
    if let Some(mut o) = child.stdout.take() {
        o.read_to_string(&mut s)?;
    }
    if !status.success() {
        return Err(format!("child failed ({status}): {s}").into());
    }
    Ok(serde_json::from_str(s.trim())?)
}

/// Updates seen: this process writes flat out (a new counter each write,
/// every word refilled); a checking reader in another process reads for
/// `secs` seconds, checks every word of every read and counts the distinct
/// values it saw and the torn reads.
fn updates<L: Lib<P>, P: Payload>(ctx: &Ctx, lib: &str) -> Res<Value> {
    let mut seg = Named::<L, P>::create("updates", &P::boxed_with(1))?;
    let mut v = P::boxed_with(1);
    let mut child = spawn(ctx, "reader", lib, P::SIZE, &seg.name)?;
    let t = Instant::now();
    let cpu = sys::thread_cpu();
    let mut writes = 0u64;
    let mut c = 1u64;
    loop {
        c += 1;
        v.fill(c);
        L::write(seg.w(), &v)?;
        writes += 1;
        if writes.is_multiple_of(if P::SIZE > 65536 { 1 } else { 64 }) {
            if child.try_wait()?.is_some() {
                break;
            }
            if t.elapsed() > DEADLINE {
                let _ = child.kill();
                return Err(format!("{lib}: the reader did not finish").into());
            }
            if ctx.one_cpu {
                std::thread::yield_now();
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu = (sys::thread_cpu() - cpu).as_secs_f64();
    let mut r = child_result(child)?;
    r["writes_per_s"] = (writes as f64 / secs).into();
    // The share of a CPU the writer got: far below 1, the machine's other
    // load took its CPU, and the row says little.
    r["writer_cpu"] = (cpu / secs).into();
    Ok(r)
}

/// The checking reader (child side of [`updates`]).
fn reader<L: Lib<P>, P: Payload>(args: &Args) -> Res<Value> {
    let mut r = sys::retry("open", || L::open(&args.name))?;
    let mut out = P::boxed();
    let (mut reads, mut seen, mut torn, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut last = u64::MAX;
    let t = Instant::now();
    let cpu = sys::thread_cpu();
    let dur = Duration::from_secs_f64(args.secs);
    while t.elapsed() < dur {
        for _ in 0..16 {
            match L::read_into(&mut r, &mut out) {
                Ok(()) => {
                    reads += 1;
                    if !out.check() {
                        torn += 1;
                    } else if out.counter() != last {
                        last = out.counter();
                        seen += 1;
                    }
                }
                Err(_) => errors += 1,
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu = (sys::thread_cpu() - cpu).as_secs_f64();
    Ok(json!({
        "reader_cpu": cpu / secs,
        "reads_per_s": reads as f64 / secs,
        "seen_per_s": seen as f64 / secs,
        "reads": reads, "seen": seen, "torn": torn, "errors": errors, "secs": secs,
    }))
}

/// Spins on `poll` until the value with counter `want` arrives (for at
/// most [`DEADLINE`]).
fn wait_for<L: Lib<P>, P: Payload>(
    ctx: &Ctx,
    r: &mut L::R,
    last: &mut u64,
    out: &mut P,
    want: impl Fn(u64) -> bool,
) -> Res<()> {
    let mut spins = 0u32;
    let mut start = None;
    loop {
        if L::poll(r, last, out)? && want(out.counter()) {
            return Ok(());
        }
        relax(ctx.one_cpu);
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(4096) {
            let t = *start.get_or_insert_with(Instant::now);
            if t.elapsed() > DEADLINE {
                return Err("the other process stopped answering".into());
            }
        }
    }
}

fn ping_name(base: &str) -> String {
    format!("{base}-ping")
}

fn pong_name(base: &str) -> String {
    format!("{base}-pong")
}

/// One-way latency: ping-pong between two processes, each spinning on the
/// other's segment (on its version where the library has one) and reading
/// the whole value; one-way = round trip / 2. The echoing side writes back
/// the value it read, and this side checks every word of the answer (after
/// the clock stopped).
fn ping_pong<L: Lib<P>, P: Payload>(ctx: &Ctx, lib: &str) -> Res<Value> {
    let base = unique("pp");
    let mut ping = Named::<L, P> {
        w: Some(L::create(&ping_name(&base), &P::boxed_with(0))?),
        name: ping_name(&base),
    };
    let child = spawn(ctx, "echo", lib, P::SIZE, &base)?;
    let res = (|| {
        let mut pong = sys::retry("open pong", || L::open(&pong_name(&base)))?;
        let mut v = P::boxed();
        let mut got = P::boxed();
        let mut last = 0u64;
        let warm = ctx.samples / 10;
        let mut rtt = Vec::with_capacity(ctx.samples as usize);
        let mut torn = 0u64;
        for i in 1..=warm + ctx.samples {
            v.fill(i);
            let t = Instant::now();
            L::write(ping.w(), &v)?;
            wait_for::<L, P>(ctx, &mut pong, &mut last, &mut got, |c| c == i)?;
            let d = t.elapsed();
            if !got.check() {
                torn += 1;
            }
            if i > warm {
                rtt.push(d.as_nanos() as f64 / 2.0);
            }
        }
        v.fill(STOP);
        L::write(ping.w(), &v)?;
        rtt.sort_by(f64::total_cmp);
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(json!({
            "samples": rtt.len(), "torn": torn,
            "p50": percentile(&rtt, 0.5), "p99": percentile(&rtt, 0.99),
        }))
    })();
    let mut child = child;
    if res.is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    L::remove(&pong_name(&base));
    res
}

/// The echoing side (child side of [`ping_pong`]).
fn echo<L: Lib<P>, P: Payload>(ctx: &Ctx, args: &Args) -> Res<Value> {
    let mut pong = L::create(&pong_name(&args.name), &P::boxed_with(0))?;
    let mut ping = sys::retry("open ping", || L::open(&ping_name(&args.name)))?;
    let mut got = P::boxed();
    let mut last = 0u64;
    let mut seen = 0u64;
    loop {
        wait_for::<L, P>(ctx, &mut ping, &mut last, &mut got, |c| c != seen)?;
        seen = got.counter();
        if seen == STOP {
            break;
        }
        L::write(&mut pong, &got)?;
    }
    drop(pong);
    Ok(json!({}))
}

/// The raw baseline of the latency: two `AtomicU64`s on separate cache
/// lines of a raw mapping, both sides spinning on an acquire load.
fn atomic_ping_pong(ctx: &Ctx) -> Res<Value> {
    let name = unique("atomic");
    let m = RawMap::create(&name, 4096)?;
    let child = spawn(ctx, "echo", "atomic", 208, &name);
    let res = (|| {
        let child = child?;
        let (ping, pong) = atomics(&m);
        let warm = ctx.samples / 10;
        let mut rtt = Vec::with_capacity(ctx.samples as usize);
        for i in 1..=warm + ctx.samples {
            let t = Instant::now();
            ping.store(i, Ordering::Release);
            spin_until(ctx, || pong.load(Ordering::Acquire) == i)?;
            if i > warm {
                rtt.push(t.elapsed().as_nanos() as f64 / 2.0);
            }
        }
        ping.store(STOP, Ordering::Release);
        child_result(child)?;
        rtt.sort_by(f64::total_cmp);
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(json!({
            "samples": rtt.len(), "torn": 0,
            "p50": percentile(&rtt, 0.5), "p99": percentile(&rtt, 0.99),
        }))
    })();
    sys::unlink(&name);
    res
}

fn atomics(m: &RawMap) -> (&AtomicU64, &AtomicU64) {
    // SAFETY: offsets 0 and 128 of a page-aligned mapping of at least 4 KiB
    // that lives as long as `m`; both words are only accessed atomically.
    unsafe {
        (
            AtomicU64::from_ptr(m.ptr().cast()),
            AtomicU64::from_ptr(m.ptr().add(128).cast()),
        )
    }
}

fn spin_until(ctx: &Ctx, mut done: impl FnMut() -> bool) -> Res<()> {
    let mut spins = 0u32;
    let mut start = None;
    while !done() {
        relax(ctx.one_cpu);
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

/// A spawned process: the checking reader or the echoing side.
pub fn child(role: &str, args: &Args) -> Res<Value> {
    let ctx = Ctx {
        quick: args.quick,
        secs: args.secs,
        samples: 0,
        repeats: 1,
        other: None,
        one_cpu: sys::allowed_cpus().len() < 2 || args.cpu.is_none(),
    };
    match (role, args.lib.as_str()) {
        ("echo", "atomic") => {
            let m = RawMap::open(&args.name, 4096, true)?;
            let (ping, pong) = atomics(&m);
            let mut seen = 0;
            loop {
                spin_until(&ctx, || ping.load(Ordering::Acquire) != seen)?;
                seen = ping.load(Ordering::Acquire);
                if seen == STOP {
                    return Ok(json!({}));
                }
                pong.store(seen, Ordering::Release);
            }
        }
        ("echo", lib) => dispatch!(lib, args.size, |L, P| echo::<L, P>(&ctx, args)),
        ("reader", lib) => dispatch!(lib, args.size, |L, P| reader::<L, P>(args)),
        (r, _) => Err(format!("no role {r:?}").into()),
    }
}
