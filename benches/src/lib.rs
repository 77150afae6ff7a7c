//! Shared pieces of the benchmarks (see `BENCHMARKS.md` at the top of the
//! repository): bench-only schemas, unique segment names, the raw POSIX
//! baseline (`shm_open` + `ftruncate` + `mmap` with nothing on top), CPU
//! pinning, page-fault and allocation counters, quick mode, and where the
//! results go.
//!
//! The benchmarks themselves are in `benches/` (criterion for the
//! in-process pairs, `harness = false` for the cross-process harness);
//! `src/bin/bench-report.rs` turns their results into the ratio table.

#![cfg(unix)]

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::Mode;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm::OFlags;
use shm_runtime::SharedLayout;

pub mod report;

/// A 64-byte payload (one cache line).
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 64)]
pub struct Bytes64 {
    /// The payload.
    pub words: [u64; 8],
}

/// A 4 KiB payload (one page).
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 4096)]
pub struct Bytes4K {
    /// The payload.
    pub words: [u64; 512],
}

/// A 1 MiB payload.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(size = 1048576)]
pub struct Bytes1M {
    /// The payload.
    pub words: [u64; 131072],
}

/// A 1 GiB payload: only ever created and opened, never copied (it would
/// not fit on a stack).
#[derive(SharedLayout)]
#[repr(C)]
#[shm(size = 1073741824)]
pub struct Bytes1G {
    /// The payload.
    pub words: [u64; 134217728],
}

/// A segment name unique to this process and call, e.g. `shmbench-123-read-7`.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("shmbench-{}-{tag}-{n}", std::process::id())
}

/// Whether to run briefly, just to prove the benchmark works (CI): `--test`
/// (criterion's own flag, as `cargo bench -- --test` passes it), `--quick`,
/// or `SHM_BENCH_QUICK=1` in the environment.
pub fn quick_mode() -> bool {
    std::env::args().any(|a| a == "--test" || a == "--quick")
        || std::env::var_os("SHM_BENCH_QUICK").is_some_and(|v| v != "0" && !v.is_empty())
}

/// The cargo target directory the results are written under: the
/// `CARGO_TARGET_DIR` environment variable, else the `target` directory
/// this executable was built in (`target/<profile>/[deps/]exe`), else the
/// workspace's `target`.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(t) = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|p| p.file_name().is_some_and(|n| n == "target"))
            .map(ToOwned::to_owned)
    }) {
        return t;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target"))
}

/// Where the harness writes its JSON results (`target/shm-bench/`).
pub fn results_dir() -> PathBuf {
    target_dir().join("shm-bench")
}

/// A raw POSIX shared-memory mapping with nothing on top: the baseline the
/// typed segments are compared with.
pub struct RawMap {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value; every user below accesses it
// through raw pointers and atomics only.
unsafe impl Send for RawMap {}
// SAFETY: as above.
unsafe impl Sync for RawMap {}

impl RawMap {
    /// [`shm_open(3)`] with `O_CREAT | O_EXCL | O_RDWR` and mode 0600,
    /// [`ftruncate(2)`] to `len`, [`mmap(2)`] shared read-write.
    ///
    /// [`shm_open(3)`]: https://man7.org/linux/man-pages/man3/shm_open.3.html
    /// [`ftruncate(2)`]: https://man7.org/linux/man-pages/man2/ftruncate.2.html
    /// [`mmap(2)`]: https://man7.org/linux/man-pages/man2/mmap.2.html
    pub fn create(name: &str, len: usize) -> rustix::io::Result<RawMap> {
        let fd = rustix::shm::open(
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
            Mode::from_bits_truncate(0o600),
        )?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        Self::map(fd, len)
    }

    /// [`shm_open(3)`] with `O_RDWR`, [`fstat(2)`] for the size, [`mmap(2)`]
    /// shared read-write.
    ///
    /// [`shm_open(3)`]: https://man7.org/linux/man-pages/man3/shm_open.3.html
    /// [`fstat(2)`]: https://man7.org/linux/man-pages/man2/fstat.2.html
    /// [`mmap(2)`]: https://man7.org/linux/man-pages/man2/mmap.2.html
    pub fn open(name: &str) -> rustix::io::Result<RawMap> {
        let fd = rustix::shm::open(name, OFlags::RDWR, Mode::empty())?;
        let len = rustix::fs::fstat(&fd)?.st_size as usize;
        Self::map(fd, len)
    }

    fn map(fd: OwnedFd, len: usize) -> rustix::io::Result<RawMap> {
        // SAFETY: a fresh shared mapping at an address the kernel picks
        // overlaps no Rust object; `len` is the object's size.
        let p = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }?;
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(rustix::io::Errno::NOMEM)?;
        Ok(RawMap { fd, ptr, len })
    }

    /// The start of the mapping (page-aligned).
    pub fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapping's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: `mmap` refuses length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory the object really holds ([`fstat(2)`]'s `st_blocks`
    /// × 512): pages that were touched, not its nominal size.
    ///
    /// [`fstat(2)`]: https://man7.org/linux/man-pages/man2/fstat.2.html
    pub fn allocated(&self) -> u64 {
        rustix::fs::fstat(&self.fd).map_or(0, |st| st.st_blocks as u64 * 512)
    }
}

impl Drop for RawMap {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `map`; nothing borrowed from
        // it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// [`shm_unlink(3)`] (errors ignored: used for clean-up).
///
/// [`shm_unlink(3)`]: https://man7.org/linux/man-pages/man3/shm_unlink.3.html
pub fn raw_unlink(name: &str) {
    let _ = rustix::shm::unlink(name);
}

/// Bytes a POSIX object really holds in memory ([`fstat(2)`]'s `st_blocks`
/// × 512 of `/dev/shm/NAME`, opened read-only), or `None` if it cannot be
/// opened.
///
/// [`fstat(2)`]: https://man7.org/linux/man-pages/man2/fstat.2.html
pub fn allocated_bytes(name: &str) -> Option<u64> {
    let fd = rustix::shm::open(name, OFlags::RDONLY, Mode::empty()).ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    Some(st.st_blocks as u64 * 512)
}

/// Minor page faults of the calling thread so far ([`getrusage(2)`]
/// `ru_minflt` of `RUSAGE_THREAD`; of the whole process where there is no
/// `RUSAGE_THREAD`). rustix has no `getrusage`, hence libc.
///
/// [`getrusage(2)`]: https://man7.org/linux/man-pages/man2/getrusage.2.html
pub fn minor_faults() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    let who = libc::RUSAGE_THREAD;
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    let who = libc::RUSAGE_SELF;
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` is a valid, writable `rusage`; `who` is a valid target.
    let rc = unsafe { libc::getrusage(who, ru.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    // SAFETY: zero-initialised and filled in by the kernel; every bit
    // pattern is a valid `rusage`.
    unsafe { ru.assume_init() }.ru_minflt as u64
}

/// Pins the calling thread to CPU `cpu` ([`sched_setaffinity(2)`]).
/// Returns whether it worked (it may not, in a restricted container or on
/// a machine with fewer CPUs).
///
/// [`sched_setaffinity(2)`]: https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn pin_to_cpu(cpu: usize) -> bool {
    let mut set = rustix::thread::CpuSet::new();
    if cpu >= rustix::thread::CpuSet::MAX_CPU {
        return false;
    }
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).is_ok()
}

/// Pinning is not available here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn pin_to_cpu(_cpu: usize) -> bool {
    false
}

/// The CPUs this process may run on, in order (or `[0, 1]` if unknown).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn allowed_cpus() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&c| set.is_set(c))
            .collect(),
        Err(_) => vec![0, 1],
    }
}

/// The CPUs this process may run on (unknown here).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn allowed_cpus() -> Vec<usize> {
    vec![0, 1]
}

/// CPU time the calling thread has used ([`clock_gettime(2)`] with
/// `CLOCK_THREAD_CPUTIME_ID`).
///
/// [`clock_gettime(2)`]: https://man7.org/linux/man-pages/man2/clock_gettime.2.html
pub fn thread_cpu_time() -> std::time::Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The machine, for the report: CPU count and model.
pub fn machine() -> (usize, String) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    (cpus, model)
}
