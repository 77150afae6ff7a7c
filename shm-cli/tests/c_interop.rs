//! C and C++ programs, compiled here against the generated headers, with
//! Rust programs on real segments: the headers compile cleanly as C11 and
//! C++17 (GCC, and Clang where installed); C and C++ readers of a Rust
//! writer; a C writer read by the Rust `reader` example and `shm dump`; a C
//! writer killed in the middle of a write, taken over by Rust (and the
//! reverse); one writer at a time across the languages; waiting; and the
//! schema types (bool, enums, char, strings) validated exactly as the Rust
//! reader does. A missing compiler skips a test with a message.
#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Lines, Name, Writer, finish, read_u32, ro_waiters, root, wait_until};
use schemas::MySharedData;
use schemas::robot::Robot;
use shm_codegen::{Lang, generate, rust_source};
use shm_runtime::descriptor::{Schema, TypeInfo};
use shm_runtime::{Error, Options, SharedLayout};
use test_support::ChildRole;

/// The child processes of these tests ([`common::child_role`]) and the
/// `reader` example ([`reader_child_role`]). Does nothing as a normal test.
#[test]
fn child_role() {
    common::child_role();
    reader_child_role();
}

/// Selects [`reader_child_role`]: the segment's name.
const READER_ENV: &str = "SHM_C_INTEROP_READER_CHILD";

/// What the `reader` example runs (`examples::run_reader`).
fn reader_child_role() {
    let Ok(name) = std::env::var(READER_ENV) else {
        return;
    };
    let target = examples::Target {
        name,
        backend: examples::Backend::DEFAULT,
        key: None,
    };
    examples::exit_on_error("reader", || examples::run_reader(&target));
}

/// A C or C++ compiler: the command and the flags that select the language.
#[derive(Clone, Copy, Debug)]
enum Compiler {
    Gcc,
    Gxx,
    Clang,
    Clangxx,
}

impl Compiler {
    fn args(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Compiler::Gcc => ("gcc", &["-std=c11", "-pedantic"]),
            Compiler::Gxx => ("g++", &["-std=c++17", "-pedantic", "-x", "c++"]),
            Compiler::Clang => ("clang", &["-std=c11", "-pedantic"]),
            Compiler::Clangxx => ("clang++", &["-std=c++17", "-pedantic", "-x", "c++"]),
        }
    }

    fn present(self) -> bool {
        let present = Command::new(self.args().0)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            eprintln!("{} is not installed: skipped", self.args().0);
        }
        present
    }

    /// Compiles `src` (with `extra` flags) into `exe` (or only checks it
    /// when `exe` is `None`), warnings as errors; the compiler's messages
    /// on failure.
    fn compile(self, src: &Path, extra: &[&str], exe: Option<&Path>) -> Result<(), String> {
        let (cc, lang) = self.args();
        let mut cmd = Command::new(cc);
        cmd.args(["-Wall", "-Wextra", "-Werror", "-O1"])
            .args(lang)
            .args(extra)
            .arg("-I")
            .arg(root().join("bindings/c"))
            .arg("-I")
            .arg(generated_dir())
            .arg(src);
        match exe {
            Some(exe) => cmd.arg("-o").arg(exe).arg("-lrt"),
            None => cmd.arg("-fsyntax-only"),
        };
        let out = cmd.output().map_err(|e| format!("{cc}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{cc} {} failed:\n{}",
                src.display(),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

/// The directory of the generated headers and programs (one, rewritten
/// by each run, so that runs leave nothing more behind).
fn generated_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-interop");
        std::fs::create_dir_all(&dir).unwrap();
        // The all-types schema, which `bindings/` does not hold.
        let schema = Schema::from_layout(&Robot::LAYOUT);
        let text = generate(Lang::C, &schema, &rust_source(&schema)).unwrap();
        std::fs::write(dir.join("robot.h"), text).unwrap();
        dir
    })
    .clone()
}

/// Compiles `bindings/c/tests/<src>` as C (GCC) or C++ (G++), once per
/// process; `None` (and a message) if that compiler is missing.
fn program(src: &str, cpp: bool) -> Option<PathBuf> {
    static BUILT: OnceLock<std::sync::Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let compiler = if cpp { Compiler::Gxx } else { Compiler::Gcc };
    if !compiler.present() {
        return None;
    }
    let key = format!("{src}-{}", if cpp { "cpp" } else { "c" });
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some((_, exe)) = built.iter().find(|(k, _)| *k == key) {
        return Some(exe.clone());
    }
    let exe = generated_dir().join(&key);
    let path = root().join("bindings/c/tests").join(src);
    if let Err(e) = compiler.compile(&path, &[], Some(&exe)) {
        panic!("{e}");
    }
    built.push((key, exe.clone()));
    Some(exe)
}

fn run(exe: &Path, args: &[&str]) -> Output {
    finish(
        Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "client failed ({}): {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

// ---------------------------------------------------------------------
// The headers compile.

#[test]
fn every_header_compiles_as_c11_and_cpp17_alone_and_together() {
    let mut headers: Vec<PathBuf> = std::fs::read_dir(root().join("bindings/c"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    headers.sort();
    headers.push(generated_dir().join("robot.h"));
    let dir = generated_dir();
    let mut units = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let src = dir.join(format!("unit{i}.c"));
        std::fs::write(
            &src,
            format!(
                "#include \"{}\"\nint main(void) {{ return 0; }}\n",
                h.display()
            ),
        )
        .unwrap();
        units.push(src);
    }
    let all = dir.join("all.c");
    let includes: String = headers
        .iter()
        .map(|h| format!("#include \"{}\"\n", h.display()))
        .collect();
    std::fs::write(&all, includes + "int main(void) { return 0; }\n").unwrap();
    units.push(all);
    let mut compiled = 0;
    for compiler in [
        Compiler::Gcc,
        Compiler::Gxx,
        Compiler::Clang,
        Compiler::Clangxx,
    ] {
        if !compiler.present() {
            continue;
        }
        for unit in &units {
            // As is (the header asks for the default feature set), and
            // under a program's strict POSIX feature-test macro.
            for extra in [&[][..], &["-D_POSIX_C_SOURCE=200809L"][..]] {
                compiler.compile(unit, extra, None).unwrap();
                compiled += 1;
            }
        }
    }
    eprintln!("{compiled} compilations");
}

// ---------------------------------------------------------------------
// Rust writer, C and C++ readers.

fn expected_rust() -> String {
    format!(
        "magic=SHMTYPE\nfingerprint=0x{:016x}\nschema=MySharedData v1\nvalue=123\nletter=X\nnumbers[10]=1.45\n",
        MySharedData::FINGERPRINT
    )
}

#[test]
fn c_and_cpp_readers_read_the_rust_writer() {
    let w = Writer::start("c-cpp");
    for cpp in [false, true] {
        let Some(exe) = program("read_my_shared_data.c", cpp) else {
            continue;
        };
        assert_eq!(ok(run(&exe, &[&w.name.0])), expected_rust(), "C++: {cpp}");
    }
}

// ---------------------------------------------------------------------
// C writer, Rust readers.

/// A `MySharedData` segment holding the `writer` example's values, whose
/// write access is free.
fn free_segment(name: &Name) -> shm_runtime::Shared<MySharedData> {
    Options::posix(&name.0)
        .create_new()
        .claim_writer(false)
        .open_with(&common::demo_value())
        .unwrap()
}

#[test]
fn c_and_cpp_writers_are_read_by_the_rust_reader_and_shm_dump() {
    for cpp in [false, true] {
        let Some(exe) = program("write_my_shared_data.c", cpp) else {
            continue;
        };
        let name = Name::new("c-writes");
        let seg = free_segment(&name);
        let out = ok(run(&exe, &["write", &name.0, "77"]));
        assert_eq!(out, "claimed\nwritten version=1\n", "C++: {cpp}");
        // The claim was given back.
        assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);
        let v = seg.read().unwrap();
        assert_eq!(
            (v.value, v.letter.0, v.numbers[10]),
            (77, u16::from(b'Z'), 2.5)
        );
        assert_eq!(seg.version(), 1);
        let out = ChildRole::start("child_role", READER_ENV, &name.0).finish();
        assert!(
            out.contains("Value is 77\nLetter is Z\n11th Number is 2.5\n"),
            "{out}"
        );
        let dump = common::shm_ok(&["dump", &name.0]);
        assert!(dump.starts_with("value = 77\nletter = 'Z'\n"), "{dump}");
        assert!(dump.contains(", 2.5, "), "{dump}");
    }
}

// ---------------------------------------------------------------------
// Writers that die, and one writer at a time.

#[test]
fn a_c_writer_killed_mid_write_is_taken_over_by_rust_which_learns_the_write_was_lost() {
    let Some(exe) = program("write_my_shared_data.c", false) else {
        return;
    };
    let name = Name::new("c-killed");
    let seg = free_segment(&name);
    let mut c = Lines::spawn(&exe, &["mid-write", &name.0]);
    assert_eq!(c.line(), "claimed");
    assert_eq!(c.line(), "mid-write");
    // Readers go on reading the last complete value, from Rust and C.
    assert_eq!(seg.read().unwrap(), common::demo_value());
    // A Rust claim now: busy (the C writer is alive and holds the lock).
    match seg.claim_writer(Duration::ZERO) {
        Err(Error::WriterBusy { pid, .. }) => assert_eq!(pid, c.child.id()),
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    let pid = c.child.id();
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    assert_eq!(common::primary_seq(&name) % 2, 1, "killed mid-write");
    assert_eq!(seg.read().unwrap(), common::demo_value());
    let took = seg.claim_writer(Duration::ZERO).unwrap().unwrap();
    assert_eq!(
        (took.previous_pid, took.last_write_complete),
        (Some(pid), false)
    );
    assert_eq!(common::primary_seq(&name) % 2, 0, "repaired");
    assert_eq!(seg.read().unwrap(), common::demo_value());
    let reader = program("read_my_shared_data.c", false).unwrap();
    let out = ok(run(&reader, &[&name.0]));
    assert!(out.contains("value=123\n"), "{out}");
}

#[test]
fn a_rust_writer_killed_mid_write_is_taken_over_by_c() {
    let Some(exe) = program("write_my_shared_data.c", false) else {
        return;
    };
    let name = Name::new("rust-killed");
    let seg = free_segment(&name);
    let mut child = common::MidWrite::start(&name);
    // Alive: the C writer is refused.
    let busy = run(&exe, &["write", &name.0, "5"]);
    assert_eq!(busy.status.code(), Some(3), "{busy:?}");
    let pid = child.kill();
    let out = ok(run(&exe, &["write", &name.0, "5"]));
    assert_eq!(
        out.lines().next().unwrap(),
        format!("took over: had_owner=1 previous_pid={pid} last_write_complete=0 version=2")
    );
    let v = seg.read().unwrap();
    assert_eq!(v.value, 5);
}

#[test]
fn one_writer_at_a_time_between_rust_and_c() {
    let Some(exe) = program("write_my_shared_data.c", false) else {
        return;
    };
    let name = Name::new("busy");
    // Rust holds write access: C is refused, naming this process.
    let seg = Options::posix(&name.0)
        .create_new()
        .open_with(&common::demo_value())
        .unwrap();
    let out = run(&exe, &["write", &name.0, "5"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "busy: another process (pid {}) holds write access\n",
            std::process::id()
        )
    );
    assert_eq!(seg.read().unwrap(), common::demo_value());
    seg.release_writer().unwrap();
    // C holds it: Rust is refused, naming the C process, until C releases.
    let mut c = Lines::spawn(&exe, &["write", &name.0, "5", "--hold"]);
    assert_eq!(c.line(), "claimed");
    assert_eq!(c.line(), "written version=1");
    match seg.claim_writer(Duration::ZERO) {
        Err(Error::WriterBusy { pid, .. }) => assert_eq!(pid, c.child.id()),
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    writeln!(c.child.stdin.as_mut().unwrap()).unwrap();
    assert!(c.child.wait().unwrap().success());
    assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);
    assert_eq!(seg.read().unwrap().value, 5);
}

// ---------------------------------------------------------------------
// Waiting.

#[test]
fn c_waiters_wake_on_a_rust_write_and_rust_waiters_on_a_c_write() {
    let Some(exe) = program("write_my_shared_data.c", false) else {
        return;
    };
    let name = Name::new("wait");
    let seg = free_segment(&name);
    // The doorbell is made by the first claim of the (owning) Rust writer.
    seg.claim_writer(Duration::ZERO).unwrap();
    seg.release_writer().unwrap();
    for how in ["futex", "poll", "doorbell"] {
        let mut c = Lines::spawn(&exe, &["wait", &name.0, "600000", how]);
        if how == "doorbell" {
            assert_eq!(c.line(), "doorbell=1");
        }
        let since = seg.version();
        assert_eq!(c.line(), format!("waiting version={since}"));
        // Registered (futex) before it sleeps: the write's wake finds it,
        // or its recheck sees the new version; either way it ends.
        let count = || match how {
            "futex" => read_u32(&name, 248),
            "doorbell" => ro_waiters(&name),
            _ => 1,
        };
        wait_until("the C waiter never registered", || count() != 0);
        seg.claim_writer(Duration::ZERO).unwrap();
        seg.write(&common::demo_value()).unwrap();
        seg.release_writer().unwrap();
        assert_eq!(c.line(), format!("changed version={}", since + 1), "{how}");
        assert!(c.child.wait().unwrap().success());
        assert_eq!(read_u32(&name, 248), 0, "{how}: the waiter unregistered");
        assert_eq!(ro_waiters(&name), 0, "{how}: the waiter unregistered");
    }
    // A Rust waiter (read-write handle: counted in `waiters`), a C write.
    let since = seg.version();
    let waiter = {
        let name = name.0.clone();
        std::thread::spawn(move || {
            let seg = Options::posix(&name)
                .claim_writer(false)
                .open::<MySharedData>()
                .unwrap();
            seg.wait_for_change(since, Duration::from_secs(600))
        })
    };
    wait_until("the Rust waiter never registered", || {
        read_u32(&name, 248) != 0
    });
    ok(run(&exe, &["write", &name.0, "8"]));
    assert_eq!(waiter.join().unwrap(), Some(since + 1));
    // A Rust read-only waiter (counted in the doorbell), a C write (which
    // attached the doorbell when it claimed, and looks at its count).
    let since = seg.version();
    let waiter = {
        let name = name.0.clone();
        std::thread::spawn(move || {
            let seg = Options::posix(&name)
                .open_read_only::<MySharedData>()
                .unwrap();
            seg.wait_for_change(since, Duration::from_secs(600))
        })
    };
    wait_until("the Rust waiter never registered", || {
        ro_waiters(&name) != 0
    });
    ok(run(&exe, &["write", &name.0, "9"]));
    assert_eq!(waiter.join().unwrap(), Some(since + 1));
    assert_eq!(ro_waiters(&name), 0);
}

/// Someone holds a *read* lock on the claim word's bytes, which keeps the
/// writer lock from everybody: the C writer claims through the claim word
/// alone, as the Rust runtime does, and a Rust claimer sees it alive and
/// busy; and the reverse.
#[test]
fn a_read_lock_on_the_claim_word_leaves_the_claim_word_to_decide() {
    use std::os::fd::AsRawFd;
    let Some(exe) = program("write_my_shared_data.c", false) else {
        return;
    };
    let name = Name::new("read-locked");
    let seg = free_segment(&name);
    let file = std::fs::File::open(format!("/dev/shm/{}", name.0)).unwrap();
    // SAFETY: a zeroed `flock` is valid; fcntl on an open descriptor with
    // a valid `flock`.
    let locked = unsafe {
        let mut f: libc::flock = std::mem::zeroed();
        f.l_type = libc::F_RDLCK as libc::c_short;
        f.l_whence = libc::SEEK_SET as libc::c_short;
        f.l_start = 144;
        f.l_len = 8;
        libc::fcntl(
            file.as_raw_fd(),
            libc::F_OFD_SETLK,
            &mut f as *mut libc::flock,
        )
    };
    assert_eq!(locked, 0, "{}", std::io::Error::last_os_error());
    let mut c = Lines::spawn(&exe, &["write", &name.0, "5", "--hold"]);
    assert_eq!(c.line(), "claimed");
    assert_eq!(c.line(), "written version=1");
    match seg.claim_writer(Duration::ZERO) {
        Err(Error::WriterBusy { pid, .. }) => assert_eq!(pid, c.child.id()),
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    writeln!(c.child.stdin.as_mut().unwrap()).unwrap();
    assert!(c.child.wait().unwrap().success());
    // Rust claims without the lock; C is refused.
    assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);
    let out = run(&exe, &["write", &name.0, "6"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(seg.read().unwrap().value, 5);
    drop(file);
}

// ---------------------------------------------------------------------
// Schema types: bool, enums, char, Utf16, FixedStr.

/// The offset in `Robot` of the field at `path` (`["joints", "1", "mode"]`).
fn offset_of(path: &[&str]) -> u64 {
    let mut schema = Schema::from_layout(&Robot::LAYOUT);
    let mut at = 0;
    let mut steps = path.iter();
    while let Some(step) = steps.next() {
        let f = schema
            .fields
            .iter()
            .find(|f| f.name == *step)
            .unwrap()
            .clone();
        at += f.offset;
        let mut ty = f.ty;
        while let TypeInfo::Array { elem, .. } = ty {
            let i: u64 = steps.next().unwrap().parse().unwrap();
            at += i * elem.size();
            ty = *elem;
        }
        if let TypeInfo::Struct(s) = ty {
            schema = *s;
        }
    }
    at
}

#[test]
fn c_reads_and_writes_every_schema_type_and_refuses_what_rust_refuses() {
    for cpp in [false, true] {
        let Some(exe) = program("robot.c", cpp) else {
            continue;
        };
        let name = Name::new("robot");
        let seg = Options::posix(&name.0)
            .create_new()
            .claim_writer(false)
            .open_with(&Robot::sample())
            .unwrap();
        assert_eq!(
            ok(run(&exe, &["read", &name.0])),
            "seq=42\ninitial=U+00E9\nletter=U+0058\narmed=1\nmode=Running\nlabel=left-arm\n\
             flags=1,0,1,1\njoints[0]=0.0 Idle 0 Minus\njoints[0].name=base\n\
             joints[1]=1.5 Running 1 Plus\njoints[1].name=elbow\n\
             joints[2]=3.0 Fault 0 Zero\njoints[2].name=wrist\n\
             names[0]=\\xc3\\xbcn\\xc3\\xaf\nnames[1]=\n",
            "C++: {cpp}"
        );
        // C writes a value of every kind; Rust reads it back.
        let out = ok(run(&exe, &["write", &name.0]));
        assert_eq!(
            out,
            "claimed\nwritten\nrefused: field `armed` holds an invalid value: byte 0x02 is not a bool (0 = false, 1 = true)\n"
                .replace("claimed\n", ""),
            "C++: {cpp}"
        );
        let mut want = Robot::sample();
        want.seq = 43;
        want.initial = '\u{263a}';
        want.letter = shm_runtime::Utf16(u16::from(b'Q'));
        want.armed = false;
        want.mode = schemas::robot::Mode::Fault;
        want.flags[1] = true;
        want.joints[0].axis = schemas::robot::Axis::Plus;
        want.joints[1].enabled = false;
        want.label = shm_runtime::FixedStr::new("right-arm").unwrap();
        want.joints[2].name = shm_runtime::FixedStr::new("hand").unwrap();
        want.names[1] = shm_runtime::FixedStr::new("ok").unwrap();
        assert_eq!(seg.read().unwrap(), want, "C++: {cpp}");
        // Bad values poked into both copies: C names the field path and
        // the value exactly as the Rust reader does.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/dev/shm/{}", name.0))
            .unwrap();
        let word = |at: u64| {
            let mut b = [0u8; 8];
            file.read_at(&mut b, at).unwrap();
            u64::from_ne_bytes(b)
        };
        let copies = [word(32), word(168)];
        let pokes: Vec<(&[&str], Vec<u8>)> = vec![
            (&["armed"], vec![2]),
            (&["mode"], vec![5]),
            (&["initial"], 0xd800u32.to_ne_bytes().to_vec()),
            (&["initial"], 0x11_0000u32.to_ne_bytes().to_vec()),
            (&["flags", "3"], vec![0xff]),
            (&["joints", "1", "mode"], vec![2]),
            (&["joints", "2", "axis"], (-2i16).to_ne_bytes().to_vec()),
            (&["label"], vec![15, 0]),
            (&["label"], vec![3, 0, b'a', 0xc3, 0x28]),
            (&["names", "1"], vec![3, 0, 0xed, 0xa0, 0x80]),
            (&["joints", "0", "name"], vec![2, 0, 0xf8, 0x80]),
        ];
        for (path, bytes) in pokes {
            let at = offset_of(path);
            let mut saved = [vec![0u8; bytes.len()], vec![0u8; bytes.len()]];
            for (c, keep) in copies.iter().zip(&mut saved) {
                file.read_at(keep, c + at).unwrap();
                file.write_at(&bytes, c + at).unwrap();
            }
            let Err(Error::InvalidValue { path: p, what, .. }) = seg.read() else {
                panic!("{path:?}: Rust read an invalid value");
            };
            let o = run(&exe, &["read", &name.0]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{path:?}: {err}");
            assert_eq!(
                err,
                format!("/{}: field `{p}` holds an invalid value: {what}\n", name.0),
                "{path:?}"
            );
            for (c, keep) in copies.iter().zip(&saved) {
                file.write_at(keep, c + at).unwrap();
            }
        }
        assert_eq!(seg.read().unwrap(), want);
    }
}

// ---------------------------------------------------------------------
// The README's examples, as written.

/// The ```c blocks of the README's "C and C++" section.
fn readme_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("\n## C and C++\n")
        .nth(1)
        .expect("a \"C and C++\" section")
        .split("\n## ")
        .next()
        .unwrap();
    section
        .split("```c\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_owned())
        .collect()
}

/// Compiles a README block into a program for segment `name`.
fn readme_program(block: &str, name: &Name, tag: &str) -> PathBuf {
    let dir = generated_dir();
    let src = dir.join(format!("readme-{tag}.c"));
    let body = block
        .replace("\"/MyShare\"", &format!("\"/{}\"", name.0))
        .replace("\"/plant\"", &format!("\"/{}\"", name.0));
    std::fs::write(
        &src,
        format!(
            "#include \"my_shared_data.h\"\n#include \"plant.h\"\n\
             #include <fcntl.h>\n#include <stdio.h>\n\
             #include <sys/mman.h>\n#include <sys/stat.h>\n\
             int main(void)\n{{\n{body}return 0;\n}}\n"
        ),
    )
    .unwrap();
    let exe = dir.join(format!("readme-{tag}"));
    Compiler::Gcc.compile(&src, &[], Some(&exe)).unwrap();
    exe
}

#[test]
fn the_readme_examples_read_and_write() {
    if !Compiler::Gcc.present() {
        return;
    }
    let blocks = readme_blocks();
    assert_eq!(blocks.len(), 3, "a read, a write and a ring example");
    for b in &blocks {
        assert!(b.lines().count() <= 6, "six lines at most:\n{b}");
    }
    let name = Name::new("readme");
    let seg = free_segment(&name);
    let read = readme_program(&blocks[0], &name, "read");
    assert_eq!(ok(run(&read, &[])), "123\n");
    let write = readme_program(&blocks[1], &name, "write");
    ok(run(&write, &[]));
    let v = seg.read().unwrap();
    assert_eq!((v.value, v.letter.0), (7, u16::from(b'C')));
    assert_eq!(ok(run(&read, &[])), "7\n");
    // Write access was given back.
    assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);
    // The ring example, from the oldest kept event.
    let name = Name::new("readme-ring");
    let plant = Options::posix(&name.0)
        .create_new()
        .open::<schemas::Plant>()
        .unwrap();
    let events = plant.publisher(|f| f.events()).unwrap();
    for i in 0..3 {
        events.publish(&schemas::Event::numbered(i)).unwrap();
    }
    let ring = readme_program(&blocks[2], &name, "ring");
    assert_eq!(ok(run(&ring, &[])), "event 0\nevent 1\nevent 2\n");
}
