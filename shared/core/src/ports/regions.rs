//! The region-set port: where registered region sets live (under
//! `_regions/` in the hub; each set one document, replaced atomically).

use std::sync::Arc;

use async_trait::async_trait;

use crate::ingest::DatasetSettings;
use crate::model::DatasetId;
use crate::regions::{RegionSet, RegionSetId};

/// Why the region store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegionStoreError {
    /// The storage failed (transient or not: the source says).
    #[error("region store: {message}")]
    Storage {
        /// What was being done.
        message: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored set cannot be read back.
    #[error("the stored region set {id} is unreadable: {message}")]
    Corrupt {
        /// Which set.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// A set as stored, with the version it was read at.
#[derive(Debug, Clone)]
pub struct StoredSet {
    /// The set.
    pub set: Arc<RegionSet>,
    /// Changes whenever the set is replaced (the object's ETag).
    pub version: String,
}

/// Registered region sets.
#[async_trait]
pub trait RegionStore: Send + Sync {
    /// The ids of every set, sorted.
    async fn list(&self) -> Result<Vec<RegionSetId>, RegionStoreError>;
    /// A set, or `None` when there is none of that id.
    async fn get(&self, id: &RegionSetId) -> Result<Option<StoredSet>, RegionStoreError>;
    /// The current version of a set without reading it.
    async fn version(&self, id: &RegionSetId) -> Result<Option<String>, RegionStoreError>;
    /// Stores (or replaces) a set; returns its version.
    async fn put(&self, set: &RegionSet) -> Result<String, RegionStoreError>;
    /// Removes a set; whether there was one.
    async fn remove(&self, id: &RegionSetId) -> Result<bool, RegionStoreError>;
    /// The sets attached to a dataset and the statistics kept for them
    /// (the datasets' configuration says).
    async fn attached(&self, dataset: &DatasetId) -> Result<DatasetSettings, RegionStoreError>;
    /// The ensembles the datasets' configuration declares (none by default).
    async fn ensembles(&self) -> Result<Vec<crate::ensembles::EnsembleSpec>, RegionStoreError> {
        Ok(Vec::new())
    }
}
