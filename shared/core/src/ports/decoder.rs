//! The decoder port: a source file format that can be opened and read slab by
//! slab. Implementations wrap C libraries (netCDF, GDAL) and are blocking; the
//! ingest service calls them on a blocking thread.

use std::path::Path;
use std::sync::Arc;

use crate::model::{BlockData, DatasetSchema, Region};

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
            Self::Io(_) => "io",
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
    fn read(&mut self, path: &str, region: &Region) -> Result<BlockData, DecodeError>;

    /// Like [`read`](Self::read), reusing `buffer` for numbers when it can: the
    /// ingest passes slab buffers round so large reads allocate nothing.
    fn read_into(&mut self, path: &str, region: &Region, buffer: Vec<u8>) -> Result<BlockData, DecodeError> {
        drop(buffer);
        self.read(path, region)
    }
}

/// A file format: recognises its files by their first bytes and opens them.
pub trait SourceDecoder: Send + Sync {
    /// Short name for reports and logs, e.g. `netcdf`.
    fn name(&self) -> &'static str;

    /// Whether a file starting with `head` (up to 16 bytes) is in this format.
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

/// What the dataset's configuration tells a decoder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeHints {
    /// The CRS of rasters that carry none (EPSG code, WKT or PROJ string).
    pub crs: Option<String>,
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

    /// The decoder for a file starting with `head`.
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
}

impl std::fmt::Debug for DecoderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
