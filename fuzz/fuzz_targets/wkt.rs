//! `cargo fuzz run wkt`: see hub-fuzzing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hub_fuzzing::wkt(data));
