//! The bindings `build.rs` generated are usable: the C header compiles with
//! `gcc -std=c11 -Wall -Wextra -Werror` and the Python module imports
//! (its layout checks run at import), and both state the size and the
//! fingerprint of the Rust schema. Each check is skipped, with a message,
//! where its tool is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use codegen_build::{BINDINGS_DIR, C_HEADER, PYTHON_MODULE, Telemetry};
use shm_codegen::{Lang, generate_for};
use shm_runtime::SharedLayout;

/// Whether `tool --version` runs; a message when it does not.
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: `{tool}` is not installed");
    }
    ok
}

/// A fresh directory for this test.
fn scratch(tag: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("codegen-build-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `cmd`; its stdout, or a failure showing its stderr.
fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("run");
    assert!(
        o.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// What the C and Python programs print: size and fingerprint.
fn expected() -> String {
    format!(
        "{} 0x{:016x}",
        Telemetry::LAYOUT.size,
        Telemetry::FINGERPRINT
    )
}

#[test]
fn the_generated_files_are_in_out_dir() {
    let dir = Path::new(BINDINGS_DIR);
    assert_eq!(
        std::fs::read_to_string(dir.join("telemetry.h")).unwrap(),
        C_HEADER
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("telemetry.py")).unwrap(),
        PYTHON_MODULE
    );
    let fp = format!("0x{:016x}", Telemetry::FINGERPRINT);
    assert!(C_HEADER.contains(&fp), "the header states the fingerprint");
    assert!(
        PYTHON_MODULE.contains(&fp),
        "the module states the fingerprint"
    );
    // Exactly what the library generates for the type (the build script
    // wrote them with `write_bindings_for`).
    assert_eq!(generate_for::<Telemetry>(Lang::C).unwrap(), C_HEADER);
    assert_eq!(
        generate_for::<Telemetry>(Lang::Python).unwrap(),
        PYTHON_MODULE
    );
}

#[test]
fn the_c_header_compiles_as_c11_with_warnings_as_errors() {
    if !have("gcc") {
        return;
    }
    let d = scratch("c");
    let main = d.join("main.c");
    std::fs::write(
        &main,
        "#include \"telemetry.h\" /* first: it picks the feature set */\n\
         #include <stdio.h>\n\
         int main(void) {\n\
         \x20   printf(\"%zu 0x%016llx\\n\", sizeof(Telemetry),\n\
         \x20          (unsigned long long)TELEMETRY_FINGERPRINT);\n\
         \x20   return 0;\n\
         }\n",
    )
    .unwrap();
    let exe = d.join("main");
    run(Command::new("gcc")
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            BINDINGS_DIR,
        ])
        .arg(&main)
        .arg("-o")
        .arg(&exe));
    assert_eq!(run(&mut Command::new(&exe)).trim(), expected());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_python_module_imports_and_checks_its_layout() {
    if !have("python3") {
        return;
    }
    let script = "import ctypes, sys\n\
                  sys.path.insert(0, sys.argv[1])\n\
                  import telemetry\n\
                  print(ctypes.sizeof(telemetry.Telemetry), '0x%016x' % telemetry.FINGERPRINT)\n";
    // -B: no __pycache__ in OUT_DIR.
    let out = run(Command::new("python3")
        .args(["-B", "-c", script])
        .arg(BINDINGS_DIR));
    assert_eq!(out.trim(), expected());
}
