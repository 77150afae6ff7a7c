//! Writing a new segment: the header, the descriptor and the initial
//! payload, published last with a release store of `state`; and writing
//! one again in place of a segment whose creator died before publishing it
//! ([`reinit`]).
//!
//! # Re-initialising an abandoned segment
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
//! ## Limits
//!
//! - A creator that is alive but frozen (stopped, or descheduled for longer
//!   than the open timeout) *before its header reached `creator_pid`* looks
//!   abandoned; if it resumes it overwrites the re-initialised header. Use an
//!   open timeout well above any plausible stall.
//! - Process ids are checked with `kill(pid, 0)` (and on Linux
//!   `/proc/<pid>/stat` and `/proc/<pid>/task` for zombies: a creator whose
//!   main thread has exited while another thread runs is alive). A creator in another PID namespace sharing the
//!   segment cannot be seen and counts as dead; a reused pid counts as alive
//!   (the segment is then left alone, the safe direction).

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::field::SharedLayout;
use crate::header::{self, HEADER_SIZE, Header, Plan, STATE_READY, off};
use crate::mapping::Mapping;
use crate::process;
use crate::status::Status;
use crate::words;

/// The header a creator in this process writes now (state initialising).
pub(crate) fn new_header<T: SharedLayout>(plan: &Plan) -> Header {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    Header {
        flags: if T::OLDER_WRITERS {
            header::FLAG_OLDER_WRITERS
        } else {
            0
        },
        ..Header::new(&T::LAYOUT, T::FINGERPRINT, plan, std::process::id(), now)
    }
}

/// [`Error::TooSmall`] unless the mapping holds all of `plan`.
fn fits(map: &Mapping, plan: &Plan, what: &'static str) -> Result<()> {
    if map.len() < plan.segment_size {
        return Err(Error::TooSmall {
            name: map.display().to_owned(),
            needed: plan.segment_size as u64,
            actual: map.len() as u64,
            what,
        });
    }
    Ok(())
}

/// Writes the header, descriptor and initial payload of a segment this
/// process just created (or won the re-initialisation of), then publishes
/// it with a release store of `state`.
pub(crate) fn initialise<T: SharedLayout>(
    map: &Mapping,
    plan: &Plan,
    descriptor: &[u8],
    initial: Option<&T>,
) -> Result<Header> {
    fits(map, plan, "the segment this schema needs")?;
    let header = new_header::<T>(plan);
    let base = map.backing().base().as_ptr();
    let bytes = header.encode();
    // SAFETY: the mapping is read-write and at least `plan.segment_size`
    // bytes (checked above), which covers the header, the descriptor and
    // both payload copies; other processes may already have it mapped, so
    // every store is a whole atomic word.
    unsafe {
        words::store_bytes(base, bytes.as_ptr(), HEADER_SIZE);
        words::store_bytes(
            base.add(plan.descriptor_offset),
            descriptor.as_ptr(),
            descriptor.len(),
        );
        if let Some(v) = initial {
            for at in [plan.payload_offset, plan.backup_offset] {
                words::store_words(
                    base.add(at),
                    (v as *const T).cast::<u8>(),
                    plan.payload_size,
                );
            }
        }
    }
    // Publish: the word holding `state` (header version, size, state),
    // with release, so that an opener that sees state 1 sees all of the
    // above.
    let at = off::STATE & !7;
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    let word = u64::from_ne_bytes(word);
    map.word64(at).store(
        words::with_half(word, off::STATE, STATE_READY),
        Ordering::Release,
    );
    Ok(Header {
        state: STATE_READY,
        ..header
    })
}

/// `Ok(Some(header))` once this process has re-initialised the segment;
/// `Ok(None)` if it must not or need not (published meanwhile, its creator
/// is alive, another process claimed it first): the caller then waits once
/// more, bounded, for someone to publish it; an error if it is not ours to
/// touch. See the module docs for the rule.
pub(crate) fn reinit<T: SharedLayout>(
    map: &Mapping,
    plan: &Plan,
    descriptor: &[u8],
    initial: Option<&T>,
) -> Result<Option<Header>> {
    fits(
        map,
        plan,
        "re-initialising the abandoned segment for this schema",
    )?;
    let mut st = Status::default();
    map.backing().os_status(&mut st)?;
    if let Some(uid) = st.owner_user
        && uid != process::current_uid()
    {
        return Err(Error::PermissionDenied {
            name: map.display().to_owned(),
            op: "re-initialise an abandoned segment owned by another user",
        });
    }
    let mut magic = [0u8; 8];
    let _ = map.reader()(0, &mut magic);
    if magic != header::MAGIC && magic != [0; 8] {
        return Err(Error::NotASegment {
            name: map.display().to_owned(),
            expected: header::MAGIC,
            found: magic,
        });
    }
    if map.state() != header::STATE_INITIALIZING {
        // Published (or corrupted) meanwhile: the caller validates it again.
        return Ok(None);
    }
    // `creator_pid` (offset 112) is read and swapped as part of the 8-byte
    // word at 112 (with `flags`): every Rust access to the header is a
    // whole word.
    let pid_word = map.word64(off::CREATOR_PID & !7);
    let before = pid_word.load(Ordering::Acquire);
    let recorded = words::half_of(before, off::CREATOR_PID);
    let creator = if recorded != 0 {
        Some(recorded)
    } else {
        st.creator_process
    };
    if let Some(pid) = creator
        && process::alive(pid)
    {
        // Its creator (or a re-initialiser that claimed it since) is still
        // there, or cannot be checked: leave it alone.
        return Ok(None);
    }
    let mine = words::with_half(before, off::CREATOR_PID, std::process::id());
    if pid_word
        .compare_exchange(before, mine, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return Ok(None);
    }
    // This process owns the re-initialisation. Clear what the dead creator
    // may have left after the header (descriptor, payload, anything else),
    // then write the segment exactly as a creator does.
    let base = map.backing().base().as_ptr();
    let zeros = [0u8; 4096];
    let mut at = HEADER_SIZE;
    while at < plan.segment_size {
        let n = zeros.len().min(plan.segment_size - at);
        // SAFETY: `at + n <= plan.segment_size <= map.len()` (checked at
        // the top); the mapping is writable (opened read-write) and only
        // accessed as whole atomic words.
        unsafe { words::store_bytes(base.add(at), zeros.as_ptr(), n) };
        at += n;
    }
    initialise::<T>(map, plan, descriptor, initial).map(Some)
}
