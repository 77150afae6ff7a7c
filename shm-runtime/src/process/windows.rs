//! Process facts on Windows: `OpenProcess`, `GetExitCodeProcess`,
//! `GetProcessTimes`.

use windows_sys::Win32::Foundation::{CloseHandle, ERROR_ACCESS_DENIED, FILETIME, GetLastError};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};

/// `STILL_ACTIVE`: the exit code of a process that has not exited.
const STILL_ACTIVE: u32 = 259;

/// [`OpenProcess`](https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-openprocess)
/// and `GetExitCodeProcess`: the process exists and has not exited (a
/// process we may not query counts as alive).
pub(crate) fn alive(pid: u32) -> bool {
    // SAFETY: plain calls with a pid; the handle is closed below.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        // SAFETY: reads this thread's last-error value.
        return unsafe { GetLastError() } == ERROR_ACCESS_DENIED;
    }
    let mut code = 0u32;
    // SAFETY: `h` is a valid process handle, `code` a valid out-pointer.
    let ok = unsafe { GetExitCodeProcess(h, &mut code) } != 0;
    // SAFETY: `h` is ours to close.
    unsafe { CloseHandle(h) };
    !ok || code == STILL_ACTIVE
}

/// The low 32 bits of the process's creation time (`GetProcessTimes`),
/// 0 if it cannot be queried.
pub(crate) fn start_token(pid: u32) -> u32 {
    // SAFETY: as in `alive`.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        return 0;
    }
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: `h` is a valid process handle; four valid out-pointers.
    let times = unsafe { GetProcessTimes(h, &mut created, &mut exited, &mut kernel, &mut user) };
    let ok = times != 0;
    // SAFETY: `h` is ours to close.
    unsafe { CloseHandle(h) };
    if ok { created.dwLowDateTime } else { 0 }
}

/// This process's id (no `fork` here).
pub(crate) fn current_pid() -> u32 {
    std::process::id()
}

/// Windows has no user ids of the Unix kind.
pub(crate) fn current_uid() -> u32 {
    0
}
