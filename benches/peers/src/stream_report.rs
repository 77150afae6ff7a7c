//! The markdown of the stream rows (`streams` in a results file), and the
//! correctness check of ours (never torn, duplicated or reordered; the
//! losses add up exactly).

use std::fmt::Write;

use serde_json::Value;

use crate::streams::{ICE_BP, LIBS, PERIOD_NS, SIZES, SLOW_NS, cap, window};
use crate::sys::Res;

fn row<'v>(v: &'v Value, mode: &str, lib: &str, size: usize) -> Option<&'v Value> {
    v["streams"]
        .as_array()?
        .iter()
        .find(|r| r["mode"] == mode && r["lib"] == lib && r["size"] == size)
}

fn get(v: &Value, mode: &str, lib: &str, size: usize, key: &str) -> Option<f64> {
    row(v, mode, lib, size)?[key].as_f64()
}

fn rate(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 1e6 => format!("{:.2} M/s", r / 1e6),
        Some(r) if r >= 1e3 => format!("{:.1} k/s", r / 1e3),
        Some(r) => format!("{r:.0}/s"),
        None => "–".into(),
    }
}

fn ns(x: Option<f64>) -> String {
    match x {
        Some(x) if x >= 1e3 => format!("{:.2} µs", x / 1e3),
        Some(x) => format!("{x:.0} ns"),
        None => "–".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

/// A table row: label, mode, key, formatter, the library of the
/// iceoryx2 column.
type Metric = (
    &'static str,
    &'static str,
    &'static str,
    fn(Option<f64>) -> String,
    &'static str,
);

fn size_label(size: usize) -> &'static str {
    if size == 64 { "64 B" } else { "4 KiB" }
}

/// The streams table, its checks and its targets (empty without stream
/// rows).
pub fn markdown(v: &Value) -> String {
    let mut s = String::new();
    if v["streams"].is_null() {
        return s;
    }
    let _ = writeln!(
        s,
        "\nStreams: one producer process, one consumer process on another CPU; ours `Ring<M, N>` (`publish`, `recv_batch`), iceoryx2 0.10 publish-subscribe (safe overflow, subscriber buffer = history = N, `loan_uninit` + in-place build + `send`, `receive()` in place), raw ring = hand-written single-producer seqlock ring over a raw mapping (same layout, `memcpy`, no checks). Every message checked word by word. Lossless throughput: the producer publishes as fast as it can but never N/2 or more messages ahead of what the consumer has taken (the consumer stores its progress in a bench-only shared word after each batch of up to 32; the same mechanism for all three), so nothing is lost: messages/s received end to end; iceoryx2 is also measured with its own backpressure instead of the window (safe overflow off, `BackpressureStrategy::RetryUntilDelivered`: `send` waits while the subscriber's buffer is full), in its column of the \"own backpressure\" row. Flat-out: the producer publishes flat out and laps its consumer, the consumer spins (messages/s received: a race between the two, not a transport rate; a faster producer makes its consumer receive less). Latency: one message every {} µs, `CLOCK_MONOTONIC` timestamp in it, one-way: from before the producer builds the message until the consumer has checked all of it (p50 and p99 of the run with the median p50). Throughput (both) and latency: median of {} run(s), libraries interleaved. Loss: flat-out producer, the consumer spends {} µs on each message. Ratios: ours / peer (throughput: above 1 ours is faster; latency: below 1 ours is faster).\n",
        PERIOD_NS / 1000,
        v["meta"]["updates_runs"].as_u64().unwrap_or(1),
        SLOW_NS / 1000,
    );
    let _ = writeln!(
        s,
        "| stream | size | N | raw ring | ours | iceoryx2 | ours / raw ring | ours / iceoryx2 |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
    let metrics: [Metric; 8] = [
        (
            "lossless throughput (messages/s received)",
            "lossless",
            "per_s",
            rate,
            "iceoryx2",
        ),
        (
            "lossless throughput, iceoryx2's own backpressure in its column",
            "lossless",
            "per_s",
            rate,
            ICE_BP,
        ),
        (
            "lossless throughput per second of consumer CPU time",
            "lossless",
            "per_cpu_s",
            rate,
            "iceoryx2",
        ),
        (
            "flat-out publishing, messages/s received (lapped: not a transport rate)",
            "throughput",
            "per_s",
            rate,
            "iceoryx2",
        ),
        ("one-way latency p50", "latency", "p50", ns, "iceoryx2"),
        ("one-way latency p99", "latency", "p99", ns, "iceoryx2"),
        (
            "one-way latency p50, best run",
            "latency",
            "p50_best",
            ns,
            "iceoryx2",
        ),
        (
            "lost/s, slow consumer",
            "loss",
            "lost_per_s",
            rate,
            "iceoryx2",
        ),
    ];
    for (label, mode, key, fmt, ice) in metrics {
        for size in SIZES {
            let x: Vec<Option<f64>> = [LIBS[0], LIBS[1], ice]
                .iter()
                .map(|l| get(v, mode, l, size, key))
                .collect();
            let _ = writeln!(
                s,
                "| {label} | {} | {} | {} | {} | {} | {} | {} |",
                size_label(size),
                cap(size),
                fmt(x[0]),
                fmt(x[1]),
                fmt(x[2]),
                ratio(x[1], x[0]),
                ratio(x[1], x[2]),
            );
        }
    }
    let _ = writeln!(
        s,
        "\nChecks of every stream row (summed over the runs): torn / duplicated / reordered messages received; \"exact\": received + lost = published, and the losses reported (ours, raw ring; iceoryx2 reports none, its losses are the gaps in the sequence numbers) = the gaps; lossless rows: \"lost\" = the gaps over all runs (must be 0). Loss rows: published/s by the producer, received/s by the slow consumer. CPU: the share of a CPU the producer / the consumer got (far below 100 %: the machine's other load took it, and the row says little).\n"
    );
    let _ = writeln!(
        s,
        "| row | size | raw ring | ours | iceoryx2 |\n|---|---|---|---|---|"
    );
    for mode in ["lossless", "throughput", "latency", "loss"] {
        let label = if mode == "throughput" {
            "flat-out"
        } else {
            mode
        };
        let lines: &[(&str, [&str; 3])] = if mode == "lossless" {
            &[
                (label, LIBS),
                ("lossless, iceoryx2's own backpressure", ["", "", ICE_BP]),
            ]
        } else {
            &[(label, LIBS)]
        };
        for (line, size) in lines.iter().flat_map(|l| SIZES.map(|z| (l, z))) {
            let (label, libs) = *line;
            let _ = write!(s, "| {label} | {} |", size_label(size));
            for lib in libs {
                let c = match row(v, mode, lib, size) {
                    Some(r) => {
                        let mut c = format!(
                            "{} / {} / {}, {}",
                            r["torn"],
                            r["dup"],
                            r["reorder"],
                            if r["exact"] == true {
                                "exact"
                            } else {
                                "**NOT exact**"
                            }
                        );
                        let pct = |k: &str| {
                            r[k].as_f64()
                                .map_or("–".into(), |x| format!("{:.0} %", x * 100.0))
                        };
                        let _ =
                            write!(c, "; CPU {} / {}", pct("producer_cpu"), pct("consumer_cpu"));
                        if mode == "lossless" {
                            let how = if lib == ICE_BP {
                                "no window: iceoryx2's backpressure".to_string()
                            } else {
                                format!("window {}", window(cap(size)))
                            };
                            let _ = write!(c, "; lost {} ({how})", r["lost_total"]);
                        }
                        if mode == "loss" {
                            let _ = write!(
                                c,
                                "; {} of {}",
                                rate(r["per_s"].as_f64()),
                                rate(r["published_per_s"].as_f64())
                            );
                        }
                        c
                    }
                    None => "–".into(),
                };
                let _ = write!(s, " {c} |");
            }
            s.push('\n');
        }
    }
    let _ = writeln!(s, "\nStream targets:\n\n| target | met |\n|---|---|");
    let yes = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "–",
    };
    for size in SIZES {
        let l = size_label(size);
        let t = |lib| get(v, "lossless", lib, size, "per_s");
        let p = |lib| get(v, "latency", lib, size, "p50");
        let p99 = |lib| get(v, "latency", lib, size, "p99");
        let ge = |a: Option<f64>, b: Option<f64>| Some(a? >= b?);
        let lines = [
            (
                format!("lossless throughput {l} ≥ iceoryx2"),
                ge(t("ours"), t("iceoryx2")),
            ),
            (
                format!("lossless throughput {l} ≥ raw ring / 1.3"),
                ge(t("ours"), t("raw ring").map(|r| r / 1.3)),
            ),
            (
                format!("latency p50 {l} ≤ iceoryx2"),
                ge(p("iceoryx2"), p("ours")),
            ),
            (
                format!("latency p50 {l} ≤ 1.3 × raw ring"),
                ge(p("raw ring").map(|r| r * 1.3), p("ours")),
            ),
            (
                format!("latency p99 {l} ≤ iceoryx2"),
                ge(p99("iceoryx2"), p99("ours")),
            ),
        ];
        for (what, ok) in lines {
            let _ = writeln!(s, "| {what} | {} |", yes(ok));
        }
    }
    s
}

/// An error if a stream row of ours received a torn, duplicated or
/// reordered message, or its losses did not add up, or any library lost a
/// message in a `lossless` row (the bench's window failed: the row would
/// not measure what it says) (a correctness check, not a timing).
pub fn check(v: &Value) -> Res<()> {
    let Some(rows) = v["streams"].as_array() else {
        return Ok(());
    };
    for r in rows.iter().filter(|r| r["mode"] == "lossless") {
        if r["lost_total"].as_u64() != Some(0) {
            return Err(format!(
                "streams lossless {} B, {}: {} messages lost",
                r["size"], r["lib"], r["lost_total"]
            )
            .into());
        }
    }
    for r in rows.iter().filter(|r| r["lib"] == "ours") {
        let bad: u64 = ["torn", "dup", "reorder"]
            .iter()
            .filter_map(|k| r[*k].as_u64())
            .sum();
        if bad > 0 || r["exact"] != true {
            return Err(format!(
                "streams {} {} B, ours: torn {} dup {} reorder {} exact {}",
                r["mode"], r["size"], r["torn"], r["dup"], r["reorder"], r["exact"]
            )
            .into());
        }
    }
    Ok(())
}
