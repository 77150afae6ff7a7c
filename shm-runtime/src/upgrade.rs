//! Upgrading a segment in place to a newer version of its schema: the
//! mechanism (the rules, which decide whether an open may upgrade, are in
//! [`crate::evolution`]; the byte-level protocol in `docs/FORMAT.md`,
//! "Upgrading in place").
//!
//! # The schema counter
//!
//! An upgrade changes the header's schema fields (fingerprint, schema
//! version, flags, payload size, descriptor offset and length: the 8-byte
//! words at 16..64 and 112..120) while other processes may be opening the
//! segment. It does so like a seqlock writer whose "data" is those words,
//! guarded by `schema_seq` (offset 200), with one addition: before making
//! `schema_seq` odd it writes the new values to the *staged* fields
//! (208..240), so that while `schema_seq` is odd the staged fields are a
//! complete, consistent description of the new schema
//! ([`Header::effective`]). An opener
//!
//! ```text
//! g1 = schema_seq.load(Acquire)
//! copy the header (atomic loads), take the effective one, copy its descriptor
//! fence(Acquire); g2 = schema_seq.load(Relaxed)
//! g1 == g2  =>  the copy is consistent, else retry
//! ```
//!
//! and the upgrader (holding write access, so it is the only one)
//!
//! ```text
//! g = schema_seq (even); fence(Release)
//! write the new fields' defaults (payload bytes no reader of the old schema reads)
//! write the new descriptor into unused bytes of the descriptor area
//! write the staged fields
//! schema_seq.store(g + 1, Release); fence(Release)
//! rewrite the header words from the staged fields
//! schema_seq.store(g + 2, Release)
//! ```
//!
//! If the opener's copy observed any store of an upgrade, its acquire fence
//! synchronises with the release fence before that store, so `g2` is at
//! least the counter value the upgrader had read or stored before it, which
//! is later than `g1` unless the copy came entirely after it: the copy is
//! rejected. If `g1` is even, the header words it reads are the ones
//! published by the release store of `g1` (the last upgrade's step `g + 2`),
//! with the descriptor they point to, which no later upgrade overwrites
//! before making the counter odd; if `g1` is odd, the staged fields and the
//! new descriptor, both written before the release store of `g1`. So an
//! opener sees the old schema or the new one, never a mix. The payload
//! bytes of the old schema are not touched, so readers of the old version
//! attached meanwhile are unaffected; the defaults of the new fields
//! happen-before any opener that sees the new schema.
//!
//! An upgrader that dies after making `schema_seq` odd leaves a segment
//! whose effective header is the new one (openers use the staged fields);
//! the next upgrader finishes its work before its own
//! ([`finish_interrupted_upgrade`]). Openers read through
//! `Mapping::consistent`, the reader side of the schema counter.

use std::sync::atomic::{Ordering, fence};
use std::time::Duration;

use crate::error::Result;
use crate::evolution::{self, Admit, Compat};
use crate::field::SharedLayout;
use crate::header::{FLAG_OLDER_WRITERS, HEADER_SIZE, Header, SchemaFields, off};
use crate::layout::encode_descriptor;
use crate::mapping::Mapping;
use crate::protocol;
use crate::validate;
use crate::words;

/// Write access held for the length of an upgrade, released on drop.
struct UpgradeClaim<'a>(&'a Mapping);

impl Drop for UpgradeClaim<'_> {
    fn drop(&mut self) {
        self.0.release_writer();
    }
}

/// Claims write access for an upgrade and repairs a write a dead writer
/// left unfinished ([`Mapping::claim_and_repair`]).
fn claim<'a>(map: &'a Mapping, header: &Header, wait: Duration) -> Result<UpgradeClaim<'a>> {
    map.claim_and_repair(header, wait, 0)?;
    Ok(UpgradeClaim(map))
}

/// Upgrades the segment in place to `T`'s schema (see the module docs),
/// the fields new in `T` starting as in `initial` (else zero), waiting at
/// most `writer_wait` for write access.
pub(crate) fn upgrade<T: SharedLayout>(
    map: &Mapping,
    initial: Option<&T>,
    writer_wait: Duration,
) -> Result<(Header, Compat)> {
    let display = map.display();
    let len = map.len() as u64;
    let (header, found) = validate::image::<T>(display, len, &mut map.reader())?;
    // A segment without room is reported as such, whoever holds write
    // access.
    if let Admit::Upgrade(schema) =
        evolution::admit(display, &header, found, &T::LAYOUT, false, true)?
        && let Some(obstacle) =
            evolution::upgrade_obstacle(&header, &T::LAYOUT, encode_descriptor(&T::LAYOUT).len())
    {
        return Err(evolution::older(
            display,
            &schema,
            &T::LAYOUT,
            format!("it cannot be upgraded in place: {obstacle}"),
        ));
    }
    let _claim = claim(map, &header, writer_wait)?;
    // With write access nobody else changes the schema: look again, as
    // another process may have upgraded the segment meanwhile.
    let (header, found) = validate::image::<T>(display, len, &mut map.reader())?;
    let schema = match evolution::admit(display, &header, found, &T::LAYOUT, false, true)? {
        Admit::Open(compat) => return Ok((header, compat)),
        Admit::Upgrade(schema) => schema,
    };
    finish_interrupted_upgrade(map);
    let descriptor = encode_descriptor(&T::LAYOUT);
    if let Some(obstacle) = evolution::upgrade_obstacle(&header, &T::LAYOUT, descriptor.len()) {
        return Err(evolution::older(
            display,
            &schema,
            &T::LAYOUT,
            format!("it cannot be upgraded in place: {obstacle}"),
        ));
    }
    let Some(slot) = evolution::descriptor_slot(&header, descriptor.len()) else {
        unreachable!("upgrade_obstacle checked the descriptor area")
    };
    // `validate` proved payload_offset + capacity <= backup_offset and
    // backup_offset + capacity <= segment_size <= len, and
    // `upgrade_obstacle` size_of::<T>() <= capacity.
    let old_size = header.payload_size as usize;
    let new_size = size_of::<T>();
    let fields = SchemaFields {
        fingerprint: T::FINGERPRINT,
        schema_version: T::LAYOUT.version,
        flags: (header.flags & !FLAG_OLDER_WRITERS)
            | if T::OLDER_WRITERS {
                FLAG_OLDER_WRITERS
            } else {
                0
            },
        payload_size: new_size as u64,
        descriptor_offset: slot as u32,
        descriptor_len: descriptor.len() as u32,
    };
    let counter = map.word64(off::SCHEMA_SEQ);
    let g = counter.load(Ordering::Acquire);
    let staged = Header {
        staged: fields,
        ..header.clone()
    }
    .encode();
    let after = Header {
        schema_seq: g.wrapping_add(2),
        staged: fields,
        ..header.with_schema_fields(fields)
    };
    let new_words = after.encode();
    // The new fields, as one write into the copy that is not the latest
    // (readers of the old schema do not read these bytes; readers of the
    // new one only start after the switch below, and only ever read a copy
    // written whole at the new size: this one, until the next write
    // rewrites the other one whole).
    let copies = map.copies(&header, new_size)?;
    // The whole new value, stored as whole words like every write: the new
    // fields from `initial` (or zero), the old ones as they are (only the
    // holder of write access changes them).
    let mut value = vec![0u8; new_size];
    if let Some(v) = initial {
        // SAFETY: `T: ShmSafe` has no padding, so all `new_size` bytes of
        // the private `*v` are initialised; `value` has room for them.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (v as *const T).cast::<u8>(),
                value.as_mut_ptr(),
                new_size,
            )
        };
    }
    // SAFETY: write access is ours; `value` is private and `new_size`
    // bytes; the copy's words up to `new_size` are inside the mapping.
    unsafe {
        words::load_words(
            copies.ptr(protocol::latest_for_writer(&copies)),
            value.as_mut_ptr(),
            old_size,
        )
    };
    // SAFETY: write access is ours, `value` holds `new_size` bytes.
    unsafe { protocol::write(&copies, value.as_ptr()) };
    let base = map.backing().base().as_ptr();
    fence(Ordering::Release);
    // SAFETY: the mapping is read-write (a read-only open never upgrades)
    // and `len` bytes long; `validate` and `upgrade_obstacle` proved that
    // `slot + descriptor.len()` is within it, and the header words are
    // inside the header. Every store is atomic; the bytes written are ones
    // no reader uses yet (an unused part of the descriptor area, the staged
    // fields) until the counter says so, and then the header words, which
    // openers re-check.
    unsafe {
        words::store_bytes(
            base.add(slot as usize),
            descriptor.as_ptr(),
            descriptor.len(),
        );
        store_words(
            base,
            &staged,
            off::STAGED_FINGERPRINT,
            off::STAGED_DESCRIPTOR_LEN + 4,
        );
        counter.store(g.wrapping_add(1), Ordering::Release);
        fence(Ordering::Release);
        store_schema_words(base, &new_words);
    }
    counter.store(g.wrapping_add(2), Ordering::Release);
    // The defaults were written as writes: tell the waiters.
    map.wake();
    Ok((
        after,
        Compat::Upgraded {
            from_version: schema.version,
        },
    ))
}

/// Stores `bytes[from..to]` of an encoded header at the same offsets of the
/// mapped header, as the 8-byte words openers load.
///
/// # Safety
///
/// `base` is a writable mapping of at least [`HEADER_SIZE`] bytes whose
/// header is only accessed atomically; `from` and `to` are multiples of 8.
unsafe fn store_words(base: *mut u8, bytes: &[u8; HEADER_SIZE], from: usize, to: usize) {
    debug_assert!(from.is_multiple_of(8) && to.is_multiple_of(8) && to <= HEADER_SIZE);
    // SAFETY: forwarded from the caller; `from..to` is inside the header.
    unsafe { words::store_bytes(base.add(from), bytes[from..].as_ptr(), to - from) };
}

/// Stores the words of an encoded header that hold the schema fields:
/// 16..64 (fingerprint to descriptor length) and 112..120 (creator pid and
/// flags).
///
/// # Safety
///
/// As for [`store_words`]; the caller holds write access and has made
/// the schema counter odd.
unsafe fn store_schema_words(base: *mut u8, bytes: &[u8; HEADER_SIZE]) {
    // SAFETY: forwarded from the caller.
    unsafe {
        store_words(base, bytes, off::FINGERPRINT, off::SCHEMA_NAME);
        store_words(base, bytes, off::CREATOR_PID, off::CREATED_NANOS);
    }
}

/// If an upgrader died after making the schema counter odd (its staged
/// fields are in force, see the module docs), copies the staged fields to
/// the header words and makes the counter even, as it would have. The
/// caller holds write access and has validated the effective header.
fn finish_interrupted_upgrade(map: &Mapping) {
    let counter = map.word64(off::SCHEMA_SEQ);
    let g = counter.load(Ordering::Acquire);
    if g & 1 == 0 {
        return;
    }
    let base = map.backing().base().as_ptr();
    let mut bytes = [0u8; HEADER_SIZE];
    // The header is inside the mapping: this cannot fail.
    let _ = validate::read_header_bytes(&mut map.reader(), &mut bytes);
    let fixed = Header::decode(&bytes).effective().encode();
    fence(Ordering::Release);
    // SAFETY: as for `store_schema_words`: a writable mapping (only a
    // read-write open upgrades), write access held, the counter odd.
    unsafe { store_schema_words(base, &fixed) };
    counter.store(g.wrapping_add(1), Ordering::Release);
}

// Every field an upgrade changes lies in the words `store_schema_words`
// rewrites, and the staged fields fit in the header.
const _: () = assert!(
    off::FINGERPRINT == 16
        && off::DESCRIPTOR_LEN + 4 == off::SCHEMA_NAME
        && off::FLAGS + 4 == off::CREATED_NANOS
        && off::CREATOR_PID + 4 == off::FLAGS
        && off::STAGED_DESCRIPTOR_LEN + 4 <= off::BACKUP_SEQ
);
