//! Schema evolution: which program may open which segment, and upgrading a
//! segment in place.
//!
//! Long-running systems upgrade one process at a time, so a segment may be
//! written by a newer or an older build of the same schema than the one
//! reading it. A schema declares its older version with
//! `#[shm(version = 2, extends = SensorV1)]`; the derive proves at compile
//! time that `SensorV1`'s layout is a *prefix* of the new one (same schema
//! name, every old field in order with the same name, type and offset, new
//! fields after them, a higher version).
//!
//! # The rules at open time
//!
//! The program's schema `T` (version *p*) is compared with the segment's
//! descriptor (version *s*):
//!
//! | segment | read-only open | read-write open |
//! |---|---|---|
//! | exactly `T` | opens | opens |
//! | same name, *s* > *p*, `T` a prefix of it | opens: `T`'s fields are read, the rest is ignored ([`Compat::Prefix`]) | opens only if the newer schema has `#[shm(older_writers)]` (the segment's header flag); otherwise [`Error::NewerSchema`] |
//! | same name, *s* < *p*, the segment's schema a prefix of `T` | [`Error::OlderSchema`] | with [`Options::upgrade`]`(true)`, and room in the segment: upgraded in place ([`Compat::Upgraded`]); otherwise [`Error::OlderSchema`] saying why |
//! | anything else (another name, same version but another layout, not a prefix) | [`Error::LayoutMismatch`] naming the first difference | the same |
//!
//! Prefixes are judged on the segment's descriptor, not on version numbers
//! alone, so two programs agree exactly when their layouts do.
//!
//! **Older writers.** A program whose `T` is a prefix of the segment's
//! schema writes only `T`'s bytes, at the start of the payload, with the
//! usual snapshot protocol (one write at a time; readers see a write
//! completely or not at all); the newer fields keep their values. Whether
//! that is *meaningful* depends on the schema (a newer field may be derived
//! from older ones, and an older writer would leave it stale), so the newer
//! schema must opt in with `#[shm(older_writers)]`. Read-only access needs
//! no permission.
//!
//! **Upgrading in place.** [`Options::upgrade`]`(true)` lets a read-write
//! open of an older segment turn it into `T`'s schema, if
//! - the segment has room: its payload capacity (recorded in the header;
//!   set with `#[shm(capacity = N)]` or [`Options::capacity`] when it was
//!   created) is at least `size_of::<T>()`, its payload alignment at least
//!   `T`'s, and the descriptor area has room for `T`'s descriptor next to
//!   the current one;
//! - and the new fields have defaults: they start as zero bytes, or, with
//!   [`Options::open_with`], as in the given value (whose older fields are
//!   ignored: the segment's values are kept).
//!
//! The upgrade holds the write lock (the snapshot protocol's counter is odd
//! throughout), so no write runs meanwhile. It writes the new fields'
//! defaults and the new descriptor into unused bytes, stages the new schema
//! fields in the header, and switches the header to them with the header's
//! schema counter (see `docs/FORMAT.md`, "Upgrading in place"): an opener
//! sees either the old schema or the new one, never a mix, and readers of
//! the older version that are attached meanwhile keep reading the same
//! bytes, which the upgrade does not touch. Afterwards older programs are
//! newer-segment openers as in the table (read-only unless the new schema
//! allows older writers).
//!
//! # Limits
//!
//! - A handle keeps the schema it was opened with: one opened before an
//!   upgrade goes on reading (and, if it is read-write, writing) its
//!   prefix, which stays correct byte for byte; the policy of the new
//!   version (`older_writers` or not) applies to opens after the upgrade.
//!   An upgrade needs the write lock only for its own duration; keeping a
//!   live older writer out altogether needs exclusive write access
//!   (one writer per segment).
//! - Only the payload's room can grow: the payload does not move, so a
//!   segment without room (created before any version reserved it) cannot
//!   be upgraded in place; create a new one.
//! - Versions are a line: `extends` names one older version, and a
//!   segment can be upgraded from any version whose layout is a prefix of
//!   the program's, skipping versions in between.
//! - A nested struct cannot grow (its size is part of the outer layout);
//!   add new fields to the outer struct.
//!
//! [`Options::upgrade`]: crate::Options::upgrade
//! [`Options::capacity`]: crate::Options::capacity
//! [`Options::open_with`]: crate::Options::open_with
//! [`Error::NewerSchema`]: crate::Error::NewerSchema
//! [`Error::OlderSchema`]: crate::Error::OlderSchema
//! [`Error::LayoutMismatch`]: crate::Error::LayoutMismatch

use crate::descriptor::{self, Schema};
use crate::error::{Error, Result};
use crate::header::{FLAG_OLDER_WRITERS, HEADER_SIZE, Header};
use crate::layout::LayoutDesc;

/// How a handle's schema relates to its segment's, as found when it was
/// opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compat {
    /// The segment holds exactly this schema.
    Exact,
    /// The segment holds a newer version of this schema; the handle reads
    /// (and, if the newer version allows older writers, writes) its prefix.
    Prefix {
        /// The segment's schema version.
        segment_version: u32,
    },
    /// The segment held an older version and this open upgraded it in place
    /// to this schema.
    Upgraded {
        /// The schema version the segment had.
        from_version: u32,
    },
}

/// What a segment's schema is to the program's.
#[derive(Debug)]
pub(crate) enum Found {
    /// Exactly the program's.
    Same,
    /// A newer version of which the program's is a prefix.
    Newer(Schema),
    /// An older version that is a prefix of the program's.
    Older(Schema),
}

/// Compares the segment (its validated header and its descriptor bytes)
/// with the program's `layout`: [`Found`], or [`Error::LayoutMismatch`]
/// naming the first difference.
pub(crate) fn classify(
    display: &str,
    header: &Header,
    desc: &[u8],
    layout: &LayoutDesc,
    fingerprint: u64,
) -> Result<Found> {
    let mismatch = match descriptor::check_open(display, header, desc, layout, fingerprint) {
        Ok(()) => return Ok(Found::Same),
        Err(e @ Error::LayoutMismatch { .. }) => e,
        Err(e) => return Err(e),
    };
    let schema = descriptor::from_segment(header, desc).map_err(|e| e.into_error(display))?;
    if schema.name != layout.name || schema.version == layout.version {
        return Err(mismatch);
    }
    let program = Schema::from_layout(layout);
    let newer = schema.version > layout.version;
    let difference = if newer {
        descriptor::prefix_difference(&program, &schema, true)
    } else {
        descriptor::prefix_difference(&schema, &program, false)
    };
    match (difference, mismatch) {
        (None, _) if newer => Ok(Found::Newer(schema)),
        (None, _) => Ok(Found::Older(schema)),
        (
            Some(d),
            Error::LayoutMismatch {
                name,
                expected,
                found,
                ..
            },
        ) => Err(Error::LayoutMismatch {
            name,
            expected,
            found,
            detail: Some(d),
        }),
        (Some(_), e) => Err(e),
    }
}

/// What to do with a segment that [`classify`] accepted.
#[derive(Debug)]
pub(crate) enum Admit {
    /// Use it as it is.
    Open(Compat),
    /// Upgrade it from this older schema first.
    Upgrade(Schema),
}

/// The open-time rules (see the module docs) for a segment `found` to be
/// what it is, opened `read_only` or not, with upgrades allowed or not.
pub(crate) fn admit(
    display: &str,
    header: &Header,
    found: Found,
    layout: &LayoutDesc,
    read_only: bool,
    upgrade: bool,
) -> Result<Admit> {
    match found {
        Found::Same => Ok(Admit::Open(Compat::Exact)),
        Found::Newer(schema) => {
            // The prefix check proved the fields; the payload must also hold
            // all of `T` at an alignment it accepts.
            if header.payload_size < layout.size as u64
                || u64::from(header.payload_align) < layout.align as u64
            {
                return Err(Error::Corrupt {
                    name: display.to_owned(),
                    what: format!(
                        "schema `{}` v{} describes {} payload bytes aligned to {}, which cannot hold its prefix v{} ({} bytes aligned to {})",
                        schema.name,
                        schema.version,
                        header.payload_size,
                        header.payload_align,
                        layout.version,
                        layout.size,
                        layout.align
                    ),
                });
            }
            if read_only || header.flags & FLAG_OLDER_WRITERS != 0 {
                Ok(Admit::Open(Compat::Prefix {
                    segment_version: schema.version,
                }))
            } else {
                Err(Error::NewerSchema {
                    name: display.to_owned(),
                    schema: schema.name,
                    segment_version: schema.version,
                    program_version: layout.version,
                })
            }
        }
        Found::Older(schema) if upgrade && !read_only => Ok(Admit::Upgrade(schema)),
        Found::Older(schema) => {
            let obstacle = upgrade_obstacle(header, layout, encoded_len(layout))
                .map(|o| format!(" (and it cannot be: {o})"))
                .unwrap_or_default();
            let reason = if read_only {
                format!(
                    "a read-only handle does not upgrade it; a read-write open with `Options::upgrade(true)` can{obstacle}"
                )
            } else {
                format!("open it with `Options::upgrade(true)` to upgrade it in place{obstacle}")
            };
            Err(older(display, &schema, layout, reason))
        }
    }
}

/// [`Error::OlderSchema`] for `schema` in the segment and the program's `layout`.
pub(crate) fn older(display: &str, schema: &Schema, layout: &LayoutDesc, reason: String) -> Error {
    Error::OlderSchema {
        name: display.to_owned(),
        schema: schema.name.clone(),
        segment_version: schema.version,
        program_version: layout.version,
        reason,
    }
}

/// The length of `layout`'s descriptor.
pub(crate) fn encoded_len(layout: &LayoutDesc) -> usize {
    let mut e = crate::layout::Encoder::hashing();
    e.descriptor(layout);
    e.len()
}

/// Why the segment with `header` cannot be upgraded in place to `layout`
/// (whose descriptor is `desc_len` bytes), or `None` if it can.
pub(crate) fn upgrade_obstacle(
    header: &Header,
    layout: &LayoutDesc,
    desc_len: usize,
) -> Option<String> {
    let capacity = header.capacity();
    if (layout.size as u64) > capacity {
        return Some(format!(
            "its payload has room for {capacity} bytes and v{} needs {}; create segments with \
             room to grow with `#[shm(capacity = N)]` or `Options::capacity(N)`",
            layout.version, layout.size
        ));
    }
    if u64::from(header.payload_align) < layout.align as u64 {
        return Some(format!(
            "its payload is aligned to {} bytes and v{} needs {}",
            header.payload_align, layout.version, layout.align
        ));
    }
    if descriptor_slot(header, desc_len).is_none() {
        return Some(format!(
            "its descriptor area ({} bytes, {} of them in use) has no room for the {desc_len}-byte \
             descriptor of v{}",
            header.payload_offset - HEADER_SIZE as u64,
            header.descriptor_len,
            layout.version
        ));
    }
    None
}

/// Where a new descriptor of `len` bytes goes during an upgrade: in the
/// descriptor area (from the end of the header to the payload) without
/// overlapping the current descriptor, which openers may still be reading:
/// at the end of the area if it fits after the current one, else at its
/// start if it fits before it. (So successive upgrades alternate between
/// the two ends.)
pub(crate) fn descriptor_slot(header: &Header, len: usize) -> Option<u64> {
    let len = len as u64;
    let start = HEADER_SIZE as u64;
    let end = header.payload_offset;
    let cur_start = u64::from(header.descriptor_offset);
    let cur_end = cur_start.checked_add(u64::from(header.descriptor_len))?;
    if end.checked_sub(len).is_some_and(|at| at >= cur_end) {
        return end.checked_sub(len);
    }
    start
        .checked_add(len)
        .is_some_and(|e| e <= cur_start)
        .then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Plan;
    use crate::layout::{FieldDesc, Prim, TypeDesc, encode_descriptor, fingerprint};

    const fn f(name: &'static str, offset: usize, p: Prim) -> FieldDesc {
        FieldDesc {
            name,
            offset,
            size: p.size(),
            ty: TypeDesc::Prim(p),
        }
    }

    static V1: LayoutDesc = LayoutDesc {
        name: "S",
        version: 1,
        size: 8,
        align: 4,
        fields: &[f("a", 0, Prim::U32), f("b", 4, Prim::U32)],
    };
    static V2: LayoutDesc = LayoutDesc {
        name: "S",
        version: 2,
        size: 16,
        align: 8,
        fields: &[
            f("a", 0, Prim::U32),
            f("b", 4, Prim::U32),
            f("c", 8, Prim::U64),
        ],
    };
    static BAD: LayoutDesc = LayoutDesc {
        name: "S",
        version: 3,
        size: 8,
        align: 4,
        fields: &[f("a", 0, Prim::U32), f("b", 4, Prim::I32)],
    };

    fn segment(l: &LayoutDesc, capacity: usize) -> (Header, Vec<u8>) {
        let desc = encode_descriptor(l);
        let plan = Plan::with_capacity(l, desc.len(), capacity).unwrap();
        let mut h = Header::new(l, fingerprint(l), &plan, 1, 1);
        h.state = crate::header::STATE_READY;
        (h, desc)
    }

    fn classify_as(l: &LayoutDesc, seg: &LayoutDesc) -> Result<Found> {
        let (h, d) = segment(seg, 0);
        classify("t", &h, &d, l, fingerprint(l))
    }

    #[test]
    fn versions_are_classified_by_their_layouts() {
        assert!(matches!(classify_as(&V1, &V1), Ok(Found::Same)));
        assert!(matches!(classify_as(&V1, &V2), Ok(Found::Newer(s)) if s.version == 2));
        assert!(matches!(classify_as(&V2, &V1), Ok(Found::Older(s)) if s.version == 1));
        let e = classify_as(&V1, &BAD).unwrap_err().to_string();
        assert!(
            e.contains(
                "field `b`: this program expects u32 at offset 4, the segment has i32 at offset 4"
            ),
            "{e}"
        );
        let e = classify_as(&BAD, &V2).unwrap_err().to_string();
        assert!(e.contains("field `b`"), "{e}");
        let other = LayoutDesc { name: "T", ..V2 };
        let e = classify_as(&V1, &other).unwrap_err().to_string();
        assert!(e.contains("the segment holds `T`"), "{e}");
    }

    #[test]
    fn rules_by_access() {
        let (h, _) = segment(&V2, 0);
        let newer = || Found::Newer(Schema::from_layout(&V2));
        assert!(matches!(
            admit("t", &h, newer(), &V1, true, false),
            Ok(Admit::Open(Compat::Prefix { segment_version: 2 }))
        ));
        assert!(matches!(
            admit("t", &h, newer(), &V1, false, false),
            Err(Error::NewerSchema {
                segment_version: 2,
                program_version: 1,
                ..
            })
        ));
        let allowed = Header {
            flags: FLAG_OLDER_WRITERS,
            ..h.clone()
        };
        assert!(matches!(
            admit("t", &allowed, newer(), &V1, false, false),
            Ok(Admit::Open(Compat::Prefix { .. }))
        ));
        let (old, _) = segment(&V1, 0);
        let older = || Found::Older(Schema::from_layout(&V1));
        let e = admit("t", &old, older(), &V2, false, false).unwrap_err();
        let text = e.to_string();
        assert!(matches!(
            e,
            Error::OlderSchema {
                segment_version: 1,
                program_version: 2,
                ..
            }
        ));
        assert!(
            text.contains("upgrade(true)") && text.contains("room for 8 bytes"),
            "{text}"
        );
        assert!(matches!(
            admit("t", &old, older(), &V2, false, true),
            Ok(Admit::Upgrade(_))
        ));
        assert!(admit("t", &old, older(), &V2, true, true).is_err());
    }

    #[test]
    fn upgrades_need_room_for_payload_and_descriptor() {
        let n2 = encoded_len(&V2);
        let (tight, _) = segment(&V1, 0);
        assert!(
            upgrade_obstacle(&tight, &V2, n2)
                .unwrap()
                .contains("room for 8 bytes")
        );
        let (roomy, _) = segment(&V1, 64);
        assert_eq!(roomy.capacity(), 64);
        assert_eq!(upgrade_obstacle(&roomy, &V2, n2), None);
        // The new descriptor goes at the end of the area, the next one at its start.
        let at = descriptor_slot(&roomy, n2).unwrap();
        assert_eq!(at + n2 as u64, roomy.payload_offset);
        let moved = Header {
            descriptor_offset: at as u32,
            descriptor_len: n2 as u32,
            ..roomy.clone()
        };
        assert_eq!(descriptor_slot(&moved, n2), Some(HEADER_SIZE as u64));
        assert_eq!(descriptor_slot(&moved, 1 << 20), None);
    }
}
