//! The `sensor` example: writers and readers of the versions of the
//! `Sensor` schema (`schemas::evolution`), for trying out (and testing) how
//! programs of different versions share one segment.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use schemas::{SensorIncompatible, SensorV1, SensorV2, SensorV3};
use shm_runtime::{Compat, Error, Options, SharedLayout};

/// A version of the schema, as chosen on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Version {
    /// `SensorV1`.
    V1,
    /// `SensorV2`.
    V2,
    /// `SensorV3`.
    V3,
    /// `SensorIncompatible` (`seq` narrowed, no `extends`).
    Incompatible,
}

/// What the example does with a version of the schema.
pub trait Sample: SharedLayout + Copy + std::fmt::Debug {
    /// The snapshot this program writes as its `seq`-th write.
    fn sample(seq: u64) -> Self;
    /// Whether every checksum matches.
    fn is_intact(&self) -> bool;
    /// The schema version of the program that wrote the oldest fields.
    fn writer_version(&self) -> u32;
    /// `name=value` lines.
    fn lines(&self) -> Vec<String>;
}

impl Sample for SensorV1 {
    fn sample(seq: u64) -> Self {
        SensorV1::sample(seq, 1)
    }
    fn is_intact(&self) -> bool {
        SensorV1::is_intact(self)
    }
    fn writer_version(&self) -> u32 {
        self.writer_version
    }
    fn lines(&self) -> Vec<String> {
        vec![
            format!("seq={}", self.seq),
            format!("writer_version={}", self.writer_version),
            format!("temperature={}", self.temperature),
            format!("intact={}", self.is_intact()),
        ]
    }
}

impl Sample for SensorV2 {
    fn sample(seq: u64) -> Self {
        SensorV2::sample(seq, 2)
    }
    fn is_intact(&self) -> bool {
        SensorV2::is_intact(self)
    }
    fn writer_version(&self) -> u32 {
        self.writer_version
    }
    fn lines(&self) -> Vec<String> {
        let mut l = self.v1().lines();
        l.pop();
        l.push(format!("humidity={}", self.humidity));
        l.push(format!("pressure={}", self.pressure));
        l.push(format!("intact={}", self.is_intact()));
        l
    }
}

impl Sample for SensorV3 {
    fn sample(seq: u64) -> Self {
        SensorV3::sample(seq)
    }
    fn is_intact(&self) -> bool {
        SensorV3::is_intact(self)
    }
    fn writer_version(&self) -> u32 {
        self.writer_version
    }
    fn lines(&self) -> Vec<String> {
        let mut l = self.v2().lines();
        l.pop();
        l.push(format!("status={}", self.status));
        l.push(format!("intact={}", self.is_intact()));
        l
    }
}

impl Sample for SensorIncompatible {
    fn sample(seq: u64) -> Self {
        SensorIncompatible {
            seq: seq as u32,
            writer_version: 4,
            temperature: 0.0,
        }
    }
    fn is_intact(&self) -> bool {
        true
    }
    fn writer_version(&self) -> u32 {
        self.writer_version
    }
    fn lines(&self) -> Vec<String> {
        vec![format!("seq={}", self.seq)]
    }
}

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Open read-write (create with `--create`, upgrade with `--upgrade`),
    /// print `ready compat=...`, write snapshots until a line (or end of
    /// input) on stdin, or `--writes` of them (then print `done N`) and
    /// then wait for the line; print `wrote N`.
    Write,
    /// Open read-only, print `ready compat=...`, read snapshots and check
    /// every one until a line (or end of input) on stdin; print
    /// `checked N snapshots: by v1 A, by v2 B, by v3 C`. Exits 1 at the
    /// first snapshot whose checksums do not match.
    Read,
    /// Open (read-only, or read-write with `--rw`), print `compat=...` and
    /// the fields as `name=value` lines.
    Show,
}

/// Arguments of `sensor`.
#[derive(Clone, Debug, clap::Args)]
pub struct SensorArgs {
    /// What to do.
    #[arg(value_enum)]
    pub role: Role,
    /// The version of the schema this process is built with.
    #[arg(long, value_enum, default_value_t = Version::V1)]
    pub schema: Version,
    /// Segment name (POSIX).
    #[arg(long, default_value = "Sensor")]
    pub name: String,
    /// Create the segment (it must not exist).
    #[arg(long)]
    pub create: bool,
    /// Upgrade an older segment in place (`Options::upgrade(true)`).
    #[arg(long)]
    pub upgrade: bool,
    /// `show` opens read-write.
    #[arg(long)]
    pub rw: bool,
    /// `write` stops after this many writes (then waits for stdin).
    #[arg(long)]
    pub writes: Option<u64>,
}

/// A flag set when a line (or the end of input) arrives on stdin.
fn stdin_signal() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        f.store(true, Ordering::Relaxed);
    });
    flag
}

fn compat_text(c: Compat) -> String {
    match c {
        Compat::Exact => "exact".into(),
        Compat::Prefix { segment_version } => format!("prefix-of-v{segment_version}"),
        Compat::Upgraded { from_version } => format!("upgraded-from-v{from_version}"),
        other => format!("{other:?}"),
    }
}

fn run<T: Sample>(args: &SensorArgs) -> Result<(), Error> {
    let mut opts = Options::posix(&args.name).upgrade(args.upgrade);
    if args.create {
        opts = opts.create_new();
    }
    match args.role {
        Role::Write => {
            let seg = opts.open_with(&T::sample(0))?;
            println!("ready compat={}", compat_text(seg.compat()));
            let stop = stdin_signal();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) && args.writes.is_none_or(|w| n < w) {
                n += 1;
                seg.write(&T::sample(n))?;
                if n.is_multiple_of(16) {
                    std::thread::yield_now();
                }
            }
            if args.writes == Some(n) {
                // Done writing: let another writer have the segment.
                seg.release_writer()?;
                println!("done {n}");
            }
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            println!("wrote {n}");
        }
        Role::Read => {
            let seg = opts.open_read_only::<T>()?;
            println!("ready compat={}", compat_text(seg.compat()));
            let stop = stdin_signal();
            let mut by = [0u64; 5];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let v = seg.read()?;
                if !v.is_intact() {
                    eprintln!("sensor: torn snapshot after {n} good ones: {v:?}");
                    std::process::exit(1);
                }
                n += 1;
                by[(v.writer_version() as usize).min(4)] += 1;
            }
            println!(
                "checked {n} snapshots: by v1 {}, by v2 {}, by v3 {}",
                by[1], by[2], by[3]
            );
        }
        Role::Show => {
            let (compat, v) = if args.rw {
                // Read-write, but without claiming write access.
                let seg = opts.claim_writer(false).open::<T>()?;
                (seg.compat(), seg.read()?)
            } else {
                let seg = opts.open_read_only::<T>()?;
                (seg.compat(), seg.read()?)
            };
            println!("compat={}", compat_text(compat));
            for line in v.lines() {
                println!("{line}");
            }
        }
    }
    Ok(())
}

/// Runs the `sensor` example with the schema version `args.schema`.
pub fn run_sensor(args: &SensorArgs) -> Result<(), Error> {
    match args.schema {
        Version::V1 => run::<SensorV1>(args),
        Version::V2 => run::<SensorV2>(args),
        Version::V3 => run::<SensorV3>(args),
        Version::Incompatible => run::<SensorIncompatible>(args),
    }
}
