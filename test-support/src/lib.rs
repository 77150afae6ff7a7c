//! Helpers of the workspace's tests (integration tests and benchmarks):
//!
//! - [`unique`]: a segment name no other test, thread or test run uses;
//! - [`Name`] and [`Cleanup`]: remove a segment when dropped, so a failing
//!   test leaves nothing behind;
//! - [`child_command`] and [`ChildRole`]: run the current test binary again
//!   as a child process in a role (one `#[test]` that does nothing unless
//!   an environment variable selects a role), and read what it prints.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shm_runtime::Options;

/// A segment name unique to this process, call and `tag`:
/// `shmtest-TAG-PID-N`, `N` counting the calls of this process. Valid as a
/// POSIX name (characters other than ASCII letters, digits, `-`, `_` and
/// `.` in `tag` become `-`), as a file name and, after `Local\`, as a
/// Win32 name.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "shmtest-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes the segment these options name when dropped (whatever the test
/// did with it; errors are ignored).
pub struct Cleanup(pub Options);

impl Cleanup {
    /// Removes the POSIX segment `name` when dropped.
    pub fn posix(name: &str) -> Cleanup {
        Cleanup(Options::posix(name))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.0.remove();
    }
}

/// A POSIX segment name; the segment (or whatever object is under the
/// name) is removed when dropped.
pub struct Name(pub String);

impl Name {
    /// A fresh name for `tag`, from [`unique`].
    pub fn new(tag: &str) -> Name {
        Name(unique(tag))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = Options::posix(&self.0).remove();
    }
}

/// The command that runs this test binary again, only its test `role_test`
/// (`--exact ROLE_TEST --nocapture --test-threads=1`), with the environment
/// variable `var` set to `value` (which selects the role; `role_test` does
/// nothing without it).
///
/// The child's libtest may print `test ROLE_TEST ... ` on its stdout before
/// the role's first line, on the same line.
pub fn child_command(role_test: &str, var: &str, value: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("the test binary's path"));
    c.args(["--exact", role_test, "--nocapture", "--test-threads=1"])
        .env(var, value);
    c
}

/// A child process in a role (see [`child_command`]), its stdin a pipe and
/// its stdout read line by line (stderr is inherited). Killed (if still
/// running) and reaped when dropped.
pub struct ChildRole {
    child: Child,
    /// The child's stdout, line by line (a thread reads it), so that a
    /// wait for a line can give up.
    out: mpsc::Receiver<String>,
    seen: String,
}

/// How long [`ChildRole::expect`] and [`ChildRole::finish`] wait for the
/// child before they panic, unless `SHM_TEST_HANG_SECS` says otherwise (for
/// long runs): a hang detector, not a time assertion. A test that hangs
/// until someone kills it never runs its cleanup and leaves its segments
/// (and their doorbells) behind; one that panics does.
pub const HANG: Duration = Duration::from_secs(300);

/// [`HANG`], or `SHM_TEST_HANG_SECS`.
fn hang() -> Duration {
    std::env::var("SHM_TEST_HANG_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(HANG, Duration::from_secs)
}

/// Lines of `out` sent to a channel by a thread, until it ends.
fn lines_of(out: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = BufReader::new(out);
        loop {
            let mut line = String::new();
            match out.read_line(&mut line) {
                Ok(n) if n > 0 && tx.send(line).is_ok() => {}
                _ => return,
            }
        }
    });
    rx
}

impl ChildRole {
    /// Starts this test binary's `role_test` with `var=value`.
    pub fn start(role_test: &str, var: &str, value: impl AsRef<std::ffi::OsStr>) -> ChildRole {
        let mut child = child_command(role_test, var, value)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the child process");
        let out = lines_of(child.stdout.take().expect("piped stdout"));
        ChildRole {
            child,
            out,
            seen: String::new(),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child process itself.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The next line the child prints (`None` at the end of its output);
    /// panics at `deadline` without one.
    fn next_line(&mut self, deadline: Instant, what: &str) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.out.recv_timeout(left) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "child {} hung: no {what} within {:?} (a hang detector; SHM_TEST_HANG_SECS \
                 for longer); it printed:\n{}",
                self.pid(),
                hang(),
                self.seen
            ),
        }
    }

    /// Reads lines until one contains `token`; returns that line from
    /// `token` on, without the line end. Panics, with what the child
    /// printed, if its stdout ends first or nothing holding `token` comes
    /// within [`HANG`].
    pub fn expect(&mut self, token: &str) -> String {
        let deadline = Instant::now() + hang();
        loop {
            let line = self.next_line(deadline, &format!("{token:?}"));
            let Some(line) = line else {
                panic!(
                    "child {} ended without printing {token:?}; it printed:\n{}",
                    self.pid(),
                    self.seen
                );
            };
            self.seen.push_str(&line);
            if let Some(at) = line.find(token) {
                return line[at..].trim_end().to_owned();
            }
        }
    }

    /// Writes one line to the child's stdin.
    pub fn poke(&mut self) {
        writeln!(self.child.stdin.as_mut().expect("stdin still open")).expect("write to the child");
    }

    /// Closes stdin (by convention, the child's signal to stop) and waits
    /// for the child to exit successfully; returns the rest of its output.
    pub fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + hang();
        let mut rest = String::new();
        while let Some(line) = self.next_line(deadline, "end of output") {
            rest.push_str(&line);
        }
        let status = self.child.wait().expect("wait for the child");
        self.seen.push_str(&rest);
        assert!(
            status.success(),
            "child {} failed ({status}):\n{}",
            self.pid(),
            self.seen
        );
        rest
    }

    /// Kills the child (SIGKILL on Unix) and reaps it; on Unix, asserts it
    /// died of that signal.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the child");
        let status = self.child.wait().expect("reap the child");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "{status}");
        }
        #[cfg(not(unix))]
        let _ = status;
    }
}

impl Drop for ChildRole {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
