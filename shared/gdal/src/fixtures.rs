//! Radar composites written by the hub itself through GDAL, for its tests and
//! benchmarks: a small dBZ field on the FMI grid (ETRS-TM35FIN, EPSG:3067,
//! 1 km cells), byte-coded with gain 0.5 and offset -32 dBZ, nodata 255,
//! deterministic per time step so stored values can be checked exactly.

use std::path::Path;

use gdal::raster::Buffer;
use gdal::spatial_ref::SpatialRef;
use gdal::{DriverManager, Metadata};

/// What [`write_composite`] writes.
#[derive(Debug, Clone, Copy)]
pub struct Composite {
    /// Columns and rows.
    pub size: (usize, usize),
    /// The time step's number: the field depends on it.
    pub step: u32,
    /// Added to every code: tells a corrected delivery from the first.
    pub version: u8,
    /// Whether the file carries its CRS (a file without one must be refused
    /// unless the dataset's configuration names one).
    pub with_crs: bool,
    /// A `TIFFTAG_DATETIME` to write (`YYYY:MM:DD HH:MM:SS`).
    pub datetime: Option<&'static str>,
}

impl Composite {
    /// The stored code at a cell: 255 (nodata) in one corner, else a moving pattern.
    pub fn code(&self, row: usize, col: usize) -> u8 {
        if row < 3 && col < 3 {
            return 255;
        }
        let v = (row * 7 + col * 3 + self.step as usize * 11) % 200;
        (v as u8).saturating_add(self.version)
    }
}

/// Writes one composite as a tiled, deflated GeoTIFF.
pub fn write_composite(path: &Path, c: &Composite) -> gdal::errors::Result<()> {
    let (w, h) = c.size;
    let driver = DriverManager::get_driver_by_name("GTiff")?;
    let options = gdal::raster::RasterCreationOptions::from_iter(["COMPRESS=DEFLATE", "TILED=YES"]);
    let mut ds = driver.create_with_band_type_with_options::<u8, _>(path, w, h, 1, &options)?;
    ds.set_geo_transform(&[50_000.0, 1000.0, 0.0, 7_800_000.0, 0.0, -1000.0])?;
    if c.with_crs {
        ds.set_spatial_ref(&SpatialRef::from_epsg(3067)?)?;
    }
    if let Some(t) = c.datetime {
        ds.set_metadata_item("TIFFTAG_DATETIME", t, "")?;
    }
    let mut band = ds.rasterband(1)?;
    band.set_no_data_value(Some(255.0))?;
    band.set_scale(0.5)?;
    band.set_offset(-32.0)?;
    let data: Vec<u8> = (0..h).flat_map(|r| (0..w).map(move |col| c.code(r, col))).collect();
    band.write((0, 0), (w, h), &mut Buffer::new((w, h), data))?;
    Ok(())
}
