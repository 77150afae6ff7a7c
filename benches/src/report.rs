//! The ratio table: every pair's "ours" and "baseline" figures from the
//! same run, their ratio, the target and whether it is met.
//!
//! Inputs: criterion's `target/criterion/<group>/<id>/new/estimates.json`
//! (the median of each benchmark) and the harness's
//! `target/shm-bench/harness.json`. Whatever is missing (a benchmark not run,
//! or run in quick mode, which saves nothing) shows as `–`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One measured figure, in nanoseconds (or bytes, for allocation rows).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figure(pub f64);

/// How a row's ratio is judged.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// ratio ≤ the bound.
    AtMost(f64),
    /// Measured for information; the issue sets no target.
    None,
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// The pair number (1-6).
    pub pair: u8,
    /// What is compared.
    pub what: String,
    /// Our figure.
    pub ours: Option<f64>,
    /// The baseline's figure.
    pub base: Option<f64>,
    /// The unit both are in.
    pub unit: &'static str,
    /// The target for `ours / base`.
    pub target: Target,
}

impl Row {
    /// `ours / base`, if both were measured.
    pub fn ratio(&self) -> Option<f64> {
        match (self.ours, self.base) {
            (Some(o), Some(b)) if b > 0.0 => Some(o / b),
            _ => None,
        }
    }

    /// Whether the target is met: `Some(true/false)`, or `None` if not
    /// measured or there is no target.
    pub fn met(&self) -> Option<bool> {
        match (self.target, self.ratio()) {
            (Target::AtMost(t), Some(r)) => Some(r <= t),
            _ => None,
        }
    }
}

/// The median of criterion benchmark `id` (`group/function[/parameter]`)
/// under `criterion_dir`, in nanoseconds.
pub fn criterion_median(criterion_dir: &Path, id: &str) -> Option<f64> {
    let path = criterion_dir.join(id).join("new").join("estimates.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v.get("median")?.get("point_estimate")?.as_f64()
}

/// A number at `path` (keys separated by `/`) in the harness's JSON.
pub fn harness_value(harness: &Value, path: &str) -> Option<f64> {
    path.split('/')
        .try_fold(harness, |v, k| v.get(k))
        .and_then(Value::as_f64)
}

/// The sizes of pairs 2 and 3, as named in the benchmark ids.
pub const SIZES: [&str; 4] = ["64B", "208B", "4KiB", "1MiB"];

/// Reader counts of pair 5.
pub const READERS: [usize; 3] = [1, 2, 4];

/// Builds every row from the results under `target` (the cargo target
/// directory).
pub fn rows(target: &Path) -> Vec<Row> {
    let c = target.join("criterion");
    let h: Value = std::fs::read_to_string(target.join("shm-bench").join("harness.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let m = |id: &str| criterion_median(&c, id);
    let mut rows = Vec::new();
    let mut row = |pair, what: String, ours, base, unit, target| {
        rows.push(Row {
            pair,
            what,
            ours,
            base,
            unit,
            target,
        })
    };

    for (op, what) in [("get", "field get"), ("set", "field set")] {
        row(
            1,
            format!("{what} (`fields().value().{op}`) vs volatile {op}"),
            m(&format!("p1_field/{op}_ours")),
            m(&format!("p1_field/{op}_volatile")),
            "ns",
            Target::AtMost(1.05),
        );
    }
    row(
        1,
        "field set inside `update()` (a whole write: copy out, set, two copies in) vs volatile write".into(),
        m("p1_field/set_update"),
        m("p1_field/set_volatile"),
        "ns",
        Target::None,
    );
    for size in SIZES {
        let target = if size == "1MiB" {
            // ≥ 80 % of memcpy's bandwidth is a time ratio of ≤ 1.25.
            Target::AtMost(1.25)
        } else {
            Target::AtMost(1.5)
        };
        row(
            2,
            format!("`read()` {size} vs memcpy"),
            m(&format!("p2_read/ours/{size}")),
            m(&format!("p2_read/memcpy/{size}")),
            "ns",
            target,
        );
    }
    for size in SIZES {
        row(
            3,
            format!("`write()` {size} (two copies: primary + backup) vs one memcpy"),
            m(&format!("p3_write/ours/{size}")),
            m(&format!("p3_write/memcpy/{size}")),
            "ns",
            Target::None,
        );
    }
    row(
        4,
        "one-way latency p50, spinning `read()` vs raw atomic ping-pong".into(),
        harness_value(&h, "latency/ours_spin/p50_ns"),
        harness_value(&h, "latency/raw_spin/p50_ns"),
        "ns",
        Target::AtMost(1.5),
    );
    row(
        4,
        "one-way latency p50, spinning on `version()` then `read()` vs raw atomic ping-pong".into(),
        harness_value(&h, "latency/ours_seq/p50_ns"),
        harness_value(&h, "latency/raw_spin/p50_ns"),
        "ns",
        Target::AtMost(1.5),
    );
    row(
        4,
        "one-way latency p50, waiting reader (`wait_for_change`) vs raw futex ping-pong".into(),
        harness_value(&h, "latency/ours_wait/p50_ns"),
        harness_value(&h, "latency/raw_futex/p50_ns"),
        "ns",
        Target::None,
    );
    for n in READERS.into_iter().skip(1) {
        row(
            5,
            format!("CPU time per `read()` per reader, {n} readers vs 1 (a writer writing)"),
            m(&format!("p5_scaling/ours_cpu/{n}")),
            m("p5_scaling/ours_cpu/1"),
            "ns",
            Target::AtMost(1.25),
        );
    }
    for n in READERS.into_iter().skip(1) {
        row(
            5,
            format!("wall time per `read()` per reader (1 / reads/s), {n} readers vs 1"),
            m(&format!("p5_scaling/ours_wall/{n}")),
            m("p5_scaling/ours_wall/1"),
            "ns",
            Target::None,
        );
    }
    for n in READERS {
        row(
            5,
            format!("CPU time per read, `read()` vs RwLock-guarded copy, {n} readers"),
            m(&format!("p5_scaling/ours_cpu/{n}")),
            m(&format!("p5_scaling/rwlock_cpu/{n}")),
            "ns",
            Target::None,
        );
    }
    row(
        6,
        "create + initialise (208 B schema) vs shm_open+ftruncate+mmap".into(),
        m("p6_open/create_ours_208B"),
        m("p6_open/create_raw_208B"),
        "ns",
        Target::AtMost(1.3),
    );
    row(
        6,
        "open + validate (208 B schema) vs shm_open+fstat+mmap".into(),
        m("p6_open/open_ours_208B"),
        m("p6_open/open_raw_208B"),
        "ns",
        Target::AtMost(1.3),
    );
    row(
        6,
        "create 1 GiB vs create 4 KiB (ours)".into(),
        m("p6_open/create_ours_1GiB"),
        m("p6_open/create_ours_4KiB"),
        "ns",
        Target::AtMost(3.0),
    );
    row(
        6,
        "memory allocated by creating 1 GiB vs 4 KiB (st_blocks)".into(),
        harness_value(&h, "create_1gib/allocated_bytes"),
        harness_value(&h, "create_4kib/allocated_bytes"),
        "B",
        Target::AtMost(2.0),
    );
    row(
        6,
        "minor faults of creating 1 GiB vs 4 KiB".into(),
        harness_value(&h, "create_1gib/minor_faults"),
        harness_value(&h, "create_4kib/minor_faults"),
        "",
        Target::AtMost(2.0),
    );
    rows
}

fn fmt_num(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "–".into(),
        Some(v) if unit == "ns" && v >= 1e6 => format!("{:.2} ms", v / 1e6),
        Some(v) if unit == "ns" && v >= 1e3 => format!("{:.2} µs", v / 1e3),
        Some(v) if unit == "ns" => format!("{v:.2} ns"),
        Some(v) if unit == "B" && v >= 1024.0 * 1024.0 => {
            format!("{:.1} MiB", v / 1024.0 / 1024.0)
        }
        Some(v) if unit == "B" && v >= 1024.0 => format!("{:.1} KiB", v / 1024.0),
        Some(v) if unit.is_empty() => format!("{v:.0}"),
        Some(v) => format!("{v:.0} {unit}"),
    }
}

/// The table as Markdown, as `BENCHMARKS.md` carries it.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("| # | comparison | ours | baseline | ratio | target | met |\n");
    s.push_str("|---|---|---:|---:|---:|---|---|\n");
    for r in rows {
        let target = match r.target {
            Target::AtMost(t) => format!("≤ {t}×"),
            Target::None => "–".into(),
        };
        let met = match r.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        let ratio = r.ratio().map_or("–".into(), |x| format!("{x:.2}×"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.pair,
            r.what,
            fmt_num(r.ours, r.unit),
            fmt_num(r.base, r.unit),
            ratio,
            target,
            met
        );
    }
    s
}

/// The harness's latency percentiles as a Markdown table.
pub fn latency_markdown(target: &Path) -> String {
    let h: Value = std::fs::read_to_string(target.join("shm-bench").join("harness.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let mut s = String::new();
    s.push_str("| variant | samples | p50 | p99 | p99.9 | p50 ratio |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|\n");
    let Some(lat) = h.get("latency").and_then(Value::as_object) else {
        return s;
    };
    for (name, v) in lat {
        let g = |k: &str| v.get(k).and_then(Value::as_f64);
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} |",
            fmt_num(g("samples"), ""),
            fmt_num(g("p50_ns"), "ns"),
            fmt_num(g("p99_ns"), "ns"),
            fmt_num(g("p999_ns"), "ns"),
            v.get("baseline")
                .and_then(Value::as_str)
                .and_then(|b| Some(g("p50_ns")? / lat.get(b)?.get("p50_ns")?.as_f64()?))
                .map_or("–".into(), |r| format!(
                    "{r:.2}× {}",
                    v["baseline"].as_str().unwrap_or_default()
                )),
        );
    }
    s
}

/// The default target directory for the report binary.
pub fn default_target() -> PathBuf {
    crate::target_dir()
}
