//! Win32 named file mappings: what is particular to them. Runs on Windows,
//! and on Linux under Wine through `.ci/windows.sh`.
//!
//! Processes are real: the cross-process tests start this test executable
//! again as a child (`--exact CHILD_TEST`) with the segment name in an
//! environment variable.
#![cfg(windows)]

use std::time::Duration;

use shm_runtime::{Error, Options, SharedLayout};

/// A small schema, 16 bytes.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 16)]
struct Pair {
    a: u64,
    b: u64,
}

/// A name unique to this process and call, in the `Local\` namespace.
fn unique(test: &str) -> String {
    format!("Local\\{}", test_support::unique(test))
}

#[test]
fn create_new_on_an_existing_name_is_already_exists() {
    let name = unique("exists");
    let first = Options::windows(&name).create_new().open::<Pair>().unwrap();
    first.write(&Pair { a: 1, b: 2 }).unwrap();
    let err = Options::windows(&name)
        .create_new()
        .open::<Pair>()
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains(&name), "{err}");
    // The failed attempt did not disturb the existing segment.
    assert_eq!(first.read().unwrap(), Pair { a: 1, b: 2 });
}

#[test]
fn open_of_a_missing_name_is_not_found() {
    let name = unique("missing");
    let err = Options::windows(&name).open::<Pair>().unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = Options::windows(&name)
        .open_read_only::<Pair>()
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[test]
fn invalid_names_fail_before_any_call() {
    for bad in ["", "Local\\", "Local\\a\\b", "Session\\1\\x"] {
        let err = Options::windows(bad)
            .create_new()
            .open::<Pair>()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}: {err}");
    }
}

#[test]
fn two_handles_in_one_process_see_each_others_writes() {
    let name = unique("two");
    let one = Options::windows(&name).create_new().open::<Pair>().unwrap();
    // One writer at a time: the second handle opens without write access
    // and takes it when the first gives it up.
    let busy = Options::windows(&name).open::<Pair>().unwrap_err();
    assert!(
        matches!(
            busy,
            Error::WriterBusy {
                this_process: true,
                ..
            }
        ),
        "{busy}"
    );
    let two = Options::windows(&name)
        .claim_writer(false)
        .open::<Pair>()
        .unwrap();
    assert_eq!(
        two.read().unwrap(),
        Pair { a: 0, b: 0 },
        "a new payload is zeroed"
    );
    one.write(&Pair { a: 7, b: 8 }).unwrap();
    assert_eq!(two.read().unwrap(), Pair { a: 7, b: 8 });
    one.release_writer().unwrap();
    two.claim_writer(Duration::ZERO).unwrap();
    two.modify(|p| p.b = 80).unwrap();
    assert_eq!(one.read().unwrap(), Pair { a: 7, b: 80 });
    two.release_writer().unwrap();
    one.claim_writer(Duration::ZERO).unwrap();
    one.update(|f| f.a().set(70)).unwrap();
    assert_eq!(two.fields().a().get(), 70);
    one.release_writer().unwrap();
    two.claim_writer(Duration::ZERO).unwrap();
    two.update(|f| f.b().set(f.b().get() + 1)).unwrap();
    assert_eq!(one.fields().b().get(), 81);
    two.release_writer().unwrap();
    one.claim_writer(Duration::ZERO).unwrap();
    one.modify(|p| p.a = 7).unwrap();
    // And the create-or-open path lands on the same mapping.
    let three = Options::windows(&name)
        .create_or_open()
        .claim_writer(false)
        .open::<Pair>()
        .unwrap();
    assert_eq!(three.read().unwrap(), Pair { a: 7, b: 81 });
    assert_eq!(three.header().fingerprint, Pair::FINGERPRINT);
}

#[test]
fn racing_create_or_open_in_threads_share_one_segment() {
    let name = unique("race");
    let barrier = std::sync::Barrier::new(4);
    let segs: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    Options::windows(&name)
                        .create_or_open()
                        .claim_writer(false)
                        .open::<Pair>()
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    segs[0].claim_writer(Duration::ZERO).unwrap();
    segs[0].write(&Pair { a: 3, b: 4 }).unwrap();
    for s in &segs {
        assert_eq!(s.read().unwrap(), Pair { a: 3, b: 4 });
        assert_eq!(s.header().created_nanos, segs[0].header().created_nanos);
    }
}

#[test]
fn a_read_only_view_reads_and_its_pages_are_read_only() {
    let name = unique("ro");
    let rw = Options::windows(&name).create_new().open::<Pair>().unwrap();
    rw.write(&Pair { a: 11, b: 12 }).unwrap();
    let ro = Options::windows(&name).open_read_only::<Pair>().unwrap();
    assert_eq!(ro.read().unwrap(), Pair { a: 11, b: 12 });
    rw.write(&Pair { a: 13, b: 14 }).unwrap();
    assert_eq!(ro.read().unwrap(), Pair { a: 13, b: 14 });
    // `ro` has no write methods (a compile-time fact); the mapping itself
    // is read-only: a child that writes through a raw pointer dies with an
    // access violation.
    let out = child("read_only_child_writes_through_a_raw_pointer", &name);
    assert_eq!(
        out.status.code().map(|c| c as u32),
        Some(0xC000_0005),
        "expected STATUS_ACCESS_VIOLATION; child said: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        rw.read().unwrap(),
        Pair { a: 13, b: 14 },
        "nothing was written"
    );
}

/// Child half of the read-only test: does nothing unless started by it.
#[test]
fn read_only_child_writes_through_a_raw_pointer() {
    let Ok(name) = std::env::var(CHILD_ENV) else {
        return;
    };
    let ro = Options::windows(&name).open_read_only::<Pair>().unwrap();
    let p = ro.fields().a().as_ptr();
    println!("writing through a read-only view");
    // SAFETY: deliberately unsound for the purpose of the test: the write
    // must fault before it happens (the page is PAGE_READONLY), killing this
    // child process; no Rust reference to the memory exists.
    unsafe { std::ptr::write_volatile(p.cast::<u64>(), 99) };
    std::process::exit(0);
}

#[test]
fn the_mapping_vanishes_when_its_last_handle_closes() {
    let name = unique("vanish");
    let one = Options::windows(&name).create_new().open::<Pair>().unwrap();
    one.write(&Pair { a: 5, b: 6 }).unwrap();
    let two = Options::windows(&name)
        .claim_writer(false)
        .open::<Pair>()
        .unwrap();
    // `remove` is a no-op: the open handles keep the mapping alive.
    Options::windows(&name).remove().unwrap();
    one.remove().unwrap();
    drop(one);
    assert_eq!(two.read().unwrap(), Pair { a: 5, b: 6 });
    let three = Options::windows(&name)
        .claim_writer(false)
        .open::<Pair>()
        .unwrap();
    assert_eq!(three.read().unwrap(), Pair { a: 5, b: 6 });
    drop(two);
    drop(three);
    let err = Options::windows(&name).open::<Pair>().unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    // The name is free again: create-new starts from zero.
    let again = Options::windows(&name).create_new().open::<Pair>().unwrap();
    assert_eq!(again.read().unwrap(), Pair { a: 0, b: 0 });
}

#[test]
fn another_process_sees_writes_and_writes_back() {
    let name = unique("proc");
    let seg = Options::windows(&name).create_new().open::<Pair>().unwrap();
    seg.write(&Pair { a: 123, b: 0 }).unwrap();
    // The child writes: give write access up.
    seg.release_writer().unwrap();
    let out = child("child_adds_one_to_a_into_b", &name);
    assert!(
        out.status.success(),
        "child failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(seg.read().unwrap(), Pair { a: 123, b: 124 });
}

/// Child half of the cross-process test.
#[test]
fn child_adds_one_to_a_into_b() {
    let Ok(name) = std::env::var(CHILD_ENV) else {
        return;
    };
    let seg = Options::windows(&name).open::<Pair>().unwrap();
    seg.modify(|p| p.b = p.a + 1).unwrap();
}

#[test]
fn status_reports_the_size_and_nothing_invented() {
    let name = unique("status");
    let seg = Options::windows(&name).create_new().open::<Pair>().unwrap();
    let st = seg.status().unwrap();
    assert_eq!(st.backend, "windows");
    assert!(st.size >= seg.header().segment_size, "{st}");
    assert_eq!(st.size % 4096, 0, "VirtualQuery reports whole pages: {st}");
    assert_eq!(st.mode, None);
    assert_eq!(st.owner_user, None);
    assert_eq!(st.number_attached, None);
    assert_eq!(st.creator_process, None);
    assert_eq!(st.last_change_time, None);
    assert_eq!(st.key, None);
    let h = st.header.as_ref().unwrap();
    assert_eq!(h.schema_name, "Pair");
    assert_eq!(h.creator_pid, std::process::id());
    let text = st.to_string();
    assert!(
        text.contains("mode: unknown (Win32 does not report it)"),
        "{text}"
    );
    seg.check_size().unwrap();
}

#[test]
fn lock_and_unlock_in_ram() {
    let name = unique("lock");
    let seg = Options::windows(&name).create_new().open::<Pair>().unwrap();
    // Unlocking what is not locked is not an error.
    seg.unlock_in_ram().unwrap();
    match seg.lock_in_ram() {
        Ok(()) => seg.unlock_in_ram().unwrap(),
        Err(e @ Error::PermissionDenied { .. }) => eprintln!("VirtualLock refused: {e}"),
        Err(e) => panic!("{e}"),
    }
    let ro = Options::windows(&name).open_read_only::<Pair>().unwrap();
    if ro.lock_in_ram().is_ok() {
        ro.unlock_in_ram().unwrap();
    }
}

/// Raw mappings made with windows-sys directly, as another program would.
mod foreign {
    use super::*;
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::System::Memory::{
        CreateFileMappingW, FILE_MAP_WRITE, MapViewOfFile, PAGE_READWRITE, SEC_RESERVE,
        UnmapViewOfFile,
    };

    struct Raw(HANDLE);
    impl Drop for Raw {
        fn drop(&mut self) {
            // SAFETY: our own handle, closed once.
            unsafe { CloseHandle(self.0) };
        }
    }

    fn raw_mapping(name: &str, size: u32, flags: u32, fill: Option<u8>) -> Raw {
        let w: Vec<u16> = name.encode_utf16().chain([0]).collect();
        // SAFETY: `w` is NUL-terminated; default security.
        let h = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                std::ptr::null(),
                PAGE_READWRITE | flags,
                0,
                size,
                w.as_ptr(),
            )
        };
        assert!(
            !h.is_null(),
            "CreateFileMappingW: {}",
            std::io::Error::last_os_error()
        );
        if let Some(b) = fill {
            // SAFETY: a fresh writable view of `size` bytes, private to this
            // test until unmapped.
            unsafe {
                let v = MapViewOfFile(h, FILE_MAP_WRITE, 0, 0, size as usize);
                assert!(!v.Value.is_null());
                std::ptr::write_bytes(v.Value.cast::<u8>(), b, size as usize);
                UnmapViewOfFile(v);
            }
        }
        Raw(h)
    }

    #[test]
    fn a_foreign_mapping_is_not_a_segment() {
        let name = unique("foreign");
        let _raw = raw_mapping(&name, 4096, 0, Some(0xAB));
        let err = Options::windows(&name).open::<Pair>().unwrap_err();
        assert!(matches!(err, Error::NotASegment { .. }), "{err}");
        let err = Options::windows(&name)
            .create_or_open()
            .open::<Pair>()
            .unwrap_err();
        assert!(matches!(err, Error::NotASegment { .. }), "{err}");
    }

    #[test]
    fn a_short_zeroed_mapping_is_not_initialised() {
        let name = unique("short");
        // 100 bytes: the view is one page, all zero, never initialised.
        let _raw = raw_mapping(&name, 100, 0, None);
        let err = Options::windows(&name)
            .open_timeout(std::time::Duration::from_millis(50))
            .open::<Pair>()
            .unwrap_err();
        assert!(matches!(err, Error::NotInitialized { .. }), "{err}");
    }

    #[test]
    fn a_mapping_with_no_committed_pages_is_too_small() {
        let name = unique("reserved");
        // SEC_RESERVE: the section has a size but no committed pages; a
        // view of it must not be touched. VirtualQuery tells.
        let _raw = raw_mapping(&name, 1 << 20, SEC_RESERVE, None);
        let err = Options::windows(&name).open::<Pair>().unwrap_err();
        assert!(matches!(err, Error::TooSmall { actual: 0, .. }), "{err}");
    }
}

const CHILD_ENV: &str = "SHM_RUNTIME_WINDOWS_TEST_CHILD";

/// Runs this test executable again, only the test `test`, with the segment
/// name in the environment.
fn child(test: &str, name: &str) -> std::process::Output {
    test_support::child_command(test, CHILD_ENV, name)
        .output()
        .unwrap()
}
