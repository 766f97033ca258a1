//! Opening an upload: detect its format from its first bytes, open it
//! through the decoder port, screen what it declares against the limits,
//! shape it (variables kept, a valid time stamped onto a file without a time
//! axis), and read the small 1-D coordinates that decide where its steps land.
//! Runs on a blocking thread: decoders are C libraries (or a child process).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use super::failure::{Failure, RejectionKind};
use super::{IngestOptions, ShapedSource, TimePattern, growing_dims, kept_variables};
use crate::cf;
use crate::model::{BlockData, DataType, DatasetSchema, Hyperslab, attr_text};
use crate::model::{TimeNotDecoded, TimeRange};
use crate::ports::{DecodeError, DecodeHints, DecodeLimits, DecoderRegistry, HEAD_BYTES, SourceDataset};

/// 1-D coordinates longer than this are not compared between files.
const MAX_COMPARED_COORD: u64 = 1 << 20;

/// A decoded file, before the transaction starts.
pub(crate) struct Opened {
    pub(crate) source: Box<dyn SourceDataset>,
    pub(crate) schema: DatasetSchema,
    /// Values of the growing axes' coordinates and of the other 1-D coordinates, by path.
    pub(crate) coords: HashMap<String, Vec<f64>>,
    /// The file's time span, or why it could not be decoded (a warning).
    pub(crate) time: Result<Option<TimeRange>, TimeNotDecoded>,
    /// What was decided about the file, for the report.
    pub(crate) notes: Vec<String>,
}

impl Opened {
    pub(crate) fn open(
        decoders: &DecoderRegistry,
        path: &Path,
        key: &str,
        options: &IngestOptions,
        limits: &DecodeLimits,
        slab_budget: u64,
    ) -> Result<Self, Failure> {
        let hints = DecodeHints { crs: options.crs.clone(), limits: *limits };
        let source = open_source(decoders, path, &hints)?;
        super::screen(source.schema(), limits)?;
        let mut notes = Vec::new();
        let keep = match &options.variables {
            Some(names) => Some(
                kept_variables(source.schema(), names)
                    .map_err(|m| Failure::permanent(RejectionKind::Unsupported, m))?,
            ),
            None => None,
        };
        let stamp = valid_time_stamp(source.as_ref(), key, options, &mut notes);
        let mut source: Box<dyn SourceDataset> = if keep.is_some() || stamp.is_some() {
            Box::new(ShapedSource::new(source, keep.as_ref(), stamp))
        } else {
            source
        };
        let mut schema = source.schema().clone();
        if !options.attributes.is_empty()
            && let Some(root) = schema.groups.iter_mut().find(|g| g.path.is_empty())
        {
            for (k, v) in &options.attributes {
                root.attrs.insert(k.clone(), crate::model::AttrValue::Text(v.clone()));
            }
        }
        notes.extend(cf::drop_unmatchable_fills(&mut schema));
        let growing = growing_dims(&schema);
        let mut coords = HashMap::new();
        for var in &schema.variables {
            let is_coord = var.dims.len() == 1 && var.name() == var.dims[0] && var.dtype != DataType::String;
            // A growing axis' values decide where every step lands: they are
            // read whole, so they must fit the memory a slab may take.
            let grows = growing.contains(&var.path);
            if is_coord && grows && var.nbytes() > slab_budget {
                return Err(Failure::from(DecodeError::TooLarge(format!(
                    "{}: {} values along a growing axis in one file, over the {} a file may hold (a slab, {} bytes); split the file along {}",
                    var.path,
                    var.len(),
                    slab_budget / 8,
                    slab_budget,
                    var.path
                ))));
            }
            if is_coord
                && (grows || var.len() <= MAX_COMPARED_COORD)
                && let BlockData::Numeric(bytes) = source.read(&var.path, &Hyperslab::full(&var.shape))?
            {
                coords.insert(var.path.clone(), var.dtype.to_f64_vec(&bytes));
            }
        }
        let time = time_range(&schema, &coords);
        Ok(Self { source, schema, coords, time, notes })
    }
}

/// A file without a time axis of its own gets the time its key or its
/// metadata gives, so it can be appended along time: the dataset
/// configuration's key pattern first, then `TIFFTAG_DATETIME`, then (for
/// GeoTIFF rasters only, where it is the custom) a stamp in the file name.
fn valid_time_stamp(
    source: &dyn SourceDataset,
    key: &str,
    options: &IngestOptions,
    notes: &mut Vec<String>,
) -> Option<chrono::NaiveDateTime> {
    if !growing_dims(source.schema()).is_empty() {
        if options.valid_time.is_some() {
            notes.push("the file has its own time axis: the time in its key is not used".into());
        }
        return None;
    }
    let file_name = key.rsplit('/').next().unwrap_or(key);
    let from_meta = source
        .schema()
        .global_attrs()
        .and_then(|a| attr_text(a, "tifftag_datetime"))
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t.trim(), "%Y:%m:%d %H:%M:%S").ok());
    let from_name = || TimePattern::new(TimePattern::DEFAULT).ok().and_then(|p| p.find(file_name));
    let chosen = options
        .valid_time
        .map(|t| (t, "the dataset configuration's key pattern"))
        .or_else(|| from_meta.map(|t| (t, "TIFFTAG_DATETIME")))
        .or_else(|| {
            // By default only for GeoTIFF rasters: other formats carry
            // their time inside, and a stamp in a name is no promise of one.
            let raster = source.format() == "GeoTIFF";
            (options.time_from_key_default && raster)
                .then(from_name)
                .flatten()
                .map(|t| (t, "the stamp in the file name"))
        });
    if let Some((t, from)) = chosen {
        notes.push(format!("valid time {t} (UTC) from {from}"));
    }
    chosen.map(|(t, _)| t)
}

fn open_source(
    decoders: &DecoderRegistry,
    path: &Path,
    hints: &DecodeHints,
) -> Result<Box<dyn SourceDataset>, Failure> {
    let mut head = [0u8; HEAD_BYTES];
    let mut file = std::fs::File::open(path).map_err(DecodeError::Io)?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]).map_err(DecodeError::Io)? {
            0 => break,
            k => n += k,
        }
    }
    if n == 0 {
        return Err(Failure::permanent(RejectionKind::Corrupt, "the file is empty"));
    }
    let decoder = decoders.detect(&head[..n])?;
    Ok(decoder.open_with(path, hints)?)
}

/// The span of the first time coordinate, in its calendar.
fn time_range(schema: &DatasetSchema, coords: &HashMap<String, Vec<f64>>) -> Result<Option<TimeRange>, TimeNotDecoded> {
    let Some(var) = schema.variables.iter().find(|v| cf::is_time_coordinate(v.name(), &v.dims, &v.attrs)) else {
        return Ok(None);
    };
    let Some(values) = coords.get(&var.path) else { return Ok(None) };
    TimeRange::from_values(&var.path, &var.attrs, values)
}
