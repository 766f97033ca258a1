//! A source as its dataset wants it: only the variables the dataset keeps,
//! and a time axis for files that have none of their own.
//!
//! A radar composite is one map per file; its time is in its name or its
//! metadata, not in an axis. To append it along time, its data variables get
//! a leading `time` dimension of length one and a `time` coordinate (seconds
//! since 1970-01-01, UTC, standard calendar). Coordinates and grid mappings
//! stay as they are.

use std::collections::{BTreeSet, HashSet};

use chrono::NaiveDateTime;

use crate::cf::{self, VariableKind};
use crate::model::{
    AttrValue, Attributes, BlockData, DataType, DatasetSchema, Dimension, Hyperslab, VariableSchema, attr_text,
};
use crate::ports::{DecodeError, SourceDataset};

/// The name of the time axis given to files without one.
pub const STAMP_DIM: &str = "time";

/// The variables a selection keeps: the named ones and everything they refer
/// to (coordinate variables of their dimensions, `coordinates`,
/// `grid_mapping`, `bounds`). Errors name the variables the file lacks.
pub fn kept_variables(schema: &DatasetSchema, names: &[String]) -> Result<BTreeSet<String>, String> {
    let missing: Vec<&String> = names.iter().filter(|n| schema.variable(n).is_none()).collect();
    if !missing.is_empty() {
        let have: Vec<&str> = schema.variables.iter().map(|v| v.path.as_str()).collect();
        return Err(format!("variables {missing:?} are not in the file (it has {have:?})"));
    }
    let mut keep: BTreeSet<String> = names.iter().cloned().collect();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(path) = todo.pop() {
        let Some(var) = schema.variable(&path) else { continue };
        let mut refs: Vec<String> = var.dims.clone();
        for attr in ["coordinates", "grid_mapping", "bounds"] {
            if let Some(text) = attr_text(&var.attrs, attr) {
                refs.extend(text.split_whitespace().filter(|t| !t.ends_with(':')).map(str::to_string));
            }
        }
        for r in refs {
            if schema.variable(&r).is_some() && keep.insert(r.clone()) {
                todo.push(r);
            }
        }
    }
    Ok(keep)
}

/// A source restricted to some variables and, optionally, given a time axis.
pub struct ShapedSource {
    inner: Box<dyn SourceDataset>,
    schema: DatasetSchema,
    /// Variables that got the leading time dimension.
    stamped: HashSet<String>,
    /// The time coordinate's one value, little-endian int64 seconds.
    time: Option<Vec<u8>>,
}

impl ShapedSource {
    /// Wraps `inner`, keeping `keep` (all when `None`) and stamping its data
    /// variables with `stamp` (when given).
    pub fn new(inner: Box<dyn SourceDataset>, keep: Option<&BTreeSet<String>>, stamp: Option<NaiveDateTime>) -> Self {
        let mut schema = inner.schema().clone();
        if let Some(keep) = keep {
            schema.variables.retain(|v| keep.contains(&v.path));
        }
        let mut stamped = HashSet::new();
        let mut time = None;
        if let Some(t) = stamp {
            let kinds: std::collections::HashMap<String, VariableKind> =
                cf::variable_kinds(&schema).into_iter().collect();
            for var in &mut schema.variables {
                if kinds.get(&var.path) == Some(&VariableKind::Data) && !var.dims.is_empty() {
                    var.dims.insert(0, STAMP_DIM.to_string());
                    var.shape.insert(0, 1);
                    var.source_chunks = var.source_chunks.take().map(|mut c| {
                        c.insert(0, 1);
                        c
                    });
                    stamped.insert(var.path.clone());
                }
            }
            let seconds = t.and_utc().timestamp();
            let mut attrs = Attributes::new();
            attrs.insert("standard_name".into(), AttrValue::text("time"));
            attrs.insert("long_name".into(), AttrValue::text("valid time"));
            attrs.insert("axis".into(), AttrValue::text("T"));
            attrs.insert("units".into(), AttrValue::text("seconds since 1970-01-01 00:00:00"));
            attrs.insert("calendar".into(), AttrValue::text("standard"));
            schema.variables.insert(
                0,
                VariableSchema {
                    path: STAMP_DIM.into(),
                    dims: vec![STAMP_DIM.into()],
                    shape: vec![1],
                    dtype: DataType::Int64,
                    attrs,
                    source_chunks: None,
                },
            );
            schema.dims.insert(0, Dimension { name: STAMP_DIM.into(), len: 1, unlimited: true });
            time = Some(seconds.to_le_bytes().to_vec());
        }
        Self { inner, schema, stamped, time }
    }

    fn inner_region(&self, path: &str, region: &Hyperslab) -> Result<Option<Hyperslab>, DecodeError> {
        if !self.stamped.contains(path) {
            return Ok(None);
        }
        if region.start.first() != Some(&0) || region.shape.first() != Some(&1) {
            return Err(DecodeError::InvalidRequest(format!("{path}: region {region:?} outside the one time step")));
        }
        Ok(Some(Hyperslab { start: region.start[1..].to_vec(), shape: region.shape[1..].to_vec() }))
    }
}

impl SourceDataset for ShapedSource {
    fn format(&self) -> &str {
        self.inner.format()
    }

    fn schema(&self) -> &DatasetSchema {
        &self.schema
    }

    fn read(&mut self, path: &str, region: &Hyperslab) -> Result<BlockData, DecodeError> {
        self.read_into(path, region, Vec::new())
    }

    fn read_into(&mut self, path: &str, region: &Hyperslab, buffer: Vec<u8>) -> Result<BlockData, DecodeError> {
        if path == STAMP_DIM
            && let Some(t) = &self.time
        {
            return Ok(BlockData::Numeric(t.clone()));
        }
        match self.inner_region(path, region)? {
            Some(inner) => self.inner.read_into(path, &inner, buffer),
            None => self.inner.read_into(path, region, buffer),
        }
    }

    fn read_ahead(&mut self, reads: Vec<(String, Hyperslab)>) {
        // The stamp's value is this source's own; the rest in the file's terms.
        let inner = reads
            .into_iter()
            .filter(|(path, _)| path != STAMP_DIM || self.time.is_none())
            .filter_map(|(path, region)| match self.inner_region(&path, &region) {
                Ok(Some(inner)) => Some((path, inner)),
                Ok(None) => Some((path, region)),
                Err(_) => None,
            })
            .collect();
        self.inner.read_ahead(inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GroupSchema;

    struct Map(DatasetSchema);
    impl SourceDataset for Map {
        fn format(&self) -> &str {
            "test"
        }
        fn schema(&self) -> &DatasetSchema {
            &self.0
        }
        fn read(&mut self, _: &str, region: &Hyperslab) -> Result<BlockData, DecodeError> {
            Ok(BlockData::Numeric(vec![7; usize::try_from(region.len()).unwrap_or(0)]))
        }
    }

    fn var(path: &str, dims: &[&str], attrs: &[(&str, &str)]) -> VariableSchema {
        VariableSchema {
            path: path.into(),
            dims: dims.iter().map(|d| d.to_string()).collect(),
            shape: vec![3; dims.len()],
            dtype: DataType::UInt8,
            attrs: attrs.iter().map(|(k, v)| (k.to_string(), AttrValue::text(*v))).collect(),
            source_chunks: None,
        }
    }

    fn radar() -> DatasetSchema {
        DatasetSchema {
            groups: vec![GroupSchema { path: String::new(), attrs: Attributes::new() }],
            dims: vec![],
            variables: vec![
                var("y", &["y"], &[("axis", "Y")]),
                var("x", &["x"], &[("axis", "X")]),
                var("spatial_ref", &[], &[]),
                var("band1", &["y", "x"], &[("grid_mapping", "spatial_ref")]),
                var("band2", &["y", "x"], &[]),
            ],
            warnings: vec![],
        }
    }

    #[test]
    fn a_selection_keeps_what_its_variables_refer_to() {
        let keep = kept_variables(&radar(), &["band1".to_string()]).unwrap_or_default();
        assert_eq!(keep.into_iter().collect::<Vec<_>>(), vec!["band1", "spatial_ref", "x", "y"]);
        let err = kept_variables(&radar(), &["band9".to_string()]).err().unwrap_or_default();
        assert!(err.contains("band9") && err.contains("band2"), "{err}");
    }

    #[test]
    fn a_stamp_adds_one_time_step_to_data_variables() {
        let t = NaiveDateTime::parse_from_str("2016-09-28 16:00", "%Y-%m-%d %H:%M").unwrap_or_default();
        let mut s = ShapedSource::new(Box::new(Map(radar())), None, Some(t));
        let band = s.schema().variable("band1").cloned().unwrap_or_else(|| panic!("band1"));
        assert_eq!(
            (band.dims.clone(), band.shape.clone()),
            (vec!["time".into(), "y".into(), "x".into()], vec![1, 3, 3])
        );
        assert_eq!(s.schema().variable("x").map(|v| v.dims.len()), Some(1), "coordinates stay");
        assert_eq!(s.schema().variable("spatial_ref").map(|v| v.dims.len()), Some(0));
        let BlockData::Numeric(time) = s.read("time", &Hyperslab::full(&[1])).unwrap_or_else(|e| panic!("{e}")) else {
            panic!("numeric")
        };
        assert_eq!(time, 1_475_078_400i64.to_le_bytes().to_vec());
        let r = Hyperslab { start: vec![0, 1, 0], shape: vec![1, 2, 3] };
        assert_eq!(s.read("band1", &r).ok(), Some(BlockData::Numeric(vec![7; 6])));
        assert!(s.read("band1", &Hyperslab { start: vec![1, 0, 0], shape: vec![1, 1, 1] }).is_err());
    }
}
