//! Where the rings of a schema go in a segment's stream area: the layout
//! arithmetic shared by segment creation (`header::Plan`) and the ring
//! handles (`crate::ring`, whose documentation describes the area).

use crate::layout::{FieldDesc, LayoutDesc, TypeDesc};

/// Alignment of the stream area and of each ring's region (a cache line).
const LINE: usize = 64;

/// Where the stream area starts: the first cache line after the backup
/// copy's room (`capacity` bytes at `backup_offset`, in whole words).
/// `None` on overflow.
pub(crate) fn streams_offset(backup_offset: usize, capacity: usize) -> Option<usize> {
    backup_offset
        .checked_add(capacity.checked_next_multiple_of(8)?)?
        .checked_next_multiple_of(LINE)
}

/// Bytes of a ring's header line/// Bytes of a ring's header line (the `head` word, then zeros).
pub(crate) const RING_HEADER: usize = 64;

/// The bytes of one slot for messages of `size` bytes: the `seq` word and
/// the message in whole words. `None` on overflow.
pub(crate) fn slot_stride(size: usize) -> Option<usize> {
    size.checked_next_multiple_of(8)?.checked_add(8)
}

/// The bytes of a ring's region: header line and `cap` slots, on whole
/// cache lines. `None` on overflow.
pub(crate) fn region_size(elem_size: usize, cap: usize) -> Option<usize> {
    slot_stride(elem_size)?
        .checked_mul(cap)?
        .checked_add(RING_HEADER)?
        .checked_next_multiple_of(LINE)
}

/// Bytes of a queue's header lines: `tail` on the first, `head` and the
/// consumer's claim word on the second.
pub(crate) const QUEUE_HEADER: usize = 128;

/// The bytes of a queue's region: header lines and `cap` slots of the
/// message in whole words, on whole cache lines. `None` on overflow.
pub(crate) fn queue_region_size(elem_size: usize, cap: usize) -> Option<usize> {
    elem_size
        .checked_next_multiple_of(8)?
        .checked_mul(cap)?
        .checked_add(QUEUE_HEADER)?
        .checked_next_multiple_of(LINE)
}

/// One ring of a schema: where its placeholder is in the payload, its
/// type, and where its region is in the stream area.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place {
    /// Offset of the placeholder in the payload.
    pub(crate) offset: usize,
    /// The ring's type ([`TypeDesc::Ring`] or [`TypeDesc::Queue`]).
    pub(crate) ty: TypeDesc,
    /// Offset of its region from the start of the stream area.
    pub(crate) stream: usize,
    /// Size of its region.
    pub(crate) len: usize,
}

/// The rings of `layout`, in stream-area order; `None` on overflow.
pub(crate) fn places(layout: &LayoutDesc) -> Option<Vec<Place>> {
    fn ty(t: &TypeDesc, offset: usize, at: &mut usize, out: &mut Vec<Place>) -> Option<()> {
        match t {
            TypeDesc::Ring { elem, cap } | TypeDesc::Queue { elem, cap } => {
                let len = match t {
                    TypeDesc::Ring { .. } => region_size(elem.size(), *cap)?,
                    _ => queue_region_size(elem.size(), *cap)?,
                };
                out.push(Place {
                    offset,
                    ty: *t,
                    stream: *at,
                    len,
                });
                *at = at.checked_add(len)?;
            }
            TypeDesc::Array { elem, len } if holds_ring(elem) => {
                for i in 0..*len {
                    ty(
                        elem,
                        offset.checked_add(i.checked_mul(elem.size())?)?,
                        at,
                        out,
                    )?;
                }
            }
            TypeDesc::Struct(l) => fields(l.fields, offset, at, out)?,
            _ => {}
        }
        Some(())
    }
    fn fields(fs: &[FieldDesc], base: usize, at: &mut usize, out: &mut Vec<Place>) -> Option<()> {
        for f in fs {
            ty(&f.ty, base.checked_add(f.offset)?, at, out)?;
        }
        Some(())
    }
    let mut out = Vec::new();
    let mut at = 0;
    fields(layout.fields, 0, &mut at, &mut out)?;
    Some(out)
}

/// Whether `t` is or holds a ring.
fn holds_ring(t: &TypeDesc) -> bool {
    match t {
        TypeDesc::Ring { .. } | TypeDesc::Queue { .. } => true,
        TypeDesc::Array { elem, .. } => holds_ring(elem),
        TypeDesc::Struct(l) => l.fields.iter().any(|f| holds_ring(&f.ty)),
        _ => false,
    }
}

/// The size of `layout`'s stream area (0 without rings); `None` on
/// overflow.
pub(crate) fn streams_size(layout: &LayoutDesc) -> Option<usize> {
    if !layout.fields.iter().any(|f| holds_ring(&f.ty)) {
        return Some(0);
    }
    let p = places(layout)?;
    Some(p.last().map_or(0, |l| l.stream + l.len))
}
