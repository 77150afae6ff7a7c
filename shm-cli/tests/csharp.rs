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
        for file in ["MySharedData.cs", "Alphabet.cs"] {
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
