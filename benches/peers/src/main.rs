//! `peer-bench`: our runtime side by side with its peers (iceoryx2's
//! blackboard, mmap-sync, a hand-written seqlock) and the raw baselines, on
//! the same payloads with the same checks; and our message rings beside
//! iceoryx2's publish-subscribe and a hand-written ring (`streams`). See
//! `BENCHMARKS.md`, "Peers".
//!
//! ```text
//! benches/peers/run.sh            # full run (a few minutes), table on stdout
//! benches/peers/run.sh --quick    # every row once, briefly (CI)
//! ```
//!
//! The cross-process measurements spawn this same executable with a hidden
//! `--role` argument (the checking reader, or the echoing side of the
//! ping-pong). Results: `target/peer-bench/results.json` under this
//! workspace (`results.quick.json` in quick mode); `--report FILE` prints
//! the markdown table of a saved results file again.

mod libs;
mod measure;
mod payload;
mod report;
mod stream_libs;
mod stream_report;
mod streams;
mod sys;

use std::path::PathBuf;

use clap::Parser;

use crate::sys::Res;

/// Command-line options.
#[derive(Parser, Debug, Clone)]
#[command(about = "Our shared-memory runtime side by side with iceoryx2, mmap-sync and a seqlock")]
pub struct Args {
    /// Run every row briefly, just to prove it works (CI).
    #[arg(long)]
    pub quick: bool,
    /// Where to write the JSON results (default: the workspace's
    /// `target/peer-bench/results[.quick].json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the markdown table of a saved results file and exit.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Only these groups (comma-separated: read, write, updates, latency,
    /// project, open, streams).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Seconds the checking reader runs per row (updates seen).
    #[arg(long, default_value_t = 1.5)]
    pub secs: f64,
    /// Runs of each updates-seen row (libraries interleaved; the median is
    /// reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Round trips per latency row.
    #[arg(long, default_value_t = 50_000)]
    pub samples: u64,
    /// (internal) the role of a spawned process: `reader` or `echo`.
    #[arg(long, hide = true)]
    pub role: Option<String>,
    /// (internal) the library of a spawned process.
    #[arg(long, hide = true, default_value = "")]
    pub lib: String,
    /// (internal) the payload size of a spawned process.
    #[arg(long, hide = true, default_value_t = 0)]
    pub size: usize,
    /// (internal) the segment name of a spawned process.
    #[arg(long, hide = true, default_value = "")]
    pub name: String,
    /// (internal) the CPU a spawned process pins itself to.
    #[arg(long, hide = true)]
    pub cpu: Option<usize>,
}

/// The stack of the measuring threads: the 1 MiB values are copied by
/// value (`read()`, iceoryx2's `get()`), several at a time in unoptimised
/// builds.
const STACK: usize = 256 << 20;

fn main() {
    let args = Args::parse();
    let r = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || run(args))
        .expect("spawn the measuring thread")
        .join();
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("peer-bench: {e}");
            std::process::exit(1);
        }
        Err(_) => std::process::exit(2),
    }
}

fn run(args: Args) -> Res<()> {
    iceoryx2::prelude::set_log_level(iceoryx2::prelude::LogLevel::Error);
    if let Some(role) = args.role.clone() {
        sys::pin(args.cpu);
        let v = match role.strip_prefix("stream-") {
            Some(mode) => streams::child(mode, &args)?,
            None => measure::child(&role, &args)?,
        };
        println!("{v}");
        return Ok(());
    }
    if let Some(path) = &args.report {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        print!("{}", report::markdown(&v));
        return Ok(());
    }
    let results = measure::all(&args)?;
    let path = args.out.clone().unwrap_or_else(|| {
        target_dir().join("peer-bench").join(if args.quick {
            "results.quick.json"
        } else {
            "results.json"
        })
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&results)?)?;
    print!("{}", report::markdown(&results));
    eprintln!("results: {}", path.display());
    // A correctness check, not a timing: our reads are never torn.
    let torn: f64 = ["updates", "latency"]
        .iter()
        .filter_map(|g| results[*g].as_array())
        .flatten()
        .filter(|r| r["lib"] == "ours")
        .filter_map(|r| r["torn"].as_f64())
        .sum();
    if torn > 0.0 {
        return Err(format!("{torn} torn reads of ours").into());
    }
    stream_report::check(&results)?;
    Ok(())
}

/// `CARGO_TARGET_DIR`, else the `target` directory this executable was
/// built in, else `target`.
fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|p| p.file_name().is_some_and(|n| n == "target"))
                .map(ToOwned::to_owned)
        })
        .unwrap_or_else(|| PathBuf::from("target"))
}
