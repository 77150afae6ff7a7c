//! `alphabet [--name NAME]`: creates a 1024-byte segment, writes a..z,
//! spawns a child process that attaches and prints `Read: abc...z`, then
//! removes the segment.
use std::process::Command;

use clap::Parser;
use schemas::Alphabet;
use shm_runtime::{Error, Shared};

#[derive(Parser)]
#[command(about = "Write a..z into a 1024-byte segment and read it from a child process")]
struct Cli {
    #[command(flatten)]
    target: examples::Target,
    /// Internal: run as the child that reads the segment.
    #[arg(long, hide = true)]
    child: bool,
}

fn parent(cli: &Cli) -> Result<(), Error> {
    let opts = cli.target.options();
    let seg: Shared<Alphabet> = opts.clone().create_new().open()?;
    seg.update(|f| {
        for (i, c) in (b'a'..=b'z').enumerate() {
            f.bytes().set(i, c).expect("index in range");
        }
    })?;
    let exe = std::env::current_exe().map_err(|e| io(&seg, e))?;
    let status = Command::new(exe)
        .args(cli.target.to_args())
        .arg("--child")
        .status()
        .map_err(|e| io(&seg, e));
    seg.remove()?;
    let status = status?;
    if !status.success() {
        eprintln!("alphabet: the child process failed ({status})");
        std::process::exit(1);
    }
    Ok(())
}

fn io(seg: &Shared<Alphabet>, source: std::io::Error) -> Error {
    Error::Io {
        name: seg.name().to_owned(),
        op: "spawn the child process",
        source,
    }
}

fn child(cli: &Cli) -> Result<(), Error> {
    let seg: Shared<Alphabet, _> = cli.target.options().open_read_only()?;
    let v = seg.read()?;
    let end = v
        .bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(v.bytes.len());
    println!("Read: {}", String::from_utf8_lossy(&v.bytes[..end]));
    Ok(())
}

fn main() {
    let mut cli = Cli::parse();
    if cli.target.name == examples::DEFAULT_NAME {
        cli.target.name = format!("Alphabet-{}", std::process::id());
    }
    examples::exit_on_error("alphabet", || {
        if cli.child { child(&cli) } else { parent(&cli) }
    });
}
