//! Any payload bytes for a schema with `bool`, enum, `char`, `Utf16` and
//! `FixedStr` fields (nested and in arrays): every read gives a value or an
//! `InvalidValue` naming a field, exactly when the untyped decoder shows an
//! invalid value; never a panic or UB.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shm_fuzz::check_checked_payload(data));
