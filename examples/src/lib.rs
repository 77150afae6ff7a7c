//! The logic of the example binaries, shared so that `demo` can run the
//! writer and the reader as real child processes of itself.

use std::io::BufRead;
use std::time::Duration;

pub mod events;
pub mod sensor;
#[cfg(unix)]
pub mod stress;

use schemas::MySharedData;
use shm_runtime::{Error, Options, ReadOnly, ReadWrite, Shared, Utf16};

/// Default segment name of the writer/reader pair.
pub const DEFAULT_NAME: &str = "MyShare";

/// Which kind of segment to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// A POSIX shared-memory object (`/dev/shm` on Linux).
    Posix,
    /// A System V segment, identified by `--key`.
    Sysv,
    /// A mapping over the regular file at path `--name`.
    File,
    /// A Win32 named file mapping backed by the paging file (Windows only):
    /// it goes when the last process that has it open closes it.
    Windows,
}

impl Backend {
    /// This operating system's usual kind: Win32 on Windows, POSIX elsewhere.
    pub const DEFAULT: Backend = if cfg!(windows) {
        Backend::Windows
    } else {
        Backend::Posix
    };
}

/// Default System V key (`--backend sysv` without `--key`).
pub const DEFAULT_KEY: i32 = 10;

/// Where the segment is: backend plus name or key.
#[derive(Clone, Debug, clap::Args)]
pub struct Target {
    /// Segment name (or file path, with `--backend file`).
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
    /// Kind of segment.
    #[arg(long, value_enum, default_value_t = Backend::DEFAULT)]
    pub backend: Backend,
    /// System V key, with `--backend sysv` (default 10).
    #[arg(long)]
    pub key: Option<i32>,
}

impl Target {
    /// The command-line arguments that select this segment again (for child
    /// processes).
    pub fn to_args(&self) -> Vec<String> {
        use clap::ValueEnum;
        let backend = self
            .backend
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        let mut args = vec![
            "--name".into(),
            self.name.clone(),
            "--backend".into(),
            backend,
        ];
        if let Some(key) = self.key {
            args.extend(["--key".into(), key.to_string()]);
        }
        args
    }

    /// The options that name this segment.
    pub fn options(&self) -> Options {
        match self.backend {
            Backend::Posix => Options::posix(&self.name),
            Backend::Sysv => Options::sysv(self.key.unwrap_or(DEFAULT_KEY)),
            Backend::File => Options::file(&self.name),
            Backend::Windows => Options::windows(&self.name),
        }
    }
}

/// Arguments of `writer`.
#[derive(Clone, Debug, clap::Args)]
pub struct WriterArgs {
    /// The segment.
    #[command(flatten)]
    pub target: Target,
    /// Wait this many seconds instead of for a line on stdin.
    #[arg(long)]
    pub hold_secs: Option<u64>,
    /// Leave the segment in place on exit.
    #[arg(long)]
    pub keep: bool,
    /// Remove a segment left under the name by an earlier run first.
    #[arg(long)]
    pub replace: bool,
}

/// Prints the three lines both examples print.
pub fn print_values(v: &MySharedData) {
    println!("Value is {}", v.value);
    // A UTF-16 code unit: its character, or `\u{d800}` for a lone
    // surrogate.
    println!("Letter is {}", v.letter);
    println!("11th Number is {}", v.numbers[10]);
}

/// Creates the segment, writes value 123, letter 'X' and `numbers[10] = 1.45`,
/// waits, prints what is in memory, and removes it unless `keep`.
pub fn run_writer(args: &WriterArgs) -> Result<(), Error> {
    let opts = args.target.options();
    if args.replace {
        match opts.remove() {
            Ok(()) | Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let seg: Shared<MySharedData, ReadWrite> = opts.clone().create_new().open()?;
    let result = write_and_wait(&seg, args);
    if !args.keep {
        match seg.remove() {
            // Another instance (`--replace`) removed ours and made its
            // own segment under the name: that one is not ours to remove.
            Ok(()) | Err(Error::Replaced { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    result
}

fn write_and_wait(seg: &Shared<MySharedData, ReadWrite>, args: &WriterArgs) -> Result<(), Error> {
    seg.update(|f| {
        f.value().set(123);
        f.letter()
            .set(Utf16::from_char('X').expect("'X' is one UTF-16 unit"));
        f.numbers().set(10, 1.45).expect("index in range");
    })?;
    // Done writing: give write access up while waiting, so that another
    // process may write meanwhile (one writer at a time).
    seg.release_writer()?;
    println!("Written to shared memory");
    match args.hold_secs {
        Some(s) => std::thread::sleep(Duration::from_secs(s)),
        None => {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
        }
    }
    print_values(&seg.read()?);
    Ok(())
}

/// Opens the existing segment read-only and prints its values.
pub fn run_reader(target: &Target) -> Result<(), Error> {
    let seg: Shared<MySharedData, ReadOnly> = target.options().open_read_only()?;
    print_values(&seg.read()?);
    Ok(())
}

/// Runs `f`; on error prints one line to stderr and exits with status 1.
pub fn exit_on_error(program: &str, f: impl FnOnce() -> Result<(), Error>) {
    if let Err(e) = f() {
        eprintln!("{program}: error: {e}");
        std::process::exit(1);
    }
}
