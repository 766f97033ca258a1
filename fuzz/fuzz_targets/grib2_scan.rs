//! `cargo fuzz run grib2_scan`: see hub-fuzzing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hub_fuzzing::grib2_scan(data));
