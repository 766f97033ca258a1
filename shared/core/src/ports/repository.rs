//! The repository port: versioned datasets of Zarr arrays. The Icechunk adapter
//! implements it; a plain Zarr v3 adapter could too.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::cf::FillValue;
pub use crate::model::SourceMarker;
use crate::model::{
    ArrayLayout, Attributes, Block, BlockData, DataType, DatasetId, GcPolicy, GcReport, Hyperslab, Unfinished,
};

/// Why a repository operation failed. Callers decide on the variant: a
/// conflict is retried, a missing dataset is a 404, unavailability is transient.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The dataset, array or version does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Another writer committed first and the change cannot be rebased.
    #[error("commit conflict: {0}")]
    Conflict(String),
    /// The request does not fit the stored dataset (shape, type, layout).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Stored metadata or data cannot be read back.
    #[error("corrupt repository data: {message}")]
    Corrupt {
        /// What cannot be read, where.
        message: String,
        /// The decoder's or parser's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Storage could not be reached or refused for now (network, throttling,
    /// timeouts). Transient.
    #[error("storage unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl RepoError {
    /// Whether trying again later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Conflict(_))
    }

    /// Damaged stored data, found by the hub's own checks.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::Corrupt { message: message.into(), source: None }
    }

    /// Damaged stored data, with the error that found it.
    pub fn corrupt_because(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Corrupt { message: message.into(), source: Some(source.into()) }
    }

    /// A transient error with its cause.
    pub fn unavailable(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable { message: message.into(), source: Some(Box::new(source)) }
    }
}

/// How an array is to be created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArraySpec {
    /// Path inside the dataset, e.g. `tas` or `image1/image_data`.
    pub path: String,
    /// Dimension names.
    pub dims: Vec<String>,
    /// Shape.
    pub shape: Vec<u64>,
    /// Element type.
    pub dtype: DataType,
    /// The value of cells never written (and of chunks not stored).
    pub fill_value: FillValue,
    /// Chunking, sharding, compression.
    pub layout: ArrayLayout,
    /// CF attributes as the source declared them.
    pub attrs: Attributes,
}

/// An array as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArrayInfo {
    /// Path inside the dataset.
    pub path: String,
    /// Dimension names.
    pub dims: Vec<String>,
    /// Shape.
    pub shape: Vec<u64>,
    /// Element type.
    pub dtype: DataType,
    /// Chunk shape (the inner chunk when sharded).
    pub chunks: Vec<u64>,
    /// Shard shape, when sharded.
    pub shard: Option<Vec<u64>>,
    /// The codec pipeline, in words (e.g. `bytes + zstd(3)`).
    pub codecs: String,
    /// Fill value.
    pub fill_value: FillValue,
    /// Attributes, with the CF ones restored to their values.
    pub attrs: Attributes,
}

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupInfo {
    /// Path (`""` for the root).
    pub path: String,
    /// Attributes.
    pub attrs: Attributes,
}

/// What to commit.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// The commit message.
    pub message: String,
    /// The source marker stored with the data.
    pub marker: SourceMarker,
    /// Extra properties kept in the snapshot metadata.
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// One entry of a dataset's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitInfo {
    /// Snapshot id.
    pub snapshot_id: String,
    /// Commit time (RFC 3339).
    pub committed_at: String,
    /// Commit message.
    pub message: String,
    /// Snapshot properties.
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// Totals of one block write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteStats {
    /// Chunks stored.
    pub chunks_written: u64,
    /// Chunks that held only the fill value and were left out.
    pub chunks_skipped: u64,
    /// Bytes before compression (skipped chunks included).
    pub bytes_in: u64,
    /// Bytes stored after compression.
    pub bytes_stored: u64,
}

impl std::ops::AddAssign for WriteStats {
    fn add_assign(&mut self, o: Self) {
        self.chunks_written += o.chunks_written;
        self.chunks_skipped += o.chunks_skipped;
        self.bytes_in += o.bytes_in;
        self.bytes_stored += o.bytes_stored;
    }
}

/// Which version of a dataset to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Version {
    /// The tip of the main branch.
    #[default]
    Latest,
    /// A snapshot id.
    Snapshot(String),
    /// A tag.
    Tag(String),
}

/// The hub's datasets.
#[async_trait]
pub trait Repository: Send + Sync {
    /// Ids of the datasets that exist.
    async fn datasets(&self) -> Result<Vec<DatasetId>, RepoError>;

    /// Starts a write transaction on a dataset, creating the dataset when it does
    /// not exist. Transactions on one dataset are serialized: this waits while
    /// another one is open in the process.
    async fn begin(&self, dataset: &DatasetId) -> Result<Box<dyn Transaction>, RepoError>;

    /// Opens a version of a dataset for reading.
    async fn open(&self, dataset: &DatasetId, version: &Version) -> Result<Box<dyn DatasetReader>, RepoError>;

    /// The newest `limit` commits, newest first.
    async fn history(&self, dataset: &DatasetId, limit: usize) -> Result<Vec<CommitInfo>, RepoError>;

    /// Expires the dataset's history and deletes its unreferenced objects as
    /// `policy` allows (see [`crate::upkeep`]). The newest version stays intact
    /// and readable throughout; ingests may run meanwhile.
    async fn collect_garbage(&self, dataset: &DatasetId, policy: &GcPolicy) -> Result<GcReport, RepoError>;

    /// Gives up a transaction that will not commit. When the dataset holds no
    /// commit (the upload was its first, and was rejected) and the
    /// transaction holds the dataset's only write lock (a local folder,
    /// memory), the repository it created is removed before the lock is let
    /// go, so a rejected first upload leaves nothing behind. On object
    /// storage, where writers take no lock, a concurrent first writer may be
    /// filling the same repository: it is left for
    /// [`remove_unfinished`](Self::remove_unfinished) after a grace period.
    async fn abandon(&self, dataset: &DatasetId, tx: Box<dyn Transaction>) -> Result<(), RepoError> {
        let _ = dataset;
        drop(tx);
        Ok(())
    }

    /// Repositories that hold no commit: first uploads that were rejected or
    /// whose ingest died before it committed. They are not datasets (readers
    /// never see them) but they hold storage.
    async fn unfinished(&self) -> Result<Vec<Unfinished>, RepoError> {
        Ok(Vec::new())
    }

    /// Removes an unfinished repository (see [`unfinished`](Self::unfinished))
    /// when it still holds no commit and nothing in it was written after
    /// `written_before` (an ingest still running writes later); a dry run
    /// only counts. Returns what it found, `removed` set when it went.
    async fn remove_unfinished(
        &self,
        dataset: &DatasetId,
        written_before: chrono::DateTime<chrono::Utc>,
        dry_run: bool,
    ) -> Result<Unfinished, RepoError> {
        let _ = (written_before, dry_run);
        Err(RepoError::NotFound(format!("unfinished dataset {dataset}")))
    }
}

/// Changes to one dataset that become visible together at `commit`, or not at
/// all when the transaction is dropped.
#[async_trait]
pub trait Transaction: Send + Sync {
    /// The marker recorded for a source key, if any.
    async fn source_marker(&self, key: &str) -> Result<Option<SourceMarker>, RepoError>;

    /// The arrays the dataset holds now.
    async fn arrays(&self) -> Result<Vec<ArrayInfo>, RepoError>;

    /// The groups the dataset holds now, with their attributes (its own
    /// writes included); none by default.
    async fn groups(&self) -> Result<Vec<GroupInfo>, RepoError> {
        Ok(Vec::new())
    }

    /// Creates or replaces a group and its attributes.
    async fn put_group(&self, path: &str, attrs: &Attributes) -> Result<(), RepoError>;

    /// Creates an array (metadata only; every chunk reads as the fill value).
    async fn create_array(&self, spec: &ArraySpec) -> Result<(), RepoError>;

    /// Grows an array to `shape` (metadata only: the new cells read as the
    /// fill value until written). Shrinking is refused.
    async fn resize(&self, path: &str, shape: &[u64]) -> Result<(), RepoError>;

    /// Reads a region as this transaction sees it, its own writes included
    /// (C order, little-endian numbers). Used to merge partial write units and
    /// to move existing steps when a late one is inserted.
    async fn read(&self, path: &str, region: &Hyperslab) -> Result<BlockData, RepoError>;

    /// Writes a block whose region is aligned to the array's write unit (chunk,
    /// or shard when sharded) except at the array's end. Chunks holding only
    /// the fill value are not stored. The block is shared, not copied: once this
    /// returns, the caller holds the only reference again and can reuse it.
    async fn write_block(&self, path: &str, block: Arc<Block>) -> Result<WriteStats, RepoError>;

    /// Moves stored write units (chunks, or shards) along dimension `dim` of
    /// an array by relabelling them, without reading or writing their data:
    /// new unit `first + i` takes old unit `moves[i]`, or becomes empty (fill)
    /// for `None`; units before `first` stay. Returns `false` when the store
    /// cannot (the caller then copies the data).
    async fn relabel(&self, path: &str, dim: usize, first: u64, moves: &[Option<u64>]) -> Result<bool, RepoError> {
        let _ = (path, dim, first, moves);
        Ok(false)
    }

    /// Makes every change visible at once, with the source marker. Returns the
    /// new snapshot id.
    async fn commit(self: Box<Self>, request: CommitRequest) -> Result<String, RepoError>;
}

/// Read access to one version of a dataset.
#[async_trait]
pub trait DatasetReader: Send + Sync {
    /// The snapshot being read.
    fn snapshot_id(&self) -> &str;

    /// The groups.
    async fn groups(&self) -> Result<Vec<GroupInfo>, RepoError>;

    /// The arrays.
    async fn arrays(&self) -> Result<Vec<ArrayInfo>, RepoError>;

    /// Reads a region of an array (C order, little-endian numbers).
    async fn read(&self, path: &str, region: &Hyperslab) -> Result<BlockData, RepoError>;

    /// Bytes stored for an array's chunks (after compression).
    async fn stored_bytes(&self, path: &str) -> Result<u64, RepoError>;
}
