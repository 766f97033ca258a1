//! Region sets as documents beside the datasets: `_regions/<set>.json`,
//! each replaced by one PUT (object stores replace an object atomically:
//! a reader sees the old set or the new one, never a mix).

use std::sync::Arc;

use async_trait::async_trait;
use futures::TryStreamExt;
use hub_core::ingest::DatasetSettings;
use hub_core::model::DatasetId;
use hub_core::ports::{RegionStore, RegionStoreError, StoredSet};
use hub_core::regions::{RegionSet, RegionSetId, geojson};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path as ObjectPath};

use crate::layout::REGIONS_PREFIX;

/// Region sets in an object store rooted at the hub.
#[derive(Debug, Clone)]
pub struct ObjectStoreRegions {
    store: Arc<dyn ObjectStore>,
}

impl ObjectStoreRegions {
    /// Sets under the hub root `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    fn key(id: &RegionSetId) -> ObjectPath {
        ObjectPath::from(format!("{REGIONS_PREFIX}/{id}.json"))
    }
}

fn storage(message: String) -> impl FnOnce(object_store::Error) -> RegionStoreError {
    move |e| RegionStoreError::Storage { message, source: Box::new(e) }
}

fn version_of(meta: &object_store::ObjectMeta) -> String {
    meta.e_tag.clone().unwrap_or_else(|| format!("{}-{}", meta.last_modified.timestamp_micros(), meta.size))
}

#[async_trait]
impl RegionStore for ObjectStoreRegions {
    async fn list(&self) -> Result<Vec<RegionSetId>, RegionStoreError> {
        let metas: Vec<_> = self
            .store
            .list(Some(&ObjectPath::from(REGIONS_PREFIX)))
            .try_collect()
            .await
            .map_err(storage("listing the region sets".into()))?;
        let mut ids: Vec<RegionSetId> = metas
            .iter()
            .filter_map(|m| m.location.filename()?.strip_suffix(".json").and_then(|s| RegionSetId::new(s).ok()))
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn get(&self, id: &RegionSetId) -> Result<Option<StoredSet>, RegionStoreError> {
        let got = match self.store.get(&Self::key(id)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(storage(format!("reading region set {id}"))(e)),
        };
        let version = version_of(&got.meta);
        let bytes = got.bytes().await.map_err(storage(format!("reading region set {id}")))?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| RegionStoreError::Corrupt { id: id.to_string(), message: e.to_string() })?;
        let set = geojson::from_stored(&doc)
            .map_err(|e| RegionStoreError::Corrupt { id: id.to_string(), message: e.to_string() })?;
        Ok(Some(StoredSet { set: Arc::new(set), version }))
    }

    async fn version(&self, id: &RegionSetId) -> Result<Option<String>, RegionStoreError> {
        match self.store.head(&Self::key(id)).await {
            Ok(meta) => Ok(Some(version_of(&meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage(format!("looking up region set {id}"))(e)),
        }
    }

    async fn put(&self, set: &RegionSet) -> Result<String, RegionStoreError> {
        let body = serde_json::to_vec(&geojson::stored(set)).map_err(|e| RegionStoreError::Storage {
            message: format!("serialising region set {}", set.id),
            source: Box::new(e),
        })?;
        let put = self
            .store
            .put(&Self::key(&set.id), PutPayload::from(body))
            .await
            .map_err(storage(format!("writing region set {}", set.id)))?;
        Ok(put.e_tag.unwrap_or_else(|| format!("{}", chrono_now_micros())))
    }

    async fn remove(&self, id: &RegionSetId) -> Result<bool, RegionStoreError> {
        match self.store.delete(&Self::key(id)).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(storage(format!("removing region set {id}"))(e)),
        }
    }

    async fn attached(&self, dataset: &DatasetId) -> Result<DatasetSettings, RegionStoreError> {
        Ok(self.config().await?.dataset(dataset).cloned().unwrap_or_default())
    }

    async fn ensembles(&self) -> Result<Vec<hub_core::ensembles::EnsembleSpec>, RegionStoreError> {
        Ok(self.config().await?.ensembles().values().cloned().collect())
    }
}

impl ObjectStoreRegions {
    async fn config(&self) -> Result<hub_core::ingest::DatasetConfig, RegionStoreError> {
        crate::load_dataset_config(&self.store).await.map_err(|e| RegionStoreError::Storage {
            message: "reading the datasets' configuration".into(),
            source: Box::new(e),
        })
    }
}

fn chrono_now_micros() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros())
}
