//! Any bytes in the stream area (message rings) of a valid segment: every
//! subscriber call returns a message, a loss, nothing, `Corrupt` or
//! `InvalidValue`; never a panic, a hang or UB.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shm_fuzz::check_streams(data));
