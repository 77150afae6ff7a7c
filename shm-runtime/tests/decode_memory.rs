//! Decoding by field name uses memory bounded by what it prints, not by
//! the field names times the elements: a payload of 2^18 one-byte structs
//! whose field name is 200 bytes long. Copying the name into every element
//! took 280 bytes per payload byte (the issue measured 0.4-0.7 GB of RSS
//! for 1 MiB); the decoded value borrows the names from the schema (80
//! bytes per element), and a `ValueView` prints it without allocating.
//!
//! Allocations are counted by this test binary's global allocator, per
//! thread (so other tests in the binary do not disturb the count).

#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write;

use shm_runtime::Prim;
use shm_runtime::descriptor::{FieldInfo, Schema, TypeInfo, Value};

struct Counting;

thread_local! {
    /// Bytes this thread holds, and the most it held since the last reset.
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize) {
    let _ = LIVE.try_with(|l| {
        l.set(l.get() + n);
        let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
    });
}

fn sub(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

// SAFETY: forwards every call to the system allocator unchanged; only
// counts sizes in thread-locals that never allocate (const-initialised
// `Cell`s without destructors).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        add(l.size());
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        sub(l.size());
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        add(new);
        sub(l.size());
        // SAFETY: forwarded from the caller.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Starts counting the peak from what this thread holds now.
fn reset_peak() -> usize {
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    live
}

fn peak_since(base: usize) -> usize {
    PEAK.with(Cell::get) - base
}

/// Counts the bytes a value prints as, without storing them.
#[derive(Default)]
struct Len(usize);

impl Write for Len {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

const ELEMENTS: u64 = 1 << 18;

/// `Root { items: [Small; 1 << 20] }`, `Small { <200 x 'n'>: u8 }`.
fn hostile_schema() -> Schema {
    let small = Schema {
        name: "Small".into(),
        version: 1,
        size: 1,
        align: 1,
        fields: vec![FieldInfo {
            name: "n".repeat(200),
            offset: 0,
            size: 1,
            ty: TypeInfo::Prim(Prim::U8),
        }],
    };
    Schema {
        name: "Root".into(),
        version: 1,
        size: ELEMENTS,
        align: 1,
        fields: vec![FieldInfo {
            name: "items".into(),
            offset: 0,
            size: ELEMENTS,
            ty: TypeInfo::Array {
                elem: Box::new(TypeInfo::Struct(Box::new(small))),
                len: ELEMENTS,
            },
        }],
    }
}

#[test]
fn decoding_many_small_structs_with_long_names_is_bounded_by_the_output() {
    let schema = hostile_schema();
    let payload: Vec<u8> = (0..ELEMENTS).map(|i| i as u8).collect();
    let TypeInfo::Array { elem, .. } = &schema.fields[0].ty else {
        unreachable!()
    };
    let TypeInfo::Struct(small) = &**elem else {
        unreachable!()
    };
    let long_name = small.fields[0].name.as_str();

    // The view prints without allocating, whatever the size.
    let view = schema.view(&payload).unwrap();
    let base = reset_peak();
    let mut printed = Len::default();
    write!(printed, "{view}").unwrap();
    assert_eq!(peak_since(base), 0, "printing a view allocated");
    let output = printed.0;
    assert!(output > 200 * ELEMENTS as usize, "{output}");

    // The decoded tree: no name is copied, and it holds less than half the
    // bytes it prints as.
    let base = reset_peak();
    let value = schema.decode_value(&payload).unwrap();
    let held = peak_since(base);
    assert!(
        held <= output / 2,
        "decoding {} payload bytes took {held} bytes, for {output} bytes of output",
        payload.len()
    );
    let Value::Struct(fields) = &value else {
        unreachable!()
    };
    let Value::Array(items) = &fields[0].1 else {
        unreachable!()
    };
    assert_eq!(items.len(), ELEMENTS as usize);
    for (i, item) in items.iter().enumerate().step_by(4099) {
        let Value::Struct(f) = item else {
            unreachable!()
        };
        // Borrowed from the schema: the same bytes, not a copy.
        assert!(std::ptr::eq(f[0].0, long_name));
        assert_eq!(f[0].1, Value::U(i as u8 as u64));
    }
    // The view and the tree print the same.
    let mut a = Len::default();
    write!(a, "{value}").unwrap();
    assert_eq!(a.0, output);
    let small_payload = &payload[..4];
    let tiny = Schema {
        size: 4,
        fields: vec![FieldInfo {
            size: 4,
            ty: TypeInfo::Array {
                elem: elem.clone(),
                len: 4,
            },
            ..schema.fields[0].clone()
        }],
        ..schema.clone()
    };
    assert_eq!(
        tiny.view(small_payload).unwrap().to_string(),
        tiny.decode_value(small_payload).unwrap().to_string()
    );
}
