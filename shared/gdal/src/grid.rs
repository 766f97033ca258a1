//! The horizontal grid of a GDAL raster as CF: cell-centre coordinates from
//! the geotransform (`x`/`y` in the CRS's units, or `lat`/`lon` for a
//! geographic CRS) and the CRS as a grid mapping variable (`crs_wkt`,
//! `spatial_ref`, `proj4_params`, `GeoTransform`). Shared by every raster
//! format GDAL reads for the hub (GeoTIFF, GRIB2).

use std::path::Path;

use gdal::Dataset;
use hub_core::model::{AttrValue, Attributes, DataType, Dimension, Region, VariableSchema};
use hub_core::ports::DecodeError;

/// Name of the grid mapping variable.
pub(crate) const CRS_VAR: &str = "spatial_ref";

pub(crate) fn corrupt(path: &Path, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Corrupt(format!("{}: {e}", path.display()))
}

/// The grid of a raster: its coordinate and grid mapping variables.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    /// Cell-centre coordinates along y and x, and their variable names.
    y: (String, Vec<f64>),
    x: (String, Vec<f64>),
    /// `y`, `x` and the grid mapping, as variables.
    pub(crate) variables: Vec<VariableSchema>,
}

impl Grid {
    /// The grid of `dataset`; `crs` (any definition GDAL reads) is used when
    /// the file carries none. Rotated geotransforms and files without any CRS
    /// are refused.
    pub(crate) fn of(dataset: &Dataset, path: &Path, crs: Option<&str>) -> Result<Self, DecodeError> {
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

        Ok(Self { y, x, variables })
    }

    /// Rows and columns.
    pub(crate) fn shape(&self) -> (usize, usize) {
        (self.y.1.len(), self.x.1.len())
    }

    /// The dimensions of a field on the grid.
    pub(crate) fn dims(&self) -> Vec<String> {
        vec![self.y.0.clone(), self.x.0.clone()]
    }

    /// The grid's dimensions.
    pub(crate) fn dimensions(&self) -> Vec<Dimension> {
        vec![
            Dimension { name: self.y.0.clone(), len: self.y.1.len() as u64, unlimited: false },
            Dimension { name: self.x.0.clone(), len: self.x.1.len() as u64, unlimited: false },
        ]
    }

    /// The values of a grid variable (`None` for any other path).
    pub(crate) fn read(&self, path: &str, region: &Region) -> Option<Vec<u8>> {
        let coords = |values: &[f64]| -> Option<Vec<u8>> {
            let (a, n) = (usize::try_from(*region.start.first()?).ok()?, usize::try_from(*region.shape.first()?).ok()?);
            Some(values.get(a..a + n)?.iter().flat_map(|v| v.to_le_bytes()).collect())
        };
        if path == self.y.0 {
            return coords(&self.y.1);
        }
        if path == self.x.0 {
            return coords(&self.x.1);
        }
        (path == CRS_VAR).then(|| 0i32.to_le_bytes().to_vec())
    }
}
