"""The errors of `typed_shm`: one base class, each error naming the segment
and the facts (as `shm_runtime::Error` does). Text that comes from a
segment is always escaped before it is shown."""


def escape(s):
    """`s` with every character that is not printable (and the backslash)
    escaped as `\\u{..}`, so segment text can never be printed raw."""
    if isinstance(s, (bytes, bytearray)):
        return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in s)
    return "".join(c if c.isprintable() and c != "\\" else f"\\u{{{ord(c):04x}}}" for c in s)


class Error(Exception):
    """Base class of every error of this package; `segment` names it."""

    def __init__(self, segment, message):
        super().__init__(f"{segment}: {message}")
        self.segment = segment


class NotFound(Error, FileNotFoundError):
    """No segment under this name."""


class NotASegment(Error):
    """The object does not start with this format's magic."""


class NotInitialized(Error):
    """The creator has not finished (or died before finishing) the header."""


class UnsupportedVersion(Error):
    """A header version this package does not read."""


class Corrupt(Error):
    """The header or descriptor is inconsistent (every fact checked at open)."""


class TooSmall(Error):
    """The object is smaller than its header says, or than a header."""


class InvalidValue(Error, ValueError):
    """A field holds a value its type does not allow (a bool other than
    0/1, an enum value that is no variant, a char that is not a Unicode
    scalar value, a string too long or not UTF-8). `path` is the field
    path (`joints[2].mode`), `raw` the raw value (an int, or bytes)."""

    def __init__(self, segment, path, what, raw):
        shown = escape(raw) if isinstance(raw, (bytes, bytearray)) else raw
        super().__init__(segment, f"field `{path}`: invalid {what}: {shown}")
        self.path, self.raw = path, raw


class Timeout(Error, TimeoutError):
    """No complete copy could be read in time (the copy kept changing, or the
    segment is damaged: both counters odd)."""


class WriterBusy(Error):
    """Another live process holds write access. `pid` is its process id."""

    def __init__(self, segment, message, pid):
        super().__init__(segment, message)
        self.pid = pid


class NotWriter(Error):
    """A write through a handle that does not hold write access (opened
    read-only, released, or inherited by `fork`)."""


class Unsupported(Error):
    """Something this package does not do on this system or segment kind."""


class QueueFull(Error):
    """A queue has no free slot (its consumer has not taken the oldest
    message yet). `capacity` is its number of slots."""

    def __init__(self, segment, message, capacity):
        super().__init__(segment, message)
        self.capacity = capacity


class ConsumerBusy(Error):
    """Another live consumer holds the queue. `pid` is its process id;
    `this_process` says whether it is this very process."""

    def __init__(self, segment, message, pid, this_process):
        super().__init__(segment, message)
        self.pid, self.this_process = pid, this_process
