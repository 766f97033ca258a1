//! `cargo fuzz run netcdf3_header`: see hub-fuzzing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hub_fuzzing::netcdf3_header(data));
