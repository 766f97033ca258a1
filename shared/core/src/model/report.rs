//! The ingest report: what happened to one uploaded object, written into the
//! hub for every ingest (committed, duplicate or rejected).

use serde::{Deserialize, Serialize};

use super::{Attributes, attr_text};
use crate::cf::TimeEncoding;

/// Which source object produced the dataset's current content, recorded in
/// the same commit as the data so a re-delivered object is recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMarker {
    /// Object key (URL-decoded) or file name.
    pub key: String,
    /// ETag (or a local file's identity) of the ingested version.
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// When it was committed (RFC 3339).
    pub ingested_at: String,
}

/// The outcome of an ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestStatus {
    /// The data was committed.
    Committed,
    /// The same object (key and ETag) was already ingested; nothing changed.
    Duplicate,
    /// The object cannot be ingested (corrupt, truncated, unsupported); the
    /// dataset is unchanged. Sending it again will not help.
    Rejected,
}

/// The uploaded object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Bucket, when it came from object storage.
    pub bucket: Option<String>,
    /// Object key (URL-decoded) or file name.
    pub key: String,
    /// ETag (or a local file's identity).
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
}

/// One stored variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableReport {
    /// Path in the dataset.
    pub path: String,
    /// Dimension names.
    pub dims: Vec<String>,
    /// Shape.
    pub shape: Vec<u64>,
    /// Element type.
    pub dtype: String,
    /// Chunk shape.
    pub chunks: Vec<u64>,
    /// Shard shape, when sharded.
    pub shard: Option<Vec<u64>>,
    /// Compression.
    pub compression: String,
    /// Bytes before compression.
    pub bytes_in: u64,
    /// Bytes stored.
    pub bytes_stored: u64,
    /// Chunks stored.
    pub chunks_written: u64,
    /// Chunks left out because they held only the fill value.
    pub chunks_skipped: u64,
}

/// The time span of the ingested data, in its own calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    /// The time coordinate variable.
    pub variable: String,
    /// Its calendar.
    pub calendar: String,
    /// Its units.
    pub units: String,
    /// First instant (ISO 8601 in the calendar).
    pub start: String,
    /// Last instant.
    pub end: String,
    /// Number of time steps.
    pub steps: u64,
}

impl TimeRange {
    /// The span of a time coordinate's values (non-finite values ignored).
    /// `Ok(None)` when it holds no value; `Err` with a warning when its units or
    /// calendar cannot be read.
    pub fn from_values(variable: &str, attrs: &Attributes, values: &[f64]) -> Result<Option<Self>, TimeNotDecoded> {
        let units = attr_text(attrs, "units").unwrap_or_default();
        let encoding = TimeEncoding::from_attrs(units, attr_text(attrs, "calendar"))
            .map_err(|e| TimeNotDecoded(format!("{variable}: time not decoded: {e}")))?;
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (Some(min), Some(max)) = (finite.clone().reduce(f64::min), finite.reduce(f64::max)) else {
            return Ok(None);
        };
        let start = encoding.decode(min).map_err(|e| TimeNotDecoded(format!("{variable}: {e}")))?;
        let end = encoding.decode(max).map_err(|e| TimeNotDecoded(format!("{variable}: {e}")))?;
        Ok(Some(Self {
            variable: variable.to_string(),
            calendar: encoding.calendar().name().to_string(),
            units: units.to_string(),
            start: start.to_string(),
            end: end.to_string(),
            steps: values.len() as u64,
        }))
    }
}

/// A time coordinate whose units or calendar cannot be read: a warning of
/// the report, the data is stored all the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeNotDecoded(pub String);

/// What an ingest did along one growing axis of its dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxisReport {
    /// The axis (dimension) name.
    pub dim: String,
    /// Steps the dataset held before.
    pub before: u64,
    /// Steps the file added.
    pub inserted: u64,
    /// Steps the file replaced (a corrected delivery).
    pub replaced: u64,
    /// Stored steps moved up to make room for late ones.
    pub moved: u64,
}

/// Why an ingest was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureInfo {
    /// Machine-readable kind: `corrupt`, `unsupported`, `unknown_format`, `conflict`...
    pub kind: String,
    /// What went wrong and what to do about it.
    pub message: String,
}

/// Wall-clock durations of the steps, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Fetching the object to local storage (filled in by the caller).
    pub fetch_ms: u64,
    /// Detecting the format and reading the schema.
    pub open_ms: u64,
    /// Reading, encoding and storing the chunks.
    pub write_ms: u64,
    /// The commit.
    pub commit_ms: u64,
    /// Everything.
    pub total_ms: u64,
}

/// The report of one ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// The outcome.
    pub status: IngestStatus,
    /// Target dataset.
    pub dataset: String,
    /// The uploaded object.
    pub source: SourceInfo,
    /// Detected format (e.g. `NetCDF-4/HDF5`).
    pub format: Option<String>,
    /// Stored variables.
    pub variables: Vec<VariableReport>,
    /// Time span.
    pub time: Option<TimeRange>,
    /// For a dataset that already held data: what happened along each growing axis.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub axes: Vec<AxisReport>,
    /// Attempts the commit took (more than one when another writer committed first).
    #[serde(default = "one")]
    pub attempts: u32,
    /// The snapshot the commit created (or, for a duplicate, the current one).
    pub snapshot_id: Option<String>,
    /// For duplicates: the earlier ingest of the same object.
    pub previous: Option<SourceMarker>,
    /// For rejections: why.
    pub error: Option<FailureInfo>,
    /// Things skipped or changed.
    pub warnings: Vec<String>,
    /// The derived products updated in the same commit (region series…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<String>,
    /// Durations.
    pub timings: Timings,
    /// Total bytes before compression.
    pub bytes_in: u64,
    /// Total bytes stored.
    pub bytes_stored: u64,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// End time (RFC 3339).
    pub finished_at: String,
    /// Version of the hub that wrote the report.
    pub hub_version: String,
}

impl IngestReport {
    /// A report for an ingest that is starting.
    pub fn start(dataset: &str, source: SourceInfo) -> Self {
        Self {
            status: IngestStatus::Rejected,
            dataset: dataset.to_string(),
            source,
            format: None,
            variables: Vec::new(),
            time: None,
            axes: Vec::new(),
            attempts: 1,
            snapshot_id: None,
            previous: None,
            error: None,
            warnings: Vec::new(),
            derived: Vec::new(),
            timings: Timings::default(),
            bytes_in: 0,
            bytes_stored: 0,
            started_at: now_rfc3339(),
            finished_at: String::new(),
            hub_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// The report of an upload rejected before it was decoded (gone,
    /// superseded, no dataset rule, an earlier attempt died on it): the one
    /// constructor every function records such rejections with.
    pub fn rejection(dataset: &str, source: SourceInfo, kind: &str, message: impl Into<String>) -> Self {
        let mut report = Self::start(dataset, source);
        report.error = Some(FailureInfo { kind: kind.to_string(), message: message.into() });
        report.finished_at = now_rfc3339();
        report
    }

    /// Compression ratio (uncompressed / stored), when anything was stored.
    #[allow(clippy::cast_precision_loss)]
    pub fn compression_ratio(&self) -> Option<f64> {
        (self.bytes_stored > 0).then(|| self.bytes_in as f64 / self.bytes_stored as f64)
    }
}

fn one() -> u32 {
    1
}

/// The current UTC time, RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
