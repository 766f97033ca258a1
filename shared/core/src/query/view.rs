//! What a dataset offers to queries: its parameters (the data variables on a
//! horizontal grid), their axes with decoded coordinates (times as instants
//! in the dataset's calendar), and their grids. Built once per snapshot from
//! the repository and kept while the snapshot is current.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::error::QueryError;
use super::geometry::{LonLat, haversine_km};
use super::grid::{Axis1d, Curvilinear, HorizontalGrid, Projector};
use crate::cf::{
    Axis, Calendar, CfTime, DimRole, ForecastAxes, TimeEncoding, ValueDecoding, VariableKind, coordinate_axis,
    dim_roles, variable_kinds,
};
use crate::model::{
    Attributes, DataType, DatasetId, DatasetSchema, Dimension, GroupSchema, Hyperslab, VariableSchema, attr_text,
};
use crate::ports::{ArrayInfo, DatasetReader, RepoError};

/// Why a grid mapping has no projector.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ProjectionError {
    /// What is missing or wrong in the mapping.
    pub message: String,
    /// The projection library's error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ProjectionError {
    /// A mapping the hub cannot project, for a reason of its own.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }
}

/// Turns a CF grid mapping into a projector; adapters implement it with a
/// projection library.
pub trait ProjectorFactory: Send + Sync {
    /// The projector of a `grid_mapping` variable's attributes, or why not.
    fn projector(&self, grid_mapping: &Attributes) -> Result<Arc<dyn Projector>, ProjectionError>;
}

/// No projections: projected grids are served by index only.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProjections;

impl ProjectorFactory for NoProjections {
    fn projector(&self, _: &Attributes) -> Result<Arc<dyn Projector>, ProjectionError> {
        Err(ProjectionError::new("no projection library configured"))
    }
}

/// The values along one dimension.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AxisValues {
    /// Instants in a calendar.
    Time {
        /// The instants.
        values: Vec<CfTime>,
        /// Their calendar.
        calendar: Calendar,
    },
    /// Numbers (levels, members, projection coordinates, or indices when the
    /// dimension has no coordinate variable).
    Numbers {
        /// The values.
        values: Vec<f64>,
    },
}

impl AxisValues {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::Time { values, .. } => values.len(),
            Self::Numbers { values } => values.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dimension of the dataset as queries see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DimInfo {
    /// Name.
    pub name: String,
    /// Role (time, vertical, member, Y, X, other).
    pub role: DimRole,
    /// Coordinate values.
    pub values: AxisValues,
    /// The coordinate's `units`, when it has one.
    pub units: Option<String>,
}

/// A queryable variable.
#[derive(Debug, Clone, Serialize)]
pub struct Parameter {
    /// Name (the array path).
    pub name: String,
    /// The array as stored.
    pub array: ArrayInfo,
    /// Role of each dimension.
    pub roles: Vec<DimRole>,
    /// `units`.
    pub units: Option<String>,
    /// `standard_name`.
    pub standard_name: Option<String>,
    /// `long_name`, or the name.
    pub description: String,
    /// Index of the grid in [`DatasetView::grids`].
    pub grid: usize,
    /// How stored numbers decode.
    #[serde(skip)]
    pub decoding: ValueDecoding,
    /// The variable's time-major copy, when it has one.
    #[serde(skip)]
    pub time_major: Option<TimeMajorCopy>,
}

/// A parameter's time-major copy (see [`crate::time_major`]): the same
/// values as the variable for its first `covered` steps along `dim`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeMajorCopy {
    /// The copy as stored.
    pub array: ArrayInfo,
    /// The growing dimension.
    pub dim: usize,
    /// Steps held, from the first.
    pub covered: u64,
}

impl TimeMajorCopy {
    /// The copy of `source` among `arrays`, when it is consistent with it.
    fn of(source: &ArrayInfo, arrays: &[ArrayInfo]) -> Option<Self> {
        let path = crate::time_major::copy_path(&source.path);
        let array = arrays.iter().find(|a| a.path == path)?;
        if attr_text(&array.attrs, crate::time_major::OF_ATTR) != Some(source.path.as_str())
            || array.dims != source.dims
            || array.dtype != source.dtype
        {
            return None;
        }
        // Same shape but along the growing axis, where the copy holds a prefix.
        let grows = attr_text(&array.attrs, crate::time_major::DIM_ATTR)?;
        let dim = source.dims.iter().position(|d| d == grows)?;
        let same = (0..array.shape.len()).all(|d| d == dim || array.shape[d] == source.shape[d]);
        if !same || array.shape[dim] > source.shape[dim] {
            return None;
        }
        let covered = array.shape[dim];
        (covered > 0).then(|| Self { array: array.clone(), dim, covered })
    }
}

impl Parameter {
    /// A float32 parameter over `dims` with `roles`, for unit tests of the
    /// code that walks extractions.
    #[cfg(test)]
    pub(crate) fn for_tests(name: &str, dims: &[&str], roles: Vec<DimRole>) -> Self {
        Self {
            name: name.into(),
            array: ArrayInfo {
                path: name.into(),
                dims: dims.iter().map(|d| (*d).to_string()).collect(),
                shape: vec![],
                dtype: DataType::Float32,
                chunks: vec![],
                shard: None,
                codecs: String::new(),
                fill_value: crate::cf::FillValue::Float(f64::NAN),
                attrs: Attributes::default(),
            },
            roles,
            units: None,
            standard_name: None,
            description: name.into(),
            grid: 0,
            decoding: ValueDecoding::from_attrs(&Attributes::default(), DataType::Float32),
            time_major: None,
        }
    }

    /// The position of the dimension with a role.
    pub fn dim_with(&self, role: DimRole) -> Option<usize> {
        self.roles.iter().position(|r| *r == role)
    }
}

/// A horizontal grid and the dimensions it spans.
#[derive(Debug, Clone)]
pub struct GridInfo {
    /// Y dimension name.
    pub y_dim: String,
    /// X dimension name.
    pub x_dim: String,
    /// The grid.
    pub grid: HorizontalGrid,
    /// The CF grid mapping's attributes (projected grids).
    pub grid_mapping: Option<Attributes>,
    /// Where the cells' boundaries are stored, for area weights.
    pub bounds: BoundsVars,
}

/// The variables that hold a grid's cell boundaries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BoundsVars {
    /// None: cells end midway between centres.
    #[default]
    None,
    /// CF `bounds` of the 1-D X and Y coordinates, shaped `(n, 2)`.
    Axes {
        /// X bounds.
        x: String,
        /// Y bounds.
        y: String,
    },
    /// Four vertices per cell of 2-D coordinates, shaped `(y, x, 4)`: CF
    /// `bounds` of the 2-D longitude/latitude or CMIP's `vertices_longitude`
    /// and `vertices_latitude`.
    Vertices {
        /// Longitudes of the vertices.
        lon: String,
        /// Latitudes of the vertices.
        lat: String,
    },
}

/// The bounds variables of a grid: `bounds` attributes first, CMIP's names second.
fn bounds_vars(schema: &DatasetSchema, g: &GridInfo) -> BoundsVars {
    let shaped = |name: &str, dims: &[&str]| {
        schema.variable(name).filter(|v| {
            v.dtype.size().is_some()
                && v.dims.len() == dims.len() + 1
                && v.dims.iter().zip(dims).all(|(a, b)| a == b)
                && v.shape.last() == Some(&if dims.len() == 1 { 2 } else { 4 })
        })
    };
    let bounds_of =
        |coord: &str| schema.variable(coord).and_then(|c| attr_text(&c.attrs, "bounds")).map(str::to_string);
    match &g.grid {
        HorizontalGrid::LonLat { .. } | HorizontalGrid::Projected { .. } => {
            match (bounds_of(&g.x_dim), bounds_of(&g.y_dim)) {
                (Some(x), Some(y)) if shaped(&x, &[&g.x_dim]).is_some() && shaped(&y, &[&g.y_dim]).is_some() => {
                    BoundsVars::Axes { x, y }
                }
                _ => BoundsVars::None,
            }
        }
        HorizontalGrid::Curvilinear(_) => {
            let dims = [g.y_dim.as_str(), g.x_dim.as_str()];
            let two_d = |kind: &str| {
                schema.variables.iter().find(|v| {
                    v.dims.len() == 2
                        && v.dims[0] == dims[0]
                        && v.dims[1] == dims[1]
                        && attr_text(&v.attrs, "standard_name") == Some(kind)
                })
            };
            let from_attr = |kind: &str| two_d(kind).and_then(|v| attr_text(&v.attrs, "bounds")).map(str::to_string);
            let cmip = |name: &str| shaped(name, &dims).map(|v| v.path.clone());
            let lon =
                from_attr("longitude").filter(|n| shaped(n, &dims).is_some()).or_else(|| cmip("vertices_longitude"));
            let lat =
                from_attr("latitude").filter(|n| shaped(n, &dims).is_some()).or_else(|| cmip("vertices_latitude"));
            match (lon, lat) {
                (Some(lon), Some(lat)) => BoundsVars::Vertices { lon, lat },
                _ => BoundsVars::None,
            }
        }
    }
}

/// One snapshot of a dataset, ready for queries.
#[derive(Debug, Clone)]
pub struct DatasetView {
    /// Dataset id.
    pub id: DatasetId,
    /// Snapshot read.
    pub snapshot: String,
    /// Global attributes.
    pub attrs: Attributes,
    /// Every array.
    pub arrays: Vec<ArrayInfo>,
    /// Dimensions with their coordinates, by name.
    pub dims: BTreeMap<String, DimInfo>,
    /// Horizontal grids.
    pub grids: Vec<GridInfo>,
    /// Queryable variables, by name.
    pub parameters: Vec<Parameter>,
    /// Variables left out, with why.
    pub skipped: Vec<(String, String)>,
}

/// Arrays derived from the variables (the time-major copy, stored period
/// statistics): not variables of their own; the reads that need them find
/// them in [`DatasetView::arrays`].
fn derived_array(path: &str) -> bool {
    crate::time_major::is_copy(path) || crate::ensembles::period_stats::is_period_array(path)
}

impl DatasetView {
    /// Reads the metadata and coordinates of the snapshot `reader` opened.
    pub async fn load(
        id: DatasetId,
        reader: &dyn DatasetReader,
        projections: &dyn ProjectorFactory,
    ) -> Result<Self, RepoError> {
        let arrays = reader.arrays().await?;
        let groups = reader.groups().await?;
        let attrs = groups.iter().find(|g| g.path.is_empty()).map(|g| g.attrs.clone()).unwrap_or_default();
        let schema = DatasetSchema {
            groups: groups.iter().map(|g| GroupSchema { path: g.path.clone(), attrs: g.attrs.clone() }).collect(),
            dims: Vec::<Dimension>::new(),
            // The time-major copy is not a variable of its own: its
            // parameters' reads use it (`Parameter::time_major`).
            variables: arrays
                .iter()
                .filter(|a| !derived_array(&a.path))
                .map(|a| VariableSchema {
                    path: a.path.clone(),
                    dims: a.dims.clone(),
                    shape: a.shape.clone(),
                    dtype: a.dtype,
                    attrs: a.attrs.clone(),
                    source_chunks: None,
                })
                .collect(),
            warnings: vec![],
        };
        let kinds: BTreeMap<String, VariableKind> = variable_kinds(&schema).into_iter().collect();
        let mut dims: BTreeMap<String, DimInfo> = BTreeMap::new();
        let mut parameters = Vec::new();
        let mut skipped = Vec::new();
        let mut grids: Vec<GridInfo> = Vec::new();
        let own: Vec<&ArrayInfo> = arrays.iter().filter(|a| !derived_array(&a.path)).collect();
        for (var, array) in schema.variables.iter().zip(own) {
            if kinds.get(&var.path) != Some(&VariableKind::Data) {
                continue;
            }
            let roles = dim_roles(&schema, var);
            if array.dtype == DataType::String || array.dtype.size().is_none() {
                skipped.push((var.path.clone(), "holds text".to_string()));
                continue;
            }
            let (Some(yd), Some(xd)) =
                (roles.iter().position(|r| *r == DimRole::Y), roles.iter().position(|r| *r == DimRole::X))
            else {
                skipped.push((var.path.clone(), "has no horizontal (Y, X) dimensions".to_string()));
                continue;
            };
            for (d, role) in roles.iter().enumerate() {
                let name = &var.dims[d];
                if !dims.contains_key(name) {
                    dims.insert(name.clone(), load_dim(reader, &schema, name, *role, var.shape[d]).await?);
                }
            }
            let (y_dim, x_dim) = (var.dims[yd].clone(), var.dims[xd].clone());
            let grid = match grids.iter().position(|g| g.y_dim == y_dim && g.x_dim == x_dim) {
                Some(g) => g,
                None => match make_grid(
                    &schema,
                    var,
                    &dims,
                    (&y_dim, &x_dim),
                    aux_lon_lat(reader, &schema, var, &y_dim, &x_dim).await?,
                    projections,
                ) {
                    Ok(mut g) => {
                        g.bounds = bounds_vars(&schema, &g);
                        grids.push(g);
                        grids.len() - 1
                    }
                    Err(why) => {
                        skipped.push((var.path.clone(), why));
                        continue;
                    }
                },
            };
            let text = |k: &str| attr_text(&var.attrs, k).map(str::to_string);
            parameters.push(Parameter {
                name: var.path.clone(),
                array: array.clone(),
                roles,
                units: text("units"),
                standard_name: text("standard_name"),
                description: text("long_name").unwrap_or_else(|| var.path.clone()),
                grid,
                decoding: ValueDecoding::from_attrs(&var.attrs, var.dtype),
                time_major: TimeMajorCopy::of(array, &arrays),
            });
        }
        Ok(Self { id, snapshot: reader.snapshot_id().to_string(), attrs, arrays, dims, grids, parameters, skipped })
    }

    /// A parameter by name.
    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    /// Whether the dataset holds forecast runs (a forecast reference time
    /// axis): then it has instances.
    pub fn has_runs(&self) -> bool {
        self.arrays.iter().any(|a| attr_text(&a.attrs, "standard_name") == Some("forecast_reference_time"))
    }

    /// The forecast axes: the dimensions whose coordinates are the
    /// `forecast_reference_time` and the `forecast_period`.
    pub fn forecast_axes(&self) -> Result<ForecastAxes, QueryError> {
        let not = || {
            QueryError::NotFound(format!(
                "collection {:?} has no forecast runs (no forecast_reference_time and forecast_period axes)",
                self.id.as_str()
            ))
        };
        let attr = |path: &str, name: &str| {
            self.arrays.iter().find(|a| a.path == path).and_then(|a| attr_text(&a.attrs, name)).map(str::to_string)
        };
        let by_std = |std: &str| self.dims.values().find(|d| attr(&d.name, "standard_name").as_deref() == Some(std));
        let reference = by_std("forecast_reference_time").ok_or_else(not)?;
        let lead = by_std("forecast_period").ok_or_else(not)?;
        let AxisValues::Time { values: runs, .. } = &reference.values else { return Err(not()) };
        let AxisValues::Numbers { values: leads } = &lead.values else { return Err(not()) };
        ForecastAxes::new(
            reference.name.clone(),
            runs.clone(),
            lead.name.clone(),
            leads,
            attr(&lead.name, "units").as_deref(),
        )
        .map_err(|e| {
            QueryError::NotFound(format!("collection {:?} has no usable forecast runs: {e}", self.id.as_str()))
        })
    }

    /// The calendar of the dataset's time axes (the first one found).
    pub fn calendar(&self) -> Option<Calendar> {
        self.dims.values().find_map(|d| match &d.values {
            AxisValues::Time { calendar, .. } => Some(*calendar),
            AxisValues::Numbers { .. } => None,
        })
    }
}

async fn load_dim(
    reader: &dyn DatasetReader,
    schema: &DatasetSchema,
    name: &str,
    role: DimRole,
    len: u64,
) -> Result<DimInfo, RepoError> {
    let coord = schema.variable(name).filter(|v| v.dims.len() == 1 && v.dims[0] == name && v.dtype.size().is_some());
    let Some(coord) = coord else {
        return Ok(DimInfo {
            name: name.to_string(),
            role,
            values: AxisValues::Numbers { values: (0..len).map(|i| i as f64).collect() },
            units: None,
        });
    };
    let data = reader.read(&coord.path, &Hyperslab::full(&coord.shape)).await?;
    let numbers = match data {
        crate::model::BlockData::Numeric(bytes) => coord.dtype.to_f64_vec(&bytes),
        crate::model::BlockData::Strings(_) => vec![],
    };
    let units = attr_text(&coord.attrs, "units").map(str::to_string);
    let values = match (coordinate_axis(&coord.attrs), units.as_deref()) {
        (Some(Axis::T), Some(u)) => match TimeEncoding::from_attrs(u, attr_text(&coord.attrs, "calendar")) {
            Ok(enc) => {
                let decoded: Result<Vec<CfTime>, _> = numbers.iter().map(|v| enc.decode(*v)).collect();
                match decoded {
                    Ok(values) => AxisValues::Time { values, calendar: enc.calendar() },
                    Err(_) => AxisValues::Numbers { values: numbers },
                }
            }
            Err(_) => AxisValues::Numbers { values: numbers },
        },
        _ => AxisValues::Numbers { values: numbers },
    };
    Ok(DimInfo { name: name.to_string(), role, values, units })
}

fn numbers_of<'a>(dims: &'a BTreeMap<String, DimInfo>, name: &str) -> Option<&'a [f64]> {
    match dims.get(name).map(|d| &d.values) {
        Some(AxisValues::Numbers { values }) => Some(values),
        _ => None,
    }
}

/// 2-D longitude and latitude over (Y, X): the variables the data variable's
/// `coordinates` attribute names, or any with a latitude/longitude standard
/// name or units over exactly those dimensions. Read row-major.
async fn aux_lon_lat(
    reader: &dyn DatasetReader,
    schema: &DatasetSchema,
    var: &VariableSchema,
    y_dim: &str,
    x_dim: &str,
) -> Result<Option<(Vec<f64>, Vec<f64>)>, RepoError> {
    let named: Vec<&str> =
        attr_text(&var.attrs, "coordinates").map(|c| c.split_whitespace().collect()).unwrap_or_default();
    let find = |kind: &str, units: &str| {
        schema
            .variables
            .iter()
            .filter(|c| c.dims.len() == 2 && c.dims[0] == y_dim && c.dims[1] == x_dim && c.dtype.size().is_some())
            .filter(|c| {
                attr_text(&c.attrs, "standard_name") == Some(kind)
                    || attr_text(&c.attrs, "units").is_some_and(|u| u.eq_ignore_ascii_case(units))
            })
            .max_by_key(|c| named.contains(&c.path.as_str()))
    };
    let (Some(lon), Some(lat)) = (find("longitude", "degrees_east"), find("latitude", "degrees_north")) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for c in [lon, lat] {
        let data = reader.read(&c.path, &Hyperslab::full(&c.shape)).await?;
        let mut values = match data {
            crate::model::BlockData::Numeric(bytes) => c.dtype.to_f64_vec(&bytes),
            crate::model::BlockData::Strings(_) => return Ok(None),
        };
        // Fill values mark cells without a position (land in ocean grids).
        let decoding = ValueDecoding::from_attrs(&c.attrs, c.dtype);
        for v in &mut values {
            *v = decoding.decode(*v).unwrap_or(f64::NAN);
        }
        out.push(values);
    }
    let lat = out.pop().unwrap_or_default();
    let lon = out.pop().unwrap_or_default();
    Ok(Some((lon, lat)))
}

/// Whether a projected grid puts its cells where the 2-D longitude and
/// latitude say they are (within half the local cell spacing), on a sample.
fn mapping_agrees(x: &Axis1d, y: &Axis1d, projector: &dyn Projector, lon: &[f64], lat: &[f64]) -> bool {
    let (nx, ny) = (x.values().len(), y.values().len());
    if nx < 2 || ny < 2 {
        return true;
    }
    let at = |j: usize, i: usize| LonLat { lon: lon[j * nx + i], lat: lat[j * nx + i] };
    let finite = |p: LonLat| p.lon.is_finite() && p.lat.is_finite();
    for j in (0..ny - 1).step_by((ny / 7).max(1)) {
        for i in (0..nx - 1).step_by((nx / 7).max(1)) {
            let (here, right, up) = (at(j, i), at(j, i + 1), at(j + 1, i));
            if !(finite(here) && finite(right) && finite(up)) {
                continue;
            }
            let spacing = haversine_km(here, right).max(haversine_km(here, up));
            let Some(p) = projector.inverse(x.values()[i], y.values()[j]) else {
                return false;
            };
            if haversine_km(p, here) > spacing / 2.0 {
                return false;
            }
        }
    }
    true
}

fn make_grid(
    schema: &DatasetSchema,
    var: &VariableSchema,
    dims: &BTreeMap<String, DimInfo>,
    (y_dim, x_dim): (&str, &str),
    aux: Option<(Vec<f64>, Vec<f64>)>,
    projections: &dyn ProjectorFactory,
) -> Result<GridInfo, String> {
    // The `String` is the reason a variable is left out of the view (listed in
    // `DatasetView::skipped`), not an error: the dataset stays queryable.
    let (ny, nx) = (dims.get(y_dim).map_or(0, |d| d.values.len()), dims.get(x_dim).map_or(0, |d| d.values.len()));
    let curvilinear = |aux: Option<(Vec<f64>, Vec<f64>)>, why: String| match aux {
        Some((lon, lat)) => Curvilinear::new(ny, nx, lon, lat)
            .map(|c| GridInfo {
                y_dim: y_dim.into(),
                x_dim: x_dim.into(),
                grid: HorizontalGrid::Curvilinear(Arc::new(c)),
                grid_mapping: None,
                bounds: BoundsVars::None,
            })
            .ok_or_else(|| format!("{why}, and its 2-D longitude/latitude hold no position")),
        None => Err(why),
    };
    let axes = (
        Axis1d::new(numbers_of(dims, y_dim).unwrap_or_default().to_vec()),
        Axis1d::new(numbers_of(dims, x_dim).unwrap_or_default().to_vec()),
    );
    let (Some(y), Some(x)) = axes else {
        return curvilinear(aux, format!("its {y_dim}/{x_dim} coordinates are not monotonic"));
    };
    let degrees = |name: &str, axis: Axis| {
        schema.variable(name).is_some_and(|c| {
            let sn = attr_text(&c.attrs, "standard_name").unwrap_or("");
            let units = attr_text(&c.attrs, "units").unwrap_or("").to_ascii_lowercase();
            let lonlat_name = matches!(sn, "latitude" | "longitude");
            let degree_units = units.starts_with("degree") && !units.contains("rotated");
            coordinate_axis(&c.attrs) == Some(axis)
                && (lonlat_name || (degree_units && sn != "grid_latitude" && sn != "grid_longitude"))
        })
    };
    if degrees(y_dim, Axis::Y) && degrees(x_dim, Axis::X) {
        return Ok(GridInfo {
            y_dim: y_dim.into(),
            x_dim: x_dim.into(),
            grid: HorizontalGrid::lon_lat(x, y),
            grid_mapping: None,
            bounds: BoundsVars::None,
        });
    }
    let Some(mapping_name) = attr_text(&var.attrs, "grid_mapping")
        .map(|g| g.split_whitespace().next().unwrap_or("").trim_end_matches(':').to_string())
    else {
        return curvilinear(
            aux,
            format!("its grid ({y_dim}, {x_dim}) is neither longitude/latitude nor has a grid_mapping"),
        );
    };
    let path = if var.group().is_empty() { mapping_name.clone() } else { format!("{}/{mapping_name}", var.group()) };
    let mapping = schema.variable(&path).ok_or_else(|| format!("its grid_mapping {mapping_name:?} does not exist"))?;
    let projector = match projections.projector(&mapping.attrs) {
        Ok(p) => p,
        Err(e) => return curvilinear(aux, format!("its grid mapping {mapping_name:?}: {}", crate::error_chain(&e))),
    };
    // The 2-D longitude/latitude are what CF tools locate cells by: a mapping
    // that disagrees with them is not trusted.
    if let Some((lon, lat)) = &aux
        && lon.len() == nx * ny
        && !mapping_agrees(&x, &y, projector.as_ref(), lon, lat)
    {
        tracing::warn!(grid_mapping = %mapping_name, "the grid mapping disagrees with the 2-D latitude/longitude: using those");
        return curvilinear(aux, format!("its grid mapping {mapping_name:?} disagrees with its 2-D coordinates"));
    }
    Ok(GridInfo {
        y_dim: y_dim.into(),
        x_dim: x_dim.into(),
        grid: HorizontalGrid::Projected { x, y, projector },
        grid_mapping: Some(mapping.attrs.clone()),
        bounds: BoundsVars::None,
    })
}
