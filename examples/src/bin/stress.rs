//! `stress`: checksummed stress runs and kill matrices of the message
//! rings and queues, with real processes (see `examples::stress`).
//! `stress all` is what `.ci/stress.sh` runs (a release build); `stress
//! all --quick` takes a second or so.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[cfg_attr(not(unix), allow(dead_code))]
#[command(about = "Stress the message rings and queues across processes, and kill them")]
struct Cli {
    /// The prefix of the segments' names (default: `stress-PID`).
    #[arg(long)]
    prefix: Option<String>,
    /// The seed of the random kill points (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    #[command(subcommand)]
    run: Run,
}

#[derive(Subcommand)]
#[cfg_attr(not(unix), allow(dead_code))]
enum Run {
    /// A producer and a consumer process through a ring.
    Ring {
        /// Messages to publish.
        #[arg(long, default_value_t = 10_000_000)]
        messages: u64,
        /// Message size: 64 or 4096 bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// A producer and a consumer process through a queue.
    Queue {
        /// Messages to send.
        #[arg(long, default_value_t = 10_000_000)]
        messages: u64,
        /// Message size: 64 or 4096 bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// Ring producers SIGKILLed at random instants, one consumer throughout.
    RingKill {
        /// Producers to kill.
        #[arg(long, default_value_t = 200)]
        kills: u64,
        /// Message size: 64 or 4096 bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// Queue producers SIGKILLed at random instants, one consumer throughout.
    QueueKill {
        /// Producers to kill.
        #[arg(long, default_value_t = 200)]
        kills: u64,
        /// Message size: 64 or 4096 bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// Queue consumers SIGKILLed at random instants, one producer throughout.
    ConsumerKill {
        /// `ack` (peek, record, ack: at least once) or `recv` (try_recv,
        /// record: at most once).
        #[arg(long, default_value = "ack")]
        mode: String,
        /// Consumers to kill.
        #[arg(long, default_value_t = 50)]
        kills: u64,
        /// Messages to send.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
    },
    /// All of the above (10^7 messages of 64 B, 10^6 of 4 KiB each way,
    /// 200 + 200 producer kills at 64 B and 100 + 100 at 4 KiB, 100 + 100
    /// consumer kills).
    All {
        /// A hundredth of the messages and a tenth of the kills.
        #[arg(long)]
        quick: bool,
    },
}

#[cfg(unix)]
fn main() {
    use examples::stress::{RoleArgs, run_role, runs};

    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__role") {
        let Some(a) = RoleArgs::parse(&args[2..]) else {
            eprintln!("stress: bad role arguments {:?}", &args[2..]);
            std::process::exit(2);
        };
        if let Err(e) = run_role(&a) {
            eprintln!("stress {}: error: {e}", a.role);
            std::process::exit(1);
        }
        return;
    }
    let cli = Cli::parse();
    let cfg = runs::Config {
        exe: std::env::current_exe().unwrap_or_else(|e| {
            eprintln!("stress: cannot find myself: {e}");
            std::process::exit(1)
        }),
        prefix: cli
            .prefix
            .unwrap_or_else(|| format!("stress-{}", std::process::id())),
        seed: cli.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        }),
    };
    println!("seed {}", cfg.seed);
    type Job = Box<dyn Fn(&runs::Config) -> Result<String, String>>;
    let jobs: Vec<Job> = match cli.run {
        Run::Ring { messages, size } => {
            vec![Box::new(move |c| runs::stream(c, false, size, messages))]
        }
        Run::Queue { messages, size } => {
            vec![Box::new(move |c| runs::stream(c, true, size, messages))]
        }
        Run::RingKill { kills, size } => vec![Box::new(move |c| runs::ring_kill(c, size, kills))],
        Run::QueueKill { kills, size } => vec![Box::new(move |c| runs::queue_kill(c, size, kills))],
        Run::ConsumerKill {
            mode,
            kills,
            messages,
        } => {
            let ack = match mode.as_str() {
                "ack" => true,
                "recv" => false,
                m => {
                    eprintln!("stress: --mode is ack or recv, not {m:?}");
                    std::process::exit(2);
                }
            };
            vec![Box::new(move |c| {
                runs::consumer_kill(c, ack, kills, messages)
            })]
        }
        Run::All { quick } => {
            let (m, k) = if quick { (100, 10) } else { (1, 1) };
            vec![
                Box::new(move |c| runs::stream(c, false, 64, 10_000_000 / m)),
                Box::new(move |c| runs::stream(c, true, 64, 10_000_000 / m)),
                Box::new(move |c| runs::stream(c, false, 4096, 1_000_000 / m)),
                Box::new(move |c| runs::stream(c, true, 4096, 1_000_000 / m)),
                Box::new(move |c| runs::ring_kill(c, 64, 200 / k)),
                Box::new(move |c| runs::queue_kill(c, 64, 200 / k)),
                Box::new(move |c| runs::ring_kill(c, 4096, 100 / k)),
                Box::new(move |c| runs::queue_kill(c, 4096, 100 / k)),
                Box::new(move |c| runs::consumer_kill(c, true, 100 / k, 400_000 / m.min(10))),
                Box::new(move |c| runs::consumer_kill(c, false, 100 / k, 400_000 / m.min(10))),
            ]
        }
    };
    let start = std::time::Instant::now();
    for job in jobs {
        match job(&cfg) {
            Ok(summary) => println!("ok: {summary}"),
            Err(e) => {
                eprintln!("stress: FAILED: {e} (seed {})", cfg.seed);
                std::process::exit(1);
            }
        }
    }
    println!(
        "stress: all passed in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[cfg(not(unix))]
fn main() {
    let _ = Cli::parse();
    eprintln!("stress: POSIX only (SIGKILL and POSIX segments)");
    std::process::exit(2);
}
