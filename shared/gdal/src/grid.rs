//! The horizontal grid of a GDAL raster as CF: cell-centre coordinates from
//! the geotransform (`x`/`y` in the CRS's units, or `lat`/`lon` for a
//! geographic CRS) and the CRS as a grid mapping variable (`crs_wkt`,
//! `spatial_ref`, `proj4_params`, `GeoTransform`). Shared by every raster
//! format GDAL reads for the hub (GeoTIFF, GRIB2).

use std::path::Path;

use gdal::Dataset;
use hub_core::model::{AttrValue, Attributes, DataType, Dimension, Hyperslab, VariableSchema};
use hub_core::ports::DecodeError;

/// Name of the grid mapping variable.
pub(crate) const CRS_VAR: &str = "spatial_ref";

/// GDAL's own words about a file it cannot read, without the machine's path
/// (reports name the upload), and what to do.
pub(crate) fn corrupt(path: &Path, e: impl std::fmt::Display) -> DecodeError {
    let said = e.to_string().replace(&*path.to_string_lossy(), "the file");
    DecodeError::Corrupt(format!(
        "GDAL cannot read it ({said}); the file is damaged or not what its first bytes say: check it with gdalinfo and upload it again"
    ))
}

/// Cell centres along one axis of a geotransform, computed on demand: a
/// declared size never becomes an allocation before it is read.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    name: String,
    origin: f64,
    step: f64,
    len: u64,
}

impl Axis {
    fn centre(&self, i: u64) -> f64 {
        self.origin + (i as f64 + 0.5) * self.step
    }

    /// Values `start..start + n` as little-endian f64 (`None` outside the axis).
    fn read(&self, start: u64, n: u64) -> Option<Vec<u8>> {
        (start.checked_add(n)? <= self.len)
            .then(|| (start..start + n).flat_map(|i| self.centre(i).to_le_bytes()).collect())
    }
}

/// The grid of a raster: its coordinate and grid mapping variables.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    /// Cell-centre coordinates along y and x.
    y: Axis,
    x: Axis,
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
            DecodeError::Unsupported(
                "no geotransform: the raster is not georeferenced; upload a georeferenced file (gdalinfo shows its origin and pixel size)".into(),
            )
        })?;
        if gt[2] != 0.0 || gt[4] != 0.0 {
            return Err(DecodeError::Unsupported(format!(
                "rotated or sheared geotransform {gt:?}; only north-up grids are supported: warp it first (gdalwarp)"
            )));
        }
        if !gt.iter().all(|v| v.is_finite()) || gt[1] == 0.0 || gt[5] == 0.0 {
            return Err(DecodeError::Corrupt(format!(
                "the geotransform {gt:?} has no usable origin or cell size; the file is damaged: check it with gdalinfo and upload it again"
            )));
        }
        let srs = match (dataset.spatial_ref(), crs) {
            (Ok(srs), _) => srs,
            (Err(_), Some(def)) => gdal::spatial_ref::SpatialRef::from_definition(def).map_err(|e| {
                DecodeError::Unsupported(format!(
                    "the configured CRS {def:?} is not understood ({e}); fix \"crs\" in the dataset configuration (an EPSG code such as EPSG:3067, WKT or PROJ)"
                ))
            })?,
            (Err(_), None) => {
                return Err(DecodeError::Unsupported(
                    "the file has no CRS; give the dataset's CRS in its configuration (\"crs\") or upload a georeferenced file".into(),
                ));
            }
        };
        let wkt = srs.to_wkt().map_err(|e| corrupt(path, e))?;
        let geographic = srs.is_geographic();
        let (yname, xname) = if geographic { ("lat", "lon") } else { ("y", "x") };
        let y = Axis { name: yname.into(), origin: gt[3], step: gt[5], len: ny as u64 };
        let x = Axis { name: xname.into(), origin: gt[0], step: gt[1], len: nx as u64 };

        let mut variables = Vec::new();
        let sn =
            if geographic { ["latitude", "longitude"] } else { ["projection_y_coordinate", "projection_x_coordinate"] };
        let linear =
            srs.linear_units_name().map_or_else(|| "m".to_string(), |u| if u == "metre" { "m".into() } else { u });
        for (grid_axis, (axis, std)) in [(&y, ("Y", sn[0])), (&x, ("X", sn[1]))] {
            let name = &grid_axis.name;
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
                shape: vec![grid_axis.len],
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
    pub(crate) fn shape(&self) -> (u64, u64) {
        (self.y.len, self.x.len)
    }

    /// The dimensions of a field on the grid.
    pub(crate) fn dims(&self) -> Vec<String> {
        vec![self.y.name.clone(), self.x.name.clone()]
    }

    /// The grid's dimensions.
    pub(crate) fn dimensions(&self) -> Vec<Dimension> {
        vec![
            Dimension { name: self.y.name.clone(), len: self.y.len, unlimited: false },
            Dimension { name: self.x.name.clone(), len: self.x.len, unlimited: false },
        ]
    }

    /// The values of a grid variable (`None` for any other path).
    pub(crate) fn read(&self, path: &str, region: &Hyperslab) -> Option<Vec<u8>> {
        let (start, n) = (*region.start.first().unwrap_or(&0), *region.shape.first().unwrap_or(&0));
        if path == self.y.name {
            return self.y.read(start, n);
        }
        if path == self.x.name {
            return self.x.read(start, n);
        }
        (path == CRS_VAR).then(|| 0i32.to_le_bytes().to_vec())
    }
}
