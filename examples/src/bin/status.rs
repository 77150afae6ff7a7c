//! `status [--backend posix|sysv|windows|file] [--key K | --name N] [--hold]`:
//! creates a segment, attaches it a second time (read-only), prints its
//! status one item per line, then removes it.
//!
//! The items are `size`, `number_attached`, `creator_process`,
//! `last_op_process`, `last_attach_time`, `last_detach_time`,
//! `last_change_time`, `creator_user`, `creator_group`, `owner_user`,
//! `owner_group`, `mode` and `key`; an item the backend cannot know is
//! printed as `unknown (why)`. Then come the facts of the segment's header.
//!
//! With `--hold` it waits for a line on stdin before removing the segment,
//! so that `ipcs -m` (System V) or `ls -l /dev/shm` (POSIX) can be compared
//! with what it printed.

use std::io::{BufRead, Write};

use clap::{Parser, ValueEnum};
use shm_runtime::{Error, Options, ReadOnly, Shared, SharedLayout};

/// What the example puts in its segment: 1 KiB, like the keyed-segment
/// example.
#[derive(SharedLayout)]
#[repr(C)]
struct StatusDemo {
    data: [u8; 1024],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// A POSIX shared-memory object (`shm_open`).
    Posix,
    /// A System V segment (`shmget`), identified by `--key`.
    Sysv,
    /// A Win32 named file mapping (Windows only).
    Windows,
    /// A mapping over the regular file at `--name`.
    File,
}

#[derive(Parser)]
#[command(about = "Create a segment, attach it, print its status item by item, remove it")]
struct Cli {
    /// Kind of segment.
    #[arg(long, value_enum, default_value_t = if cfg!(windows) { Backend::Windows } else { Backend::Posix })]
    backend: Backend,
    /// System V key (default 10).
    #[arg(long, conflicts_with = "name")]
    key: Option<i32>,
    /// Segment name (POSIX, Win32) or file path (file); default `StatusDemo`.
    #[arg(long)]
    name: Option<String>,
    /// Mode of the new segment, in octal.
    #[arg(long, default_value = "600", value_parser = parse_octal)]
    mode: u32,
    /// Wait for a line on stdin before removing the segment.
    #[arg(long)]
    hold: bool,
}

fn parse_octal(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|e| format!("not an octal mode: {e}"))
}

fn options(cli: &Cli) -> Result<Options, String> {
    let name = cli.name.clone().unwrap_or_else(|| "StatusDemo".into());
    if cli.key.is_some() && cli.backend != Backend::Sysv {
        return Err("--key is for --backend sysv; the other backends take --name".into());
    }
    Ok(match cli.backend {
        Backend::Posix => Options::posix(&name),
        Backend::Sysv => {
            if cli.name.is_some() {
                return Err("--backend sysv takes --key, not --name".into());
            }
            Options::sysv(cli.key.unwrap_or(10))
        }
        Backend::File => Options::file(name),
        Backend::Windows if cfg!(windows) => Options::windows(&name),
        Backend::Windows => return Err("--backend windows works on Windows only".into()),
    })
}

fn run(opts: &Options, cli: &Cli) -> Result<(), Error> {
    let created: Shared<StatusDemo> = opts.clone().create_new().mode(cli.mode).open()?;
    let result = attach_and_print(opts, cli);
    let removed = opts.remove();
    drop(created);
    result.and(removed)
}

fn attach_and_print(opts: &Options, cli: &Cli) -> Result<(), Error> {
    let attached: Shared<StatusDemo, ReadOnly> = opts.open_read_only()?;
    println!("{}", attached.status()?);
    if cli.hold {
        println!("holding: press Enter to remove the segment");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let opts = match options(&cli) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("status: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&opts, &cli) {
        eprintln!("status: {e}");
        std::process::exit(1);
    }
}
