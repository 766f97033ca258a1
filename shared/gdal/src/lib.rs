//! The GDAL decoder (`gdal` crate over the system GDAL), picked by content.
//! GeoTIFF (and COG) files become CF datasets: each band a `(y, x)`
//! variable, `x`/`y` coordinates of the cell centres from the geotransform,
//! the CRS kept as a CF grid mapping variable (`crs_wkt`, `spatial_ref`,
//! `proj4_params`), nodata as `_FillValue`, band scale/offset as
//! `scale_factor`/`add_offset`. Radar producers often put their calibration
//! only in the `GDAL_METADATA` tag (FMI: `Gain`, `Offset`, `Nodata`,
//! `Undetect`): those items are read too and used where the band has none.
//! A file without a CRS is rejected.

pub mod fixtures;
mod geotiff;
mod metadata;

use std::path::Path;

use hub_core::ports::{DecodeError, DecodeHints, SourceDataset, SourceDecoder};

pub use geotiff::GeoTiffSource;

/// The GDAL decoder, picked for TIFF and BigTIFF files.
#[derive(Debug, Default, Clone, Copy)]
pub struct GdalDecoder;

impl SourceDecoder for GdalDecoder {
    fn name(&self) -> &'static str {
        "geotiff"
    }

    fn can_decode(&self, head: &[u8]) -> bool {
        matches!(head, [b'I', b'I', 42 | 43, 0, ..] | [b'M', b'M', 0, 42 | 43, ..])
    }

    fn open(&self, path: &Path) -> Result<Box<dyn SourceDataset>, DecodeError> {
        Ok(Box::new(GeoTiffSource::open(path)?))
    }

    fn open_with(&self, path: &Path, hints: &DecodeHints) -> Result<Box<dyn SourceDataset>, DecodeError> {
        Ok(Box::new(GeoTiffSource::open_with_crs(path, hints.crs.as_deref())?))
    }
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
        assert!(!d.can_decode(b"GRIB"));
    }
}
