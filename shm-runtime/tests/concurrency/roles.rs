//! The child roles of this test binary (see [`run`]), and what they print.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use schemas::Alphabet;
use shm_runtime::{Access, Error, Options, Shared, TakeOver};

use crate::snapshot::{verify, write_next};

/// Environment variable that selects a child role: `role:name:arg`.
pub const ROLE_ENV: &str = "SHM_CONCURRENCY_CHILD";

/// How a child prints a take-over report.
pub fn show(t: Option<TakeOver>) -> String {
    match t {
        None => "none".into(),
        Some(t) => format!(
            "prev:{},complete:{},version:{}",
            t.previous_pid.map_or("none".into(), |p| p.to_string()),
            t.last_write_complete,
            t.version
        ),
    }
}

/// A flag set when stdin closes (the test's signal to stop; also when the
/// test process dies).
pub fn stdin_closed() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        f.store(true, Ordering::Relaxed);
    });
    flag
}

/// Counts of a checking reader.
#[derive(Default)]
struct Checked {
    reads: u64,
    torn: u64,
    backwards: u64,
    mismatched: u64,
    errors: u64,
    versions: u64,
    first: Option<u64>,
    last: u64,
    problem: Option<String>,
}

impl Checked {
    /// Checks one result of `read_with_version`; `exact`: the counter must
    /// equal the version (no writer died), else be at most it.
    fn check(&mut self, r: Result<(Alphabet, u64), Error>, exact: bool) {
        self.reads += 1;
        let (value, v) = match r {
            Ok(x) => x,
            Err(e) => {
                self.errors += 1;
                self.problem.get_or_insert(format!("read error: {e}"));
                return;
            }
        };
        match verify(&value) {
            Err(e) => {
                self.torn += 1;
                self.problem
                    .get_or_insert(format!("torn read at version {v}: {e}"));
            }
            Ok(c) if (exact && c != v) || c > v => {
                self.mismatched += 1;
                self.problem
                    .get_or_insert(format!("counter {c} at version {v}"));
            }
            Ok(_) => {}
        }
        if self.first.is_none() {
            self.first = Some(v);
            self.versions = 1;
        } else if v < self.last {
            self.backwards += 1;
            self.problem
                .get_or_insert(format!("version went back from {} to {v}", self.last));
        } else if v > self.last {
            self.versions += 1;
        }
        self.last = v;
    }

    fn report(&self) -> String {
        format!(
            "checked reads={} torn={} backwards={} mismatched={} errors={} versions={} first={} last={} problem={}",
            self.reads,
            self.torn,
            self.backwards,
            self.mismatched,
            self.errors,
            self.versions,
            self.first.unwrap_or(0),
            self.last,
            self.problem.as_deref().unwrap_or("none").replace(' ', "_")
        )
    }
}

/// The options of segment `name`: `sysv=KEY` is the System V segment
/// `KEY`, `file=PATH` the file segment `PATH`, anything else a POSIX name.
pub fn options(name: &str) -> Options {
    if let Some(path) = name.strip_prefix("file=") {
        return Options::file(path);
    }
    match name.strip_prefix("sysv=") {
        Some(key) => Options::sysv(key.parse().unwrap()),
        None => Options::posix(name),
    }
}

pub fn open_reader(name: &str, mode: &str) -> Box<dyn Fn() -> Result<(Alphabet, u64), Error>> {
    match mode {
        "ro" => {
            let seg = options(name).open_read_only::<Alphabet>().unwrap();
            Box::new(move || seg.read_with_version())
        }
        _ => {
            let seg = options(name)
                .claim_writer(false)
                .open::<Alphabet>()
                .unwrap();
            assert!(!seg.is_writer());
            Box::new(move || seg.read_with_version())
        }
    }
}

/// The child roles, run by [`crate::child_role`] when [`ROLE_ENV`] is set;
/// does nothing otherwise.
///
/// - `writer:NAME:`: claims write access, writes one snapshot, prints
///   `ready`, then writes in a loop until stdin closes; prints `wrote`.
/// - `reader:NAME:MODE,N` (`MODE` `ro` or `rw`, a read-write handle that
///   does not claim): checks at least `N` reads and until it has seen the
///   version change, the counter equal to the version; prints `checked`.
/// - `raw:NAME:CAP`: the control: reads the live bytes through
///   `fields()` (no snapshot) until one fails [`verify`] or `CAP` reads;
///   prints `raw`.
/// - `project:NAME:N`: `N` projections (`read_with`) of the first two
///   words of the snapshot, which every write keeps in step (word 1 is
///   word 0 xor a constant); counts the pairs that are not; prints
///   `projected`.
/// - `watch:NAME:MODE`: checks reads until stdin closes (the counter at
///   most the version: writers are killed meanwhile); prints `checked`.
/// - `spin:NAME:`: opens with the default options (claims, taking over
///   from a dead writer), prints `claimed take_over=...`, and writes in a
///   tight loop until killed (or stdin closes).
/// - `hold:NAME:`: claims, writes, prints `holding`, waits for a line on
///   stdin, writes again and exits normally (releasing write access).
/// - `open:NAME:MS`: prints `trying`, opens with `writer_wait(MS ms)`;
///   prints `busy ...` (`WriterBusy`) or `opened take_over=...` and writes.
/// - `wait:NAME:MODE,MS`: prints `waiting since=V`, waits for a change
///   with timeout `MS` ms; prints `woke ...` or `timeout`.
pub fn run() {
    let Ok(spec) = std::env::var(ROLE_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.splitn(3, ':').collect();
    let (role, name, arg) = (parts[0], parts[1], parts[2]);
    match role {
        "writer" => {
            let stop = stdin_closed();
            let seg = options(name).open::<Alphabet>().unwrap();
            write_next(&seg, 3).unwrap();
            println!("ready");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                write_next(&seg, n).unwrap();
                n += 1;
            }
            println!("wrote writes={n} version={}", seg.version());
        }
        "reader" => {
            let (mode, n) = arg.split_once(',').unwrap();
            let n: u64 = n.parse().unwrap();
            let read = open_reader(name, mode);
            let mut c = Checked::default();
            // Until the version has changed under this reader too (the
            // writer runs meanwhile), with a cap should it have died.
            while c.reads < n || (c.versions < 2 && c.reads < 100 * n) {
                c.check(read(), true);
            }
            println!("{}", c.report());
        }
        "raw" => {
            // The control: field-by-field loads, no snapshot protocol.
            let cap: u64 = arg.parse().unwrap();
            let seg = Options::posix(name).open_read_only::<Alphabet>().unwrap();
            let (mut reads, mut torn) = (0u64, 0u64);
            while torn == 0 && reads < cap {
                let bytes = seg.fields().bytes().to_array();
                reads += 1;
                if verify(&Alphabet { bytes }).is_err() {
                    torn += 1;
                }
            }
            println!("raw reads={reads} torn={torn}");
        }
        "project" => {
            let n: u64 = arg.parse().unwrap();
            let seg = Options::posix(name).open_read_only::<Alphabet>().unwrap();
            let word = |f: &schemas::AlphabetFields<'_, shm_runtime::ReadOnly>, w: usize| {
                let mut b = [0u8; 8];
                for (i, x) in b.iter_mut().enumerate() {
                    *x = f.bytes().get(8 * w + i).unwrap_or(0);
                }
                u64::from_ne_bytes(b)
            };
            let (mut mixed, mut versions, mut last) = (0u64, 0u64, None);
            for _ in 0..n {
                let (w0, w1) = seg.read_with(|f| (word(&f, 0), word(&f, 1))).unwrap();
                if w0 ^ w1 != crate::snapshot::SALT[1] {
                    mixed += 1;
                }
                if last != Some(w0) {
                    versions += 1;
                    last = Some(w0);
                }
            }
            println!("projected reads={n} mixed={mixed} versions={versions}");
        }
        "watch" => {
            let stop = stdin_closed();
            let read = open_reader(name, arg);
            let mut c = Checked::default();
            println!("watching");
            while !stop.load(Ordering::Relaxed) {
                c.check(read(), false);
            }
            println!("{}", c.report());
        }
        "spin" => {
            let stop = stdin_closed();
            let seg = match Options::posix(name).open::<Alphabet>() {
                Ok(s) => s,
                Err(e) => {
                    println!("error {e}");
                    return;
                }
            };
            let (value, v) = seg.read_with_version().unwrap();
            println!(
                "claimed take_over={} version={v} counter={}",
                show(seg.take_over()),
                verify(&value).map_or_else(|e| e.replace(' ', "_"), |c| c.to_string())
            );
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                write_next(&seg, n).unwrap();
                n += 1;
            }
        }
        "hold" => {
            let seg = Options::posix(name).open::<Alphabet>().unwrap();
            write_next(&seg, 3).unwrap();
            println!(
                "holding pid={} take_over={}",
                std::process::id(),
                show(seg.take_over())
            );
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            write_next(&seg, 3).unwrap();
            println!("released version={}", seg.version());
            drop(seg);
        }
        "open" => {
            let ms: u64 = arg.parse().unwrap();
            println!("trying");
            match Options::posix(name)
                .writer_wait(Duration::from_millis(ms))
                .open::<Alphabet>()
            {
                Ok(seg) => {
                    println!(
                        "opened take_over={} version={}",
                        show(seg.take_over()),
                        seg.version()
                    );
                    write_next(&seg, 3).unwrap();
                    println!("wrote version={}", seg.version());
                }
                Err(Error::WriterBusy {
                    pid,
                    this_process,
                    waited,
                    ..
                }) => println!(
                    "busy pid={pid} this_process={this_process} waited_ms={}",
                    waited.as_millis()
                ),
                Err(e) => println!("error {e}"),
            }
        }
        "wait" => {
            let (mode, ms) = arg.split_once(',').unwrap();
            let timeout = Duration::from_millis(ms.parse().unwrap());
            if mode == "ro" {
                wait_role(
                    &Options::posix(name).open_read_only::<Alphabet>().unwrap(),
                    timeout,
                );
            } else {
                wait_role(
                    &Options::posix(name)
                        .claim_writer(false)
                        .open::<Alphabet>()
                        .unwrap(),
                    timeout,
                );
            }
        }
        other => {
            if !crate::trust_roles::run(other, name, arg) {
                panic!("unknown role {other}");
            }
        }
    }
}

/// The `wait` role over a handle of either access.
fn wait_role<A: Access>(seg: &Shared<Alphabet, A>, timeout: Duration) {
    let (value, since) = seg.read_with_version().unwrap();
    verify(&value).unwrap();
    println!("waiting since={since}");
    match seg.wait_for_change(since, timeout) {
        Some(v) => {
            let (value, now) = seg.read_with_version().unwrap();
            println!(
                "woke version={v} read={now} counter={}",
                verify(&value).unwrap()
            );
        }
        None => println!("timeout version={}", seg.version()),
    }
}
