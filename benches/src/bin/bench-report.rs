//! Prints the ratio table of the latest benchmark run (see `BENCHMARKS.md`):
//! `cargo run -p benches --bin bench-report [TARGET_DIR]`.
//!
//! It reads criterion's results under `TARGET_DIR/criterion` and the
//! harness's `TARGET_DIR/shm-bench/harness.json` (default: this workspace's
//! `target`), prints the table as Markdown and writes it to
//! `TARGET_DIR/shm-bench/report.md`. Pairs not measured show `–`.

#[cfg(unix)]
fn main() {
    use benches::report;
    let target = std::env::args_os()
        .nth(1)
        .map_or_else(report::default_target, Into::into);
    let rows = report::rows(&target);
    let (cpus, model) = benches::machine();
    let mut out = format!("Machine: {cpus} CPUs, {model}\n\n");
    out.push_str(&report::markdown(&rows));
    out.push_str("\nCross-process latency (pair 4), one way = round trip / 2:\n\n");
    out.push_str(&report::latency_markdown(&target));
    print!("{out}");
    let file = target.join("shm-bench").join("report.md");
    if std::fs::create_dir_all(file.parent().unwrap_or(&target)).is_ok() {
        let _ = std::fs::write(&file, &out);
    }
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the benchmarks need POSIX shared memory");
}
