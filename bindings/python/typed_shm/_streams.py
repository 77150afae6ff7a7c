"""Rings and queues (docs/FORMAT.md, "Streams: message rings" and
"Queues"): where their regions are in the stream area, and the reader,
publisher, consumer and producer sides of their protocols, as the Rust
runtime does them (`shm-runtime/src/ring`, `shm-runtime/src/queue`).

Every access to a shared word is a whole aligned 8-byte atomic through the
segment's `Atomics` (see `_sys.Atomics` for how each ordering is made).
Nothing here trusts the segment: every counter is checked before it is
used, a message is copied privately and then checked, every call does a
bounded amount of work, and a wait is bounded by its timeout."""

import os
import threading
import time
from array import array

from . import _sys
from ._descriptor import Array, Schema, Stream
from ._errors import ConsumerBusy, Corrupt, Error, InvalidValue, NotWriter, QueueFull, Unsupported
from ._header import NOTIFY, WAITERS
from ._sys import ACQUIRE, RELAXED, RELEASE, SEQ_CST

LINE = 64
RING_HEADER = 64
QUEUE_HEADER = 128
# Offsets in a queue's region: `tail`, `head`, the consumer's claim word.
Q_TAIL, Q_HEAD, Q_CLAIM = 0, 64, 72
U64 = 1 << 64


def _up(x, m):
    return -(-x // m) * m


def streams_offset(backup_offset, capacity):
    """Where the stream area starts: the first cache line after the backup
    copy's room (`capacity` bytes at `backup_offset`, in whole words)."""
    return _up(backup_offset + _up(capacity, 8), LINE)


def region_size(t):
    """The bytes of the region of the ring or queue `t`."""
    words = _up(t.elem.size, 8)
    if t.queue:
        return _up(QUEUE_HEADER + t.cap * words, LINE)
    return _up(RING_HEADER + t.cap * (words + 8), LINE)


class Place:
    """One ring or queue of a schema: its field path, type (`Stream`),
    payload offset of its placeholder, and its region's offset from the
    start of the stream area and size."""

    __slots__ = ("path", "type", "payload_offset", "region_offset", "region_len")

    def __init__(self, path, t, payload_offset, region_offset, region_len):
        self.path, self.type, self.payload_offset = path, t, payload_offset
        self.region_offset, self.region_len = region_offset, region_len

    def __repr__(self):
        return (f"<{self.type} {self.path}: payload offset {self.payload_offset}, region "
                f"{self.region_offset} (+{self.region_len})>")


def places(schema):
    """The rings and queues of `schema` in stream-area order (field order,
    depth first, arrays element by element), as `Schema::streams` lists
    them."""
    out, at = [], [0]

    def ty(t, path, offset):
        if isinstance(t, Stream):
            n = region_size(t)
            out.append(Place(path, t, offset, at[0], n))
            at[0] += n
        elif isinstance(t, Array) and _holds(t.elem):
            for i in range(t.len):
                ty(t.elem, f"{path}[{i}]", offset + i * t.elem.size)
        elif isinstance(t, Schema):
            for f in t.fields:
                ty(f.ty, f"{path}.{f.name}" if path else f.name, offset + f.offset)

    ty(schema, "", 0)
    return out


def _holds(t):
    from ._descriptor import holds_stream

    return holds_stream(t)


def region(seg, path, queue):
    """(place, byte offset of its region in the mapping) of the ring
    (`queue` False) or queue field `path` of `seg`, checked to lie inside
    the segment and the mapping."""
    kind = "queue" if queue else "ring"
    if not isinstance(path, str):
        raise TypeError("a ring or queue is named by its field path, a str (e.g. `events`)")
    found = [p for p in seg.streams() if p.path == path]
    if not found or found[0].type.queue != queue:
        have = ", ".join(f"`{p.path}` ({'queue' if p.type.queue else 'ring'})"
                         for p in seg.streams()) or "none"
        raise Unsupported(seg.name, f"schema `{seg.schema.name}` has no {kind} field `{path[:80]}` "
                                    f"(its rings and queues: {have})")
    p = found[0]
    h = seg.header
    start = streams_offset(h.backup_offset, h.capacity) + p.region_offset
    end = start + p.region_len
    if start >= h.segment_size:
        # A creator counts every ring and queue of its schema in the
        # segment size: this one is of a newer version (an upgrade in place).
        raise Unsupported(seg.name, f"this {kind} (stream offset {p.region_offset}): the segment "
                                    f"was made by an older version of schema `{seg.schema.name}` "
                                    f"without it, and an upgrade in place does not add room for "
                                    f"{kind}s (re-create the segment) is not supported here")
    if end > h.segment_size or end > seg.object_size or start % 8:
        raise Corrupt(seg.name, f"the segment ({seg.object_size} bytes mapped) has no room for the "
                                f"{kind} at payload offset {p.payload_offset} (stream offset "
                                f"{p.region_offset}, {p.region_len} bytes) after the payload copies")
    return p, start


def _wake(seg):
    """Bumps `notify` and wakes its sleepers, as a write does."""
    seg._a.fetch_add32(NOTIFY, 1)
    if _sys.SYS_FUTEX is not None:
        _sys.futex_wake(seg._a.addr + NOTIFY)


def wait_until(seg, deadline, ready):
    """Sleeps on the segment's `notify` futex (counted in `waiters`, or in
    the doorbell for a read-only handle) until `ready()` is true or the
    monotonic `deadline` (None: none) passes; polls where there is no
    futex. `ready` looks at what a writer stores before it bumps `notify`,
    so no wake-up is lost. Returns whether `ready()` was true."""
    a, lib = seg._a, _sys.LIBATOMIC
    counter, recheck = None, 0.05
    if lib is not None and _sys.SYS_FUTEX is not None:
        if seg.writable:
            counter = a.addr + WAITERS
        else:
            bell = seg._doorbell()
            if bell is not None:
                counter, recheck = bell.ro_waiters, 0.1
    if counter is not None:
        lib.fetch_add4(counter, 1, SEQ_CST)
    start = time.monotonic()
    try:
        while True:
            n = a.load32(NOTIFY, SEQ_CST)
            if ready():
                return True
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            left = 3600.0 if deadline is None else deadline - now
            if counter is not None:
                _sys.futex_wait(a.addr + NOTIFY, n, min(left, recheck))
            else:
                time.sleep(min(left, 0.0001 if now - start < 0.01 else 0.001))
    finally:
        if counter is not None:
            lib.fetch_add4(counter, 0xFFFFFFFF, SEQ_CST)


def _deadline(timeout):
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError("a timeout is at least 0 s (or None: no limit)")
    return time.monotonic() + timeout


class Lost:
    """What a subscriber receives in place of `count` messages that were
    overwritten before it read them (it fell more than the ring's capacity
    behind); it goes on with the oldest message still in the ring."""

    __slots__ = ("count",)

    def __init__(self, count):
        self.count = count

    def __eq__(self, other):
        return isinstance(other, Lost) and other.count == self.count

    __hash__ = None

    def __repr__(self):
        return f"Lost({self.count})"


class _Messages:
    """What the ring and queue handles share: the segment, the region, the
    message type and its private copy."""

    def __init__(self, seg, path, queue):
        self._seg = seg
        self._place, self._base = region(seg, path, queue)
        t = self._place.type
        self.path, self.capacity, self._elem = path, t.cap, t.elem
        self._words = _up(t.elem.size, 8) // 8
        self._name = seg.name

    def _copy(self, at):
        """The message words at byte offset `at` of the mapping, copied
        with one relaxed 8-byte load each (the `Atomics` argument)."""
        i = at >> 3
        return self._seg._q[i:i + self._words].tolist()

    def _decode(self, words):
        """The message of the private copy `words`, checked."""
        data = array("Q", words).tobytes()[:self._elem.size]
        return self._seg._codec.decode_type(self._elem, data, self.path)

    def _encode(self, msg):
        """The words of `msg` (checked), padded with zeros."""
        return array("Q", self._seg._codec.encode_type(self._elem, msg, self.path)).tolist()

    def _corrupt(self, what):
        """Corrupt with the Rust runtime's description, and the field."""
        return Corrupt(self._name, f"{what} (field `{self.path}`)")


class Subscriber(_Messages):
    """A reader of one ring with its own cursor (`position`); never stores
    to the segment, so read-only handles subscribe too. `try_recv` and
    `recv` give the next message (decoded like a snapshot value), a `Lost`,
    or None; `recv_batch(n)` up to n consecutive messages; iterating gives
    what is there now."""

    def __init__(self, seg, path, start="new"):
        super().__init__(seg, path, False)
        # What `recv_batch` found after messages, for the next call: a loss
        # (a count), or an error (and whether the cursor moved past its
        # message: an InvalidValue).
        self._pending, self._pending_error = 0, None
        self._slot0 = self._base + RING_HEADER
        self._stride = self._words * 8 + 8
        if start == "new":
            self.start_new()
        elif start == "oldest":
            self.start_oldest()
        else:
            raise ValueError('start is "new" or "oldest"')

    def _head(self):
        return self._seg._a.load64(self._base, ACQUIRE)

    def start_new(self):
        """Moves the cursor past every message published so far."""
        self._next = self._head()
        self._pending, self._pending_error = 0, None

    def start_oldest(self):
        """Moves the cursor to the oldest message the ring still holds."""
        self._next = max(0, self._head() - self.capacity)
        self._pending, self._pending_error = 0, None

    @property
    def position(self):
        """The number of the next message this subscriber will receive or
        report lost (messages are numbered from 0 in publishing order)."""
        skipped = isinstance(self._pending_error, InvalidValue)
        return self._next - self._pending - skipped

    def _step(self):
        """`ring::try_next`: (None | ("msg", words) | ("lost", n)); Corrupt
        if the ring's counters cannot be right."""
        a, n, nxt = self._seg._a, self.capacity, self._next
        h = a.load64(self._base, ACQUIRE)
        if h < nxt:
            raise self._corrupt(f"ring published count {h} is below this reader's position {nxt} "
                                "(it never goes back)")
        if h == nxt:
            return None
        if h - nxt > n:
            self._next = h - n
            return "lost", h - n - nxt
        expect = 2 * nxt + 2
        if expect >= U64:
            raise self._corrupt(f"ring message number {nxt} overflows its counters")
        slot = nxt & (n - 1)
        at = self._slot0 + slot * self._stride
        s = s1 = a.load64(at, ACQUIRE)
        if s1 == expect:
            words = self._copy(at + 8)
            a.fence(ACQUIRE)
            s2 = a.load64(at, ACQUIRE)
            if s2 == s1:
                self._next = nxt + 1
                return "msg", words
            s = s2
        h2 = h
        if s >= expect:
            # Overwritten by (or being overwritten with) message `m`.
            m = (s - 1) // 2
            h2 = a.load64(self._base, ACQUIRE)
            if m & (n - 1) == slot and m >= nxt + n and m <= h2:
                self._next = m + 1 - n
                return "lost", self._next - nxt
        raise self._corrupt(f"ring slot {slot} has sequence {s}, which is not message {nxt} or a "
                            f"later one of that slot up to the published count {h2}")

    def try_recv(self):
        """The next message, a `Lost(n)`, or None if nothing new was
        published. Never waits. A message of a checked type that fails its
        check raises InvalidValue, and the subscriber moves past it; a ring
        whose counters cannot be right raises Corrupt (the cursor stays)."""
        if self._pending_error is not None:
            e, self._pending_error = self._pending_error, None
            raise e
        if self._pending:
            n, self._pending = self._pending, 0
            return Lost(n)
        got = self._step()
        if got is None:
            return None
        if got[0] == "lost":
            return Lost(got[1])
        return self._decode(got[1])

    def recv(self, timeout=None):
        """`try_recv`, waiting at most `timeout` s (None: no limit) for a
        message or a loss (None then), asleep on the segment's futex: each
        publish wakes it."""
        got = self.try_recv()
        if got is not None:
            return got
        deadline = _deadline(timeout)
        while True:
            nxt = self._next
            ready = wait_until(self._seg, deadline, lambda: self._head() != nxt)
            got = self.try_recv()
            if got is not None or not ready:
                return got

    def recv_batch(self, n):
        """Up to `n` messages without waiting, as (messages, lost): `lost`
        messages were lost just before the first of them. The messages of
        a batch are consecutive: a loss found after some messages ends the
        batch and is reported first by the next call (so they are the
        numbers `position - len(messages)` .. `position`). Likewise an
        error (InvalidValue, Corrupt) found after some messages ends the
        batch and is raised by the next call (`position` counts an invalid
        message once that call raised); before any, it is raised."""
        msgs, lost = [], 0
        while len(msgs) < n:
            try:
                got = self.try_recv()
            except Error as e:
                if not msgs:
                    raise
                self._pending_error = e
                break
            if got is None:
                break
            if isinstance(got, Lost):
                if msgs:
                    self._pending = got.count
                    break
                lost += got.count
            else:
                msgs.append(got)
        return msgs, lost

    def __iter__(self):
        """The messages and losses there are now; ends when nothing new is
        left (an error is raised)."""
        while True:
            got = self.try_recv()
            if got is None:
                return
            yield got

    def __repr__(self):
        return f"<typed_shm.Subscriber {self._name} `{self.path}` at {self._next}>"


class Publisher(_Messages):
    """The publisher of one ring: `publish` needs the handle to hold write
    access (the segment's one writer)."""

    def __init__(self, seg, path):
        if not seg.writable:
            raise NotWriter(seg.name, "opened read-only: open with write=True to publish")
        super().__init__(seg, path, False)
        self._slot0 = self._base + RING_HEADER
        self._stride = self._words * 8 + 8

    def publish(self, msg):
        """Publishes `msg` (a Record or dict, or a value of the message
        type), overwriting the oldest message if the ring is full; returns
        its number. Never waits for subscribers; wakes waiting ones."""
        with self._seg._wlock:  # one publish at a time through this handle
            self._seg._check_writer()
            h = self._publish(self._encode(msg))
            _wake(self._seg)
            return h

    def publish_all(self, msgs):
        """Publishes every message of `msgs` in order, waking waiting
        subscribers once; returns the number of the last one, or None if
        there were none. Every message is checked before the first is
        published."""
        with self._seg._wlock:  # one publish at a time through this handle
            self._seg._check_writer()
            encoded = [self._encode(m) for m in msgs]
            last = None
            try:
                for words in encoded:
                    last = self._publish(words)
            finally:
                if last is not None:
                    _wake(self._seg)
            return last

    def _publish(self, words):
        """Publishes the message `words`; its number. No wake-up."""
        a, q = self._seg._a, self._seg._q
        h = a.load64(self._base, RELAXED)
        if 2 * h + 2 >= U64:
            raise self._corrupt(f"ring message number {h} overflows its counters")
        at = self._slot0 + (h & (self.capacity - 1)) * self._stride
        a.store64(at, 2 * h + 1, RELEASE)
        a.fence(RELEASE)
        i = (at + 8) >> 3
        for k, w in enumerate(words):
            q[i + k] = w  # one relaxed 8-byte store per word
        a.store64(at, 2 * h + 2, RELEASE)
        a.store64(self._base, h + 1, RELEASE)
        return h

    @property
    def published(self):
        """The number of messages published so far."""
        return self._seg._a.load64(self._base, RELAXED)

    def __repr__(self):
        return f"<typed_shm.Publisher {self._name} `{self.path}`>"


class _QueueSide(_Messages):
    def __init__(self, seg, path):
        super().__init__(seg, path, True)
        self._slots = self._base + QUEUE_HEADER

    def _counts(self, head_order, tail_order):
        """(head, tail) checked: head <= tail <= head + capacity."""
        a = self._seg._a
        h, t = a.load64(self._base + Q_HEAD, head_order), a.load64(self._base + Q_TAIL, tail_order)
        if h > t or t - h > self.capacity:
            raise self._corrupt(f"queue counts taken {h} and sent {t} are not within its capacity "
                                f"{self.capacity}")
        return h, t

    def _slot(self, i):
        return self._slots + (i & (self.capacity - 1)) * self._words * 8


class Producer(_QueueSide):
    """Sends messages into one queue; each send needs the handle to hold
    write access (the segment's one writer)."""

    def __init__(self, seg, path):
        if not seg.writable:
            raise NotWriter(seg.name, "opened read-only: open with write=True to send")
        super().__init__(seg, path)

    def try_send(self, msg):
        """Sends `msg` if the queue has room and returns its number;
        QueueFull at once if not. Wakes a waiting consumer."""
        with self._seg._wlock:  # one send at a time through this handle
            return self._try_send(msg)

    def _try_send(self, msg):
        self._seg._check_writer()
        words = self._encode(msg)
        h, t = self._counts(ACQUIRE, RELAXED)
        if t - h == self.capacity:
            raise QueueFull(self._name, f"queue `{self.path}` is full ({self.capacity} messages)",
                            self.capacity)
        if t + 1 >= U64:
            raise self._corrupt(f"queue sent count {t} is at the end of its range")
        # For readers that do not take (`shm watch`): the consumer's store of
        # `head` happens before this fence, so a reader that copied a word of
        # this message and fences with acquire sees that the slot was taken.
        self._seg._a.fence(RELEASE)
        q, i = self._seg._q, self._slot(t) >> 3
        for k, w in enumerate(words):
            q[i + k] = w  # one relaxed 8-byte store per word
        self._seg._a.store64(self._base + Q_TAIL, t + 1, RELEASE)
        _wake(self._seg)
        return t

    def send(self, msg, timeout=None):
        """`try_send`, waiting at most `timeout` s (None: no limit) for room
        (woken by the consumer taking a message); QueueFull after it."""
        deadline = _deadline(timeout)
        while True:
            try:
                return self.try_send(msg)
            except QueueFull:
                pass

            def room():
                try:
                    h, t = self._counts(ACQUIRE, ACQUIRE)
                except Corrupt:
                    return True  # try_send says so
                return t - h < self.capacity

            if not wait_until(self._seg, deadline, room):
                return self.try_send(msg)

    @property
    def sent(self):
        """The number of messages sent so far."""
        return self._seg._a.load64(self._base + Q_TAIL, RELAXED)

    def __repr__(self):
        return f"<typed_shm.Producer {self._name} `{self.path}`>"


class Consumer(_QueueSide):
    """The one consumer of a queue, claimed through the queue's claim word
    (a dead consumer is taken over: `took_over_from` is its pid). Needs a
    read-write handle (it stores its position), not write access. A
    context manager; `close()` lets go (so does closing the segment
    handle)."""

    def __init__(self, seg, path, wait=0.0):
        if not seg.writable:
            raise NotWriter(seg.name, "a queue consumer stores its position: open with write=True "
                                      "(claim=False is enough)")
        if _sys.LIBATOMIC is None:
            raise Unsupported(seg.name, "a queue consumer needs libatomic (package libatomic1) for "
                                        "the claim word's compare-and-swap")
        super().__init__(seg, path)
        self._claim, self._peeked, self._me = self._base + Q_CLAIM, False, None
        # Threads sharing this consumer take turns: a peek and its ack (and
        # a whole try_recv) are one step, so no message is taken twice.
        self._lock = threading.RLock()
        self.took_over_from = self._take(wait)
        seg._consumers.add(self)

    def _take(self, wait):
        """`Shared::consumer`'s claim: the word 0, or naming a dead process
        (judged as the Rust runtime does), swapped for this process's."""
        a, me = self._seg._a, _sys.own_word()
        deadline = time.monotonic() + wait
        while True:
            w = a.load64(self._claim, ACQUIRE)
            if w == 0 or (w != me and not _sys.owner_alive(w)):
                ok, _ = a.cas64(self._claim, w, me)
                if ok:
                    self._me, self._pid = me, os.getpid()
                    return (w & 0xFFFFFFFF) if w else None
            if w == me or time.monotonic() >= deadline:
                pid = w & 0xFFFFFFFF
                mine = " (this process)" if w == me else ""
                raise ConsumerBusy(self._name, f"queue `{self.path}` has a live consumer, process "
                                               f"{pid}{mine}", pid, w == me)
            time.sleep(0.001)

    def _check(self):
        if self._me is None:
            raise Error(self._name, f"this consumer of queue `{self.path}` is closed")
        if self._pid != os.getpid():
            # Inherited by fork: the queue is the parent's, as in Rust.
            raise ConsumerBusy(self._name, f"queue `{self.path}` is consumed by process "
                                           f"{self._pid} (this consumer was inherited by fork)",
                               self._pid, False)
        # Still this consumer's claim, as the Rust runtime checks: someone
        # else's word there (a process with write permission stored it, or
        # a consumer judged this one dead) stops it, so that it never goes
        # on beside another consumer.
        w = self._seg._a.load64(self._claim, ACQUIRE)
        if w != self._me:
            if w == 0:
                raise self._corrupt("queue consumer claim word is 0 while this consumer holds the "
                                    "queue")
            pid = w & 0xFFFFFFFF
            raise ConsumerBusy(self._name, f"queue `{self.path}` has a live consumer, process {pid}",
                               pid, False)

    @property
    def position(self):
        """The number of the next message (numbered from 0 in sending order)."""
        return self._seg._a.load64(self._base + Q_HEAD, RELAXED)

    def peek(self):
        """The next message, not yet acknowledged (the next peek or
        try_recv returns it again until `ack`); None if the queue is empty.
        A message that fails its check raises InvalidValue and is taken."""
        with self._lock:
            return self._peek()

    def _peek(self):
        self._check()
        h, t = self._counts(ACQUIRE, ACQUIRE)
        if h == t:
            return None
        words = self._copy(self._slot(h))
        self._peeked = True
        try:
            return self._decode(words)
        except InvalidValue:
            self._ack()  # taken, so that the queue goes on
            raise

    def ack(self):
        """Acknowledges the message the last `peek` returned (the producer
        may then reuse its slot); does nothing if there is none."""
        with self._lock:
            self._ack()

    def _ack(self):
        self._check()
        if not self._peeked:
            return
        self._peeked = False
        h, t = self._counts(RELAXED, ACQUIRE)
        if h != t:
            self._seg._a.store64(self._base + Q_HEAD, h + 1, RELEASE)
            _wake(self._seg)

    def try_recv(self):
        """The next message, acknowledged before it is returned; None if
        the queue is empty."""
        with self._lock:
            m = self._peek()
            if m is not None:
                self._ack()
            return m

    def recv(self, timeout=None):
        """`try_recv`, waiting at most `timeout` s (None: no limit) for a
        message (woken by a send); None after it."""
        deadline = _deadline(timeout)
        while True:
            m = self.try_recv()
            if m is not None:
                return m

            def ready():
                try:
                    h, t = self._counts(ACQUIRE, ACQUIRE)
                except Corrupt:
                    return True  # try_recv says so
                return h != t

            if not wait_until(self._seg, deadline, ready):
                return self.try_recv()

    def __iter__(self):
        """The messages there are now; ends when the queue is empty."""
        while True:
            m = self.try_recv()
            if m is None:
                return
            yield m

    def close(self):
        """Lets go of the queue (the claim word back to 0)."""
        me, self._me = self._me, None
        if me is not None and self._pid == os.getpid():
            try:
                self._seg._a.cas64(self._claim, me, 0)
            except Error:
                pass  # the segment handle was closed first

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
        return f"<typed_shm.Consumer {self._name} `{self.path}` at {self.position}>"
