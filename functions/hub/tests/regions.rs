//! `hub regions` as a user runs it on a large file: a shapefile of tens of
//! megabytes (written here by pyshp) registers, and the command's peak
//! memory stays within a small multiple of the set it holds.

use crate::common::text;

/// Peak memory allowed for registering the file, as a multiple of the `.shp`
/// size, above a fixed allowance for the program itself. The set is held
/// once as coordinates, once as its stored document; a leak or a copy per
/// feature would pass it many times over.
const MEMORY_PER_SHP_BYTE: u64 = 8;
const MEMORY_BASE: u64 = 200 << 20;

#[test]
fn a_shapefile_of_tens_of_megabytes_registers_in_bounded_memory() {
    let Some(python) = hub_testkit::python() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let script = hub_testkit::workspace_root().join("tests/interop/large_shapefile.py");
    let repo = dir.path().join("hub-data");
    // 4,000 basins of 500 vertices: 2 M vertices, a 32 MB .shp.
    let out = std::process::Command::new(&python)
        .arg(&script)
        .args([dir.path().to_string_lossy().as_ref(), "4000", "500", "--", env!("CARGO_BIN_EXE_hub"), "regions"])
        .args(["--repo", repo.to_string_lossy().as_ref(), "add"])
        .arg(dir.path().join("basins.shp"))
        .args(["--set", "large", "--id-field", "id", "--name-field", "name"])
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("registered large (4000 regions"), "{printed}");
    let figure = |name: &str| -> u64 {
        printed
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|v| v.parse().ok()))
            .unwrap_or_else(|| panic!("no {name} in {printed}"))
    };
    let (shp, peak) = (figure("shp_bytes="), figure("peak_rss_kb=") * 1024);
    assert!(shp > 30 << 20, "the file is {shp} bytes");
    let bound = MEMORY_BASE + MEMORY_PER_SHP_BYTE * shp;
    println!("registered a {} MB shapefile with a peak of {} MB (bound {} MB)", shp >> 20, peak >> 20, bound >> 20);
    assert!(peak < bound, "peak memory {} MB for a {} MB shapefile (bound {} MB)", peak >> 20, shp >> 20, bound >> 20);
}
