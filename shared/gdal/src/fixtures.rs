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

/// What [`write_forecast`] writes: one model run's step as GRIB2.
#[derive(Debug, Clone, Copy)]
pub struct Forecast {
    /// Forecast reference time, seconds since 1970-01-01 UTC (whole hours).
    pub reference: i64,
    /// Lead time in hours.
    pub lead_hours: u32,
    /// Added to every value: tells a corrected run from the first.
    pub version: f32,
}

/// An ensemble member's step: [`Forecast`] written with product template 4.1
/// (individual ensemble forecast) and this perturbation number.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// The run and step.
    pub forecast: Forecast,
    /// Perturbation number (0 the control).
    pub number: u8,
}

/// Pressure levels (Pa) of [`write_forecast`]'s temperature.
pub const FORECAST_LEVELS: [u32; 3] = [85_000, 50_000, 25_000];

/// Grid of [`write_forecast`]: 2° global cells, (rows, columns).
pub const FORECAST_GRID: (usize, usize) = (90, 180);

impl Forecast {
    /// Temperature (K) of a message: band 0..3 the pressure levels, band 3 at 2 m.
    pub fn value(&self, band: usize, row: usize, col: usize) -> f32 {
        let base = 300.0 - 20.0 * band as f32 + 0.25 * self.lead_hours as f32;
        base + ((row * 3 + col) % 50) as f32 * 0.5 + self.version + (self.reference % 86_400 / 3600) as f32
    }
}

/// Writes one step of a model run as GRIB2 through GDAL's GRIB writer:
/// temperature on three pressure levels (template 4.0, level type 100) and at
/// 2 m (level type 103), IEEE float packing so values round-trip exactly.
pub fn write_forecast(path: &Path, f: &Forecast) -> gdal::errors::Result<()> {
    write_messages(path, f, None)
}

/// Writes one ensemble member's step (template 4.1); values are
/// [`Forecast::value`] plus the perturbation number.
pub fn write_member(path: &Path, m: &Member) -> gdal::errors::Result<()> {
    write_messages(path, &m.forecast, Some(m.number))
}

fn write_messages(path: &Path, f: &Forecast, member: Option<u8>) -> gdal::errors::Result<()> {
    let (h, w) = FORECAST_GRID;
    let mem = DriverManager::get_driver_by_name("MEM")?;
    let mut ds = mem.create_with_band_type::<f32, _>("", w, h, 4)?;
    ds.set_geo_transform(&[-180.0, 2.0, 0.0, 90.0, 0.0, -2.0])?;
    ds.set_spatial_ref(&SpatialRef::from_epsg(4326)?)?;
    for band in 0..4 {
        let plus = f32::from(member.unwrap_or(0));
        let data: Vec<f32> = (0..h).flat_map(|r| (0..w).map(move |c| f.value(band, r, c) + plus)).collect();
        ds.rasterband(band + 1)?.write((0, 0), (w, h), &mut Buffer::new((w, h), data))?;
    }
    let reference = chrono::DateTime::from_timestamp(f.reference, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let mut options = vec![
        "DATA_ENCODING=IEEE_FLOATING_POINT".to_string(),
        // Values are kelvin already: no conversion from Celsius.
        "INPUT_UNIT=K".to_string(),
        "DISCIPLINE=0".to_string(),
        format!("IDS=CENTER=98 SUBCENTER=0 MASTER_TABLE=2 SIGNF_REF_TIME=1 REF_TIME={reference} PROD_STATUS=0 TYPE=1"),
    ];
    for band in 0..4 {
        let (level_type, level) = FORECAST_LEVELS.get(band).map_or((103, 2), |&pa| (100, pa));
        let (pdtn, ensemble) = match member {
            // Type 3 (positively perturbed), the number, 11 members in all.
            Some(n) => (1, format!(" 3 {n} 11")),
            None => (0, String::new()),
        };
        options.push(format!("BAND_{}_PDS_PDTN={pdtn}", band + 1));
        options.push(format!(
            "BAND_{}_PDS_TEMPLATE_ASSEMBLED_VALUES=0 0 2 0 96 0 0 1 {} {level_type} 0 {level} 255 0 0{ensemble}",
            band + 1,
            f.lead_hours
        ));
    }
    let options = gdal::raster::RasterCreationOptions::from_iter(options.iter().map(String::as_str));
    let grib = DriverManager::get_driver_by_name("GRIB")?;
    ds.create_copy(&grib, path, &options)?;
    Ok(())
}
