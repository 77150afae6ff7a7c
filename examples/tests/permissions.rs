//! Permissions: the default mode is `0600` whatever the umask, explicit
//! modes are applied exactly, and another user (a child process run as
//! `nobody` with `setpriv`) cannot open a `0600` segment at all (a clear
//! `PermissionDenied`, the `reader` example exits 1 with one line) and can
//! open a `0644` one read-only only.
//!
//! Every backend with modes is covered: POSIX, System V and file-backed.
//! The tests that change user need root; without it they print why they
//! skip.

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

use std::process::{Command, Output};

use schemas::MySharedData;
use shm_runtime::{DEFAULT_MODE, Error, Options};
use test_support::child_command;

/// A segment of each backend with modes, with the `--backend` arguments the
/// example binaries take for it.
struct Seg {
    opts: Options,
    args: Vec<String>,
}

impl Seg {
    fn all(tag: u32) -> Vec<Seg> {
        let pid = std::process::id();
        let name = format!("shmtest-perm-{pid}-{tag}");
        let key = 0x5000_0000 | ((pid as i32 & 0x00ff_ffff) << 4) | tag as i32;
        // A file in the temporary directory (world-traversable), so that
        // only the file's own mode decides.
        let path = std::env::temp_dir().join(format!("shmtest-perm-{pid}-{tag}"));
        let segs = vec![
            Seg {
                opts: Options::posix(&name),
                args: vec!["--backend".into(), "posix".into(), "--name".into(), name],
            },
            Seg {
                opts: Options::sysv(key),
                args: vec![
                    "--backend".into(),
                    "sysv".into(),
                    "--key".into(),
                    key.to_string(),
                ],
            },
            Seg {
                opts: Options::file(&path),
                args: vec![
                    "--backend".into(),
                    "file".into(),
                    "--name".into(),
                    path.display().to_string(),
                ],
            },
        ];
        for s in &segs {
            let _ = s.opts.remove();
        }
        segs
    }

    fn kind(&self) -> &str {
        &self.args[1]
    }
}

impl Drop for Seg {
    fn drop(&mut self) {
        let _ = self.opts.remove();
    }
}

fn sample() -> MySharedData {
    let mut numbers = [0.0; 50];
    numbers[10] = 1.45;
    MySharedData {
        value: 123,
        letter: shm_runtime::Utf16(u16::from(b'X')),
        _pad: [0; 2],
        numbers,
    }
}

/// Environment variable that makes [`umask_child`] act: the umask to set.
const UMASK_ENV: &str = "SHM_TEST_UMASK_CHILD";

/// Runs in a child process (the umask is per process and would affect the
/// other tests of this binary): with umask `$SHM_TEST_UMASK_CHILD`, creates
/// one segment per backend with the default mode and one with `0o640`, and
/// checks the modes the operating system reports.
#[test]
fn umask_child() {
    let Ok(umask) = std::env::var(UMASK_ENV) else {
        return;
    };
    let umask = u32::from_str_radix(&umask, 8).unwrap();
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(umask));
    for (tag, mode) in [(1, None), (2, Some(0o640))] {
        for s in Seg::all(tag) {
            let opts = s.opts.clone().create_new();
            let opts = match mode {
                Some(m) => opts.mode(m),
                None => opts,
            };
            let seg = opts.open::<MySharedData>().unwrap();
            let got = seg.status().unwrap().mode;
            let want = mode.unwrap_or(DEFAULT_MODE);
            assert_eq!(got, Some(want), "{} with umask {umask:o}", s.kind());
            println!("child: {} umask {umask:03o} mode {want:o} ok", s.kind());
        }
    }
}

#[test]
fn default_mode_is_0600_and_explicit_modes_are_exact_whatever_the_umask() {
    assert_eq!(DEFAULT_MODE, 0o600);
    for umask in ["000", "022", "077", "777"] {
        let out = child_command("umask_child", UMASK_ENV, umask)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "umask {umask}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.matches(" ok\n").count(), 6, "{stdout}");
    }
}

/// `setpriv` to run a command as `nobody`, or why that is not possible here.
fn as_nobody(program: &str) -> Result<Command, String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not running as root, cannot switch to `nobody`".into());
    }
    let probe = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(program)
        .arg("--help")
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Err(format!(
                "`nobody` cannot run {program} (is the target directory readable by others?): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Err(e) => return Err(format!("setpriv is not available: {e}")),
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(program);
    Ok(c)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Environment variable that makes [`nobody_child`] act: `kind:name`.
const NOBODY_ENV: &str = "SHM_TEST_NOBODY_CHILD";

/// Runs as `nobody`: tries a read-write and a read-only open of the segment
/// and prints what each gave.
#[test]
fn nobody_child() {
    let Ok(spec) = std::env::var(NOBODY_ENV) else {
        return;
    };
    let (kind, name) = spec.split_once(':').unwrap();
    let opts = match kind {
        "posix" => Options::posix(name),
        "sysv" => Options::sysv(name.parse().unwrap()),
        "file" => Options::file(name),
        _ => panic!("unknown backend {kind}"),
    };
    let describe = |r: Result<MySharedData, Error>| match r {
        Ok(v) => format!("ok value {}", v.value),
        Err(Error::PermissionDenied { .. }) => "PermissionDenied".to_owned(),
        Err(Error::Foreign { owner, .. }) => format!("Foreign (owner {owner})"),
        Err(e) => format!("other error: {e}"),
    };
    let rw = opts.open::<MySharedData>().and_then(|s| s.read());
    println!("child: read-write {}", describe(rw));
    let ro = opts.open_read_only::<MySharedData>().and_then(|s| s.read());
    println!("child: read-only {}", describe(ro));
    let rw_create = opts
        .clone()
        .create_or_open()
        .open::<MySharedData>()
        .map(|_| sample());
    println!("child: create-or-open {}", describe(rw_create));
}

#[test]
fn another_user_cannot_open_0600_and_can_only_read_0644() {
    let reader = env!("CARGO_BIN_EXE_reader");
    if let Err(why) = as_nobody(reader) {
        println!("skipped: {why}");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for (tag, mode) in [(3, 0o600), (4, 0o644)] {
        for s in Seg::all(tag) {
            let seg = s
                .opts
                .clone()
                .create_new()
                .mode(mode)
                .open_with(&sample())
                .unwrap();
            assert_eq!(seg.status().unwrap().mode, Some(mode));
            // The reader example, as nobody.
            let out = as_nobody(reader).unwrap().args(&s.args).output().unwrap();
            let (stdout, stderr) = text(&out);
            let what = format!("{} {mode:o}: {stdout}{stderr}", s.kind());
            if mode == 0o600 {
                assert_eq!(out.status.code(), Some(1), "{what}");
                assert!(stdout.is_empty(), "{what}");
                assert_eq!(stderr.lines().count(), 1, "{what}");
                assert!(stderr.contains("permission denied"), "{what}");
                assert!(!stderr.contains("panicked"), "{what}");
            } else {
                assert!(out.status.success(), "{what}");
                assert!(stdout.contains("Value is 123"), "{what}");
            }
            // Read-write, read-only and create-or-open, as nobody.
            let target = &s.args[3];
            let out = as_nobody(exe.to_str().unwrap())
                .unwrap()
                .args(["--exact", "nobody_child", "--nocapture", "--test-threads=1"])
                .env(NOBODY_ENV, format!("{}:{target}", s.kind()))
                .output()
                .unwrap();
            let (stdout, stderr) = text(&out);
            let what = format!("{} {mode:o}: {stdout}{stderr}", s.kind());
            assert!(out.status.success(), "{what}");
            assert!(
                stdout.contains("child: read-write PermissionDenied"),
                "{what}"
            );
            // Refused by the OS, or first as another user's object.
            assert!(
                stdout.contains("child: create-or-open PermissionDenied")
                    || stdout.contains("child: create-or-open Foreign (owner 0)"),
                "{what}"
            );
            if mode == 0o600 {
                assert!(
                    stdout.contains("child: read-only PermissionDenied"),
                    "{what}"
                );
            } else {
                assert!(stdout.contains("child: read-only ok value 123"), "{what}");
            }
            // Nobody changed anything.
            assert_eq!(seg.read().unwrap(), sample());
        }
    }
}
