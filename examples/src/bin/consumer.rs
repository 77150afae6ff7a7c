//! `consumer [--name NAME] [--count N] [--timeout-secs S]`: receives the
//! events of a `Telemetry` segment's ring in order, counting losses (see
//! `examples::events`). Exits with 1 if an event came out of order.
use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Receive the events of a Telemetry segment's ring")]
struct Cli {
    /// The POSIX segment name.
    #[arg(long, default_value = "Telemetry")]
    name: String,
    /// Stop after this many events received or lost.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Stop after this many seconds without a new event.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
}

fn main() {
    let cli = Cli::parse();
    examples::exit_on_error("consumer", || {
        let seen = examples::events::run_consumer(
            &cli.name,
            cli.count,
            Duration::from_secs(cli.timeout_secs),
        )?;
        if seen.bad > 0 {
            std::process::exit(1);
        }
        Ok(())
    });
}
