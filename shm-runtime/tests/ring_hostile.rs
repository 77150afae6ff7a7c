//! Rings whose words someone else scribbled on (a POSIX segment written
//! through its file): every call returns (bounded work), with a message,
//! a reported loss, nothing, or an error; never a panic, a hang or an
//! out-of-bounds access. And messages of checked types that fail their
//! check are `InvalidValue`, skipped.

#![cfg(target_os = "linux")]
#![allow(missing_docs)]

use std::os::unix::fs::FileExt;

use proptest::prelude::*;
use shm_runtime::{Error, Options, Recv, Ring, Shared, SharedLayout};
use test_support::{Cleanup, unique};

#[derive(SharedLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Pair {
    pub a: u64,
    pub b: u64,
}

#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
pub struct Hostile {
    pub state: u64,
    pub pairs: Ring<Pair, 4>,
    pub flags: Ring<bool, 2>,
}

/// Offset of the stream area of `seg` (see "Streams" in docs/FORMAT.md).
fn streams<A: shm_runtime::Access>(seg: &Shared<Hostile, A>) -> u64 {
    let h = seg.header();
    let s = (h.backup_offset + h.capacity().next_multiple_of(8)).next_multiple_of(64);
    assert_eq!(h.streams_offset(), Some(s));
    s
}

/// The ring regions: `pairs` (64 + 4 slots of 24 bytes = 160 bytes), then
/// `flags` on the next cache line.
const PAIRS: u64 = 0;
const FLAGS: u64 = 192;

fn fresh() -> (String, Cleanup, Shared<Hostile>) {
    let name = unique("ring-hostile");
    let cleanup = Cleanup::posix(&name);
    let seg = Options::posix(&name)
        .create_new()
        .open::<Hostile>()
        .unwrap();
    (name, cleanup, seg)
}

fn poke(name: &str, at: u64, v: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{name}"))
        .unwrap();
    f.write_all_at(&v.to_ne_bytes(), at).unwrap();
}

#[test]
fn the_layout_is_where_format_md_says() {
    let (name, _c, seg) = fresh();
    let s = streams(&seg);
    let p = seg.publisher(|f| f.pairs()).unwrap();
    p.publish(&Pair { a: 1, b: 2 }).unwrap();
    let f = std::fs::File::open(format!("/dev/shm/{name}")).unwrap();
    let word = |at: u64| {
        let mut b = [0u8; 8];
        f.read_exact_at(&mut b, at).unwrap();
        u64::from_ne_bytes(b)
    };
    assert_eq!(word(s + PAIRS), 1, "head");
    assert_eq!(word(s + PAIRS + 64), 2, "slot 0's seq: 2 * 0 + 2");
    assert_eq!(word(s + PAIRS + 72), 1);
    assert_eq!(word(s + PAIRS + 80), 2);
    let len = std::fs::metadata(format!("/dev/shm/{name}")).unwrap().len();
    assert!(len >= s + FLAGS + 64 + 2 * 16, "room for both rings");
}

#[test]
fn a_message_that_fails_its_check_is_an_error_and_skipped() {
    let (name, _c, seg) = fresh();
    let s = streams(&seg);
    let p = seg.publisher(|f| f.flags()).unwrap();
    let mut sub = seg.subscribe(|f| f.flags()).unwrap();
    p.publish(&true).unwrap();
    p.publish(&false).unwrap();
    // Message 0's byte becomes 7: not a bool.
    poke(&name, s + FLAGS + 64 + 8, 7);
    let e = sub.try_recv().unwrap_err();
    assert!(matches!(e, Error::InvalidValue { .. }), "{e}");
    assert_eq!(sub.try_recv().unwrap(), Some(Recv::Msg(false)));
}

#[test]
fn an_error_after_messages_ends_the_batch_and_comes_next() {
    let (name, _c, seg) = fresh();
    let s = streams(&seg);
    // A checked type: message 1 fails its check.
    let p = seg.publisher(|f| f.flags()).unwrap();
    let mut sub = seg.subscribe(|f| f.flags()).unwrap();
    p.publish(&true).unwrap();
    p.publish(&false).unwrap();
    poke(&name, s + FLAGS + 64 + 16 + 8, 7);
    let mut out = [false; 8];
    assert_eq!(sub.recv_batch(&mut out).unwrap(), (1, 0), "message 0 kept");
    assert!(out[0]);
    let e = sub.recv_batch(&mut out).unwrap_err();
    assert!(matches!(e, Error::InvalidValue { .. }), "{e}");
    assert_eq!(sub.recv_batch(&mut out).unwrap(), (0, 0));
    assert_eq!(sub.position(), 2);

    // A type taking every bit pattern: slot 1 claims a message past the
    // published count.
    let p = seg.publisher(|f| f.pairs()).unwrap();
    let mut sub = seg.subscribe(|f| f.pairs()).unwrap();
    for i in 0..3 {
        p.publish(&Pair { a: i, b: i }).unwrap();
    }
    poke(&name, s + PAIRS + 64 + 24, 2 * 9 + 2);
    let mut out = [Pair { a: 0, b: 0 }; 8];
    assert_eq!(sub.recv_batch(&mut out).unwrap(), (1, 0));
    assert_eq!(out[0], Pair { a: 0, b: 0 });
    for _ in 0..2 {
        let e = sub.recv_batch(&mut out).unwrap_err();
        assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    }
    assert_eq!(sub.position(), 1, "the cursor stays at the corrupt slot");
}

#[test]
fn a_published_count_at_the_end_of_its_range_is_an_error() {
    let (name, _c, seg) = fresh();
    let s = streams(&seg);
    poke(&name, s + PAIRS, u64::MAX);
    let p = seg.publisher(|f| f.pairs()).unwrap();
    let e = p.publish(&Pair { a: 0, b: 0 }).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    // A count that goes back below a subscriber's cursor.
    poke(&name, s + PAIRS, 10);
    let mut sub = seg.subscribe(|f| f.pairs()).unwrap();
    poke(&name, s + PAIRS, 3);
    let e = sub.try_recv().unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any head and slot words: every call returns, a message is one
    /// whose number's slot was read whole, and a subscriber's position only
    /// grows.
    #[test]
    fn any_ring_words_give_messages_losses_or_errors(
        head in prop_oneof![any::<u64>(), 0u64..16, (u64::MAX - 16)..=u64::MAX],
        seqs in proptest::collection::vec(
            prop_oneof![any::<u64>(), 0u64..40, (u64::MAX - 8)..=u64::MAX], 4),
        oldest in any::<bool>(),
        publish in any::<bool>(),
    ) {
        let (name, _c, seg) = fresh();
        let s = streams(&seg);
        poke(&name, s + PAIRS, head);
        for (i, q) in seqs.iter().enumerate() {
            poke(&name, s + PAIRS + 64 + 24 * i as u64, *q);
        }
        let mut sub = seg.subscribe(|f| f.pairs()).unwrap();
        if oldest {
            sub.start_oldest();
        }
        let p = seg.publisher(|f| f.pairs()).unwrap();
        let mut at = sub.position();
        for k in 0..12 {
            if publish && k % 3 == 0 {
                let _ = p.publish(&Pair { a: k, b: !k });
            }
            match sub.try_recv() {
                Ok(Some(Recv::Lost(n))) => prop_assert!(n > 0),
                Ok(Some(Recv::Msg(_))) | Ok(None) => {}
                Err(Error::Corrupt { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
            prop_assert!(sub.position() >= at, "position went back");
            at = sub.position();
        }
    }
}

/// What a publisher killed in the middle of publishing message 1 leaves:
/// slot 1's seq odd (3) and part of the message stored, the count still
/// one. Subscribers see only message 0; the next publish (the next
/// writer's) rewrites slot 1 as message 1.
#[test]
fn a_publish_torn_by_a_crash_is_invisible_and_rewritten() {
    let (name, _c, seg) = fresh();
    let s = streams(&seg);
    let p = seg.publisher(|f| f.pairs()).unwrap();
    let mut sub = seg.subscribe(|f| f.pairs()).unwrap();
    p.publish(&Pair { a: 10, b: 11 }).unwrap();
    poke(&name, s + PAIRS + 64 + 24, 3);
    poke(&name, s + PAIRS + 64 + 24 + 8, 99);
    assert_eq!(
        sub.try_recv().unwrap(),
        Some(Recv::Msg(Pair { a: 10, b: 11 }))
    );
    assert_eq!(sub.try_recv().unwrap(), None);
    assert_eq!(p.publish(&Pair { a: 20, b: 21 }).unwrap(), 1);
    assert_eq!(
        sub.try_recv().unwrap(),
        Some(Recv::Msg(Pair { a: 20, b: 21 }))
    );
    // And a slot left complete but unpublished (killed before the count
    // was stored) is rewritten the same way.
    poke(&name, s + PAIRS + 64 + 2 * 24, 6);
    poke(&name, s + PAIRS + 64 + 2 * 24 + 8, 98);
    assert_eq!(sub.try_recv().unwrap(), None);
    assert_eq!(p.publish(&Pair { a: 30, b: 31 }).unwrap(), 2);
    assert_eq!(
        sub.try_recv().unwrap(),
        Some(Recv::Msg(Pair { a: 30, b: 31 }))
    );
}

/// The descriptor records each ring (tag 0x60, capacity, message type) and
/// the decoder takes exactly what the derive makes: a capacity that is no
/// power of two or too large, or a message type that is zero-sized or holds
/// a ring, is an error; every truncation is; no byte change panics.
#[test]
fn the_descriptor_records_rings_strictly() {
    use shm_runtime::descriptor::{Schema, TypeInfo, decode};
    use shm_runtime::layout::encode_descriptor;

    let bytes = encode_descriptor(&Hostile::LAYOUT);
    let schema = decode(&bytes).unwrap();
    assert_eq!(schema, Schema::from_layout(&Hostile::LAYOUT));
    assert_eq!(
        schema.encode(),
        bytes,
        "the owned model encodes the same bytes"
    );
    let TypeInfo::Ring { elem, cap } = &schema.fields[1].ty else {
        panic!("{:?}", schema.fields[1].ty);
    };
    assert_eq!(*cap, 4);
    assert!(matches!(**elem, TypeInfo::Struct(_)));
    assert_eq!(schema.fields[2].ty.to_string(), "Ring<bool, 2>");

    // The `flags` ring: tag 0x60, capacity 2 (u32 LE), then bool (0x13).
    let at = bytes
        .windows(6)
        .position(|w| w == [0x60, 2, 0, 0, 0, 0x13])
        .expect("the flags ring's encoding");
    for cap in [0u32, 3, 1000, (1 << 24) + 1, 1 << 25, u32::MAX] {
        let mut b = bytes.clone();
        b[at + 1..at + 5].copy_from_slice(&cap.to_le_bytes());
        let e = decode(&b).unwrap_err();
        assert!(e.to_string().contains("ring capacity"), "{cap}: {e}");
    }
    for len in 0..bytes.len() {
        assert!(decode(&bytes[..len]).is_err(), "truncated to {len}");
    }
    for i in 0..bytes.len() {
        for v in [0u8, 1, 0x13, 0x60, 0xff] {
            let mut b = bytes.clone();
            b[i] = v;
            let _ = decode(&b);
        }
    }
}

/// Tools see the same places through the decoded descriptor.
#[test]
fn the_decoded_schema_names_each_stream_and_its_region() {
    let schema = shm_runtime::descriptor::Schema::from_layout(&Hostile::LAYOUT);
    let s = schema.streams().unwrap();
    let facts: Vec<_> = s
        .iter()
        .map(|i| {
            (
                i.path.as_str(),
                i.queue,
                i.cap,
                i.payload_offset,
                i.region_offset,
                i.region_len,
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            ("pairs", false, 4, 8, PAIRS, 192),
            ("flags", false, 2, 16, FLAGS, 128)
        ]
    );
}

/// Version 1 with a ring, room to grow.
#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
#[shm(name = "Arm", capacity = 256)]
pub struct ArmV1 {
    pub state: u64,
    pub log: Ring<u64, 4>,
}

/// Version 2 appends a field and a second ring.
#[derive(SharedLayout, Clone, Copy, Debug)]
#[repr(C)]
#[shm(version = 2, extends = ArmV1, capacity = 256)]
pub struct ArmV2 {
    pub state: u64,
    pub log: Ring<u64, 4>,
    pub speed: u64,
    pub alarms: Ring<u32, 2>,
}

/// The rings of a version keep their places in newer versions (field
/// order, and versions only append fields): after an upgrade in place the
/// old ring goes on, and a ring the old version did not have is refused
/// (the upgrade adds no room), never placed over something else. A segment
/// made by the newer version has both, and the older program reads its
/// ring.
#[test]
fn rings_across_schema_versions() {
    let name = unique("ring-evolution");
    let _c = Cleanup::posix(&name);
    let v1 = Options::posix(&name).create_new().open::<ArmV1>().unwrap();
    v1.publisher(|f| f.log()).unwrap().publish(&7).unwrap();
    drop(v1);
    let v2 = Options::posix(&name).upgrade(true).open::<ArmV2>().unwrap();
    let mut s = v2.subscribe(|f| f.log()).unwrap();
    s.start_oldest();
    assert_eq!(s.try_recv().unwrap(), Some(Recv::Msg(7)));
    v2.publisher(|f| f.log()).unwrap().publish(&8).unwrap();
    assert_eq!(s.try_recv().unwrap(), Some(Recv::Msg(8)));
    let e = v2.publisher(|f| f.alarms()).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("older version"), "{e}");
    drop(v2);
    // A later handle of the upgraded segment (the same schema now) is told
    // the same: the segment ends where version 1 ended it.
    let again = Options::posix(&name).open::<ArmV2>().unwrap();
    let e = again.subscribe(|f| f.alarms()).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("older version"), "{e}");
    again.subscribe(|f| f.log()).unwrap();
    drop(again);

    let name = unique("ring-evolution");
    let _c = Cleanup::posix(&name);
    let v2 = Options::posix(&name).create_new().open::<ArmV2>().unwrap();
    v2.publisher(|f| f.alarms()).unwrap().publish(&3).unwrap();
    v2.publisher(|f| f.log()).unwrap().publish(&9).unwrap();
    let old = Options::posix(&name).open_read_only::<ArmV1>().unwrap();
    let mut s = old.subscribe(|f| f.log()).unwrap();
    s.start_oldest();
    assert_eq!(s.try_recv().unwrap(), Some(Recv::Msg(9)));
}
