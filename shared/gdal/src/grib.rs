//! A GRIB2 file as a CF dataset, through GDAL's GRIB driver.
//!
//! GDAL presents every field of every message as a band with its GRIB
//! metadata. The hub groups the bands into variables keyed by parameter
//! (`GRIB_ELEMENT`), level type and, for statistics over an interval
//! (product definition templates 4.8 and 4.11), the statistical process, so
//! instantaneous and accumulated or averaged fields stay apart
//! (`apcp_surface_acc` next to `prate_surface`). Each variable has the
//! dimensions `(reference_time, lead_time, [member], [level], y, x)`:
//!
//! - `reference_time`: the forecast reference time (`GRIB_REF_TIME`), seconds
//!   since 1970-01-01 UTC;
//! - `lead_time`: the valid time minus the reference time, in seconds (for an
//!   interval statistic, its end: `GRIB_VALID_TIME`); `valid_time` is kept as
//!   a 2-D auxiliary coordinate;
//! - `member`: the perturbation number of ensemble templates (4.1, 4.11);
//! - a level axis for level types that are vertical coordinates (isobaric in
//!   Pa, height above ground in m, ...), shared by the variables on that
//!   level type; single-surface types (surface, mean sea level, entire
//!   atmosphere, ...) have none and say their level type in attributes.
//!
//! Values are read as GDAL decodes them with `GRIB_NORMALIZE_UNITS=NO` (units
//! as the GRIB tables give them: K, Pa, kg m-2), stored as float32 (GRIB
//! packing keeps far less precision), with bitmap-masked points and absent
//! combinations as NaN. Grids are those GDAL places on a regular raster
//! (regular lat/lon, Lambert conformal, polar stereographic, Mercator, rotated
//! lat/lon through its CRS); a grid GDAL cannot georeference is refused.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use gdal::{Dataset, Metadata};
use hub_core::model::{
    AttrValue, Attributes, BlockData, DataType, DatasetSchema, Dimension, GroupSchema, Hyperslab, VariableSchema,
};
use hub_core::ports::{DecodeError, DecodeLimits, SourceDataset, checked_read};

use crate::grid::{CRS_VAR, Grid, corrupt};

const REF: &str = "reference_time";
const LEAD: &str = "lead_time";
const VALID: &str = "valid_time";
const MEMBER: &str = "member";

/// What a band's GRIB metadata says about where it belongs.
#[derive(Debug, Clone)]
struct Field {
    band: usize,
    var: String,
    level_type: u32,
    level: Option<f64>,
    member: Option<i64>,
    reference: i64,
    lead: i64,
}

/// A level type: its name in variable names, and its axis when it is one
/// (coordinate name, units, standard name, `positive`).
fn describe_level(t: u32) -> (String, Option<(&'static str, &'static str, &'static str)>) {
    let axis = match t {
        100 => Some(("Pa", "air_pressure", "down")),
        102 => Some(("m", "altitude", "up")),
        103 => Some(("m", "height", "up")),
        104 => Some(("1", "atmosphere_sigma_coordinate", "down")),
        105 => Some(("1", "model_level_number", "down")),
        106 => Some(("m", "depth", "down")),
        107 => Some(("K", "air_potential_temperature", "up")),
        108 => Some(("Pa", "air_pressure_difference", "up")),
        109 => Some(("K m2 kg-1 s-1", "ertel_potential_vorticity", "up")),
        160 => Some(("m", "depth", "down")),
        _ => None,
    };
    let name = match t {
        1 => "surface",
        100 => "isobaric",
        101 => "mean_sea",
        102 => "altitude",
        103 => "height_above_ground",
        104 => "sigma",
        105 => "hybrid",
        106 => "depth_below_land",
        107 => "isentropic",
        108 => "pressure_from_ground",
        109 => "potential_vorticity",
        160 => "depth_below_sea",
        200 => "atmosphere",
        _ => "",
    };
    let name = if name.is_empty() { format!("level{t}") } else { name.to_string() };
    (name, axis)
}

/// `GRIB_REF_TIME=  1294660800 sec UTC` and the like: the first integer.
fn seconds(text: &str) -> Option<i64> {
    text.split_whitespace().next()?.parse().ok()
}

fn sanitize(s: &str) -> String {
    s.trim().chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// A variable's dimensions before the grid, and the band holding each
/// combination of their indices.
type FieldBands = (Vec<String>, HashMap<Vec<u64>, usize>);

/// An open GRIB2 file.
pub struct GribSource {
    dataset: Dataset,
    /// The file, to keep its path out of messages.
    path: std::path::PathBuf,
    schema: DatasetSchema,
    grid: Grid,
    /// Axis values by coordinate name (times in seconds, levels in their units).
    axes: HashMap<String, Vec<f64>>,
    /// Per variable: its non-grid dimensions and the band of each combination.
    bands: HashMap<String, FieldBands>,
    /// Valid times, row-major over (reference_time, lead_time).
    valid: Vec<i64>,
}

impl GribSource {
    /// Opens a GRIB2 file, its messages checked against the default limits.
    pub fn open(path: &Path) -> Result<Self, DecodeError> {
        Self::open_with_limits(path, &DecodeLimits::default())
    }

    /// Opens a GRIB2 file whose messages were walked and checked against
    /// `limits` first (see `grib_scan`).
    pub fn open_with_limits(path: &Path, limits: &DecodeLimits) -> Result<Self, DecodeError> {
        let mut warnings = crate::grib_scan::scan(&crate::read_at::FileAt::open(path)?, limits)?.warnings;
        crate::configure();
        // Units as the GRIB tables give them (K, not GDAL's default °C).
        gdal::config::set_config_option("GRIB_NORMALIZE_UNITS", "NO").map_err(|e| corrupt(path, e))?;
        let dataset = Dataset::open(path).map_err(|e| corrupt(path, e))?;
        if dataset.driver().short_name() != "GRIB" {
            return Err(DecodeError::Corrupt("GDAL does not read it as GRIB: the file is damaged".into()));
        }
        let grid = Grid::of(&dataset, path, None)?;
        let mut fields = Vec::new();
        let mut var_attrs: BTreeMap<String, Attributes> = BTreeMap::new();
        let mut ids = None;
        for index in 1..=dataset.raster_count() {
            let band = dataset.rasterband(index).map_err(|e| corrupt(path, e))?;
            let md = |k: &str| band.metadata_item(k, "");
            let (Some(element), Some(reference), Some(valid)) = (
                md("GRIB_ELEMENT"),
                md("GRIB_REF_TIME").as_deref().and_then(seconds),
                md("GRIB_VALID_TIME").as_deref().and_then(seconds),
            ) else {
                warnings.push(format!("band {index}: no GRIB element or times; skipped"));
                continue;
            };
            ids = ids.or_else(|| md("GRIB_IDS"));
            let pdtn: u32 = md("GRIB_PDS_PDTN").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
            let values: Vec<f64> = md("GRIB_PDS_TEMPLATE_ASSEMBLED_VALUES")
                .map(|v| v.split_whitespace().filter_map(|x| x.parse().ok()).collect())
                .unwrap_or_default();
            let at = |i: usize| values.get(i).copied();
            // Templates 4.0, 4.1, 4.8, 4.11: first fixed surface at 9..=11.
            let level_type = at(9).map_or(255, |t| t as u32);
            let level = match (at(10), at(11)) {
                (Some(scale), Some(value)) if level_type != 255 && value < 2_147_483_647.0 => {
                    Some(value * 10f64.powi(-(scale as i32)))
                }
                _ => None,
            };
            let member = matches!(pdtn, 1 | 11).then(|| at(16).map(|m| m as i64)).flatten();
            // Statistical process of 4.8 / 4.11 (after the interval's end time).
            let stat_at = match pdtn {
                8 => Some(23),
                11 => Some(26),
                _ => None,
            };
            let stat = stat_at.and_then(at).map(|s| match s as u32 {
                0 => ("avg", "mean"),
                1 => ("acc", "sum"),
                2 => ("max", "maximum"),
                3 => ("min", "minimum"),
                _ => ("stat", "point"),
            });
            let (lname, _) = describe_level(level_type);
            let mut var = format!("{}_{lname}", sanitize(&element));
            if let Some((suffix, _)) = stat {
                var = format!("{var}_{suffix}");
            }
            var_attrs.entry(var.clone()).or_insert_with(|| {
                let mut a = Attributes::new();
                let comment = md("GRIB_COMMENT").unwrap_or_default();
                let long = comment.split(" [").next().unwrap_or(&comment).trim().to_string();
                if !long.is_empty() {
                    a.insert("long_name".into(), AttrValue::text(long));
                }
                if let Some(u) = md("GRIB_UNIT") {
                    a.insert("units".into(), AttrValue::text(u.trim().trim_start_matches('[').trim_end_matches(']')));
                }
                a.insert("grib_element".into(), AttrValue::text(element.clone()));
                if let Some(d) = md("GRIB_DISCIPLINE") {
                    a.insert("grib_discipline".into(), AttrValue::text(d));
                }
                a.insert("grib_level_type".into(), AttrValue::i32(level_type as i32));
                a.insert("grib_product_template".into(), AttrValue::i32(pdtn as i32));
                if let Some((_, method)) = stat {
                    a.insert("cell_methods".into(), AttrValue::text(format!("{LEAD}: {method}")));
                }
                a
            });
            fields.push(Field { band: index, var, level_type, level, member, reference, lead: valid - reference });
        }
        if fields.is_empty() {
            return Err(DecodeError::Unsupported(
                "no GRIB field GDAL can place on a grid (no element or times in any message)".into(),
            ));
        }
        let refs: BTreeSet<i64> = fields.iter().map(|f| f.reference).collect();
        let leads: BTreeSet<i64> = fields.iter().map(|f| f.lead).collect();
        // Which variables get a level axis or a member axis.
        let mut levels_of: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new(); // var -> level bits
        let mut types_of: HashMap<String, u32> = HashMap::new();
        let mut has_member: BTreeSet<String> = BTreeSet::new();
        for f in &fields {
            types_of.insert(f.var.clone(), f.level_type);
            if let Some(l) = f.level {
                levels_of.entry(f.var.clone()).or_default().insert(l.to_bits());
            }
            if f.member.is_some() {
                has_member.insert(f.var.clone());
            }
        }
        let level_dim = |var: &str| -> Option<String> {
            let t = *types_of.get(var)?;
            let (name, axis) = describe_level(t);
            let many = levels_of.get(var).is_some_and(|l| l.len() > 1);
            (axis.is_some() || many).then_some(name)
        };
        // Axis values: shared by every variable on the same level type.
        let mut axes: HashMap<String, Vec<f64>> = HashMap::new();
        axes.insert(REF.into(), refs.iter().map(|&r| r as f64).collect());
        axes.insert(LEAD.into(), leads.iter().map(|&l| l as f64).collect());
        let mut axis_sets: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        let mut members: BTreeSet<i64> = BTreeSet::new();
        for f in &fields {
            if let (Some(dim), Some(l)) = (level_dim(&f.var), f.level) {
                axis_sets.entry(dim).or_default().insert(l.to_bits());
            }
            if let Some(m) = f.member {
                members.insert(m);
            }
        }
        for (dim, set) in &axis_sets {
            let mut v: Vec<f64> = set.iter().map(|b| f64::from_bits(*b)).collect();
            v.sort_by(f64::total_cmp);
            axes.insert(dim.clone(), v);
        }
        if !members.is_empty() {
            axes.insert(MEMBER.into(), members.iter().map(|&m| m as f64).collect());
        }
        let index_of = |dim: &str, value: f64| -> Option<u64> {
            axes.get(dim)?.iter().position(|&x| x == value).map(|i| i as u64)
        };
        let mut bands: HashMap<String, FieldBands> = HashMap::new();
        for f in &fields {
            let mut dims = vec![REF.to_string(), LEAD.to_string()];
            let mut key =
                vec![index_of(REF, f.reference as f64).unwrap_or(0), index_of(LEAD, f.lead as f64).unwrap_or(0)];
            if has_member.contains(&f.var) {
                dims.push(MEMBER.into());
                key.push(f.member.and_then(|m| index_of(MEMBER, m as f64)).unwrap_or(0));
            }
            if let Some(dim) = level_dim(&f.var) {
                key.push(f.level.and_then(|l| index_of(&dim, l)).unwrap_or(0));
                dims.push(dim);
            }
            let entry = bands.entry(f.var.clone()).or_insert_with(|| (dims, HashMap::new()));
            match entry.1.entry(key) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(f.band);
                }
                std::collections::hash_map::Entry::Occupied(_) => {
                    warnings
                        .push(format!("{}: band {} repeats a field already read; the first is kept", f.var, f.band));
                }
            }
        }

        // The schema.
        let (ny, nx) = grid.shape();
        let mut variables = grid.variables.clone();
        let int_time = |name: &str, std: &str, units: &str, long: &str| {
            let mut a = Attributes::new();
            a.insert("standard_name".into(), AttrValue::text(std));
            a.insert("long_name".into(), AttrValue::text(long));
            a.insert("units".into(), AttrValue::text(units));
            if units.contains("since") {
                a.insert("calendar".into(), AttrValue::text("standard"));
            }
            (name.to_string(), a)
        };
        for (name, attrs) in [
            int_time(REF, "forecast_reference_time", "seconds since 1970-01-01 00:00:00", "forecast reference time"),
            int_time(LEAD, "forecast_period", "seconds", "lead time"),
        ] {
            let n = axes.get(&name).map_or(0, Vec::len) as u64;
            variables.push(VariableSchema {
                path: name.clone(),
                dims: vec![name],
                shape: vec![n],
                dtype: DataType::Int64,
                attrs,
                source_chunks: None,
            });
        }
        let (_, mut valid_attrs) = int_time(VALID, "time", "seconds since 1970-01-01 00:00:00", "valid time");
        valid_attrs.insert("axis".into(), AttrValue::text("T"));
        variables.push(VariableSchema {
            path: VALID.into(),
            dims: vec![REF.into(), LEAD.into()],
            shape: vec![refs.len() as u64, leads.len() as u64],
            dtype: DataType::Int64,
            attrs: valid_attrs,
            source_chunks: None,
        });
        if !members.is_empty() {
            let mut a = Attributes::new();
            a.insert("standard_name".into(), AttrValue::text("realization"));
            a.insert("long_name".into(), AttrValue::text("perturbation number"));
            variables.push(VariableSchema {
                path: MEMBER.into(),
                dims: vec![MEMBER.into()],
                shape: vec![members.len() as u64],
                dtype: DataType::Int32,
                attrs: a,
                source_chunks: None,
            });
        }
        for (dim, values) in axes.iter().filter(|(d, _)| axis_sets.contains_key(*d)) {
            let t =
                types_of.iter().find(|(v, _)| level_dim(v).as_deref() == Some(dim.as_str())).map_or(255, |(_, t)| *t);
            let mut a = Attributes::new();
            if let (_, Some((units, std, positive))) = describe_level(t) {
                a.insert("units".into(), AttrValue::text(units));
                a.insert("standard_name".into(), AttrValue::text(std));
                a.insert("positive".into(), AttrValue::text(positive));
            }
            a.insert("axis".into(), AttrValue::text("Z"));
            a.insert("grib_level_type".into(), AttrValue::i32(t as i32));
            variables.push(VariableSchema {
                path: dim.clone(),
                dims: vec![dim.clone()],
                shape: vec![values.len() as u64],
                dtype: DataType::Float64,
                attrs: a,
                source_chunks: None,
            });
        }
        let mut names: Vec<&String> = bands.keys().collect();
        names.sort();
        for name in names {
            let (dims, _) = &bands[name];
            let mut attrs = var_attrs.get(name).cloned().unwrap_or_default();
            attrs.insert("_FillValue".into(), AttrValue::Floats(DataType::Float32, vec![f64::NAN]));
            attrs.insert("grid_mapping".into(), AttrValue::text(CRS_VAR));
            attrs.insert("coordinates".into(), AttrValue::text(VALID));
            if level_dim(name).is_none()
                && let Some(l) = fields.iter().find(|f| &f.var == name).and_then(|f| f.level)
            {
                attrs.insert("grib_level".into(), AttrValue::f64(l));
            }
            let mut full_dims = dims.clone();
            full_dims.extend(grid.dims());
            let mut shape: Vec<u64> = dims.iter().map(|d| axes.get(d).map_or(1, Vec::len) as u64).collect();
            shape.extend([ny, nx]);
            let mut source_chunks = vec![1; dims.len()];
            source_chunks.extend([ny, nx]);
            variables.push(VariableSchema {
                path: name.clone(),
                dims: full_dims,
                shape,
                dtype: DataType::Float32,
                attrs,
                source_chunks: Some(source_chunks),
            });
        }
        let mut globals = Attributes::new();
        globals.insert("Conventions".into(), AttrValue::text("CF-1.8"));
        globals.insert("source_format".into(), AttrValue::text("GRIB2"));
        if let Some(ids) = ids {
            globals.insert("grib_ids".into(), AttrValue::text(ids.clone()));
            if let Some(centre) = ids.split_whitespace().find_map(|w| w.strip_prefix("CENTER=")) {
                globals.insert("institution".into(), AttrValue::text(centre));
            }
        }
        let mut dims: Vec<Dimension> = [REF, LEAD]
            .iter()
            .map(|d| Dimension { name: (*d).into(), len: axes[*d].len() as u64, unlimited: false })
            .collect();
        dims.extend(grid.dimensions());
        let valid = refs.iter().flat_map(|r| leads.iter().map(move |l| r + l)).collect();
        let schema = DatasetSchema {
            groups: vec![GroupSchema { path: String::new(), attrs: globals }],
            dims,
            variables,
            warnings,
        };
        Ok(Self { dataset, path: path.to_path_buf(), schema, grid, axes, bands, valid })
    }

    /// Reads one field's window as float32, nodata as NaN.
    fn read_field(
        &self,
        band: usize,
        y0: u64,
        x0: u64,
        h: usize,
        w: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), DecodeError> {
        let band = self.dataset.rasterband(band).map_err(|e| corrupt(&self.path, e))?;
        let nodata = band.no_data_value();
        let data = band
            .read_as::<f64>((x0 as isize, y0 as isize), (w, h), (w, h), None)
            .map_err(|e| corrupt(&self.path, format!("GRIB field: {e}")))?;
        for &v in data.data() {
            let v = if nodata == Some(v) { f32::NAN } else { v as f32 };
            out.extend_from_slice(&v.to_le_bytes());
        }
        Ok(())
    }
}

impl SourceDataset for GribSource {
    fn format(&self) -> &str {
        "GRIB2"
    }

    fn schema(&self) -> &DatasetSchema {
        &self.schema
    }

    fn read(&mut self, path: &str, region: &Hyperslab) -> Result<BlockData, DecodeError> {
        self.read_into(path, region, Vec::new())
    }

    fn read_into(&mut self, path: &str, region: &Hyperslab, mut buffer: Vec<u8>) -> Result<BlockData, DecodeError> {
        let var = checked_read(&self.schema, path, region)?;
        if let Some(bytes) = self.grid.read(path, region) {
            return Ok(BlockData::Numeric(bytes));
        }
        let slice = |values: &[f64]| -> Vec<f64> {
            let (a, n) = (region.start[0] as usize, region.shape[0] as usize);
            values.get(a..a + n).map(<[f64]>::to_vec).unwrap_or_default()
        };
        if let Some(values) = self.axes.get(path).filter(|_| var.dims.len() == 1) {
            let values = slice(values);
            let bytes = var
                .dtype
                .encode_f64s(&values)
                .ok_or_else(|| DecodeError::InvalidRequest(format!("{path}: values do not fit {}", var.dtype)))?;
            return Ok(BlockData::Numeric(bytes));
        }
        if path == VALID {
            let n_lead = self.axes.get(LEAD).map_or(0, Vec::len);
            let mut out = Vec::with_capacity(usize::try_from(region.len()).unwrap_or(0) * 8);
            for r in region.start[0]..region.start[0] + region.shape[0] {
                for l in region.start[1]..region.start[1] + region.shape[1] {
                    let v = self.valid.get(r as usize * n_lead + l as usize).copied().unwrap_or(0);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            return Ok(BlockData::Numeric(out));
        }
        let (dims, map) =
            self.bands.get(path).ok_or_else(|| DecodeError::InvalidRequest(format!("no variable {path}")))?;
        let k = dims.len();
        let (y0, x0) = (region.start[k], region.start[k + 1]);
        let (h, w) = (region.shape[k] as usize, region.shape[k + 1] as usize);
        buffer.clear();
        buffer.reserve(usize::try_from(region.len()).unwrap_or(0) * 4);
        let outer = Hyperslab { start: region.start[..k].to_vec(), shape: region.shape[..k].to_vec() };
        let count = outer.len();
        let mut idx = outer.start.clone();
        for _ in 0..count {
            match map.get(&idx).copied() {
                Some(band) => self.read_field(band, y0, x0, h, w, &mut buffer)?,
                None => {
                    for _ in 0..h * w {
                        buffer.extend_from_slice(&f32::NAN.to_le_bytes());
                    }
                }
            }
            for d in (0..k).rev() {
                idx[d] += 1;
                if idx[d] < outer.start[d] + outer.shape[d] {
                    break;
                }
                idx[d] = outer.start[d];
            }
        }
        Ok(BlockData::Numeric(buffer))
    }
}
