//! A GeoTIFF as a CF dataset (see the crate documentation for the mapping).

use std::path::Path;

use gdal::Dataset;
use gdal::Metadata;
use gdal::raster::GdalDataType;
use hub_core::model::{
    AttrValue, Attributes, BlockData, DataType, DatasetSchema, GroupSchema, Hyperslab, VariableSchema,
};
use hub_core::ports::{DecodeError, DecodeHints, SourceDataset, checked_read};

use crate::grid::{CRS_VAR, Grid, corrupt};
use crate::metadata;

/// An open GeoTIFF.
pub struct GeoTiffSource {
    dataset: Dataset,
    /// The file, to keep its path out of messages.
    path: std::path::PathBuf,
    schema: DatasetSchema,
    /// Coordinates and grid mapping.
    grid: Grid,
    /// Variable path → band index (1-based) and type.
    bands: Vec<(String, usize, DataType)>,
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
        Self::open_with(path, &DecodeHints { crs: crs.map(str::to_string), ..DecodeHints::default() })
    }

    /// Opens a GeoTIFF whose first directory was checked against the hints'
    /// limits first (see `tiff_header`), with the hints' CRS for a file that
    /// carries none.
    pub fn open_with(path: &Path, hints: &DecodeHints) -> Result<Self, DecodeError> {
        crate::tiff_header::check(&crate::read_at::FileAt::open(path)?, &hints.limits)?;
        crate::configure();
        let crs = hints.crs.as_deref();
        let dataset = Dataset::open(path).map_err(|e| corrupt(path, e))?;
        let grid = Grid::of(&dataset, path, crs)?;
        let (ny, nx) = grid.shape();
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

        let mut variables = grid.variables.clone();
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
                dims: grid.dims(),
                shape: vec![ny, nx],
                dtype: dt,
                attrs,
                source_chunks: Some(vec![bh as u64, bw as u64]),
            });
            bands.push((name, index, dt));
        }
        if bands.is_empty() {
            return Err(DecodeError::Unsupported(
                "no band of a type the hub stores (8-64 bit integers, 32/64 bit floats)".into(),
            ));
        }
        let schema = DatasetSchema {
            groups: vec![GroupSchema { path: String::new(), attrs: globals }],
            dims: grid.dimensions(),
            variables,
            warnings,
        };
        Ok(Self { dataset, path: path.to_path_buf(), schema, grid, bands })
    }

    fn read_band(&self, index: usize, dt: DataType, region: &Hyperslab) -> Result<Vec<u8>, DecodeError> {
        let band = self.dataset.rasterband(index).map_err(|e| corrupt(&self.path, e))?;
        let (y0, x0) = (region.start[0], region.start[1]);
        let (h, w) = (region.shape[0] as usize, region.shape[1] as usize);
        let window = (x0 as isize, y0 as isize);
        let bad = |e: gdal::errors::GdalError| corrupt(&self.path, format!("band {index}: {e}"));
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

    fn read(&mut self, path: &str, region: &Hyperslab) -> Result<BlockData, DecodeError> {
        checked_read(&self.schema, path, region)?;
        if let Some(bytes) = self.grid.read(path, region) {
            return Ok(BlockData::Numeric(bytes));
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
