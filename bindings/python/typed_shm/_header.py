"""The segment header (docs/FORMAT.md, "Header"), validated on a private
copy exactly as `shm_runtime::header::Header::validate` does."""

import struct

from ._descriptor import NAME_CAPACITY, ident_problem
from ._errors import Corrupt, NotASegment, NotInitialized, TooSmall, UnsupportedVersion

MAGIC = b"SHMTYPE\x00"
HEADER_VERSION = 2
HEADER_SIZE = 256
STATE_READY = 1
KNOWN_FLAGS = 1
MAX_DESCRIPTOR_LEN = 1 << 20
SEQ, WRITER, WRITER_SINCE, SCHEMA_SEQ, BACKUP_SEQ, WAITERS, NOTIFY = 128, 144, 152, 200, 240, 248, 252

_FORMAT = "=8sHHIQIIQQQII48sIIQQ8xQQ8xQ16xQQQIIQIIQII"
_NAMES = ("magic header_version header_size state fingerprint schema_version payload_align "
          "payload_offset payload_size segment_size descriptor_offset descriptor_len schema_name_raw "
          "creator_pid flags created_nanos seq writer writer_since backup_offset payload_capacity "
          "schema_seq staged_fingerprint staged_schema_version staged_flags staged_payload_size "
          "staged_descriptor_offset staged_descriptor_len backup_seq waiters notify").split()
assert struct.calcsize(_FORMAT) == HEADER_SIZE


class Header:
    """A private copy of a header (the 8 bytes at 248 read as zero)."""

    def __init__(self, raw):
        for k, v in zip(_NAMES, struct.unpack(_FORMAT, raw)):
            setattr(self, k, v)

    def effective(self):
        """The header in force: the staged schema fields while an upgrade
        is switching them (`schema_seq` odd)."""
        if self.schema_seq & 1:
            self.fingerprint = self.staged_fingerprint
            self.schema_version = self.staged_schema_version
            self.flags = self.staged_flags
            self.payload_size = self.staged_payload_size
            self.descriptor_offset = self.staged_descriptor_offset
            self.descriptor_len = self.staged_descriptor_len
        return self

    @property
    def schema_name(self):
        """The schema name if NUL-padded and an identifier, else None."""
        raw = self.schema_name_raw
        end = raw.find(b"\0")
        end = NAME_CAPACITY if end < 0 else end
        if any(raw[end:]):
            return None
        try:
            name = raw[:end].decode("ascii")
        except UnicodeDecodeError:
            return None
        return None if ident_problem(name, NAME_CAPACITY) else name

    @property
    def capacity(self):
        return self.payload_capacity or self.payload_size

    def validate(self, seg, object_size):
        """`Header::validate`: every field an opener uses, in its order."""
        if self.state == 0 and self.magic in (MAGIC, bytes(8)):
            raise NotInitialized(seg, "the segment is not initialised (state 0)")
        if self.magic != MAGIC:
            raise NotASegment(seg, f"not a typed shared-memory segment (magic {self.magic.hex(' ')})")
        if self.state != STATE_READY:
            raise Corrupt(seg, f"state is {self.state}, expected {STATE_READY}")
        if self.header_version != HEADER_VERSION:
            raise UnsupportedVersion(seg, f"header version {self.header_version}, this package reads "
                                          f"{HEADER_VERSION}")
        if self.header_size != HEADER_SIZE:
            raise Corrupt(seg, f"header size is {self.header_size}, expected {HEADER_SIZE}")
        if self.flags & ~KNOWN_FLAGS:
            raise Corrupt(seg, f"unknown flags {self.flags & ~KNOWN_FLAGS:#x} (written by a newer or "
                               "foreign program)")
        if self.schema_name is None:
            raise Corrupt(seg, "schema name is empty, not NUL-padded, or not an identifier (ASCII "
                               "letters, digits and `_`)")
        align = self.payload_align
        if align & (align - 1) or not 64 <= align <= 1 << 16:
            raise Corrupt(seg, f"payload alignment {align} is not a power of two in 64..=65536")
        if self.payload_offset % align:
            raise Corrupt(seg, f"payload offset {self.payload_offset} is not a multiple of its "
                               f"alignment {align}")
        desc_end = self.descriptor_offset + self.descriptor_len
        if (self.descriptor_offset < HEADER_SIZE or self.descriptor_len > MAX_DESCRIPTOR_LEN
                or desc_end > self.payload_offset):
            raise Corrupt(seg, f"descriptor at {self.descriptor_offset}..{desc_end} is not between the "
                               f"header and the payload at {self.payload_offset}")
        u64 = (1 << 64) - 1
        payload_end = self.payload_offset + self.payload_size
        if payload_end > u64:
            raise Corrupt(seg, "payload offset + size overflows")
        if payload_end > self.segment_size:
            raise Corrupt(seg, f"payload ends at {payload_end}, past the segment size "
                               f"{self.segment_size} in the header")
        if self.payload_capacity:
            if self.payload_capacity < self.payload_size:
                raise Corrupt(seg, f"payload capacity {self.payload_capacity} is less than the payload "
                                   f"size {self.payload_size}")
            if self.payload_offset + self.payload_capacity > min(u64, self.segment_size):
                raise Corrupt(seg, f"payload capacity {self.payload_capacity} at offset "
                                   f"{self.payload_offset} runs past the segment size "
                                   f"{self.segment_size} in the header")
        room = -(-self.capacity // 8) * 8
        if (room > u64 or self.backup_offset % align or self.backup_offset < self.payload_offset + room
                or self.backup_offset + room > min(u64, self.segment_size)):
            raise Corrupt(seg, f"backup copy at offset {self.backup_offset} does not fit after the "
                               f"payload ({self.capacity} bytes of room at offset {self.payload_offset}, "
                               f"in 8-byte words) and inside the segment size {self.segment_size}, "
                               f"aligned to {align}")
        if self.segment_size > object_size:
            raise TooSmall(seg, f"the object is {object_size} bytes, the segment size recorded in its "
                                f"header is {self.segment_size}")
