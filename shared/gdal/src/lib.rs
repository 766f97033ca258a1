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
mod grid;
mod metadata;

use std::path::Path;

use hub_core::ports::{DecodeError, DecodeHints, SourceDataset, SourceDecoder};

pub use geotiff::GeoTiffSource;
pub use grib::GribSource;

/// The GDAL decoder, picked for TIFF and BigTIFF files.
#[derive(Debug, Default, Clone, Copy)]
pub struct GdalDecoder;

impl SourceDecoder for GdalDecoder {
    fn name(&self) -> &'static str {
        "gdal (GeoTIFF, GRIB2)"
    }

    fn can_decode(&self, head: &[u8]) -> bool {
        is_tiff(head) || head.starts_with(b"GRIB")
    }

    fn open(&self, path: &Path) -> Result<Box<dyn SourceDataset>, DecodeError> {
        self.open_with(path, &DecodeHints::default())
    }

    fn open_with(&self, path: &Path, hints: &DecodeHints) -> Result<Box<dyn SourceDataset>, DecodeError> {
        let mut head = [0u8; 8];
        let n = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut head))?;
        let head = &head[..n];
        if is_tiff(head) {
            return Ok(Box::new(GeoTiffSource::open_with_crs(path, hints.crs.as_deref())?));
        }
        match head.get(7) {
            Some(2) => Ok(Box::new(GribSource::open(path)?)),
            Some(1) => Err(DecodeError::Unsupported(format!(
                "{}: GRIB edition 1; the hub takes GRIB2 (convert with grib_set -s edition=2)",
                path.display()
            ))),
            _ => Err(DecodeError::Corrupt(format!("{}: a GRIB header without a known edition", path.display()))),
        }
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
        assert!(!d.can_decode(b"GRIT"));
    }
}
