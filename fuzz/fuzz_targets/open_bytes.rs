//! Arbitrary bytes as a whole mapped segment: validate, open, read.
//! Seeded with valid segments by `make_seeds` (see `.ci/fuzz.sh`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shm_fuzz::check_segment(data));
