//! `writer [--name NAME] [--hold-secs N] [--keep] [--replace]`: creates the
//! segment, writes 123, 'X' and 1.45, waits, prints, removes it.
use clap::Parser;

#[derive(Parser)]
#[command(about = "Create a MySharedData segment, write to it, wait, print it")]
struct Cli {
    #[command(flatten)]
    args: examples::WriterArgs,
}

fn main() {
    let cli = Cli::parse();
    examples::exit_on_error("writer", || examples::run_writer(&cli.args));
}
