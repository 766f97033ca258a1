//! The fuzzing targets on a bounded, deterministic corpus: every seed, and a
//! few thousand mutations of the seeds per target (`HUB_FUZZ_CASES` per
//! target, default 20,000). A target that panics fails the test with the input
//! that did it, written next to the test's temp folder for replay with
//! `cargo fuzz run <target> <file>`. Valid seeds of the file checks must pass.

use std::path::Path;

#[test]
fn every_target_survives_its_corpus() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cases: u64 = std::env::var("HUB_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let mut total = 0u64;
    for (name, target) in hub_fuzzing::TARGETS {
        let seeds = hub_fuzzing::seeds(name, dir.path());
        assert!(!seeds.is_empty(), "{name}: no seeds");
        for k in 0..cases {
            let seed = &seeds[(k as usize) % seeds.len()];
            let input = if k < seeds.len() as u64 { seed.clone() } else { hub_fuzzing::mutate(seed, k) };
            let outcome = std::panic::catch_unwind(|| target(&input));
            if outcome.is_err() {
                let crash = dir.path().join(format!("crash-{name}-{k}"));
                std::fs::write(&crash, &input).unwrap_or_else(|e| panic!("{e}"));
                keep(&crash);
                panic!("{name} panicked on case {k} (input kept at {})", crash.display());
            }
            total += 1;
        }
    }
    eprintln!("{total} inputs over {} targets", hub_fuzzing::TARGETS.len());
}

/// Moves a crashing input out of the temp folder, which is deleted.
fn keep(path: &Path) {
    let target = std::env::temp_dir().join(path.file_name().unwrap_or_default());
    let _ = std::fs::copy(path, &target);
    eprintln!("crashing input copied to {}", target.display());
}

#[test]
fn valid_seeds_pass_the_file_checks() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let limits = hub_core::ports::DecodeLimits::default();
    for seed in hub_fuzzing::seeds("netcdf3_header", dir.path()).iter().take(2) {
        assert!(hub_netcdf::check_classic_bytes(seed, &limits).is_ok());
    }
    let grib = hub_fuzzing::seeds("grib2_scan", dir.path());
    assert!(hub_gdal::check_grib_bytes(&grib[0], &limits).is_ok(), "bulletins");
    assert!(hub_gdal::check_grib_bytes(&grib[2], &limits).is_ok(), "plain");
    assert!(hub_gdal::check_grib_bytes(&grib[1], &limits).is_err(), "reduced Gaussian");
    let tiff = hub_fuzzing::seeds("tiff_header", dir.path());
    assert!(hub_gdal::check_tiff_bytes(&tiff[0], &limits).is_ok());
}
