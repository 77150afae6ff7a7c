"""System facilities through ctypes and the standard library: atomic
operations (libatomic), the futex, the writer lock and the process checks
of docs/FORMAT.md ("The claim word"). Nothing here needs a compiler."""

import ctypes
import ctypes.util
import errno
import fcntl
import os
import platform
import struct
import sys
import types

RELAXED, ACQUIRE, RELEASE, SEQ_CST = 0, 2, 3, 5
LINUX = sys.platform.startswith("linux")
X86_64 = platform.machine().lower() in ("x86_64", "amd64")

_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98, "riscv64": 98,
              "i386": 240, "i686": 240, "armv7l": 240, "ppc64le": 221, "s390x": 238}
SYS_FUTEX = _SYS_FUTEX.get(platform.machine().lower()) if LINUX else None
FUTEX_WAIT, FUTEX_WAKE = 0, 1

_libc = ctypes.CDLL(None, use_errno=True)


def _load_libatomic():
    """libatomic (GCC's runtime for atomic operations; Debian/Ubuntu package
    `libatomic1`), or None. Its sized functions are lock-free for 4- and
    8-byte words on every 64-bit target (`lock cmpxchg`/`lock xadd` on
    x86-64, `ldaxr`/`stlxr` or LSE on AArch64)."""
    for name in (ctypes.util.find_library("atomic"), "libatomic.so.1"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            f = {n: getattr(lib, n) for n in (
                "__atomic_load_8", "__atomic_store_8", "__atomic_load_4", "__atomic_fetch_add_4",
                "__atomic_compare_exchange_8", "atomic_thread_fence")}
        except (OSError, AttributeError):
            continue
        vp, u64, u32, i = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_int
        sig = {
            "__atomic_load_8": ([vp, i], u64),
            "__atomic_store_8": ([vp, u64, i], None),
            "__atomic_load_4": ([vp, i], u32),
            "__atomic_fetch_add_4": ([vp, u32, i], u32),
            "__atomic_compare_exchange_8": ([vp, ctypes.POINTER(u64), u64, i, i], ctypes.c_bool),
            "atomic_thread_fence": ([i], None),
        }
        for n, (args, res) in sig.items():
            f[n].argtypes, f[n].restype = args, res
        return types.SimpleNamespace(
            load8=f["__atomic_load_8"], store8=f["__atomic_store_8"], load4=f["__atomic_load_4"],
            fetch_add4=f["__atomic_fetch_add_4"], cas8=f["__atomic_compare_exchange_8"],
            fence=f["atomic_thread_fence"])
    return None


LIBATOMIC = _load_libatomic()


class _PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]


def buffer_address(obj):
    """The address of the memory of a buffer object (a read-only mmap
    included). The caller keeps the object mapped (holds a memoryview of
    it, so it cannot be closed) for as long as it uses the address."""
    pb = _PyBuffer()
    get = ctypes.pythonapi.PyObject_GetBuffer
    get.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
    get.restype = ctypes.c_int
    rel = ctypes.pythonapi.PyBuffer_Release
    rel.argtypes = [ctypes.POINTER(_PyBuffer)]
    rel.restype = None
    if get(obj, ctypes.byref(pb), 0) != 0:
        raise BufferError("no buffer")
    try:
        return pb.buf
    finally:
        rel(ctypes.byref(pb))


class Atomics:
    """Atomic accesses to a mapping: `q` is its memoryview cast to 'Q',
    `addr` its address. Offsets are in bytes, multiples of the width.

    Loads and stores of 8-byte words through `q[i]` are CPython's
    memoryview element accesses: `unpack_single` and `pack_single` copy the
    item with a fixed-size `memcpy` of 8 bytes to or from a local, which the
    C compiler emits as one aligned 8-byte load or store (the same argument
    as the generated module's `_u64`). Those are the relaxed atomic loads
    and stores of the protocol. On x86-64 they are also its acquire loads
    and release stores (the hardware keeps loads in order and stores in
    order, TSO), and its acquire and release fences cost nothing; each
    access is a separate call of the interpreter, which the C compiler
    cannot move another access across. Elsewhere the orderings go through
    libatomic (`__atomic_load_8`, `__atomic_store_8`,
    `atomic_thread_fence`). Read-modify-writes (`cas64`, `fetch_add32`)
    always do: libatomic's `lock cmpxchg` / `lock xadd` on x86-64, full
    barriers. Without libatomic only reading on x86-64 is offered."""

    def __init__(self, q, addr):
        self.q, self.addr, self.lib = q, addr, LIBATOMIC
        self.plain = X86_64 or LIBATOMIC is None

    def load64(self, off, order=ACQUIRE):
        if self.plain:
            return self.q[off >> 3]
        return self.lib.load8(self.addr + off, order)

    def store64(self, off, value, order=RELEASE):
        if self.plain:
            self.q[off >> 3] = value
        else:
            self.lib.store8(self.addr + off, value, order)

    def cas64(self, off, expected, new):
        """Compare-and-swap (acquire-release); (swapped, value seen)."""
        e = ctypes.c_uint64(expected)
        ok = self.lib.cas8(self.addr + off, ctypes.byref(e), new, 4, ACQUIRE)
        return ok, e.value

    def load32(self, off, order=SEQ_CST):
        if self.plain:
            word = self.q[off >> 3]
            high = ((off >> 2) & 1) == (1 if sys.byteorder == "little" else 0)
            return (word >> 32 if high else word) & 0xFFFFFFFF
        return self.lib.load4(self.addr + off, order)

    def fetch_add32(self, off, delta):
        return self.lib.fetch_add4(self.addr + off, delta & 0xFFFFFFFF, SEQ_CST)

    def fence(self, order):
        if not self.plain:
            self.lib.fence(order)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def futex_wait(addr, expected, seconds):
    """FUTEX_WAIT (shared) on the 4-byte word at `addr` while it holds
    `expected`, for at most `seconds`. Any outcome is fine: callers look at
    the counters again."""
    ts = _Timespec(int(seconds), int((seconds % 1) * 1e9))
    _libc.syscall(ctypes.c_long(SYS_FUTEX), ctypes.c_void_p(addr), ctypes.c_int(FUTEX_WAIT),
                  ctypes.c_int(expected), ctypes.byref(ts), ctypes.c_void_p(0), ctypes.c_int(0))


def futex_wake(addr):
    """FUTEX_WAKE (shared) of every sleeper on the word at `addr`."""
    _libc.syscall(ctypes.c_long(SYS_FUTEX), ctypes.c_void_p(addr), ctypes.c_int(FUTEX_WAKE),
                  ctypes.c_int(0x7FFFFFFF), ctypes.c_void_p(0), ctypes.c_void_p(0), ctypes.c_int(0))


# The writer lock: an open-file-description lock on the claim word's bytes.
CLAIM_OFFSET = 144
HAS_OFD = LINUX
# Python 3.9 added the names; the values are Linux's (every architecture).
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)
F_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", 37)


def _flock(l_type):
    return struct.pack("hhqqi4x", l_type, os.SEEK_SET, CLAIM_OFFSET, 8, 0)


def ofd_trylock(fd):
    """Takes the writer lock without waiting: True if taken, False if
    another open file description holds a lock on the bytes."""
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_WRLCK))
        return True
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def ofd_holder(fd):
    """The lock another open file description holds on the claim word's
    bytes: fcntl.F_WRLCK, fcntl.F_RDLCK or fcntl.F_UNLCK (none)."""
    got = fcntl.fcntl(fd, F_OFD_GETLK, _flock(fcntl.F_WRLCK))
    return struct.unpack("hhqqi4x", got)[0]


def ofd_unlock(fd):
    fcntl.fcntl(fd, F_OFD_SETLK, _flock(fcntl.F_UNLCK))


# The process checks.
def _stat_fields(path):
    """The fields of a /proc stat file after the command name (the first
    is the state, field 3), or None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data.rpartition(b")")[2].split()


def start_token(pid="self"):
    """The low 32 bits of the process's start time (Linux `starttime`, field
    22 of /proc/<pid>/stat), or 0 where it is not known."""
    f = _stat_fields(f"/proc/{pid}/stat")
    try:
        return int(f[19]) & 0xFFFFFFFF
    except (TypeError, IndexError, ValueError):
        return 0


def own_word():
    """This process's claim word: pid | start_token << 32."""
    return os.getpid() | start_token() << 32


def owner_alive(word):
    """Whether the owner the claim word names may be alive, by the process
    checks of docs/FORMAT.md ("Without the writer lock")."""
    pid, token = word & 0xFFFFFFFF, word >> 32
    if pid == 0 or pid > 0x7FFFFFFF:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if LINUX:
        # A zombie (every thread's state Z or X) is dead; a task list that
        # cannot be read counts as alive, a thread that went away as dead
        # (`process::is_zombie` of the Rust runtime).
        f = _stat_fields(f"/proc/{pid}/stat")
        if f and f[0] in (b"Z", b"X"):
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                tasks = None
            if tasks is not None and all(
                    (_stat_fields(f"/proc/{pid}/task/{t}/stat") or [b"Z"])[0] in (b"Z", b"X")
                    for t in tasks):
                return False
        mine, theirs = start_token(pid), token
        if mine and theirs and mine != theirs:
            return False
    return True


# The read-only waiters' doorbell (docs/FORMAT.md, "Change notification"):
# a 64-byte System V segment whose `ro_waiters` word counts read-only
# sleepers, so that writers know to call FUTEX_WAKE.
_DOORBELL_MAGIC = int.from_bytes(b"shmD", "little")
_DOORBELL_RO_WAITERS = 16


def _fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class Doorbell:
    """An attached doorbell; `ro_waiters` is the address of its counter."""

    def __init__(self, addr):
        self.addr = addr
        self.ro_waiters = addr + _DOORBELL_RO_WAITERS

    def detach(self):
        if self.addr is not None:
            sysv_detach(self.addr)
            self.addr = None


def doorbell(identity, owner_uid):
    """The doorbell of the segment `identity` (`posix:/NAME` or
    `file:ABSOLUTE_PATH`) owned by `owner_uid`, attached, or None where
    there is none that passes every check of the format (64 bytes, owner
    and creator the segment's owner, magic, version and hash)."""
    if not (LINUX and LIBATOMIC is not None and SYS_FUTEX is not None
            and ctypes.sizeof(ctypes.c_void_p) == 8):
        return None
    h = _fnv1a(b"shm-runtime doorbell 1\0" + identity.encode())
    key = ((h >> 32) & 0x7FFFFFFF) or 1
    shmid, size, uid, cuid = _sysv_stat(key)
    if shmid is None or uid != owner_uid or cuid != owner_uid or size != 64:
        return None
    addr = sysv_attach(shmid, True)
    if addr is None:
        return None
    bell = Doorbell(addr)
    lib = LIBATOMIC
    if (lib.load4(addr, ACQUIRE) != _DOORBELL_MAGIC or lib.load4(addr + 4, RELAXED) != 1
            or lib.load4(addr + 8, RELAXED) != h & 0xFFFFFFFF
            or lib.load4(addr + 12, RELAXED) != h >> 32):
        bell.detach()
        return None
    return bell


# System V segments through libc (64-bit Linux: `struct shmid_ds` has the
# owner's uid at 4, the creator's at 12 and the size at 48).
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
_libc.shmget.restype = ctypes.c_int
_libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_libc.shmctl.restype = ctypes.c_int
_libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.shmat.restype = ctypes.c_void_p
_libc.shmdt.argtypes = [ctypes.c_void_p]
_libc.shmdt.restype = ctypes.c_int
_IPC_STAT, _SHM_RDONLY = 2, 0o10000
_SHMAT_FAILED = ctypes.c_void_p(-1).value


def errno_():
    return ctypes.get_errno()


def _sysv_stat(key):
    """(shmid, size, owner uid, creator uid) of the System V segment under
    `key`, or Nones."""
    if not (LINUX and ctypes.sizeof(ctypes.c_void_p) == 8):
        return None, None, None, None
    shmid = _libc.shmget(key, 0, 0)
    if shmid < 0:
        return None, None, None, None
    ds = ctypes.create_string_buffer(256)
    if _libc.shmctl(shmid, _IPC_STAT, ds) != 0:
        return None, None, None, None
    uid, cuid = struct.unpack_from("=I", ds, 4)[0], struct.unpack_from("=I", ds, 12)[0]
    return shmid, struct.unpack_from("=Q", ds, 48)[0], uid, cuid


def sysv_find(key):
    """(shmid, size, owner uid) of the segment under `key`, or Nones."""
    return _sysv_stat(key)[:3]


def sysv_attach(shmid, write):
    """Attaches a System V segment (read-only unless `write`): its address,
    or None (errno_() says why)."""
    addr = _libc.shmat(shmid, None, 0 if write else _SHM_RDONLY)
    if addr is None or addr == _SHMAT_FAILED:
        return None
    return addr


def sysv_detach(addr):
    _libc.shmdt(ctypes.c_void_p(addr))
