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
const RING_SLOTS: u64 = 64;
const QUEUE_SLOTS: u64 = 128;

/// One stream's counters as found (`None`: outside the segment).
struct Counters {
    /// Ring `head` or queue `tail`: messages published or sent.
    count: Option<u64>,
    /// Queue `head`: messages acknowledged.
    acked: Option<u64>,
    /// Queue claim word.
    consumer: Option<u64>,
}

fn streams(seg: &RawSegment) -> Res<Vec<StreamInfo<'_>>> {
    seg.schema()
        .streams()
        .ok_or_else(|| Failure("the schema's stream sizes overflow".into()))
}

/// Where the stream's region starts in the mapping (`None` on overflow).
fn region(seg: &RawSegment, s: &StreamInfo<'_>) -> Option<u64> {
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

fn kind(s: &StreamInfo<'_>) -> &'static str {
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
        if s.queue {
            o["sent"] = json!(c.count);
            o["acknowledged"] = json!(c.acked);
            o["consumer_pid"] = json!(c.consumer.filter(|w| *w != 0).map(|w| w & 0xffff_ffff));
        } else {
            o["published"] = json!(c.count);
        }
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

/// The kept messages of a stream, at most the last `max`.
fn write_messages(
    out: &mut impl Write,
    seg: &RawSegment,
    s: &StreamInfo<'_>,
    c: &Counters,
    max: u64,
) -> Res {
    let (Some(base), Some(count)) = (region(seg, s), c.count) else {
        return Ok(());
    };
    let msize = s.elem.size();
    let Some(stride) = msize.checked_next_multiple_of(8) else {
        return Ok(());
    };
    let first = if s.queue {
        match c.acked {
            Some(h) if h <= count && count - h <= s.cap => h,
            _ => {
                writeln!(out, "    (counters inconsistent: no messages shown)")?;
                return Ok(());
            }
        }
    } else {
        count.saturating_sub(s.cap)
    };
    let from = first.max(count.saturating_sub(max));
    if from > first {
        writeln!(out, "    ({} older kept messages not shown)", from - first)?;
    }
    let Ok(len) = usize::try_from(msize) else {
        return Ok(());
    };
    let mut buf = Vec::new();
    if buf.try_reserve_exact(len).is_err() {
        return Ok(());
    }
    buf.resize(len, 0);
    for i in from..count {
        let slot = i % s.cap.max(1);
        let text = if s.queue {
            let at = slot
                .checked_mul(stride)
                .and_then(|o| o.checked_add(QUEUE_SLOTS))
                .and_then(|o| o.checked_add(base));
            match at {
                Some(at) if seg.stream_bytes(at, &mut buf) => {
                    fence(Ordering::Acquire);
                    // Taken (and maybe overwritten) while copied?
                    match base.checked_add(64).and_then(|a| seg.stream_word(a)) {
                        Some(h) if h <= i => view(s, &buf),
                        _ => "(taken while read)".into(),
                    }
                }
                _ => "(outside the segment)".into(),
            }
        } else {
            let at = slot
                .checked_mul(stride.saturating_add(8))
                .and_then(|o| o.checked_add(RING_SLOTS))
                .and_then(|o| o.checked_add(base));
            ring_message(seg, s, at, i, &mut buf)
        };
        writeln!(out, "    #{i} {text}")?;
    }
    Ok(())
}

/// Message `i` of a ring whose slot's `seq` word is at `at`.
fn ring_message(
    seg: &RawSegment,
    s: &StreamInfo<'_>,
    at: Option<u64>,
    i: u64,
    buf: &mut [u8],
) -> String {
    let Some(at) = at else {
        return "(outside the segment)".into();
    };
    let Some(s1) = seg.stream_word(at) else {
        return "(outside the segment)".into();
    };
    let want = i.checked_mul(2).and_then(|v| v.checked_add(2));
    if Some(s1) != want {
        return if s1 % 2 == 1 {
            format!("(being written: seq {s1})")
        } else {
            format!("(overwritten or missing: seq {s1})")
        };
    }
    if !seg.stream_bytes(at.saturating_add(8), buf) {
        return "(outside the segment)".into();
    }
    fence(Ordering::Acquire);
    if seg.stream_word(at) != Some(s1) {
        return "(torn: overwritten while read)".into();
    }
    view(s, buf)
}

fn view(s: &StreamInfo<'_>, buf: &[u8]) -> String {
    s.elem
        .view(buf)
        .map_or_else(|| "(undecodable)".into(), |v| v.to_string())
}
