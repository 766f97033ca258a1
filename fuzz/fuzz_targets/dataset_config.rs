//! `cargo fuzz run dataset_config`: see hub-fuzzing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hub_fuzzing::dataset_config(data));
