//! Where a ring's or a queue's region lies in the mapping: the one checked
//! lookup that both [`crate::ring`] and [`crate::queue`] handles make before
//! they touch a region.

use crate::__private::type_eq;
use crate::error::{Error, Result};
use crate::field::{Access, Field, ReadOnly, SharedLayout, ShmSafe};
use crate::shared::Shared;
use crate::streams::{places, streams_offset};

impl<S: SharedLayout, A: Access> Shared<S, A> {
    /// The offset in the mapping where the region of the stream field that
    /// `pick` returns starts (`kind`: "ring" or "queue"; `len`: the
    /// region's size, `None` if it overflows), after checking that the
    /// field is an `X` of this schema, and that its `len` bytes lie inside
    /// the segment and the mapping, 8-aligned.
    pub(crate) fn stream_start<'s, X: ShmSafe>(
        &'s self,
        kind: &str,
        len: Option<usize>,
        pick: impl FnOnce(S::Fields<'s, ReadOnly>) -> Field<'s, X, ReadOnly>,
    ) -> Result<usize> {
        let (map, primary) = self.parts();
        // SAFETY: the primary copy is a `S` inside the mapping, aligned and
        // only accessed atomically (`Shared::from_mapping`).
        let fields = S::Fields::from(unsafe { Field::<S, ReadOnly>::from_raw(primary) });
        let at = (pick(fields).as_ptr() as usize).wrapping_sub(primary.as_ptr() as usize);
        let all = places(&S::LAYOUT).unwrap_or_default();
        let place = all
            .iter()
            .find(|p| p.offset == at && type_eq(&p.ty, &X::TYPE))
            .ok_or_else(|| Error::Unsupported {
                name: self.name().to_owned(),
                what: format!(
                    "a {kind} at payload offset {at}: schema `{}` has no `{}` field there \
                     (pick a {kind} field of this handle's fields)",
                    S::LAYOUT.name,
                    core::any::type_name::<X>()
                ),
            })?;
        let h = self.header();
        let too_small = || Error::Corrupt {
            name: self.name().to_owned(),
            what: format!(
                "the segment ({} bytes mapped) has no room for the {kind} at payload offset {at} \
                 (stream offset {}, {} bytes) after the payload copies",
                map.len(),
                place.stream,
                place.len
            ),
        };
        let area = usize::try_from(h.backup_offset)
            .ok()
            .zip(usize::try_from(h.capacity()).ok())
            .and_then(|(b, c)| streams_offset(b, c));
        let start = area
            .and_then(|s| s.checked_add(place.stream))
            .ok_or_else(too_small)?;
        let len = len.ok_or_else(too_small)?;
        let past_end = start
            .checked_add(len)
            .is_none_or(|end| end as u64 > h.segment_size);
        // A creator counts every ring and queue of its schema in
        // `segment_size`, so a region that starts at or past it belongs to
        // a version newer than the creator's: a segment upgraded in place
        // (by this handle or by another program before it opened).
        let not_made = start as u64 >= h.segment_size;
        if past_end && (not_made || matches!(self.compat(), crate::Compat::Upgraded { .. })) {
            // Rings and queues keep their places across schema versions
            // (field order; versions append fields), but an upgrade in
            // place does not grow the stream area: this handle upgraded
            // the segment, or the segment ends where an older version
            // ended it (a later handle of an upgraded segment).
            return Err(Error::Unsupported {
                name: self.name().to_owned(),
                what: format!(
                    "this {kind} (stream offset {}): the segment was made by an older version \
                     of schema `{}` without it, and an upgrade in place does not add room for \
                     {kind}s (re-create the segment)",
                    place.stream,
                    S::LAYOUT.name
                ),
            });
        }
        if past_end
            || start.checked_add(len).is_none_or(|end| end > map.len())
            || !start.is_multiple_of(8)
        {
            return Err(too_small());
        }
        Ok(start)
    }
}
