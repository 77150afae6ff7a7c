//! The markdown report of a results file: one table of times with ratios
//! peer / ours, the updates-seen table, and the targets.

use std::fmt::Write;

use serde_json::Value;

const PEERS: [&str; 3] = ["iceoryx2", "seqlock", "mmap-sync"];

fn size_label(s: u64) -> String {
    match s {
        208 => "208 B".into(),
        4096 => "4 KiB".into(),
        1048576 => "1 MiB".into(),
        s => format!("{s} B"),
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{r:.0}/s")
    }
}

/// The value of `key` in the row of `group` for `lib` and `size`.
fn get(v: &Value, group: &str, lib: &str, size: u64, key: &str) -> Option<f64> {
    v[group]
        .as_array()?
        .iter()
        .find(|r| r["lib"] == lib && r["size"] == size)?[key]
        .as_f64()
}

fn ratio(peer: Option<f64>, ours: Option<f64>) -> String {
    match (peer, ours) {
        (Some(p), Some(o)) if o > 0.0 => format!("{:.2}×", p / o),
        _ => "–".into(),
    }
}

fn cell(x: Option<f64>) -> String {
    x.map_or("–".into(), fmt_ns)
}

/// The report.
pub fn markdown(v: &Value) -> String {
    let m = &v["meta"];
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Code: `{}`. Machine: `nproc` = {}, \"{}\", processes pinned to two CPUs: {}; load average (1, 5, 15 min) {} at the start, {} at the end; {:.0} s{}.\n",
        m["commit"].as_str().unwrap_or("?"),
        m["nproc"],
        m["cpu_model"].as_str().unwrap_or("?"),
        if m["pinned"].as_bool() == Some(true) {
            "yes"
        } else {
            "no"
        },
        m["load_start"].as_str().unwrap_or("?"),
        m["load_end"].as_str().unwrap_or("?"),
        m["seconds"].as_f64().unwrap_or(0.0),
        if m["quick"].as_bool() == Some(true) {
            ", QUICK MODE (not a measurement)"
        } else {
            ""
        },
    );
    let _ = writeln!(
        s,
        "Times (median; latency: one-way = round trip / 2). Ratio = peer / ours: below 1 the peer is faster.\n"
    );
    let _ = writeln!(
        s,
        "| operation | size | raw | ours | iceoryx2 | seqlock | mmap-sync | iceoryx2 / ours | seqlock / ours | mmap-sync / ours |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let sizes = [208u64, 4096, 1048576];
    let mut row =
        |label: &str, group: &str, key: &str, ours_lib: &str, size: u64, raw: Option<f64>| {
            if v[group].is_null() {
                return;
            }
            let ours = get(v, group, ours_lib, size, key);
            let peers: Vec<Option<f64>> =
                PEERS.iter().map(|p| get(v, group, p, size, key)).collect();
            let _ = write!(
                s,
                "| {label} | {} | {} | {} |",
                size_label(size),
                cell(raw),
                cell(ours)
            );
            for p in &peers {
                let _ = write!(s, " {} |", cell(*p));
            }
            for p in &peers {
                let _ = write!(s, " {} |", ratio(*p, ours));
            }
            s.push('\n');
        };
    for size in sizes {
        let raw = get(v, "read", "raw", size, "ns");
        row(
            "read (ours `read()`; iceoryx2 `get()`; mmap-sync `read` + copy out)",
            "read",
            "ns",
            "ours read()",
            size,
            raw,
        );
        row(
            "read (ours `read_into(&mut T)`)",
            "read",
            "ns",
            "ours",
            size,
            raw,
        );
        row(
            "read, floor: 8-byte relaxed atomic copy, no protocol (in the ours column)",
            "read",
            "ns",
            "raw atomic",
            size,
            raw,
        );
    }
    for size in sizes {
        let raw = get(v, "write", "raw", size, "ns");
        row(
            "write (ours `write()`; iceoryx2 `update_with_copy`)",
            "write",
            "ns",
            "ours",
            size,
            raw,
        );
        row(
            "write, floor: 8-byte relaxed atomic copy, no protocol (in the ours column)",
            "write",
            "ns",
            "raw atomic",
            size,
            raw,
        );
    }
    row(
        "read ONE u64 field (ours `read_with` projection; mmap-sync zero-copy)",
        "project",
        "ns",
        "ours",
        1048576,
        None,
    );
    row(
        "open an existing segment + first read",
        "open",
        "ns",
        "ours",
        208,
        None,
    );
    for size in [208u64, 4096] {
        let raw50 = get(v, "latency", "raw", size, "p50");
        let raw99 = get(v, "latency", "raw", size, "p99");
        row(
            "one-way latency p50, spinning reader (raw: atomic ping-pong)",
            "latency",
            "p50",
            "ours",
            size,
            raw50,
        );
        row(
            "one-way latency p99, spinning reader (raw: atomic ping-pong)",
            "latency",
            "p99",
            "ours",
            size,
            raw99,
        );
    }
    if let Some(n) = get(v, "open", "iceoryx2 node", 208, "ns") {
        let _ = writeln!(
            s,
            "\niceoryx2's open row includes creating a node (every process needs one before it opens a service); creating a node alone, measured separately: {}.",
            fmt_ns(n)
        );
    }
    if !v["updates"].is_null() {
        let _ = writeln!(
            s,
            "\nUpdates seen per second by a checking reader in another process under a flat-out writer (every word of every read checked; torn reads in brackets, summed over the runs; median of {} run(s)). Ratio = ours / peer: below 1 the peer's reader sees more.\n",
            m["updates_runs"].as_u64().unwrap_or(1)
        );
        let _ = writeln!(
            s,
            "| size | raw (no protocol) | ours | iceoryx2 | seqlock | mmap-sync | ours / iceoryx2 | ours / seqlock | ours / mmap-sync |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for size in sizes {
            let _ = write!(s, "| {} |", size_label(size));
            let libs = ["raw", "ours", "iceoryx2", "seqlock", "mmap-sync"];
            for lib in libs {
                let seen = get(v, "updates", lib, size, "seen_per_s");
                let torn = get(v, "updates", lib, size, "torn");
                let writes = get(v, "updates", lib, size, "writes_per_s");
                let _ = write!(
                    s,
                    " {} ({}) of {} |",
                    seen.map_or("–".into(), fmt_rate),
                    torn.map_or("–".into(), |t| format!("{t:.0}")),
                    writes.map_or("–".into(), fmt_rate)
                );
            }
            let ours = get(v, "updates", "ours", size, "seen_per_s");
            for p in PEERS {
                let _ = write!(
                    s,
                    " {} |",
                    ratio(ours, get(v, "updates", p, size, "seen_per_s"))
                );
            }
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "\n(\"X (torn) of W\": X distinct values seen per second, W writes per second by the writer.) The share of a CPU the writer / the reader got (median; far below 100 %: the machine's other load took it, and the row says little):\n"
        );
        let _ = writeln!(
            s,
            "| size | raw | ours | iceoryx2 | seqlock | mmap-sync |\n|---|---:|---:|---:|---:|---:|"
        );
        for size in sizes {
            let _ = write!(s, "| {} |", size_label(size));
            for lib in ["raw", "ours", "iceoryx2", "seqlock", "mmap-sync"] {
                let pct = |k| {
                    get(v, "updates", lib, size, k)
                        .map_or("–".into(), |x| format!("{:.0} %", x * 100.0))
                };
                let _ = write!(s, " {} / {} |", pct("writer_cpu"), pct("reader_cpu"));
            }
            s.push('\n');
        }
    }
    s.push_str(&targets(v));
    s.push_str(&crate::stream_report::markdown(v));
    s
}

/// The targets, each `yes`/`no`/`–` (not measured).
fn targets(v: &Value) -> String {
    let mut s = String::from("\nTargets:\n\n| target | met |\n|---|---|\n");
    let mut line = |what: String, ok: Option<bool>| {
        let _ = writeln!(
            s,
            "| {what} | {} |",
            match ok {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            }
        );
    };
    let le = |a: Option<f64>, b: Option<f64>| Some(a? <= b?);
    for size in [208u64, 4096, 1048576] {
        let ours = get(v, "read", "ours read()", size, "ns");
        let ours_into = get(v, "read", "ours", size, "ns");
        for p in PEERS {
            let peer = get(v, "read", p, size, "ns");
            line(
                format!("read {} ≤ {p} (`read()`)", size_label(size)),
                le(ours, peer),
            );
            line(
                format!("read {} ≤ {p} (`read_into`)", size_label(size)),
                le(ours_into, peer),
            );
        }
    }
    for size in [208u64, 4096, 1048576] {
        line(
            format!(
                "no starvation {}: updates seen ≥ iceoryx2's",
                size_label(size)
            ),
            le(
                get(v, "updates", "iceoryx2", size, "seen_per_s"),
                get(v, "updates", "ours", size, "seen_per_s"),
            ),
        );
        line(
            format!("no torn read {} (ours)", size_label(size)),
            get(v, "updates", "ours", size, "torn").map(|t| t == 0.0),
        );
    }
    for size in [208u64, 4096, 1048576] {
        line(
            format!("write {} ≤ iceoryx2 `update_with_copy`", size_label(size)),
            le(
                get(v, "write", "ours", size, "ns"),
                get(v, "write", "iceoryx2", size, "ns"),
            ),
        );
    }
    line(
        "latency p50 4 KiB ≤ iceoryx2".into(),
        le(
            get(v, "latency", "ours", 4096, "p50"),
            get(v, "latency", "iceoryx2", 4096, "p50"),
        ),
    );
    line(
        "latency p50 208 B ≤ 1.2 × raw atomic ping-pong".into(),
        le(
            get(v, "latency", "ours", 208, "p50"),
            get(v, "latency", "raw", 208, "p50").map(|r| r * 1.2),
        ),
    );
    s
}
