//! Change notification: a reader sleeps until the next write instead of
//! polling.
//!
//! Two 4-byte header fields serve it: `waiters` (offset 248, the number
//! of processes sleeping) and `notify` (offset 252, bumped by every write;
//! the futex word). On Linux a waiter registers in `waiters`, re-checks the
//! version, and sleeps in `futex(FUTEX_WAIT)` on `notify` (a *shared*
//! futex: the kernel keys it by the physical page, so it works across
//! processes). After a write the writer bumps `notify` and, only if
//! `waiters` is not zero, calls `futex(FUTEX_WAKE)`: a write nobody waits
//! for costs no system call.
//!
//! Both are only ever accessed as 4-byte atomics (by Rust code and by the
//! kernel's futex calls); openers copying the header skip the 8 bytes at
//! 248, so that no racing access of another size touches them.
//!
//! No wake-up is lost: the waiter's increment of `waiters` and its load of
//! `notify` are sequentially consistent, as are the writer's increment of
//! `notify` and its load of `waiters`. Either the writer's load sees the
//! waiter (and wakes it), or the waiter's load of `notify` reads the
//! writer's increment, synchronises with it and so sees the new version
//! (and does not sleep); a wake-up between the waiter's check and its
//! sleep finds `notify` changed and `FUTEX_WAIT` returns at once.
//!
//! A waiter killed while asleep never takes itself off `waiters`: from
//! then on every write to that segment makes one `FUTEX_WAKE` call that
//! wakes nobody (about a microsecond), until the segment is re-created.
//! The count is not reset by others, because a live waiter's registration
//! cannot be told from a dead one's, and dropping a live one would lose
//! its wake-up.
//!
//! The futex word is in memory every process that maps the segment can
//! reach, and the kernel lets anyone who can map it (read-only is enough)
//! move its sleepers elsewhere with `FUTEX_CMP_REQUEUE`, or wake them.
//! So a waiter never trusts the futex alone: it sleeps at most
//! [`RECHECK`] (50 ms) at a time and looks at the version again after
//! each sleep, whatever happened to the futex. A process that steals
//! every wake-up can delay a waiter's return by at most that interval;
//! spurious wake-ups cost one load. The price: an idle waiter makes one
//! `futex` call per interval (20 a second).
//!
//! A read-only handle cannot register (its mapping is read-only), and
//! systems other than Linux have no process-shared futex in this crate:
//! there the wait polls the version, sleeping 0.1 ms between looks for
//! the first 10 ms and 1 ms after that.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::protocol::version_of_pair;

/// The longest a futex waiter sleeps before it looks at the version again,
/// whether or not it was woken: bounds what a process that requeues or
/// swallows wake-ups (`FUTEX_CMP_REQUEUE` needs only a read-only mapping)
/// can delay a waiter by.
pub(crate) const RECHECK: Duration = Duration::from_millis(50);

/// The words a wait and a wake use.
pub(crate) struct Words<'a> {
    /// The two copies' sequence counters (primary, backup).
    pub seq: [&'a AtomicU64; 2],
    /// `notify` (offset 252), bumped by each write; the futex word.
    pub notify: &'a AtomicU32,
    /// `waiters` (offset 248), the number of sleeping waiters.
    pub waiters: &'a AtomicU32,
    /// Whether this process may store to `waiters` (a read-write mapping).
    pub writable: bool,
}

/// After a write: bump `notify`, and wake sleepers if there are any.
pub(crate) fn wake(notify: &AtomicU32, waiters: &AtomicU32) {
    notify.fetch_add(1, Ordering::SeqCst);
    if waiters.load(Ordering::SeqCst) != 0 {
        futex_wake(notify);
    }
}

/// Waits until the version is no longer `since`, at most `timeout`.
/// Returns the new version, or `None` on timeout.
pub(crate) fn wait(w: &Words<'_>, since: u64, timeout: Duration) -> Option<u64> {
    let start = Instant::now();
    let deadline = start.checked_add(timeout);
    let version = || {
        version_of_pair(
            w.seq[0].load(Ordering::SeqCst),
            w.seq[1].load(Ordering::SeqCst),
        )
    };
    if w.writable && FUTEX {
        w.waiters.fetch_add(1, Ordering::SeqCst);
        let found = loop {
            let n = w.notify.load(Ordering::SeqCst);
            let v = version();
            if v != since {
                break Some(v);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                break None;
            }
            // Never longer than RECHECK: another process may have moved
            // this sleeper off `notify` (see the module documentation).
            futex_wait(w.notify, n, left.min(RECHECK));
        };
        w.waiters.fetch_sub(1, Ordering::SeqCst);
        return found;
    }
    loop {
        let v = version();
        if v != since {
            return Some(v);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let pause = if start.elapsed() < Duration::from_millis(10) {
            Duration::from_micros(100)
        } else {
            Duration::from_millis(1)
        };
        let left = deadline.map_or(pause, |d| d.saturating_duration_since(Instant::now()));
        std::thread::sleep(pause.min(left));
    }
}

/// Whether this build sleeps on a futex.
const FUTEX: bool = cfg!(target_os = "linux");

/// [`futex(FUTEX_WAIT)`](https://man7.org/linux/man-pages/man2/futex.2.html),
/// shared (no `FUTEX_PRIVATE_FLAG`): sleeps while `word` is `expected`, at
/// most `timeout`. Spurious returns are fine: the caller re-checks.
#[cfg(target_os = "linux")]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    use rustix::thread::futex;
    let ts = rustix::time::Timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: timeout.subsec_nanos().into(),
    };
    // EAGAIN (the word changed), EINTR and ETIMEDOUT all mean: look again.
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&ts));
}

/// [`futex(FUTEX_WAKE)`](https://man7.org/linux/man-pages/man2/futex.2.html),
/// shared: wakes every process sleeping on `word`.
#[cfg(target_os = "linux")]
fn futex_wake(word: &AtomicU32) {
    use rustix::thread::futex;
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

#[cfg(not(target_os = "linux"))]
fn futex_wait(_word: &AtomicU32, _expected: u32, _timeout: Duration) {}

#[cfg(not(target_os = "linux"))]
fn futex_wake(_word: &AtomicU32) {}
