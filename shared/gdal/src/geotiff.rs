//! A GeoTIFF as a CF dataset (see the crate documentation for the mapping).

use std::path::Path;

use gdal::Dataset;
use gdal::Metadata;
use gdal::raster::GdalDataType;
use hub_core::model::{
    AttrValue, Attributes, BlockData, DataType, DatasetSchema, Dimension, GroupSchema, Region, VariableSchema,
};
use hub_core::ports::{DecodeError, SourceDataset};

use crate::metadata;

/// Name of the grid mapping variable.
const CRS_VAR: &str = "spatial_ref";

/// An open GeoTIFF.
pub struct GeoTiffSource {
    dataset: Dataset,
    schema: DatasetSchema,
    /// Cell-centre coordinates along y and x, and their variable names.
    y: (String, Vec<f64>),
    x: (String, Vec<f64>),
    /// Variable path → band index (1-based) and type.
    bands: Vec<(String, usize, DataType)>,
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Corrupt(format!("{}: {e}", path.display()))
}

fn dtype(t: GdalDataType) -> Option<DataType> {
    Some(match t {
        GdalDataType::UInt8 => DataType::UInt8,
        GdalDataType::UInt16 => DataType::UInt16,
        GdalDataType::Int16 => DataType::Int16,
        GdalDataType::UInt32 => DataType::UInt32,
        GdalDataType::Int32 => DataType::Int32,
        GdalDataType::Float32 => DataType::Float32,
        GdalDataType::Float64 => DataType::Float64,
        _ => return None,
    })
}

/// An attribute holding `v` in the type of the band (for `_FillValue`).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn typed(dt: DataType, v: f64) -> AttrValue {
    match dt {
        DataType::Float32 | DataType::Float64 => AttrValue::Floats(dt, vec![v]),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            AttrValue::UInts(dt, vec![v.max(0.0) as u64])
        }
        _ => AttrValue::Ints(dt, vec![v as i64]),
    }
}

/// An attribute name from a free-text metadata key (`Observation time` →
/// `observation_time`).
fn attr_name(key: &str) -> String {
    let s: String =
        key.trim().chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) { format!("_{s}") } else { s }
}

impl GeoTiffSource {
    /// Opens a GeoTIFF; one without a CRS, or with a rotated geotransform, is refused.
    pub fn open(path: &Path) -> Result<Self, DecodeError> {
        Self::open_with_crs(path, None)
    }

    /// Opens a GeoTIFF; `crs` (any definition GDAL reads) is used when the
    /// file carries none.
    pub fn open_with_crs(path: &Path, crs: Option<&str>) -> Result<Self, DecodeError> {
        let dataset = Dataset::open(path).map_err(|e| corrupt(path, e))?;
        let (nx, ny) = dataset.raster_size();
        let gt = dataset.geo_transform().map_err(|_| {
            DecodeError::Unsupported(format!("{}: no geotransform (not georeferenced)", path.display()))
        })?;
        if gt[2] != 0.0 || gt[4] != 0.0 {
            return Err(DecodeError::Unsupported(format!(
                "{}: rotated or sheared geotransform {gt:?}; only north-up grids are supported",
                path.display()
            )));
        }
        let srs = match (dataset.spatial_ref(), crs) {
            (Ok(srs), _) => srs,
            (Err(_), Some(def)) => gdal::spatial_ref::SpatialRef::from_definition(def).map_err(|e| {
                DecodeError::Unsupported(format!(
                    "{}: the configured CRS {def:?} is not understood: {e}",
                    path.display()
                ))
            })?,
            (Err(_), None) => {
                return Err(DecodeError::Unsupported(format!(
                    "{}: the file has no CRS; give the dataset's CRS in its configuration (\"crs\") or upload a georeferenced file",
                    path.display()
                )));
            }
        };
        let wkt = srs.to_wkt().map_err(|e| corrupt(path, e))?;
        let geographic = srs.is_geographic();
        let centres = |origin: f64, step: f64, n: usize| -> Vec<f64> {
            (0..n).map(|i| origin + (i as f64 + 0.5) * step).collect()
        };
        let (yname, xname) = if geographic { ("lat", "lon") } else { ("y", "x") };
        let y = (yname.to_string(), centres(gt[3], gt[5], ny));
        let x = (xname.to_string(), centres(gt[0], gt[1], nx));

        // Calibration and description the producer left in GDAL_METADATA.
        let items: Vec<(String, String)> =
            dataset.metadata_item("GDAL_METADATA", "").map(|xml| metadata::items(&xml)).unwrap_or_default();
        let item = |name: &str| {
            items.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.parse::<f64>().ok())
        };

        let mut globals = Attributes::new();
        globals.insert("Conventions".into(), AttrValue::text("CF-1.8"));
        globals.insert("source_format".into(), AttrValue::text("GeoTIFF"));
        for entry in dataset.metadata() {
            if entry.domain.is_empty() && entry.key != "GDAL_METADATA" {
                globals.insert(attr_name(&entry.key), AttrValue::text(entry.value));
            }
        }
        for (k, v) in &items {
            globals.insert(attr_name(k), AttrValue::text(v.clone()));
        }

        let mut variables = Vec::new();
        let sn =
            if geographic { ["latitude", "longitude"] } else { ["projection_y_coordinate", "projection_x_coordinate"] };
        let linear =
            srs.linear_units_name().map_or_else(|| "m".to_string(), |u| if u == "metre" { "m".into() } else { u });
        for ((name, values), (axis, std)) in [(&y, ("Y", sn[0])), (&x, ("X", sn[1]))] {
            let mut attrs = Attributes::new();
            attrs.insert("standard_name".into(), AttrValue::text(std));
            attrs.insert("axis".into(), AttrValue::text(axis));
            let unit = match (geographic, axis) {
                (true, "Y") => "degrees_north",
                (true, _) => "degrees_east",
                (false, _) => linear.as_str(),
            };
            attrs.insert("units".into(), AttrValue::text(unit));
            variables.push(VariableSchema {
                path: name.clone(),
                dims: vec![name.clone()],
                shape: vec![values.len() as u64],
                dtype: DataType::Float64,
                attrs,
                source_chunks: None,
            });
        }
        let mut gm = Attributes::new();
        if geographic {
            gm.insert("grid_mapping_name".into(), AttrValue::text("latitude_longitude"));
        }
        gm.insert("crs_wkt".into(), AttrValue::text(wkt.clone()));
        gm.insert("spatial_ref".into(), AttrValue::text(wkt));
        if let Ok(p4) = srs.to_proj4() {
            gm.insert("proj4_params".into(), AttrValue::text(p4.trim()));
        }
        gm.insert(
            "GeoTransform".into(),
            AttrValue::text(gt.iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(" ")),
        );
        variables.push(VariableSchema {
            path: CRS_VAR.into(),
            dims: vec![],
            shape: vec![],
            dtype: DataType::Int32,
            attrs: gm,
            source_chunks: None,
        });

        let mut bands = Vec::new();
        let mut warnings = Vec::new();
        let count = dataset.raster_count();
        for index in 1..=count {
            let band = dataset.rasterband(index).map_err(|e| corrupt(path, e))?;
            let Some(dt) = dtype(band.band_type()) else {
                warnings.push(format!("band {index}: type {:?} is not supported; skipped", band.band_type()));
                continue;
            };
            let name = if count == 1 { "band1".to_string() } else { format!("band{index}") };
            let mut attrs = Attributes::new();
            let fill = band.no_data_value().or_else(|| item("Nodata"));
            if let Some(f) = fill {
                attrs.insert("_FillValue".into(), typed(dt, f));
            }
            let scale = band.scale().filter(|s| *s != 1.0).or_else(|| item("Gain"));
            let offset = band.offset().filter(|o| *o != 0.0).or_else(|| item("Offset"));
            if let Some(s) = scale {
                attrs.insert("scale_factor".into(), AttrValue::f64(s));
            }
            if let Some(o) = offset {
                attrs.insert("add_offset".into(), AttrValue::f64(o));
            }
            if let Some(u) = item("Undetect") {
                attrs.insert("undetect".into(), typed(dt, u));
                attrs.insert(
                    "comment".into(),
                    AttrValue::text("cells equal to `undetect` were measured and hold no echo (not missing)"),
                );
            }
            if let Some((_, q)) = items.iter().find(|(k, _)| k.eq_ignore_ascii_case("Quantity")) {
                attrs.insert("long_name".into(), AttrValue::text(q.clone()));
            }
            attrs.insert("grid_mapping".into(), AttrValue::text(CRS_VAR));
            let (bw, bh) = band.block_size();
            variables.push(VariableSchema {
                path: name.clone(),
                dims: vec![y.0.clone(), x.0.clone()],
                shape: vec![ny as u64, nx as u64],
                dtype: dt,
                attrs,
                source_chunks: Some(vec![bh as u64, bw as u64]),
            });
            bands.push((name, index, dt));
        }
        if bands.is_empty() {
            return Err(DecodeError::Unsupported(format!("{}: no band of a supported type", path.display())));
        }
        let schema = DatasetSchema {
            groups: vec![GroupSchema { path: String::new(), attrs: globals }],
            dims: vec![
                Dimension { name: y.0.clone(), len: ny as u64, unlimited: false },
                Dimension { name: x.0.clone(), len: nx as u64, unlimited: false },
            ],
            variables,
            warnings,
        };
        Ok(Self { dataset, schema, y, x, bands })
    }

    fn read_band(&self, index: usize, dt: DataType, region: &Region) -> Result<Vec<u8>, DecodeError> {
        let band = self.dataset.rasterband(index).map_err(|e| DecodeError::Corrupt(e.to_string()))?;
        let (y0, x0) = (region.start[0], region.start[1]);
        let (h, w) = (region.shape[0] as usize, region.shape[1] as usize);
        let window = (x0 as isize, y0 as isize);
        let bad = |e: gdal::errors::GdalError| DecodeError::Corrupt(format!("band {index}: {e}"));
        macro_rules! read {
            ($t:ty) => {
                band.read_as::<$t>(window, (w, h), (w, h), None)
                    .map_err(bad)?
                    .data()
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect()
            };
        }
        Ok(match dt {
            DataType::UInt8 => read!(u8),
            DataType::UInt16 => read!(u16),
            DataType::Int16 => read!(i16),
            DataType::UInt32 => read!(u32),
            DataType::Int32 => read!(i32),
            DataType::Float32 => read!(f32),
            DataType::Float64 => read!(f64),
            other => return Err(DecodeError::Unsupported(format!("band type {other:?}"))),
        })
    }
}

impl SourceDataset for GeoTiffSource {
    fn format(&self) -> &str {
        "GeoTIFF"
    }

    fn schema(&self) -> &DatasetSchema {
        &self.schema
    }

    fn read(&mut self, path: &str, region: &Region) -> Result<BlockData, DecodeError> {
        let var =
            self.schema.variable(path).ok_or_else(|| DecodeError::InvalidRequest(format!("no variable {path}")))?;
        if !region.fits(&var.shape) {
            return Err(DecodeError::InvalidRequest(format!("{path}: region {region:?} outside {:?}", var.shape)));
        }
        let coords = |values: &[f64]| -> Vec<u8> {
            let (a, n) = (region.start[0] as usize, region.shape[0] as usize);
            values[a..a + n].iter().flat_map(|v| v.to_le_bytes()).collect()
        };
        if path == self.y.0 {
            return Ok(BlockData::Numeric(coords(&self.y.1)));
        }
        if path == self.x.0 {
            return Ok(BlockData::Numeric(coords(&self.x.1)));
        }
        if path == CRS_VAR {
            return Ok(BlockData::Numeric(0i32.to_le_bytes().to_vec()));
        }
        let (_, index, dt) = self
            .bands
            .iter()
            .find(|(name, ..)| name == path)
            .cloned()
            .ok_or_else(|| DecodeError::InvalidRequest(format!("no band {path}")))?;
        Ok(BlockData::Numeric(self.read_band(index, dt, region)?))
    }
}
