//! Opening a segment without knowing its Rust type (for tools such as the
//! `shm` command): everything comes from the header and the descriptor.

use std::time::{Duration, Instant};

use crate::backend::{self, Disposition, Request};
use crate::descriptor::{self, Schema, Value, ValueView};
use crate::error::{Error, Result};
use crate::header::{HEADER_SIZE, Header};
use crate::mapping::Mapping;
use crate::name::SegmentId;
use crate::options::Options;
use crate::process;
use crate::protocol::version_of;
use crate::status::Status;

/// Largest payload `RawSegment::read_bytes` copies (1 GiB).
const MAX_RAW_READ: u64 = 1 << 30;

/// A segment opened read-only by its header and schema descriptor, without
/// its Rust type.
///
/// Opening validates the header against the object's real size, and the
/// descriptor (decoded, strictly checked, and hashed against the header's
/// fingerprint). The payload is read only through consistent snapshots
/// ([`RawSegment::read_bytes`]), with the same protocol as `Shared::read`.
pub struct RawSegment {
    map: Mapping,
    header: Header,
    descriptor: Vec<u8>,
    schema: Schema,
    read_timeout: Duration,
}

impl std::fmt::Debug for RawSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSegment")
            .field("segment", &self.map.display())
            .field("schema", &self.schema.name)
            .finish_non_exhaustive()
    }
}

impl RawSegment {
    /// Opens the existing segment `opts` names, read-only (the disposition
    /// and mode of `opts` are ignored; its timeouts apply).
    ///
    /// ```no_run
    /// let seg = shm_runtime::RawSegment::open(&shm_runtime::Options::posix("MyShare"))?;
    /// println!("{} = {}", seg.schema().name, seg.read_value()?);
    /// # Ok::<(), shm_runtime::Error>(())
    /// ```
    pub fn open(opts: &Options) -> Result<RawSegment> {
        let display = opts.id.to_string();
        if opts.id == SegmentId::Memory {
            return Err(Error::Unsupported {
                name: display,
                what: "opening process-private memory by name".into(),
            });
        }
        let req = Request {
            display: &display,
            disposition: Disposition::OpenExisting,
            mode: opts.mode,
            size: HEADER_SIZE,
            read_only: true,
            deadline: process::deadline(Instant::now(), opts.open_timeout),
            allow_foreign: true,
        };
        let map = Mapping::new(
            backend::open(&opts.id, &req)?,
            display.clone(),
            opts.id.clone(),
        );
        let (header, descriptor) = map.attach_header(req.deadline, opts.open_timeout)?;
        let schema = descriptor::from_segment(&header, &descriptor)
            .map_err(|e| e.into_error(map.display()))?;
        Ok(RawSegment {
            map,
            header,
            descriptor,
            schema,
            read_timeout: opts.read_timeout,
        })
    }

    /// The segment's display name, e.g. `posix:/MyShare`.
    pub fn name(&self) -> &str {
        self.map.display()
    }

    /// The segment's identity.
    pub fn id(&self) -> &SegmentId {
        self.map.id()
    }

    /// The validated header copied at open.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The validated schema from the segment's descriptor.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The descriptor's bytes as found in the segment (validated).
    pub fn descriptor_bytes(&self) -> &[u8] {
        &self.descriptor
    }

    /// The number of writes completed so far (as `Shared::version`).
    pub fn version(&self) -> u64 {
        self.map.version()
    }

    /// A consistent snapshot of the payload bytes, and its version (the
    /// number of the write that produced it, as
    /// `Shared::read_with_version`).
    pub fn read_bytes_with_version(&self) -> Result<(Vec<u8>, u64)> {
        // `Header::validate` proved payload_offset + payload_size <=
        // segment_size <= the mapping's length, so it fits in usize.
        let len = self.header.payload_size as usize;
        // The size comes from the segment; an object can be far larger than
        // memory (a sparse file). Refuse rather than abort on allocation.
        if self.header.payload_size > MAX_RAW_READ {
            return Err(Error::Unsupported {
                name: self.map.display().to_owned(),
                what: format!(
                    "reading a {}-byte payload without its type (at most {MAX_RAW_READ})",
                    self.header.payload_size
                ),
            });
        }
        let mut out = Vec::new();
        out.try_reserve_exact(len).map_err(|_| Error::NoSpace {
            name: self.map.display().to_owned(),
            size: len as u64,
            reason: "not enough memory for a copy of the payload".into(),
        })?;
        out.resize(len, 0);
        let copies = self.map.copies(&self.header, len)?;
        // SAFETY: `copies` came from this mapping and is `len` bytes per
        // copy; `out` is private and `len` bytes long.
        let seq = unsafe {
            self.map
                .read_snapshot(&copies, out.as_mut_ptr(), self.read_timeout)?
        };
        Ok((out, version_of(seq)))
    }

    /// A consistent snapshot of the payload bytes.
    pub fn read_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.read_bytes_with_version()?.0)
    }

    /// A consistent snapshot decoded by field name (payloads up to
    /// [`descriptor::MAX_DECODE_BYTES`]).
    pub fn read_value(&self) -> Result<Value<'_>> {
        if self.schema.size > descriptor::MAX_DECODE_BYTES {
            return Err(self.too_large_to_decode());
        }
        let bytes = self.read_bytes()?;
        self.decode(&bytes)
    }

    /// Decodes payload bytes (from [`RawSegment::read_bytes_with_version`]) by
    /// field name.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value<'_>> {
        if self.schema.size > descriptor::MAX_DECODE_BYTES {
            return Err(self.too_large_to_decode());
        }
        self.schema
            .decode_value(bytes)
            .ok_or_else(|| Error::Corrupt {
                name: self.map.display().to_owned(),
                what: "payload is smaller than its schema".into(),
            })
    }

    /// Payload bytes (from [`RawSegment::read_bytes_with_version`]) read by
    /// field name in place, for printing or serialising without decoding
    /// the whole value into memory (see [`ValueView`]).
    pub fn view<'a>(&'a self, bytes: &'a [u8]) -> Result<ValueView<'a>> {
        self.schema.view(bytes).ok_or_else(|| Error::Corrupt {
            name: self.map.display().to_owned(),
            what: "payload is smaller than its schema".into(),
        })
    }

    fn too_large_to_decode(&self) -> Error {
        Error::Unsupported {
            name: self.map.display().to_owned(),
            what: format!(
                "decoding a {}-byte payload by field name (at most {})",
                self.schema.size,
                descriptor::MAX_DECODE_BYTES
            ),
        }
    }

    /// The whole aligned 8-byte word at offset `at` of the stream area
    /// (the rings and queues, which snapshots do not cover), loaded
    /// atomically with acquire ordering. `None` unless `at` is a multiple of
    /// 8 and the word lies between [`Header::streams_offset`] and the end of
    /// both the segment and the mapping. The value is whatever the segment
    /// holds: check it before trusting it.
    pub fn stream_word(&self, at: u64) -> Option<u64> {
        let at = self.stream_range(at, 8)?;
        // SAFETY: `stream_range` checked that the word is inside the
        // mapping and 8-aligned (the mapping is page-aligned); the stream
        // area is only ever accessed as whole aligned 8-byte atomic words.
        let w = unsafe {
            std::sync::atomic::AtomicU64::from_ptr(
                self.map.backing().base().as_ptr().add(at).cast(),
            )
        };
        Some(w.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Copies `dst.len()` bytes of the stream area at offset `at` (a
    /// multiple of 8) with relaxed whole aligned 8-byte atomic loads, as
    /// [`RawSegment::stream_word`] bounds it; `false` (and nothing copied)
    /// outside it. The bytes may be torn by a concurrent writer: pair the
    /// copy with the protocol's sequence words and an acquire fence.
    pub fn stream_bytes(&self, at: u64, dst: &mut [u8]) -> bool {
        let Some(at) = self.stream_range(at, dst.len() as u64) else {
            return false;
        };
        self.map.reader()(at, dst)
    }

    /// `at..at + len` as mapping offsets, if 8-aligned and inside the stream
    /// area, the segment and the mapping.
    fn stream_range(&self, at: u64, len: u64) -> Option<usize> {
        let start = self.header.streams_offset()?;
        let end = at.checked_add(len)?;
        (at >= start
            && at.is_multiple_of(8)
            && end <= self.header.segment_size
            && end <= self.map.len() as u64)
            .then_some(at as usize)
    }

    /// The operating-system status and the header facts.
    pub fn status(&self) -> Result<Status> {
        self.map.status(&self.header)
    }
}
