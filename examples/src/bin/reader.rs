//! `reader [--name NAME]`: opens the existing segment and prints its values.
use clap::Parser;

#[derive(Parser)]
#[command(about = "Open an existing MySharedData segment read-only and print it")]
struct Cli {
    #[command(flatten)]
    target: examples::Target,
}

fn main() {
    let cli = Cli::parse();
    examples::exit_on_error("reader", || examples::run_reader(&cli.target));
}
