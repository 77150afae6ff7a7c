//! Helpers of the `shm` tests: unique names, the built binary, the
//! `writer` example as a real producer process, and the child roles of
//! this test binary that run it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use test_support::{ChildRole, child_command};

/// A segment name unique to this process and call, removed on drop
/// (whatever the test did with it).
pub use test_support::Name;

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The body of the `#[test] fn child_role()` of each test file: runs the
/// role the environment selects ([`writer_child_role`] or
/// [`mid_write_child_role`]); does nothing in a normal test run.
pub fn child_role() {
    writer_child_role();
    mid_write_child_role();
}

/// Runs the built `shm` with `args`.
pub fn shm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shm"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run shm")
}

/// `shm` must succeed; its stdout.
pub fn shm_ok(args: &[&str]) -> String {
    let o = shm(args);
    assert!(
        o.status.success(),
        "shm {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// `shm` must fail with status 1 and exactly one line on stderr, no
/// panic and no backtrace; that line.
pub fn shm_fails(args: &[&str]) -> String {
    let o = shm(args);
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(o.status.code(), Some(1), "shm {args:?}: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "shm {args:?}: one line expected: {err}"
    );
    assert!(err.starts_with("shm: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

/// The Python interpreter: `SHM_TEST_PYTHON` (e.g. a venv's, with numpy),
/// or `python3`.
pub fn python() -> String {
    std::env::var("SHM_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Whether the Python these tests need is missing (`python3`, its `venv`
/// and `ensurepip` modules if `venv`, and libatomic, which the package's
/// writer and futex waiter load through ctypes): then the test is skipped
/// with a message, as the C and C# tests skip without their compilers, so
/// that `cargo test --workspace` needs only a Rust toolchain. Under CI
/// (`CI` set; `.ci/python.sh` installs all of it) a missing piece fails.
pub fn python_missing(venv: bool) -> bool {
    let mut check = String::from(
        "import ctypes.util, sys; sys.exit(ctypes.util.find_library('atomic') is None)",
    );
    if venv {
        check.push_str("; import ensurepip, venv");
    }
    let ready = Command::new(python())
        .args(["-c", &check])
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        return false;
    }
    let what = if venv {
        "python3 with libatomic, venv and pip"
    } else {
        "python3 with libatomic"
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing: run .ci/python.sh"
    );
    eprintln!("skipped: {what} is missing (.ci/python.sh installs it)");
    true
}

/// The Python interpreter with the package (`bindings/python`) on its
/// path, writing no bytecode there.
pub fn python_command() -> Command {
    let mut c = Command::new(python());
    c.env("PYTHONPATH", root().join("bindings/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    c
}

/// `python3 bindings/python/tests/FILE` with the package on the path
/// ([`python_command`]).
pub fn python_test_script(file: &str) -> Command {
    let mut c = python_command();
    c.arg(root().join("bindings/python/tests").join(file));
    c
}

/// Runs `bindings/python/tests/fuzz_typed_shm.py` on damaged copies of
/// the segment `name`: it must succeed and print `ok ...`; that output.
pub fn python_fuzz(name: &Name) -> String {
    let out = python_test_script("fuzz_typed_shm.py")
        .arg(name.as_str())
        .arg(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    eprintln!("fuzz_typed_shm.py: {text}");
    assert!(
        out.status.success() && text.starts_with("ok "),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Waits for `child` at most 60 s (a hang detector, not a time
/// assertion), killing it if it has not ended.
pub fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the client hangs: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Starts `cmd` with its stdin, stdout and stderr piped; the child and
/// its stdout, to be read line by line.
pub fn spawn_piped(mut cmd: Command) -> (Child, BufReader<ChildStdout>) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// A child whose stdout is read line by line.
pub struct Lines {
    pub child: Child,
    pub out: BufReader<std::process::ChildStdout>,
}

impl Lines {
    pub fn spawn(exe: &Path, args: &[&str]) -> Lines {
        let mut cmd = Command::new(exe);
        cmd.args(args);
        let (child, out) = spawn_piped(cmd);
        Lines { child, out }
    }

    /// The next line, without its end; panics if stdout ends.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        assert_ne!(
            self.out.read_line(&mut line).unwrap(),
            0,
            "the child ended early"
        );
        line.trim_end().to_owned()
    }

    /// Sends a line to its stdin.
    pub fn go(&mut self) {
        writeln!(self.child.stdin.as_mut().unwrap()).unwrap();
    }

    /// Waits for it to end successfully; the rest of its stdout.
    pub fn done(mut self) -> String {
        // (Its output is a few lines: the pipe never fills.)
        let st = finish_wait(&mut self.child);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.out, &mut rest).unwrap();
        assert!(st.success(), "{st}: {rest}");
        rest
    }
}

/// Waits for `child` at most 60 s (a hang detector, not a time
/// assertion), killing it if it has not ended.
pub fn finish_wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the client hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `ready` every millisecond until it holds; panics with `what`
/// after 60 s (a hang detector, not a time assertion).
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The 4-byte word at byte `at` of the POSIX object of `name`.
pub fn read_u32(name: &Name, at: u64) -> u32 {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(format!("/dev/shm/{}", name.as_str())).unwrap();
    let mut b = [0u8; 4];
    f.read_at(&mut b, at).unwrap();
    u32::from_ne_bytes(b)
}

/// The doorbell's `ro_waiters` (offset 16 of the System V segment under
/// its key).
pub fn ro_waiters(name: &Name) -> u32 {
    let id = shm_runtime::SegmentId::Posix(format!("/{}", name.as_str()));
    let key = shm_runtime::tools::doorbell_key(&id).unwrap();
    // SAFETY: shmget/shmat/shmdt with a key, flags and the address shmat
    // returned; the 64-byte attachment is read with one 4-byte atomic load
    // (its words are only ever accessed as such) and detached.
    unsafe {
        let id = libc::shmget(key, 0, 0);
        assert!(id >= 0, "no doorbell");
        let p = libc::shmat(id, std::ptr::null(), libc::SHM_RDONLY);
        assert_ne!(p as isize, -1);
        let n = std::sync::atomic::AtomicU32::from_ptr(p.cast::<u8>().add(16).cast())
            .load(std::sync::atomic::Ordering::SeqCst);
        libc::shmdt(p);
        n
    }
}

/// Selects [`writer_child_role`] in a child process: the segment's name.
const WRITER_ENV: &str = "SHM_CLI_WRITER_CHILD";

/// The `writer` example in the child process: what `writer --name NAME`
/// runs ([`examples::run_writer`], with the same arguments): creates the
/// segment, writes 123, `X` and 1.45, says `Written to shared memory`,
/// waits for a line on stdin, prints the values and removes the segment.
/// Does nothing in a normal test run.
pub fn writer_child_role() {
    let Ok(name) = std::env::var(WRITER_ENV) else {
        return;
    };
    let args = examples::WriterArgs {
        target: examples::Target {
            name,
            backend: examples::Backend::DEFAULT,
            key: None,
        },
        hold_secs: None,
        keep: false,
        replace: false,
    };
    examples::exit_on_error("writer", || examples::run_writer(&args));
}

/// A running `writer --name NAME` (this test binary's `child_role`, see
/// [`writer_child_role`]), which has written its values and waits for a
/// line on stdin. Dropping it lets it finish (it prints and unlinks the
/// segment); it is killed if it does not.
pub struct Writer {
    child: ChildRole,
    pub name: Name,
}

impl Writer {
    pub fn start(tag: &str) -> Writer {
        let name = Name::new(tag);
        let mut child = ChildRole::start("child_role", WRITER_ENV, &name.0);
        // (libtest prints `test child_role ... ` before it; what the writer
        // prints after it is a few lines: the pipe never fills.)
        assert_eq!(
            child.expect("Written to shared memory"),
            "Written to shared memory"
        );
        Writer { child, name }
    }

    /// SIGKILLs the writer: it never closes its handle (the segment and
    /// its doorbell stay).
    pub fn kill(&mut self) {
        self.child.kill();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let child = self.child.child();
        if let Some(s) = child.stdin.as_mut() {
            let _ = s.write_all(b"\n");
        }
        for _ in 0..200 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // Killed and reaped when `self.child` is dropped.
    }
}

/// Makes `/dev/shm/NAME` hold exactly `bytes` (a foreign or damaged object).
pub fn raw_object(name: &Name, bytes: &[u8]) {
    std::fs::write(format!("/dev/shm/{}", name.0), bytes).unwrap();
}

/// The values the `writer` example writes: 123, `X`, numbers[10] = 1.45.
pub fn demo_value() -> schemas::MySharedData {
    let mut v = schemas::MySharedData {
        value: 123,
        letter: shm_runtime::Utf16('X' as u16),
        _pad: [0; 2],
        numbers: [0.0; 50],
    };
    v.numbers[10] = 1.45;
    v
}

/// The counter of the primary copy of a POSIX segment, from its bytes.
pub fn primary_seq(name: &Name) -> u64 {
    let bytes = std::fs::read(format!("/dev/shm/{}", name.0)).unwrap();
    u64::from_ne_bytes(bytes[128..136].try_into().unwrap())
}

/// Selects [`mid_write_child_role`] in a child process: the segment's name.
const MID_WRITE_ENV: &str = "SHM_CLI_MID_WRITE_CHILD";

/// In the child process (see [`child_role`]), claims write access to the
/// `MySharedData` segment, writes its value unchanged once (into the
/// backup copy: writes alternate, so the next one goes to the primary),
/// then does what a writer does in the middle of a write: marks the primary
/// copy as being written, stores the first 8 bytes of a new value (two
/// fields changed), says `mid-write`, and never finishes
/// (`shm_runtime::test_util::begin_torn_write`). Does nothing in a normal
/// test run.
pub fn mid_write_child_role() {
    let Ok(name) = std::env::var(MID_WRITE_ENV) else {
        return;
    };
    let seg = shm_runtime::Options::posix(&name)
        .open::<schemas::MySharedData>()
        .unwrap();
    let mut next = seg.read().unwrap();
    seg.write(&next).unwrap();
    next.value = 999;
    next.letter = shm_runtime::Utf16('Y' as u16);
    shm_runtime::test_util::begin_torn_write(&seg, &next, 8).unwrap();
    println!("mid-write");
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::park();
    }
}

/// A child process (this test binary's `child_role`) stopped in the middle
/// of a write to a segment; killed on drop.
pub struct MidWrite(Child);

impl MidWrite {
    /// Starts it and waits until it is in the middle of the write.
    pub fn start(name: &Name) -> MidWrite {
        let mut child = MidWrite(
            child_command("child_role", MID_WRITE_ENV, &name.0)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn the child writer"),
        );
        let mut out = BufReader::new(child.0.stdout.take().unwrap());
        let mut line = String::new();
        // libtest prints `test child_role ... ` first, on the same line.
        while !line.trim_end().ends_with("mid-write") {
            line.clear();
            assert_ne!(
                out.read_line(&mut line).unwrap(),
                0,
                "the child writer ended early"
            );
        }
        child
    }

    /// Kills it with SIGKILL (in the middle of its write); its pid.
    pub fn kill(&mut self) -> u32 {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
        self.0.id()
    }
}

impl Drop for MidWrite {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The scenario both client tests run: a `MySharedData` segment holding
/// [`demo_value`]; a child writer stopped in the middle of a write (the
/// primary copy marked as being written and half changed); `read` (the
/// clients must read the last complete value) while it lives, after it is
/// SIGKILLed there, and after this process takes write access over (which
/// must report the lost write and repair the primary copy).
pub fn mid_write_scenario(tag: &str, read: impl Fn(&Name)) {
    let name = Name::new(tag);
    let seg = shm_runtime::Options::posix(&name.0)
        .create_new()
        .claim_writer(false)
        .open_with(&demo_value())
        .unwrap();
    let mut child = MidWrite::start(&name);
    assert_eq!(primary_seq(&name) % 2, 1);
    read(&name);
    // Killed there: the same, for good.
    let pid = child.kill();
    assert_eq!(primary_seq(&name) % 2, 1);
    read(&name);
    // The next writer takes over, learns that the write was lost and
    // repairs the primary copy, which the clients read again.
    let took = seg
        .claim_writer(std::time::Duration::ZERO)
        .unwrap()
        .unwrap();
    assert_eq!(
        (took.previous_pid, took.last_write_complete),
        (Some(pid), false)
    );
    assert_eq!(primary_seq(&name) % 2, 0);
    read(&name);
}

/// Starts `client NAME --pause` and waits until it has checked the segment.
pub fn paused(mut cmd: Command, name: &Name) -> std::process::Child {
    use std::io::BufRead;
    let mut child = cmd
        .arg(&name.0)
        .arg("--pause")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "checked\n", "the client did not check the segment");
    child
}
