//! The decoder port: a source file format that can be opened and read slab by
//! slab. Implementations wrap C libraries (netCDF, GDAL) and are blocking; the
//! ingest service calls them on a blocking thread, and the binaries run them
//! in a child process with hard limits (`hub-sandbox`), so a file that crashes
//! a C library ends in a report instead of taking the ingest down.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::{BlockData, DatasetSchema, Hyperslab};

/// Why a source could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The format is recognised but this file uses something the hub does not
    /// support (a layout, a data type). Permanent.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The file is damaged, truncated or not what its header says. Permanent.
    #[error("corrupt or truncated file: {0}")]
    Corrupt(String),
    /// No decoder recognises the file. Permanent.
    #[error("unrecognised file format (first bytes {head}); supported: {supported}")]
    UnknownFormat {
        /// The first bytes, hex.
        head: String,
        /// The formats the registry knows.
        supported: String,
    },
    /// A request outside what the schema declares (a bug in the caller).
    #[error("invalid read: {0}")]
    InvalidRequest(String),
    /// The file declares more than the hub's limits allow (decoded bytes,
    /// cells per grid, variables or bands, rank): refused before decoding.
    /// Permanent. The message names the limit and its setting.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The decoder failed on the file in a way that is not an error it
    /// reports (a panic in a binding, a crash of a C library). Permanent: the
    /// same file fails the same way.
    #[error("the decoder failed on this file: {0}")]
    Crashed(String),
    /// Decoding took longer than its time limit. Permanent: a file that hangs
    /// a decoder is not tried again.
    #[error("timed out: {0}")]
    TimedOut(String),
    /// Reading the local file failed (disk, permissions). Possibly transient.
    #[error("i/o error reading the source: {0}")]
    Io(#[from] std::io::Error),
}

impl DecodeError {
    /// Whether trying again later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Io(_))
    }

    /// A short machine-readable kind for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unsupported(_) => "unsupported",
            Self::Corrupt(_) => "corrupt",
            Self::UnknownFormat { .. } => "unknown_format",
            Self::InvalidRequest(_) => "invalid_request",
            Self::TooLarge(_) => "too_large",
            Self::Crashed(_) => "decoder_crashed",
            Self::TimedOut(_) => "timeout",
            Self::Io(_) => "io",
        }
    }

    /// The message without the kind's prefix.
    pub fn detail(&self) -> String {
        match self {
            Self::Unsupported(m)
            | Self::Corrupt(m)
            | Self::InvalidRequest(m)
            | Self::TooLarge(m)
            | Self::Crashed(m)
            | Self::TimedOut(m) => m.clone(),
            Self::UnknownFormat { .. } => self.to_string(),
            Self::Io(e) => e.to_string(),
        }
    }

    /// The error of a [`kind`](Self::kind) and [`detail`](Self::detail), as
    /// they cross a process boundary. Unknown kinds are corrupt files.
    pub fn from_kind(kind: &str, detail: String) -> Self {
        match kind {
            "unsupported" => Self::Unsupported(detail),
            "invalid_request" => Self::InvalidRequest(detail),
            "too_large" => Self::TooLarge(detail),
            "decoder_crashed" => Self::Crashed(detail),
            "timeout" => Self::TimedOut(detail),
            "io" => Self::Io(std::io::Error::other(detail)),
            _ => Self::Corrupt(detail),
        }
    }
}

/// An opened source: its schema, and reads of regions of its variables.
///
/// `Send` so it can move to a blocking thread; not `Sync` (C libraries such as
/// GDAL allow one thread per dataset handle).
pub trait SourceDataset: Send {
    /// A human name of the concrete format, e.g. `NetCDF-4/HDF5`.
    fn format(&self) -> &str;

    /// Everything the source holds that the hub can store.
    fn schema(&self) -> &DatasetSchema;

    /// Reads `region` of the variable at `path`, C order, little-endian numbers.
    fn read(&mut self, path: &str, region: &Hyperslab) -> Result<BlockData, DecodeError>;

    /// Like [`read`](Self::read), reusing `buffer` for numbers when it can: the
    /// ingest passes slab buffers round so large reads allocate nothing.
    fn read_into(&mut self, path: &str, region: &Hyperslab, buffer: Vec<u8>) -> Result<BlockData, DecodeError> {
        drop(buffer);
        self.read(path, region)
    }

    /// The reads that will follow, in order (the ingest knows its slabs up
    /// front): a source that can work ahead — a decoder in another process —
    /// decodes the next slab while this one is written. Only a hint: reads
    /// may still come in any order, and most sources ignore it.
    fn read_ahead(&mut self, reads: Vec<(String, Hyperslab)>) {
        drop(reads);
    }
}

/// The variable at `path` when `region` lies inside it: what every
/// [`SourceDataset::read`] checks first.
pub fn checked_read<'a>(
    schema: &'a DatasetSchema,
    path: &str,
    region: &Hyperslab,
) -> Result<&'a crate::model::VariableSchema, DecodeError> {
    let var = schema.variable(path).ok_or_else(|| DecodeError::InvalidRequest(format!("no variable {path}")))?;
    if region.fits(&var.shape) {
        Ok(var)
    } else {
        Err(DecodeError::InvalidRequest(format!("{path}: region {region:?} outside {:?}", var.shape)))
    }
}

/// A file format: recognises its files by their first bytes and opens them.
pub trait SourceDecoder: Send + Sync {
    /// Short name for reports and logs, e.g. `netcdf`.
    fn name(&self) -> &'static str;

    /// Whether a file starting with `head` (its first [`HEAD_BYTES`] bytes,
    /// fewer for a shorter file) is in this format.
    fn can_decode(&self, head: &[u8]) -> bool;

    /// Opens a local file (blocking).
    fn open(&self, path: &Path) -> Result<Box<dyn SourceDataset>, DecodeError>;

    /// Opens a local file with what the dataset's configuration knows about
    /// it (a CRS for rasters without one). Decoders that need no hint open
    /// the file as [`open`](Self::open) does.
    fn open_with(&self, path: &Path, hints: &DecodeHints) -> Result<Box<dyn SourceDataset>, DecodeError> {
        let _ = hints;
        self.open(path)
    }
}

/// How many of a file's first bytes decide its format. GRIB files may start
/// with a WMO bulletin header before `GRIB`; GDAL looks as far as this too.
pub const HEAD_BYTES: usize = 1024;

/// What the dataset's configuration and the deployment tell a decoder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeHints {
    /// The CRS of rasters that carry none (EPSG code, WKT or PROJ string).
    pub crs: Option<String>,
    /// What a file may declare: decoders check their format's headers against
    /// these before a C library sees the file.
    pub limits: DecodeLimits,
}

/// What one file may declare, checked before anything is decoded: a few
/// hundred bytes can declare terabytes, and C libraries allocate what a
/// header says. Every limit is named in the message that refuses a file.
///
/// The defaults are far above what weather and climate files hold (a global
/// 1 km grid has 7·10⁸ cells; GFS at 0.25° has ~750 fields per file; a
/// hyperspectral image a few hundred bands; the largest archive files are tens
/// of GB decoded) and far below what takes a machine down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecodeLimits {
    /// Decoded bytes of all the variables of one file (`HUB_LIMIT_DECODED_GIB`).
    pub max_decoded_bytes: u64,
    /// Cells of one horizontal grid: the product of a variable's last two
    /// dimensions, or a raster's rows × columns (`HUB_LIMIT_GRID_CELLS`).
    pub max_grid_cells: u64,
    /// Variables of one file, and the fields of a GRIB file
    /// (`HUB_LIMIT_VARIABLES`).
    pub max_variables: u64,
    /// Bands (samples per pixel) of a raster (`HUB_LIMIT_BANDS`).
    pub max_bands: u64,
    /// Dimensions of one variable (`HUB_LIMIT_RANK`). netCDF-C's own fixed
    /// limit, 1024, is checked regardless.
    pub max_rank: u64,
}

impl DecodeLimits {
    /// The default limits (see the type's documentation).
    pub const DEFAULT: Self = Self {
        max_decoded_bytes: 64 << 30,
        max_grid_cells: 1 << 30,
        max_variables: 10_000,
        max_bands: 1024,
        max_rank: 32,
    };
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The decoders the hub knows, tried in order; a format is picked by content,
/// never by file name.
#[derive(Clone, Default)]
pub struct DecoderRegistry {
    decoders: Vec<Arc<dyn SourceDecoder>>,
}

impl DecoderRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a decoder (builder style).
    #[must_use]
    pub fn with(mut self, decoder: Arc<dyn SourceDecoder>) -> Self {
        self.decoders.push(decoder);
        self
    }

    /// The decoder for a file starting with `head` (its first [`HEAD_BYTES`]).
    pub fn detect(&self, head: &[u8]) -> Result<Arc<dyn SourceDecoder>, DecodeError> {
        self.decoders.iter().find(|d| d.can_decode(head)).cloned().ok_or_else(|| DecodeError::UnknownFormat {
            head: head.iter().take(8).map(|b| format!("{b:02x}")).collect(),
            supported: self.names().join(", "),
        })
    }

    /// Names of the registered decoders.
    pub fn names(&self) -> Vec<&'static str> {
        self.decoders.iter().map(|d| d.name()).collect()
    }

    /// The registered decoders, in the order they are tried.
    pub fn decoders(&self) -> &[Arc<dyn SourceDecoder>] {
        &self.decoders
    }
}

impl std::fmt::Debug for DecoderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
