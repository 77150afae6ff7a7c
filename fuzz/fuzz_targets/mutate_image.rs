//! A valid segment with fuzzer-chosen mutations: the input is a list of
//! 4-byte edits `[kind, offset_lo, offset_hi, value]`:
//! kind % 4 = 0 xor a byte, 1 set a byte, 2 truncate to the offset,
//! 3 extend by `offset % 4096` zero bytes. Reaches deep into validation at once,
//! since most of the segment stays valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shm_fuzz::{Schema, check_segment};

fuzz_target!(|data: &[u8]| {
    let v = Schema::example();
    let mut seg = shm_runtime::tools::segment_image(&v);
    for e in data.chunks_exact(4) {
        let at = usize::from(u16::from_le_bytes([e[1], e[2]]));
        match e[0] % 4 {
            0 if at < seg.len() => seg[at] ^= e[3],
            1 if at < seg.len() => seg[at] = e[3],
            2 => seg.truncate(at),
            3 => seg.resize(seg.len() + at % 4096, 0),
            _ => {}
        }
    }
    check_segment(&seg);
});
