//! The hub's parsers of untrusted input, as fuzzing targets: each takes bytes
//! and must return — never panic, hang or allocate without bound — whatever
//! it is given. They are what an upload or a request reaches first: the
//! NetCDF-3 header check, the GRIB2 message walk and the TIFF directory check
//! (all before a C library sees a file), the WKT geometry and `datetime`
//! parsers of the API, and the datasets' configuration.
//!
//! Two ways to run them:
//!
//! - `cargo fuzz run <target>` in `fuzz/` (coverage-guided, libFuzzer; the
//!   targets there call [`TARGETS`]);
//! - a bounded, deterministic corpus in CI (`tests/corpus.rs`): every target
//!   on its [`seeds`] and thousands of [`mutate`]d copies of them.
//!
//! [`hostile`] holds the hostile inputs the hub's tests are built from.

pub mod hostile;

use hub_core::cf::Calendar;
use hub_core::ports::DecodeLimits;

/// A target: a name and what it does with the bytes.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("netcdf3_header", netcdf3_header),
    ("grib2_scan", grib2_scan),
    ("tiff_header", tiff_header),
    ("wkt", wkt),
    ("datetime", datetime),
    ("dataset_config", dataset_config),
];

/// The limits the file checks run with: small, so declared sizes are refused
/// quickly rather than walked.
const LIMITS: DecodeLimits = DecodeLimits {
    max_decoded_bytes: 1 << 30,
    max_grid_cells: 1 << 24,
    max_variables: 4096,
    max_bands: 256,
    max_rank: 32,
};

/// The NetCDF-3 header check (truncation, netCDF-C's fixed limits, names).
pub fn netcdf3_header(data: &[u8]) {
    let _ = hub_netcdf::check_classic_bytes(data, &LIMITS);
}

/// The GRIB2 message and section walk.
pub fn grib2_scan(data: &[u8]) {
    let _ = hub_gdal::check_grib_bytes(data, &LIMITS);
}

/// The TIFF first-directory check.
pub fn tiff_header(data: &[u8]) {
    let _ = hub_gdal::check_tiff_bytes(data, &LIMITS);
}

/// WKT geometries of `coords` (`POINT`, `POLYGON`, `LINESTRINGM`...).
pub fn wkt(data: &[u8]) {
    let _ = hub_core::query::Geometry::parse(&String::from_utf8_lossy(data));
}

/// `datetime` selections, in every calendar.
pub fn datetime(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for calendar in [Calendar::Standard, Calendar::NoLeap, Calendar::Day360, Calendar::AllLeap, Calendar::Julian] {
        let _ = hub_core::query::parse_datetime(&text, calendar);
    }
    let _ = hub_core::query::parse_numbers(&text);
}

/// The datasets' configuration document.
pub fn dataset_config(data: &[u8]) {
    let _ = hub_core::ingest::DatasetConfig::parse(&String::from_utf8_lossy(data));
}

/// Inputs each target starts from: valid ones (so mutations reach deep) and
/// the hostile shapes the hub's tests rebuild. The file seeds are written by
/// the project's own code into `dir`.
pub fn seeds(target: &str, dir: &std::path::Path) -> Vec<Vec<u8>> {
    let file = |write: &dyn Fn(&std::path::Path) -> bool, name: &str| -> Option<Vec<u8>> {
        let path = dir.join(name);
        write(&path).then(|| std::fs::read(&path).ok()).flatten()
    };
    let text = |items: &[&str]| items.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    match target {
        "netcdf3_header" => {
            use hub_netcdf::fixtures::Fixture;
            let mut out: Vec<Vec<u8>> = [Fixture::ClassicPacked360Day, Fixture::Offset64RotatedPole]
                .iter()
                .filter_map(|f| file(&|p| f.write(p).is_ok(), f.file_name()))
                .collect();
            out.push(hostile::classic_deep_rank(40));
            out.push(hostile::classic_streaming_record());
            out.push(hostile::classic_named(b"t\xffas"));
            out
        }
        "grib2_scan" => {
            let f =
                hub_gdal::fixtures::Forecast { reference: 1_700_000_000 / 3600 * 3600, lead_hours: 6, version: 0.0 };
            let plain = file(&|p| hub_gdal::fixtures::write_forecast(p, &f).is_ok(), "seed.grib2").unwrap_or_default();
            vec![hostile::grib_as_bulletins(&plain), hostile::grib_reduced_gaussian(&plain), plain]
        }
        "tiff_header" => {
            let c =
                hub_gdal::fixtures::Composite { size: (40, 30), step: 1, version: 0, with_crs: true, datetime: None };
            let mut out: Vec<Vec<u8>> =
                file(&|p| hub_gdal::fixtures::write_composite(p, &c).is_ok(), "seed.tif").into_iter().collect();
            out.push(hostile::tiff_declaring(40_000, 25_000, 64, 1, false));
            out.push(hostile::tiff_declaring(64, 64, 8, 200, false));
            out
        }
        "wkt" => text(&[
            "POINT(24.9 60.2)",
            "MULTIPOINT((24.9 60.2),(10 50))",
            "POLYGON((0 40,30 40,30 70,0 70,0 40))",
            "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))",
            "LINESTRING(0 0,10 10,20 5)",
            "LINESTRINGM(0 0 1704067200,10 10 1704070800)",
        ]),
        "datetime" => text(&[
            "2025-01-01T00:00:00Z",
            "2025-01-01/..",
            "../2025-01-01T06:00:00Z",
            "2046-02-30",
            "2024-01-01T00:00:00Z,2024-01-02T00:00:00Z",
            "2024-01-01T00:00:00+02:00/2024-02-01",
            "850,500,250",
            "10/20",
            // Found by cargo fuzz: an offset sliced inside a character.
            "/6-2T4-\u{fffd}4",
        ]),
        "dataset_config" => text(&[
            r#"{"rules": [{"key": "^radar/fmi/.*_FINUTM\\.tif$", "dataset": "fmi-radar", "valid_time": {"key": "{YYYY}{MM}{DD}{hh}{mm}"}, "variables": ["band1"], "chunks": {"band1": [1, 1226, 760]}, "crs": "EPSG:3067", "publication_deadline_minutes": 10}, {"key": "^nwp/(?P<dataset>[a-z0-9-]+)/", "valid_time": "metadata"}]}"#,
            r#"{"rules": []}"#,
        ]),
        _ => Vec::new(),
    }
}

/// A deterministic mutation of `seed` (the `k`-th of a run): bit flips,
/// bytes set to boundary values, 4-byte words set to huge or zero values,
/// cuts, insertions, deletions, repeated ranges and multi-byte characters —
/// what damage and hostile writers do to headers and query strings. Mutations stay near the start, where headers are.
pub fn mutate(seed: &[u8], k: u64) -> Vec<u8> {
    let mut rng = hostile::Rng::new(k.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ seed.len() as u64);
    let mut out = seed.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let n = out.len().max(1);
        // Headers are near the start: bias positions there.
        let reach = if rng.below(4) == 0 { n } else { n.min(4096) };
        let at = rng.below(reach);
        match rng.below(9) {
            0 | 1 => {
                if let Some(b) = out.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            2 => {
                if let Some(b) = out.get_mut(at) {
                    *b = [0x00, 0xFF, 0x7F, 0x80, 0x01][rng.below(5)];
                }
            }
            3 => {
                let word: u32 = [u32::MAX, 0x7FFF_FFFF, 0, 0x8000_0000, 0xFFFF][rng.below(5)];
                if at + 4 <= out.len() {
                    out[at..at + 4].copy_from_slice(&word.to_be_bytes());
                }
            }
            4 => out.truncate(at),
            5 => {
                let len = rng.below(16) + 1;
                let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
                let at = at.min(out.len());
                out.splice(at..at, bytes);
            }
            6 => {
                let end = (at + rng.below(64) + 1).min(out.len());
                if at < end {
                    out.drain(at..end);
                }
            }
            7 => {
                let end = (at + rng.below(64) + 1).min(out.len());
                if at < end {
                    let piece = out[at..end].to_vec();
                    out.splice(at..at, piece);
                }
            }
            _ => {
                // Characters of more than one byte, where text parsers slice.
                let c = ["é", "€", "\u{fffd}", "💥", "\u{0}"][rng.below(5)];
                let at = at.min(out.len());
                out.splice(at..at, c.bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_differ_from_the_seed() {
        let seed: Vec<u8> = (0..=255).collect();
        assert_eq!(mutate(&seed, 7), mutate(&seed, 7));
        let changed = (0..100).filter(|&k| mutate(&seed, k) != seed).count();
        assert!(changed > 90, "{changed}");
    }
}
