//! `writer --replace` while the old instance shuts down: the old
//! instance's exit must not remove the new instance's live segment
//! (issue 13, class 7), for every backend with names.

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use schemas::MySharedData;
use shm_runtime::Options;
use test_support::unique;

/// Starts `writer ARGS` and waits until it has written.
fn start_writer(args: &[String], extra: &[&str]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_writer"))
        .args(args)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read writer output");
    assert_eq!(line.trim(), "Written to shared memory");
    std::thread::spawn(move || for _ in out.lines() {});
    child
}

fn finish(mut child: Child) {
    writeln!(child.stdin.take().expect("stdin")).expect("poke writer");
    assert!(child.wait().expect("wait writer").success());
}

#[test]
fn an_old_writer_exiting_leaves_the_replacement_segment_in_place() {
    let name = unique("replace");
    let key = (0x2000_0000 | (std::process::id() & 0x0fff_ffff)) as i32;
    let path = std::env::temp_dir().join(&name).display().to_string();
    for (opts, args) in [
        (
            Options::posix(&name),
            vec![
                "--backend".into(),
                "posix".into(),
                "--name".into(),
                name.clone(),
            ],
        ),
        (
            Options::sysv(key),
            vec![
                "--backend".into(),
                "sysv".into(),
                "--key".into(),
                key.to_string(),
            ],
        ),
        (
            Options::file(&path),
            vec![
                "--backend".into(),
                "file".into(),
                "--name".into(),
                path.clone(),
            ],
        ),
    ] {
        let _ = opts.remove();
        let old = start_writer(&args, &[]);
        let new = start_writer(&args, &["--replace"]);
        // The old instance shuts down (and removes what it made, which is
        // no longer under the name).
        finish(old);
        let seg = opts.open_read_only::<MySharedData>();
        assert!(seg.is_ok(), "{args:?}: the new segment is gone: {seg:?}");
        assert_eq!(seg.unwrap().read().unwrap().value, 123);
        // The new one removes its own.
        finish(new);
        assert!(opts.open_read_only::<MySharedData>().is_err(), "{args:?}");
        let _ = opts.remove();
    }
}
