//! The segment header: 256 bytes at offset 0 of every segment.
//!
//! `docs/FORMAT.md` documents every byte. The header is never accessed in
//! place through a Rust reference: openers copy it out with atomic
//! loads and everything is validated on the private copy, so another process
//! changing the bytes meanwhile cannot cause undefined behaviour or a
//! time-of-check/time-of-use bug.

use crate::SharedLayout;
use crate::error::{Error, Result};
use crate::layout::LayoutDesc;

/// `b"SHMTYPE\0"`: the first eight bytes of every segment.
pub const MAGIC: [u8; 8] = *b"SHMTYPE\0";
/// The header format this crate reads and writes.
pub const HEADER_VERSION: u16 = 2;
/// Size of the header in bytes (four 64-byte cache lines).
pub const HEADER_SIZE: usize = 256;
/// Capacity of the schema-name field.
pub const NAME_CAPACITY: usize = 48;
/// The payload starts at a multiple of this (a cache line), or of the
/// schema's alignment if larger.
pub const PAYLOAD_ALIGN_MIN: usize = 64;
/// The largest alignment a schema may have: the smallest page size of the
/// supported systems. A mapping starts at a page boundary and the payload
/// at a multiple of its alignment from there, so a larger alignment would
/// not hold in memory (`#[derive(SharedLayout)]` refuses it).
pub const PAYLOAD_ALIGN_MAX: usize = 4096;
/// Upper bound on the descriptor length accepted from a segment.
pub const MAX_DESCRIPTOR_LEN: u32 = 1 << 20;

/// `state` before the creator has finished writing the header.
pub const STATE_INITIALIZING: u32 = 0;
/// `state` once the header and the initial payload are complete.
pub const STATE_READY: u32 = 1;
/// `flags` bit: programs built with an older version of the schema may open
/// the segment for writing (the schema has `#[shm(older_writers)]`).
pub const FLAG_OLDER_WRITERS: u32 = 1;
/// The `flags` bits this version understands: a segment with any other bit
/// set was written by a newer or foreign program.
pub const KNOWN_FLAGS: u32 = FLAG_OLDER_WRITERS;
/// Extra bytes of descriptor area a segment with room to grow gets (at
/// least; twice the descriptor if that is more), so that an upgrade can
/// write the newer, longer descriptor next to the current one.
pub const DESCRIPTOR_SPARE_MIN: usize = 4096;

/// Byte offsets of the header fields (see `docs/FORMAT.md`), taken from
/// [`Header`] itself, so they cannot drift from it.
pub mod off {
    use super::{Header, SchemaFields};
    use core::mem::offset_of;

    /// `[u8; 8]` magic.
    pub const MAGIC: usize = offset_of!(Header, magic);
    /// `u16` header format version.
    pub const HEADER_VERSION: usize = offset_of!(Header, header_version);
    /// `u16` header size.
    pub const HEADER_SIZE: usize = offset_of!(Header, header_size);
    /// `u32` initialisation state (atomic; `1` = ready, stored last with release).
    pub const STATE: usize = offset_of!(Header, state);
    /// `u64` layout fingerprint.
    pub const FINGERPRINT: usize = offset_of!(Header, fingerprint);
    /// `u32` schema version.
    pub const SCHEMA_VERSION: usize = offset_of!(Header, schema_version);
    /// `u32` payload alignment.
    pub const PAYLOAD_ALIGN: usize = offset_of!(Header, payload_align);
    /// `u64` payload offset.
    pub const PAYLOAD_OFFSET: usize = offset_of!(Header, payload_offset);
    /// `u64` payload size.
    pub const PAYLOAD_SIZE: usize = offset_of!(Header, payload_size);
    /// `u64` total segment size written by the creator.
    pub const SEGMENT_SIZE: usize = offset_of!(Header, segment_size);
    /// `u32` descriptor offset.
    pub const DESCRIPTOR_OFFSET: usize = offset_of!(Header, descriptor_offset);
    /// `u32` descriptor length.
    pub const DESCRIPTOR_LEN: usize = offset_of!(Header, descriptor_len);
    /// `[u8; 48]` schema name, UTF-8, NUL-padded.
    pub const SCHEMA_NAME: usize = offset_of!(Header, schema_name);
    /// `u32` creator process id.
    pub const CREATOR_PID: usize = offset_of!(Header, creator_pid);
    /// `u32` flags ([`FLAG_OLDER_WRITERS`](super::FLAG_OLDER_WRITERS); other
    /// bits zero).
    pub const FLAGS: usize = offset_of!(Header, flags);
    /// `u64` creation time, nanoseconds since the Unix epoch.
    pub const CREATED_NANOS: usize = offset_of!(Header, created_nanos);
    /// `u64` sequence counter (atomic; odd while a write is in progress).
    pub const SEQ: usize = offset_of!(Header, seq);
    /// `u32` number of processes waiting for a change (atomic; in line 3,
    /// away from `seq`'s cache line, which spinning readers poll).
    pub const WAITERS: usize = offset_of!(Header, waiters);
    /// `u32` change counter used as the futex word (atomic).
    pub const NOTIFY: usize = offset_of!(Header, notify);
    /// `u64` write-access owner (atomic, compare-and-swap; 0 = none,
    /// otherwise pid | start token << 32: see `docs/FORMAT.md`, "The claim word").
    pub const WRITER: usize = offset_of!(Header, writer);
    /// `u64` when the owner claimed write access, nanoseconds since the
    /// Unix epoch (atomic; informational).
    pub const WRITER_SINCE: usize = offset_of!(Header, writer_since);
    /// `u64` sequence counter of the backup copy of the payload (atomic;
    /// odd while it is written; see `docs/FORMAT.md`, "Concurrency protocol"; in line 3, away
    /// from `seq`'s cache line).
    pub const BACKUP_SEQ: usize = offset_of!(Header, backup_seq);
    /// `u64` offset of the backup copy of the payload.
    pub const BACKUP_OFFSET: usize = offset_of!(Header, backup_offset);
    /// `u64` room for the payload at `payload_offset`, in bytes (0: exactly
    /// `payload_size`, as in segments from before this field).
    pub const PAYLOAD_CAPACITY: usize = offset_of!(Header, payload_capacity);
    /// `u64` schema counter (atomic; odd while an upgrade rewrites the
    /// schema fields, during which the staged fields below are the truth).
    pub const SCHEMA_SEQ: usize = offset_of!(Header, schema_seq);
    /// `u64` staged fingerprint (see [`SchemaFields`]).
    pub const STAGED_FINGERPRINT: usize = STAGED + offset_of!(SchemaFields, fingerprint);
    /// `u32` staged schema version.
    pub const STAGED_SCHEMA_VERSION: usize = STAGED + offset_of!(SchemaFields, schema_version);
    /// `u32` staged flags.
    pub const STAGED_FLAGS: usize = STAGED + offset_of!(SchemaFields, flags);
    /// `u64` staged payload size.
    pub const STAGED_PAYLOAD_SIZE: usize = STAGED + offset_of!(SchemaFields, payload_size);
    /// `u32` staged descriptor offset.
    pub const STAGED_DESCRIPTOR_OFFSET: usize =
        STAGED + offset_of!(SchemaFields, descriptor_offset);
    /// `u32` staged descriptor length.
    pub const STAGED_DESCRIPTOR_LEN: usize = STAGED + offset_of!(SchemaFields, descriptor_len);

    /// The staged [`SchemaFields`].
    const STAGED: usize = offset_of!(Header, staged);
}

/// The offsets of the header fields that are accessed only atomically,
/// because processes change them while the segment is in use (see
/// `docs/FORMAT.md`). The generated bindings declare these as atomics.
pub const ATOMIC_FIELDS: [usize; 8] = [
    off::STATE,
    off::SEQ,
    off::WRITER,
    off::WRITER_SINCE,
    off::SCHEMA_SEQ,
    off::BACKUP_SEQ,
    off::WAITERS,
    off::NOTIFY,
];

/// The header fields that describe the schema, which an in-place upgrade
/// changes (all in the 8-byte words 16..64 and 112..120), and which are
/// staged at 208..240 while it does (see `docs/FORMAT.md`, "Upgrading in
/// place").
#[derive(SharedLayout, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
#[shm(size = 32, align = 8)]
pub struct SchemaFields {
    /// Layout fingerprint.
    #[shm(offset = 0)]
    pub fingerprint: u64,
    /// Schema version.
    #[shm(offset = 8)]
    pub schema_version: u32,
    /// Flags.
    #[shm(offset = 12)]
    pub flags: u32,
    /// Payload size.
    #[shm(offset = 16)]
    pub payload_size: u64,
    /// Descriptor offset.
    #[shm(offset = 24)]
    pub descriptor_offset: u32,
    /// Descriptor length.
    #[shm(offset = 28)]
    pub descriptor_len: u32,
}

/// The header, as copied out of (or to be written into) a segment: the
/// `#[repr(C)]` struct whose bytes, in native byte order, are the 256
/// bytes at offset 0 of every segment. This declaration is the one source
/// of the header's layout: the derive proves at compile time that the
/// fields tile all 256 bytes at the offsets written here; [`off`], the
/// generated bindings (`shm-codegen`) and the tests take the offsets from
/// it, and a test checks `docs/FORMAT.md` against it.
///
/// A header copied out of a live segment holds the concurrency words
/// (`seq`, `writer`, ...) as they were at that moment; nothing uses them
/// from a copy except to display them. Header copies skip `waiters` and
/// `notify`, which read as zero in them.
#[derive(SharedLayout, Clone, Debug, PartialEq, Eq)]
#[repr(C)]
#[shm(name = "SegmentHeader", version = 2, size = 256, align = 8)]
pub struct Header {
    /// Must equal [`MAGIC`].
    #[shm(offset = 0)]
    pub magic: [u8; 8],
    /// Header format version.
    #[shm(offset = 8)]
    pub header_version: u16,
    /// Header size in bytes.
    #[shm(offset = 10)]
    pub header_size: u16,
    /// Initialisation state (atomic).
    #[shm(offset = 12)]
    pub state: u32,
    /// Layout fingerprint of the schema.
    #[shm(offset = 16)]
    pub fingerprint: u64,
    /// Schema version.
    #[shm(offset = 24)]
    pub schema_version: u32,
    /// Alignment of the payload.
    #[shm(offset = 28)]
    pub payload_align: u32,
    /// Offset of the payload from the start of the segment.
    #[shm(offset = 32)]
    pub payload_offset: u64,
    /// Size of the payload (the schema struct).
    #[shm(offset = 40)]
    pub payload_size: u64,
    /// Total size the creator gave the segment.
    #[shm(offset = 48)]
    pub segment_size: u64,
    /// Offset of the schema descriptor.
    #[shm(offset = 56)]
    pub descriptor_offset: u32,
    /// Length of the schema descriptor.
    #[shm(offset = 60)]
    pub descriptor_len: u32,
    /// Schema name bytes (NUL-padded).
    #[shm(offset = 64)]
    pub schema_name: [u8; NAME_CAPACITY],
    /// Process id of the creator.
    #[shm(offset = 112)]
    pub creator_pid: u32,
    /// Flags: [`FLAG_OLDER_WRITERS`]; the other bits are zero (a segment
    /// with a bit outside [`KNOWN_FLAGS`] is refused).
    #[shm(offset = 116)]
    pub flags: u32,
    /// Creation time in nanoseconds since the Unix epoch.
    #[shm(offset = 120)]
    pub created_nanos: u64,
    /// Sequence counter of the primary copy of the payload (atomic; odd
    /// while a write is in progress).
    #[shm(offset = 128)]
    pub seq: u64,
    /// Reserved, zero.
    #[shm(offset = 136)]
    pub _reserved_136: [u8; 8],
    /// Write-access owner (atomic; 0 = none, see `docs/FORMAT.md`, "The claim word").
    #[shm(offset = 144)]
    pub writer: u64,
    /// When the owner claimed write access, nanoseconds since the Unix
    /// epoch (atomic; informational).
    #[shm(offset = 152)]
    pub writer_since: u64,
    /// Reserved, zero.
    #[shm(offset = 160)]
    pub _reserved_160: [u8; 8],
    /// Offset of the backup copy of the payload (as much room as the
    /// primary copy).
    #[shm(offset = 168)]
    pub backup_offset: u64,
    /// Reserved, zero (the rest of line 2).
    #[shm(offset = 176)]
    pub _reserved_line2: [u8; 16],
    /// Room for the payload in bytes (0: exactly `payload_size`).
    #[shm(offset = 192)]
    pub payload_capacity: u64,
    /// Schema counter: odd while an upgrade is rewriting the schema fields
    /// (atomic).
    #[shm(offset = 200)]
    pub schema_seq: u64,
    /// The schema fields an upgrade is writing (meaningful while
    /// `schema_seq` is odd).
    #[shm(offset = 208)]
    pub staged: SchemaFields,
    /// Sequence counter of the backup copy of the payload (atomic; odd
    /// while it is written).
    #[shm(offset = 240)]
    pub backup_seq: u64,
    /// Number of processes waiting for a change (atomic, 4 bytes; zero in
    /// a header copy).
    #[shm(offset = 248)]
    pub waiters: u32,
    /// Change counter, the futex word (atomic, 4 bytes; zero in a header
    /// copy).
    #[shm(offset = 252)]
    pub notify: u32,
}

const _: () = assert!(
    core::mem::size_of::<Header>() == HEADER_SIZE
        && Header::LAYOUT.version == HEADER_VERSION as u32
);

/// Where the parts of a segment go, computed from a schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Descriptor offset (right after the header).
    pub descriptor_offset: usize,
    /// Descriptor length.
    pub descriptor_len: usize,
    /// Payload offset.
    pub payload_offset: usize,
    /// Payload size.
    pub payload_size: usize,
    /// Room for the payload (at least `payload_size`).
    pub payload_capacity: usize,
    /// Offset of the backup copy (after the primary's room).
    pub backup_offset: usize,
    /// Payload alignment.
    pub payload_align: usize,
    /// Offset of the stream area (the rings; after the backup copy, on a
    /// cache line): see "Streams" in `docs/FORMAT.md`.
    pub streams_offset: usize,
    /// Size of the stream area (0 for a schema without rings).
    pub streams_size: usize,
    /// Total segment size.
    pub segment_size: usize,
}

impl Plan {
    /// The plan for a schema whose encoded descriptor is `descriptor_len`
    /// bytes; `None` as [`Plan::with_capacity`].
    pub fn new(layout: &LayoutDesc, descriptor_len: usize) -> Option<Plan> {
        Plan::with_capacity(layout, descriptor_len, 0)
    }

    /// The plan with room for a payload of `capacity` bytes. If that is
    /// more than the schema's size, the capacity is rounded up to a
    /// multiple of 8 and the descriptor area gets spare room too
    /// ([`DESCRIPTOR_SPARE_MIN`] bytes, or twice the descriptor if more),
    /// so that a newer version of the schema can upgrade the segment.
    ///
    /// `None` if the segment could not be laid out: a size or offset
    /// overflows, the segment would be larger than `isize::MAX` bytes (no
    /// mapping or allocation can be), the descriptor is longer than
    /// [`MAX_DESCRIPTOR_LEN`], or the alignment is not a power of two up to
    /// [`PAYLOAD_ALIGN_MAX`]. Every number is checked, so no caller can
    /// write past the end of a segment laid out by a plan.
    pub fn with_capacity(
        layout: &LayoutDesc,
        descriptor_len: usize,
        capacity: usize,
    ) -> Option<Plan> {
        if !layout.align.is_power_of_two()
            || layout.align > PAYLOAD_ALIGN_MAX
            || descriptor_len > MAX_DESCRIPTOR_LEN as usize
        {
            return None;
        }
        let payload_align = layout.align.max(PAYLOAD_ALIGN_MIN);
        let descriptor_offset = HEADER_SIZE;
        let (payload_capacity, descriptor_area) = if capacity > layout.size {
            (
                capacity.checked_next_multiple_of(8)?,
                descriptor_len
                    .checked_add(DESCRIPTOR_SPARE_MIN.max(descriptor_len.checked_mul(2)?))?,
            )
        } else {
            // Whole 8-byte words: every access to a payload copy is one.
            (layout.size.checked_next_multiple_of(8)?, descriptor_len)
        };
        let payload_offset = descriptor_offset
            .checked_add(descriptor_area)?
            .checked_next_multiple_of(payload_align)?;
        let backup_offset = payload_offset
            .checked_add(payload_capacity)?
            .checked_next_multiple_of(payload_align)?;
        let streams_offset = crate::streams::streams_offset(backup_offset, payload_capacity)?;
        let streams_size = crate::streams::streams_size(layout)?;
        let segment_size = if streams_size == 0 {
            backup_offset.checked_add(payload_capacity)?
        } else {
            streams_offset.checked_add(streams_size)?
        };
        if segment_size > isize::MAX as usize {
            return None;
        }
        Some(Plan {
            descriptor_offset,
            descriptor_len,
            payload_offset,
            payload_size: layout.size,
            payload_capacity,
            backup_offset,
            payload_align,
            streams_offset,
            streams_size,
            segment_size,
        })
    }

    /// [`Plan::with_capacity`], or an error naming the segment `name` if it
    /// cannot be laid out: [`Error::Unsupported`] for an alignment above
    /// [`PAYLOAD_ALIGN_MAX`], [`Error::NoSpace`] otherwise.
    pub fn for_segment(
        name: &str,
        layout: &LayoutDesc,
        descriptor_len: usize,
        capacity: usize,
    ) -> Result<Plan> {
        if let Some(plan) = Plan::with_capacity(layout, descriptor_len, capacity) {
            return Ok(plan);
        }
        if !layout.align.is_power_of_two() || layout.align > PAYLOAD_ALIGN_MAX {
            return Err(Error::Unsupported {
                name: name.to_owned(),
                what: format!(
                    "a schema aligned to {} bytes (at most {PAYLOAD_ALIGN_MAX}, a page)",
                    layout.align
                ),
            });
        }
        let room = capacity.max(layout.size);
        Err(Error::NoSpace {
            name: name.to_owned(),
            size: room as u64,
            reason: if descriptor_len > MAX_DESCRIPTOR_LEN as usize {
                format!(
                    "the schema's descriptor is {descriptor_len} bytes, more than the \
                     {MAX_DESCRIPTOR_LEN} a segment may hold"
                )
            } else {
                format!(
                    "a segment with {room} bytes of room for the payload (schema `{}`, {} bytes) \
                     does not fit in this process's address space",
                    layout.name, layout.size
                )
            },
        })
    }
}

/// The part of a schema name the header stores: at most [`NAME_CAPACITY`]
/// bytes, cut at a character boundary so it stays valid UTF-8. (The full
/// name is in the descriptor and in the fingerprint.)
pub fn stored_name(name: &str) -> &str {
    let mut n = name.len().min(NAME_CAPACITY);
    while !name.is_char_boundary(n) {
        n -= 1;
    }
    &name[..n]
}

impl Header {
    /// A fresh header for `layout` laid out by `plan`, in state initialising.
    pub fn new(layout: &LayoutDesc, fingerprint: u64, plan: &Plan, pid: u32, now: u64) -> Header {
        let mut schema_name = [0u8; NAME_CAPACITY];
        let stored = stored_name(layout.name).as_bytes();
        schema_name[..stored.len()].copy_from_slice(stored);
        Header {
            magic: MAGIC,
            header_version: HEADER_VERSION,
            header_size: HEADER_SIZE as u16,
            state: STATE_INITIALIZING,
            fingerprint,
            schema_version: layout.version,
            payload_align: plan.payload_align as u32,
            payload_offset: plan.payload_offset as u64,
            payload_size: plan.payload_size as u64,
            segment_size: plan.segment_size as u64,
            descriptor_offset: plan.descriptor_offset as u32,
            descriptor_len: plan.descriptor_len as u32,
            schema_name,
            creator_pid: pid,
            flags: 0,
            created_nanos: now,
            seq: 0,
            _reserved_136: [0; 8],
            writer: 0,
            writer_since: 0,
            _reserved_160: [0; 8],
            backup_offset: plan.backup_offset as u64,
            _reserved_line2: [0; 16],
            payload_capacity: plan.payload_capacity as u64,
            schema_seq: 0,
            staged: SchemaFields::default(),
            backup_seq: 0,
            waiters: 0,
            notify: 0,
        }
    }

    /// The schema fields as the header has them now.
    pub fn schema_fields(&self) -> SchemaFields {
        SchemaFields {
            fingerprint: self.fingerprint,
            schema_version: self.schema_version,
            flags: self.flags,
            payload_size: self.payload_size,
            descriptor_offset: self.descriptor_offset,
            descriptor_len: self.descriptor_len,
        }
    }

    /// This header with its schema fields replaced by `f`.
    pub fn with_schema_fields(&self, f: SchemaFields) -> Header {
        Header {
            fingerprint: f.fingerprint,
            schema_version: f.schema_version,
            flags: f.flags,
            payload_size: f.payload_size,
            descriptor_offset: f.descriptor_offset,
            descriptor_len: f.descriptor_len,
            ..self.clone()
        }
    }

    /// The header in force: while an upgrade is rewriting the schema
    /// fields (`schema_seq` odd), the staged ones, which the upgrader wrote
    /// completely before making `schema_seq` odd; otherwise the header as
    /// it is. Openers validate and use this.
    pub fn effective(&self) -> Header {
        if self.schema_seq & 1 == 1 {
            self.with_schema_fields(self.staged)
        } else {
            self.clone()
        }
    }

    /// Where the stream area (the rings and queues) starts: the first
    /// cache line after the backup copy's room (see "Streams" in
    /// `docs/FORMAT.md`). `None` on overflow (a corrupt header).
    pub fn streams_offset(&self) -> Option<u64> {
        let b = usize::try_from(self.backup_offset).ok()?;
        let c = usize::try_from(self.capacity()).ok()?;
        crate::streams::streams_offset(b, c).map(|o| o as u64)
    }

    /// The room for the payload: `payload_capacity`, or `payload_size` if
    /// that is 0 (a segment without room, or from before the field).
    pub fn capacity(&self) -> u64 {
        if self.payload_capacity == 0 {
            self.payload_size
        } else {
            self.payload_capacity
        }
    }

    /// The header's bytes: the struct's bytes, in native byte order. A
    /// header made by [`Header::new`] has every concurrency word zero
    /// except `backup_offset`.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        // SAFETY: `Header` is `ShmSafe` (its derive proved that the fields
        // tile all of its `HEADER_SIZE` bytes, so it has no padding and
        // every byte of `*self` is initialised), and its size is
        // `HEADER_SIZE` (asserted above); `transmute_copy` reads it
        // unaligned into the array.
        unsafe { core::mem::transmute_copy::<Header, [u8; HEADER_SIZE]>(self) }
    }

    /// Parses header bytes without validating them: a copy of the 256
    /// bytes into a [`Header`].
    pub fn decode(b: &[u8; HEADER_SIZE]) -> Header {
        // SAFETY: `b` has exactly `size_of::<Header>()` bytes (asserted
        // above), and every bit pattern is a valid `Header` (it is
        // `ShmSafe`: all its fields are integers and byte arrays);
        // `read_unaligned` copies them out whatever `b`'s alignment.
        unsafe { b.as_ptr().cast::<Header>().read_unaligned() }
    }

    /// The schema name, if it is NUL-padded (every byte after the first
    /// NUL is NUL too) and an identifier by the rule of [`crate::ident`]
    /// (so it is safe to print or to put in generated code).
    pub fn schema_name(&self) -> Option<&str> {
        let end = self
            .schema_name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(NAME_CAPACITY);
        if self.schema_name[end..].iter().any(|&c| c != 0) {
            return None;
        }
        std::str::from_utf8(&self.schema_name[..end])
            .ok()
            .filter(|n| crate::ident::is_valid(n, NAME_CAPACITY))
    }

    /// A one-line summary for error messages: name, version, size, fingerprint.
    pub fn summary(&self) -> String {
        format!(
            "schema `{}` v{} ({} bytes, fingerprint {:016x})",
            self.schema_name().unwrap_or("<invalid name>"),
            self.schema_version,
            self.payload_size,
            self.fingerprint
        )
    }

    /// Checks the header on its own against the real object size: magic,
    /// version, state, flags, name, sizes, offsets and alignment, with no
    /// arithmetic overflow. Every field an opener uses is checked here
    /// (see `docs/FORMAT.md`, "How a segment is opened"); a `state` of 0 is
    /// [`Error::NotInitialized`] (`waited` zero: this function never waits).
    pub fn validate(&self, name: &str, object_size: u64) -> Result<()> {
        let corrupt = |what: String| Error::Corrupt {
            name: name.to_owned(),
            what,
        };
        // The order is the one an opener of a live segment follows: magic,
        // then `state` (nothing else is meaningful before it is 1), then the
        // rest. A creator may not have stored the magic yet while `state`
        // is still 0, so zero magic with zero state is "not initialised".
        if self.state == STATE_INITIALIZING && (self.magic == MAGIC || self.magic == [0; 8]) {
            return Err(Error::NotInitialized {
                name: name.to_owned(),
                waited: std::time::Duration::ZERO,
            });
        }
        if self.magic != MAGIC {
            return Err(Error::NotASegment {
                name: name.to_owned(),
                expected: MAGIC,
                found: self.magic,
            });
        }
        if self.state != STATE_READY {
            return Err(corrupt(format!(
                "state is {}, expected {STATE_READY}",
                self.state
            )));
        }
        if self.header_version != HEADER_VERSION {
            return Err(Error::UnsupportedVersion {
                name: name.to_owned(),
                expected: HEADER_VERSION.into(),
                found: self.header_version.into(),
            });
        }
        if usize::from(self.header_size) != HEADER_SIZE {
            return Err(corrupt(format!(
                "header size is {}, expected {HEADER_SIZE}",
                self.header_size
            )));
        }
        if self.flags & !KNOWN_FLAGS != 0 {
            return Err(corrupt(format!(
                "unknown flags {:#x} (written by a newer or foreign program)",
                self.flags & !KNOWN_FLAGS
            )));
        }
        if self.schema_name().is_none() {
            return Err(corrupt(
                "schema name is empty, not NUL-padded, or not an identifier (ASCII letters, digits and `_`)"
                    .into(),
            ));
        }
        let align = u64::from(self.payload_align);
        if !align.is_power_of_two() || align < PAYLOAD_ALIGN_MIN as u64 || align > 1 << 16 {
            return Err(corrupt(format!(
                "payload alignment {align} is not a power of two in 64..=65536"
            )));
        }
        if !self.payload_offset.is_multiple_of(align) {
            return Err(corrupt(format!(
                "payload offset {} is not a multiple of its alignment {align}",
                self.payload_offset
            )));
        }
        let desc_end = u64::from(self.descriptor_offset) + u64::from(self.descriptor_len);
        if (self.descriptor_offset as usize) < HEADER_SIZE
            || self.descriptor_len > MAX_DESCRIPTOR_LEN
            || desc_end > self.payload_offset
        {
            return Err(corrupt(format!(
                "descriptor at {}..{desc_end} is not between the header and the payload at {}",
                self.descriptor_offset, self.payload_offset
            )));
        }
        let payload_end = self
            .payload_offset
            .checked_add(self.payload_size)
            .ok_or_else(|| corrupt("payload offset + size overflows".into()))?;
        if payload_end > self.segment_size {
            return Err(corrupt(format!(
                "payload ends at {payload_end}, past the segment size {} in the header",
                self.segment_size
            )));
        }
        if self.payload_capacity != 0 {
            if self.payload_capacity < self.payload_size {
                return Err(corrupt(format!(
                    "payload capacity {} is less than the payload size {}",
                    self.payload_capacity, self.payload_size
                )));
            }
            if self
                .payload_offset
                .checked_add(self.payload_capacity)
                .is_none_or(|end| end > self.segment_size)
            {
                return Err(corrupt(format!(
                    "payload capacity {} at offset {} runs past the segment size {} in the header",
                    self.payload_capacity, self.payload_offset, self.segment_size
                )));
            }
        }
        // The backup copy: as much room as the primary, after it, aligned
        // like it, inside the segment; both copies are accessed in whole
        // 8-byte words, so the room counts in words.
        let capacity = self.capacity().checked_next_multiple_of(8);
        if capacity.is_none_or(|c| {
            !self.backup_offset.is_multiple_of(align)
                || self.backup_offset < self.payload_offset.saturating_add(c)
                || self
                    .backup_offset
                    .checked_add(c)
                    .is_none_or(|end| end > self.segment_size)
        }) {
            return Err(corrupt(format!(
                "backup copy at offset {} does not fit after the payload ({} bytes of room at \
                 offset {}, in 8-byte words) and inside the segment size {}, aligned to {align}",
                self.backup_offset,
                self.capacity(),
                self.payload_offset,
                self.segment_size
            )));
        }
        if self.segment_size > object_size {
            return Err(Error::TooSmall {
                name: name.to_owned(),
                needed: self.segment_size,
                actual: object_size,
                what: "the segment size recorded in its header",
            });
        }
        Ok(())
    }

    /// Checks that the header describes exactly the schema `layout`.
    pub fn check_schema(&self, name: &str, layout: &LayoutDesc, fingerprint: u64) -> Result<()> {
        let same = self.schema_name() == Some(stored_name(layout.name))
            && self.schema_version == layout.version
            && self.fingerprint == fingerprint
            && self.payload_size == layout.size as u64
            && u64::from(self.payload_align) >= layout.align as u64;
        if same {
            return Ok(());
        }
        Err(Error::LayoutMismatch {
            name: name.to_owned(),
            expected: format!(
                "schema `{}` v{} ({} bytes, fingerprint {fingerprint:016x})",
                layout.name, layout.version, layout.size
            ),
            found: self.summary(),
            detail: None,
        })
    }
}

#[cfg(test)]
mod tests;
