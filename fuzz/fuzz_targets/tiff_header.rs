//! `cargo fuzz run tiff_header`: see hub-fuzzing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hub_fuzzing::tiff_header(data));
