//! One typed-API test suite, run over every backend.
//!
//! Each test body below is a function of a [`Backend`] (how to name a fresh
//! segment, and what lifetime the backend promises); the `suite!` macro at
//! the end instantiates every body once per backend available on this
//! platform, as `posix::create_new_then_already_exists`,
//! `sysv::create_new_then_already_exists`, and so on. Everything here uses
//! real segments; names are unique per process and test, and every test
//! removes its segment, also when it fails ([`fresh`]).
//!
//! A backend added later only needs a `Backend` value and one `suite!` line.

#![allow(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shm_runtime::{Error, Options, ReadOnly, ReadWrite, Shared, SharedLayout};
use test_support::{Cleanup, unique};

// ---------------------------------------------------------------------------
// The schema used by every test.
// ---------------------------------------------------------------------------

/// A record like the documents' `MySharedData`, plus an atomic counter.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(size = 48, align = 8)]
pub struct Rec {
    pub value: i32,
    pub letter: u16,
    pub _pad: [u8; 2],
    pub numbers: [f32; 8],
    pub hits: AtomicU64,
}

impl Rec {
    fn sample(value: i32) -> Rec {
        let mut numbers = [0.0; 8];
        numbers[3] = 1.45;
        Rec {
            value,
            letter: u16::from(b'X'),
            _pad: [0; 2],
            numbers,
            hits: AtomicU64::new(7),
        }
    }
}

/// A different schema with the same size, to check that a mismatch is
/// reported whatever the backend.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Other {
    pub a: [u64; 6],
}

// ---------------------------------------------------------------------------
// Backends.
// ---------------------------------------------------------------------------

/// How to reach a backend from the generic tests.
pub struct Backend {
    /// `Status::backend` of its segments.
    pub kind: &'static str,
    /// Options naming a fresh segment for `tag` (unique per process and
    /// test), with no disposition set.
    pub make: fn(tag: &str) -> Options,
    /// Whether the segment outlives its last handle (POSIX, System V, file:
    /// yes; Win32: no, it goes when its last handle closes).
    pub persistent: bool,
    /// Makes an object under the name that is too short for a header,
    /// as another program might (`None`: the backend cannot have one).
    pub make_short: Option<fn(&Options)>,
}

/// A System V key unique (with high probability) to this process and call:
/// FNV-1a of a [`unique`] name, never 0 (`IPC_PRIVATE`) and never negative.
pub fn unique_key(tag: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in unique(tag).bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    ((h & 0x7fff_ffff) | 0x4000_0000) as i32
}

#[cfg(unix)]
pub const POSIX: Backend = Backend {
    kind: "posix",
    make: |tag| Options::posix(&unique(tag)),
    persistent: true,
    make_short: Some(|opts| {
        let shm_runtime::SegmentId::Posix(name) = opts.id() else {
            unreachable!()
        };
        let fd = rustix::shm::open(
            format!("/{}", name.trim_start_matches('/')).as_str(),
            rustix::shm::OFlags::CREATE | rustix::shm::OFlags::EXCL | rustix::shm::OFlags::RDWR,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("shm_open");
        rustix::fs::ftruncate(&fd, 10).expect("ftruncate");
    }),
};

#[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
pub const SYSV: Backend = Backend {
    kind: "sysv",
    make: |tag| Options::sysv(unique_key(tag)),
    persistent: true,
    make_short: Some(|opts| {
        let shm_runtime::SegmentId::SysV(key) = *opts.id() else {
            unreachable!()
        };
        // SAFETY: shmget takes no pointers.
        let id = unsafe {
            libc::shmget(
                key as libc::key_t,
                10,
                libc::IPC_CREAT | libc::IPC_EXCL | 0o600,
            )
        };
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
    }),
};

#[cfg(unix)]
pub const FILE: Backend = Backend {
    kind: "file",
    make: |tag| Options::file(std::env::temp_dir().join(unique(tag))),
    persistent: true,
    make_short: Some(|opts| {
        let shm_runtime::SegmentId::File(path) = opts.id() else {
            unreachable!()
        };
        // Mode 0600 like a segment's: a wider one is refused by
        // create-or-open before its size is looked at.
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut f| f.write_all(b"0123456789"))
            .expect("write");
    }),
};

#[cfg(windows)]
pub const WINDOWS: Backend = Backend {
    kind: "windows",
    make: |tag| Options::windows(&format!("Local\\{}", unique(tag))),
    persistent: false,
    make_short: Some(|opts| {
        use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
        use windows_sys::Win32::System::Memory::{CreateFileMappingW, PAGE_READWRITE, SEC_RESERVE};
        let shm_runtime::SegmentId::Windows(name) = opts.id() else {
            unreachable!()
        };
        let w: Vec<u16> = name.encode_utf16().chain([0]).collect();
        // A section with no committed pages (SEC_RESERVE), as another
        // program might make: a view of it must not be touched. The handle is
        // left open, or the mapping would vanish at once; it goes when this
        // test process exits.
        // SAFETY: `w` is NUL-terminated; default security.
        let h = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                std::ptr::null(),
                PAGE_READWRITE | SEC_RESERVE,
                0,
                1 << 20,
                w.as_ptr(),
            )
        };
        assert!(
            !h.is_null(),
            "CreateFileMappingW: {}",
            std::io::Error::last_os_error()
        );
    }),
};

pub const MEMORY: Backend = Backend {
    kind: "memory",
    make: |_| Options::memory(),
    persistent: false,
    make_short: None,
};

/// Options for a fresh segment of `b` for `tag`, with any leftover of an
/// earlier run removed; the segment is removed when the guard is dropped,
/// so a failing test leaves nothing behind.
pub fn fresh(b: &Backend, tag: &str) -> Cleanup {
    let opts = (b.make)(tag);
    let _ = opts.remove();
    Cleanup(opts)
}

// ---------------------------------------------------------------------------
// The test bodies.
// ---------------------------------------------------------------------------

fn create_new(opts: &Options) -> Shared<Rec> {
    opts.clone().create_new().open::<Rec>().expect("create_new")
}

pub fn create_new_then_already_exists(b: &Backend) {
    let c = fresh(b, "create_new");
    let seg = create_new(&c.0);
    assert_eq!(seg.read().unwrap().value, 0, "a new payload is all zeroes");
    let err = c.0.clone().create_new().open::<Rec>().unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(err.segment_name(), c.0.id().to_string());
}

pub fn open_existing_not_found(b: &Backend) {
    let c = fresh(b, "not_found");
    let err = c.0.clone().open_existing().open::<Rec>().unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = c.0.open_read_only::<Rec>().unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

pub fn open_existing_shares_the_data(b: &Backend) {
    let c = fresh(b, "open_existing");
    let a =
        c.0.clone()
            .create_new()
            .open_with(&Rec::sample(123))
            .unwrap();
    // One writer at a time: the second handle waits for the first to
    // release write access.
    let err = c.0.clone().open_existing().open::<Rec>().unwrap_err();
    assert!(
        matches!(
            err,
            Error::WriterBusy {
                this_process: true,
                ..
            }
        ),
        "{err}"
    );
    let other =
        c.0.clone()
            .open_existing()
            .claim_writer(false)
            .open::<Rec>()
            .unwrap();
    assert!(matches!(
        other.write(&Rec::sample(1)),
        Err(Error::NotWriter { .. })
    ));
    a.release_writer().unwrap();
    assert_eq!(other.claim_writer(Duration::ZERO).unwrap(), None);
    let v = other.read().unwrap();
    assert_eq!(
        (v.value, v.letter, v.numbers[3]),
        (123, u16::from(b'X'), 1.45)
    );
    other.update(|f| f.value().set(456)).unwrap();
    assert_eq!(
        a.fields().value().get(),
        456,
        "both handles map the same memory"
    );
}

pub fn create_or_open_creates_then_opens(b: &Backend) {
    let c = fresh(b, "create_or_open");
    let first =
        c.0.clone()
            .create_or_open()
            .open_with(&Rec::sample(1))
            .unwrap();
    assert_eq!(
        first.read().unwrap().value,
        1,
        "the creator's initial value"
    );
    first.release_writer().unwrap();
    let second =
        c.0.clone()
            .create_or_open()
            .open_with(&Rec::sample(2))
            .unwrap();
    assert_eq!(
        second.read().unwrap().value,
        1,
        "an opener does not reinitialise"
    );
    second.write(&Rec::sample(3)).unwrap();
    assert_eq!(first.read().unwrap().value, 3);
}

pub fn read_only_open(b: &Backend) {
    let c = fresh(b, "read_only");
    let rw = c.0.clone().create_new().open_with(&Rec::sample(5)).unwrap();
    let ro: Shared<Rec, ReadOnly> = c.0.open_read_only::<Rec>().unwrap();
    assert_eq!(ro.read().unwrap().value, 5);
    rw.update(|f| f.numbers().set(7, 2.5).expect("index in range"))
        .unwrap();
    assert_eq!(
        ro.fields().numbers().get(7),
        Some(2.5),
        "a read-only handle sees writes"
    );
    assert_eq!(ro.status().unwrap().backend, b.kind);
    // The mapping itself is read-only (the child-process test shows that a
    // forced write kills the process).
    #[cfg(target_os = "linux")]
    {
        let p = shm_runtime::Field::from(ro.fields()).as_ptr() as usize;
        assert_eq!(
            mapping_perms(p).as_deref(),
            Some("r--s"),
            "read-only mapping"
        );
        let p = shm_runtime::Field::from(rw.fields()).as_ptr() as usize;
        assert_eq!(
            mapping_perms(p).as_deref(),
            Some("rw-s"),
            "read-write mapping"
        );
    }
}

/// The permissions `/proc/self/maps` shows for the mapping holding `addr`.
#[cfg(target_os = "linux")]
pub fn mapping_perms(addr: usize) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        let (lo, hi) = parts.next()?.split_once('-')?;
        let (lo, hi) = (
            usize::from_str_radix(lo, 16).ok()?,
            usize::from_str_radix(hi, 16).ok()?,
        );
        (lo..hi)
            .contains(&addr)
            .then(|| parts.next().map(str::to_owned))?
    })
}

pub fn read_write_update_fields(b: &Backend) {
    let c = fresh(b, "read_write");
    let seg = create_new(&c.0);
    seg.write(&Rec::sample(123)).unwrap();
    let v = seg.read().unwrap();
    assert_eq!(v.value, 123);
    assert_eq!(v.letter, u16::from(b'X'));
    assert_eq!(v.numbers[3], 1.45);
    assert_eq!(v.hits.load(Ordering::Relaxed), 7);

    let before = seg.status().unwrap().header.unwrap().seq;
    seg.update(|f| {
        f.value().set(-4);
        f.letter().set(u16::from(b'Y'));
        f.numbers().set(0, 0.5).expect("index in range");
        f.hits().fetch_add(1);
    })
    .unwrap();
    let after = seg.status().unwrap().header.unwrap().seq;
    assert_eq!(after, before + 2, "one update is one write");

    let f = seg.fields();
    assert_eq!(f.value().get(), -4);
    assert_eq!(f.letter().get(), u16::from(b'Y'));
    assert_eq!(f.numbers().len(), 8);
    assert_eq!(f.numbers().get(0), Some(0.5));
    assert_eq!(f.numbers().get(8), None);
    assert_eq!(f.numbers().to_array()[3], 1.45);
    assert_eq!(f.hits().load(Ordering::Relaxed), 8);

    let old = seg.modify(|r| std::mem::replace(&mut r.value, 99)).unwrap();
    assert_eq!((old, seg.read().unwrap().value), (-4, 99));
}

pub fn schema_mismatch(b: &Backend) {
    let c = fresh(b, "mismatch");
    let _seg = create_new(&c.0);
    let err = c.0.clone().open_existing().open::<Other>().unwrap_err();
    assert!(matches!(err, Error::LayoutMismatch { .. }), "{err}");
}

pub fn short_foreign_object(b: &Backend) {
    let Some(make_short) = b.make_short else {
        return;
    };
    let c = fresh(b, "short");
    make_short(&c.0);
    // Win32 reports committed whole pages; the short mapping has none.
    let short = if b.kind == "windows" { 0 } else { 10 };
    for err in [
        c.0.clone().open_existing().open::<Rec>().unwrap_err(),
        c.0.clone().create_or_open().open::<Rec>().unwrap_err(),
        c.0.open_read_only::<Rec>().unwrap_err(),
    ] {
        assert!(
            matches!(err, Error::TooSmall { actual, .. } if actual == short),
            "{err}"
        );
    }
}

pub fn status_reports(b: &Backend) {
    let c = fresh(b, "status");
    let seg = c.0.clone().create_new().mode(0o640).open::<Rec>().unwrap();
    let st = seg.status().unwrap();
    assert_eq!(st.backend, b.kind);
    assert_eq!(st.name, c.0.id().to_string());
    let h = st.header.as_ref().expect("header facts");
    assert_eq!(h.schema_name, "Rec");
    assert_eq!(h.payload_size, 48);
    assert_eq!(h.creator_pid, std::process::id());
    assert!(st.size >= h.payload_offset + h.payload_size, "{st}");
    let text = st.to_string();
    for item in [
        "size",
        "number_attached",
        "creator_process",
        "last_op_process",
        "last_attach_time",
        "last_detach_time",
        "last_change_time",
        "creator_user",
        "creator_group",
        "owner_user",
        "owner_group",
        "mode",
        "key",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{item}: "))),
            "{item} in {text}"
        );
    }
    if b.kind == "memory" {
        return;
    }
    #[cfg(unix)]
    {
        assert_eq!(st.mode, Some(0o640), "{st}");
        assert_eq!(st.owner_user, Some(rustix::process::getuid().as_raw()));
        assert_eq!(st.owner_group, Some(rustix::process::getgid().as_raw()));
        assert!(st.last_change_time.is_some());
    }
    if b.kind == "sysv" {
        let me = std::process::id();
        assert_eq!(st.number_attached, Some(1));
        assert_eq!(st.creator_process, Some(me));
        assert_eq!(st.last_op_process, Some(me));
        assert_eq!(st.creator_user, st.owner_user);
        assert_eq!(st.creator_group, st.owner_group);
        assert!(st.last_attach_time.is_some());
        let shm_runtime::SegmentId::SysV(key) = *c.0.id() else {
            unreachable!()
        };
        assert_eq!(st.key, Some(key));
        let second = c.0.open_read_only::<Rec>().unwrap();
        assert_eq!(seg.status().unwrap().number_attached, Some(2));
        drop(second);
        let st = seg.status().unwrap();
        assert_eq!(st.number_attached, Some(1));
        assert!(st.last_detach_time > Some(std::time::UNIX_EPOCH), "{st}");
    } else {
        assert_eq!(st.key, None, "only System V segments have keys");
    }
}

/// The mode is applied exactly, whatever the umask.
#[cfg(unix)]
pub fn mode_ignores_umask(b: &Backend) {
    if b.kind == "memory" {
        return;
    }
    let c = fresh(b, "umask");
    // The umask is per process: other tests running meanwhile create with
    // explicit modes that fchmod / shmget apply anyway.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let seg = c.0.clone().create_new().mode(0o644).open::<Rec>();
    rustix::process::umask(old);
    assert_eq!(seg.unwrap().status().unwrap().mode, Some(0o644));
    // A mode without owner write still lets the creator initialise it.
    let c2 = fresh(b, "umask_ro");
    let seg =
        c2.0.clone()
            .create_new()
            .mode(0o440)
            .open_with(&Rec::sample(8))
            .unwrap();
    assert_eq!(seg.status().unwrap().mode, Some(0o440));
    assert_eq!(seg.read().unwrap().value, 8);
}

pub fn lock_in_ram(b: &Backend) {
    let c = fresh(b, "lock");
    let seg = create_new(&c.0);
    for r in [seg.lock_in_ram(), seg.unlock_in_ram()] {
        match r {
            Ok(()) => {}
            Err(Error::PermissionDenied { op, .. }) => {
                assert!(op.contains("RAM") || op.contains("unlock"))
            }
            Err(Error::Unsupported { .. }) if b.kind == "memory" => {}
            Err(e) => panic!("lock_in_ram: {e}"),
        }
    }
    seg.write(&Rec::sample(1)).unwrap();
    seg.flush().unwrap();
}

pub fn remove_and_lifetime(b: &Backend) {
    let c = fresh(b, "remove");
    let seg =
        c.0.clone()
            .create_new()
            .open_with(&Rec::sample(11))
            .unwrap();
    drop(seg);
    // Dropping the last handle unmaps but does not remove, where the
    // backend persists.
    match c.0.clone().open_existing().open::<Rec>() {
        Ok(seg) => {
            assert!(b.persistent, "{} segment outlived its last handle", b.kind);
            assert_eq!(seg.read().unwrap().value, 11);
            seg.remove().unwrap();
            // The handle stays usable after removal; the name is gone.
            seg.update(|f| f.value().set(12)).unwrap();
            assert_eq!(seg.read().unwrap().value, 12);
            let err = c.0.clone().open_existing().open::<Rec>().unwrap_err();
            assert!(matches!(err, Error::NotFound { .. }), "{err}");
            let err = c.0.remove().unwrap_err();
            assert!(matches!(err, Error::NotFound { .. }), "{err}");
            // The name (key, path) can be used again at once.
            let again = c.0.clone().create_new().open::<Rec>().unwrap();
            assert_eq!(again.read().unwrap().value, 0);
            assert_eq!(seg.read().unwrap().value, 12, "the old segment is separate");
        }
        Err(Error::NotFound { .. }) => assert!(!b.persistent, "{} segment vanished", b.kind),
        Err(e) => panic!("{e}"),
    }
}

/// A segment handle can be sent to another thread and used there.
pub fn shared_across_threads(b: &Backend) {
    let c = fresh(b, "threads");
    let seg: Shared<Rec, ReadWrite> = create_new(&c.0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    seg.update(|f| f.hits().fetch_add(1)).unwrap();
                }
            });
        }
    });
    assert_eq!(seg.fields().hits().load(Ordering::Relaxed), 400);
}

/// A child process that attaches read-only and forces a write through a
/// raw pointer dies with SIGSEGV: the mapping itself is read-only, not just
/// the API. The child is this test binary, re-run with `--exact
/// read_only_write_child` and the segment in its environment.
#[cfg(unix)]
pub fn read_only_write_faults(b: &Backend) {
    use std::os::unix::process::ExitStatusExt;
    let c = fresh(b, "fault");
    let rw =
        c.0.clone()
            .create_new()
            .open_with(&Rec::sample(21))
            .unwrap();
    let name = match c.0.id() {
        shm_runtime::SegmentId::Posix(n) => n.clone(),
        shm_runtime::SegmentId::SysV(k) => k.to_string(),
        shm_runtime::SegmentId::File(p) => p.display().to_string(),
        other => panic!("no child test for {other}"),
    };
    let out = test_support::child_command(
        "read_only_write_child",
        CHILD_ENV,
        format!("{}:{name}", b.kind),
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("child: attached read-only"),
        "{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("child: survived"), "{stdout}\n{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "{:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert_eq!(
        rw.read().unwrap().value,
        21,
        "the forced write changed nothing"
    );
}

/// Environment variable that turns [`read_only_write_child`] into the child
/// of [`read_only_write_faults`]: `KIND:NAME`.
#[cfg(unix)]
const CHILD_ENV: &str = "SHM_TEST_READ_ONLY_CHILD";

/// The child of [`read_only_write_faults`]; does nothing as a normal test.
#[cfg(unix)]
#[test]
fn read_only_write_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (kind, name) = spec.split_once(':').unwrap();
    let opts = match kind {
        "posix" => Options::posix(name),
        "sysv" => Options::sysv(name.parse().unwrap()),
        "file" => Options::file(name),
        _ => panic!("unknown backend {kind}"),
    };
    // No core file for the expected crash.
    let no_core = rustix::process::Rlimit {
        current: Some(0),
        maximum: None,
    };
    let _ = rustix::process::setrlimit(rustix::process::Resource::Core, no_core);
    let seg = opts.open_read_only::<Rec>().unwrap();
    let p = seg.fields().value().as_ptr();
    println!(
        "child: attached read-only, value {}",
        seg.fields().value().get()
    );
    // SAFETY: deliberately unsound in the sense of the API (this handle is
    // read-only); `p` is aligned and mapped, and the point of the test is
    // that the kernel refuses the store with SIGSEGV.
    unsafe { p.write_volatile(-1) };
    println!("child: survived the write");
    std::process::exit(0);
}

/// Without the privilege, locking in RAM is a clear `PermissionDenied`:
/// a child process without `CAP_IPC_LOCK` (run as `nobody` through
/// `setpriv` when the tests run as root) and with `RLIMIT_MEMLOCK` 0
/// creates a segment and tries.
#[cfg(unix)]
pub fn lock_in_ram_without_privilege(b: &Backend) {
    let exe = std::env::current_exe().unwrap();
    let child_args = [
        "--exact",
        "lock_in_ram_child",
        "--nocapture",
        "--test-threads=1",
    ];
    let mut cmd = if rustix::process::geteuid().is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(exe);
        c
    } else {
        std::process::Command::new(exe)
    };
    let out = cmd
        .args(child_args)
        .env(LOCK_CHILD_ENV, b.kind)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout.contains("child: PermissionDenied"),
        "{stdout}\n{stderr}"
    );
}

/// Environment variable that turns [`lock_in_ram_child`] into the child of
/// [`lock_in_ram_without_privilege`]: the backend's kind.
#[cfg(unix)]
const LOCK_CHILD_ENV: &str = "SHM_TEST_LOCK_CHILD";

/// The child of [`lock_in_ram_without_privilege`]; does nothing as a normal
/// test.
#[cfg(unix)]
#[test]
fn lock_in_ram_child() {
    let Ok(kind) = std::env::var(LOCK_CHILD_ENV) else {
        return;
    };
    let b = match kind.as_str() {
        "posix" => &POSIX,
        #[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
        "sysv" => &SYSV,
        "file" => &FILE,
        _ => panic!("unknown backend {kind}"),
    };
    let none = rustix::process::Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    rustix::process::setrlimit(rustix::process::Resource::Memlock, none).unwrap();
    let c = fresh(b, "lock_child");
    let seg = create_new(&c.0);
    match seg.lock_in_ram() {
        Err(e @ Error::PermissionDenied { .. }) => println!("child: PermissionDenied: {e}"),
        other => panic!("lock_in_ram without the privilege: {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Instantiation.
// ---------------------------------------------------------------------------

/// `suite!(module, BACKEND)` runs every test body over a named backend;
/// `suite!(anonymous module, BACKEND)` the ones that need no name.
macro_rules! suite {
    (@tests $b:path; $($name:ident),*) => {$(
        #[test]
        fn $name() {
            super::$name(&$b);
        }
    )*};
    (anonymous $m:ident, $b:ident) => {
        mod $m {
            suite!(@tests super::$b; read_write_update_fields, status_reports, lock_in_ram,
                shared_across_threads);
        }
    };
    ($m:ident, $b:ident) => {
        mod $m {
            suite!(@tests super::$b; create_new_then_already_exists, open_existing_not_found,
                open_existing_shares_the_data, create_or_open_creates_then_opens, read_only_open,
                read_write_update_fields, schema_mismatch, short_foreign_object, status_reports,
                lock_in_ram, remove_and_lifetime, shared_across_threads);
            #[cfg(unix)]
            suite!(@tests super::$b; mode_ignores_umask, read_only_write_faults,
                lock_in_ram_without_privilege);
        }
    };
}

#[cfg(unix)]
suite!(posix, POSIX);
#[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
suite!(sysv, SYSV);
#[cfg(unix)]
suite!(file, FILE);
#[cfg(windows)]
suite!(windows, WINDOWS);
suite!(anonymous memory, MEMORY);

/// Names are validated before any system call, per backend.
#[test]
fn invalid_names() {
    #[cfg(unix)]
    let cases = [
        (Options::sysv(0), "IPC_PRIVATE"),
        (Options::file(""), "empty"),
        (Options::file("/tmp/"), "directory"),
        (Options::posix("a/b"), "`/`"),
    ];
    #[cfg(windows)]
    let cases = [
        (Options::windows("Local\\a\\b"), "namespace prefix"),
        (Options::windows("Global\\"), "empty"),
    ];
    for (opts, what) in cases {
        let err = opts.clone().create_or_open().open::<Rec>().unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{err}");
        assert!(err.to_string().contains(what), "{err}");
        assert!(matches!(opts.remove(), Err(Error::InvalidName { .. })));
    }
}

#[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
#[test]
fn ftok_keys() {
    let path = std::env::temp_dir().join(unique("ftok"));
    std::fs::write(&path, b"").unwrap();
    let a = Options::sysv_ftok(&path, b'A').unwrap();
    let b = Options::sysv_ftok(&path, b'A').unwrap();
    let other = Options::sysv_ftok(&path, b'B').unwrap();
    assert_eq!(a.id(), b.id(), "same path and id, same key");
    assert_ne!(a.id(), other.id());
    assert!(matches!(
        Options::sysv_ftok(&path, 0),
        Err(Error::InvalidName { .. })
    ));
    std::fs::remove_file(&path).unwrap();
    let err = Options::sysv_ftok(&path, b'A').unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("ftok"), "{err}");
}

#[test]
fn default_for_os() {
    let id = Options::default_for_os("MyShare").id().to_string();
    if cfg!(windows) {
        assert_eq!(id, "windows:MyShare");
    } else {
        assert_eq!(id, "posix:/MyShare");
    }
}
