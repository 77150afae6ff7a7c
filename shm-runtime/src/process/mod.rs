//! Facts about processes that decide whether a writer or a creator is
//! still there: is a process alive, when did it start, who is this
//! process. One file per operating system with the same item names, in
//! the manner of memmap2; a stub elsewhere.
//!
//! - `alive(pid)`: the process exists and has not exited (a zombie has).
//!   Unknown counts as alive: callers only act on a *certain* death.
//! - `start_token(pid)`: the low 32 bits of the process's start time, 0 if
//!   unknown; with the pid it tells a process from a later one that reused
//!   its id.
//! - `current_pid()`: this process's id, also right in a child made by
//!   `fork` (a cached id would name the parent), and cheap enough to ask
//!   on every write.
//! - `current_uid()`: this process's effective user id (0 where there is
//!   none).

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
#[cfg_attr(not(any(unix, windows)), path = "stub.rs")]
mod os;

pub(crate) use os::{alive, current_pid, current_uid, start_token};

use std::time::{Duration, Instant};

/// Sleeps a little, in a bounded wait for another process that began at
/// `start`: 0.1 ms during the first 10 ms, then 1 ms.
pub(crate) fn pause(start: Instant) {
    let spent = start.elapsed();
    std::thread::sleep(if spent < Duration::from_millis(10) {
        Duration::from_micros(100)
    } else {
        Duration::from_millis(1)
    });
}

/// The instant `d` after `start`, for a bounded wait: `start + d`, or, if
/// that is past what an `Instant` can hold (`Duration::MAX`), the furthest
/// instant it can (centuries away: in effect, forever). Every deadline is
/// computed here, so no timeout a caller gives can overflow.
pub(crate) fn deadline(start: Instant, d: Duration) -> Instant {
    if let Some(t) = start.checked_add(d) {
        return t;
    }
    // Halve what is left to add until it fits: the result is within one
    // nanosecond-ish step of the largest representable instant.
    let mut at = start;
    let mut step = d;
    while !step.is_zero() {
        match at.checked_add(step) {
            Some(t) => at = t,
            None => step /= 2,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_never_overflows() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        for d in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::new(u64::MAX / 2, 0),
        ] {
            let far = deadline(now, d);
            assert!(far > now + Duration::from_secs(100 * 365 * 24 * 3600));
        }
    }
}
