//! `sensor write|read|show --schema v1|v2|v3|incompatible [--name NAME]`:
//! programs built with different versions of the `Sensor` schema sharing
//! one segment (see `examples::sensor` and the README, "Schema evolution").
use clap::Parser;

#[derive(Parser)]
#[command(about = "Write, read or show a Sensor segment as one version of the schema")]
struct Cli {
    #[command(flatten)]
    args: examples::sensor::SensorArgs,
}

fn main() {
    let cli = Cli::parse();
    examples::exit_on_error("sensor", || examples::sensor::run_sensor(&cli.args));
}
