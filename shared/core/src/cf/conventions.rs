//! What the CF conventions say about a variable: its axis, its part in the
//! dataset (coordinate, bounds, grid mapping, data) and its missing values.

use serde::{Deserialize, Serialize};

use crate::model::{AttrValue, Attributes, DataType, DatasetSchema, VariableSchema, attr_text};

/// The axis a coordinate or dimension stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Axis {
    /// Time (`axis = "T"`, time units).
    T,
    /// Vertical (`axis = "Z"`, `positive`, pressure/height/depth).
    Z,
    /// Northing or latitude-like (`axis = "Y"`).
    Y,
    /// Easting or longitude-like (`axis = "X"`).
    X,
}

/// The role of a dimension when chunking and querying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DimRole {
    /// Time (valid time or forecast reference time).
    Time,
    /// Vertical levels.
    Vertical,
    /// Ensemble members (`realization`).
    Member,
    /// Horizontal grid: the northing/latitude dimension.
    Y,
    /// Horizontal grid: the easting/longitude dimension.
    X,
    /// Anything else (stations, bounds vertices, string lengths...).
    Other,
}

/// The part a variable plays in its dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableKind {
    /// A coordinate variable: one dimension, named like it.
    Coordinate,
    /// Named in another variable's `coordinates` attribute (2-D lat/lon, scalar
    /// height, station names...).
    AuxiliaryCoordinate,
    /// Named in another variable's `bounds` attribute.
    Bounds,
    /// Named in another variable's `grid_mapping` attribute.
    GridMapping,
    /// Everything else: the data.
    Data,
}

/// The axis of a coordinate variable from its attributes, as CF section 4 reads them.
pub fn coordinate_axis(attrs: &Attributes) -> Option<Axis> {
    if let Some(axis) = attr_text(attrs, "axis") {
        match axis.trim().to_ascii_uppercase().as_str() {
            "T" => return Some(Axis::T),
            "Z" => return Some(Axis::Z),
            "Y" => return Some(Axis::Y),
            "X" => return Some(Axis::X),
            _ => {}
        }
    }
    let standard_name = attr_text(attrs, "standard_name").unwrap_or("").to_ascii_lowercase();
    match standard_name.as_str() {
        "time" | "forecast_reference_time" => return Some(Axis::T),
        "latitude" | "grid_latitude" | "projection_y_coordinate" => return Some(Axis::Y),
        "longitude" | "grid_longitude" | "projection_x_coordinate" => return Some(Axis::X),
        "air_pressure"
        | "height"
        | "depth"
        | "altitude"
        | "model_level_number"
        | "height_above_reference_ellipsoid" => {
            return Some(Axis::Z);
        }
        s if s.starts_with("atmosphere_") && s.ends_with("_coordinate") => return Some(Axis::Z),
        _ => {}
    }
    let units = attr_text(attrs, "units").unwrap_or("").trim().to_ascii_lowercase();
    if units.contains(" since ") {
        return Some(Axis::T);
    }
    if matches!(units.as_str(), "degrees_north" | "degree_north" | "degree_n" | "degrees_n" | "degreen" | "degreesn") {
        return Some(Axis::Y);
    }
    if matches!(units.as_str(), "degrees_east" | "degree_east" | "degree_e" | "degrees_e" | "degreee" | "degreese") {
        return Some(Axis::X);
    }
    if attrs.contains_key("positive") {
        return Some(Axis::Z);
    }
    None
}

/// Whether a variable is a time coordinate: one dimension named like it, on the
/// time axis.
pub fn is_time_coordinate(name: &str, dims: &[String], attrs: &Attributes) -> bool {
    dims.len() == 1 && dims[0] == name && coordinate_axis(attrs) == Some(Axis::T)
}

/// The role of each dimension of `var`, from the coordinate variables of
/// `schema` and, failing those, from common dimension names.
pub fn dim_roles(schema: &DatasetSchema, var: &VariableSchema) -> Vec<DimRole> {
    var.dims.iter().map(|dim| dim_role(schema, var.group(), dim)).collect()
}

fn dim_role(schema: &DatasetSchema, group: &str, dim: &str) -> DimRole {
    // The coordinate variable of a dimension lives in the variable's group or an ancestor.
    let mut g = group.to_string();
    loop {
        let path = if g.is_empty() { dim.to_string() } else { format!("{g}/{dim}") };
        if let Some(coord) = schema.variable(&path).filter(|v| v.dims.len() == 1) {
            if coord.dtype == DataType::String {
                return DimRole::Other;
            }
            let standard_name = attr_text(&coord.attrs, "standard_name").unwrap_or("");
            if standard_name == "realization" {
                return DimRole::Member;
            }
            match coordinate_axis(&coord.attrs) {
                Some(Axis::T) => return DimRole::Time,
                Some(Axis::Z) => return DimRole::Vertical,
                Some(Axis::Y) => return DimRole::Y,
                Some(Axis::X) => return DimRole::X,
                None => break,
            }
        }
        match g.rfind('/') {
            Some(i) => g.truncate(i),
            None if !g.is_empty() => g.clear(),
            None => break,
        }
    }
    role_from_name(dim)
}

/// The role a dimension name conventionally has.
pub fn role_from_name(dim: &str) -> DimRole {
    match dim.to_ascii_lowercase().as_str() {
        "time" | "t" | "valid_time" | "reference_time" | "forecast_reference_time" | "lead_time" | "step" => {
            DimRole::Time
        }
        "lat" | "latitude" | "y" | "rlat" | "j" | "nj" | "south_north" | "yc" => DimRole::Y,
        "lon" | "longitude" | "x" | "rlon" | "i" | "ni" | "west_east" | "xc" => DimRole::X,
        "lev" | "level" | "plev" | "pressure" | "isobaric" | "height" | "depth" | "z" | "alt" | "bottom_top" => {
            DimRole::Vertical
        }
        "member" | "realization" | "ensemble" | "number" | "ens" => DimRole::Member,
        _ => DimRole::Other,
    }
}

/// The role of every variable of a dataset.
pub fn variable_kinds(schema: &DatasetSchema) -> Vec<(String, VariableKind)> {
    let mut aux = std::collections::HashSet::new();
    let mut bounds = std::collections::HashSet::new();
    let mut mappings = std::collections::HashSet::new();
    let resolve = |from: &VariableSchema, name: &str| -> String {
        if from.group().is_empty() { name.to_string() } else { format!("{}/{name}", from.group()) }
    };
    for v in &schema.variables {
        if let Some(c) = attr_text(&v.attrs, "coordinates") {
            aux.extend(c.split_whitespace().map(|n| resolve(v, n)));
        }
        for key in ["bounds", "climatology"] {
            if let Some(b) = attr_text(&v.attrs, key) {
                bounds.insert(resolve(v, b.trim()));
            }
        }
        if let Some(g) = attr_text(&v.attrs, "grid_mapping") {
            // Either "crs" or the extended form "crs: lat lon other: x y".
            for token in g.split_whitespace() {
                if let Some(name) = token.strip_suffix(':') {
                    mappings.insert(resolve(v, name));
                } else if !g.contains(':') {
                    mappings.insert(resolve(v, token));
                }
            }
        }
    }
    schema
        .variables
        .iter()
        .map(|v| {
            let kind = if v.dims.len() == 1 && v.dims[0] == v.name() {
                VariableKind::Coordinate
            } else if bounds.contains(&v.path) {
                VariableKind::Bounds
            } else if mappings.contains(&v.path) {
                VariableKind::GridMapping
            } else if aux.contains(&v.path) {
                VariableKind::AuxiliaryCoordinate
            } else {
                VariableKind::Data
            };
            (v.path.clone(), kind)
        })
        .collect()
}

/// A fill value, typed like its variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FillValue {
    /// For signed integer variables.
    Int(i64),
    /// For unsigned integer variables.
    UInt(u64),
    /// For float variables.
    Float(f64),
    /// For text variables.
    Text(String),
}

impl FillValue {
    /// The value as `f64` (text: `None`).
    #[allow(clippy::cast_precision_loss)]
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(v) => Some(*v as f64),
            Self::UInt(v) => Some(*v as f64),
            Self::Float(v) => Some(*v),
            Self::Text(_) => None,
        }
    }

    /// The little-endian bytes of the value in `dtype` (empty for text).
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub fn to_le_bytes(&self, dtype: DataType) -> Vec<u8> {
        let f = self.as_f64().unwrap_or(0.0);
        let (i, u) = match self {
            Self::Int(v) => (*v, *v as u64),
            Self::UInt(v) => (*v as i64, *v),
            _ => (f as i64, f as u64),
        };
        match dtype {
            DataType::Int8 => (i as i8).to_le_bytes().to_vec(),
            DataType::Int16 => (i as i16).to_le_bytes().to_vec(),
            DataType::Int32 => (i as i32).to_le_bytes().to_vec(),
            DataType::Int64 => i.to_le_bytes().to_vec(),
            DataType::UInt8 => (u as u8).to_le_bytes().to_vec(),
            DataType::UInt16 => (u as u16).to_le_bytes().to_vec(),
            DataType::UInt32 => (u as u32).to_le_bytes().to_vec(),
            DataType::UInt64 => u.to_le_bytes().to_vec(),
            DataType::Float32 => (f as f32).to_le_bytes().to_vec(),
            DataType::Float64 => f.to_le_bytes().to_vec(),
            DataType::String => Vec::new(),
        }
    }
}

/// NetCDF's default fill value for a type (what unwritten cells hold).
pub fn netcdf_default_fill(dtype: DataType) -> FillValue {
    match dtype {
        DataType::Int8 => FillValue::Int(-127),
        DataType::Int16 => FillValue::Int(-32767),
        DataType::Int32 => FillValue::Int(-2_147_483_647),
        DataType::Int64 => FillValue::Int(-9_223_372_036_854_775_806),
        DataType::UInt8 => FillValue::UInt(255),
        DataType::UInt16 => FillValue::UInt(65535),
        DataType::UInt32 => FillValue::UInt(4_294_967_295),
        DataType::UInt64 => FillValue::UInt(18_446_744_073_709_551_614),
        DataType::Float32 => FillValue::Float(f64::from(9.969_21e36_f32)),
        DataType::Float64 => FillValue::Float(9.969_209_968_386_869e36),
        DataType::String => FillValue::Text(String::new()),
    }
}

/// Converts a numeric attribute's first value to a fill value of `dtype`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn fill_from_attr(value: &AttrValue, dtype: DataType) -> Option<FillValue> {
    match (value, dtype) {
        (_, DataType::String) => value.as_text().map(|s| FillValue::Text(s.to_string())),
        (AttrValue::Ints(_, v), t) if t.is_integer() => v.first().map(|&x| {
            if matches!(t, DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64) {
                FillValue::UInt(x as u64)
            } else {
                FillValue::Int(x)
            }
        }),
        (AttrValue::UInts(_, v), t) if t.is_integer() => v.first().map(|&x| {
            if matches!(t, DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64) {
                FillValue::Int(x as i64)
            } else {
                FillValue::UInt(x)
            }
        }),
        (_, t) if t.is_float() => value.as_f64().map(|x| {
            // Keep exactly what a float32 variable can hold.
            if t == DataType::Float32 { FillValue::Float(f64::from(x as f32)) } else { FillValue::Float(x) }
        }),
        (_, t) => value
            .as_f64()
            .map(|x| if t.is_integer() && x.fract() == 0.0 { FillValue::Int(x as i64) } else { FillValue::Float(x) }),
    }
}

/// Drops the fill attributes (`_FillValue`, `missing_value`) of integer
/// variables that no stored integer can equal: NaN (some ECMWF tools write a
/// NaN `_FillValue` on packed shorts), a fraction, or a number outside the
/// type. CF decoding masks nothing for them — xarray reads such a file with
/// no cell missing — and Zarr cannot hold them as an integer array's fill
/// value, so the hub stores the variable as xarray reads it: without the
/// attribute, every value kept. Returns a note per attribute dropped.
pub fn drop_unmatchable_fills(schema: &mut DatasetSchema) -> Vec<String> {
    let mut notes = Vec::new();
    for var in &mut schema.variables {
        if !var.dtype.is_integer() {
            continue;
        }
        for name in ["_FillValue", "missing_value"] {
            let Some(values) = var.attrs.get(name).and_then(AttrValue::as_f64s) else { continue };
            if values.iter().any(|&v| var.dtype.encode_f64s(&[v]).is_none()) {
                notes.push(format!(
                    "{}: {name} {values:?} cannot equal any {} value, so no value is missing; stored without it (as xarray reads the file)",
                    var.path, var.dtype
                ));
                var.attrs.shift_remove(name);
            }
        }
    }
    notes
}

/// The value that stands for "no data" in storage: `_FillValue` when declared,
/// else the first `missing_value`, else NetCDF's default fill for the type.
/// Chunks holding only this value need not be stored.
pub fn storage_fill(var: &VariableSchema) -> FillValue {
    ["_FillValue", "missing_value"]
        .iter()
        .find_map(|name| var.attrs.get(*name).and_then(|v| fill_from_attr(v, var.dtype)))
        .unwrap_or_else(|| netcdf_default_fill(var.dtype))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GroupSchema;

    fn var(path: &str, dims: &[&str], attrs: &[(&str, AttrValue)]) -> VariableSchema {
        VariableSchema {
            path: path.into(),
            dims: dims.iter().map(|d| d.to_string()).collect(),
            shape: vec![2; dims.len()],
            dtype: DataType::Float32,
            attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            source_chunks: None,
        }
    }

    fn schema(vars: Vec<VariableSchema>) -> DatasetSchema {
        DatasetSchema {
            groups: vec![GroupSchema { path: String::new(), attrs: Attributes::new() }],
            dims: vec![],
            variables: vars,
            warnings: vec![],
        }
    }

    #[test]
    fn fills_no_integer_can_equal_are_dropped() {
        let mut v = var(
            "t2m",
            &["y", "x"],
            &[
                ("_FillValue", AttrValue::Floats(DataType::Float64, vec![f64::NAN])),
                ("missing_value", AttrValue::Ints(DataType::Int16, vec![-32767])),
                ("scale_factor", AttrValue::f64(0.01)),
            ],
        );
        v.dtype = DataType::Int16;
        let mut s = schema(vec![v]);
        let notes = drop_unmatchable_fills(&mut s);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("t2m: _FillValue") && notes[0].contains("int16"), "{notes:?}");
        assert!(!s.variables[0].attrs.contains_key("_FillValue"));
        assert!(s.variables[0].attrs.contains_key("missing_value"), "a fill that fits stays");
        assert_eq!(storage_fill(&s.variables[0]), FillValue::Int(-32767));
        // Floats keep NaN fills: they are how floats say missing.
        let mut f =
            schema(vec![var("pr", &["t"], &[("_FillValue", AttrValue::Floats(DataType::Float32, vec![f64::NAN]))])]);
        assert!(drop_unmatchable_fills(&mut f).is_empty());
    }

    #[test]
    fn axes_from_attributes() {
        let a = |k: &str, v: &str| -> Attributes { [(k.to_string(), AttrValue::text(v))].into_iter().collect() };
        assert_eq!(coordinate_axis(&a("units", "days since 2000-01-01")), Some(Axis::T));
        assert_eq!(coordinate_axis(&a("units", "degrees_north")), Some(Axis::Y));
        assert_eq!(coordinate_axis(&a("standard_name", "grid_longitude")), Some(Axis::X));
        assert_eq!(coordinate_axis(&a("standard_name", "atmosphere_hybrid_sigma_pressure_coordinate")), Some(Axis::Z));
        assert_eq!(coordinate_axis(&a("positive", "down")), Some(Axis::Z));
        assert_eq!(coordinate_axis(&a("units", "K")), None);
    }

    #[test]
    fn roles_and_kinds_of_a_rotated_pole_file() {
        let s = schema(vec![
            var("rlat", &["rlat"], &[("standard_name", AttrValue::text("grid_latitude"))]),
            var("rlon", &["rlon"], &[("axis", AttrValue::text("X"))]),
            var(
                "time",
                &["time"],
                &[("units", AttrValue::text("days since 1950-01-01")), ("bounds", AttrValue::text("time_bnds"))],
            ),
            var("time_bnds", &["time", "nb"], &[]),
            var("lat", &["rlat", "rlon"], &[]),
            var("rotated_pole", &[], &[]),
            var(
                "pr",
                &["time", "rlat", "rlon"],
                &[("coordinates", AttrValue::text("lon lat")), ("grid_mapping", AttrValue::text("rotated_pole"))],
            ),
        ]);
        let pr = s.variable("pr").cloned().unwrap_or_else(|| var("x", &[], &[]));
        assert_eq!(dim_roles(&s, &pr), vec![DimRole::Time, DimRole::Y, DimRole::X]);
        let kinds: std::collections::HashMap<_, _> = variable_kinds(&s).into_iter().collect();
        assert_eq!(kinds["time"], VariableKind::Coordinate);
        assert_eq!(kinds["time_bnds"], VariableKind::Bounds);
        assert_eq!(kinds["lat"], VariableKind::AuxiliaryCoordinate);
        assert_eq!(kinds["rotated_pole"], VariableKind::GridMapping);
        assert_eq!(kinds["pr"], VariableKind::Data);
    }

    #[test]
    fn storage_fill_prefers_fill_value_then_missing_value() {
        let mut v = var("pr", &["t"], &[("missing_value", AttrValue::Floats(DataType::Float32, vec![1e20]))]);
        assert_eq!(storage_fill(&v), FillValue::Float(f64::from(1e20_f32)));
        v.attrs.insert("_FillValue".into(), AttrValue::Floats(DataType::Float32, vec![f64::NAN]));
        assert!(matches!(storage_fill(&v), FillValue::Float(x) if x.is_nan()));
        v.attrs.clear();
        assert_eq!(storage_fill(&v), netcdf_default_fill(DataType::Float32));
        v.dtype = DataType::Int16;
        v.attrs.insert("_FillValue".into(), AttrValue::Ints(DataType::Int16, vec![-32767]));
        assert_eq!(storage_fill(&v), FillValue::Int(-32767));
        assert_eq!(FillValue::Int(-32767).to_le_bytes(DataType::Int16), (-32767i16).to_le_bytes().to_vec());
    }
}
