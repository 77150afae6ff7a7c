//! `producer [--name NAME] [--count N] [--wait]`: publishes N events into
//! the ring of a `Telemetry` segment (see `examples::events`).
use clap::Parser;

#[derive(Parser)]
#[command(about = "Publish events into the ring of a Telemetry segment")]
struct Cli {
    /// The POSIX segment name.
    #[arg(long, default_value = "Telemetry")]
    name: String,
    /// How many events to publish.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Wait for a line on standard input before publishing.
    #[arg(long)]
    wait: bool,
}

fn main() {
    let cli = Cli::parse();
    examples::exit_on_error("producer", || {
        examples::events::run_producer(&cli.name, cli.count, cli.wait)
    });
}
