//! The rings and queues of a decoded schema, and where they are in the
//! stream area: for tools that open a segment without its Rust type
//! (`shm dump`, `shm inspect`, other languages' clients). The arithmetic
//! is `crate::streams`' (which segment creation uses), over the decoded
//! model.

use super::{Schema, TypeInfo};

/// One ring or queue of a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo<'s> {
    /// The field path, e.g. `events` or `arms[1].log`.
    pub path: String,
    /// `true` for a `Queue`, `false` for a `Ring`.
    pub queue: bool,
    /// The message type.
    pub elem: &'s TypeInfo,
    /// The number of slots.
    pub cap: u64,
    /// Offset of the placeholder in the payload.
    pub payload_offset: u64,
    /// Offset of its region from the start of the stream area (see
    /// [`crate::header::Header::streams_offset`]).
    pub region_offset: u64,
    /// Size of its region.
    pub region_len: u64,
}

impl Schema {
    /// The rings and queues of this schema in stream-area order (field
    /// order, depth first, arrays element by element); `None` if the
    /// sizes overflow (never for a schema that fits a segment).
    pub fn streams(&self) -> Option<Vec<StreamInfo<'_>>> {
        fn ty<'s>(
            t: &'s TypeInfo,
            path: String,
            offset: u64,
            at: &mut u64,
            out: &mut Vec<StreamInfo<'s>>,
        ) -> Option<()> {
            match t {
                TypeInfo::Ring { elem, cap } | TypeInfo::Queue { elem, cap } => {
                    let queue = matches!(t, TypeInfo::Queue { .. });
                    let (size, cap_us) = (
                        usize::try_from(elem.size()).ok()?,
                        usize::try_from(*cap).ok()?,
                    );
                    let len = if queue {
                        crate::streams::queue_region_size(size, cap_us)?
                    } else {
                        crate::streams::region_size(size, cap_us)?
                    } as u64;
                    out.push(StreamInfo {
                        path,
                        queue,
                        elem,
                        cap: *cap,
                        payload_offset: offset,
                        region_offset: *at,
                        region_len: len,
                    });
                    *at = at.checked_add(len)?;
                }
                TypeInfo::Array { elem, len } if holds_stream(elem) => {
                    for i in 0..*len {
                        let off = offset.checked_add(i.checked_mul(elem.size())?)?;
                        ty(elem, format!("{path}[{i}]"), off, at, out)?;
                    }
                }
                TypeInfo::Struct(s) => fields(s, &format!("{path}."), offset, at, out)?,
                _ => {}
            }
            Some(())
        }
        fn fields<'s>(
            s: &'s Schema,
            prefix: &str,
            base: u64,
            at: &mut u64,
            out: &mut Vec<StreamInfo<'s>>,
        ) -> Option<()> {
            for f in &s.fields {
                ty(
                    &f.ty,
                    format!("{prefix}{}", f.name),
                    base.checked_add(f.offset)?,
                    at,
                    out,
                )?;
            }
            Some(())
        }
        let mut out = Vec::new();
        let mut at = 0;
        fields(self, "", 0, &mut at, &mut out)?;
        Some(out)
    }
}

/// Whether `t` is or holds a ring or queue.
fn holds_stream(t: &TypeInfo) -> bool {
    match t {
        TypeInfo::Ring { .. } | TypeInfo::Queue { .. } => true,
        TypeInfo::Array { elem, .. } => holds_stream(elem),
        TypeInfo::Struct(s) => s.fields.iter().any(|f| holds_stream(&f.ty)),
        _ => false,
    }
}
