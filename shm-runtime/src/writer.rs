//! One writer at a time: write access is *claimed* by recording the owner
//! in the header, and taken over from an owner that has died.
//!
//! # The claim word
//!
//! Header offset 144 holds one `u64`, changed only by compare-and-swap:
//! `0` when nobody holds write access, otherwise the owner's process id in
//! the low 32 bits and a *start token* in the high 32 bits: the low 32 bits
//! of the process's start time (Linux: clock ticks after boot, from
//! `/proc/<pid>/stat`; Windows: `GetProcessTimes`), or 0 where the
//! platform does not tell it. Offset 152 holds when the claim was made
//! (nanoseconds since the Unix epoch), for `shm inspect`.
//!
//! Write access belongs to a process: a handle records which process
//! claimed through it (`Shared`), so that a child made by `fork`, which
//! inherits the handle, neither writes through it nor releases the
//! parent's claim ([`own_word`] and the handle's check ask
//! `process::current_pid`, which is right after a fork).
//!
//! Whether the owner is alive is, where possible, a fact the kernel keeps:
//! on Linux, for segments with a descriptor (POSIX, file, memfd), the owner
//! holds an open-file-description lock on the claim word's bytes
//! (`backend/lock.rs`), which the kernel releases exactly when the owner's
//! last descriptor of it goes. A claimer takes the lock first; once it has
//! it, nobody else holds write access, and it swaps whatever owner the word
//! names for its own word. The owner is dead exactly when the lock is free
//! (`Mapping::owner_dead`).
//!
//! Elsewhere (System V, Win32, process memory; macOS, FreeBSD) the word and
//! the process checks decide. A process asking for write access swaps 0
//! for its own word. If the word holds another owner, that owner is *dead*
//! when no process has its id (`kill(pid, 0)` fails with `ESRCH`;
//! `OpenProcess` fails or the process has exited), it has exited but is
//! not reaped (Linux: its main thread and every other thread are zombies;
//! a main thread that exited while others write is not enough), or a
//! process with that id exists but started at another time (the id was
//! reused: its start token differs). Then the asker swaps the dead owner's
//! word for its own: of several racing askers exactly one wins.
//!
//! Either way, the winner then repairs the payload
//! ([`crate::protocol::recover`]) and learns whether the dead owner's last
//! write completed ([`TakeOver`]).
//!
//! # Limits
//!
//! - A *frozen* writer (stopped with SIGSTOP, hung, or in a debugger) is
//!   alive: it keeps write access and others get
//!   [`crate::Error::WriterBusy`]. Readers are not
//!   affected (they never wait for a writer). Only the owner can release
//!   it, or an operator who kills it.
//! - A forked child that keeps an inherited handle keeps its copy of the
//!   lock's descriptor, and with it the lock: the parent counts as alive
//!   until the child drops the handle (or claims or releases through it)
//!   or exits.
//! - Without the lock: where the start token is unknown (0: macOS,
//!   FreeBSD), a dead owner whose process id was reused by a new process
//!   looks alive until that process exits; an owner in another PID
//!   namespace (a container) cannot be seen and counts as dead, as in
//!   `reinit_abandoned`: share a PID namespace between the writers of such
//!   a segment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::process;

/// What a process learned when it took write access over from a dead
/// owner (or found a write left unfinished).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TakeOver {
    /// The dead owner's process id (`None`: nobody held write access, but a
    /// write had been left unfinished, e.g. by an upgrade that died).
    pub previous_pid: Option<u32>,
    /// Whether the last write had completed. If not, it was lost: the
    /// segment holds the value of the write before it (readers never saw
    /// the incomplete one).
    pub last_write_complete: bool,
    /// The version (number of writes, see `Shared::version`) the segment
    /// is at after the repair.
    pub version: u64,
}

/// The claim word of this process: pid and start token. Asked again in a
/// process made by `fork` (a cached word would name the parent).
pub(crate) fn own_word() -> u64 {
    static WORD: AtomicU64 = AtomicU64::new(0);
    let pid = process::current_pid();
    let cached = WORD.load(Ordering::Relaxed);
    if cached != 0 && pid_of(cached) == pid {
        return cached;
    }
    let word = u64::from(pid) | u64::from(process::start_token(pid)) << 32;
    WORD.store(word, Ordering::Relaxed);
    word
}

/// The process id in a claim word.
pub(crate) fn pid_of(word: u64) -> u32 {
    word as u32
}

/// Whether the owner recorded in `word` is certainly gone, judged from its
/// process id and start token (for segments without the writer lock).
pub(crate) fn owner_dead(word: u64) -> bool {
    let pid = pid_of(word);
    let token = (word >> 32) as u32;
    // No process has id 0 or one above `i32::MAX` (`pid_t`): not a writer.
    if pid == 0 || pid > i32::MAX as u32 || !process::alive(pid) {
        return true;
    }
    // Alive: but is it the same process, or a new one with a reused id?
    token != 0 && {
        let now = process::start_token(pid);
        now != 0 && now != token
    }
}

/// The outcome of [`claim`].
pub(crate) enum Claimed {
    /// Nobody held write access.
    Free,
    /// A dead owner held it.
    FromDead(u32),
}

/// What an attempt at the segment's writer lock gave.
pub(crate) enum Lock<L> {
    /// The segment has no writer lock (no descriptor): the claim word and
    /// the process checks decide.
    None,
    /// Another open file description holds it: the owner is alive.
    Busy,
    /// Someone holds a read lock on its bytes, which no writer takes (any
    /// process that can open the object for reading can): nobody holds the
    /// writer lock, and it cannot be taken. The claim word and the process
    /// checks decide, as without a lock.
    ReadLocked,
    /// Taken: no one else holds write access.
    Taken(L),
}

/// How many claims this process holds (its id in the high 32 bits, the
/// count in the low 32: a process made by `fork` starts from 0, since the
/// handles it inherits hold nothing for it). While there are any, a claim
/// word naming this process is not taken over by another handle of it that
/// gets the writer lock: the handle that claimed may hold no lock (a read
/// lock kept it from it) or have lost it (its descriptor closed under it,
/// e.g. by `close_range`), and writes on. A conservative count, not per
/// segment: a word naming this process while it holds write access
/// elsewhere only ever comes from a process that wrote the word itself.
static HELD_CLAIMS: AtomicU64 = AtomicU64::new(0);

/// The claims this process holds ([`HELD_CLAIMS`]).
fn held_claims() -> u64 {
    let pid = u64::from(process::current_pid());
    let held = HELD_CLAIMS.load(Ordering::Relaxed);
    if held >> 32 == pid {
        held & 0xFFFF_FFFF
    } else {
        0
    }
}

/// Counts a claim made (`up`) or given up in [`HELD_CLAIMS`].
fn count_claim(up: bool) {
    let pid = u64::from(process::current_pid());
    let _ = HELD_CLAIMS.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
        let n = if held >> 32 == pid {
            held & 0xFFFF_FFFF
        } else {
            0
        };
        let n = if up { n + 1 } else { n.checked_sub(1)? };
        Some(pid << 32 | n)
    });
}

/// Whether the owner `current` (not 0) writes without holding the writer
/// lock, which a claimer that took the lock must respect: a process that
/// claimed while a read lock kept the lock from it, or a live writer whose
/// lock's descriptor someone closed under it (`close_range`). A stale word
/// (the owner died, or released without clearing it) is taken.
fn writes_without_lock(current: u64, me: u64) -> bool {
    if pid_of(current) == pid_of(me) {
        current == me && held_claims() > 0
    } else {
        !owner_dead(current)
    }
}

/// Records that this process gave up a claim [`claim`] made.
pub(crate) fn release_claim() {
    count_claim(false);
}

/// Claims write access in the claim word `word`, waiting at most `wait`
/// for a live owner to release it. `try_lock` tries the segment's writer
/// lock (see the module docs); the lock, if taken, is returned, and
/// `unlock` gives back one taken in vain. The caller calls
/// [`release_claim`] when it gives write access up.
pub(crate) fn claim<L>(
    word: &AtomicU64,
    since: &AtomicU64,
    display: &str,
    wait: Duration,
    mut try_lock: impl FnMut() -> Result<Lock<L>>,
    unlock: impl Fn(L),
) -> Result<(Claimed, Option<L>)> {
    let me = own_word();
    let start = Instant::now();
    let busy = |current: u64| Error::WriterBusy {
        name: display.to_owned(),
        pid: pid_of(current),
        this_process: pid_of(current) == pid_of(me),
        waited: wait,
    };
    loop {
        let (outcome, lock) = match try_lock()? {
            Lock::Taken(lock) => {
                // Every writer holds the lock, except one that claimed
                // while a read lock kept it from everybody (or whose lock
                // was closed under it): anyone else the word names (this
                // process's id included: a handle that is gone) is not
                // writing any more.
                let current = word.load(Ordering::Acquire);
                if current != 0 && writes_without_lock(current, me) {
                    unlock(lock);
                    if start.elapsed() >= wait {
                        return Err(busy(current));
                    }
                    process::pause(start);
                    continue;
                }
                let mut current = current;
                while let Err(now) =
                    word.compare_exchange(current, me, Ordering::AcqRel, Ordering::Acquire)
                {
                    current = now;
                }
                let outcome = if current == 0 {
                    Claimed::Free
                } else {
                    Claimed::FromDead(pid_of(current))
                };
                (outcome, Some(lock))
            }
            Lock::Busy => {
                if start.elapsed() >= wait {
                    return Err(busy(word.load(Ordering::Acquire)));
                }
                process::pause(start);
                continue;
            }
            Lock::None | Lock::ReadLocked => {
                let current = word.load(Ordering::Acquire);
                let outcome = if current == 0 {
                    Claimed::Free
                } else if current != me && owner_dead(current) {
                    Claimed::FromDead(pid_of(current))
                } else {
                    if start.elapsed() >= wait {
                        return Err(busy(current));
                    }
                    process::pause(start);
                    continue;
                };
                if word
                    .compare_exchange(current, me, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    continue;
                }
                (outcome, None)
            }
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        since.store(now, Ordering::Relaxed);
        count_claim(true);
        return Ok((outcome, lock));
    }
}

/// Releases write access if this process holds it in `word`.
pub(crate) fn release(word: &AtomicU64) {
    let _ = word.compare_exchange(own_word(), 0, Ordering::AcqRel, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_others_words_are_judged() {
        let me = own_word();
        assert_eq!(pid_of(me), std::process::id());
        assert!(!owner_dead(me));
        // No process has id 0, or one above i32::MAX.
        assert!(owner_dead(0));
        assert!(owner_dead(u64::from(u32::MAX)));
        if cfg!(target_os = "linux") {
            // This pid with another start time: the id was reused.
            assert_ne!(me >> 32, 0, "the start token is known on Linux");
            assert!(owner_dead(me ^ (1 << 40)));
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_exited_process_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let token = process::start_token(pid);
        let word = u64::from(pid) | u64::from(token) << 32;
        child.wait().unwrap();
        assert!(owner_dead(word));
    }

    fn no_lock() -> Result<Lock<()>> {
        Ok(Lock::None)
    }

    #[test]
    fn claim_release_and_busy() {
        let word = AtomicU64::new(0);
        let since = AtomicU64::new(0);
        assert!(matches!(
            claim(&word, &since, "t", Duration::ZERO, no_lock, drop).map(|c| c.0),
            Ok(Claimed::Free)
        ));
        assert_eq!(word.load(Ordering::Relaxed), own_word());
        assert_ne!(since.load(Ordering::Relaxed), 0);
        // A second claim by this process (another handle) is refused.
        match claim(&word, &since, "t", Duration::ZERO, no_lock, drop).map(|c| c.0) {
            Err(Error::WriterBusy {
                this_process: true,
                pid,
                ..
            }) => assert_eq!(pid, std::process::id()),
            _ => panic!("expected WriterBusy"),
        }
        release(&word);
        release_claim();
        assert_eq!(word.load(Ordering::Relaxed), 0);
        // A dead owner is taken over.
        word.store(u64::from(u32::MAX), Ordering::Relaxed);
        assert!(matches!(
            claim(&word, &since, "t", Duration::ZERO, no_lock, drop).map(|c| c.0),
            Ok(Claimed::FromDead(u32::MAX))
        ));
        release_claim();
        // Releasing someone else's claim does nothing.
        word.store(1, Ordering::Relaxed);
        release(&word);
        assert_eq!(word.load(Ordering::Relaxed), 1);
    }
}
