//! The pure-Python package `typed_shm` (bindings/python) against the Rust
//! runtime, with real processes both ways: the Rust `writer` example read
//! by `typed_shm.open(name).read()`; every schema type (the `Robot`
//! schema) read and written from Python and checked by Rust; invalid
//! values named; a Python writer read by Rust and `shm dump`; writers in
//! both languages excluding each other (`busy`) and taking over from each
//! other after a SIGKILL in the middle of a write; change notification
//! both ways; `pip install` of the package into a fresh venv; and the
//! generated standalone module of `Robot` reading natural values and
//! refusing bad bytes with the Rust reader's exact message.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{
    Name, Writer, demo_value, python, python_command, python_fuzz, python_missing,
    python_test_script, root, shm_ok,
};
use schemas::{Axis, Mode, MySharedData, Robot};
use shm_runtime::{Error, FixedStr, Options, ReadWrite, Shared, Utf16};

/// Selects the `reader` example's role in a child process: the segment's
/// name.
const READER_ENV: &str = "SHM_PY_READER_CHILD";

#[test]
fn child_role() {
    common::child_role();
    // The `reader` example (`reader --name NAME`): prints the values.
    if let Ok(name) = std::env::var(READER_ENV) {
        let target = examples::Target {
            name,
            backend: examples::Backend::DEFAULT,
            key: None,
        };
        examples::exit_on_error("reader", || examples::run_reader(&target));
    }
}

/// Runs the `reader` example on `name` in a child process; its stdout.
fn rust_reader(name: &str) -> String {
    let out = test_support::child_command("child_role", READER_ENV, name)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `python3 bindings/python/tests/typed_shm_client.py ARGS...`, with the
/// package on the path.
fn client(args: &[&str]) -> Command {
    let mut c = python_test_script("typed_shm_client.py");
    c.args(args);
    c
}

fn run(args: &[&str]) -> Output {
    client(args).output().expect("run python3")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "python {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A Python client started with piped stdin/stdout, after it printed a
/// line containing `token` (killed on drop).
struct Py {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    /// The line `start` waited for.
    last: String,
}

impl Py {
    fn start(args: &[&str], token: &str) -> Py {
        let (child, out) = common::spawn_piped(client(args));
        let mut py = Py {
            child,
            out,
            last: String::new(),
        };
        py.last = py.expect(token);
        py
    }

    fn expect(&mut self, token: &str) -> String {
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if self.out.read_line(&mut line).unwrap() == 0 {
                let mut err = String::new();
                let _ =
                    std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err);
                panic!("python ended without printing {token:?}: {seen}{err}");
            }
            seen.push_str(&line);
            if line.contains(token) {
                return line;
            }
        }
    }

    /// Sends a line (the client's signal to finish) and waits for success.
    fn finish(mut self) {
        let _ = self.child.stdin.as_mut().unwrap().write_all(b"\n");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }

    fn kill(&mut self) -> u32 {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child.id()
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn new_segment<T: shm_runtime::SharedLayout>(name: &Name, value: &T) -> Shared<T, ReadWrite> {
    Options::posix(&name.0)
        .create_new()
        .claim_writer(false)
        .open_with(value)
        .unwrap()
}

#[test]
fn the_generic_reader_reads_the_writer_example_and_leaves_it_in_place() {
    if python_missing(false) {
        return;
    }
    let w = Writer::start("py-generic");
    // The command of the README and of issue 15, exactly.
    let out = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import typed_shm; print(typed_shm.open('{}').read())",
                w.name.0
            ),
        ])
        .env("PYTHONPATH", root().join("bindings/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("MySharedData(value=123, letter='X', _pad=[0, 0], numbers=[0.0, "),
        "{text}"
    );
    assert!(text.contains(", 1.45, "), "{text}");
    assert_eq!(ok(&["field", &w.name.0, "numbers[10]"]), "1.45\n");
    assert_eq!(ok(&["field", &format!("/{}", w.name.0), "value"]), "123\n");
    // Nothing removed the segment when Python exited.
    assert!(PathBuf::from(format!("/dev/shm/{}", w.name.0)).exists());
}

#[test]
fn the_generated_module_opens_through_the_package() {
    if python_missing(false) {
        return;
    }
    let w = Writer::start("py-gen");
    let script = format!(
        "import my_shared_data as m, alphabet as a\n\
         with m.open_typed('{0}') as seg:\n    v = seg.read()\n\
         print(v.value, v.letter, v.numbers[10])\n\
         try:\n    a.open_typed('{0}')\nexcept a.SegmentError as e:\n    print('refused:', e)\n",
        w.name.0
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .env("PYTHONPATH", root().join("bindings/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("123 X 1.45\nrefused: the segment holds schema MySharedData v1 ("),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("not Alphabet v1"), "{text}");
}

#[test]
fn every_schema_type_reads_and_writes_naturally() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("py-robot");
    let seg = new_segment(&name, &Robot::sample());
    let text = ok(&["read", &name.0]);
    for want in [
        "Robot(seq=42, initial='é', letter='X', armed=True, mode=<Mode.Running: 1>, label='left-arm', flags=[True, False, True, True], joints=[",
        "Joint(position=0.0, mode=<Mode.Idle: 0>, enabled=False, axis=<Axis.Minus: -1>, name='base', _pad0=[0, 0])",
        "Joint(position=3.0, mode=<Mode.Fault: 7>, enabled=False, axis=<Axis.Zero: 0>, name='wrist', _pad0=[0, 0])",
        "names=['ünï', ''])",
        "version=0",
    ] {
        assert!(text.contains(want), "{want} not in {text}");
    }
    // Enums by name or number, strings, chars, bools, nested structs.
    ok(&[
        "write",
        &name.0,
        "armed=false",
        "mode=\"Fault\"",
        "label=\"right-ärm\"",
        "initial=\"ß\"",
        "letter=\"Z\"",
        "names=[\"a\", \"bc\"]",
        "joints=[{\"position\": -2.5, \"mode\": 1, \"enabled\": true, \"axis\": \"Plus\", \"name\": \"hip\", \"_pad0\": [0, 0]}, {\"position\": 1, \"mode\": 0, \"enabled\": false, \"axis\": 0, \"name\": \"\", \"_pad0\": [0, 0]}, {\"position\": 0, \"mode\": 7, \"enabled\": true, \"axis\": -1, \"name\": \"12345678\", \"_pad0\": [0, 0]}]",
    ]);
    let v = seg.read().unwrap();
    assert_eq!(v.seq, 42);
    assert!(!v.armed);
    assert_eq!(v.mode, Mode::Fault);
    assert_eq!(v.label, FixedStr::new("right-ärm").unwrap());
    assert_eq!(v.initial, 'ß');
    assert_eq!(v.letter, Utf16(u16::from(b'Z')));
    assert_eq!(v.names[1], FixedStr::new("bc").unwrap());
    assert_eq!(
        (v.joints[0].position, v.joints[0].mode, v.joints[0].axis),
        (-2.5, Mode::Running, Axis::Plus)
    );
    assert_eq!(v.joints[2].name, FixedStr::new("12345678").unwrap());
    assert_eq!(seg.version(), 1);
    // Values the schema does not allow are refused before anything is
    // written, naming the field.
    for (arg, field) in [
        ("label=\"123456789012345\"", "label"),
        ("mode=\"Walking\"", "mode"),
        ("armed=2", "armed"),
        ("initial=\"\\ud800\"", "initial"),
        ("seq=-1", "seq"),
    ] {
        let o = run(&["write", &name.0, arg]);
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(1), "{arg}: {err}");
        assert!(err.contains(&format!("field `{field}`")), "{arg}: {err}");
    }
    assert_eq!(seg.version(), 1);
}

#[test]
fn the_numpy_view_where_numpy_is_installed() {
    if python_missing(false) {
        return;
    }
    let has_numpy = Command::new(python())
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_numpy {
        eprintln!("skipped: numpy is not installed for {}", python());
        return;
    }
    let name = Name::new("py-numpy");
    let _seg = new_segment(&name, &Robot::sample());
    let out = ok(&["numpy", &name.0]);
    assert!(out.starts_with("itemsize=112\n"), "{out}");
    // seq, initial ('é' = 233), letter, armed, mode, label (length 8), flags.
    for want in [
        "(42, 233, 88, True, 1, (8, ",
        "[ True, False,  True,  True]",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }
}

/// A System V key unique (with high probability) to this process and call:
/// FNV-1a of a unique name, never 0 (`IPC_PRIVATE`) and never negative.
fn unique_key(tag: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in test_support::unique(tag).bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    ((h & 0x7fff_ffff) | 0x4000_0000) as i32
}

#[test]
fn system_v_and_file_segments_read_write_and_wait() {
    if python_missing(false) {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(test_support::unique("py-file"));
    let key = unique_key("py-sysv");
    for (opts, name) in [
        (Options::sysv(key), format!("sysv:{key}")),
        (Options::file(&file), format!("file:{}", file.display())),
    ] {
        let _cleanup = test_support::Cleanup(opts.clone());
        let seg = opts
            .clone()
            .create_new()
            .claim_writer(false)
            .open_with(&demo_value())
            .unwrap();
        assert!(ok(&["read", &name]).contains("value=123"), "{name}");
        // A Python writer (without the writer lock on System V: the claim
        // word and the process checks), which a Rust writer finds busy.
        let py = Py::start(&["write", &name, "--hold", "value=-7"], "written 1");
        assert_eq!(seg.read().unwrap().value, -7);
        assert!(matches!(
            seg.claim_writer(Duration::ZERO),
            Err(Error::WriterBusy { .. })
        ));
        py.finish();
        // A Rust writer wakes a read-only Python waiter, which found the
        // doorbell the claim made.
        seg.claim_writer(Duration::ZERO).unwrap();
        let since = seg.version().to_string();
        let mut py = Py::start(&["wait", &name, &since, "30"], "waiting");
        assert!(py.last.contains("futex=True"), "{name}: {}", py.last);
        seg.write(&demo_value()).unwrap();
        py.expect("version=2");
        let o = run(&["write", &name, "value=1"]);
        assert_eq!(o.status.code(), Some(3), "{name}");
    }
}

/// The payload offsets of a POSIX segment, from its header bytes.
fn copies(name: &Name) -> [u64; 2] {
    let b = std::fs::read(format!("/dev/shm/{}", name.0)).unwrap();
    let at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
    [at(32), at(168)]
}

#[test]
fn invalid_values_are_named_and_segment_text_is_escaped() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("py-invalid");
    let _seg = new_segment(&name, &Robot::sample());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{}", name.0))
        .unwrap();
    let poke = |offset: u64, bytes: &[u8]| {
        for c in copies(&name) {
            file.write_all_at(bytes, c + offset).unwrap();
        }
    };
    let fails = |needle: &str| {
        let o = run(&["read", &name.0]);
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(needle), "{needle} not in {err}");
        assert!(!err.contains('\x1b'), "raw segment bytes in {err:?}");
    };
    // `armed` (offset 14) = 2.
    poke(14, &[2]);
    fails("field `armed`: invalid bool (not 0 or 1): 2");
    poke(14, &[1]);
    // joints[1].mode (36 + 20 + 4) = 3, not a variant.
    poke(60, &[3]);
    fails("field `joints[1].mode`: invalid Mode (no variant has this value): 3");
    poke(60, &[1]);
    // `label` (16): 3 bytes, not UTF-8, with an escape character.
    poke(16, &[3, 0, 0xff, 0x1b, b'[']);
    fails("field `label`: invalid FixedStr<14> (not UTF-8): \\xff\\x1b[");
    poke(16, &[15, 0]);
    fails("field `label`: invalid FixedStr<14> (length above capacity): 15");
    poke(16, &[0, 0]);
    // `initial` (8): a surrogate.
    poke(8, &0xd800u32.to_ne_bytes());
    fails("field `initial`: invalid char (not a Unicode scalar value): 0xd800");
}

#[test]
fn damaged_segments_give_typed_shm_errors_only() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("py-fuzz");
    let _seg = new_segment(&name, &Robot::sample());
    python_fuzz(&name);
}

#[test]
fn a_python_writer_is_read_by_rust_and_shm_dump_and_excludes_rust_writers() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("py-writer");
    let seg = new_segment(&name, &demo_value());
    let py = Py::start(
        &["write", &name.0, "--hold", "value=77", "letter=\"Q\""],
        "written 1",
    );
    let reader = Options::posix(&name.0)
        .open_read_only::<MySharedData>()
        .unwrap();
    let v = reader.read().unwrap();
    assert_eq!(
        (v.value, v.letter, v.numbers[10]),
        (77, Utf16(u16::from(b'Q')), 1.45)
    );
    let printed = rust_reader(&name.0);
    assert!(
        printed.contains("Value is 77\nLetter is Q\n11th Number is 1.45\n"),
        "{printed}"
    );
    let dump = shm_ok(&["dump", &name.0]);
    assert!(dump.contains("value = 77"), "{dump}");
    assert!(dump.contains("letter = 'Q'"), "{dump}");
    // The Python process holds write access: a Rust writer is busy.
    match seg.claim_writer(Duration::ZERO) {
        Err(Error::WriterBusy { pid, .. }) => assert_eq!(pid, py.child.id()),
        other => panic!("expected WriterBusy, got {other:?}"),
    }
    // Released on close: the Rust writer claims with nothing to repair.
    py.finish();
    assert!(seg.claim_writer(Duration::ZERO).unwrap().is_none());
    // And now a Python writer is busy.
    let o = run(&["write", &name.0, "value=1"]);
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!(
            "process {} holds write access",
            std::process::id()
        )),
        "{err}"
    );
    assert_eq!(seg.read().unwrap().value, 77);
    seg.release_writer().unwrap();
    // A forked child cannot write through, nor release, its parent's claim.
    let py = Py::start(&["fork", &name.0], "parent wrote");
    assert_eq!(seg.read().unwrap().value, 21);
    assert!(matches!(
        seg.claim_writer(Duration::ZERO),
        Err(Error::WriterBusy { .. })
    ));
    py.finish();
    // A handle never closed is released when the interpreter exits.
    let out = python_command()
        .args([
            "-c",
            &format!(
                "import typed_shm\ns = typed_shm.open('{}', write=True)\ns.update(value=3)",
                name.0
            ),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(seg.claim_writer(Duration::ZERO).unwrap().is_none());
    assert_eq!(seg.read().unwrap().value, 3);
}

#[test]
fn snapshots_stay_whole_under_a_racing_writer_both_ways() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("py-race");
    let seg = new_segment(&name, &demo_value());
    let whole = |k: i32| {
        let mut v = demo_value();
        v.value = k;
        v.numbers = [k as f32; 50];
        v
    };
    seg.claim_writer(Duration::ZERO).unwrap();
    seg.write(&whole(0)).unwrap();
    // A Rust writer writes as fast as it can while Python reads.
    let mut reader = client(&["race-read", &name.0, "500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // (Values below 2^24, which an f32 holds exactly.)
    let mut k = 1;
    while reader.try_wait().unwrap().is_none() {
        seg.write(&whole(k)).unwrap();
        k = (k + 1) % (1 << 20);
    }
    let out = reader.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success() && text.starts_with("consistent distinct="),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let distinct: u32 = text.trim()["consistent distinct=".len()..].parse().unwrap();
    assert!(distinct > 1, "{text}");
    // A Python writer writes while Rust reads.
    seg.release_writer().unwrap();
    let mut writer = client(&["race-write", &name.0, "2000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    while writer.try_wait().unwrap().is_none() {
        let v = seg.read().unwrap();
        assert!(
            v.numbers.iter().all(|&x| x == v.value as f32),
            "torn: {v:?}"
        );
        seen.insert(v.value);
    }
    assert!(writer.wait().unwrap().success());
    assert_eq!(seg.read().unwrap(), whole(1999));
    assert!(seen.len() > 1, "{}", seen.len());
}

#[test]
fn writers_take_over_from_each_other_after_a_sigkill_mid_write() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("py-takeover");
    let seg = new_segment(&name, &demo_value());
    // A Python writer killed in the middle of a write: the Rust writer
    // takes over and learns that the write was lost.
    let mut py = Py::start(&["torn", &name.0], "mid-write");
    assert_eq!(seg.read().unwrap(), demo_value());
    let pid = py.kill();
    assert_eq!(seg.read().unwrap(), demo_value());
    let took = seg.claim_writer(Duration::ZERO).unwrap().unwrap();
    assert_eq!(
        (took.previous_pid, took.last_write_complete),
        (Some(pid), false)
    );
    seg.release_writer().unwrap();
    // A Rust writer killed in the middle of a write: the Python writer
    // takes over, repairs, and writes.
    let mut rust = common::MidWrite::start(&name);
    let before = seg.read().unwrap();
    let pid = rust.kill();
    let out = ok(&["write", &name.0, "value=5"]);
    assert!(
        out.contains(&format!(
            "took over {{'previous_pid': {pid}, 'last_write_complete': False"
        )),
        "{out}"
    );
    let after = seg.read().unwrap();
    assert_eq!(after.value, 5);
    assert_eq!(after.letter, before.letter);
    assert!(seg.claim_writer(Duration::ZERO).unwrap().is_none());
}

#[test]
fn waiters_are_woken_both_ways() {
    if python_missing(false) {
        return;
    }
    let name = Name::new("py-wait");
    let seg = new_segment(&name, &demo_value());
    seg.claim_writer(Duration::ZERO).unwrap();
    // Python waiters, read-only (counted in the doorbell) and read-write
    // (counted in `waiters`), woken by a Rust write.
    for rw in [false, true] {
        let since = seg.version().to_string();
        let mut args = vec!["wait", &name.0, &since, "30"];
        if rw {
            args.push("--rw");
        }
        let mut py = Py::start(&args, "waiting");
        // This process claimed write access, which made the doorbell: the
        // read-only waiter counts itself there and sleeps on the futex too.
        assert!(py.last.contains("futex=True"), "{}", py.last);
        seg.write(&demo_value()).unwrap();
        let line = py.expect("version=");
        assert_eq!(line.trim(), format!("version={}", seg.version()));
    }
    // A Rust waiter, woken by a Python write.
    seg.release_writer().unwrap();
    let since = seg.version();
    let waiter = std::thread::spawn({
        let name = name.0.clone();
        move || {
            let r = Options::posix(&name)
                .open_read_only::<MySharedData>()
                .unwrap();
            r.wait_for_change(since, Duration::from_secs(30))
        }
    });
    ok(&["write", &name.0, "value=9"]);
    assert_eq!(waiter.join().unwrap(), Some(since + 1));
    // A Python waiter times out without a write.
    let out = ok(&["wait", &name.0, &seg.version().to_string(), "0.05"]);
    assert!(out.ends_with("timeout\n"), "{out}");
}

#[test]
fn pip_installs_the_package_into_a_venv() {
    if python_missing(true) {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(test_support::unique("py-venv"));
    let _ = std::fs::remove_dir_all(&dir);
    let venv = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        venv.status.success(),
        "python3 -m venv failed (install python3-venv): {}",
        String::from_utf8_lossy(&venv.stderr)
    );
    // A copy of the package: an in-tree build would write build/ and
    // *.egg-info into the repository.
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("typed_shm")).unwrap();
    let pkg = root().join("bindings/python");
    for f in ["pyproject.toml", "README.md"] {
        std::fs::copy(pkg.join(f), src.join(f)).unwrap();
    }
    for e in std::fs::read_dir(pkg.join("typed_shm")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "py") {
            std::fs::copy(&p, src.join("typed_shm").join(p.file_name().unwrap())).unwrap();
        }
    }
    let pip = |extra: &[&str]| {
        Command::new(dir.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(extra)
            .arg(&src)
            .output()
            .unwrap()
    };
    // Offline with the venv's own setuptools where it has one (Python up
    // to 3.11), else from the package index.
    let mut o = pip(&["--no-index", "--no-build-isolation"]);
    if !o.status.success() {
        o = pip(&[]);
    }
    assert!(
        o.status.success(),
        "pip install failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let w = Writer::start("py-pip");
    let out = Command::new(dir.join("bin/python"))
        .args([
            "-c",
            &format!(
                "import typed_shm; print(typed_shm.open('{}').read())",
                w.name.0
            ),
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("MySharedData(value=123, letter='X'"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------
// The generated standalone module (`shm codegen --lang python`) for every
// schema type: natural values, and Rust's checks with Rust's messages.

/// The offset in `Robot` of the field at `path` (`["joints", "1", "mode"]`).
fn robot_offset(path: &[&str]) -> u64 {
    use shm_runtime::descriptor::{Schema, TypeInfo};
    let mut schema = Schema::from_layout(&<Robot as shm_runtime::SharedLayout>::LAYOUT);
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
fn the_generated_module_reads_every_schema_type_and_refuses_what_rust_refuses() {
    if python_missing(false) {
        return;
    }
    use shm_codegen::{Lang, Schema, generate, rust_source};
    // Robot is not among the checked-in bindings: generate its module.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(test_support::unique("py-robot"));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = Schema::from_layout(&<Robot as shm_runtime::SharedLayout>::LAYOUT);
    let text = generate(Lang::Python, &schema, &rust_source(&schema)).unwrap();
    std::fs::write(dir.join("robot.py"), text).unwrap();
    let read = |name: &str| {
        Command::new(python())
            .arg(root().join("bindings/python/tests/read_robot.py"))
            .arg(name)
            .env("PYTHONPATH", &dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("run python3")
    };

    let name = Name::new("py-gen-robot");
    let seg = new_segment(&name, &Robot::sample());
    let o = read(&name.0);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "seq=42\n\
         initial='é' letter='X' armed=True\n\
         mode=<Mode.Running: 1> label='left-arm' flags=[True, False, True, True]\n\
         joint 0.0 Idle False Minus 'base'\n\
         joint 1.5 Running True Plus 'elbow'\n\
         joint 3.0 Fault False Zero 'wrist'\n\
         names=['ünï', '']\n\
         raw armed=1 mode=1 initial=0xe9\n"
    );

    // Bad values poked into both copies: the module raises InvalidValue
    // with the message of the Rust reader's Error::InvalidValue.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/shm/{}", name.0))
        .unwrap();
    let pokes: Vec<(&[&str], Vec<u8>)> = vec![
        (&["armed"], vec![2]),
        (&["mode"], vec![9]),
        (&["initial"], 0xd800u32.to_ne_bytes().to_vec()),
        (&["initial"], 0x11_0000u32.to_ne_bytes().to_vec()),
        (&["flags", "3"], vec![0xff]),
        (&["joints", "1", "mode"], vec![9]),
        (&["joints", "1", "enabled"], vec![2]),
        (&["joints", "2", "axis"], (-2i16).to_ne_bytes().to_vec()),
        (&["label"], vec![15, 0]),
        (&["label"], vec![3, 0, b'a', 0xc3, 0x28]),
        (&["label"], vec![3, 0, 0xff, 0x1b, b'[']),
        (&["names", "1"], vec![3, 0, 0xed, 0xa0, 0x80]),
        (&["joints", "0", "name"], vec![2, 0, 0xf8, 0x80]),
    ];
    for (path, bytes) in pokes {
        let at = robot_offset(path);
        let mut saved = [vec![0u8; bytes.len()], vec![0u8; bytes.len()]];
        for (c, keep) in copies(&name).iter().zip(&mut saved) {
            file.read_at(keep, c + at).unwrap();
            file.write_all_at(&bytes, c + at).unwrap();
        }
        let err = match seg.read() {
            Err(e @ Error::InvalidValue { .. }) => e.to_string(),
            other => panic!("{path:?}: Rust read {other:?}"),
        };
        let o = read(&name.0);
        assert_eq!(o.status.code(), Some(1), "{path:?}");
        assert_eq!(
            String::from_utf8(o.stderr).unwrap(),
            format!("{err}\n"),
            "{path:?}"
        );
        for (c, keep) in copies(&name).iter().zip(&saved) {
            file.write_all_at(keep, c + at).unwrap();
        }
    }
    assert_eq!(seg.read().unwrap(), Robot::sample());
    assert!(read(&name.0).status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
