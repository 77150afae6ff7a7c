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

Opening never registers the segment with multiprocessing's resource
tracker, and nothing here ever removes a segment. The format and the
protocols are in docs/FORMAT.md of the repository.
"""

from ._errors import (Corrupt, Error, InvalidValue, NotASegment, NotFound, NotInitialized,
                      NotWriter, Timeout, TooSmall, Unsupported, UnsupportedVersion, WriterBusy)
from ._segment import Segment, open
from ._values import Record

__all__ = [
    "open", "Segment", "Record", "Error", "NotFound", "NotASegment", "NotInitialized",
    "UnsupportedVersion", "Corrupt", "TooSmall", "InvalidValue", "Timeout", "WriterBusy",
    "NotWriter", "Unsupported",
]
__version__ = "0.1.0"
