//! CF NetCDF answers for gridded queries (cube, area), written in pure Rust
//! as NetCDF-3 64-bit offset files with the `netcdf3` crate: the serve
//! binaries link neither netCDF-C nor HDF5, and every NetCDF reader opens
//! the classic format.
//!
//! The file is a small CF dataset: one dimension per answered axis (time,
//! level, member…) and the grid's two horizontal dimensions, coordinate
//! variables for each (times in seconds since 1970-01-01 in the collection's
//! calendar), the grid mapping of a projected grid, 2-D `lat`/`lon` on a
//! curvilinear grid, and each parameter as `float` (or `double` when stored
//! so) with its CF attributes and `_FillValue` where the answer has no value
//! (missing in the source, or outside the queried area).

use std::cell::RefCell;
use std::io::{Cursor, Seek, SeekFrom, Write};
use std::rc::Rc;

use hub_core::cf::{DimRole, TimeEncoding};
use hub_core::model::{AttrValue, DataType};
use hub_core::query::{AxisValues, Cell, HorizontalGrid, Window};
use netcdf3::{DataSet, FileWriter, Version};

use hub_core::query::{Extraction, Horizontal, OutAxis};

use crate::encode::EncodeError;

/// The media type of the answers.
pub const MEDIA_TYPE: &str = "application/x-netcdf";

/// `_FillValue` of `float` variables (netCDF's default fill for floats).
const FILL_F32: f32 = 9.969_21e36;
/// `_FillValue` of `double` variables.
const FILL_F64: f64 = 9.969_209_968_386_869e36;

/// Parameter attributes carried into the file (encoding attributes are not:
/// the values are written decoded).
const KEPT_ATTRS: &[&str] = &["standard_name", "long_name", "units", "cell_methods", "comment", "source", "references"];

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Nc3(String);

fn nc3<E: std::fmt::Debug>(e: E) -> Nc3 {
    Nc3(format!("{e:?}"))
}

/// The bytes of the CF NetCDF-3 file of a gridded extraction.
pub fn netcdf(x: &Extraction) -> Result<Vec<u8>, EncodeError> {
    let Horizontal::Window(w) = &x.horizontal else {
        return Err(EncodeError::NotOffered { format: "NetCDF", what: "gridded queries (cube, area)" });
    };
    build(x, w).map_err(|e| EncodeError::failed("NetCDF", e))
}

/// A NetCDF-3 name: letters, digits, `_`, `.`, `-`, `+`, `@`, starting with a
/// letter or `_`.
fn nc_name(name: &str) -> String {
    let mut s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-+@".contains(c) { c } else { '_' }).collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    s
}

/// Values laid out for the file, by variable.
enum Data {
    F64(Vec<f64>),
    F32(Vec<f32>),
    I32(Vec<i32>),
}

struct Builder {
    ds: DataSet,
    data: Vec<(String, Data)>,
}

impl Builder {
    fn dim(&mut self, name: &str, len: usize) -> Result<(), Nc3> {
        self.ds.add_fixed_dim(name, len).map_err(nc3)
    }

    fn f64_var(&mut self, name: &str, dims: &[String], values: Vec<f64>) -> Result<(), Nc3> {
        self.ds.add_var_f64(name, dims).map_err(nc3)?;
        self.data.push((name.to_string(), Data::F64(values)));
        Ok(())
    }

    fn text(&mut self, var: &str, key: &str, value: &str) -> Result<(), Nc3> {
        self.ds.add_var_attr_string(var, key, value).map_err(nc3)
    }

    fn attr(&mut self, var: &str, key: &str, value: &AttrValue) -> Result<(), Nc3> {
        let key = nc_name(key);
        match value {
            AttrValue::Text(t) => self.ds.add_var_attr_string(var, &key, t),
            AttrValue::Texts(t) => self.ds.add_var_attr_string(var, &key, t.join("\n")),
            AttrValue::Ints(_, v) => self.ds.add_var_attr_f64(var, &key, v.iter().map(|n| *n as f64).collect()),
            AttrValue::UInts(_, v) => self.ds.add_var_attr_f64(var, &key, v.iter().map(|n| *n as f64).collect()),
            AttrValue::Floats(_, v) => self.ds.add_var_attr_f64(var, &key, v.clone()),
        }
        .map_err(nc3)
    }
}

#[allow(clippy::cast_possible_truncation)]
fn build(x: &Extraction, w: &Window) -> Result<Vec<u8>, Nc3> {
    let mut b = Builder { ds: DataSet::new(), data: Vec::new() };
    let mut taken = std::collections::HashSet::new();
    let mut axis_dims = Vec::new();
    for a in &x.axes {
        let name = nc_name(&a.name);
        b.dim(&name, a.picked.len())?;
        axis_var(&mut b, &name, a)?;
        taken.insert(name.clone());
        axis_dims.push(name);
    }
    let (y_dim, x_dim) = (nc_name(&x.grid.y_dim), nc_name(&x.grid.x_dim));
    b.dim(&y_dim, w.js.len())?;
    b.dim(&x_dim, w.is.len())?;
    taken.extend([y_dim.clone(), x_dim.clone()]);
    let (y_units, x_units) = (&x.xy_units.1, &x.xy_units.0);
    let mut data_attrs: Vec<(&str, String)> = Vec::new();
    match &x.grid.grid {
        HorizontalGrid::LonLat { .. } => {
            b.f64_var(&y_dim, std::slice::from_ref(&y_dim), w.y.clone())?;
            b.text(&y_dim, "standard_name", "latitude")?;
            b.text(&y_dim, "units", "degrees_north")?;
            b.text(&y_dim, "axis", "Y")?;
            b.f64_var(&x_dim, std::slice::from_ref(&x_dim), w.x.clone())?;
            b.text(&x_dim, "standard_name", "longitude")?;
            b.text(&x_dim, "units", "degrees_east")?;
            b.text(&x_dim, "axis", "X")?;
        }
        HorizontalGrid::Projected { .. } => {
            let mapping = x.grid.grid_mapping.clone().unwrap_or_default();
            let rotated =
                hub_core::model::attr_text(&mapping, "grid_mapping_name") == Some("rotated_latitude_longitude");
            let (ys, xs) = if rotated {
                ("grid_latitude", "grid_longitude")
            } else {
                ("projection_y_coordinate", "projection_x_coordinate")
            };
            let default_units = if rotated { "degrees" } else { "m" };
            b.f64_var(&y_dim, std::slice::from_ref(&y_dim), w.y.clone())?;
            b.text(&y_dim, "standard_name", ys)?;
            b.text(&y_dim, "units", y_units.as_deref().unwrap_or(default_units))?;
            b.text(&y_dim, "axis", "Y")?;
            b.f64_var(&x_dim, std::slice::from_ref(&x_dim), w.x.clone())?;
            b.text(&x_dim, "standard_name", xs)?;
            b.text(&x_dim, "units", x_units.as_deref().unwrap_or(default_units))?;
            b.text(&x_dim, "axis", "X")?;
            let crs = free_name(&taken, "crs");
            b.ds.add_var_i32::<&str>(&crs, &[]).map_err(nc3)?;
            b.data.push((crs.clone(), Data::I32(vec![0])));
            for (k, v) in &mapping {
                b.attr(&crs, k, v)?;
            }
            taken.insert(crs.clone());
            data_attrs.push(("grid_mapping", crs));
        }
        HorizontalGrid::Curvilinear(_) => {
            let (mut lats, mut lons) = (Vec::new(), Vec::new());
            for &j in &w.js {
                for &i in &w.is {
                    let at = x.grid.grid.center(Cell { j, i });
                    lats.push(at.map_or(FILL_F64, |p| p.lat));
                    lons.push(at.map_or(FILL_F64, |p| p.lon));
                }
            }
            let yx = [y_dim.clone(), x_dim.clone()];
            let lat = free_name(&taken, "lat");
            taken.insert(lat.clone());
            let lon = free_name(&taken, "lon");
            taken.insert(lon.clone());
            for (name, values, sn, units) in
                [(&lat, lats, "latitude", "degrees_north"), (&lon, lons, "longitude", "degrees_east")]
            {
                b.f64_var(name, &yx, values)?;
                b.text(name, "standard_name", sn)?;
                b.text(name, "units", units)?;
                b.ds.add_var_attr_f64(name, "_FillValue", vec![FILL_F64]).map_err(nc3)?;
            }
            data_attrs.push(("coordinates", format!("{lat} {lon}")));
        }
    }
    let mut dims = axis_dims;
    dims.extend([y_dim, x_dim]);
    for p in &x.params {
        let name = free_name(&taken, &nc_name(&p.param.name));
        taken.insert(name.clone());
        let double = p.param.array.dtype == DataType::Float64;
        if double {
            b.ds.add_var_f64(&name, &dims).map_err(nc3)?;
            b.ds.add_var_attr_f64(&name, "_FillValue", vec![FILL_F64]).map_err(nc3)?;
            b.data.push((name.clone(), Data::F64(p.values.iter().map(|v| v.unwrap_or(FILL_F64)).collect())));
        } else {
            b.ds.add_var_f32(&name, &dims).map_err(nc3)?;
            b.ds.add_var_attr_f32(&name, "_FillValue", vec![FILL_F32]).map_err(nc3)?;
            b.data.push((name.clone(), Data::F32(p.values.iter().map(|v| v.map_or(FILL_F32, |v| v as f32)).collect())));
        }
        for key in KEPT_ATTRS {
            if let Some(v) = p.param.array.attrs.get(*key) {
                b.attr(&name, key, v)?;
            }
        }
        if !p.param.array.attrs.contains_key("long_name") && p.param.description != p.param.name {
            b.text(&name, "long_name", &p.param.description)?;
        }
        for (k, v) in &data_attrs {
            b.text(&name, k, v)?;
        }
    }
    b.ds.add_global_attr_string("Conventions", "CF-1.8").map_err(nc3)?;
    b.ds.add_global_attr_string("source", format!("collection {} of the forecast data hub", x.collection))
        .map_err(nc3)?;
    write(&b)
}

fn axis_var(b: &mut Builder, name: &str, a: &OutAxis) -> Result<(), Nc3> {
    let dims = [name.to_string()];
    match &a.values {
        AxisValues::Time { values, calendar } => {
            let enc = TimeEncoding::parse("seconds since 1970-01-01 00:00:00", *calendar).map_err(nc3)?;
            b.f64_var(name, &dims, values.iter().map(|t| enc.encode(t)).collect())?;
            b.text(name, "standard_name", "time")?;
            b.text(name, "units", "seconds since 1970-01-01 00:00:00")?;
            b.text(name, "calendar", calendar.name())?;
            b.text(name, "axis", "T")?;
        }
        AxisValues::Numbers { values } => {
            b.f64_var(name, &dims, values.clone())?;
            if let Some(u) = &a.units {
                b.text(name, "units", u)?;
            }
            match a.role {
                DimRole::Vertical => b.text(name, "axis", "Z")?,
                DimRole::Member => b.text(name, "standard_name", "realization")?,
                _ => {}
            }
        }
    }
    Ok(())
}

fn free_name(taken: &std::collections::HashSet<String>, want: &str) -> String {
    let mut name = want.to_string();
    while taken.contains(&name) {
        name.push('_');
    }
    name
}

/// A growable in-memory file the writer seeks in; shared so the bytes can
/// be taken back once the writer is closed.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Cursor<Vec<u8>>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for Shared {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.0.borrow_mut().seek(pos)
    }
}

fn write(b: &Builder) -> Result<Vec<u8>, Nc3> {
    let out = Shared::default();
    let mut writer = FileWriter::open_seek_write("answer.nc", Box::new(out.clone())).map_err(nc3)?;
    writer.set_def(&b.ds, Version::Offset64Bit, 0).map_err(nc3)?;
    for (name, data) in &b.data {
        match data {
            Data::I32(v) => writer.write_var_i32(name, v).map_err(nc3)?,
            Data::F64(v) => writer.write_var_f64(name, v).map_err(nc3)?,
            Data::F32(v) => writer.write_var_f32(name, v).map_err(nc3)?,
        }
    }
    writer.close().map_err(nc3)?;
    let bytes = out.0.borrow().get_ref().clone();
    Ok(bytes)
}
