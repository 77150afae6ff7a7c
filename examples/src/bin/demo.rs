//! `demo`: the main job in one command. Runs the writer and the reader as
//! two real processes sharing one POSIX segment (a Win32 file mapping on
//! Windows), shows their output and the segment's status, and cleans up.
//!
//! Then it runs the `producer` and `consumer` examples (a ring of events,
//! see `examples::events`) as two more processes, and sums up what the
//! consumer received and was told it lost (POSIX only).
//!
//! The processes are this same executable started again with a hidden
//! role argument, so `cargo run -p examples --bin demo` needs no other
//! binary to be built first.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use schemas::MySharedData;
use shm_runtime::Error;

const NAME: &str = examples::DEFAULT_NAME;

/// Events the demo's producer publishes.
const EVENTS: u64 = 100_000;

/// The segment of the demo's producer and consumer.
fn events_name() -> String {
    format!("{NAME}-events")
}

fn target() -> examples::Target {
    examples::Target {
        name: NAME.into(),
        backend: examples::Backend::DEFAULT,
        key: None,
    }
}

fn role(args: &[String]) -> bool {
    let target = target();
    match args.get(1).map(String::as_str) {
        Some("__writer") => examples::exit_on_error("writer", || {
            examples::run_writer(&examples::WriterArgs {
                target,
                hold_secs: None,
                keep: false,
                replace: true,
            })
        }),
        Some("__reader") => examples::exit_on_error("reader", || examples::run_reader(&target)),
        Some("__producer") => examples::exit_on_error("producer", || {
            examples::events::run_producer(&events_name(), EVENTS, true)
        }),
        Some("__consumer") => examples::exit_on_error("consumer", || {
            examples::events::run_consumer(&events_name(), EVENTS, Duration::from_secs(20))
                .map(drop)
        }),
        _ => return false,
    }
    true
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("demo: error: {msg}");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if role(&args) {
        return;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(format!("cannot find myself: {e}")));

    println!("== starting the writer process (segment `{NAME}`)");
    let mut writer = Command::new(&exe)
        .arg("__writer")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(format!("cannot start the writer: {e}")));
    let (tx, rx) = mpsc::channel();
    let wpid = writer.id();
    let out = writer
        .stdout
        .take()
        .unwrap_or_else(|| fail("no writer stdout"));
    let echo = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("[writer pid {wpid}] {line}");
            let _ = tx.send(line);
        }
    });
    // Wait until the writer says it has written (or exits).
    if !rx.iter().any(|l| l == "Written to shared memory") {
        let status = writer.wait().ok();
        fail(format!("the writer stopped before writing ({status:?})"));
    }

    println!("\n== while the writer holds it, the segment exists:");
    #[cfg(target_os = "linux")]
    if let Ok(meta) = std::fs::metadata(format!("/dev/shm/{NAME}")) {
        use std::os::unix::fs::PermissionsExt;
        println!(
            "/dev/shm/{NAME}: {} bytes, mode {:o}",
            meta.len(),
            meta.permissions().mode() & 0o7777
        );
    }
    match target().options().open_read_only::<MySharedData>() {
        Ok(seg) => match seg.status() {
            Ok(st) => println!("{st}"),
            Err(e) => println!("status: {e}"),
        },
        Err(e) => fail(e),
    }

    println!("\n== starting the reader process");
    let reader = Command::new(&exe)
        .arg("__reader")
        .output()
        .unwrap_or_else(|e| fail(format!("cannot start the reader: {e}")));
    for line in String::from_utf8_lossy(&reader.stdout).lines() {
        println!("[reader] {line}");
    }
    eprint!("{}", String::from_utf8_lossy(&reader.stderr));

    println!("\n== telling the writer to finish");
    if let Some(mut stdin) = writer.stdin.take() {
        let _ = writeln!(stdin);
    }
    let status = writer.wait().unwrap_or_else(|e| fail(e));
    let _ = echo.join();

    let gone = matches!(
        target().options().open_read_only::<MySharedData>(),
        Err(Error::NotFound { .. })
    );
    println!(
        "\n== writer exited ({status}); segment {}",
        if gone { "removed" } else { "still present" }
    );
    if !status.success() || !reader.status.success() || !gone {
        fail("a step failed (see above)");
    }
    #[cfg(unix)]
    streams(&exe);
}

/// Runs a line-printing child role; returns it and its stdout lines.
#[cfg(unix)]
fn child(exe: &std::path::Path, role: &str) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut c = Command::new(exe)
        .arg(role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(format!("cannot start the {role}: {e}")));
    let out = c.stdout.take().unwrap_or_else(|| fail("no stdout"));
    let (tx, rx) = mpsc::channel();
    let who = format!("[{} pid {}]", role.trim_start_matches('_'), c.id());
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{who} {line}");
            let _ = tx.send(line);
        }
    });
    (c, rx)
}

/// The stream part: a producer process publishes `EVENTS` events into a
/// `Ring<Event, 256>` as fast as it can while a consumer process receives
/// them; the consumer gets each whole and in order, or is told it lost it.
#[cfg(unix)]
fn streams(exe: &std::path::Path) {
    let name = events_name();
    let options = shm_runtime::Options::posix(&name);
    let _ = options.remove();
    println!(
        "\n== streams: a producer and a consumer process, {EVENTS} events through a ring of 256 (segment `{name}`)"
    );
    let (mut producer, from_producer) = child(exe, "__producer");
    let said = |rx: &mpsc::Receiver<String>, what: &str| {
        rx.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| fail(format!("no `{what}` line")))
    };
    said(&from_producer, "ready");
    let (mut consumer, from_consumer) = child(exe, "__consumer");
    said(&from_consumer, "subscribed");
    if let Some(mut stdin) = producer.stdin.take() {
        let _ = writeln!(stdin, "go");
    }
    let published = said(&from_producer, "published");
    let seen = said(&from_consumer, "received");
    let ok =
        producer.wait().is_ok_and(|s| s.success()) & consumer.wait().is_ok_and(|s| s.success());
    let _ = options.remove();
    let n = |s: &str, key: &str| -> Option<u64> {
        let w: Vec<&str> = s.split_whitespace().collect();
        w.iter()
            .position(|x| *x == key)
            .and_then(|i| w.get(i + 1)?.parse().ok())
    };
    let (Some(p), Some(r), Some(l), Some(0)) = (
        n(&published, "published"),
        n(&seen, "received"),
        n(&seen, "lost"),
        n(&seen, "bad"),
    ) else {
        fail(format!("the stream part failed: {published:?}, {seen:?}"));
    };
    println!(
        "\n== streams: published {p}, received {r} (whole, in order), lost {l} (the consumer was \
         told): {r} + {l} = {}{}",
        r + l,
        if r + l == p {
            ", all accounted for"
        } else {
            ""
        }
    );
    if !ok || r + l != p {
        fail("the stream part failed (see above)");
    }
}
