//! Schema descriptor decode + validate over arbitrary bytes: never a panic,
//! allocation bounded by the input, and what passes re-encodes to exactly
//! the same bytes, decodes values, and compares with the program's schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shm_fuzz::Schema as Program;
use shm_runtime::SharedLayout;
use shm_runtime::descriptor::{self, Schema};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = descriptor::decode(data) else {
        return;
    };
    assert_eq!(s.encode(), data, "decode/encode round trip");
    let _ = s.fingerprint();
    let _ = s.gaps();
    for f in &s.fields {
        assert!(f.offset + f.size <= s.size);
        let _ = f.ty.to_string();
    }
    // Decoding a value is bounded by the bytes given, so only try small ones.
    if s.size <= 1 << 16 {
        let payload = vec![0xA5u8; s.size as usize];
        let v = s
            .decode_value(&payload)
            .expect("a payload of the right size decodes");
        let _ = v.to_string();
    }
    let _ = descriptor::first_difference(&Program::LAYOUT, &s);
    let _ = descriptor::diff_schemas(&s, &Schema::from_layout(&Program::LAYOUT));
});
