//! Region files through OGR: GeoJSON (a FeatureCollection, one Feature or a
//! bare geometry), ESRI Shapefiles (`.shp` with its `.dbf` and `.prj`, or a
//! `.zip` of them) and anything else OGR reads, transformed from the file's
//! CRS (or the one given) to longitude/latitude by PROJ, feature by feature:
//! memory holds the converted polygons, not the file.

use std::path::Path;

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::LayerAccess;
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use hub_core::regions::{FeatureInput, geojson};

/// Why a region file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegionFileError {
    /// OGR cannot open the file.
    #[error("cannot read {path} as polygons (GeoJSON, Shapefile or a .zip of one)")]
    Open {
        /// The file.
        path: String,
        /// GDAL's error.
        #[source]
        source: gdal::errors::GdalError,
    },
    /// The CRS given or in the file is not one PROJ knows.
    #[error("unknown CRS {crs:?}: give EPSG:<code>, WKT or a PROJ string")]
    UnknownCrs {
        /// As given.
        crs: String,
        /// PROJ's error.
        #[source]
        source: gdal::errors::GdalError,
    },
    /// A named field is not in the file.
    #[error("the file has no field {field:?} (fields: {available})")]
    NoField {
        /// The field.
        field: String,
        /// The fields there are.
        available: String,
    },
    /// A feature cannot be transformed or read.
    #[error("feature {feature}: {message}")]
    Feature {
        /// 1-based position.
        feature: usize,
        /// What is wrong.
        message: String,
    },
}

/// Which fields hold ids and names, and the CRS when the file has none.
#[derive(Debug, Clone, Default)]
pub struct RegionFileOptions {
    /// The id field (default: a field `id`, else features are numbered).
    pub id_field: Option<String>,
    /// The name field (default: a field `name`, any case).
    pub name_field: Option<String>,
    /// The CRS of the coordinates, overriding the file's.
    pub crs: Option<String>,
}

fn wgs84() -> Result<SpatialRef, RegionFileError> {
    let mut s = SpatialRef::from_epsg(4326)
        .map_err(|source| RegionFileError::UnknownCrs { crs: "EPSG:4326".into(), source })?;
    s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(s)
}

/// The features of a region file, in lon/lat.
///
/// Text fields: a Shapefile says its encoding in a `.cpg` file or its DBF
/// header, and GDAL recodes to UTF-8 from it; many say nothing (then GDAL
/// passes the bytes through). When such a file's text is not UTF-8 it is
/// read again as ISO-8859-1, the encoding ESRI's tools assume.
pub fn read_region_file(path: &Path, options: &RegionFileOptions) -> Result<Vec<FeatureInput>, RegionFileError> {
    let features = read_with(path, options, None)?;
    let garbled =
        features.iter().any(|f| [&f.id, &f.name].iter().any(|t| t.as_deref().is_some_and(|t| t.contains('\u{FFFD}'))));
    if garbled {
        return read_with(path, options, Some("ENCODING=ISO-8859-1"));
    }
    Ok(features)
}

fn read_with(
    path: &Path,
    options: &RegionFileOptions,
    open_option: Option<&str>,
) -> Result<Vec<FeatureInput>, RegionFileError> {
    crate::configure();
    let shown = path.display().to_string();
    let open_path = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) {
        format!("/vsizip/{shown}")
    } else {
        shown.clone()
    };
    let open_options: Vec<&str> = open_option.into_iter().collect();
    let flags = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_VECTOR,
        open_options: if open_options.is_empty() { None } else { Some(&open_options) },
        ..DatasetOptions::default()
    };
    let ds =
        Dataset::open_ex(&open_path, flags).map_err(|source| RegionFileError::Open { path: shown.clone(), source })?;
    let mut layer = ds.layer(0).map_err(|source| RegionFileError::Open { path: shown.clone(), source })?;
    let fields: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let find = |name: &str| {
        fields.iter().position(|f| f == name).or_else(|| fields.iter().position(|f| f.eq_ignore_ascii_case(name)))
    };
    let pick = |given: &Option<String>, default: &str| -> Result<Option<usize>, RegionFileError> {
        match given {
            Some(f) => find(f)
                .map(Some)
                .ok_or_else(|| RegionFileError::NoField { field: f.clone(), available: fields.join(", ") }),
            None => Ok(find(default)),
        }
    };
    let id_idx = pick(&options.id_field, "id")?;
    let name_idx = pick(&options.name_field, "name")?;
    let source = match &options.crs {
        Some(c) => Some(
            SpatialRef::from_definition(c).map_err(|source| RegionFileError::UnknownCrs { crs: c.clone(), source })?,
        ),
        None => layer.spatial_ref(),
    };
    let transform = match source {
        Some(mut s) => {
            s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
            Some(
                CoordTransform::new(&s, &wgs84()?)
                    .map_err(|source| RegionFileError::UnknownCrs { crs: s.to_wkt().unwrap_or_default(), source })?,
            )
        }
        None => None,
    };
    let mut out = Vec::new();
    for (k, feature) in layer.features().enumerate() {
        let number = k + 1;
        let text = |idx: Option<usize>| {
            idx.and_then(|i| feature.field_as_string(i).ok().flatten()).map(|s| s.trim().to_string())
        };
        let id = text(id_idx).filter(|s| !s.is_empty());
        let name = text(name_idx);
        let polygons = match feature.geometry() {
            None => vec![],
            Some(g) => {
                let mut g = g.clone();
                if let Some(t) = &transform {
                    g.transform_inplace(t).map_err(|e| RegionFileError::Feature {
                        feature: number,
                        message: format!("cannot transform to lon/lat: {e}"),
                    })?;
                }
                let json =
                    g.json().map_err(|e| RegionFileError::Feature { feature: number, message: e.to_string() })?;
                let value: serde_json::Value = serde_json::from_str(&json)
                    .map_err(|e| RegionFileError::Feature { feature: number, message: e.to_string() })?;
                geojson::polygons(&value, &format!("feature {number}"))
                    .map_err(|e| RegionFileError::Feature { feature: number, message: e.0 })?
            }
        };
        out.push(FeatureInput { number, id, name, polygons });
    }
    Ok(out)
}
