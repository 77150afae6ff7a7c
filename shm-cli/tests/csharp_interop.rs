//! The generated C# `Segment` class (reader, waiter, writer) against Rust
//! processes, under Mono: a Rust writer with a C# reader and waiter, a C#
//! writer with the Rust `reader` example and `shm dump`, C# and Rust
//! writers refusing each other ("busy"), take-overs from dead writers both
//! ways, and the natural types (bool, enums, char, FixedStr) with the
//! Rust reader's validation messages. Skipped with a note when Mono is not
//! installed, unless `SHM_REQUIRE_CSHARP=1` (`.ci/csharp.sh`).
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output};
use std::time::{Duration, Instant};

use common::{MidWrite, Name, Writer, demo_value, root, shm_ok};
use schemas::{MySharedData, Robot};
use shm_runtime::descriptor::Schema;
use shm_runtime::{Error, Options, SharedLayout};
use test_support::child_command;

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

fn mcs(out: &Path, sources: &[PathBuf]) {
    let o = Command::new("mcs")
        .args(["-unsafe", "-warnaserror", "-nologo"])
        .arg(format!("-out:{}", out.display()))
        .args(sources)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mcs failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// bindings/csharp/tests/ShmClient.cs with the checked-in MySharedData.cs.
fn client() -> PathBuf {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let cs = root().join("bindings/csharp");
        let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cs_shm_client.exe");
        mcs(
            &exe,
            &[cs.join("tests/ShmClient.cs"), cs.join("MySharedData.cs")],
        );
        exe
    })
    .clone()
}

/// bindings/csharp/tests/RobotClient.cs with Robot's bindings, generated
/// here (Robot is not among the checked-in schemas).
fn robot_client() -> PathBuf {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let schema = Schema::from_layout(&Robot::LAYOUT);
        let text = shm_codegen::generate(shm_codegen::Lang::CSharp, &schema, "the test").unwrap();
        let robot = tmp.join("Robot.cs");
        std::fs::write(&robot, text).unwrap();
        let exe = tmp.join("cs_robot_client.exe");
        mcs(
            &exe,
            &[root().join("bindings/csharp/tests/RobotClient.cs"), robot],
        );
        exe
    })
    .clone()
}

fn mono(exe: &Path, args: &[&str]) -> Output {
    Command::new("mono").arg(exe).args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "the C# client failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A running C# client with its stdout read line by line; killed on drop.
struct Cs {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Cs {
    fn start(exe: &Path, args: &[&str]) -> Cs {
        let mut cmd = Command::new("mono");
        cmd.arg(exe).args(args);
        let (child, out) = common::spawn_piped(cmd);
        Cs { child, out }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        if self.out.read_line(&mut l).unwrap() == 0 {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err);
            panic!("the C# client ended early: {err}");
        }
        l.trim_end().to_owned()
    }

    fn poke(&mut self) {
        writeln!(self.child.stdin.as_mut().unwrap()).unwrap();
    }
}

impl Drop for Cs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Selects the `reader` example in a child process (the segment's name).
const READER_ENV: &str = "SHM_CLI_CS_READER_CHILD";

/// The child processes of these tests: the `writer` and `reader`
/// examples and the writer stopped mid-write. Does nothing as a normal test.
#[test]
fn child_role() {
    common::child_role();
    if let Ok(name) = std::env::var(READER_ENV) {
        let target = examples::Target {
            name,
            backend: examples::Backend::DEFAULT,
            key: None,
        };
        examples::exit_on_error("reader", || examples::run_reader(&target));
    }
}

/// What the Rust `reader` example prints for the segment `name`.
fn rust_reader(name: &Name) -> String {
    let o = child_command("child_role", READER_ENV, &name.0)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // libtest's own lines around the role's.
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.find("Value is")
                .map(|i| &l[i..])
                .or(l.starts_with("Letter is").then_some(l))
                .or(l.starts_with("11th").then_some(l))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn waiters(name: &Name) -> u32 {
    let bytes = std::fs::read(format!("/dev/shm/{}", name.0)).unwrap();
    u32::from_ne_bytes(bytes[248..252].try_into().unwrap())
}

#[test]
fn rust_writer_csharp_reader() {
    if !mono_available() {
        return;
    }
    let w = Writer::start("csi-read");
    let text = ok(&mono(&client(), &["read", &w.name.0]));
    assert!(
        text.starts_with("value=123\nletter=X\nnumbers[10]=1.45\nversion="),
        "{text}"
    );
}

/// A C# waiter (read-write: futex; read-only: polling) wakes for a Rust
/// write, and times out without one.
#[test]
fn csharp_waiter_sees_rust_writes() {
    if !mono_available() {
        return;
    }
    let name = Name::new("csi-wait");
    let seg = Options::posix(&name.0)
        .create_new()
        .open_with(&demo_value())
        .unwrap();
    let v0 = seg.version().to_string();
    let out = ok(&mono(&client(), &["wait", &name.0, &v0, "30"]));
    assert_eq!(out, "waiting\ntimeout\n");
    for rw in [true, false] {
        let since = seg.version();
        let s = since.to_string();
        let mut args = vec!["wait", &name.0, &s, "60000"];
        if rw {
            args.push("--rw");
        }
        let mut cs = Cs::start(&client(), &args);
        assert_eq!(cs.line(), "waiting");
        if rw {
            // Registered in `waiters`: the write must wake it.
            let deadline = Instant::now() + Duration::from_secs(60);
            while waiters(&name) == 0 {
                assert!(Instant::now() < deadline, "the C# waiter never registered");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let mut v = demo_value();
        v.value = 200 + i32::from(rw);
        seg.write(&v).unwrap();
        assert_eq!(cs.line(), format!("changed {}", since + 1), "rw {rw}");
    }
    assert_eq!(waiters(&name), 0);
}

/// A C# writer: the Rust `reader` example and `shm dump` see its values;
/// while it holds write access a Rust claim is busy; a Rust waiter sees its
/// writes; after it releases, Rust claims without a take-over.
#[test]
fn csharp_writer_rust_reader_dump_and_busy() {
    if !mono_available() {
        return;
    }
    let name = Name::new("csi-write");
    let seg = Options::posix(&name.0)
        .create_new()
        .claim_writer(false)
        .open_with(&demo_value())
        .unwrap();
    let mut cs = Cs::start(&client(), &["write", &name.0, "77"]);
    assert_eq!(cs.line(), "written 1");
    assert_eq!(
        rust_reader(&name),
        "Value is 77\nLetter is C\n11th Number is 2.5\n"
    );
    let dump = shm_ok(&["dump", &name.0]);
    assert!(dump.starts_with("value = 77\nletter = 'C'\n"), "{dump}");
    assert!(dump.contains(", 2.5, "), "{dump}");
    match seg.claim_writer(Duration::ZERO) {
        Err(Error::WriterBusy { pid, .. }) => assert_eq!(pid, cs.child.id()),
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    let since = seg.version();
    let waiter = std::thread::spawn({
        let name = name.0.clone();
        move || {
            let ro = Options::posix(&name)
                .open_read_only::<MySharedData>()
                .unwrap();
            ro.wait_for_change(since, Duration::from_secs(60))
        }
    });
    cs.poke();
    assert_eq!(cs.line(), "released");
    assert!(waiter.join().unwrap().is_some_and(|v| v > since));
    assert_eq!(seg.read().unwrap().value, 78);
    assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);
    seg.write(&demo_value()).unwrap();
}

/// While a Rust writer holds write access (this process; then another
/// one, stopped in the middle of a write), the C# writer's claim fails
/// with "busy" (exit 3), naming the owner.
#[test]
fn csharp_claim_is_busy_under_a_rust_writer() {
    if !mono_available() {
        return;
    }
    let name = Name::new("csi-busy");
    let seg = Options::posix(&name.0)
        .create_new()
        .open_with(&demo_value())
        .unwrap();
    let busy = |pid: u32| {
        let o = mono(&client(), &["write", &name.0, "5"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("process {pid} holds write access")),
            "{err}"
        );
    };
    busy(std::process::id());
    seg.release_writer().unwrap();
    let child = MidWrite::start(&name);
    let bytes = std::fs::read(format!("/dev/shm/{}", name.0)).unwrap();
    let owner = u32::from_ne_bytes(bytes[144..148].try_into().unwrap());
    assert_ne!(owner, std::process::id());
    busy(owner);
    drop(child);
    assert_eq!(seg.read().unwrap(), demo_value());
}

/// A Rust writer killed in the middle of a write: the C# writer takes over,
/// is told the write was lost, repairs and writes.
#[test]
fn csharp_takes_over_from_a_killed_rust_writer() {
    if !mono_available() {
        return;
    }
    let name = Name::new("csi-takeover");
    let seg = Options::posix(&name.0)
        .create_new()
        .claim_writer(false)
        .open_with(&demo_value())
        .unwrap();
    let mut child = MidWrite::start(&name);
    let pid = child.kill();
    let mut cs = Cs::start(&client(), &["write", &name.0, "31"]);
    let line = cs.line();
    assert!(
        line.starts_with(&format!(
            "took over from dead process {pid}; the last write was lost"
        )),
        "{line}"
    );
    assert!(cs.line().starts_with("written "));
    assert_eq!(seg.read().unwrap().value, 31);
    cs.poke();
    assert_eq!(cs.line(), "released");
}

/// A C# writer killed while it holds write access: Rust takes over.
#[test]
fn rust_takes_over_from_a_killed_csharp_writer() {
    if !mono_available() {
        return;
    }
    let name = Name::new("csi-cskill");
    let seg = Options::posix(&name.0)
        .create_new()
        .claim_writer(false)
        .open_with(&demo_value())
        .unwrap();
    let mut cs = Cs::start(&client(), &["write", &name.0, "9"]);
    assert_eq!(cs.line(), "written 1");
    let pid = cs.child.id();
    cs.child.kill().unwrap();
    cs.child.wait().unwrap();
    let took = seg.claim_writer(Duration::ZERO).unwrap().unwrap();
    assert_eq!(
        (took.previous_pid, took.last_write_complete),
        (Some(pid), true)
    );
    assert_eq!(seg.read().unwrap().value, 9);
}

/// The offset of the field at `path` (`joints.enabled`: the first element
/// of an array) in `s`.
fn offset(s: &Schema, path: &str) -> u64 {
    let mut s = s;
    let mut at = 0;
    for part in path.split('.') {
        let f = s.fields.iter().find(|f| f.name == part).unwrap();
        at += f.offset;
        let mut t = &f.ty;
        while let shm_runtime::descriptor::TypeInfo::Array { elem, .. } = t {
            t = elem;
        }
        if let shm_runtime::descriptor::TypeInfo::Struct(inner) = t {
            s = inner;
        }
    }
    at
}

/// Every schema type: the C# reader's natural values, its validation
/// (the same field path and message as the Rust reader's), and a C#
/// writer's values read back in Rust.
#[test]
fn csharp_robot_types_validation_and_writes() {
    if !mono_available() {
        return;
    }
    let name = Name::new("csi-robot");
    let seg = Options::posix(&name.0)
        .create_new()
        .open_with(&Robot::sample())
        .unwrap();
    let text = ok(&mono(&robot_client(), &["read", &name.0]));
    assert_eq!(
        text,
        "seq=42\ninitial=0xe9\nletter=X\narmed=True\nmode=Running\nlabel=\"left-arm\"\n\
         flags=True,False,True,True\n\
         joints[0]: position=0.00 mode=Idle enabled=False axis=Minus name=\"base\"\n\
         joints[1]: position=1.50 mode=Running enabled=True axis=Plus name=\"elbow\"\n\
         joints[2]: position=3.00 mode=Fault enabled=False axis=Zero name=\"wrist\"\n\
         names=\"\\u00fcn\\u00ef\",\"\"\n"
    );

    // Bad bytes poked into both copies: each reader names the field and value.
    let schema = Schema::from_layout(&Robot::LAYOUT);
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
    let joint = 20; // size of a Joint
    let pokes: Vec<(&str, u64, Vec<u8>)> = vec![
        ("armed", offset(&schema, "armed"), vec![2]),
        ("mode", offset(&schema, "mode"), vec![3]),
        (
            "initial",
            offset(&schema, "initial"),
            0xd800u32.to_ne_bytes().to_vec(),
        ),
        ("label", offset(&schema, "label"), vec![15, 0]),
        ("label", offset(&schema, "label") + 2, vec![0xff]),
        (
            "joints[1].enabled",
            offset(&schema, "joints.enabled") + joint,
            vec![2],
        ),
        (
            "joints[2].axis",
            offset(&schema, "joints.axis") + 2 * joint,
            5i16.to_ne_bytes().to_vec(),
        ),
        ("names[1]", offset(&schema, "names") + 8, vec![1, 0, 0xc3]),
    ];
    for (path, at, bytes) in pokes {
        let mut saved = vec![0u8; bytes.len()];
        file.read_at(&mut saved, copies[0] + at).unwrap();
        for c in copies {
            file.write_at(&bytes, c + at).unwrap();
        }
        let o = mono(&robot_client(), &["read", &name.0]);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{path}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        let rust = seg.read().unwrap_err().to_string();
        let field = format!("field `{path}` holds an invalid value: ");
        let tail = |s: &str| {
            s[s.find(&field).unwrap_or_else(|| panic!("{field} in {s}"))..]
                .trim_end()
                .to_owned()
        };
        assert_eq!(tail(&err), tail(&rust), "{path}");
        assert!(err.starts_with(&format!("{}: ", name.0)), "{err}");
        for c in copies {
            file.write_at(&saved, c + at).unwrap();
        }
    }
    assert_eq!(seg.read().unwrap(), Robot::sample());

    // A C# writer: refuses values outside the schema, writes the rest.
    seg.release_writer().unwrap();
    let text = ok(&mono(&robot_client(), &["write", &name.0]));
    assert!(
        text.contains(
            "refused: field `mode` holds an invalid value: 3 is not a variant of enum `Mode`"
        ),
        "{text}"
    );
    assert!(text.contains("refused: a string over capacity"), "{text}");
    let r = seg.read().unwrap();
    let mut want = Robot::sample();
    want.seq = 43;
    want.initial = '\u{1F600}';
    want.letter = shm_runtime::Utf16(u16::from(b'Z'));
    want.armed = false;
    want.mode = schemas::Mode::Fault;
    want.label = shm_runtime::FixedStr::new("right-ärm").unwrap();
    want.flags = [false, false, true, false];
    want.joints[1].mode = schemas::Mode::Idle;
    want.joints[1].axis = schemas::Axis::Minus;
    want.joints[1].name = shm_runtime::FixedStr::new("knee").unwrap();
    want.names[1] = shm_runtime::FixedStr::new("€uro").unwrap();
    assert_eq!(r, want);
}

/// The two C# examples of the README (section "C#"), compiled and run
/// against a segment of the Rust writer's values.
#[test]
fn readme_csharp_examples_work() {
    if !mono_available() {
        return;
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("\n## C#\n").expect("a C# section")..];
    let blocks: Vec<&str> = section
        .split("```csharp\n")
        .skip(1)
        .take(2)
        .map(|b| &b[..b.find("```").unwrap()])
        .collect();
    assert_eq!(blocks.len(), 2);
    let name = Name::new("csi-readme");
    let seg = Options::posix(&name.0)
        .create_new()
        .claim_writer(false)
        .open_with(&demo_value())
        .unwrap();
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for (i, block) in blocks.iter().enumerate() {
        assert!(block.lines().count() <= 6, "{block}");
        let program = format!(
            "using System;\nusing Shm.Schemas;\nstatic class Readme{i}\n{{\n    static void Main()\n    {{\n{}\n    }}\n}}\n",
            block.replace("\"MyShare\"", &format!("\"{}\"", name.0))
        );
        let src = tmp.join(format!("Readme{i}.cs"));
        std::fs::write(&src, program).unwrap();
        let exe = tmp.join(format!("readme{i}.exe"));
        mcs(&exe, &[src, root().join("bindings/csharp/MySharedData.cs")]);
        let out = ok(&mono(&exe, &[]));
        if i == 0 {
            assert_eq!(out, "123 X\n");
        }
    }
    assert_eq!(seg.read().unwrap().value, 124);
    assert_eq!(seg.claim_writer(Duration::ZERO).unwrap(), None);
}

/// Objects planted under the name: a FIFO (which must not block the
/// open), a symbolic link to a real segment (not followed, as
/// `shm_open`), an object smaller than the header, and a header that
/// promises more than the object holds. Each is one line on stderr, exit 1.
#[test]
fn csharp_refuses_hostile_objects() {
    if !mono_available() {
        return;
    }
    let real = Name::new("csi-real");
    let _seg = Options::posix(&real.0)
        .create_new()
        .open_with(&demo_value())
        .unwrap();
    let fails = |name: &Name, what: &str| {
        let o = mono(&client(), &["read", &name.0]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        err.into_owned()
    };
    let fifo = Name::new("csi-fifo");
    let path = format!("/dev/shm/{}", fifo.0);
    assert!(
        Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap()
            .success()
    );
    fails(&fifo, "fifo");
    let link = Name::new("csi-link");
    std::os::unix::fs::symlink(
        format!("/dev/shm/{}", real.0),
        format!("/dev/shm/{}", link.0),
    )
    .unwrap();
    fails(&link, "symlink");
    let small = Name::new("csi-small");
    common::raw_object(&small, &[0; 100]);
    assert!(fails(&small, "small").contains("smaller than the 256-byte"));
    // The real segment's bytes, cut short: its header says more.
    let mut bytes = std::fs::read(format!("/dev/shm/{}", real.0)).unwrap();
    bytes.truncate(300);
    let cut = Name::new("csi-cut");
    common::raw_object(&cut, &bytes);
    assert!(fails(&cut, "cut").contains("outside the object"));
}
