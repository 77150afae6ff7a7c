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
//! A read-only handle cannot store to the segment, so it counts itself in
//! the segment's *doorbell* instead (Linux: a 64-byte System V segment
//! that every reader may write, see [`crate::doorbell`]): `ro_waiters`
//! there, then the same re-check and `FUTEX_WAIT` on `notify`, which needs
//! only a read-only mapping. The writer attaches the doorbell when it
//! claims write access and wakes if `waiters` *or* `ro_waiters` is not
//! zero (one more load per write; still no system call when nobody waits).
//! The argument above holds unchanged: the count's increment and the
//! writer's load of it are sequentially consistent too. Read-write waiters
//! keep registering in the header, which readers cannot write, so a hostile
//! reader can only delay other *read-only* waiters (a zeroed count: they
//! wake by their re-check, [`RECHECK_RO`], 100 ms, so an idle read-only
//! waiter makes 10 `futex` calls a second) or make writes cost one
//! `FUTEX_WAKE` each (a raised count). A read-only waiter that found no
//! doorbell it may use (none made yet, one taken by another user, another
//! kind or system) polls as before, looking for one again at most once a
//! second; so do all waiters on systems other than Linux, which have no
//! process-shared futex in this crate. Polling sleeps 0.1 ms between looks
//! for the first 10 ms and 1 ms after that.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::protocol::version_of_pair;

/// The longest a futex waiter sleeps before it looks at the version again,
/// whether or not it was woken: bounds what a process that requeues or
/// swallows wake-ups (`FUTEX_CMP_REQUEUE` needs only a read-only mapping)
/// can delay a waiter by.
pub(crate) const RECHECK: Duration = Duration::from_millis(50);

/// [`RECHECK`] for a read-only waiter, registered in the doorbell: longer,
/// so that an idle one wakes 10 times a second; it is also the delay a
/// reader that zeroes the doorbell's count can cause.
pub(crate) const RECHECK_RO: Duration = Duration::from_millis(100);

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
    /// For a read-only mapping: `ro_waiters` in the segment's doorbell, if
    /// it has one this process may use.
    pub ro_waiters: Option<&'a AtomicU32>,
}

/// After a write: bump `notify`, and wake sleepers if there are any
/// (`ro_waiters`: the doorbell's count, if the writer has it attached).
#[inline]
pub(crate) fn wake(notify: &AtomicU32, waiters: &AtomicU32, ro_waiters: Option<&AtomicU32>) {
    notify.fetch_add(1, Ordering::SeqCst);
    if waiters.load(Ordering::SeqCst) != 0
        || ro_waiters.is_some_and(|r| r.load(Ordering::SeqCst) != 0)
    {
        futex_wake(notify);
    }
}

/// Waits until the version is no longer `since`, at most `timeout`.
/// Returns the new version, or `None` on timeout.
pub(crate) fn wait(w: &Words<'_>, since: u64, timeout: Duration) -> Option<u64> {
    let version = || {
        version_of_pair(
            w.seq[0].load(Ordering::SeqCst),
            w.seq[1].load(Ordering::SeqCst),
        )
    };
    wait_until(w, timeout, || Some(version()).filter(|&v| v != since))
}

/// Waits until `ready` returns `Some`, at most `timeout`, waking on every
/// write (and ring publish) as [`wait`] does; `None` on timeout. `ready`
/// must look at what the writer changes before it bumps `notify` (so that
/// no wake-up is lost, as argued in the module documentation).
pub(crate) fn wait_until<R>(
    w: &Words<'_>,
    timeout: Duration,
    mut ready: impl FnMut() -> Option<R>,
) -> Option<R> {
    let start = Instant::now();
    let deadline = start.checked_add(timeout);
    let registry = match (w.writable, w.ro_waiters) {
        (true, _) => Some((w.waiters, RECHECK)),
        (false, Some(ro)) => Some((ro, RECHECK_RO)),
        (false, None) => None,
    };
    if let Some((count, recheck)) = registry.filter(|_| FUTEX) {
        count.fetch_add(1, Ordering::SeqCst);
        let found = loop {
            let n = w.notify.load(Ordering::SeqCst);
            if let Some(r) = ready() {
                break Some(r);
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
            futex_wait(w.notify, n, left.min(recheck));
        };
        count.fetch_sub(1, Ordering::SeqCst);
        return found;
    }
    loop {
        if let Some(r) = ready() {
            return Some(r);
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
