//! Re-initialising a segment whose creator died before publishing it
//! ([`Options::reinit_abandoned`](super::Options::reinit_abandoned)).
//!
//! # The rule
//!
//! A creator makes the object exclusively (`O_CREAT|O_EXCL`,
//! `IPC_CREAT|IPC_EXCL`), sizes it, writes the header with `state` 0, the
//! descriptor and the payload, and stores `state = 1` last. If it dies
//! before that store, the object stays under its name with `state` 0 (or
//! still empty) and every opener reports [`Error::NotInitialized`] after its
//! open timeout. A create-or-open with `reinit_abandoned(true)` then
//! re-initialises the object in place, but only if all of these hold:
//!
//! 1. it is opened read-write with create-or-open;
//! 2. `state` stayed 0 (or the object stayed empty) for the whole open
//!    timeout of this process (the wait that produced `NotInitialized`);
//! 3. the object is owned by this process's effective user (another
//!    user's object is never written: [`Error::PermissionDenied`]);
//! 4. it is ours or blank: the magic is this crate's or all zero (a foreign
//!    object is [`Error::NotASegment`] and is never written);
//! 5. the creator is known to be dead, where it can be known: the header's
//!    `creator_pid` if the creator got as far as writing it, otherwise the
//!    creator pid the operating system records (System V `shm_cpid`); a
//!    live one is left alone (this process waits once more, bounded, for
//!    it to publish, then reports `NotInitialized`). When no
//!    creator pid is recorded anywhere (a POSIX or file object that died
//!    before its header reached `creator_pid`), condition 2 is the evidence;
//! 6. the object is large enough for this schema (it is not resized);
//! 7. this process wins a compare-and-swap of `creator_pid` from the value
//!    it judged (dead creator, or 0) to its own pid. Exactly one of several
//!    racing re-initialisers wins; the others see a live creator (the
//!    winner) and wait (bounded) for it to publish, as they would for a
//!    first creator.
//!
//! The winner zeroes everything after the header, writes a fresh header,
//! descriptor and payload exactly as a creator does, and publishes with the
//! release store of `state`.
//!
//! # Limits
//!
//! - A creator that is alive but frozen (stopped, or descheduled for longer
//!   than the open timeout) *before its header reached `creator_pid`* looks
//!   abandoned; if it resumes it overwrites the re-initialised header. Use an
//!   open timeout well above any plausible stall.
//! - Process ids are checked with `kill(pid, 0)` (and `/proc/<pid>/stat` for
//!   zombies on Linux). A creator in another PID namespace sharing the
//!   segment cannot be seen and counts as dead; a reused pid counts as alive
//!   (the segment is then left alone, the safe direction).

use std::sync::atomic::Ordering;

use super::{half_of, initialise, load_state, with_half, word64};
use crate::backend::Backing;
use crate::error::{Error, Result};
use crate::header::{self, HEADER_SIZE, Header, Plan, off};
use crate::layout::SharedLayout;
use crate::protocol;
use crate::status::Status;

/// `Ok(Some(header))` once this process has re-initialised the segment;
/// `Ok(None)` if it must not or need not (published meanwhile, its creator
/// is alive, another process claimed it first): the caller then waits once
/// more, bounded, for someone to publish it; an error if it is not ours to
/// touch.
pub(super) fn reinit<T: SharedLayout>(
    backing: &dyn Backing,
    plan: &Plan,
    descriptor: &[u8],
    initial: Option<&T>,
    display: &str,
) -> Result<Option<Header>> {
    if backing.len() < plan.segment_size {
        return Err(Error::TooSmall {
            name: display.to_owned(),
            needed: plan.segment_size as u64,
            actual: backing.len() as u64,
            what: "re-initialising the abandoned segment for this schema",
        });
    }
    let mut st = Status::default();
    backing.os_status(&mut st)?;
    if let Some(uid) = st.owner_user
        && uid != current_uid()
    {
        return Err(Error::PermissionDenied {
            name: display.to_owned(),
            op: "re-initialise an abandoned segment owned by another user",
        });
    }
    let base = backing.base().as_ptr();
    let mut magic = [0u8; 8];
    // SAFETY: the mapping is at least HEADER_SIZE bytes; atomic loads only.
    unsafe { protocol::load_bytes(base, magic.as_mut_ptr(), 8) };
    if magic != header::MAGIC && magic != [0; 8] {
        return Err(Error::NotASegment {
            name: display.to_owned(),
            expected: header::MAGIC,
            found: magic,
        });
    }
    if load_state(backing) != header::STATE_INITIALIZING {
        // Published (or corrupted) meanwhile: the caller validates it again.
        return Ok(None);
    }
    // `creator_pid` (offset 112) is read and swapped as part of the 8-byte
    // word at 112 (with `flags`): every Rust access to the header is a
    // whole word.
    let pid_word = word64(backing, off::CREATOR_PID & !7);
    let before = pid_word.load(Ordering::Acquire);
    let recorded = half_of(before, off::CREATOR_PID);
    let creator = if recorded != 0 {
        Some(recorded)
    } else {
        st.creator_process
    };
    if let Some(pid) = creator
        && pid_alive(pid)
    {
        // Its creator (or a re-initialiser that claimed it since) is still
        // there, or cannot be checked: leave it alone.
        return Ok(None);
    }
    let mine = with_half(before, off::CREATOR_PID, std::process::id());
    if pid_word
        .compare_exchange(before, mine, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return Ok(None);
    }
    // This process owns the re-initialisation. Clear what the dead creator
    // may have left after the header (descriptor, payload, anything else),
    // then write the segment exactly as a creator does.
    let zeros = [0u8; 4096];
    let mut at = HEADER_SIZE;
    while at < plan.segment_size {
        let n = zeros.len().min(plan.segment_size - at);
        // SAFETY: `at + n <= plan.segment_size <= backing.len()` (checked at
        // the top); the mapping is writable (opened read-write) and only
        // accessed atomically.
        unsafe { protocol::store_bytes(base.add(at), zeros.as_ptr(), n) };
        at += n;
    }
    Ok(Some(initialise::<T>(backing, plan, descriptor, initial)))
}

#[cfg(unix)]
fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[cfg(not(unix))]
fn current_uid() -> u32 {
    0
}

/// Whether process `pid` may still exist: `kill(pid, 0)` succeeds or is
/// refused (`EPERM`: it exists, owned by someone else), and on Linux it is
/// not a zombie (`/proc/<pid>/stat` state `Z`: it has exited and cannot
/// write). Unknown counts as alive.
///
/// [`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html).
#[cfg(unix)]
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    match rustix::process::test_kill_process(p) {
        Err(rustix::io::Errno::SRCH) => false,
        Ok(()) | Err(_) => !is_zombie(pid),
    }
}

#[cfg(not(unix))]
pub(crate) fn pid_alive(_pid: u32) -> bool {
    true
}

#[cfg(target_os = "linux")]
fn is_zombie(pid: u32) -> bool {
    // The first field after the command is the state.
    proc_stat_field(pid, 0).is_some_and(|state| state == "Z")
}

/// Field `index` of `/proc/<pid>/stat` after the command name (0: the
/// state, the line's 3rd field), which is parenthesised and may hold any
/// character, parentheses and spaces included: fields are counted from the
/// last `)`.
#[cfg(target_os = "linux")]
pub(crate) fn proc_stat_field(pid: u32, index: usize) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    rest.split_ascii_whitespace().nth(index).map(str::to_owned)
}

#[cfg(all(unix, not(target_os = "linux")))]
fn is_zombie(_pid: u32) -> bool {
    false
}
