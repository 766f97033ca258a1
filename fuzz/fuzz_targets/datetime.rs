//! `cargo fuzz run datetime`: see hub-fuzzing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hub_fuzzing::datetime(data));
