//! `shm watch`: print every change of a segment's values, and the
//! messages of its rings and queues (`watch_streams`: each interval polls
//! them first, a bounded amount of work, and the loop sleeps unless one of
//! them has more to read at once).
//!
//! The loop polls the segment's version (one atomic load) every interval
//! and takes a snapshot only when the version moved; a snapshot that turns
//! out to hold the version already printed (a write in progress, or a
//! writer that died in the middle of one: readers then read the backup
//! copy, which holds the last complete value) waits for the next interval
//! too, as does a snapshot that failed for lack of a complete copy (which
//! gives up after a few tries instead of retrying for the read timeout).
//! So the loop never spins, whatever the writer does. Every sleep ends at
//! the deadline at the latest.
//!
//! Changes are found by comparing the bytes of each scalar in the previous
//! and the new snapshot (floats by bits, so a NaN that stays NaN is no
//! change); a field's path is built only when it changed. Memory: two
//! copies of the payload.

use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value as Json, json};
use shm_runtime::descriptor::{Value, ValueView};
use shm_runtime::tools::Escaped;
use shm_runtime::{Error, RawSegment};

use crate::{Failure, Res, safe_json, target, watch_streams};

/// When a wait of `secs` seconds from now ends: `None` for no end (no
/// timeout, or one so long that no clock reaches it).
pub(crate) fn deadline(secs: Option<f64>) -> Res<Option<Instant>> {
    match secs {
        None => Ok(None),
        Some(t) if t >= 0.0 => Ok(Duration::try_from_secs_f64(t)
            .ok()
            .and_then(|d| Instant::now().checked_add(d))),
        Some(t) => Err(Failure(format!(
            "--timeout {t} is not a number of seconds (give one of at least 0)"
        ))),
    }
}

/// Sleeps for `interval`, or until `deadline` if that comes first.
fn pause(interval: Duration, deadline: Option<Instant>) {
    let d = match deadline {
        Some(end) => interval.min(end.saturating_duration_since(Instant::now())),
        None => interval,
    };
    std::thread::sleep(d);
}

/// One step of a field's path: `name` or `[index]`.
#[derive(Clone, Copy)]
enum Step<'a> {
    Field(&'a str),
    Index(usize),
}

fn path(steps: &[Step<'_>]) -> String {
    let mut p = String::new();
    for s in steps {
        match s {
            Step::Field(n) if p.is_empty() => p.push_str(n),
            Step::Field(n) => {
                p.push('.');
                p.push_str(n);
            }
            Step::Index(i) => p.push_str(&format!("[{i}]")),
        }
    }
    p
}

/// The scalars that differ between two snapshots of the same schema, in
/// order, as `(path, new, old)`: `value`, `numbers[10]`, `inner.a`.
fn changes<'a>(
    now: ValueView<'a>,
    old: ValueView<'a>,
    steps: &mut Vec<Step<'a>>,
    out: &mut Vec<(String, Value<'a>, Value<'a>)>,
) {
    if now.bytes() == old.bytes() {
        return;
    }
    if let (Some(n), Some(o)) = (now.scalar(), old.scalar()) {
        out.push((path(steps), n, o));
    } else if let (Some(ns), Some(os)) = (now.elements(), old.elements()) {
        for (i, (n, o)) in ns.zip(os).enumerate() {
            steps.push(Step::Index(i));
            changes(n, o, steps, out);
            steps.pop();
        }
    } else if let (Some(ns), Some(os)) = (now.fields(), old.fields()) {
        for ((k, n), (_, o)) in ns.zip(os) {
            steps.push(Step::Field(k));
            changes(n, o, steps, out);
            steps.pop();
        }
    }
}

#[derive(Serialize)]
struct First<'a> {
    seq: u64,
    values: ValueView<'a>,
}

/// Whether a failed snapshot is worth retrying at the next interval (no
/// complete copy for now) rather than the end.
fn transient(e: &Error) -> bool {
    matches!(e, Error::Timeout { .. } | Error::WriterDied { .. })
}

/// What `shm watch` was asked for.
pub(crate) struct Args<'a> {
    pub(crate) name: &'a str,
    pub(crate) count: Option<u64>,
    pub(crate) timeout: Option<f64>,
    pub(crate) interval_ms: u64,
    pub(crate) as_json: bool,
    pub(crate) from_oldest: bool,
}

pub(crate) fn run(out: &mut impl Write, args: &Args<'_>) -> Res {
    let &Args {
        name,
        count,
        timeout,
        interval_ms,
        as_json,
        from_oldest,
    } = args;
    let deadline = deadline(timeout)?;
    let interval = Duration::from_millis(interval_ms.max(1));
    // A snapshot gives up at once (after a few tries) when it finds no
    // complete copy, rather than retrying for a second: the loop retries
    // at the next interval instead.
    let seg = RawSegment::open(&target(name)?.read_timeout(Duration::ZERO))?;
    // The counter of the copy read: twice its version (every complete
    // write adds two).
    let snapshot = |seg: &RawSegment| -> Result<(Vec<u8>, u64), Error> {
        let (bytes, version) = seg.read_bytes_with_version()?;
        Ok((bytes, version.wrapping_mul(2)))
    };
    let (mut prev, mut seq) = loop {
        match snapshot(&seg) {
            Err(e) if transient(&e) && deadline.is_none_or(|d| Instant::now() < d) => {
                pause(interval, deadline)
            }
            r => break r?,
        }
    };
    {
        let first = seg.view(&prev)?;
        if as_json {
            safe_json::line(out, &First { seq, values: first })?;
        } else {
            writeln!(out, "{} at write {}:", Escaped(seg.name()), seq / 2)?;
            for (k, v) in first.fields().into_iter().flatten() {
                writeln!(out, "  {} = {v}", Escaped(k))?;
            }
        }
    }
    let mut streams = watch_streams::Streams::start(&seg, from_oldest, out, as_json)?;
    out.flush()?;
    // Changes and messages printed.
    let mut seen = 0u64;
    while count.is_none_or(|c| seen < c) {
        if let Some(d) = deadline
            && Instant::now() >= d
        {
            return match count {
                Some(c) => Err(Failure(format!(
                    "{}: timed out after {}s having seen {seen} of {c} changes and messages",
                    Escaped(seg.name()),
                    timeout.unwrap_or_default()
                ))),
                None => Ok(()),
            };
        }
        // The streams: bounded work, and no more messages than asked for.
        let (printed, more) = streams.poll(&seg, out, as_json, count.map(|c| c - seen))?;
        seen += printed;
        if count.is_some_and(|c| seen >= c) {
            break;
        }
        if let Some((now, s)) = changed_snapshot(&seg, seq, &snapshot)? {
            print_change(out, &seg, &now, &prev, seq, s, as_json)?;
            seq = s;
            prev = now;
            seen += 1;
        }
        out.flush()?;
        // Sleep unless a stream has more messages to print at once (each
        // poll is bounded, so this is work, not spinning).
        if !more {
            pause(interval, deadline);
        }
    }
    out.flush()?;
    Ok(())
}

/// A snapshot whose counter differs from `seq` (`None`: no complete write
/// since, or no complete copy for now: try at the next interval).
fn changed_snapshot(
    seg: &RawSegment,
    seq: u64,
    snapshot: &impl Fn(&RawSegment) -> Result<(Vec<u8>, u64), Error>,
) -> Res<Option<(Vec<u8>, u64)>> {
    // Poll the sequence counter: a reader never stores to the segment.
    if seg.version().wrapping_mul(2) == seq {
        return Ok(None);
    }
    match snapshot(seg) {
        // The version moved but the last complete value is the one
        // printed (a write in progress, or left half done by a dead
        // writer): wait for the next interval, do not spin.
        Ok((_, s)) if s == seq => Ok(None),
        Ok(r) => Ok(Some(r)),
        Err(e) if transient(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Prints the values that changed from `prev` (at `seq`) to `now` (at `s`).
fn print_change(
    out: &mut impl Write,
    seg: &RawSegment,
    now: &[u8],
    prev: &[u8],
    seq: u64,
    s: u64,
    as_json: bool,
) -> Res {
    let mut changed = Vec::new();
    changes(
        seg.view(now)?,
        seg.view(prev)?,
        &mut Vec::new(),
        &mut changed,
    );
    let writes = s.wrapping_sub(seq) / 2;
    if as_json {
        let m: Map<String, Json> = changed.into_iter().map(|(k, v, _)| (k, json!(v))).collect();
        safe_json::line(out, &json!({"seq": s, "writes": writes, "changed": m}))?;
    } else {
        let what = if changed.is_empty() {
            "no value changed".to_owned()
        } else {
            changed
                .iter()
                .map(|(k, v, old)| format!("{} = {v} (was {old})", Escaped(k)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let n = if writes == 1 {
            String::new()
        } else {
            format!(" ({writes} writes)")
        };
        writeln!(out, "write {}{n}: {what}", s / 2)?;
    }
    Ok(())
}
