//! The `shm` tool on hostile input: names and schema names full of escape
//! sequences, objects that are not typed segments under `rm`, a writer that
//! died in the middle of a write under `watch`, payloads that decode into
//! far more than their size, and duration arguments at their edges.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{MidWrite, Name, demo_value, shm, shm_fails, shm_ok};
use schemas::MySharedData;
use shm_runtime::header::off;
use shm_runtime::{Options, SharedLayout};

/// The child processes of these tests: the writer stopped mid-write
/// ([`common::MidWrite`]). Does nothing as a normal test.
#[test]
fn child_role() {
    common::child_role();
}

/// Nothing a terminal would interpret: printable ASCII, spaces and
/// newlines only (the tool's output for these tests is ASCII, but for the
/// replacement character of a name that is not UTF-8 in JSON).
fn assert_inert(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| !(c == '\n' || c == ' ' || c == '\u{fffd}' || c.is_ascii_graphic()))
        .collect();
    assert!(bad.is_empty(), "{what}: raw {bad:?} in:\n{text}");
}

/// A file (any kind) removed on drop.
struct Planted(PathBuf);

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A POSIX object with a raw file name (any bytes), holding `bytes`.
fn plant_posix(name: &[u8], bytes: &[u8]) -> Planted {
    let mut p = b"/dev/shm/".to_vec();
    p.extend_from_slice(name);
    let path = PathBuf::from(OsStr::from_bytes(&p));
    std::fs::write(&path, bytes).unwrap();
    Planted(path)
}

#[test]
fn ls_escapes_hostile_object_names() {
    let tag = test_support::unique("ls-evil");
    // An escape sequence (clear screen, set the window title), a newline
    // forging a whole row, a C1 CSI, a bidirectional override, and bytes
    // that are not UTF-8.
    let names: Vec<Vec<u8>> = vec![
        format!("{tag}-a\x1b[2J\x1b]0;owned\x07").into_bytes(),
        format!("{tag}-b\nposix  forged-row  4096  yes    MySharedData v1, 0 writes").into_bytes(),
        format!("{tag}-c\u{9b}31m\u{202e}txt.exe").into_bytes(),
        [format!("{tag}-d").as_bytes(), b"\xff\xfe"].concat(),
    ];
    let _planted: Vec<Planted> = names.iter().map(|n| plant_posix(n, &[0x42; 512])).collect();
    let text = shm_ok(&["ls"]);
    assert_inert("shm ls", &text);
    // One row per object, each a row of the table.
    let rows: Vec<&str> = text.lines().filter(|l| l.contains(&tag)).collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert!(rows.iter().all(|r| r.starts_with("posix  /")), "{rows:#?}");
    assert!(
        !text.contains("\nposix  forged-row"),
        "a forged row:\n{text}"
    );
    for want in [
        "-a\\u{1b}[2J\\u{1b}]0;owned\\u{7}",
        "-b\\nposix  forged-row",
        "-c\\u{9b}31m\\u{202e}txt.exe",
        "-d\\xff\\xfe",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
    // JSON: the same names, escaped as JSON escapes (C1 and bidi too).
    let json = shm_ok(&["ls", "--json"]);
    assert_inert("shm ls --json", &json);
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for n in &names[..3] {
        let want = format!("/{}", std::str::from_utf8(n).unwrap());
        assert!(listed.contains(&want.as_str()), "{want:?} not listed");
    }
}

/// Overwrites the header's schema name of the POSIX segment `name`.
fn set_schema_name(name: &Name, text: &[u8]) {
    let path = format!("/dev/shm/{}", name.0);
    let mut bytes = std::fs::read(&path).unwrap();
    let field = &mut bytes[off::SCHEMA_NAME..off::SCHEMA_NAME + 48];
    field.fill(0);
    field[..text.len()].copy_from_slice(text);
    std::fs::write(&path, &bytes).unwrap();
}

#[test]
fn a_hostile_schema_name_is_escaped_in_every_message() {
    let n = Name::new("evil-schema");
    drop(
        Options::posix(&n.0)
            .create_new()
            .open_with(&demo_value())
            .unwrap(),
    );
    let evil = b"\x1b]0;owned\x07\x1b[2J\n\xc2\x9b\xe2\x80\xaeX";
    set_schema_name(&n, evil);
    for args in [
        &["inspect", &n.0][..],
        &["dump", &n.0],
        &["dump", &n.0, "--json"],
        &["watch", &n.0, "--timeout", "0"],
        &["layout", "--segment", &n.0],
        &["codegen", "--lang", "c", "--segment", &n.0],
    ] {
        let o = shm(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_inert(&format!("{args:?} stderr"), &err);
        assert_inert(
            &format!("{args:?} stdout"),
            &String::from_utf8_lossy(&o.stdout),
        );
        if !o.status.success() {
            assert_eq!(err.lines().count(), 1, "{err}");
            // Validation refuses the name (not an identifier) before any
            // message could quote it: the message names the field instead.
            assert!(err.contains("schema name"), "{err}");
        }
    }
    let text = shm_ok(&["ls"]);
    assert_inert("shm ls", &text);
    // A program that prints the error (the `reader` example does exactly
    // this): the same, through `Error`'s Display.
    let e = Options::posix(&n.0)
        .open_read_only::<MySharedData>()
        .unwrap_err();
    let line = format!("reader: error: {e}");
    assert_inert("the reader example's error", &line);
    assert!(line.contains("schema name"), "{line}");
}

/// A System V segment made with `shmget` (zero-filled, as every new one),
/// removed on drop.
struct SysV {
    key: i32,
    id: i32,
}

impl SysV {
    fn create() -> SysV {
        // A key of this process (as the other System V tests do), away
        // from theirs.
        let key = 0x5348_8000 | (std::process::id() as i32 & 0x7fff);
        // SAFETY: shmget only creates a segment; no memory is touched.
        let id = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) };
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
        SysV { key, id }
    }

    fn exists(&self) -> bool {
        // SAFETY: IPC_STAT into a zeroed, properly sized struct.
        unsafe {
            let mut ds: libc::shmid_ds = std::mem::zeroed();
            libc::shmctl(self.id, libc::IPC_STAT, &mut ds) == 0
        }
    }
}

impl Drop for SysV {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer.
        unsafe { libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

/// A directory of this test, removed with what is in it on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test_support::unique(tag));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mknod(path: &Path, mode: libc::mode_t, dev: libc::dev_t) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let r = unsafe { libc::mknod(c.as_ptr(), mode, dev) };
    assert_eq!(r, 0, "mknod: {}", std::io::Error::last_os_error());
}

/// `shm rm` without `--force` refuses `target` with one line naming
/// `--force`, and leaves it; `--force` removes it.
fn refused_then_forced(target: &str, exists: impl Fn() -> bool) {
    let e = shm_fails(&["rm", target]);
    assert!(
        e.contains("not removed") && e.contains("--force"),
        "{target}: {e}"
    );
    assert!(exists(), "{target} was removed without --force");
    shm_ok(&["rm", "--force", target]);
    assert!(!exists(), "{target} was not removed with --force");
}

#[test]
fn rm_refuses_what_is_not_a_typed_segment_without_force() {
    // A zero-filled POSIX object of another program.
    let zero = Name::new("rm-zero");
    common::raw_object(&zero, &[0; 4096]);
    let path = format!("/dev/shm/{}", zero.0);
    refused_then_forced(&zero.0, || Path::new(&path).exists());

    // A fresh System V segment (zero-filled).
    let sysv = SysV::create();
    refused_then_forced(&format!("sysv:{}", sysv.key), || sysv.exists());

    // Through file:, an empty file, a FIFO, a socket, a character device (a
    // copy of /dev/null's: a bug must not remove the real one), a directory
    // and a symbolic link to a typed segment; and a zero-filled regular
    // file.
    let dir = Dir::new("rm-files");
    let at = |n: &str| dir.0.join(n);
    std::fs::write(at("empty"), b"").unwrap();
    std::fs::write(at("zeros"), [0u8; 4096]).unwrap();
    mknod(&at("fifo"), libc::S_IFIFO | 0o600, 0);
    let _sock = std::os::unix::net::UnixListener::bind(at("socket")).unwrap();
    mknod(&at("null"), libc::S_IFCHR | 0o600, libc::makedev(1, 3));
    std::fs::create_dir(at("directory")).unwrap();
    let typed = at("typed");
    drop(
        Options::file(&typed)
            .create_new()
            .open::<MySharedData>()
            .unwrap(),
    );
    std::os::unix::fs::symlink(&typed, at("link")).unwrap();
    for f in ["empty", "zeros", "fifo", "socket", "null", "link"] {
        let p = at(f);
        let target = format!("file:{}", p.display());
        let start = Instant::now();
        refused_then_forced(&target, || p.symlink_metadata().is_ok());
        // (A FIFO opened for reading without O_NONBLOCK would block until a
        // writer came: a hang, not a slow test.)
        assert!(start.elapsed() < Duration::from_secs(60), "{f}: hung");
    }
    let e = shm_fails(&["rm", &format!("file:{}", at("directory").display())]);
    assert!(
        e.contains("a directory, not a regular file") && e.contains("--force"),
        "{e}"
    );
    // A typed file segment (the link's target) is still removed as before.
    assert!(typed.exists());
    shm_ok(&["rm", &format!("file:{}", typed.display())]);
    assert!(!typed.exists());
}

/// Runs `shm args` to the end with its output thrown away; its exit
/// status and CPU time (user + system), from `wait4` on that very child
/// (which reaps it).
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str]) -> (i32, Duration) {
    let child = Command::new(env!("CARGO_BIN_EXE_shm"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it and the status.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut ru), pid);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, tv(ru.ru_utime) + tv(ru.ru_stime))
}

/// Runs `shm args` to the end with its output thrown away; its exit
/// status and the largest peak resident size (`VmHWM` of its own address
/// space, in bytes) seen while it ran. (`ru_maxrss` would not do: it
/// keeps the peak of the test process the child was spawned from.)
fn run_peak_rss(args: &[&str]) -> (Option<i32>, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shm"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        let hwm = std::fs::read_to_string(&status).ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        peak = peak.max(hwm.unwrap_or(0) * 1024);
        if let Some(s) = child.try_wait().unwrap() {
            return (s.code(), peak);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sets the header word at `at` of the POSIX segment `name`.
fn set_word(name: &Name, at: usize, v: u64) {
    let path = format!("/dev/shm/{}", name.0);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    std::fs::write(&path, &bytes).unwrap();
}

#[test]
fn watch_does_not_spin_while_a_dead_writer_left_a_write_half_done() {
    let n = Name::new("watch-torn");
    let seg = Options::posix(&n.0)
        .create_new()
        .claim_writer(false)
        .open_with(&demo_value())
        .unwrap();
    let mut child = MidWrite::start(&n);
    child.kill();
    let primary = common::primary_seq(&n);
    assert_eq!(primary % 2, 1);
    // Three states a dead writer (of this runtime, of another binding, or a
    // hostile one) can leave: the primary torn and the backup complete at
    // the same version (this runtime's writers); the backup complete but a
    // write behind the primary's counter (the version a reader polls
    // differs from the one it reads); both copies marked as being written.
    // With no complete copy at all, it ends at the timeout with an error.
    let states = [
        (primary, primary - 1, 0),
        (primary + 2, primary - 1, 0),
        (primary, primary, 1),
    ];
    for (p, b, want) in states {
        set_word(&n, off::SEQ, p);
        set_word(&n, off::BACKUP_SEQ, b);
        // Two seconds of watching, polling every 100 ms: a few milliseconds
        // of CPU. Spinning (a snapshot of the whole payload per iteration,
        // or a snapshot retrying for its read timeout) burns the whole two
        // seconds, or whatever share of a core it gets.
        let (code, cpu) = run_measured(&["watch", &n.0, "--timeout", "2", "--interval-ms", "100"]);
        assert_eq!(code, want, "seq {p}, backup {b}");
        assert!(
            cpu < Duration::from_millis(400),
            "seq {p}, backup {b}: watch used {cpu:?} of CPU in 2 s of waiting"
        );
    }
    drop(seg);
}

#[test]
fn duration_arguments_at_their_edges() {
    let n = Name::new("watch-edges");
    let seg = Options::posix(&n.0)
        .create_new()
        .open::<MySharedData>()
        .unwrap();
    // Huge timeouts are no deadline: no panic, and the watch sees the
    // change it waits for.
    for t in ["1e30", "1e300", "inf", "18446744073709551616"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shm"))
            .args(["watch", &n.0, "--json", "--count", "1", "--timeout", t])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut out, &mut first).unwrap();
        assert!(first.starts_with("{\"seq\":"), "--timeout {t}: {first:?}");
        seg.update(|f| f.value().set(f.value().get() + 1)).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "--timeout {t}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // Not a number of seconds: one line, no panic.
    for t in ["-1", "NaN", "-inf"] {
        let e = shm_fails(&["watch", &n.0, &format!("--timeout={t}")]);
        assert!(e.contains("--timeout"), "{e}");
    }
    // An interval longer than the timeout ends at the timeout, not after
    // the interval (a day here): exit 0 without --count, 1 with it.
    for (extra, code) in [(&[][..], 0), (&["--count", "1"][..], 1)] {
        let mut args = vec![
            "watch",
            &n.0,
            "--timeout",
            "0.2",
            "--interval-ms",
            "86400000",
        ];
        args.extend_from_slice(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_shm"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("{args:?} overran its 0.2 s timeout by a minute");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(code), "{args:?}");
    }
    // The largest interval is accepted too.
    let o = shm(&[
        "watch",
        &n.0,
        "--timeout",
        "0",
        "--interval-ms",
        &u64::MAX.to_string(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// 2^19 one-byte structs whose field has a 63-byte name (the longest a
/// field name may be): a 512 KiB payload that prints as about 40 MB.
mod many {
    use shm_runtime::SharedLayout;

    #[derive(SharedLayout, Clone, Copy)]
    #[repr(C)]
    pub struct Small {
        pub nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn: u8,
    }

    #[derive(SharedLayout, Clone, Copy)]
    #[repr(C)]
    pub struct Many {
        pub items: [Small; 1 << 19],
    }
}

#[test]
fn dump_memory_is_bounded_by_the_payload_not_names_times_elements() {
    let n = Name::new("dump-many");
    drop(
        Options::posix(&n.0)
            .create_new()
            .open::<many::Many>()
            .unwrap(),
    );
    assert_eq!(size_of::<many::Many>(), 1 << 19);
    // Copying the 63-byte name into each of the 2^19 decoded elements
    // takes about 80 MB; reading in place needs the payload's 512 KiB.
    for json in [false, true] {
        let mut args = vec!["dump", &n.0];
        if json {
            args.push("--json");
        }
        let (code, rss) = run_peak_rss(&args);
        assert_eq!(code, Some(0), "{args:?}");
        assert!(rss > 0, "{args:?}: no reading of its memory");
        assert!(rss < 40 << 20, "{args:?}: peak RSS {} MiB", rss >> 20);
    }
}

#[test]
fn dump_output_is_the_decoded_value_byte_for_byte() {
    use shm_runtime::RawSegment;
    use shm_runtime::descriptor::Value;
    let n = Name::new("dump-same");
    let seg = Options::posix(&n.0)
        .create_new()
        .open_with(&demo_value())
        .unwrap();
    seg.update(|f| f.numbers().set(3, f32::NAN).expect("index in range"))
        .unwrap();
    let raw = RawSegment::open(&Options::posix(&n.0)).unwrap();
    let v = raw.read_value().unwrap();
    let json = shm_ok(&["dump", &n.0, "--json"]);
    assert_eq!(json, serde_json::to_string_pretty(&v).unwrap() + "\n");
    let Value::Struct(fields) = &v else {
        unreachable!()
    };
    let text: String = fields.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    assert_eq!(shm_ok(&["dump", &n.0]), text);
    assert!(text.contains("numbers = [0, 0, 0, NaN, 0"), "{text}");
    assert_eq!(MySharedData::LAYOUT.name, "MySharedData");
}

/// A file segment whose path holds escape sequences, a newline that starts
/// a forged row, C1 and bidi characters: every command that names the
/// segment (the `segment:` line of `inspect`, the `source` note of
/// `codegen`) escapes it, and `rm` removes it (a typed segment).
#[test]
fn a_hostile_file_segment_path_is_escaped_in_every_output() {
    let dir = Dir::new("evil-path");
    let path = dir
        .0
        .join("s\u{1b}]0;owned\u{7}\u{1b}[2J\n| fake | row\u{9b}\u{202e}X");
    let path = path.to_str().unwrap();
    drop(
        Options::file(path)
            .create_new()
            .open_with(&demo_value())
            .unwrap(),
    );
    let target = format!("file:{path}");
    for args in [
        &["inspect", &target][..],
        &["inspect", &target, "--json"],
        &["dump", &target],
        &["dump", &target, "--json"],
        &["watch", &target, "--timeout", "0"],
        &["layout", "--segment", &target],
        &["codegen", "--lang", "c", "--segment", &target],
        &["codegen", "--lang", "python", "--segment", &target],
        &["codegen", "--lang", "csharp", "--segment", &target],
        &["rm", &target],
    ] {
        let o = shm(args);
        let err = String::from_utf8_lossy(&o.stderr);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_inert(&format!("{args:?} stderr"), &err);
        assert_inert(&format!("{args:?} stdout"), &out);
        assert!(!out.contains("\n| fake"), "{args:?}: {out}");
        assert!(o.status.success(), "{args:?}: {err}");
    }
    assert!(!Path::new(path).exists(), "rm left the segment");
}

/// Runs `shm args`, killing it (and failing) if it has not ended after a
/// generous `secs` (a hang detector, not a time assertion); its output and
/// the largest peak resident size (`VmHWM`) seen while it ran.
fn run_bounded(args: &[&str], secs: u64) -> (std::process::Output, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shm"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut peak = 0u64;
    while child.try_wait().unwrap().is_none() {
        let hwm = std::fs::read_to_string(&status).ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        peak = peak.max(hwm.unwrap_or(0) * 1024);
        if Instant::now() > deadline {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("shm {args:?} hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (child.wait_with_output().unwrap(), peak)
}

/// Every command that opens a segment, given a `file:` path that is a
/// FIFO, a directory, `/dev/zero`, `/dev/urandom`, a sparse 1 TiB file of
/// zeros, or a valid segment file extended to 1 TiB (`ftruncate`): no
/// hang, no memory beyond a few MiB, one line on stderr, except that the
/// extended segment is a valid one (a file may be larger than its
/// segment) and is shown.
#[test]
fn file_paths_that_are_not_segments_give_one_line() {
    let dir = Dir::new("notseg");
    let fifo = dir.0.join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let sub = dir.0.join("dir");
    std::fs::create_dir(&sub).unwrap();
    let huge = dir.0.join("huge");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let extended = dir.0.join("extended");
    let seg = Options::file(extended.to_str().unwrap())
        .create_new()
        .open_with(&demo_value())
        .unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&extended)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let path = |p: &Path| format!("file:{}", p.display());
    let targets = [
        (path(&fifo), "Fifo"),
        (path(&sub), "Directory"),
        ("file:/dev/zero".to_owned(), "CharacterDevice"),
        ("file:/dev/urandom".to_owned(), "CharacterDevice"),
        (path(&huge), "not initialised"),
        (path(&extended), ""),
    ];
    for (target, needle) in &targets {
        for cmd in [
            &["inspect"][..],
            &["dump"],
            &["dump", "--json"],
            &["watch", "--timeout", "0.2"],
            &["layout", "--segment"],
            &["codegen", "--lang", "c", "--segment"],
        ] {
            let mut args = cmd.to_vec();
            args.push(target);
            let (out, peak) = run_bounded(&args, 300);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(peak < 64 << 20, "shm {args:?}: peak RSS {peak} bytes");
            if needle.is_empty() {
                assert!(out.status.success(), "shm {args:?}: {err}");
                continue;
            }
            assert_eq!(out.status.code(), Some(1), "shm {args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "shm {args:?}: {err}");
            assert!(err.contains(needle), "shm {args:?}: {err}");
        }
    }
    // Its doorbell (a System V segment) goes with it.
    let _ = seg.remove();
}
