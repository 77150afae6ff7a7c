//! The rings and queues of a segment, for `shm inspect` and `shm dump`:
//! their counters and kept messages, read from the stream area with whole
//! aligned 8-byte atomic loads. Nothing read is trusted: counters are shown
//! as found, every offset is bounds-checked by [`RawSegment::stream_word`],
//! and a slot being written or torn is shown as such.

use std::io::Write;
use std::sync::atomic::{Ordering, fence};

use serde_json::{Value as Json, json};
use shm_runtime::RawSegment;
use shm_runtime::descriptor::StreamInfo;
use shm_runtime::tools::Escaped;

use crate::{Failure, Res};

/// Start of a ring's slots and of a queue's slots in their regions.
pub(crate) const RING_SLOTS: u64 = 64;
pub(crate) const QUEUE_SLOTS: u64 = 128;
/// Offset of a queue's `head` (messages taken) in its region.
pub(crate) const QUEUE_HEAD: u64 = 64;

/// One stream's counters as found (`None`: outside the segment).
struct Counters {
    /// Ring `head` or queue `tail`: messages published or sent.
    count: Option<u64>,
    /// Queue `head`: messages acknowledged.
    acked: Option<u64>,
    /// Queue claim word.
    consumer: Option<u64>,
}

pub(crate) fn streams(seg: &RawSegment) -> Res<Vec<StreamInfo<'_>>> {
    seg.schema()
        .streams()
        .ok_or_else(|| Failure("the schema's stream sizes overflow".into()))
}

/// Where the stream's region starts in the mapping (`None` on overflow).
pub(crate) fn region(seg: &RawSegment, s: &StreamInfo<'_>) -> Option<u64> {
    seg.header().streams_offset()?.checked_add(s.region_offset)
}

fn counters(seg: &RawSegment, s: &StreamInfo<'_>) -> Counters {
    let at = region(seg, s);
    let word = |off: u64| {
        at.and_then(|a| a.checked_add(off))
            .and_then(|a| seg.stream_word(a))
    };
    if s.queue {
        Counters {
            count: word(0),
            acked: word(64),
            consumer: word(72),
        }
    } else {
        Counters {
            count: word(0),
            acked: None,
            consumer: None,
        }
    }
}

pub(crate) fn kind(s: &StreamInfo<'_>) -> &'static str {
    if s.queue { "queue" } else { "ring" }
}

fn num(v: Option<u64>) -> String {
    v.map_or_else(|| "(outside the segment)".into(), |v| v.to_string())
}

fn consumer_text(w: Option<u64>) -> String {
    match w {
        None => "(outside the segment)".into(),
        Some(0) => "none".into(),
        Some(w) => format!("pid {}", w & 0xffff_ffff),
    }
}

/// Adds the counters `c` of stream `s` to the JSON object `o`: `sent`,
/// `acknowledged` and `consumer_pid` (null: none) for a queue, `published`
/// for a ring (null where outside the segment).
fn add_counters(o: &mut Json, s: &StreamInfo<'_>, c: &Counters) {
    if s.queue {
        o["sent"] = json!(c.count);
        o["acknowledged"] = json!(c.acked);
        o["consumer_pid"] = json!(c.consumer.filter(|w| *w != 0).map(|w| w & 0xffff_ffff));
    } else {
        o["published"] = json!(c.count);
    }
}

/// The `streams` array of `shm inspect --json`.
pub(crate) fn inspect_json(seg: &RawSegment) -> Res<Json> {
    let mut v = Vec::new();
    for s in streams(seg)? {
        let c = counters(seg, &s);
        let mut o = json!({
            "path": s.path,
            "kind": kind(&s),
            "type": s.elem.to_string(),
            "capacity": s.cap,
            "region_offset": region(seg, &s),
            "region_size": s.region_len,
        });
        add_counters(&mut o, &s, &c);
        v.push(o);
    }
    Ok(Json::Array(v))
}

/// The streams section of `shm inspect` and `shm dump` (with up to
/// `messages` kept messages each when `Some`).
pub(crate) fn write(out: &mut impl Write, seg: &RawSegment, messages: Option<u64>) -> Res {
    let list = streams(seg)?;
    if list.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "streams:")?;
    for s in &list {
        let c = counters(seg, s);
        write!(
            out,
            "  {} {}<{}, {}>: ",
            Escaped(&s.path),
            if s.queue { "Queue" } else { "Ring" },
            Escaped(&s.elem.to_string()),
            s.cap
        )?;
        if s.queue {
            writeln!(
                out,
                "sent {}, acknowledged {}, consumer {}",
                num(c.count),
                num(c.acked),
                consumer_text(c.consumer)
            )?;
        } else {
            writeln!(out, "published {}", num(c.count))?;
        }
        if let Some(max) = messages {
            write_messages(out, seg, s, &c, max)?;
        }
    }
    Ok(())
}

/// Which kept messages of a stream are shown: the last `max` of them.
enum Kept {
    /// The queue's counters cannot be right: none.
    Inconsistent,
    /// Messages `from..to`; the `hidden` older kept ones are not shown.
    Range { hidden: u64, from: u64, to: u64 },
}

/// The kept messages to show (`None`: the counters are outside the
/// segment). Bounded: `to - from` is at most the capacity and `max`.
fn kept(s: &StreamInfo<'_>, c: &Counters, max: u64) -> Option<Kept> {
    let count = c.count?;
    let first = if s.queue {
        match c.acked {
            Some(h) if h <= count && count - h <= s.cap => h,
            _ => return Some(Kept::Inconsistent),
        }
    } else {
        count.saturating_sub(s.cap)
    };
    let from = first.max(count.saturating_sub(max));
    Some(Kept::Range {
        hidden: from - first,
        from,
        to: count,
    })
}

/// Where the stream's region starts, if all of it is inside the segment
/// (so every slot is, and a message is no larger than the segment).
pub(crate) fn whole_region(seg: &RawSegment, s: &StreamInfo<'_>) -> Option<u64> {
    let base = region(seg, s)?;
    let last = base.checked_add(s.region_len.checked_sub(8)?)?;
    (seg.stream_word(base).is_some() && seg.stream_word(last).is_some()).then_some(base)
}

/// A private buffer for one message of `s` (`None` if it cannot be had).
/// Only for a stream whose region is inside the segment ([`whole_region`]),
/// so the size is bounded by the segment's.
pub(crate) fn message_buf(s: &StreamInfo<'_>) -> Option<Vec<u8>> {
    let len = usize::try_from(s.elem.size()).ok()?;
    let mut buf = Vec::new();
    buf.try_reserve_exact(len).ok()?;
    buf.resize(len, 0);
    Some(buf)
}

/// Copies message `i` of the stream whose region starts at `base` into
/// `buf`; `Err` says why it cannot be shown.
fn message(
    seg: &RawSegment,
    s: &StreamInfo<'_>,
    base: u64,
    i: u64,
    buf: &mut [u8],
) -> Result<(), String> {
    let outside = || "outside the segment".to_owned();
    let stride = (buf.len() as u64)
        .checked_next_multiple_of(8)
        .ok_or_else(outside)?;
    let slot = i % s.cap.max(1);
    if s.queue {
        let at = slot
            .checked_mul(stride)
            .and_then(|o| o.checked_add(QUEUE_SLOTS))
            .and_then(|o| o.checked_add(base))
            .ok_or_else(outside)?;
        if !seg.stream_bytes(at, buf) {
            return Err(outside());
        }
        fence(Ordering::Acquire);
        // Taken (and maybe overwritten) while copied? (See
        // `watch_streams` for why `head <= i` after the copy makes it whole.)
        match base
            .checked_add(QUEUE_HEAD)
            .and_then(|a| seg.stream_word(a))
        {
            Some(h) if h <= i => Ok(()),
            _ => Err("taken while read".into()),
        }
    } else {
        let at = slot
            .checked_mul(stride.saturating_add(8))
            .and_then(|o| o.checked_add(RING_SLOTS))
            .and_then(|o| o.checked_add(base))
            .ok_or_else(outside)?;
        ring_message(seg, at, i, buf)
    }
}

/// The kept messages of a stream, at most the last `max`.
fn write_messages(
    out: &mut impl Write,
    seg: &RawSegment,
    s: &StreamInfo<'_>,
    c: &Counters,
    max: u64,
) -> Res {
    let Some(kept) = kept(s, c, max) else {
        return Ok(());
    };
    let Kept::Range { hidden, from, to } = kept else {
        writeln!(out, "    (counters inconsistent: no messages shown)")?;
        return Ok(());
    };
    if hidden > 0 {
        writeln!(out, "    ({hidden} older kept messages not shown)")?;
    }
    let Some((base, mut buf)) = whole_region(seg, s).and_then(|b| Some((b, message_buf(s)?)))
    else {
        writeln!(out, "    (region outside the segment: no messages shown)")?;
        return Ok(());
    };
    for i in from..to {
        let text = match message(seg, s, base, i, &mut buf) {
            Ok(()) => view(s, &buf),
            Err(why) => format!("({why})"),
        };
        writeln!(out, "    #{i} {text}")?;
    }
    Ok(())
}

/// Message `i` of a ring whose slot's `seq` word is at `at`, into `buf`.
fn ring_message(seg: &RawSegment, at: u64, i: u64, buf: &mut [u8]) -> Result<(), String> {
    let Some(s1) = seg.stream_word(at) else {
        return Err("outside the segment".into());
    };
    let want = i.checked_mul(2).and_then(|v| v.checked_add(2));
    if Some(s1) != want {
        return Err(if s1 % 2 == 1 {
            format!("being written: seq {s1}")
        } else {
            format!("overwritten or missing: seq {s1}")
        });
    }
    if !seg.stream_bytes(at.saturating_add(8), buf) {
        return Err("outside the segment".into());
    }
    fence(Ordering::Acquire);
    if seg.stream_word(at) != Some(s1) {
        return Err("torn: overwritten while read".into());
    }
    Ok(())
}

fn view(s: &StreamInfo<'_>, buf: &[u8]) -> String {
    s.elem
        .view(buf)
        .map_or_else(|| "(undecodable)".into(), |v| v.to_string())
}

/// One stream for `shm dump --json`: its counters and up to `max` of its
/// latest kept messages, decoded (`{"seq": i, "message": ...}`, or
/// `{"seq": i, "missing": why}`).
fn dump_json(seg: &RawSegment, s: &StreamInfo<'_>, max: u64) -> Json {
    let c = counters(seg, s);
    let mut o = json!({
        "kind": kind(s),
        "type": s.elem.to_string(),
        "capacity": s.cap,
    });
    add_counters(&mut o, s, &c);
    let region = || {
        let base = whole_region(seg, s)?;
        Some((base, message_buf(s)?))
    };
    match (kept(s, &c, max), region()) {
        (Some(Kept::Range { hidden, from, to }), Some((base, mut buf))) => {
            let mut list = Vec::new();
            for i in from..to {
                list.push(match message(seg, s, base, i, &mut buf) {
                    Ok(()) => match s.elem.view(&buf) {
                        Some(v) => json!({"seq": i, "message": v}),
                        None => json!({"seq": i, "missing": "undecodable"}),
                    },
                    Err(why) => json!({"seq": i, "missing": why}),
                });
            }
            o["older_not_shown"] = json!(hidden);
            o["messages"] = Json::Array(list);
        }
        (Some(Kept::Inconsistent), _) => {
            o["corrupt"] = json!("counters inconsistent: no messages shown");
        }
        _ => o["corrupt"] = json!("outside the segment"),
    }
    o
}

/// `shm dump --json` with streams: each ring's or queue's placeholder in
/// the decoded `values` (its word means nothing) is replaced by the
/// stream's counters and latest kept messages ([`dump_json`]).
pub(crate) fn dump_with_streams(seg: &RawSegment, values: &mut Json, max: u64) -> Res {
    for s in streams(seg)? {
        if let Some(slot) = at_path(values, &s.path) {
            *slot = dump_json(seg, &s, max);
        }
    }
    Ok(())
}

/// The node at a field path (`events`, `arms[1].log`) of a decoded value.
fn at_path<'j>(root: &'j mut Json, path: &str) -> Option<&'j mut Json> {
    let mut node = root;
    for part in path.split('.') {
        let mut pieces = part.split('[');
        node = node.get_mut(pieces.next()?)?;
        for index in pieces {
            node = node.get_mut(index.strip_suffix(']')?.parse::<usize>().ok()?)?;
        }
    }
    Some(node)
}
