//! `shm watch`: the messages of a segment's rings and queues as they
//! arrive, beside the changes of its values (`watch.rs`).
//!
//! The watcher only loads from the segment (whole aligned 8-byte atomic
//! loads through [`RawSegment::stream_word`] and
//! [`RawSegment::stream_bytes`]; the segment is opened read-only): it never
//! publishes, acknowledges or claims anything, and a producer or consumer
//! never notices it.
//!
//! # Rings
//!
//! Each ring has a private cursor `next`, as a subscriber has, and is read
//! with the ring protocol of docs/FORMAT.md "Streams: message rings" (the
//! reader's column, as `shm_runtime::ring::try_next` does it): `head` with
//! acquire, the slot's `seq` before and after the copy with an acquire
//! fence between, so a message is printed whole or not at all, and
//! messages overwritten before the watcher read them are counted exactly
//! (a `lost` line) while the publisher follows the protocol.
//!
//! # Queues
//!
//! Watching a queue must not consume: the watcher has a private cursor
//! `next` and never stores `head`. A queue slot has no `seq` word, so the
//! watcher relies on the consumer's `head` instead. Message `i` lives in
//! slot `i mod N` from the producer's store of it until the producer
//! stores message `i + N` there, which it does only after it loaded
//! `head > i` (acquire) and then issued a release fence (`queue::send` in
//! shm-runtime). The watcher copies message `i` (with `i < tail`, `tail`
//! loaded with acquire, so message `i`'s stores happen before the copy),
//! issues an acquire fence and loads `head` again:
//!
//! - if any word of the copy came from a store of message `i + N` or later,
//!   the producer's release fence before that store synchronises with the
//!   watcher's acquire fence; the consumer's store of `head = i + 1`
//!   happens before the producer's load of it, so it happens before the
//!   watcher's second load of `head`, which then sees `head > i`;
//! - so `head <= i` after the copy means every word came from message `i`:
//!   the copy is whole and is printed.
//!
//! Otherwise the consumer took message `i` while (or before) it was
//! copied; the watcher skips to `head` and says how many messages it did
//! not see (an `unseen` line): messages the consumer takes before the
//! watcher gets to them are not shown, only counted. A watcher therefore
//! sees every message of a queue only while the consumer is slower than
//! it. The counts are loaded as `head`, `tail`, `head` again; a correct
//! producer and consumer guarantee `head1 <= tail <= head2 + N` (the
//! consumer loaded `tail >= head1` before storing `head1`; the producer
//! loaded `head >= tail - N` before storing `tail`).
//!
//! # Never trusting the segment
//!
//! Counters that cannot be right give one `corrupt` line for the stream
//! (repeated only after a message was read again), and the watcher goes on
//! from the current `head` (rings) or `tail` (queues). Every poll does a
//! bounded amount of work: at most [`BATCH`] steps per stream, each a few
//! loads and one message copy; nothing waits on the segment. Memory: one
//! message buffer per stream, allocated once. Messages and names are
//! printed through the escaping of the rest of the tool.

use std::io::Write;
use std::sync::atomic::{Ordering, fence};

use serde::Serialize;
use shm_runtime::RawSegment;
use shm_runtime::descriptor::{StreamInfo, ValueView};
use shm_runtime::tools::Escaped;

use crate::streams::{QUEUE_HEAD, QUEUE_SLOTS, RING_SLOTS, kind, message_buf, whole_region};
use crate::{Res, safe_json};

/// At most this many messages (or losses) per stream per poll.
pub(crate) const BATCH: u64 = 256;

/// One watched ring or queue.
struct Stream<'s> {
    info: StreamInfo<'s>,
    /// The region's start in the mapping.
    base: u64,
    /// Bytes from one slot to the next.
    stride: u64,
    /// The number of the next message to print.
    next: u64,
    /// One message, copied out of the segment.
    buf: Vec<u8>,
    /// A corrupt line was printed and no message read since.
    bad: bool,
}

/// What one step of a stream found.
enum Step {
    /// Nothing new.
    Empty,
    /// Message `.0` is in the buffer.
    Msg(u64),
    /// Ring: `.0` messages were overwritten before the watcher read them.
    Lost(u64),
    /// Queue: `.0` messages were taken before the watcher saw them.
    Unseen(u64),
    /// The counters cannot be right; the cursor moved to `.1`.
    Bad(String, u64),
}

#[derive(Serialize)]
struct MsgLine<'a> {
    stream: &'a str,
    kind: &'static str,
    seq: u64,
    message: ValueView<'a>,
}

/// The rings and queues of a segment being watched.
pub(crate) struct Streams<'s> {
    list: Vec<Stream<'s>>,
}

impl<'s> Streams<'s> {
    /// Starts a cursor on every ring and queue of `seg`: at the next new
    /// message, or with `from_oldest` at the oldest kept (a ring) or not
    /// yet taken (a queue) message. Prints one line per stream saying where
    /// it starts (or why it is not watched).
    pub(crate) fn start(
        seg: &'s RawSegment,
        from_oldest: bool,
        out: &mut impl Write,
        as_json: bool,
    ) -> Res<Streams<'s>> {
        let mut list = Vec::new();
        for info in crate::streams::streams(seg)? {
            let size = info.elem.size();
            let stride = size
                .checked_next_multiple_of(8)
                .and_then(|s| s.checked_add(if info.queue { 0 } else { 8 }));
            // The whole region must be in the segment, so every slot is
            // (and a message is no larger than the segment: only then is
            // its buffer allocated).
            let fits = whole_region(seg, &info)
                .filter(|_| info.cap.is_power_of_two())
                .zip(stride)
                .and_then(|bs| Some((bs, message_buf(&info)?)));
            let Some(((base, stride), buf)) = fits else {
                note(
                    out,
                    as_json,
                    &info,
                    "not watched: its capacity or its region cannot be right",
                )?;
                continue;
            };
            let mut s = Stream {
                info,
                base,
                stride,
                next: 0,
                buf,
                bad: false,
            };
            s.next = s.start(seg, from_oldest);
            if as_json {
                safe_json::line(
                    out,
                    &serde_json::json!({
                        "stream": s.info.path,
                        "kind": kind(&s.info),
                        "capacity": s.info.cap,
                        "from": s.next,
                    }),
                )?;
            } else {
                writeln!(
                    out,
                    "{} {}<{}, {}>: watching from message {}",
                    Escaped(&s.info.path),
                    if s.info.queue { "Queue" } else { "Ring" },
                    Escaped(&s.info.elem.to_string()),
                    s.info.cap,
                    s.next
                )?;
            }
            list.push(s);
        }
        Ok(Streams { list })
    }

    /// One poll of every stream: prints new messages (at most [`BATCH`]
    /// steps per stream, and at most `limit` messages in all), losses and
    /// corrupt counters. Returns the number of messages printed and
    /// whether a stream has more to read at once.
    pub(crate) fn poll(
        &mut self,
        seg: &RawSegment,
        out: &mut impl Write,
        as_json: bool,
        mut limit: Option<u64>,
    ) -> Res<(u64, bool)> {
        let (mut printed, mut more) = (0u64, false);
        for s in &mut self.list {
            let mut steps = 0;
            loop {
                if limit == Some(0) {
                    return Ok((printed, false));
                }
                if steps == BATCH {
                    more = true;
                    break;
                }
                steps += 1;
                let step = if s.info.queue {
                    s.queue_step(seg)
                } else {
                    s.ring_step(seg)
                };
                match step {
                    Step::Empty => break,
                    Step::Msg(i) => {
                        s.bad = false;
                        s.print_msg(out, as_json, i)?;
                        printed += 1;
                        limit = limit.map(|l| l - 1);
                    }
                    Step::Lost(n) => s.print_count(out, as_json, "lost", n)?,
                    Step::Unseen(n) => s.print_count(out, as_json, "unseen", n)?,
                    Step::Bad(what, next) => {
                        s.next = next;
                        if !s.bad {
                            s.bad = true;
                            let what = format!("{what}; going on from message {next}");
                            note(out, as_json, &s.info, &what)?;
                        }
                        break;
                    }
                }
            }
        }
        Ok((printed, more))
    }
}

/// A line about a stream: `{"stream": .., "kind": .., "corrupt": what}`,
/// or `PATH: what`.
fn note(out: &mut impl Write, as_json: bool, s: &StreamInfo<'_>, what: &str) -> Res {
    if as_json {
        safe_json::line(
            out,
            &serde_json::json!({"stream": s.path, "kind": kind(s), "corrupt": what}),
        )?;
    } else {
        writeln!(out, "{}: corrupt: {}", Escaped(&s.path), Escaped(what))?;
    }
    Ok(())
}

impl Stream<'_> {
    fn word(&self, seg: &RawSegment, off: u64) -> Option<u64> {
        seg.stream_word(self.base.checked_add(off)?)
    }

    /// Where the cursor starts.
    fn start(&self, seg: &RawSegment, from_oldest: bool) -> u64 {
        if self.info.queue {
            let off = if from_oldest { QUEUE_HEAD } else { 0 };
            self.word(seg, off).unwrap_or(0)
        } else {
            let h = self.word(seg, 0).unwrap_or(0);
            if from_oldest {
                h.saturating_sub(self.info.cap)
            } else {
                h
            }
        }
    }

    /// One step of the ring reader (docs/FORMAT.md "Streams: message
    /// rings"), checking what a correct publisher guarantees.
    fn ring_step(&mut self, seg: &RawSegment) -> Step {
        let n = self.info.cap;
        let Some(h) = self.word(seg, 0) else {
            return Step::Bad("ring head outside the segment".into(), self.next);
        };
        let next = self.next;
        if h < next {
            return Step::Bad(
                format!("published count {h} is below the watcher's position {next}"),
                h,
            );
        }
        if h == next {
            return Step::Empty;
        }
        if h - next > n {
            self.next = h - n;
            return Step::Lost(h - n - next);
        }
        let Some(expect) = next.checked_mul(2).and_then(|d| d.checked_add(2)) else {
            return Step::Bad(format!("message number {next} overflows"), h);
        };
        let slot = next & (n - 1);
        let Some(at) = slot
            .checked_mul(self.stride)
            .and_then(|o| o.checked_add(RING_SLOTS))
        else {
            return Step::Bad("slot outside the segment".into(), h);
        };
        let Some(s1) = self.word(seg, at) else {
            return Step::Bad("slot outside the segment".into(), h);
        };
        let s = if s1 == expect {
            let copied = self
                .base
                .checked_add(at)
                .and_then(|a| a.checked_add(8))
                .is_some_and(|a| seg.stream_bytes(a, &mut self.buf));
            fence(Ordering::Acquire);
            let s2 = self.word(seg, at).unwrap_or(0);
            if copied && s2 == s1 {
                self.next += 1;
                return Step::Msg(next);
            }
            s2
        } else {
            s1
        };
        // Overwritten by (or being overwritten with) message `m`, a later
        // message of the same slot and not past `head`; else corrupt.
        let m = s.saturating_sub(1) / 2;
        let h2 = self.word(seg, 0).unwrap_or(0);
        if s < expect || m & (n - 1) != slot || m < next.saturating_add(n) || m > h2 {
            return Step::Bad(
                format!(
                    "slot {slot} has sequence {s}, which is not message {next} or a later \
                     one of that slot up to the published count {h2}"
                ),
                h2.max(h),
            );
        }
        let oldest = m + 1 - n;
        self.next = oldest;
        Step::Lost(oldest - next)
    }

    /// One step of the queue watcher (see the module's comment for why a
    /// copy is whole when `head` has not passed it).
    fn queue_step(&mut self, seg: &RawSegment) -> Step {
        let n = self.info.cap;
        let counts = (|| {
            let h1 = self.word(seg, QUEUE_HEAD)?;
            let t = self.word(seg, 0)?;
            let h2 = self.word(seg, QUEUE_HEAD)?;
            Some((h1, t, h2))
        })();
        let Some((h1, t, h2)) = counts else {
            return Step::Bad("queue counters outside the segment".into(), self.next);
        };
        if h1 > t || h1 > h2 || t > h2.saturating_add(n) {
            return Step::Bad(
                format!(
                    "queue counts taken {h1}..{h2} and sent {t} are not within its capacity {n}"
                ),
                t,
            );
        }
        let next = self.next;
        if t < next {
            return Step::Bad(
                format!("sent count {t} is below the watcher's position {next}"),
                t,
            );
        }
        if h2 > next {
            self.next = h2;
            return Step::Unseen(h2 - next);
        }
        if next == t {
            return Step::Empty;
        }
        let at = (next & (n - 1))
            .checked_mul(self.stride)
            .and_then(|o| o.checked_add(QUEUE_SLOTS))
            .and_then(|o| o.checked_add(self.base));
        if !at.is_some_and(|a| seg.stream_bytes(a, &mut self.buf)) {
            return Step::Bad("slot outside the segment".into(), t);
        }
        fence(Ordering::Acquire);
        match self.word(seg, QUEUE_HEAD) {
            Some(h3) if h3 <= next => {
                self.next = next + 1;
                Step::Msg(next)
            }
            // Taken while (or before) copied: not seen.
            Some(h3) => {
                self.next = h3;
                Step::Unseen(h3 - next)
            }
            None => Step::Bad("queue head outside the segment".into(), t),
        }
    }

    fn print_msg(&self, out: &mut impl Write, as_json: bool, i: u64) -> Res {
        let path = &self.info.path;
        match self.info.elem.view(&self.buf) {
            Some(message) if as_json => safe_json::line(
                out,
                &MsgLine {
                    stream: path,
                    kind: kind(&self.info),
                    seq: i,
                    message,
                },
            )?,
            Some(v) => writeln!(out, "{} #{i}: {v}", Escaped(path))?,
            None => note(
                out,
                as_json,
                &self.info,
                &format!("message {i} undecodable"),
            )?,
        }
        Ok(())
    }

    /// A `lost` (ring) or `unseen` (queue) line.
    fn print_count(&self, out: &mut impl Write, as_json: bool, what: &str, n: u64) -> Res {
        let path = &self.info.path;
        if as_json {
            safe_json::line(
                out,
                &serde_json::json!({"stream": path, "kind": kind(&self.info), what: n}),
            )?;
        } else if self.info.queue {
            writeln!(
                out,
                "{}: {n} messages taken by the consumer before watch saw them",
                Escaped(path)
            )?;
        } else {
            writeln!(
                out,
                "{}: {n} messages lost (overwritten before watch read them)",
                Escaped(path)
            )?;
        }
        Ok(())
    }
}
