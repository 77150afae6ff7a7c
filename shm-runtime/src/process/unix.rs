//! Process facts on Unix: `kill(pid, 0)`, `/proc/<pid>/stat` and
//! `/proc/<pid>/task` on Linux, and this process's id after `fork`.

/// This process's id, correct in a child made by `fork` (whatever made
/// it: `fork`, `_Fork`, a raw `clone`) and cheap: one load from a private
/// page that the kernel zeroes in a forked child (`MADV_WIPEONFORK`,
/// Linux 4.14), which holds the id once `getpid` has been asked. A zero
/// (a fresh child, or the first call) asks `getpid` again. Without such a
/// page (an older kernel, or Miri), `getpid` every time.
#[cfg(all(target_os = "linux", not(miri)))]
#[inline]
pub(crate) fn current_pid() -> u32 {
    use std::sync::atomic::Ordering;
    match wiped_on_fork() {
        Some(cached) => match cached.load(Ordering::Relaxed) {
            0 => {
                let pid = std::process::id();
                cached.store(pid, Ordering::Relaxed);
                pid
            }
            pid => pid,
        },
        None => std::process::id(),
    }
}

/// `getpid` (no page the kernel wipes on fork here).
#[cfg(not(all(target_os = "linux", not(miri))))]
pub(crate) fn current_pid() -> u32 {
    std::process::id()
}

/// The word of the process's page that a forked child sees zeroed (mapped
/// once, never unmapped), or `None` if the kernel has no
/// `MADV_WIPEONFORK`.
#[cfg(all(target_os = "linux", not(miri)))]
fn wiped_on_fork() -> Option<&'static std::sync::atomic::AtomicU32> {
    use rustix::mm::{Advice, MapFlags, ProtFlags};
    use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
    const PAGE: usize = 4096;
    static WORD: AtomicPtr<AtomicU32> = AtomicPtr::new(std::ptr::null_mut());
    let mut p = WORD.load(Ordering::Acquire);
    if p.is_null() {
        // SAFETY: a fresh private anonymous mapping at an address the
        // kernel chooses overlaps no Rust object.
        let page = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                PAGE,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }
        .ok()?;
        // SAFETY: `page` is the mapping just made; the advice changes only
        // what a forked child sees of it.
        if unsafe { rustix::mm::madvise(page, PAGE, Advice::LinuxWipeOnFork) }.is_err() {
            // SAFETY: our own mapping, not shared with anyone yet.
            let _ = unsafe { rustix::mm::munmap(page, PAGE) };
            return None;
        }
        p = match WORD.compare_exchange(
            std::ptr::null_mut(),
            page.cast(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => page.cast(),
            Err(other) => {
                // Another thread mapped one first: use that one.
                // SAFETY: our own mapping, which nobody else has seen.
                let _ = unsafe { rustix::mm::munmap(page, PAGE) };
                other
            }
        };
    }
    // SAFETY: `p` is a page-aligned, zero-initialised, read-write private
    // mapping that is never unmapped, accessed only as this `AtomicU32`.
    Some(unsafe { &*p })
}

/// Whether process `pid` may still exist: `kill(pid, 0)` succeeds or is
/// refused (`EPERM`: it exists, owned by someone else), and on Linux it is
/// not a zombie: `/proc/<pid>/stat` says `Z` *and* none of its threads
/// (`/proc/<pid>/task/*/stat`) is alive. (A process whose main thread has
/// exited shows `Z` in `/proc/<pid>/stat` while its other threads run on,
/// and may be writing.) Unknown counts as alive.
///
/// [`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html).
pub(crate) fn alive(pid: u32) -> bool {
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

/// The low 32 bits of the process's start time (clock ticks after boot,
/// the 22nd field of `/proc/<pid>/stat`), 0 if unknown.
#[cfg(target_os = "linux")]
pub(crate) fn start_token(pid: u32) -> u32 {
    // starttime is the line's 22nd field: the 19th after the state.
    proc_stat_field(pid, 19)
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(0, |t| t as u32)
}

/// Unknown outside Linux (macOS and FreeBSD have no `/proc/<pid>/stat`).
#[cfg(not(target_os = "linux"))]
pub(crate) fn start_token(_pid: u32) -> u32 {
    0
}

/// This process's effective user id
/// ([`geteuid(2)`](https://man7.org/linux/man-pages/man2/geteuid.2.html)).
pub(crate) fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Whether `pid` has exited but not been reaped: its main thread is a
/// zombie (the first field after the command is the state) and so is every
/// other thread. A process whose task list cannot be read is not called a
/// zombie (unknown counts as alive).
#[cfg(target_os = "linux")]
fn is_zombie(pid: u32) -> bool {
    let dead = |state: &str| state == "Z" || state == "X";
    if !proc_stat_field(pid, 0).is_some_and(|s| dead(&s)) {
        return false;
    }
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            // The thread went away while we looked.
            return true;
        };
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_ascii_whitespace().next())
            .is_some_and(dead)
    })
}

#[cfg(not(target_os = "linux"))]
fn is_zombie(_pid: u32) -> bool {
    false
}

/// Field `index` of `/proc/<pid>/stat` after the command name (0: the
/// state, the line's 3rd field), which is parenthesised and may hold any
/// character, parentheses and spaces included: fields are counted from the
/// last `)`.
#[cfg(target_os = "linux")]
fn proc_stat_field(pid: u32, index: usize) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = s.rsplit_once(')')?;
    rest.split_ascii_whitespace().nth(index).map(str::to_owned)
}
