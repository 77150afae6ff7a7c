//! Header decode + validate + schema check over arbitrary bytes and object
//! sizes: never a panic, and what passes satisfies the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shm_fuzz::{Schema, assert_header_invariants};
use shm_runtime::SharedLayout;
use shm_runtime::header::{HEADER_SIZE, Header};

fuzz_target!(|data: &[u8]| {
    if data.len() < HEADER_SIZE + 8 {
        return;
    }
    let mut bytes = [0u8; HEADER_SIZE];
    bytes.copy_from_slice(&data[..HEADER_SIZE]);
    let object_size = u64::from_le_bytes(data[HEADER_SIZE..HEADER_SIZE + 8].try_into().unwrap());
    let h = Header::decode(&bytes);
    assert_eq!(h.encode()[..128], bytes[..128], "decode/encode round trip");
    let _ = h.summary();
    if h.validate("fuzz", object_size).is_ok() {
        assert_header_invariants(&h, object_size);
        let _ = h.check_schema("fuzz", &Schema::LAYOUT, Schema::FINGERPRINT);
    }
});
