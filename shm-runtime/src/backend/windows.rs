//! Win32 named file mappings backed by the paging file:
//! [`CreateFileMappingW`] with `INVALID_HANDLE_VALUE`, [`OpenFileMappingW`],
//! [`MapViewOfFile`], through windows-sys.
//!
//! A mapping has no persistence of its own: the kernel destroys it when the
//! last handle to it is closed (every process that has it open has closed
//! it or exited). There is nothing to remove, so [`remove`] does nothing;
//! a segment lives exactly as long as some [`Shared`](crate::Shared) handle
//! (or another program's handle) keeps it open. Names live in the session's
//! `Local\` namespace unless they start with `Global\` (creating a global
//! mapping needs `SeCreateGlobalPrivilege`).
//!
//! Win32 has no permission bits: a new mapping gets the creator's default
//! security descriptor, and [`Options::mode`](crate::Options::mode) is
//! ignored. A paging-file section cannot shrink, so the `SIGBUS` hazard of a
//! truncated POSIX object does not exist here.
//!
//! [`CreateFileMappingW`]: https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-createfilemappingw
//! [`OpenFileMappingW`]: https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-openfilemappingw
//! [`MapViewOfFile`]: https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-mapviewoffile

use std::ptr::NonNull;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_COMMITMENT_LIMIT,
    ERROR_FILE_NOT_FOUND, ERROR_INVALID_HANDLE, ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_LOCKED,
    ERROR_OUTOFMEMORY, ERROR_WORKING_SET_QUOTA, GetLastError, HANDLE, INVALID_HANDLE_VALUE,
    SetLastError, WIN32_ERROR,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP, FILE_MAP_READ, FILE_MAP_WRITE, MEM_COMMIT,
    MEMORY_BASIC_INFORMATION, MEMORY_MAPPED_VIEW_ADDRESS, MapViewOfFile, OpenFileMappingW,
    PAGE_GUARD, PAGE_NOACCESS, PAGE_READWRITE, UnmapViewOfFile, VirtualLock, VirtualQuery,
    VirtualUnlock,
};

use super::{Backing, Disposition, Request};
use crate::error::{Error, Result};
use crate::header::HEADER_SIZE;
use crate::status::Status;

pub(crate) struct Windows {
    handle: HANDLE,
    ptr: NonNull<u8>,
    len: usize,
    created: bool,
    display: String,
}

// SAFETY: the handle and the view are owned by this value (closed and
// unmapped once, in `Drop`); Win32 handles may be used from any thread, and
// the segment layer accesses the view only atomically.
unsafe impl Send for Windows {}
// SAFETY: as above; `&self` methods only query or lock the view.
unsafe impl Sync for Windows {}

/// The calling thread's last Win32 error, as an `Error` for `op`.
fn last_error(display: &str, op: &'static str) -> Error {
    // SAFETY: GetLastError only reads thread-local state.
    let code = unsafe { GetLastError() };
    win32_error(display, op, code)
}

/// Maps a Win32 error code from `op` to the matching variant.
fn win32_error(display: &str, op: &'static str, code: WIN32_ERROR) -> Error {
    let name = display.to_owned();
    match code {
        ERROR_FILE_NOT_FOUND => Error::NotFound { name },
        ERROR_ALREADY_EXISTS => Error::AlreadyExists { name },
        ERROR_ACCESS_DENIED => Error::PermissionDenied { name, op },
        ERROR_INVALID_HANDLE => Error::Io {
            name,
            op: "open the name as a file mapping (it belongs to another kind of kernel \
                 object, e.g. an event or a mutex)",
            source: std::io::Error::from_raw_os_error(code as i32),
        },
        _ => Error::Io {
            name,
            op,
            source: std::io::Error::from_raw_os_error(code as i32),
        },
    }
}

/// The name as a NUL-terminated UTF-16 string (`name.rs` has rejected
/// interior NULs).
fn wide(name: &str) -> Vec<u16> {
    name.encode_utf16().chain(std::iter::once(0)).collect()
}

/// An owned handle, closed on drop unless taken.
struct Handle(HANDLE);

impl Handle {
    fn into_raw(self) -> HANDLE {
        let h = self.0;
        std::mem::forget(self);
        h
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a handle this process opened and nobody else
        // closes (ownership is given up through `into_raw` only).
        unsafe { CloseHandle(self.0) };
    }
}

/// Creates or opens the mapping `name` as `req` says and maps a view of it.
pub(crate) fn open(name: &str, req: &Request<'_>) -> Result<Windows> {
    let d = req.display;
    let wname = wide(name);
    let access: FILE_MAP = if req.read_only {
        FILE_MAP_READ
    } else {
        FILE_MAP_READ | FILE_MAP_WRITE
    };
    if req.disposition != Disposition::OpenExisting {
        let size = req.size as u64;
        // SAFETY: SetLastError only writes thread-local state. Clearing it
        // first makes the ERROR_ALREADY_EXISTS test below unambiguous.
        unsafe { SetLastError(0) };
        // CreateFileMappingW(INVALID_HANDLE_VALUE, ...): a section backed by
        // the paging file, created with its full size and zero-filled, in one
        // step. If the name exists, the call succeeds, returns a handle to the
        // existing section (with *its* size) and sets ERROR_ALREADY_EXISTS:
        // the kernel decides atomically which racer creates.
        // SAFETY: `wname` is NUL-terminated and outlives the call; a null
        // security-attributes pointer asks for the default descriptor.
        let h = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                std::ptr::null(),
                PAGE_READWRITE,
                (size >> 32) as u32,
                size as u32,
                wname.as_ptr(),
            )
        };
        // SAFETY: as above, thread-local state only; read at once.
        let code = unsafe { GetLastError() };
        if h.is_null() {
            match code {
                ERROR_COMMITMENT_LIMIT | ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY => {
                    return Err(Error::NoSpace {
                        name: d.to_owned(),
                        size,
                        reason: format!(
                            "CreateFileMappingW: {} (the paging file cannot back it)",
                            std::io::Error::from_raw_os_error(code as i32)
                        ),
                    });
                }
                // The name exists but its security descriptor does not grant
                // us all access: with create-or-open, an open asking only for
                // what we need may still succeed (below).
                ERROR_ACCESS_DENIED if req.disposition == Disposition::CreateOrOpen => {}
                ERROR_ACCESS_DENIED if name.starts_with("Global\\") => {
                    return Err(global_denied(d));
                }
                code => return Err(win32_error(d, "CreateFileMappingW", code)),
            }
        } else {
            let h = Handle(h);
            if code == ERROR_ALREADY_EXISTS {
                if req.disposition == Disposition::CreateNew {
                    // `h` is closed on return: we never touched the section.
                    return Err(Error::AlreadyExists { name: d.to_owned() });
                }
                return map_existing(h, access, d);
            }
            let ptr = map_view(&h, FILE_MAP_READ | FILE_MAP_WRITE, req.size, d)?;
            return Ok(Windows {
                handle: h.into_raw(),
                ptr,
                len: req.size,
                created: true,
                display: d.to_owned(),
            });
        }
    }
    // OpenFileMappingW: only the access this handle needs (least privilege:
    // a read-only opener asks for FILE_MAP_READ alone).
    // SAFETY: `wname` is NUL-terminated and outlives the call.
    let h = unsafe { OpenFileMappingW(access, 0, wname.as_ptr()) };
    if h.is_null() {
        // SAFETY: thread-local state only; read right after the failed call.
        let code = unsafe { GetLastError() };
        if code == ERROR_FILE_NOT_FOUND
            && req.disposition == Disposition::CreateOrOpen
            && name.starts_with("Global\\")
        {
            // Create was denied and there is nothing to open: the privilege
            // to create global objects is what is missing.
            return Err(global_denied(d));
        }
        return Err(win32_error(d, "OpenFileMappingW", code));
    }
    map_existing(Handle(h), access, d)
}

fn global_denied(d: &str) -> Error {
    Error::PermissionDenied {
        name: d.to_owned(),
        op: "create a mapping in the Global\\ namespace (needs SeCreateGlobalPrivilege)",
    }
}

/// Maps the whole of an existing section and learns its real size with
/// VirtualQuery before any byte of it is touched, so a short or foreign
/// mapping is reported, never read past its end.
fn map_existing(h: Handle, access: FILE_MAP, d: &str) -> Result<Windows> {
    // A length of 0 maps the whole section, whatever its size.
    let ptr = map_view(&h, access, 0, d)?;
    // From here on, dropping `view` unmaps it and closes the handle.
    let mut view = Windows {
        handle: h.into_raw(),
        ptr,
        len: 0,
        created: false,
        display: d.to_owned(),
    };
    let len = view.committed_size()?;
    if len < HEADER_SIZE {
        return Err(Error::TooSmall {
            name: d.to_owned(),
            needed: HEADER_SIZE as u64,
            actual: len as u64,
            what: "the segment header",
        });
    }
    view.len = len;
    Ok(view)
}

/// MapViewOfFile of `len` bytes (0: all) from offset 0.
fn map_view(h: &Handle, access: FILE_MAP, len: usize, d: &str) -> Result<NonNull<u8>> {
    // SAFETY: `h` is a live section handle; the kernel chooses the address,
    // so the view cannot overlap any Rust object.
    let view = unsafe { MapViewOfFile(h.0, access, 0, 0, len) };
    NonNull::new(view.Value.cast::<u8>()).ok_or_else(|| {
        // SAFETY: thread-local state only; read right after the failed call.
        let code = unsafe { GetLastError() };
        match code {
            ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY => Error::NoSpace {
                name: d.to_owned(),
                size: len as u64,
                reason: "MapViewOfFile: not enough address space".into(),
            },
            code => win32_error(d, "MapViewOfFile", code),
        }
    })
}

impl Windows {
    /// [`VirtualQuery`] of the view: the bytes from its start that are
    /// committed and accessible (whole pages). A section made by another
    /// program with `SEC_RESERVE` may have fewer of those than its size.
    ///
    /// [`VirtualQuery`]: https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-virtualquery
    fn committed_size(&self) -> Result<usize> {
        let mut info = MEMORY_BASIC_INFORMATION::default();
        // SAFETY: `info` is a private, writable MEMORY_BASIC_INFORMATION and
        // its size is passed; VirtualQuery only reads the address space.
        let n = unsafe {
            VirtualQuery(
                self.ptr.as_ptr().cast_const().cast(),
                &mut info,
                size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        if n == 0 {
            return Err(last_error(&self.display, "VirtualQuery"));
        }
        if info.State != MEM_COMMIT || info.Protect & (PAGE_NOACCESS | PAGE_GUARD) != 0 {
            return Ok(0);
        }
        Ok(info.RegionSize)
    }
}

/// A no-op: a Win32 mapping has no name to remove. It disappears when its
/// last handle closes, i.e. when every process that opened it has dropped
/// its segment handle (or exited).
pub(crate) fn remove(_name: &str, _display: &str) -> Result<()> {
    Ok(())
}

impl Drop for Windows {
    fn drop(&mut self) {
        // SAFETY: `ptr` is the view made in `map_view`, unmapped only here;
        // no `Field` or reference into it outlives the owning segment handle.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.ptr.as_ptr().cast(),
            })
        };
        // SAFETY: `handle` is owned by this value and closed only here.
        unsafe { CloseHandle(self.handle) };
    }
}

// SAFETY: `MapViewOfFile` maps the whole mapping (at least HEADER_SIZE
// bytes, checked at open) at an allocation-granularity boundary until
// `UnmapViewOfFile` in `Drop`; whole pages, so the word holding the last
// byte is mapped; read-only exactly when `req.read_only` asked; this type
// never touches the mapped bytes itself.
unsafe impl Backing for Windows {
    fn base(&self) -> NonNull<u8> {
        self.ptr
    }
    fn len(&self) -> usize {
        self.len
    }
    fn created(&self) -> bool {
        self.created
    }
    fn os_status(&self, status: &mut Status) -> Result<()> {
        // Win32 reports the view's size (whole pages) and nothing else that
        // the status items ask for: no modes, owners as SIDs, no attach
        // counts or times. Those stay `None`.
        status.size = self.committed_size()? as u64;
        Ok(())
    }
    fn lock_in_ram(&self, lock: bool) -> Result<()> {
        let p = self.ptr.as_ptr().cast_const().cast();
        // SAFETY: the range is exactly our own live view; VirtualLock and
        // VirtualUnlock do not change its contents.
        let ok = unsafe {
            if lock {
                VirtualLock(p, self.len)
            } else {
                VirtualUnlock(p, self.len)
            }
        };
        if ok != 0 {
            return Ok(());
        }
        // SAFETY: thread-local state only; read right after the failed call.
        match unsafe { GetLastError() } {
            // Unlocking pages that are not locked: nothing to undo (munlock
            // succeeds in the same case).
            ERROR_NOT_LOCKED if !lock => Ok(()),
            ERROR_WORKING_SET_QUOTA | ERROR_ACCESS_DENIED if lock => Err(Error::PermissionDenied {
                name: self.display.clone(),
                op: "lock the segment in RAM (VirtualLock; raise the process's minimum \
                     working set with SetProcessWorkingSetSize)",
            }),
            code => Err(win32_error(
                &self.display,
                if lock { "VirtualLock" } else { "VirtualUnlock" },
                code,
            )),
        }
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn current_size(&self) -> Result<u64> {
        Ok(self.committed_size()? as u64)
    }
}
