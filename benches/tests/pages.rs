//! Creating a segment must not touch its payload's pages (issue 7, pair 6):
//! a 1 GiB segment costs the kernel about as much memory and as many page
//! faults as a 4 KiB one. Counts, not times, so this is a test.

#![cfg(target_os = "linux")]

use benches::{Bytes1G, Bytes4K, allocated_bytes, minor_faults, unique_name};
use shm_runtime::{Options, SharedLayout};
use test_support::Cleanup;

/// (minor faults of this thread while creating, bytes the object holds).
fn create<T: SharedLayout>(tag: &str) -> (u64, u64, u64) {
    let name = unique_name(tag);
    let _cleanup = Cleanup::posix(&name);
    let f0 = minor_faults();
    let seg = Options::posix(&name)
        .create_new()
        .open::<T>()
        .expect("create the segment");
    let faults = minor_faults() - f0;
    let allocated = allocated_bytes(&name).expect("fstat the object");
    let size = seg.status().expect("status").size;
    (faults, allocated, size)
}

#[test]
fn creating_a_1_gib_segment_touches_about_as_few_pages_as_4_kib() {
    let (f_small, a_small, s_small) = create::<Bytes4K>("pages4k");
    let (f_big, a_big, s_big) = create::<Bytes1G>("pages1g");
    println!(
        "4 KiB payload: {f_small} faults, {a_small} of {s_small} bytes allocated; \
         1 GiB payload: {f_big} faults, {a_big} of {s_big} bytes allocated"
    );
    assert!(s_big >= 1 << 30, "the object has the 1 GiB payload");
    // Touching every page would be 262,144 faults and 1 GiB of memory.
    assert!(
        a_big <= a_small + 64 * 1024,
        "creating 1 GiB allocated {a_big} bytes (4 KiB: {a_small})"
    );
    assert!(
        f_big <= f_small + 16,
        "creating 1 GiB took {f_big} minor faults (4 KiB: {f_small})"
    );
}
