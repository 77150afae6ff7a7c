//! The generated C# bindings compile (Mono's `mcs`), and a C# program using
//! them reads the segment the Rust `writer` created. Skipped with a note
//! when Mono is not installed, unless `SHM_REQUIRE_CSHARP=1` (as
//! `.ci/csharp.sh` sets after installing it).
#![cfg(target_os = "linux")]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Name, Writer, root};
use schemas::{Alphabet, MySharedData};
use shm_runtime::{Options, SharedLayout};

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn mono_available() -> bool {
    if have("mcs") && have("mono") {
        return true;
    }
    assert!(
        std::env::var_os("SHM_REQUIRE_CSHARP").is_none_or(|v| v != "1"),
        "SHM_REQUIRE_CSHARP=1 but mcs/mono are not installed"
    );
    eprintln!("skipped: Mono (mcs, mono) is not installed; .ci/csharp.sh installs it");
    false
}

fn mcs(args: &[&str], sources: &[PathBuf]) {
    let out = Command::new("mcs")
        .args(["-unsafe", "-warnaserror", "-nologo"])
        .args(args)
        .args(sources)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mcs failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles every generated file on its own, and the client program
/// bindings/csharp/tests/ReadMySharedData.cs (once per process).
fn csharp_client() -> PathBuf {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let cs = root().join("bindings/csharp");
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        for file in ["MySharedData.cs", "Alphabet.cs", "Plant.cs"] {
            let dll = tmp.join(file.replace(".cs", ".dll"));
            mcs(
                &["-target:library", &format!("-out:{}", dll.display())],
                &[cs.join(file)],
            );
        }
        let exe = tmp.join("read_my_shared_data.exe");
        mcs(
            &[&format!("-out:{}", exe.display())],
            &[
                cs.join("tests/ReadMySharedData.cs"),
                cs.join("MySharedData.cs"),
            ],
        );
        exe
    })
    .clone()
}

fn expected() -> String {
    format!(
        "magic=SHMTYPE\nfingerprint=0x{:016x}\nschema=MySharedData v1\nvalue=123\nletter=X\nnumbers[10]=1.45\n",
        MySharedData::FINGERPRINT
    )
}

/// The C# client's output for the segment `name`, which must succeed.
fn read_ok(name: &Name) -> String {
    let out = Command::new("mono")
        .arg(csharp_client())
        .arg(&name.0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn csharp_program_reads_the_writer_segment() {
    if !mono_available() {
        return;
    }
    let exe = csharp_client();
    let w = Writer::start("cs");
    assert_eq!(read_ok(&w.name), expected());

    let other = Name::new("cs-other");
    let _seg = Options::posix(&other.0)
        .create_new()
        .open::<Alphabet>()
        .unwrap();
    let out = Command::new("mono")
        .arg(&exe)
        .arg(&other.0)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("another schema"), "{err}");
}

/// The child processes of these tests: the `writer` example
/// ([`common::Writer`]) and the writer stopped mid-write
/// ([`common::MidWrite`]). Does nothing as a normal test.
#[test]
fn child_role() {
    common::child_role();
}

#[test]
fn csharp_program_reads_the_last_complete_value_under_a_live_or_dead_writer() {
    if !mono_available() {
        return;
    }
    common::mid_write_scenario("cs-torn", |name| {
        assert_eq!(read_ok(name), expected());
    });
}

/// A process with write access (this one) rewrites the payload and backup
/// offsets after the C# client checked the segment (to 0, and far past
/// the end): the client must still read the last good value, never header
/// bytes, never crash.
#[test]
fn csharp_program_keeps_the_offsets_it_checked() {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    if !mono_available() {
        return;
    }
    let exe = csharp_client();
    let name = Name::new("cs-offsets");
    let _seg = Options::posix(&name.0)
        .create_new()
        .open_with(&common::demo_value())
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm/{}", name.0))
        .unwrap();
    let mut good = [[0u8; 8]; 2];
    file.read_at(&mut good[0], 32).unwrap();
    file.read_at(&mut good[1], 168).unwrap();
    for offset in [0u64, 1 << 40, u64::MAX - 63] {
        let mut mono = Command::new("mono");
        mono.arg(&exe);
        let mut child = common::paused(mono, &name);
        for at in [32, 168] {
            file.write_at(&offset.to_ne_bytes(), at).unwrap();
        }
        writeln!(child.stdin.as_mut().unwrap()).unwrap();
        let out = child.wait_with_output().unwrap();
        file.write_at(&good[0], 32).unwrap();
        file.write_at(&good[1], 168).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "offsets {offset:#x}: {err}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected(),
            "offsets {offset:#x}"
        );
    }
}

/// After the C# client checked the segment, a process with write access
/// sets `payload_size`, `segment_size` and the descriptor words to their
/// maximum (the client reads the good value), then leaves both counters
/// odd forever: the client ends with a one-line error, never retries
/// forever, never crashes.
#[test]
fn csharp_program_ends_when_both_counters_stay_odd() {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    if !mono_available() {
        return;
    }
    let exe = csharp_client();
    let name = Name::new("cs-odd");
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
    let sizes = vec![(40u64, u64::MAX), (48, u64::MAX), (56, u64::MAX)];
    let odd = vec![(128u64, word(128) | 1), (240, word(240) | 1)];
    for (what, pokes) in [("sizes", &sizes), ("both counters odd", &odd)] {
        let mut mono = Command::new("mono");
        mono.arg(&exe);
        let mut child = common::paused(mono, &name);
        for (at, v) in pokes.iter() {
            file.write_at(&v.to_ne_bytes(), *at).unwrap();
        }
        writeln!(child.stdin.as_mut().unwrap()).unwrap();
        // A hang detector, not a time assertion: the client ends at once.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("{what}: the C# client hangs");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        file.write_at(&saved, 0).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if pokes == &sizes {
            assert!(out.status.success(), "{what}: {err}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), expected(), "{what}");
        } else {
            assert_eq!(out.status.code(), Some(1), "{what}: {err}");
            assert_eq!(err.lines().count(), 1, "{what}: {err}");
            assert!(err.contains("no complete copy"), "{what}: {err}");
        }
    }
}
