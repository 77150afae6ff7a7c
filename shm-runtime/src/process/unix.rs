//! Process facts on Unix: `kill(pid, 0)`, `/proc/<pid>/stat` on Linux.

/// Whether process `pid` may still exist: `kill(pid, 0)` succeeds or is
/// refused (`EPERM`: it exists, owned by someone else), and on Linux it is
/// not a zombie (`/proc/<pid>/stat` state `Z`: it has exited and cannot
/// write). Unknown counts as alive.
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

#[cfg(target_os = "linux")]
fn is_zombie(pid: u32) -> bool {
    // The first field after the command is the state.
    proc_stat_field(pid, 0).is_some_and(|state| state == "Z")
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
