//! Real clients in other languages read the segment the Rust `writer`
//! example created: a C program compiled here with the system C compiler
//! against the generated header, and a Python program using
//! `multiprocessing.shared_memory` and the generated ctypes module.
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Name, Writer, root};
use schemas::{Alphabet, MySharedData};
use shm_runtime::{Options, SharedLayout};

fn expected() -> String {
    format!(
        "magic=SHMTYPE\nfingerprint=0x{:016x}\nschema=MySharedData v1\nvalue=123\nletter=X\nnumbers[10]=1.45\n",
        MySharedData::FINGERPRINT
    )
}

/// Compiles bindings/c/tests/read_my_shared_data.c (once per process).
fn c_client() -> PathBuf {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("read_my_shared_data");
        let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
        let out = Command::new(cc)
            .args([
                "-std=c11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-O1",
                "-I",
            ])
            .arg(root().join("bindings/c"))
            .arg(root().join("bindings/c/tests/read_my_shared_data.c"))
            .arg("-o")
            .arg(&exe)
            .arg("-lrt")
            .output()
            .expect("run the C compiler (cc)");
        assert!(
            out.status.success(),
            "compiling the C client failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        exe
    })
    .clone()
}

fn python_client(name: &str) -> std::process::Output {
    Command::new("python3")
        .arg(root().join("bindings/python/tests/read_my_shared_data.py"))
        .arg(name)
        .env("PYTHONPATH", root().join("bindings/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python3")
}

fn stdout_ok(o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn c_program_reads_the_writer_segment() {
    let w = Writer::start("c");
    let out = stdout_ok(Command::new(c_client()).arg(&w.name.0).output().unwrap());
    assert_eq!(out, expected());
}

#[test]
fn python_program_reads_the_writer_segment_and_leaves_it_in_place() {
    let w = Writer::start("py");
    let out = stdout_ok(python_client(&w.name.0));
    assert_eq!(out, expected());
    // Python's resource tracker must not have removed the segment.
    assert!(std::path::Path::new(&format!("/dev/shm/{}", w.name.0)).exists());
    // And the leading slash is accepted too.
    assert_eq!(
        stdout_ok(python_client(&format!("/{}", w.name.0))),
        expected()
    );
}

#[test]
fn clients_refuse_another_schema_and_foreign_objects() {
    let other = Name::new("other");
    let _seg = Options::posix(&other.0)
        .create_new()
        .open::<Alphabet>()
        .unwrap();
    let foreign = Name::new("foreign");
    common::raw_object(&foreign, &[0x5a; 4096]);
    let short = Name::new("short");
    common::raw_object(&short, b"SHMTYPE\0");
    for (name, needle_c, needle_py) in [
        (&other, "another schema", "holds schema 'Alphabet'"),
        (&foreign, "wrong magic", "not a typed shared-memory segment"),
        (
            &short,
            "smaller than the segment header",
            "smaller than the 256-byte header",
        ),
    ] {
        let o = Command::new(c_client()).arg(&name.0).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(needle_c), "C: {err}");
        let o = python_client(&name.0);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(needle_py), "Python: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// The child processes of these tests: the `writer` example
/// ([`common::Writer`]) and the writer stopped mid-write
/// ([`common::MidWrite`]). Does nothing as a normal test.
#[test]
fn child_role() {
    common::child_role();
}

#[test]
fn clients_read_the_last_complete_value_under_a_live_or_dead_writer() {
    common::mid_write_scenario("torn", |name| {
        assert_eq!(
            stdout_ok(Command::new(c_client()).arg(&name.0).output().unwrap()),
            expected()
        );
        assert_eq!(stdout_ok(python_client(&name.0)), expected());
    });
}

/// A process with write access (this one) rewrites the payload and backup
/// offsets of the header after a client checked it (to 0: the header's
/// own bytes; far past the end: outside the mapping): the client must
/// read the last good value (or fail with an error), never return header
/// bytes and never crash.
#[test]
fn clients_keep_the_offsets_they_checked() {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use std::os::unix::process::ExitStatusExt;
    let name = Name::new("offsets");
    let _seg = Options::posix(&name.0)
        .create_new()
        .open_with(&common::demo_value())
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm/{}", name.0))
        .unwrap();
    let mut good = [0u8; 8];
    file.read_at(&mut good, 32).unwrap();
    let mut good_backup = [0u8; 8];
    file.read_at(&mut good_backup, 168).unwrap();
    let python = || {
        let mut c = Command::new("python3");
        c.arg(root().join("bindings/python/tests/read_my_shared_data.py"))
            .env("PYTHONPATH", root().join("bindings/python"))
            .env("PYTHONDONTWRITEBYTECODE", "1");
        c
    };
    for offset in [0u64, 1 << 40, u64::MAX - 63] {
        for (lang, cmd) in [("C", Command::new(c_client())), ("Python", python())] {
            let mut child = common::paused(cmd, &name);
            for at in [32, 168] {
                file.write_at(&offset.to_ne_bytes(), at).unwrap();
            }
            writeln!(child.stdin.as_mut().unwrap()).unwrap();
            let out = child.wait_with_output().unwrap();
            for (at, v) in [(32, good), (168, good_backup)] {
                file.write_at(&v, at).unwrap();
            }
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.signal(),
                None,
                "{lang}, offsets {offset:#x}: killed: {err}"
            );
            assert!(out.status.success(), "{lang}, offsets {offset:#x}: {err}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                expected(),
                "{lang}, offsets {offset:#x}"
            );
        }
    }
}

/// The generated Python module's own usage example (its docstring), run
/// as written against a live segment: the reader exits, and the segment
/// must still be there and its writer's `remove()` succeed. (Attaching
/// with `multiprocessing.shared_memory.SharedMemory(name=...)` registers
/// the segment with the resource tracker, which removes it at exit below
/// Python 3.13.)
#[test]
fn the_python_module_usage_example_leaves_the_segment_in_place() {
    let name = Name::new("pydoc");
    let seg = Options::posix(&name.0)
        .create_new()
        .open_with(&common::demo_value())
        .unwrap();
    let module = std::fs::read_to_string(root().join("bindings/python/my_shared_data.py")).unwrap();
    let doc = module.split("\"\"\"").nth(1).unwrap();
    let example: String = doc
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .map(|l| format!("{}\n", l.replace("\"MyShare\"", &format!("{:?}", name.0))))
        .collect();
    assert!(example.contains(&name.0), "no usage example in:\n{doc}");
    let script = format!("{example}assert value.value == 123, value.value\nprint('read')\n");
    let out = Command::new("python3")
        .args(["-c", &script])
        .env("PYTHONPATH", root().join("bindings/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "read\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::path::Path::new(&format!("/dev/shm/{}", name.0)).exists());
    Options::posix(&name.0)
        .open_read_only::<MySharedData>()
        .unwrap();
    seg.remove().unwrap();
}

/// Waits for `child` at most `secs` seconds (a hang detector, not a time
/// assertion: the clients end at once), killing it if it has not ended.
fn output_or_kill(mut child: std::process::Child, secs: u64) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("the client hangs: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A process with write access (this one) changes, after a C or Python
/// client checked the segment, the header words the check looked at but
/// reads do not need (`payload_size`, `segment_size`, `descriptor_offset`
/// and `descriptor_len` set to their maximum): the client reads the good
/// value. Then both counters, `seq` and `backup_seq`, left odd forever (a
/// write in progress on both copies, which no writer ever does): the
/// client ends with a one-line error, never retries forever, never
/// crashes.
#[test]
fn clients_end_when_both_counters_stay_odd_and_ignore_other_header_words() {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use std::os::unix::process::ExitStatusExt;
    let name = Name::new("odd");
    let _seg = Options::posix(&name.0)
        .create_new()
        .open_with(&common::demo_value())
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm/{}", name.0))
        .unwrap();
    let mut saved = [0u8; 256];
    file.read_at(&mut saved, 0).unwrap();
    let word = |at: usize| u64::from_ne_bytes(saved[at..at + 8].try_into().unwrap());
    let sizes: Vec<(u64, u64)> = vec![(40, u64::MAX), (48, u64::MAX), (56, u64::MAX)];
    let odd: Vec<(u64, u64)> = vec![(128, word(128) | 1), (240, word(240) | 1)];
    let python = || {
        let mut c = Command::new("python3");
        c.arg(root().join("bindings/python/tests/read_my_shared_data.py"))
            .env("PYTHONPATH", root().join("bindings/python"))
            .env("PYTHONDONTWRITEBYTECODE", "1");
        c
    };
    for (what, pokes) in [("sizes", &sizes), ("both counters odd", &odd)] {
        for (lang, cmd) in [("C", Command::new(c_client())), ("Python", python())] {
            let mut child = common::paused(cmd, &name);
            for (at, v) in pokes.iter() {
                file.write_at(&v.to_ne_bytes(), *at).unwrap();
            }
            writeln!(child.stdin.as_mut().unwrap()).unwrap();
            let out = output_or_kill(child, 300);
            file.write_at(&saved, 0).unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.signal(), None, "{lang}, {what}: killed: {err}");
            if pokes == &sizes {
                assert!(out.status.success(), "{lang}, {what}: {err}");
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    expected(),
                    "{lang}, {what}"
                );
            } else {
                assert_eq!(out.status.code(), Some(1), "{lang}, {what}: {err}");
                assert_eq!(err.lines().count(), 1, "{lang}, {what}: {err}");
                assert!(err.contains("no complete copy"), "{lang}, {what}: {err}");
            }
        }
    }
}
