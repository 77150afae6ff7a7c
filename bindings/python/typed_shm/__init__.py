"""typed_shm: read, wait for and write the typed shared-memory segments of
the `shm-runtime` Rust crate from Python, from a segment's own descriptor
(segments describe themselves; no generated code needed). Pure Python,
standard library only (plus libatomic, present wherever GCC's runtime is,
for writing and futex waiting).

    import typed_shm
    with typed_shm.open("MyShare") as seg:      # checked once, mapped read-only
        v = seg.read()                          # a consistent Record
        print(v.value, v.letter, v.numbers[10])

    with typed_shm.open("MyShare", write=True) as seg:   # claims write access
        seg.update(value=124)                   # one write; waiters are woken

    with typed_shm.open("MyShare") as seg:        # rings: any number of subscribers
        sub = seg.subscribe("events", start="oldest")
        msg = sub.recv(timeout=1.0)             # a Record, a Lost(n), or None

    with typed_shm.open("MyShare", write=True, claim=False) as seg:
        with seg.consumer("commands") as c:     # queues: one consumer at a time
            cmd = c.recv(timeout=1.0)

Opening never registers the segment with multiprocessing's resource
tracker, and nothing here ever removes a segment. The format and the
protocols are in docs/FORMAT.md of the repository.
"""

from ._errors import (ConsumerBusy, Corrupt, Error, InvalidValue, NotASegment, NotFound,
                      NotInitialized, NotWriter, QueueFull, Timeout, TooSmall, Unsupported,
                      UnsupportedVersion, WriterBusy)
from ._segment import Segment, open
from ._streams import Consumer, Lost, Producer, Publisher, Subscriber
from ._values import Record

__all__ = [
    "open", "Segment", "Record", "Error", "NotFound", "NotASegment", "NotInitialized",
    "UnsupportedVersion", "Corrupt", "TooSmall", "InvalidValue", "Timeout", "WriterBusy",
    "NotWriter", "Unsupported", "QueueFull", "ConsumerBusy", "Subscriber", "Publisher",
    "Consumer", "Producer", "Lost",
]
__version__ = "0.1.0"
