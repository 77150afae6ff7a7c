//! `demo`: the main job in one command. Runs the writer and the reader as
//! two real processes sharing one POSIX segment (a Win32 file mapping on
//! Windows), shows their output and the segment's status, and cleans up.
//!
//! The two processes are this same executable started again with a hidden
//! role argument, so `cargo run -p examples --bin demo` needs no other
//! binary to be built first.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use schemas::MySharedData;
use shm_runtime::Error;

const NAME: &str = examples::DEFAULT_NAME;

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
}
