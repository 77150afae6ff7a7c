//! The example binaries as real processes over real POSIX segments.

use test_support::{Cleanup, unique};

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

use schemas::{Alphabet, MySharedData};
use shm_runtime::{Error, Options};

fn bin(name: &str) -> Command {
    Command::new(match name {
        "writer" => env!("CARGO_BIN_EXE_writer"),
        "reader" => env!("CARGO_BIN_EXE_reader"),
        "alphabet" => env!("CARGO_BIN_EXE_alphabet"),
        "demo" => env!("CARGO_BIN_EXE_demo"),
        other => panic!("no binary {other}"),
    })
}

/// Starts `writer --name NAME` and waits until it has written.
fn start_writer(name: &str, extra: &[&str]) -> Child {
    let mut child = bin("writer")
        .args(["--name", name])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read writer output");
    assert_eq!(line.trim(), "Written to shared memory");
    child.stdout = None;
    // Keep draining the rest in the background so the writer never blocks.
    std::thread::spawn(move || for _ in out.lines() {});
    child
}

fn finish(mut child: Child) {
    writeln!(child.stdin.take().expect("stdin")).expect("poke writer");
    assert!(child.wait().expect("wait writer").success());
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn writer_and_reader_processes_share_the_values() {
    let name = unique("pair");
    let _c = Cleanup::posix(&name);
    let writer = start_writer(&name, &[]);
    let out = bin("reader").args(["--name", &name]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "reader failed: {stderr}");
    assert_eq!(stdout, "Value is 123\nLetter is X\n11th Number is 1.45\n");
    finish(writer);
    // The writer removed the segment on exit.
    let gone = Options::posix(&name).open_read_only::<MySharedData>();
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
}

#[test]
fn writer_prints_what_is_in_memory_after_the_wait() {
    let name = unique("after");
    let _c = Cleanup::posix(&name);
    let writer = start_writer(&name, &["--keep"]);
    // Another process changes the value while the writer waits.
    let seg = Options::posix(&name).open::<MySharedData>().unwrap();
    seg.update(|f| f.value().set(7)).unwrap();
    let mut writer = writer;
    writeln!(writer.stdin.take().unwrap()).unwrap();
    assert!(writer.wait().unwrap().success());
    assert_eq!(seg.read().unwrap().value, 7);
}

#[test]
fn reader_without_a_segment_fails_with_one_clear_line() {
    let name = unique("missing");
    let out = bin("reader").args(["--name", &name]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no such shared-memory segment"), "{stderr}");
    assert!(stderr.contains(&name), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn alphabet_child_reads_the_letters_and_the_segment_is_removed() {
    let name = unique("abc");
    let _c = Cleanup::posix(&name);
    let out = bin("alphabet").args(["--name", &name]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "Read: abcdefghijklmnopqrstuvwxyz\n");
    let gone = Options::posix(&name).open_read_only::<Alphabet>();
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
}

#[test]
fn demo_runs_end_to_end() {
    let out = bin("demo").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for needle in [
        "Written to shared memory",
        "[reader] Value is 123",
        "[reader] Letter is X",
        "[reader] 11th Number is 1.45",
        "segment removed",
        "[consumer pid",
        "== streams: published 100000, received",
        "all accounted for",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
}

#[test]
fn another_schema_gets_a_layout_mismatch() {
    let name = unique("mismatch");
    let _c = Cleanup::posix(&name);
    let writer = start_writer(&name, &[]);
    let err = Options::posix(&name)
        .open_read_only::<Alphabet>()
        .unwrap_err();
    match &err {
        Error::LayoutMismatch {
            name: n,
            expected,
            found,
            ..
        } => {
            assert!(n.contains(&name));
            assert!(expected.contains("Alphabet"), "{expected}");
            assert!(found.contains("MySharedData"), "{found}");
        }
        other => panic!("expected LayoutMismatch, got {other:?}"),
    }
    finish(writer);
}

#[cfg(target_os = "linux")]
mod foreign {
    use super::*;

    fn foreign_object(name: &str, bytes: &[u8]) {
        std::fs::write(format!("/dev/shm/{name}"), bytes).unwrap();
    }

    #[test]
    fn foreign_object_under_the_name_is_not_a_segment() {
        let name = unique("foreign");
        let _c = Cleanup::posix(&name);
        foreign_object(&name, &[0xAB; 4096]);
        let err = Options::posix(&name).open::<MySharedData>().unwrap_err();
        assert!(matches!(err, Error::NotASegment { .. }), "{err}");
        let out = bin("reader").args(["--name", &name]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out).1.contains("not a typed shared-memory segment"));
    }

    #[test]
    fn too_short_object_is_reported_not_touched() {
        let name = unique("short");
        let _c = Cleanup::posix(&name);
        foreign_object(&name, b"SHMTYPE\0 and nothing else");
        let err = Options::posix(&name).open::<MySharedData>().unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooSmall {
                    needed: 256,
                    actual: 25,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn header_claiming_more_than_the_object_has_is_too_small() {
        let name = unique("truncated");
        let _c = Cleanup::posix(&name);
        {
            let seg = Options::posix(&name)
                .create_new()
                .open::<MySharedData>()
                .unwrap();
            seg.write(&MySharedData {
                value: 1,
                letter: shm_runtime::Utf16(2),
                _pad: [0; 2],
                numbers: [3.0; 50],
            })
            .unwrap();
        }
        // Cut the object in the middle of its payload.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/dev/shm/{name}"))
            .unwrap();
        f.set_len(300).unwrap();
        let err = Options::posix(&name).open::<MySharedData>().unwrap_err();
        assert!(matches!(err, Error::TooSmall { actual: 300, .. }), "{err}");
    }
}

// The creation race (`racing_create_or_open_processes_agree`) lives in
// `creation.rs`, extended to create-new racers, several rounds and every
// backend with names, next to the abandoned-creator tests.
