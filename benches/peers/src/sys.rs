//! The operating-system pieces: a raw POSIX mapping (the seqlock's and the
//! baselines' memory), CPU pinning, the load average, the CPU model.

use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use rustix::fs::Mode;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm::OFlags;

/// Errors of this benchmark (any error ends the run).
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The bound on any wait for the other process: a partner that died ends
/// the run with an error, never a hang.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A raw `shm_open` + `mmap` mapping with nothing on top.
pub struct RawMap {
    _fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value; it is accessed through raw
// pointers and atomics only.
unsafe impl Send for RawMap {}
// SAFETY: as above.
unsafe impl Sync for RawMap {}

impl RawMap {
    /// Creates `name` (exclusively) with `len` bytes, mapped read-write.
    pub fn create(name: &str, len: usize) -> Res<RawMap> {
        let fd = rustix::shm::open(
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
            Mode::from_bits_truncate(0o600),
        )?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        Self::map(fd, len, true)
    }

    /// Opens `name`, which must hold at least `min` bytes (a partner that
    /// has not sized it yet gives an error: retry), mapped read-only or
    /// read-write.
    pub fn open(name: &str, min: usize, write: bool) -> Res<RawMap> {
        let flags = if write { OFlags::RDWR } else { OFlags::RDONLY };
        let fd = rustix::shm::open(name, flags, Mode::empty())?;
        let len = rustix::fs::fstat(&fd)?.st_size as usize;
        if len < min {
            return Err(format!("{name}: {len} bytes, not yet {min}").into());
        }
        Self::map(fd, len, write)
    }

    fn map(fd: OwnedFd, len: usize, write: bool) -> Res<RawMap> {
        let prot = if write {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        let (null, flags) = (std::ptr::null_mut(), MapFlags::SHARED);
        // SAFETY: a fresh shared mapping at an address the kernel picks
        // overlaps no Rust object; `len` is the object's size.
        let p = unsafe { rustix::mm::mmap(null, len, prot, flags, &fd, 0) }?;
        let ptr = NonNull::new(p.cast::<u8>()).ok_or("mmap returned null")?;
        Ok(RawMap { _fd: fd, ptr, len })
    }

    /// The start of the mapping (page-aligned).
    pub fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for RawMap {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `map`; nothing borrowed from
        // it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// `shm_unlink` (errors ignored: clean-up).
pub fn unlink(name: &str) {
    let _ = rustix::shm::unlink(name);
}

/// Retries `f` until it succeeds, for at most [`DEADLINE`].
pub fn retry<T>(what: &str, mut f: impl FnMut() -> Res<T>) -> Res<T> {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() > DEADLINE => return Err(format!("{what}: {e}").into()),
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&c| set.is_set(c))
            .collect(),
        Err(_) => vec![0],
    }
}

/// Pins the calling thread to `cpu` (best effort).
pub fn pin(cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        let _ = rustix::thread::sched_setaffinity(None, &set);
    }
}

/// The three load averages of `/proc/loadavg`.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The CPU model name of `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into())
}

/// Spins once; yields instead when both processes share one CPU.
#[inline]
pub fn relax(one_cpu: bool) {
    if one_cpu {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// CPU time the calling thread has used so far.
pub fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}
