//! Schema evolution across real processes: programs built with different
//! versions of the `Sensor` schema (the `sensor` example binary) sharing
//! one POSIX segment: a version-1 writer with a version-2 reader, a
//! version-2 writer with version-1 readers and writers, an in-place upgrade
//! while a version-1 reader process reads and checks every snapshot
//! throughout, and an incompatible change.

use test_support::{Cleanup, unique};

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::Duration;

use shm_runtime::Options;

fn sensor(name: &str, role: &str, schema: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sensor"));
    c.args([role, "--schema", schema, "--name", name])
        .args(extra);
    c
}

/// A `sensor write` or `sensor read` process that runs until told to stop.
struct Running {
    child: Child,
    out: BufReader<ChildStdout>,
    what: String,
}

impl Running {
    /// Starts it and waits for its `ready compat=...` line; returns the compat.
    fn start(name: &str, role: &str, schema: &str, extra: &[&str]) -> (Running, String) {
        let what = format!("sensor {role} --schema {schema} {extra:?}");
        let mut child = sensor(name, role, schema, extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sensor");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("read sensor output");
        if !line.starts_with("ready compat=") {
            let o = child.wait_with_output().expect("wait");
            panic!(
                "{what}: expected `ready`, got {line:?}; stderr: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let compat = line.trim()["ready compat=".len()..].to_owned();
        (Running { child, out, what }, compat)
    }

    /// Waits for the next line of its output, which must be `want`.
    fn expect(&mut self, want: &str) {
        let mut line = String::new();
        self.out.read_line(&mut line).expect("read sensor output");
        assert_eq!(line.trim(), want, "{}", self.what);
    }

    /// Tells it to stop; returns its last line, and fails the test unless
    /// it exits successfully.
    fn stop(mut self) -> String {
        writeln!(self.child.stdin.take().expect("stdin")).expect("poke sensor");
        let mut last = String::new();
        self.out.read_line(&mut last).expect("read last line");
        let o = self.child.wait_with_output().expect("wait sensor");
        assert!(
            o.status.success(),
            "{} failed: {}{}",
            self.what,
            last,
            String::from_utf8_lossy(&o.stderr)
        );
        last.trim().to_owned()
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `sensor show`: its output, which must be a success.
fn show(name: &str, schema: &str, extra: &[&str]) -> String {
    let o = sensor(name, "show", schema, extra)
        .output()
        .expect("run sensor");
    let (out, err) = text(&o);
    assert!(
        o.status.success(),
        "show --schema {schema} {extra:?}: {err}"
    );
    out
}

/// `sensor show`: its one error line, which must be a failure (exit 1).
fn show_fails(name: &str, schema: &str, extra: &[&str]) -> String {
    let o = sensor(name, "show", schema, extra)
        .output()
        .expect("run sensor");
    let (out, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "show --schema {schema} {extra:?}: {out}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

/// `checked N snapshots: by v1 A, by v2 B, by v3 C` -> [N, A, B, C].
fn counts(line: &str) -> [u64; 4] {
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    // "checked N snapshots: by v1 A, by v2 B, by v3 C": N, 1, A, 2, B, 3, C
    assert_eq!(nums.len(), 7, "{line}");
    [nums[0], nums[2], nums[4], nums[6]]
}

#[test]
fn v1_writer_and_v2_reader() {
    let name = unique("sensor-v1w");
    let _c = Cleanup::posix(&name);
    let (writer, compat) = Running::start(&name, "write", "v1", &["--create"]);
    assert_eq!(compat, "exact");
    // A version-2 program is told the segment is older, read-only or not.
    let err = show_fails(&name, "v2", &[]);
    assert!(
        err.contains("holds schema `Sensor` v1, older than this program's v2"),
        "{err}"
    );
    let err = show_fails(&name, "v2", &["--rw"]);
    assert!(
        err.contains("open it with `Options::upgrade(true)`"),
        "{err}"
    );
    // A version-1 reader process checks the writer's snapshots.
    let (reader, compat) = Running::start(&name, "read", "v1", &[]);
    assert_eq!(compat, "exact");
    std::thread::sleep(Duration::from_millis(200));
    let [n, by1, by2, _] = counts(&reader.stop());
    assert!(n > 0 && by1 == n && by2 == 0, "{n} {by1} {by2}");
    assert!(writer.stop().starts_with("wrote "));
}

#[test]
fn v2_writer_and_v1_readers_and_writers() {
    let name = unique("sensor-v2w");
    let _c = Cleanup::posix(&name);
    let (mut writer, _) = Running::start(&name, "write", "v2", &["--create", "--writes", "5000"]);
    // A version-1 reader process reads its prefix and checks it.
    let (reader, compat) = Running::start(&name, "read", "v1", &[]);
    assert_eq!(compat, "prefix-of-v2");
    std::thread::sleep(Duration::from_millis(200));
    let [n, by1, by2, _] = counts(&reader.stop());
    assert!(n > 0 && by2 == n && by1 == 0, "{n} {by1} {by2}");
    writer.expect("done 5000");
    let out = show(&name, "v1", &[]);
    assert!(
        out.contains("compat=prefix-of-v2\nseq=5000\nwriter_version=2\n"),
        "{out}"
    );
    // Version 2 allows older writers: a version-1 writer process writes its
    // fields, the version-2 fields keep their values (and checksum).
    let (mut old_writer, compat) = Running::start(&name, "write", "v1", &["--writes", "10"]);
    assert_eq!(compat, "prefix-of-v2");
    old_writer.expect("done 10");
    assert_eq!(old_writer.stop(), "wrote 10");
    let out = show(&name, "v2", &[]);
    for want in [
        "compat=exact",
        "seq=10",
        "writer_version=1",
        "humidity=0",
        "pressure=6000",
        "intact=true",
    ] {
        assert!(out.lines().any(|l| l == want), "{want} in {out}");
    }
    assert_eq!(writer.stop(), "wrote 5000");
}

#[test]
fn v3_segment_lets_older_programs_read_only() {
    let name = unique("sensor-v3");
    let _c = Cleanup::posix(&name);
    let (mut writer, _) = Running::start(&name, "write", "v3", &["--create", "--writes", "100"]);
    writer.expect("done 100");
    for schema in ["v1", "v2"] {
        let err = show_fails(&name, schema, &["--rw"]);
        assert!(
            err.contains("holds schema `Sensor` v3, newer than this program's")
                && err.contains("open it read-only"),
            "{err}"
        );
        let out = show(&name, schema, &[]);
        assert!(out.contains("compat=prefix-of-v3\nseq=100\n"), "{out}");
        assert!(out.ends_with("intact=true\n"), "{out}");
    }
    writer.stop();
}

/// The main scenario: a version-1 system with a reader process attached is
/// upgraded to version 2 in place; the reader checks every snapshot of
/// both writers, before, during and after the upgrade.
#[test]
fn in_place_upgrade_with_a_v1_reader_attached_throughout() {
    let name = unique("sensor-upgrade");
    let _c = Cleanup::posix(&name);
    let (v1_writer, _) = Running::start(&name, "write", "v1", &["--create"]);
    let (v1_reader, compat) = Running::start(&name, "read", "v1", &[]);
    assert_eq!(compat, "exact");
    std::thread::sleep(Duration::from_millis(200));
    // Version 1 is retired; version 2 takes over, upgrading the segment.
    assert!(v1_writer.stop().starts_with("wrote "));
    let (v2_writer, compat) = Running::start(&name, "write", "v2", &["--upgrade"]);
    assert_eq!(compat, "upgraded-from-v1");
    std::thread::sleep(Duration::from_millis(200));
    // A new version-2 reader checks everything, version-1 prefix included.
    let (v2_reader, compat) = Running::start(&name, "read", "v2", &[]);
    assert_eq!(compat, "exact");
    // A version-1 program opening now reads the prefix of version 2.
    let out = show(&name, "v1", &[]);
    assert!(out.starts_with("compat=prefix-of-v2\n"), "{out}");
    std::thread::sleep(Duration::from_millis(200));
    let [n2, _, by2, _] = counts(&v2_reader.stop());
    assert!(n2 > 0 && by2 == n2, "v2 reader: {n2} {by2}");
    assert!(v2_writer.stop().starts_with("wrote "));
    // The version-1 reader, attached since before the upgrade, saw both
    // writers and no torn snapshot (it exits 1 at the first).
    let [n, by1, by2, _] = counts(&v1_reader.stop());
    println!("version-1 reader checked {n} snapshots: {by1} by v1, {by2} by v2");
    assert!(by1 > 0 && by2 > 0 && by1 + by2 == n, "{n} {by1} {by2}");
    // The header says version 2 now; a second upgrade finds nothing to do.
    let raw = shm_runtime::RawSegment::open(&Options::posix(&name)).unwrap();
    assert_eq!(raw.header().schema_version, 2);
    let out = show(&name, "v2", &["--rw", "--upgrade"]);
    assert!(out.starts_with("compat=exact\n"), "{out}");
}

#[test]
fn incompatible_changes_name_the_first_difference() {
    let name = unique("sensor-incompatible");
    let _c = Cleanup::posix(&name);
    let (mut writer, _) = Running::start(&name, "write", "v1", &["--create", "--writes", "3"]);
    writer.expect("done 3");
    for extra in [&[][..], &["--rw", "--upgrade"][..]] {
        let err = show_fails(&name, "incompatible", extra);
        assert!(
            err.contains("layout mismatch")
                && err.contains(
                    "field `seq`: this program expects u32 at offset 0, the segment has u64 at offset 0"
                ),
            "{err}"
        );
    }
    // Another schema altogether: the `reader` example (MySharedData).
    let o = Command::new(env!("CARGO_BIN_EXE_reader"))
        .args(["--name", &name])
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("schema: this program expects `MySharedData`, the segment holds `Sensor`"),
        "{err}"
    );
    writer.stop();
}
