"""Opening, reading, waiting and writing (docs/FORMAT.md)."""

import atexit
import fcntl
import mmap
import os
import stat
import sys
import threading
import time
import weakref
from array import array

from . import _streams, _sys
from ._descriptor import from_segment
from ._errors import (Corrupt, Error, NotASegment, NotFound, NotInitialized, NotWriter, Timeout,
                      TooSmall, Unsupported, WriterBusy, escape)
from ._header import (BACKUP_SEQ, HEADER_SIZE, MAGIC, SCHEMA_SEQ, SEQ, WRITER,
                      WRITER_SINCE, Header)
from ._sys import ACQUIRE, RELAXED, RELEASE, SEQ_CST
from ._values import Codec

class _Closed:
    """Stands for the mapping of a closed handle: any use is an Error (never
    an access to memory that is no longer mapped)."""

    def __init__(self, name):
        self._name = name

    def _fail(self, *args):
        raise Error(self._name, "the segment handle is closed")

    __getattr__ = __getitem__ = __setitem__ = _fail


# Handles holding write access, released when the interpreter exits (a
# process that dies otherwise leaves its claim to be taken over).
_WRITERS = weakref.WeakSet()


@atexit.register
def _release_all():
    for seg in list(_WRITERS):
        try:
            seg.release()
        except Exception:
            pass


_HALF = 1 << 63
_MASK = (1 << 64) - 1


def _larger(a, b):
    """`a` is larger than `b` in serial-number order."""
    return 0 < (a - b) & _MASK < _HALF


def _latest(p, b):
    """(offset of the latest copy's counter, its counter) by the counters
    of the primary (`p`) and backup (`b`) copies."""
    if b % 2 == 0 and (p % 2 == 1 or _larger(b, p)):
        return BACKUP_SEQ, b
    return SEQ, p


def _resolve(name):
    """(display name, path to open or System V key, doorbell identity) of
    a segment name: `NAME` or `/NAME` or `posix:/NAME` (a POSIX object),
    `file:PATH`, or `sysv:KEY` (decimal, or hexadecimal after `0x`)."""
    if not isinstance(name, str):
        raise TypeError("a segment name is a str")
    if name.startswith("file:"):
        path = os.path.abspath(name[5:])
        ident = None if path.startswith(("/proc", "/dev/fd")) else f"file:{path}"
        return f"file:{escape(path)}", path, ident
    if name.startswith("sysv:"):
        k = name[5:]
        try:
            key = int(k[2:], 16) if k.lower().startswith("0x") else int(k, 10)
        except ValueError:
            raise Error(escape(name), "not a System V key (a number, or 0x...)") from None
        if key >= 1 << 31:
            key -= 1 << 32  # 0x80000000 and up: the negative i32 keys, as `shm` reads them
        if key == 0 or not -(1 << 31) <= key < 1 << 31:
            raise Error(escape(name), "not a usable System V key (0 is IPC_PRIVATE)")
        return f"sysv:key={key}", key, f"sysv:{key}"
    if name.startswith("memfd:") or name.startswith("windows:"):
        raise Unsupported(escape(name), "this package opens POSIX (`NAME`), file (`file:PATH`) "
                                        "and System V (`sysv:KEY`) segments only")
    bare = name[6:] if name.startswith("posix:") else name
    bare = bare[1:] if bare.startswith("/") else bare
    shown = f"posix:/{escape(bare)}"
    if not bare or bare in (".", "..") or "/" in bare or "\0" in bare or len(bare.encode()) > 254:
        raise Error(shown, "invalid POSIX segment name")
    if not sys.platform.startswith("linux"):
        raise Unsupported(shown, "POSIX segments are opened through /dev/shm, which only Linux has")
    return shown, "/dev/shm/" + bare, "posix:/" + bare


def open(name, write=False, *, claim=True, timeout=1.0, writer_wait=0.0):  # noqa: A001
    """Opens the existing segment `name` and checks it (docs/FORMAT.md, "How a
    segment is opened"): a `Segment`. With `write=True` it maps the segment
    read-write and, unless `claim=False`, claims write access (waiting up to
    `writer_wait` s for a live owner, then `WriterBusy`; `claim_writer`
    claims later). `timeout` bounds the wait for a segment still being
    created. It never removes the segment, at exit or otherwise."""
    return Segment(name, write=write, claim=claim, timeout=timeout, writer_wait=writer_wait)


class Segment:
    """An open segment: its header checked once on a private copy
    (`header`), its schema decoded from its descriptor (`schema`, the
    IntEnums in `enums`). Reads take every offset from that copy. A context
    manager; `close()` releases write access and unmaps (a handle must not
    be closed while another thread uses it)."""

    def __init__(self, name, write=False, claim=True, timeout=1.0, writer_wait=0.0):
        # The identity is what the doorbell's hash covers: `posix:/NAME`,
        # `file:ABSOLUTE_PATH`.
        self.name, path, self._identity = _resolve(name)
        self._mm = self._mv = self._q = self._shm_addr = None
        self._writer = False
        self._lock_fd = self._fd = None
        self._bell, self._bell_tried = None, None
        self._claimed_pid = None
        self.take_over = None
        self._places = None
        self._consumers = weakref.WeakSet()  # closed with the handle
        # Serialises this handle's writes, publishes and sends across
        # threads (as the Rust handle's write lock does): `ctypes` calls
        # release the GIL, so two threads could otherwise both write the
        # copy, the slot or the number that is next.
        self._wlock = threading.RLock()
        if isinstance(path, int):
            try:
                self._map_sysv(path, write)
                self.writable = write
                self._open_header(timeout)
                if write and claim:
                    self.claim_writer(writer_wait)
            except BaseException:
                self.close()
                raise
            return
        flags = (os.O_RDWR if write else os.O_RDONLY) | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise NotFound(self.name, "no such segment") from None
        except OSError as e:
            raise Error(self.name, f"cannot open it: {os.strerror(e.errno)}") from None
        try:
            self._map(fd, write, timeout)
            self.writable = write
            self._open_header(timeout)
            if write:
                # Kept for claim_writer: the lock is taken on a fresh open
                # of this very object (never of a replacement under the name).
                self._fd = os.dup(fd)
                if claim:
                    self.claim_writer(writer_wait)
        except BaseException:
            self.close()
            raise
        finally:
            os.close(fd)

    # Opening.
    def _map(self, fd, write, timeout):
        deadline = time.monotonic() + timeout
        while True:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise NotASegment(self.name, "not a regular file")
            if st.st_size > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.001)
        if st.st_size == 0:
            raise NotInitialized(self.name, f"the object is still empty after {timeout} s")
        if st.st_size < HEADER_SIZE:
            raise TooSmall(self.name, f"the object is {st.st_size} bytes, smaller than the "
                                      f"{HEADER_SIZE}-byte header")
        self.object_size, self._owner_uid = st.st_size, st.st_uid
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if write else 0)
        self._mm = mmap.mmap(fd, st.st_size, mmap.MAP_SHARED, prot)
        self._mv = memoryview(self._mm)
        self._q = self._mv[: st.st_size // 8 * 8].cast("Q")
        self._a = _sys.Atomics(self._q, _sys.buffer_address(self._mm))
        if _sys.LIBATOMIC is None and not _sys.X86_64:
            raise Unsupported(self.name, "reading needs libatomic (package libatomic1) on this CPU: "
                                         "only x86-64 keeps loads in order without it")

    def _map_sysv(self, key, write):
        shmid, size, uid = _sys.sysv_find(key)
        if shmid is None:
            raise NotFound(self.name, "no System V segment under this key")
        if size < HEADER_SIZE:
            raise TooSmall(self.name, f"the object is {size} bytes, smaller than the "
                                      f"{HEADER_SIZE}-byte header")
        addr = _sys.sysv_attach(shmid, write)
        if addr is None:
            raise Error(self.name, f"cannot attach it: {os.strerror(_sys.errno_())}")
        self._shm_addr = addr
        self.object_size, self._owner_uid = size, uid
        self._mv = memoryview((_sys.ctypes.c_uint8 * size).from_address(addr)).cast("B")
        self._q = self._mv[: size // 8 * 8].cast("Q")
        self._a = _sys.Atomics(self._q, addr)
        if _sys.LIBATOMIC is None and not _sys.X86_64:
            raise Unsupported(self.name, "reading needs libatomic (package libatomic1) on this CPU: "
                                         "only x86-64 keeps loads in order without it")

    def _open_header(self, timeout):
        a = self._a
        deadline = time.monotonic() + timeout
        while True:
            magic = self._q[0].to_bytes(8, sys.byteorder)
            if magic not in (MAGIC, bytes(8)):
                raise NotASegment(self.name, f"not a typed shared-memory segment (magic "
                                             f"{magic.hex(' ')})")
            state = (a.load64(8, ACQUIRE) >> (32 if sys.byteorder == "little" else 0)) & 0xFFFFFFFF
            if state != 0:
                break
            if time.monotonic() > deadline:
                raise NotInitialized(self.name, f"the creator has not finished it after {timeout} s")
            time.sleep(0.001)
        while True:
            g1 = a.load64(SCHEMA_SEQ, ACQUIRE)
            # Each word once, the one holding `state` first (acquire); the
            # 8 bytes at 248 (`waiters`, `notify`) read as zero in a copy.
            word8 = a.load64(8, ACQUIRE)
            words = [self._q[0], word8] + self._q[2:31].tolist() + [0]
            raw = array("Q", words).tobytes()
            h = Header(raw).effective()
            h.validate(self.name, self.object_size)
            start, end = h.descriptor_offset, h.descriptor_offset + h.descriptor_len
            desc = array("Q", self._q[start // 8:-(-end // 8)].tolist()).tobytes()
            desc = desc[start % 8:start % 8 + h.descriptor_len]
            a.fence(ACQUIRE)
            if a.load64(SCHEMA_SEQ, RELAXED) == g1:
                break
            if time.monotonic() > deadline:
                raise Timeout(self.name, "the schema kept changing (an upgrade in progress)")
        self.header, self._schema_seq = h, g1
        self.schema = from_segment(self.name, h, desc)
        self._codec = Codec(self.name, self.schema)
        self.enums = dict(self._codec.enums)
        self._words = -(-h.payload_size // 8)
        self._copies = {SEQ: h.payload_offset // 8, BACKUP_SEQ: h.backup_offset // 8}

    # Reading.
    def _try_copy(self):
        """One attempt at a consistent copy of the latest payload copy:
        (counter, words) or None (docs/FORMAT.md, "Reading")."""
        a = self._a
        p = a.load64(SEQ, ACQUIRE)
        b = a.load64(BACKUP_SEQ, ACQUIRE)
        counter, s1 = _latest(p, b)
        if s1 % 2:
            return None
        base = self._copies[counter]
        words = self._q[base:base + self._words].tolist()  # one 8-byte load per word
        a.fence(ACQUIRE)
        if a.load64(counter, RELAXED) != s1:
            return None
        return s1, words

    def _snapshot(self, timeout):
        deadline = time.monotonic() + timeout
        tries = 0
        while True:
            got = self._try_copy()
            if got is not None:
                return got[0] // 2, array("Q", got[1]).tobytes()[: self.header.payload_size]
            tries += 1
            if tries > 100:
                if time.monotonic() > deadline:
                    raise Timeout(self.name, f"no complete copy of the payload in {timeout} s (the "
                                             "copy kept changing, or both are marked as being written: "
                                             "a damaged segment)")
                time.sleep(0)

    def read_with_version(self, timeout=1.0):
        """A consistent value and its version (the number of writes that
        produced it). The value is a `Record`; invalid field values raise
        `InvalidValue` naming the field."""
        version, data = self._snapshot(timeout)
        return self._codec.decode(data), version

    def read(self, timeout=1.0):
        """A consistent value (see read_with_version)."""
        return self.read_with_version(timeout)[0]

    def read_bytes(self, timeout=1.0):
        """A consistent copy of the payload's bytes, and its version."""
        data, version = self._snapshot(timeout)[::-1]
        return data, version

    def dtype(self):
        """The payload's numpy structured dtype (numpy must be installed;
        see typed_shm._numpy.dtype for how each type is represented)."""
        from ._numpy import dtype

        return dtype(self.schema)

    def read_numpy(self, timeout=1.0):
        """A consistent value as a numpy structured scalar (of `dtype()`),
        validated first as `read` does (InvalidValue otherwise)."""
        import numpy as np

        data = self._snapshot(timeout)[1]
        self._codec.decode(data)
        return np.frombuffer(data, dtype=self.dtype(), count=1)[0]

    def version(self):
        """The number of completed writes: max(seq, backup_seq) / 2."""
        p = self._a.load64(SEQ, SEQ_CST)
        b = self._a.load64(BACKUP_SEQ, SEQ_CST)
        return (b if _larger(b, p) else p) // 2

    # Rings and queues (docs/FORMAT.md, "Streams: message rings").
    def streams(self):
        """The rings and queues of the schema (`Place`s: `path`, `type`,
        `payload_offset`, `region_offset`, `region_len`), in stream-area
        order."""
        if self._places is None:
            self._places = _streams.places(self.schema)
        return self._places

    def subscribe(self, path, start="new"):
        """A `Subscriber` to the ring field `path` (e.g. "events" or
        "arms[1].log"), starting at the next new message (`start="new"`)
        or at the oldest the ring still holds (`start="oldest"`)."""
        return _streams.Subscriber(self, path, start)

    def publisher(self, path):
        """The `Publisher` of the ring field `path`; each publish needs
        write access."""
        return _streams.Publisher(self, path)

    def producer(self, path):
        """The `Producer` of the queue field `path`; each send needs write
        access."""
        return _streams.Producer(self, path)

    def consumer(self, path, wait=0.0):
        """Claims the queue field `path` as its one `Consumer`, waiting up
        to `wait` s for a live consumer to let go (ConsumerBusy then); a
        dead one is taken over at once (`took_over_from`). Needs a
        read-write handle, not write access."""
        return _streams.Consumer(self, path, wait)

    # Waiting.
    def wait_for_change(self, since, timeout=None):
        """Waits until the version is not `since` (returns it) or `timeout`
        s pass (returns None; None = no limit). On Linux (with libatomic) it
        counts itself in `waiters` (a read-write handle) or in the
        segment's doorbell (a read-only handle, where a Rust writer made
        one) and sleeps on the `notify` futex, looking at the counters
        again at least every 50 ms (read-only: 100 ms); otherwise it polls
        (0.1 ms between looks for 10 ms, then 1 ms)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = []

        def changed():
            v = self.version()
            if v != since:
                seen.append(v)
            return bool(seen)

        return seen[0] if _streams.wait_until(self, deadline, changed) else None

    def _doorbell(self):
        """The segment's doorbell, attached once found (looked for again at
        most once a second while there is none)."""
        if self._bell is None and (self._bell_tried is None
                                  or time.monotonic() - self._bell_tried > 1.0):
            self._bell_tried = time.monotonic()
            if self._identity is not None:
                self._bell = _sys.doorbell(self._identity, self._owner_uid)
        return self._bell

    # Writing.
    def claim_writer(self, wait=0.0):
        """Claims write access (docs/FORMAT.md, "The claim word"): takes the
        writer lock, then the claim word, taking over from a dead owner and
        repairing an interrupted write (`take_over` then says what
        happened). Waits up to `wait` s for a live owner, then WriterBusy."""
        if not self.writable:
            raise NotWriter(self.name, "opened read-only: open with write=True to claim")
        if self._writer and self._claimed_pid == os.getpid():
            return
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # a copy inherited by fork: never unlock it
        self._writer, self._lock_fd = False, None
        if _sys.LIBATOMIC is None:
            raise Unsupported(self.name, "writing needs libatomic (package libatomic1) for the "
                                         "claim word's compare-and-swap")
        if not _sys.LINUX:
            raise Unsupported(self.name, "writing is implemented for Linux only")
        self._claim(wait)

    def _try_word(self, me):
        """The claim word's step: swaps a free word or a dead owner's for
        `me`; True if claimed. (With the writer lock held, an owner the
        word names is dead unless the process checks find it alive: it then
        claimed without the lock. Without the lock, the same rule.)"""
        a = self._a
        word = a.load64(WRITER, ACQUIRE)
        while True:
            if word == me or (word != 0 and _sys.owner_alive(word)):
                return False
            ok, seen = a.cas64(WRITER, word, me)
            if ok:
                self._writer, self._claimed_pid = True, os.getpid()
                _WRITERS.add(self)
                self._after_claim(word)
                return True
            word = seen

    def _claim(self, wait):
        """docs/FORMAT.md, "The claim word": with the writer lock where
        there is one (POSIX and file segments on Linux, unless a read lock
        holds the bytes), else by the claim word and the process checks."""
        a = self._a
        me = _sys.own_word()
        deadline = time.monotonic() + wait
        start = time.monotonic()
        while True:
            if self._fd is not None and _sys.HAS_OFD:
                lock_fd = os.open(f"/proc/self/fd/{self._fd}", os.O_RDWR | os.O_CLOEXEC)
                if _sys.ofd_trylock(lock_fd):
                    self._lock_fd = lock_fd  # release() unlocks and closes it from here on
                    if self._try_word(me):
                        return
                    self._lock_fd = None
                    _sys.ofd_unlock(lock_fd)
                    os.close(lock_fd)
                else:
                    read_locked = _sys.ofd_holder(lock_fd) == fcntl.F_RDLCK
                    os.close(lock_fd)
                    # Anyone who can read the object can hold a read lock:
                    # then claim as without the writer lock.
                    if read_locked and self._try_word(me):
                        return
            elif self._try_word(me):
                return
            now = time.monotonic()
            if now >= deadline:
                owner = a.load64(WRITER, ACQUIRE)
                pid = owner & 0xFFFFFFFF
                raise WriterBusy(self.name, f"process {pid} holds write access", pid)
            time.sleep(0.0001 if now - start < 0.01 else 0.001)

    def _after_claim(self, previous):
        a = self._a
        if a.load64(SCHEMA_SEQ, ACQUIRE) != self._schema_seq:
            # Upgraded in place since it was opened (an upgrader holds write
            # access while it upgrades, so not during our claim).
            self.release()
            raise Error(self.name, "the segment's schema was upgraded since this handle opened it: "
                                   "open it again to write")
        a.store64(WRITER_SINCE, time.time_ns(), RELAXED)
        p, b = a.load64(SEQ, ACQUIRE), a.load64(BACKUP_SEQ, ACQUIRE)
        if p % 2 and b % 2:
            self.release()
            raise Corrupt(self.name, "both copies are marked as being written (no writer of the "
                                     "protocol leaves that)")
        complete = not (p % 2 or b % 2)
        if not complete:
            counter, _ = _latest(p, b)
            base = self._copies[counter]
            self._store(self._q[base:base + self._words].tolist())
        if previous != 0 or not complete:
            self.take_over = {"previous_pid": (previous & 0xFFFFFFFF) or None,
                              "last_write_complete": complete, "version": self.version()}

    def _check_writer(self):
        if not self._writer or self._claimed_pid != os.getpid():
            raise NotWriter(self.name, "this handle does not hold write access (read-only, "
                                       "released, or inherited by fork)")

    def _store(self, words):
        """One write: the copy that is not the latest, by the writer's side
        of the protocol; then notify and wake."""
        a, q = self._a, self._q
        p, b = a.load64(SEQ, RELAXED), a.load64(BACKUP_SEQ, RELAXED)
        latest, _ = _latest(p, b)
        target = BACKUP_SEQ if latest == SEQ else SEQ
        s = (b if _larger(b, p) else p) & ~1 & _MASK
        a.store64(target, (s + 1) & _MASK, RELEASE)
        a.fence(RELEASE)
        base = self._copies[target]
        for i, w in enumerate(words):
            q[base + i] = w  # one 8-byte store per word
        a.store64(target, (s + 2) & _MASK, RELEASE)
        # Always wakes (not only when `waiters` is not 0): this also wakes
        # read-only Rust waiters, counted in the doorbell, which this
        # package does not attach.
        _streams._wake(self)

    def _latest_words(self):
        p, b = self._a.load64(SEQ, ACQUIRE), self._a.load64(BACKUP_SEQ, ACQUIRE)
        base = self._copies[_latest(p, b)[0]]
        return self._q[base:base + self._words].tolist()

    def write(self, value):
        """Writes `value` (a Record, or a dict with every field; nested
        structs likewise, arrays as sequences, enums as their IntEnum, an
        int or a variant name, chars and Utf16 as one-character strs).
        Bytes no field covers keep their contents. Returns the version."""
        with self._wlock:
            self._check_writer()
            buf = bytearray(array("Q", self._latest_words()).tobytes())
            self._codec.encode_into(buf, value)
            self._store(array("Q", bytes(buf)).tolist())
            return self.version()

    def update(self, **fields):
        """Writes the latest value with some top-level fields changed."""
        with self._wlock:
            self._check_writer()
            current = self._codec.decode(array("Q", self._latest_words()).tobytes())
            return self.write(current._replace(**fields))

    def _begin_torn_write(self):
        """For tests: what a write does first, stopped there (the target
        copy's counter odd, its first word flipped); never finished."""
        self._check_writer()
        a = self._a
        p, b = a.load64(SEQ, RELAXED), a.load64(BACKUP_SEQ, RELAXED)
        target = BACKUP_SEQ if _latest(p, b)[0] == SEQ else SEQ
        s = (b if _larger(b, p) else p) & ~1 & _MASK
        a.store64(target, (s + 1) & _MASK, RELEASE)
        a.fence(RELEASE)
        self._q[self._copies[target]] ^= _MASK

    def release(self):
        """Gives write access up (the claim word, then the writer lock). In
        a child made by fork it only closes the child's copy of the lock."""
        writer, fd = self._writer, self._lock_fd
        self._writer, self._lock_fd = False, None
        _WRITERS.discard(self)
        try:
            if writer and self._claimed_pid == os.getpid():
                self._a.cas64(WRITER, _sys.own_word(), 0)
                if fd is not None:
                    _sys.ofd_unlock(fd)
        finally:
            if fd is not None:
                os.close(fd)

    def close(self):
        """Lets go of its queues' consumers, releases write access and
        unmaps. Never removes the segment."""
        for c in list(getattr(self, "_consumers", None) or ()):
            c.close()
        try:
            self.release()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._bell is not None:
                self._bell.detach()
                self._bell = None
            for v in (self._q, self._mv):
                if v is not None and not isinstance(v, _Closed):
                    v.release()
            self._q = self._mv = self._a = _Closed(self.name)
            if self._mm is not None:
                self._mm.close()
                self._mm = None
            if self._shm_addr is not None:
                _sys.sysv_detach(self._shm_addr)
                self._shm_addr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return f"<typed_shm.Segment {self.name} schema {self.schema.name} v{self.schema.version}>"

