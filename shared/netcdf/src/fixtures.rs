//! CF NetCDF files written by the hub itself, for its tests and its demo: each
//! exercises one corner of the conventions (NetCDF-3 and -4, packing, fill
//! values, non-standard calendars, auxiliary coordinates, text). Values are
//! deterministic smooth fields, so compression behaves as on real data.

use std::f64::consts::PI;
use std::path::Path;

use hub_core::query::{LonLat, Projector, RotatedPole};
use netcdf::{AttributeValue, Options};

/// The files the hub can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    /// NetCDF-3 classic: `tas` packed as int16 (`scale_factor`/`add_offset`,
    /// `_FillValue = missing_value = -32767` with some missing cells), monthly
    /// steps in the `360_day` calendar, unlimited time, lat/lon with bounds.
    ClassicPacked360Day,
    /// NetCDF-4 with deflate and chunking: daily `pr` float32 with
    /// `_FillValue = 1e20` (an all-missing ocean band and an all-missing first
    /// half year, as after an outage), `noleap` calendar,
    /// `time_bnds`, a scalar `height` coordinate, a station-name string variable.
    Netcdf4NoLeapFill,
    /// NetCDF-3 64-bit offset: hourly `t2m` float64 on a rotated-pole grid with
    /// 2-D `lat`/`lon` auxiliary coordinates, an integer `rotated_pole` grid
    /// mapping, `standard` calendar with hours since a reference, no fill value.
    Offset64RotatedPole,
}

impl Fixture {
    /// Every fixture.
    pub const ALL: [Fixture; 3] = [Self::ClassicPacked360Day, Self::Netcdf4NoLeapFill, Self::Offset64RotatedPole];

    /// A file name for the fixture.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::ClassicPacked360Day => "classic_packed_360day.nc",
            Self::Netcdf4NoLeapFill => "netcdf4_noleap_fill.nc",
            Self::Offset64RotatedPole => "offset64_rotated_pole.nc",
        }
    }

    /// Writes the fixture at `path`.
    pub fn write(self, path: &Path) -> Result<(), netcdf::Error> {
        crate::hdf5_chunks::silence_hdf5_diagnostics();
        match self {
            Self::ClassicPacked360Day => classic_packed_360day(path),
            Self::Netcdf4NoLeapFill => netcdf4_noleap_fill(path),
            Self::Offset64RotatedPole => offset64_rotated_pole(path),
        }
    }
}

/// A smooth, deterministic field value in [-1, 1].
fn wave(t: usize, y: usize, x: usize) -> f64 {
    let (t, y, x) = (t as f64, y as f64, x as f64);
    (2.0 * PI * t / 30.0 + y / 7.0).sin() * (x / 11.0 + t / 90.0).cos() * 0.8 + (y * x / 500.0).sin() * 0.2
}

fn coords(n: usize, start: f64, step: f64) -> Vec<f64> {
    (0..n).map(|i| start + step * i as f64).collect()
}

fn bounds(centres: &[f64], step: f64) -> Vec<f64> {
    centres.iter().flat_map(|c| [c - step / 2.0, c + step / 2.0]).collect()
}

/// Defines lat/lon coordinates with bounds (data written by [`write_latlon`]).
fn define_latlon(file: &mut netcdf::FileMut, ny: usize, nx: usize) -> Result<(), netcdf::Error> {
    file.add_dimension("lat", ny)?;
    file.add_dimension("lon", nx)?;
    file.add_dimension("bnds", 2)?;
    for (name, units, axis, std) in
        [("lat", "degrees_north", "Y", "latitude"), ("lon", "degrees_east", "X", "longitude")]
    {
        let mut v = file.add_variable::<f64>(name, &[name])?;
        v.put_attribute("units", units)?;
        v.put_attribute("axis", axis)?;
        v.put_attribute("standard_name", std)?;
        v.put_attribute("bounds", format!("{name}_bnds"))?;
        file.add_variable::<f64>(&format!("{name}_bnds"), &[name, "bnds"])?;
    }
    Ok(())
}

fn write_latlon(file: &mut netcdf::FileMut, ny: usize, nx: usize, step: f64) -> Result<(), netcdf::Error> {
    let lat = coords(ny, -90.0 + step / 2.0, step);
    let lon = coords(nx, -180.0 + step / 2.0, step);
    for (name, values) in [("lat", &lat), ("lon", &lon)] {
        file.variable_mut(name).ok_or("coordinate")?.put_values(values, ..)?;
        file.variable_mut(&format!("{name}_bnds")).ok_or("bounds")?.put_values(&bounds(values, step), ..)?;
    }
    Ok(())
}

fn classic_packed_360day(path: &Path) -> Result<(), netcdf::Error> {
    let (nt, ny, nx) = (36, 18, 36);
    let mut file = netcdf::create_with(path, Options::CLASSIC)?;
    file.add_attribute("Conventions", "CF-1.8")?;
    file.add_attribute("title", "hub fixture: packed monthly temperature, 360_day")?;
    file.add_unlimited_dimension("time")?;
    define_latlon(&mut file, ny, nx)?;
    let mut t = file.add_variable::<f64>("time", &["time"])?;
    t.put_attribute("units", "days since 1859-12-01")?;
    t.put_attribute("calendar", "360_day")?;
    t.put_attribute("standard_name", "time")?;
    t.put_attribute("axis", "T")?;
    let scale = 0.01_f32;
    let offset = 273.15_f32;
    let mut v = file.add_variable::<i16>("tas", &["time", "lat", "lon"])?;
    v.put_attribute("standard_name", "air_temperature")?;
    v.put_attribute("units", "K")?;
    v.put_attribute("scale_factor", scale)?;
    v.put_attribute("add_offset", offset)?;
    v.put_attribute("_FillValue", AttributeValue::Short(-32767))?;
    v.put_attribute("missing_value", AttributeValue::Short(-32767))?;
    v.put_attribute("cell_methods", "time: mean")?;
    file.enddef()?;
    write_latlon(&mut file, ny, nx, 10.0)?;
    file.variable_mut("time")
        .ok_or("time")?
        .put_values(&(0..nt).map(|i| 15.0 + 30.0 * i as f64).collect::<Vec<_>>(), 0..nt)?;
    let mut data = Vec::with_capacity(nt * ny * nx);
    for ti in 0..nt {
        for y in 0..ny {
            for x in 0..nx {
                let kelvin = 273.15 + 30.0 * wave(ti, y, x) - (y as f64 - 9.0).abs() * 2.0;
                let packed = ((kelvin - f64::from(offset)) / f64::from(scale)).round() as i16;
                // Missing cells: a diagonal, and the whole polar row at step 5.
                let missing = (x + y + ti) % 17 == 0 || (ti == 5 && y == 0);
                data.push(if missing { -32767 } else { packed });
            }
        }
    }
    file.variable_mut("tas").ok_or("tas")?.put_values(&data, (0..nt, 0..ny, 0..nx))?;
    Ok(())
}

fn netcdf4_noleap_fill(path: &Path) -> Result<(), netcdf::Error> {
    let (nt, ny, nx) = (730, 36, 72);
    let mut file = netcdf::create_with(path, Options::NETCDF4)?;
    file.add_attribute("Conventions", "CF-1.8")?;
    file.add_attribute("title", "hub fixture: daily precipitation, noleap, with an ocean band of fill values")?;
    file.add_attribute("source", AttributeValue::Strs(vec!["model A".into(), "model B".into()]))?;
    file.add_dimension("time", nt)?;
    define_latlon(&mut file, ny, nx)?;
    write_latlon(&mut file, ny, nx, 5.0)?;
    file.add_dimension("station", 3)?;
    let mut t = file.add_variable::<i32>("time", &["time"])?;
    t.put_attribute("units", "days since 2046-1-1")?;
    t.put_attribute("calendar", "noleap")?;
    t.put_attribute("standard_name", "time")?;
    t.put_attribute("bounds", "time_bnds")?;
    t.put_values(&(0..nt as i32).collect::<Vec<_>>(), ..)?;
    let mut tb = file.add_variable::<i32>("time_bnds", &["time", "bnds"])?;
    tb.put_values(&(0..nt as i32).flat_map(|i| [i, i + 1]).collect::<Vec<_>>(), ..)?;
    let mut h = file.add_variable::<f64>("height", &[])?;
    h.put_attribute("units", "m")?;
    h.put_attribute("positive", "up")?;
    h.put_attribute("standard_name", "height")?;
    h.put_value(2.0, ..)?;
    let mut names = file.add_string_variable("station_name", &["station"])?;
    for (i, n) in ["Hà Nội", "Montréal", "Zürich"].iter().enumerate() {
        names.put_string(n, [i])?;
    }
    let fill = 1e20_f32;
    let mut v = file.add_variable::<f32>("pr", &["time", "lat", "lon"])?;
    v.set_compression(4, true)?;
    v.set_chunking(&[1, ny, nx])?;
    v.put_attribute("_FillValue", fill)?;
    v.put_attribute("missing_value", fill)?;
    v.put_attribute("standard_name", "precipitation_flux")?;
    v.put_attribute("units", "kg m-2 s-1")?;
    v.put_attribute("coordinates", "height")?;
    v.put_attribute("cell_methods", "time: mean")?;
    let mut data = Vec::with_capacity(nt * ny * nx);
    for ti in 0..nt {
        for y in 0..ny {
            for x in 0..nx {
                // An all-missing band and an outage: whole chunks of fill, never stored.
                let ocean = y < 8 || ti < 190;
                let w = wave(ti, y, x);
                data.push(if ocean { fill } else { (w.max(0.0) * 1e-4) as f32 });
            }
        }
    }
    v.put_values(&data, ..)?;
    Ok(())
}

fn offset64_rotated_pole(path: &Path) -> Result<(), netcdf::Error> {
    let (nt, ny, nx) = (48, 40, 50);
    let mut file = netcdf::create_with(path, Options::_64BIT_OFFSET)?;
    file.add_attribute("Conventions", "CF-1.8")?;
    file.add_attribute("title", "hub fixture: hourly 2 m temperature on a rotated pole grid")?;
    file.add_dimension("time", nt)?;
    file.add_dimension("rlat", ny)?;
    file.add_dimension("rlon", nx)?;
    let mut t = file.add_variable::<f64>("time", &["time"])?;
    t.put_attribute("units", "hours since 2024-07-01 00:00:00")?;
    t.put_attribute("calendar", "standard")?;
    t.put_attribute("standard_name", "time")?;
    for (name, std) in [("rlat", "grid_latitude"), ("rlon", "grid_longitude")] {
        let mut v = file.add_variable::<f64>(name, &[name])?;
        v.put_attribute("standard_name", std)?;
        v.put_attribute("units", "degrees")?;
    }
    let mut gm = file.add_variable::<i32>("rotated_pole", &[])?;
    gm.put_attribute("grid_mapping_name", "rotated_latitude_longitude")?;
    gm.put_attribute("grid_north_pole_latitude", 39.25_f64)?;
    gm.put_attribute("grid_north_pole_longitude", -162.0_f64)?;
    for (name, std, units) in [("lat", "latitude", "degrees_north"), ("lon", "longitude", "degrees_east")] {
        let mut v = file.add_variable::<f64>(name, &["rlat", "rlon"])?;
        v.put_attribute("standard_name", std)?;
        v.put_attribute("units", units)?;
    }
    let mut v = file.add_variable::<f64>("t2m", &["time", "rlat", "rlon"])?;
    v.put_attribute("standard_name", "air_temperature")?;
    v.put_attribute("units", "K")?;
    v.put_attribute("coordinates", "lat lon")?;
    v.put_attribute("grid_mapping", "rotated_pole")?;
    file.enddef()?;

    let rlat = coords(ny, -10.0, 0.5);
    let rlon = coords(nx, -12.0, 0.5);
    file.variable_mut("time").ok_or("time")?.put_values(&coords(nt, 0.0, 1.0), ..)?;
    file.variable_mut("rlat").ok_or("rlat")?.put_values(&rlat, ..)?;
    file.variable_mut("rlon").ok_or("rlon")?.put_values(&rlon, ..)?;
    file.variable_mut("rotated_pole").ok_or("rotated_pole")?.put_value(0, ..)?;
    // The geographic position of every cell, by the grid mapping's own rotation.
    let pole = RotatedPole { pole_lat: 39.25, pole_lon: -162.0, north_pole_grid_lon: 0.0 };
    let centres: Vec<LonLat> = rlat
        .iter()
        .flat_map(|&y| rlon.iter().map(move |&x| pole.inverse(x, y).unwrap_or(LonLat { lon: f64::NAN, lat: f64::NAN })))
        .collect();
    let lat: Vec<f64> = centres.iter().map(|p| p.lat).collect();
    let lon: Vec<f64> = centres.iter().map(|p| p.lon).collect();
    file.variable_mut("lat").ok_or("lat")?.put_values(&lat, ..)?;
    file.variable_mut("lon").ok_or("lon")?.put_values(&lon, ..)?;
    let data: Vec<f64> =
        (0..nt).flat_map(|ti| (0..ny).flat_map(move |y| (0..nx).map(move |x| 285.0 + 8.0 * wave(ti, y, x)))).collect();
    file.variable_mut("t2m").ok_or("t2m")?.put_values(&data, ..)?;
    Ok(())
}

/// Writes the demo dataset: a year of daily 2 m temperature and precipitation
/// on a 1° global grid (NetCDF-4, deflate, CF-1.8, standard calendar), about
/// 190 MB uncompressed.
pub fn write_demo(path: &Path, days: usize) -> Result<(), netcdf::Error> {
    let (ny, nx) = (180, 360);
    let mut file = netcdf::create_with(path, Options::NETCDF4)?;
    file.add_attribute("Conventions", "CF-1.8")?;
    file.add_attribute("title", "Forecast data hub demo: daily 2 m temperature and precipitation")?;
    file.add_attribute("institution", "forecast data hub (synthetic data)")?;
    file.add_unlimited_dimension("time")?;
    define_latlon(&mut file, ny, nx)?;
    write_latlon(&mut file, ny, nx, 1.0)?;
    let mut t = file.add_variable::<f64>("time", &["time"])?;
    t.put_attribute("units", "days since 2025-01-01 00:00:00")?;
    t.put_attribute("calendar", "standard")?;
    t.put_attribute("standard_name", "time")?;
    t.put_attribute("axis", "T")?;
    t.put_values(&coords(days, 0.5, 1.0), 0..days)?;
    for (name, std, units, fill) in
        [("tas", "air_temperature", "K", None), ("pr", "precipitation_flux", "kg m-2 s-1", Some(1e20_f32))]
    {
        let mut v = file.add_variable::<f32>(name, &["time", "lat", "lon"])?;
        v.set_compression(4, true)?;
        v.set_chunking(&[1, ny, nx])?;
        v.put_attribute("standard_name", std)?;
        v.put_attribute("units", units)?;
        if let Some(f) = fill {
            v.put_attribute("_FillValue", f)?;
        }
    }
    for day in 0..days {
        let mut tas = Vec::with_capacity(ny * nx);
        let mut pr = Vec::with_capacity(ny * nx);
        for y in 0..ny {
            let lat = -89.5 + y as f64;
            for x in 0..nx {
                let season = (2.0 * PI * (day as f64 - 20.0) / 365.0).cos() * lat.to_radians().sin();
                tas.push(
                    (288.0 - 30.0 * lat.to_radians().sin().powi(2) - 10.0 * season + 3.0 * wave(day, y, x)) as f32,
                );
                pr.push((wave(day, y / 2, x / 2).max(0.0) * 2e-4) as f32);
            }
        }
        file.variable_mut("tas").ok_or("tas")?.put_values(&tas, (day..=day, 0..ny, 0..nx))?;
        file.variable_mut("pr").ok_or("pr")?.put_values(&pr, (day..=day, 0..ny, 0..nx))?;
    }
    Ok(())
}

/// What [`write_daily_steps`] writes.
#[derive(Debug, Clone)]
pub struct DailySteps<'a> {
    /// Day numbers (days after 2025-01-01), in file order.
    pub days: &'a [i64],
    /// `units` of the time axis, e.g. `days since 2025-01-01` or
    /// `hours since 2024-12-31 00:00`: steps sit at noon of their day.
    pub time_units: &'a str,
    /// Added to every value: tells a corrected delivery from the first one.
    pub version: f32,
    /// Grid size (lat, lon) on a 10° grid.
    pub grid: (usize, usize),
}

impl DailySteps<'_> {
    /// The value of `tas` at a day and cell: exact in float32, so stored
    /// values can be compared bit for bit.
    pub fn value(day: i64, y: usize, x: usize, version: f32) -> f32 {
        (day * 100 + (y * 10 + x) as i64) as f32 + version
    }
}

/// Writes daily mean temperature steps for chosen days (NetCDF-4, CF-1.8,
/// standard calendar, `time_bnds`): the building block of append tests, where
/// files arrive late, twice, or corrected.
pub fn write_daily_steps(path: &Path, spec: &DailySteps<'_>) -> Result<(), netcdf::Error> {
    let (ny, nx) = spec.grid;
    let per_day = if spec.time_units.trim_start().starts_with("hours") { 24.0 } else { 1.0 };
    // Offset of the units' epoch from 2025-01-01, in days: only the two epochs the tests use.
    let epoch = if spec.time_units.contains("2024-12-31") { -1.0 } else { 0.0 };
    let mut file = netcdf::create_with(path, Options::NETCDF4)?;
    file.add_attribute("Conventions", "CF-1.8")?;
    file.add_attribute("title", "hub fixture: daily steps")?;
    file.add_unlimited_dimension("time")?;
    define_latlon(&mut file, ny, nx)?;
    write_latlon(&mut file, ny, nx, 10.0)?;
    let mut t = file.add_variable::<f64>("time", &["time"])?;
    t.put_attribute("units", spec.time_units)?;
    t.put_attribute("calendar", "standard")?;
    t.put_attribute("standard_name", "time")?;
    t.put_attribute("axis", "T")?;
    t.put_attribute("bounds", "time_bnds")?;
    let times: Vec<f64> = spec.days.iter().map(|&d| (d as f64 - epoch + 0.5) * per_day).collect();
    t.put_values(&times, 0..times.len())?;
    let mut tb = file.add_variable::<f64>("time_bnds", &["time", "bnds"])?;
    tb.put_attribute("units", spec.time_units)?;
    let bnds: Vec<f64> =
        spec.days.iter().flat_map(|&d| [(d as f64 - epoch) * per_day, (d as f64 - epoch + 1.0) * per_day]).collect();
    tb.put_values(&bnds, (0..times.len(), 0..2))?;
    let mut v = file.add_variable::<f32>("tas", &["time", "lat", "lon"])?;
    v.put_attribute("standard_name", "air_temperature")?;
    v.put_attribute("units", "K")?;
    v.put_attribute("cell_methods", "time: mean")?;
    let data: Vec<f32> = spec
        .days
        .iter()
        .flat_map(|&d| (0..ny).flat_map(move |y| (0..nx).map(move |x| DailySteps::value(d, y, x, spec.version))))
        .collect();
    v.put_values(&data, (0..times.len(), 0..ny, 0..nx))?;
    Ok(())
}

/// A NetCDF-3 file as some ECMWF tools write it: `t2m(time, lat, lon)`
/// packed as int16 (`scale_factor` 0.01, `add_offset` 273.15) with a
/// floating-point NaN `_FillValue`, which no int16 can equal (xarray reads the
/// file with no cell missing). netCDF-C only writes a `_FillValue` of the
/// variable's type, so the attribute is written under another name of the
/// same length and renamed in the header.
pub fn write_nan_fill_short(path: &Path) -> Result<(), netcdf::Error> {
    crate::hdf5_chunks::silence_hdf5_diagnostics();
    {
        let mut file = netcdf::create_with(path, Options::CLASSIC)?;
        file.add_unlimited_dimension("time")?;
        file.add_dimension("lat", 3)?;
        file.add_dimension("lon", 4)?;
        // Classic files: everything defined before any value is written.
        let mut t = file.add_variable::<f64>("time", &["time"])?;
        t.put_attribute("units", "hours since 2024-01-01 00:00:00")?;
        t.put_attribute("calendar", "standard")?;
        for name in ["lat", "lon"] {
            let mut v = file.add_variable::<f64>(name, &[name])?;
            v.put_attribute("units", if name == "lat" { "degrees_north" } else { "degrees_east" })?;
        }
        let mut v = file.add_variable::<i16>("t2m", &["time", "lat", "lon"])?;
        v.put_attribute("scale_factor", 0.01f64)?;
        v.put_attribute("add_offset", 273.15f64)?;
        v.put_attribute("units", "K")?;
        v.put_attribute("FillValue_X", f64::NAN)?;
        file.enddef()?;
        let put = |file: &mut netcdf::FileMut, name: &str, values: &[f64]| -> Result<(), netcdf::Error> {
            file.variable_mut(name).ok_or_else(|| netcdf::Error::Str(format!("no {name}")))?.put_values(values, ..)
        };
        file.variable_mut("time").ok_or("time")?.put_values(&[0.0, 6.0], 0..2)?;
        put(&mut file, "lat", &[60.0, 59.0, 58.0])?;
        put(&mut file, "lon", &[20.0, 21.0, 22.0, 23.0])?;
        let raw: Vec<i16> = (0..24).map(|i| (i * 37 % 200 - 100) as i16).collect();
        file.variable_mut("t2m").ok_or("t2m")?.put_values(&raw, (0..2, 0..3, 0..4))?;
    }
    let mut bytes = std::fs::read(path).map_err(|e| netcdf::Error::Str(e.to_string()))?;
    let at =
        bytes.windows(11).position(|w| w == b"FillValue_X").ok_or_else(|| netcdf::Error::Str("no attribute".into()))?;
    bytes[at..at + 11].copy_from_slice(b"_FillValue\0");
    // The name's length field (the 4 bytes before it) shrinks by one; the
    // padded length stays 12.
    let len = u32::from_be_bytes([bytes[at - 4], bytes[at - 3], bytes[at - 2], bytes[at - 1]]);
    bytes[at - 4..at].copy_from_slice(&(len - 1).to_be_bytes());
    std::fs::write(path, bytes).map_err(|e| netcdf::Error::Str(e.to_string()))
}
