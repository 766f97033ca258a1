//! An opened NetCDF (or netCDF-4-readable HDF5) file.

use std::collections::HashMap;
use std::path::Path;

use hub_core::model::{
    Attributes, BlockData, DataType, DatasetSchema, Dimension, GroupSchema, Hyperslab, VariableSchema,
};
use hub_core::ports::{DecodeError, DecodeHints, DecodeLimits, SourceDataset, checked_read};
use netcdf::types::{FloatType, IntType, NcVariableType};
use netcdf::{Extent, Extents, Group, Variable};

use crate::attrs;
use crate::hdf5_chunks::ChunkIndex;

/// Whether chunked NetCDF-4 variables are decoded by the hub itself (default)
/// rather than netCDF-C; `HUB_NETCDF_FAST_PATH=0` turns it off.
fn fast_path_enabled() -> bool {
    std::env::var("HUB_NETCDF_FAST_PATH").map_or(true, |v| v != "0")
}

#[cfg(target_endian = "big")]
compile_error!("the hub hands little-endian buffers between ports; netCDF returns native order");

/// How a variable is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Fixed-size numbers, read as they are.
    Numeric,
    /// `char` arrays: the last dimension is folded into text.
    Chars,
    /// NetCDF-4 strings.
    Strings,
}

/// An open NetCDF file and its schema.
pub struct NetcdfSource {
    /// Declared before the guard: closed before the next opener is let in.
    file: netcdf::File,
    /// Chunked variables read without netCDF-C (see `hdf5_chunks`).
    fast: HashMap<String, ChunkIndex>,
    /// The file, for positional reads of those.
    raw: std::fs::File,
    _guard: crate::open_files::FileGuard,
    format: String,
    schema: DatasetSchema,
    kinds: Vec<(String, Kind)>,
}

/// netCDF-C's own words, with what to do: its messages ("NetCDF: HDF error")
/// say what failed, not what a user can do about it.
fn nc_err(context: &str, e: netcdf::Error) -> DecodeError {
    let said = e.to_string();
    let said = said.split_once("): ").map_or(said.as_str(), |(_, m)| m).to_string();
    DecodeError::Corrupt(format!(
        "{context} (netCDF-C: {said}); the file is damaged or not NetCDF/HDF5: check it with `ncdump -h` and upload it again"
    ))
}

fn dtype_of(t: &NcVariableType) -> Option<(DataType, Kind)> {
    Some(match t {
        NcVariableType::Int(IntType::I8) => (DataType::Int8, Kind::Numeric),
        NcVariableType::Int(IntType::I16) => (DataType::Int16, Kind::Numeric),
        NcVariableType::Int(IntType::I32) => (DataType::Int32, Kind::Numeric),
        NcVariableType::Int(IntType::I64) => (DataType::Int64, Kind::Numeric),
        NcVariableType::Int(IntType::U8) => (DataType::UInt8, Kind::Numeric),
        NcVariableType::Int(IntType::U16) => (DataType::UInt16, Kind::Numeric),
        NcVariableType::Int(IntType::U32) => (DataType::UInt32, Kind::Numeric),
        NcVariableType::Int(IntType::U64) => (DataType::UInt64, Kind::Numeric),
        NcVariableType::Float(FloatType::F32) => (DataType::Float32, Kind::Numeric),
        NcVariableType::Float(FloatType::F64) => (DataType::Float64, Kind::Numeric),
        NcVariableType::Char => (DataType::String, Kind::Chars),
        NcVariableType::String => (DataType::String, Kind::Strings),
        _ => return None,
    })
}

fn type_name(t: &NcVariableType) -> &'static str {
    match t {
        NcVariableType::Compound(_) => "compound",
        NcVariableType::Opaque(_) => "opaque",
        NcVariableType::Enum(_) => "enum",
        NcVariableType::Vlen(_) => "variable-length",
        _ => "other",
    }
}

fn collect_attrs<'a>(
    items: impl Iterator<Item = netcdf::Attribute<'a>>,
    warnings: &mut Vec<String>,
    owner: &str,
) -> Attributes {
    let mut out = Attributes::new();
    for a in items {
        let name = a.name().to_string();
        if !attrs::keep(&name) {
            continue;
        }
        match a.value() {
            Ok(v) => {
                out.insert(name, attrs::convert(v));
            }
            Err(e) => warnings.push(format!("{owner}: attribute {name} skipped ({e})")),
        }
    }
    out
}

impl NetcdfSource {
    /// Opens a file and reads its schema.
    pub fn open(path: &Path) -> Result<Self, DecodeError> {
        Self::open_with(path, fast_path_enabled(), &DecodeLimits::default())
    }

    /// Opens a file, checking its header against the hints' limits first.
    pub fn open_with_hints(path: &Path, hints: &DecodeHints) -> Result<Self, DecodeError> {
        Self::open_with(path, fast_path_enabled(), &hints.limits)
    }

    /// Opens a file read by netCDF-C alone (no fast path): the reference the
    /// fast path is checked against.
    pub fn open_reference(path: &Path) -> Result<Self, DecodeError> {
        Self::open_with(path, false, &DecodeLimits::default())
    }

    fn open_with(path: &Path, fast_path: bool, limits: &DecodeLimits) -> Result<Self, DecodeError> {
        crate::classic::check_header(path, limits)?;
        crate::hdf5_chunks::silence_hdf5_diagnostics();
        let guard = crate::open_files::FileGuard::acquire(path)?;
        let file = netcdf::open(path).map_err(|e| nc_err("netCDF-C cannot open it", e))?;
        let format = format_name(path);
        let mut schema = DatasetSchema::default();
        let mut kinds = Vec::new();
        // The root through the file (NetCDF-3 files have no group API), then
        // the nested groups of NetCDF-4 files.
        add_level(file.attributes(), file.dimensions(), file.variables(), "", &mut schema, &mut kinds);
        if let Some(root) = file.root() {
            for child in root.groups() {
                walk_group(&child, &child.name(), &mut schema, &mut kinds);
            }
        }
        let mut file = file;
        let mut fast = HashMap::new();
        let candidates: Vec<(String, DataType)> = schema
            .variables
            .iter()
            .zip(&kinds)
            .filter(|(v, (_, k))| *k == Kind::Numeric && v.source_chunks.is_some())
            .map(|(v, _)| (v.path.clone(), v.dtype))
            .collect();
        if format == "NetCDF-4/HDF5" && !candidates.is_empty() && fast_path {
            // Index the chunks while netCDF's handle is closed: HDF5 handles of
            // one file must not overlap (see `open_files`).
            drop(file);
            fast = crate::hdf5_chunks::index_file(path, &candidates);
            file = netcdf::open(path).map_err(|e| nc_err("netCDF-C cannot open it", e))?;
        }
        let raw = std::fs::File::open(path)?;
        Ok(Self { file, fast, raw, _guard: guard, format, schema, kinds })
    }

    /// Runs `f` on the variable at `path` (variables borrow their group, so
    /// they are reached and used in one go).
    fn with_variable<T>(
        &self,
        path: &str,
        f: impl FnOnce(&Variable<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let not_found = || DecodeError::InvalidRequest(format!("no variable {path}"));
        match path.rsplit_once('/') {
            None => f(&self.file.variable(path).ok_or_else(not_found)?),
            Some((group_path, name)) => {
                let root = self.file.root().ok_or_else(not_found)?;
                let parts: Vec<&str> = group_path.split('/').collect();
                in_group(&root, &parts, name, f)?.ok_or_else(not_found)
            }
        }
    }
}

fn in_group<T>(
    group: &Group<'_>,
    parts: &[&str],
    name: &str,
    f: impl FnOnce(&Variable<'_>) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    match parts.split_first() {
        None => match group.variable(name) {
            Some(v) => f(&v).map(Some),
            None => Ok(None),
        },
        Some((first, rest)) => match group.group(first) {
            Some(g) => in_group(&g, rest, name, f),
            None => Ok(None),
        },
    }
}

fn walk_group(group: &Group<'_>, path: &str, schema: &mut DatasetSchema, kinds: &mut Vec<(String, Kind)>) {
    add_level(group.attributes(), group.dimensions(), group.variables(), path, schema, kinds);
    for child in group.groups() {
        let child_path = format!("{path}/{}", child.name());
        walk_group(&child, &child_path, schema, kinds);
    }
}

/// Adds one group's attributes, dimensions and variables to the schema.
fn add_level<'f>(
    attributes: impl Iterator<Item = netcdf::Attribute<'f>>,
    dimensions: impl Iterator<Item = netcdf::Dimension<'f>>,
    variables: impl Iterator<Item = Variable<'f>>,
    path: &str,
    schema: &mut DatasetSchema,
    kinds: &mut Vec<(String, Kind)>,
) {
    let owner = if path.is_empty() { "global attributes".to_string() } else { format!("group {path}") };
    let mut warnings = Vec::new();
    let attrs = collect_attrs(attributes, &mut warnings, &owner);
    schema.groups.push(GroupSchema { path: path.to_string(), attrs });
    for d in dimensions {
        let name = if path.is_empty() { d.name() } else { format!("{path}/{}", d.name()) };
        schema.dims.push(Dimension { name, len: d.len() as u64, unlimited: d.is_unlimited() });
    }
    for var in variables {
        let name = var.name();
        let vpath = if path.is_empty() { name.clone() } else { format!("{path}/{name}") };
        let vartype = var.vartype();
        let Some((dtype, kind)) = dtype_of(&vartype) else {
            warnings.push(format!("{vpath}: {} variables are not supported; skipped", type_name(&vartype)));
            continue;
        };
        let mut dims: Vec<String> = var.dimensions().iter().map(netcdf::Dimension::name).collect();
        let mut shape: Vec<u64> = var.dimensions().iter().map(|d| d.len() as u64).collect();
        let mut chunks = var.chunking().ok().flatten().map(|c| c.into_iter().map(|x| x as u64).collect::<Vec<u64>>());
        if kind == Kind::Chars && !dims.is_empty() {
            // The last dimension is the string length: fold it into the text.
            dims.pop();
            shape.pop();
            if let Some(c) = chunks.as_mut() {
                c.pop();
            }
        }
        let mut var_attrs = collect_attrs(var.attributes(), &mut warnings, &vpath);
        if dtype == DataType::String {
            // A numeric fill value means nothing for text.
            var_attrs.shift_remove("_FillValue");
            var_attrs.shift_remove("missing_value");
        }
        schema.variables.push(VariableSchema {
            path: vpath.clone(),
            dims,
            shape,
            dtype,
            attrs: var_attrs,
            source_chunks: chunks,
        });
        kinds.push((vpath, kind));
    }
    schema.warnings.extend(warnings);
}

/// The netCDF format of a file, from its first bytes.
fn format_name(path: &Path) -> String {
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head));
    match (read, &head) {
        (Ok(()), [b'C', b'D', b'F', 1]) => "NetCDF-3 classic".into(),
        (Ok(()), [b'C', b'D', b'F', 2]) => "NetCDF-3 64-bit offset".into(),
        (Ok(()), [b'C', b'D', b'F', 5]) => "NetCDF-3 64-bit data (CDF-5)".into(),
        _ => "NetCDF-4/HDF5".into(),
    }
}

fn extents(region: &Hyperslab) -> Extents {
    if region.shape.is_empty() {
        return Extents::All;
    }
    let e: Vec<Extent> =
        region.start.iter().zip(&region.shape).map(|(&s, &n)| Extent::from(s as usize..(s + n) as usize)).collect();
    Extents::from(e)
}

impl SourceDataset for NetcdfSource {
    fn format(&self) -> &str {
        &self.format
    }

    fn schema(&self) -> &DatasetSchema {
        &self.schema
    }

    fn read(&mut self, path: &str, region: &Hyperslab) -> Result<BlockData, DecodeError> {
        self.read_into(path, region, Vec::new())
    }

    fn read_into(&mut self, path: &str, region: &Hyperslab, mut buf: Vec<u8>) -> Result<BlockData, DecodeError> {
        crate::hdf5_chunks::silence_hdf5_diagnostics(); // reads run on threads of their own
        let schema_var = checked_read(&self.schema, path, region)?;
        let kind = self
            .kinds
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, k)| *k)
            .ok_or_else(|| DecodeError::InvalidRequest(format!("no variable {path}")))?;
        let elem = schema_var.dtype.size().unwrap_or(1);
        let n = usize::try_from(region.len()).map_err(|_| DecodeError::InvalidRequest("region too large".into()))?;
        if kind == Kind::Numeric {
            // Every byte is overwritten: no need to clear what the buffer held.
            buf.resize(n * elem, 0);
        }
        if let Some(index) = self.fast.get(path) {
            index.read(&self.raw, region, &mut buf)?;
            return Ok(BlockData::Numeric(buf));
        }
        self.with_variable(path, |var| read_variable(var, path, kind, region, n, elem, buf))
    }
}

fn read_variable(
    var: &Variable<'_>,
    path: &str,
    kind: Kind,
    region: &Hyperslab,
    n: usize,
    elem: usize,
    mut buf: Vec<u8>,
) -> Result<BlockData, DecodeError> {
    match kind {
        Kind::Numeric => {
            buf.resize(n * elem, 0);
            if n > 0 {
                var.get_raw_values_into(&mut buf, extents(region))
                    .map_err(|e| nc_err(&format!("reading {path}"), e))?;
            }
            Ok(BlockData::Numeric(buf))
        }
        Kind::Chars => {
            let strlen =
                if var.dimensions().is_empty() { 1 } else { var.dimensions().last().map_or(1, netcdf::Dimension::len) };
            let mut full = region.clone();
            if !var.dimensions().is_empty() {
                full.start.push(0);
                full.shape.push(strlen as u64);
            }
            let mut buf = vec![0u8; n * strlen];
            if !buf.is_empty() {
                var.get_raw_values_into(&mut buf, extents(&full)).map_err(|e| nc_err(&format!("reading {path}"), e))?;
            }
            let texts = buf
                .chunks(strlen.max(1))
                .take(n)
                .map(|c| {
                    let end = c.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                    String::from_utf8_lossy(&c[..end]).into_owned()
                })
                .collect();
            Ok(BlockData::Strings(texts))
        }
        Kind::Strings => {
            let mut out = Vec::with_capacity(n);
            let dims = region.shape.len();
            for i in 0..n as u64 {
                // The i-th index of the region in C order.
                let mut rem = i;
                let mut idx = vec![0usize; dims];
                for d in (0..dims).rev() {
                    idx[d] = (region.start[d] + rem % region.shape[d]) as usize;
                    rem /= region.shape[d];
                }
                let e: Vec<Extent> = idx.into_iter().map(Extent::from).collect();
                let ext = if e.is_empty() { Extents::All } else { Extents::from(e) };
                out.push(var.get_string(ext).map_err(|e| nc_err(&format!("reading {path}"), e))?);
            }
            Ok(BlockData::Strings(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::Fixture;

    /// Tiny chunks are left to netCDF-C (indexing 90,000 one-cell chunks took
    /// 113 s where netCDF-C reads them in about one), with the same values.
    #[test]
    fn tiny_chunks_are_read_by_netcdf_c() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("tiny.nc");
        {
            let mut f = netcdf::create(&path).unwrap_or_else(|e| panic!("{e}"));
            f.add_dimension("y", 60).unwrap_or_else(|e| panic!("{e}"));
            f.add_dimension("x", 50).unwrap_or_else(|e| panic!("{e}"));
            let mut v = f.add_variable::<f32>("v", &["y", "x"]).unwrap_or_else(|e| panic!("{e}"));
            v.set_chunking(&[1, 1]).unwrap_or_else(|e| panic!("{e}"));
            v.set_compression(1, false).unwrap_or_else(|e| panic!("{e}"));
            let values: Vec<f32> = (0..3000).map(|i| (i % 97) as f32).collect();
            v.put_values(&values, ..).unwrap_or_else(|e| panic!("{e}"));
        }
        let mut s = NetcdfSource::open_with(&path, true, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.fast.is_empty(), "not indexed");
        let got = s.read("v", &Hyperslab::full(&[60, 50])).unwrap_or_else(|e| panic!("{e}"));
        let want: Vec<u8> = (0..3000).flat_map(|i| ((i % 97) as f32).to_le_bytes()).collect();
        assert_eq!(got, BlockData::Numeric(want));
    }

    /// The fast path gives exactly what netCDF-C gives, for whole variables and
    /// for regions cutting across chunks.
    #[test]
    fn fast_path_matches_netcdf_c() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("f.nc");
        Fixture::Netcdf4NoLeapFill.write(&path).unwrap_or_else(|e| panic!("{e}"));
        let fast = NetcdfSource::open_with(&path, true, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(fast.fast.contains_key("pr"), "pr is read by the fast path");
        let schema = fast.schema().clone();
        drop(fast);
        for var in schema.variables.iter().filter(|v| v.dtype != DataType::String) {
            let regions = [
                Hyperslab::full(&var.shape),
                Hyperslab {
                    start: var.shape.iter().map(|n| n / 3).collect(),
                    shape: var.shape.iter().map(|n| (n / 2).max(1)).collect(),
                },
            ];
            for region in regions {
                let mut fast =
                    NetcdfSource::open_with(&path, true, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{e}"));
                let a = fast.read(&var.path, &region).unwrap_or_else(|e| panic!("{e}"));
                drop(fast);
                let mut slow = NetcdfSource::open_reference(&path).unwrap_or_else(|e| panic!("{e}"));
                let b = slow.read(&var.path, &region).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(a, b, "{} {region:?}", var.path);
            }
        }
    }
}
