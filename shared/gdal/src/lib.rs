//! The GDAL decoder (`gdal` crate over the system GDAL), picked by content.
//! GeoTIFF (and COG) files become CF datasets: each band a `(y, x)`
//! variable, `x`/`y` coordinates of the cell centres from the geotransform,
//! the CRS kept as a CF grid mapping variable (`crs_wkt`, `spatial_ref`,
//! `proj4_params`), nodata as `_FillValue`, band scale/offset as
//! `scale_factor`/`add_offset`. Radar producers often put their calibration
//! only in the `GDAL_METADATA` tag (FMI: `Gain`, `Offset`, `Nodata`,
//! `Undetect`): those items are read too and used where the band has none.
//! A file without a CRS is rejected unless the dataset's configuration names
//! one. GRIB2 files become forecast datasets keyed by parameter, level type
//! and statistic, over reference time and lead time (see [`GribSource`]).

pub mod fixtures;
mod geotiff;
mod grib;
mod grib_scan;
mod grid;
mod metadata;
mod read_at;
pub mod regions;
mod tiff_header;

use std::path::Path;

use hub_core::ports::{DecodeError, DecodeHints, DecodeLimits, SourceDataset, SourceDecoder};

pub use geotiff::GeoTiffSource;
pub use grib::GribSource;

/// GDAL's block cache: GDAL keeps up to 5 % of the machine's memory by
/// default (1.2 GB on 24 GB), which a decoder that reads each block once does
/// not need; bounded so memory stays at about two slabs.
const GDAL_CACHE_MB: &str = "64";

/// Process-wide GDAL settings, applied before the first file is opened.
pub(crate) fn configure() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Only fails on a name with a NUL byte: the constant has none.
        let _ = gdal::config::set_config_option("GDAL_CACHEMAX", GDAL_CACHE_MB);
    });
}

/// The checks a TIFF's first directory gets before GDAL opens it, on bytes
/// (the fuzzing entry point; the ingest reads the file piece by piece).
pub fn check_tiff_bytes(bytes: &[u8], limits: &DecodeLimits) -> Result<(), DecodeError> {
    tiff_header::check(bytes, limits).map(|_| ())
}

/// The walk over a GRIB2 file's messages before GDAL opens it, on bytes (the
/// fuzzing entry point); returns the warnings (skipped headers, trailing bytes).
pub fn check_grib_bytes(bytes: &[u8], limits: &DecodeLimits) -> Result<Vec<String>, DecodeError> {
    grib_scan::scan(bytes, limits).map(|s| s.warnings)
}

/// The GDAL decoder, picked for TIFF and BigTIFF files and for GRIB files
/// (`GRIB` within the first bytes, after a bulletin header if there is one).
#[derive(Debug, Default, Clone, Copy)]
pub struct GdalDecoder;

impl SourceDecoder for GdalDecoder {
    fn name(&self) -> &'static str {
        "gdal (GeoTIFF, GRIB2)"
    }

    fn can_decode(&self, head: &[u8]) -> bool {
        is_tiff(head) || grib_scan::first_message(head).is_some()
    }

    fn open(&self, path: &Path) -> Result<Box<dyn SourceDataset>, DecodeError> {
        self.open_with(path, &DecodeHints::default())
    }

    fn open_with(&self, path: &Path, hints: &DecodeHints) -> Result<Box<dyn SourceDataset>, DecodeError> {
        let mut head = [0u8; 8];
        let n = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut head))?;
        if is_tiff(&head[..n]) {
            return Ok(Box::new(GeoTiffSource::open_with(path, hints)?));
        }
        Ok(Box::new(GribSource::open_with_limits(path, &hints.limits)?))
    }
}

fn is_tiff(head: &[u8]) -> bool {
    matches!(head, [b'I', b'I', 42 | 43, 0, ..] | [b'M', b'M', 0, 42 | 43, ..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_tiff_and_bigtiff_signatures() {
        let d = GdalDecoder;
        assert!(d.can_decode(b"II*\0\x08\0\0\0"));
        assert!(d.can_decode(b"MM\0*\0\0\0\x08"));
        assert!(d.can_decode(b"II+\0\x08\0\0\0"));
        assert!(!d.can_decode(b"CDF\x01"));
        assert!(d.can_decode(b"GRIB\0\0\0\x02"));
        assert!(d.can_decode(b"****0001****\r\r\nGRIB\0\0\0\x02"), "after a bulletin header");
        assert!(!d.can_decode(b"GRIT"));
    }
}
